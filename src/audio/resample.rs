//! Resample mono PCM to the 8 kHz G.711 rate with rubato's FFT resampler.
//!
//! Prompts are whole files decoded offline, so we use rubato's synchronous `Fft` resampler and
//! `process_all`, which runs the clip through in one call, trims the filter's start-up delay and
//! returns exactly `ceil(len · 8000 / rate)` frames. The FFT block is sized to about 4,096 input
//! frames (rounded to a multiple of the rate pair's minimum block) so the anti-aliasing filter is
//! steep: everything above 4 kHz must go before G.711 sampling at 8 kHz.
//!
//! This module does not decode or encode; see `audio::decode` and `audio::prompt`.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler, WindowFunction};

use crate::audio::decode::MonoPcm;
use crate::audio::error::AudioError;

/// The G.711 sample rate (ITU-T G.711 §1: 8,000 samples per second).
pub const TARGET_RATE: u32 = 8_000;

/// Input frames per FFT block, as a target: about 0.1 s at 44.1 kHz, a sharp low-pass.
const BLOCK_TARGET: usize = 4_096;

/// Input frames per FFT block for `rate`: a multiple of the rate pair's minimum block (rubato
/// requires it) near [`BLOCK_TARGET`], chosen so the output block is even. rubato trims
/// `fft_size_out / 2` frames of start-up delay; with an odd output block (48 kHz → 8 kHz and
/// 4,096 gives 683) the true delay is a half frame more, and the whole output would lead the input
/// by half a sample: a 1 kHz tone then differs from a correct conversion by ~8 dB SNR.
fn block_len(rate: usize) -> usize {
    let target = TARGET_RATE as usize;
    let gcd = gcd(rate, target);
    let (min_in, min_out) = (rate / gcd, target / gcd);
    let mut blocks = BLOCK_TARGET.div_ceil(min_in).max(1);
    if blocks * min_out % 2 == 1 {
        blocks += 1;
    }
    blocks * min_in
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Resample `pcm` to 8 kHz. A source already at 8 kHz passes through untouched.
pub fn resample_to_8k(name: &str, pcm: MonoPcm) -> Result<Vec<f32>, AudioError> {
    if pcm.sample_rate == TARGET_RATE {
        return Ok(pcm.samples);
    }
    let err = |reason: String| AudioError::Resample {
        name: name.into(),
        from_hz: pcm.sample_rate,
        reason,
    };
    let len = pcm.samples.len();
    let mut resampler = Fft::<f32>::new_custom(
        pcm.sample_rate as usize,
        TARGET_RATE as usize,
        block_len(pcm.sample_rate as usize),
        1,
        1,
        WindowFunction::BlackmanHarris2,
        FixedSync::Input,
    )
    .map_err(|e| err(e.to_string()))?;
    let input = InterleavedSlice::new(&pcm.samples, 1, len).map_err(|e| err(e.to_string()))?;
    let output = resampler
        .process_all(&input, len, None)
        .map_err(|e| err(e.to_string()))?;
    Ok(output.take_data())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(rate: u32, hz: f32, secs: f32) -> MonoPcm {
        let n = (rate as f32 * secs) as usize;
        let samples = (0..n)
            .map(|i| 0.5 * (std::f32::consts::TAU * hz * i as f32 / rate as f32).sin())
            .collect();
        MonoPcm {
            sample_rate: rate,
            samples,
        }
    }

    fn rms(x: &[f32]) -> f32 {
        (x.iter().map(|s| s * s).sum::<f32>() / x.len() as f32).sqrt()
    }

    #[test]
    fn output_length_follows_the_rate_ratio() {
        for rate in [11_025, 16_000, 22_050, 44_100, 48_000] {
            let out = resample_to_8k("t", tone(rate, 1000.0, 1.5)).expect("resamples");
            assert_eq!(out.len(), 12_000, "from {rate} Hz");
        }
    }

    #[test]
    fn passband_tone_keeps_its_level() {
        let out = resample_to_8k("t", tone(48_000, 1000.0, 1.0)).expect("resamples");
        let level = rms(&out[800..7200]);
        assert!((level - 0.5 / 2f32.sqrt()).abs() < 0.01, "rms {level}");
    }

    #[test]
    fn tone_above_4_khz_is_removed_not_aliased() {
        let out = resample_to_8k("t", tone(48_000, 6000.0, 1.0)).expect("resamples");
        let level = rms(&out[800..7200]);
        assert!(level < 0.001, "6 kHz leaked through at rms {level}");
    }

    /// Phase of a 1 kHz tone in the output, in output samples (0 = aligned with the input).
    fn phase_offset(out: &[f32]) -> f64 {
        let (mut s, mut c) = (0.0f64, 0.0f64);
        for (i, &x) in out.iter().enumerate().take(6000).skip(2000) {
            let ph = std::f64::consts::TAU * 1000.0 * i as f64 / 8000.0;
            s += f64::from(x) * ph.sin();
            c += f64::from(x) * ph.cos();
        }
        c.atan2(s) / std::f64::consts::TAU * 8.0
    }

    #[test]
    fn output_is_time_aligned_with_the_input_at_every_rate() {
        for rate in [
            11_025, 12_000, 16_000, 22_050, 24_000, 32_000, 44_100, 48_000, 96_000,
        ] {
            let out = resample_to_8k("t", tone(rate, 1000.0, 1.0)).expect("resamples");
            let offset = phase_offset(&out);
            assert!(
                offset.abs() < 0.01,
                "{rate} Hz: output off by {offset:.3} samples"
            );
        }
    }

    #[test]
    fn eight_khz_input_passes_through() {
        let pcm = tone(8000, 440.0, 0.1);
        let copy = pcm.samples.clone();
        assert_eq!(resample_to_8k("t", pcm).expect("passes"), copy);
    }
}
