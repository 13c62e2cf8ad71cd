//! `holdline media probe|convert` functions: probe reports what the container declares; convert
//! writes an 8 kHz G.711 WAV that sox and ffprobe read as μ-law/A-law and that matches sox's own
//! conversion of the input.

use std::process::Command;
use std::time::Duration;

use holdline::audio::{convert, probe, AudioError, Law};
use holdline_testkit::audio::{
    ffmpeg, p, path, read_s16, require, snr_db, sox, sox_reference_8k, tmp,
};

#[test]
fn probe_reports_wav_parameters() {
    let dir = tmp();
    let wav = path(&dir, "in.wav");
    sox(&[
        "-n",
        "-r",
        "44100",
        "-c",
        "2",
        "-b",
        "24",
        p(&wav),
        "synth",
        "2.5",
        "sine",
        "440",
    ]);
    let info = probe(&wav).expect("probes");
    assert!(info.container.starts_with("wav"), "{}", info.container);
    assert!(info.codec.starts_with("pcm_s24le"), "{}", info.codec);
    assert_eq!(info.sample_rate, Some(44100));
    assert_eq!(info.channels, Some(2));
    assert_eq!(info.duration, Some(Duration::from_millis(2500)));
    let shown = info.to_string();
    assert!(shown.contains("sample rate: 44100 Hz") && shown.contains("duration:    2.500 s"));
}

#[test]
fn probe_reports_mp3_parameters() {
    let dir = tmp();
    let wav = path(&dir, "in.wav");
    sox(&[
        "-n",
        "-r",
        "48000",
        "-c",
        "2",
        "-b",
        "16",
        p(&wav),
        "synth",
        "3",
        "sine",
        "440",
    ]);
    let mp3 = path(&dir, "in.mp3");
    ffmpeg(&[
        "-i",
        p(&wav),
        "-codec:a",
        "libmp3lame",
        "-b:a",
        "128k",
        p(&mp3),
    ]);
    let info = probe(&mp3).expect("probes");
    assert!(info.codec.starts_with("mp3"), "{}", info.codec);
    assert_eq!(info.sample_rate, Some(48000));
    assert_eq!(info.channels, Some(2));
    let secs = info
        .duration
        .expect("LAME tag gives a length")
        .as_secs_f64();
    assert!((secs - 3.0).abs() < 0.05, "{secs}");
}

#[test]
fn probe_of_missing_file_names_it() {
    let err = probe(std::path::Path::new("/no/such/dir/greeting.wav")).unwrap_err();
    assert!(matches!(err, AudioError::Io { .. }));
    assert!(
        err.to_string().starts_with("/no/such/dir/greeting.wav: "),
        "{err}"
    );
}

fn ffprobe_codec(file: &std::path::Path) -> String {
    require("ffmpeg");
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name,sample_rate,channels",
        ])
        .args(["-of", "csv=p=0", p(file)])
        .output()
        .expect("run ffprobe (part of ffmpeg)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn convert_writes_g711_wavs_that_other_tools_read() {
    let dir = tmp();
    let src = path(&dir, "in.wav");
    sox(&[
        "-n",
        "-r",
        "44100",
        "-c",
        "2",
        "-b",
        "16",
        p(&src),
        "synth",
        "2",
        "sine",
        "300-3000",
        "vol",
        "0.5",
    ]);
    let reference = sox_reference_8k(&dir, &src);
    for (law, codec, sox_enc) in [
        (Law::Ulaw, "pcm_mulaw,8000,1", "u-law"),
        (Law::Alaw, "pcm_alaw,8000,1", "a-law"),
    ] {
        let out = path(&dir, &format!("out-{law}.wav"));
        let report = convert(&src, &out, law).expect("converts");
        assert_eq!(report.duration, Duration::from_secs(2));
        assert_eq!(
            report.bytes_written,
            std::fs::metadata(&out).expect("written").len()
        );
        assert!(report.to_string().contains(&format!("G.711 {law}")));
        assert_eq!(ffprobe_codec(&out), codec);

        // sox reads it back: right encoding, and the audio matches sox's own conversion.
        let soxi = Command::new("soxi")
            .args(["-e", p(&out)])
            .output()
            .expect("soxi");
        let encoding = String::from_utf8_lossy(&soxi.stdout).to_lowercase();
        assert!(encoding.contains(sox_enc), "{encoding}");
        let raw = path(&dir, "back.raw");
        sox(&[
            p(&out),
            "-t",
            "raw",
            "-e",
            "signed",
            "-b",
            "16",
            "-L",
            p(&raw),
        ]);
        let back = read_s16(&raw);
        assert_eq!(back.len(), 16_000);
        let snr = snr_db(&back, &reference, 4);
        // G.711 itself limits this to ~38 dB for a sweep at -6 dBFS.
        assert!(snr >= 30.0, "{law}: SNR {snr:.1} dB");
    }
}

#[test]
fn convert_of_bad_input_writes_nothing() {
    let dir = tmp();
    let src = path(&dir, "bad.mp3");
    std::fs::write(&src, b"this is not an mp3").expect("write");
    let out = path(&dir, "out.wav");
    let err = convert(&src, &out, Law::Ulaw).unwrap_err();
    assert!(err.to_string().contains("bad.mp3"), "{err}");
    assert!(!out.exists());
}
