//! Trunk SBCs given by host name (`sip:carrier.example`): the addresses DNS last gave for each,
//! as the runtime reports them (RFC 3263 §4: SRV records with priority and weight, or A/AAAA
//! at the URI's port).
//!
//! Sans-IO: the runtime does the look-ups (at the records' TTL) and hands each result to the
//! core; this table keeps them and orders a name's targets for one forward with the core's
//! seeded RNG, so a scenario test replays the same order.
//!
//! - A failed look-up keeps the last good addresses: a DNS server that is briefly away
//!   must not take a working trunk with it (RFC 3263 §4.3 leaves the cached answer usable
//!   until its TTL, and the runtime asks again well before a long outage matters).
//! - A name that never resolved has no targets: its SBC is skipped by failover like a down
//!   one, and the next SBC or trunk is tried. It is not a configuration error: the name may
//!   appear in DNS later, and the runtime keeps asking.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use crate::config::Config;
use crate::sip::transport::{Peer, Transport};
use crate::sip::uri::{Host, SipUri};

use super::trunk::srv_order;

/// One address a name resolved to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DnsTarget {
    pub transport: Transport,
    pub addr: SocketAddr,
    /// The SRV record's priority and weight (RFC 2782); 0 and 0 for A/AAAA records.
    pub priority: u16,
    pub weight: u16,
}

/// What one look-up of an SBC's name gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DnsLookup {
    /// The targets in the order the records came (ordering is done per forward).
    Resolved(Vec<DnsTarget>),
    /// No usable answer (the reason, for the log).
    Failed(String),
}

/// What a look-up changed, for the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DnsChange {
    /// New addresses (or the same ones again: `changed` false).
    Updated { count: usize, changed: bool },
    /// Failed, and the last good addresses (this many) are kept.
    KeptLastGood { count: usize, reason: String },
    /// Failed, and the name has never resolved: the SBC is not usable.
    Unresolved { reason: String },
}

/// The resolved addresses of every host-name SBC, keyed by the SBC URI's text.
#[derive(Debug, Default)]
pub(crate) struct SbcAddresses {
    by_sbc: BTreeMap<String, Vec<DnsTarget>>,
}

/// Whether `sbc` needs DNS: its host is a name, not an IP address.
pub fn needs_dns(sbc: &SipUri) -> bool {
    match &sbc.host {
        Host::Name(n) => n.parse::<std::net::IpAddr>().is_err(),
        _ => false,
    }
}

/// Every SBC of every trunk whose host is a name (each once).
pub fn names_to_resolve(config: &Config) -> Vec<SipUri> {
    let mut out: Vec<SipUri> = Vec::new();
    for t in &config.trunks {
        for s in &t.sbcs {
            if needs_dns(&s.uri) && !out.iter().any(|u| u.to_string() == s.uri.to_string()) {
                out.push(s.uri.clone());
            }
        }
    }
    out
}

impl SbcAddresses {
    /// Takes a look-up's result for `sbc`.
    pub fn update(&mut self, sbc: &SipUri, lookup: DnsLookup) -> DnsChange {
        let key = sbc.to_string();
        match lookup {
            DnsLookup::Resolved(targets) if !targets.is_empty() => {
                let count = targets.len();
                let changed = self.by_sbc.get(&key) != Some(&targets);
                self.by_sbc.insert(key, targets);
                DnsChange::Updated { count, changed }
            }
            DnsLookup::Resolved(_) => self.failed(&key, "no records".into()),
            DnsLookup::Failed(reason) => self.failed(&key, reason),
        }
    }

    fn failed(&self, key: &str, reason: String) -> DnsChange {
        match self.by_sbc.get(key) {
            Some(kept) => DnsChange::KeptLastGood {
                count: kept.len(),
                reason,
            },
            None => DnsChange::Unresolved { reason },
        }
    }

    /// Forgets names no trunk names any more.
    pub fn reconfigure(&mut self, config: &Config) {
        let wanted: Vec<String> = names_to_resolve(config)
            .iter()
            .map(|u| u.to_string())
            .collect();
        self.by_sbc.retain(|k, _| wanted.contains(k));
    }

