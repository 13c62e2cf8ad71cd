//! Trunks as peers: the order in which a forward to an external target tries a trunk's SBCs,
//! and the trunks after it, when one does not answer (RFC 3263 §4.3's failover, with the
//! SBCs holdline is configured with standing in for the SRV records it would resolve).
//!
//! - **Order within a trunk** (RFC 2782): lowest `priority` first; within a priority, a
//!   weighted random choice repeated until every SBC of it is placed, so `weight = 50` next to
//!   `weight = 25` takes two thirds of the first attempts. The randomness is the core's seeded
//!   RNG, so a scenario test replays the same order.
//! - **Then the other trunks**, in config order, whose rules read the target and whose `allow`
//!   list admits it (the toll-fraud policy of `config::dial`, checked per trunk: a trunk that
//!   may not carry the number is never tried).
//! - **When to move on** is [`fails_over`]: no provisional response within the trunk's
//!   `first_response_timeout`, a 503 or no response at all (Timer B, or a transport
//!   error, RFC 3261 §17.1.1.2 / §8.1.3.1), as RFC 3263 §4.3 asks of a client that has further
//!   servers to try. Any other final response is the far end's answer and ends the forward.

use std::collections::VecDeque;
use std::time::Duration;

use crate::config::dial::{self, Dialled};
use crate::config::{Sbc, Trunk, TrunkAuth, TrunkId};
use crate::number::E164;
use crate::sip::transport::Peer;
use crate::sip::uri::{SipUri, Uri};

use super::legs::LegOutcome;
use super::sbc_dns::SbcAddresses;

/// One try of an external forward: this Request-URI, sent to this SBC.
#[derive(Clone, Debug)]
pub(crate) struct Attempt {
    pub trunk: TrunkId,
    /// The SBC as configured (health is kept by it).
    pub sbc: SipUri,
    pub uri: Uri,
    pub dest: Peer,
    pub auth: Option<TrunkAuth>,
    /// How long it may go without a provisional response before the next attempt.
    pub first_response_timeout: Duration,
}

/// The indices of `sbcs` in the order to try them (RFC 2782's "usage rules", see
/// [`srv_order`]).
pub(crate) fn sbc_order(sbcs: &[Sbc], random: impl FnMut() -> u32) -> Vec<usize> {
    let pw: Vec<(u16, u16)> = sbcs.iter().map(|s| (s.priority, s.weight)).collect();
    srv_order(&pw, random)
}

/// The indices of `(priority, weight)` entries (configured SBCs, or one name's SRV records)
/// in the order to try them (RFC 2782's "usage rules": priority ascending, then weighted
/// random selection within a priority; zero-weight entries first in the running sum so they
/// are chosen only when the random number is 0 or they are all left).
pub(crate) fn srv_order(entries: &[(u16, u16)], mut random: impl FnMut() -> u32) -> Vec<usize> {
    let mut priorities: Vec<u16> = entries.iter().map(|e| e.0).collect();
    priorities.sort_unstable();
    priorities.dedup();
    let mut out = Vec::with_capacity(entries.len());
    for priority in priorities {
        let mut left: Vec<usize> = (0..entries.len())
            .filter(|&i| entries[i].0 == priority)
            .collect();
        // RFC 2782: "arrange all SRV RRs (that have not been ordered yet) in any order, except
        // that all those with weight 0 are placed at the beginning of the list".
        left.sort_by_key(|&i| (entries[i].1 != 0, i));
        while !left.is_empty() {
            let total: u64 = left.iter().map(|&i| u64::from(entries[i].1)).sum();
            let pick = u64::from(random()) % (total + 1);
            let mut running = 0u64;
            let at = left
                .iter()
                .position(|&i| {
                    running += u64::from(entries[i].1);
                    running >= pick
                })
                .unwrap_or(0);
            out.push(left.remove(at));
        }
    }
    out
}

