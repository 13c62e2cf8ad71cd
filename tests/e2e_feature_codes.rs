//! End-to-end feature codes and calls between users, with SIPp as the phones against the real
//! `holdline` binary on loopback:
//! - an agent's phone registers; a phone of the agent dials `*78` with digest credentials
//!   (407, then 200, a confirmation and BYE): the event log has it, the next queue call does
//!   not ring the agent, and the DND outlives a SIGKILL and a restart (the store has it);
//!   `*79` and the agent's phone rings again; `*41` (sign out of every queue that allows it)
//!   and it rings no more, across another SIGKILL and restart;
//! - one user's SIPp phone calls another's (a static contact, SIPp as UAS) by extension:
//!   challenged, then rung, answered, bridged and hung up.
//!
//! The agent's registered phone is a plain UDP socket that registers (digest MD5, the response
//! computed here), notes every INVITE and answers 486, so the test sees exactly which calls
//! rang it; its binding is stored and comes back after each restart. SIPp answers only the
//! first challenge and knows MD5 alone, so the servers offer MD5 only (`[registrar]
//! digest_algorithms`, see `e2e_registrar_sipp.rs`).
#![allow(clippy::disallowed_methods)] // Real processes in real time: waiting is the point.

use std::collections::HashSet;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

use holdline::api::client::Client;
use holdline::sip::digest::Challenge;
use holdline_testkit::{
    assert_sipp_ok, eventually, run_sipp, AgentPhone, ConfigToml, QueueToml, Server,
};
use md5::{Digest as _, Md5};
use serde_json::Value;

const NUMBER: &str = "+14255550100";
const TOKEN: &str = "feature-codes-token";

fn config(users: &str) -> String {
    ConfigToml::loopback("15300-15399")
        .api_token(TOKEN)
        .number(NUMBER, "service-toll")
        .raw(&format!(
            "[registrar]\ndigest_algorithms = [\"MD5\"]\n{users}"
        ))
        .queue(
            QueueToml::new("sales")
                .numbers(&[NUMBER])
                .agents(&["amos"])
                .set("extension", "\"7\""),
        )
        .to_string()
}

fn agent(server: &Server) -> Value {
    Client::new(server.api.clone(), Some(TOKEN.to_owned()))
        .request("GET", "/api/v1/agents/amos", None)
        .expect("GET agent")
        .body
}

/// Amos's phone dials `code`; asserts the 407, the 200 and holdline's BYE.
fn dial_code(server: &Server, code: &str) {
    let run = run_sipp(
        server,
        "uac_feature_code.xml",
        "u1",
        &[
            "-s",
            code,
            "-au",
            "amos",
            "-ap",
            "s3cret",
            "-key",
            "from_user",
            "amos",
            "-m",
            "1",
        ],
    );
    assert_sipp_ok(&run, server, &format!("feature code {code}"));
}

/// A caller on the queue for `hold_ms`, then hanging up.
fn queue_call(server: &Server, hold_ms: u32) {
    let run = run_sipp(
        server,
        "uac_basic.xml",
        "u1",
        &["-s", NUMBER, "-m", "1", "-d", &hold_ms.to_string()],
    );
    assert_sipp_ok(&run, server, "a caller on the queue");
}

