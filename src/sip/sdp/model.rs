//! The SDP data model (RFC 8866 §5, which obsoletes RFC 4566): a session description with its
//! origin, connection, timing, attributes and media descriptions.
//!
//! Attributes we act on (`rtpmap`, `fmtp`, `ptime`, `maxptime`, the four direction attributes and
//! RFC 3605 `rtcp`) are parsed into typed variants; every other attribute, and a known one whose
//! value does not parse, is kept verbatim as [`Attribute::Other`] so that nothing a peer sent is
//! lost. Lines we do not model (`i=`, `u=`, `e=`, `p=`, `b=`, `r=`, `z=`, `k=` and unknown types)
//! are kept as [`Line`]s. This module does not negotiate anything: see `answer` and `offer`.

use std::net::IpAddr;

/// A whole session description (RFC 8866 §5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionDescription {
    /// `o=` (§5.2).
    pub origin: Origin,
    /// `s=` (§5.3). A missing line parses as `-`, the value RFC 3264 §5 recommends.
    pub session_name: String,
    /// Session-level `c=` (§5.7); media-level `c=` overrides it.
    pub connection: Option<Connection>,
    /// The first `t=` (§5.9). A missing line parses as `0 0` (an unbounded session).
    pub timing: Timing,
    /// Session-level `a=` lines in order.
    pub attributes: Vec<Attribute>,
    /// Every other session-level line, in order.
    pub other_lines: Vec<Line>,
    /// `m=` sections in order; the index is what RFC 3264 §6 matches offer and answer by.
    pub media: Vec<MediaDescription>,
}

/// `o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>` (§5.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub username: String,
    /// Opaque: phones put anything numeric here, some wider than 64 bits.
    pub session_id: String,
    /// RFC 3264 §8: incremented by one on every change to the description.
    pub session_version: u64,
    pub nettype: String,
    pub addrtype: String,
    pub address: String,
}

/// `c=<nettype> <addrtype> <connection-address>` (§5.7), also the tail of `a=rtcp` (RFC 3605).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connection {
    pub nettype: String,
    pub addrtype: String,
    /// As written: an IP literal, possibly with a multicast `/ttl[/count]` suffix, or an FQDN.
    pub address: String,
}

/// `t=<start-time> <stop-time>` (§5.9).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timing {
    pub start: u64,
    pub stop: u64,
}

/// An SDP line we keep but do not model: its one-letter type and its value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub kind: char,
    pub value: String,
}

/// One `m=` section (§5.14) with its lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaDescription {
    /// `audio`, `video`, `application`, …
    pub media: String,
    /// Zero means the stream is rejected or removed (RFC 3264 §6, §8.2).
    pub port: u16,
    /// The `/<number of ports>` suffix, when present.
    pub port_count: Option<u16>,
    /// `RTP/AVP`, `RTP/SAVP`, `RTP/AVPF`, `UDP/TLS/RTP/SAVPF`, …
    pub proto: String,
    /// The format list: RTP payload type numbers for RTP profiles, as written.
    pub formats: Vec<String>,
    /// Media-level `c=`; when absent the session-level one applies.
    pub connection: Option<Connection>,
    pub attributes: Vec<Attribute>,
    /// `i=`, `b=`, `k=`, further `c=` and unknown lines of this section, in order.
    pub other_lines: Vec<Line>,
}

/// An `a=` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attribute {
    /// `a=rtpmap:<payload type> <encoding name>/<clock rate>[/<encoding parameters>]` (§6.6).
    RtpMap(RtpMap),
    /// `a=fmtp:<format> <format specific parameters>` (§6.15).
    Fmtp(Fmtp),
    /// `a=ptime:<packet time>` in milliseconds (§6.4).
    Ptime(u32),
    /// `a=maxptime:<maximum packet time>` in milliseconds (§6.5).
    MaxPtime(u32),
    /// `a=sendrecv`, `a=sendonly`, `a=recvonly`, `a=inactive` (§6.7).
    Direction(Direction),
    /// `a=rtcp:<port> [<nettype> <addrtype> <connection-address>]` (RFC 3605 §2.1).
    Rtcp(Rtcp),
    /// Anything else, verbatim: `a=<name>` or `a=<name>:<value>`.
    Other { name: String, value: Option<String> },
}

