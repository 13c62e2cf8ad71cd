//! Trunks with several SBCs (`sbcs`): the order they are tried in and failover of an external
//! forward to the next SBC, then to the next trunk that may carry the number, on no
//! provisional response within `first_response_timeout`, a 503 or a transport error
//! (RFC 3263 §4.3, RFC 3261 §17.1.1.2). The forward here is an agent's REFER to a number.

use std::time::Duration;

use holdline::b2bua::Event;
use holdline::sip::header::HeaderName;
use holdline::sip::message::{Message, Request};
use holdline::sip::transport::Peer;
use holdline::sip::Method;
use holdline_testkit::harness::*;

pub(super) const AMOS: &str = "198.51.100.20:5070";
/// The carrier's SBCs: A (priority 1), B (priority 2).
pub(super) const SBC_A: &str = "203.0.113.10:5060";
pub(super) const SBC_B: &str = "203.0.113.11:5060";
/// The backup trunk's only SBC.
pub(super) const BACKUP: &str = "203.0.113.20:5060";

fn config(backup_allow: &str) -> String {
    config_with(backup_allow, "")
}

/// The carrier (SBCs A and B) with `carrier_extra` keys, and the backup trunk.
pub(super) fn config_with(backup_allow: &str, carrier_extra: &str) -> String {
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
sbcs = [
  {{ uri = "sip:{SBC_B}", priority = 2, weight = 10 }},
  {{ uri = "sip:{SBC_A}", priority = 1, weight = 10 }},
]
first_response_timeout = 2
allow = ["+1425*"]
{carrier_extra}
[[trunk]]
id = "backup"
proxy = "sip:{BACKUP}"
allow = ["{backup_allow}"]
[[queue]]
id = "sales"
name = "UK Sales"
numbers = ["+14255550100"]
agents = ["amos"]
"#
    )
}

/// A caller bridged to amos, who transfers it to +14255550999 (through the carrier).
pub(super) fn transfer_out(h: &mut Harness) {
    caller_arrives(h, "c1");
    let invite = requests_to(h, AMOS).remove(0);
    h.send_from(AMOS, &reply(&invite, 200, "amos1"));
    h.sent.clear();
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
             Refer-To: <tel:+14255550999>\n\
             Content-Length: 0\n\n"
        ),
    );
}