/// Registers Amos's `phone` (a plain UDP socket) with digest MD5: REGISTER, 401, REGISTER with
/// the answer (RFC 7616 §3.4.1, computed here), 200.
fn register(phone: &UdpSocket, server: &Server) {
    let to = format!("127.0.0.1:{}", server.port);
    let local = phone.local_addr().unwrap();
    let request = |cseq: u32, auth: &str| {
        format!(
            "REGISTER sip:127.0.0.1 SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};branch=z9hG4bKreg{cseq};rport\r\n\
             From: <sip:amos@127.0.0.1>;tag=reg1\r\n\
             To: <sip:amos@127.0.0.1>\r\n\
             Call-ID: reg-amos\r\n\
             CSeq: {cseq} REGISTER\r\n\
             Contact: <sip:amos@{local}>\r\n\
             Expires: 600\r\n\
             {auth}Max-Forwards: 70\r\n\
             Content-Length: 0\r\n\r\n"
        )
    };
    let answer = |text: &str| -> String {
        phone.send_to(text.as_bytes(), &to).unwrap();
        phone
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut buf = [0u8; 8192];
        let (n, _) = phone.recv_from(&mut buf).expect("an answer to REGISTER");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let first = answer(&request(1, ""));
    assert!(first.starts_with("SIP/2.0 401"), "{first}");
    let line = first
        .lines()
        .find(|l| l.starts_with("WWW-Authenticate:"))
        .expect("a challenge");
    let ch = Challenge::parse(line.trim_start_matches("WWW-Authenticate:")).unwrap();
    let md5 = |s: String| {
        Md5::digest(s.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let ha1 = md5(format!("amos:{}:s3cret", ch.realm));
    let ha2 = md5("REGISTER:sip:127.0.0.1".to_owned());
    let response = md5(format!("{ha1}:{}:00000001:c0ffee:auth:{ha2}", ch.nonce));
    let auth = format!(
        "Authorization: Digest username=\"amos\", realm=\"{}\", nonce=\"{}\", \
         uri=\"sip:127.0.0.1\", response=\"{response}\", algorithm=MD5, qop=auth, \
         nc=00000001, cnonce=\"c0ffee\"\r\n",
        ch.realm, ch.nonce
    );
    let ok = answer(&request(2, &auth));
    assert!(ok.starts_with("SIP/2.0 200"), "{ok}");
}

/// Reads the phone's socket for `within`: the Call-IDs of the INVITEs that came (each
/// answered 486 Busy Here, so no INVITE is retransmitted).
fn invites(phone: &UdpSocket, within: Duration) -> HashSet<String> {
    let mut seen = HashSet::new();
    let deadline = Instant::now() + within;
    let mut buf = [0u8; 8192];
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        phone
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        let Ok((n, from)) = phone.recv_from(&mut buf) else {
            break;
        };
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        if !text.starts_with("INVITE ") {
            continue;
        }
        let header = |name: &str| {
            text.lines()
                .find(|l| l.to_ascii_lowercase().starts_with(&format!("{name}:")))
                .map(|l| l.to_owned())
                .unwrap_or_default()
        };
        let call_id = header("call-id");
        let busy = format!(
            "SIP/2.0 486 Busy Here\r\n{}\r\n{}\r\n{};tag=busyphone\r\n{}\r\n{}\r\nContent-Length: 0\r\n\r\n",
            header("via"),
            header("from"),
            header("to"),
            call_id,
            header("cseq"),
        );
        let _ = phone.send_to(busy.as_bytes(), from);
        seen.insert(call_id);
    }
    seen
}

#[test]
fn dnd_and_sign_out_by_feature_code_stop_queue_offers_and_survive_restarts() {
    let phone = UdpSocket::bind("127.0.0.1:0").expect("bind the phone");
    let server = Server::start(&config("[[user]]\nid = \"amos\"\npassword = \"s3cret\"\n"));
    // The agent's phone registers (it has no static contact): queue calls ring it there.
    register(&phone, &server);

    // *78: do not disturb, stored (the API shows it), kept across SIGKILL and a restart.
    dial_code(&server, "*78");
    let dnd = |s: &Server| agent(s)["dnd"].as_bool();
    assert!(
        eventually(Duration::from_secs(5), || (dnd(&server) == Some(true))
            .then_some(()))
        .is_some(),
        "{}",
        agent(&server)
    );
    // The event log has the change, for the agent's queue, named by the code.
    let logged = eventually(Duration::from_secs(5), || {
        let events = Client::new(server.api.clone(), Some(TOKEN.to_owned()))
            .request("GET", "/api/v1/events?queue=sales", None)
            .ok()?
            .body;
        events
            .as_array()?
            .iter()
            .find(|e| e["kind"] == "agent-dnd-on")
            .cloned()
    })
    .expect("an agent-dnd-on event");
    assert_eq!(
        (logged["agent"].as_str(), logged["detail"].as_str()),
        (Some("amos"), Some("*78"))
    );
    let dir = server.dir.clone();
    server.kill();
    let server = Server::restart_in(&dir);
    assert_eq!(dnd(&server), Some(true), "DND survives SIGKILL and restart");
    queue_call(&server, 1500);
    let rang = invites(&phone, Duration::from_millis(300));
    assert!(rang.is_empty(), "an agent in DND is not rung: {rang:?}");

    // *79: the next caller rings the phone.
    dial_code(&server, "*79");
    assert!(
        eventually(Duration::from_secs(5), || (dnd(&server) == Some(false))
            .then_some(()))
        .is_some()
    );
    let caller = {
        let dir = server.dir.clone();
        let port = server.port;
        std::thread::spawn(move || {
            let _ = dir;
            holdline_testkit::run_sipp_port(
                port,
                "uac_basic.xml",
                "u1",
                &["-s", NUMBER, "-m", "1", "-d", "2500"],
            )
        })
    };
    let rang = invites(&phone, Duration::from_secs(3));
    let run = caller.join().expect("caller thread");
    assert_sipp_ok(&run, &server, "a caller while the agent takes calls");
    assert!(!rang.is_empty(), "the agent's phone rings again after *79");

    // *41: signed out of sales (it allows opting out): rung no more.
    dial_code(&server, "*41");
    let opted_in = |s: &Server| agent(s)["queues"][0]["opted_in"].as_bool();
    assert!(
        eventually(Duration::from_secs(5), || (opted_in(&server)
            == Some(false))
        .then_some(()))
        .is_some(),
        "{}",
        agent(&server)
    );
    // The opt-out is stored too: it outlives another SIGKILL and restart.
    let dir = server.dir.clone();
    server.kill();
    let server = Server::restart_in(&dir);
    assert_eq!(
        opted_in(&server),
        Some(false),
        "the opt-out survives a restart"
    );
    let before = invites(&phone, Duration::from_millis(200));
    queue_call(&server, 1500);
    let after = invites(&phone, Duration::from_millis(300));
    let new: Vec<&String> = after
        .difference(&before)
        .filter(|c| !rang.contains(*c))
        .collect();
    assert!(new.is_empty(), "a signed-out agent is not rung: {new:?}");
    server.kill();
}

#[test]
fn a_users_phone_calls_another_user_through_holdline() {
    let bea_port = holdline_testkit::free_port();
    let rtp = UdpSocket::bind("127.0.0.1:0").expect("bind bea's RTP");
    let rtp_port = rtp.local_addr().unwrap().port().to_string();
    let server = Server::start(&config(&format!(
        "[[user]]\nid = \"amos\"\npassword = \"s3cret\"\n\
         [[user]]\nid = \"bea\"\npassword = \"b3a\"\nextension = \"202\"\n\
         contacts = [\"sip:bea@127.0.0.1:{bea_port}\"]\n"
    )));
    let bea = AgentPhone::start(
        "uas_transfer_target.xml",
        bea_port,
        20,
        &["-key", "rtp_port", &rtp_port],
    );
    // By extension: Bea's phone rings, answers; Amos talks a second and hangs up, and
    // holdline hangs up Bea's side.
    let run = run_sipp(
        &server,
        "uac_user_call.xml",
        "u1",
        &[
            "-s",
            "202",
            "-au",
            "amos",
            "-ap",
            "s3cret",
            "-key",
            "from_user",
            "amos",
            "-m",
            "1",
            "-d",
            "1000",
        ],
    );
    assert_sipp_ok(&run, &server, "Amos calls Bea");
    assert_sipp_ok(&bea.finish(), &server, "Bea's phone answers");
    server.kill();
}
