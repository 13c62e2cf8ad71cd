//! RFC 3261 §18.1.1 on virtual time: a request over 1,300 bytes toward a trunk reached over
//! UDP goes over TCP instead (its top Via and Contact saying so) when the trunk's proxy does
//! not pin `transport=udp`; a small one stays on UDP, and so does a large one to a proxy that
//! pins UDP.

use std::time::Duration;

use holdline::sip::header::HeaderName;
use holdline::sip::message::{Message, Request};
use holdline::sip::{Method, Transport};
use holdline_testkit::harness::*;

const TRUNK: &str = "203.0.113.9:5060";

fn config(proxy: &str) -> String {
    format!(
        r#"
[sip]
listen = ["udp:192.0.2.1:5060", "tcp:192.0.2.1:5060"]
[rtp]
ports = "20000-29999"
[[number]]
e164 = "+14255550100"
kind = "service-toll"
[[trunk]]
id = "carrier"
proxy = "{proxy}"
allow = ["+1425*"]
[[queue]]
id = "sales"
name = "UK Sales"
numbers = ["+14255550100"]
no_agents = {{ action = "queue" }}
max_wait = 15
on_timeout = {{ action = "forward", to = "tel:+14255550999" }}
"#
    )
}

/// A caller whose identity takes `user_len` characters arrives, waits `max_wait` and is
/// forwarded through the trunk on our own leg; returns the INVITE (with the transport it was
/// sent on) and its size on the wire.
fn forwarded_invite(proxy: &str, user_len: usize) -> (Transport, Request, usize) {
    let mut h = Harness::with_config(&config(proxy));
    let user = "a".repeat(user_len);
    let text = invite("+14255550100", "big1", "z9hG4bKbig1", Some(SDP_PCMU)).replace(
        "<sip:alice@198.51.100.7>",
        &format!("<sip:{user}@198.51.100.7>"),
    );
    h.send(&text);
    let tag = to_tag(&h.last_response(200).expect("caller answered"));
    h.send(&in_dialog("ACK", "big1", &tag, 1, "z9hG4bKbig1a", None));
    h.sent.clear();
    h.advance(Duration::from_millis(15_100));
    let (peer, invite) = h
        .sent
        .iter()
        .find_map(|(p, m)| match m {
            Message::Request(r) if p.addr.to_string() == TRUNK && r.method == Method::Invite => {
                Some((*p, r.clone()))
            }
            _ => None,
        })
        .expect("an INVITE to the trunk");
    let size = invite.to_bytes().len();
    (peer.transport, invite, size)
}

#[test]
fn a_large_invite_to_a_trunk_goes_over_tcp() {
    let (transport, invite, size) = forwarded_invite(&format!("sip:{TRUNK}"), 600);
    assert!(size > 1300, "{size} bytes");
    assert_eq!(transport, Transport::Tcp);
    let via = invite.headers.get(&HeaderName::Via).unwrap();
    assert!(
        via.starts_with("SIP/2.0/TCP "),
        "the top Via says TCP: {via}"
    );
    assert_eq!(invite.headers.get_all(&HeaderName::Via).count(), 1);
    let contact = invite.headers.get(&HeaderName::Contact).unwrap();
    assert!(contact.ends_with(";transport=tcp>"), "{contact}");
}

#[test]
fn a_small_invite_to_the_same_trunk_stays_on_udp() {
    let (transport, invite, size) = forwarded_invite(&format!("sip:{TRUNK}"), 5);
    assert!(size <= 1300, "{size} bytes");
    assert_eq!(transport, Transport::Udp);
    let via = invite.headers.get(&HeaderName::Via).unwrap();
    assert!(via.starts_with("SIP/2.0/UDP "), "{via}");
}

#[test]
fn a_large_invite_to_a_proxy_that_pins_udp_stays_on_udp() {
    let (transport, _, size) = forwarded_invite(&format!("sip:{TRUNK};transport=udp"), 600);
    assert!(size > 1300, "{size} bytes");
    assert_eq!(transport, Transport::Udp);
}
