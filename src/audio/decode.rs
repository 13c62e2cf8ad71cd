//! Decode an audio file held in memory to mono PCM at its own sample rate.
//!
//! Containers and codecs come from `audio::registry` (WAV: PCM 8/16/24/32-bit, float, μ-law,
//! A-law, IMA-ADPCM; MP3). Channels are averaged to mono. Every input is bounded: a length limit
//! is enforced while decoding, packets that fail to decode are skipped only while they stay a
//! small minority, and the packet loop cannot outlive the bytes it reads. The result is an error
//! naming the file, never a panic.
//!
//! This module does not resample or encode; see `audio::resample` and `audio::prompt`.

use std::io::{Cursor, ErrorKind};
use std::time::Duration;

use symphonia::core::codecs::audio::{AudioCodecParameters, AudioDecoder, AudioDecoderOptions};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;

use crate::audio::error::AudioError;
use crate::audio::registry;

/// Limits applied while decoding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Longest audio accepted; longer files are refused (default 10 minutes).
    pub max_duration: Duration,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            max_duration: Duration::from_secs(600),
        }
    }
}

/// Mono PCM at the source's sample rate, samples in [-1, 1].
#[derive(Clone, Debug, PartialEq)]
pub struct MonoPcm {
    pub sample_rate: u32,
    pub samples: Vec<f32>,
}

/// Sample rates outside this range are refused as nonsense (a header claiming 0 Hz or 10 MHz).
/// The top also bounds memory: ten minutes at 192 kHz is 115 M samples (460 MB of f32).
const RATE_RANGE: std::ops::RangeInclusive<u32> = 1_000..=192_000;
/// More channels than this is not a prompt file.
const MAX_CHANNELS: usize = 32;
/// This many undecodable packets in a row means the file is corrupt, not a glitch.
const MAX_CONSECUTIVE_BAD: u32 = 16;

/// An opened file: its demuxer, the chosen audio track and that track's parameters.
pub(crate) struct Opened<'a> {
    pub reader: Box<dyn FormatReader + 'a>,
    pub track_id: u32,
    pub params: AudioCodecParameters,
    pub num_frames: Option<u64>,
    pub duration: Option<Duration>,
}

