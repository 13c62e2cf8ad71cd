//! End to end, the real `holdline serve` on loopback: `--api-listen` obeys the rule `[api]
//! listen` does (a non-loopback address needs a configured token: refused at start, before
//! anything is bound, with the reason; started with a token, and the API then asks for it), and
//! the Server header a scanner sees names the product without its version.
#![allow(clippy::disallowed_methods)] // A real process in real time: waiting is the point.

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use holdline::api::client::Client;
use holdline_testkit::{holdline_bin, scratch_dir, ConfigToml};

const TOKEN: &str = "e2e-api-listen-token";

/// `holdline serve --config <config> --api-listen <api>` in a fresh directory.
fn spawn(config: &str, api: &str) -> Child {
    let dir = scratch_dir("api-listen");
    let cfg = dir.join("holdline.toml");
    std::fs::write(&cfg, config).expect("write config");
    Command::new(holdline_bin())
        .arg("serve")
        .arg("--config")
        .arg(&cfg)
        .args(["--api-listen", api])
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start holdline")
}

/// Kills the server however the test ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn api_listen_on_every_address_without_a_token_is_refused_at_start() {
    let config = ConfigToml::loopback("61000-61099").to_string();
    let mut child = spawn(&config, "0.0.0.0:0");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("holdline kept running with an unauthenticated API on 0.0.0.0");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = child.wait_with_output().expect("output");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(status.code(), Some(2), "stderr: {stderr}");
    assert!(
        stderr.contains("--api-listen 0.0.0.0:0 is not a loopback address, so a token is required"),
        "the reason is given: {stderr}"
    );
    assert!(!stdout.contains("listening"), "nothing was bound: {stdout}");
}

#[test]
fn api_listen_on_every_address_with_a_token_starts_and_asks_for_it() {
    let config = ConfigToml::loopback("61100-61199")
        .api_token(TOKEN)
        .to_string();
    let mut server = Running(spawn(&config, "0.0.0.0:0"));
    let stdout = server.0.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let (mut api, mut sip) = (None, None);
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("holdline did not become ready");
        if let Some(rest) = line.strip_prefix("listening api ") {
            api = Some(rest.trim().to_owned());
        }
        if let Some(rest) = line.strip_prefix("listening sip udp ") {
            sip = Some(rest.trim().to_owned());
        }
        if line == "ready" {
            break;
        }
    }
    let api = api.expect("an api line");
    assert!(api.starts_with("0.0.0.0:"), "bound where asked: {api}");
    let port = api.rsplit(':').next().unwrap();
    let local = format!("127.0.0.1:{port}");
    let status = |token: Option<&str>| {
        Client::new(local.clone(), token.map(str::to_owned))
            .request("GET", "/api/v1/queues", None)
            .expect("the API answers")
            .status
    };
    assert_eq!(status(Some(TOKEN)), 200);
    assert_eq!(status(None), 401, "the token is required");

    // A scanner's OPTIONS: the Server header names the product, not its version.
    let sip = sip.expect("a sip udp line");
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let me = socket.local_addr().unwrap();
    let options = format!(
        "OPTIONS sip:{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKscan1;rport\r\n\
         From: <sip:scanner@{me}>;tag=s1\r\nTo: <sip:{sip}>\r\nCall-ID: scan-1\r\n\
         CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    socket.send_to(options.as_bytes(), &sip).unwrap();
    let mut buf = [0u8; 4096];
    let (n, _) = socket.recv_from(&mut buf).expect("an answer to OPTIONS");
    let answer = String::from_utf8_lossy(&buf[..n]);
    let server: Vec<&str> = answer
        .lines()
        .filter(|l| l.to_ascii_lowercase().starts_with("server:"))
        .collect();
    assert_eq!(server, vec!["Server: holdline"], "{answer}");
}
