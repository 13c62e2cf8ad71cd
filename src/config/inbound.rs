//! Who may send calls in: `[sip] inbound` / `inbound_refuse`, and each trunk's `sources` (the
//! addresses and CIDRs that are the trunk when they send to us).
//!
//! [`trunk_of_source`] is the one answer to "which trunk is this source": admission control's
//! trunk class, the inbound policy, RFC 3325 trust (P-Asserted-Identity and Privacy are kept
//! only from a trunk) and the inbound number normalisation all ask it.
//!
//! Host names are refused in `sources`: they are not resolved (a source is matched by the
//! address a packet came from, and a name's addresses change under us); give addresses or
//! CIDRs.

use std::fmt;
use std::net::IpAddr;

use super::model::{Sbc, Trunk};
use super::raw::{RawSip, RawTrunk};
use super::validate::Problems;
use crate::sip::uri::Host;

/// `[sip] inbound` and `inbound_refuse`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InboundPolicy {
    pub mode: InboundMode,
    pub refuse: Refusal,
}

/// Who may call a service number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InboundMode {
    /// Anyone (the default, as before the policy existed).
    #[default]
    Any,
    /// Only a trunk's sources, and users who authenticate from where they registered.
    Trunks,
}

/// What a refused INVITE gets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Refusal {
    /// 403 Forbidden (RFC 3261 §21.4.4).
    #[default]
    Forbidden,
    /// No answer at all: a scanner learns nothing, not even that something listens.
    Drop,
}

