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

/// The share of `samples`' energy at `hz` (Goertzel at `rate` samples per second): about 1 for
/// a pure tone at `hz`, about 0 for silence-free audio far from it. A block with no energy has
/// share 0.
pub fn tone_share(samples: &[i16], rate: u32, hz: f64) -> f64 {
    let n = samples.len();
    if n == 0 {
        return 0.0;
    }
    let w = 2.0 * std::f64::consts::PI * hz / f64::from(rate);
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    let mut energy = 0.0;
    for &x in samples {
        let x = f64::from(x);
        energy += x * x;
        let s0 = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    if energy <= 0.0 {
        return 0.0;
    }
    // |X(hz)|² for a sine of amplitude A over n samples is (A·n/2)²; its energy is A²·n/2.
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    2.0 * power / (n as f64 * energy)
}

/// Root mean square of `samples`.
pub fn rms(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let sum: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    (sum / samples.len() as f64).sqrt()
}

#[cfg(test)]
mod tone_tests {
    use super::*;

    fn sine(hz: f64, n: usize) -> Vec<i16> {
        (0..n)
            .map(|i| {
                let t = i as f64 / 8000.0;
                (8000.0 * (2.0 * std::f64::consts::PI * hz * t).sin()) as i16
            })
            .collect()
    }

    #[test]
    fn a_tone_has_its_own_share_and_not_anothers() {
        let s = sine(400.0, 800);
        assert!(tone_share(&s, 8000, 400.0) > 0.95);
        assert!(tone_share(&s, 8000, 1000.0) < 0.01);
        assert_eq!(tone_share(&[0; 800], 8000, 400.0), 0.0);
        assert!((rms(&s) - 8000.0 / 2f64.sqrt()).abs() < 50.0);
    }
}
