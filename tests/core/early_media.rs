//! Early media from a forward's far end (RFC 3261 §13.2.1, RFC 3960 §3): a 183 with an SDP
//! answer while an external forward rings is relayed to the caller (already answered by the
//! queue) instead of its music; the 2xx keeps that bridge; a failed attempt gives the music
//! back while the next SBC is tried. An agent's phone's early media is not relayed: the
//! caller keeps its music while agents ring.

use holdline::b2bua::Event;
use holdline::sip::message::Request;
use holdline::sip::Method;
use holdline_testkit::harness::*;

use super::trunk_failover::{config_with, to, transfer_out, AMOS, SBC_A, SBC_B};

/// `reply(req, status, tag)` with an SDP answer (PCMU toward 203.0.113.10:41000).
fn with_sdp(req: &Request, status: u16, tag: &str) -> String {
    let sdp = "v=0\r\no=sbc 1 1 IN IP4 203.0.113.10\r\ns=-\r\nc=IN IP4 203.0.113.10\r\nt=0 0\r\nm=audio 41000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
    let text = reply(req, status, tag);
    let head: String = text
        .split("\n\n")
        .next()
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with("Content-Type:") && !l.starts_with("Content-Length:"))
        .map(|l| format!("{l}\n"))
        .collect();
    format!(
        "{head}Content-Type: application/sdp\nContent-Length: {}\n\n{sdp}",
        sdp.len()
    )
}

fn early(h: &Harness) -> usize {
    h.events
        .iter()
        .filter(|e| matches!(e, Event::LegEarlyMedia { .. }))
        .count()
}

fn bridges(h: &Harness) -> usize {
    h.events
        .iter()
        .filter(|e| matches!(e, Event::Bridge { .. }))
        .count()
}

fn unbridges(h: &Harness) -> usize {
    h.events
        .iter()
        .filter(|e| matches!(e, Event::Unbridge { .. }))
        .count()
}

#[test]
fn a_forwards_183_with_sdp_is_bridged_to_the_caller_and_stays_on_answer() {
    let mut h = Harness::with_config(&config_with("+1425*", ""));
    transfer_out(&mut h);
    let a = to(&mut h, SBC_A, Method::Invite);
    assert_eq!(a.len(), 1);
    h.events.clear();
    // A 180 without SDP changes nothing: the caller keeps its music.
    h.send_from(SBC_A, &reply(&a[0], 180, "a1"));
    assert_eq!((early(&h), bridges(&h)), (0, 0));
    h.send_from(SBC_A, &with_sdp(&a[0], 183, "a1"));
    assert_eq!(early(&h), 1, "{:?}", h.events);
    let (early_leg, bridged) = h
        .events
        .iter()
        .find_map(|e| match e {
            Event::LegEarlyMedia { leg, media, .. } => Some((*leg, media.remote)),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        bridged.map(|a| a.to_string()).as_deref(),
        Some("203.0.113.10:41000")
    );
    let bridge = h
        .events
        .iter()
        .position(|e| matches!(e, Event::Bridge { leg, .. } if *leg == early_leg));
    let start = h
        .events
        .iter()
        .position(|e| matches!(e, Event::LegEarlyMedia { .. }));
    assert!(
        start < bridge,
        "the stream starts before the bridge: {:?}",
        h.events
    );
    // A second 183 (a retransmission, or an update) starts nothing again.
    h.send_from(SBC_A, &with_sdp(&a[0], 183, "a1"));
    assert_eq!((early(&h), bridges(&h)), (1, 1));
    // The 2xx repeats the answer: the leg is answered, the bridge stays (no music between).
    h.events.clear();
    h.send_from(SBC_A, &with_sdp(&a[0], 200, "a1"));
    assert!(
        h.events
            .iter()
            .any(|e| matches!(e, Event::LegAnswered { leg, .. } if *leg == early_leg)),
        "{:?}",
        h.events
    );
    assert_eq!(unbridges(&h), 0);
    assert!(
        to(&mut h, SBC_A, Method::Bye).is_empty(),
        "the answered leg is kept"
    );
}

#[test]
fn the_music_comes_back_when_the_ringing_sbc_fails_and_the_next_is_tried() {
    let mut h = Harness::with_config(&config_with("+1425*", ""));
    transfer_out(&mut h);
    let a = to(&mut h, SBC_A, Method::Invite);
    h.send_from(SBC_A, &with_sdp(&a[0], 183, "a1"));
    h.events.clear();
    h.send_from(SBC_A, &reply(&a[0], 503, "a1"));
    assert_eq!(unbridges(&h), 1, "music again: {:?}", h.events);
    assert_eq!(
        to(&mut h, SBC_B, Method::Invite).len(),
        1,
        "B is tried next"
    );
}

#[test]
fn an_agents_early_media_is_not_relayed() {
    let mut h = Harness::with_config(&config_with("+1425*", ""));
    caller_arrives(&mut h, "c1");
    let invite = requests_to(&mut h, AMOS).remove(0);
    h.events.clear();
    h.send_from(AMOS, &with_sdp(&invite, 183, "amos1"));
    assert_eq!((early(&h), bridges(&h)), (0, 0), "{:?}", h.events);
    // Its answer after that is the usual one.
    h.send_from(AMOS, &with_sdp(&invite, 200, "amos1"));
    assert!(h
        .events
        .iter()
        .any(|e| matches!(e, Event::LegAnswered { .. })));
    assert_eq!(bridges(&h), 1);
}
