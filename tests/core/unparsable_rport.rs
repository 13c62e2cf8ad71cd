//! Where the stateless 400 for a request that fails to parse goes: its Via was never stamped
//! with `received` / `rport` (the request never reached the transaction layer), yet a bare
//! `rport` must still send the answer to the packet's source address and port (RFC 3581 §4),
//! not to the sent-by host (a phone's private address behind NAT) at the source's port.

use holdline::sip::header::HeaderName;
use holdline::sip::message::Message;
use holdline_testkit::harness::*;

const CONFIG: &str = r#"
[sip]
listen = ["udp:192.0.2.1:5060"]
[rtp]
ports = "20000-29999"
"#;

/// An INVITE with an unparsable Max-Forwards (a 400 the parser can still address, whose
/// copied headers parse again) and `via`.
fn bad_invite(via: &str) -> String {
    format!(
        "INVITE sip:+14255550100@192.0.2.1 SIP/2.0\n\
         Via: {via}\n\
         From: <sip:phone@example.com>;tag=p1\n\
         To: <sip:+14255550100@192.0.2.1>\n\
         Call-ID: bad-max-forwards@test\n\
         CSeq: 1 INVITE\n\
         Max-Forwards: seventy\n\
         Content-Length: 0\n\n"
    )
}

/// The one response the core sent: where to, its status and its top Via.
fn only_response(h: &mut Harness) -> (String, u16, String) {
    let sent: Vec<_> = h.sent.drain(..).collect();
    assert_eq!(sent.len(), 1, "{sent:?}");
    let (to, msg) = &sent[0];
    let Message::Response(r) = msg else {
        panic!("not a response: {msg:?}")
    };
    let via = r
        .headers
        .get(&HeaderName::Via)
        .unwrap_or_default()
        .to_owned();
    (to.addr.to_string(), r.status, via)
}

#[test]
fn a_bare_rport_sends_the_400_to_the_source_address_and_port() {
    let mut h = Harness::with_config(CONFIG);
    h.send_from(
        "203.0.113.9:40000",
        &bad_invite("SIP/2.0/UDP 10.0.0.5:5060;rport;branch=z9hG4bKbad1"),
    );
    // The response's Via says so too: received and the filled rport (RFC 3581 §4).
    assert_eq!(
        only_response(&mut h),
        (
            "203.0.113.9:40000".to_owned(),
            400,
            "SIP/2.0/UDP 10.0.0.5:5060;rport=40000;branch=z9hG4bKbad1;received=203.0.113.9"
                .to_owned()
        )
    );
}

#[test]
fn without_rport_the_400_goes_to_the_source_address_at_the_sent_by_port() {
    // §18.2.1 / §18.2.2: the sent-by host is not the source, so `received` (the source
    // address) wins; without rport the sent-by port stays.
    let mut h = Harness::with_config(CONFIG);
    h.send_from(
        "203.0.113.9:40000",
        &bad_invite("SIP/2.0/UDP 10.0.0.5:5070;branch=z9hG4bKbad2"),
    );
    assert_eq!(
        only_response(&mut h),
        (
            "203.0.113.9:5070".to_owned(),
            400,
            "SIP/2.0/UDP 10.0.0.5:5070;branch=z9hG4bKbad2;received=203.0.113.9".to_owned()
        )
    );
}
