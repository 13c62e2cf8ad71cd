//! A pacer shard: many outgoing streams, one schedule, no timer per stream.
//!
//! The runtime runs a few shards (one per core), each ticking every few milliseconds; on each
//! tick [`Pacer::poll`] emits every packet that is due. A stream's packet `n` is due at
//! `epoch + n · ptime`, computed from the epoch each time rather than by adding `ptime` to the
//! previous deadline, so rounding never accumulates into drift (RFC 3550 §5.1: the timestamp
//! follows the sampling clock; a sender that drifts makes the receiver's jitter buffer grow or
//! starve). Due streams sit in a `BTreeSet` keyed by (due time, slot): add, remove and update
//! are O(log n), and a tick costs O(log n) per packet sent.
//!
//! # After a stall
//!
//! If a tick comes late (the shard was descheduled, the machine stalled), a stream may owe many
//! packets. Sending them all at once would flood the receiver's jitter buffer, which would
//! either drop them or grow its delay for good. So at most `max_burst` (default 3) packets are
//! sent back to back: the most recent ones. The older ones are skipped: their time and audio
//! pass (timestamp and playlist cursor advance) but their sequence numbers are not used. The
//! receiver then sees consecutive sequence numbers with a timestamp jump and the marker bit:
//! a silence period (RFC 3551 §4.1), which a jitter buffer plays out as a short gap and
//! resynchronizes on, instead of counting loss and concealing packets that will never come.
//!
//! # Pausing
//!
//! A stream sends only while it is `sending` (the negotiated direction lets us) and has a
//! destination. Otherwise it leaves the schedule; on resume its timestamp jumps by the time
//! spent paused (see [`super::stream`]) and the schedule restarts from that moment.
//!
//! The pacer does no IO: `poll` hands each packet to a callback with the stream's context (the
//! runtime's socket) and its destination.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use super::stream::{samples_in, Format, OutgoingStream, MAX_PACKET_LEN};
use crate::time::Time;

/// One sample at 8 kHz: start times are whole samples.
const SAMPLE_PERIOD: Duration = Duration::from_micros(125);

/// The most packets one stream sends in one poll after a stall.
pub const DEFAULT_MAX_BURST: u32 = 3;

/// A stream's handle in its pacer. Stale handles (of removed streams) match nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId {
    index: u32,
    generation: u32,
}

/// One packet to send.
#[derive(Debug)]
pub struct Outgoing<'a> {
    pub id: StreamId,
    pub dest: SocketAddr,
    pub packet: &'a [u8],
    /// When the packet was due (it goes out at or after this).
    pub due: Time,
}

struct Entry<T> {
    generation: u32,
    stream: OutgoingStream,
    ctx: T,
    dest: Option<SocketAddr>,
    sending: bool,
    /// Packet `n` is due at `epoch + n · ptime`.
    epoch: Time,
    n: u64,
}

impl<T> Entry<T> {
    fn active(&self) -> bool {
        self.sending && self.dest.is_some()
    }

    fn due(&self) -> Time {
        due_at(self.epoch, self.stream.format().ptime(), self.n)
    }
}

fn due_at(epoch: Time, ptime: Duration, n: u64) -> Time {
    let nanos = (ptime.as_nanos() as u64).saturating_mul(n);
    epoch + Duration::from_nanos(nanos)
}

/// The tick with the fewest packets due among those in one packet time from `earliest` (the
/// first of the quietest). Every stream with this packet time has exactly one packet due in
/// that window, so this balances them; other packet times are counted where they fall.
fn quietest_tick(
    schedule: &BTreeSet<(Time, u32)>,
    earliest: Time,
    ptime: Duration,
    grid: Duration,
) -> Time {
    if grid.is_zero() {
        return earliest;
    }
    let ticks = (ptime.as_nanos() / grid.as_nanos()).max(1) as u32;
    let mut best = (usize::MAX, earliest);
    for k in 0..ticks {
        let tick = earliest + grid * k;
        let due = schedule.range((tick, 0)..=(tick, u32::MAX)).count();
        if due < best.0 {
            best = (due, tick);
            if due == 0 {
                break;
            }
        }
    }
    best.1
}

enum Slot<T> {
    Used(Entry<T>),
    Free { generation: u32 },
}

/// A set of outgoing streams on one schedule. `T` is the caller's per-stream context.
pub struct Pacer<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    schedule: BTreeSet<(Time, u32)>,
    max_burst: u64,
    /// Start times are rounded up to multiples of this (zero: no rounding).
    grid: Duration,
    buf: Box<[u8; MAX_PACKET_LEN]>,
    len: usize,
}