/// Open `bytes` with the registry's probe and pick the default audio track. `name` labels
/// errors; its extension is a hint to the probe.
pub(crate) fn open<'a>(name: &str, bytes: &'a [u8]) -> Result<Opened<'a>, AudioError> {
    if bytes.is_empty() {
        return Err(AudioError::Empty { name: name.into() });
    }
    let mss = MediaSourceStream::new(Box::new(Cursor::new(bytes)), Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = std::path::Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
    {
        hint.with_extension(ext);
    }
    let reader = registry::probe()
        .probe(
            &hint,
            mss,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(|e| match e {
            // The ASF reader names the variant it refuses (WMA Pro, Lossless, Voice, DRM).
            _ if registry::is_asf(bytes) => AudioError::Unsupported {
                name: name.into(),
                reason: format!("ASF/WMA: {e}"),
            },
            SymphoniaError::Unsupported(_) => AudioError::Unsupported {
                name: name.into(),
                reason: "not a recognised audio file (expected WAV or MP3)".into(),
            },
            SymphoniaError::IoError(io) if io.kind() == ErrorKind::UnexpectedEof => {
                AudioError::Corrupt {
                    name: name.into(),
                    reason: "file ends inside its header".into(),
                }
            }
            other => AudioError::Corrupt {
                name: name.into(),
                reason: other.to_string(),
            },
        })?;
    let track = reader
        .default_track(TrackType::Audio)
        .ok_or_else(|| AudioError::Unsupported {
            name: name.into(),
            reason: "no audio track".into(),
        })?;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .cloned()
        .ok_or_else(|| AudioError::Unsupported {
            name: name.into(),
            reason: "audio track without codec parameters".into(),
        })?;
    let duration = match (track.num_frames, params.sample_rate) {
        (Some(n), Some(rate)) if rate > 0 => Some(Duration::from_secs_f64(n as f64 / rate as f64)),
        _ => track
            .time_base
            .zip(track.duration)
            .and_then(|(tb, d)| tb.calc_duration(d))
            .map(|t| t.as_secs_f64())
            .filter(|s| s.is_finite() && *s >= 0.0 && *s < 1e12)
            .map(Duration::from_secs_f64),
    };
    Ok(Opened {
        track_id: track.id,
        num_frames: track.num_frames,
        duration,
        params,
        reader,
    })
}

/// Build the decoder for an opened track.
pub(crate) fn make_decoder(
    name: &str,
    bytes: &[u8],
    params: &AudioCodecParameters,
) -> Result<Box<dyn AudioDecoder>, AudioError> {
    registry::codecs()
        .make_audio_decoder(params, &AudioDecoderOptions::default())
        .map_err(|e| match e {
            _ if registry::is_asf(bytes) => AudioError::Unsupported {
                name: name.into(),
                reason: format!("ASF/WMA: {e}"),
            },
            SymphoniaError::Unsupported(what) => AudioError::Unsupported {
                name: name.into(),
                reason: format!("codec not supported ({what})"),
            },
            other => AudioError::Corrupt {
                name: name.into(),
                reason: other.to_string(),
            },
        })
}

/// Bad packets are skipped as glitches while they stay rare: at most [`MAX_CONSECUTIVE_BAD`] in
/// a row and at most a quarter of all packets. Beyond that the file is corrupt, and an error is
/// better than a prompt full of holes.
#[derive(Default)]
struct PacketHealth {
    good: u64,
    bad: u64,
    consecutive_bad: u32,
}

impl PacketHealth {
    fn good(&mut self) {
        self.good += 1;
        self.consecutive_bad = 0;
    }

    fn bad(&mut self, why: &str) -> Result<(), String> {
        self.bad += 1;
        self.consecutive_bad += 1;
        if self.consecutive_bad > MAX_CONSECUTIVE_BAD {
            return Err(format!(
                "{} bad packets in a row ({why})",
                self.consecutive_bad
            ));
        }
        Ok(())
    }

    fn verdict(&self) -> Result<(), String> {
        let total = self.good + self.bad;
        if self.bad > 0 && self.bad * 4 > total {
            return Err(format!(
                "{} of {total} packets could not be decoded",
                self.bad
            ));
        }
        Ok(())
    }
}

/// Float WAVs can carry NaN, ±∞ or huge values; they would poison the resampler's FFT (rubato
/// panics on a non-finite spectrum). NaN becomes silence, everything else saturates at ±1 (the
/// output is clamped to full scale anyway).
fn sanitize(s: f32) -> f32 {
    if s.is_nan() {
        0.0
    } else {
        s.clamp(-1.0, 1.0)
    }
}

/// Run symphonia code over untrusted bytes, turning a panic into `Corrupt`. symphonia 0.6 has
/// arithmetic that overflows on crafted headers (e.g. the WAV `fmt ` chunk's block-align product
/// panics in debug builds); a bad file must not take the admin API or a config reload down. This
/// relies on unwinding (the default); a `panic = "abort"` profile would lose this guard.
pub(crate) fn guarded<T>(
    name: &str,
    f: impl FnOnce() -> Result<T, AudioError>,
) -> Result<T, AudioError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(AudioError::Corrupt {
            name: name.into(),
            reason: "malformed data made the decoder fail".into(),
        })
    })
}

/// Decode `bytes` (a whole file) to mono PCM at the source rate.
pub fn decode_mono(name: &str, bytes: &[u8], opts: &DecodeOptions) -> Result<MonoPcm, AudioError> {
    guarded(name, || decode_unguarded(name, bytes, opts))
}

