//! An agent's devices on virtual time: every static contact rung at once, the losers of the
//! fork cancelled with `Reason: SIP;cause=200;text="Call completed elsewhere"` (RFC 3326 §2)
//! and other cancels without it; OPTIONS probes of static contacts (RFC 3261 §11) at the
//! configured interval, staggered, deciding which contacts are rung and whether an agent is
//! online.

use std::time::Duration;

use holdline::sip::header::HeaderName;
use holdline::sip::message::{Message, Request};
use holdline::sip::transport::Peer;
use holdline::sip::Method;
use holdline_testkit::harness::*;

const DESK: &str = "198.51.100.20:5070";
const SOFT: &str = "198.51.100.21:5070";
const BEA: &str = "198.51.100.30:5070";

const ELSEWHERE: &str = "SIP;cause=200;text=\"Call completed elsewhere\"";

/// amos has a desk phone and a softphone, bea one phone; queue `sales` rings all at once.
/// `probe`: the `[probe]` lines.
fn config(probe: &str) -> String {
    format!(
        r#"
[sip]
listen = ["udp:192.0.2.1:5060"]
[rtp]
ports = "20000-29999"
[probe]
{probe}
[[number]]
e164 = "+14255550100"
kind = "service-toll"
[[user]]
id = "amos"
contacts = ["sip:amos@{DESK}", "sip:amos@{SOFT}"]
[[user]]
id = "bea"
contacts = ["sip:bea@{BEA}"]
[[queue]]
id = "sales"
name = "UK Sales"
numbers = ["+14255550100"]
routing = "attendant"
agents = ["amos", "bea"]
"#
    )
}

/// Everything sent so far, by destination (removing it).
fn sent_by_peer(h: &mut Harness) -> Vec<(String, Message)> {
    h.sent
        .drain(..)
        .map(|(p, m)| (p.addr.to_string(), m))
        .collect()
}

fn requests(sent: &[(String, Message)], peer: &str, method: Method) -> Vec<Request> {
    sent.iter()
        .filter(|(p, _)| p == peer)
        .filter_map(|(_, m)| match m {
            Message::Request(r) if r.method == method => Some(r.clone()),
            _ => None,
        })
        .collect()
}

fn reason(req: &Request) -> Option<&str> {
    req.headers.get(&HeaderName::Reason)
}

fn online(h: &Harness, agent: &str) -> bool {
    h.core
        .engine()
        .agent_status(&agent.into())
        .expect("a configured agent")
        .online
}

#[test]
fn the_device_that_loses_the_fork_is_cancelled_as_completed_elsewhere() {
    let mut h = Harness::with_config(&config("interval = 0"));
    caller_arrives(&mut h, "c1");
    let sent = sent_by_peer(&mut h);
    let desk = requests(&sent, DESK, Method::Invite);
    let soft = requests(&sent, SOFT, Method::Invite);
    let bea = requests(&sent, BEA, Method::Invite);
    assert_eq!((desk.len(), soft.len(), bea.len()), (1, 1, 1), "all ring");
    for (peer, inv) in [(DESK, &desk[0]), (SOFT, &soft[0]), (BEA, &bea[0])] {
        h.send_from(peer, &reply(inv, 180, "ring"));
    }
    h.sent.clear();

    h.send_from(SOFT, &reply(&soft[0], 200, "soft1"));
    let sent = sent_by_peer(&mut h);
    assert_eq!(requests(&sent, SOFT, Method::Ack).len(), 1);
    let desk_cancel = requests(&sent, DESK, Method::Cancel);
    assert_eq!(desk_cancel.len(), 1, "amos's other device stops ringing");
    assert_eq!(reason(&desk_cancel[0]), Some(ELSEWHERE));
    // Another agent of an attendant queue took it too: the call was completed elsewhere.
    let bea_cancel = requests(&sent, BEA, Method::Cancel);
    assert_eq!(bea_cancel.len(), 1);
    assert_eq!(reason(&bea_cancel[0]), Some(ELSEWHERE));
    assert!(requests(&sent, SOFT, Method::Cancel).is_empty());
    // The exact bytes on the wire.
    let text = String::from_utf8(desk_cancel[0].to_bytes()).unwrap();
    assert!(
        text.contains("\r\nReason: SIP;cause=200;text=\"Call completed elsewhere\"\r\n"),
        "{text}"
    );
}

