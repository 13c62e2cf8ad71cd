//! Per-call receive state: what the caller's RTP and RTCP tell us.
//!
//! - **Strict symmetric RTP** ([`super::latch`]): RTP is accepted from the address the SDP
//!   signalled, or, for a peer behind NAT, from another source once it has sent a run of
//!   in-sequence packets before the signalled address sent anything. Everything else is
//!   dropped and counted: a sprayed packet neither steals the stream (RTP bleed) nor keeps
//!   the call alive. RTCP is accepted from the signalled RTCP address, or, when RTP latched
//!   a NAT source, from that source's IP address, and latches there. A new SDP address
//!   starts over ([`Inbound::signal`]).
//! - **Proof of the peer** ([`Received::proved`]): the first accepted packet shows the peer
//!   is at that address, which lifts the bound on media sent to an unproven peer.
//! - **RTP timeout**: the time of the last packet (RTP or RTCP: both prove the peer is there),
//!   and a deadline `last + timeout` — none while the negotiated direction says we do not
//!   receive (`inactive`/`sendonly` on our side), and restarted when receiving starts again.
//! - **Statistics** for our RTCP reception report: sequence tracking with cycle count and the
//!   §A.1 handling of large jumps (without the `MIN_SEQUENTIAL` probation: the peer is
//!   known from SDP), cumulative and fractional loss (§A.3), interarrival jitter (§A.8) over
//!   audio packets only (telephone-event timestamps mark an event's start, not its samples),
//!   and the last SR received, for LSR/DLSR (§6.4.1).
//! - **DTMF** through [`DtmfDetector`].
//!
//! Not done: collision detection of SSRCs (§8.2) — a new SSRC simply restarts the statistics.

use std::net::SocketAddr;
use std::time::Duration;

use super::dtmf::{DtmfDetector, DtmfPress};
use super::latch::{Latch, LatchCounters, Verdict};
use super::packet::{self, Ssrc};
use super::rtcp::{self, ReportBlock, RtcpPacket};
use super::stream::samples_in;
use crate::time::Time;

/// §A.1: a forward jump below this is packets lost; above it (and not a recent one) a restart.
const MAX_DROPOUT: u16 = 3000;
/// §A.1: a backward step within this is a late or duplicated packet.
const MAX_MISORDER: u16 = 100;

/// Receive settings from `[rtp]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InboundConfig {
    /// Latch the destination onto the caller's source address.
    pub symmetric: bool,
    /// Hang up after this long without media; `None`: never.
    pub timeout: Option<Duration>,
    /// In-sequence packets that latch a source other than the SDP address (NAT).
    pub latch_packets: u16,
}

/// The default of `[rtp] latch_packets`: as many as Asterisk's strict-RTP probation.
pub const DEFAULT_LATCH_PACKETS: u16 = 4;

impl Default for InboundConfig {
    fn default() -> Self {
        InboundConfig {
            symmetric: true,
            timeout: Some(Duration::from_secs(60)),
            latch_packets: DEFAULT_LATCH_PACKETS,
        }
    }
}

/// What the negotiation says we receive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expect {
    pub payload_type: u8,
    pub dtmf_payload_type: Option<u8>,
    /// The negotiated direction lets the caller send to us.
    pub receiving: bool,
}

/// What one received RTP datagram did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Received {
    /// It was valid RTP from an acceptable source.
    pub accepted: bool,
    /// It latched (symmetric RTP): send there from now on.
    pub latched: Option<SocketAddr>,
    /// It was dropped for its source (strict RTP): counted.
    pub foreign: bool,
    /// The first packet accepted from the peer: it is where the SDP (or the latch) says.
    pub proved: bool,
    pub dtmf: Option<DtmfPress>,
}

/// Per-call receive state.
#[derive(Clone, Debug)]
pub struct Inbound {
    config: InboundConfig,
    expect: Expect,
    latch: Latch,
    rtcp_signalled: Option<SocketAddr>,
    rtcp_source: Option<SocketAddr>,
    proven: bool,
    last_packet: Time,
    stats: Option<SourceStats>,
    dtmf: DtmfDetector,
    /// Middle NTP bits of the last SR and when it came.
    last_sr: Option<(u32, Time)>,
}

