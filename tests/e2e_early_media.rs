//! End-to-end early media on the real binary: a caller (a UDP socket the test plays) is
//! answered by a queue, hears its greeting and music, and is forwarded (`on_timeout`) to a
//! number through a trunk whose SBC (another socket the test plays) answers the INVITE with
//! 183 and an SDP answer, then sends RTP with a payload no prompt has (every byte 0x55). The
//! caller must receive that payload while the forward still rings: the far end's early media
//! replaces the music (RFC 3261 §13.2.1, RFC 3960 §3).
#![allow(clippy::disallowed_methods)] // A real process in real time: waiting is the point.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use holdline_testkit::{scratch_dir, ConfigToml, QueueToml, Server};

const NUMBER: &str = "+14255550100";
/// The far end's early media: a PCMU payload no music or greeting contains.
const EARLY: u8 = 0x55;

fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The RTP address of an SDP body's first audio stream (`c=` and `m=audio`).
fn sdp_rtp(msg: &str) -> Option<SocketAddr> {
    let ip = msg
        .lines()
        .find_map(|l| l.strip_prefix("c=IN IP4 "))?
        .trim();
    let port = msg
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))?
        .split(' ')
        .next()?;
    format!("{ip}:{port}").parse().ok()
}

fn sdp(rtp: u16) -> String {
    format!(
        "v=0\r\no=t 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {rtp} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\n"
    )
}

/// A response to `req` with `status`, its Via/From/Call-ID/CSeq, a To tag, and `body` (SDP).
fn respond(req: &str, status: &str, contact: SocketAddr, body: &str) -> String {
    let mut out = format!("SIP/2.0 {status}\r\n");
    for line in req.lines() {
        let lower = line.to_ascii_lowercase();
        if ["via:", "from:", "call-id:", "cseq:"]
            .iter()
            .any(|h| lower.starts_with(h))
        {
            out.push_str(line.trim_end());
            out.push_str("\r\n");
        } else if lower.starts_with("to:") {
            out.push_str(line.trim_end());
            out.push_str(";tag=sbc1\r\n");
        }
    }
    out.push_str(&format!("Contact: <sip:sbc@{contact}>\r\n"));
    if !body.is_empty() {
        out.push_str("Content-Type: application/sdp\r\n");
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    out
}

fn rtp(seq: u16, ts: u32) -> Vec<u8> {
    let mut p = vec![0x80, 0];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&0x5b5b_5b5b_u32.to_be_bytes());
    p.extend(std::iter::repeat_n(EARLY, 160));
    p
}

#[test]
fn a_forwards_early_media_reaches_the_caller_while_it_rings() {
    let dir = scratch_dir("early-media");
    let greeting = dir.join("greeting.wav");
    let g = greeting.display().to_string();
    holdline_testkit::audio::sox(&[
        "-n", "-r", "8000", "-c", "1", &g, "synth", "0.3", "sine", "500",
    ]);
    let sbc = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sbc_rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sbc_addr = sbc.local_addr().unwrap();
    let text = ConfigToml::loopback("46000-46999")
        .number(NUMBER, "service-toll")
        .raw(&format!(
            "[[trunk]]\nid = \"carrier\"\nproxy = \"sip:{sbc_addr}\"\nallow = [\"+1425*\"]\n"
        ))
        .queue(
            QueueToml::new("sales")
                .numbers(&[NUMBER])
                .set("greeting", &format!("{g:?}"))
                .set("max_wait", "0")
                .set("no_agents", r#"{ action = "queue" }"#)
                .set(
                    "on_timeout",
                    r#"{ action = "forward", to = "tel:+14255550123" }"#,
                ),
        )
        .to_string();
    let server = Server::start(&text);
    let server_sip: SocketAddr = format!("127.0.0.1:{}", server.port).parse().unwrap();

    // The caller: INVITE, then ACK of the 200.
    let caller = UdpSocket::bind("127.0.0.1:0").unwrap();
    let caller_rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    caller
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    caller_rtp
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let me = caller.local_addr().unwrap();
    let body = sdp(caller_rtp.local_addr().unwrap().port());
    let invite = format!(
        "INVITE sip:{NUMBER}@{server_sip} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {me};branch=z9hG4bKearly1;rport\r\n\
         From: <sip:caller@{me}>;tag=c1\r\n\
         To: <sip:{NUMBER}@{server_sip}>\r\n\
         Call-ID: early-media-1\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:caller@{me}>\r\n\
         Max-Forwards: 70\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    caller.send_to(invite.as_bytes(), server_sip).unwrap();
    let mut buf = [0u8; 65_535];
    let deadline = Instant::now() + Duration::from_secs(10);
    let ok = loop {
        assert!(Instant::now() < deadline, "the caller was never answered");
        let Ok((n, _)) = caller.recv_from(&mut buf) else {
            continue;
        };
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        if text.starts_with("SIP/2.0 200") {
            break text;
        }
    };
    let to = header(&ok, "To").unwrap().to_owned();
    let ack = format!(
        "ACK sip:{NUMBER}@{server_sip} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {me};branch=z9hG4bKearly2;rport\r\n\
         From: <sip:caller@{me}>;tag=c1\r\n\
         To: {to}\r\n\
         Call-ID: early-media-1\r\n\
         CSeq: 1 ACK\r\n\
         Max-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n"
    );
    caller.send_to(ack.as_bytes(), server_sip).unwrap();

    // The SBC: the forward's INVITE, answered 183 with SDP, then early RTP toward the leg.
    sbc.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let (forward, from) = loop {
        assert!(Instant::now() < deadline, "the SBC never got the forward");
        let Ok((n, from)) = sbc.recv_from(&mut buf) else {
            continue;
        };
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        if text.starts_with("INVITE ") {
            break (text, from);
        }
    };
    let leg_rtp = sdp_rtp(&forward).expect("the forward's INVITE offers SDP");
    let early_sdp = sdp(sbc_rtp.local_addr().unwrap().port());
    sbc.send_to(
        respond(&forward, "183 Session Progress", sbc_addr, &early_sdp).as_bytes(),
        from,
    )
    .unwrap();

    // Music until then, the far end's payload after: look for it for up to 3 s while
    // sending early RTP every 20 ms.
    let mut heard_music = 0;
    let mut heard_early = 0;
    let start = Instant::now();
    let mut seq = 1u16;
    caller_rtp
        .set_read_timeout(Some(Duration::from_millis(5)))
        .unwrap();
    while start.elapsed() < Duration::from_secs(3) && heard_early < 5 {
        sbc_rtp
            .send_to(&rtp(seq, u32::from(seq) * 160), leg_rtp)
            .unwrap();
        seq = seq.wrapping_add(1);
        let tick = Instant::now();
        while tick.elapsed() < Duration::from_millis(20) {
            let Ok((n, _)) = caller_rtp.recv_from(&mut buf) else {
                continue;
            };
            if n < 12 + 80 {
                continue;
            }
            if buf[12..n].iter().all(|b| *b == EARLY) {
                heard_early += 1;
            } else {
                heard_music += 1;
            }
        }
    }
    assert!(
        heard_early >= 5,
        "the caller heard the far end's early media ({heard_early} packets, \
         {heard_music} others)\n{}",
        server
            .log_text()
            .lines()
            .filter(|l| l.contains("early") || l.contains("forward"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    // No 200 was sent: this was early media, the forward still rings.
    drop(server);
}
