//! End-to-end: the real `holdline` binary reaching an agent's phone over TCP (RFC 3261 §18,
//! RFC 5923). The phone is a small TCP UAS in this file, so the test sees exactly which
//! connection each message arrives on: every INVITE, ACK and BYE of several calls comes on one
//! connection holdline opened, and holdline closes it once it has been idle for
//! `[sip.connections] outbound_idle_timeout`; and a phone that cannot be connected to fails its
//! INVITE at once, so the queue moves on. SIPp is the caller, over UDP. The server has its
//! own ephemeral ports and its own RTP range, so the test runs beside the others.
#![allow(clippy::disallowed_methods)] // A real process in real time: waiting is the point.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use holdline_testkit::{
    assert_sipp_ok, metric_value, run_sipp_port, ConfigToml, QueueToml, Server,
};

const NUMBER: &str = "+14255550100";
const TOKEN: &str = "tcp-reuse-token";
/// The outbound idle timeout under test: the shortest the configuration allows with
/// `t1_ms = 100` (64 x T1 = 6.4 s).
const IDLE: Duration = Duration::from_secs(7);
const CALLS: usize = 5;

/// What the phone saw: connections accepted, and each message with the connection it came on.
#[derive(Default)]
struct Seen {
    accepted: usize,
    /// (connection index, method or `SIP/2.0 <code>`, when).
    messages: Vec<(usize, String, Instant)>,
    /// (connection index, when the far end closed it).
    closed: Vec<(usize, Instant)>,
}

/// The phone's record, readable even after a thread panicked holding it.
fn lock(seen: &Mutex<Seen>) -> std::sync::MutexGuard<'_, Seen> {
    seen.lock().unwrap_or_else(|e| e.into_inner())
}

/// An agent's phone on TCP: answers every INVITE (180, then 200 with an SDP answer pointing at
/// `rtp`), and BYE, CANCEL and OPTIONS with 200; never closes a connection itself.
struct TcpPhone {
    port: u16,
    seen: Arc<Mutex<Seen>>,
    _rtp: UdpSocket,
}

impl TcpPhone {
    fn start() -> TcpPhone {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the phone");
        let port = listener.local_addr().unwrap().port();
        let rtp = UdpSocket::bind("127.0.0.1:0").expect("bind the phone's RTP");
        let rtp_port = rtp.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let s = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let index = {
                    let mut seen = lock(&s);
                    seen.accepted += 1;
                    seen.accepted - 1
                };
                let s = s.clone();
                std::thread::spawn(move || serve(stream, index, port, rtp_port, s));
            }
        });
        TcpPhone {
            port,
            seen,
            _rtp: rtp,
        }
    }
}