fn decode_unguarded(name: &str, bytes: &[u8], opts: &DecodeOptions) -> Result<MonoPcm, AudioError> {
    let mut opened = open(name, bytes)?;
    let mut decoder = make_decoder(name, bytes, &opened.params)?;
    let corrupt = |reason: String| AudioError::Corrupt {
        name: name.into(),
        reason,
    };

    let mut out = Vec::new();
    let mut interleaved: Vec<f32> = Vec::new();
    let mut rate: Option<u32> = None;
    let mut max_frames = u64::MAX;
    let mut health = PacketHealth::default();
    let mut truncated = false;
    // Each packet consumes at least one byte of a finite input, so a demuxer that yields more
    // packets than there are bytes is not making progress: stop rather than spin.
    let packet_budget = bytes.len() as u64 + 64;
    let mut packets = 0u64;

    loop {
        packets += 1;
        if packets > packet_budget {
            return Err(corrupt("demuxer made no progress".into()));
        }
        let packet = match opened.reader.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            // The data ends before the container said it would.
            Err(SymphoniaError::IoError(e)) if e.kind() == ErrorKind::UnexpectedEof => {
                truncated = true;
                break;
            }
            Err(SymphoniaError::DecodeError(msg)) => {
                // A damaged frame header; MP3 demuxers resync on the next call.
                health.bad(msg).map_err(corrupt)?;
                continue;
            }
            Err(SymphoniaError::ResetRequired) => {
                return Err(AudioError::Unsupported {
                    name: name.into(),
                    reason: "stream changes its parameters mid-file".into(),
                })
            }
            Err(other) => return Err(corrupt(other.to_string())),
        };
        if packet.track_id != opened.track_id {
            continue;
        }
        let buf = match decoder.decode(&packet) {
            Ok(buf) => buf,
            // A packet with bad data: skip it, as long as such packets stay rare.
            Err(SymphoniaError::DecodeError(msg)) => {
                health.bad(msg).map_err(corrupt)?;
                continue;
            }
            Err(SymphoniaError::IoError(e)) => {
                health.bad(&e.to_string()).map_err(corrupt)?;
                continue;
            }
            Err(SymphoniaError::Unsupported(what)) => {
                return Err(AudioError::Unsupported {
                    name: name.into(),
                    reason: format!("codec feature not supported ({what})"),
                })
            }
            Err(other) => return Err(corrupt(other.to_string())),
        };
        health.good();
        if buf.frames() == 0 {
            continue;
        }

        let spec_rate = buf.spec().rate();
        let channels = buf.spec().channels().count();
        match rate {
            None => {
                if !RATE_RANGE.contains(&spec_rate) {
                    return Err(AudioError::BadParameters {
                        name: name.into(),
                        reason: format!("sample rate {spec_rate} Hz"),
                    });
                }
                rate = Some(spec_rate);
                max_frames = opts
                    .max_duration
                    .as_secs()
                    .saturating_mul(u64::from(spec_rate))
                    .saturating_add(
                        u64::from(opts.max_duration.subsec_millis()) * u64::from(spec_rate) / 1000,
                    );
            }
            Some(r) if r != spec_rate => {
                return Err(AudioError::Unsupported {
                    name: name.into(),
                    reason: format!("sample rate changes mid-file ({r} → {spec_rate} Hz)"),
                })
            }
            Some(_) => {}
        }
        if channels == 0 || channels > MAX_CHANNELS {
            return Err(AudioError::BadParameters {
                name: name.into(),
                reason: format!("{channels} channels"),
            });
        }

        buf.copy_to_vec_interleaved::<f32>(&mut interleaved);
        if channels == 1 {
            out.extend(interleaved.iter().map(|&s| sanitize(s)));
        } else {
            let scale = 1.0 / channels as f32;
            out.extend(
                interleaved
                    .chunks_exact(channels)
                    .map(|frame| sanitize(frame.iter().sum::<f32>() * scale)),
            );
        }
        if out.len() as u64 > max_frames {
            return Err(AudioError::TooLong {
                name: name.into(),
                limit_secs: opts.max_duration.as_secs(),
            });
        }
    }

    let decoded = out.len() as u64;
    health.verdict().map_err(corrupt)?;
    // A file that ends early by more than a packet or two's worth of frames is truncated; the
    // slack covers decoders' own rounding of the declared length (MP3 gapless trimming).
    if let Some(expected) = opened.num_frames {
        let slack = opened
            .params
            .max_frames_per_packet
            .unwrap_or(1152)
            .max(1152)
            * 2;
        if truncated && decoded < expected || decoded + slack < expected {
            if decoded == 0 && expected == 0 {
                return Err(AudioError::Empty { name: name.into() });
            }
            return Err(AudioError::Truncated {
                name: name.into(),
                decoded,
                expected,
            });
        }
    }
    let Some(sample_rate) = rate.filter(|_| decoded > 0) else {
        return Err(AudioError::Empty { name: name.into() });
    };
    Ok(MonoPcm {
        sample_rate,
        samples: out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A canonical 44-byte-header 16-bit PCM WAV.
    fn wav_s16(rate: u32, channels: u16, samples: &[i16]) -> Vec<u8> {
        let data_len = (samples.len() * 2) as u32;
        let mut w = Vec::new();
        w.extend_from_slice(b"RIFF");
        w.extend_from_slice(&(36 + data_len).to_le_bytes());
        w.extend_from_slice(b"WAVEfmt ");
        w.extend_from_slice(&16u32.to_le_bytes());
        w.extend_from_slice(&1u16.to_le_bytes());
        w.extend_from_slice(&channels.to_le_bytes());
        w.extend_from_slice(&rate.to_le_bytes());
        w.extend_from_slice(&(rate * u32::from(channels) * 2).to_le_bytes());
        w.extend_from_slice(&(channels * 2).to_le_bytes());
        w.extend_from_slice(&16u16.to_le_bytes());
        w.extend_from_slice(b"data");
        w.extend_from_slice(&data_len.to_le_bytes());
        for s in samples {
            w.extend_from_slice(&s.to_le_bytes());
        }
        w
    }

    #[test]
    fn mono_16_bit_wav_decodes_exactly() {
        let samples: Vec<i16> = (0..8000)
            .map(|i| ((i % 200) * 100 - 10_000) as i16)
            .collect();
        let pcm = decode_mono(
            "t.wav",
            &wav_s16(8000, 1, &samples),
            &DecodeOptions::default(),
        )
        .expect("decodes");
        assert_eq!(pcm.sample_rate, 8000);
        let back: Vec<i16> = pcm.samples.iter().map(|s| (s * 32768.0) as i16).collect();
        assert_eq!(back, samples);
    }

    #[test]
    fn stereo_is_averaged_to_mono() {
        let samples: Vec<i16> = (0..1000).flat_map(|_| [16384i16, 0]).collect();
        let pcm = decode_mono(
            "s.wav",
            &wav_s16(8000, 2, &samples),
            &DecodeOptions::default(),
        )
        .expect("decodes");
        assert_eq!(pcm.samples.len(), 1000);
        assert!(pcm.samples.iter().all(|&s| (s - 0.25).abs() < 1e-6));
    }

    #[test]
    fn non_finite_float_samples_become_silence_or_full_scale() {
        assert_eq!(sanitize(f32::NAN), 0.0);
        assert_eq!(sanitize(f32::INFINITY), 1.0);
        assert_eq!(sanitize(-3.5), -1.0);
        assert_eq!(sanitize(0.25), 0.25);
    }

    #[test]
    fn rare_bad_packets_are_skipped_but_runs_and_majorities_are_corrupt() {
        let mut h = PacketHealth::default();
        for _ in 0..10 {
            h.good();
        }
        assert!(h.bad("x").is_ok());
        assert!(h.verdict().is_ok(), "1 of 11 bad is a glitch");
        let mut run = PacketHealth::default();
        let failed = (0..=MAX_CONSECUTIVE_BAD)
            .map(|_| run.bad("x"))
            .any(|r| r.is_err());
        assert!(failed, "a long run of bad packets is corrupt");
        let mut half = PacketHealth::default();
        for _ in 0..5 {
            half.good();
            half.bad("x").expect("not a run");
        }
        assert!(half.verdict().is_err(), "half the packets bad is corrupt");
    }

    #[test]
    fn zero_byte_file_is_empty() {
        let err = decode_mono("e.wav", &[], &DecodeOptions::default()).unwrap_err();
        assert!(matches!(err, AudioError::Empty { .. }), "{err}");
    }

    #[test]
    fn header_only_wav_is_empty() {
        let err =
            decode_mono("h.wav", &wav_s16(8000, 1, &[]), &DecodeOptions::default()).unwrap_err();
        assert!(matches!(err, AudioError::Empty { .. }), "{err}");
    }

    #[test]
    fn audio_past_the_limit_is_too_long() {
        let opts = DecodeOptions {
            max_duration: Duration::from_secs(1),
        };
        let err = decode_mono("l.wav", &wav_s16(8000, 1, &vec![0; 8000 * 2]), &opts).unwrap_err();
        assert!(
            matches!(err, AudioError::TooLong { limit_secs: 1, .. }),
            "{err}"
        );
    }

    #[test]
    fn data_chunk_cut_short_is_truncated() {
        let wav = wav_s16(8000, 1, &vec![1000; 8000]);
        let err =
            decode_mono("c.wav", &wav[..wav.len() / 2], &DecodeOptions::default()).unwrap_err();
        assert!(
            matches!(err, AudioError::Truncated { expected: 8000, .. }),
            "{err}"
        );
    }

    #[test]
    fn text_file_is_unsupported_and_named() {
        let err = decode_mono(
            "notes.txt",
            b"hello, this is not audio at all",
            &Default::default(),
        )
        .unwrap_err();
        assert!(matches!(err, AudioError::Unsupported { .. }), "{err}");
        assert!(err.to_string().starts_with("notes.txt: "), "{err}");
    }

    #[test]
    fn damaged_asf_file_is_refused_naming_the_container() {
        let mut asf = registry::ASF_HEADER_GUID.to_vec();
        asf.extend_from_slice(&[0u8; 64]);
        let err = decode_mono("hold.wma", &asf, &Default::default()).unwrap_err();
        assert!(err.to_string().starts_with("hold.wma: "), "{err}");
        assert!(err.to_string().contains("ASF/WMA"), "{err}");
    }
}
