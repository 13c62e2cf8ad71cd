//! End-to-end queue with agents: the real `holdline` binary on loopback, SIPp as the caller and
//! SIPp as the agents' phones (the UAS scenarios `uas_agent_*.xml` in `sip-fixtures/sipp/`).
//! Each agent is a `[[user]]` whose static contact is the port its SIPp listens on; the agent
//! SIPps start before the caller and are waited for after it. Every test has its own server,
//! agents and ports, so the tests run in parallel.
//!
//! What is checked: both sides' signalling (SIPp exit codes: every `recv`, every regexp check
//! in the scenarios), the queue events holdline logs (`holdline::queue_events`, `kind=…`), and
//! the media after the bridge: the caller's and the agent's SDP point RTP at sockets the test
//! holds, which send each other audio through holdline and check what arrives.
#![allow(clippy::disallowed_methods)] // A real process in real time: waiting is the point.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use holdline_testkit::{
    assert_sipp_ok, free_port, run_sipp_port, AgentPhone, ConfigToml, QueueToml, Server, SippRun,
};

const NUMBER: &str = "+14255550100";

/// The server's configuration before its users and queues: the service number on loopback.
fn base() -> ConfigToml {
    ConfigToml::loopback("20000-29999").number(NUMBER, "service-toll")
}

/// A `[[user]]` whose phone is the SIPp agent listening on `port`, as extra configuration.
fn user(id: &str, port: u16) -> String {
    format!("[[user]]\nid = \"{id}\"\ncontacts = [\"sip:{id}@127.0.0.1:{port}\"]\n")
}

/// A server whose queue "sales" ("UK Sales", on the service number) has the `agents` (id and
/// SIPp port: each a `[[user]]` whose phone is the SIPp agent listening there), the queue's
/// `settings` lines, and `extra` configuration after it (another queue, a trunk).
fn sales_server(agents: &[(&str, u16)], settings: &str, extra: &str) -> Server {
    let mut config = base();
    for (id, port) in agents {
        config = config.user(id, &format!("127.0.0.1:{port}"));
    }
    let ids: Vec<&str> = agents.iter().map(|(id, _)| *id).collect();
    let sales = QueueToml::new("sales")
        .name("UK Sales")
        .numbers(&[NUMBER])
        .agents(&ids)
        .raw(settings);
    Server::start(&config.queue(sales).raw(extra).to_string())
}

/// Runs a caller scenario to the queue's number over UDP.
fn call(server: &Server, scenario_name: &str, extra: &[&str]) -> SippRun {
    let mut args = vec!["-s", NUMBER, "-m", "1"];
    args.extend_from_slice(extra);
    run_sipp_port(server.port, scenario_name, "u1", &args)
}

/// One line of `holdline::queue_events`.
#[derive(Debug)]
struct QueueEvent {
    kind: String,
    queue: String,
    agent: Option<String>,
    waited_ms: u64,
}

/// The queue events in holdline's log so far, in order.
fn queue_events(server: &Server) -> Vec<QueueEvent> {
    strip_ansi(&server.log_text())
        .lines()
        .filter(|l| l.contains("holdline::queue_events"))
        .filter_map(|l| {
            Some(QueueEvent {
                kind: field(l, "kind")?,
                queue: field(l, "queue")?,
                agent: field(l, "agent").and_then(|a| {
                    a.strip_prefix("Some(")
                        .and_then(|a| a.strip_suffix(')'))
                        .map(|a| a.trim_matches('"').to_owned())
                }),
                waited_ms: field(l, "waited_ms")?.parse().ok()?,
            })
        })
        .collect()
}

/// `name=value` in a tracing line, the value unquoted.
fn field(line: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=");
    let start = line.find(&key)? + key.len();
    let value = line[start..].split(' ').next()?;
    Some(value.trim_matches('"').to_owned())
}

/// The log without terminal colour codes (tracing writes them even to a file).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether the log has an event of `kind` (for `agent`, when given).
fn has_event(events: &[QueueEvent], kind: &str, agent: Option<&str>) -> bool {
    position(events, kind, agent).is_some()
}

