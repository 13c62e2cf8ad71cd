//! RTCP (RFC 3550 §6): the compound packets holdline sends and a tolerant parser for what the
//! peer sends.
//!
//! We send, per stream, a compound packet every ~5 s (§6.2 minimum interval, randomized to
//! 0.5–1.5× as §6.3.1 asks so that peers do not synchronize): a Sender Report (§6.4.1) while
//! we have sent RTP since the previous report, else a Receiver Report (§6.4.2), each with at
//! most one reception report block for the caller's stream, followed by the SDES CNAME item
//! every compound packet must carry (§6.1, §6.5.1). When the stream stops we send
//! SR/RR + SDES + BYE (§6.6).
//!
//! Wall-clock time is an input (`unix`: the time since 1970), so the NTP timestamp of an SR is
//! reproducible in tests. The parser walks a compound packet and yields SR, RR and BYE
//! contents for statistics; anything malformed ends the walk with an error, never a panic. It
//! does not implement RTCP timer reconsideration (§6.3.6: irrelevant for two parties), APP,
//! XR or feedback messages (they are skipped as [`RtcpPacket::Other`]).

use std::time::Duration;

use rand::Rng;
use thiserror::Error;

use super::packet::Ssrc;
use crate::time::Time;

/// RTCP packet types (§12.1).
pub const PT_SR: u8 = 200;
pub const PT_RR: u8 = 201;
pub const PT_SDES: u8 = 202;
pub const PT_BYE: u8 = 203;

/// The §6.2 minimum report interval; we randomize around it (§6.3.1).
pub const REPORT_INTERVAL: Duration = Duration::from_secs(5);

/// Seconds from the NTP era 0 epoch (1900) to the Unix epoch (1970).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// Why a received RTCP datagram could not be (fully) read.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RtcpError {
    #[error("{len} bytes left is too short for an RTCP header")]
    TooShort { len: usize },
    #[error("RTCP version {version} (expected 2)")]
    BadVersion { version: u8 },
    #[error("packet type {packet_type} claims {claimed} bytes but {len} remain")]
    LengthOverrun {
        packet_type: u8,
        claimed: usize,
        len: usize,
    },
    #[error("packet type {packet_type} of {len} bytes cannot hold {count} report blocks")]
    CountOverrun {
        packet_type: u8,
        count: u8,
        len: usize,
    },
}

/// A 64-bit NTP timestamp (§4): seconds since 1900 in the high half, fraction in the low.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct NtpTime(pub u64);

impl NtpTime {
    /// The NTP time of `unix`, a wall-clock time since 1970-01-01.
    pub fn from_unix(unix: Duration) -> NtpTime {
        let secs = unix.as_secs().wrapping_add(NTP_UNIX_OFFSET);
        let frac = (u64::from(unix.subsec_nanos()) << 32) / 1_000_000_000;
        NtpTime((secs << 32) | frac)
    }

    /// The middle 32 bits, as echoed in a report block's LSR (§6.4.1).
    pub fn middle(self) -> u32 {
        (self.0 >> 16) as u32
    }
}

/// The sender information of an SR (§6.4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SenderInfo {
    pub ntp: NtpTime,
    /// The RTP timestamp of the same instant as `ntp` (not of the last packet sent).
    pub rtp_timestamp: u32,
    pub packet_count: u32,
    /// Payload octets only (§6.4.1 "sender's octet count").
    pub octet_count: u32,
}

/// One reception report block (§6.4.1), about a source we receive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReportBlock {
    pub ssrc: Ssrc,
    pub fraction_lost: u8,
    /// Cumulative packets lost, a signed 24-bit value (duplicates can make it negative).
    pub cumulative_lost: i32,
    pub extended_highest_seq: u32,
    /// Interarrival jitter in timestamp units (§6.4.1, §A.8).
    pub jitter: u32,
    /// Middle 32 bits of the last SR's NTP time from this source, 0 if none.
    pub last_sr: u32,
    /// Delay since that SR in 1/65536 s, 0 if none.
    pub delay_since_last_sr: u32,
}

