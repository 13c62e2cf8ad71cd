//! Bad input gives the right `AudioError`, naming the file, and never a panic or a hang:
//! corrupt, truncated, empty, over-long, unsupported and WMA files, and mutated fixtures.

use std::path::PathBuf;
use std::time::Duration;

use holdline::audio::decode::DecodeOptions;
use holdline::audio::prompt::decode_prompt;
use holdline::audio::{AudioError, PromptCache};
use holdline_testkit::audio::{ffmpeg, p, path, sox, tmp};

fn tone_wav(dir: &tempfile::TempDir, name: &str, secs: &str, extra: &[&str]) -> PathBuf {
    let out = path(dir, name);
    let mut args = vec!["-n", "-r", "22050", "-c", "1"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[p(&out), "synth", secs, "sine", "440", "vol", "0.5"]);
    sox(&args);
    out
}

fn tone_mp3(dir: &tempfile::TempDir, secs: &str) -> PathBuf {
    let wav = tone_wav(dir, "for-mp3.wav", secs, &["-b", "16"]);
    let mp3 = path(dir, "tone.mp3");
    ffmpeg(&[
        "-i",
        p(&wav),
        "-ac",
        "2",
        "-codec:a",
        "libmp3lame",
        "-b:a",
        "64k",
        p(&mp3),
    ]);
    mp3
}

fn decode_file(file: &std::path::Path, opts: &DecodeOptions) -> Result<(), AudioError> {
    let bytes = std::fs::read(file).expect("read fixture");
    decode_prompt(&file.display().to_string(), &bytes, opts).map(|_| ())
}

fn decode_err(label: &str, bytes: &[u8]) -> AudioError {
    match decode_prompt(label, bytes, &DecodeOptions::default()) {
        Ok(p) => panic!("{label}: decoded {} frames, expected an error", p.frames()),
        Err(e) => {
            assert!(
                e.to_string().starts_with(&format!("{label}: ")),
                "unnamed: {e}"
            );
            e
        }
    }
}

