//! A measurement, not a timed test (DESIGN.md §5.6): decode + resample + encode a 3-minute
//! 44.1 kHz stereo MP3. Run in release:
//! `cargo test --release --test audio_perf -- --ignored --nocapture`.

mod audio_support;

use audio_support::{ffmpeg, p, path, sox, tmp};
use holdline::audio::{decode_prompt, DecodeOptions};

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
    for _ in 0..3 {
        let started = std::time::Instant::now();
        let prompt = decode_prompt("music.mp3", &bytes, &DecodeOptions::default()).expect("ok");
        best = best.min(started.elapsed());
        assert_eq!(prompt.duration.as_secs(), 180);
    }
    println!("3-minute 44.1 kHz stereo MP3 → both G.711 laws: best of 3 {best:?}");
}
