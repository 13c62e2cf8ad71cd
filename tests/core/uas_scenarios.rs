//! Scenario tests of the caller-facing UAS on virtual time: a scripted caller against the
//! sans-IO core, every race reproducible, no sleeping.

use std::time::Duration;

use holdline::b2bua::{EndReason, Event};
use holdline::sip::header::HeaderName;
use holdline::sip::message::Message;
use holdline::sip::sdp::SessionDescription;
use holdline_testkit::harness::*;

/// Answers a call on the sales number and returns (Call-ID, our To tag).
fn answered_call(h: &mut Harness, call_id: &str) -> String {
    h.send(&invite(
        "+14255550100",
        call_id,
        "z9hG4bKinv1",
        Some(SDP_PCMU),
    ));
    let ok = h.last_response(200).expect("200 OK to INVITE");
    let tag = to_tag(&ok);
    assert_eq!(h.statuses(), vec![100, 200]);
    h.send(&in_dialog("ACK", call_id, &tag, 1, "z9hG4bKack1", None));
    tag
}

#[test]
fn invite_gets_100_then_200_with_sdp_answer_in_pcmu() {
    let mut h = Harness::new();
    h.send(&invite("+14255550100", "c1", "z9hG4bK1", Some(SDP_PCMU)));
    let ok = h.last_response(200).expect("200");
    assert_eq!(h.statuses(), vec![100, 200]);
    assert_eq!(
        ok.headers.get(&HeaderName::ContentType),
        Some("application/sdp")
    );
    let sdp = SessionDescription::parse(&ok.body).expect("our SDP parses");
    let text = String::from_utf8_lossy(&ok.body);
    assert!(
        text.contains("m=audio 2000"),
        "answer on a pool port: {text}"
    );
    assert!(
        text.contains("RTP/AVP 0 101"),
        "PCMU and the mirrored telephone-event: {text}"
    );
    assert_eq!(sdp.media.len(), 1);
    assert!(ok.headers.get(&HeaderName::Contact).is_some());
    assert!(ok
        .headers
        .get(&HeaderName::Allow)
        .is_some_and(|a| a.contains("INVITE")));
    assert!(matches!(h.events[0], Event::CallAnswered { .. }));
}

#[test]
fn the_200_is_retransmitted_until_ack() {
    let mut h = Harness::new();
    h.send(&invite("+14255550100", "c2", "z9hG4bK2", Some(SDP_PCMU)));
    let tag = to_tag(&h.last_response(200).unwrap());
    h.take();
    // §13.3.1.4: T1, 2·T1, 4·T1 … — three retransmissions within 3.5 s.
    h.advance(Duration::from_millis(3_600));
    assert_eq!(h.statuses(), vec![200, 200, 200]);
    h.send(&in_dialog("ACK", "c2", &tag, 1, "z9hG4bKack2", None));
    h.advance(Duration::from_secs(10));
    assert!(h.statuses().is_empty(), "no retransmission after the ACK");
}

#[test]
fn no_ack_for_200_ends_the_call_with_bye_after_32_seconds() {
    let mut h = Harness::new();
    h.send(&invite("+14255550100", "c3", "z9hG4bK3", Some(SDP_PCMU)));
    h.take();
    h.advance(Duration::from_millis(31_000));
    assert!(h.take().iter().all(|m| matches!(m, Message::Response(_))));
    h.advance(Duration::from_millis(1_500));
    let bye = h
        .take()
        .into_iter()
        .find_map(|m| match m {
            Message::Request(r) if r.method == holdline::sip::Method::Bye => Some(r),
            _ => None,
        })
        .expect("BYE after 64·T1 without ACK");
    assert!(bye.headers.get(&HeaderName::Reason).is_some());
}

#[test]
fn caller_bye_gets_200_and_frees_the_call_and_port() {
    let mut h = Harness::new();
    let tag = answered_call(&mut h, "c4");
    assert_eq!(h.core.ports_in_use(), 1);
    h.send(&in_dialog("BYE", "c4", &tag, 2, "z9hG4bKbye4", None));
    assert_eq!(h.statuses(), vec![200]);
    assert_eq!(h.core.call_count(), 0);
    assert_eq!(h.core.ports_in_use(), 0);
    assert!(h.events.iter().any(|e| matches!(
        e,
        Event::CallEnded {
            reason: EndReason::CallerHungUp,
            ..
        }
    )));
    // Every transaction finishes once its timers run out: nothing leaks.
    h.advance(Duration::from_secs(40));
    assert_eq!(h.core.transaction_count(), 0);
}

#[test]
fn bye_for_unknown_dialog_gets_481() {
    let mut h = Harness::new();
    h.send(&in_dialog(
        "BYE",
        "nope",
        "deadbeef",
        2,
        "z9hG4bKbye5",
        None,
    ));
    assert_eq!(h.statuses(), vec![481]);
}