#[test]
fn truncated_wav_is_reported_as_truncated() {
    let dir = tmp();
    let wav = std::fs::read(tone_wav(&dir, "t.wav", "2", &["-b", "16"])).expect("read");
    let err = decode_err("cut.wav", &wav[..wav.len() * 2 / 3]);
    assert!(
        matches!(
            err,
            AudioError::Truncated {
                expected: 44100,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn truncated_mp3_with_length_tag_is_reported_as_truncated() {
    let dir = tmp();
    let mp3 = std::fs::read(tone_mp3(&dir, "4")).expect("read");
    let err = decode_err("cut.mp3", &mp3[..mp3.len() / 2]);
    assert!(matches!(err, AudioError::Truncated { .. }), "{err}");
}

#[test]
fn wav_header_cut_inside_is_corrupt() {
    let dir = tmp();
    let wav = std::fs::read(tone_wav(&dir, "t.wav", "1", &["-b", "16"])).expect("read");
    let err = decode_err("head.wav", &wav[..30]);
    assert!(
        matches!(
            err,
            AudioError::Corrupt { .. } | AudioError::Unsupported { .. }
        ),
        "{err}"
    );
}

#[test]
fn empty_files_are_empty() {
    let dir = tmp();
    let err = decode_err("zero.wav", &[]);
    assert!(matches!(err, AudioError::Empty { .. }), "{err}");
    let no_samples = tone_wav(&dir, "none.wav", "0.5", &["-b", "16"]);
    sox(&[
        p(&no_samples),
        p(&path(&dir, "trimmed.wav")),
        "trim",
        "0",
        "0",
    ]);
    let bytes = std::fs::read(path(&dir, "trimmed.wav")).expect("read");
    let err = decode_err("trimmed.wav", &bytes);
    assert!(matches!(err, AudioError::Empty { .. }), "{err}");
}

#[test]
fn over_long_file_is_refused_at_the_default_ten_minutes() {
    let dir = tmp();
    let out = path(&dir, "long.wav");
    sox(&[
        "-n",
        "-r",
        "8000",
        "-c",
        "1",
        "-b",
        "8",
        "-e",
        "u-law",
        p(&out),
        "synth",
        "601",
        "sine",
        "300",
    ]);
    let err = decode_file(&out, &DecodeOptions::default()).unwrap_err();
    assert!(
        matches!(
            err,
            AudioError::TooLong {
                limit_secs: 600,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn length_limit_is_configurable() {
    let dir = tmp();
    let wav = tone_wav(&dir, "three.wav", "3", &["-b", "16"]);
    let short = DecodeOptions {
        max_duration: Duration::from_secs(2),
    };
    let err = decode_file(&wav, &short).unwrap_err();
    assert!(
        matches!(err, AudioError::TooLong { limit_secs: 2, .. }),
        "{err}"
    );
    assert!(decode_file(
        &wav,
        &DecodeOptions {
            max_duration: Duration::from_secs(4)
        }
    )
    .is_ok());
}

#[test]
fn formats_we_do_not_decode_are_unsupported() {
    let dir = tmp();
    let wav = tone_wav(&dir, "src.wav", "1", &["-b", "16"]);
    for ext in ["flac", "ogg", "aiff"] {
        let out = path(&dir, &format!("x.{ext}"));
        sox(&[p(&wav), p(&out)]);
        let err = decode_file(&out, &DecodeOptions::default()).unwrap_err();
        assert!(
            matches!(err, AudioError::Unsupported { .. }),
            "{ext}: {err}"
        );
    }
    let err = decode_err("notes.txt", b"just some text, not audio at all\n");
    assert!(matches!(err, AudioError::Unsupported { .. }), "{err}");
}

#[test]
fn wma_decodes_through_the_same_pipeline() {
    let dir = tmp();
    let wav = tone_wav(&dir, "src.wav", "1", &["-b", "16"]);
    let wma = path(&dir, "hold.wma");
    ffmpeg(&["-i", p(&wav), "-codec:a", "wmav2", "-b:a", "64k", p(&wma)]);
    let bytes = std::fs::read(&wma).expect("read");
    let prompt = holdline::audio::decode_prompt("hold.wma", &bytes, &Default::default())
        .expect("WMA decodes like any other prompt");
    let secs = prompt.duration.as_secs_f64();
    assert!((0.9..=1.2).contains(&secs), "{secs} s");
}

#[test]
fn mp3_that_is_mostly_garbage_is_corrupt_not_silent() {
    let dir = tmp();
    let mut mp3 = std::fs::read(tone_mp3(&dir, "3")).expect("read");
    let start = mp3.len() / 10;
    let mut x = 0x2545_F491_u32;
    for b in &mut mp3[start..] {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    let result = decode_prompt("garbage.mp3", &mp3, &DecodeOptions::default());
    match result {
        Err(e) => assert!(
            matches!(e, AudioError::Corrupt { .. } | AudioError::Truncated { .. }),
            "{e}"
        ),
        Ok(p) => panic!("garbage decoded to {} frames", p.frames()),
    }
}

#[test]
fn failed_reload_from_disk_keeps_the_working_prompt() {
    let dir = tmp();
    let good = tone_wav(&dir, "greeting.wav", "1", &["-b", "16"]);
    let mut cache = PromptCache::default();
    let before = cache.replace("greeting", &good).expect("loads");
    let bad = path(&dir, "broken.mp3");
    std::fs::write(&bad, b"ID3\x04\0\0\0\0\0\0 not really").expect("write");
    let err = cache.replace("greeting", &bad).unwrap_err();
    assert!(err.to_string().contains("broken.mp3"), "{err}");
    assert_eq!(cache.get("greeting"), Some(before));
}

/// Deterministic xorshift so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Mutate `original` many ways (byte flips, header smashes, cuts, splices); every result must be
/// `Ok` or `Err`, never a panic. Runs under a short length limit to stay quick.
fn survive_mutations(label: &str, original: &[u8], rounds: usize) {
    let opts = DecodeOptions {
        max_duration: Duration::from_secs(30),
    };
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ original.len() as u64);
    for round in 0..rounds {
        let mut m = original.to_vec();
        match round % 5 {
            0 => {
                for _ in 0..1 + rng.below(8) {
                    let i = rng.below(m.len());
                    m[i] ^= 1 << rng.below(8);
                }
            }
            1 => {
                // Smash bytes in the first 128 (headers, chunk sizes, frame headers).
                for _ in 0..1 + rng.below(4) {
                    let i = rng.below(m.len().min(128));
                    m[i] = [0x00, 0xFF, 0x7F, 0x80][rng.below(4)];
                }
            }
            2 => m.truncate(rng.below(m.len())),
            3 => {
                let a = rng.below(m.len());
                let b = rng.below(m.len());
                let chunk: Vec<u8> = m[a.min(b)..a.max(b)].to_vec();
                let at = rng.below(m.len());
                m.splice(at..at, chunk);
            }
            _ => {
                let i = rng.below(m.len());
                let len = rng.below(512).min(m.len() - i);
                m[i..i + len].iter_mut().for_each(|b| *b = rng.next() as u8);
            }
        }
        let outcome = std::panic::catch_unwind(|| decode_prompt(label, &m, &opts));
        assert!(outcome.is_ok(), "{label}: mutation round {round} panicked");
    }
}

#[test]
fn mutated_fixtures_never_panic() {
    let dir = tmp();
    let pcm16 = std::fs::read(tone_wav(&dir, "a.wav", "0.25", &["-b", "16"])).expect("read");
    let adpcm = std::fs::read(tone_wav(&dir, "b.wav", "0.25", &["-e", "ima-adpcm"])).expect("read");
    let ulaw = std::fs::read(tone_wav(&dir, "c.wav", "0.25", &["-e", "u-law"])).expect("read");
    let float = std::fs::read(tone_wav(
        &dir,
        "d.wav",
        "0.25",
        &["-e", "floating-point", "-b", "32"],
    ))
    .expect("read");
    let mp3 = std::fs::read(tone_mp3(&dir, "1")).expect("read");
    // ~500 rounds keep this under ~15 s in a debug build; the cargo-fuzz targets go further.
    survive_mutations("m.wav", &pcm16, 120);
    survive_mutations("m.wav", &adpcm, 100);
    survive_mutations("m.wav", &ulaw, 60);
    survive_mutations("m.wav", &float, 60);
    survive_mutations("m.mp3", &mp3, 160);
}
