//! End-to-end attended transfer (RFC 5589 §7, RFC 3891 Replaces) against the real binary on
//! loopback: a SIPp caller (its RTP to a socket of the test) dials the sales queue; amos, whose
//! phone is played here by plain UDP sockets (SIPp runs one dialog per scenario, and amos needs
//! two: the queue call and the consult call), answers, holds the caller (re-INVITE sendonly),
//! calls the support queue, where the SIPp agent bea answers, then REFERs the caller with
//! `Replaces` naming the consult call. On the wire: 202, NOTIFY 100 and 200, BYE on both of
//! amos's dialogs; then bea's RTP reaches the caller and the caller's reaches bea, and the
//! caller's stream keeps its SSRC and sequence across the transfer; the event log has the
//! transfer.
#![allow(clippy::disallowed_methods)] // A real process in real time: waiting is the point.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use holdline::api::client::Client;
use holdline::sip::header::HeaderName;
use holdline::sip::message::{Message, Request, Response};
use holdline::sip::parse::{parse_datagram, Limits};
use holdline::sip::Method;
use holdline_testkit::{
    assert_sipp_ok, free_port, run_sipp_port, AgentPhone, ConfigToml, QueueToml, Server,
};

const SALES: &str = "+14255550100";
const SUPPORT: &str = "+14255550101";
const TOKEN: &str = "attended-test-token";

/// The next SIP message on `s` that `want` takes, within `limit`.
fn recv(s: &UdpSocket, limit: Duration, want: impl Fn(&Message) -> bool) -> Option<Message> {
    let end = Instant::now() + limit;
    let mut buf = [0u8; 65536];
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    while Instant::now() < end {
        let Ok(n) = s.recv(&mut buf) else { continue };
        if let Ok(m) = parse_datagram(&buf[..n], &Limits::default()) {
            if want(&m) {
                return Some(m);
            }
        }
    }
    None
}

fn request(s: &UdpSocket, method: Method) -> Request {
    match recv(
        s,
        Duration::from_secs(10),
        |m| matches!(m, Message::Request(r) if r.method == method),
    ) {
        Some(Message::Request(r)) => r,
        _ => panic!("no {method:?} for amos"),
    }
}

/// The final response (≥ 200) with `cseq_method` on `s`.
fn final_response(s: &UdpSocket, cseq_method: &str) -> Response {
    match recv(s, Duration::from_secs(10), |m| {
        matches!(m, Message::Response(r) if r.status >= 200
            && r.headers.get(&HeaderName::CSeq).is_some_and(|c| c.ends_with(cseq_method)))
    }) {
        Some(Message::Response(r)) => r,
        _ => panic!("no final response to {cseq_method}"),
    }
}

fn sdp(rtp_port: u16, direction: &str) -> String {
    format!(
        "v=0\r\no=amos 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {rtp_port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na={direction}\r\n"
    )
}

/// amos's answer to `req` (our tag `amos1`), with `body` as SDP when not empty.
fn answer(req: &Request, status: u16, me: SocketAddr, body: &str) -> String {
    let mut out = format!("SIP/2.0 {status} OK\r\n");
    for v in req.headers.get_all(&HeaderName::Via) {
        out.push_str(&format!("Via: {v}\r\n"));
    }
    let to = req.headers.get(&HeaderName::To).unwrap();
    let to = match to.contains("tag=") {
        true => to.to_owned(),
        false => format!("{to};tag=amos1"),
    };
    out.push_str(&format!(
        "From: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\nContact: <sip:amos@{me}>\r\n",
        req.headers.get(&HeaderName::From).unwrap(),
        req.headers.get(&HeaderName::CallId).unwrap(),
        req.headers.get(&HeaderName::CSeq).unwrap(),
    ));
    if !body.is_empty() {
        out.push_str("Content-Type: application/sdp\r\n");
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    out
}

/// A request from amos in the dialog holdline's `invite` opened (amos is its UAS: our From
/// is its To with our tag, our To its From).
fn in_dialog(
    invite: &Request,
    method: &str,
    cseq: u32,
    me: SocketAddr,
    extra: &str,
    body: &str,
) -> String {
    let target = invite
        .headers
        .get(&HeaderName::Contact)
        .map(|c| c.trim_matches(|ch| ch == '<' || ch == '>').to_owned())
        .unwrap();
    let ct = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\r\n"
    };
    format!(
        "{method} {target} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {me};branch=z9hG4bKamos{method}{cseq};rport\r\n\
         From: {};tag=amos1\r\n\
         To: {}\r\n\
         Call-ID: {}\r\n\
         CSeq: {cseq} {method}\r\n\
         Contact: <sip:amos@{me}>\r\n\
         Max-Forwards: 70\r\n\
         {extra}{ct}Content-Length: {}\r\n\r\n{body}",
        invite.headers.get(&HeaderName::To).unwrap(),
        invite.headers.get(&HeaderName::From).unwrap(),
        invite.headers.get(&HeaderName::CallId).unwrap(),
        body.len()
    )
}

