//! RFC 4028 session timers on callers' dialogs, on virtual time: 422 below our Min-SE, the
//! interval and refresher in our 2xx, refreshes either way keeping a long call up, BYE when
//! the caller's refresh does not come, and RFC 3261 §14.1 glare on our refresh.

use std::time::Duration;

use holdline::b2bua::Event;
use holdline::sip::header::HeaderName;
use holdline::sip::message::{Message, Request};
use holdline::sip::method::Method;
use holdline_testkit::harness::*;

/// The caller's INVITE with `headers` added; returns the final response.
fn dial(h: &mut Harness, call_id: &str, headers: &str) -> holdline::sip::message::Response {
    let text = invite(
        "+14255550100",
        call_id,
        &format!("z9hG4bK{call_id}"),
        Some(SDP_PCMU),
    )
    .replace(
        "Max-Forwards: 70\n",
        &format!("Max-Forwards: 70\n{headers}"),
    );
    h.send(&text);
    h.sent
        .iter()
        .rev()
        .find_map(|(_, m)| match m {
            Message::Response(r) if r.status >= 200 => Some(r.clone()),
            _ => None,
        })
        .expect("a final response")
}

fn ack(h: &mut Harness, call_id: &str, tag: &str) {
    h.send(&in_dialog(
        "ACK",
        call_id,
        tag,
        1,
        &format!("z9hG4bK{call_id}a"),
        None,
    ));
}

/// Our requests to the caller (everything sent is taken).
fn our_requests(h: &mut Harness) -> Vec<Request> {
    requests_to(h, CALLER)
}

fn ended(h: &Harness) -> bool {
    h.events
        .iter()
        .any(|e| matches!(e, Event::CallEnded { .. }))
}

#[test]
fn too_small_an_interval_gets_422_with_our_min_se() {
    let mut h = Harness::new();
    let resp = dial(&mut h, "st-422", "Supported: timer\nSession-Expires: 60\n");
    assert_eq!(resp.status, 422);
    assert_eq!(resp.headers.get(&HeaderName::MinSe), Some("90"));
    assert_eq!(h.core.call_count(), 0, "no call is kept for a 422");
    assert_eq!(h.core.ports_in_use(), 0, "no RTP port reserved");

    // The retry with the interval the 422 asked for is answered (§7.4 → §9).
    let resp = dial(
        &mut h,
        "st-422b",
        "Supported: timer\nSession-Expires: 90\nMin-SE: 90\n",
    );
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.headers.get(&HeaderName::SessionExpires),
        Some("90;refresher=uac")
    );
}

#[test]
fn configured_min_se_is_enforced_and_named() {
    let mut h = Harness::with_config(
        &CONFIG.replace("[rtp]", "session_expires = 600\nmin_se = 300\n[rtp]"),
    );
    let resp = dial(&mut h, "st-min", "Session-Expires: 200\n");
    assert_eq!(resp.status, 422);
    assert_eq!(resp.headers.get(&HeaderName::MinSe), Some("300"));
    // A long interval asked for is cut to ours (§9).
    let resp = dial(
        &mut h,
        "st-max",
        "Supported: timer\nSession-Expires: 7200\n",
    );
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.headers.get(&HeaderName::SessionExpires),
        Some("600;refresher=uac")
    );
    assert_eq!(resp.headers.get(&HeaderName::Require), Some("timer"));
}

#[test]
fn a_caller_without_session_timers_gets_none() {
    let mut h = Harness::new();
    let resp = dial(&mut h, "st-none", "");
    assert_eq!(resp.status, 200);
    assert!(!resp.headers.contains(&HeaderName::SessionExpires));
    assert!(!resp.headers.contains(&HeaderName::Require));
    assert!(resp
        .headers
        .list(&HeaderName::Supported)
        .any(|t| t == "timer"));
    let tag = to_tag(&resp);
    ack(&mut h, "st-none", &tag);
    h.take();
    h.advance(Duration::from_secs(600));
    assert!(
        our_requests(&mut h).is_empty(),
        "nothing sent without a timer"
    );
    assert_eq!(h.core.call_count(), 1);
}

