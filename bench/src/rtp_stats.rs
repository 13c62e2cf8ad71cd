//! RTP receive statistics for one stream and for a whole run: loss from sequence numbers with
//! wraparound (RFC 3550 §6.4.1 and Appendix A.1/A.3), duplicates and reordering, the
//! interarrival jitter estimator of Appendix A.8, inter-arrival times and their deviation from
//! ptime, and sequence / timestamp continuity.
//!
//! Pure code: each packet comes with its arrival time in microseconds from the run's epoch, so
//! every figure is reproducible in a unit test. Only the 12-byte fixed header (RFC 3550 §5.1)
//! is read; CSRCs, extensions and padding are skipped over. RTCP is not parsed, and a stream is
//! assumed to use an 8 kHz clock (G.711 and telephone-event, RFC 3551 §4.5.14, RFC 4733).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::histogram::{Histogram, Summary};

/// A forward jump of this many sequence numbers or more is a restart, not loss (A.1).
const MAX_DROPOUT: u16 = 3000;
/// A step back of up to this many is a late (reordered) packet (A.1).
const MAX_MISORDER: u16 = 100;
/// How many sequence numbers behind the highest we remember, to tell duplicates from late ones.
const WINDOW: u64 = 128;
/// RTP clock rate of G.711 and telephone-event (RFC 3551 §4.5.14).
const CLOCK_HZ: u64 = 8000;
/// RFC 4733 telephone-event, whose timestamp stays on the event's start.
const TELEPHONE_EVENT: u8 = 101;

/// The fixed RTP header fields (RFC 3550 §5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtpHeader {
    pub marker: bool,
    pub payload_type: u8,
    pub seq: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    /// Payload bytes after the header, CSRCs, extension and padding.
    pub payload_len: usize,
}

/// Why a datagram is not an RTP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RtpHeaderError {
    #[error("{len} bytes is shorter than the header it announces")]
    Truncated { len: usize },
    #[error("RTP version {version}, expected 2")]
    BadVersion { version: u8 },
    #[error("padding count {count} exceeds the {available} bytes after the header")]
    BadPadding { count: usize, available: usize },
}

impl RtpHeader {
    pub fn parse(b: &[u8]) -> Result<RtpHeader, RtpHeaderError> {
        let truncated = RtpHeaderError::Truncated { len: b.len() };
        let fixed: &[u8; 12] = b
            .get(..12)
            .and_then(|s| s.try_into().ok())
            .ok_or(truncated)?;
        let version = fixed[0] >> 6;
        if version != 2 {
            return Err(RtpHeaderError::BadVersion { version });
        }
        let mut offset = 12 + 4 * usize::from(fixed[0] & 0x0f);
        if fixed[0] & 0x10 != 0 {
            // §5.3.1: a 4-byte extension header whose length counts 32-bit words.
            let ext = b.get(offset..offset + 4).ok_or(truncated)?;
            offset += 4 + 4 * usize::from(u16::from_be_bytes([ext[2], ext[3]]));
        }
        let available = b.len().checked_sub(offset).ok_or(truncated)?;
        let padding = if fixed[0] & 0x20 != 0 {
            usize::from(*b.last().ok_or(truncated)?)
        } else {
            0
        };
        if padding > available {
            return Err(RtpHeaderError::BadPadding {
                count: padding,
                available,
            });
        }
        Ok(RtpHeader {
            marker: fixed[1] & 0x80 != 0,
            payload_type: fixed[1] & 0x7f,
            seq: u16::from_be_bytes([fixed[2], fixed[3]]),
            timestamp: u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]),
            ssrc: u32::from_be_bytes([fixed[8], fixed[9], fixed[10], fixed[11]]),
            payload_len: available - padding,
        })
    }
}

/// Receive state and counters for one RTP stream (one call's RTP port).
#[derive(Clone, Debug)]
pub struct RtpStats {
    ptime_us: u64,
    /// The sequence state of the current SSRC, once a packet has arrived.
    seq: Option<SeqState>,
    /// Expected packets of earlier SSRCs / segments before a restart.
    expected_before: u64,
    last_arrival_us: Option<u64>,
    /// RFC 3550 A.8 state, in timestamp units.
    transit: Option<f64>,
    jitter: f64,
    pub counters: RtpCounters,
    pub inter_arrival: Histogram,
    pub deviation: Histogram,
    pub payload_types: BTreeMap<u8, u64>,
}

