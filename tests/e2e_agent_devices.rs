//! End-to-end: an agent's devices with the real `holdline` binary on loopback. One agent with
//! two phones (two SIPp UAS on two static contacts): both ring, the one that loses gets a
//! CANCEL with `Reason: SIP;cause=200;text="Call completed elsewhere"` (RFC 3326 §2). And a
//! static contact that does not answer OPTIONS (a socket that reads and ignores) is not rung
//! while another agent, whose phone answers OPTIONS, gets the call.
//!
//! Every test has its own server, phones and ports, so the tests run in parallel.
#![allow(clippy::disallowed_methods)] // A real process in real time: waiting is the point.

use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use holdline::api::client::Client;
use holdline_testkit::{
    assert_sipp_ok, eventually, free_port, run_sipp_port, AgentPhone, ConfigToml, QueueToml, Server,
};

const NUMBER: &str = "+14255550100";
const TOKEN: &str = "e2e-agent-devices-token";

#[test]
fn the_device_that_loses_the_fork_is_cancelled_as_completed_elsewhere() {
    let (desk, soft) = (free_port(), free_port());
    let config = ConfigToml::loopback("20000-29999")
        .number(NUMBER, "service-toll")
        .raw(&format!(
            "[[user]]\nid = \"amos\"\n\
             contacts = [\"sip:amos@127.0.0.1:{desk}\", \"sip:amos@127.0.0.1:{soft}\"]\n"
        ))
        .queue(
            QueueToml::new("sales")
                .name("UK Sales")
                .numbers(&[NUMBER])
                .agents(&["amos"]),
        );
    // SIPp phones take one call each: the loopback base sends them no OPTIONS.
    let server = Server::start(&config.to_string());
    let losing = AgentPhone::start("uas_agent_cancelled_elsewhere.xml", desk, 30, &[]);
    let (answering, _rtp) =
        AgentPhone::answering("uas_agent_answer.xml", soft, "UK Sales", 30, &[]);
    let caller = run_sipp_port(
        server.port,
        "uac_basic.xml",
        "u1",
        &["-s", NUMBER, "-m", "1", "-d", "3000"],
    );
    let losing = losing.finish();
    let answering = answering.finish();

    assert_sipp_ok(&caller, &server, "caller");
    assert_sipp_ok(
        &answering,
        &server,
        "the softphone answers and is hung up after the caller",
    );
    assert_sipp_ok(
        &losing,
        &server,
        "the desk phone gets CANCEL with Reason: SIP;cause=200;text=\"Call completed elsewhere\"",
    );
}

/// What a scripted phone on a test socket received: the methods of the requests, in order.
type Received = Arc<Mutex<Vec<String>>>;

/// A phone on `socket` that answers OPTIONS with 200 when `answers_options`, rings (180) on
/// INVITE and answers CANCEL with 200 and the INVITE with 487; with `answers_options` false it
/// reads everything and answers nothing (a phone that is switched off, its address silent).
/// Runs until `until`.
fn phone(socket: UdpSocket, answers_options: bool, until: Instant) -> Received {
    let received: Received = Arc::default();
    let log = received.clone();
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("read timeout");
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 65_536];
        let mut invite: Option<String> = None;
        while Instant::now() < until {
            let Ok((n, from)) = socket.recv_from(&mut buf) else {
                continue;
            };
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            let method = text.split(' ').next().unwrap_or("").to_owned();
            log.lock().unwrap().push(method.clone());
            if !answers_options {
                continue;
            }
            let send = |status: &str, req: &str| {
                let _ = socket.send_to(response(req, status).as_bytes(), from);
            };
            match method.as_str() {
                "OPTIONS" => send("200 OK", &text),
                "INVITE" => {
                    send("180 Ringing", &text);
                    invite = Some(text);
                }
                "CANCEL" => {
                    send("200 OK", &text);
                    if let Some(inv) = invite.take() {
                        send("487 Request Terminated", &inv);
                    }
                }
                _ => {}
            }
        }
    });
    received
}