fn position(events: &[QueueEvent], kind: &str, agent: Option<&str>) -> Option<usize> {
    events
        .iter()
        .position(|e| e.kind == kind && (agent.is_none() || e.agent.as_deref() == agent))
}

/// Asserts the queue events include `kind` (for `agent`), showing them all when not.
fn assert_event(server: &Server, kind: &str, agent: Option<&str>) {
    let events = queue_events(server);
    assert!(
        has_event(&events, kind, agent),
        "no queue event {kind} (agent {agent:?}); events: {events:#?}"
    );
}

/// Polls the log until a queue event of `kind` appears.
fn wait_for_event(server: &Server, kind: &str, within: Duration) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if has_event(&queue_events(server), kind, None) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "no queue event {kind} within {within:?}; log:\n{}",
        server.log_text()
    );
}

#[test]
fn caller_is_bridged_to_answering_agent() {
    let amos = free_port();
    let server = sales_server(&[("amos", amos)], "", "");
    let (agent, _rtp) = AgentPhone::answering("uas_agent_answer.xml", amos, "UK Sales", 60, &[]);
    let caller = call(&server, "uac_basic.xml", &["-d", "3000"]);
    let agent = agent.finish();

    assert_sipp_ok(&caller, &server, "caller");
    assert_sipp_ok(&agent, &server, "agent (via name, PAI, BYE from holdline)");
    let events = queue_events(&server);
    let ring = position(&events, "ring", Some("amos"));
    let connect = position(&events, "connect", Some("amos"));
    assert!(
        ring.is_some() && connect > ring,
        "amos rang, then the call connected: {events:#?}"
    );
    assert!(
        events.iter().all(|e| e.queue == "sales"),
        "every event is in queue sales: {events:#?}"
    );
}

#[test]
fn agent_hangup_hangs_up_caller() {
    let amos = free_port();
    let server = sales_server(&[("amos", amos)], "", "");
    let (agent, _rtp) = AgentPhone::answering(
        "uas_agent_hangs_up.xml",
        amos,
        "UK Sales",
        60,
        &["-d", "2000"],
    );
    // The caller waits for holdline's BYE (with a Reason header) and answers 200.
    let caller = call(&server, "uac_server_hangs_up.xml", &[]);
    let agent = agent.finish();

    assert_sipp_ok(&agent, &server, "agent hangs up");
    assert_sipp_ok(&caller, &server, "caller gets BYE");
    assert_event(&server, "connect", Some("amos"));
    assert_event(&server, "complete", Some("amos"));
}

/// Serial routing after a refusal from the first agent in the list: the second one rings at
/// once, answers, and is bridged.
fn serial_moves_on(refusing_scenario: &'static str) {
    let (amos, bea) = (free_port(), free_port());
    let server = sales_server(&[("amos", amos), ("bea", bea)], r#"routing = "serial""#, "");
    let refusing = AgentPhone::start(refusing_scenario, amos, 60, &[]);
    let (answering, _rtp) = AgentPhone::answering("uas_agent_answer.xml", bea, "UK Sales", 60, &[]);
    let started = Instant::now();
    let caller = call(&server, "uac_basic.xml", &["-d", "3000"]);
    let refusing = refusing.finish();
    let answering = answering.finish();

    assert_sipp_ok(&caller, &server, "caller");
    assert_sipp_ok(&refusing, &server, "first agent refuses");
    assert_sipp_ok(&answering, &server, "second agent answers");
    let events = queue_events(&server);
    let amos_rang = position(&events, "ring", Some("amos"));
    let amos_done = position(&events, "ring-end", Some("amos"));
    let bea_rang = position(&events, "ring", Some("bea"));
    let bea_connected = position(&events, "connect", Some("bea"));
    assert!(
        amos_rang.is_some() && amos_done > amos_rang && bea_rang > amos_done,
        "amos rang and refused before bea rang: {events:#?}"
    );
    assert!(bea_connected > bea_rang, "bea connected: {events:#?}");
    assert!(
        !has_event(&events, "connect", Some("amos")),
        "amos never connected: {events:#?}"
    );
    // "At once": not after the alert time (30 s by default).
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the call took {:?}",
        started.elapsed()
    );
}

