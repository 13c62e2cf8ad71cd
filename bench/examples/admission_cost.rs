//! What admission control costs: the sans-IO call core fed the same recorded mix of requests
//! with admission control on (the default) and off (`Core::without_admission`), timed on the
//! wall clock, the two alternating round after round; prints the median time per request of
//! each and their ratio.
//!
//! The mix is one virtual second at 10,000 requests a second from 500 phones (10.1.x.y): 2,000
//! calls (INVITE with SDP, ACK, BYE) and 4,000 OPTIONS keepalives, in a shuffled but fixed
//! order. It is recorded once by driving a core (the ACK and BYE need the To tag of our 200);
//! the replays use the same seed, so they answer byte for byte alike, which is checked.
//! Then a flood: 10,000 INVITEs from one address in one virtual second, with and without.
//!
//! ```sh
//! cargo run --release -p holdline-bench --example admission_cost [ROUNDS]
//! ```
#![allow(clippy::disallowed_methods)] // A benchmark reads the wall clock: timing is the point.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use holdline::b2bua::admission::Admission;
use holdline::b2bua::{Core, CoreSettings};
use holdline::config::Config;
use holdline::sip::message::Message;
use holdline::sip::parse::{parse_datagram, Limits};
use holdline::sip::transport::{Peer, Transport};
use holdline::time::Time;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

const SERVER: &str = "192.0.2.1:5060";
const PHONES: usize = 500;
const CALLS: usize = 2_000;
const KEEPALIVES: usize = 4_000;
/// The virtual time between two requests: 10,000 a second.
const GAP: Duration = Duration::from_micros(100);

const CONFIG: &str = r#"
[sip]
listen = ["udp:192.0.2.1:5060"]
[rtp]
ports = "20000-59999"
[store]
path = ":memory:"
[[number]]
e164 = "+14255550100"
kind = "service-toll"
[[queue]]
id = "sales"
numbers = ["+14255550100"]
max_calls = 200
"#;

/// One datagram of the recording.
struct Datagram {
    from: SocketAddr,
    bytes: Vec<u8>,
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(15);
    let config =
        holdline::config::from_toml_str(CONFIG, Path::new(".")).expect("valid benchmark config");
    let recording = record(&config);
    let requests = recording.len();
    let expected = replay(&config, &recording, true).1;
    let (mut on, mut off) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        // Alternate which goes first, so drift on a busy machine hits both alike.
        let order = if round % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for admission in order {
            let (took, sent) = replay(&config, &recording, admission);
            assert_eq!(sent, expected, "the replays answer alike");
            let per = took.as_nanos() as f64 / requests as f64;
            if admission {
                on.push(per)
            } else {
                off.push(per)
            }
        }
    }
    let (m_on, m_off) = (median(&mut on), median(&mut off));
    // Admission control alone over the same datagrams: the lookup and the bucket.
    let mut alone = Vec::new();
    for _ in 0..rounds {
        let mut gate = Admission::new(&config);
        let mut now = Time::ZERO;
        let started = Instant::now();
        for d in &recording {
            now += GAP;
            std::hint::black_box(gate.admit(now, d.from.ip(), !d.bytes.starts_with(b"SIP/")));
        }
        alone.push(started.elapsed().as_nanos() as f64 / requests as f64);
    }
    let m_alone = median(&mut alone);
    let flood: Vec<Datagram> = (0..CALLS * 5)
        .map(|n| Datagram {
            from: SocketAddr::from(([203, 0, 113, 9], 5060)),
            bytes: invite(n).replace("10.1.", "203.0.").into_bytes(),
        })
        .collect();
    let (mut f_on, mut f_off) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        for admission in [round % 2 == 0, round % 2 != 0] {
            let (took, _) = replay(&config, &flood, admission);
            let per = took.as_nanos() as f64 / flood.len() as f64;
            if admission {
                f_on.push(per)
            } else {
                f_off.push(per)
            }
        }
    }
    let (fm_on, fm_off) = (median(&mut f_on), median(&mut f_off));
    println!(
        "{requests} requests ({CALLS} calls of INVITE/ACK/BYE, {KEEPALIVES} OPTIONS) from \
         {PHONES} sources, one virtual second; {rounds} rounds each"
    );
    println!("responses sent per replay: {expected}");
    println!("core without admission: median {m_off:.0} ns per request");
    println!("core with admission:    median {m_on:.0} ns per request");
    println!(
        "ratio {:.3} (admission adds {:.0} ns per request, {:.2} % of a core at 10,000 requests/s)",
        m_on / m_off,
        m_on - m_off,
        (m_on - m_off) * 10_000.0 / 1e9 * 100.0
    );
    println!("admission control alone (Admission::admit): median {m_alone:.1} ns per request");
    println!(
        "flood of {} INVITEs from one source in one virtual second: median {fm_off:.0} ns per \
         INVITE without admission, {fm_on:.0} ns with it (banned after its quota of 20 \
         unconfirmed calls, the rest dropped before parsing)",
        flood.len()
    );
}

fn core(config: &Config, admission: bool) -> Core {
    let local: SocketAddr = SERVER.parse().unwrap();
    let settings = CoreSettings {
        listeners: vec![(Transport::Udp, local)],
        seed: 42,
        key_seed: [1; 32],
        limits: Limits::default(),
        transactions: Default::default(),
    };
    let core = Core::new(config, settings);
    if admission {
        core
    } else {
        core.without_admission()
    }
}