#[derive(Clone, Copy, Debug)]
struct SeqState {
    ssrc: u32,
    base: i64,
    max: i64,
    max_seq: u16,
    /// Bit i set: sequence number `max - i` has been received.
    seen: u128,
    last_ts: u32,
    last_pt: u8,
}

/// Packet counts of one stream or of a whole run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RtpCounters {
    /// Distinct packets received (duplicates excluded).
    pub received: u64,
    /// Packets the sequence numbers say were sent (A.3 `expected`).
    pub expected: u64,
    pub duplicates: u64,
    /// Packets that arrived after a higher sequence number.
    pub reordered: u64,
    /// In-order steps that skipped sequence numbers (each gap counts once).
    pub seq_gaps: u64,
    /// Consecutive audio packets whose timestamp step was not ptime's sample count.
    pub ts_jumps: u64,
    /// Sequence restarts: a new SSRC or a jump of `MAX_DROPOUT` or more.
    pub restarts: u64,
    pub markers: u64,
    /// Datagrams that were not RTP.
    pub malformed: u64,
}

impl RtpCounters {
    /// A.3: expected − received, clamped at zero (duplicates are not counted as received).
    pub fn lost(&self) -> u64 {
        self.expected.saturating_sub(self.received)
    }

    fn add(&mut self, o: &RtpCounters) {
        self.received += o.received;
        self.expected += o.expected;
        self.duplicates += o.duplicates;
        self.reordered += o.reordered;
        self.seq_gaps += o.seq_gaps;
        self.ts_jumps += o.ts_jumps;
        self.restarts += o.restarts;
        self.markers += o.markers;
        self.malformed += o.malformed;
    }
}

impl RtpStats {
    /// A stream whose packets should arrive every `ptime_us` microseconds.
    pub fn new(ptime_us: u64) -> RtpStats {
        RtpStats {
            ptime_us,
            seq: None,
            expected_before: 0,
            last_arrival_us: None,
            transit: None,
            jitter: 0.0,
            counters: RtpCounters::default(),
            inter_arrival: Histogram::new(),
            deviation: Histogram::new(),
            payload_types: BTreeMap::new(),
        }
    }

    /// Accounts one datagram that arrived at `arrival_us`.
    pub fn on_datagram(&mut self, arrival_us: u64, bytes: &[u8]) {
        match RtpHeader::parse(bytes) {
            Ok(h) => self.on_packet(arrival_us, &h),
            Err(_) => self.counters.malformed += 1,
        }
    }

    pub fn on_packet(&mut self, arrival_us: u64, h: &RtpHeader) {
        if !self.account_sequence(h) {
            self.counters.duplicates += 1;
            return;
        }
        self.counters.received += 1;
        self.counters.markers += u64::from(h.marker);
        *self.payload_types.entry(h.payload_type).or_insert(0) += 1;
        if let Some(prev) = self.last_arrival_us {
            let delta = arrival_us.saturating_sub(prev);
            self.inter_arrival.record(delta);
            self.deviation.record(delta.abs_diff(self.ptime_us));
        }
        self.last_arrival_us = Some(arrival_us);
        // A.8: transit = arrival (in RTP units) − timestamp; J += (|D| − J) / 16.
        let arrival_units = arrival_us as f64 * CLOCK_HZ as f64 / 1e6;
        let transit = arrival_units - f64::from(h.timestamp);
        if let Some(prev) = self.transit {
            let d = (transit - prev).abs();
            self.jitter += (d - self.jitter) / 16.0;
        }
        self.transit = Some(transit);
    }

