//! End-to-end provisioning: the real `holdline serve` on loopback, provisioned through its
//! admin API (and through the `holdline` CLI) while it runs, with SIPp as the callers and the
//! agents' phones.
//!
//! What is checked: a queue, number and user created through the API take the next call at
//! once (no restart), a removed queue's number answers 404 again while nothing else is
//! disturbed; everything provisioned survives SIGTERM and SIGKILL (objects, agents' settings,
//! the generated token, the event log); a config-file object cannot be changed through the API;
//! the live state (status, calls, metrics) describes a real waiting caller; agents' DND set
//! through the API keeps the engine from ringing them; the CLI round-trips against the server.
#![allow(clippy::disallowed_methods)] // A real process in real time: waiting is the point.

use std::process::Command;
use std::time::{Duration, Instant};

use holdline::api::client::{Client, Reply};
use holdline_testkit::{
    assert_sipp_ok, eventually, free_port, run_sipp_port, AgentPhone, ConfigToml, QueueToml,
    Server, SippRun,
};
use serde_json::{json, Value};

/// The token the tests' config files set (the restart test lets the server generate one).
const TOKEN: &str = "e2e-provisioning-token";

/// A config file with one file-declared queue (`file-q` on +14255550100) and `extra`.
fn config(token: Option<&str>, extra: &str) -> String {
    // RTP apart from the other end-to-end tests' ranges, so parallel runs rarely meet.
    let mut config = ConfigToml::loopback("50000-59999");
    if let Some(token) = token {
        config = config.api_token(token);
    }
    config
        .number("+14255550100", "service-toll")
        .queue(
            QueueToml::new("file-q")
                .name("From The File")
                .numbers(&["+14255550100"])
                .set("no_agents", r#"{ action = "queue" }"#),
        )
        .raw(extra)
        .to_string()
}

fn client(server: &Server, token: &str) -> Client {
    Client::new(server.api.clone(), Some(token.to_owned()))
}

/// One API request; panics with the answer when the status is not `want`.
fn expect(client: &Client, method: &str, path: &str, body: Option<Value>, want: u16) -> Value {
    let reply: Reply = client
        .request(method, path, body.as_ref())
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    assert_eq!(
        reply.status,
        want,
        "{method} {path}: {}",
        serde_json::to_string_pretty(&reply.body).unwrap_or_default()
    );
    reply.body
}

/// A caller scenario to `number` over UDP.
fn call(server: &Server, number: &str, scenario_name: &str, extra: &[&str]) -> SippRun {
    let mut args = vec!["-s", number, "-m", "1"];
    args.extend_from_slice(extra);
    run_sipp_port(server.port, scenario_name, "u1", &args)
}

/// The `/metrics` text.
fn metrics_text(client: &Client) -> String {
    let reply = client
        .request("GET", "/metrics", None)
        .expect("GET /metrics");
    assert_eq!(reply.status, 200);
    reply.body.as_str().unwrap_or_default().to_owned()
}

/// Subscribes to the live event feed of `queue` (Server-Sent Events over a raw connection)
/// and reads it on a thread until an `offered` event arrives or 10 s pass; the thread returns
/// what it read.
fn open_feed(server: &Server, queue: &str) -> std::thread::JoinHandle<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(&server.api).expect("connect to the API");
    let request = format!(
        "GET /api/v1/events/feed?queue={queue} HTTP/1.1\r\nHost: {}\r\n\
         Authorization: Bearer {TOKEN}\r\nAccept: text/event-stream\r\n\r\n",
        server.api
    );
    stream
        .write_all(request.as_bytes())
        .expect("send the feed request");
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("read timeout");
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
                Err(_) => {}
            }
            if String::from_utf8_lossy(&seen).contains("event: offered") {
                break;
            }
        }
        String::from_utf8_lossy(&seen).into_owned()
    })
}