/// Every attempt for a forward to `target` through `first` (the trunk its dial plan chose),
/// in order: `first`'s SBCs, then each other trunk that may carry the target. An SBC given by
/// host name expands in place into the addresses DNS gave for it (RFC 3263 §4.3: each is a
/// server to fail over to), in their SRV order; one that has not resolved adds none.
pub(crate) fn attempts(
    trunks: &[Trunk],
    addresses: &SbcAddresses,
    target: &Uri,
    first: &TrunkId,
    mut random: impl FnMut() -> u32,
) -> VecDeque<Attempt> {
    let mut out = VecDeque::new();
    let Some(chosen) = trunks.iter().find(|t| &t.id == first) else {
        return out;
    };
    // A number the dial plan put at the trunk's proxy host (`sip:+E164@proxy;user=phone`)
    // is addressed to each SBC's own host in turn; any other target is sent as it is.
    let at_proxy = match target {
        Uri::Sip(sip) if sip.host == chosen.proxy.host => E164::from_uri(target),
        _ => None,
    };
    let order = std::iter::once(chosen).chain(trunks.iter().filter(|t| &t.id != first));
    for trunk in order {
        let dialled = if &trunk.id == first {
            match &at_proxy {
                Some(n) => Dialled::Number(n.clone()),
                None => match target {
                    Uri::Sip(sip) => Dialled::Name(sip.clone()),
                    _ => continue,
                },
            }
        } else {
            // The next trunk only when its own rules and allow list admit the target.
            match dial::route(target, std::slice::from_ref(trunk)) {
                Ok(route) => route.dialled,
                Err(_) => continue,
            }
        };
        for i in sbc_order(&trunk.sbcs, &mut random) {
            let sbc = &trunk.sbcs[i].uri;
            let uri = match &dialled {
                Dialled::Number(n) => match number_at(n, sbc) {
                    Some(u) => u,
                    None => continue,
                },
                Dialled::Name(name) => Uri::Sip(name.clone()),
            };
            for dest in addresses.destinations(sbc, &mut random) {
                out.push_back(Attempt {
                    trunk: trunk.id.clone(),
                    sbc: sbc.clone(),
                    uri: uri.clone(),
                    dest,
                    auth: trunk.auth.clone(),
                    first_response_timeout: trunk.first_response_timeout,
                });
            }
        }
    }
    out
}

/// Whether a forward leg that ended with `outcome` is retried at the next attempt.
pub(crate) fn fails_over(outcome: LegOutcome) -> bool {
    // RFC 3263 §4.3: a 503, or a timeout / transport failure (RFC 3261 §8.1.3.1 treats both
    // as a 408 / 503 of the transaction), means this server is unusable, not the target. A 408
    // the far end sends is its answer (often: nobody picked up); trying the next SBC would
    // ring the same number again.
    matches!(outcome, LegOutcome::Refused(503) | LegOutcome::NoResponse)
}