    /// Updates the sequence state (A.1); false for a duplicate.
    fn account_sequence(&mut self, h: &RtpHeader) -> bool {
        let Some(s) = self.seq.as_mut().filter(|s| s.ssrc == h.ssrc) else {
            self.restart(h);
            return true;
        };
        let udelta = h.seq.wrapping_sub(s.max_seq);
        if udelta == 0 {
            return false;
        }
        if udelta < MAX_DROPOUT {
            // In order, possibly with a gap; a wrap of the 16-bit number keeps counting up.
            let step = i64::from(udelta);
            s.seen = if step as u64 >= WINDOW {
                1
            } else {
                (s.seen << step) | 1
            };
            if udelta != 1 {
                self.counters.seq_gaps += 1;
            } else {
                let audio = |pt: u8| pt != TELEPHONE_EVENT;
                let samples = (self.ptime_us * CLOCK_HZ / 1_000_000) as u32;
                if audio(h.payload_type)
                    && audio(s.last_pt)
                    && h.timestamp.wrapping_sub(s.last_ts) != samples
                {
                    self.counters.ts_jumps += 1;
                }
            }
            s.max += step;
            s.max_seq = h.seq;
            s.last_ts = h.timestamp;
            s.last_pt = h.payload_type;
            true
        } else if udelta > u16::MAX - MAX_MISORDER {
            // Late: `back` numbers behind the highest seen.
            let back = u64::from(s.max_seq.wrapping_sub(h.seq));
            if back < WINDOW {
                if s.seen & (1u128 << back) != 0 {
                    return false;
                }
                s.seen |= 1u128 << back;
            }
            let ext = s.max - back as i64;
            s.base = s.base.min(ext);
            self.counters.reordered += 1;
            true
        } else {
            // A.1 treats a jump this large as the source restarting its sequence.
            self.restart(h);
            true
        }
    }

    fn restart(&mut self, h: &RtpHeader) {
        if let Some(s) = self.seq {
            self.expected_before += (s.max - s.base + 1) as u64;
            self.counters.restarts += 1;
            if s.ssrc != h.ssrc {
                // A new source: its timestamps have a new random base (§5.1).
                self.transit = None;
            }
        }
        self.seq = Some(SeqState {
            ssrc: h.ssrc,
            base: 0,
            max: 0,
            max_seq: h.seq,
            seen: 1,
            last_ts: h.timestamp,
            last_pt: h.payload_type,
        });
    }

    /// The counters with `expected` filled in.
    pub fn counters(&self) -> RtpCounters {
        let current = self.seq.map_or(0, |s| (s.max - s.base + 1) as u64);
        RtpCounters {
            expected: self.expected_before + current,
            ..self.counters
        }
    }

    /// The A.8 interarrival jitter in milliseconds.
    pub fn jitter_ms(&self) -> f64 {
        self.jitter * 1000.0 / CLOCK_HZ as f64
    }
}

/// A whole run's RTP figures: every stream's packets merged, and jitter across streams.
#[derive(Clone, Debug, Default)]
pub struct RtpTotals {
    pub streams: u64,
    /// Streams that received at least one packet.
    pub streams_with_media: u64,
    pub counters: RtpCounters,
    pub inter_arrival: Histogram,
    pub deviation: Histogram,
    pub payload_types: BTreeMap<u8, u64>,
    jitter_sum_ms: f64,
    jitter_max_ms: f64,
}

/// The RTP part of a report.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RtpSummary {
    pub streams: u64,
    pub streams_with_media: u64,
    #[serde(flatten)]
    pub counters: RtpCounters,
    pub lost: u64,
    pub loss_percent: f64,
    pub inter_arrival: Summary,
    /// |inter-arrival − ptime|.
    pub deviation: Summary,
    /// Mean and max over streams with media of each stream's final A.8 jitter.
    pub jitter_mean_ms: f64,
    pub jitter_max_ms: f64,
    pub payload_types: BTreeMap<u8, u64>,
}

impl RtpTotals {
    pub fn add(&mut self, s: &RtpStats) {
        self.streams += 1;
        let c = s.counters();
        self.counters.add(&c);
        if c.received > 0 {
            self.streams_with_media += 1;
            self.jitter_sum_ms += s.jitter_ms();
            self.jitter_max_ms = self.jitter_max_ms.max(s.jitter_ms());
        }
        self.inter_arrival.merge(&s.inter_arrival);
        self.deviation.merge(&s.deviation);
        for (&pt, &n) in &s.payload_types {
            *self.payload_types.entry(pt).or_insert(0) += n;
        }
    }