#[test]
fn a_cancel_that_waited_for_a_provisional_still_says_completed_elsewhere() {
    let mut h = Harness::with_config(&config("interval = 0"));
    caller_arrives(&mut h, "c1");
    let sent = sent_by_peer(&mut h);
    let desk = requests(&sent, DESK, Method::Invite);
    let soft = requests(&sent, SOFT, Method::Invite);
    // The softphone answers before the desk phone sent anything: §9.1, the CANCEL waits.
    h.send_from(SOFT, &reply(&soft[0], 200, "soft1"));
    let sent = sent_by_peer(&mut h);
    assert!(requests(&sent, DESK, Method::Cancel).is_empty());
    h.send_from(DESK, &reply(&desk[0], 180, "desk1"));
    let sent = sent_by_peer(&mut h);
    let cancel = requests(&sent, DESK, Method::Cancel);
    assert_eq!(cancel.len(), 1);
    assert_eq!(reason(&cancel[0]), Some(ELSEWHERE));
}

#[test]
fn a_caller_hanging_up_cancels_every_device_without_the_reason() {
    let mut h = Harness::with_config(&config("interval = 0"));
    let tag = caller_arrives(&mut h, "c1");
    let sent = sent_by_peer(&mut h);
    for peer in [DESK, SOFT, BEA] {
        let inv = requests(&sent, peer, Method::Invite);
        h.send_from(peer, &reply(&inv[0], 180, "ring"));
    }
    h.sent.clear();
    h.send(&in_dialog("BYE", "c1", &tag, 2, "z9hG4bKc1bye", None));
    let sent = sent_by_peer(&mut h);
    for peer in [DESK, SOFT, BEA] {
        let cancel = requests(&sent, peer, Method::Cancel);
        assert_eq!(cancel.len(), 1, "{peer} stops ringing");
        assert_eq!(
            reason(&cancel[0]),
            None,
            "{peer}: a missed call, not one taken"
        );
    }
}

/// Runs the core for `d`, answering every OPTIONS sent to a peer in `answering` with 200 and
/// leaving the others unanswered. Returns each OPTIONS as (ms since start, peer).
fn run_probes(h: &mut Harness, d: Duration, answering: &[&str]) -> Vec<(u64, String)> {
    let end = h.now + d;
    let mut seen = Vec::new();
    loop {
        let sent = sent_by_peer(h);
        for (peer, m) in sent {
            let Message::Request(r) = m else { continue };
            if r.method != Method::Options {
                continue;
            }
            seen.push((h.now.since_epoch().as_millis() as u64, peer.clone()));
            if answering.contains(&peer.as_str()) {
                h.send_from(&peer, &reply(&r, 200, "probe"));
            }
        }
        match h.core.poll_timeout() {
            Some(at) if at <= end => {
                h.now = h.now.max(at);
                h.core.handle_timeout(h.now);
                h.collect();
            }
            _ => break,
        }
    }
    h.now = end;
    seen
}

#[test]
fn probes_go_to_each_static_contact_at_the_interval_staggered() {
    let mut h = Harness::with_config(&config("interval = 9\ntimeout = 2"));
    let probes = run_probes(&mut h, Duration::from_secs(27), &[DESK, SOFT, BEA]);
    let expect = |t: u64| {
        vec![
            (t + 3_000, DESK.to_string()),
            (t + 6_000, SOFT.to_string()),
            (t + 9_000, BEA.to_string()),
        ]
    };
    let want: Vec<(u64, String)> = [0, 9_000, 18_000].into_iter().flat_map(expect).collect();
    assert_eq!(
        probes, want,
        "three contacts, a third of the interval apart"
    );
    assert!(online(&h, "amos") && online(&h, "bea"));
}

#[test]
fn the_probe_request_is_an_options_with_its_own_dialog_identifiers() {
    let mut h = Harness::with_config(&config("interval = 9"));
    h.advance(Duration::from_secs(3));
    let sent = sent_by_peer(&mut h);
    let probe = requests(&sent, DESK, Method::Options);
    assert_eq!(probe.len(), 1);
    let p = &probe[0];
    assert_eq!(p.uri.to_string(), format!("sip:amos@{DESK}"));
    assert_eq!(p.headers.get(&HeaderName::CSeq), Some("1 OPTIONS"));
    assert!(p.headers.get(&HeaderName::MaxForwards).is_some());
    assert!(p.headers.to().unwrap().tag().is_none());
    assert!(p.headers.get(&HeaderName::From).unwrap().contains("tag="));
}

