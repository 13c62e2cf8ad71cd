//! Via-based routing of responses: stamping `received` / `rport` on an arriving request
//! (RFC 3261 §18.2.1, RFC 3581 §4) and choosing where its responses go (§18.2.2, RFC 3581 §4).
//!
//! Not supported: `maddr` (§18.2.2 multicast responses) is ignored, and a sent-by that is a
//! domain name is never resolved (§18.2.2 → RFC 3263): after stamping it always has a
//! `received`, so the packet source is used. RFC 3581 also wants the response sent *from* the
//! socket the request arrived on; [`Peer`] does not name a local socket, so that is the
//! runtime's to honour.

use std::net::{IpAddr, SocketAddr};

use crate::sip::header::{split_list, HeaderName, Headers};
use crate::sip::message::Request;
use crate::sip::transport::{Peer, Transport};
use crate::sip::typed::Via;
use crate::sip::uri::Host;

use super::TransactionError;

/// The default SIP port for UDP and TCP (§19.1.2).
const DEFAULT_PORT: u16 = 5060;

/// Adds `received=` to the top Via when its sent-by host is not the packet's source IP (a
/// domain name always differs, §18.2.1), or whenever `rport` is present (RFC 3581 §4), and fills
/// a bare `;rport` with the source port.
pub fn stamp_received(req: &mut Request, source: SocketAddr) -> Result<(), TransactionError> {
    stamp_top_via(&mut req.headers, source)
        .map(drop)
        .ok_or(TransactionError::MissingHeader { name: "Via" })
}

/// [`stamp_received`] on any header list (a stateless response's copy of an unparsable
/// request's Vias, say); the stamped top Via, `None` when there is none that parses.
pub fn stamp_top_via(headers: &mut Headers, source: SocketAddr) -> Option<Via> {
    let mut via = headers.top_via()?;
    // Leave the header text untouched when there is nothing to add.
    if stamp_via(&mut via, source) {
        replace_top_via(headers, &via);
    }
    Some(via)
}

/// [`stamp_received`] on a Via alone; whether it changed.
fn stamp_via(via: &mut Via, source: SocketAddr) -> bool {
    let source_ip = source.ip().to_canonical();
    let same_host = match &via.host {
        Host::V4(a) => IpAddr::V4(*a) == source_ip,
        Host::V6(a) => IpAddr::V6(*a).to_canonical() == source_ip,
        Host::Name(_) => false,
    };
    let rport = via.rport();
    let add_received = !same_host || rport.is_some();
    if add_received {
        // §25.1 via-received is a bare IPv4address / IPv6address (no brackets).
        via.params.set("received", Some(&source_ip.to_string()));
    }
    if rport == Some(None) {
        via.params.set("rport", Some(&source.port().to_string()));
    }
    add_received
}

/// Where the responses to a request go (§18.2.2): back on the connection it arrived on for a
/// reliable transport; over UDP to `received` (or the sent-by IP) at the `rport` port (RFC 3581)
/// or else the sent-by port, 5060 by default.
pub fn response_destination(top_via: &Via, arrived_on: Peer) -> Peer {
    if arrived_on.transport != Transport::Udp {
        // §18.2.2: reuse the connection; the runtime opens a new one to `received` + sent-by
        // port if it has gone.
        return arrived_on;
    }
    let ip = top_via
        .received()
        .and_then(parse_received)
        .or(match &top_via.host {
            Host::V4(a) => Some(IpAddr::V4(*a)),
            Host::V6(a) => Some(IpAddr::V6(*a)),
            Host::Name(_) => None,
        })
        .unwrap_or(arrived_on.addr.ip());
    let port = match top_via.rport() {
        Some(Some(p)) => p,
        // A bare rport nobody filled in still asks for the source (RFC 3581 §4): its address
        // as well as its port, never the sent-by host at the source's port.
        Some(None) => return Peer::udp(arrived_on.addr),
        None => top_via.port.unwrap_or(DEFAULT_PORT),
    };
    Peer::udp(SocketAddr::new(ip, port))
}

/// A `received` value; tolerates the bracketed IPv6 form some stacks write.
fn parse_received(value: &str) -> Option<IpAddr> {
    let bare = value
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .unwrap_or(value);
    bare.parse().ok()
}