    pub fn summary(&self) -> RtpSummary {
        let c = self.counters;
        RtpSummary {
            streams: self.streams,
            streams_with_media: self.streams_with_media,
            counters: c,
            lost: c.lost(),
            loss_percent: if c.expected == 0 {
                0.0
            } else {
                100.0 * c.lost() as f64 / c.expected as f64
            },
            inter_arrival: self.inter_arrival.summary(),
            deviation: self.deviation.summary(),
            jitter_mean_ms: if self.streams_with_media == 0 {
                0.0
            } else {
                self.jitter_sum_ms / self.streams_with_media as f64
            },
            jitter_max_ms: self.jitter_max_ms,
            payload_types: self.payload_types.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(seq: u16, ts: u32) -> RtpHeader {
        RtpHeader {
            marker: false,
            payload_type: 0,
            seq,
            timestamp: ts,
            ssrc: 0x1234,
            payload_len: 160,
        }
    }

    fn feed(seqs: &[u16]) -> RtpStats {
        let mut s = RtpStats::new(20_000);
        for (i, &seq) in seqs.iter().enumerate() {
            s.on_packet(i as u64 * 20_000, &packet(seq, u32::from(seq) * 160));
        }
        s
    }

    #[test]
    fn header_is_parsed_past_csrcs_extension_and_padding() {
        let mut b = vec![0x80 | 0x20 | 0x10 | 0x01, 0x80 | 8, 0xff, 0xfe];
        b.extend_from_slice(&1000u32.to_be_bytes());
        b.extend_from_slice(&0xdead_beefu32.to_be_bytes());
        b.extend_from_slice(&[0; 4]); // one CSRC
        b.extend_from_slice(&[0xbe, 0xde, 0, 1, 0, 0, 0, 0]); // extension of one word
        b.extend_from_slice(&[0x55; 160]);
        b.extend_from_slice(&[0, 0, 3]); // three bytes of padding
        let h = RtpHeader::parse(&b).unwrap();
        assert!(h.marker);
        assert_eq!(h.payload_type, 8);
        assert_eq!(h.seq, 0xfffe);
        assert_eq!(h.timestamp, 1000);
        assert_eq!(h.ssrc, 0xdead_beef);
        assert_eq!(h.payload_len, 160);
    }

    #[test]
    fn short_or_foreign_datagrams_are_rejected_and_counted() {
        assert_eq!(
            RtpHeader::parse(&[0x80; 11]),
            Err(RtpHeaderError::Truncated { len: 11 })
        );
        assert_eq!(
            RtpHeader::parse(&[0x40; 12]),
            Err(RtpHeaderError::BadVersion { version: 1 })
        );
        // An extension header announced but missing.
        assert!(RtpHeader::parse(&[0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
        // Padding longer than the packet.
        let mut p = vec![0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9];
        assert!(RtpHeader::parse(&p).is_err());
        p.truncate(5);
        let mut s = RtpStats::new(20_000);
        s.on_datagram(0, &p);
        s.on_datagram(0, b"");
        assert_eq!(s.counters().malformed, 2);
        assert_eq!(s.counters().received, 0);
    }

    #[test]
    fn loss_counts_across_sequence_wraparound() {
        let s = feed(&[65534, 65535, 0, 2]);
        let c = s.counters();
        assert_eq!(c.expected, 5);
        assert_eq!(c.received, 4);
        assert_eq!(c.lost(), 1);
        assert_eq!(c.seq_gaps, 1);
        assert_eq!(c.restarts, 0);
    }

    #[test]
    fn reordered_packets_are_received_not_lost() {
        let c = feed(&[10, 12, 11, 13]).counters();
        assert_eq!(c.expected, 4);
        assert_eq!(c.received, 4);
        assert_eq!(c.lost(), 0);
        assert_eq!(c.reordered, 1);
    }

    #[test]
    fn late_packet_across_the_wrap_is_reordered() {
        let c = feed(&[65535, 1, 0, 2]).counters();
        assert_eq!((c.expected, c.received, c.reordered), (4, 4, 1));
    }

    #[test]
    fn late_packet_before_the_first_lowers_the_base() {
        let c = feed(&[10, 11, 9]).counters();
        assert_eq!((c.expected, c.received, c.lost()), (3, 3, 0));
    }

    #[test]
    fn duplicates_are_counted_apart_and_do_not_hide_loss() {
        // 11 twice, 12 lost, a late duplicate of 10.
        let c = feed(&[10, 11, 11, 13, 10]).counters();
        assert_eq!(c.duplicates, 2);
        assert_eq!(c.received, 3);
        assert_eq!(c.expected, 4);
        assert_eq!(c.lost(), 1);
    }

    #[test]
    fn large_jump_and_new_ssrc_restart_the_sequence() {
        let mut s = feed(&[100, 101, 102]);
        s.on_packet(100_000, &packet(40_000, 0));
        s.on_packet(120_000, &packet(40_001, 160));
        let mut other = packet(7, 0);
        other.ssrc = 99;
        other.marker = true;
        s.on_packet(140_000, &other);
        let c = s.counters();
        assert_eq!(c.restarts, 2);
        assert_eq!(c.expected, 3 + 2 + 1);
        assert_eq!(c.received, 6);
        assert_eq!(c.markers, 1);
    }

    #[test]
    fn jitter_follows_rfc3550_a8_on_a_worked_example() {
        // ts advances 160 (20 ms at 8 kHz); arrivals at 0, 20, 45, 60 ms.
        // Transit in RTP units: 0, 0, 40, 0 → D = 0, 40, 40.
        // J = 0; J = 0 + (40 − 0)/16 = 2.5; J = 2.5 + (40 − 2.5)/16 = 4.84375 units.
        let mut s = RtpStats::new(20_000);
        for (arrival_ms, ts) in [(0, 0), (20, 160), (45, 320), (60, 480)] {
            s.on_packet(arrival_ms * 1000, &packet((ts / 160) as u16, ts));
        }
        assert!((s.jitter_ms() - 4.84375 / 8.0).abs() < 1e-12);
        // Inter-arrival 20, 25, 15 ms; deviation from ptime 0, 5, 5 ms.
        assert_eq!(s.inter_arrival.summary().max_ms, 25.0);
        assert_eq!(s.inter_arrival.summary().min_ms, 15.0);
        assert_eq!(s.deviation.summary().p50_ms, 5.0);
        assert_eq!(s.deviation.summary().min_ms, 0.0);
    }

    #[test]
    fn perfectly_paced_stream_has_zero_jitter_and_no_discontinuity() {
        let seqs: Vec<u16> = (0..500).collect();
        let s = feed(&seqs);
        assert_eq!(s.jitter_ms(), 0.0);
        let c = s.counters();
        assert_eq!(
            (c.lost(), c.seq_gaps, c.ts_jumps, c.reordered),
            (0, 0, 0, 0)
        );
        assert_eq!(s.inter_arrival.summary().p99_ms, 20.0);
        assert_eq!(s.payload_types.get(&0), Some(&500));
    }

    #[test]
    fn timestamp_step_other_than_ptime_is_a_jump_but_dtmf_is_not() {
        let mut s = RtpStats::new(20_000);
        s.on_packet(0, &packet(1, 160));
        s.on_packet(20_000, &packet(2, 400)); // 240 samples: a jump
        let mut event = packet(3, 400);
        event.payload_type = TELEPHONE_EVENT;
        s.on_packet(40_000, &event);
        s.on_packet(60_000, &packet(4, 720));
        assert_eq!(s.counters().ts_jumps, 1);
    }

    #[test]
    fn totals_merge_streams_and_report_loss_percent() {
        let mut t = RtpTotals::default();
        t.add(&feed(&[1, 2, 3, 5]));
        t.add(&feed(&[1, 2, 3, 4]));
        t.add(&RtpStats::new(20_000));
        let s = t.summary();
        assert_eq!(s.streams, 3);
        assert_eq!(s.streams_with_media, 2);
        assert_eq!(s.counters.received, 8);
        assert_eq!(s.lost, 1);
        assert!((s.loss_percent - 100.0 / 9.0).abs() < 1e-9);
        assert_eq!(s.inter_arrival.count, 6);
    }
}