#[test]
fn a_contact_that_does_not_answer_is_not_rung_and_an_agent_with_none_is_offline() {
    let mut h = Harness::with_config(&config("interval = 9\ntimeout = 2"));
    // The desk phone and bea's phone are switched off; the softphone answers.
    run_probes(&mut h, Duration::from_secs(12), &[SOFT]);
    assert!(online(&h, "amos"), "amos still has the softphone");
    assert!(!online(&h, "bea"), "bea has no contact that answers");

    caller_arrives(&mut h, "c1");
    let sent = sent_by_peer(&mut h);
    assert_eq!(requests(&sent, SOFT, Method::Invite).len(), 1);
    assert!(requests(&sent, DESK, Method::Invite).is_empty(), "not rung");
    assert!(requests(&sent, BEA, Method::Invite).is_empty(), "offline");
}

#[test]
fn an_offline_agent_comes_back_when_a_probe_is_answered() {
    let mut h = Harness::with_config(&config("interval = 9\ntimeout = 2"));
    run_probes(&mut h, Duration::from_secs(12), &[DESK, SOFT]);
    assert!(!online(&h, "bea"));
    // bea's phone is back: her next probe, at 18 s, is answered.
    let probes = run_probes(&mut h, Duration::from_secs(7), &[DESK, SOFT, BEA]);
    assert!(probes.contains(&(18_000, BEA.to_string())), "{probes:?}");
    assert!(online(&h, "bea"));
    caller_arrives(&mut h, "c1");
    let sent = sent_by_peer(&mut h);
    assert_eq!(requests(&sent, BEA, Method::Invite).len(), 1, "rung again");
}

#[test]
fn a_caller_waiting_for_an_offline_agent_is_offered_when_it_comes_back() {
    let mut h = Harness::with_config(&config("interval = 9\ntimeout = 2"));
    // Every phone is off: nobody is online.
    run_probes(&mut h, Duration::from_secs(12), &[]);
    assert!(!online(&h, "amos") && !online(&h, "bea"));
    caller_arrives(&mut h, "c1");
    let sent = sent_by_peer(&mut h);
    assert!(
        sent.iter()
            .all(|(_, m)| !matches!(m, Message::Request(r) if r.method == Method::Invite)),
        "nobody rung"
    );
    // The desk phone answers its probe at 12 s: amos rings there, and only there.
    let mut invites = Vec::new();
    let end = h.now + Duration::from_secs(1);
    while let Some(at) = h.core.poll_timeout().filter(|at| *at <= end) {
        h.now = h.now.max(at);
        h.core.handle_timeout(h.now);
        h.collect();
        for (peer, m) in sent_by_peer(&mut h) {
            match m {
                Message::Request(r) if r.method == Method::Options && peer == DESK => {
                    h.send_from(&peer, &reply(&r, 200, "probe"))
                }
                Message::Request(r) if r.method == Method::Invite => invites.push((peer, r)),
                _ => {}
            }
        }
        for (peer, m) in sent_by_peer(&mut h) {
            if let Message::Request(r) = m {
                if r.method == Method::Invite {
                    invites.push((peer, r));
                }
            }
        }
    }
    // One INVITE (and its retransmissions, one Call-ID) to the desk phone, nothing else.
    let mut rung: Vec<(String, String)> = invites
        .iter()
        .map(|(p, r)| {
            (
                p.clone(),
                r.headers.get(&HeaderName::CallId).unwrap().to_owned(),
            )
        })
        .collect();
    rung.dedup();
    assert_eq!(rung.len(), 1, "{rung:?}");
    assert_eq!(rung[0].0, DESK);
}