impl Inbound {
    pub fn new(now: Time, config: InboundConfig, expect: Expect) -> Inbound {
        Inbound {
            config,
            expect,
            latch: Latch::new(config.symmetric.then_some(config.latch_packets)),
            rtcp_signalled: None,
            rtcp_source: None,
            proven: false,
            last_packet: now,
            stats: None,
            dtmf: DtmfDetector::new(),
            last_sr: None,
        }
    }

    /// A new negotiation. The timeout restarts: the peer just proved it is alive.
    pub fn set_expect(&mut self, now: Time, expect: Expect) {
        self.expect = expect;
        self.last_packet = now;
    }

    /// The addresses the SDP signalled (`None` keeps the last: a hold with `c=0.0.0.0`). A new
    /// RTP address starts the latch over. Returns whether it did, so the sender forgets the
    /// old latch too.
    pub fn signal(&mut self, rtp: Option<SocketAddr>, rtcp: Option<SocketAddr>) -> bool {
        let reset = self.latch.signal(rtp);
        if rtcp.is_some() {
            self.rtcp_signalled = rtcp;
        }
        if reset {
            self.rtcp_source = None;
        }
        reset
    }

    /// Forgets the latched addresses (the peer moved: a re-INVITE with a new address).
    pub fn reset_latch(&mut self) {
        self.latch.reset();
        self.rtcp_source = None;
    }

    /// Feeds one datagram received on the RTP port.
    pub fn on_rtp(&mut self, now: Time, from: SocketAddr, bytes: &[u8]) -> Received {
        let mut out = Received::default();
        let Ok(p) = packet::parse(bytes) else {
            return out;
        };
        let is_audio = p.payload_type == self.expect.payload_type;
        let is_dtmf = Some(p.payload_type) == self.expect.dtmf_payload_type;
        if is_audio || is_dtmf {
            match self.latch.on_packet(from, p.ssrc, p.sequence) {
                Verdict::Accept => {}
                Verdict::Latched(addr) => out.latched = Some(addr),
                Verdict::Probation | Verdict::Foreign => {
                    out.foreign = true;
                    return out;
                }
            }
        } else if !self.latch.is_source(from) && Some(from) != self.latch.signalled() {
            // An unknown payload type (comfort noise, say) latches nothing; from the latched
            // source or the signalled address it counts, from anywhere else it is dropped.
            self.latch.count_foreign();
            out.foreign = true;
            return out;
        }
        out.proved = !std::mem::replace(&mut self.proven, true);
        out.accepted = true;
        self.last_packet = now;
        let stats = match &mut self.stats {
            Some(s) if s.ssrc == p.ssrc => s,
            _ => {
                self.dtmf.reset();
                self.stats.insert(SourceStats::new(p.ssrc, p.sequence))
            }
        };
        stats.update_seq(p.sequence);
        if is_audio {
            stats.update_jitter(samples_in(now.since_epoch()), p.timestamp);
        } else if is_dtmf {
            out.dtmf = self.dtmf.on_packet(p.timestamp, p.payload);
        }
        out
    }

    /// Feeds one datagram received on the RTCP port. Returns the address to latch RTCP onto.
    pub fn on_rtcp(&mut self, now: Time, from: SocketAddr, bytes: &[u8]) -> Option<SocketAddr> {
        // Strict RTP for RTCP: the signalled RTCP address always counts (and wins the latch
        // back); otherwise the latched RTCP source, or, only when RTP itself had to latch a
        // NAT source (symmetric RTP), the first RTCP from that source's IP address. A peer
        // that sends RTP from its SDP address sends RTCP from its SDP RTCP address too.
        let signalled = Some(from) == self.rtcp_signalled;
        let nat = self.config.symmetric
            && self.rtcp_source.is_none()
            && self
                .latch
                .source()
                .is_some_and(|s| Some(s) != self.latch.signalled() && s.ip() == from.ip());
        if !(signalled || nat || self.rtcp_source == Some(from)) {
            self.latch.count_foreign();
            return None;
        }
        let mut valid = false;
        for packet in rtcp::packets(bytes) {
            match packet {
                Ok(RtcpPacket::SenderReport { info, .. }) => {
                    self.last_sr = Some((info.ntp.middle(), now));
                    valid = true;
                }
                Ok(_) => valid = true,
                Err(_) => break,
            }
        }
        if !valid {
            return None;
        }
        self.last_packet = now;
        if self.config.symmetric && self.rtcp_source != Some(from) {
            self.rtcp_source = Some(from);
            return Some(from);
        }
        None
    }

