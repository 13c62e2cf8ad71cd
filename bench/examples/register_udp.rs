//! REGISTER over UDP against the real server: `holdline serve` (a release binary) is started
//! with 10,000 users with passwords, and phones played by this client register from 128
//! loopback source addresses (`127.0.0.10`–`127.0.0.137`), so no source comes near the
//! per-source admission limits (`[limits]` stays at its defaults: 200 requests a second per
//! source; the busiest source here sends about a hundredth of the total).
//!
//! 1. **new**: every phone sends REGISTER, gets 401, answers the SHA-256 challenge (RFC 7616
//!    §3.4.1, nc=1) and gets 200. As fast as the server answers: each source keeps
//!    `WINDOW` phones in flight.
//! 2. **refresh**: every phone registers again with its nonce and the next nonce count (one
//!    REGISTER, 200; a phone challenged again answers the new challenge). Same pace.
//! 3. **idle load**: every phone refreshes once in `--idle-secs` (default 60), evenly spread
//!    (10,000 phones: 167 REGISTERs a second); the server's CPU time (utime + stime from
//!    `/proc/PID/stat`) over that window, as a share of one core.
//!
//! Every REGISTER must be answered (a lost one is retried after 500 ms at most 3 times, then
//! counted as a failure) and every registration must end in 200; anything else is a failure.
//! Printed: REGISTERs per second and registrations per second for 1 and 2, failures, and the
//! CPU share for 3.
//!
//! ```sh
//! cargo build --release -p holdline --bin holdline
//! cargo build --release -p holdline-bench --example register_udp
//! ./target/release/examples/register_udp --binary target/release/holdline [--users 10000] [--idle-secs 60]
//! ```
#![allow(clippy::disallowed_methods)] // A benchmark reads the wall clock: timing is the point.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use holdline::sip::digest::{Algorithm, Challenge};
use holdline::sip::header::HeaderName;
use holdline::sip::message::Message;
use holdline::sip::parse::{parse_datagram, Limits};
use holdline_bench::procstat;
use holdline_bench::spawn;
use holdline_bench::Spawn;
use sha2::{Digest as _, Sha256};
use tokio::net::UdpSocket;
use tokio::sync::Mutex;

/// Loopback source addresses the phones are spread over.
const SOURCES: usize = 128;
/// Phones in flight per source in the as-fast-as-possible phases: 256 in all, about 130 kB
/// of REGISTERs at once, under the server socket's default receive buffer (with 4 per
/// source, bursts overflowed it and REGISTERs had to be sent again).
const WINDOW: usize = 2;
/// A REGISTER unanswered this long is sent again (RFC 3261 §17.1.2.2 would start at T1; a
/// benchmark only needs to notice loss).
const RETRY: Duration = Duration::from_millis(500);
const TRIES: u32 = 3;

struct Args {
    binary: PathBuf,
    users: usize,
    idle_secs: u64,
}

