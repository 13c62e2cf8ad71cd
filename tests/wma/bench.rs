//! Decode speed of a 3-minute WMA file, beside ffmpeg's (not a timed test: run with
//! `cargo test --release --test wma_bench -- --ignored --nocapture` and record in BENCHMARKS.md).

use std::process::Command;
use std::time::Instant;

use crate::wma_support::*;

#[test]
#[ignore = "benchmark; run explicitly in release mode"]
#[allow(clippy::disallowed_methods)] // a benchmark measures wall-clock time by definition
fn decode_three_minutes_of_wma() {
    for (codec, channels, rate, bitrate) in [
        ("wmav2", 2, 44100, "128k"),
        ("wmav2", 1, 22050, "32k"),
        ("wmav1", 2, 44100, "64k"),
    ] {
        let path = encode(codec, channels, rate, bitrate, 180.0);
        let bytes = std::fs::read(&path).unwrap();
        let mut best = f64::MAX;
        for _ in 0..3 {
            let start = Instant::now();
            let (samples, _, _) = decode_all(bytes.clone()).unwrap();
            best = best.min(start.elapsed().as_secs_f64());
            assert!(samples.len() > 180 * rate as usize * channels as usize * 99 / 100);
        }
        let mut ff_best = f64::MAX;
        for _ in 0..3 {
            let start = Instant::now();
            let status = Command::new("ffmpeg")
                .args(["-v", "error", "-threads", "1", "-i"])
                .arg(&path)
                .args(["-f", "f32le", "-y", "/dev/null"])
                .status()
                .unwrap();
            assert!(status.success());
            ff_best = ff_best.min(start.elapsed().as_secs_f64());
        }
        println!(
            "{codec} {channels}ch {rate} Hz {bitrate}, 180 s: holdline {:.3} s ({:.0}x real time), \
             ffmpeg {:.3} s ({:.0}x real time)",
            best,
            180.0 / best,
            ff_best,
            180.0 / ff_best
        );
    }
}
