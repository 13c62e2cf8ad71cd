//! The media plane on loopback: real sockets, real clock. Timing bounds are loose on purpose
//! (a shared, noisy machine); precise figures belong to the benchmarks.
#![allow(clippy::disallowed_methods)] // Real sockets on the real clock: arrival times are what is checked.

use std::net::UdpSocket as StdSocket;
use std::time::Duration;

use crate::rtp_support::*;
use holdline::b2bua::CallHandle;
use holdline::rtp::rtcp::{self, RtcpPacket};
use holdline::runtime::media::{MediaEvent, MediaPlane, MediaPlaneConfig};
use holdline::sip::sdp::{Codec, Direction};
use tokio::net::UdpSocket;
use tokio::time::{timeout, Instant};

fn median_gap_ms(packets: &[Got]) -> f64 {
    let mut gaps: Vec<f64> = packets
        .windows(2)
        .map(|w| (w[1].at - w[0].at).as_secs_f64() * 1000.0)
        .collect();
    gaps.sort_by(|a, b| a.partial_cmp(b).unwrap());
    gaps[gaps.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plays_greeting_then_music_paced_every_20ms_with_continuous_seq_and_ts() {
    let (mut plane, _events) = MediaPlane::start(config(false, None));
    let caller = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = free_port_pair();
    let call = CallHandle(1);
    plane.start_call(
        call,
        port,
        Some(media(
            caller.local_addr().unwrap(),
            None,
            Direction::SendRecv,
        )),
        prompts(),
    );
    let packets = recv_n(&caller, 60).await;
    assert!(packets[0].marker, "marker on the first packet");
    assert!(packets[1..].iter().all(|p| !p.marker));
    for w in packets.windows(2) {
        assert_eq!(w[1].seq, w[0].seq.wrapping_add(1));
        assert_eq!(w[1].ts, w[0].ts.wrapping_add(160));
        assert_eq!(w[1].ssrc, w[0].ssrc);
    }
    assert!(packets.iter().all(|p| p.pt == 0 && p.payload.len() == 160));
    let played: Vec<u8> = packets.iter().flat_map(|p| p.payload.clone()).collect();
    let expected: Vec<u8> = greeting()
        .into_iter()
        .chain(music().into_iter().cycle())
        .take(played.len())
        .collect();
    assert_eq!(
        played, expected,
        "the greeting, then the music looped, in order"
    );
    let median = median_gap_ms(&packets);
    assert!((17.0..=23.0).contains(&median), "median gap {median} ms");
    let total = (packets[59].at - packets[0].at).as_secs_f64() * 1000.0;
    assert!(
        (59.0 * 20.0 - 60.0..=59.0 * 20.0 + 100.0).contains(&total),
        "{total} ms for 59 gaps"
    );
    plane.end_call(call).unwrap().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold_pauses_sending_and_resume_sets_marker_with_time_advanced_ts() {
    let (mut plane, _events) = MediaPlane::start(config(false, None));
    let caller = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let remote = caller.local_addr().unwrap();
    let port = free_port_pair();
    let call = CallHandle(2);
    plane.start_call(
        call,
        port,
        Some(media(remote, None, Direction::SendRecv)),
        prompts(),
    );
    let before = recv_n(&caller, 10).await;
    // The caller sent a=sendonly: we receive only.
    plane.update_media(call, media(remote, None, Direction::RecvOnly));
    let held_at = Instant::now();
    // A packet already on its way may still arrive; then nothing.
    let mut last = before.last().unwrap().seq;
    let mut last_ts = before.last().unwrap().ts;
    while let Some(p) = recv(&caller, Duration::from_millis(100)).await {
        assert!(
            p.at - held_at < Duration::from_millis(60),
            "still sending on hold"
        );
        last = p.seq;
        last_ts = p.ts;
    }
    assert!(recv(&caller, Duration::from_millis(400)).await.is_none());
    let hold = held_at.elapsed();
    plane.update_media(call, media(remote, None, Direction::SendRecv));
    let after = recv_n(&caller, 3).await;
    assert!(after[0].marker, "marker on the first packet after resume");
    assert!(!after[1].marker);
    assert_eq!(
        after[0].seq,
        last.wrapping_add(1),
        "no sequence gap across hold"
    );
    let jump = after[0].ts.wrapping_sub(last_ts);
    let held_samples = (hold.as_millis() as u32) * 8;
    assert!(
        jump >= held_samples * 8 / 10 && jump <= held_samples + 8000,
        "timestamp advanced {jump} over a {hold:?} hold"
    );
    assert_eq!(after[1].ts, after[0].ts.wrapping_add(160));
    plane.end_call(call).unwrap().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_call_sends_rtcp_bye_and_frees_both_ports() {
    let (mut plane, _events) = MediaPlane::start(config(false, None));
    let caller = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let caller_rtcp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = free_port_pair();
    let call = CallHandle(3);
    plane.start_call(
        call,
        port,
        Some(media(
            caller.local_addr().unwrap(),
            Some(caller_rtcp.local_addr().unwrap()),
            Direction::SendRecv,
        )),
        prompts(),
    );
    let first = recv_n(&caller, 3).await;
    plane.end_call(call).unwrap().await.unwrap();
    assert_eq!(plane.call_count(), 0);
    // The compound BYE: SR (we sent RTP) + SDES + BYE, from our RTCP port.
    let mut buf = [0u8; 1500];
    let (n, from) = timeout(Duration::from_secs(2), caller_rtcp.recv_from(&mut buf))
        .await
        .expect("RTCP BYE")
        .unwrap();
    assert_eq!(from.port(), port + 1);
    let parsed: Vec<_> = rtcp::packets(&buf[..n]).collect::<Result<_, _>>().unwrap();
    assert!(matches!(parsed[0], RtcpPacket::SenderReport { ssrc, .. } if ssrc == first[0].ssrc));
    assert!(parsed
        .iter()
        .any(|p| matches!(p, RtcpPacket::Bye { first: Some(s), .. } if *s == first[0].ssrc)));
    // Both ports are ours again at once: nothing leaked.
    StdSocket::bind(("127.0.0.1", port)).expect("RTP port freed");
    StdSocket::bind(("127.0.0.1", port + 1)).expect("RTCP port freed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symmetric_rtp_sends_where_the_callers_media_comes_from() {
    let (mut plane, _events) = MediaPlane::start(config(true, None));
    // The SDP address is a socket that will not be used after the caller's RTP arrives.
    let sdp_address = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let nat = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = free_port_pair();
    let call = CallHandle(4);
    plane.start_call(
        call,
        port,
        Some(media(
            sdp_address.local_addr().unwrap(),
            None,
            Direction::SendRecv,
        )),
        prompts(),
    );
    assert!(recv(&sdp_address, Duration::from_secs(2)).await.is_some());
    // Strict RTP: one packet from elsewhere latches nothing (it could be anyone's); a run of
    // in-sequence packets while the SDP address stays silent is a peer behind NAT.
    let sprayer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sprayer
        .send_to(&rtp(0, 500, 0, &[0xff; 160]), ("127.0.0.1", port))
        .await
        .unwrap();
    for seq in 1..=4 {
        nat.send_to(&rtp(0, seq, 0, &[0xff; 160]), ("127.0.0.1", port))
            .await
            .unwrap();
    }
    let got = recv_n(&nat, 5).await;
    for w in got.windows(2) {
        assert_eq!(w[1].seq, w[0].seq.wrapping_add(1));
    }
    assert!(
        recv(&sprayer, Duration::from_millis(200)).await.is_none(),
        "nothing goes to a source that did not latch"
    );
    // A re-INVITE moves the caller to a new address: the old latch is forgotten.
    let moved = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    plane.update_media(
        call,
        media(moved.local_addr().unwrap(), None, Direction::SendRecv),
    );
    let after = recv_n(&moved, 3).await;
    assert!(
        after[0].seq.wrapping_sub(got[4].seq) < 20,
        "same stream continues"
    );
    plane.end_call(call).unwrap().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dtmf_is_reported_once_and_silence_times_out() {
    let (mut plane, mut events) = MediaPlane::start(config(true, Some(Duration::from_millis(400))));
    let caller = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = free_port_pair();
    let call = CallHandle(5);
    plane.start_call(
        call,
        port,
        Some(media(
            caller.local_addr().unwrap(),
            None,
            Direction::SendRecv,
        )),
        prompts(),
    );
    let to = ("127.0.0.1", port);
    for (seq, end, dur) in [
        (1, false, 160),
        (2, false, 320),
        (3, true, 480),
        (4, true, 480),
        (5, true, 480),
    ] {
        let d: [u8; 2] = (dur as u16).to_be_bytes();
        let flags = if end { 0x8a } else { 0x0a };
        caller
            .send_to(&rtp(101, seq, 16000, &[9, flags, d[0], d[1]]), to)
            .await
            .unwrap();
    }
    let first = timeout(Duration::from_secs(2), events.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first, MediaEvent::Dtmf { call, digit: '9' });
    let started = Instant::now();
    let next = timeout(Duration::from_secs(3), events.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        next,
        MediaEvent::RtpTimeout { call },
        "one digit, then the timeout"
    );
    assert!(started.elapsed() >= Duration::from_millis(250));
    plane.end_call(call).unwrap().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inactive_call_does_not_time_out() {
    let (mut plane, mut events) = MediaPlane::start(config(true, Some(Duration::from_millis(200))));
    let caller = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = free_port_pair();
    let call = CallHandle(6);
    let remote = caller.local_addr().unwrap();
    plane.start_call(
        call,
        port,
        Some(media(remote, None, Direction::Inactive)),
        prompts(),
    );
    assert!(timeout(Duration::from_millis(600), events.recv())
        .await
        .is_err());
    assert!(
        recv(&caller, Duration::from_millis(100)).await.is_none(),
        "inactive: no RTP"
    );
    // Back to sendrecv: the timeout is armed again.
    plane.update_media(call, media(remote, None, Direction::SendRecv));
    let ev = timeout(Duration::from_secs(2), events.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ev, MediaEvent::RtpTimeout { call });
    plane.end_call(call).unwrap().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_port_is_reported_as_bind_failure() {
    let (mut plane, mut events) = MediaPlane::start(config(false, None));
    let port = free_port_pair();
    let _taken = StdSocket::bind(("127.0.0.1", port + 1)).unwrap();
    let call = CallHandle(7);
    plane.start_call(call, port, None, prompts());
    let ev = timeout(Duration::from_secs(1), events.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        ev,
        MediaEvent::BindFailed {
            call,
            port: port + 1
        }
    );
    assert_eq!(plane.call_count(), 0);
    // The RTP port that did bind was released again.
    StdSocket::bind(("127.0.0.1", port)).expect("RTP port not leaked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_offer_call_waits_for_the_answer_then_plays_alaw_at_30ms() {
    let (mut plane, _events) = MediaPlane::start(config(false, None));
    let caller = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = free_port_pair();
    let call = CallHandle(8);
    // Late offer: answered without media, nothing is sent until the ACK's answer.
    plane.start_call(call, port, None, prompts());
    assert!(recv(&caller, Duration::from_millis(200)).await.is_none());
    let mut pcma = media(caller.local_addr().unwrap(), None, Direction::SendRecv);
    pcma.codec = Codec::Pcma;
    pcma.payload_type = 8;
    pcma.ptime_ms = 30;
    plane.update_media(call, pcma);
    let got = recv_n(&caller, 2).await;
    assert!(got[0].marker && got[0].pt == 8 && got[0].payload.len() == 240);
    // The A-law copy of the greeting, from its start.
    let alaw: Vec<u8> = greeting().iter().take(240).map(|x| x ^ 0x55).collect();
    assert_eq!(got[0].payload, alaw);
    assert_eq!(got[1].ts, got[0].ts.wrapping_add(240));
    plane.end_call(call).unwrap().await.unwrap();
    StdSocket::bind(("127.0.0.1", port)).expect("port freed");
}

/// Packets that arrive on `sock` within `d`.
async fn count_for(sock: &UdpSocket, d: Duration) -> usize {
    let end = Instant::now() + d;
    let mut n = 0;
    while recv(sock, end.saturating_duration_since(Instant::now()))
        .await
        .is_some()
    {
        n += 1;
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unproven_caller_gets_a_bounded_burst_and_the_rtp_timeout_stops_sending() {
    let (mut plane, mut events) = MediaPlane::start(MediaPlaneConfig {
        unproven_media: Some(Duration::from_millis(400)),
        ..config(true, Some(Duration::from_millis(1500)))
    });
    let victim = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = free_port_pair();
    let call = CallHandle(11);
    plane.start_call(
        call,
        port,
        Some(media(
            victim.local_addr().unwrap(),
            None,
            Direction::SendRecv,
        )),
        prompts(),
    );
    // No ACK and no RTP: 400 ms of media (20 packets at 20 ms), then nothing.
    let burst = count_for(&victim, Duration::from_millis(1000)).await;
    assert!(
        (17..=23).contains(&burst),
        "{burst} packets to an unproven address"
    );
    // The ACK proves the address: the media resumes.
    plane.confirm(call);
    assert!(recv(&victim, Duration::from_millis(300)).await.is_some());
    // Still no RTP from the caller: the timeout fires at 1.5 s and sending stops with it.
    let event = timeout(Duration::from_secs(3), events.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(event, MediaEvent::RtpTimeout { call });
    tokio::time::sleep(Duration::from_millis(60)).await;
    while recv(&victim, Duration::from_millis(1)).await.is_some() {}
    assert_eq!(
        count_for(&victim, Duration::from_millis(400)).await,
        0,
        "media after the RTP timeout"
    );
    plane.end_call(call).unwrap().await.unwrap();
}

/// CPU seconds this process has used (user + system), from /proc/self/stat.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .map(|(_, rest)| rest.split(' ').collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// A scale smoke run, not a benchmark: `cargo test --release --test rtp_media_plane -- --ignored
/// --nocapture scale`. 2,000 calls for 10 s; 100 of them are received and their inter-arrival
/// spread printed; the rest go to a socket nobody reads. `HOLDLINE_SCALE_CALLS` changes the count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn scale_two_thousand_calls_smoke() {
    let calls: u64 = std::env::var("HOLDLINE_SCALE_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let watched: u64 = calls.min(100);
    let (mut plane, _events) = MediaPlane::start(MediaPlaneConfig {
        shards: 0,
        // Nobody ACKs here: the streams are not bounded as unproven peers'.
        unproven_media: None,
        ..config(false, None)
    });
    let sink = StdSocket::bind("127.0.0.1:0").unwrap();
    let mut watchers = Vec::new();
    let mut ports = 20000u16;
    for i in 0..calls {
        while StdSocket::bind(("127.0.0.1", ports)).is_err()
            || StdSocket::bind(("127.0.0.1", ports + 1)).is_err()
        {
            ports += 2;
        }
        let dest = if i < watched {
            let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let addr = s.local_addr().unwrap();
            watchers.push(tokio::spawn(async move {
                let mut gaps = Vec::new();
                let mut last: Option<Instant> = None;
                let end = Instant::now() + Duration::from_secs(12);
                while let Some(p) = recv(&s, end.saturating_duration_since(Instant::now())).await {
                    if let Some(l) = last {
                        gaps.push((p.at - l).as_secs_f64() * 1000.0);
                    }
                    last = Some(p.at);
                }
                gaps
            }));
            addr
        } else {
            sink.local_addr().unwrap()
        };
        plane.start_call(
            CallHandle(i),
            ports,
            Some(media(dest, None, Direction::SendRecv)),
            prompts(),
        );
        ports += 2;
    }
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let cpu = cpu_seconds() - cpu0;
    let wall = t0.elapsed().as_secs_f64();
    let mut gaps: Vec<f64> = Vec::new();
    for w in watchers {
        gaps.extend(w.await.unwrap());
    }
    gaps.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let q = |f: f64| gaps[((gaps.len() - 1) as f64 * f) as usize];
    println!(
        "{calls} calls: {:.2} cores ({:.2} µs/packet incl. {watched} received); gaps ms p1 {:.2} p50 {:.2} p99 {:.2} max {:.2} (n={})",
        cpu / wall,
        cpu / wall / (calls as f64 * 50.0) * 1e6,
        q(0.01),
        q(0.5),
        q(0.99),
        gaps[gaps.len() - 1],
        gaps.len()
    );
    for i in 0..calls {
        if let Some(h) = plane.end_call(CallHandle(i)) {
            h.await.unwrap();
        }
    }
}