#[test]
fn cancel_while_ringing_gets_200_and_invite_gets_487() {
    let mut h = Harness::new();
    h.send(&invite("+14255550111", "c6", "z9hG4bK6", Some(SDP_PCMU)));
    assert_eq!(h.statuses(), vec![100, 180]);
    let cancel = invite("+14255550111", "c6", "z9hG4bK6", None)
        .replacen("INVITE sip", "CANCEL sip", 1)
        .replace("CSeq: 1 INVITE", "CSeq: 1 CANCEL");
    h.send(&cancel);
    assert_eq!(h.statuses(), vec![200, 487]);
    assert_eq!(h.core.call_count(), 0);
    assert_eq!(h.core.ports_in_use(), 0);
    // The answer timer of the cancelled call must not answer anything later.
    h.advance(Duration::from_secs(3));
    assert!(!h.statuses().contains(&200));
}

#[test]
fn ringing_queue_answers_after_its_delay() {
    let mut h = Harness::new();
    h.send(&invite("+14255550111", "c7", "z9hG4bK7", Some(SDP_PCMU)));
    assert_eq!(h.statuses(), vec![100, 180]);
    h.advance(Duration::from_millis(1_900));
    assert!(h.statuses().is_empty());
    h.advance(Duration::from_millis(200));
    assert_eq!(h.statuses(), vec![200]);
}

#[test]
fn cancel_for_unknown_transaction_gets_481() {
    let mut h = Harness::new();
    let cancel = invite("+14255550100", "c8", "z9hG4bKnever", None)
        .replacen("INVITE sip", "CANCEL sip", 1)
        .replace("CSeq: 1 INVITE", "CSeq: 1 CANCEL");
    h.send(&cancel);
    assert_eq!(h.statuses(), vec![481]);
}

#[test]
fn late_offer_gets_our_offer_in_200_and_answer_in_ack() {
    let mut h = Harness::new();
    h.send(&invite("+14255550100", "c9", "z9hG4bK9", None));
    let ok = h.last_response(200).expect("200");
    let offer = String::from_utf8_lossy(&ok.body).into_owned();
    assert!(offer.contains("a=rtpmap:0 PCMU/8000") && offer.contains("a=rtpmap:8 PCMA/8000"));
    let tag = to_tag(&ok);
    let answer = SDP_PCMU
        .replace("RTP/AVP 0 101", "RTP/AVP 8")
        .replace("a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000");
    h.send(&in_dialog(
        "ACK",
        "c9",
        &tag,
        1,
        "z9hG4bKack9",
        Some(&answer),
    ));
    let media = h.events.iter().find_map(|e| match e {
        Event::MediaUpdated { media, .. } => Some(media.clone()),
        _ => None,
    });
    let media = media.expect("the ACK's answer updates the media");
    assert_eq!(media.payload_type, 8);
}

#[test]
fn reinvite_sendonly_is_answered_recvonly_and_resume_sendrecv() {
    let mut h = Harness::new();
    let tag = answered_call(&mut h, "c10");
    let hold = SDP_PCMU
        .replace("a=ptime:20\n", "a=ptime:20\na=sendonly\n")
        .replace("o=caller 1 1", "o=caller 1 2");
    h.send(&in_dialog(
        "INVITE",
        "c10",
        &tag,
        2,
        "z9hG4bKre1",
        Some(&hold),
    ));
    let ok = h.last_response(200).expect("200 to hold");
    assert!(String::from_utf8_lossy(&ok.body).contains("a=recvonly"));
    h.send(&in_dialog("ACK", "c10", &tag, 2, "z9hG4bKack10", None));
    let resume = SDP_PCMU.replace("o=caller 1 1", "o=caller 1 3");
    h.send(&in_dialog(
        "INVITE",
        "c10",
        &tag,
        3,
        "z9hG4bKre2",
        Some(&resume),
    ));
    let ok2 = h.last_response(200).expect("200 to resume");
    let body = String::from_utf8_lossy(&ok2.body).into_owned();
    assert!(
        body.contains("a=sendrecv") || !body.contains("a=recvonly"),
        "{body}"
    );
    let holds: Vec<bool> = h
        .events
        .iter()
        .filter_map(|e| match e {
            Event::MediaUpdated { media, .. } => Some(media.hold),
            _ => None,
        })
        .collect();
    assert_eq!(holds, vec![true, false]);
}

#[test]
fn reinvite_with_old_cseq_gets_500() {
    let mut h = Harness::new();
    let tag = answered_call(&mut h, "c11");
    h.send(&in_dialog(
        "INVITE",
        "c11",
        &tag,
        1,
        "z9hG4bKold",
        Some(SDP_PCMU),
    ));
    assert_eq!(h.statuses(), vec![100, 500]);
}

#[test]
fn codec_mismatch_gets_488_and_frees_the_port() {
    let mut h = Harness::new();
    let g729 = SDP_PCMU
        .replace("RTP/AVP 0 101", "RTP/AVP 18")
        .replace("a=rtpmap:0 PCMU/8000", "a=rtpmap:18 G729/8000");
    h.send(&invite("+14255550100", "c12", "z9hG4bK12", Some(&g729)));
    assert_eq!(h.statuses(), vec![100, 488]);
    assert_eq!(h.core.ports_in_use(), 0);
    assert_eq!(h.core.call_count(), 0);
}