/// The caller refreshes (refresher=uac) every half interval for ten minutes: the call stays
/// up and we send nothing; then it stops, and our BYE comes at the interval less 32 s.
#[test]
fn caller_refreshes_keep_the_call_and_a_missed_refresh_ends_it() {
    let mut h = Harness::new();
    let id = "st-uac";
    let resp = dial(
        &mut h,
        id,
        "Supported: timer\nSession-Expires: 120;refresher=uac\nAllow: INVITE, ACK, BYE, UPDATE\n",
    );
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.headers.get(&HeaderName::SessionExpires),
        Some("120;refresher=uac")
    );
    assert_eq!(resp.headers.get(&HeaderName::Require), Some("timer"));
    let tag = to_tag(&resp);
    ack(&mut h, id, &tag);
    h.take();
    // Ten minutes of refreshes at 60 s: UPDATEs and re-INVITEs in turn.
    for i in 0..10u32 {
        h.advance(Duration::from_secs(60));
        let cseq = 2 + i;
        let branch = format!("z9hG4bKref{i}");
        if i % 2 == 0 {
            h.send(&in_dialog("UPDATE", id, &tag, cseq, &branch, None).replace(
                "Max-Forwards: 70\n",
                "Max-Forwards: 70\nSession-Expires: 120;refresher=uac\nSupported: timer\n",
            ));
        } else {
            h.send(
                &in_dialog("INVITE", id, &tag, cseq, &branch, Some(SDP_PCMU)).replace(
                    "Max-Forwards: 70\n",
                    "Max-Forwards: 70\nSession-Expires: 120;refresher=uac\nSupported: timer\n",
                ),
            );
            h.send(&in_dialog(
                "ACK",
                id,
                &tag,
                cseq,
                &format!("{branch}a"),
                None,
            ));
        }
        let ok = h.last_response(200).expect("refresh answered");
        assert_eq!(
            ok.headers.get(&HeaderName::SessionExpires),
            Some("120;refresher=uac")
        );
        assert!(
            our_requests(&mut h).is_empty(),
            "no request of ours at refresh {i}"
        );
        h.take();
    }
    assert_eq!(h.core.call_count(), 1, "the call is up after ten minutes");
    assert!(!ended(&h));
    // No more refreshes: 120 - min(32, 40) = 88 s after the last one, BYE.
    h.advance(Duration::from_secs(87));
    assert!(our_requests(&mut h).is_empty(), "no BYE before 88 s");
    h.advance(Duration::from_secs(1));
    let reqs = our_requests(&mut h);
    assert_eq!(methods(&reqs), vec![Method::Bye]);
    let reason = reqs[0].headers.get(&HeaderName::Reason).unwrap_or("");
    assert!(reason.contains("cause=408"), "{reason}");
    h.send(&reply(&reqs[0], 200, &tag));
    assert_eq!(h.core.call_count(), 0);
    assert_eq!(h.core.ports_in_use(), 0);
    assert!(ended(&h));
}

/// A caller that does not support timers behind a proxy that asked for one: we refresh
/// (refresher=uas) with a re-INVITE carrying our SDP unchanged, every half interval.
#[test]
fn we_refresh_by_reinvite_for_ten_minutes() {
    let mut h = Harness::new();
    let id = "st-uas";
    let resp = dial(&mut h, id, "Session-Expires: 120\n");
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.headers.get(&HeaderName::SessionExpires),
        Some("120;refresher=uas")
    );
    assert!(
        !resp.headers.contains(&HeaderName::Require),
        "§9: no Require without support"
    );
    let our_sdp = resp.body.clone();
    let tag = to_tag(&resp);
    ack(&mut h, id, &tag);
    h.take();
    let mut refreshes = 0;
    let mut last_cseq = 0;
    for _ in 0..10 {
        h.advance(Duration::from_secs(59));
        assert!(
            our_requests(&mut h).is_empty(),
            "not before half the interval"
        );
        h.advance(Duration::from_secs(1));
        let reqs = our_requests(&mut h);
        assert_eq!(methods(&reqs), vec![Method::Invite]);
        let reinvite = &reqs[0];
        assert_eq!(reinvite.body, our_sdp, "the same SDP, same version");
        assert_eq!(
            reinvite.headers.get(&HeaderName::SessionExpires),
            Some("120;refresher=uac"),
            "§7.4: we are the UAC of our refresh, and its refresher"
        );
        let cseq = reinvite.headers.cseq().unwrap().seq;
        assert!(cseq > last_cseq);
        last_cseq = cseq;
        h.send(&reply(reinvite, 200, &tag));
        let acks = our_requests(&mut h);
        assert_eq!(methods(&acks), vec![Method::Ack], "the 2xx is ACKed");
        assert_eq!(acks[0].headers.cseq().unwrap().seq, cseq);
        refreshes += 1;
    }
    assert_eq!(refreshes, 10);
    assert_eq!(h.core.call_count(), 1);
    assert!(!ended(&h));
}

