//! Relayed media between two bridged legs (the B2BUA's media half): what one leg receives is
//! played out on the other leg's own outgoing stream.
//!
//! The relayed audio does not go out as the peer sent it. It goes into a [`RelayQueue`], a
//! small jitter buffer of G.711 samples already in the *receiving* leg's law, and the pacer
//! plays it out on that leg's [`super::stream::OutgoingStream`] like any other source. So:
//!
//! - one stream carries greeting, music and the agent's voice: SSRC, sequence number and
//!   timestamp stay continuous across the switch (RFC 3550 §5.1; the receiver's jitter buffer
//!   never sees a new source), and music on hold can come back (the agent holds the caller) and
//!   go again without a glitch in numbering;
//! - PCMU ⇄ PCMA is transcoded sample by sample on the way in, and a leg that asked for another
//!   packet time than its peer sends still gets its own `a=ptime` (G.711 is one byte a sample,
//!   so repacketizing is slicing);
//! - arrival jitter is absorbed: play-out starts once one packet plus [`JITTER_MARGIN`] is
//!   buffered, an underrun plays silence and primes again, a buffer that grows past
//!   [`MAX_EXTRA`] (a burst after a network stall, clock drift) drops its oldest audio so
//!   the delay stays bounded;
//! - lost packets (a timestamp gap of up to [`MAX_CONCEAL`]) are filled with silence so what
//!   follows stays in time; late and duplicate packets (timestamp behind) are dropped.
//!
//! RFC 4733 telephone-events are relayed as events, not as audio: each event packet received
//! becomes one packet on the other leg with that leg's telephone-event payload type, the
//! event's start timestamp in the outgoing stream's timeline, the marker on its first packet
//! (§2.5.1.1) and the payload (event, E bit, volume, duration) unchanged — both legs run
//! `telephone-event/8000`, so durations mean the same. While an event is on, audio is not
//! sent (§2.5.1.3 lets a sender stop audio; sending both makes receivers play the tone twice).
//! A leg that did not negotiate telephone-event gets no events.
//!
//! Not here: mixing (a bridge has two parties), in-band DTMF generation, comfort noise.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use super::dtmf::TelephoneEvent;
use super::packet::{self, Ssrc};
use crate::audio::Law;

/// Audio buffered beyond one packet before play-out starts: 20 ms at 8 kHz.
pub const JITTER_MARGIN: usize = 160;
/// Beyond the priming depth, how much audio may pile up before the oldest is dropped: 100 ms.
pub const MAX_EXTRA: usize = 800;
/// The longest timestamp gap filled with silence (lost packets): 100 ms. A longer jump is a
/// new talkspurt and is not padded.
pub const MAX_CONCEAL: u32 = 800;
/// The most audio a queue holds whatever happens (its stream may not be pulling: the leg is
/// held): 250 ms.
const HARD_CAP: usize = 2000;
/// Packet slots with no event packet after which an event whose end never came is dropped
/// (all its end packets lost): one second of 20 ms packets.
const EVENT_STALE_SLOTS: u32 = 50;

/// A relay queue shared by the receiving side (the peer leg's receive task pushes) and the
/// sending side (the pacer pulls).
#[derive(Clone, Debug, Default)]
pub struct RelayBuffer(Arc<Mutex<RelayQueue>>);

impl RelayBuffer {
    pub fn new(queue: RelayQueue) -> RelayBuffer {
        RelayBuffer(Arc::new(Mutex::new(queue)))
    }

    pub fn lock(&self) -> MutexGuard<'_, RelayQueue> {
        // A panic on another thread must not silence the call.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether both handles are the same queue.
    pub fn same(&self, other: &RelayBuffer) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// What the next packet slot of the outgoing stream carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fill {
    /// Audio: the payload buffer was filled.
    Audio,
    /// A telephone-event packet: `payload` goes out with `payload_type`, `timestamp` (the
    /// event's start) and `marker`.
    Event {
        payload: [u8; 4],
        payload_type: u8,
        timestamp: u32,
        marker: bool,
    },
    /// Nothing this slot (an event is on and no new event packet came).
    Nothing,
}

/// A received telephone-event packet waiting for a slot.
#[derive(Clone, Copy, Debug)]
struct PendingEvent {
    payload: [u8; 4],
    /// The first packet of a new event.
    starts: bool,
}