    /// When the call is to be hung up for lack of media, if ever.
    pub fn timeout_at(&self) -> Option<Time> {
        if !self.expect.receiving {
            return None;
        }
        self.config.timeout.map(|t| self.last_packet + t)
    }

    pub fn timed_out(&self, now: Time) -> bool {
        self.timeout_at().is_some_and(|at| now >= at)
    }

    pub fn rtp_source(&self) -> Option<SocketAddr> {
        self.latch.source()
    }

    /// What strict RTP dropped and latched so far.
    pub fn latch_counters(&self) -> LatchCounters {
        self.latch.counters()
    }

    pub fn rtcp_source(&self) -> Option<SocketAddr> {
        self.rtcp_source
    }

    /// The reception report block for our next RTCP packet (§6.4.1), if we hear anyone.
    /// Each call starts a new interval for the fraction lost.
    pub fn report_block(&mut self, now: Time) -> Option<ReportBlock> {
        let (last_sr, delay) = match self.last_sr {
            // DLSR is in units of 1/65536 s.
            Some((mid, at)) => (mid, ((now - at).as_micros() * 65536 / 1_000_000) as u32),
            None => (0, 0),
        };
        let s = self.stats.as_mut()?;
        Some(s.block(last_sr, delay))
    }

    /// Packets received and lost so far (for logs and tests).
    pub fn counts(&self) -> (u32, i64) {
        self.stats
            .as_ref()
            .map_or((0, 0), |s| (s.received, s.lost()))
    }

    /// The §A.8 interarrival jitter estimate, in timestamp units.
    pub fn jitter(&self) -> u32 {
        self.stats.as_ref().map_or(0, |s| s.jitter_q4 >> 4)
    }
}

/// §A.1/§A.3/§A.8 state for one SSRC.
#[derive(Clone, Debug)]
struct SourceStats {
    ssrc: Ssrc,
    base_seq: u32,
    max_seq: u16,
    cycles: u32,
    bad_seq: Option<u16>,
    received: u32,
    expected_prior: u32,
    received_prior: u32,
    transit: Option<i32>,
    /// Jitter × 16, as in §A.8's integer version.
    jitter_q4: u32,
}

impl SourceStats {
    fn new(ssrc: Ssrc, seq: u16) -> SourceStats {
        SourceStats {
            ssrc,
            base_seq: u32::from(seq),
            max_seq: seq,
            cycles: 0,
            bad_seq: None,
            received: 0,
            expected_prior: 0,
            received_prior: 0,
            transit: None,
            jitter_q4: 0,
        }
    }

    /// §A.1 `update_seq`, without probation.
    fn update_seq(&mut self, seq: u16) {
        let udelta = seq.wrapping_sub(self.max_seq);
        if udelta < MAX_DROPOUT {
            if seq < self.max_seq {
                self.cycles = self.cycles.wrapping_add(1 << 16);
            }
            self.max_seq = seq;
        } else if udelta <= u16::MAX - MAX_MISORDER {
            // A very large jump: the sender restarted. Believe it when the next packet follows.
            if self.bad_seq == Some(seq) {
                *self = SourceStats::new(self.ssrc, seq);
            } else {
                self.bad_seq = Some(seq.wrapping_add(1));
                return;
            }
        }
        // else: a duplicate or late packet, counted as received (§A.3 allows negative loss).
        self.received = self.received.wrapping_add(1);
    }

