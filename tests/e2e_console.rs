//! The web console in a real browser: headless Chromium (Debian's `chromium`, driven over
//! WebDriver by `chromium-driver`) against the real `holdline serve` on loopback, with SIPp as
//! the callers and the agents' phones.
//!
//! What is checked: an admin signs in, adds a number and a user on their pages, uploads an MP3
//! greeting on the queue form, creates a queue with that number and agent, and a call to that number hears the uploaded tone first
//! (on the wire); a value the validator refuses is shown next to its field; an agent signs in,
//! opts out, and the next call rings the other agent only; the wallboard shows a waiting caller
//! within 2 s of the INVITE and drops it within 2 s of the hang-up, and the queue list's count
//! follows without a reload, and the board's today row and the reports page count the
//! abandoned caller as the wallboard API does; a signed-out browser and a
//! forged cross-site form are refused. The tests write the README's screenshots
//! (docs/screenshots/).
#![allow(clippy::disallowed_methods)] // A real process in real time: waiting is the point.

use std::io::{Read, Write};
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use holdline::api::client::Client;
use holdline_testkit::audio::tone_share;
use holdline_testkit::{
    assert_sipp_ok, free_port, repo_root, run_sipp_port, scratch_dir, AgentPhone, Browser,
    ConfigToml, Server,
};
use serde_json::Value;

const TOKEN: &str = "e2e-console-token";
/// RTP apart from the other end-to-end tests' ranges.
const RTP: &str = "16000-16999";
/// The greeting's tone.
const TONE_HZ: u32 = 660;

fn base(server: &Server) -> String {
    format!("http://{}", server.api)
}

fn api(server: &Server) -> Client {
    Client::new(server.api.clone(), Some(TOKEN.to_owned()))
}

fn screenshot(name: &str) -> PathBuf {
    repo_root().join("docs/screenshots").join(name)
}

/// Signs in as admin with the API token; lands on the queue list.
fn sign_in_admin(b: &Browser, server: &Server) {
    b.goto(&format!("{}/", base(server)));
    b.wait_for("#sign-in", Duration::from_secs(5));
    b.type_into("#secret", TOKEN);
    b.click("#sign-in");
    b.wait_for("#queues", Duration::from_secs(10));
}

/// A 1.2 s MP3 of a `TONE_HZ` sine (stereo, 44.1 kHz: holdline resamples it).
fn tone_mp3(dir: &Path) -> PathBuf {
    let path = dir.join("welcome.mp3");
    let ok = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!(
            "sine=frequency={TONE_HZ}:duration=1.2:sample_rate=44100"
        ))
        .args(["-ac", "2", "-b:a", "128k"])
        .arg(&path)
        .status()
        .expect("run ffmpeg");
    assert!(ok.success(), "ffmpeg made no MP3");
    path
}

/// A caller on `number` holding `hold_ms`, its RTP (PCMU) recorded; the payloads decoded to
/// linear samples in arrival order.
fn call_and_record(server: &Server, number: &str, hold_ms: u64) -> Vec<i16> {
    let recorder = UdpSocket::bind("127.0.0.1:0").expect("bind recorder");
    recorder
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let rtp_port = recorder.local_addr().unwrap().port().to_string();
    let (port, number, hold) = (server.port, number.to_owned(), hold_ms.to_string());
    let caller = std::thread::spawn(move || {
        run_sipp_port(
            port,
            "uac_rtp_recorder.xml",
            "u1",
            &[
                "-s", &number, "-m", "1", "-d", &hold, "-key", "rtp_port", &rtp_port, "-key",
                "codec", "0",
            ],
        )
    });
    let end = Instant::now() + Duration::from_millis(hold_ms - 500);
    let mut samples = Vec::new();
    let mut buf = [0u8; 2048];
    while Instant::now() < end {
        let Ok(n) = recorder.recv(&mut buf) else {
            continue;
        };
        if n > 12 && buf[0] >> 6 == 2 && buf[1] & 0x7f == 0 {
            samples.extend(
                buf[12..n]
                    .iter()
                    .map(|&c| holdline::audio::Law::Ulaw.decode(c)),
            );
        }
    }
    let run = caller.join().expect("sipp thread");
    assert_eq!(
        run.code,
        Some(0),
        "sipp: {}\n{}",
        run.output,
        server.log_text()
    );
    samples
}