/// The event being relayed.
#[derive(Clone, Copy, Debug)]
struct ActiveEvent {
    /// Its timestamp on the incoming leg (identifies it: RFC 4733 §2.5.1.2).
    incoming_ts: u32,
    /// Its start timestamp on the outgoing stream, once its first packet went out.
    outgoing_ts: Option<u32>,
    ended: bool,
    idle_slots: u32,
}

/// Counters for logs and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RelayStats {
    /// Audio samples accepted.
    pub samples_in: u64,
    /// Packets dropped as late or duplicate.
    pub late: u64,
    /// Silence samples inserted for lost packets.
    pub concealed: u64,
    /// Samples dropped because the buffer grew too deep.
    pub overflowed: u64,
    /// Slots played as silence because the buffer ran dry.
    pub underruns: u64,
    /// Telephone-event packets relayed.
    pub events: u64,
}

/// One direction of a bridge: the jitter buffer feeding one leg's outgoing stream.
#[derive(Clone, Debug)]
pub struct RelayQueue {
    /// The outgoing leg's law and telephone-event payload type.
    law: Law,
    dtmf_payload_type: Option<u8>,
    audio: VecDeque<u8>,
    priming: bool,
    /// The incoming source and the timestamp its next packet should carry.
    expect: Option<(Ssrc, u32)>,
    pending: VecDeque<PendingEvent>,
    event: Option<ActiveEvent>,
    stats: RelayStats,
}

impl Default for RelayQueue {
    fn default() -> Self {
        RelayQueue::new(Law::Ulaw, None)
    }
}

impl RelayQueue {
    /// A queue feeding a leg that receives `law` and `telephone-event` as `dtmf_payload_type`.
    pub fn new(law: Law, dtmf_payload_type: Option<u8>) -> RelayQueue {
        RelayQueue {
            law,
            dtmf_payload_type,
            audio: VecDeque::new(),
            priming: true,
            expect: None,
            pending: VecDeque::new(),
            event: None,
            stats: RelayStats::default(),
        }
    }

    /// The outgoing leg re-negotiated. Audio already buffered was encoded for the old law:
    /// it is re-encoded so nothing buffered is lost.
    pub fn set_output(&mut self, law: Law, dtmf_payload_type: Option<u8>) {
        if law != self.law {
            let old = self.law;
            for code in self.audio.iter_mut() {
                *code = old.transcode(law, *code);
            }
            self.law = law;
        }
        if dtmf_payload_type.is_none() {
            self.pending.clear();
            self.event = None;
        }
        self.dtmf_payload_type = dtmf_payload_type;
    }

    pub fn stats(&self) -> RelayStats {
        self.stats
    }

    /// Samples buffered.
    pub fn depth(&self) -> usize {
        self.audio.len()
    }

    /// One received audio packet of source `ssrc` with timestamp `ts`, encoded in `law`.
    pub fn push_audio(&mut self, ssrc: Ssrc, ts: u32, law: Law, payload: &[u8]) {
        if let Some((source, next)) = self.expect {
            if source == ssrc {
                // Serial-number arithmetic (RFC 3550 §A.1 does the same for sequence numbers).
                let ahead = ts.wrapping_sub(next) as i32;
                if ahead < 0 {
                    self.stats.late += 1;
                    return;
                }
                let gap = ahead as u32;
                if gap > 0 && gap <= MAX_CONCEAL {
                    let silence = self.law.silence();
                    self.audio
                        .extend(std::iter::repeat_n(silence, gap as usize));
                    self.stats.concealed += u64::from(gap);
                }
            }
        }
        self.expect = Some((ssrc, ts.wrapping_add(payload.len() as u32)));
        if self.event_on() {
            // Audio during an event is not played (see the module doc).
            return;
        }
        self.audio
            .extend(payload.iter().map(|&c| law.transcode(self.law, c)));
        self.stats.samples_in += payload.len() as u64;
        if let Some(extra) = self.audio.len().checked_sub(HARD_CAP) {
            self.audio.drain(..extra);
            self.stats.overflowed += extra as u64;
        }
    }

