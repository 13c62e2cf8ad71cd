//! SIP over TLS call set-up rate: the real `holdline` binary (a `tls:` listener, certificates
//! made on the spot), and callers that place whole calls over TLS: INVITE → 200 → ACK → BYE →
//! 200, one after another per caller thread, `CONCURRENCY` threads at once.
//!
//! Two modes, run one after the other against the same server:
//! - **new**: every call opens its own TCP connection and does a full TLS handshake
//!   (ECDSA P-256 certificate, TLS 1.3 as negotiated by rustls on both ends), then closes it;
//! - **reused**: each thread keeps one TLS connection for all of its calls.
//!
//! Reported per mode: calls a second (wall clock over all calls), and the median and p99 of
//! the set-up time (from starting the call, connect and handshake included in `new`, to the
//! 200 OK of the INVITE).
//!
//! ```sh
//! cargo build --release --bin holdline --example tls_setup -p holdline -p holdline-bench
//! HOLDLINE_BIN=target/release/holdline ./target/release/examples/tls_setup [CALLS] [CONCURRENCY]
//! ```
#![allow(clippy::disallowed_methods)] // A benchmark reads the wall clock: timing is the point.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use holdline_testkit::tls::{header, Pki, TlsClient};
use holdline_testkit::{scratch_dir, ConfigToml, QueueToml, Server};

const NUMBER: &str = "+14255550100";

fn main() {
    let mut args = std::env::args().skip(1);
    let calls: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2000);
    let concurrency: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(4);
    let dir = scratch_dir("tls-bench");
    let pki = Pki::new(&dir, "bench");
    let leaf = pki.issue("holdline", &["pbx.test", "127.0.0.1"]);
    let text = ConfigToml::loopback("46000-49999")
        .tls(
            &leaf.cert_pem.display().to_string(),
            &leaf.key_pem.display().to_string(),
            None,
        )
        .number(NUMBER, "service-toll")
        .raw("[limits]\nrequest_rate = 1000000\nburst = 1000000\nunconfirmed_per_source = 100000\n")
        .queue(
            QueueToml::new("sales")
                .numbers(&[NUMBER])
                .set("max_calls", "200")
                .set("no_agents", r#"{ action = "queue" }"#),
        )
        .to_string();
    let server = Server::start(&text);
    let addr = SocketAddr::from(([127, 0, 0, 1], server.tls_port.expect("a tls listener")));
    let config = pki.client_config(None);
    println!(
        "calls {calls}, concurrency {concurrency}, server pid {}",
        server.pid()
    );
    for mode in ["new", "reused"] {
        let (elapsed, mut setups) = run(addr, config.clone(), mode, calls, concurrency);
        setups.sort();
        let pct = |q: f64| setups[((setups.len() as f64 - 1.0) * q) as usize];
        println!(
            "{mode:>6}: {:.0} calls/s ({} calls in {:.2} s), set-up median {:.2} ms, p99 {:.2} ms",
            setups.len() as f64 / elapsed.as_secs_f64(),
            setups.len(),
            elapsed.as_secs_f64(),
            pct(0.5).as_secs_f64() * 1000.0,
            pct(0.99).as_secs_f64() * 1000.0,
        );
    }
}

fn run(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
    mode: &'static str,
    calls: usize,
    concurrency: usize,
) -> (Duration, Vec<Duration>) {
    let start = Instant::now();
    let threads: Vec<_> = (0..concurrency)
        .map(|t| {
            let config = config.clone();
            std::thread::spawn(move || {
                let mut setups = Vec::new();
                let mut kept: Option<TlsClient> = None;
                for i in (t..calls).step_by(concurrency) {
                    let begun = Instant::now();
                    let mut client = match kept.take() {
                        Some(c) => c,
                        None => TlsClient::connect(addr, "pbx.test", config.clone())
                            .expect("TLS to holdline"),
                    };
                    let call_id = format!("{mode}-{t}-{i}");
                    let setup = call(&mut client, &call_id, begun);
                    setups.push(setup);
                    if mode == "reused" {
                        kept = Some(client);
                    }
                }
                setups
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in threads {
        all.extend(t.join().expect("a caller thread"));
    }
    (start.elapsed(), all)
}

/// One whole call; returns the time from `begun` to the INVITE's 200.
fn call(client: &mut TlsClient, call_id: &str, begun: Instant) -> Duration {
    let me = client.local_addr();
    let sdp = "v=0\r\no=c 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
               m=audio 9 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
    let invite = format!(
        "INVITE sips:{NUMBER}@pbx.test SIP/2.0\r\n\
         Via: SIP/2.0/TLS {me};branch=z9hG4bK{call_id};rport\r\n\
         From: <sips:bench@client.test>;tag=b-{call_id}\r\n\
         To: <sips:{NUMBER}@pbx.test>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:bench@{me};transport=tls>\r\n\
         Max-Forwards: 70\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    client.send(&invite).expect("send INVITE");
    let ok = client
        .recv_until(Duration::from_secs(10), |f| f.starts_with("SIP/2.0 2"))
        .expect("200 to the INVITE");
    let setup = begun.elapsed();
    let to = header(&ok, "to", Some("t")).expect("To");
    let in_dialog = |method: &str, cseq: u32| {
        format!(
            "{method} sips:{NUMBER}@pbx.test SIP/2.0\r\n\
             Via: SIP/2.0/TLS {me};branch=z9hG4bK{call_id}{method};rport\r\n\
             From: <sips:bench@client.test>;tag=b-{call_id}\r\n\
             To: {to}\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: {cseq} {method}\r\n\
             Max-Forwards: 70\r\n\
             Content-Length: 0\r\n\r\n"
        )
    };
    client.send(&in_dialog("ACK", 1)).expect("send ACK");
    client.send(&in_dialog("BYE", 2)).expect("send BYE");
    client
        .recv_until(Duration::from_secs(10), |f| f.starts_with("SIP/2.0 200"))
        .map(|m| assert!(m.contains("BYE"), "{m}"))
        .expect("200 to the BYE");
    setup
}
