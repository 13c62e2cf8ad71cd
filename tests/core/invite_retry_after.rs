//! A 503 with Retry-After to an INVITE through a trunk takes that SBC out of failover for
//! that time (RFC 3261 §21.5.4), as a health probe's 503 does, capped at an hour; a 503
//! without it does not. And numbers reach a trunk with `plus = "strip"` without their `+`.

use std::time::Duration;

use holdline::sip::message::Request;
use holdline::sip::Method;
use holdline_testkit::harness::*;

use super::trunk_failover::to;

const SBC_A: &str = "203.0.113.10:5060";
const SBC_B: &str = "203.0.113.11:5060";

/// A queue without agents whose callers are forwarded after 15 s to a number through the
/// carrier (SBC A first, priority 1; then B), without health checks.
fn config(carrier_extra: &str) -> String {
    format!(
        r#"
[sip]
listen = ["udp:192.0.2.1:5060"]
[rtp]
ports = "20000-29999"
[[number]]
e164 = "+14255550100"
kind = "service-toll"
[[trunk]]
id = "carrier"
sbcs = [
  {{ uri = "sip:{SBC_A}", priority = 1 }},
  {{ uri = "sip:{SBC_B}", priority = 2 }},
]
allow = ["+1425*"]
{carrier_extra}
[[queue]]
id = "sales"
numbers = ["+14255550100"]
max_wait = 15
on_timeout = {{ action = "forward", to = "tel:+14255550999" }}
"#
    )
}

/// A caller arrives and waits out `max_wait`: the forward's first INVITE, to whichever SBC
/// it went (A or B).
fn forward(h: &mut Harness, call_id: &str) -> (&'static str, Request) {
    caller_arrives(h, call_id);
    h.sent.clear();
    h.advance(Duration::from_millis(15_100));
    let a = distinct(to(h, SBC_A, Method::Invite));
    let b = distinct(to(h, SBC_B, Method::Invite));
    match (a.len(), b.len()) {
        (1, 0) => ("A", a.into_iter().next().unwrap()),
        (0, 1) => ("B", b.into_iter().next().unwrap()),
        other => panic!("one INVITE expected, got {other:?}"),
    }
}

/// One INVITE per Call-ID (UDP retransmissions left out).
fn distinct(invites: Vec<Request>) -> Vec<Request> {
    let mut seen = std::collections::HashSet::new();
    invites
        .into_iter()
        .filter(|r| seen.insert(r.headers.call_id().unwrap_or_default().to_owned()))
        .collect()
}

/// The SBC that got the failover answers it: the far end is busy, the forward is over.
fn far_end_busy(h: &mut Harness, peer: &str) {
    let invites = distinct(to(h, peer, Method::Invite));
    assert_eq!(invites.len(), 1, "failover to {peer}");
    h.send_from(peer, &reply(&invites[0], 486, "far"));
    h.sent.clear();
}

fn refuse_503(h: &mut Harness, peer: &str, invite: &Request, retry_after: Option<&str>) {
    let mut text = reply(invite, 503, "busy");
    if let Some(secs) = retry_after {
        text = text.replace(
            "Content-Length",
            &format!("Retry-After: {secs}\nContent-Length"),
        );
    }
    h.send_from(peer, &text);
}

#[test]
fn an_invites_503_with_retry_after_holds_the_sbc_out_for_that_time() {
    let mut h = Harness::with_config(&config(""));
    let (first, invite) = forward(&mut h, "c1");
    assert_eq!(first, "A");
    refuse_503(&mut h, SBC_A, &invite, Some("60 (maintenance)"));
    far_end_busy(&mut h, SBC_B);

    // 15 s later: A is still out, the next forward starts at B.
    let (next, invite) = forward(&mut h, "c2");
    assert_eq!(next, "B", "A is out for its Retry-After");
    h.send_from(SBC_B, &reply(&invite, 486, "far"));

    // 60 s after the 503, A is back first.
    h.advance(Duration::from_secs(30));
    let (back, _) = forward(&mut h, "c3");
    assert_eq!(back, "A", "the Retry-After has passed");
}

#[test]
fn a_503_without_retry_after_only_fails_over_this_call() {
    let mut h = Harness::with_config(&config(""));
    let (_, invite) = forward(&mut h, "c1");
    refuse_503(&mut h, SBC_A, &invite, None);
    far_end_busy(&mut h, SBC_B);
    let (next, _) = forward(&mut h, "c2");
    assert_eq!(next, "A");
}

#[test]
fn a_huge_retry_after_is_capped_at_an_hour() {
    let mut h = Harness::with_config(&config(""));
    let (_, invite) = forward(&mut h, "c1");
    refuse_503(&mut h, SBC_A, &invite, Some("4294967295"));
    far_end_busy(&mut h, SBC_B);
    // The 503 came at 15.1 s; this forward goes out at 3,590.2 s.
    h.advance(Duration::from_secs(3_560));
    let (during, invite) = forward(&mut h, "c2");
    assert_eq!(during, "B");
    h.send_from(SBC_B, &reply(&invite, 486, "far"));
    // And this one at 3,635.3 s, past the hour.
    h.advance(Duration::from_secs(30));
    let (after, _) = forward(&mut h, "c3");
    assert_eq!(after, "A", "out an hour at most");
}

#[test]
fn plus_strip_sends_the_number_without_its_plus() {
    let mut h = Harness::with_config(&config("plus = \"strip\""));
    let (_, invite) = forward(&mut h, "c1");
    assert_eq!(
        invite.uri.to_string(),
        "sip:14255550999@203.0.113.10;user=phone"
    );
    let mut keep = Harness::with_config(&config(""));
    let (_, invite) = forward(&mut keep, "c1");
    assert_eq!(
        invite.uri.to_string(),
        "sip:+14255550999@203.0.113.10;user=phone"
    );
}
