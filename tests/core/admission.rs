//! Admission control through the whole core on virtual time: a flood from one source is
//! banned and then dropped without an answer, bans end and are lifted, a trunk's source keeps
//! going at a rate that bans anyone else, a source holding too many calls without ACK is
//! refused and banned (its unconfirmed calls dropped) while another caller gets in, a call
//! never ACKed frees its queue slot at 64·T1, a 4xx is not resent for ever, responses are
//! not counted, and a flood over TCP is banned like one over UDP.

use std::net::IpAddr;
use std::time::Duration;

use holdline::b2bua::admission::BanReason;
use holdline::b2bua::{EndReason, Event};
use holdline::sip::message::Message;
use holdline::sip::Method;
use holdline_testkit::harness::*;

const ATTACKER: &str = "203.0.113.9:5060";
const TRUNK: &str = "203.0.113.50:5060";

/// The harness's configuration with a trunk and `[limits]`: 10 requests a second, a burst of
/// 20, bans of 30 s, unless `rate` says otherwise; `extra` adds keys.
fn limits(extra: &str) -> String {
    limits_with("request_rate = 10\nburst = 20\n", extra)
}

fn limits_with(rate: &str, extra: &str) -> String {
    format!(
        "{CONFIG}\n[[trunk]]\nid = \"carrier\"\nproxy = \"sip:203.0.113.50:5060\"\nallow = [\"+1*\"]\n\
         [limits]\n{rate}ban = 30\n{extra}"
    )
}

fn ip(addr: &str) -> IpAddr {
    addr.parse::<std::net::SocketAddr>().unwrap().ip()
}

fn options(from: &str, n: usize) -> String {
    format!(
        "OPTIONS sip:192.0.2.1 SIP/2.0\n\
         Via: SIP/2.0/UDP {from};branch=z9hG4bKopt{n};rport\n\
         From: <sip:probe@{from}>;tag=p{n}\n\
         To: <sip:192.0.2.1>\n\
         Call-ID: opt-{n}@{from}\n\
         CSeq: 1 OPTIONS\n\
         Max-Forwards: 70\n\
         Content-Length: 0\n\n"
    )
}

/// An INVITE to the sales queue from `from`, never ACKed by the tests that use it.
fn invite_from(from: &str, n: usize) -> String {
    invite(
        "+14255550100",
        &format!("flood-{n}"),
        &format!("z9hG4bKfl{n}"),
        Some(SDP_PCMU),
    )
    .replace("198.51.100.7:5062", from)
}

/// Sends `text` from `from` and returns the statuses of what came back.
fn answers(h: &mut Harness, from: &str, text: &str) -> Vec<u16> {
    h.take();
    h.send_from(from, text);
    h.statuses()
}

#[test]
fn a_flood_from_one_source_is_banned_then_dropped_silently() {
    let mut h = Harness::with_config(&limits(""));
    // The burst is answered; the request that finds the bucket empty is the last one.
    for n in 0..20 {
        assert_eq!(answers(&mut h, ATTACKER, &options(ATTACKER, n)), vec![200]);
    }
    assert_eq!(
        answers(&mut h, ATTACKER, &options(ATTACKER, 20)),
        Vec::<u16>::new()
    );
    let bans = h.core.bans(h.now);
    assert_eq!(bans.len(), 1);
    assert_eq!(bans[0].addr, ip(ATTACKER));
    assert_eq!(bans[0].reason, BanReason::RequestRate);
    // Banned: requests of any kind, even at a trickle, get nothing, and nothing is parsed.
    h.advance(Duration::from_secs(5));
    for n in 21..40 {
        assert_eq!(
            answers(&mut h, ATTACKER, &options(ATTACKER, n)),
            Vec::<u16>::new()
        );
        assert_eq!(
            answers(&mut h, ATTACKER, &invite_from(ATTACKER, n)),
            Vec::<u16>::new()
        );
    }
    assert_eq!(h.core.call_count(), 0);
    let stats = h.core.admission_stats();
    assert_eq!(stats.bans_total, 1);
    assert_eq!(stats.dropped_total, 1 + 38);
    assert_eq!(h.core.bans(h.now)[0].dropped, 38);
    // Another source is not touched.
    assert_eq!(
        answers(
            &mut h,
            "198.51.100.7:5062",
            &options("198.51.100.7:5062", 1)
        ),
        vec![200]
    );
    caller_arrives(&mut h, "legit");
    assert_eq!(h.core.call_count(), 1);
}