    /// Every address DNS gave for any SBC (the trunks' sources for admission control).
    pub fn addresses(&self) -> impl Iterator<Item = std::net::IpAddr> + '_ {
        self.by_sbc.values().flatten().map(|t| t.addr.ip())
    }

    /// Where to send a request for `sbc`, in the order to try (RFC 2782: priority ascending,
    /// weighted random within a priority). An IP-address SBC is its own single destination;
    /// a name not (yet) resolved has none.
    pub fn destinations(&self, sbc: &SipUri, random: impl FnMut() -> u32) -> Vec<Peer> {
        if !needs_dns(sbc) {
            return super::legs::peer_of(&crate::sip::uri::Uri::Sip(sbc.clone()))
                .into_iter()
                .collect();
        }
        let Some(targets) = self.by_sbc.get(&sbc.to_string()) else {
            return Vec::new();
        };
        let pw: Vec<(u16, u16)> = targets.iter().map(|t| (t.priority, t.weight)).collect();
        srv_order(&pw, random)
            .into_iter()
            .map(|i| peer(&targets[i]))
            .collect()
    }

    /// Where an OPTIONS health probe of `sbc` goes: the first target of the lowest priority
    /// with the highest weight (the one most forwards try first), without using the RNG so
    /// probing does not change the order forwards replay in tests.
    pub fn probe_destination(&self, sbc: &SipUri) -> Option<Peer> {
        if !needs_dns(sbc) {
            return super::legs::peer_of(&crate::sip::uri::Uri::Sip(sbc.clone()));
        }
        self.by_sbc
            .get(&sbc.to_string())?
            .iter()
            .min_by_key(|t| (t.priority, std::cmp::Reverse(t.weight)))
            .map(peer)
    }
}

fn peer(t: &DnsTarget) -> Peer {
    Peer {
        transport: t.transport,
        addr: t.addr,
        conn: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(text: &str) -> SipUri {
        match crate::sip::parse::parse_uri(text) {
            Ok(crate::sip::uri::Uri::Sip(u)) => u,
            other => panic!("{text}: {other:?}"),
        }
    }

    fn target(port: u16, priority: u16, weight: u16) -> DnsTarget {
        DnsTarget {
            transport: Transport::Udp,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            priority,
            weight,
        }
    }

    #[test]
    fn a_failed_lookup_keeps_the_last_good_addresses() {
        let sbc = uri("sip:carrier.test");
        let mut table = SbcAddresses::default();
        assert_eq!(
            table.update(&sbc, DnsLookup::Failed("timeout".into())),
            DnsChange::Unresolved {
                reason: "timeout".into()
            }
        );
        assert!(table.destinations(&sbc, || 0).is_empty());
        assert_eq!(
            table.update(&sbc, DnsLookup::Resolved(vec![target(5070, 10, 1)])),
            DnsChange::Updated {
                count: 1,
                changed: true
            }
        );
        assert_eq!(
            table.update(&sbc, DnsLookup::Resolved(Vec::new())),
            DnsChange::KeptLastGood {
                count: 1,
                reason: "no records".into()
            }
        );
        let dests = table.destinations(&sbc, || 0);
        assert_eq!(dests.len(), 1);
        assert_eq!(dests[0].addr.port(), 5070);
        assert_eq!(
            table.probe_destination(&sbc).map(|p| p.addr.port()),
            Some(5070)
        );
    }

    #[test]
    fn targets_come_in_priority_order_and_ip_sbcs_need_no_dns() {
        let sbc = uri("sip:carrier.test");
        let mut table = SbcAddresses::default();
        table.update(
            &sbc,
            DnsLookup::Resolved(vec![
                target(5003, 30, 5),
                target(5001, 10, 0),
                target(5002, 20, 9),
            ]),
        );
        let ports: Vec<u16> = table
            .destinations(&sbc, || 12345)
            .iter()
            .map(|p| p.addr.port())
            .collect();
        assert_eq!(ports, [5001, 5002, 5003]);
        assert_eq!(
            table.probe_destination(&sbc).map(|p| p.addr.port()),
            Some(5001)
        );
        let ip = uri("sip:192.0.2.7:5080;transport=tcp");
        assert!(!needs_dns(&ip));
        let d = SbcAddresses::default().destinations(&ip, || 0);
        assert_eq!(d.len(), 1);
        assert_eq!((d[0].transport, d[0].addr.port()), (Transport::Tcp, 5080));
    }
}