impl<T> Default for Pacer<T> {
    fn default() -> Self {
        Pacer::new(DEFAULT_MAX_BURST)
    }
}

impl<T> Pacer<T> {
    /// A pacer that sends at most `max_burst` (≥ 1) packets per stream per poll.
    pub fn new(max_burst: u32) -> Pacer<T> {
        Pacer {
            slots: Vec::new(),
            free: Vec::new(),
            schedule: BTreeSet::new(),
            max_burst: u64::from(max_burst.max(1)),
            grid: Duration::ZERO,
            buf: Box::new([0; MAX_PACKET_LEN]),
            len: 0,
        }
    }

    /// Starts (and resumes) streams only on multiples of `grid` (e.g. the shard's tick of
    /// 2 ms, which divides every packet time). Then every due time lies on the grid, a shard
    /// that wakes at its next deadline wakes at most once per tick, and each stream's packets
    /// see the same wake-up latency every time, so its inter-arrival times stay even.
    ///
    /// Of the ticks in the stream's first packet time, it starts on the one with the fewest
    /// packets due. Rounding up alone would pile streams onto a few ticks whenever calls
    /// arrive in step with the packet time (a load tool placing a call every 5 ms, a burst of
    /// answers): those ticks' batches grow long, the last packets in them leave late, and
    /// any slowdown during a long batch shows in every stream behind it. Spread evenly, each
    /// tick sends `streams × grid / ptime` packets. The first packet waits at most one packet
    /// time, which nobody hears at the start of a call or after a hold.
    pub fn with_grid(mut self, grid: Duration) -> Pacer<T> {
        self.grid = grid;
        self
    }

    /// Rounds a start time up to the grid, then to a whole sample period (125 µs at 8 kHz) so
    /// that the timestamp jump of a resume is exact and rounding never accumulates over holds.
    fn align(&self, t: Time) -> Time {
        let up = |n: u128, step: u128| {
            if step == 0 {
                n
            } else {
                n.div_ceil(step) * step
            }
        };
        let nanos = up(t.since_epoch().as_nanos(), self.grid.as_nanos());
        let nanos = up(nanos, SAMPLE_PERIOD.as_nanos());
        Time::from_epoch(Duration::from_nanos(nanos as u64))
    }

    /// Adds a stream. When it is `sending` with a `dest` its first packet is due within one
    /// packet time of `now`, on the least busy tick (see [`Pacer::with_grid`]).
    pub fn add(
        &mut self,
        now: Time,
        mut stream: OutgoingStream,
        ctx: T,
        dest: Option<SocketAddr>,
        sending: bool,
    ) -> StreamId {
        // Paused from the start: the first resume moves the timestamp by the time waited.
        stream.pause(now);
        let (index, generation) = match self.free.pop() {
            Some(index) => match self.slots.get(index as usize) {
                Some(Slot::Free { generation }) => (index, *generation),
                _ => (index, 0),
            },
            None => (self.slots.len() as u32, 0),
        };
        let entry = Entry {
            generation,
            stream,
            ctx,
            dest,
            sending: false,
            epoch: now,
            n: 0,
        };
        if index as usize == self.slots.len() {
            self.slots.push(Slot::Used(entry));
        } else {
            self.slots[index as usize] = Slot::Used(entry);
        }
        self.len += 1;
        let id = StreamId { index, generation };
        self.set_sending(id, now, sending);
        id
    }

    /// Removes a stream, returning it and its context.
    pub fn remove(&mut self, id: StreamId) -> Option<(OutgoingStream, T)> {
        let entry = self.entry(id)?;
        if entry.active() {
            let due = entry.due();
            self.schedule.remove(&(due, id.index));
        }
        let slot = std::mem::replace(
            &mut self.slots[id.index as usize],
            Slot::Free {
                generation: id.generation.wrapping_add(1),
            },
        );
        self.free.push(id.index);
        self.len -= 1;
        match slot {
            Slot::Used(e) => Some((e.stream, e.ctx)),
            Slot::Free { .. } => None,
        }
    }

    /// Where to send (symmetric RTP latching, a new SDP address; `None`: nowhere).
    pub fn set_dest(&mut self, id: StreamId, now: Time, dest: Option<SocketAddr>) {
        self.update(id, now, |e| e.dest = dest);
    }

    /// Whether we may send (the negotiated direction; false while the peer holds us).
    pub fn set_sending(&mut self, id: StreamId, now: Time, sending: bool) {
        self.update(id, now, |e| e.sending = sending);
    }

