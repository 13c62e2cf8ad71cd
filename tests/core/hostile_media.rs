//! SDP addresses media must never go to (RFC 3261 §21.4.26 488 with a §20.43 Warning), in a
//! caller's INVITE, in its re-INVITE and UPDATE (the dialog stays), and in an agent's answer
//! (the leg fails: ACK, then BYE; the caller stays); and the ACK that tells the media plane a
//! caller's address is proven.

use holdline::b2bua::{Event, LegOutcome, RingRequest};
use holdline::sip::header::HeaderName;
use holdline::sip::message::{Message, Request};
use holdline::sip::parse::parse_uri;
use holdline::sip::Method;
use holdline_testkit::harness::*;

const AGENT: &str = "198.51.100.20:5070";

/// The caller's SDP with `c=` (session level) replaced.
fn sdp_with(connection: &str) -> String {
    SDP_PCMU.replace("c=IN IP4 198.51.100.7", &format!("c={connection}"))
}

fn warning(h: &Harness, status: u16) -> String {
    h.last_response(status)
        .and_then(|r| r.headers.get(&HeaderName::Warning).map(str::to_owned))
        .unwrap_or_default()
}

#[test]
fn multicast_broadcast_and_unspecified_c_get_488_with_warning_301() {
    for (i, c) in [
        "IN IP4 224.0.0.1",
        "IN IP4 255.255.255.255",
        "IN IP6 ff02::1",
        "IN IP6 ::",
    ]
    .into_iter()
    .enumerate()
    {
        let mut h = Harness::new();
        let id = format!("m{i}");
        h.send(&invite(
            "+14255550100",
            &id,
            &format!("z9hG4bK{id}"),
            Some(&sdp_with(c)),
        ));
        let w = warning(&h, 488);
        assert_eq!(h.statuses(), vec![100, 488], "{c}");
        assert!(
            w.starts_with("301 ") && w.contains("media is sent to one unicast address"),
            "{c}: {w}"
        );
        assert_eq!(h.core.call_count(), 0, "{c}");
        assert_eq!(h.core.ports_in_use(), 0, "{c}");
        assert!(
            !h.events
                .iter()
                .any(|e| matches!(e, Event::CallAnswered { .. })),
            "{c}"
        );
    }
}

#[test]
fn hold_with_c_0_0_0_0_is_still_accepted() {
    let mut h = Harness::new();
    h.send(&invite(
        "+14255550100",
        "hold",
        "z9hG4bKhold",
        Some(&sdp_with("IN IP4 0.0.0.0")),
    ));
    assert_eq!(h.statuses(), vec![100, 200]);
    let media = h
        .events
        .iter()
        .find_map(|e| match e {
            Event::CallAnswered { media, .. } => media.clone(),
            _ => None,
        })
        .expect("answered with media");
    assert!(media.hold && media.remote.is_none());
}

#[test]
fn reinvite_and_update_with_multicast_get_488_and_keep_the_dialog() {
    let mut h = Harness::new();
    let tag = caller_arrives(&mut h, "re");
    h.take();
    let updates_before = h
        .events
        .iter()
        .filter(|e| matches!(e, Event::MediaUpdated { .. }))
        .count();
    let moved = sdp_with("IN IP4 224.0.0.1").replace("o=caller 1 1", "o=caller 1 2");
    h.send(&in_dialog(
        "INVITE",
        "re",
        &tag,
        2,
        "z9hG4bKre2",
        Some(&moved),
    ));
    assert!(warning(&h, 488).starts_with("301 "));
    assert_eq!(h.statuses(), vec![100, 488]);
    h.send(&in_dialog("ACK", "re", &tag, 2, "z9hG4bKre2", None));
    let bcast = sdp_with("IN IP4 255.255.255.255").replace("o=caller 1 1", "o=caller 1 3");
    h.send(&in_dialog(
        "UPDATE",
        "re",
        &tag,
        3,
        "z9hG4bKre3",
        Some(&bcast),
    ));
    assert!(warning(&h, 488).starts_with("301 "));
    assert_eq!(h.statuses(), vec![488]);
    // Nothing reached the media plane, and the call goes on: a good re-INVITE still works.
    let updates = h
        .events
        .iter()
        .filter(|e| matches!(e, Event::MediaUpdated { .. }))
        .count();
    assert_eq!(updates, updates_before);
    assert_eq!(h.core.call_count(), 1);
    let fine = SDP_PCMU.replace("o=caller 1 1", "o=caller 1 4");
    h.send(&in_dialog(
        "INVITE",
        "re",
        &tag,
        4,
        "z9hG4bKre4",
        Some(&fine),
    ));
    assert_eq!(h.statuses(), vec![100, 200]);
    h.send(&in_dialog("BYE", "re", &tag, 5, "z9hG4bKre5", None));
    assert!(h.statuses().contains(&200));
}

