//! Shared helpers for the WMA/ASF integration tests: fixtures encoded by ffmpeg at test time,
//! ffmpeg/ffprobe as a reference oracle, and a symphonia pipeline using holdline's plugin.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::process::Command;

use holdline::audio::{asf, wma};
use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::codecs::registry::CodecRegistry;
use symphonia::core::formats::probe::{Hint, Probe};
use symphonia::core::formats::{FormatOptions, FormatReader, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;

/// Fails with a clear message when the oracle tools are missing.
pub fn require_ffmpeg() {
    static CHECKED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    CHECKED.get_or_init(|| {
        for tool in ["ffmpeg", "ffprobe"] {
            let ok = Command::new(tool)
                .arg("-version")
                .output()
                .is_ok_and(|o| o.status.success());
            assert!(
                ok,
                "{tool} is required for the WMA tests (apt-get install -y ffmpeg)"
            );
        }
    });
}

pub fn fixture_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("wma-fixtures");
    std::fs::create_dir_all(&dir).expect("create fixture dir");
    dir
}

/// Encodes `seconds` of a two-tone test signal with ffmpeg's WMA encoder.
pub fn encode(codec: &str, channels: u32, rate: u32, bitrate: &str, seconds: f32) -> PathBuf {
    require_ffmpeg();
    let name = format!("v2-{codec}-{channels}ch-{rate}-{bitrate}-{seconds}.wma");
    let path = fixture_dir().join(name);
    if path.exists() {
        return path;
    }
    // A chirp-like mix plus noise exercises many coefficients, exponents and noise coding.
    let src = format!(
        "aevalsrc='0.4*sin(2*PI*(220+200*t)*t)+0.2*sin(2*PI*3000*t)+0.05*(random(0)-0.5)':s={rate}:d={seconds}"
    );
    // Tests run in parallel: encode to a private name, then rename into place.
    static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("{}-{seq}.tmp.wma", std::process::id()));
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", &src, "-ac"])
        .arg(channels.to_string())
        .args([
            "-c:a",
            codec,
            "-b:a",
            bitrate,
            "-metadata",
            "title=Holdline Test",
            "-metadata",
            "artist=Holdline QA",
        ])
        .arg(&tmp)
        .status()
        .expect("run ffmpeg");
    if !status.success() {
        let _ = std::fs::remove_file(&tmp);
        panic!("ffmpeg failed to encode {codec} {channels}ch {rate} Hz {bitrate}");
    }
    if std::fs::rename(&tmp, &path).is_err() {
        assert!(path.exists(), "fixture {} missing", path.display());
    }
    path
}

/// ffprobe's packet sizes and pts (ms) for the audio stream.
pub fn ffprobe_packets(path: &Path) -> Vec<(usize, i64)> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "a:0",
            "-show_entries",
            "packet=size,pts",
        ])
        .args(["-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("run ffprobe");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut it = l.split(',');
            let pts = it.next()?.trim().parse().ok()?;
            let size = it.next()?.trim().parse().ok()?;
            Some((size, pts))
        })
        .collect()
}

/// ffmpeg's own decode, as interleaved f32.
pub fn ffmpeg_decode(path: &Path) -> Vec<f32> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-f", "f32le", "-"])
        .output()
        .expect("run ffmpeg");
    assert!(
        out.status.success(),
        "ffmpeg failed to decode {}",
        path.display()
    );
    out.stdout
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

pub fn probe() -> Probe {
    let mut probe = Probe::default();
    asf::register(&mut probe);
    probe
}

pub fn codecs() -> CodecRegistry {
    let mut reg = CodecRegistry::new();
    wma::register(&mut reg);
    reg
}

pub fn open(bytes: Vec<u8>) -> symphonia::core::errors::Result<Box<dyn FormatReader>> {
    let mss = MediaSourceStream::new(Box::new(std::io::Cursor::new(bytes)), Default::default());
    let mut hint = Hint::new();
    hint.with_extension("wma");
    probe().probe(
        &hint,
        mss,
        FormatOptions::default(),
        MetadataOptions::default(),
    )
}

/// Decodes a whole file with holdline's plugin into interleaved f32 samples.
pub fn decode_all(bytes: Vec<u8>) -> symphonia::core::errors::Result<(Vec<f32>, usize, u32)> {
    let mut reader = open(bytes)?;
    let track = reader
        .first_track(TrackType::Audio)
        .expect("audio track")
        .clone();
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .expect("audio params");
    let registry = codecs();
    let reg = registry
        .get_audio_decoder(params.codec)
        .expect("wma decoder registered");
    let mut dec = (reg.factory)(params, &AudioDecoderOptions::default())?;
    let mut out = Vec::new();
    let mut channels = 0;
    let mut rate = 0;
    while let Some(packet) = reader.next_packet()? {
        let buf = dec.decode(&packet)?;
        channels = buf.spec().channels().count();
        rate = buf.spec().rate();
        let start = out.len();
        out.resize(start + buf.frames() * channels, 0.0f32);
        buf.copy_to_slice_interleaved(&mut out[start..]);
    }
    Ok((out, channels, rate))
}

/// Signal-to-noise ratio of `test` against `reference`, in dB.
pub fn snr_db(reference: &[f32], test: &[f32]) -> f64 {
    let n = reference.len().min(test.len());
    let (mut sig, mut err) = (0f64, 0f64);
    for i in 0..n {
        let r = f64::from(reference[i]);
        let d = r - f64::from(test[i]);
        sig += r * r;
        err += d * d;
    }
    if err == 0.0 {
        return f64::INFINITY;
    }
    10.0 * (sig / err).log10()
}