/// The kinds of the logged events of `queue`, oldest first.
fn event_kinds(client: &Client, queue: &str) -> Vec<String> {
    let events = expect(
        client,
        "GET",
        &format!("/api/v1/events?queue={queue}"),
        None,
        200,
    );
    events
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e["kind"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn queue_created_through_the_api_takes_the_next_call_and_bridges_its_agent() {
    let server = Server::start(&config(Some(TOKEN), ""));
    let api = client(&server, TOKEN);

    // Nothing answers on the new number yet.
    let before = call(&server, "+14255550123", "uac_unknown_number.xml", &[]);
    assert_sipp_ok(&before, &server, "404 before the queue exists");

    // 2 a.m.: a user with a phone, a number, a queue, all through the API, no restart.
    let amos = free_port();
    expect(
        &api,
        "POST",
        "/api/v1/users",
        Some(json!({ "id": "amos", "contacts": [format!("sip:amos@127.0.0.1:{amos}")] })),
        201,
    );
    expect(
        &api,
        "POST",
        "/api/v1/numbers",
        Some(json!({ "e164": "+14255550123", "kind": "service-toll-free" })),
        201,
    );
    let q = expect(
        &api,
        "POST",
        "/api/v1/queues",
        Some(
            json!({ "id": "night", "name": "Night Desk", "numbers": ["+14255550123"],
                     "agents": ["amos"], "max_wait": 600 }),
        ),
        201,
    );
    assert_eq!(q["origin"], "api");

    let (agent, _rtp) = AgentPhone::answering("uas_agent_answer.xml", amos, "Night Desk", 60, &[]);
    let caller = call(&server, "+14255550123", "uac_basic.xml", &["-d", "2000"]);
    let agent = agent.finish();
    assert_sipp_ok(&caller, &server, "caller reaches the new queue");
    assert_sipp_ok(&agent, &server, "the new queue's agent answers");

    // The call is in the event log, named by its SIP Call-ID, with its wait.
    let kinds = eventually(Duration::from_secs(5), || {
        let k = event_kinds(&api, "night");
        k.iter().any(|k| k == "completed").then_some(k)
    })
    .unwrap_or_else(|| panic!("no completed call logged: {:?}", event_kinds(&api, "night")));
    for want in ["offered", "caller-answered", "agent-ringing", "answered"] {
        assert!(kinds.iter().any(|k| k == want), "{want} missing: {kinds:?}");
    }
    let events = expect(&api, "GET", "/api/v1/events?queue=night", None, 200);
    let first = &events[0];
    assert!(
        first["call_id"]
            .as_str()
            .is_some_and(|c| c.contains('@') || c.len() > 8),
        "the SIP Call-ID, not the engine's: {first}"
    );
    assert!(first["waited_ms"].is_number(), "{first}");

    // Removing the queue frees its number: the next call gets 404 again.
    expect(&api, "DELETE", "/api/v1/queues/night", None, 204);
    let number = expect(&api, "GET", "/api/v1/numbers/+14255550123", None, 200);
    assert_eq!(number["assigned_to"], Value::Null, "{number}");
    let after = call(&server, "+14255550123", "uac_unknown_number.xml", &[]);
    assert_sipp_ok(&after, &server, "404 once the queue is removed");
}

#[test]
fn config_file_objects_are_read_only_through_the_api() {
    let server = Server::start(&config(Some(TOKEN), ""));
    let api = client(&server, TOKEN);
    let err = expect(
        &api,
        "PATCH",
        "/api/v1/queues/file-q",
        Some(json!({ "max_wait": 60 })),
        409,
    );
    let text = err["error"].as_str().unwrap_or_default();
    assert!(text.contains("holdline.toml"), "names the file: {text}");
    expect(&api, "DELETE", "/api/v1/queues/file-q", None, 409);
    expect(&api, "DELETE", "/api/v1/numbers/+14255550100", None, 409);
    // Unchanged, and still answering.
    let q = expect(&api, "GET", "/api/v1/queues/file-q", None, 200);
    assert_eq!(
        (q["origin"].clone(), q["max_wait"].clone()),
        (json!("file"), json!(1200))
    );
    let run = call(&server, "+14255550100", "uac_basic.xml", &["-d", "500"]);
    assert_sipp_ok(&run, &server, "the file's queue answers");
    // Without the token nothing is served.
    let anonymous = Client::new(server.api.clone(), None);
    let reply = anonymous.request("GET", "/api/v1/queues", None).unwrap();
    assert_eq!(reply.status, 401);
}

#[test]
fn live_status_calls_and_metrics_describe_a_waiting_caller() {
    let server = Server::start(&config(Some(TOKEN), ""));
    let api = client(&server, TOKEN);
    let feed = open_feed(&server, "file-q");
    // A caller waits (no agents; the queue keeps it) for 4 s.
    let caller = std::thread::spawn({
        let port = server.port;
        move || {
            run_sipp_port(
                port,
                "uac_basic.xml",
                "u1",
                &["-s", "+14255550100", "-m", "1", "-d", "4000"],
            )
        }
    });
    let status = eventually(Duration::from_secs(5), || {
        let s = expect(&api, "GET", "/api/v1/queues/file-q/status", None, 200);
        (s["calls_waiting"] == 1).then_some(s)
    })
    .unwrap_or_else(|| {
        let s = expect(&api, "GET", "/api/v1/queues/file-q/status", None, 200);
        panic!("the caller shows as waiting: {s}\n{}", server.log_text())
    });
    assert_eq!(status["waiting"][0]["position"], 1, "{status}");
    assert!(
        status["waiting"][0]["caller"]
            .as_str()
            .is_some_and(|c| c.contains("sip:caller@127.0.0.1")),
        "{status}"
    );
    let calls = expect(&api, "GET", "/api/v1/calls", None, 200);
    assert_eq!(calls.as_array().map(Vec::len), Some(1), "{calls}");
    assert_eq!(calls[0]["queue"], "file-q");
    assert!(
        ["waiting", "greeting"].contains(&calls[0]["state"].as_str().unwrap_or("")),
        "{calls}"
    );
    let metrics = metrics_text(&api);
    assert!(
        metrics.contains("holdline_calls_waiting{queue=\"file-q\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("holdline_calls_offered_total{queue=\"file-q\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("holdline_rtp_streams_active 1"),
        "{metrics}"
    );

    let feed = feed.join().expect("feed thread");
    assert!(feed.contains("event: offered\n"), "{feed}");
    assert!(feed.contains("\"queue\":\"file-q\""), "{feed}");

    let caller = caller.join().expect("caller thread");
    assert_sipp_ok(&caller, &server, "waiting caller");
    let metrics = eventually(Duration::from_secs(5), || {
        let m = metrics_text(&api);
        m.contains("holdline_calls_abandoned_total{queue=\"file-q\"} 1")
            .then_some(m)
    })
    .expect("the hang-up counts as abandoned");
    assert!(
        metrics.contains("holdline_calls_waiting{queue=\"file-q\"} 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("holdline_sip_requests_total{method=\"INVITE\",class=\"2xx\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("holdline_sip_requests_total{method=\"BYE\",class=\"2xx\"} 1"),
        "{metrics}"
    );
}

#[test]
fn agent_in_dnd_is_not_rung_until_they_clear_it() {
    let amos = free_port();
    let server = Server::start(&config(
        Some(TOKEN),
        &format!(
            r#"
[[number]]
e164 = "+14255550111"
kind = "service-toll"

[[user]]
id = "amos"
contacts = ["sip:amos@127.0.0.1:{amos}"]

[[queue]]
id = "sales"
name = "Sales"
numbers = ["+14255550111"]
agents = ["amos"]
no_agents = {{ action = "queue" }}
"#
        ),
    ));
    let api = client(&server, TOKEN);
    let dnd = expect(
        &api,
        "PUT",
        "/api/v1/agents/amos/dnd",
        Some(json!({ "dnd": true })),
        200,
    );
    assert_eq!(dnd["dnd"], true);
    let status = expect(&api, "GET", "/api/v1/queues/sales/status", None, 200);
    assert_eq!(status["agents"][0]["state"], "dnd", "{status}");
    // The caller waits on music; amos's phone is not even running: a ring would fail.
    let waited = call(&server, "+14255550111", "uac_basic.xml", &["-d", "2000"]);
    assert_sipp_ok(
        &waited,
        &server,
        "caller waits while the only agent is in DND",
    );
    let kinds = eventually(Duration::from_secs(5), || {
        let k = event_kinds(&api, "sales");
        k.iter().any(|k| k == "abandoned").then_some(k)
    })
    .unwrap_or_else(|| panic!("the call was not logged: {}", server.log_text()));
    assert!(!kinds.iter().any(|k| k == "agent-ringing"), "{kinds:?}");

    // DND off: the next call rings amos, who answers.
    expect(
        &api,
        "PUT",
        "/api/v1/agents/amos/dnd",
        Some(json!({ "dnd": false })),
        200,
    );
    let (agent, _rtp) = AgentPhone::answering("uas_agent_answer.xml", amos, "Sales", 60, &[]);
    let caller = call(&server, "+14255550111", "uac_basic.xml", &["-d", "1000"]);
    let agent = agent.finish();
    assert_sipp_ok(&caller, &server, "caller after DND is cleared");
    assert_sipp_ok(&agent, &server, "amos answers once out of DND");
}

/// Provisions through the API on a server with a generated token, stops it with `stop`,
/// starts it again on the same directory and checks everything is still there and working.
fn survives(stop: fn(Server)) {
    let server = Server::start(&config(None, "\n[[user]]\nid = \"bea\"\n"));
    let token = server
        .token
        .clone()
        .expect("a generated token is printed on first start");
    let dir = server.dir.clone();
    let api = client(&server, &token);
    expect(
        &api,
        "POST",
        "/api/v1/numbers",
        Some(json!({ "e164": "+14255550177", "kind": "service-toll" })),
        201,
    );
    expect(
        &api,
        "POST",
        "/api/v1/users",
        // A phone nobody answers: ringing it would show as agent-ringing in the log.
        Some(json!({ "id": "cy", "name": "Cy Twombly",
                     "contacts": [format!("sip:cy@127.0.0.1:{}", free_port())] })),
        201,
    );
    expect(
        &api,
        "POST",
        "/api/v1/queues",
        Some(
            json!({ "id": "after-hours", "name": "After Hours", "numbers": ["+14255550177"],
                     "agents": ["bea", "cy"], "no_agents": { "action": "queue" } }),
        ),
        201,
    );
    expect(
        &api,
        "PATCH",
        "/api/v1/queues/after-hours",
        Some(json!({ "max_wait": 900 })),
        200,
    );
    expect(
        &api,
        "PUT",
        "/api/v1/agents/cy/dnd",
        Some(json!({ "dnd": true })),
        200,
    );
    expect(
        &api,
        "POST",
        "/api/v1/agents/bea/queues/after-hours/opt-out",
        None,
        200,
    );
    let run = call(&server, "+14255550177", "uac_basic.xml", &["-d", "300"]);
    assert_sipp_ok(&run, &server, "call before the restart");
    eventually(Duration::from_secs(5), || {
        event_kinds(&api, "after-hours")
            .iter()
            .any(|k| k == "abandoned")
            .then_some(())
    })
    .expect("the call is logged before the stop");
    stop(server);

    let server = Server::restart_in(&dir);
    assert_eq!(server.token, None, "the token is printed only once");
    let api = client(&server, &token);
    let q = expect(&api, "GET", "/api/v1/queues/after-hours", None, 200);
    assert_eq!(
        (
            q["origin"].clone(),
            q["max_wait"].clone(),
            q["name"].clone()
        ),
        (json!("api"), json!(900), json!("After Hours"))
    );
    let cy = expect(&api, "GET", "/api/v1/agents/cy", None, 200);
    assert_eq!(cy["dnd"], true, "{cy}");
    let bea = expect(&api, "GET", "/api/v1/agents/bea", None, 200);
    assert_eq!(bea["queues"][0]["opted_in"], false, "{bea}");
    let n = expect(&api, "GET", "/api/v1/numbers/+14255550177", None, 200);
    assert_eq!(n["assigned_to"], "queue:after-hours", "{n}");
    let kinds = event_kinds(&api, "after-hours");
    assert!(
        kinds.iter().any(|k| k == "offered") && kinds.iter().any(|k| k == "abandoned"),
        "the event log survived: {kinds:?}"
    );
    let status = expect(&api, "GET", "/api/v1/queues/after-hours/status", None, 200);
    assert_eq!(status["agents"][0]["state"], "opted-out", "{status}");
    assert_eq!(status["agents"][1]["state"], "dnd", "{status}");
    // The queue takes calls on its number again, and the engine got cy's DND back from the
    // store: cy (reachable, in the queue) is not rung.
    let run = call(&server, "+14255550177", "uac_basic.xml", &["-d", "1000"]);
    assert_sipp_ok(&run, &server, "call after the restart");
    let kinds = eventually(Duration::from_secs(5), || {
        let k = event_kinds(&api, "after-hours");
        (k.iter().filter(|k| *k == "abandoned").count() == 2).then_some(k)
    })
    .expect("the second call is logged");
    assert!(!kinds.iter().any(|k| k == "agent-ringing"), "{kinds:?}");
}

#[test]
fn provisioning_survives_sigterm() {
    survives(|s| {
        assert_eq!(s.terminate(), Some(0), "clean exit on SIGTERM");
    });
}

#[test]
fn provisioning_survives_sigkill() {
    survives(Server::kill);
}

/// `holdline ARGS… --api ADDR --token TOKEN`: (exit code, stdout, stderr).
fn cli(server: &Server, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_holdline"))
        .args(args)
        .args(["--api", &server.api, "--token", TOKEN])
        .output()
        .expect("run the holdline CLI");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cli_round_trip_against_a_running_server() {
    let amos = free_port();
    let server = Server::start(&config(
        Some(TOKEN),
        &format!("\n[[user]]\nid = \"amos\"\ncontacts = [\"sip:amos@127.0.0.1:{amos}\"]\n"),
    ));
    let ok = |args: &[&str]| {
        let (code, out, err) = cli(&server, args);
        assert_eq!(code, 0, "holdline {args:?}: {err}");
        out
    };
    let out = ok(&["number", "new", "+1 425 555 0144", "kind=service-toll"]);
    assert!(out.contains("+14255550144"), "{out}");
    let out = ok(&[
        "queue",
        "new",
        "support",
        "name=Support Line",
        "numbers=+14255550144",
        "agents=amos",
        "allow_opt_out=false",
        "on_timeout=forward:queue:file-q",
    ]);
    assert!(out.contains("Support Line"), "{out}");
    let out = ok(&["queue", "set", "support", "max_wait=300"]);
    assert!(out.contains("300"), "{out}");
    let out = ok(&["queue", "get"]);
    assert!(out.starts_with("ID"), "a table: {out}");
    assert!(out.contains("support") && out.contains("file-q"), "{out}");
    let out = ok(&["queue", "get", "support", "--json"]);
    let v: Value = serde_json::from_str(&out).expect("--json prints JSON");
    assert_eq!(
        (v["max_wait"].clone(), v["on_timeout"]["to"].clone()),
        (json!(300), json!("queue:file-q"))
    );
    let out = ok(&["number", "get"]);
    assert!(out.contains("queue:support"), "{out}");

    // Validation errors name the field and why; exit 1.
    let (code, _, err) = cli(&server, &["queue", "set", "support", "max_wait=50"]);
    assert_eq!(code, 1);
    assert!(err.contains("max_wait") && err.contains("15"), "{err}");
    // The queue does not allow opting out.
    let (code, _, err) = cli(&server, &["agent", "opt-out", "amos", "support"]);
    assert_eq!(code, 1);
    assert!(err.contains("allow_opt_out"), "{err}");
    let out = ok(&["agent", "dnd", "amos", "on"]);
    assert!(out.contains("dnd: on"), "{out}");
    let out = ok(&["agent", "dnd", "amos", "off"]);
    assert!(out.contains("dnd: off"), "{out}");
    let out = ok(&["queue", "status", "support"]);
    assert!(out.contains("amos") && out.contains("available"), "{out}");

    // The queue the CLI made answers a caller and rings amos.
    let (agent, _rtp) =
        AgentPhone::answering("uas_agent_answer.xml", amos, "Support Line", 60, &[]);
    let caller = call(&server, "+14255550144", "uac_basic.xml", &["-d", "1000"]);
    let agent = agent.finish();
    assert_sipp_ok(&caller, &server, "caller to the CLI's queue");
    assert_sipp_ok(&agent, &server, "amos answers the CLI's queue");

    let out = ok(&["queue", "remove", "support"]);
    assert!(out.contains("removed queue support"), "{out}");
    let (code, _, err) = cli(&server, &["queue", "get", "support"]);
    assert_eq!(code, 1);
    assert!(err.contains("does not exist"), "{err}");
    // The file's queue cannot be removed from the CLI either.
    let (code, _, err) = cli(&server, &["queue", "remove", "file-q"]);
    assert_eq!(code, 1);
    assert!(err.contains("holdline.toml"), "{err}");
}

#[test]
fn a_second_server_on_the_same_store_is_refused() {
    let server = Server::start(&config(Some(TOKEN), ""));
    let second = Command::new(env!("CARGO_BIN_EXE_holdline"))
        .args(["serve", "--config"])
        .arg(server.dir.join("holdline.toml"))
        .current_dir(&server.dir)
        .output()
        .expect("run a second holdline");
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("is in use by another holdline serve"),
        "the reason is given: {stderr}"
    );
    // The first one is unaffected, and its lock goes with it.
    let api = client(&server, TOKEN);
    expect(&api, "GET", "/api/v1/queues/file-q", None, 200);
    let dir = server.dir.clone();
    assert_eq!(server.terminate(), Some(0));
    let again = Server::restart_in(&dir);
    let api = client(&again, TOKEN);
    expect(&api, "GET", "/api/v1/queues/file-q", None, 200);
}
