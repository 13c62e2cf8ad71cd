//! Smoke tests of `holdline-bench` against the real `holdline` binary on loopback: the library
//! entry point (with `--spawn` semantics and with an already running server), and the
//! command line. RTP from the server is not asserted: the media plane is still being built, so
//! these check the signalling path and report whatever packets arrived.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use holdline::bench::blast::{self, BlastPlan};
use holdline::bench::{self, Options, Spawn};
use holdline::sip::sdp::Codec;

const CONFIG: &str = r#"
[sip]
listen = ["udp:127.0.0.1:0"]

[rtp]
ports = "40000-49999"

[api]
listen = "127.0.0.1:0"

[store]
path = "holdline.db"

[[number]]
e164 = "+14255550100"
kind = "service-toll"

[[queue]]
id = "bench"
name = "Bench"
numbers = ["+14255550100"]
"#;

fn config_file(tag: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("bench-smoke-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let path = dir.join("holdline.toml");
    std::fs::write(&path, CONFIG).expect("write config");
    path
}

fn spawned(tag: &str, calls: u64, rate: f64, hold: Duration) -> Options {
    let mut o = Options::new(SocketAddr::from(([127, 0, 0, 1], 0)));
    o.calls = calls;
    o.rate = rate;
    o.duration = hold;
    o.spawn = Some(Spawn {
        binary: PathBuf::from(env!("CARGO_BIN_EXE_holdline")),
        config: config_file(tag),
    });
    o
}

#[test]
fn ten_calls_are_answered_held_and_hung_up_cleanly() {
    let report = bench::run(spawned("ten", 10, 10.0, Duration::from_secs(1))).expect("bench run");
    let c = &report.calls;
    assert_eq!(c.attempted, 10, "{report}");
    assert_eq!(c.answered, 10, "{report}");
    assert_eq!(
        c.completed, 10,
        "every call ends with our BYE and its 200:\n{report}"
    );
    assert!(c.all_clean());
    assert_eq!(report.setup_latency.count, 10);
    assert!(report.setup_latency.max_ms < 1000.0, "{report}");
    assert!(c.peak_concurrent >= 1 && c.peak_concurrent <= 10);
    assert_eq!(
        report.sip.invite_retransmits, 0,
        "loopback loses nothing:\n{report}"
    );
    // One receiver per call; packets are counted honestly, whatever the server sends today.
    assert_eq!(report.rtp.streams, 10);
    assert_eq!(report.rtp.counters.malformed, 0);
    let server = report.server.expect("the spawned server is sampled");
    assert!(server.hwm_kib > 0);
    assert!(report.tool.is_some());
    // Ten calls 1 s apart ramp in 0.9 s and each holds 1 s: the run takes about 2 s.
    assert!(
        report.wall_seconds >= 1.9 && report.wall_seconds < 10.0,
        "{report}"
    );
}

#[test]
fn rtp_from_a_paced_sender_is_measured_without_loss() {
    // The media plane is not on main yet: the tool's own blaster stands in for it, sending to
    // the port pairs the bench allocates in order from the start of its range.
    let ports = (35_000, 35_099);
    let blaster = std::thread::spawn(move || {
        blast::run(&BlastPlan {
            to: [127, 0, 0, 1].into(),
            ports,
            streams: 3,
            ptime: Duration::from_millis(20),
            codec: Codec::Pcmu,
            duration: Duration::from_millis(2500),
        })
    });
    let mut o = spawned("rtp", 3, 10.0, Duration::from_secs(1));
    o.rtp_ports = ports;
    let report = bench::run(o).expect("bench run");
    let sent = blaster.join().expect("blaster thread").expect("blast");
    assert_eq!(sent.send_errors, 0);
    assert!(report.calls.all_clean(), "{report}");
    let rtp = &report.rtp;
    assert_eq!(rtp.streams_with_media, 3, "{report}");
    assert!(
        rtp.counters.received >= 3 * 25,
        "a 1 s hold is ~50 packets:\n{report}"
    );
    assert_eq!(rtp.lost, 0, "{report}");
    assert_eq!(
        rtp.counters.duplicates + rtp.counters.seq_gaps,
        0,
        "{report}"
    );
    assert_eq!(rtp.counters.ts_jumps, 0, "{report}");
    assert_eq!(rtp.payload_types.keys().copied().collect::<Vec<_>>(), [0]);
    let p50 = rtp.inter_arrival.p50_ms;
    assert!(
        (10.0..=30.0).contains(&p50),
        "p50 inter-arrival {p50} ms:\n{report}"
    );
}

#[test]
fn talking_callers_send_paced_rtp_to_the_answer_address() {
    let mut o = spawned("send", 3, 10.0, Duration::from_secs(1));
    o.send_rtp = true;
    let report = bench::run(o).expect("bench run");
    assert!(report.calls.all_clean(), "{report}");
    let sent = report.rtp_sent.expect("--send-rtp reports what it sent");
    assert_eq!(sent.streams, 3, "{report}");
    assert_eq!(sent.send_errors, 0, "{report}");
    // 1 s of 20 ms packets per call, give or take the pacer's tick and the BYE's timing.
    assert!((3 * 35..=3 * 60).contains(&sent.packets_sent), "{report}");
    assert!(report.to_string().contains("sent: 3 streams"));
}

#[test]
fn unknown_number_is_counted_as_failed_with_its_status() {
    let mut o = spawned("404", 3, 20.0, Duration::from_millis(200));
    o.numbers = vec!["+14255559999".to_owned()];
    let report = bench::run(o).expect("bench run");
    assert_eq!(report.calls.failed, 3, "{report}");
    assert_eq!(report.calls.failed_by_status.get(&404), Some(&3));
    assert_eq!(report.calls.answered, 0);
    assert!(!report.calls.all_clean());
    assert!(report.to_string().contains("404×3"));
}

#[test]
fn calls_go_round_robin_over_the_numbers() {
    let mut o = spawned("numbers", 4, 20.0, Duration::from_millis(300));
    o.numbers = vec!["+14255550100".to_owned(), "+14255559999".to_owned()];
    let report = bench::run(o).expect("bench run");
    assert_eq!(report.calls.completed, 2, "{report}");
    assert_eq!(
        report.calls.failed_by_status.get(&404),
        Some(&2),
        "{report}"
    );
    assert_eq!(report.settings.number, "+14255550100,+14255559999");
}

#[test]
fn cli_prints_help() {
    let out = Command::new(env!("CARGO_BIN_EXE_holdline-bench"))
        .arg("--help")
        .output()
        .expect("run holdline-bench");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for option in [
        "--calls",
        "--rate",
        "--duration",
        "--server-pid",
        "--spawn",
        "--json",
    ] {
        assert!(text.contains(option), "--help lacks {option}:\n{text}");
    }
}

#[test]
fn cli_runs_calls_against_a_spawned_server_and_prints_json() {
    let out = Command::new(env!("CARGO_BIN_EXE_holdline-bench"))
        .args([
            "--calls",
            "4",
            "--rate",
            "20",
            "--duration",
            "0.5",
            "--json",
        ])
        .arg("--spawn")
        .arg(config_file("cli"))
        .arg("--holdline-bin")
        .arg(env!("CARGO_BIN_EXE_holdline"))
        .output()
        .expect("run holdline-bench");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "exit {:?}\n{text}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_str(&text).expect("JSON report");
    assert_eq!(json["calls"]["completed"], 4);
    assert_eq!(json["setup_latency"]["count"], 4);
    assert!(json["rtp"]["received"].is_u64());
    assert!(json["server"]["cpu_seconds"].is_f64());
}

#[test]
fn cli_refuses_bad_options_with_status_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_holdline-bench"))
        .args(["--calls", "0"])
        .output()
        .expect("run holdline-bench");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--calls"));
}
