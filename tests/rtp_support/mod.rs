//! Shared helpers for the media-plane tests on loopback: configs, free ports, prompts,
//! negotiated media, and receiving RTP with arrival times.
#![allow(dead_code)] // each test binary uses a different subset

use std::net::{SocketAddr, UdpSocket as StdSocket};
use std::sync::Arc;
use std::time::Duration;

use holdline::rtp::inbound::InboundConfig;
use holdline::rtp::packet::{self, RtpHeader, Ssrc, HEADER_LEN};
use holdline::runtime::media::{CallPrompts, MediaPlaneConfig, Prompt};
use holdline::sip::sdp::{Codec, Direction, NegotiatedMedia};
use tokio::net::UdpSocket;
use tokio::time::{timeout, Instant};

pub fn config(symmetric: bool, rtp_timeout: Option<Duration>) -> MediaPlaneConfig {
    MediaPlaneConfig {
        bind_ip: "127.0.0.1".parse().unwrap(),
        inbound: InboundConfig {
            symmetric,
            timeout: rtp_timeout,
            ..InboundConfig::default()
        },
        shards: 2,
        ..MediaPlaneConfig::default()
    }
}

/// An even port whose pair is free right now on loopback.
pub fn free_port_pair() -> u16 {
    for _ in 0..200 {
        let probe = StdSocket::bind("127.0.0.1:0").unwrap();
        let port = probe.local_addr().unwrap().port() & !1;
        drop(probe);
        if port < 1024 || port == u16::MAX - 1 {
            continue;
        }
        let a = StdSocket::bind(("127.0.0.1", port));
        let b = StdSocket::bind(("127.0.0.1", port + 1));
        if a.is_ok() && b.is_ok() {
            return port;
        }
    }
    panic!("no free port pair");
}

pub fn prompt(bytes: Vec<u8>) -> Prompt {
    let b: Arc<[u8]> = bytes.into();
    Prompt {
        ulaw: b.clone(),
        alaw: b.iter().map(|x| x ^ 0x55).collect(),
        duration: std::time::Duration::ZERO,
    }
}

pub fn greeting() -> Vec<u8> {
    (0..800u32).map(|i| (i % 7) as u8).collect()
}

pub fn music() -> Vec<u8> {
    (0..1000u32).map(|i| 100 + (i % 50) as u8).collect()
}

pub fn prompts() -> CallPrompts {
    CallPrompts {
        greeting: Some(prompt(greeting())),
        music: prompt(music()),
    }
}

pub fn media(
    remote: SocketAddr,
    rtcp: Option<SocketAddr>,
    direction: Direction,
) -> NegotiatedMedia {
    NegotiatedMedia {
        remote: Some(remote),
        remote_rtcp: rtcp,
        codec: Codec::Pcmu,
        payload_type: 0,
        dtmf_payload_type: Some(101),
        ptime_ms: 20,
        direction,
        hold: direction != Direction::SendRecv,
        srtp: None,
    }
}

pub struct Got {
    pub at: Instant,
    pub marker: bool,
    pub pt: u8,
    pub seq: u16,
    pub ts: u32,
    pub ssrc: Ssrc,
    pub payload: Vec<u8>,
}

pub async fn recv(sock: &UdpSocket, wait: Duration) -> Option<Got> {
    let mut buf = [0u8; 1500];
    let (n, _) = timeout(wait, sock.recv_from(&mut buf)).await.ok()?.ok()?;
    let at = Instant::now();
    let p = packet::parse(&buf[..n]).ok()?;
    Some(Got {
        at,
        marker: p.marker,
        pt: p.payload_type,
        seq: p.sequence,
        ts: p.timestamp,
        ssrc: p.ssrc,
        payload: p.payload.to_vec(),
    })
}

pub async fn recv_n(sock: &UdpSocket, n: usize) -> Vec<Got> {
    let mut v = Vec::new();
    while v.len() < n {
        v.push(
            recv(sock, Duration::from_secs(2))
                .await
                .expect("an RTP packet"),
        );
    }
    v
}

pub fn rtp(pt: u8, seq: u16, ts: u32, payload: &[u8]) -> Vec<u8> {
    let mut buf = [0u8; HEADER_LEN];
    RtpHeader {
        marker: false,
        payload_type: pt,
        sequence: seq,
        timestamp: ts,
        ssrc: Ssrc(0xcafe),
    }
    .write(&mut buf);
    let mut v = buf.to_vec();
    v.extend_from_slice(payload);
    v
}
