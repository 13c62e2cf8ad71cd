//! Stream parameters of a WMA v1/v2 stream, derived once from its WAVEFORMATEX.
//!
//! Nothing in the WMA bitstream says how long a frame is, where the exponent bands lie or which
//! coefficient code is in use: both ends derive them from the sample rate, channel count, bit
//! rate and the `flags2` word of the codec-specific data. This module computes them:
//!
//! - frame length: 512 samples up to 16 kHz, 1024 up to 22.05 kHz (32 kHz for version 1), else
//!   2048. Blocks are the frame length divided by 1, 2, 4, … (`nb_block_sizes` of them) when
//!   variable block lengths are enabled.
//! - exponent bands per block size: hard-coded tables for the three smallest block sizes of
//!   version 2 at 22.05/32/44.1 kHz, otherwise derived from the critical-band frequencies
//!   (version 2 rounds band edges to multiples of 4, version 1 does not).
//! - bits per sample (`bps`) decides whether noise coding is used, where the "high" (noise
//!   substitutable) bands start, and which pair of run-level coefficient codes is used.
//! - `flags2`: bit 0 exponents are Huffman-coded (else LSP), bit 1 bit reservoir (superframes),
//!   bit 2 variable block lengths, bits 3–4 extra block sizes.

use super::tables::{
    CRITICAL_FREQS, EXPONENT_BANDS_22050, EXPONENT_BANDS_32000, EXPONENT_BANDS_44100,
};
use super::WmaError;

/// Smallest block is 2^7 = 128 samples.
pub const BLOCK_MIN_BITS: u32 = 7;
/// Largest frame is 2^11 = 2048 samples.
pub const BLOCK_MAX_BITS: u32 = 11;
/// At most this many noise-coded ("high") bands per block.
pub const HIGH_BAND_MAX: usize = 16;

/// Everything fixed for the lifetime of a stream.
#[derive(Debug, Clone)]
pub struct StreamParams {
    pub version: u8,
    pub channels: usize,
    pub sample_rate: u32,
    pub block_align: usize,
    pub use_exp_vlc: bool,
    pub use_bit_reservoir: bool,
    pub use_variable_block_len: bool,
    pub use_noise_coding: bool,
    pub frame_len_bits: u32,
    pub frame_len: usize,
    pub nb_block_sizes: usize,
    /// Width of the superframe's "bit offset" field, minus 3.
    pub byte_offset_bits: u32,
    /// First coded coefficient: version 1 leaves the 3 lowest bins to noise.
    pub coefs_start: usize,
    /// Per block size (index = frame_len_bits - block_len_bits):
    pub exponent_bands: Vec<Vec<usize>>,
    pub coefs_end: Vec<usize>,
    pub high_band_start: Vec<usize>,
    pub exponent_high_bands: Vec<Vec<usize>>,
    /// Noise amplitude relative to the exponent curve.
    pub noise_mult: f32,
    /// Which of the three coefficient-code pairs is used.
    pub coef_table: usize,
}

/// Reads WAVEFORMATEX (as handed over by the ASF reader in `extra_data`) and derives the
/// stream parameters.
pub fn from_waveformatex(wfx: &[u8]) -> Result<StreamParams, WmaError> {
    if wfx.len() < 18 {
        return Err(WmaError::BadParams {
            what: "WAVEFORMATEX shorter than 18 bytes",
        });
    }
    let le16 = |at: usize| u16::from_le_bytes([wfx[at], wfx[at + 1]]);
    let le32 = |at: usize| u32::from_le_bytes([wfx[at], wfx[at + 1], wfx[at + 2], wfx[at + 3]]);
    let tag = le16(0);
    let channels = usize::from(le16(2));
    let sample_rate = le32(4);
    let bit_rate = u64::from(le32(8)) * 8;
    let block_align = usize::from(le16(12));
    let cb = usize::from(le16(16)).min(wfx.len() - 18);
    let extra = &wfx[18..18 + cb];
    let version = match tag {
        0x0160 => 1,
        0x0161 => 2,
        _ => {
            return Err(WmaError::BadParams {
                what: "codec tag is not WMA v1 or v2",
            })
        }
    };
    // The flags word sits at a different offset in the two versions' codec-specific data.
    let flags2 = match (version, extra.len()) {
        (1, n) if n >= 4 => u16::from_le_bytes([extra[2], extra[3]]),
        (2, n) if n >= 6 => u16::from_le_bytes([extra[4], extra[5]]),
        _ => 0,
    };
    derive(
        version,
        channels,
        sample_rate,
        bit_rate,
        block_align,
        flags2,
    )
}

