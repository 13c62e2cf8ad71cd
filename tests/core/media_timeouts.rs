//! Media timers on virtual time, wired the way the runtime wires them: hold, resume and the
//! RTP-timeout hang-up (the caller's dialog in the core and the call's receive state,
//! `rtp::inbound`, driven by one clock: negotiated media → what we expect to receive; a
//! timeout → BYE with a Reason), and the greeting's end (the runtime reports the greeting's
//! length when it starts playing; the core times its end, then music and agents ringing).

use std::net::SocketAddr;
use std::time::Duration;

use holdline::b2bua::{CallHandle, Event, Playback};
use holdline::rtp::inbound::{Expect, Inbound, InboundConfig};
use holdline::sip::header::HeaderName;
use holdline::sip::message::{Message, Request};
use holdline::sip::sdp::NegotiatedMedia;
use holdline::sip::Method;
use holdline::time::Time;
use holdline_testkit::harness::*;

fn expect(m: &NegotiatedMedia) -> Expect {
    Expect {
        payload_type: m.payload_type,
        dtmf_payload_type: m.dtmf_payload_type,
        receiving: m.we_receive(),
    }
}

fn rtp_packet(seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, 0x00];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&0x1234_5678u32.to_be_bytes());
    p.extend(std::iter::repeat_n(0xffu8, 160));
    p
}

/// Runs the clock in 20 ms steps for `d`, the caller sending RTP when `sending`; hangs the call
/// up like the runtime does when the receive state times out. Returns whether it did.
fn run(
    h: &mut Harness,
    inbound: &mut Inbound,
    call: CallHandle,
    seq: &mut u16,
    d: Duration,
    sending: bool,
) -> bool {
    let from: SocketAddr = "198.51.100.7:30000".parse().unwrap();
    let end = h.now + d;
    while h.now < end {
        h.advance(Duration::from_millis(20));
        if sending {
            *seq = seq.wrapping_add(1);
            inbound.on_rtp(h.now, from, &rtp_packet(*seq));
        }
        if inbound.timed_out(h.now) {
            h.core.hang_up_call(h.now, call, 408, "RTP timeout");
            h.collect();
            return true;
        }
    }
    false
}

fn media_events(h: &Harness) -> Vec<NegotiatedMedia> {
    h.events
        .iter()
        .filter_map(|e| match e {
            Event::CallAnswered { media: Some(m), .. } | Event::MediaUpdated { media: m, .. } => {
                Some(m.clone())
            }
            _ => None,
        })
        .collect()
}

#[test]
fn silent_caller_is_hung_up_after_the_rtp_timeout_but_not_while_on_hold() {
    let mut h = Harness::new();
    h.send(&invite("+14255550100", "t1", "z9hG4bKt1", Some(SDP_PCMU)));
    let tag = to_tag(&h.last_response(200).unwrap());
    h.send(&in_dialog("ACK", "t1", &tag, 1, "z9hG4bKt1a", None));
    let call = h
        .events
        .iter()
        .find_map(|e| match e {
            Event::CallAnswered { call, .. } => Some(*call),
            _ => None,
        })
        .unwrap();
    let config = InboundConfig {
        symmetric: true,
        timeout: Some(Duration::from_secs(60)),
        ..InboundConfig::default()
    };
    let answered = media_events(&h)[0].clone();
    let mut inbound = Inbound::new(h.now, config, expect(&answered));
    // Strict RTP accepts the caller's packets from the address its SDP signalled.
    inbound.signal(answered.remote, answered.remote_rtcp);
    let mut seq = 0u16;

    // Talking for 10 s: no timeout.
    assert!(!run(
        &mut h,
        &mut inbound,
        call,
        &mut seq,
        Duration::from_secs(10),
        true
    ));

    // The caller holds us (a=inactive): nothing comes, for two minutes, and that is fine.
    let hold = SDP_PCMU
        .replace("a=ptime:20\n", "a=ptime:20\na=inactive\n")
        .replace("o=caller 1 1", "o=caller 1 2");
    h.send(&in_dialog(
        "INVITE",
        "t1",
        &tag,
        2,
        "z9hG4bKt1h",
        Some(&hold),
    ));
    h.send(&in_dialog("ACK", "t1", &tag, 2, "z9hG4bKt1ha", None));
    let held = media_events(&h).last().cloned().unwrap();
    assert!(held.hold && !held.we_receive());
    inbound.set_expect(h.now, expect(&held));
    assert!(!run(
        &mut h,
        &mut inbound,
        call,
        &mut seq,
        Duration::from_secs(120),
        false
    ));

    // Resumed, but silent: the timeout runs from the resume and ends the call at 60 s.
    let resume = SDP_PCMU.replace("o=caller 1 1", "o=caller 1 3");
    h.send(&in_dialog(
        "INVITE",
        "t1",
        &tag,
        3,
        "z9hG4bKt1r",
        Some(&resume),
    ));
    h.send(&in_dialog("ACK", "t1", &tag, 3, "z9hG4bKt1ra", None));
    let resumed = media_events(&h).last().cloned().unwrap();
    assert!(!resumed.hold && resumed.we_receive());
    inbound.set_expect(h.now, expect(&resumed));
    let resumed_at: Time = h.now;
    h.take();
    assert!(run(
        &mut h,
        &mut inbound,
        call,
        &mut seq,
        Duration::from_secs(61),
        false
    ));
    let waited = h.now - resumed_at;
    assert!(
        (Duration::from_secs(59)..=Duration::from_secs(61)).contains(&waited),
        "hung up after {waited:?}"
    );
    let bye = h
        .take()
        .into_iter()
        .find_map(|m| match m {
            Message::Request(r) if r.method == Method::Bye => Some(r),
            _ => None,
        })
        .expect("BYE to the caller");
    let reason = bye.headers.get(&HeaderName::Reason).unwrap();
    assert!(
        reason.contains("cause=408") && reason.contains("RTP timeout"),
        "{reason}"
    );
}

