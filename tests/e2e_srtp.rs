//! End-to-end SRTP with SDES keys (RFC 4568, RFC 3711) against the real `holdline` binary: a
//! caller over TLS offers `RTP/SAVP` with a key and hears the queue's music encrypted under the
//! key holdline answers with — decrypted here by ffmpeg's own SRTP code (an implementation
//! independent of the server's) and checked to be the queue's 1 kHz tone — while a tampered
//! packet from the caller is dropped and counted and genuine ones are not. Under `required` a
//! plain offer gets 488; a UDP caller offering SAVP under `optional` gets plain RTP/AVP
//! (keys never travel over unsecured signalling, RFC 4568 §8.3).
#![allow(clippy::disallowed_methods)] // A real process in real time: waiting is the point.

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use holdline::rtp::srtp::{Keying, Protector, Suite, Unprotector};
use holdline::sip::message::Message;
use holdline::sip::parse::{parse_datagram, Limits};
use holdline::sip::sdp::{crypto, MasterKey, SessionDescription};
use holdline_testkit::audio::{sox, tone_share};
use holdline_testkit::tls::{header, Pki, TlsClient, TlsServer};
use holdline_testkit::{metric_value, scratch_dir, ConfigToml, QueueToml, Server};

const NUMBER: &str = "+14255550100";
const TOKEN: &str = "srtp-test-token";
const PBX: &str = "pbx.test";
/// The caller's master key and salt (30 bytes).
const CALLER_KEY: [u8; 30] = [
    0x0c, 0x1a, 0x22, 0x39, 0x41, 0x5e, 0x67, 0x70, 0x88, 0x91, 0xa2, 0xb3, 0xc4, 0xd5, 0xe6, 0xf7,
    0x10, 0x21, 0x32, 0x43, 0x54, 0x65, 0x76, 0x87, 0x98, 0xa9, 0xba, 0xcb, 0xdc, 0xed,
];

fn p(path: &Path) -> String {
    path.display().to_string()
}

fn parse(text: &str) -> Message {
    parse_datagram(text.as_bytes(), &Limits::default()).expect("a SIP message")
}

fn response(text: &str) -> (u16, Option<SessionDescription>) {
    match parse(text) {
        Message::Response(r) => {
            let sdp = (!r.body.is_empty())
                .then(|| std::str::from_utf8(&r.body).unwrap().parse().unwrap());
            (r.status, sdp)
        }
        Message::Request(r) => panic!("a request, not a response: {}", r.method),
    }
}

fn metric(server: &Server, series: &str) -> u64 {
    let text = server.metrics(Some(TOKEN));
    metric_value(&text, series).unwrap_or_else(|| panic!("no {series} in\n{text}"))
}

