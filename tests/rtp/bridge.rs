//! Bridges in the media plane on loopback: a caller and an agent leg with real sockets and the
//! real clock. The agent's audio reaches the caller on the caller's own stream (one SSRC,
//! continuous sequence numbers and timestamps from music to voice), PCMA ⇄ PCMU is
//! transcoded, RFC 4733 events are relayed as events, an agent's hold brings the music back.
#![allow(clippy::disallowed_methods)] // Real sockets on the real clock: arrival times are what is checked.

use std::net::{SocketAddr, UdpSocket as StdSocket};
use std::time::Duration;

use crate::rtp_support::*;
use holdline::audio::Law;
use holdline::b2bua::{CallHandle, LegHandle};
use holdline::rtp::packet::Ssrc;
use holdline::runtime::media::MediaPlane;
use holdline::sip::sdp::{Codec, Direction, NegotiatedMedia};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

/// The agent's phone negotiated PCMA (8) and telephone-event as 100.
fn agent_media(remote: SocketAddr, direction: Direction) -> NegotiatedMedia {
    NegotiatedMedia {
        codec: Codec::Pcma,
        payload_type: 8,
        dtmf_payload_type: Some(100),
        ..media(remote, None, direction)
    }
}

/// A-law codes of clearly distinct, non-silent levels, one per packet.
fn agent_code(k: usize) -> u8 {
    Law::Alaw.encode(600 + (k as i16 % 24) * 1300)
}

/// Sends `count` 20 ms packets of payload type `pt` from `from` to `to`, one every 20 ms.
fn talk(
    from: &std::sync::Arc<UdpSocket>,
    to: SocketAddr,
    pt: u8,
    count: usize,
    code: fn(usize) -> u8,
) -> JoinHandle<()> {
    let sock = from.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        for k in 0..count {
            tick.tick().await;
            let pkt = rtp(pt, k as u16, (k * 160) as u32, &[code(k); 160]);
            let _ = sock.send_to(&pkt, to).await;
        }
    })
}

/// Collapses runs of equal bytes, leaving out silence.
fn runs(bytes: impl IntoIterator<Item = u8>, silence: u8) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::new();
    for b in bytes {
        if b != silence && out.last() != Some(&b) {
            out.push(b);
        }
    }
    out
}

fn is_contiguous_part_of(part: &[u8], whole: &[u8]) -> bool {
    part.is_empty() || whole.windows(part.len()).any(|w| w == part)
}

struct Bridge {
    plane: MediaPlane,
    call: CallHandle,
    leg: LegHandle,
    caller: std::sync::Arc<UdpSocket>,
    phone: std::sync::Arc<UdpSocket>,
    caller_port: u16,
    leg_port: u16,
}

async fn bridged() -> Bridge {
    let (mut plane, _events) = MediaPlane::start(config(true, None));
    let caller = std::sync::Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let phone = std::sync::Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let (call, leg) = (CallHandle(1), LegHandle(1));
    let caller_port = free_port_pair();
    plane.start_call(
        call,
        caller_port,
        Some(media(
            caller.local_addr().unwrap(),
            None,
            Direction::SendRecv,
        )),
        prompts(),
    );
    let leg_port = free_port_pair();
    plane.start_leg(
        leg,
        leg_port,
        agent_media(phone.local_addr().unwrap(), Direction::SendRecv),
    );
    Bridge {
        plane,
        call,
        leg,
        caller,
        phone,
        caller_port,
        leg_port,
    }
}

