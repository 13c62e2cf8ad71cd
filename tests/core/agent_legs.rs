//! Scenario tests of agent legs (holdline as UAC) on virtual time: ringing, answer and ACK,
//! CANCEL timing (§9.1), a 200 that crosses the CANCEL, forked answers, refusals, timeouts.

use std::time::Duration;

use holdline::b2bua::{CallHandle, Event, LegHandle, LegOutcome, RingRequest};
use holdline::sip::header::HeaderName;
use holdline::sip::message::{Message, Request};
use holdline::sip::parse::parse_uri;
use holdline::sip::Method;
use holdline_testkit::harness::*;

const AGENT: &str = "198.51.100.20:5070";

fn answered_caller(h: &mut Harness) -> CallHandle {
    h.send(&invite(
        "+14255550100",
        "caller-1",
        "z9hG4bKc1",
        Some(SDP_PCMU),
    ));
    let tag = to_tag(&h.last_response(200).unwrap());
    h.send(&in_dialog("ACK", "caller-1", &tag, 1, "z9hG4bKc1ack", None));
    h.take();
    h.events
        .iter()
        .find_map(|e| match e {
            Event::CallAnswered { call, .. } => Some(*call),
            _ => None,
        })
        .expect("caller answered")
}

fn ring(h: &mut Harness, call: CallHandle) -> (LegHandle, Request) {
    let leg = h
        .core
        .ring_agent(
            h.now,
            RingRequest {
                call,
                target: parse_uri(&format!("sip:amos@{AGENT}")).unwrap(),
                dest: None,
                display_name: "Alice via UK Sales".into(),
                caller: Some(parse_uri("sip:alice@198.51.100.7").unwrap()),
                dialled: Some(parse_uri("sip:+14255550100@192.0.2.1;user=phone").unwrap()),
                auth: None,
                route: Vec::new(),
            },
        )
        .expect("leg started");
    h.collect();
    let invite = sent_request(h, Method::Invite).expect("INVITE to the agent");
    (leg, invite)
}

/// The last request with `method` sent, removing everything sent.
fn sent_request(h: &mut Harness, method: Method) -> Option<Request> {
    h.take().into_iter().rev().find_map(|m| match m {
        Message::Request(r) if r.method == method => Some(r),
        _ => None,
    })
}

/// A response from the agent to `req` with `status`, a To tag and (for 2xx) an SDP answer.
fn agent_response(req: &Request, status: u16, tag: &str, sdp: bool) -> String {
    let mut out = format!("SIP/2.0 {status} Whatever\n");
    for name in [
        HeaderName::Via,
        HeaderName::From,
        HeaderName::CallId,
        HeaderName::CSeq,
    ] {
        for v in req.headers.get_all(&name) {
            out.push_str(&format!("{name}: {v}\n"));
        }
    }
    let to = req.headers.get(&HeaderName::To).unwrap();
    if status == 100 {
        out.push_str(&format!("To: {to}\n"));
    } else {
        out.push_str(&format!("To: {to};tag={tag}\n"));
    }
    out.push_str(&format!("Contact: <sip:amos@{AGENT}>\n"));
    let body = if sdp {
        "v=0\r\no=amos 1 1 IN IP4 198.51.100.20\r\ns=-\r\nc=IN IP4 198.51.100.20\r\nt=0 0\r\nm=audio 40000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
    } else {
        ""
    };
    if sdp {
        out.push_str("Content-Type: application/sdp\n");
    }
    out.push_str(&format!("Content-Length: {}\n\n{body}", body.len()));
    out
}

fn leg_ended(h: &Harness, leg: LegHandle) -> Option<LegOutcome> {
    h.events.iter().find_map(|e| match e {
        Event::LegEnded {
            leg: l, outcome, ..
        } if *l == leg => Some(*outcome),
        _ => None,
    })
}

#[test]
fn agent_invite_carries_offer_queue_name_and_caller_identity() {
    let mut h = Harness::new();
    let call = answered_caller(&mut h);
    let (_, invite) = ring(&mut h, call);
    let from = invite.headers.get(&HeaderName::From).unwrap();
    assert!(
        from.starts_with("\"Alice via UK Sales\" <sip:alice@198.51.100.7>;tag="),
        "{from}"
    );
    assert_eq!(
        invite.headers.get(&HeaderName::PAssertedIdentity),
        Some("<sip:alice@198.51.100.7>")
    );
    assert!(invite
        .headers
        .get(&HeaderName::HistoryInfo)
        .unwrap()
        .contains("+14255550100"));
    let sdp = String::from_utf8_lossy(&invite.body);
    assert!(sdp.contains("a=rtpmap:0 PCMU/8000") && sdp.contains("a=rtpmap:8 PCMA/8000"));
    assert!(sdp.contains("telephone-event/8000"));
}

#[test]
fn agent_answer_is_acked_and_reported_with_media() {
    let mut h = Harness::new();
    let call = answered_caller(&mut h);
    let (leg, invite) = ring(&mut h, call);
    // 100 Trying first (many phones and every proxy send it), then 180: ringing, once.
    h.send_from(AGENT, &agent_response(&invite, 100, "", false));
    assert!(!h.events.contains(&Event::LegRinging { leg }));
    h.send_from(AGENT, &agent_response(&invite, 180, "a1", false));
    h.send_from(AGENT, &agent_response(&invite, 183, "a1", false));
    let rang = h
        .events
        .iter()
        .filter(|e| **e == Event::LegRinging { leg })
        .count();
    assert_eq!(rang, 1);
    h.send_from(AGENT, &agent_response(&invite, 200, "a1", true));
    let ack = sent_request(&mut h, Method::Ack).expect("ACK for the 2xx");
    assert!(ack.headers.get(&HeaderName::To).unwrap().contains("tag=a1"));
    assert_eq!(ack.headers.cseq().unwrap().seq, 1);
    assert_eq!(ack.uri.to_string(), format!("sip:amos@{AGENT}"));
    let media = h.events.iter().find_map(|e| match e {
        Event::LegAnswered { leg: l, media, .. } if *l == leg => Some(media.clone()),
        _ => None,
    });
    assert_eq!(media.expect("LegAnswered").payload_type, 8);
    // A retransmitted 200 is ACKed again and changes nothing else.
    h.send_from(AGENT, &agent_response(&invite, 200, "a1", true));
    assert!(sent_request(&mut h, Method::Ack).is_some());
    assert!(sent_request(&mut h, Method::Bye).is_none());
}