/// With UPDATE allowed we refresh with a bodiless UPDATE; a refresh left unanswered ends
/// the call with BYE (Timer F, RFC 4028 §10).
#[test]
fn we_refresh_by_update_and_an_unanswered_refresh_ends_the_call() {
    let mut h = Harness::new();
    let id = "st-upd";
    let resp = dial(
        &mut h,
        id,
        "Session-Expires: 90;refresher=uas\nSupported: timer\nAllow: INVITE, ACK, BYE, UPDATE\n",
    );
    assert_eq!(
        resp.headers.get(&HeaderName::SessionExpires),
        Some("90;refresher=uas")
    );
    let tag = to_tag(&resp);
    ack(&mut h, id, &tag);
    h.take();
    h.advance(Duration::from_secs(45));
    let reqs = our_requests(&mut h);
    assert_eq!(methods(&reqs), vec![Method::Update]);
    assert!(
        reqs[0].body.is_empty(),
        "an UPDATE refresh carries no offer"
    );
    h.send(&reply(&reqs[0], 200, &tag));
    h.take();
    assert_eq!(h.core.call_count(), 1);
    // The next one goes unanswered: Timer F (32 s) ends the transaction, then BYE.
    h.advance(Duration::from_secs(45));
    let reqs = our_requests(&mut h);
    assert_eq!(methods(&reqs)[0], Method::Update);
    h.advance(Duration::from_secs(33));
    let reqs = our_requests(&mut h);
    assert!(
        methods(&reqs).contains(&Method::Bye),
        "{:?}",
        methods(&reqs)
    );
}

/// RFC 3261 §14.1: the caller's re-INVITE during ours gets 491; our re-INVITE answered 491
/// is retried within 0–2 s (the caller owns the Call-ID).
#[test]
fn reinvite_glare_on_our_refresh() {
    let mut h = Harness::new();
    let id = "st-glare";
    let resp = dial(&mut h, id, "Session-Expires: 100\n");
    let tag = to_tag(&resp);
    ack(&mut h, id, &tag);
    h.take();
    h.advance(Duration::from_secs(50));
    let reqs = our_requests(&mut h);
    assert_eq!(methods(&reqs), vec![Method::Invite]);
    let ours = reqs[0].clone();
    // Theirs crosses ours.
    h.send(&in_dialog(
        "INVITE",
        id,
        &tag,
        2,
        "z9hG4bKglare",
        Some(SDP_PCMU),
    ));
    let statuses = h.statuses();
    assert!(
        statuses.contains(&491) && !statuses.contains(&200),
        "{statuses:?}"
    );
    h.send(&reply(&ours, 491, &tag));
    h.take();
    h.advance(Duration::from_millis(2001));
    let reqs = our_requests(&mut h);
    let mut retries: Vec<_> = reqs.iter().filter(|r| r.method == Method::Invite).collect();
    // Timer A retransmits the retry over UDP; one transaction (one CSeq) is the retry.
    retries.dedup_by_key(|r| r.headers.cseq().map(|c| c.seq));
    assert_eq!(
        retries.len(),
        1,
        "one retry within 2 s: {:?}",
        methods(&reqs)
    );
    assert!(retries[0].headers.cseq().unwrap().seq > ours.headers.cseq().unwrap().seq);
    h.send(&reply(retries[0], 200, &tag));
    assert_eq!(h.core.call_count(), 1);
    // After our refresh settled, the caller's re-INVITE is answered again.
    h.take();
    h.send(&in_dialog(
        "INVITE",
        id,
        &tag,
        3,
        "z9hG4bKglare2",
        Some(SDP_PCMU),
    ));
    assert!(h.statuses().contains(&200));
}

const AGENT: &str = "198.51.100.20:5070";