fn args() -> Args {
    let mut a = Args {
        binary: PathBuf::from("target/release/holdline"),
        users: 10_000,
        idle_secs: 60,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_default();
        match flag.as_str() {
            "--binary" => a.binary = PathBuf::from(value),
            "--users" => a.users = value.parse().expect("--users N"),
            "--idle-secs" => a.idle_secs = value.parse().expect("--idle-secs N"),
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

fn user(u: usize) -> String {
    format!("a{u:05}")
}

fn config_text(users: usize) -> String {
    let mut s = String::from(
        "[sip]\nlisten = [\"udp:127.0.0.1:0\"]\ndomains = [\"example.com\"]\n\
         [rtp]\nports = \"40000-40999\"\n[store]\npath = \":memory:\"\n",
    );
    for u in 0..users {
        let _ = write!(s, "[[user]]\nid = \"{}\"\npassword = \"pw{u}\"\n", user(u));
    }
    s
}

fn sha256(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The Authorization answering `ch` with nonce count `nc`, by hand (RFC 7616 §3.4.1).
fn authorization(ch: &Challenge, u: usize, nc: u32) -> String {
    let (name, uri, cnonce) = (user(u), "sip:example.com", format!("c{u}"));
    let ha1 = sha256(&format!("{name}:{}:pw{u}", ch.realm));
    let ha2 = sha256(&format!("REGISTER:{uri}"));
    let response = sha256(&format!("{ha1}:{}:{nc:08x}:{cnonce}:auth:{ha2}", ch.nonce));
    format!(
        "Digest username=\"{name}\", realm=\"{}\", nonce=\"{}\", uri=\"{uri}\", \
         response=\"{response}\", algorithm=SHA-256, qop=auth, nc={nc:08x}, cnonce=\"{cnonce}\"",
        ch.realm, ch.nonce
    )
}

fn register(u: usize, me: SocketAddr, cseq: u32, auth: Option<&str>) -> String {
    let name = user(u);
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    format!(
        "REGISTER sip:example.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP {me};branch=z9hG4bKr{u}x{cseq};rport\r\n\
         From: <sip:{name}@example.com>;tag=t{u}x{cseq}\r\n\
         To: <sip:{name}@example.com>\r\n\
         Call-ID: reg-{u}@bench\r\n\
         CSeq: {cseq} REGISTER\r\n\
         Contact: <sip:{name}@10.9.{}.{}:5060>\r\n\
         Expires: 120\r\n\
         {auth}Max-Forwards: 70\r\n\
         User-Agent: BenchPhone 1.0\r\n\
         Content-Length: 0\r\n\r\n",
        u / 250,
        u % 250 + 1
    )
}

/// One phone: its CSeq and the nonce it answers with.
#[derive(Clone, Default)]
struct Phone {
    cseq: u32,
    nonce: Option<(Challenge, u32)>,
}

/// What a phase counted.
#[derive(Clone, Copy, Debug, Default)]
struct Tally {
    registers: u64,
    registrations: u64,
    failures: u64,
    retries: u64,
}

impl Tally {
    fn add(&mut self, o: Tally) {
        self.registers += o.registers;
        self.registrations += o.registrations;
        self.failures += o.failures;
        self.retries += o.retries;
    }
}

/// The user and CSeq a response answers, from its Call-ID (`reg-U@bench`) and CSeq.
fn answers(m: &Message) -> Option<(usize, u32)> {
    let Message::Response(r) = m else { return None };
    let id = r.headers.get(&HeaderName::CallId)?;
    let u = id
        .strip_prefix("reg-")?
        .strip_suffix("@bench")?
        .parse()
        .ok()?;
    Some((u, r.headers.cseq()?.seq))
}

/// Registers `u` (refreshing with its nonce when it has one) over `sock`: REGISTER, answer a
/// 401, until 200. Retries a REGISTER nobody answered. The socket serves one phone at a time,
/// so anything else on it (a late answer to a retried REGISTER) is dropped.
async fn register_one(sock: &UdpSocket, server: SocketAddr, u: usize, phone: &mut Phone) -> Tally {
    let me = sock.local_addr().unwrap();
    let mut t = Tally::default();
    let mut buf = vec![0u8; 65536];
    for _round in 0..3 {
        phone.cseq += 1;
        let auth = phone.nonce.as_mut().map(|(ch, nc)| {
            *nc += 1;
            authorization(ch, u, *nc)
        });
        let text = register(u, me, phone.cseq, auth.as_deref());
        let mut answer = None;
        'tries: for attempt in 0..TRIES {
            if attempt > 0 {
                t.retries += 1;
            }
            t.registers += 1;
            let _ = sock.send_to(text.as_bytes(), server).await;
            let deadline = tokio::time::Instant::now() + RETRY;
            loop {
                let got = tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await;
                let n = match got {
                    Ok(Ok(n)) => n,
                    Ok(Err(_)) => continue,
                    Err(_) => break,
                };
                let Ok(m) = parse_datagram(&buf[..n], &Limits::default()) else {
                    continue;
                };
                if answers(&m) == Some((u, phone.cseq)) {
                    answer = Some(m);
                    break 'tries;
                }
            }
        }
        let Some(Message::Response(r)) = answer else {
            t.failures += 1;
            return t;
        };
        match r.status {
            200 => {
                t.registrations += 1;
                return t;
            }
            401 => {
                let ch = r
                    .headers
                    .get_all(&HeaderName::WwwAuthenticate)
                    .filter_map(|v| Challenge::parse(v).ok())
                    .find(|c| c.algorithm == Algorithm::Sha256);
                let Some(ch) = ch else {
                    t.failures += 1;
                    return t;
                };
                phone.nonce = Some((ch, 0));
            }
            _ => {
                t.failures += 1;
                return t;
            }
        }
    }
    t.failures += 1;
    t
}

/// One socket per lane of each source, bound once and kept for every phase: a phone refreshes
/// from the address and port it registered from, as a real phone (or its NAT binding) does. A
/// socket per phase made every refresh a binding that moved, which the server logs.
type Lanes = Arc<Vec<Vec<Arc<UdpSocket>>>>;

async fn bind_lanes() -> Lanes {
    let mut all = Vec::new();
    for s in 0..SOURCES {
        let addr = Ipv4Addr::new(127, 0, 0, 10 + s as u8);
        let mut lanes = Vec::new();
        for _ in 0..WINDOW {
            lanes.push(Arc::new(
                UdpSocket::bind(SocketAddr::from((addr, 0))).await.unwrap(),
            ));
        }
        all.push(lanes);
    }
    Arc::new(all)
}

/// The phones of one source, as fast as the server answers: `WINDOW` at a time, each on its
/// own socket bound to the source address (so answers do not mix), sharing none.
async fn run_source(
    sockets: Vec<Arc<UdpSocket>>,
    server: SocketAddr,
    users: Vec<usize>,
    phones: Arc<Mutex<Vec<Phone>>>,
    pace: Option<Duration>,
    start: Instant,
) -> Tally {
    let lanes: Vec<Vec<usize>> = (0..WINDOW)
        .map(|k| users.iter().copied().skip(k).step_by(WINDOW).collect())
        .collect();
    let mut tasks = Vec::new();
    for (lane, sock) in lanes.into_iter().zip(sockets) {
        let phones = phones.clone();
        tasks.push(tokio::spawn(async move {
            let mut t = Tally::default();
            for u in lane {
                if let Some(every) = pace {
                    // Evenly spread: phone u refreshes at u · every.
                    let at = start + every * u as u32;
                    tokio::time::sleep_until(at.into()).await;
                }
                let mut phone = phones.lock().await[u].clone();
                t.add(register_one(&sock, server, u, &mut phone).await);
                phones.lock().await[u] = phone;
            }
            t
        }));
    }
    let mut t = Tally::default();
    for task in tasks {
        t.add(task.await.unwrap());
    }
    t
}

async fn phase(
    sockets: &Lanes,
    server: SocketAddr,
    users: usize,
    phones: &Arc<Mutex<Vec<Phone>>>,
    pace: Option<Duration>,
) -> (Tally, Duration) {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for s in 0..SOURCES {
        let mine: Vec<usize> = (s..users).step_by(SOURCES).collect();
        tasks.push(tokio::spawn(run_source(
            sockets[s].clone(),
            server,
            mine,
            phones.clone(),
            pace,
            start,
        )));
    }
    let mut t = Tally::default();
    for task in tasks {
        t.add(task.await.unwrap());
    }
    (t, start.elapsed())
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_default()
}

fn report(name: &str, t: Tally, took: Duration) {
    let secs = took.as_secs_f64();
    println!(
        "{name}: {} REGISTERs, {} registrations in {:.2} s: {:.0} REGISTERs/s, {:.0} registrations/s; \
         failures {}, retries {} (load {})",
        t.registers,
        t.registrations,
        secs,
        t.registers as f64 / secs,
        t.registrations as f64 / secs,
        t.failures,
        t.retries,
        load()
    );
}

fn main() {
    let a = args();
    let dir = std::env::temp_dir().join(format!("register-udp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("holdline.toml");
    std::fs::write(&config, config_text(a.users)).unwrap();
    let server = spawn::start(&Spawn {
        binary: a.binary.clone(),
        config: config.clone(),
    })
    .expect("the server starts");
    let pid = server.pid.to_string();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let phones = Arc::new(Mutex::new(vec![Phone::default(); a.users]));
    rt.block_on(async {
        let lanes = bind_lanes().await;
        let (t, took) = phase(&lanes, server.sip_udp, a.users, &phones, None).await;
        report("new", t, took);
        let (t, took) = phase(&lanes, server.sip_udp, a.users, &phones, None).await;
        report("refresh", t, took);
        let every = Duration::from_secs(a.idle_secs) / a.users as u32;
        let before = procstat::sample(&pid).expect("the server's /proc");
        let (t, took) = phase(&lanes, server.sip_udp, a.users, &phones, Some(every)).await;
        let after = procstat::sample(&pid).expect("the server's /proc");
        let cpu = after.cpu.saturating_sub(before.cpu);
        report("idle load", t, took);
        println!(
            "idle load: server CPU {} ms over {:.1} s = {:.2} % of a core; RSS {} MiB",
            cpu.as_millis(),
            took.as_secs_f64(),
            100.0 * cpu.as_secs_f64() / took.as_secs_f64(),
            after.rss_kib / 1024
        );
    });
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
