//! G.711 encoders and decoders, bit-exact against sox over every 16-bit input and every code.

use holdline::audio::g711::{alaw_to_linear, linear_to_alaw, linear_to_ulaw, ulaw_to_linear, Law};
use holdline_testkit::audio::{p, path, read_s16, sox, tmp};

fn all_samples_raw() -> Vec<u8> {
    (i16::MIN..=i16::MAX)
        .flat_map(|s| s.to_le_bytes())
        .collect()
}

fn sox_encode(encoding: &str) -> Vec<u8> {
    let dir = tmp();
    let input = path(&dir, "ramp.raw");
    let output = path(&dir, "out.raw");
    std::fs::write(&input, all_samples_raw()).expect("write ramp");
    sox(&[
        "-t",
        "raw",
        "-r",
        "8000",
        "-e",
        "signed",
        "-b",
        "16",
        "-c",
        "1",
        "-L",
        p(&input),
        "-t",
        "raw",
        "-e",
        encoding,
        p(&output),
    ]);
    std::fs::read(&output).expect("read sox output")
}

fn sox_decode(encoding: &str) -> Vec<i16> {
    let dir = tmp();
    let input = path(&dir, "codes.raw");
    let output = path(&dir, "out.raw");
    std::fs::write(&input, (0..=255u8).collect::<Vec<_>>()).expect("write codes");
    sox(&[
        "-t",
        "raw",
        "-r",
        "8000",
        "-e",
        encoding,
        "-b",
        "8",
        "-c",
        "1",
        p(&input),
        "-t",
        "raw",
        "-e",
        "signed",
        "-b",
        "16",
        "-L",
        p(&output),
    ]);
    read_s16(&output)
}

fn first_mismatches(reference: &[u8], ours: impl Fn(i16) -> u8) -> Vec<String> {
    (i16::MIN..=i16::MAX)
        .zip(reference)
        .filter(|(s, &r)| ours(*s) != r)
        .take(5)
        .map(|(s, r)| format!("{s}: ours {:#04x}, sox {r:#04x}", ours(s)))
        .collect()
}

#[test]
fn ulaw_encoder_matches_sox_for_every_16_bit_input() {
    let reference = sox_encode("u-law");
    assert_eq!(reference.len(), 65_536);
    let bad = first_mismatches(&reference, linear_to_ulaw);
    assert!(bad.is_empty(), "μ-law mismatches: {bad:?}");
    let bad = first_mismatches(&reference, |s| Law::Ulaw.encode(s));
    assert!(bad.is_empty(), "μ-law table mismatches: {bad:?}");
}

#[test]
fn alaw_encoder_matches_sox_for_every_16_bit_input() {
    let reference = sox_encode("a-law");
    assert_eq!(reference.len(), 65_536);
    let bad = first_mismatches(&reference, linear_to_alaw);
    assert!(bad.is_empty(), "A-law mismatches: {bad:?}");
    let bad = first_mismatches(&reference, |s| Law::Alaw.encode(s));
    assert!(bad.is_empty(), "A-law table mismatches: {bad:?}");
}

#[test]
fn ulaw_decoder_matches_sox_for_every_code() {
    let reference = sox_decode("u-law");
    let ours: Vec<i16> = (0..=255u8).map(ulaw_to_linear).collect();
    assert_eq!(ours, reference);
}

#[test]
fn alaw_decoder_matches_sox_for_every_code() {
    let reference = sox_decode("a-law");
    let ours: Vec<i16> = (0..=255u8).map(alaw_to_linear).collect();
    assert_eq!(ours, reference);
}