#[test]
fn every_unknown_number_gets_the_same_404() {
    let mut h = Harness::new();
    let mut seen = Vec::new();
    for (i, number) in ["+14255550199", "911", "admin", "+1425555010"]
        .iter()
        .enumerate()
    {
        h.send(&invite(
            number,
            &format!("u{i}"),
            &format!("z9hG4bKu{i}"),
            Some(SDP_PCMU),
        ));
        let resp = h.last_response(404).expect("404");
        seen.push((resp.status, resp.reason.clone(), resp.body.clone()));
        h.take();
    }
    assert!(seen.windows(2).all(|w| w[0] == w[1]), "{seen:?}");
}

#[test]
fn queue_is_reached_by_sip_address_and_tel_forms() {
    let mut h = Harness::new();
    for (i, user) in ["sales", "14255550100", "+1-425-555-0100"]
        .iter()
        .enumerate()
    {
        let msg = invite(
            user,
            &format!("a{i}"),
            &format!("z9hG4bKa{i}"),
            Some(SDP_PCMU),
        )
        .replace(
            "@192.0.2.1 SIP/2.0",
            if *user == "sales" {
                "@example.com SIP/2.0"
            } else {
                "@192.0.2.1;user=phone SIP/2.0"
            },
        );
        h.send(&msg);
        assert_eq!(h.statuses(), vec![100, 200], "{user}");
    }
}

#[test]
fn unknown_require_gets_420_with_unsupported() {
    let mut h = Harness::new();
    let msg = invite("+14255550100", "c13", "z9hG4bK13", Some(SDP_PCMU)).replace(
        "Max-Forwards: 70\n",
        "Max-Forwards: 70\nRequire: 100rel, foo\n",
    );
    h.send(&msg);
    let resp = h.last_response(420).expect("420");
    assert_eq!(
        resp.headers.get(&HeaderName::Unsupported),
        Some("100rel, foo")
    );
}

#[test]
fn options_out_of_dialog_lists_allow_accept_supported() {
    let mut h = Harness::new();
    let msg = invite("+14255550100", "c14", "z9hG4bK14", None)
        .replacen("INVITE sip", "OPTIONS sip", 1)
        .replace("CSeq: 1 INVITE", "CSeq: 1 OPTIONS");
    h.send(&msg);
    let resp = h.last_response(200).expect("200");
    assert!(resp.headers.get(&HeaderName::Allow).is_some());
    assert_eq!(
        resp.headers.get(&HeaderName::Accept),
        Some("application/sdp")
    );
    assert!(resp.headers.contains(&HeaderName::Supported));
}

#[test]
fn retransmitted_invite_is_absorbed() {
    let mut h = Harness::new();
    let msg = invite("+14255550111", "c15", "z9hG4bK15", Some(SDP_PCMU));
    h.send(&msg);
    assert_eq!(h.statuses(), vec![100, 180]);
    h.send(&msg);
    // The transaction resends its last provisional; no second call is created.
    assert_eq!(h.statuses(), vec![180]);
    assert_eq!(h.core.call_count(), 1);
}

#[test]
fn shutdown_byes_answered_calls_and_refuses_new_ones() {
    let mut h = Harness::new();
    let tag = answered_call(&mut h, "c16");
    h.take();
    h.shutdown();
    let bye = h
        .take()
        .into_iter()
        .find_map(|m| match m {
            Message::Request(r) => Some(r),
            _ => None,
        })
        .expect("BYE on shutdown");
    assert_eq!(bye.method, holdline::sip::Method::Bye);
    assert_eq!(
        bye.headers
            .to()
            .and_then(|t| t.tag().map(str::to_owned))
            .as_deref(),
        Some("caller1")
    );
    assert_eq!(
        bye.headers.from().and_then(|t| t.tag().map(str::to_owned)),
        Some(tag)
    );
    h.send(&invite("+14255550100", "c17", "z9hG4bK17", Some(SDP_PCMU)));
    assert!(h.statuses().contains(&503));
    // The caller answers the BYE: the core is idle and may exit.
    let via = bye.headers.get(&HeaderName::Via).unwrap().to_owned();
    let cseq = bye.headers.get(&HeaderName::CSeq).unwrap().to_owned();
    let from = bye.headers.get(&HeaderName::From).unwrap().to_owned();
    let to = bye.headers.get(&HeaderName::To).unwrap().to_owned();
    let ok = format!(
        "SIP/2.0 200 OK\nVia: {via}\nFrom: {from}\nTo: {to}\nCall-ID: c16\nCSeq: {cseq}\nContent-Length: 0\n\n"
    );
    h.send(&ok);
    assert!(h.core.is_idle());
}