    /// One received telephone-event packet (RFC 4733) with RTP timestamp `ts`.
    pub fn push_event(&mut self, ts: u32, payload: &[u8]) {
        if self.dtmf_payload_type.is_none() {
            return;
        }
        let Ok(event) = TelephoneEvent::parse(payload) else {
            return;
        };
        let Some(raw) = payload.first_chunk::<4>() else {
            return;
        };
        let starts = match &self.event {
            Some(active) if active.incoming_ts == ts => {
                if active.ended && !event.end {
                    // A late update of an event that has ended: stale.
                    return;
                }
                // An update, or the end's retransmissions (§2.5.1.4): relayed as they come.
                false
            }
            _ => {
                // §2.5.1.2: a new timestamp is a new event. Whatever was on has ended.
                self.pending.clear();
                self.event = Some(ActiveEvent {
                    incoming_ts: ts,
                    outgoing_ts: None,
                    ended: false,
                    idle_slots: 0,
                });
                // Audio buffered before the tone would now play after it: drop it.
                self.audio.clear();
                self.priming = true;
                true
            }
        };
        if let Some(active) = &mut self.event {
            active.ended |= event.end;
        }
        self.pending.push_back(PendingEvent {
            payload: *raw,
            starts,
        });
    }

    /// Fills the next packet slot. `payload` is the slot's audio payload (its length is the
    /// packet's sample count); `timestamp` is the stream's timestamp for this slot.
    pub fn fill(&mut self, timestamp: u32, payload: &mut [u8]) -> Fill {
        let silence = self.law.silence();
        if let Some(fill) = self.next_event(timestamp, payload.len()) {
            return fill;
        }
        let needed = payload.len();
        if self.priming {
            if self.audio.len() >= needed + JITTER_MARGIN {
                self.priming = false;
            } else {
                payload.fill(silence);
                return Fill::Audio;
            }
        }
        let extra = self.audio.len().saturating_sub(needed + JITTER_MARGIN);
        if extra > MAX_EXTRA {
            // Too deep: drop the oldest so the delay comes back to the priming depth.
            self.audio.drain(..extra);
            self.stats.overflowed += extra as u64;
        }
        let n = needed.min(self.audio.len());
        for (out, code) in payload.iter_mut().zip(self.audio.drain(..n)) {
            *out = code;
        }
        if n < needed {
            payload[n..].fill(silence);
            self.priming = true;
            self.stats.underruns += 1;
        }
        Fill::Audio
    }

    /// The pacer skipped `samples` worth of slots (after a stall): their audio is dropped.
    pub fn skip(&mut self, samples: usize) {
        let n = samples.min(self.audio.len());
        self.audio.drain(..n);
    }

    /// Whether an event is on (begun, its end not seen): audio is held back meanwhile.
    fn event_on(&self) -> bool {
        self.event.is_some_and(|e| !e.ended)
    }

    /// The event slot: the next event packet if one is waiting, nothing while an event is on
    /// without news, `None` for audio.
    fn next_event(&mut self, timestamp: u32, samples: usize) -> Option<Fill> {
        let payload_type = self.dtmf_payload_type?;
        let active = self.event.as_mut()?;
        let Some(next) = self.pending.pop_front() else {
            if active.ended {
                return None;
            }
            active.idle_slots += 1;
            if active.idle_slots > EVENT_STALE_SLOTS {
                active.ended = true;
                return None;
            }
            return Some(Fill::Nothing);
        };
        active.idle_slots = 0;
        let start = *active.outgoing_ts.get_or_insert(timestamp);
        // The slot's audio time passes with the event packet.
        let n = samples.min(self.audio.len());
        self.audio.drain(..n);
        self.stats.events += 1;
        Some(Fill::Event {
            payload: next.payload,
            payload_type,
            timestamp: start,
            marker: next.starts,
        })
    }
}

/// The receive side of one bridged leg: where its media goes and how to read it.
#[derive(Clone, Debug)]
pub struct Tap {
    /// The other leg's queue.
    pub to: RelayBuffer,
    /// This leg's negotiated audio payload type and law, and its telephone-event type.
    pub payload_type: u8,
    pub law: Law,
    pub dtmf_payload_type: Option<u8>,
}

impl Tap {
    /// Relays one RTP datagram this leg received (already accepted from its latched source).
    pub fn relay(&self, datagram: &[u8]) {
        let Ok(p) = packet::parse(datagram) else {
            return;
        };
        if p.payload_type == self.payload_type {
            self.to
                .lock()
                .push_audio(p.ssrc, p.timestamp, self.law, p.payload);
        } else if Some(p.payload_type) == self.dtmf_payload_type {
            self.to.lock().push_event(p.timestamp, p.payload);
        }
    }
}

#[cfg(test)]
mod tests {
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
}