/// The logged events of `queue`, oldest first.
fn events(server: &Server, queue: &str) -> Vec<Value> {
    let reply = api(server)
        .request("GET", &format!("/api/v1/events?queue={queue}"), None)
        .expect("GET events");
    reply.body.as_array().cloned().unwrap_or_default()
}

#[test]
fn admin_uploads_a_greeting_creates_a_queue_and_the_caller_hears_it() {
    let dir = scratch_dir("console-upload");
    let mp3 = tone_mp3(&dir);
    let ann = free_port();
    let server = Server::start(&ConfigToml::loopback(RTP).api_token(TOKEN).to_string());
    let b = Browser::start(1100, 620);
    sign_in_admin(&b, &server);
    // The number and the agent are made on their pages too.
    b.goto(&format!("{}/admin/numbers", base(&server)));
    b.type_into("#e164", "+14255550140");
    b.set_value("kind", "service-toll");
    b.click("#add-number");
    b.wait_for("tr[id='number-+14255550140']", Duration::from_secs(10));
    b.goto(&format!("{}/admin/users", base(&server)));
    b.type_into("#user-id", "ann");
    b.type_into("#user-contacts", &format!("sip:ann@127.0.0.1:{ann}"));
    b.click("#add-user");
    b.wait_for("#users form input[value='ann']", Duration::from_secs(10));
    b.goto(&format!("{}/admin", base(&server)));
    b.click("#new-queue");
    b.wait_for("#queue-form", Duration::from_secs(5));
    // Uploaded on the queue form itself; the form comes back with the prompt to pick.
    b.choose_file("#file", &mp3);
    b.click("#upload");
    b.wait_for(
        "#greeting option[value^='prompt:']",
        Duration::from_secs(20),
    );
    let reference = b.script(
        "var o = document.querySelector(\"#greeting option[value^='prompt:']\"); \
         o.selected = true; return o.value;",
        serde_json::json!([]),
    );
    let reference = reference.as_str().expect("a prompt reference").to_owned();
    assert!(
        b.find("audio[src$='/audio']").is_some(),
        "a play button for the prompt"
    );
    b.type_into("#id", "sales");
    b.type_into("#name", "Sales");
    b.type_into("#numbers", "+14255550140");
    b.type_into("#agents", "ann");
    b.click("#save");
    b.wait_for("#row-sales", Duration::from_secs(10));
    b.screenshot(&screenshot("console-queues.png"));

    let queue = api(&server)
        .call("GET", "/api/v1/queues/sales", None)
        .expect("the queue exists");
    assert_eq!(queue["numbers"], serde_json::json!(["+14255550140"]));
    assert_eq!(queue["agents"], serde_json::json!(["ann"]));
    let prompt_id = reference.trim_start_matches("prompt:");
    let prompt = api(&server)
        .call("GET", &format!("/api/v1/prompts/{prompt_id}"), None)
        .expect("the prompt exists");
    assert_eq!(prompt["used_by"][0]["queue"], "sales", "{prompt}");

    // On the wire: the first second the caller hears is the uploaded tone.
    let heard = call_and_record(&server, "+14255550140", 3000);
    assert!(heard.len() >= 8000, "only {} samples heard", heard.len());
    let share = tone_share(&heard[400..8000], 8000, f64::from(TONE_HZ));
    assert!(
        share > 0.8,
        "the greeting's {TONE_HZ} Hz tone: share {share:.3}\n{}",
        server.log_text()
    );
}

#[test]
fn a_refused_value_is_shown_next_to_its_field() {
    let server = Server::start(&ConfigToml::loopback(RTP).api_token(TOKEN).to_string());
    let b = Browser::start(1100, 800);
    sign_in_admin(&b, &server);
    b.goto(&format!("{}/admin/queues/new", base(&server)));
    b.type_into("#id", "big");
    b.type_into("#max_calls", "999");
    b.click("#save");
    // The validator's sentence, inside the max_calls field's own box.
    b.wait_for("#field-max_calls #error-max_calls", Duration::from_secs(10));
    let error = b.text("#error-max_calls");
    assert!(
        error.contains("max_calls 999 is out of range"),
        "the validator's message: {error:?}"
    );
    assert_eq!(b.text("#error-name"), "", "no error on the other fields");
    let kept = b.script(
        "return document.getElementById('max_calls').value;",
        serde_json::json!([]),
    );
    assert_eq!(kept, "999", "what the admin typed is kept");
    let reply = api(&server)
        .request("GET", "/api/v1/queues/big", None)
        .unwrap();
    assert_eq!(reply.status, 404, "nothing was created");
}