/// Derives the stream parameters from the basic audio properties and `flags2`.
pub fn derive(
    version: u8,
    channels: usize,
    sample_rate: u32,
    bit_rate: u64,
    block_align: usize,
    flags2: u16,
) -> Result<StreamParams, WmaError> {
    if !(1..=2).contains(&channels) {
        return Err(WmaError::BadParams {
            what: "channel count must be 1 or 2",
        });
    }
    if sample_rate == 0 || sample_rate > 50_000 {
        return Err(WmaError::BadParams {
            what: "sample rate must be 1..=50000 Hz",
        });
    }
    if bit_rate == 0 || block_align == 0 || block_align > MAX_SUPERFRAME_BYTES {
        return Err(WmaError::BadParams {
            what: "bit rate and block size must be set",
        });
    }
    let use_exp_vlc = flags2 & 1 != 0;
    let use_bit_reservoir = flags2 & 2 != 0;
    let use_variable_block_len = flags2 & 4 != 0;

    let frame_len_bits = if sample_rate <= 16_000 {
        9
    } else if sample_rate <= 22_050 || (sample_rate <= 32_000 && version == 1) {
        10
    } else {
        11
    };
    let frame_len = 1usize << frame_len_bits;
    let nb_block_sizes = if use_variable_block_len {
        let mut nb = usize::from((flags2 >> 3) & 3) + 1;
        if bit_rate / channels as u64 >= 32_000 {
            nb += 2;
        }
        nb.min((frame_len_bits - BLOCK_MIN_BITS) as usize) + 1
    } else {
        1
    };

    // Version 2 snaps the rate to a family before choosing the noise-coding thresholds.
    let rate_class = if version == 2 {
        [44_100, 22_050, 16_000, 11_025, 8_000]
            .into_iter()
            .find(|&r| sample_rate >= r)
            .unwrap_or(sample_rate)
    } else {
        sample_rate
    };
    let bps = bit_rate as f32 / (channels as f32 * sample_rate as f32);
    let byte_offset_bits = ilog2((bps * frame_len as f32 / 8.0 + 0.5) as u32) + 2;
    if byte_offset_bits + 3 > 25 {
        return Err(WmaError::BadParams {
            what: "bit rate too high for the frame size",
        });
    }

    // Above these bits-per-sample thresholds the whole spectrum is coded; below them the top of
    // the spectrum may be replaced by shaped noise.
    let bps1 = if channels == 2 { bps * 1.6 } else { bps };
    let mut use_noise_coding = true;
    let mut high_freq = sample_rate as f32 * 0.5;
    match rate_class {
        44_100 if bps1 >= 0.61 => use_noise_coding = false,
        44_100 => high_freq *= 0.4,
        22_050 if bps1 >= 1.16 => use_noise_coding = false,
        22_050 if bps1 >= 0.72 => high_freq *= 0.7,
        22_050 => high_freq *= 0.6,
        16_000 if bps > 0.5 => high_freq *= 0.5,
        16_000 => high_freq *= 0.3,
        11_025 => high_freq *= 0.7,
        8_000 if bps <= 0.625 => high_freq *= 0.5,
        8_000 if bps > 0.75 => use_noise_coding = false,
        8_000 => high_freq *= 0.65,
        _ if bps >= 0.8 => high_freq *= 0.75,
        _ if bps >= 0.6 => high_freq *= 0.6,
        _ => high_freq *= 0.5,
    }

    let coefs_start = if version == 1 { 3 } else { 0 };
    let mut exponent_bands = Vec::new();
    let mut coefs_end = Vec::new();
    let mut high_band_start = Vec::new();
    let mut exponent_high_bands = Vec::new();
    for k in 0..nb_block_sizes {
        let block_len = frame_len >> k;
        let bands = exponent_band_layout(version, sample_rate, frame_len_bits, k, block_len);
        let end = (frame_len - frame_len * 9 / 100) >> k;
        let start =
            (f64::from(block_len as f32 * 2.0 * high_freq / sample_rate as f32) + 0.5) as usize;
        // The high bands are the exponent bands clipped to [high_band_start, coefs_end).
        let mut high = Vec::new();
        let mut pos = 0;
        for &b in &bands {
            let (lo, hi) = (pos.max(start), (pos + b).min(end));
            pos += b;
            if hi > lo {
                high.push(hi - lo);
            }
        }
        if high.len() > HIGH_BAND_MAX {
            return Err(WmaError::BadParams {
                what: "too many noise bands",
            });
        }
        exponent_bands.push(bands);
        coefs_end.push(end);
        high_band_start.push(start);
        exponent_high_bands.push(high);
    }

    let coef_table = match sample_rate {
        r if r >= 32_000 && bps1 < 0.72 => 0,
        r if r >= 32_000 && bps1 < 1.16 => 1,
        _ => 2,
    };
    Ok(StreamParams {
        version,
        channels,
        sample_rate,
        block_align,
        use_exp_vlc,
        use_bit_reservoir,
        use_variable_block_len,
        use_noise_coding,
        frame_len_bits,
        frame_len,
        nb_block_sizes,
        byte_offset_bits,
        coefs_start,
        exponent_bands,
        coefs_end,
        high_band_start,
        exponent_high_bands,
        noise_mult: if use_exp_vlc { 0.02 } else { 0.04 },
        coef_table,
    })
}

