//! What a report costs: a store file (WAL, as `holdline serve` keeps it) filled with 1,000,000
//! synthetic queue events (30 days, 4 queues, 20 agents: about 230,000 calls answered,
//! re-rung, abandoned while ringing, timed out or overflowed), served by the real admin API on
//! loopback, and the report routes timed from the request to the last byte of the answer
//! (HTTP, the store scan, the figures, JSON or CSV), over several rounds.
//!
//! Also timed: the wallboard, once cold (the day's events read in) and then warm (only the
//! events logged since the previous request), with a batch of 100 new events between two warm
//! requests.
//!
//! ```sh
//! cargo run --release -p holdline-bench --example report_cost [ROUNDS] [EVENTS]
//! ```
#![allow(clippy::disallowed_methods)] // A benchmark reads the wall clock: timing is the point.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use holdline::api::client::Client;
use holdline::api::{serve, ApiState, FileSource, MemoryLive, Provisioning};
use holdline::store::{QueueEvent, Store};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const TOKEN: &str = "bench-token-0123456789";
const QUEUES: usize = 4;
const AGENTS: usize = 20;
/// 2026-11-01T00:00:00Z.
const START_MS: i64 = 1_793_491_200_000;
const DAYS: i64 = 30;
const DAY_MS: i64 = 86_400_000;

fn config_text() -> String {
    let mut s = String::from("[api]\nlisten = \"127.0.0.1:0\"\n");
    for a in 0..AGENTS {
        s.push_str(&format!("[[user]]\nid = \"agent{a}\"\n"));
    }
    for q in 0..QUEUES {
        let members: Vec<String> = (0..AGENTS)
            .filter(|a| a % QUEUES == q || a % 2 == q % 2)
            .map(|a| format!("\"agent{a}\""))
            .collect();
        s.push_str(&format!(
            "[[queue]]\nid = \"q{q}\"\nagents = [{}]\nservice_level = 30\n",
            members.join(", ")
        ));
    }
    s
}

fn event(
    at_ms: i64,
    queue: usize,
    call: u64,
    agent: Option<usize>,
    kind: &str,
    waited_ms: i64,
) -> QueueEvent {
    QueueEvent {
        seq: 0,
        at_ms,
        queue: format!("q{queue}"),
        call_id: format!("call-{call}@bench"),
        agent: agent.map(|a| format!("agent{a}")),
        kind: kind.to_owned(),
        detail: None,
        waited_ms: Some(waited_ms),
    }
}

/// One call's events, as the server logs them.
fn call_events(rng: &mut SmallRng, call: u64, t: i64) -> Vec<QueueEvent> {
    let q = rng.gen_range(0..QUEUES);
    let a = rng.gen_range(0..AGENTS);
    let wait = rng.gen_range(0..90_000i64);
    let talk = rng.gen_range(20_000..600_000i64);
    let mut v = vec![event(t, q, call, None, "offered", 0)];
    let roll = rng.gen_range(0..100);
    if roll < 2 {
        v[0].kind = "overflowed".into();
        let mut rejected = event(t, q, call, None, "rejected", 0);
        rejected.detail = Some("486".into());
        v.push(rejected);
        return v;
    }
    v.push(event(t, q, call, Some(a), "agent-ringing", 0));
    let completed = |v: &mut Vec<QueueEvent>, agent, wait: i64| {
        v.push(event(t + wait, q, call, Some(agent), "answered", wait));
        let mut done = event(
            t + wait + talk,
            q,
            call,
            Some(agent),
            "completed",
            wait + talk,
        );
        done.detail = Some(format!("talked {talk} ms"));
        v.push(done);
    };
    match roll {
        2..=71 => completed(&mut v, a, wait),
        72..=86 => {
            let b = (a + 1) % AGENTS;
            let mut missed = event(t + 20_000, q, call, Some(a), "agent-missed", 20_000);
            missed.detail = Some("no-answer".into());
            v.push(missed);
            v.push(event(t + 20_000, q, call, Some(b), "agent-ringing", 20_000));
            completed(&mut v, b, 20_000 + wait);
        }
        87..=96 => {
            let mut withdrawn = event(t + wait, q, call, Some(a), "agent-ring-withdrawn", wait);
            withdrawn.detail = Some("caller-abandoned".into());
            v.push(withdrawn);
            v.push(event(t + wait, q, call, None, "abandoned", wait));
        }
        _ => {
            v.push(event(t + 90_000, q, call, None, "timed-out", 90_000));
            let mut missed = event(t + 90_000, q, call, Some(a), "agent-missed", 90_000);
            missed.detail = Some("canceled".into());
            v.push(missed);
            let mut gone = event(t + 90_000, q, call, None, "disconnected", 90_000);
            gone.detail = Some("max-wait".into());
            v.push(gone);
        }
    }
    v
}

