//! The audio tests' oracles: sox and ffmpeg (conversions and decodes to compare ours with),
//! fixtures made in the test, and signal comparison (SNR after cross-correlation alignment).
//!
//! The tools are not optional: the project's test command installs them, so a missing one is a
//! failure, not a skip.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Fail (never skip) when an oracle tool is missing: the project's test command installs them.
pub fn require(tool: &str) {
    let ok = Command::new(tool)
        .arg(if tool == "ffmpeg" {
            "-version"
        } else {
            "--version"
        })
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "{tool} is required by the audio tests as a reference oracle but was not found; \
         install it with `apt-get install -y sox ffmpeg`"
    );
}

/// Run a command and panic with its stderr when it fails.
pub fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `sox ARGS...` (with -D: never dither, so oracle output is deterministic).
pub fn sox(args: &[&str]) {
    require("sox");
    run(Command::new("sox").arg("-D").args(args));
}

/// `ffmpeg -y -loglevel error ARGS...`
pub fn ffmpeg(args: &[&str]) {
    require("ffmpeg");
    run(Command::new("ffmpeg")
        .args(["-y", "-nostdin", "-loglevel", "error"])
        .args(args));
}

pub fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

pub fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

pub fn path(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

/// Read a raw little-endian signed 16-bit file.
pub fn read_s16(path: &Path) -> Vec<i16> {
    let bytes = std::fs::read(path).expect("read raw");
    bytes
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect()
}

/// sox's own conversion of `input` to 8 kHz mono 16-bit raw, as i16 samples.
pub fn sox_reference_8k(dir: &tempfile::TempDir, input: &Path) -> Vec<i16> {
    let out = path(dir, "reference.raw");
    sox(&[
        p(input),
        "-t",
        "raw",
        "-e",
        "signed",
        "-b",
        "16",
        "-L",
        "-c",
        "1",
        "-r",
        "8000",
        p(&out),
    ]);
    read_s16(&out)
}

/// ffmpeg's decode of `input`, downmixed and resampled to 8 kHz mono 16-bit.
pub fn ffmpeg_reference_8k(dir: &tempfile::TempDir, input: &Path) -> Vec<i16> {
    let out = path(dir, "reference-ff.raw");
    ffmpeg(&[
        "-i",
        p(input),
        "-ac",
        "1",
        "-ar",
        "8000",
        "-f",
        "s16le",
        "-acodec",
        "pcm_s16le",
        p(&out),
    ]);
    read_s16(&out)
}

/// Best lag (ours shifted by `lag` against reference) within ±max_lag, by cross-correlation over
/// (at most) half a second from the middle of the reference: enough to lock on, and cheap in a
/// debug build.
pub fn best_lag(ours: &[f64], reference: &[f64], max_lag: isize) -> isize {
    let window = 4000.min(reference.len());
    let start = (reference.len() - window) / 2;
    let mut best = (f64::MIN, 0);
    for lag in -max_lag..=max_lag {
        let mut acc = 0.0;
        for (i, r) in reference.iter().enumerate().skip(start).take(window) {
            let j = i as isize + lag;
            if j >= 0 && (j as usize) < ours.len() {
                acc += r * ours[j as usize];
            }
        }
        if acc > best.0 {
            best = (acc, lag);
        }
    }
    best.1
}

/// SNR in dB of `ours` against `reference` after aligning by cross-correlation and fitting the
/// best gain (the oracles may scale differently by a fraction of a dB). Edges (50 ms) skipped,
/// where the two resamplers' filters start and stop differently.
pub fn snr_db(ours: &[i16], reference: &[i16], max_lag: isize) -> f64 {
    let o: Vec<f64> = ours.iter().map(|&s| f64::from(s)).collect();
    let r: Vec<f64> = reference.iter().map(|&s| f64::from(s)).collect();
    let lag = best_lag(&o, &r, max_lag);
    let edge = 400usize;
    let mut pairs = Vec::new();
    for (i, &rv) in r.iter().enumerate().skip(edge) {
        if i + edge >= r.len() {
            break;
        }
        let j = i as isize + lag;
        if j >= 0 && (j as usize) < o.len() {
            pairs.push((o[j as usize], rv));
        }
    }
    assert!(
        pairs.len() > 1000,
        "too little overlap to compare ({})",
        pairs.len()
    );
    let num: f64 = pairs.iter().map(|(a, b)| a * b).sum();
    let den: f64 = pairs.iter().map(|(a, _)| a * a).sum();
    let gain = if den > 0.0 { num / den } else { 1.0 };
    let signal: f64 = pairs.iter().map(|(_, b)| b * b).sum();
    let noise: f64 = pairs.iter().map(|(a, b)| (b - gain * a).powi(2)).sum();
    10.0 * (signal / noise.max(1e-9)).log10()
}