/// Rewrites the first element of the first Via line, keeping the rest of that line.
fn replace_top_via(headers: &mut Headers, via: &Via) {
    let Some(line) = headers.0.iter_mut().find(|h| h.name == HeaderName::Via) else {
        return;
    };
    let mut value = via.to_string();
    for rest in split_list(&line.value).skip(1) {
        value.push_str(", ");
        value.push_str(rest);
    }
    line.value = value;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::transaction::tests_support::invite;
    use crate::sip::transport::ConnId;

    fn with_via(via: &str) -> Request {
        let mut req = invite("z9hG4bKx");
        req.headers.set(HeaderName::Via, via);
        req
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn stamp_adds_received_only_when_source_differs() {
        let mut req = with_via("SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKx");
        stamp_received(&mut req, addr("192.0.2.10:5060")).unwrap();
        assert_eq!(
            req.headers.get(&HeaderName::Via),
            Some("SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKx")
        );
        stamp_received(&mut req, addr("198.51.100.7:40000")).unwrap();
        assert_eq!(
            req.headers.get(&HeaderName::Via),
            Some("SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKx;received=198.51.100.7")
        );
    }

    #[test]
    fn stamp_always_adds_received_for_a_domain_sent_by() {
        let mut req = with_via("SIP/2.0/TCP pc33.example.com;branch=z9hG4bKx");
        stamp_received(&mut req, addr("192.0.2.4:5060")).unwrap();
        assert_eq!(req.headers.top_via().unwrap().received(), Some("192.0.2.4"));
    }

    #[test]
    fn stamp_fills_bare_rport_and_keeps_lower_vias() {
        let mut req = with_via(
            "SIP/2.0/UDP 10.0.0.1:5060;rport;branch=z9hG4bKx, SIP/2.0/UDP proxy.example.com",
        );
        req.headers
            .push(HeaderName::Via, "SIP/2.0/UDP third.example.com");
        stamp_received(&mut req, addr("203.0.113.9:61000")).unwrap();
        let vias: Vec<_> = req.headers.get_all(&HeaderName::Via).collect();
        assert_eq!(
            vias,
            vec![
                "SIP/2.0/UDP 10.0.0.1:5060;rport=61000;branch=z9hG4bKx;received=203.0.113.9, \
                 SIP/2.0/UDP proxy.example.com",
                "SIP/2.0/UDP third.example.com",
            ]
        );
    }

    #[test]
    fn rport_adds_received_even_when_source_matches() {
        // RFC 3581 §4: received is added even when it equals the sent-by address.
        let mut req = with_via("SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKx;rport");
        stamp_received(&mut req, addr("192.0.2.10:5060")).unwrap();
        let via = req.headers.top_via().unwrap();
        assert_eq!(via.received(), Some("192.0.2.10"));
        assert_eq!(via.rport(), Some(Some(5060)));
    }

    #[test]
    fn udp_response_goes_to_received_and_rport() {
        let mut req = with_via("SIP/2.0/UDP 10.0.0.1:5070;rport;branch=z9hG4bKx");
        let source = addr("203.0.113.9:61000");
        stamp_received(&mut req, source).unwrap();
        let dest = response_destination(&req.headers.top_via().unwrap(), Peer::udp(source));
        assert_eq!(dest, Peer::udp(source));
    }

    #[test]
    fn udp_response_without_rport_goes_to_received_at_sent_by_port() {
        let mut req = with_via("SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKx");
        let source = addr("203.0.113.9:61000");
        stamp_received(&mut req, source).unwrap();
        let dest = response_destination(&req.headers.top_via().unwrap(), Peer::udp(source));
        assert_eq!(dest, Peer::udp(addr("203.0.113.9:5070")));
        let via = Via::parse("SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKx").unwrap();
        let dest = response_destination(&via, Peer::udp(addr("192.0.2.10:7000")));
        assert_eq!(dest, Peer::udp(addr("192.0.2.10:5060")));
    }

    #[test]
    fn unstamped_bare_rport_goes_to_the_source_address_and_port() {
        // RFC 3581 §4: the sent-by (10.0.0.5) is where the phone thinks it is, behind NAT.
        let via = Via::parse("SIP/2.0/UDP 10.0.0.5:5060;rport;branch=z9hG4bKx").unwrap();
        let source = addr("203.0.113.9:40000");
        assert_eq!(
            response_destination(&via, Peer::udp(source)),
            Peer::udp(source)
        );
        // Stamped in a response's own headers (a stateless 400): the same place.
        let mut headers = Headers::default();
        headers.push(
            HeaderName::Via,
            "SIP/2.0/UDP 10.0.0.5:5060;rport;branch=z9hG4bKx",
        );
        let stamped = stamp_top_via(&mut headers, source).unwrap();
        assert_eq!(
            headers.get(&HeaderName::Via),
            Some("SIP/2.0/UDP 10.0.0.5:5060;rport=40000;branch=z9hG4bKx;received=203.0.113.9")
        );
        assert_eq!(
            response_destination(&stamped, Peer::udp(source)),
            Peer::udp(source)
        );
        // Without rport: the source address at the sent-by port (§18.2.1, §18.2.2).
        let mut headers = Headers::default();
        headers.push(HeaderName::Via, "SIP/2.0/UDP 10.0.0.5:5070;branch=z9hG4bKx");
        let stamped = stamp_top_via(&mut headers, source).unwrap();
        assert_eq!(
            response_destination(&stamped, Peer::udp(source)),
            Peer::udp(addr("203.0.113.9:5070"))
        );
    }

    #[test]
    fn reliable_response_reuses_the_connection() {
        let via = Via::parse("SIP/2.0/TCP 10.0.0.1:5070;branch=z9hG4bKx").unwrap();
        let arrived = Peer {
            transport: Transport::Tcp,
            addr: addr("203.0.113.9:40000"),
            conn: Some(ConnId(7)),
        };
        assert_eq!(response_destination(&via, arrived), arrived);
    }

    #[test]
    fn ipv6_source_is_stamped_without_brackets() {
        let mut req = with_via("SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bKx");
        let source = addr("[2001:db8::2]:5060");
        stamp_received(&mut req, source).unwrap();
        let via = req.headers.top_via().unwrap();
        assert_eq!(via.received(), Some("2001:db8::2"));
        assert_eq!(
            response_destination(&via, Peer::udp(source)),
            Peer::udp(source)
        );
    }
}