/// One connection: frames messages by Content-Length and answers them.
fn serve(mut stream: TcpStream, index: usize, port: u16, rtp_port: u16, seen: Arc<Mutex<Seen>>) {
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        while let Some((head, body_len, consumed)) = frame(&buf) {
            let text = String::from_utf8_lossy(&buf[..head]).into_owned();
            let _ = body_len;
            buf.drain(..consumed);
            let first = text.lines().next().unwrap_or_default().to_owned();
            let what = if first.starts_with("SIP/2.0") {
                first.split(' ').take(2).collect::<Vec<_>>().join(" ")
            } else {
                first.split(' ').next().unwrap_or_default().to_owned()
            };
            lock(&seen)
                .messages
                .push((index, what.clone(), Instant::now()));
            let answers: Vec<String> = match what.as_str() {
                "INVITE" => vec![
                    response(&text, "180 Ringing", port, None),
                    response(&text, "200 OK", port, Some(rtp_port)),
                ],
                "BYE" | "CANCEL" | "OPTIONS" => vec![response(&text, "200 OK", port, None)],
                _ => Vec::new(),
            };
            for a in answers {
                if stream.write_all(a.as_bytes()).is_err() {
                    return;
                }
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => {
                lock(&seen).closed.push((index, Instant::now()));
                return;
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// A complete message at the start of `buf` (keep-alive CRLFs skipped): the header length, the
/// body length and the bytes it takes.
fn frame(buf: &[u8]) -> Option<(usize, usize, usize)> {
    let skip = buf
        .iter()
        .take_while(|b| **b == b'\r' || **b == b'\n')
        .count();
    let rest = &buf[skip..];
    let end = rest.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&rest[..end]);
    let body = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            let name = name.trim();
            (name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("l"))
                .then(|| value.trim().parse::<usize>().ok())
                .flatten()
        })
        .unwrap_or(0);
    let total = skip + end + 4 + body;
    (buf.len() >= total).then_some((skip + end, body, total))
}

/// A response to `request` (its header text), with an SDP answer when `rtp_port` is given.
fn response(request: &str, status: &str, port: u16, rtp_port: Option<u16>) -> String {
    let mut out = format!("SIP/2.0 {status}\r\n");
    for line in request.lines().skip(1) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim().to_ascii_lowercase();
        match name.as_str() {
            "via" | "v" | "from" | "f" | "call-id" | "i" | "cseq" | "record-route" => {
                out.push_str(line);
                out.push_str("\r\n");
            }
            "to" | "t" => {
                out.push_str(line);
                if !value.contains("tag=") {
                    out.push_str(";tag=phone");
                }
                out.push_str("\r\n");
            }
            _ => {}
        }
    }
    out.push_str(&format!(
        "Contact: <sip:amos@127.0.0.1:{port};transport=tcp>\r\n"
    ));
    match rtp_port {
        Some(rtp) => {
            let sdp = format!(
                "v=0\r\no=amos 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                 m=audio {rtp} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
            );
            out.push_str(&format!(
                "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
                sdp.len()
            ));
        }
        None => out.push_str("Content-Length: 0\r\n\r\n"),
    }
    out
}

fn metrics(server: &Server) -> String {
    server.metrics(Some(TOKEN))
}

fn metric(text: &str, series: &str) -> u64 {
    metric_value(text, series).unwrap_or_else(|| {
        panic!(
            "no {series} in
{text}"
        )
    })
}