/// The payload of an `a=rtpmap` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RtpMap {
    pub payload_type: u8,
    pub encoding: String,
    pub clock_rate: u32,
    /// For audio, the channel count (e.g. `2` in `opus/48000/2`).
    pub params: Option<String>,
}

/// The payload of an `a=fmtp` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fmtp {
    pub format: String,
    pub params: String,
}

/// The payload of an `a=rtcp` line (RFC 3605).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rtcp {
    pub port: u16,
    pub connection: Option<Connection>,
}

/// A media direction (RFC 3264 §5.1, §6.1), seen from whoever wrote the description.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Direction {
    #[default]
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    /// The attribute name, as written after `a=`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    pub fn from_name(name: &str) -> Option<Direction> {
        match name.to_ascii_lowercase().as_str() {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        }
    }

    fn from_flags(send: bool, recv: bool) -> Direction {
        match (send, recv) {
            (true, true) => Direction::SendRecv,
            (true, false) => Direction::SendOnly,
            (false, true) => Direction::RecvOnly,
            (false, false) => Direction::Inactive,
        }
    }

    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    /// The same stream seen from the other end: what one sends, the other receives
    /// (RFC 3264 §6.1: sendonly is answered recvonly and vice versa).
    pub fn reversed(self) -> Direction {
        Direction::from_flags(self.receives(), self.sends())
    }

    /// What both allow.
    pub fn intersect(self, other: Direction) -> Direction {
        Direction::from_flags(
            self.sends() && other.sends(),
            self.receives() && other.receives(),
        )
    }

    /// `self` without sending.
    pub fn without_send(self) -> Direction {
        Direction::from_flags(false, self.receives())
    }
}

impl Connection {
    /// `IN IP4 <ip>` or `IN IP6 <ip>` for an address of ours.
    pub fn for_ip(ip: IpAddr) -> Connection {
        Connection {
            nettype: "IN".to_owned(),
            addrtype: addrtype_of(ip).to_owned(),
            address: ip.to_string(),
        }
    }

    /// The IP literal, without a multicast `/ttl` suffix; `None` for an FQDN or garbage.
    pub fn ip(&self) -> Option<IpAddr> {
        let literal = self.address.split('/').next().unwrap_or_default();
        // RFC 8866 §5.7 writes IPv6 bare, but some stacks bracket it.
        let literal = literal
            .strip_prefix('[')
            .and_then(|s| s.strip_suffix(']'))
            .unwrap_or(literal);
        literal.parse().ok()
    }

    /// RFC 3264 §8.4 (from RFC 2543): a connection address of `0.0.0.0` puts the stream on
    /// hold. Only the IPv4 one: RFC 3264 defines no IPv6 form, and `::` is refused as an
    /// unusable address ([`unusable_address`]).
    pub fn is_hold_address(&self) -> bool {
        self.ip() == Some(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
    }
}

/// Why media may not go to `ip`, when it may not: a multicast group (holdline speaks unicast
/// RTP only, and a stream to a group would reach every member: a reflection amplifier), the
/// IPv4 limited broadcast, or an unspecified address other than the IPv4 hold (RFC 3264 §8.4).
pub fn unusable_address(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) if v4.is_unspecified() => None,
        ip if ip.is_multicast() => Some("multicast"),
        IpAddr::V4(v4) if v4.is_broadcast() => Some("a broadcast address"),
        ip if ip.is_unspecified() => Some("unspecified"),
        _ => None,
    }
}

/// `IP4` or `IP6` for an address.
pub fn addrtype_of(ip: IpAddr) -> &'static str {
    match ip {
        IpAddr::V4(_) => "IP4",
        IpAddr::V6(_) => "IP6",
    }
}

impl SessionDescription {
    /// The session-level direction attribute, if any.
    pub fn direction(&self) -> Option<Direction> {
        direction_in(&self.attributes)
    }

    /// The connection that applies to `media`: its own `c=`, else the session's (§5.7).
    pub fn connection_for<'a>(&'a self, media: &'a MediaDescription) -> Option<&'a Connection> {
        media.connection.as_ref().or(self.connection.as_ref())
    }

    /// The direction that applies to `media`: its own attribute, else the session's, else
    /// sendrecv (RFC 3264 §5.1 — media level wins).
    pub fn direction_for(&self, media: &MediaDescription) -> Direction {
        media
            .direction()
            .or_else(|| self.direction())
            .unwrap_or_default()
    }
}