/// A caller answered and an agent leg rung for it; returns the leg and our INVITE.
fn ring_agent(h: &mut Harness) -> (holdline::b2bua::LegHandle, Request) {
    let resp = dial(h, "st-leg", "");
    let tag = to_tag(&resp);
    ack(h, "st-leg", &tag);
    let call = h
        .events
        .iter()
        .find_map(|e| match e {
            Event::CallAnswered { call, .. } => Some(*call),
            _ => None,
        })
        .expect("caller answered");
    h.take();
    let leg = h
        .core
        .ring_agent(
            h.now,
            holdline::b2bua::RingRequest {
                call,
                target: holdline::sip::parse::parse_uri(&format!("sip:amos@{AGENT}")).unwrap(),
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
    let invite = requests_to(h, AGENT)
        .into_iter()
        .find(|r| r.method == Method::Invite)
        .expect("INVITE to the agent");
    (leg, invite)
}

/// The agent's 2xx to `req` with `headers` added.
fn agent_ok(req: &Request, headers: &str) -> String {
    reply(req, 200, "agent1").replace("Content-Type:", &format!("{headers}Content-Type:"))
}

fn leg_ended(h: &Harness) -> bool {
    h.events.iter().any(|e| matches!(e, Event::LegEnded { .. }))
}

#[test]
fn our_invite_to_an_agent_asks_for_a_session_timer() {
    let mut h = Harness::new();
    let (_, invite) = ring_agent(&mut h);
    assert!(invite
        .headers
        .list(&HeaderName::Supported)
        .any(|t| t == "timer"));
    assert_eq!(
        invite.headers.get(&HeaderName::SessionExpires),
        Some("1800")
    );
    assert_eq!(invite.headers.get(&HeaderName::MinSe), Some("90"));
}

/// The agent's 2xx makes us the refresher: a re-INVITE at half the interval; a 491 to it is
/// retried after 2.1–4 s (we generated the leg's Call-ID, RFC 3261 §14.1).
#[test]
fn we_refresh_an_agent_leg_and_retry_after_glare() {
    let mut h = Harness::new();
    let (_, invite) = ring_agent(&mut h);
    h.send_from(
        AGENT,
        &agent_ok(
            &invite,
            "Session-Expires: 90;refresher=uac\nRequire: timer\n",
        ),
    );
    h.take();
    h.advance(Duration::from_secs(44));
    assert!(requests_to(&mut h, AGENT).is_empty());
    h.advance(Duration::from_secs(1));
    let reqs = requests_to(&mut h, AGENT);
    assert_eq!(methods(&reqs), vec![Method::Invite]);
    let ours = reqs[0].clone();
    assert_eq!(
        ours.headers.get(&HeaderName::SessionExpires),
        Some("90;refresher=uac")
    );
    h.send_from(AGENT, &reply(&ours, 491, "agent1"));
    h.take();
    h.advance(Duration::from_millis(2090));
    let early: Vec<_> = requests_to(&mut h, AGENT)
        .into_iter()
        .filter(|r| r.method == Method::Invite)
        .collect();
    assert!(early.is_empty(), "no retry before 2.1 s");
    h.advance(Duration::from_millis(1910));
    let retry = requests_to(&mut h, AGENT)
        .into_iter()
        .find(|r| r.method == Method::Invite)
        .expect("a retry by 4 s");
    assert!(retry.headers.cseq().unwrap().seq > ours.headers.cseq().unwrap().seq);
    h.send_from(AGENT, &reply(&retry, 200, "agent1"));
    let acks = requests_to(&mut h, AGENT);
    assert_eq!(methods(&acks), vec![Method::Ack]);
    assert!(!leg_ended(&h));
}

/// The agent is the refresher and never refreshes: BYE at 90 − 30 = 60 s (§10).
#[test]
fn a_missed_refresh_by_the_agent_ends_its_leg() {
    let mut h = Harness::new();
    let (_, invite) = ring_agent(&mut h);
    h.send_from(
        AGENT,
        &agent_ok(
            &invite,
            "Session-Expires: 90;refresher=uas\nRequire: timer\n",
        ),
    );
    h.take();
    h.advance(Duration::from_secs(59));
    assert!(requests_to(&mut h, AGENT).is_empty());
    h.advance(Duration::from_secs(1));
    let reqs = requests_to(&mut h, AGENT);
    assert_eq!(methods(&reqs), vec![Method::Bye]);
    h.send_from(AGENT, &reply(&reqs[0], 200, "agent1"));
    assert!(leg_ended(&h));
}

/// A bridged caller whose refresh does not come: BYE to the caller, and the agent's leg is
/// released as after the caller's own hang-up.
#[test]
fn a_missed_refresh_on_a_bridged_call_releases_the_agent_too() {
    let mut h = Harness::with_config(&format!(
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
contacts = ["sip:amos@{AGENT}"]
[[queue]]
id = "sales"
name = "UK Sales"
numbers = ["+14255550100"]
agents = ["amos"]
"#
    ));
    let id = "st-bridge";
    let resp = dial(&mut h, id, "Supported: timer\nSession-Expires: 90\n");
    assert_eq!(
        resp.headers.get(&HeaderName::SessionExpires),
        Some("90;refresher=uac")
    );
    let tag = to_tag(&resp);
    ack(&mut h, id, &tag);
    let invite = requests_to(&mut h, AGENT)
        .into_iter()
        .find(|r| r.method == Method::Invite)
        .expect("amos rings");
    h.send_from(AGENT, &reply(&invite, 200, "amos1"));
    assert!(h.events.iter().any(|e| matches!(e, Event::Bridge { .. })));
    h.take();
    h.advance(Duration::from_secs(59));
    assert!(our_requests(&mut h).is_empty());
    h.advance(Duration::from_secs(1));
    let mut bye_to_agent = None;
    let mut bye_to_caller = None;
    for (peer, m) in h.sent.drain(..) {
        if let Message::Request(r) = m {
            if r.method == Method::Bye && peer.addr.to_string() == CALLER {
                bye_to_caller = Some(r);
            } else if r.method == Method::Bye && peer.addr.to_string() == AGENT {
                bye_to_agent = Some(r);
            }
        }
    }
    let bye = bye_to_caller.expect("BYE to the caller at 60 s");
    h.send(&reply(&bye, 200, &tag));
    let bye_to_agent = bye_to_agent.or_else(|| {
        requests_to(&mut h, AGENT)
            .into_iter()
            .find(|r| r.method == Method::Bye)
    });
    assert!(bye_to_agent.is_some(), "the agent's leg is released");
    assert_eq!(h.core.call_count(), 0);
}

/// A reload changes the interval for new calls only (the live call keeps its timer).
#[test]
fn a_reload_applies_new_intervals_to_new_calls() {
    let mut h = Harness::new();
    let resp = dial(&mut h, "st-rl1", "Supported: timer\n");
    assert_eq!(
        resp.headers.get(&HeaderName::SessionExpires),
        Some("1800;refresher=uac")
    );
    let config = holdline::config::from_toml_str(
        &CONFIG.replace("[rtp]", "session_expires = 300\nmin_se = 120\n[rtp]"),
        std::path::Path::new("."),
    )
    .unwrap();
    h.core.reconfigure(h.now, &config);
    let resp = dial(&mut h, "st-rl2", "Supported: timer\n");
    assert_eq!(
        resp.headers.get(&HeaderName::SessionExpires),
        Some("300;refresher=uac")
    );
    let resp = dial(&mut h, "st-rl3", "Session-Expires: 100\n");
    assert_eq!(resp.status, 422);
    assert_eq!(resp.headers.get(&HeaderName::MinSe), Some("120"));
}

/// §7.4: a 422 to our refresh is retried at once only when its Min-SE raises the interval;
/// a peer answering 422 with no larger Min-SE gets the next refresh at the usual time, not one
/// per round trip.
#[test]
fn a_422_to_our_refresh_without_a_larger_min_se_is_not_retried_at_once() {
    let mut h = Harness::new();
    let id = "st-422-loop";
    let resp = dial(&mut h, id, "Session-Expires: 120\n");
    let tag = to_tag(&resp);
    ack(&mut h, id, &tag);
    h.take();
    h.advance(Duration::from_secs(60));
    let reqs = our_requests(&mut h);
    assert_eq!(methods(&reqs), vec![Method::Invite]);
    // 422 naming an interval no larger than ours.
    let text = reply(&reqs[0], 422, &tag).replacen('\n', "\nMin-SE: 90\n", 1);
    h.send(&text);
    let acks = our_requests(&mut h);
    assert!(
        acks.iter().all(|r| r.method == Method::Ack),
        "no refresh sent again at once: {:?}",
        methods(&acks)
    );
    h.advance(Duration::from_secs(59));
    assert!(
        our_requests(&mut h).iter().all(|r| r.method == Method::Ack),
        "the next refresh waits for half the interval"
    );
    h.advance(Duration::from_secs(1));
    assert_eq!(methods(&our_requests(&mut h)), vec![Method::Invite]);

    // A 422 with a larger Min-SE is retried at once with it.
    let mut h = Harness::new();
    let id = "st-422-up";
    let resp = dial(&mut h, id, "Session-Expires: 120\n");
    let tag = to_tag(&resp);
    ack(&mut h, id, &tag);
    h.take();
    h.advance(Duration::from_secs(60));
    let reqs = our_requests(&mut h);
    let text = reply(&reqs[0], 422, &tag).replacen('\n', "\nMin-SE: 300\n", 1);
    h.send(&text);
    h.advance(Duration::from_millis(1));
    let again: Vec<Request> = our_requests(&mut h)
        .into_iter()
        .filter(|r| r.method == Method::Invite)
        .collect();
    assert_eq!(again.len(), 1, "retried at once");
    assert_eq!(
        again[0].headers.get(&HeaderName::SessionExpires),
        Some("300;refresher=uac")
    );
}