#[test]
fn agent_bye_ends_the_leg_and_frees_its_port() {
    let mut h = Harness::new();
    let call = answered_caller(&mut h);
    let ports_before = h.core.ports_in_use();
    let (leg, invite) = ring(&mut h, call);
    assert_eq!(h.core.ports_in_use(), ports_before + 1);
    h.send_from(AGENT, &agent_response(&invite, 200, "a1", true));
    let from = invite.headers.get(&HeaderName::From).unwrap();
    let call_id = invite.headers.call_id().unwrap();
    let bye = format!(
        "BYE sip:192.0.2.1:5060 SIP/2.0\nVia: SIP/2.0/UDP {AGENT};branch=z9hG4bKab1\nFrom: <sip:amos@{AGENT}>;tag=a1\nTo: {from}\nCall-ID: {call_id}\nCSeq: 5 BYE\nMax-Forwards: 70\nContent-Length: 0\n\n"
    );
    h.send_from(AGENT, &bye);
    assert_eq!(h.statuses(), vec![200]);
    assert_eq!(leg_ended(&h, leg), Some(LegOutcome::HungUp));
    assert_eq!(h.core.ports_in_use(), ports_before);
    assert_eq!(h.core.leg_count(), 0);
}

#[test]
fn cancel_waits_for_a_provisional_response() {
    let mut h = Harness::new();
    let call = answered_caller(&mut h);
    let (leg, invite) = ring(&mut h, call);
    h.core.cancel_leg(h.now, leg);
    h.collect();
    assert!(
        sent_request(&mut h, Method::Cancel).is_none(),
        "§9.1: no CANCEL before a 1xx"
    );
    h.send_from(AGENT, &agent_response(&invite, 100, "", false));
    let cancel = sent_request(&mut h, Method::Cancel).expect("CANCEL after the 100");
    assert_eq!(
        cancel.headers.get(&HeaderName::Via),
        invite.headers.get(&HeaderName::Via)
    );
    h.send_from(AGENT, &agent_response(&invite, 487, "a1", false));
    assert_eq!(leg_ended(&h, leg), Some(LegOutcome::Cancelled));
}

#[test]
fn crossing_200_after_cancel_gets_ack_and_bye() {
    let mut h = Harness::new();
    let call = answered_caller(&mut h);
    let (leg, invite) = ring(&mut h, call);
    h.send_from(AGENT, &agent_response(&invite, 180, "a1", false));
    h.core.cancel_leg(h.now, leg);
    h.collect();
    assert!(sent_request(&mut h, Method::Cancel).is_some());
    h.send_from(AGENT, &agent_response(&invite, 200, "a1", true));
    let sent = h.take();
    let methods: Vec<Method> = sent
        .iter()
        .filter_map(|m| match m {
            Message::Request(r) => Some(r.method.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(methods, vec![Method::Ack, Method::Bye]);
    assert!(!h
        .events
        .iter()
        .any(|e| matches!(e, Event::LegAnswered { .. })));
}

#[test]
fn second_forked_200_is_acked_and_released_with_bye() {
    let mut h = Harness::new();
    let call = answered_caller(&mut h);
    let (leg, invite) = ring(&mut h, call);
    h.send_from(AGENT, &agent_response(&invite, 200, "fork-a", true));
    h.take();
    h.send_from(AGENT, &agent_response(&invite, 200, "fork-b", true));
    let sent = h.take();
    let requests: Vec<&Request> = sent
        .iter()
        .filter_map(|m| match m {
            Message::Request(r) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(requests.len(), 2, "ACK and BYE for the second fork");
    assert!(requests.iter().all(|r| r
        .headers
        .get(&HeaderName::To)
        .unwrap()
        .contains("tag=fork-b")));
    assert_eq!(requests[1].method, Method::Bye);
    assert_eq!(
        h.events
            .iter()
            .filter(|e| matches!(e, Event::LegAnswered { .. }))
            .count(),
        1
    );
    assert!(leg_ended(&h, leg).is_none());
}

#[test]
fn busy_agent_is_reported_refused_486() {
    let mut h = Harness::new();
    let call = answered_caller(&mut h);
    let (leg, invite) = ring(&mut h, call);
    h.send_from(AGENT, &agent_response(&invite, 486, "a1", false));
    assert_eq!(leg_ended(&h, leg), Some(LegOutcome::Refused(486)));
    // The transaction ACKs the 486 itself (§17.1.1.3).
    assert!(sent_request(&mut h, Method::Ack).is_some());
}

#[test]
fn silent_agent_times_out_after_timer_b() {
    let mut h = Harness::new();
    let call = answered_caller(&mut h);
    let ports = h.core.ports_in_use();
    let (leg, _) = ring(&mut h, call);
    h.advance(Duration::from_secs(31));
    assert!(leg_ended(&h, leg).is_none());
    h.advance(Duration::from_secs(2));
    assert_eq!(leg_ended(&h, leg), Some(LegOutcome::NoResponse));
    assert_eq!(h.core.ports_in_use(), ports);
}
