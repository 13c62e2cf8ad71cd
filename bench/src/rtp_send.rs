//! `--send-rtp`: callers that talk. Each answered call sends G.711 silence from its own RTP
//! socket to the address in the server's SDP answer, as a phone would: the server then has
//! two-way streams to handle, latches onto our port (symmetric RTP, RFC 4961), and its RTP
//! timeout does not hang up long runs.
//!
//! One task paces every call's stream: it wakes every [`TICK`] and sends each packet that is
//! due (packet `n` of a stream at `start + n·ptime`, so there is no drift), like the server's
//! pacer shards. Sends are non-blocking; a full socket buffer counts as a send error rather
//! than stalling the other streams. Not done: RTCP, DTMF.
#![allow(clippy::disallowed_methods)] // The IO edge of holdline-bench: it reads the clock.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};

/// How often the pacer wakes.
pub const TICK: Duration = Duration::from_millis(2);

/// What the driver tells the pacer.
#[derive(Debug)]
pub enum SendCommand {
    /// Start sending for call `call` from `socket` to `to` with payload type `pt`.
    Start {
        call: usize,
        socket: Arc<UdpSocket>,
        to: SocketAddr,
        payload_type: u8,
    },
    Stop {
        call: usize,
    },
}

/// Packets sent by all calls.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SendTotals {
    pub streams: u64,
    pub packets_sent: u64,
    pub send_errors: u64,
}

struct Stream {
    socket: Arc<UdpSocket>,
    to: SocketAddr,
    start: Instant,
    /// Packets sent so far: the next one is due at `start + sent·ptime`.
    sent: u32,
    packet: Vec<u8>,
}

/// Runs until the command channel closes.
pub async fn pace(
    mut commands: mpsc::UnboundedReceiver<SendCommand>,
    ptime: Duration,
) -> SendTotals {
    let samples = u32::try_from(ptime.as_micros() * 8 / 1000).unwrap_or(160);
    let mut streams: HashMap<usize, Stream> = HashMap::new();
    let mut totals = SendTotals::default();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            command = commands.recv() => match command {
                None => break,
                Some(SendCommand::Start { call, socket, to, payload_type }) => {
                    let silence = if payload_type == 8 { 0xd5 } else { 0xff };
                    let mut packet = vec![silence; 12 + samples as usize];
                    packet[0] = 0x80;
                    packet[1] = payload_type & 0x7f;
                    packet[8..12].copy_from_slice(&(call as u32).wrapping_add(1).to_be_bytes());
                    totals.streams += 1;
                    streams.insert(call, Stream { socket, to, start: Instant::now(), sent: 0, packet });
                }
                Some(SendCommand::Stop { call }) => {
                    streams.remove(&call);
                }
            },
            _ = tick.tick() => {
                let now = Instant::now();
                for s in streams.values_mut() {
                    while s.start + ptime * s.sent <= now {
                        let n = s.sent;
                        s.packet[2..4].copy_from_slice(&(n as u16).to_be_bytes());
                        s.packet[4..8].copy_from_slice(&n.wrapping_mul(samples).to_be_bytes());
                        match s.socket.try_send_to(&s.packet, s.to) {
                            Ok(_) => totals.packets_sent += 1,
                            Err(_) => totals.send_errors += 1,
                        }
                        s.sent += 1;
                    }
                }
            }
        }
    }
    totals
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp_stats::RtpHeader;

    #[tokio::test]
    async fn started_stream_is_paced_from_the_call_socket_until_stopped() {
        let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = server.local_addr().unwrap();
        let ours = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let from = ours.local_addr().unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(pace(rx, Duration::from_millis(20)));
        tx.send(SendCommand::Start {
            call: 4,
            socket: ours,
            to,
            payload_type: 8,
        })
        .unwrap();
        tokio::time::sleep(Duration::from_millis(110)).await;
        tx.send(SendCommand::Stop { call: 4 }).unwrap();
        drop(tx);
        let totals = task.await.unwrap();
        assert!((5..=8).contains(&totals.packets_sent), "{totals:?}");
        server.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 512];
        let (n, src) = server.recv_from(&mut buf).unwrap();
        assert_eq!(
            src, from,
            "sent from the call's own RTP socket (symmetric RTP)"
        );
        let h = RtpHeader::parse(&buf[..n]).unwrap();
        assert_eq!(
            (h.payload_type, h.seq, h.ssrc, h.payload_len),
            (8, 0, 5, 160)
        );
        let (n, _) = server.recv_from(&mut buf).unwrap();
        let h = RtpHeader::parse(&buf[..n]).unwrap();
        assert_eq!((h.seq, h.timestamp), (1, 160));
    }
}