#[test]
fn the_ack_confirms_the_caller_for_the_media_plane() {
    let mut h = Harness::new();
    h.send(&invite("+14255550100", "ack", "z9hG4bKack", Some(SDP_PCMU)));
    let confirmed = |h: &Harness| {
        h.events
            .iter()
            .filter(|e| matches!(e, Event::CallConfirmed { .. }))
            .count()
    };
    assert_eq!(confirmed(&h), 0, "not before the ACK");
    let tag = to_tag(&h.last_response(200).unwrap());
    h.send(&in_dialog("ACK", "ack", &tag, 1, "z9hG4bKacka", None));
    assert_eq!(confirmed(&h), 1);
    // A retransmitted ACK confirms nothing again.
    h.send(&in_dialog("ACK", "ack", &tag, 1, "z9hG4bKacka", None));
    assert_eq!(confirmed(&h), 1);
}

/// The last request with `method` sent, removing everything sent.
fn sent_request(h: &mut Harness, method: Method) -> Option<Request> {
    h.take().into_iter().rev().find_map(|m| match m {
        Message::Request(r) if r.method == method => Some(r),
        _ => None,
    })
}

#[test]
fn an_agent_answer_with_a_multicast_c_is_acked_then_hung_up_and_the_caller_stays() {
    let mut h = Harness::new();
    caller_arrives(&mut h, "caller-1");
    let call = h
        .events
        .iter()
        .find_map(|e| match e {
            Event::CallAnswered { call, .. } => Some(*call),
            _ => None,
        })
        .unwrap();
    h.take();
    let leg = h
        .core
        .ring_agent(
            h.now,
            RingRequest {
                call,
                target: parse_uri(&format!("sip:amos@{AGENT}")).unwrap(),
                dest: None,
                display_name: "Alice via UK Sales".into(),
                caller: None,
                dialled: None,
                auth: None,
                route: Vec::new(),
            },
        )
        .expect("leg started");
    h.collect();
    let invite = sent_request(&mut h, Method::Invite).expect("INVITE to the agent");
    // A multicast group as long as the unicast address, so Content-Length still holds.
    let answer =
        reply(&invite, 200, "a1").replace("c=IN IP4 198.51.100.20", "c=IN IP4 239.192.10.20");
    h.send_from(AGENT, &answer);
    let to_agent = requests_to(&mut h, AGENT);
    assert_eq!(methods(&to_agent), vec![Method::Ack, Method::Bye]);
    assert!(
        !h.events
            .iter()
            .any(|e| matches!(e, Event::LegAnswered { .. })),
        "no media toward the group"
    );
    let bye = &to_agent[1];
    h.send_from(AGENT, &reply(bye, 200, "a1"));
    let ended = h.events.iter().find_map(|e| match e {
        Event::LegEnded {
            leg: l, outcome, ..
        } if *l == leg => Some(*outcome),
        _ => None,
    });
    assert!(ended.is_some(), "the leg is over");
    assert_eq!(
        ended,
        Some(LegOutcome::Refused(488)),
        "to the queue: not answered"
    );
    assert_eq!(h.core.call_count(), 1, "the caller stays");
}

#[test]
fn an_agent_reinvite_with_a_multicast_c_gets_488_and_the_bridge_stays() {
    let config = format!("{CONFIG}\n[[user]]\nid = \"amos\"\ncontacts = [\"sip:amos@{AGENT}\"]\n")
        .replace("id = \"sales\"\n", "id = \"sales\"\nagents = [\"amos\"]\n");
    let mut h = Harness::with_config(&config);
    caller_arrives(&mut h, "c1");
    let invite = requests_to(&mut h, AGENT).remove(0);
    assert_eq!(invite.method, Method::Invite);
    h.send_from(AGENT, &reply(&invite, 200, "amos1"));
    assert!(h.events.iter().any(|e| matches!(e, Event::Bridge { .. })));
    h.sent.clear();
    h.events.clear();
    let sdp = "v=0\r\no=a 1 2 IN IP4 198.51.100.20\r\ns=-\r\nc=IN IP4 224.0.0.1\r\nt=0 0\r\n\
               m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
    let reinvite = format!(
        "INVITE sip:holdline@192.0.2.1:5060 SIP/2.0\n\
         Via: SIP/2.0/UDP {AGENT};branch=z9hG4bKagentre\n\
         From: <sip:amos@{AGENT}>;tag=amos1\n\
         To: {}\n\
         Call-ID: {}\n\
         CSeq: 2 INVITE\n\
         Max-Forwards: 70\n\
         Contact: <sip:amos@{AGENT}>\n\
         Content-Type: application/sdp\n\
         Content-Length: {}\n\n{sdp}",
        invite.headers.get(&HeaderName::From).unwrap(),
        invite.headers.get(&HeaderName::CallId).unwrap(),
        sdp.len()
    );
    h.send_from(AGENT, &reinvite);
    let w = warning(&h, 488);
    assert!(w.starts_with("301 "), "{w:?}");
    assert!(
        !h.events.iter().any(|e| matches!(
            e,
            Event::LegMediaUpdated { .. } | Event::LegEnded { .. } | Event::Unbridge { .. }
        )),
        "{:?}",
        h.events
    );
    assert_eq!(h.core.call_count(), 1);
}