#[test]
fn an_agent_opts_out_and_the_next_call_does_not_ring_them() {
    let (alice, bob) = (free_port(), free_port());
    let server = Server::start(
        &ConfigToml::loopback(RTP)
            .api_token(TOKEN)
            .raw(&format!(
                r#"
[[number]]
e164 = "+14255550141"
kind = "service-toll"

[[user]]
id = "alice"
name = "Alice"
password = "alice-sip-pw"
contacts = ["sip:alice@127.0.0.1:{alice}"]

[[user]]
id = "bob"
contacts = ["sip:bob@127.0.0.1:{bob}"]

[[queue]]
id = "support"
name = "Support"
numbers = ["+14255550141"]
agents = ["alice", "bob"]
routing = "attendant"
allow_opt_out = true
"#
            ))
            .to_string(),
    );
    // A phone's width: the agent page is made for it.
    let b = Browser::start(400, 760);
    b.goto(&format!("{}/sign-in", base(&server)));
    b.type_into("#user", "alice");
    b.type_into("#secret", "alice-sip-pw");
    b.click("#sign-in");
    b.click("#opt-out-support");
    b.wait_for("#opt-in-support", Duration::from_secs(10));
    b.screenshot(&screenshot("console-agent.png"));
    let agent = api(&server)
        .call("GET", "/api/v1/agents/alice", None)
        .unwrap();
    assert_eq!(agent["queues"][0]["opted_in"], false, "{agent}");
    // The agent's page is all an agent may see.
    b.goto(&format!("{}/admin", base(&server)));
    assert!(b.text("body").contains("refused"), "{}", b.text("body"));

    // Only bob's phone runs; ringing alice would show in the log.
    let (phone, _rtp) = AgentPhone::answering("uas_agent_answer.xml", bob, "Support", 30, &[]);
    let caller = run_sipp_port(
        server.port,
        "uac_basic.xml",
        "u1",
        &["-s", "+14255550141", "-m", "1", "-d", "1000"],
    );
    let phone = phone.finish();
    assert_sipp_ok(&caller, &server, "the caller");
    assert_sipp_ok(&phone, &server, "bob answers");
    let log = events(&server, "support");
    let rung: Vec<&str> = log
        .iter()
        .filter(|e| e["kind"] == "agent-ringing")
        .filter_map(|e| e["agent"].as_str())
        .collect();
    assert_eq!(rung, vec!["bob"], "only bob rang: {log:?}");
}