/// A queue on NUMBER whose music is a 1 kHz tone, TLS with certificates made here; `sip`
/// adds `[sip]` keys.
fn server(tag: &str, sip: &str) -> (Server, Pki) {
    let dir = scratch_dir(tag);
    let pki = Pki::new(&dir, "pbx");
    let leaf = pki.issue("holdline", &[PBX, "127.0.0.1"]);
    let music = dir.join("music.wav");
    sox(&[
        "-n",
        "-r",
        "8000",
        "-c",
        "1",
        &p(&music),
        "synth",
        "3",
        "sine",
        "1000",
    ]);
    let config = ConfigToml::loopback("46000-46999")
        .api_token(TOKEN)
        .tls(&p(&leaf.cert_pem), &p(&leaf.key_pem), None)
        .number(NUMBER, "service-toll")
        .queue(
            QueueToml::new("sales")
                .numbers(&[NUMBER])
                .set("music_on_hold", &format!("{:?}", p(&music)))
                .set("no_agents", r#"{ action = "queue" }"#),
        )
        .to_string()
        .replacen("[sip]\n", &format!("[sip]\n{sip}"), 1);
    (Server::start(&config), pki)
}

/// The SDP of a caller receiving on `rtp` with `proto`, and `crypto` lines.
fn offer(rtp: u16, proto: &str, crypto: &str) -> String {
    format!(
        "v=0\r\no=c 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {rtp} {proto} 0\r\na=rtpmap:0 PCMU/8000\r\n{crypto}"
    )
}

fn caller_crypto() -> String {
    let key = MasterKey::new(CALLER_KEY).to_base64();
    // An unknown suite first: holdline must skip it and take tag 2 (RFC 4568 §7.1.2).
    format!(
        "a=crypto:1 AES_256_CM_HMAC_SHA1_80 inline:{key}{key}\r\n\
         a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:{key}|2^31\r\n"
    )
}

fn invite(transport: &str, me: SocketAddr, call_id: &str, sdp: &str) -> String {
    let scheme = if transport == "TLS" { "sips" } else { "sip" };
    format!(
        "INVITE {scheme}:{NUMBER}@{PBX} SIP/2.0\r\n\
         Via: SIP/2.0/{transport} {me};branch=z9hG4bK{call_id};rport\r\n\
         From: <{scheme}:caller@client.test>;tag=c-{call_id}\r\n\
         To: <{scheme}:{NUMBER}@{PBX}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:caller@{me};transport={}>\r\n\
         Max-Forwards: 70\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        transport.to_ascii_lowercase(),
        sdp.len()
    )
}

fn ack(transport: &str, me: SocketAddr, call_id: &str, to: &str) -> String {
    let scheme = if transport == "TLS" { "sips" } else { "sip" };
    format!(
        "ACK {scheme}:{NUMBER}@{PBX} SIP/2.0\r\n\
         Via: SIP/2.0/{transport} {me};branch=z9hG4bK{call_id}ack;rport\r\n\
         From: <{scheme}:caller@client.test>;tag=c-{call_id}\r\n\
         To: {to}\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 ACK\r\n\
         Max-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// An INVITE over TLS; the final response's text.
fn tls_call(server: &Server, pki: &Pki, call_id: &str, sdp: &str) -> (TlsClient, String) {
    let addr = SocketAddr::from(([127, 0, 0, 1], server.tls_port.expect("a tls listener")));
    let mut client =
        TlsClient::connect(addr, PBX, pki.client_config(None)).expect("TLS to holdline");
    client
        .send(&invite("TLS", client.local_addr(), call_id, sdp))
        .unwrap();
    let last = client
        .recv_until(Duration::from_secs(10), |first| {
            first.starts_with("SIP/2.0 2")
                || first.starts_with("SIP/2.0 4")
                || first.starts_with("SIP/2.0 5")
        })
        .expect("a final response to the INVITE");
    (client, last)
}

/// Every datagram `socket` receives for `how_long`.
fn capture(socket: &UdpSocket, how_long: Duration) -> Vec<Vec<u8>> {
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let end = Instant::now() + how_long;
    let mut out = Vec::new();
    let mut buf = [0u8; 2048];
    while Instant::now() < end {
        if let Ok(n) = socket.recv(&mut buf) {
            out.push(buf[..n].to_vec());
        }
    }
    out
}

fn ulaw(payload: &[u8]) -> Vec<i16> {
    payload
        .iter()
        .map(|&b| holdline::audio::g711::ulaw_to_linear(b))
        .collect()
}

/// A free UDP port on loopback (bound, then released for ffmpeg to take).
fn free_port_pair() -> u16 {
    loop {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = s.local_addr().unwrap().port();
        if port % 2 == 0 && port < 65534 && UdpSocket::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
}

/// ffmpeg decrypts `packets` (SRTP under `key`, as holdline's answer gave it) with its own
/// SRTP implementation and decodes the μ-law: the linear samples.
fn ffmpeg_decrypt(dir: &Path, key_b64: &str, packets: &[Vec<u8>]) -> Vec<i16> {
    let port = free_port_pair();
    let sdp = dir.join("srtp.sdp");
    std::fs::write(
        &sdp,
        format!(
            "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio {port} RTP/SAVP 0\r\na=rtpmap:0 PCMU/8000\r\n\
             a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{key_b64}\r\n"
        ),
    )
    .unwrap();
    let out = dir.join("decrypted.raw");
    let mut child = Command::new("ffmpeg")
        .args(["-y", "-nostdin", "-loglevel", "error"])
        .args(["-protocol_whitelist", "file,udp,rtp,srtp"])
        .arg("-i")
        .arg(&sdp)
        .args(["-t", "1.2", "-f", "s16le", "-ac", "1", "-ar", "8000"])
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ffmpeg is not installed: run the README's test command (it installs it)");
    // ffmpeg is listening once the port is taken.
    let end = Instant::now() + Duration::from_secs(10);
    while UdpSocket::bind(("127.0.0.1", port)).is_ok() {
        assert!(Instant::now() < end, "ffmpeg never bound port {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    for packet in packets {
        sender.send_to(packet, ("127.0.0.1", port)).unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    let end = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                use std::io::Read;
                let _ = e.read_to_string(&mut err);
            }
            assert!(status.success(), "ffmpeg failed: {err}");
            break;
        }
        if Instant::now() > end {
            let _ = child.kill();
            panic!("ffmpeg did not finish decoding");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::fs::read(&out)
        .unwrap()
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

/// A PCMU packet from the caller: `seq`, ssrc 0x5eed, a quiet payload.
fn caller_rtp(seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, 0x00];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&0x5eedu32.to_be_bytes());
    p.extend(std::iter::repeat_n(0xFF, 160));
    p
}

#[test]
fn a_caller_offering_srtp_over_tls_hears_the_music_encrypted_under_holdlines_key() {
    let (server, pki) = server("srtp-tls", "");
    let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sdp = offer(
        rtp.local_addr().unwrap().port(),
        "RTP/SAVP",
        &caller_crypto(),
    );
    let (mut client, ok) = tls_call(&server, &pki, "srtp-1", &sdp);
    let (status, answer) = response(&ok);
    assert_eq!(status, 200, "{ok}");
    let answer = answer.expect("an SDP answer");
    let m = &answer.media[0];
    assert_eq!(m.proto, "RTP/SAVP", "{answer}");
    let lines: Vec<_> = crypto::crypto_lines(m).collect();
    assert_eq!(lines.len(), 1, "one crypto line in the answer: {answer}");
    let theirs = lines[0].clone().expect("a usable crypto line");
    assert_eq!(theirs.tag, 2, "the first usable tag of the offer");
    assert_eq!(theirs.suite, crypto::CryptoSuite::AesCm128HmacSha1_80);
    assert_ne!(theirs.key, MasterKey::new(CALLER_KEY), "holdline's own key");
    let to = header(&ok, "to", Some("t")).expect("To");
    client
        .send(&ack("TLS", client.local_addr(), "srtp-1", &to))
        .unwrap();

    let packets = capture(&rtp, Duration::from_millis(2500));
    assert!(packets.len() >= 90, "{} packets in 2.5 s", packets.len());
    // 12-byte header, 160 bytes of μ-law, the 80-bit tag (RFC 3711 §4.2).
    for packet in &packets {
        assert_eq!(packet.len(), 12 + 160 + 10, "SRTP packet size");
    }
    // On the wire the payload is not the tone: encrypted.
    let wire: Vec<i16> = packets.iter().flat_map(|p| ulaw(&p[12..172])).collect();
    let share = tone_share(&wire, 8000, 1000.0);
    assert!(
        share < 0.1,
        "the tone is {share:.2} of the encrypted payload"
    );

    // ffmpeg, an SRTP implementation other than the server's, decrypts it to the music.
    let dir = scratch_dir("srtp-ffmpeg");
    let decoded = ffmpeg_decrypt(&dir, &theirs.key.to_base64(), &packets);
    assert!(decoded.len() >= 8000, "{} samples decoded", decoded.len());
    let share = tone_share(&decoded[800..], 8000, 1000.0);
    assert!(
        share > 0.9,
        "the tone is {share:.2} of what ffmpeg decrypted"
    );

    // Every packet authenticates under the answered key, in sequence.
    let keying = Keying {
        suite: Suite::AesCm128HmacSha1_80,
        key: theirs.key.key(),
        salt: theirs.key.salt(),
    };
    let mut open = Unprotector::new(keying).unwrap();
    let mut last: Option<u16> = None;
    for packet in &packets {
        let clear = open
            .rtp(packet)
            .expect("authenticates under the answered key");
        let seq = u16::from_be_bytes([clear[2], clear[3]]);
        if let Some(last) = last {
            assert_eq!(seq, last.wrapping_add(1));
        }
        last = Some(seq);
    }

    // The caller sends SRTP under its key: a tampered packet is dropped and counted, genuine
    // ones are not.
    let ours = Keying {
        suite: Suite::AesCm128HmacSha1_80,
        key: &CALLER_KEY[..16],
        salt: &CALLER_KEY[16..],
    };
    let mut seal = Protector::new(ours).unwrap();
    let conn = answer.connection_for(m).unwrap().ip().unwrap();
    let to_holdline = SocketAddr::new(conn, m.port);
    let before = metric(&server, "holdline_srtp_refused_total");
    assert_eq!(before, 0);
    let mut forged = seal.rtp(&caller_rtp(100)).unwrap().to_vec();
    forged[30] ^= 0x01;
    rtp.send_to(&forged, to_holdline).unwrap();
    for seq in 101..104 {
        rtp.send_to(&seal.rtp(&caller_rtp(seq)).unwrap(), to_holdline)
            .unwrap();
    }
    // And a replay of the last genuine one (RFC 3711 §3.3.2).
    let mut replay_seal = Protector::new(ours).unwrap();
    for seq in 100..103 {
        let _ = replay_seal.rtp(&caller_rtp(seq)).unwrap();
    }
    rtp.send_to(&replay_seal.rtp(&caller_rtp(103)).unwrap(), to_holdline)
        .unwrap();
    let end = Instant::now() + Duration::from_secs(5);
    let mut refused = 0;
    while Instant::now() < end {
        refused = metric(&server, "holdline_srtp_refused_total");
        if refused >= 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        metric(&server, "holdline_srtp_refused_total"),
        2,
        "the tampered packet and the replay, not the three genuine ones (saw {refused})"
    );
    // Strict RTP latched the caller's genuine packets: nothing counted as foreign.
    assert_eq!(metric(&server, "holdline_rtp_dropped_foreign_total"), 0);
}

#[test]
fn required_policy_refuses_a_plain_offer_over_tls_with_488() {
    let (server, pki) = server("srtp-required", "srtp = \"required\"\n");
    let sdp = offer(40_000, "RTP/AVP", "");
    let (_client, last) = tls_call(&server, &pki, "srtp-plain", &sdp);
    let (status, _) = response(&last);
    assert_eq!(status, 488, "{last}");
    let warning = header(&last, "warning", None).expect("a Warning header");
    assert!(warning.starts_with("302 "), "{warning}");
    // The same server takes an SRTP offer.
    let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sdp = offer(
        rtp.local_addr().unwrap().port(),
        "RTP/SAVP",
        &caller_crypto(),
    );
    let (_client, ok) = tls_call(&server, &pki, "srtp-ok", &sdp);
    assert_eq!(response(&ok).0, 200, "{ok}");
}

#[test]
fn a_udp_caller_offering_savp_under_optional_gets_plain_rtp_and_no_keys() {
    let (server, _pki) = server("srtp-udp", "");
    let sip = UdpSocket::bind("127.0.0.1:0").unwrap();
    sip.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sdp = offer(
        rtp.local_addr().unwrap().port(),
        "RTP/SAVP",
        &caller_crypto(),
    );
    let me = sip.local_addr().unwrap();
    let holdline = SocketAddr::from(([127, 0, 0, 1], server.port));
    sip.send_to(invite("UDP", me, "srtp-udp", &sdp).as_bytes(), holdline)
        .unwrap();
    let end = Instant::now() + Duration::from_secs(10);
    let ok = loop {
        assert!(Instant::now() < end, "no final response");
        let mut buf = [0u8; 4096];
        let Ok(n) = sip.recv(&mut buf) else { continue };
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        if text.starts_with("SIP/2.0 1") {
            continue;
        }
        break text;
    };
    let (status, answer) = response(&ok);
    assert_eq!(status, 200, "{ok}");
    let answer = answer.unwrap();
    assert_eq!(answer.media[0].proto, "RTP/AVP", "{answer}");
    assert!(!ok.contains("a=crypto"), "no keys over UDP: {ok}");
    let to = header(&ok, "to", Some("t")).unwrap();
    sip.send_to(ack("UDP", me, "srtp-udp", &to).as_bytes(), holdline)
        .unwrap();
    let packets = capture(&rtp, Duration::from_millis(1500));
    assert!(packets.len() >= 50, "{} packets", packets.len());
    assert!(
        packets.iter().all(|p| p.len() == 12 + 160),
        "plain RTP sizes"
    );
    let heard: Vec<i16> = packets.iter().flat_map(|p| ulaw(&p[12..])).collect();
    let share = tone_share(&heard, 8000, 1000.0);
    assert!(share > 0.9, "the plain music is the tone ({share:.2})");
}

#[test]
fn a_forward_to_a_trunk_requiring_srtp_offers_savp_with_a_fresh_key() {
    let dir = scratch_dir("srtp-trunk");
    let pki = Pki::new(&dir, "pbx");
    let leaf = pki.issue("holdline", &[PBX, "127.0.0.1"]);
    let carrier = Pki::new(&dir, "carrier");
    let sbc_rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sbc = TlsServer::start(
        Pki::server_config(&carrier.issue("sbc", &["sbc.carrier.test"]), None),
        sbc_rtp.local_addr().unwrap().port(),
    );
    let greeting = dir.join("greeting.wav");
    sox(&[
        "-n",
        "-r",
        "8000",
        "-c",
        "1",
        &p(&greeting),
        "synth",
        "0.3",
        "sine",
        "500",
    ]);
    let server = Server::start(
        &ConfigToml::loopback("46000-46999")
            .api_token(TOKEN)
            .tls(&p(&leaf.cert_pem), &p(&leaf.key_pem), None)
            .number(NUMBER, "service-toll")
            .raw(&format!(
                "[[trunk]]\nid = \"carrier\"\nproxy = \"sip:{};transport=tls\"\n\
                 allow = [\"+1425*\"]\ntls_ca = {:?}\ntls_name = \"sbc.carrier.test\"\n\
                 srtp = \"required\"\n",
                sbc.addr,
                p(&carrier.ca_pem()),
            ))
            .queue(
                QueueToml::new("sales")
                    .numbers(&[NUMBER])
                    .set("greeting", &format!("{:?}", p(&greeting)))
                    .set("max_wait", "0")
                    .set("no_agents", r#"{ action = "queue" }"#)
                    .set(
                        "on_timeout",
                        r#"{ action = "forward", to = "tel:+14255550123" }"#,
                    ),
            )
            .to_string(),
    );
    let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sdp = offer(
        rtp.local_addr().unwrap().port(),
        "RTP/SAVP",
        &caller_crypto(),
    );
    let (mut client, ok) = tls_call(&server, &pki, "srtp-fwd", &sdp);
    assert_eq!(response(&ok).0, 200, "{ok}");
    let to = header(&ok, "to", Some("t")).unwrap();
    client
        .send(&ack("TLS", client.local_addr(), "srtp-fwd", &to))
        .unwrap();
    let end = Instant::now() + Duration::from_secs(10);
    let invite = loop {
        if let Some(i) = sbc.seen().messages.iter().find(|m| m.starts_with("INVITE")) {
            break i.clone();
        }
        assert!(Instant::now() < end, "the SBC got no INVITE");
        std::thread::sleep(Duration::from_millis(50));
    };
    let Message::Request(req) = parse(&invite) else {
        unreachable!()
    };
    let offered: SessionDescription = std::str::from_utf8(&req.body).unwrap().parse().unwrap();
    let m = &offered.media[0];
    assert_eq!(m.proto, "RTP/SAVP", "{offered}");
    let line = crypto::first_usable(m).expect("a usable crypto line in our offer");
    assert_eq!(line.suite, crypto::CryptoSuite::AesCm128HmacSha1_80);
    // The leg's key is its own: not the caller's, not the one the caller's answer carried.
    let (_, answer) = response(&ok);
    let caller_side = crypto::first_usable(&answer.unwrap().media[0]).unwrap();
    assert_ne!(line.key, caller_side.key);
    assert_ne!(line.key, MasterKey::new(CALLER_KEY));
}
