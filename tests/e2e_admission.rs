//! End-to-end admission control: the real `holdline serve` on loopback, attacked with raw UDP
//! from one loopback address (127.0.0.2 or 127.0.0.3: Linux answers the whole of 127/8) while
//! SIPp calls from 127.0.0.1.
//!
//! What is checked: 50 INVITEs that never ACK do not keep a caller out of a queue with
//! `max_calls = 50` (the source gets its quota of unconfirmed calls, then 503 and a ban that
//! drops those calls); an
//! INVITE flood from one source is banned within 2 s while a call from elsewhere succeeds; the
//! ban is listed by `GET /api/v1/bans` and `holdline bans`, counted in `/metrics`, and lifted
//! by `DELETE /api/v1/bans/{addr}`, after which the source is answered again.
#![allow(clippy::disallowed_methods)] // A real process in real time: waiting is the point.

use std::collections::HashSet;
use std::net::UdpSocket;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use holdline::api::client::Client;
use holdline_testkit::{
    assert_sipp_ok, eventually, holdline_bin, metric_value, run_sipp, ConfigToml, QueueToml, Server,
};
use serde_json::Value;

const NUMBER: &str = "+14255550100";
const TOKEN: &str = "e2e-admission-token";

/// One queue on NUMBER holding at most 50 callers; admission control at its defaults.
fn config() -> String {
    // RTP apart from the other end-to-end tests' ranges.
    ConfigToml::loopback("60000-64999")
        .api_token(TOKEN)
        .number(NUMBER, "service-toll")
        .queue(
            QueueToml::new("sales")
                .name("Sales")
                .numbers(&[NUMBER])
                .set("max_calls", "50"),
        )
        .to_string()
}

/// A raw UDP peer bound on `ip` (a loopback address), talking to the server.
fn attacker(ip: &str, server: &Server) -> UdpSocket {
    let s = UdpSocket::bind(format!("{ip}:0")).expect("bind the attacker's socket");
    s.connect(format!("127.0.0.1:{}", server.port))
        .expect("connect");
    s
}