/// Feeds `recording` at 10,000 requests a virtual second (timers fired on the way) and drains
/// everything the core sends; returns the wall time and how many datagrams it sent.
fn replay(config: &Config, recording: &[Datagram], admission: bool) -> (Duration, usize) {
    let mut core = core(config, admission);
    let local: SocketAddr = SERVER.parse().unwrap();
    let mut sent = 0;
    let started = Instant::now();
    let mut now = Time::ZERO;
    for d in recording {
        now += GAP;
        if core.poll_timeout().is_some_and(|t| t <= now) {
            core.handle_timeout(now);
        }
        core.handle_datagram(now, Peer::udp(d.from), local, &d.bytes);
        while core.poll_transmit().is_some() {
            sent += 1;
        }
        while core.poll_event().is_some() {}
    }
    (started.elapsed(), sent)
}

/// What each phone does, in a fixed shuffled order.
#[derive(Clone, Copy)]
enum Step {
    Invite(usize),
    Ack(usize),
    Bye(usize),
    Options(usize),
}

/// Drives a core through the mix, building each ACK and BYE from the 200 it answered, and
/// keeps every datagram it was fed.
fn record(config: &Config) -> Vec<Datagram> {
    let mut rng = StdRng::seed_from_u64(7);
    // Each call's steps stay in order; calls and keepalives interleave.
    let mut starts: Vec<Step> = (0..CALLS).map(Step::Invite).collect();
    starts.extend((0..KEEPALIVES).map(Step::Options));
    starts.shuffle(&mut rng);
    let mut script: Vec<Step> = Vec::new();
    let mut pending: Vec<(usize, Step)> = Vec::new();
    for (i, s) in starts.into_iter().enumerate() {
        script.push(s);
        if let Step::Invite(c) = s {
            // The ACK a few requests later, the BYE some more later.
            pending.push((i + 3, Step::Ack(c)));
            pending.push((i + 40, Step::Bye(c)));
        }
        pending.sort_by_key(|(at, _)| *at);
        while pending.first().is_some_and(|(at, _)| *at <= i) {
            script.push(pending.remove(0).1);
        }
    }
    script.extend(pending.into_iter().map(|(_, s)| s));

    let mut core = core(config, false);
    let local: SocketAddr = SERVER.parse().unwrap();
    let mut tags: Vec<Option<String>> = vec![None; CALLS];
    let mut out = Vec::new();
    let mut now = Time::ZERO;
    for step in script {
        let (phone, text) = match step {
            Step::Invite(c) => (c % PHONES, invite(c)),
            Step::Ack(c) => (c % PHONES, in_dialog("ACK", c, 1, tags[c].as_deref())),
            Step::Bye(c) => (c % PHONES, in_dialog("BYE", c, 2, tags[c].as_deref())),
            Step::Options(n) => (n % PHONES, options(n)),
        };
        let from = phone_addr(phone);
        now += GAP;
        if core.poll_timeout().is_some_and(|t| t <= now) {
            core.handle_timeout(now);
        }
        core.handle_datagram(now, Peer::udp(from), local, text.as_bytes());
        while let Some(t) = core.poll_transmit() {
            if let (Step::Invite(c), Ok(Message::Response(r))) =
                (step, parse_datagram(&t.bytes, &Limits::default()))
            {
                if r.status == 200 {
                    tags[c] = r.headers.to().and_then(|t| t.tag().map(str::to_owned));
                }
            }
        }
        while core.poll_event().is_some() {}
        out.push(Datagram {
            from,
            bytes: text.into_bytes(),
        });
    }
    // Every call was answered and hung up by its BYE (none got 481 for a wrong tag).
    assert!(tags.iter().all(Option::is_some), "every call answered");
    assert_eq!(core.call_count(), 0, "every call ended by its BYE");
    out
}

fn phone_addr(phone: usize) -> SocketAddr {
    SocketAddr::from(([10, 1, (phone / 250) as u8, (phone % 250) as u8 + 1], 5062))
}

fn invite(c: usize) -> String {
    let from = phone_addr(c % PHONES);
    let ip = from.ip();
    let sdp = format!(
        "v=0\r\no=p 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
         m=audio {} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n",
        30_000 + 2 * (c % 1000)
    );
    format!(
        "INVITE sip:+14255550100@192.0.2.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP {from};branch=z9hG4bKi{c};rport\r\n\
         From: <sip:phone@{from}>;tag=f{c}\r\n\
         To: <sip:+14255550100@192.0.2.1>\r\n\
         Call-ID: call-{c}@{ip}\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:phone@{from}>\r\n\
         Max-Forwards: 70\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
}

fn in_dialog(method: &str, c: usize, cseq: u32, tag: Option<&str>) -> String {
    let from = phone_addr(c % PHONES);
    let ip = from.ip();
    let tag = tag.unwrap_or("none");
    let branch = if method == "ACK" { "a" } else { "b" };
    format!(
        "{method} sip:+14255550100@192.0.2.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP {from};branch=z9hG4bK{branch}{c};rport\r\n\
         From: <sip:phone@{from}>;tag=f{c}\r\n\
         To: <sip:+14255550100@192.0.2.1>;tag={tag}\r\n\
         Call-ID: call-{c}@{ip}\r\n\
         CSeq: {cseq} {method}\r\n\
         Max-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

fn options(n: usize) -> String {
    let from = phone_addr(n % PHONES);
    format!(
        "OPTIONS sip:192.0.2.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP {from};branch=z9hG4bKo{n};rport\r\n\
         From: <sip:phone@{from}>;tag=o{n}\r\n\
         To: <sip:192.0.2.1>\r\n\
         Call-ID: keepalive-{n}@{}\r\n\
         CSeq: 1 OPTIONS\r\n\
         Max-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n",
        from.ip()
    )
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