/// What a compound packet we send says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report<'a> {
    pub ssrc: Ssrc,
    /// `Some` for an SR: we sent RTP since the previous report (§6.4).
    pub sender: Option<SenderInfo>,
    pub block: Option<ReportBlock>,
    /// The SDES CNAME (§6.5.1), at most 255 bytes (longer is truncated).
    pub cname: &'a str,
    /// Append a BYE (§6.6): the stream is over.
    pub bye: bool,
}

impl Report<'_> {
    /// Writes the compound packet into `out` (cleared first). RTCP is a few packets per call
    /// per minute, so a reusable `Vec` is fine here.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.clear();
        let count = u8::from(self.block.is_some());
        let (packet_type, words) = match self.sender {
            Some(_) => (PT_SR, 6 + 6 * usize::from(count)),
            None => (PT_RR, 1 + 6 * usize::from(count)),
        };
        push_header(out, count, packet_type, words);
        out.extend_from_slice(&self.ssrc.0.to_be_bytes());
        if let Some(info) = self.sender {
            out.extend_from_slice(&info.ntp.0.to_be_bytes());
            out.extend_from_slice(&info.rtp_timestamp.to_be_bytes());
            out.extend_from_slice(&info.packet_count.to_be_bytes());
            out.extend_from_slice(&info.octet_count.to_be_bytes());
        }
        if let Some(b) = self.block {
            out.extend_from_slice(&b.ssrc.0.to_be_bytes());
            let lost = (b.cumulative_lost.clamp(-0x80_0000, 0x7f_ffff) as u32) & 0x00ff_ffff;
            out.extend_from_slice(&((u32::from(b.fraction_lost) << 24) | lost).to_be_bytes());
            out.extend_from_slice(&b.extended_highest_seq.to_be_bytes());
            out.extend_from_slice(&b.jitter.to_be_bytes());
            out.extend_from_slice(&b.last_sr.to_be_bytes());
            out.extend_from_slice(&b.delay_since_last_sr.to_be_bytes());
        }
        // §6.5: one chunk: SSRC, CNAME item (type 1), then a null END item padding the chunk
        // to a 32-bit boundary (at least one null octet).
        let cname = truncate_utf8(self.cname, 255);
        let chunk = 4 + 2 + cname.len();
        let padded = (chunk + 4) & !3;
        push_header(out, 1, PT_SDES, padded / 4);
        out.extend_from_slice(&self.ssrc.0.to_be_bytes());
        out.push(1);
        out.push(cname.len() as u8);
        out.extend_from_slice(cname.as_bytes());
        out.resize(out.len() + padded - chunk, 0);
        if self.bye {
            push_header(out, 1, PT_BYE, 1);
            out.extend_from_slice(&self.ssrc.0.to_be_bytes());
        }
    }
}

/// The common header (§6.4.1): V=2, no padding, `count`, type, length in words minus one.
fn push_header(out: &mut Vec<u8>, count: u8, packet_type: u8, body_words: usize) {
    out.push((2 << 6) | (count & 0x1f));
    out.push(packet_type);
    out.extend_from_slice(&(body_words as u16).to_be_bytes());
}

fn truncate_utf8(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// When the next report is due: `REPORT_INTERVAL` × uniform[0.5, 1.5] after `now` (§6.3.1).
pub fn next_report(now: Time, rng: &mut impl Rng) -> Time {
    let factor = rng.gen_range(0.5..1.5);
    now + REPORT_INTERVAL.mul_f64(factor)
}

/// One packet of a received compound packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RtcpPacket<'a> {
    SenderReport {
        ssrc: Ssrc,
        info: SenderInfo,
        blocks: ReportBlocks<'a>,
    },
    ReceiverReport {
        ssrc: Ssrc,
        blocks: ReportBlocks<'a>,
    },
    /// The sources leaving (§6.6); the optional reason is not kept.
    Bye { sources: u8, first: Option<Ssrc> },
    /// SDES, APP, feedback, XR …: not read.
    Other { packet_type: u8 },
}

