//! Our REFER to a caller's side (a queue's forward of an answered caller to an external
//! number, RFC 3515) outlives a provisioning change made while it is pending: the caller's
//! NOTIFYs are still taken (RFC 6665 §4.1.3 keeps 481 for subscriptions that do not exist),
//! a refusal still falls back to dialling through the trunk, and so does silence. Virtual
//! time, the whole core, any change through `reconfigure`.

use std::path::Path;
use std::time::Duration;

use holdline::b2bua::Event;
use holdline::sip::message::{Message, Request};
use holdline::sip::Method;
use holdline_testkit::harness::*;

const AMOS: &str = "198.51.100.20:5070";
const TRUNK: &str = "203.0.113.9:5060";

/// A queue `sales` that forwards a caller to +14255550999 after 15 s, through `carrier`; its
/// name is `name`, so a new name is a provisioning change that touches nothing else.
fn toml(name: &str) -> String {
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
name = "{name}"
numbers = ["+14255550100"]
agents = ["amos"]
max_wait = 15
on_timeout = {{ action = "forward", to = "tel:+14255550999" }}
"#
    )
}

/// A caller whose side takes REFER waits out `max_wait`; then the queue is renamed (an API
/// change) while our REFER is pending. Returns our tag and the REFER.
fn referred_then_reconfigured(h: &mut Harness, call_id: &str) -> (String, Request) {
    let tag = caller_arrives_with(
        h,
        call_id,
        "Allow: INVITE, ACK, CANCEL, BYE, REFER, NOTIFY\n",
    );
    h.sent.clear();
    h.advance(Duration::from_millis(15_100));
    let refer = requests_to_keep(h, CALLER)
        .into_iter()
        .find(|r| r.method == Method::Refer)
        .expect("REFER to the caller's side");
    let config = holdline::config::from_toml_str(&toml("UK Sales, renamed"), Path::new("."))
        .unwrap_or_else(|e| panic!("{e}"));
    let now = h.now;
    h.core.reconfigure(now, &config);
    h.collect();
    h.sent.clear();
    (tag, refer)
}

/// Like `requests_to`, keeping everything else sent.
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

/// The caller's NOTIFY for our REFER with the sipfrag `frag`.
fn caller_notify(call_id: &str, tag: &str, cseq: u32, frag: &str, state: &str) -> String {
    let body = format!("{frag}\r\n");
    in_dialog(
        "NOTIFY",
        call_id,
        tag,
        cseq,
        &format!("z9hG4bKn{cseq}"),
        None,
    )
    .replace(
        "Content-Length: 0\n\n",
        &format!(
            "Event: refer\nSubscription-State: {state}\nContent-Type: message/sipfrag\n\
             Content-Length: {}\n\n{body}",
            body.len()
        ),
    )
}

#[test]
fn notifies_after_a_change_are_taken_and_a_2xx_sipfrag_ends_our_part() {
    let mut h = Harness::with_config(&toml("UK Sales"));
    let (tag, refer) = referred_then_reconfigured(&mut h, "rr1");
    h.send(&reply(&refer, 202, "caller1"));
    h.send(&caller_notify(
        "rr1",
        &tag,
        2,
        "SIP/2.0 100 Trying",
        "active",
    ));
    assert_eq!(h.statuses(), vec![200], "the subscription is still ours");
    h.send(&caller_notify(
        "rr1",
        &tag,
        3,
        "SIP/2.0 200 OK",
        "terminated;reason=noresource",
    ));
    assert_eq!(h.last_response(200).map(|r| r.status), Some(200));
    let to_caller = requests_to_keep(&mut h, CALLER);
    assert_eq!(methods(&to_caller), vec![Method::Bye], "we leave the call");
    assert!(
        requests_to_keep(&mut h, TRUNK).is_empty(),
        "nothing dialled"
    );
}

#[test]
fn a_refusal_after_a_change_falls_back_to_the_trunk() {
    let mut h = Harness::with_config(&toml("UK Sales"));
    let (_, refer) = referred_then_reconfigured(&mut h, "rr2");
    h.send(&reply(&refer, 603, "caller1"));
    let to_trunk = requests_to_keep(&mut h, TRUNK);
    assert_eq!(
        methods(&to_trunk),
        vec![Method::Invite],
        "we place it ourselves"
    );
    h.events.clear();
    h.send_from(TRUNK, &reply(&to_trunk[0], 200, "far1"));
    assert!(h.events.iter().any(|e| matches!(e, Event::Bridge { .. })));
}

#[test]
fn silence_after_a_change_falls_back_to_the_trunk_after_64_t1() {
    // No answer at all to our REFER: its transaction times out (Timer F, 64·T1).
    let mut h = Harness::with_config(&toml("UK Sales"));
    referred_then_reconfigured(&mut h, "rr3");
    h.advance(Duration::from_secs(31));
    assert!(requests_to_keep(&mut h, TRUNK).is_empty(), "still waiting");
    h.advance(Duration::from_secs(2));
    let to_trunk = requests_to_keep(&mut h, TRUNK);
    assert_eq!(
        methods(&to_trunk).first(),
        Some(&Method::Invite),
        "the forward is placed through the trunk"
    );
    assert_eq!(h.core.call_count(), 1, "the caller is still with us");

    // 202, then no final NOTIFY within 64·T1 of the REFER.
    let mut h = Harness::with_config(&toml("UK Sales"));
    let (_, refer) = referred_then_reconfigured(&mut h, "rr4");
    h.send(&reply(&refer, 202, "caller1"));
    h.sent.clear();
    h.advance(Duration::from_secs(31));
    assert!(requests_to_keep(&mut h, TRUNK).is_empty(), "still waiting");
    h.advance(Duration::from_secs(2));
    let to_trunk = methods(&requests_to_keep(&mut h, TRUNK));
    assert!(
        !to_trunk.is_empty() && to_trunk.iter().all(|m| *m == Method::Invite),
        "the INVITE (and its retransmissions): {to_trunk:?}"
    );
}