#[test]
fn the_wallboard_shows_a_waiting_caller_within_two_seconds() {
    let server = Server::start(
        &ConfigToml::loopback(RTP)
            .api_token(TOKEN)
            .raw(
                r#"
[[number]]
e164 = "+14255550142"
kind = "service-toll"

[[user]]
id = "zed"
password = "zed-pw"

[[queue]]
id = "sales"
name = "Sales"
numbers = ["+14255550142"]
agents = ["zed"]
no_agents = { action = "queue" }
"#,
            )
            .to_string(),
    );
    let b = Browser::start(1000, 560);
    sign_in_admin(&b, &server);
    b.goto(&format!("{}/wallboard/sales", base(&server)));
    assert!(
        b.wait_text("#waiting-sales", "0", Duration::from_secs(10))
            .is_some(),
        "the board draws: {}",
        b.text("body")
    );
    let port = server.port;
    let invite = Instant::now();
    let caller = std::thread::spawn(move || {
        run_sipp_port(
            port,
            "uac_basic.xml",
            "u1",
            &["-s", "+14255550142", "-m", "1", "-d", "4000"],
        )
    });
    let shown = b.wait_text("#waiting-sales", "1", Duration::from_secs(3));
    let shown_after = invite.elapsed();
    assert!(
        shown.is_some() && shown_after < Duration::from_secs(2),
        "the waiting caller shows {shown_after:?} after the INVITE: {}\n{}",
        b.text("body"),
        server.log_text()
    );
    b.screenshot(&screenshot("console-wallboard.png"));
    let run = caller.join().expect("sipp thread");
    let hung_up = Instant::now();
    assert_sipp_ok(&run, &server, "the caller");
    let gone = b.wait_text("#waiting-sales", "0", Duration::from_secs(3));
    assert!(
        gone.is_some() && hung_up.elapsed() < Duration::from_secs(2),
        "the caller leaves the board {:?} after hanging up",
        hung_up.elapsed()
    );
    eprintln!(
        "wallboard: waiting caller shown {shown_after:?} after the INVITE, dropped {:?} after \
         the hang-up",
        gone.unwrap_or_default()
    );

    // Today's row: the caller who hung up while waiting is offered and abandoned; the board
    // shows the wallboard API's figures.
    assert!(
        b.wait_text("#today-abandoned-sales", "1", Duration::from_secs(6))
            .is_some(),
        "today's row counts the abandon: {}",
        b.text("body")
    );
    let today = api(&server)
        .call("GET", "/api/v1/wallboard/sales", None)
        .expect("GET wallboard")["today"]
        .clone();
    for (cell, key) in [
        ("offered", "offered"),
        ("answered", "answered"),
        ("abandoned", "abandoned"),
    ] {
        assert_eq!(
            b.text(&format!("#today-{cell}-sales")),
            today[key].to_string(),
            "{cell}: {today}"
        );
    }
    assert_eq!(today["offered"], 1, "{today}");
    assert_eq!(
        today["avg_wait_ms"],
        Value::Null,
        "nobody answered: {today}"
    );
    assert_eq!(b.text("#today-average-wait-sales"), "–");
    assert_eq!(b.text("#today-service-level-sales"), "–");

    // The reports page (today, by hour, the default) shows the same call, with its chart.
    b.goto(&format!("{}/admin/reports?queue=sales", base(&server)));
    b.wait_for("#report-form", Duration::from_secs(5));
    assert_eq!(b.text("td[data-k='sales-total-offered']"), "1");
    assert_eq!(b.text("td[data-k='sales-total-abandoned']"), "1");
    assert!(
        b.find("rect.bar.abandoned").is_some(),
        "the abandon has its bar: {}",
        b.text("body")
    );
    // The shot shows the queue's charts and table rather than the form.
    b.script(
        "document.querySelector('section.report').scrollIntoView();",
        Value::Array(Vec::new()),
    );
    b.screenshot(&screenshot("console-reports.png"));

    // The queue list's counts follow the feed too, without a reload.
    b.goto(&format!("{}/admin", base(&server)));
    assert_eq!(b.text("#row-sales .waiting"), "0");
    let caller = std::thread::spawn(move || {
        run_sipp_port(
            port,
            "uac_basic.xml",
            "u1",
            &["-s", "+14255550142", "-m", "1", "-d", "3000"],
        )
    });
    let listed = b.wait_text("#row-sales .waiting", "1", Duration::from_secs(3));
    let run = caller.join().expect("sipp thread");
    assert_sipp_ok(&run, &server, "the second caller");
    assert!(
        listed.is_some(),
        "the queue list shows the waiting caller without a reload"
    );
}

/// A page on another origin that posts a forged form to the console as soon as it loads.
fn forging_site(target: String) -> (String, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().unwrap();
    let handle = std::thread::spawn(move || {
        let page = format!(
            "<!doctype html><html><body><form method=post action=\"{target}/admin/queues\">\
             <input name=csrf value=forged><input name=id value=evil></form>\
             <script>document.forms[0].submit()</script></body></html>"
        );
        // One page, then a favicon request or two at most.
        listener.set_nonblocking(false).ok();
        for stream in listener.incoming().take(2).flatten() {
            let mut stream = stream;
            stream.set_read_timeout(Some(Duration::from_secs(2))).ok();
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{page}",
                page.len()
            );
        }
    });
    (format!("http://{addr}/"), handle)
}