fn invite(socket: &UdpSocket, n: usize) -> Vec<u8> {
    let local = socket.local_addr().unwrap();
    let sdp = format!(
        "v=0\r\no=x 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n",
        ip = local.ip()
    );
    format!(
        "INVITE sip:{NUMBER}@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bKflood{n};rport\r\n\
         From: <sip:flood@{local}>;tag=f{n}\r\n\
         To: <sip:{NUMBER}@127.0.0.1>\r\n\
         Call-ID: flood-{n}@{local}\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:flood@{local}>\r\n\
         Max-Forwards: 70\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
    .into_bytes()
}

fn options(socket: &UdpSocket, n: usize) -> Vec<u8> {
    let local = socket.local_addr().unwrap();
    format!(
        "OPTIONS sip:127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bKopt{n};rport\r\n\
         From: <sip:probe@{local}>;tag=o{n}\r\n\
         To: <sip:127.0.0.1>\r\n\
         Call-ID: opt-{n}@{local}\r\n\
         CSeq: 1 OPTIONS\r\n\
         Max-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// Every (status, Call-ID) the socket receives within `window`.
fn responses(socket: &UdpSocket, window: Duration) -> Vec<(u16, String)> {
    let deadline = Instant::now() + window;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return out;
        }
        socket.set_read_timeout(Some(left)).unwrap();
        let Ok(n) = socket.recv(&mut buf) else {
            return out;
        };
        let text = String::from_utf8_lossy(&buf[..n]);
        let status = text
            .strip_prefix("SIP/2.0 ")
            .and_then(|r| r.get(..3))
            .and_then(|s| s.parse().ok());
        let call_id = text
            .lines()
            .find_map(|l| l.strip_prefix("Call-ID: "))
            .unwrap_or("")
            .to_owned();
        if let Some(status) = status {
            out.push((status, call_id));
        }
    }
}

fn api(server: &Server) -> Client {
    Client::new(server.api.clone(), Some(TOKEN.to_owned()))
}

fn bans(server: &Server) -> Vec<Value> {
    let reply = api(server)
        .request("GET", "/api/v1/bans", None)
        .expect("GET /api/v1/bans");
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.body.as_array().cloned().unwrap_or_default()
}

/// The value of an unlabelled metric in `/metrics` (plain HTTP: the body is text).
fn metric(server: &Server, name: &str) -> u64 {
    let text = server.metrics(Some(TOKEN));
    metric_value(&text, name).unwrap_or_else(|| {
        panic!(
            "no {name} in /metrics:
{text}"
        )
    })
}

#[test]
fn fifty_unacked_invites_from_one_source_do_not_keep_a_caller_out() {
    let server = Server::start(&config());
    let flood = attacker("127.0.0.3", &server);
    for n in 0..50 {
        flood.send(&invite(&flood, n)).unwrap();
    }
    let got = responses(&flood, Duration::from_millis(1500));
    let answered: HashSet<&str> = got
        .iter()
        .filter(|(s, _)| *s == 200)
        .map(|(_, c)| c.as_str())
        .collect();
    let refused: HashSet<&str> = got
        .iter()
        .filter(|(s, _)| *s == 503)
        .map(|(_, c)| c.as_str())
        .collect();
    // The default quota of calls not ACKed per source is 20; the 21st is refused, the source
    // banned, and the other 29 INVITEs get nothing.
    assert_eq!(answered.len(), 20, "calls answered: {got:?}");
    assert_eq!(refused.len(), 1, "calls refused: {got:?}");
    assert_eq!(
        got.iter()
            .filter(|(s, _)| *s != 100 && *s != 200 && *s != 503)
            .count(),
        0
    );
    let b = bans(&server);
    assert_eq!(b.len(), 1, "{b:?}");
    assert_eq!(b[0]["addr"], "127.0.0.3");
    assert_eq!(b[0]["reason"], "unconfirmed-calls");
    // A caller from elsewhere gets in: the banned source's calls, never ACKed, were dropped
    // with the ban (and at most 20 of the 50 places were ever taken).
    let run = run_sipp(
        &server,
        "uac_basic.xml",
        "u1",
        &["-s", NUMBER, "-m", "1", "-d", "500"],
    );
    assert_sipp_ok(
        &run,
        &server,
        "a caller while the unACKed calls hold their places",
    );
}

#[test]
fn an_invite_flood_is_banned_within_two_seconds_and_the_ban_is_listed_counted_and_lifted() {
    let server = Server::start(&config());
    let flood = Arc::new(attacker("127.0.0.2", &server));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    // About 5,000 INVITEs a second, for at most 3 s (15,000 datagrams), each a new call.
    let sender = {
        let (flood, stop) = (flood.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(3) {
                for _ in 0..5 {
                    let _ = flood.send(&invite(&flood, n));
                    n += 1;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            n
        })
    };
    let banned_after = eventually(Duration::from_secs(5), || {
        bans(&server)
            .iter()
            .any(|b| b["addr"] == "127.0.0.2")
            .then(|| started.elapsed())
    })
    .expect("the flooding source is banned");
    assert!(
        banned_after < Duration::from_secs(2),
        "banned after {banned_after:?}"
    );
    // While the flood goes on, a caller from 127.0.0.1 is answered.
    let run = run_sipp(
        &server,
        "uac_basic.xml",
        "u1",
        &["-s", NUMBER, "-m", "1", "-d", "500"],
    );
    stop.store(true, Ordering::Relaxed);
    let sent = sender.join().unwrap();
    assert_sipp_ok(&run, &server, "a caller during the flood");
    eprintln!("flood: {sent} INVITEs, banned after {banned_after:?}");

    // The ban is counted, and datagrams from the source were dropped.
    assert_eq!(metric(&server, "holdline_bans_active"), 1);
    assert_eq!(metric(&server, "holdline_bans_total"), 1);
    assert!(metric(&server, "holdline_admission_dropped_total") > 0);
    let b = bans(&server);
    assert!(b[0]["dropped"].as_u64().unwrap() > 0, "{b:?}");
    // Banned sources get no answer at all.
    let _ = responses(&flood, Duration::from_millis(300));
    flood.send(&options(&flood, 1)).unwrap();
    assert_eq!(responses(&flood, Duration::from_millis(500)), vec![]);

    // `holdline bans` lists it; `holdline bans lift` lifts it.
    let cli = |args: &[&str]| {
        let out = Command::new(holdline_bin())
            .args(args)
            .args(["--api", &server.api, "--token", TOKEN])
            .output()
            .expect("run holdline");
        assert!(out.status.success(), "holdline {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let listed = cli(&["bans"]);
    assert!(listed.contains("127.0.0.2"), "{listed}");
    assert!(cli(&["bans", "lift", "127.0.0.2"]).contains("lifted"));
    assert_eq!(bans(&server), Vec::<Value>::new());
    assert_eq!(metric(&server, "holdline_bans_active"), 0);
    let again = api(&server)
        .request("DELETE", "/api/v1/bans/127.0.0.2", None)
        .unwrap();
    assert_eq!(again.status, 404);
    let bad = api(&server)
        .request("DELETE", "/api/v1/bans/not-an-address", None)
        .unwrap();
    assert_eq!(bad.status, 422);
    // Answered again.
    flood.send(&options(&flood, 2)).unwrap();
    let answer = responses(&flood, Duration::from_millis(1000));
    assert!(
        answer
            .iter()
            .any(|(s, c)| *s == 200 && c.starts_with("opt-2@")),
        "{answer:?}"
    );
}