/// Largest superframe (`nBlockAlign`) accepted.
pub const MAX_SUPERFRAME_BYTES: usize = 32_768;

/// floor(log2(v)), with log2(0) taken as 0.
fn ilog2(v: u32) -> u32 {
    if v == 0 {
        0
    } else {
        31 - v.leading_zeros()
    }
}

/// Exponent band widths for block size index `k` (block length `block_len`).
fn exponent_band_layout(
    version: u8,
    sample_rate: u32,
    frame_len_bits: u32,
    k: usize,
    block_len: usize,
) -> Vec<usize> {
    let rate = sample_rate as usize;
    if version == 1 {
        // Band edges at the critical frequencies, rounded to the nearest bin.
        let mut bands = Vec::new();
        let mut last = 0;
        for &f in &CRITICAL_FREQS {
            let pos = ((block_len * 2 * usize::from(f) + rate / 2) / rate).min(block_len);
            bands.push(pos - last);
            if pos >= block_len {
                break;
            }
            last = pos;
        }
        return bands;
    }
    let class = (frame_len_bits - BLOCK_MIN_BITS) as usize;
    if let Some(row) = class.checked_sub(k).filter(|&a| a < 3) {
        let table = if sample_rate >= 44_100 {
            Some(&EXPONENT_BANDS_44100)
        } else if sample_rate >= 32_000 {
            Some(&EXPONENT_BANDS_32000)
        } else if sample_rate >= 22_050 {
            Some(&EXPONENT_BANDS_22050)
        } else {
            None
        };
        if let Some(table) = table {
            return table[row][1..].iter().map(|&b| usize::from(b)).collect();
        }
    }
    // Critical-band edges rounded to multiples of 4 bins; empty bands are dropped.
    let mut bands = Vec::new();
    let mut last = 0;
    for &f in &CRITICAL_FREQS {
        let pos = (((block_len * 2 * usize::from(f) + rate * 2) / (4 * rate)) << 2).min(block_len);
        if pos > last {
            bands.push(pos - last);
        }
        if pos >= block_len {
            break;
        }
        last = pos;
    }
    bands
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_44k_stereo_128k_has_full_band_coding() {
        let p = derive(2, 2, 44_100, 128_000, 743, 1).unwrap();
        assert_eq!(p.frame_len, 2048);
        assert_eq!(p.nb_block_sizes, 1);
        assert!(!p.use_noise_coding);
        assert_eq!(p.coef_table, 2);
        assert_eq!(p.exponent_bands[0].iter().sum::<usize>(), 2048);
    }

    #[test]
    fn v2_hardcoded_band_tables_cover_small_blocks() {
        let p = derive(2, 1, 44_100, 64_000, 1000, 0x1f).unwrap();
        assert_eq!(p.nb_block_sizes, 5);
        for (k, bands) in p.exponent_bands.iter().enumerate() {
            assert_eq!(bands.iter().sum::<usize>(), 2048 >> k, "block size {k}");
        }
    }

    #[test]
    fn v1_low_rate_uses_noise_coding_and_skips_three_bins() {
        let p = derive(1, 1, 22_050, 16_000, 200, 1).unwrap();
        assert_eq!(p.frame_len, 1024);
        assert!(p.use_noise_coding);
        assert_eq!(p.coefs_start, 3);
        assert!(!p.exponent_high_bands[0].is_empty());
    }

    #[test]
    fn impossible_parameters_are_rejected() {
        assert!(derive(2, 3, 44_100, 128_000, 743, 1).is_err());
        assert!(derive(2, 2, 96_000, 128_000, 743, 1).is_err());
        assert!(derive(2, 2, 44_100, 0, 743, 1).is_err());
        assert!(from_waveformatex(&[0; 10]).is_err());
    }
}
