//! End-to-end trunks with several SBCs: the real `holdline` binary on loopback.
//!
//! - Failover: a forward (amos's REFER to a number) goes to the carrier's first SBC, a UDP
//!   socket the test holds that never answers, and after `first_response_timeout` (1 s) to the
//!   second SBC, a SIPp "carrier" UAS that answers; the caller talks to it until it hangs up.
//! - Health: OPTIONS to two SBCs the test plays (one silent, one answering); the API shows the
//!   silent one down, and up again once it answers.
#![allow(clippy::disallowed_methods)] // A real process in real time: waiting is the point.

use std::io::{Read, Write};
use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use holdline_testkit::{
    assert_sipp_ok, free_port, run_sipp_port, AgentPhone, ConfigToml, QueueToml, Server,
};

const NUMBER: &str = "+14255550100";

/// A silent or answering SBC the test plays on a UDP socket: counts the requests by method
/// and, while `answer` is set, answers OPTIONS with 200.
struct FakeSbc {
    port: u16,
    invites: Arc<AtomicUsize>,
    options: Arc<AtomicUsize>,
    answer: Arc<AtomicBool>,
    first_invite: Arc<std::sync::Mutex<Option<Instant>>>,
    stop: Arc<AtomicBool>,
}

impl FakeSbc {
    fn start(answer: bool) -> FakeSbc {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind fake SBC");
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let sbc = FakeSbc {
            port: socket.local_addr().unwrap().port(),
            invites: Arc::default(),
            options: Arc::default(),
            answer: Arc::new(AtomicBool::new(answer)),
            first_invite: Arc::default(),
            stop: Arc::default(),
        };
        let (invites, options, answering, first, stop) = (
            sbc.invites.clone(),
            sbc.options.clone(),
            sbc.answer.clone(),
            sbc.first_invite.clone(),
            sbc.stop.clone(),
        );
        std::thread::spawn(move || {
            let mut buf = [0u8; 65_535];
            while !stop.load(Ordering::Relaxed) {
                let Ok((n, from)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                if text.starts_with("INVITE ") {
                    invites.fetch_add(1, Ordering::Relaxed);
                    first.lock().unwrap().get_or_insert_with(Instant::now);
                } else if text.starts_with("OPTIONS ") {
                    options.fetch_add(1, Ordering::Relaxed);
                    if answering.load(Ordering::Relaxed) {
                        let _ = socket.send_to(ok(&text).as_bytes(), from);
                    }
                }
            }
        });
        sbc
    }
}

impl Drop for FakeSbc {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A 200 to `req`: its Via, From, To (with a tag), Call-ID and CSeq.
fn ok(req: &str) -> String {
    let mut out = String::from("SIP/2.0 200 OK\r\n");
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
    out.push_str("Content-Length: 0\r\n\r\n");
    out
}

/// `GET path` from the server's API, the body as JSON.
fn api_get(server: &Server, path: &str) -> serde_json::Value {
    let token = server.token.clone().unwrap_or_default();
    let mut s = std::net::TcpStream::connect(&server.api).expect("connect to the API");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n",
        server.api
    )
    .unwrap();
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str(body).unwrap_or(serde_json::Value::Null)
}

/// The state of the SBC at `port` in `GET /api/v1/trunks/carrier/status`.
fn sbc_state(server: &Server, port: u16) -> Option<String> {
    let status = api_get(server, "/api/v1/trunks/carrier/status");
    status["sbcs"]
        .as_array()?
        .iter()
        .find(|s| s["uri"] == format!("sip:127.0.0.1:{port}"))
        .and_then(|s| s["state"].as_str().map(str::to_owned))
}

/// Polls `f` every 50 ms until it holds or `within` passes; returns how long it took.
fn wait_until(within: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < within {
        if f() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[test]
fn a_forward_reaches_the_second_sbc_when_the_first_does_not_answer() {
    let dead = FakeSbc::start(false);
    let carrier = free_port();
    let amos = free_port();
    let config = ConfigToml::loopback("20000-29999")
        .number(NUMBER, "service-toll")
        .user("amos", &format!("127.0.0.1:{amos}"))
        .queue(
            QueueToml::new("sales")
                .name("UK Sales")
                .numbers(&[NUMBER])
                .agents(&["amos"]),
        )
        .raw(&format!(
            r#"
[[trunk]]
id = "carrier"
sbcs = [{{ uri = "sip:127.0.0.1:{dead}", priority = 1 }},
        {{ uri = "sip:127.0.0.1:{carrier}", priority = 2 }}]
first_response_timeout = 1
allow = ["+1425555*"]
"#,
            dead = dead.port
        ));
    let server = Server::start(&config.to_string());
    let (amos_phone, _amos_rtp) = AgentPhone::answering(
        "uas_agent_refer.xml",
        amos,
        "UK Sales",
        30,
        &["-key", "refer_to", "tel:+14255550999", "-d", "1500"],
    );
    let carrier_rtp = UdpSocket::bind("127.0.0.1:0").expect("carrier RTP socket");
    let carrier_rtp_port = carrier_rtp.local_addr().unwrap().port().to_string();
    let carrier_phone = AgentPhone::start(
        "uas_transfer_target.xml",
        carrier,
        30,
        &["-key", "rtp_port", &carrier_rtp_port],
    );
    let caller = run_sipp_port(
        server.port,
        "uac_basic.xml",
        "u1",
        &["-s", NUMBER, "-m", "1", "-d", "6000"],
    );
    let amos_run = amos_phone.finish();
    let carrier_run = carrier_phone.finish();
    assert!(
        dead.invites.load(Ordering::Relaxed) >= 1,
        "the first SBC (priority 1) got the INVITE first"
    );
    assert_sipp_ok(
        &carrier_run,
        &server,
        "second SBC (INVITE after the first SBC's silence, 200, BYE)",
    );
    assert_sipp_ok(&caller, &server, "caller");
    assert_sipp_ok(&amos_run, &server, "amos (REFER, NOTIFYs, BYE)");
    let log = server.log_text();
    assert!(
        log.contains("no provisional response from the SBC in time"),
        "holdline moved on for the first SBC's silence:\n{log}"
    );
    // The second SBC's INVITE left 1 s (first_response_timeout) after the first one's: the
    // times of the two "forward sent through trunk" lines (RFC 3339, UTC).
    let sent: Vec<f64> = log
        .lines()
        .filter(|l| l.contains("forward sent through trunk"))
        .filter_map(|l| seconds_of_day(l.split_whitespace().next()?))
        .collect();
    assert_eq!(sent.len(), 2, "one INVITE per SBC:\n{log}");
    let gap = sent[1] - sent[0];
    println!("failover to the second SBC after {gap:.3} s");
    assert!((0.95..1.5).contains(&gap), "failover after {gap:.3} s");
    let first = dead
        .first_invite
        .lock()
        .unwrap()
        .expect("the first SBC's INVITE");
    assert!(first.elapsed() < Duration::from_secs(30));
}

/// `2026-12-08T00:39:22.123456Z` (perhaps with ANSI colour codes) → seconds since midnight.
fn seconds_of_day(stamp: &str) -> Option<f64> {
    let clean: String = stamp
        .split('\u{1b}')
        .map(|part| {
            part.trim_start_matches(|c: char| {
                c == '[' || c.is_ascii_digit() || c == ';' || c == 'm'
            })
        })
        .collect();
    let time = clean.split('T').nth(1)?.trim_end_matches('Z');
    let mut parts = time.split(':');
    let h: f64 = parts.next()?.parse().ok()?;
    let m: f64 = parts.next()?.parse().ok()?;
    let s: f64 = parts.next()?.parse().ok()?;
    Some(h * 3600.0 + m * 60.0 + s)
}

#[test]
fn options_mark_a_silent_sbc_down_and_up_again_when_it_answers() {
    let silent = FakeSbc::start(false);
    let answering = FakeSbc::start(true);
    let config = ConfigToml::loopback("20000-29999")
        .number(NUMBER, "service-toll")
        .raw(&format!(
            r#"
[[trunk]]
id = "carrier"
sbcs = [{{ uri = "sip:127.0.0.1:{a}" }}, {{ uri = "sip:127.0.0.1:{b}" }}]
first_response_timeout = 0.5
health_interval = 1
down_after = 2
up_after = 1
allow = ["+1*"]
"#,
            a = silent.port,
            b = answering.port
        ));
    let server = Server::start(&config.to_string());
    let down = wait_until(Duration::from_secs(8), || {
        sbc_state(&server, silent.port).as_deref() == Some("down")
    });
    assert!(
        down.is_some(),
        "the silent SBC is down: {:?}",
        api_get(&server, "/api/v1/trunks")
    );
    assert_eq!(sbc_state(&server, answering.port).as_deref(), Some("up"));
    assert!(silent.options.load(Ordering::Relaxed) >= 2, "it was probed");
    let metrics = server.metrics(None);
    assert!(
        metrics.contains(&format!(
            "holdline_trunk_sbc_up{{trunk=\"carrier\",sbc=\"sip:127.0.0.1:{}\"}} 0",
            silent.port
        )),
        "{metrics}"
    );

    silent.answer.store(true, Ordering::Relaxed);
    let up = wait_until(Duration::from_secs(5), || {
        sbc_state(&server, silent.port).as_deref() == Some("up")
    });
    assert!(up.is_some(), "up again once it answers");
    let status = api_get(&server, "/api/v1/trunks/carrier/status");
    let rtt = status["sbcs"][0]["rtt_ms"]
        .as_u64()
        .expect("a round-trip time");
    assert!(rtt < 1_000, "loopback round trip {rtt} ms");
    let events = api_get(&server, "/api/v1/events");
    let kinds: Vec<&str> = events
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["detail"] == format!("trunk carrier sbc sip:127.0.0.1:{}", silent.port))
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert_eq!(kinds, vec!["trunk-sbc-down", "trunk-sbc-up"], "{events}");
}