#[test]
fn a_device_in_a_call_with_us_is_not_probed() {
    let mut h = Harness::with_config(&config("interval = 9\ntimeout = 2"));
    caller_arrives(&mut h, "c1");
    let sent = sent_by_peer(&mut h);
    for peer in [DESK, SOFT, BEA] {
        let inv = requests(&sent, peer, Method::Invite);
        h.send_from(peer, &reply(&inv[0], 180, "ring"));
    }
    let desk = requests(&sent, DESK, Method::Invite);
    h.send_from(DESK, &reply(&desk[0], 200, "desk1"));
    // The other devices stop ringing (200 to the CANCEL, 487 to the INVITE): no leg to them.
    let cancels = sent_by_peer(&mut h);
    for peer in [SOFT, BEA] {
        let cancel = requests(&cancels, peer, Method::Cancel);
        h.send_from(peer, &reply(&cancel[0], 200, "ring"));
        let inv = requests(&sent, peer, Method::Invite);
        h.send_from(peer, &reply(&inv[0], 487, "ring"));
    }
    assert_eq!(h.core.leg_count(), 1, "only the desk phone's call is left");
    h.sent.clear();
    // Probes at 3 s (desk), 6 s (soft), 9 s (bea), and again 9 s later.
    let probes = run_probes(&mut h, Duration::from_secs(20), &[SOFT, BEA]);
    let peers: Vec<&str> = probes.iter().map(|(_, p)| p.as_str()).collect();
    assert!(!peers.contains(&DESK), "{probes:?}");
    assert_eq!(
        peers.iter().filter(|p| **p == SOFT).count(),
        2,
        "{probes:?}"
    );
    assert!(online(&h, "amos"));
}

/// Runs the core for `d`, answering each OPTIONS to `peer` with `status` (others unanswered).
fn answer_probes_with(h: &mut Harness, d: Duration, peer: &str, status: u16) {
    let end = h.now + d;
    loop {
        for (to, m) in sent_by_peer(h) {
            if let Message::Request(r) = m {
                if r.method == Method::Options && to == peer {
                    h.send_from(&to, &reply(&r, status, "probe"));
                }
            }
        }
        match h.core.poll_timeout() {
            Some(at) if at <= end => {
                h.now = h.now.max(at);
                h.core.handle_timeout(h.now);
                h.collect();
            }
            _ => break,
        }
    }
    h.now = end;
}

#[test]
fn any_final_answer_but_408_proves_the_device_is_there() {
    // A phone that refuses OPTIONS (405, 404, 486 …) still answered: it is there.
    for status in [404, 405, 486, 503] {
        let mut h = Harness::with_config(&config("interval = 9\ntimeout = 2"));
        answer_probes_with(&mut h, Duration::from_secs(12), BEA, status);
        assert!(online(&h, "bea"), "{status} counts as an answer");
    }
    // 408 comes from something between us and the phone that did not reach it.
    let mut h = Harness::with_config(&config("interval = 9\ntimeout = 2"));
    answer_probes_with(&mut h, Duration::from_secs(12), BEA, 408);
    assert!(!online(&h, "bea"), "408 does not");
}

#[test]
fn what_probes_found_survives_a_reconfiguration_and_a_new_contact_counts_as_reachable() {
    let mut h = Harness::with_config(&config("interval = 9\ntimeout = 2"));
    // bea's phone is unreachable (a 408 ends the probe's transaction: no retransmissions).
    answer_probes_with(&mut h, Duration::from_secs(12), BEA, 408);
    assert!(!online(&h, "bea"));
    // Another queue setting changes: bea's silent phone is still known silent.
    let changed =
        config("interval = 9\ntimeout = 2").replace("agents = [", "max_calls = 10\nagents = [");
    let now = h.now;
    h.core.reconfigure(
        now,
        &holdline::config::from_toml_str(&changed, std::path::Path::new(".")).unwrap(),
    );
    assert!(!online(&h, "bea"), "still offline after a reconfiguration");
    // bea gets a new phone: not probed yet, so it counts as reachable and she is online.
    let new_phone = changed.replace(
        &format!("contacts = [\"sip:bea@{BEA}\"]"),
        "contacts = [\"sip:bea@198.51.100.31:5070\"]",
    );
    h.core.reconfigure(
        now,
        &holdline::config::from_toml_str(&new_phone, std::path::Path::new(".")).unwrap(),
    );
    assert!(online(&h, "bea"), "a new contact counts as reachable");
    // And it is probed within one interval, its old one never again.
    let probes = run_probes(&mut h, Duration::from_secs(9), &[DESK, SOFT]);
    let peers: Vec<&str> = probes.iter().map(|(_, p)| p.as_str()).collect();
    assert!(
        probes.contains(&(21_000, "198.51.100.31:5070".to_string())),
        "one interval after the change: {probes:?}"
    );
    assert!(!peers.contains(&BEA), "{probes:?}");
}

#[test]
fn shutdown_stops_the_probes() {
    let mut h = Harness::with_config(&config("interval = 9\ntimeout = 2"));
    run_probes(&mut h, Duration::from_secs(4), &[DESK]);
    h.shutdown();
    h.sent.clear();
    let probes = run_probes(&mut h, Duration::from_secs(60), &[DESK, SOFT, BEA]);
    // The desk phone's probe was answered and the others were not due yet: nothing more.
    assert!(probes.is_empty(), "{probes:?}");
    assert_eq!(h.core.transaction_count(), 0);
    assert_eq!(h.core.poll_timeout(), None);
}