#[test]
fn a_ban_expires_after_its_time() {
    let mut h = Harness::with_config(&limits(""));
    for n in 0..21 {
        h.send_from(ATTACKER, &options(ATTACKER, n));
    }
    assert!(!h.core.bans(h.now).is_empty());
    h.advance(Duration::from_secs(29));
    assert_eq!(
        answers(&mut h, ATTACKER, &options(ATTACKER, 100)),
        Vec::<u16>::new()
    );
    h.advance(Duration::from_secs(1));
    assert!(h.core.bans(h.now).is_empty());
    // A fresh bucket: answered again.
    assert_eq!(
        answers(&mut h, ATTACKER, &options(ATTACKER, 101)),
        vec![200]
    );
}

#[test]
fn a_trunk_is_not_banned_at_a_rate_that_bans_an_unknown_source() {
    let mut h = Harness::with_config(&limits(""));
    let mut unknown = 0;
    let mut trunk = 0;
    // 100 requests in one second from each.
    for n in 0..100 {
        h.now = holdline::time::Time::from_millis(n as u64 * 10);
        unknown += answers(&mut h, ATTACKER, &options(ATTACKER, n)).len();
        trunk += answers(&mut h, TRUNK, &options(TRUNK, n)).len();
    }
    assert_eq!(trunk, 100, "every request from the trunk answered");
    assert!(
        unknown < 30,
        "the unknown source was cut off after its burst: {unknown}"
    );
    let bans = h.core.bans(h.now);
    assert_eq!(
        bans.iter().map(|b| b.addr).collect::<Vec<_>>(),
        vec![ip(ATTACKER)]
    );
}

#[test]
fn lifting_a_ban_admits_the_source_at_once() {
    let mut h = Harness::with_config(&limits(""));
    for n in 0..21 {
        h.send_from(ATTACKER, &options(ATTACKER, n));
    }
    assert!(h.core.lift_ban(h.now, ip(ATTACKER)));
    assert!(h.core.bans(h.now).is_empty());
    assert!(
        !h.core.lift_ban(h.now, ip(ATTACKER)),
        "nothing left to lift"
    );
    assert_eq!(answers(&mut h, ATTACKER, &options(ATTACKER, 50)), vec![200]);
}

#[test]
fn unacked_calls_beyond_the_quota_are_refused_the_source_banned_and_others_get_in() {
    // max_calls is 50 (the default): 50 INVITEs that never ACK would fill the queue.
    let mut h = Harness::with_config(&limits_with("", "unconfirmed_per_source = 5\n"));
    let mut got = Vec::new();
    for n in 0..50 {
        got.push(answers(&mut h, ATTACKER, &invite_from(ATTACKER, n)));
    }
    for (n, statuses) in got.iter().enumerate() {
        let expected: &[u16] = match n {
            0..=4 => &[100, 200],
            5 => &[100, 503],
            _ => &[],
        };
        assert_eq!(statuses, expected, "INVITE #{n}");
    }
    let bans = h.core.bans(h.now);
    assert_eq!(bans[0].reason, BanReason::Unconfirmed);
    // Banned: its five calls that never ACKed end at once (their places are free) and
    // nothing more is sent to it, not even the retransmissions of our 200s and the 503.
    assert_eq!(h.core.call_count(), 0);
    let sales = holdline::config::QueueId("sales".into());
    let waiting = |h: &Harness| {
        h.core
            .engine()
            .queue_status(h.now, &sales)
            .map(|s| s.waiting.len())
    };
    assert_eq!(waiting(&h), Some(0));
    h.take();
    h.advance(Duration::from_secs(40));
    assert_eq!(h.take(), Vec::<Message>::new());
    // A caller from elsewhere is answered (not 486).
    caller_arrives(&mut h, "legit");
    assert_eq!(h.core.call_count(), 1);
    assert_eq!(waiting(&h), Some(1));
}