#[test]
fn serial_moves_to_next_agent_on_busy() {
    serial_moves_on("uas_agent_busy.xml");
}

#[test]
fn serial_moves_to_next_agent_on_decline() {
    serial_moves_on("uas_agent_decline.xml");
}

#[test]
fn attendant_cancels_losers_on_answer() {
    let (amos, bea) = (free_port(), free_port());
    let server = sales_server(
        &[("amos", amos), ("bea", bea)],
        r#"routing = "attendant""#,
        "",
    );
    let ringing = AgentPhone::start("uas_agent_no_answer.xml", amos, 60, &[]);
    let (answering, _rtp) = AgentPhone::answering("uas_agent_answer.xml", bea, "UK Sales", 60, &[]);
    let caller = call(&server, "uac_basic.xml", &["-d", "3000"]);
    let ringing = ringing.finish();
    let answering = answering.finish();

    assert_sipp_ok(&caller, &server, "caller");
    assert_sipp_ok(&ringing, &server, "ringing agent gets CANCEL");
    assert_sipp_ok(&answering, &server, "answering agent");
    let events = queue_events(&server);
    assert!(
        has_event(&events, "ring", Some("amos")) && has_event(&events, "ring", Some("bea")),
        "both agents rang: {events:#?}"
    );
    assert!(
        has_event(&events, "connect", Some("bea")) && !has_event(&events, "connect", Some("amos")),
        "bea connected, amos did not: {events:#?}"
    );
}

#[test]
fn caller_hangup_cancels_ringing_agents() {
    let amos = free_port();
    let server = sales_server(&[("amos", amos)], "", "");
    let ringing = AgentPhone::start("uas_agent_no_answer.xml", amos, 60, &[]);
    // The queue answers the caller at once (music on hold), so the caller hangs up with BYE.
    let caller = call(&server, "uac_basic.xml", &["-d", "2000"]);
    let ringing = ringing.finish();

    assert_sipp_ok(&caller, &server, "caller hangs up while the agent rings");
    assert_sipp_ok(&ringing, &server, "ringing agent gets CANCEL");
    assert_event(&server, "ring", Some("amos"));
    assert_event(&server, "abandon", None);
    assert!(
        !has_event(&queue_events(&server), "connect", None),
        "nobody connected: {:#?}",
        queue_events(&server)
    );
}

