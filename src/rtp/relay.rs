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
mod tests;
