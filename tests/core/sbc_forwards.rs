//! What a forward toward a trunk carries (issue 12, SBC conformance): `Diversion` (RFC 5806)
//! and `History-Info` (RFC 7044) naming the service the caller dialled, an SDP offer, no
//! `Replaces`; long Refer-To / Referred-By values from agents are accepted.

use std::time::Duration;

use holdline::b2bua::Event;
use holdline::sip::header::HeaderName;
use holdline::sip::message::{Message, Request};
use holdline::sip::sdp::SessionDescription;
use holdline::sip::Method;
use holdline_testkit::harness::*;

const AMOS: &str = "198.51.100.20:5070";
const TRUNK: &str = "203.0.113.9:5060";

fn config(extra: &str) -> String {
    format!(
        r#"
[sip]
listen = ["udp:192.0.2.1:5060"]
[rtp]
ports = "20000-29999"
[[number]]
e164 = "+14255550100"
kind = "service-toll"
[[user]]
id = "amos"
contacts = ["sip:amos@{AMOS}"]
[[trunk]]
id = "carrier"
proxy = "sip:{TRUNK}"
allow = ["+1425*"]
[[queue]]
id = "sales"
name = "UK Sales"
numbers = ["+14255550100"]
agents = ["amos"]
{extra}
"#
    )
}

fn to_peer(h: &mut Harness, peer: &str) -> Vec<Request> {
    let (mine, rest): (Vec<_>, Vec<_>) = h
        .sent
        .drain(..)
        .partition(|(p, _)| p.addr.to_string() == peer);
    h.sent = rest;
    mine.into_iter()
        .filter_map(|(_, m)| match m {
            Message::Request(r) => Some(r),
            _ => None,
        })
        .collect()
}

/// Checks what every INVITE toward a trunk must carry (issue 12 item 5).
fn assert_trunk_invite(invite: &Request) {
    assert_eq!(invite.method, Method::Invite);
    assert_eq!(
        invite.headers.get(&HeaderName::ContentType),
        Some("application/sdp"),
        "an SDP offer, never a late offer toward a trunk"
    );
    let offer = SessionDescription::parse(&invite.body).expect("the offer parses");
    assert_eq!(offer.media.len(), 1);
    let text = String::from_utf8_lossy(&invite.to_bytes()).to_ascii_lowercase();
    assert!(!text.contains("replaces"), "no Replaces toward a trunk");
}

#[test]
fn a_queue_forward_to_a_number_carries_diversion_and_history_info() {
    let mut h = Harness::with_config(&config(
        "max_wait = 15\non_timeout = { action = \"forward\", to = \"tel:+14255550999\" }",
    ));
    caller_arrives(&mut h, "div1");
    h.sent.clear();
    h.advance(Duration::from_millis(15_100));
    let to_trunk = to_peer(&mut h, TRUNK);
    assert_eq!(methods(&to_trunk), vec![Method::Invite]);
    let invite = &to_trunk[0];
    assert_trunk_invite(invite);
    assert_eq!(
        invite.headers.get(&HeaderName::Diversion),
        Some("<sip:+14255550100@192.0.2.1>;reason=unconditional;counter=1;privacy=off")
    );
    let history: Vec<&str> = invite.headers.get_all(&HeaderName::HistoryInfo).collect();
    assert_eq!(
        history,
        vec![
            "<sip:+14255550100@192.0.2.1>;index=1",
            "<sip:+14255550999@203.0.113.9;user=phone>;index=1.1;mp=1",
        ]
    );
}