#[test]
fn a_caller_that_acks_is_not_held_to_the_unconfirmed_quota() {
    let mut h = Harness::with_config(&limits("unconfirmed_per_source = 2\n"));
    for n in 0..6 {
        caller_arrives(&mut h, &format!("ok-{n}"));
    }
    assert_eq!(h.core.call_count(), 6);
    assert!(h.core.bans(h.now).is_empty());
}

#[test]
fn a_call_never_acked_ends_and_frees_its_slot_at_64_t1() {
    let mut h = Harness::new();
    h.send(&invite(
        "+14255550100",
        "noack",
        "z9hG4bKnoack",
        Some(SDP_PCMU),
    ));
    assert_eq!(h.core.call_count(), 1);
    assert_eq!(
        h.core
            .engine()
            .queue_status(h.now, &holdline::config::QueueId("sales".into()))
            .map(|s| s.waiting.len()),
        Some(1)
    );
    h.advance(Duration::from_millis(32_100));
    // BYE sent, and the call is gone at once: it does not wait the BYE's own 64·T1.
    assert!(h
        .take()
        .iter()
        .any(|m| matches!(m, Message::Request(r) if r.method == Method::Bye)));
    assert_eq!(h.core.call_count(), 0);
    assert_eq!(h.core.ports_in_use(), 0);
    assert_eq!(
        h.core
            .engine()
            .queue_status(h.now, &holdline::config::QueueId("sales".into()))
            .map(|s| s.waiting.len()),
        Some(0)
    );
    assert!(h.events.iter().any(|e| matches!(
        e,
        Event::CallEnded {
            reason: EndReason::Timeout,
            ..
        }
    )));
}

#[test]
fn a_final_error_to_a_source_that_never_acks_is_resent_at_most_four_times() {
    let mut h = Harness::new();
    h.send(&invite("+19995550000", "scan", "z9hG4bKscan", None));
    assert_eq!(h.statuses(), vec![100, 404]);
    h.advance(Duration::from_secs(20));
    assert_eq!(h.statuses(), vec![404, 404, 404, 404]);
    // A retransmitted INVITE still gets the 404 again (a peer that lost it asks again).
    h.send(&invite("+19995550000", "scan", "z9hG4bKscan", None));
    assert_eq!(h.statuses(), vec![404]);
    // Timer H ends the transaction at 64·T1 without another resend.
    h.advance(Duration::from_secs(20));
    assert_eq!(h.statuses(), Vec::<u16>::new());
    assert_eq!(h.core.transaction_count(), 0);
}

#[test]
fn responses_are_not_rate_limited() {
    let mut h = Harness::with_config(&limits(""));
    // 200 stray responses at once from one source, ten times its burst: they match nothing of
    // ours and are dropped by the transaction layer, but they are no reason to ban anyone.
    for n in 0..200 {
        let stray = format!(
            "SIP/2.0 200 OK\n\
             Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKstray{n}\n\
             From: <sip:x@192.0.2.1>;tag=a{n}\n\
             To: <sip:y@203.0.113.9>;tag=b{n}\n\
             Call-ID: stray-{n}\n\
             CSeq: 1 OPTIONS\n\
             Content-Length: 0\n\n"
        );
        assert_eq!(answers(&mut h, ATTACKER, &stray), Vec::<u16>::new());
    }
    assert!(h.core.bans(h.now).is_empty());
    assert_eq!(answers(&mut h, ATTACKER, &options(ATTACKER, 1)), vec![200]);
}

#[test]
fn a_flood_over_tcp_is_banned_like_one_over_udp() {
    use holdline::sip::parse::{parse_datagram, Limits};
    use holdline::sip::transport::{ConnId, Peer, Transport};
    let mut h = Harness::with_config(&limits(""));
    let peer = Peer {
        transport: Transport::Tcp,
        addr: ATTACKER.parse().unwrap(),
        conn: Some(ConnId(1)),
    };
    let mut answered = 0;
    for n in 0..40 {
        let text = options(ATTACKER, n).replace("SIP/2.0/UDP", "SIP/2.0/TCP");
        let parsed = parse_datagram(&crlf(&text), &Limits::default());
        h.core.handle_parsed(h.now, peer, h.local, parsed);
        h.collect();
        answered += h.statuses().len();
    }
    assert_eq!(answered, 20, "the burst, then nothing");
    assert_eq!(h.core.bans(h.now)[0].addr, ip(ATTACKER));
}
