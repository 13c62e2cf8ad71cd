//! The relay queue's tests: jitter priming, underrun, concealment, transcoding and RFC 4733
//! event relay.

use super::*;

const S: Ssrc = Ssrc(7);

fn pull(q: &mut RelayQueue, ts: u32) -> (Fill, Vec<u8>) {
    let mut buf = vec![0u8; 160];
    let fill = q.fill(ts, &mut buf);
    (fill, buf)
}

#[test]
fn plays_silence_until_primed_then_the_audio_in_order() {
    let mut q = RelayQueue::new(Law::Ulaw, None);
    q.push_audio(S, 1000, Law::Ulaw, &[1; 160]);
    let (fill, out) = pull(&mut q, 0);
    assert_eq!(fill, Fill::Audio);
    assert!(
        out.iter().all(|&c| c == Law::Ulaw.silence()),
        "still priming"
    );
    q.push_audio(S, 1160, Law::Ulaw, &[2; 160]);
    assert_eq!(pull(&mut q, 160).1, vec![1; 160]);
    q.push_audio(S, 1320, Law::Ulaw, &[3; 160]);
    assert_eq!(pull(&mut q, 320).1, vec![2; 160]);
    assert_eq!(q.depth(), 160);
}

#[test]
fn transcodes_into_the_outgoing_law() {
    let mut q = RelayQueue::new(Law::Alaw, None);
    let ulaw: Vec<u8> = (0..=255u8).cycle().take(320).collect();
    q.push_audio(S, 0, Law::Ulaw, &ulaw[..160]);
    q.push_audio(S, 160, Law::Ulaw, &ulaw[160..]);
    let (_, out) = pull(&mut q, 0);
    let want: Vec<u8> = ulaw[..160]
        .iter()
        .map(|&c| Law::Ulaw.transcode(Law::Alaw, c))
        .collect();
    assert_eq!(out, want);
}

#[test]
fn repacketizes_to_the_outgoing_packet_time() {
    let mut q = RelayQueue::new(Law::Ulaw, None);
    for i in 0..6u32 {
        q.push_audio(S, i * 80, Law::Ulaw, &[i as u8; 80]);
    }
    let mut buf = vec![0u8; 240];
    q.fill(0, &mut buf);
    let mut want = vec![0u8; 80];
    want.extend([1u8; 80]);
    want.extend([2u8; 80]);
    assert_eq!(buf, want);
}

#[test]
fn a_lost_packet_becomes_silence_and_a_late_one_is_dropped() {
    let mut q = RelayQueue::new(Law::Ulaw, None);
    q.push_audio(S, 0, Law::Ulaw, &[1; 160]);
    q.push_audio(S, 160, Law::Ulaw, &[2; 160]);
    assert_eq!(pull(&mut q, 0).1, vec![1; 160]);
    // 320 is lost; 480 arrives, then 320 late.
    q.push_audio(S, 480, Law::Ulaw, &[4; 160]);
    q.push_audio(S, 320, Law::Ulaw, &[3; 160]);
    assert_eq!(pull(&mut q, 160).1, vec![2; 160]);
    assert_eq!(pull(&mut q, 320).1, vec![Law::Ulaw.silence(); 160]);
    assert_eq!(pull(&mut q, 480).1, vec![4; 160]);
    assert_eq!(q.stats().late, 1);
    assert_eq!(q.stats().concealed, 160);
}

#[test]
fn an_underrun_plays_silence_and_primes_again() {
    let mut q = RelayQueue::new(Law::Ulaw, None);
    q.push_audio(S, 0, Law::Ulaw, &[1; 160]);
    q.push_audio(S, 160, Law::Ulaw, &[2; 160]);
    pull(&mut q, 0);
    let (_, out) = pull(&mut q, 160);
    assert_eq!(out, vec![2; 160]);
    let (_, out) = pull(&mut q, 320);
    assert!(out.iter().all(|&c| c == Law::Ulaw.silence()));
    assert_eq!(q.stats().underruns, 1);
    q.push_audio(S, 320, Law::Ulaw, &[3; 160]);
    assert!(
        pull(&mut q, 480).1.iter().all(|&c| c == 0xFF),
        "priming again"
    );
}

#[test]
fn a_deep_buffer_drops_its_oldest_audio() {
    let mut q = RelayQueue::new(Law::Ulaw, None);
    for i in 0..20u32 {
        q.push_audio(S, i * 160, Law::Ulaw, &[i as u8; 160]);
    }
    let (_, out) = pull(&mut q, 0);
    // Kept: one packet plus the margin; the first packet played is the one that leaves
    // exactly that much behind it.
    assert_eq!(q.depth(), JITTER_MARGIN);
    assert_eq!(out, vec![18; 160]);
    assert!(q.stats().overflowed > 0);
}

#[test]
fn a_new_source_is_not_treated_as_late() {
    let mut q = RelayQueue::new(Law::Ulaw, None);
    q.push_audio(S, 50_000, Law::Ulaw, &[1; 160]);
    q.push_audio(Ssrc(8), 10, Law::Ulaw, &[2; 160]);
    assert_eq!(q.depth(), 320);
}