const AMOS: &str = "198.51.100.20:5070";

/// A queue with a greeting and one agent with a static contact.
fn greeting_config() -> String {
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
[[queue]]
id = "sales"
name = "UK Sales"
numbers = ["+14255550100"]
greeting = "media/welcome.wav"
agents = ["amos"]
"#
    )
}

/// The calls the core asked to play a greeting to, as the runtime sees them.
fn greetings_started(h: &mut Harness) -> Vec<CallHandle> {
    h.events
        .drain(..)
        .filter_map(|e| match e {
            Event::Play {
                call,
                what: Playback::Greeting(_),
            } => Some(call),
            _ => None,
        })
        .collect()
}

fn invites_to_amos(h: &mut Harness) -> Vec<Request> {
    requests_to(h, AMOS)
        .into_iter()
        .filter(|r| r.method == Method::Invite)
        .collect()
}

#[test]
fn greeting_end_is_a_core_timer_then_music_and_agents_ring() {
    let mut h = Harness::with_config(&greeting_config());
    caller_arrives(&mut h, "g1");
    let call = greetings_started(&mut h);
    assert_eq!(
        call.len(),
        1,
        "the greeting plays once the caller is answered"
    );
    assert!(
        invites_to_amos(&mut h).is_empty(),
        "no agent rings during the greeting"
    );
    // The runtime starts the stream and reports the greeting's length; nothing else tells the
    // core when it ends.
    h.core
        .greeting_started(h.now, call[0], Duration::from_millis(8_400));
    let started = h.now;

    h.advance(Duration::from_millis(8_380));
    assert!(invites_to_amos(&mut h).is_empty(), "still greeting");
    assert!(
        !h.events.iter().any(|e| matches!(e, Event::Play { .. })),
        "no music before the greeting ends"
    );

    h.advance(Duration::from_millis(20));
    assert_eq!(h.now - started, Duration::from_millis(8_400));
    assert!(
        h.events.iter().any(|e| matches!(
            e,
            Event::Play { call: c, what: Playback::Music(_) } if *c == call[0]
        )),
        "music after the greeting: {:?}",
        h.events
    );
    assert_eq!(invites_to_amos(&mut h).len(), 1, "then the agent rings");
}

#[test]
fn caller_gone_during_the_greeting_rings_nobody_when_it_would_have_ended() {
    // Without OPTIONS probes, whose timer never ends, so every call timer can be seen gone.
    let mut h = Harness::with_config(&format!("{}\n[probe]\ninterval = 0\n", greeting_config()));
    let tag = caller_arrives(&mut h, "g2");
    let call = greetings_started(&mut h);
    h.core
        .greeting_started(h.now, call[0], Duration::from_secs(5));
    h.advance(Duration::from_secs(2));
    h.send(&in_dialog("BYE", "g2", &tag, 2, "z9hG4bKg2bye", None));
    assert_eq!(h.core.call_count(), 0);
    // Past the greeting's end and the BYE transaction's wind-down (64·T1).
    h.advance(Duration::from_secs(60));
    assert!(invites_to_amos(&mut h).is_empty());
    assert_eq!(h.core.poll_timeout(), None, "no timer left behind");
}

#[test]
fn a_skipped_greeting_moves_on_at_once() {
    let mut h = Harness::with_config(&greeting_config());
    caller_arrives(&mut h, "g3");
    let call = greetings_started(&mut h);
    // The greeting file did not load, or the caller already hears music: length zero.
    h.core.greeting_started(h.now, call[0], Duration::ZERO);
    h.collect();
    assert_eq!(invites_to_amos(&mut h).len(), 1);
}
