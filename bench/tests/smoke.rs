//! Smoke tests of `holdline-bench` against the real `holdline` binary on loopback, which each
//! test starts through `Options::spawn`: the library entry point, the command line, the RTP the
//! server's media plane sends (music on hold), and the tool's own calibration blaster.
//!
//! The server is another package's binary, so Cargo does not hand its path to these tests
//! (`CARGO_BIN_EXE_*` names only this package's binaries): `holdline_testkit::holdline_bin`
//! finds it, building it first when needed.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use holdline::sip::sdp::Codec;
use holdline_bench::blast::{self, BlastPlan};
use holdline_bench::rtp_stats::RtpStats;
use holdline_bench::{self as bench, Options, Spawn};
use holdline_testkit::{holdline_bin, ConfigToml, QueueToml};

/// One queue, "bench", on +14255550100.
fn config() -> String {
    ConfigToml::loopback("40000-49999")
        .number("+14255550100", "service-toll")
        .queue(
            QueueToml::new("bench")
                .name("Bench")
                .numbers(&["+14255550100"]),
        )
        .to_string()
}

fn config_file(tag: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("bench-smoke-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let path = dir.join("holdline.toml");
    std::fs::write(&path, config()).expect("write config");
    path
}

fn spawned(tag: &str, calls: u64, rate: f64, hold: Duration) -> Options {
    let mut o = Options::new(SocketAddr::from(([127, 0, 0, 1], 0)));
    o.calls = calls;
    o.rate = rate;
    o.duration = hold;
    o.spawn = Some(Spawn {
        binary: holdline_bin().to_owned(),
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
fn music_on_hold_from_the_server_is_measured_without_loss() {
    let report = bench::run(spawned("moh", 3, 10.0, Duration::from_secs(2))).expect("bench run");
    assert!(report.calls.all_clean(), "{report}");
    let rtp = &report.rtp;
    assert_eq!(
        rtp.streams_with_media, 3,
        "every caller hears the queue:\n{report}"
    );
    assert!(
        rtp.counters.received >= 3 * 50,
        "2 s of 20 ms packets is ~100 per call:\n{report}"
    );
    assert_eq!(rtp.lost, 0, "{report}");
    assert_eq!(rtp.counters.duplicates, 0, "{report}");
    assert_eq!(rtp.counters.malformed, 0, "{report}");
    // Both sides agreed on PCMU (our first choice); telephone-event only with DTMF.
    assert!(rtp.payload_types.contains_key(&0), "{report}");
    let p50 = rtp.inter_arrival.p50_ms;
    assert!(
        (10.0..=30.0).contains(&p50),
        "p50 inter-arrival {p50} ms:\n{report}"
    );
}

#[test]
fn blaster_paces_streams_to_the_even_ports_of_its_range() {
    // Two receivers on an even/odd-aligned free pair of ports.
    let probe = std::net::UdpSocket::bind("127.0.0.1:0").expect("probe");
    let base = probe.local_addr().expect("addr").port() & !1;
    drop(probe);
    let (Ok(a), Ok(b)) = (
        std::net::UdpSocket::bind(("127.0.0.1", base)),
        std::net::UdpSocket::bind(("127.0.0.1", base + 2)),
    ) else {
        return; // Someone else took the ports between probe and bind; nothing to check.
    };
    let sent = blast::run(&BlastPlan {
        to: [127, 0, 0, 1].into(),
        ports: (base, base + 3),
        streams: 2,
        ptime: Duration::from_millis(20),
        codec: Codec::Pcma,
        duration: Duration::from_millis(200),
    })
    .expect("blast");
    assert_eq!(
        (sent.streams, sent.packets_sent, sent.send_errors),
        (2, 20, 0)
    );
    for socket in [a, b] {
        socket.set_nonblocking(true).expect("nonblocking");
        let mut buf = [0u8; 512];
        let mut stats = RtpStats::new(20_000);
        let mut t = 0;
        while let Ok(n) = socket.recv(&mut buf) {
            stats.on_datagram(t, &buf[..n]);
            t += 20_000;
        }
        let c = stats.counters();
        assert_eq!((c.received, c.lost(), c.ts_jumps), (10, 0, 0));
        assert_eq!(stats.payload_types.get(&8), Some(&10));
    }
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
        .arg(holdline_bin())
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