#[test]
fn a_signed_out_browser_and_a_forged_cross_site_post_are_refused() {
    let server = Server::start(&ConfigToml::loopback(RTP).api_token(TOKEN).to_string());
    let b = Browser::start(900, 600);
    // Signed out: every page sends the browser to sign in, and the API wants its token.
    for page in ["/admin", "/admin/queues/new", "/wallboard", "/agent"] {
        b.goto(&format!("{}{page}", base(&server)));
        assert!(b.url().ends_with("/sign-in"), "{page} → {}", b.url());
    }
    b.goto(&format!("{}/api/v1/queues", base(&server)));
    assert!(
        b.text("body").contains("bearer token"),
        "{}",
        b.text("body")
    );

    // Signed in, then lured to another site whose page posts to the console.
    sign_in_admin(&b, &server);
    let (site, _forger) = forging_site(base(&server));
    b.goto(&site);
    let start = Instant::now();
    while !b.text("body").contains("refused") && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(b.text("body").contains("refused"), "{}", b.text("body"));
    let reply = api(&server)
        .request("GET", "/api/v1/queues/evil", None)
        .unwrap();
    assert_eq!(reply.status, 404, "the forged form created nothing");

    // Signing out ends the session on the server: the old page's forms are refused too.
    b.goto(&format!("{}/admin", base(&server)));
    b.click(".signout button");
    b.wait_for("#sign-in", Duration::from_secs(5));
    b.goto(&format!("{}/admin", base(&server)));
    assert!(b.url().ends_with("/sign-in"), "{}", b.url());
}

#[test]
fn admin_password_prints_a_hash_the_console_accepts() {
    use std::process::Stdio;

    let run = |input: &str| {
        let mut child = Command::new(holdline_testkit::holdline_bin())
            .arg("admin-password")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run holdline admin-password");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let out = run("s3cret pass\n");
    assert!(out.status.success(), "{out:?}");
    let phc = String::from_utf8(out.stdout).unwrap();
    let phc = phc.trim();
    assert!(phc.starts_with("$argon2id$"), "{phc}");
    assert!(holdline::api::console::password_matches(phc, "s3cret pass"));
    assert!(!holdline::api::console::password_matches(
        phc,
        "s3cret pass\n"
    ));
    // A configuration with it validates; an empty password is refused.
    let config = format!("[api]\nadmin_password_hash = \"{phc}\"\n");
    holdline::config::from_toml_str(&config, Path::new("/etc/holdline")).expect("valid");
    let empty = run("\n");
    assert_eq!(empty.status.code(), Some(2), "{empty:?}");
}

/// An SBC on a UDP socket of the test's: answers every OPTIONS with 200 while `answer`, or
/// keeps silent. Stops when the returned flag is set.
fn fake_sbc(answer: bool) -> (u16, std::sync::Arc<std::sync::atomic::AtomicBool>) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a fake SBC");
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let port = socket.local_addr().unwrap().port();
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 65_535];
        while !stopped.load(Ordering::Relaxed) {
            let Ok((n, from)) = socket.recv_from(&mut buf) else {
                continue;
            };
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            if !answer || !text.starts_with("OPTIONS ") {
                continue;
            }
            // A 200 with the request's Via, From, To (tagged), Call-ID and CSeq.
            let mut ok = String::from("SIP/2.0 200 OK\r\n");
            for line in text.lines() {
                let lower = line.to_ascii_lowercase();
                if ["via:", "from:", "call-id:", "cseq:"]
                    .iter()
                    .any(|h| lower.starts_with(h))
                {
                    ok.push_str(line.trim_end());
                    ok.push_str("\r\n");
                } else if lower.starts_with("to:") {
                    ok.push_str(line.trim_end());
                    ok.push_str(";tag=sbc\r\n");
                }
            }
            ok.push_str("Content-Length: 0\r\n\r\n");
            let _ = socket.send_to(ok.as_bytes(), from);
        }
    });
    (port, stop)
}