#[test]
fn an_agent_transfer_with_long_refer_to_and_referred_by_is_a_deflection() {
    let mut h = Harness::with_config(&config(""));
    caller_arrives(&mut h, "div2");
    let invite = to_peer(&mut h, AMOS).remove(0);
    // An agent leg is not a trunk: no Diversion toward a phone.
    assert!(!invite.headers.contains(&HeaderName::Diversion));
    h.send_from(AMOS, &reply(&invite, 200, "amos1"));
    assert!(h.events.iter().any(|e| matches!(e, Event::Bridge { .. })));
    h.sent.clear();
    // Refer-To and Referred-By of 400 characters each, as some SBCs send them.
    let pad = |len: usize, head: &str, tail: &str| {
        format!("{head}{}{tail}", "a".repeat(len - head.len() - tail.len()))
    };
    let refer_to = pad(400, "Refer-To: <tel:+14255550999;x-note=", ">");
    let referred_by = pad(400, "Referred-By: <sip:amos@192.0.2.1;x-note=", ">");
    assert_eq!((refer_to.len(), referred_by.len()), (400, 400));
    let our_from = invite.headers.get(&HeaderName::From).unwrap();
    let call_id = invite.headers.get(&HeaderName::CallId).unwrap();
    h.send_from(
        AMOS,
        &format!(
            "REFER sip:holdline@192.0.2.1:5060 SIP/2.0\n\
             Via: SIP/2.0/UDP {AMOS};branch=z9hG4bKrefer2\n\
             From: <sip:amos@{AMOS}>;tag=amos1\n\
             To: {our_from}\n\
             Call-ID: {call_id}\n\
             CSeq: 2 REFER\n\
             Max-Forwards: 70\n\
             Contact: <sip:amos@{AMOS}>\n\
             {refer_to}\n{referred_by}\n\
             Content-Length: 0\n\n"
        ),
    );
    assert_eq!(
        h.last_response(202).map(|r| r.status),
        Some(202),
        "the long REFER is accepted"
    );
    let to_trunk = to_peer(&mut h, TRUNK);
    assert_eq!(methods(&to_trunk), vec![Method::Invite]);
    assert_trunk_invite(&to_trunk[0]);
    assert_eq!(
        to_trunk[0].uri.to_string(),
        "sip:+14255550999@203.0.113.9;user=phone",
        "the number, without the long parameter"
    );
    let diversion = to_trunk[0]
        .headers
        .get(&HeaderName::Diversion)
        .unwrap_or("");
    assert!(
        diversion.starts_with("<sip:+14255550100@192.0.2.1>;reason=deflection;counter=1"),
        "{diversion}"
    );
}

/// An agent's REFER whose Refer-To carries a Replaces for a number: the trunk sees nothing
/// (a Replaces is never sent toward a trunk; holdline resolves it among its own dialogs).
#[test]
fn a_refer_with_replaces_to_a_number_never_reaches_the_trunk() {
    let mut h = Harness::with_config(&config(""));
    caller_arrives(&mut h, "div3");
    let invite = to_peer(&mut h, AMOS).remove(0);
    h.send_from(AMOS, &reply(&invite, 200, "amos1"));
    h.sent.clear();
    let our_from = invite.headers.get(&HeaderName::From).unwrap();
    let call_id = invite.headers.get(&HeaderName::CallId).unwrap();
    h.send_from(
        AMOS,
        &format!(
            "REFER sip:holdline@192.0.2.1:5060 SIP/2.0\n\
             Via: SIP/2.0/UDP {AMOS};branch=z9hG4bKrefer3\n\
             From: <sip:amos@{AMOS}>;tag=amos1\n\
             To: {our_from}\n\
             Call-ID: {call_id}\n\
             CSeq: 2 REFER\n\
             Max-Forwards: 70\n\
             Contact: <sip:amos@{AMOS}>\n\
             Refer-To: <sip:+14255550999@203.0.113.9;user=phone?Replaces=abc%3Bto-tag%3D1%3Bfrom-tag%3D2>\n\
             Content-Length: 0\n\n"
        ),
    );
    h.advance(Duration::from_secs(5));
    assert!(
        to_peer(&mut h, TRUNK).is_empty(),
        "nothing toward the trunk"
    );
}