/// RTP packets on `socket` for `how_long`: (SSRC, sequence number, payload).
fn listen(socket: &UdpSocket, how_long: Duration) -> Vec<(u32, u16, Vec<u8>)> {
    socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut out = Vec::new();
    let end = Instant::now() + how_long;
    let mut buf = [0u8; 2048];
    while Instant::now() < end {
        if let Ok(n) = socket.recv(&mut buf) {
            if n > 12 && buf[0] >> 6 == 2 {
                let seq = u16::from_be_bytes([buf[2], buf[3]]);
                let ssrc = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);
                out.push((ssrc, seq, buf[12..n].to_vec()));
            }
        }
    }
    out
}

/// Where holdline's first RTP packet on `socket` came from.
fn first_sender(socket: &UdpSocket) -> SocketAddr {
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 2048];
    socket.recv_from(&mut buf).expect("RTP from holdline").1
}

/// 20 ms PCMU packets of one byte value, `count` of them, from `socket` to `to`.
fn speak(socket: UdpSocket, to: SocketAddr, byte: u8, ssrc: u32, count: u16) {
    for seq in 0..count {
        let mut pkt = vec![0x80, 0, 0, 0, 0, 0, 0, 0];
        pkt[2..4].copy_from_slice(&seq.to_be_bytes());
        pkt[4..8].copy_from_slice(&(u32::from(seq) * 160).to_be_bytes());
        pkt.extend(ssrc.to_be_bytes());
        pkt.extend([byte; 160]);
        let _ = socket.send_to(&pkt, to);
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn voice(packets: &[(u32, u16, Vec<u8>)], byte: u8) -> usize {
    packets
        .iter()
        .filter(|(_, _, p)| p.len() == 160 && p.iter().all(|&b| b == byte))
        .count()
}

#[test]
fn attended_transfer_between_two_agents_keeps_the_callers_stream() {
    let amos_sip = UdpSocket::bind("127.0.0.1:0").unwrap();
    let amos_rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let me = amos_sip.local_addr().unwrap();
    let bea = free_port();
    let config = ConfigToml::loopback("21000-21999")
        .api_token(TOKEN)
        .number(SALES, "service-toll")
        .number(SUPPORT, "service-toll")
        .user("amos", &me.to_string())
        .user("bea", &format!("127.0.0.1:{bea}"))
        .queue(
            QueueToml::new("sales")
                .name("UK Sales")
                .numbers(&[SALES])
                .agents(&["amos"]),
        )
        .queue(
            QueueToml::new("support")
                .name("Support")
                .numbers(&[SUPPORT])
                .agents(&["bea"]),
        )
        .to_string();
    let server = Server::start(&config);
    let holdline: SocketAddr = format!("127.0.0.1:{}", server.port).parse().unwrap();
    // Bea's phone answers the consult call, shown as "Amos via Support"; holdline hangs it up
    // when the caller does.
    let (bea_phone, bea_rtp) =
        AgentPhone::answering("uas_agent_answer.xml", bea, "Support", 30, &[]);
    let caller_rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let caller_port = caller_rtp.local_addr().unwrap().port().to_string();
    let caller = std::thread::spawn(move || {
        run_sipp_port(
            holdline.port(),
            "uac_rtp_recorder.xml",
            "u1",
            &["-s", SALES, "-m", "1", "-key", "rtp_port", &caller_port]
                .into_iter()
                .chain(["-key", "codec", "0", "-d", "7000"])
                .collect::<Vec<_>>(),
        )
    });

    // amos answers the queue call.
    let invite = request(&amos_sip, Method::Invite);
    let rtp_port = amos_rtp.local_addr().unwrap().port();
    amos_sip
        .send_to(
            answer(&invite, 200, me, &sdp(rtp_port, "sendrecv")).as_bytes(),
            holdline,
        )
        .unwrap();
    request(&amos_sip, Method::Ack);
    let to_caller = first_sender(&caller_rtp);
    let before = listen(&caller_rtp, Duration::from_millis(300));
    assert!(
        !before.is_empty(),
        "the caller hears holdline before the transfer"
    );

    // Hold (RFC 3264 §8.4): answered recvonly.
    let hold = in_dialog(&invite, "INVITE", 1, me, "", &sdp(rtp_port, "sendonly"));
    amos_sip.send_to(hold.as_bytes(), holdline).unwrap();
    let held = final_response(&amos_sip, "INVITE");
    assert_eq!(held.status, 200);
    assert!(String::from_utf8_lossy(&held.body).contains("a=recvonly"));
    amos_sip
        .send_to(
            in_dialog(&invite, "ACK", 1, me, "", "").as_bytes(),
            holdline,
        )
        .unwrap();

    // The consult call to the support queue; bea's SIPp answers it.
    let consult = format!(
        "INVITE sip:{SUPPORT}@{holdline} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {me};branch=z9hG4bKconsult1;rport\r\n\
         From: \"Amos\" <sip:amos@{me}>;tag=amosc\r\n\
         To: <sip:{SUPPORT}@{holdline}>\r\n\
         Call-ID: consult-1@amos\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:amos@{me}>\r\n\
         Max-Forwards: 70\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{}",
        sdp(rtp_port, "sendrecv").len(),
        sdp(rtp_port, "sendrecv")
    );
    amos_sip.send_to(consult.as_bytes(), holdline).unwrap();
    let ok = final_response(&amos_sip, "INVITE");
    assert_eq!(ok.status, 200, "the support queue answers the consult call");
    let consult_tag = ok
        .headers
        .to()
        .and_then(|t| t.tag().map(str::to_owned))
        .unwrap();
    let ack = format!(
        "ACK sip:{SUPPORT}@{holdline} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {me};branch=z9hG4bKconsult1ack;rport\r\n\
         From: \"Amos\" <sip:amos@{me}>;tag=amosc\r\n\
         To: <sip:{SUPPORT}@{holdline}>;tag={consult_tag}\r\n\
         Call-ID: consult-1@amos\r\n\
         CSeq: 1 ACK\r\n\
         Max-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n"
    );
    amos_sip.send_to(ack.as_bytes(), holdline).unwrap();
    // Bea's leg streams once she answered.
    let to_bea = first_sender(&bea_rtp);

    // The transfer, naming the consult dialog from amos's side (RFC 3891 §3).
    let refer = in_dialog(
        &invite,
        "REFER",
        2,
        me,
        &format!(
            "Refer-To: <sip:{SUPPORT}@127.0.0.1?Replaces=consult-1%40amos%3Bto-tag%3D{consult_tag}%3Bfrom-tag%3Damosc>\r\n\
             Referred-By: <sip:amos@{me}>\r\n"
        ),
        "",
    );
    amos_sip.send_to(refer.as_bytes(), holdline).unwrap();
    assert_eq!(final_response(&amos_sip, "REFER").status, 202);
    let (mut notifies, mut byes) = (Vec::new(), Vec::new());
    let end = Instant::now() + Duration::from_secs(5);
    while (notifies.len() < 2 || byes.len() < 2) && Instant::now() < end {
        let Some(Message::Request(r)) = recv(
            &amos_sip,
            Duration::from_millis(200),
            |m| matches!(m, Message::Request(r) if matches!(r.method, Method::Notify | Method::Bye)),
        ) else {
            continue;
        };
        amos_sip
            .send_to(answer(&r, 200, me, "").as_bytes(), holdline)
            .unwrap();
        match r.method {
            Method::Notify => notifies.push(String::from_utf8_lossy(&r.body).trim().to_owned()),
            _ => byes.push(r.headers.get(&HeaderName::CallId).unwrap().to_owned()),
        }
    }
    assert_eq!(notifies, ["SIP/2.0 100 Trying", "SIP/2.0 200 OK"]);
    byes.sort();
    let mut want = vec![
        invite.headers.get(&HeaderName::CallId).unwrap().to_owned(),
        "consult-1@amos".to_owned(),
    ];
    want.sort();
    assert_eq!(byes, want, "BYE on both of amos's dialogs");

    // Media after the transfer: bea and the caller hear each other through the same ports.
    let (b, c) = (
        bea_rtp.try_clone().unwrap(),
        caller_rtp.try_clone().unwrap(),
    );
    let bea_talks = std::thread::spawn(move || speak(b, to_bea, 0x2a, 0xbea, 75));
    let caller_talks = std::thread::spawn(move || speak(c, to_caller, 0x3b, 0xca11, 75));
    let bea_listens = std::thread::spawn(move || listen(&bea_rtp, Duration::from_millis(1600)));
    let heard_by_caller = listen(&caller_rtp, Duration::from_millis(1600));
    let heard_by_bea = bea_listens.join().unwrap();
    bea_talks.join().unwrap();
    caller_talks.join().unwrap();
    let (bea_voice, caller_voice) = (voice(&heard_by_caller, 0x2a), voice(&heard_by_bea, 0x3b));
    assert!(
        bea_voice >= 40,
        "the caller hears bea: {bea_voice} of 75 in {} packets",
        heard_by_caller.len()
    );
    assert!(
        caller_voice >= 40,
        "bea hears the caller: {caller_voice} of 75 in {} packets",
        heard_by_bea.len()
    );
    // The caller's stream is the one it had: same SSRC, sequence numbers going on (the
    // packets sent while we were busy signalling were not read: a forward gap, never a reset).
    let ssrc = before[0].0;
    assert!(
        heard_by_caller.iter().all(|(s, _, _)| *s == ssrc),
        "one SSRC toward the caller across the transfer"
    );
    let last_before = before.last().unwrap().1;
    let first_after = heard_by_caller[0].1;
    let ahead = first_after.wrapping_sub(last_before);
    assert!(
        (1..2000).contains(&ahead),
        "sequence goes on: {last_before} then {first_after}"
    );

    let caller = caller.join().unwrap();
    assert_sipp_ok(&caller, &server, "caller");
    assert_sipp_ok(&bea_phone.finish(), &server, "bea");

    // The event log: the caller's sales call was transferred by amos, attended.
    let api = Client::new(server.api.clone(), Some(TOKEN.to_owned()));
    let end = Instant::now() + Duration::from_secs(5);
    let transfer = loop {
        let events = api
            .request("GET", "/api/v1/events?kind=transferred", None)
            .unwrap()
            .body;
        if let Some(e) = events.as_array().and_then(|a| a.first()).cloned() {
            break e;
        }
        assert!(Instant::now() < end, "no transfer event: {events}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(transfer["agent"], "amos");
    assert_eq!(transfer["queue"], "sales");
    assert!(
        transfer["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("attended:") && d.contains(SUPPORT)),
        "{transfer}"
    );
}