fn assert_one_continuous_stream(packets: &[Got], ssrc: Ssrc) {
    for w in packets.windows(2) {
        assert_eq!(w[1].ssrc, ssrc, "one SSRC for the caller throughout");
        assert_eq!(
            w[1].seq,
            w[0].seq.wrapping_add(1),
            "sequence numbers continue"
        );
        assert_eq!(w[1].ts, w[0].ts.wrapping_add(160), "timestamps continue");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_audio_reaches_the_caller_on_its_own_stream_transcoded() {
    let mut b = bridged().await;
    // Greeting and music first: their SSRC is the one the caller keeps.
    let music = until_music(&b.caller).await;
    let ssrc = music[0].ssrc;
    assert!(music.iter().all(|p| p.pt == 0));

    b.plane.bridge(b.call, b.leg);
    let leg_addr: SocketAddr = ([127, 0, 0, 1], b.leg_port).into();
    let talker = talk(&b.phone, leg_addr, 8, 60, agent_code);
    let after = recv_n(&b.caller, 60).await;
    talker.await.unwrap();

    let mut all = music;
    all.extend(after);
    assert_one_continuous_stream(&all, ssrc);
    assert!(
        all.iter().all(|p| p.pt == 0),
        "the caller's PCMU throughout"
    );
    // The switch from music to the agent is a new talkspurt.
    let switch = all
        .iter()
        .position(|p| p.marker && p.seq != all[0].seq)
        .expect("a marker where the relay starts");
    let relayed = runs(
        all[switch..].iter().flat_map(|p| p.payload.clone()),
        Law::Ulaw.silence(),
    );
    let sent: Vec<u8> = (0..60)
        .map(|k| Law::Alaw.transcode(Law::Ulaw, agent_code(k)))
        .collect();
    let sent = runs(sent, Law::Ulaw.silence());
    assert!(
        relayed.len() >= 30,
        "most of the agent's 60 packets reach the caller: {} runs",
        relayed.len()
    );
    assert!(
        is_contiguous_part_of(&relayed, &sent),
        "the agent's audio arrives transcoded, in order, nothing else mixed in:\n{relayed:?}\n{sent:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_audio_and_dtmf_reach_the_agent_in_the_agents_format() {
    let mut b = bridged().await;
    b.plane.bridge(b.call, b.leg);
    // The agent leg streams to the phone (silence until the caller speaks).
    let first = recv_n(&b.phone, 3).await;
    assert!(first.iter().all(|p| p.pt == 8));

    let caller_port: SocketAddr = ([127, 0, 0, 1], b.caller_port).into();
    let code = |k: usize| Law::Ulaw.encode(-700 - (k as i16 % 20) * 1500);
    talk(&b.caller, caller_port, 0, 30, code).await.unwrap();
    // One key press: start, an update, three end packets (RFC 4733 §2.5.1.4), same timestamp.
    for (i, (end, duration)) in [(false, 160u16), (false, 800), (true, 1200), (true, 1200)]
        .into_iter()
        .enumerate()
    {
        let d = duration.to_be_bytes();
        let flags = if end { 0x80 | 10 } else { 10 };
        let pkt = rtp(101, 100 + i as u16, 90_000, &[7, flags, d[0], d[1]]);
        b.caller.send_to(&pkt, caller_port).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let got = recv_n(&b.phone, 45).await;
    let audio: Vec<u8> = got
        .iter()
        .filter(|p| p.pt == 8)
        .flat_map(|p| p.payload.clone())
        .collect();
    let sent: Vec<u8> = (0..30)
        .map(|k| Law::Ulaw.transcode(Law::Alaw, code(k)))
        .collect();
    let relayed = runs(audio, Law::Alaw.silence());
    assert!(relayed.len() >= 15, "the caller's voice reaches the agent");
    assert!(
        is_contiguous_part_of(&relayed, &runs(sent, Law::Alaw.silence())),
        "in PCMA, in order"
    );

    let events: Vec<&Got> = got.iter().filter(|p| p.pt == 100).collect();
    assert_eq!(events.len(), 4, "every event packet is relayed once");
    assert!(events[0].marker, "the marker on the event's first packet");
    assert!(events[1..].iter().all(|p| !p.marker));
    assert!(
        events.iter().all(|p| p.ts == events[0].ts),
        "one start timestamp"
    );
    assert!(events.iter().all(|p| p.payload[0] == 7));
    assert_eq!(events[3].payload[1] & 0x80, 0x80, "the end bit kept");
    assert_eq!(
        u16::from_be_bytes([events[3].payload[2], events[3].payload[3]]),
        1200
    );
    assert_one_continuous_stream_seq(&got);
}

/// Sequence numbers continue across audio and event packets (one stream).
fn assert_one_continuous_stream_seq(packets: &[Got]) {
    for w in packets.windows(2) {
        assert_eq!(w[1].seq, w[0].seq.wrapping_add(1));
        assert_eq!(w[1].ssrc, w[0].ssrc);
    }
}

/// The test music: bytes counting up through 100..150 and wrapping.
fn is_music(p: &Got) -> bool {
    p.payload.iter().all(|&b| (100..150).contains(&b))
        && p.payload
            .windows(2)
            .all(|w| w[1] == 100 + (w[0] - 100 + 1) % 50)
}

/// Receives until the caller hears music (the greeting is over); returns all it got.
async fn until_music(sock: &UdpSocket) -> Vec<Got> {
    let mut got = Vec::new();
    while !got.last().is_some_and(is_music) {
        assert!(got.len() < 50, "no music within a second");
        got.extend(recv_n(sock, 1).await);
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_hold_plays_music_to_the_caller_until_resume() {
    let mut b = bridged().await;
    let mut all = until_music(&b.caller).await;
    b.plane.bridge(b.call, b.leg);
    let leg_addr: SocketAddr = ([127, 0, 0, 1], b.leg_port).into();
    let phone_addr = b.phone.local_addr().unwrap();
    let talker = talk(&b.phone, leg_addr, 8, 150, agent_code);
    // Skip the greeting (800 samples) and the switch.
    let before = recv_n(&b.caller, 20).await;
    assert!(
        !before[10..].iter().any(is_music),
        "bridged: the agent, not the music"
    );

    // The agent holds the caller (a=sendonly from the agent: we only receive).
    b.plane
        .update_leg_media(b.leg, agent_media(phone_addr, Direction::RecvOnly));
    let held = recv_n(&b.caller, 20).await;
    assert!(
        held[5..].iter().all(is_music),
        "on hold the caller hears music again"
    );

    b.plane
        .update_leg_media(b.leg, agent_media(phone_addr, Direction::SendRecv));
    let resumed = recv_n(&b.caller, 20).await;
    assert!(
        !resumed[10..].iter().any(is_music),
        "after resume the agent again"
    );
    talker.abort();

    all.extend(before);
    all.extend(held);
    all.extend(resumed);
    let ssrc = all[0].ssrc;
    assert_one_continuous_stream(&all, ssrc);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ending_the_leg_brings_the_music_back_and_frees_its_ports() {
    let mut b = bridged().await;
    until_music(&b.caller).await;
    b.plane.bridge(b.call, b.leg);
    let leg_addr: SocketAddr = ([127, 0, 0, 1], b.leg_port).into();
    let talker = talk(&b.phone, leg_addr, 8, 100, agent_code);
    let before = recv_n(&b.caller, 20).await;
    assert!(!before[10..].iter().any(is_music));
    b.plane
        .end_leg(b.leg)
        .expect("the leg had media")
        .await
        .unwrap();
    assert_eq!(b.plane.leg_count(), 0);
    let after = recv_n(&b.caller, 10).await;
    assert!(after[3..].iter().all(is_music), "music again");
    talker.abort();
    StdSocket::bind(("127.0.0.1", b.leg_port)).expect("the leg's RTP port is free");
    StdSocket::bind(("127.0.0.1", b.leg_port + 1)).expect("the leg's RTCP port is free");
    b.plane.end_call(b.call).unwrap().await.unwrap();
}