/// The report blocks of an SR or RR, read lazily.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReportBlocks<'a>(&'a [u8]);

impl Iterator for ReportBlocks<'_> {
    type Item = ReportBlock;
    fn next(&mut self) -> Option<ReportBlock> {
        let (b, rest) = self.0.split_first_chunk::<24>()?;
        self.0 = rest;
        let word = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let lost = word(4) & 0x00ff_ffff;
        // Sign-extend the 24-bit cumulative loss.
        let cumulative_lost = ((lost << 8) as i32) >> 8;
        Some(ReportBlock {
            ssrc: Ssrc(word(0)),
            fraction_lost: b[4],
            cumulative_lost,
            extended_highest_seq: word(8),
            jitter: word(12),
            last_sr: word(16),
            delay_since_last_sr: word(20),
        })
    }
}

/// Walks the packets of a compound RTCP datagram (§6.1). After an error it yields nothing.
pub fn packets(buf: &[u8]) -> Packets<'_> {
    Packets { rest: buf }
}

/// The iterator returned by [`packets`].
pub struct Packets<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Packets<'a> {
    type Item = Result<RtcpPacket<'a>, RtcpError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let result = self.parse_one();
        if result.is_err() {
            self.rest = &[];
        }
        Some(result)
    }
}

impl<'a> Packets<'a> {
    fn parse_one(&mut self) -> Result<RtcpPacket<'a>, RtcpError> {
        let len = self.rest.len();
        let Some(head) = self.rest.first_chunk::<4>() else {
            return Err(RtcpError::TooShort { len });
        };
        let version = head[0] >> 6;
        if version != 2 {
            return Err(RtcpError::BadVersion { version });
        }
        let padding = head[0] & 0x20 != 0;
        let count = head[0] & 0x1f;
        let packet_type = head[1];
        let claimed = 4 * (usize::from(u16::from_be_bytes([head[2], head[3]])) + 1);
        if claimed > len {
            return Err(RtcpError::LengthOverrun {
                packet_type,
                claimed,
                len,
            });
        }
        let (packet, rest) = self.rest.split_at(claimed);
        self.rest = rest;
        let mut body = &packet[4..];
        if padding {
            // §6.4.1 "P": the last octet counts padding octets; ignore nonsense counts.
            let pad = usize::from(body.last().copied().unwrap_or(0));
            body = &body[..body.len().saturating_sub(pad)];
        }
        let word = |b: &[u8], i: usize| {
            b.get(i..i + 4)
                .map(|w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
        };
        let overrun = RtcpError::CountOverrun {
            packet_type,
            count,
            len: claimed,
        };
        match packet_type {
            PT_SR => {
                let fixed = 24;
                let blocks = body
                    .get(fixed..fixed + 24 * usize::from(count))
                    .ok_or(overrun)?;
                let ntp_hi = word(body, 4).unwrap_or(0);
                let ntp_lo = word(body, 8).unwrap_or(0);
                Ok(RtcpPacket::SenderReport {
                    ssrc: Ssrc(word(body, 0).unwrap_or(0)),
                    info: SenderInfo {
                        ntp: NtpTime((u64::from(ntp_hi) << 32) | u64::from(ntp_lo)),
                        rtp_timestamp: word(body, 12).unwrap_or(0),
                        packet_count: word(body, 16).unwrap_or(0),
                        octet_count: word(body, 20).unwrap_or(0),
                    },
                    blocks: ReportBlocks(blocks),
                })
            }
            PT_RR => {
                let blocks = body.get(4..4 + 24 * usize::from(count)).ok_or(overrun)?;
                Ok(RtcpPacket::ReceiverReport {
                    ssrc: Ssrc(word(body, 0).unwrap_or(0)),
                    blocks: ReportBlocks(blocks),
                })
            }
            PT_BYE => {
                if body.len() < 4 * usize::from(count) {
                    return Err(overrun);
                }
                Ok(RtcpPacket::Bye {
                    sources: count,
                    first: word(body, 0).filter(|_| count > 0).map(Ssrc),
                })
            }
            _ => Ok(RtcpPacket::Other { packet_type }),
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;

    fn block() -> ReportBlock {
        ReportBlock {
            ssrc: Ssrc(77),
            fraction_lost: 64,
            cumulative_lost: -3,
            extended_highest_seq: 0x0001_0005,
            jitter: 42,
            last_sr: 0x1234_5678,
            delay_since_last_sr: 65536,
        }
    }

    #[test]
    fn ntp_time_of_unix_epoch_and_half_second() {
        let t = NtpTime::from_unix(Duration::from_millis(1500));
        assert_eq!(t.0 >> 32, NTP_UNIX_OFFSET + 1);
        assert_eq!(t.0 & 0xffff_ffff, 0x8000_0000);
        assert_eq!(t.middle(), (((NTP_UNIX_OFFSET + 1) as u32) << 16) | 0x8000);
    }

    #[test]
    fn sender_report_with_block_and_cname_round_trips() {
        let info = SenderInfo {
            ntp: NtpTime::from_unix(Duration::from_secs(1_700_000_000)),
            rtp_timestamp: 160_000,
            packet_count: 1000,
            octet_count: 160_000,
        };
        let report = Report {
            ssrc: Ssrc(9),
            sender: Some(info),
            block: Some(block()),
            cname: "abc@holdline",
            bye: false,
        };
        let mut out = Vec::new();
        report.write(&mut out);
        assert_eq!(out.len() % 4, 0);
        let parsed: Vec<_> = packets(&out).collect::<Result<_, _>>().unwrap();
        assert_eq!(parsed.len(), 2);
        let RtcpPacket::SenderReport {
            ssrc,
            info: got,
            blocks,
        } = parsed[0]
        else {
            panic!("not an SR: {parsed:?}");
        };
        assert_eq!(ssrc, Ssrc(9));
        assert_eq!(got, info);
        assert_eq!(blocks.collect::<Vec<_>>(), vec![block()]);
        assert_eq!(
            parsed[1],
            RtcpPacket::Other {
                packet_type: PT_SDES
            }
        );
        // The SDES chunk carries the CNAME item verbatim, null-terminated and padded.
        let sdes = &out[28 + 24..];
        assert_eq!(sdes[8], 1);
        assert_eq!(usize::from(sdes[9]), "abc@holdline".len());
        assert_eq!(&sdes[10..22], b"abc@holdline");
        assert!(sdes[22..].iter().all(|&b| b == 0) && !sdes[22..].is_empty());
    }

    #[test]
    fn stop_sends_receiver_report_sdes_and_bye() {
        let report = Report {
            ssrc: Ssrc(5),
            sender: None,
            block: None,
            cname: "x",
            bye: true,
        };
        let mut out = Vec::new();
        report.write(&mut out);
        let parsed: Vec<_> = packets(&out).collect::<Result<_, _>>().unwrap();
        assert!(matches!(
            parsed[0],
            RtcpPacket::ReceiverReport { ssrc: Ssrc(5), .. }
        ));
        assert_eq!(
            parsed[2],
            RtcpPacket::Bye {
                sources: 1,
                first: Some(Ssrc(5))
            }
        );
    }

    #[test]
    fn truncated_compound_yields_error_then_stops() {
        let report = Report {
            ssrc: Ssrc(5),
            sender: None,
            block: Some(block()),
            cname: "x",
            bye: false,
        };
        let mut out = Vec::new();
        report.write(&mut out);
        out.truncate(20);
        let mut it = packets(&out);
        assert!(matches!(
            it.next(),
            Some(Err(RtcpError::LengthOverrun { .. }))
        ));
        assert_eq!(it.next(), None);
    }

    #[test]
    fn report_interval_is_randomized_around_five_seconds() {
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..100 {
            let at = next_report(Time::ZERO, &mut rng).since_epoch();
            assert!(at >= Duration::from_millis(2500) && at < Duration::from_millis(7500));
        }
    }
}
