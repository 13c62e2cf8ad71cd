//! Decode + downmix + resample against sox's own 8 kHz conversion of the same files (WAV in every
//! encoding we accept) and ffmpeg's decode of the same MP3s: SNR ≥ 30 dB after alignment, length
//! within one 20 ms frame. Every fixture is made here with sox/ffmpeg.

use std::path::Path;

use holdline::audio::decode::{decode_mono, DecodeOptions};
use holdline::audio::prompt::{decode_prompt, to_i16, FRAME_SAMPLES};
use holdline::audio::resample::resample_to_8k;
use holdline_testkit::audio::{
    ffmpeg, ffmpeg_reference_8k, p, path, snr_db, sox, sox_reference_8k, tmp,
};

/// The three source signals, 3 s each: a 1 kHz tone, a 100–3400 Hz sweep, and speech-like noise
/// (pink noise band-limited to the telephone band, modulated at a syllabic 4 Hz). Stereo sources
/// carry different signals per channel so the downmix is exercised.
const SIGNALS: [(&str, &[&str]); 3] = [
    (
        "tone",
        &["synth", "3", "sine", "1000", "sine", "1000", "vol", "0.5"],
    ),
    (
        "sweep",
        &[
            "synth", "3", "sine", "100-3400", "sine", "3400-100", "vol", "0.5",
        ],
    ),
    (
        "speech",
        &[
            "synth",
            "3",
            "pinknoise",
            "pinknoise",
            "sinc",
            "300-3400",
            "tremolo",
            "4",
            "80",
            "vol",
            "0.7",
        ],
    ),
];

fn make_source(
    dir: &tempfile::TempDir,
    signal: &[&str],
    rate: &str,
    channels: &str,
) -> std::path::PathBuf {
    let out = path(dir, "source.wav");
    let mut args = vec!["-n", "-r", rate, "-c", channels, "-b", "16", p(&out)];
    args.extend_from_slice(signal);
    sox(&args);
    out
}

fn ours_8k(file: &Path) -> Vec<i16> {
    let bytes = std::fs::read(file).expect("read fixture");
    let name = file.display().to_string();
    let pcm = decode_mono(&name, &bytes, &DecodeOptions::default())
        .unwrap_or_else(|e| panic!("decode failed: {e}"));
    to_i16(&resample_to_8k(&name, pcm).expect("resample"))
}

fn assert_close(label: &str, ours: &[i16], reference: &[i16], max_lag: isize) {
    let diff = ours.len().abs_diff(reference.len());
    assert!(
        diff <= FRAME_SAMPLES,
        "{label}: length {} vs reference {} (more than one frame apart)",
        ours.len(),
        reference.len()
    );
    let snr = snr_db(ours, reference, max_lag);
    assert!(snr >= 30.0, "{label}: SNR {snr:.1} dB < 30 dB");
}

/// Encode each source as a WAV with sox's `-e ENC -b BITS` and compare.
fn check_wav_encoding(encoding: &[&str], rate: &str, channels: &str) {
    for (label, signal) in SIGNALS {
        let dir = tmp();
        let source = make_source(&dir, signal, rate, channels);
        let fixture = path(&dir, "fixture.wav");
        let mut args = vec![p(&source)];
        args.extend_from_slice(encoding);
        args.push(p(&fixture));
        sox(&args);
        let reference = sox_reference_8k(&dir, &fixture);
        let ours = ours_8k(&fixture);
        assert_close(
            &format!("{label} {encoding:?} {rate} Hz x{channels}"),
            &ours,
            &reference,
            16,
        );
    }
}

#[test]
fn wav_unsigned_8_bit_matches_sox() {
    check_wav_encoding(&["-e", "unsigned", "-b", "8"], "22050", "1");
}

#[test]
fn wav_16_bit_stereo_44k_matches_sox() {
    check_wav_encoding(&["-e", "signed", "-b", "16"], "44100", "2");
}

#[test]
fn wav_24_bit_stereo_48k_matches_sox() {
    check_wav_encoding(&["-e", "signed", "-b", "24"], "48000", "2");
}

#[test]
fn wav_32_bit_matches_sox() {
    check_wav_encoding(&["-e", "signed", "-b", "32"], "16000", "1");
}

#[test]
fn wav_float_matches_sox() {
    check_wav_encoding(&["-e", "floating-point", "-b", "32"], "48000", "2");
}

#[test]
fn wav_ulaw_matches_sox() {
    check_wav_encoding(&["-e", "u-law"], "8000", "1");
}

#[test]
fn wav_alaw_matches_sox() {
    check_wav_encoding(&["-e", "a-law"], "11025", "2");
}

#[test]
fn wav_ima_adpcm_matches_sox() {
    check_wav_encoding(&["-e", "ima-adpcm"], "22050", "1");
}

/// Encode each source as MP3 with ffmpeg (libmp3lame) and compare with ffmpeg's decode of the
/// same MP3: the codec's loss is common to both sides, only decoder + resampler differ.
fn check_mp3(rate: &str) {
    for (label, signal) in SIGNALS {
        let dir = tmp();
        let source = make_source(&dir, signal, rate, "2");
        let mp3 = path(&dir, "fixture.mp3");
        ffmpeg(&[
            "-i",
            p(&source),
            "-codec:a",
            "libmp3lame",
            "-b:a",
            "128k",
            p(&mp3),
        ]);
        let reference = ffmpeg_reference_8k(&dir, &mp3);
        let ours = ours_8k(&mp3);
        assert_close(
            &format!("{label} mp3 {rate} Hz stereo"),
            &ours,
            &reference,
            2400,
        );
    }
}

#[test]
fn mp3_44k_stereo_matches_ffmpeg() {
    check_mp3("44100");
}

#[test]
fn mp3_48k_stereo_matches_ffmpeg() {
    check_mp3("48000");
}

#[test]
fn prompt_length_is_within_one_frame_of_sox() {
    let dir = tmp();
    let source = make_source(&dir, SIGNALS[0].1, "44100", "2");
    let reference = sox_reference_8k(&dir, &source);
    let bytes = std::fs::read(&source).expect("read");
    let prompt = decode_prompt("tone.wav", &bytes, &DecodeOptions::default()).expect("decodes");
    assert_eq!(prompt.ulaw.len() % FRAME_SAMPLES, 0);
    assert!(prompt.ulaw.len().abs_diff(reference.len()) <= FRAME_SAMPLES);
    assert_eq!(prompt.ulaw.len(), prompt.alaw.len());
}
