//! What the registrar costs: the sans-IO call core, 10,000 users with passwords, each phone
//! registering from its own address (10.2.x.y), timed on the wall clock over several rounds.
//!
//! 1. **New**: every phone sends REGISTER, gets 401 with the challenges, answers the SHA-256
//!    one (RFC 7616 §3.4.1, nc=1) and gets 200.
//! 2. **Refresh, nonce reused**: 60 virtual seconds later every phone registers again with the
//!    same nonce and the next nonce count (nc=2): one REGISTER, 200.
//! 3. **Refresh, challenged again**: 60 s later again, a phone that keeps no nonce: REGISTER,
//!    401, answer, 200.
//! 4. **Ring latency**: with the 10,000 bindings in place, callers (each from its own address)
//!    call the 200 queues (50 agents each, the limit; all idle); timed from the caller's INVITE datagram
//!    going into the core to the agent's INVITE coming out of `poll_transmit`.
//!
//! The datagrams of 1–3 are recorded once (the answers need the server's nonces) and replayed
//! into a new core per round with the same seed, so the nonces are the same; every answer of
//! every replay is checked (status and count). Client work (building and hashing the answers)
//! is not timed.
//!
//! ```sh
//! cargo run --release -p holdline-bench --example registrar_cost [ROUNDS]
//! ```
#![allow(clippy::disallowed_methods)] // A benchmark reads the wall clock: timing is the point.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use holdline::b2bua::{Core, CoreSettings};
use holdline::config::Config;
use holdline::sip::digest::{Algorithm, Challenge};
use holdline::sip::header::HeaderName;
use holdline::sip::message::Message;
use holdline::sip::parse::{parse_datagram, Limits};
use holdline::sip::transport::{Peer, Transport};
use holdline::time::Time;
use sha2::{Digest as _, Sha256};

const SERVER: &str = "192.0.2.1:5060";
const USERS: usize = 10_000;
const QUEUES: usize = 200;
/// Queues 0–99 offer each caller to one agent (`longest-idle`, `offer = "parallel"`, so callers
/// behind the first are offered to the next idle agents); 100–199 ring all 50 agents at once
/// (`attendant`).
const HEAD_QUEUES: usize = 100;
/// Virtual time between two REGISTERs of one phase: 10,000 a second.
const GAP: Duration = Duration::from_micros(100);
/// Where each refresh phase starts, in virtual seconds.
const REUSE_AT: u64 = 60;
const CHALLENGED_AT: u64 = 120;
/// Ring-latency samples per round into the one-agent queues, one caller each, every 5 virtual
/// ms (inside the agents' alert time, so no offer times out while sampling); then one caller
/// into each ring-all queue.
const CALLS: usize = 2_000;
const CALLS_AT: u64 = 125;
const CALL_GAP: Duration = Duration::from_millis(5);

fn config_text() -> String {
    let mut s = String::from(
        "[sip]\nlisten = [\"udp:192.0.2.1:5060\"]\ndomains = [\"example.com\"]\n\
         [rtp]\nports = \"20000-59999\"\n[store]\npath = \":memory:\"\n",
    );
    for q in 0..QUEUES {
        let _ = write!(
            s,
            "[[number]]\ne164 = \"+1425600{q:04}\"\nkind = \"service-toll\"\n"
        );
    }
    for u in 0..USERS {
        let _ = write!(s, "[[user]]\nid = \"{}\"\npassword = \"pw{u}\"\n", user(u));
    }
    for q in 0..QUEUES {
        let agents: Vec<String> = (0..USERS / QUEUES)
            .map(|k| format!("\"{}\"", user(q * (USERS / QUEUES) + k)))
            .collect();
        let _ = write!(
            s,
            "[[queue]]\nid = \"q{q}\"\nnumbers = [\"+1425600{q:04}\"]\nagents = [{}]\n\
             max_calls = 200\nrouting = \"{}\"\noffer = \"parallel\"\n",
            agents.join(", "),
            if q < HEAD_QUEUES {
                "longest-idle"
            } else {
                "attendant"
            }
        );
    }
    s
}

fn user(u: usize) -> String {
    format!("a{u:05}")
}

fn phone_addr(u: usize) -> SocketAddr {
    SocketAddr::from(([10, 2, (u / 250) as u8, (u % 250) as u8 + 1], 5060))
}

fn caller_addr(c: usize) -> SocketAddr {
    SocketAddr::from(([198, 51, 100 + (c / 250) as u8, (c % 250) as u8 + 1], 5062))
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    New,
    Reuse,
    Challenged,
}

