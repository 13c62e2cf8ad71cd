//! A prompt ready to play: 8 kHz audio encoded once in both G.711 laws, shared as `Arc<[u8]>`.
//!
//! DESIGN.md §2 (media plane): a playing stream is a cursor into these bytes, so an RTP packet is
//! a 12-byte header plus a 160-byte slice. The encoded length is padded with the law's silence
//! code to a whole 20 ms frame (160 samples) so every slice is a full packet and a looped prompt
//! wraps on a frame boundary.
//!
//! This module does not cache or read files; see `audio::cache` and `audio::media`.

use std::sync::Arc;
use std::time::Duration;

use crate::audio::decode::{decode_mono, guarded, DecodeOptions};
use crate::audio::error::AudioError;
use crate::audio::g711::Law;
use crate::audio::resample::{resample_to_8k, TARGET_RATE};

/// Samples per 20 ms frame at 8 kHz: one RTP packet's payload (RFC 3551 §4.5.14: G.711 ptime).
pub const FRAME_SAMPLES: usize = 160;

/// Decoded audio, in both laws, of equal length (a multiple of [`FRAME_SAMPLES`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prompt {
    pub ulaw: Arc<[u8]>,
    pub alaw: Arc<[u8]>,
    /// Playing time of the encoded bytes (including the padding to a whole frame).
    pub duration: Duration,
}

impl Prompt {
    /// The encoded bytes for `law`.
    pub fn samples(&self, law: Law) -> &Arc<[u8]> {
        match law {
            Law::Ulaw => &self.ulaw,
            Law::Alaw => &self.alaw,
        }
    }

    /// Number of 20 ms frames.
    pub fn frames(&self) -> usize {
        self.ulaw.len() / FRAME_SAMPLES
    }

    /// Encode 8 kHz samples in [-1, 1] (clamped) to both laws, padding to a whole frame.
    pub fn from_8k(samples: &[f32]) -> Prompt {
        let pcm = to_i16(samples);
        let padded = pcm.len().div_ceil(FRAME_SAMPLES) * FRAME_SAMPLES;
        let encode = |law: Law| -> Arc<[u8]> {
            let mut bytes = law.encode_all(&pcm);
            bytes.resize(padded, law.silence());
            bytes.into()
        };
        Prompt {
            ulaw: encode(Law::Ulaw),
            alaw: encode(Law::Alaw),
            duration: Duration::from_micros(padded as u64 * 1_000_000 / u64::from(TARGET_RATE)),
        }
    }
}

/// Float samples to 16-bit, clamped: resampling can overshoot full scale by a little (Gibbs),
/// which must saturate rather than wrap.
pub fn to_i16(samples: &[f32]) -> Vec<i16> {
    samples
        .iter()
        .map(|&s| {
            let s = if s.is_finite() { s } else { 0.0 };
            (s * 32768.0).round().clamp(-32768.0, 32767.0) as i16
        })
        .collect()
}

/// The whole pipeline over one file's bytes: decode, downmix, resample to 8 kHz, encode.
/// Like decoding, resampling runs under the panic guard: the file's bytes are untrusted.
pub fn decode_prompt(name: &str, bytes: &[u8], opts: &DecodeOptions) -> Result<Prompt, AudioError> {
    guarded(name, || {
        let pcm = decode_mono(name, bytes, opts)?;
        let samples = resample_to_8k(name, pcm)?;
        Ok(Prompt::from_8k(&samples))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_pads_to_a_whole_frame_with_silence() {
        let p = Prompt::from_8k(&[0.5; 161]);
        assert_eq!(p.ulaw.len(), 320);
        assert_eq!(p.alaw.len(), 320);
        assert_eq!(p.frames(), 2);
        assert_eq!(p.ulaw[161..], [0xFF; 159]);
        assert_eq!(p.alaw[161..], [0xD5; 159]);
        assert_eq!(p.duration, Duration::from_millis(40));
    }

    #[test]
    fn overshoot_saturates_instead_of_wrapping() {
        assert_eq!(
            to_i16(&[1.2, -1.7, f32::NAN, 0.5]),
            [32767, -32768, 0, 16384]
        );
    }

    #[test]
    fn both_laws_encode_the_same_samples() {
        let p = Prompt::from_8k(&[0.25; 160]);
        assert_eq!(p.samples(Law::Ulaw)[0], Law::Ulaw.encode(8192));
        assert_eq!(p.samples(Law::Alaw)[0], Law::Alaw.encode(8192));
    }
}