fn event(code: u8, end: bool, duration: u16) -> [u8; 4] {
    let d = duration.to_be_bytes();
    [code, if end { 0x80 | 10 } else { 10 }, d[0], d[1]]
}

#[test]
fn events_are_relayed_with_one_start_timestamp_and_no_audio_meanwhile() {
    let mut q = RelayQueue::new(Law::Ulaw, Some(101));
    q.push_audio(S, 0, Law::Ulaw, &[1; 160]);
    q.push_event(5000, &event(5, false, 160));
    q.push_audio(S, 160, Law::Ulaw, &[2; 160]);
    let (fill, _) = pull(&mut q, 9000);
    assert_eq!(
        fill,
        Fill::Event {
            payload: event(5, false, 160),
            payload_type: 101,
            timestamp: 9000,
            marker: true
        }
    );
    // No new event packet: nothing goes out (not audio).
    assert_eq!(pull(&mut q, 9160).0, Fill::Nothing);
    q.push_event(5000, &event(5, false, 480));
    q.push_event(5000, &event(5, true, 640));
    q.push_event(5000, &event(5, true, 640));
    let timestamps: Vec<Fill> = (0..3).map(|i| pull(&mut q, 9320 + i * 160).0).collect();
    for (i, f) in timestamps.iter().enumerate() {
        let Fill::Event {
            timestamp, marker, ..
        } = f
        else {
            panic!("slot {i}: {f:?}");
        };
        assert_eq!(*timestamp, 9000);
        assert!(!marker);
    }
    // Event over: audio again (primes first).
    assert_eq!(pull(&mut q, 9800).0, Fill::Audio);
    assert_eq!(q.stats().events, 4);
}

#[test]
fn a_late_end_retransmission_is_not_a_new_event() {
    let mut q = RelayQueue::new(Law::Ulaw, Some(101));
    q.push_event(70, &event(9, false, 160));
    q.push_event(70, &event(9, true, 320));
    assert!(matches!(
        pull(&mut q, 0).0,
        Fill::Event { marker: true, .. }
    ));
    assert!(matches!(
        pull(&mut q, 160).0,
        Fill::Event { marker: false, .. }
    ));
    assert_eq!(pull(&mut q, 320).0, Fill::Audio);
    q.push_event(70, &event(9, true, 320));
    let Fill::Event {
        marker, timestamp, ..
    } = pull(&mut q, 480).0
    else {
        panic!("the retransmitted end is relayed");
    };
    assert!(!marker);
    assert_eq!(timestamp, 0);
    // A stale update of the ended event is dropped.
    q.push_event(70, &event(9, false, 200));
    assert_eq!(pull(&mut q, 640).0, Fill::Audio);
}

#[test]
fn events_are_dropped_for_a_leg_without_telephone_event() {
    let mut q = RelayQueue::new(Law::Ulaw, None);
    q.push_event(5000, &event(1, false, 160));
    assert_eq!(pull(&mut q, 0).0, Fill::Audio);
    assert_eq!(q.stats().events, 0);
}

#[test]
fn an_event_whose_end_was_lost_expires() {
    let mut q = RelayQueue::new(Law::Ulaw, Some(96));
    q.push_event(1, &event(1, false, 160));
    assert!(matches!(pull(&mut q, 0).0, Fill::Event { .. }));
    for i in 0..EVENT_STALE_SLOTS {
        assert_eq!(pull(&mut q, 160 * (i + 1)).0, Fill::Nothing);
    }
    assert_eq!(pull(&mut q, 999_999).0, Fill::Audio);
}

#[test]
fn a_codec_change_re_encodes_buffered_audio() {
    let mut q = RelayQueue::new(Law::Ulaw, None);
    q.push_audio(S, 0, Law::Ulaw, &[0x10; 160]);
    q.push_audio(S, 160, Law::Ulaw, &[0x10; 160]);
    q.set_output(Law::Alaw, None);
    let (_, out) = pull(&mut q, 0);
    assert_eq!(out, vec![Law::Ulaw.transcode(Law::Alaw, 0x10); 160]);
}

#[test]
fn the_tap_sorts_audio_from_events() {
    let buf = RelayBuffer::new(RelayQueue::new(Law::Ulaw, Some(101)));
    let tap = Tap {
        to: buf.clone(),
        payload_type: 8,
        law: Law::Alaw,
        dtmf_payload_type: Some(100),
    };
    let mut pkt = vec![0x80, 8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 7];
    pkt.extend([Law::Alaw.silence(); 160]);
    tap.relay(&pkt);
    assert_eq!(buf.lock().depth(), 160);
    assert_eq!(buf.lock().stats().samples_in, 160);
    let mut ev = vec![0x80, 100, 0, 2, 0, 0, 0, 0, 0, 0, 0, 7];
    ev.extend(event(3, false, 160));
    tap.relay(&ev);
    assert!(matches!(
        buf.lock().fill(0, &mut [0; 160]),
        Fill::Event { .. }
    ));
    // Unknown payload types and garbage are ignored.
    tap.relay(&[0x80, 13, 0, 3]);
    tap.relay(&[0x80, 13, 0, 3, 0, 0, 0, 0, 0, 0, 0, 7, 1, 2]);
    assert_eq!(buf.lock().stats().samples_in, 160);
}