/// Requests sent to `peer` (removed), keeping everything else sent.
fn requests_to_keep(h: &mut Harness, peer: &str) -> Vec<Request> {
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

/// The requests with `method` sent to `peer` since the last look (everything sent to `peer`
/// is removed, the rest kept).
pub(super) fn to(h: &mut Harness, peer: &str, method: Method) -> Vec<Request> {
    requests_to_keep(h, peer)
        .into_iter()
        .filter(|r| r.method == method)
        .collect()
}

fn bridged(h: &Harness) -> bool {
    h.events.iter().any(|e| matches!(e, Event::Bridge { .. }))
}

fn caller_released(h: &mut Harness) -> bool {
    !to(h, CALLER, Method::Bye).is_empty()
}

#[test]
fn the_lowest_priority_sbc_is_tried_first_at_its_own_host() {
    let mut h = Harness::with_config(&config("+1425*"));
    transfer_out(&mut h);
    let a = to(&mut h, SBC_A, Method::Invite);
    assert_eq!(a.len(), 1, "priority 1 first");
    assert_eq!(
        a[0].uri.to_string(),
        "sip:+14255550999@203.0.113.10;user=phone"
    );
    assert!(to(&mut h, SBC_B, Method::Invite).is_empty());
    assert!(to(&mut h, BACKUP, Method::Invite).is_empty());
}

#[test]
fn no_provisional_response_in_time_moves_to_the_next_sbc() {
    let mut h = Harness::with_config(&config("+1425*"));
    transfer_out(&mut h);
    let a = to(&mut h, SBC_A, Method::Invite);
    h.sent.clear();
    h.advance(Duration::from_millis(1_900));
    assert!(
        to(&mut h, SBC_B, Method::Invite).is_empty(),
        "not before 2 s"
    );
    h.advance(Duration::from_millis(200));
    let b = to(&mut h, SBC_B, Method::Invite);
    assert_eq!(b.len(), 1, "B at 2 s");
    assert_eq!(
        b[0].uri.to_string(),
        "sip:+14255550999@203.0.113.11;user=phone"
    );
    // RFC 5806: the retry says where the call was diverted from, as the first attempt did.
    for invite in [&a[0], &b[0]] {
        assert_eq!(
            invite.headers.get(&HeaderName::Diversion),
            Some("<sip:+14255550100@192.0.2.1>;reason=deflection;counter=1;privacy=off")
        );
    }
    // RFC 3261 §9.1: A gets no CANCEL before it answered at all; when it does, it is cancelled.
    assert!(to(&mut h, SBC_A, Method::Cancel).is_empty());
    h.send_from(SBC_A, &reply(&a[0], 180, "late"));
    assert_eq!(to(&mut h, SBC_A, Method::Cancel).len(), 1);
    h.events.clear();
    h.send_from(SBC_B, &reply(&b[0], 200, "b1"));
    assert!(bridged(&h), "the caller is bridged to the call through B");
}

#[test]
fn a_provisional_response_keeps_the_sbc() {
    let mut h = Harness::with_config(&config("+1425*"));
    transfer_out(&mut h);
    let a = to(&mut h, SBC_A, Method::Invite);
    h.send_from(SBC_A, &reply(&a[0], 100, "a1"));
    h.sent.clear();
    h.advance(Duration::from_secs(10));
    assert!(to(&mut h, SBC_B, Method::Invite).is_empty());
    assert!(to(&mut h, SBC_A, Method::Cancel).is_empty());
    h.events.clear();
    h.send_from(SBC_A, &reply(&a[0], 200, "a1"));
    assert!(bridged(&h));
}

#[test]
fn a_503_moves_to_the_next_sbc_then_to_the_next_trunk() {
    let mut h = Harness::with_config(&config("+1425*"));
    transfer_out(&mut h);
    let a = to(&mut h, SBC_A, Method::Invite);
    h.send_from(SBC_A, &reply(&a[0], 503, "a1"));
    let b = to(&mut h, SBC_B, Method::Invite);
    assert_eq!(b.len(), 1, "B at once after A's 503");
    h.send_from(SBC_B, &reply(&b[0], 503, "b1"));
    let c = to(&mut h, BACKUP, Method::Invite);
    assert_eq!(c.len(), 1, "the backup trunk after both SBCs failed");
    assert_eq!(
        c[0].uri.to_string(),
        "sip:+14255550999@203.0.113.20;user=phone"
    );
    assert!(!caller_released(&mut h));
    // A refusal from the far end is an answer: nothing more is tried.
    h.send_from(BACKUP, &reply(&c[0], 486, "c1"));
    assert!(caller_released(&mut h));
}

#[test]
fn a_refusal_other_than_503_ends_the_forward() {
    // 408 included: the far end's "nobody answered" must not ring the number again elsewhere.
    for status in [404, 408] {
        let mut h = Harness::with_config(&config("+1425*"));
        transfer_out(&mut h);
        let a = to(&mut h, SBC_A, Method::Invite);
        h.send_from(SBC_A, &reply(&a[0], status, "a1"));
        assert!(to(&mut h, SBC_B, Method::Invite).is_empty(), "{status}");
        assert!(to(&mut h, BACKUP, Method::Invite).is_empty(), "{status}");
        assert!(caller_released(&mut h), "{status}");
    }
}

#[test]
fn a_transport_error_moves_to_the_next_sbc() {
    let mut h = Harness::with_config(&config("+1425*"));
    transfer_out(&mut h);
    assert_eq!(to(&mut h, SBC_A, Method::Invite).len(), 1);
    h.sent.clear();
    let now = h.now;
    h.core
        .handle_transport_error(now, Peer::udp(SBC_A.parse().unwrap()));
    h.collect();
    assert_eq!(to(&mut h, SBC_B, Method::Invite).len(), 1, "B at once");
}

#[test]
fn a_trunk_that_may_not_carry_the_number_is_never_tried() {
    let mut h = Harness::with_config(&config("+44*"));
    transfer_out(&mut h);
    let a = to(&mut h, SBC_A, Method::Invite);
    h.send_from(SBC_A, &reply(&a[0], 503, "a1"));
    let b = to(&mut h, SBC_B, Method::Invite);
    h.send_from(SBC_B, &reply(&b[0], 503, "b1"));
    assert!(to(&mut h, BACKUP, Method::Invite).is_empty());
    assert!(caller_released(&mut h));
}

#[test]
fn the_last_attempt_is_not_cut_short() {
    let mut h = Harness::with_config(&config("+44*"));
    transfer_out(&mut h);
    h.advance(Duration::from_millis(2_100));
    let b = to(&mut h, SBC_B, Method::Invite);
    assert_eq!(b.len(), 1);
    h.sent.clear();
    // Nothing after B: it keeps its INVITE (retransmitted) up to Timer B.
    h.advance(Duration::from_secs(10));
    assert!(!caller_released(&mut h));
    assert!(to(&mut h, SBC_B, Method::Cancel).is_empty());
    h.events.clear();
    h.send_from(SBC_B, &reply(&b[0], 200, "b1"));
    assert!(bridged(&h));
}
