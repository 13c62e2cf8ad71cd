//! WMA v1/v2 decoding against ffmpeg's own decode of the same files (ffmpeg is the oracle only).

use crate::wma_support::*;

/// Decodes a fixture with holdline and with ffmpeg; asserts equal length and SNR ≥ 60 dB.
fn check(codec: &str, channels: u32, rate: u32, bitrate: &str) -> f64 {
    let path = encode(codec, channels, rate, bitrate, 3.0);
    let reference = ffmpeg_decode(&path);
    let (ours, ch, sr) = decode_all(std::fs::read(&path).unwrap()).expect("decode");
    assert_eq!(ch, channels as usize);
    assert_eq!(sr, rate);
    let snr = snr_db(&reference, &ours);
    eprintln!(
        "{codec} {channels}ch {rate} Hz {bitrate}: {} vs {} samples, SNR {snr:.1} dB",
        ours.len(),
        reference.len()
    );
    assert_eq!(
        ours.len(),
        reference.len(),
        "length differs from ffmpeg's decode"
    );
    assert!(snr >= 60.0, "SNR {snr:.1} dB < 60 dB");
    snr
}

#[test]
fn wmav2_stereo_44k_128k_matches_ffmpeg() {
    check("wmav2", 2, 44100, "128k");
}

#[test]
fn wmav2_mono_44k_low_rate_uses_noise_coding_and_matches() {
    check("wmav2", 1, 44100, "32k");
}

#[test]
fn wmav1_stereo_22k_matches_ffmpeg() {
    check("wmav1", 2, 22050, "32k");
}

#[test]
fn wmav1_mono_32k_matches_ffmpeg() {
    check("wmav1", 1, 32000, "48k");
}

#[test]
fn wmav2_stereo_32k_matches_ffmpeg() {
    check("wmav2", 2, 32000, "64k");
}

#[test]
fn wmav2_mono_22k_low_rate_matches_ffmpeg() {
    check("wmav2", 1, 22050, "24k");
}

#[test]
fn wmav2_stereo_44k_high_rate_matches_ffmpeg() {
    check("wmav2", 2, 44100, "192k");
}

#[test]
fn wmav1_stereo_44k_low_rate_matches_ffmpeg() {
    check("wmav1", 2, 44100, "48k");
}

#[test]
fn wmav1_mono_22k_matches_ffmpeg() {
    check("wmav1", 1, 22050, "24k");
}

#[test]
fn wmav1_mono_44k_high_rate_matches_ffmpeg() {
    check("wmav1", 1, 44100, "96k");
}

#[test]
fn wmav1_stereo_32k_matches_ffmpeg() {
    check("wmav1", 2, 32000, "96k");
}

#[test]
fn wmav2_stereo_22k_high_rate_matches_ffmpeg() {
    check("wmav2", 2, 22050, "96k");
}

#[test]
fn wmav2_mono_32k_low_rate_matches_ffmpeg() {
    check("wmav2", 1, 32000, "24k");
}