/// `sip:+E164@sbc-host;user=phone` (RFC 3261 §19.1.6).
fn number_at(number: &E164, sbc: &SipUri) -> Option<Uri> {
    let text = format!("sip:{}@{};user=phone", number.as_str(), sbc.host);
    crate::sip::parse::parse_uri(&text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sbc(priority: u16, weight: u16) -> Sbc {
        Sbc {
            uri: match crate::sip::parse::parse_uri("sip:192.0.2.1") {
                Ok(Uri::Sip(u)) => u,
                _ => unreachable!("a literal sip: URI"),
            },
            priority,
            weight,
        }
    }

    #[test]
    fn lower_priority_comes_first_whatever_the_weights() {
        let sbcs = [sbc(20, 100), sbc(10, 1), sbc(30, 0), sbc(10, 1)];
        let mut n = 0u32;
        let order = sbc_order(&sbcs, || {
            n = n.wrapping_mul(1_103_515_245).wrapping_add(12345);
            n
        });
        assert_eq!(&order[2..], &[0, 2]);
        let mut first_two = order[..2].to_vec();
        first_two.sort_unstable();
        assert_eq!(first_two, vec![1, 3]);
    }

    #[test]
    fn weights_share_the_first_attempts() {
        // RFC 2782: weight 50 against 25 is chosen first about 2 times in 3.
        let sbcs = [sbc(1, 50), sbc(1, 25)];
        let mut state = 0x2545_f491_u64;
        let mut first_is_heavy = 0;
        for _ in 0..3000 {
            let order = sbc_order(&sbcs, || {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 32) as u32
            });
            if order[0] == 0 {
                first_is_heavy += 1;
            }
        }
        assert!(
            (1850..2150).contains(&first_is_heavy),
            "{first_is_heavy} of 3000"
        );
    }

    /// RFC 3263 §4.3: a host-name SBC's SRV targets take its place in the SBC order, in
    /// their own priority/weight order; a name with no addresses yet adds no attempt.
    #[test]
    fn a_host_names_srv_targets_expand_in_place() {
        use crate::b2bua::sbc_dns::{DnsLookup, DnsTarget};
        use crate::sip::transport::Transport;
        let config = crate::config::from_toml_str(
            r#"
[[trunk]]
id = "carrier"
sbcs = [{ uri = "sip:carrier.test", priority = 1 },
        { uri = "sip:192.0.2.9:5090", priority = 2 },
        { uri = "sip:late.test", priority = 3 }]
allow = ["+1*"]
"#,
            std::path::Path::new(""),
        )
        .expect("valid config");
        let target = |port, priority, weight| DnsTarget {
            transport: Transport::Udp,
            addr: std::net::SocketAddr::from(([198, 51, 100, 1], port)),
            priority,
            weight,
        };
        let mut addresses = SbcAddresses::default();
        let name = config.trunks[0].sbcs[0].uri.clone();
        addresses.update(
            &name,
            DnsLookup::Resolved(vec![
                target(5062, 20, 1),
                target(5061, 10, 0),
                target(5060, 10, 60),
            ]),
        );
        // What the dial plan gives for a number: the number at the trunk's proxy host.
        let target =
            crate::sip::parse::parse_uri("sip:+14255550999@carrier.test;user=phone").unwrap();
        let trunk = config.trunks[0].id.clone();
        // A seeded generator: the same seed, the same order.
        let run = |seed: u64| {
            let mut state = seed;
            attempts(&config.trunks, &addresses, &target, &trunk, || {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 32) as u32
            })
            .iter()
            .map(|a| (a.dest.addr.port(), a.uri.to_string()))
            .collect::<Vec<_>>()
        };
        let got = run(0x9e37_79b9_7f4a_7c15);
        assert_eq!(got, run(0x9e37_79b9_7f4a_7c15));
        let ports: Vec<u16> = got.iter().map(|g| g.0).collect();
        assert_eq!(
            ports.len(),
            4,
            "three SRV targets and the IP SBC; late.test none"
        );
        assert_eq!(ports[2..], [5062, 5090]);
        let mut first_two = ports[..2].to_vec();
        first_two.sort_unstable();
        assert_eq!(first_two, [5060, 5061]);
        // The Request-URI keeps the name (RFC 3263 §4: the target, not its address).
        assert_eq!(got[0].1, "sip:+14255550999@carrier.test;user=phone");
        assert_eq!(got[3].1, "sip:+14255550999@192.0.2.9;user=phone");
        // The weight-60 target comes first about 60 times in 61 (RFC 2782's running sum).
        let heavy_first = (0..500u64)
            .filter(|i| run(i.wrapping_mul(0x2545_f491_4f6c_dd1d) | 1)[0].0 == 5060)
            .count();
        assert!(heavy_first > 450, "{heavy_first} of 500");
    }

    #[test]
    fn zero_weights_are_still_tried() {
        let sbcs = [sbc(1, 0), sbc(1, 0)];
        assert_eq!(sbc_order(&sbcs, || 7), vec![0, 1]);
    }
}