#[test]
fn full_queue_overflows_with_486() {
    let sales = QueueToml::new("sales")
        .name("UK Sales")
        .numbers(&[NUMBER])
        .set("max_calls", "1")
        .set("on_overflow", r#"{ action = "busy" }"#);
    let server = Server::start(&base().queue(sales).to_string());
    let port = server.port;
    let first = std::thread::spawn(move || {
        run_sipp_port(
            port,
            "uac_basic.xml",
            "u1",
            &["-s", NUMBER, "-m", "1", "-d", "6000"],
        )
    });
    wait_for_event(&server, "enter", Duration::from_secs(10));
    let second = call(&server, "uac_queue_full.xml", &[]);
    let first = first.join().expect("first caller thread");

    assert_sipp_ok(&second, &server, "second caller gets 486");
    assert_sipp_ok(&first, &server, "first caller waits and hangs up");
    let events = queue_events(&server);
    assert_eq!(
        events.iter().filter(|e| e.kind == "enter").count(),
        1,
        "only the first caller entered the queue: {events:#?}"
    );
    assert!(
        has_event(&events, "overflow", None),
        "the second call overflowed: {events:#?}"
    );
}

#[test]
fn timeout_forwards_to_queue() {
    let amos = free_port();
    let sales = QueueToml::new("sales")
        .name("UK Sales")
        .numbers(&[NUMBER])
        .set("max_wait", "15")
        .set(
            "on_timeout",
            r#"{ action = "forward", to = "queue:other" }"#,
        );
    let other = QueueToml::new("other").name("UK Support").agents(&["amos"]);
    let server = Server::start(
        &base()
            .user("amos", &format!("127.0.0.1:{amos}"))
            .queue(sales)
            .queue(other)
            .to_string(),
    );
    // The agent is rung from queue "other" only, after the 15 s wait in "sales".
    let (agent, _rtp) = AgentPhone::answering("uas_agent_answer.xml", amos, "UK Support", 90, &[]);
    let caller = call(
        &server,
        "uac_basic.xml",
        &["-d", "19000", "-timeout", "60s"],
    );
    let agent = agent.finish();

    assert_sipp_ok(&caller, &server, "caller");
    assert_sipp_ok(&agent, &server, "agent of queue other");
    let events = queue_events(&server);
    let timeout = events
        .iter()
        .position(|e| e.kind == "timeout" && e.queue == "sales");
    let ring = events
        .iter()
        .position(|e| e.kind == "ring" && e.queue == "other");
    let connect = events
        .iter()
        .position(|e| e.kind == "connect" && e.queue == "other");
    assert!(
        timeout.is_some() && ring > timeout && connect > ring,
        "timed out in sales, rang and connected in other: {events:#?}"
    );
    let waited = events[timeout.unwrap()].waited_ms;
    assert!(
        (15_000..17_000).contains(&waited),
        "timed out after {waited} ms, not 15 s"
    );
}

/// Sends 20 ms PCMU packets of one byte value from `socket` to `to`, `count` of them.
fn speak(socket: UdpSocket, to: std::net::SocketAddr, byte: u8, count: u16) {
    for seq in 0..count {
        let mut pkt = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34];
        pkt[2..4].copy_from_slice(&seq.to_be_bytes());
        pkt[4..8].copy_from_slice(&(u32::from(seq) * 160).to_be_bytes());
        pkt.extend([byte; 160]);
        let _ = socket.send_to(&pkt, to);
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// RTP payloads received on `socket` for `how_long`, with the address of the first sender.
fn listen(socket: &UdpSocket, how_long: Duration) -> (Vec<Vec<u8>>, Option<std::net::SocketAddr>) {
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("read timeout");
    let (mut payloads, mut from) = (Vec::new(), None);
    let end = Instant::now() + how_long;
    let mut buf = [0u8; 2048];
    while Instant::now() < end {
        if let Ok((n, src)) = socket.recv_from(&mut buf) {
            if n > 12 && buf[0] >> 6 == 2 {
                from.get_or_insert(src);
                payloads.push(buf[12..n].to_vec());
            }
        }
    }
    (payloads, from)
}

/// Waits for the first RTP packet on `socket` and returns where it came from.
fn first_sender(socket: &UdpSocket, within: Duration) -> std::net::SocketAddr {
    socket.set_read_timeout(Some(within)).expect("read timeout");
    let mut buf = [0u8; 2048];
    let (_, from) = socket
        .recv_from(&mut buf)
        .expect("RTP from holdline within the time");
    from
}

#[test]
fn rtp_flows_both_ways_between_caller_and_agent() {
    let amos = free_port();
    let server = sales_server(&[("amos", amos)], "", "");
    let (agent, agent_rtp) =
        AgentPhone::answering("uas_agent_answer.xml", amos, "UK Sales", 60, &[]);
    let caller_rtp = UdpSocket::bind("127.0.0.1:0").expect("caller RTP socket");
    let caller_port = caller_rtp.local_addr().expect("address").port().to_string();
    let server_port = server.port;
    let caller = std::thread::spawn(move || {
        run_sipp_port(
            server_port,
            "uac_rtp_recorder.xml",
            "u1",
            &["-s", NUMBER, "-m", "1", "-key", "rtp_port", &caller_port]
                .into_iter()
                .chain(["-key", "codec", "0", "-d", "6000"])
                .collect::<Vec<_>>(),
        )
    });

    // holdline's two ports, learnt from its RTP (symmetric RTP, RFC 4961): the caller's music
    // and the agent leg's stream.
    let to_caller_leg = first_sender(&caller_rtp, Duration::from_secs(10));
    let to_agent_leg = first_sender(&agent_rtp, Duration::from_secs(10));
    assert_ne!(to_caller_leg, to_agent_leg, "one port pair per leg");

    let (a, c) = (
        agent_rtp.try_clone().expect("clone"),
        caller_rtp.try_clone().expect("clone"),
    );
    let agent_talks = std::thread::spawn(move || speak(a, to_agent_leg, 0x2a, 75));
    let caller_talks = std::thread::spawn(move || speak(c, to_caller_leg, 0x3b, 75));
    let agent_listens = std::thread::spawn(move || listen(&agent_rtp, Duration::from_millis(1600)));
    let (heard_by_caller, _) = listen(&caller_rtp, Duration::from_millis(1600));
    let (heard_by_agent, _) = agent_listens.join().expect("agent listener");
    agent_talks.join().expect("agent speaker");
    caller_talks.join().expect("caller speaker");

    let voice = |payloads: &[Vec<u8>], byte: u8| {
        payloads
            .iter()
            .filter(|p| p.len() == 160 && p.iter().all(|&b| b == byte))
            .count()
    };
    let agent_voice = voice(&heard_by_caller, 0x2a);
    let caller_voice = voice(&heard_by_agent, 0x3b);
    assert!(
        agent_voice >= 40,
        "the caller hears the agent: {agent_voice} of 75 packets in {} received",
        heard_by_caller.len()
    );
    assert!(
        caller_voice >= 40,
        "the agent hears the caller: {caller_voice} of 75 packets in {} received",
        heard_by_agent.len()
    );
    let caller = caller.join().expect("caller sipp");
    let agent = agent.finish();
    assert_sipp_ok(&caller, &server, "caller");
    assert_sipp_ok(&agent, &server, "agent");
}

/// amos answers the queue's caller and transfers them (REFER) to `refer_to`, whose phone is
/// the SIPp `target_scenario` on `target_port`; `extra` is more configuration (a user, a
/// trunk). Checks the caller's, amos's and the target's SIPp runs; returns the server.
fn transfer_by_amos(
    extra: &str,
    refer_to: &str,
    target_scenario: &'static str,
    target_port: u16,
    target: &str,
) -> Server {
    let amos = free_port();
    let server = sales_server(&[("amos", amos)], "", extra);
    let (amos_phone, _amos_rtp) = AgentPhone::answering(
        "uas_agent_refer.xml",
        amos,
        "UK Sales",
        60,
        &["-key", "refer_to", refer_to, "-d", "1500"],
    );
    let target_rtp = UdpSocket::bind("127.0.0.1:0").expect("target RTP socket");
    let target_rtp_port = target_rtp.local_addr().expect("address").port().to_string();
    let target_phone = AgentPhone::start(
        target_scenario,
        target_port,
        60,
        &["-key", "rtp_port", &target_rtp_port],
    );
    let caller = call(&server, "uac_basic.xml", &["-d", "5000"]);
    let amos_run = amos_phone.finish();
    let target_run = target_phone.finish();
    assert_sipp_ok(&target_run, &server, target);
    assert_sipp_ok(&caller, &server, "caller");
    assert_sipp_ok(
        &amos_run,
        &server,
        "amos (REFER, 202, NOTIFY 100 and 200, BYE)",
    );
    server
}

#[test]
fn agent_refer_transfers_the_caller_to_another_agent() {
    let bea = free_port();
    // Bea is rung for the transfer, not by the queue: her INVITE shows the caller's name.
    let server = transfer_by_amos(
        &user("bea", bea),
        "sip:bea@127.0.0.1",
        "uas_transfer_target.xml",
        bea,
        "bea (rung for the transfer, hung up by the caller's BYE)",
    );
    let events = queue_events(&server);
    assert!(
        has_event(&events, "transfer", Some("amos")),
        "the queue logs the transfer: {events:#?}"
    );
}

#[test]
fn transfer_through_a_trunk_answers_its_digest_challenge() {
    // amos transfers the caller to a number the trunk allows; the trunk challenges and checks
    // the answer with SIPp's own digest code (verifyauth) before it answers.
    let carrier = free_port();
    transfer_by_amos(
        &format!(
            r#"
[[trunk]]
id = "carrier"
proxy = "sip:127.0.0.1:{carrier}"
allow = ["+1425555*"]
auth = {{ username = "holdline", password = "s3cret", realm = "carrier.example" }}
"#
        ),
        "tel:+14255550999",
        "uas_trunk_auth.xml",
        carrier,
        "carrier trunk (401, INVITE with verified credentials, 200, BYE)",
    );
}
