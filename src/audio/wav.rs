//! Write 8 kHz mono G.711 WAV files (WAVE_FORMAT_MULAW 7 / WAVE_FORMAT_ALAW 6), and 8 kHz
//! mono 16-bit PCM ones (a prompt as the admin API serves it).
//!
//! hound cannot write G.711, so the RIFF header is ours. Layout per the Microsoft RIFF/WAVE
//! "Multimedia Programming Interface and Data Specifications 1.0" and its 1994 update for
//! non-PCM formats: a `fmt ` chunk of 18 bytes (WAVEFORMATEX with `cbSize` = 0), a `fact` chunk
//! holding the sample count (required for every non-PCM format), then `data`, padded to an even
//! length as every RIFF chunk is.
//!
//! This module does not read WAV files; symphonia does that (`audio::decode`).

use crate::audio::g711::Law;
use crate::audio::resample::TARGET_RATE;

/// The WAVE format tag for `law` (mmreg.h: WAVE_FORMAT_ALAW = 6, WAVE_FORMAT_MULAW = 7).
pub const fn format_tag(law: Law) -> u16 {
    match law {
        Law::Alaw => 6,
        Law::Ulaw => 7,
    }
}

/// A complete WAV file holding `data` (G.711 codes in `law`) at 8 kHz mono.
pub fn g711_wav(law: Law, data: &[u8]) -> Vec<u8> {
    let data_len = data.len() as u32;
    let pad = data.len() % 2;
    // "WAVE" + fmt (8 + 18) + fact (8 + 4) + data header (8) + data + pad.
    let riff_len = 4 + 26 + 12 + 8 + data_len + pad as u32;
    let mut w = Vec::with_capacity(8 + riff_len as usize);
    w.extend_from_slice(b"RIFF");
    w.extend_from_slice(&riff_len.to_le_bytes());
    w.extend_from_slice(b"WAVE");

    w.extend_from_slice(b"fmt ");
    w.extend_from_slice(&18u32.to_le_bytes());
    w.extend_from_slice(&format_tag(law).to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes()); // channels
    w.extend_from_slice(&TARGET_RATE.to_le_bytes()); // samples per second
    w.extend_from_slice(&TARGET_RATE.to_le_bytes()); // bytes per second: one byte a sample
    w.extend_from_slice(&1u16.to_le_bytes()); // block align
    w.extend_from_slice(&8u16.to_le_bytes()); // bits per sample
    w.extend_from_slice(&0u16.to_le_bytes()); // cbSize: no extra format bytes

    w.extend_from_slice(b"fact");
    w.extend_from_slice(&4u32.to_le_bytes());
    w.extend_from_slice(&data_len.to_le_bytes()); // sample frames

    w.extend_from_slice(b"data");
    w.extend_from_slice(&data_len.to_le_bytes());
    w.extend_from_slice(data);
    if pad == 1 {
        w.push(0);
    }
    w
}

/// A complete 8 kHz mono 16-bit PCM WAV (WAVE_FORMAT_PCM 1) holding `samples`: what the admin
/// API serves as a prompt's audio, readable by any player.
pub fn pcm16_wav(samples: &[i16]) -> Vec<u8> {
    let data_len = (samples.len() * 2) as u32;
    let mut w = Vec::with_capacity(44 + samples.len() * 2);
    w.extend_from_slice(b"RIFF");
    w.extend_from_slice(&(36 + data_len).to_le_bytes());
    w.extend_from_slice(b"WAVE");
    w.extend_from_slice(b"fmt ");
    w.extend_from_slice(&16u32.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes()); // PCM
    w.extend_from_slice(&1u16.to_le_bytes()); // channels
    w.extend_from_slice(&TARGET_RATE.to_le_bytes());
    w.extend_from_slice(&(TARGET_RATE * 2).to_le_bytes()); // bytes per second
    w.extend_from_slice(&2u16.to_le_bytes()); // block align
    w.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    w.extend_from_slice(b"data");
    w.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        w.extend_from_slice(&s.to_le_bytes());
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::decode::{decode_mono, DecodeOptions};

    #[test]
    fn header_fields_are_in_place() {
        let w = g711_wav(Law::Alaw, &[0xD5; 3]);
        assert_eq!(&w[0..4], b"RIFF");
        assert_eq!(
            u32::from_le_bytes([w[4], w[5], w[6], w[7]]) as usize,
            w.len() - 8
        );
        assert_eq!(&w[8..16], b"WAVEfmt ");
        assert_eq!(u16::from_le_bytes([w[20], w[21]]), 6);
        assert_eq!(&w[38..42], b"fact");
        assert_eq!(&w[50..54], b"data");
        assert_eq!(u32::from_le_bytes([w[54], w[55], w[56], w[57]]), 3);
        assert_eq!(w.len() % 2, 0, "odd data is padded");
    }

    #[test]
    fn written_files_decode_back_to_the_same_samples() {
        for law in [Law::Ulaw, Law::Alaw] {
            let codes: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
            let pcm = decode_mono("x.wav", &g711_wav(law, &codes), &DecodeOptions::default())
                .expect("symphonia reads our header");
            assert_eq!(pcm.sample_rate, 8000);
            let back: Vec<i16> = pcm.samples.iter().map(|s| (s * 32768.0) as i16).collect();
            let expect: Vec<i16> = codes.iter().map(|&c| law.decode(c)).collect();
            assert_eq!(back, expect, "{law}");
        }
    }
}
