//! A measurement, not a timed test (DESIGN.md §5.6): decode + resample + encode a 3-minute
//! 44.1 kHz stereo MP3. Run in release:
//! `cargo test --release --test audio_perf -- --ignored --nocapture`.

// A measurement reads the clock by definition; this is a test binary, not a sans-IO core.
#![allow(clippy::disallowed_methods)]

use holdline::audio::decode::decode_mono;
use holdline::audio::resample::resample_to_8k;
use holdline::audio::{decode_prompt, DecodeOptions, Prompt};
use holdline_testkit::audio::{ffmpeg, p, path, sox, tmp};

#[test]
#[ignore = "measurement; run in release with --ignored --nocapture"]
fn three_minute_mp3_pipeline_time() {
    let dir = tmp();
    let wav = path(&dir, "music.wav");
    sox(&[
        "-n",
        "-r",
        "44100",
        "-c",
        "2",
        "-b",
        "16",
        p(&wav),
        "synth",
        "180",
        "pinknoise",
        "sine",
        "220-880",
        "vol",
        "0.5",
    ]);
    let mp3 = path(&dir, "music.mp3");
    ffmpeg(&[
        "-i",
        p(&wav),
        "-codec:a",
        "libmp3lame",
        "-b:a",
        "192k",
        p(&mp3),
    ]);
    let bytes = std::fs::read(&mp3).expect("read");
    let mut best = std::time::Duration::MAX;
    let mut best_cpu = f64::MAX;
    for _ in 0..3 {
        let (started, cpu) = (std::time::Instant::now(), cpu_secs());
        let prompt = decode_prompt("music.mp3", &bytes, &DecodeOptions::default()).expect("ok");
        best = best.min(started.elapsed());
        best_cpu = best_cpu.min(cpu_secs() - cpu);
        assert_eq!(prompt.duration.as_secs(), 180);
    }
    // CPU time is the fairer figure on a shared machine; wall time includes waiting for a core.
    println!(
        "3-minute 44.1 kHz stereo MP3 → both G.711 laws: best of 3: {best:?} wall, \
         {best_cpu:.2} s CPU"
    );
    let t0 = std::time::Instant::now();
    let pcm = decode_mono("music.mp3", &bytes, &DecodeOptions::default()).expect("ok");
    let t1 = std::time::Instant::now();
    let out = resample_to_8k("music.mp3", pcm).expect("ok");
    let t2 = std::time::Instant::now();
    let _ = Prompt::from_8k(&out);
    let t3 = std::time::Instant::now();
    println!(
        "  decode+downmix {:?}, resample {:?}, encode {:?}",
        t1 - t0,
        t2 - t1,
        t3 - t2
    );
}

/// This process's user+system CPU time in seconds (Linux `/proc/self/stat`, 10 ms ticks).
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of stat(5) (utime, stime) are at 11 and 12 after the ") " split.
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|v| v.parse::<f64>().ok()))
        .sum();
    ticks / 100.0
}