#[test]
fn a_forward_to_a_user_cancels_their_other_devices_as_completed_elsewhere() {
    // bea's queue forwards to amos after 15 s; amos has two devices.
    let toml = config("interval = 0")
        .replace("agents = [\"amos\", \"bea\"]", "agents = [\"bea\"]")
        .replace(
            "routing = \"attendant\"",
            "routing = \"attendant\"\nmax_wait = 15\non_timeout = { action = \"forward\", to = \"user:amos\" }",
        );
    let mut h = Harness::with_config(&toml);
    caller_arrives(&mut h, "c1");
    let sent = sent_by_peer(&mut h);
    let bea = requests(&sent, BEA, Method::Invite);
    h.send_from(BEA, &reply(&bea[0], 180, "bea1"));
    h.sent.clear();
    h.advance(Duration::from_millis(15_100));
    let sent = sent_by_peer(&mut h);
    let bea_cancel = requests(&sent, BEA, Method::Cancel);
    assert_eq!(bea_cancel.len(), 1, "bea's ring ends with the wait");
    assert_eq!(reason(&bea_cancel[0]), None, "a call bea missed");
    let desk = requests(&sent, DESK, Method::Invite);
    let soft = requests(&sent, SOFT, Method::Invite);
    assert_eq!(
        (desk.len(), soft.len()),
        (1, 1),
        "amos rung on both devices"
    );
    h.send_from(DESK, &reply(&desk[0], 180, "desk1"));
    h.send_from(SOFT, &reply(&soft[0], 180, "soft1"));
    h.sent.clear();
    h.send_from(SOFT, &reply(&soft[0], 200, "soft1"));
    let sent = sent_by_peer(&mut h);
    let cancel = requests(&sent, DESK, Method::Cancel);
    assert_eq!(cancel.len(), 1);
    assert_eq!(reason(&cancel[0]), Some(ELSEWHERE));
}

#[test]
fn an_invite_the_transport_cannot_deliver_marks_the_contact_unreachable_until_a_probe_answers() {
    let mut h = Harness::with_config(&config("interval = 9\ntimeout = 2"));
    caller_arrives(&mut h, "c1");
    let sent = sent_by_peer(&mut h);
    assert_eq!(requests(&sent, BEA, Method::Invite).len(), 1);
    // bea's phone is gone: the transport reports it (a refused TCP connection, say).
    let now = h.now;
    h.core
        .handle_transport_error(now, Peer::udp(BEA.parse().unwrap()));
    h.collect();
    assert!(
        !online(&h, "bea"),
        "not rung again before a probe is answered"
    );
    // Her probe at 9 s is answered: she is back.
    let probes = run_probes(&mut h, Duration::from_secs(10), &[DESK, SOFT, BEA]);
    assert!(probes.contains(&(9_000, BEA.to_string())), "{probes:?}");
    assert!(online(&h, "bea"));
}

#[test]
fn without_probes_a_silent_invite_changes_nothing() {
    let mut h = Harness::with_config(&config("interval = 0"));
    caller_arrives(&mut h, "c1");
    h.sent.clear();
    let now = h.now;
    h.core
        .handle_transport_error(now, Peer::udp(BEA.parse().unwrap()));
    h.collect();
    assert!(online(&h, "bea"), "nothing would bring her back");
}

#[test]
fn turning_probes_off_makes_every_contact_reachable_again() {
    let mut h = Harness::with_config(&config("interval = 9\ntimeout = 2"));
    run_probes(&mut h, Duration::from_secs(12), &[DESK, SOFT]);
    assert!(!online(&h, "bea"));
    let off = holdline::config::from_toml_str(&config("interval = 0"), std::path::Path::new("."))
        .unwrap();
    let now = h.now;
    h.core.reconfigure(now, &off);
    assert!(
        online(&h, "bea"),
        "nothing would ever probe her phone again"
    );
    assert!(online(&h, "amos"));
    h.sent.clear();
    // The probes in flight run out (Timer F); no new one is sent.
    run_probes(&mut h, Duration::from_secs(60), &[]);
    assert_eq!(h.core.transaction_count(), 0);
    assert_eq!(h.core.poll_timeout(), None, "no probe timer left");
}