    /// §A.8: `arrival` and `timestamp` in the same 8 kHz units.
    fn update_jitter(&mut self, arrival: u32, timestamp: u32) {
        let transit = arrival.wrapping_sub(timestamp) as i32;
        if let Some(last) = self.transit {
            let d = transit.wrapping_sub(last).unsigned_abs();
            // jitter += (|D| - jitter) / 16, on jitter × 16.
            self.jitter_q4 = self
                .jitter_q4
                .wrapping_add(d)
                .wrapping_sub((self.jitter_q4 + 8) >> 4);
        }
        self.transit = Some(transit);
    }

    fn extended_max(&self) -> u32 {
        self.cycles.wrapping_add(u32::from(self.max_seq))
    }

    fn expected(&self) -> u32 {
        self.extended_max()
            .wrapping_sub(self.base_seq)
            .wrapping_add(1)
    }

    fn lost(&self) -> i64 {
        i64::from(self.expected()) - i64::from(self.received)
    }

    fn block(&mut self, last_sr: u32, delay_since_last_sr: u32) -> ReportBlock {
        let expected = self.expected();
        let expected_interval = expected.wrapping_sub(self.expected_prior);
        let received_interval = self.received.wrapping_sub(self.received_prior);
        self.expected_prior = expected;
        self.received_prior = self.received;
        let lost_interval = i64::from(expected_interval) - i64::from(received_interval);
        let fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / i64::from(expected_interval)).min(255) as u8
        };
        ReportBlock {
            ssrc: self.ssrc,
            fraction_lost,
            cumulative_lost: self.lost().clamp(-0x80_0000, 0x7f_ffff) as i32,
            extended_highest_seq: self.extended_max(),
            jitter: self.jitter_q4 >> 4,
            last_sr,
            delay_since_last_sr,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::packet::{RtpHeader, HEADER_LEN};
    use super::super::rtcp::{NtpTime, Report, SenderInfo};
    use super::*;

    const PCMU: Expect = Expect {
        payload_type: 0,
        dtmf_payload_type: Some(101),
        receiving: true,
    };

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([192, 0, 2, 7], port))
    }

    fn rtp(pt: u8, seq: u16, ts: u32, payload: &[u8]) -> Vec<u8> {
        let mut buf = vec![0u8; HEADER_LEN];
        RtpHeader {
            marker: false,
            payload_type: pt,
            sequence: seq,
            timestamp: ts,
            ssrc: Ssrc(0x1234),
        }
        .write((&mut buf[..HEADER_LEN]).try_into().unwrap());
        buf.extend_from_slice(payload);
        buf
    }

    /// Receive state whose SDP signalled addr(3) for RTP and addr(4) for RTCP.
    fn inbound(symmetric: bool) -> Inbound {
        let config = InboundConfig {
            symmetric,
            timeout: Some(Duration::from_secs(60)),
            latch_packets: 3,
        };
        let mut i = Inbound::new(Time::ZERO, config, PCMU);
        assert!(i.signal(Some(addr(3)), Some(addr(4))));
        i
    }

    #[test]
    fn the_signalled_address_latches_and_a_spray_is_dropped_and_counted() {
        let mut i = inbound(true);
        // Garbage is not RTP at all; an unnegotiated payload type from elsewhere is foreign.
        assert_eq!(i.on_rtp(Time::ZERO, addr(1), b"junk"), Received::default());
        let unknown = i.on_rtp(Time::ZERO, addr(2), &rtp(18, 1, 0, &[0; 20]));
        assert!(!unknown.accepted && unknown.foreign);
        // Comfort noise (RFC 3389) from the signalled address counts: the peer is there.
        let mut quiet = inbound(true);
        let cn = quiet.on_rtp(Time::from_millis(1), addr(3), &rtp(13, 1, 0, &[40]));
        assert!(cn.accepted && cn.proved && cn.latched.is_none());
        assert!(!quiet.timed_out(Time::from_millis(60_000)));
        // A sprayed packet before the caller's first: dropped, no latch, no proof, no life.
        let spray = i.on_rtp(Time::from_millis(59_000), addr(9), &rtp(0, 7, 0, &[0; 160]));
        assert!(!spray.accepted && spray.foreign && spray.latched.is_none() && !spray.proved);
        assert!(i.timed_out(Time::from_millis(60_000)));
        let got = i.on_rtp(Time::ZERO, addr(3), &rtp(0, 2, 160, &[0; 160]));
        assert_eq!(got.latched, Some(addr(3)));
        assert!(got.accepted && got.proved);
        // Later packets from elsewhere neither re-latch nor count, however well in sequence.
        for seq in 3..10 {
            let other = i.on_rtp(Time::ZERO, addr(9), &rtp(0, seq, 320, &[0; 160]));
            assert!(!other.accepted && other.foreign && other.latched.is_none());
        }
        let same = i.on_rtp(Time::ZERO, addr(3), &rtp(0, 3, 320, &[0; 160]));
        assert!(same.accepted && same.latched.is_none() && !same.proved);
        assert_eq!(i.rtp_source(), Some(addr(3)));
        assert_eq!(i.latch_counters().dropped_foreign, 9);
        assert_eq!(
            i.counts().0,
            2,
            "only the caller's packets are in the statistics"
        );
        // RTCP: the caller sends RTP from its SDP address, so only its SDP RTCP address
        // counts, not any other port of the same host.
        let rr = [0x80, 201, 0, 1, 0, 0, 0, 1];
        assert_eq!(i.on_rtcp(Time::ZERO, addr(9), &rr), None);
        assert_eq!(i.on_rtcp(Time::ZERO, addr(4), &rr), Some(addr(4)));
        assert_eq!(i.latch_counters().dropped_foreign, 10);
        // A re-INVITE to a new address: evaluated afresh, the new address latches.
        assert!(i.signal(Some(addr(5)), None));
        assert_eq!(
            i.on_rtp(Time::ZERO, addr(5), &rtp(101, 4, 480, &[1, 0, 0, 160]))
                .latched,
            Some(addr(5))
        );
    }

    #[test]
    fn a_nat_source_latches_after_its_probation_run() {
        let mut i = inbound(true);
        let nat = addr(40000);
        for seq in 1..3 {
            let r = i.on_rtp(Time::ZERO, nat, &rtp(0, seq, 0, &[0; 160]));
            assert!(!r.accepted && r.foreign);
        }
        let r = i.on_rtp(Time::ZERO, nat, &rtp(0, 3, 0, &[0; 160]));
        assert!(r.accepted && r.proved && r.latched == Some(nat));
        // RTCP from the NAT'd IP address is accepted and latches; from another IP it is not.
        let rr = [0x80, 201, 0, 1, 0, 0, 0, 1];
        let foreign = SocketAddr::from(([203, 0, 113, 9], 40001));
        assert_eq!(i.on_rtcp(Time::ZERO, foreign, &rr), None);
        assert_eq!(i.on_rtcp(Time::ZERO, addr(40001), &rr), Some(addr(40001)));
        assert_eq!(i.latch_counters().nat_latches, 1);
        assert_eq!(i.latch_counters().dropped_foreign, 3);
    }

    #[test]
    fn without_symmetric_only_the_signalled_address_counts() {
        let mut i = inbound(false);
        for seq in 1..10 {
            assert!(
                !i.on_rtp(Time::ZERO, addr(9), &rtp(0, seq, 320, &[0; 160]))
                    .accepted
            );
        }
        let got = i.on_rtp(Time::ZERO, addr(3), &rtp(0, 2, 160, &[0; 160]));
        assert!(got.accepted);
    }

    #[test]
    fn rtp_timeout_fires_after_silence_and_restarts_on_packets() {
        let mut i = inbound(true);
        assert_eq!(i.timeout_at(), Some(Time::from_millis(60_000)));
        i.on_rtp(Time::from_millis(30_000), addr(3), &rtp(0, 1, 0, &[0; 160]));
        assert!(!i.timed_out(Time::from_millis(60_000)));
        assert!(i.timed_out(Time::from_millis(90_000)));
    }

    #[test]
    fn rtp_timeout_off_while_inactive() {
        let mut i = inbound(true);
        i.set_expect(
            Time::from_millis(1000),
            Expect {
                receiving: false,
                ..PCMU
            },
        );
        assert_eq!(i.timeout_at(), None);
        assert!(!i.timed_out(Time::from_millis(3_600_000)));
        // Resuming gives the caller a full timeout from then.
        i.set_expect(Time::from_millis(3_600_000), PCMU);
        assert_eq!(i.timeout_at(), Some(Time::from_millis(3_660_000)));
    }

    #[test]
    fn rtcp_counts_as_life_and_its_sr_feeds_lsr() {
        let mut i = inbound(true);
        i.on_rtp(Time::ZERO, addr(3), &rtp(0, 1, 0, &[0; 160]));
        let mut sr = Vec::new();
        let ntp = NtpTime::from_unix(Duration::from_secs(1_700_000_000));
        Report {
            ssrc: Ssrc(0x1234),
            sender: Some(SenderInfo {
                ntp,
                rtp_timestamp: 0,
                packet_count: 1,
                octet_count: 160,
            }),
            block: None,
            cname: "peer",
            bye: false,
        }
        .write(&mut sr);
        assert_eq!(
            i.on_rtcp(Time::from_millis(50_000), addr(4), &sr),
            Some(addr(4))
        );
        assert_eq!(i.on_rtcp(Time::from_millis(50_000), addr(5), &sr), None);
        assert!(!i.timed_out(Time::from_millis(100_000)));
        let block = i.report_block(Time::from_millis(50_500)).unwrap();
        assert_eq!(block.last_sr, ntp.middle());
        assert_eq!(block.delay_since_last_sr, 32768);
        assert_eq!(i.on_rtcp(Time::from_millis(1), addr(4), b"bad"), None);
    }

    #[test]
    fn loss_and_jitter_follow_appendix_a() {
        let mut i = inbound(true);
        // 10 packets, every 20 ms, seq 65530.. wrapping; #3 and #4 lost; arrival jitter ±1 ms.
        for k in 0u16..10 {
            if k == 3 || k == 4 {
                continue;
            }
            let wobble = if k % 2 == 0 { 1 } else { 0 };
            let now = Time::from_millis(u64::from(k) * 20 + wobble);
            i.on_rtp(
                now,
                addr(3),
                &rtp(0, 65530u16.wrapping_add(k), u32::from(k) * 160, &[0; 160]),
            );
        }
        assert_eq!(i.counts(), (8, 2));
        let block = i.report_block(Time::from_millis(200)).unwrap();
        assert_eq!(block.extended_highest_seq, 65536 + 3);
        assert_eq!(block.cumulative_lost, 2);
        assert_eq!(block.fraction_lost, (2 * 256 / 10) as u8);
        assert!(block.jitter > 0 && block.jitter <= 8, "{}", block.jitter);
        // A new interval with no loss reports fraction 0.
        i.on_rtp(Time::from_millis(220), addr(3), &rtp(0, 4, 1760, &[0; 160]));
        assert_eq!(
            i.report_block(Time::from_millis(220))
                .unwrap()
                .fraction_lost,
            0
        );
    }

    #[test]
    fn dtmf_from_the_negotiated_payload_type_is_reported_once() {
        let mut i = inbound(true);
        let start = rtp(101, 1, 8000, &[11, 10, 0, 160]);
        let end = rtp(101, 2, 8000, &[11, 0x8a, 3, 0x20]);
        assert_eq!(
            i.on_rtp(Time::ZERO, addr(3), &start).dtmf.map(|d| d.digit),
            Some('#')
        );
        for _ in 0..3 {
            assert_eq!(i.on_rtp(Time::ZERO, addr(3), &end).dtmf, None);
        }
    }
}
