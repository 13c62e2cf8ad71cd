//! Hold, resume and the RTP-timeout hang-up on virtual time: the caller's dialog in the core and
//! the call's receive state (`rtp::inbound`) driven by one clock, wired the way the runtime
//! wires them (negotiated media → what we expect to receive; a timeout → BYE with a Reason).

mod core_support;

use std::net::SocketAddr;
use std::time::Duration;

use core_support::*;
use holdline::b2bua::{CallHandle, Event};
use holdline::rtp::inbound::{Expect, Inbound, InboundConfig};
use holdline::sip::header::HeaderName;
use holdline::sip::message::Message;
use holdline::sip::sdp::NegotiatedMedia;
use holdline::sip::Method;
use holdline::time::Time;

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
    };
    let mut inbound = Inbound::new(h.now, config, expect(&media_events(&h)[0]));
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
