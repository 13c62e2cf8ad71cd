//! The queue engine driven through the whole SIP core on virtual time: callers on a service
//! number, agents with static contacts as scripted phones. Names follow the queue rules.

use std::time::Duration;

use holdline::b2bua::Event;
use holdline::sip::header::HeaderName;
use holdline::sip::message::Message;
use holdline::sip::Method;
use holdline_testkit::harness::*;

const AMOS: &str = "198.51.100.20:5070";
const BEA: &str = "198.51.100.21:5070";

fn config(routing: &str, extra: &str) -> String {
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
[[user]]
id = "bea"
contacts = ["sip:bea@{BEA}"]
[[queue]]
id = "sales"
name = "UK Sales"
numbers = ["+14255550100"]
routing = "{routing}"
agents = ["amos", "bea"]
{extra}
"#
    )
}

#[test]
fn agent_answer_is_acked_and_bridged_with_queue_name_shown() {
    let mut h = Harness::with_config(&config("attendant", ""));
    caller_arrives(&mut h, "c1");
    let to_amos = requests_to(&mut h, AMOS);
    assert_eq!(methods(&to_amos), vec![Method::Invite]);
    let invite_amos = to_amos[0].clone();
    let from = invite_amos
        .headers
        .get(&HeaderName::From)
        .unwrap()
        .to_owned();
    assert!(from.starts_with("\"Alice via UK Sales\""), "{from}");
    h.send_from(AMOS, &reply(&invite_amos, 180, "amos1"));
    h.send_from(AMOS, &reply(&invite_amos, 200, "amos1"));
    assert!(h.events.iter().any(|e| matches!(e, Event::Bridge { .. })));
    let to_amos = requests_to(&mut h, AMOS);
    assert!(methods(&to_amos).contains(&Method::Ack));
}

#[test]
fn attendant_rings_all_and_cancels_losers_on_answer() {
    let mut h = Harness::with_config(&config("attendant", ""));
    h.send(&invite("+14255550100", "c2", "z9hG4bKc2", Some(SDP_PCMU)));
    let sent: Vec<_> = h.sent.drain(..).collect();
    let invite_to = |peer: &str| {
        sent.iter()
            .find_map(|(p, m)| match m {
                Message::Request(r) if r.method == Method::Invite && p.addr.to_string() == peer => {
                    Some(r.clone())
                }
                _ => None,
            })
            .unwrap_or_else(|| panic!("INVITE to {peer}"))
    };
    let (amos, bea) = (invite_to(AMOS), invite_to(BEA));
    h.send_from(BEA, &reply(&bea, 180, "bea1"));
    h.send_from(AMOS, &reply(&amos, 200, "amos1"));
    let to_bea = requests_to(&mut h, BEA);
    assert_eq!(methods(&to_bea), vec![Method::Cancel]);
    h.send_from(BEA, &reply(&to_bea[0], 200, "bea1"));
    h.send_from(BEA, &reply(&bea, 487, "bea1"));
    assert_eq!(h.core.leg_count(), 1, "only the bridged leg is left");
}

#[test]
fn serial_moves_to_next_agent_on_decline() {
    let mut h = Harness::with_config(&config("serial", ""));
    h.send(&invite("+14255550100", "c3", "z9hG4bKc3", Some(SDP_PCMU)));
    let to_amos = requests_to(&mut h, AMOS);
    assert_eq!(methods(&to_amos), vec![Method::Invite], "amos first");
    h.send_from(AMOS, &reply(&to_amos[0], 603, "amos1"));
    let to_bea = requests_to(&mut h, BEA);
    assert_eq!(methods(&to_bea), vec![Method::Invite], "then bea at once");
}

#[test]
fn caller_hangup_cancels_ringing_agents() {
    let mut h = Harness::with_config(&config("attendant", ""));
    let tag = caller_arrives(&mut h, "c4");
    let sent: Vec<_> = h.sent.drain(..).collect();
    let amos = sent
        .iter()
        .find_map(|(p, m)| match m {
            Message::Request(r) if p.addr.to_string() == AMOS => Some(r.clone()),
            _ => None,
        })
        .expect("INVITE to amos");
    h.send_from(AMOS, &reply(&amos, 180, "amos1"));
    h.sent.clear();
    h.send(&in_dialog("BYE", "c4", &tag, 2, "z9hG4bKc4bye", None));
    let to_amos = requests_to(&mut h, AMOS);
    assert_eq!(methods(&to_amos), vec![Method::Cancel]);
}

#[test]
fn agent_hangup_hangs_up_the_caller() {
    let mut h = Harness::with_config(&config("serial", ""));
    caller_arrives(&mut h, "c5");
    let to_amos = requests_to(&mut h, AMOS);
    let invite_amos = to_amos[0].clone();
    h.send_from(AMOS, &reply(&invite_amos, 200, "amos1"));
    h.sent.clear();
    let bye = format!(
        "BYE sip:192.0.2.1:5060 SIP/2.0\nVia: SIP/2.0/UDP {AMOS};branch=z9hG4bKamosbye\nFrom: <sip:amos@{AMOS}>;tag=amos1\nTo: {}\nCall-ID: {}\nCSeq: 9 BYE\nMax-Forwards: 70\nContent-Length: 0\n\n",
        invite_amos.headers.get(&HeaderName::From).unwrap(),
        invite_amos.headers.call_id().unwrap()
    );
    h.send_from(AMOS, &bye);
    let to_caller = requests_to(&mut h, CALLER);
    assert_eq!(methods(&to_caller), vec![Method::Bye]);
}

#[test]
fn full_queue_overflows_with_486() {
    let mut h = Harness::with_config(&config("attendant", "max_calls = 1"));
    caller_arrives(&mut h, "c6");
    h.sent.clear();
    h.send(&invite("+14255550100", "c7", "z9hG4bKc7", Some(SDP_PCMU)));
    assert!(h.statuses().contains(&486));
}

#[test]
fn max_wait_disconnects_with_bye_and_cancels_rings() {
    let mut h = Harness::with_config(&config("attendant", "max_wait = 15\nagent_alert_time = 60"));
    caller_arrives(&mut h, "c8");
    h.sent.clear();
    h.advance(Duration::from_secs(16));
    let to_caller = requests_to(&mut h, CALLER);
    let bye = to_caller
        .iter()
        .find(|r| r.method == Method::Bye)
        .expect("BYE at max_wait");
    assert!(bye
        .headers
        .get(&HeaderName::Reason)
        .unwrap()
        .contains("maximum wait"));
}