#[test]
fn calls_to_a_tcp_agent_share_one_connection_closed_when_idle() {
    let phone = TcpPhone::start();
    let config = ConfigToml::loopback("15000-15099")
        .api_token(TOKEN)
        .number(NUMBER, "service-toll")
        .raw(&format!(
            "[[user]]\nid = \"amos\"\ncontacts = [\"sip:amos@127.0.0.1:{};transport=tcp\"]\n",
            phone.port
        ))
        .queue(
            QueueToml::new("sales")
                .name("UK Sales")
                .numbers(&[NUMBER])
                .agents(&["amos"]),
        )
        .raw(&format!(
            "[sip.connections]\noutbound_idle_timeout = {}\n",
            IDLE.as_secs()
        ))
        .to_string()
        // The loopback base writes [sip]; a short T1 lets the idle timeout be short.
        .replacen("[sip]\n", "[sip]\nt1_ms = 100\n", 1);
    let server = Server::start(&config);

    // Five calls one after another: each is answered by the phone, bridged, and hung up by
    // the caller, so holdline sends the phone INVITE, ACK and BYE five times.
    let n = CALLS.to_string();
    let caller = run_sipp_port(
        server.port,
        "uac_basic.xml",
        "u1",
        &["-s", NUMBER, "-m", &n, "-l", "1", "-d", "800"],
    );
    assert_sipp_ok(&caller, &server, "caller");

    // The last BYE's 200 may still be on its way.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let byes = {
            let seen = lock(&phone.seen);
            seen.messages.iter().filter(|(_, m, _)| m == "BYE").count()
        };
        if byes >= CALLS || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    {
        let seen = lock(&phone.seen);
        let count = |method: &str| seen.messages.iter().filter(|(_, m, _)| m == method).count();
        assert_eq!(
            (count("INVITE"), count("ACK"), count("BYE")),
            (CALLS, CALLS, CALLS),
            "messages: {:?}",
            seen.messages
        );
        assert_eq!(
            seen.accepted, 1,
            "holdline opened one connection to the phone for {CALLS} calls"
        );
        assert!(
            seen.messages.iter().all(|(conn, _, _)| *conn == 0),
            "every message on that connection: {:?}",
            seen.messages
        );
        assert!(seen.closed.is_empty(), "still open right after the calls");
    }
    let text = metrics(&server);
    assert_eq!(
        metric(&text, "holdline_sip_connections_outbound_opened_total"),
        1
    );
    assert_eq!(metric(&text, "holdline_sip_connections_outbound_open"), 1);
    assert!(
        metric(&text, "holdline_sip_connections_reused_total") >= (3 * CALLS - 1) as u64,
        "{text}"
    );

    // Idle: holdline closes its connection after the timeout, not before.
    let last = lock(&phone.seen)
        .messages
        .last()
        .map(|(_, _, at)| *at)
        .unwrap();
    let deadline = last + IDLE + Duration::from_secs(5);
    let closed = loop {
        if let Some((_, at)) = lock(&phone.seen).closed.first().copied() {
            break at;
        }
        assert!(
            Instant::now() < deadline,
            "holdline did not close the idle connection within {:?}",
            IDLE + Duration::from_secs(5)
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let after = closed.duration_since(last);
    eprintln!("holdline closed its idle connection {after:?} after the last message");
    assert!(
        after >= IDLE - Duration::from_millis(300) && after <= IDLE + Duration::from_secs(3),
        "closed {after:?} after the last message; the idle timeout is {IDLE:?}"
    );
    let text = metrics(&server);
    assert_eq!(metric(&text, "holdline_sip_connections_outbound_open"), 0);
    assert_eq!(
        metric(&text, "holdline_sip_connections_outbound_idle_closed_total"),
        1
    );
}

#[test]
fn an_unreachable_tcp_agent_fails_at_once_and_the_next_one_rings() {
    // amos's phone is not listening: the port was bound and let go.
    let gone = TcpListener::bind("127.0.0.1:0").unwrap();
    let amos = gone.local_addr().unwrap().port();
    drop(gone);
    let bea = TcpPhone::start();
    let contact = |id: &str, port: u16| {
        format!(
            "[[user]]\nid = \"{id}\"\ncontacts = [\"sip:{id}@127.0.0.1:{port};transport=tcp\"]\n"
        )
    };
    let config = ConfigToml::loopback("15100-15199")
        .api_token(TOKEN)
        .number(NUMBER, "service-toll")
        .raw(&contact("amos", amos))
        .raw(&contact("bea", bea.port))
        .queue(
            QueueToml::new("sales")
                .name("UK Sales")
                .numbers(&[NUMBER])
                .agents(&["amos", "bea"])
                .raw("routing = \"serial\""),
        )
        .to_string();
    let server = Server::start(&config);

    let started = Instant::now();
    let caller = run_sipp_port(
        server.port,
        "uac_basic.xml",
        "u1",
        &["-s", NUMBER, "-m", "1", "-d", "500"],
    );
    assert_sipp_ok(&caller, &server, "caller");
    // The refused connect ends amos's INVITE at once (not after the 30 s alert time), so bea
    // rings and answers well within it.
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the call took {:?}",
        started.elapsed()
    );
    let seen = lock(&bea.seen);
    assert_eq!(
        seen.messages
            .iter()
            .filter(|(_, m, _)| m == "INVITE")
            .count(),
        1,
        "bea rang once: {:?}",
        seen.messages
    );
    drop(seen);
    let text = metrics(&server);
    assert_eq!(
        metric(&text, "holdline_sip_connections_outbound_opened_total"),
        2,
        "one connect tried for each agent"
    );
}