/// An address block: `203.0.113.0/24`, `2001:db8::/32`, or one address (`/32`, `/128`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// One address.
    pub fn host(addr: IpAddr) -> Cidr {
        let prefix = if addr.is_ipv4() { 32 } else { 128 };
        Cidr { addr, prefix }
    }

    /// `ADDR` or `ADDR/PREFIX`; IPv6 may be written in brackets. Host bits beyond the prefix
    /// are refused (`10.0.0.1/8` is a typo for one of two things).
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr = addr.trim_start_matches('[').trim_end_matches(']');
        let addr: IpAddr = addr.parse().map_err(|_| {
            if addr.chars().any(|c| c.is_ascii_alphabetic()) && !addr.contains(':') {
                "is a host name; host names in sources are not resolved; give addresses or CIDRs"
                    .to_owned()
            } else {
                "is not an IPv4 or IPv6 address or CIDR".to_owned()
            }
        })?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= max => n,
                _ => return Err(format!("has a prefix length that is not 0 to {max}")),
            },
        };
        let cidr = Cidr { addr, prefix };
        if cidr.network() != bits(addr) {
            return Err(format!(
                "has bits set after the /{prefix} prefix; write the network address"
            ));
        }
        Ok(cidr)
    }

    /// Whether `ip` is inside the block. An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, what
    /// a dual-stack socket reports) is compared as the IPv4 address it carries.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        if ip.is_ipv4() != self.addr.is_ipv4() {
            return false;
        }
        let width = if ip.is_ipv4() { 32 } else { 128 };
        mask(bits(ip), self.prefix, width) == self.network()
    }

    fn network(&self) -> u128 {
        let width = if self.addr.is_ipv4() { 32 } else { 128 };
        mask(bits(self.addr), self.prefix, width)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

fn bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn mask(value: u128, prefix: u8, width: u32) -> u128 {
    let host_bits = width - u32::from(prefix);
    if host_bits >= 128 {
        0
    } else {
        value >> host_bits << host_bits
    }
}

/// The trunk a message from `ip` comes from: the first in config order whose `sources`
/// contain it. Every "is this a trunk" question asks this.
pub fn trunk_of_source(trunks: &[Trunk], ip: IpAddr) -> Option<&Trunk> {
    trunks
        .iter()
        .find(|t| t.sources.iter().any(|c| c.contains(ip)))
}

/// `[sip] inbound` (default `any`) and `inbound_refuse` (default `403`).
pub(super) fn policy(raw: &RawSip, p: &mut Problems) -> InboundPolicy {
    let mode = match raw.inbound.as_deref().map(str::trim) {
        None | Some("any") => InboundMode::Any,
        Some("trunks") => InboundMode::Trunks,
        Some(other) => {
            p.add(
                "[sip]",
                "inbound",
                format!("inbound {other:?} must be \"any\" or \"trunks\""),
            );
            InboundMode::Any
        }
    };
    let refuse = match raw.inbound_refuse.as_deref().map(str::trim) {
        None | Some("403") => Refusal::Forbidden,
        Some("drop") => Refusal::Drop,
        Some(other) => {
            p.add(
                "[sip]",
                "inbound_refuse",
                format!(
                    "inbound_refuse {other:?} must be \"403\" (answer 403 Forbidden) or \
                     \"drop\" (no answer)"
                ),
            );
            Refusal::Forbidden
        }
    };
    InboundPolicy { mode, refuse }
}

/// With `inbound = "trunks"`, a trunk with an SBC given by host name must list its `sources`:
/// the default is the SBCs' IP addresses, and a name has none ahead of its DNS answer, so that
/// trunk's own calls would be refused as strangers'.
pub(super) fn named_sbcs_need_sources(
    raw: &[RawTrunk],
    trunks: &[Trunk],
    sip: &super::model::SipConfig,
    p: &mut Problems,
) {
    if sip.inbound.mode != InboundMode::Trunks {
        return;
    }
    for (i, t) in raw.iter().enumerate() {
        if t.sources.is_some() {
            continue;
        }
        let Some(trunk) = trunks.iter().find(|trunk| trunk.id.0 == t.id) else {
            continue;
        };
        if let Some(named) = trunk
            .sbcs
            .iter()
            .find(|s| matches!(s.uri.host, Host::Name(_)))
        {
            p.add(
                &super::validate::subject("trunk", &t.id, i),
                "sources",
                format!(
                    "inbound = \"trunks\" takes calls only from a trunk's sources, and {} is a \
                     host name with no address known ahead; list the addresses or CIDRs its \
                     calls come from in sources",
                    named.uri
                ),
            );
        }
    }
}

/// A trunk's `sources`; without the key, the addresses of its SBCs (an SBC given by a host
/// name has no address to add).
pub(super) fn sources(t: &RawTrunk, sbcs: &[Sbc], subj: &str, p: &mut Problems) -> Vec<Cidr> {
    let Some(list) = &t.sources else {
        return sbcs
            .iter()
            .filter_map(|s| match s.uri.host {
                Host::V4(a) => Some(Cidr::host(IpAddr::V4(a))),
                Host::V6(a) => Some(Cidr::host(IpAddr::V6(a))),
                Host::Name(_) => None,
            })
            .collect();
    };
    if list.is_empty() {
        p.add(
            subj,
            "sources",
            "sources is empty, so nothing would be this trunk; remove the key to use the \
             SBCs' addresses"
                .into(),
        );
    }
    let mut out = Vec::new();
    for text in list {
        match Cidr::parse(text) {
            Ok(c) if out.contains(&c) => {
                p.add(subj, "sources", format!("source {text:?} is listed twice"))
            }
            Ok(c) => out.push(c),
            Err(why) => p.add(subj, "sources", format!("source {text:?} {why}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidrs_contain_their_addresses_only() {
        let c = Cidr::parse("203.0.113.0/24").unwrap();
        assert!(c.contains(ip("203.0.113.0")));
        assert!(c.contains(ip("203.0.113.255")));
        assert!(!c.contains(ip("203.0.114.1")));
        assert!(c.contains(ip("::ffff:203.0.113.7")), "v4-mapped");
        let one = Cidr::parse("198.51.100.7").unwrap();
        assert!(one.contains(ip("198.51.100.7")));
        assert!(!one.contains(ip("198.51.100.8")));
        let v6 = Cidr::parse("[2001:db8::]/32").unwrap();
        assert!(v6.contains(ip("2001:db8:ffff::1")));
        assert!(!v6.contains(ip("2001:db9::1")));
        assert!(!v6.contains(ip("203.0.113.1")));
        let all = Cidr::parse("0.0.0.0/0").unwrap();
        assert!(all.contains(ip("192.0.2.1")));
        assert!(!all.contains(ip("2001:db8::1")));
        assert!(Cidr::parse("::/0").unwrap().contains(ip("2001:db8::1")));
    }

    #[test]
    fn bad_sources_say_why() {
        let name = Cidr::parse("sbc.carrier.example").unwrap_err();
        assert!(
            name.contains("host names in sources are not resolved"),
            "{name}"
        );
        assert!(Cidr::parse("10.0.0.1/8")
            .unwrap_err()
            .contains("network address"));
        assert!(Cidr::parse("10.0.0.0/33").unwrap_err().contains("0 to 32"));
        assert!(Cidr::parse("2001:db8::/129")
            .unwrap_err()
            .contains("0 to 128"));
        assert!(Cidr::parse("").is_err());
        assert!(Cidr::parse("10.0.0.0/x").is_err());
    }
}