    /// A new payload type, law or packet time. The next packet stays due when it was; later
    /// ones follow the new packet time from there.
    pub fn set_format(&mut self, id: StreamId, format: Format) {
        let Some(e) = self.entry_mut(id) else { return };
        e.epoch = e.due();
        e.n = 0;
        e.stream.set_format(format);
    }

    fn update(&mut self, id: StreamId, now: Time, change: impl FnOnce(&mut Entry<T>)) {
        let now = self.align(now);
        let Some(slot) = self.slots.get_mut(id.index as usize) else {
            return;
        };
        let Slot::Used(e) = slot else { return };
        if e.generation != id.generation {
            return;
        }
        let was = e.active();
        change(e);
        match (was, e.active()) {
            (true, false) => {
                let due = e.due();
                self.schedule.remove(&(due, id.index));
                e.stream.pause(due);
            }
            (false, true) => {
                // Never earlier than the packet that was next when we paused: its timestamp
                // belongs to that time.
                let earliest = match e.stream.is_paused() {
                    true => now.max(e.due()),
                    false => now,
                };
                let ptime = e.stream.format().ptime();
                let start = quietest_tick(&self.schedule, earliest, ptime, self.grid);
                e.stream.resume(start);
                e.epoch = start;
                e.n = 0;
                self.schedule.insert((start, id.index));
            }
            _ => {}
        }
    }

    /// Emits every packet due at `now` through `out`; returns how many were sent.
    pub fn poll(&mut self, now: Time, mut out: impl FnMut(&mut T, Outgoing<'_>)) -> usize {
        let mut sent = 0;
        while let Some(&(due, index)) = self.schedule.first() {
            if due > now {
                break;
            }
            self.schedule.pop_first();
            let Some(Slot::Used(e)) = self.slots.get_mut(index as usize) else {
                continue;
            };
            let ptime = e.stream.format().ptime().as_nanos().max(1);
            let owed = (now - due).as_nanos() / ptime + 1;
            let owed = owed as u64;
            if owed > self.max_burst {
                let skip = owed - self.max_burst;
                e.stream.skip(skip);
                e.n += skip;
            }
            let due = e.due();
            if let Ok(len @ 1..) = e.stream.write_packet(&mut self.buf[..]) {
                if let Some(dest) = e.dest {
                    let id = StreamId {
                        index,
                        generation: e.generation,
                    };
                    out(
                        &mut e.ctx,
                        Outgoing {
                            id,
                            dest,
                            packet: &self.buf[..len],
                            due,
                        },
                    );
                    sent += 1;
                }
            }
            e.n += 1;
            self.schedule.insert((e.due(), index));
        }
        sent
    }

    /// When the next packet is due, if any stream is sending.
    pub fn next_deadline(&self) -> Option<Time> {
        self.schedule.first().map(|&(t, _)| t)
    }

    /// The stream's RTP timestamp at `now` (for the RTCP SR, RFC 3550 §6.4.1: the timestamp of
    /// the same instant as the NTP time, not of the last packet).
    pub fn rtp_timestamp_at(&self, id: StreamId, now: Time) -> Option<u32> {
        let e = self.entry(id)?;
        let (ts, at) = (e.stream.timestamp(), e.due());
        Some(if now >= at {
            ts.wrapping_add(samples_in(now - at))
        } else {
            ts.wrapping_sub(samples_in(at - now))
        })
    }

    pub fn stream(&self, id: StreamId) -> Option<&OutgoingStream> {
        self.entry(id).map(|e| &e.stream)
    }

    /// The stream, to change its source. Use [`Pacer::set_format`] for format changes.
    pub fn stream_mut(&mut self, id: StreamId) -> Option<&mut OutgoingStream> {
        self.entry_mut(id).map(|e| &mut e.stream)
    }

    pub fn ctx_mut(&mut self, id: StreamId) -> Option<&mut T> {
        self.entry_mut(id).map(|e| &mut e.ctx)
    }

    /// Whether the stream is on the schedule (sending with a destination).
    pub fn is_active(&self, id: StreamId) -> bool {
        self.entry(id).is_some_and(Entry::active)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn entry(&self, id: StreamId) -> Option<&Entry<T>> {
        match self.slots.get(id.index as usize)? {
            Slot::Used(e) if e.generation == id.generation => Some(e),
            _ => None,
        }
    }

    fn entry_mut(&mut self, id: StreamId) -> Option<&mut Entry<T>> {
        match self.slots.get_mut(id.index as usize)? {
            Slot::Used(e) if e.generation == id.generation => Some(e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