impl MediaDescription {
    pub fn direction(&self) -> Option<Direction> {
        direction_in(&self.attributes)
    }

    pub fn rtpmap(&self, payload_type: u8) -> Option<&RtpMap> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::RtpMap(m) if m.payload_type == payload_type => Some(m),
            _ => None,
        })
    }

    pub fn fmtp(&self, format: &str) -> Option<&Fmtp> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Fmtp(f) if f.format == format => Some(f),
            _ => None,
        })
    }

    pub fn ptime(&self) -> Option<u32> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Ptime(p) => Some(*p),
            _ => None,
        })
    }

    pub fn maxptime(&self) -> Option<u32> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::MaxPtime(p) => Some(*p),
            _ => None,
        })
    }

    pub fn rtcp(&self) -> Option<&Rtcp> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Rtcp(r) => Some(r),
            _ => None,
        })
    }

    /// Whether an attribute of this name (any variant, case-insensitive) is present.
    pub fn has_attribute(&self, name: &str) -> bool {
        self.attributes
            .iter()
            .any(|a| a.name().eq_ignore_ascii_case(name))
    }

    /// The format list read as RTP payload types; formats that are not numbers 0–127 are skipped.
    pub fn payload_types(&self) -> impl Iterator<Item = u8> + '_ {
        self.formats
            .iter()
            .filter_map(|f| f.parse::<u8>().ok())
            .filter(|pt| *pt < 128)
    }
}

impl Attribute {
    /// The attribute name, as written after `a=`.
    pub fn name(&self) -> &str {
        match self {
            Attribute::RtpMap(_) => "rtpmap",
            Attribute::Fmtp(_) => "fmtp",
            Attribute::Ptime(_) => "ptime",
            Attribute::MaxPtime(_) => "maxptime",
            Attribute::Direction(d) => d.as_str(),
            Attribute::Rtcp(_) => "rtcp",
            Attribute::Other { name, .. } => name,
        }
    }
}

fn direction_in(attributes: &[Attribute]) -> Option<Direction> {
    attributes.iter().find_map(|a| match a {
        Attribute::Direction(d) => Some(*d),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reversed_swaps_send_and_receive() {
        assert_eq!(Direction::SendOnly.reversed(), Direction::RecvOnly);
        assert_eq!(Direction::RecvOnly.reversed(), Direction::SendOnly);
        assert_eq!(Direction::SendRecv.reversed(), Direction::SendRecv);
        assert_eq!(Direction::Inactive.reversed(), Direction::Inactive);
    }

    #[test]
    fn intersect_keeps_only_what_both_allow() {
        assert_eq!(
            Direction::SendRecv.intersect(Direction::RecvOnly),
            Direction::RecvOnly
        );
        assert_eq!(
            Direction::SendOnly.intersect(Direction::RecvOnly),
            Direction::Inactive
        );
        assert_eq!(Direction::SendRecv.without_send(), Direction::RecvOnly);
    }

    #[test]
    fn connection_ip_strips_ttl_and_brackets() {
        let c = |a: &str| Connection {
            nettype: "IN".into(),
            addrtype: "IP4".into(),
            address: a.into(),
        };
        assert_eq!(c("224.2.1.1/127").ip(), Some("224.2.1.1".parse().unwrap()));
        assert_eq!(
            c("[2001:db8::1]").ip(),
            Some("2001:db8::1".parse().unwrap())
        );
        assert_eq!(c("host.example.com").ip(), None);
        assert!(c("0.0.0.0").is_hold_address());
        assert!(!c("::").is_hold_address());
        assert!(!c("192.0.2.1").is_hold_address());
    }

    #[test]
    fn multicast_broadcast_and_unspecified_addresses_are_unusable() {
        let u = |a: &str| unusable_address(a.parse().unwrap());
        assert_eq!(u("224.0.0.1"), Some("multicast"));
        assert_eq!(u("239.255.255.250"), Some("multicast"));
        assert_eq!(u("ff02::1"), Some("multicast"));
        assert_eq!(u("255.255.255.255"), Some("a broadcast address"));
        assert_eq!(u("::"), Some("unspecified"));
        assert_eq!(u("0.0.0.0"), None, "the IPv4 hold address");
        assert_eq!(u("192.0.2.1"), None);
        assert_eq!(u("2001:db8::1"), None);
        assert_eq!(u("127.0.0.1"), None);
    }
}
