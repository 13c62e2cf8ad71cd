//! `--blast`: a paced RTP sender that stands in for the server's media plane, to calibrate the
//! tool's own receivers (what they cost, whether they keep up) before and apart from the
//! server. It sends `streams` G.711 streams to the even ports of a range, one packet per
//! stream every ptime.
//!
//! Packet `n` of stream `k` is due at `epoch + n·ptime + k·ptime/streams`: the streams are
//! spread evenly over the packet interval, and due times never drift because they are
//! computed from the epoch, not from the previous send (the pacing DESIGN.md §2 asks of the
//! server). One thread sends every due packet, then sleeps; one socket carries every stream. It
//! wakes at most once a millisecond and sends what is due, so a packet leaves up to about a
//! millisecond late. Not a media server: the payload is μ-law/A-law silence, no RTCP.
#![allow(clippy::disallowed_methods)] // The IO edge of holdline-bench: clock and sleep.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::BenchError;
use holdline::sip::sdp::Codec;

/// The shortest sleep between bursts of due packets.
const TICK: Duration = Duration::from_millis(1);

/// What to send.
#[derive(Clone, Copy, Debug)]
pub struct BlastPlan {
    pub to: IpAddr,
    pub ports: (u16, u16),
    pub streams: u64,
    pub ptime: Duration,
    pub codec: Codec,
    pub duration: Duration,
}

/// What was sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct BlastReport {
    pub streams: u64,
    pub packets_sent: u64,
    pub send_errors: u64,
    /// The largest lateness of a packet behind its due time, in milliseconds.
    pub max_lateness_ms: f64,
    pub wall_seconds: f64,
}

/// The destination of stream `k`: the `k`-th even port of the range, or `None` past its end.
pub fn stream_port((first, last): (u16, u16), k: u64) -> Option<u16> {
    let first = u64::from(first) + u64::from(first % 2);
    let port = first + 2 * k;
    (port < u64::from(last)).then_some(port as u16)
}

/// The offset from the epoch at which packet `j` of the interleaved schedule is due: round
/// `j / streams`, stream `j % streams`.
pub fn due(j: u64, streams: u64, ptime: Duration) -> Duration {
    let streams = streams.max(1);
    let (round, k) = (j / streams, j % streams);
    let ptime_ns = ptime.as_nanos() as u64;
    Duration::from_nanos(round * ptime_ns + k * ptime_ns / streams)
}

/// Sends until `plan.duration` has passed; blocks the calling thread.
pub fn run(plan: &BlastPlan) -> Result<BlastReport, BenchError> {
    let bind = SocketAddr::new(plan.to, 0);
    let socket = UdpSocket::bind(bind).map_err(|source| BenchError::Bind {
        what: "the RTP blast socket",
        addr: bind,
        source,
    })?;
    let targets: Vec<SocketAddr> = (0..plan.streams)
        .map_while(|k| stream_port(plan.ports, k))
        .map(|p| SocketAddr::new(plan.to, p))
        .collect();
    let streams = targets.len() as u64;
    let samples_per_packet = (plan.ptime.as_micros() as u64 * 8 / 1000) as u32;
    let (pt, silence) = match plan.codec {
        Codec::Pcmu => (0u8, 0xffu8),
        Codec::Pcma => (8, 0xd5),
    };
    let mut packet = vec![silence; 12 + samples_per_packet as usize];
    packet[0] = 0x80;
    packet[1] = pt;
    let mut report = BlastReport {
        streams,
        ..BlastReport::default()
    };
    if streams == 0 {
        return Ok(report);
    }
    let total = plan.duration.as_nanos() / plan.ptime.as_nanos().max(1) * u128::from(streams);
    let epoch = Instant::now();
    let mut j = 0u64;
    while u128::from(j) < total {
        let at = due(j, streams, plan.ptime);
        let now = epoch.elapsed();
        if at > now {
            // Sleep at least a tick and then send everything due: with 2,000 streams packets
            // are 10 µs apart, below the kernel's timer slack, so one sleep per packet would
            // fall behind. Packets leave at most about a tick late.
            std::thread::sleep((at - now).max(TICK));
            continue;
        }
        let lateness = (now - at).as_secs_f64() * 1000.0;
        report.max_lateness_ms = report.max_lateness_ms.max(lateness);
        let k = (j % streams) as usize;
        let n = j / streams;
        // SSRC k+1, seq n, timestamp n · samples, all starting at zero: easy to check by eye.
        packet[2..4].copy_from_slice(&(n as u16).to_be_bytes());
        packet[4..8].copy_from_slice(&((n as u32).wrapping_mul(samples_per_packet)).to_be_bytes());
        packet[8..12].copy_from_slice(&(k as u32 + 1).to_be_bytes());
        match socket.send_to(&packet, targets[k]) {
            Ok(_) => report.packets_sent += 1,
            Err(_) => report.send_errors += 1,
        }
        j += 1;
    }
    report.wall_seconds = epoch.elapsed().as_secs_f64();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_map_to_even_ports_inside_the_range() {
        assert_eq!(stream_port((30000, 30005), 0), Some(30000));
        assert_eq!(stream_port((30000, 30005), 2), Some(30004));
        assert_eq!(stream_port((30000, 30005), 3), None);
        assert_eq!(stream_port((30001, 30010), 0), Some(30002));
    }

    #[test]
    fn schedule_spreads_streams_over_ptime_without_drift() {
        let p = Duration::from_millis(20);
        assert_eq!(due(0, 4, p), Duration::ZERO);
        assert_eq!(due(1, 4, p), Duration::from_millis(5));
        assert_eq!(due(4, 4, p), Duration::from_millis(20));
        assert_eq!(due(4 * 3000 + 3, 4, p), Duration::from_millis(60_015));
    }
}