/// One datagram of the recording, with the status its answer must have.
struct Datagram {
    phase: Phase,
    at: Time,
    from: SocketAddr,
    bytes: Vec<u8>,
    expect: u16,
}

fn register(u: usize, cseq: u32, auth: Option<&str>) -> String {
    let from = phone_addr(u);
    let name = user(u);
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    format!(
        "REGISTER sip:example.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP {from};branch=z9hG4bKr{u}x{cseq};rport\r\n\
         From: <sip:{name}@example.com>;tag=t{u}x{cseq}\r\n\
         To: <sip:{name}@example.com>\r\n\
         Call-ID: reg-{u}@10.2.0.1\r\n\
         CSeq: {cseq} REGISTER\r\n\
         Contact: <sip:{name}@{from}>\r\n\
         Expires: 120\r\n\
         {auth}Max-Forwards: 70\r\n\
         User-Agent: BenchPhone 1.0\r\n\
         Content-Length: 0\r\n\r\n"
    )
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

fn core(config: &Config) -> Core {
    let local: SocketAddr = SERVER.parse().unwrap();
    let settings = CoreSettings {
        listeners: vec![(Transport::Udp, local)],
        seed: 42,
        key_seed: [1; 32],
        limits: Limits::default(),
        transactions: Default::default(),
    };
    let mut core = Core::new(config, settings);
    core.set_registrar_secret(b"bench secret");
    core
}

/// Feeds one datagram (firing due timers first) and returns the status of the one response.
fn feed(core: &mut Core, now: Time, from: SocketAddr, bytes: &[u8]) -> Vec<Vec<u8>> {
    let local: SocketAddr = SERVER.parse().unwrap();
    if core.poll_timeout().is_some_and(|t| t <= now) {
        core.handle_timeout(now);
    }
    core.handle_datagram(now, Peer::udp(from), local, bytes);
    let mut out = Vec::new();
    while let Some(t) = core.poll_transmit() {
        out.push(t.bytes);
    }
    while core.poll_event().is_some() {}
    out
}

/// The SHA-256 challenge of a 401.
fn challenge(bytes: &[u8]) -> Challenge {
    let Ok(Message::Response(r)) = parse_datagram(bytes, &Limits::default()) else {
        panic!("a response");
    };
    assert_eq!(r.status, 401);
    let sha = r
        .headers
        .get_all(&HeaderName::WwwAuthenticate)
        .filter_map(|v| Challenge::parse(v).ok())
        .find(|c| c.algorithm == Algorithm::Sha256);
    sha.expect("a SHA-256 challenge")
}

fn status(bytes: &[u8]) -> u16 {
    // "SIP/2.0 200 …": the three digits after the version.
    std::str::from_utf8(bytes.get(8..11).unwrap_or_default())
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Drives a core through the three phases, answering its challenges; keeps every datagram.
fn record(config: &Config) -> Vec<Datagram> {
    let mut core = core(config);
    let mut out = Vec::new();
    let mut nonces: Vec<Option<Challenge>> = vec![None; USERS];
    let mut step = |core: &mut Core, phase, at: Time, u: usize, text: String, expect: u16| {
        let from = phone_addr(u);
        let answers = feed(core, at, from, text.as_bytes());
        assert_eq!(answers.len(), 1, "one answer per REGISTER");
        assert_eq!(status(&answers[0]), expect, "{phase:?} user {u}");
        out.push(Datagram {
            phase,
            at,
            from,
            bytes: text.into_bytes(),
            expect,
        });
        answers.into_iter().next().unwrap()
    };
    let mut now = Time::ZERO;
    for (u, nonce) in nonces.iter_mut().enumerate() {
        now += GAP;
        let first = step(&mut core, Phase::New, now, u, register(u, 1, None), 401);
        let ch = challenge(&first);
        now += GAP;
        let auth = authorization(&ch, u, 1);
        step(
            &mut core,
            Phase::New,
            now,
            u,
            register(u, 2, Some(&auth)),
            200,
        );
        *nonce = Some(ch);
    }
    now = Time::ZERO + Duration::from_secs(REUSE_AT);
    for (u, nonce) in nonces.iter().enumerate() {
        now += GAP;
        let auth = authorization(nonce.as_ref().unwrap(), u, 2);
        step(
            &mut core,
            Phase::Reuse,
            now,
            u,
            register(u, 3, Some(&auth)),
            200,
        );
    }
    now = Time::ZERO + Duration::from_secs(CHALLENGED_AT);
    for u in 0..USERS {
        now += GAP;
        let first = step(
            &mut core,
            Phase::Challenged,
            now,
            u,
            register(u, 4, None),
            401,
        );
        let ch = challenge(&first);
        now += GAP;
        let auth = authorization(&ch, u, 1);
        step(
            &mut core,
            Phase::Challenged,
            now,
            u,
            register(u, 5, Some(&auth)),
            200,
        );
    }
    assert_eq!(core.registrar_stats().0, USERS, "every user registered");
    assert_eq!(core.registrar_stats().1, USERS, "one binding each");
    out
}

/// Per-phase wall time of one replay, in ns per REGISTER; checks every answer.
fn replay(core: &mut Core, recording: &[Datagram]) -> [(f64, usize); 3] {
    let local: SocketAddr = SERVER.parse().unwrap();
    let mut took = [(Duration::ZERO, 0usize); 3];
    let mut failures = 0;
    let mut i = 0;
    while i < recording.len() {
        let phase = recording[i].phase;
        let end = recording[i..]
            .iter()
            .position(|d| d.phase != phase)
            .map_or(recording.len(), |p| i + p);
        let mut statuses = Vec::with_capacity(end - i);
        let started = Instant::now();
        for d in &recording[i..end] {
            if core.poll_timeout().is_some_and(|t| t <= d.at) {
                core.handle_timeout(d.at);
            }
            core.handle_datagram(d.at, Peer::udp(d.from), local, &d.bytes);
            while let Some(t) = core.poll_transmit() {
                statuses.push(status(&t.bytes));
            }
            while core.poll_event().is_some() {}
        }
        let elapsed = started.elapsed();
        // Checked outside the timed loop: one answer per REGISTER, the recorded status.
        let expected: Vec<u16> = recording[i..end].iter().map(|d| d.expect).collect();
        if statuses != expected {
            failures += expected.len().abs_diff(statuses.len())
                + statuses
                    .iter()
                    .zip(&expected)
                    .filter(|(a, b)| a != b)
                    .count();
        }
        let slot = phase as usize;
        took[slot].0 += elapsed;
        took[slot].1 += end - i;
        i = end;
    }
    assert_eq!(failures, 0, "every REGISTER answered as recorded");
    took.map(|(d, n)| (d.as_nanos() as f64 / n as f64, n))
}

fn invite(c: usize, q: usize) -> String {
    let from = caller_addr(c);
    let ip = from.ip();
    let sdp = format!(
        "v=0\r\no=p 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
         m=audio 30000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
    );
    format!(
        "INVITE sip:+1425600{q:04}@192.0.2.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP {from};branch=z9hG4bKc{c};rport\r\n\
         From: <sip:caller@{from}>;tag=f{c}\r\n\
         To: <sip:+1425600{q:04}@192.0.2.1>\r\n\
         Call-ID: call-{c}@{ip}\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:caller@{from}>\r\n\
         Max-Forwards: 70\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
}

/// For each caller `(c, queue)`: nanoseconds from its INVITE going in to the first and to the
/// last agent INVITE coming out; checks `agents` INVITEs each, to registered bindings.
fn ring_latency(core: &mut Core, calls: &[(usize, usize)], agents: usize) -> Vec<(u64, u64)> {
    let local: SocketAddr = SERVER.parse().unwrap();
    let invites: Vec<Vec<u8>> = calls
        .iter()
        .map(|&(c, q)| invite(c, q).into_bytes())
        .collect();
    let mut samples = Vec::with_capacity(calls.len());
    for (&(c, _), bytes) in calls.iter().zip(&invites) {
        let now = Time::ZERO + Duration::from_secs(CALLS_AT) + CALL_GAP * c as u32;
        // Timers (retransmissions of earlier calls' INVITEs and 200s) outside the sample.
        if core.poll_timeout().is_some_and(|t| t <= now) {
            core.handle_timeout(now);
        }
        while core.poll_transmit().is_some() {}
        while core.poll_event().is_some() {}
        let started = Instant::now();
        core.handle_datagram(now, Peer::udp(caller_addr(c)), local, bytes);
        let (mut first, mut last) = (None, Duration::ZERO);
        let mut sent = Vec::new();
        while let Some(t) = core.poll_transmit() {
            if t.bytes.starts_with(b"INVITE ") {
                last = started.elapsed();
                first.get_or_insert(last);
                sent.push(t.to.addr);
            }
        }
        while core.poll_event().is_some() {}
        assert_eq!(sent.len(), agents, "call {c}: agents rung");
        // Rung where each agent's phone registered from (10.2.x.y).
        assert!(
            sent.iter()
                .all(|a| matches!(a.ip(), std::net::IpAddr::V4(v) if v.octets()[..2] == [10, 2])),
            "agent INVITEs to registered bindings"
        );
        samples.push((first.unwrap().as_nanos() as u64, last.as_nanos() as u64));
    }
    samples
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(7);
    let config = holdline::config::from_toml_str(&config_text(), Path::new("."))
        .expect("valid benchmark config");
    let recording = record(&config);
    let mut per = [Vec::new(), Vec::new(), Vec::new()];
    let mut counts = [0usize; 3];
    let (mut p50s, mut p99s, mut maxes) = (Vec::new(), Vec::new(), Vec::new());
    let (mut all50s, mut all99s) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let mut core = core(&config);
        let took = replay(&mut core, &recording);
        for (k, (ns, n)) in took.iter().enumerate() {
            per[k].push(*ns);
            counts[k] = *n;
        }
        assert_eq!(core.registrar_stats().1, USERS, "10,000 bindings");
        let head: Vec<(usize, usize)> = (0..CALLS).map(|c| (c, c % HEAD_QUEUES)).collect();
        let mut lat: Vec<u64> = ring_latency(&mut core, &head, 1)
            .into_iter()
            .map(|(first, _)| first)
            .collect();
        lat.sort_unstable();
        let all: Vec<(usize, usize)> = (HEAD_QUEUES..QUEUES).map(|q| (CALLS + q, q)).collect();
        let mut lat_all: Vec<u64> = ring_latency(&mut core, &all, USERS / QUEUES)
            .into_iter()
            .map(|(_, last)| last)
            .collect();
        lat_all.sort_unstable();
        let (a50, a99) = (percentile(&lat_all, 0.50), percentile(&lat_all, 0.99));
        all50s.push(a50 as f64);
        all99s.push(a99 as f64);
        let (p50, p99, max) = (
            percentile(&lat, 0.50),
            percentile(&lat, 0.99),
            *lat.last().unwrap(),
        );
        println!(
            "round {round}: new {:.0} ns, reuse {:.0} ns, challenged {:.0} ns per REGISTER; \
             ring one p50 {:.1} µs p99 {:.1} µs max {:.1} µs; ring all 50 (last INVITE) p50 \
             {:.1} µs p99 {:.1} µs",
            took[0].0,
            took[1].0,
            took[2].0,
            p50 as f64 / 1e3,
            p99 as f64 / 1e3,
            max as f64 / 1e3,
            a50 as f64 / 1e3,
            a99 as f64 / 1e3
        );
        p50s.push(p50 as f64);
        p99s.push(p99 as f64);
        maxes.push(max as f64);
    }
    println!(
        "{USERS} users, one phone each from its own address; {rounds} rounds; 0 failures \
         (every answer checked)"
    );
    let names = [
        "new (401 + authenticated REGISTER)",
        "refresh, nonce reused (nc=2)",
        "refresh, challenged again (401 + answer)",
    ];
    let mut medians = [0.0; 3];
    for k in 0..3 {
        medians[k] = median(&mut per[k]);
        let per_reg = medians[k] * counts[k] as f64 / USERS as f64;
        println!(
            "{}: {} REGISTERs, median {:.0} ns per REGISTER ({:.0} REGISTERs/s on one core), \
             {:.0} ns per registration ({:.0} registrations/s)",
            names[k],
            counts[k],
            medians[k],
            1e9 / medians[k],
            per_reg,
            1e9 / per_reg
        );
    }
    // 10,000 phones refreshing every 60 s: 166.7 registrations a second.
    let rate = USERS as f64 / 60.0;
    println!(
        "derived: {USERS} phones refreshing every 60 s ({rate:.1}/s) cost {:.3} % of a core \
         with nonce reuse, {:.3} % challenged each time (core only, no socket IO)",
        rate * medians[1] / 1e9 * 100.0,
        rate * medians[2] * 2.0 / 1e9 * 100.0
    );
    println!(
        "ring latency ({USERS} bindings), caller INVITE in -> agent INVITE out, {CALLS} calls a \
         round into {HEAD_QUEUES} one-agent queues of {} agents: median of the rounds' p50 \
         {:.1} µs, p99 {:.1} µs, max {:.1} µs",
        USERS / QUEUES,
        median(&mut p50s) / 1e3,
        median(&mut p99s) / 1e3,
        median(&mut maxes) / 1e3
    );
    println!(
        "ring all: {} calls a round, one into each ring-all queue, to the last of its {} agent \
         INVITEs: median of the rounds' p50 {:.1} µs, p99 {:.1} µs",
        QUEUES - HEAD_QUEUES,
        USERS / QUEUES,
        median(&mut all50s) / 1e3,
        median(&mut all99s) / 1e3
    );
}