#[test]
fn the_trunks_page_shows_each_sbc_s_health() {
    use std::sync::atomic::Ordering;
    let (up_port, stop_up) = fake_sbc(true);
    let (down_port, stop_down) = fake_sbc(false);
    let server = Server::start(
        &ConfigToml::loopback(RTP)
            .api_token(TOKEN)
            .raw(&format!(
                r#"
[[trunk]]
id = "carrier"
sbcs = [{{ uri = "sip:127.0.0.1:{up_port}", priority = 1, weight = 60 }},
        {{ uri = "sip:127.0.0.1:{down_port}", priority = 2 }}]
first_response_timeout = 0.5
health_interval = 1
down_after = 1
up_after = 1
allow = ["+1*"]
"#
            ))
            .to_string(),
    );
    let b = Browser::start(1200, 700);
    sign_in_admin(&b, &server);
    b.click("a[href='/admin/trunks']");
    b.wait_for("#trunk-carrier", Duration::from_secs(5));
    let state = |port: u16| b.text(&format!("tr[data-uri='sip:127.0.0.1:{port}'] td.state"));
    // Health checks every second: both verdicts within a few; the page shows them on a reload.
    let start = Instant::now();
    while !(state(up_port).starts_with("up") && state(down_port).starts_with("down"))
        && start.elapsed() < Duration::from_secs(10)
    {
        std::thread::sleep(Duration::from_millis(300));
        b.goto(&format!("{}/admin/trunks", base(&server)));
        b.wait_for("#trunk-carrier", Duration::from_secs(5));
    }
    assert!(state(up_port).starts_with("up"), "{}", b.text("body"));
    assert!(state(down_port).starts_with("down"), "{}", b.text("body"));
    let rtt = b.text(&format!("tr[data-uri='sip:127.0.0.1:{up_port}'] td.rtt"));
    assert!(rtt.ends_with(" ms"), "a round-trip time: {rtt:?}");
    let changed = b.text(&format!(
        "tr[data-uri='sip:127.0.0.1:{down_port}'] td.last-change"
    ));
    assert!(
        changed.ends_with("UTC (down)"),
        "the logged change: {changed:?}"
    );
    let settings = b.text("#trunk-carrier table.settings");
    assert!(settings.contains("health_interval 1 s"), "{settings}");
    assert!(b.text("#read-only").contains("configuration file"));
    b.screenshot(&screenshot("console-trunks.png"));
    stop_up.store(true, Ordering::Relaxed);
    stop_down.store(true, Ordering::Relaxed);
}

#[test]
fn a_delegated_admin_edits_their_queue_and_no_other() {
    let server = Server::start(
        &ConfigToml::loopback(RTP)
            .api_token(TOKEN)
            .raw(
                r#"
[[user]]
id = "dana"
name = "Dana"
password = "dana-sip-pw"
"#,
            )
            .to_string(),
    );
    let api = api(&server);
    for q in [
        serde_json::json!({ "id": "sales", "name": "Sales", "authorized_users": ["dana"],
                            "max_calls": 5 }),
        serde_json::json!({ "id": "billing", "name": "Billing", "max_calls": 6 }),
    ] {
        let reply = api.request("POST", "/api/v1/queues", Some(&q)).unwrap();
        assert_eq!(reply.status, 201, "{:?}", reply.body);
    }
    let b = Browser::start(1000, 760);
    b.goto(&format!("{}/sign-in", base(&server)));
    b.type_into("#user", "dana");
    b.type_into("#secret", "dana-sip-pw");
    b.click("#sign-in");
    b.click("#manage-sales");
    b.wait_for("#queue-form", Duration::from_secs(5));
    assert!(b.find("#manage-billing").is_none());
    b.script(
        "document.getElementById('max_calls').value = '';",
        serde_json::json!([]),
    );
    b.type_into("#max_calls", "12");
    b.click("#save");
    // Back on their own page once saved.
    b.wait_for("#managed", Duration::from_secs(10));
    let sales = api.call("GET", "/api/v1/queues/sales", None).unwrap();
    assert_eq!(sales["max_calls"], 12, "{sales}");

    // A POST straight to another queue's form, with this session's own CSRF token: refused.
    let status = b.script(
        "var x = new XMLHttpRequest();\
         x.open('POST', '/admin/queues/billing', false);\
         x.setRequestHeader('Content-Type', 'application/x-www-form-urlencoded');\
         x.send('csrf=' + document.querySelector('input[name=csrf]').value + '&max_calls=1');\
         return x.status;",
        serde_json::json!([]),
    );
    assert_eq!(status, 403);
    let billing = api.call("GET", "/api/v1/queues/billing", None).unwrap();
    assert_eq!(billing["max_calls"], 6, "unchanged: {billing}");
    b.goto(&format!("{}/admin/queues/billing", base(&server)));
    assert!(b.text("body").contains("refused"), "{}", b.text("body"));
}