/// Fills `store` with `total` events over [`DAYS`] days; returns how many calls.
fn fill(store: &mut Store, total: usize) -> u64 {
    let mut rng = SmallRng::seed_from_u64(7);
    // About 4.3 events a call: spread the calls evenly over the days (a little short of the
    // last hour, so every call starts inside them).
    let calls_wanted = (total as f64 / 4.2) as i64;
    let gap = (DAYS * DAY_MS - 3_600_000) / calls_wanted.max(1);
    let mut batch = Vec::with_capacity(10_000);
    let (mut written, mut call) = (0usize, 0u64);
    while written < total {
        let t = START_MS + call as i64 * gap;
        let mut events = call_events(&mut rng, call, t);
        events.truncate(total - written);
        written += events.len();
        batch.extend(events);
        call += 1;
        if batch.len() >= 10_000 {
            store.append_events(&batch).expect("append");
            batch.clear();
        }
    }
    store.append_events(&batch).expect("append");
    call
}

/// This process's CPU time so far (every thread: the API's workers and this one).
fn cpu() -> Duration {
    holdline_bench::procstat::sample("self")
        .map(|s| s.cpu)
        .unwrap_or_default()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(7);
    let total: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let dir: PathBuf =
        std::env::temp_dir().join(format!("holdline-report-cost-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("holdline.db");

    let started = Instant::now();
    let mut store = Store::open(&path).expect("store");
    let calls = fill(&mut store, total);
    let filled = started.elapsed();
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0)
        + std::fs::metadata(dir.join("holdline.db-wal"))
            .map(|m| m.len())
            .unwrap_or(0);
    println!(
        "store: {total} events, {calls} calls, {DAYS} days, {QUEUES} queues, {AGENTS} agents; \
         filled in {:.1} s; {:.0} MB on disk",
        filled.as_secs_f64(),
        size as f64 / 1e6
    );

    let file = FileSource {
        text: config_text(),
        label: "bench.toml".into(),
        base_dir: dir.clone(),
    };
    let (mut prov, _) = Provisioning::open(store, file).expect("provisioning");
    // "Now" for the wallboard: noon of the last day.
    fn now() -> i64 {
        START_MS + 29 * DAY_MS + DAY_MS / 2
    }
    prov.set_wall_clock(now);
    let state = ApiState::new(prov, Arc::new(MemoryLive::default()), Some(TOKEN.into()));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    listener.set_nonblocking(true).expect("nonblocking");
    let served = state.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            serve(listener, served, std::future::pending())
                .await
                .expect("serve");
        });
    });
    let client = Client::new(addr, Some(TOKEN.into()));

    let month = "from=2026-11-01&to=2026-12-01";
    let cases = [
        (
            "queues, 30 days by day",
            format!("/api/v1/reports/queues?{month}&interval=day"),
        ),
        (
            "queues, 30 days by hour",
            format!("/api/v1/reports/queues?{month}&interval=hour"),
        ),
        (
            "queues, by day, CSV",
            format!("/api/v1/reports/queues?{month}&format=csv"),
        ),
        (
            "agents, 30 days by day",
            format!("/api/v1/reports/agents?{month}&interval=day"),
        ),
        (
            "one queue, 30 days by hour",
            format!("/api/v1/reports/queues?{month}&interval=hour&queue=q1"),
        ),
    ];
    // The whole month's offered calls must be every call generated.
    let check = client
        .call("GET", &cases[0].1, None)
        .expect("report answers");
    let offered: u64 = check["queues"]
        .as_array()
        .expect("queues")
        .iter()
        .map(|q| q["totals"]["offered"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(offered, calls, "the report counts every call");

    println!(
        "\nrounds: {rounds}; wall time from request to the last byte (HTTP on loopback), and the \
         process's CPU time per request (server and client, mean)"
    );
    println!(
        "{:<30} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "report", "median", "min", "max", "cpu", "bytes"
    );
    for (name, path) in &cases {
        let mut times = Vec::new();
        let mut bytes = 0;
        let cpu0 = cpu();
        for _ in 0..rounds {
            let t = Instant::now();
            let reply = client.request("GET", path, None).expect("request");
            times.push(t.elapsed());
            assert_eq!(reply.status, 200, "{path}: {:?}", reply.body);
            bytes = match &reply.body {
                serde_json::Value::String(s) => s.len(),
                v => v.to_string().len(),
            };
        }
        let (min, max) = (
            *times.iter().min().expect("rounds"),
            *times.iter().max().expect("rounds"),
        );
        let per = (cpu() - cpu0) / rounds as u32;
        println!(
            "{name:<30} {:>10} {:>10} {:>10} {:>10} {:>10}",
            ms(median(times)),
            ms(min),
            ms(max),
            ms(per),
            bytes
        );
    }

    // Where the time goes: the same scans and sums in-process, on a second connection.
    {
        use holdline::reports::{AgentReport, Interval, QueueReport, Span};
        use holdline::store::Scan;
        let reader = Store::open(&path).expect("reader");
        let end = START_MS + DAYS * DAY_MS;
        let span = Span::new(START_MS, end, Interval::Day, 0).expect("span");
        let all = Scan::Range {
            queue: None,
            since: START_MS,
            until: end,
        };
        let time = |f: &mut dyn FnMut()| {
            let mut v = Vec::new();
            let cpu0 = cpu();
            for _ in 0..rounds {
                let t = Instant::now();
                f();
                v.push(t.elapsed());
            }
            (median(v), (cpu() - cpu0) / rounds as u32)
        };
        let scan_only = time(&mut || {
            let mut n = 0u64;
            reader.scan_events(all, &mut |_| n += 1).expect("scan");
            assert_eq!(n as usize, total);
        });
        let queues = time(&mut || {
            let mut r = QueueReport::new(span, Vec::new(), 20);
            reader.scan_events(all, &mut |e| r.feed(e)).expect("scan");
            std::hint::black_box(r.figures());
        });
        let agents = time(&mut || {
            let mut r = AgentReport::new(span, Vec::new());
            reader.scan_events(all, &mut |e| r.feed(e)).expect("scan");
            std::hint::black_box(r.figures());
        });
        for (name, (wall, per)) in [
            ("scan only, in-process", scan_only),
            ("queues by day, in-process", queues),
            ("agents by day, in-process", agents),
        ] {
            println!("{name:<30} {:>10} {:>32}", ms(wall), ms(per));
        }
    }

    // The wallboard: cold (reads the day), then warm with 100 new events between requests.
    let cold = {
        let t = Instant::now();
        let reply = client
            .request("GET", "/api/v1/wallboard", None)
            .expect("wallboard");
        assert_eq!(reply.status, 200);
        t.elapsed()
    };
    let mut warm = Vec::new();
    let mut rng = SmallRng::seed_from_u64(9);
    for round in 0..rounds.max(5) * 4 {
        let t0 = now() - 60_000;
        let mut batch = Vec::new();
        while batch.len() < 100 {
            batch.extend(call_events(
                &mut rng,
                10_000_000 + round as u64 * 100 + batch.len() as u64,
                t0,
            ));
        }
        state.record_events(&batch).expect("record");
        let t = Instant::now();
        let reply = client
            .request("GET", "/api/v1/wallboard", None)
            .expect("wallboard");
        warm.push(t.elapsed());
        assert_eq!(reply.status, 200);
    }
    let day_events = total as i64 / DAYS;
    println!(
        "{:<30} {:>10}   (cold: reads the day's ~{day_events} events)",
        "wallboard, cold",
        ms(cold)
    );
    println!(
        "{:<30} {:>10}   (median of {}; 100 new events before each)",
        "wallboard, warm",
        ms(median(warm.clone())),
        warm.len()
    );
    drop(state);
    let _ = std::fs::remove_dir_all(&dir);
}