/// A response to `req` (RFC 3261 §8.2.6.2: its Via, From, Call-ID and CSeq; To with a tag).
fn response(req: &str, status: &str) -> String {
    let mut out = format!("SIP/2.0 {status}\r\n");
    for line in req.split("\r\n").skip(1) {
        let name = line
            .split(':')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match name.as_str() {
            "via" | "v" | "from" | "f" | "call-id" | "i" | "cseq" => {
                out.push_str(line);
                out.push_str("\r\n");
            }
            "to" | "t" if line.contains("tag=") => {
                out.push_str(line);
                out.push_str("\r\n");
            }
            "to" | "t" => out.push_str(&format!("{line};tag=phone1\r\n")),
            _ => {}
        }
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    out
}

#[test]
fn a_contact_that_does_not_answer_options_is_not_rung_while_another_agent_is() {
    let ghost = UdpSocket::bind("127.0.0.1:0").expect("bind the silent phone");
    let bea = UdpSocket::bind("127.0.0.1:0").expect("bind bea's phone");
    let addr = |s: &UdpSocket| -> SocketAddr { s.local_addr().expect("address") };
    let config = ConfigToml::loopback("20000-29999")
        .number(NUMBER, "service-toll")
        .user("amos", &addr(&ghost).to_string())
        .user("bea", &addr(&bea).to_string())
        .queue(
            QueueToml::new("sales")
                .name("UK Sales")
                .numbers(&[NUMBER])
                .agents(&["amos", "bea"])
                .set("routing", "\"attendant\""),
        )
        .probe(1, 1)
        .api_token(TOKEN);
    let until = Instant::now() + Duration::from_secs(20);
    let ghost_got = phone(ghost, false, until);
    let bea_got = phone(bea, true, until);
    let server = Server::start(&config.to_string());

    // Within a probe interval and its timeout, amos's only contact is found silent.
    let offline = eventually(Duration::from_secs(8), || {
        let log = server.log_text();
        log.lines()
            .any(|l| l.contains("agent reachability changed") && l.contains("amos"))
            .then_some(())
    });
    assert!(
        offline.is_some(),
        "amos went offline: {}",
        server.log_text()
    );
    assert!(ghost_got.lock().unwrap().iter().any(|m| m == "OPTIONS"));
    // The queue engine has amos offline and bea available.
    let api = Client::new(server.api.clone(), Some(TOKEN.to_owned()));
    let status = api
        .request("GET", "/api/v1/queues/sales/status", None)
        .expect("queue status");
    assert_eq!(status.status, 200);
    let states: Vec<(String, String)> = status.body["agents"]
        .as_array()
        .expect("agents")
        .iter()
        .map(|a| {
            (
                a["id"].as_str().unwrap_or("").to_owned(),
                a["state"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            ("amos".into(), "offline".into()),
            ("bea".into(), "available".into())
        ],
        "{}",
        status.body
    );

    // The queue answers the caller at once (music on hold); the caller hangs up after 3 s.
    let caller = run_sipp_port(
        server.port,
        "uac_basic.xml",
        "u1",
        &["-s", NUMBER, "-m", "1", "-d", "3000"],
    );
    assert_sipp_ok(&caller, &server, "caller");
    // The CANCEL goes out as the caller's BYE is answered; give it a moment to arrive.
    let _ = eventually(Duration::from_secs(2), || {
        bea_got
            .lock()
            .unwrap()
            .iter()
            .any(|m| m == "CANCEL")
            .then_some(())
    });
    let bea_methods = bea_got.lock().unwrap().clone();
    let ghost_methods = ghost_got.lock().unwrap().clone();
    assert!(
        bea_methods.iter().any(|m| m == "INVITE"),
        "bea is rung: {bea_methods:?}"
    );
    assert!(
        bea_methods.iter().any(|m| m == "CANCEL"),
        "and stops ringing when the caller hangs up: {bea_methods:?}"
    );
    assert!(
        !ghost_methods.iter().any(|m| m == "INVITE"),
        "the silent contact is not rung: {ghost_methods:?}"
    );
    // Probes go on at the interval: the silent contact is asked again.
    let probes = ghost_methods.iter().filter(|m| *m == "OPTIONS").count();
    assert!(probes >= 3, "probed every second: {ghost_methods:?}");
}
