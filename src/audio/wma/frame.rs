//! Decoding one WMA frame (`frame_len` samples per channel) from a bit position.
//!
//! A frame is a sequence of blocks whose lengths add up to the frame length. Each block:
//!
//! 1. block lengths (variable-length mode only): on the first block after a reset, the previous
//!    and current block sizes, then always the next block size, each as log2(frame/block);
//! 2. mid/side flag (stereo), one "coded" bit per channel;
//! 3. total gain: 7-bit chunks summed while a chunk is 127; it also sets the width of escaped
//!    coefficient levels;
//! 4. noise coding (low bit rates): per coded channel one bit per high band saying whether the
//!    band is replaced by noise, then the noise gains (first 7 bits − 19, then Huffman deltas);
//! 5. exponents (always on full-frame blocks, else only when a bit says they changed);
//! 6. run-level coded coefficients per coded channel (version 1 realigns to a byte after each
//!    channel in stereo);
//! 7. reconstruction: level × exponent × gain, plus noise in the low bins (version 1), in the
//!    noise-coded bands and above the last coded bin, then the mid/side butterfly;
//! 8. inverse MDCT of each channel, sine-windowed and overlap-added into the frame buffer (see
//!    `synth`).

use super::bits::Bits;
use super::exponents::{self, PowTable};
use super::params::{StreamParams, HIGH_BAND_MAX};
use super::synth::Synth;
use super::vlc::{self, Book, RunLevel};
use super::WmaError;

/// Size of the pseudo-random noise table (a power of two).
const NOISE_TABLE_SIZE: usize = 8192;

/// Per-channel state carried across blocks and frames.
struct Channel {
    coded: bool,
    /// Exponent curve of the block size it was decoded for (`exponents_bsize`).
    exponents: Vec<f32>,
    exponents_bsize: usize,
    exponents_valid: bool,
    max_exponent: f32,
    high_band_coded: [bool; HIGH_BAND_MAX],
    high_band_values: [i32; HIGH_BAND_MAX],
    /// Decoded coefficient levels, then reconstructed spectrum.
    levels: Vec<f32>,
    spectrum: Vec<f32>,
}

/// All decoding state below the superframe layer.
pub struct FrameDecoder {
    pub params: StreamParams,
    exp_book: Option<Book>,
    hgain_book: Option<Book>,
    coef: [RunLevel; 2],
    pow: PowTable,
    lsp_cos: Vec<f32>,
    noise: Vec<f32>,
    noise_index: usize,
    channels: Vec<Channel>,
    pub synth: Synth,
    /// Block sizes as log2 of the block length.
    prev_block_bits: u32,
    block_bits: u32,
    next_block_bits: u32,
    pub reset_block_lengths: bool,
    ms_stereo: bool,
}

impl FrameDecoder {
    pub fn new(params: StreamParams) -> Result<Self, WmaError> {
        let frame_len = params.frame_len;
        let t = params.coef_table;
        let channel = || Channel {
            coded: false,
            exponents: vec![0.0; frame_len],
            exponents_bsize: 0,
            exponents_valid: false,
            max_exponent: 1.0,
            high_band_coded: [false; HIGH_BAND_MAX],
            high_band_values: [0; HIGH_BAND_MAX],
            levels: vec![0.0; frame_len],
            spectrum: vec![0.0; frame_len],
        };
        // A linear congruential generator scaled to uniform noise of the right power.
        let norm =
            ((1.0 / (1u64 << 31) as f64) * 3f64.sqrt() * f64::from(params.noise_mult)) as f32;
        let mut seed = 1u32;
        let noise = (0..NOISE_TABLE_SIZE)
            .map(|_| {
                seed = seed.wrapping_mul(314_159).wrapping_add(1);
                seed as i32 as f32 * norm
            })
            .collect();
        Ok(FrameDecoder {
            exp_book: if params.use_exp_vlc {
                Some(vlc::exponent_book()?)
            } else {
                None
            },
            hgain_book: if params.use_noise_coding {
                Some(vlc::hgain_book()?)
            } else {
                None
            },
            coef: [RunLevel::new(t * 2)?, RunLevel::new(t * 2 + 1)?],
            pow: PowTable::new(),
            lsp_cos: exponents::lsp_cos_table(frame_len),
            noise,
            noise_index: 0,
            channels: (0..params.channels).map(|_| channel()).collect(),
            synth: Synth::new(&params),
            prev_block_bits: params.frame_len_bits,
            block_bits: params.frame_len_bits,
            next_block_bits: params.frame_len_bits,
            reset_block_lengths: true,
            ms_stereo: false,
            params,
        })
    }

    /// Forgets everything that depends on earlier frames (after a seek).
    pub fn reset(&mut self) {
        self.reset_block_lengths = true;
        self.synth.reset();
        for ch in &mut self.channels {
            ch.exponents_valid = false;
            ch.max_exponent = 1.0;
        }
    }

    /// Decodes one frame; the finished samples are then in `self.synth.finished(ch)`.
    pub fn decode_frame(&mut self, bits: &mut Bits<'_>) -> Result<(), WmaError> {
        let mut block_pos = 0;
        // Each block consumes at least its header bits, and the block position strictly grows,
        // so this loop ends after at most frame_len / 128 blocks.
        while block_pos < self.params.frame_len {
            block_pos = self.decode_block(bits, block_pos)?;
        }
        Ok(())
    }

    fn read_block_sizes(&mut self, bits: &mut Bits<'_>) -> Result<(), WmaError> {
        let p = &self.params;
        if !p.use_variable_block_len {
            self.prev_block_bits = p.frame_len_bits;
            self.block_bits = p.frame_len_bits;
            self.next_block_bits = p.frame_len_bits;
            return Ok(());
        }
        let width = 32 - ((p.nb_block_sizes - 1) as u32).leading_zeros();
        let width = width.max(1);
        let size = |bits: &mut Bits<'_>| -> Result<u32, WmaError> {
            let v = bits.read(width)? as usize;
            if v >= p.nb_block_sizes {
                return Err(WmaError::Corrupt {
                    what: "block size out of range",
                });
            }
            Ok(p.frame_len_bits - v as u32)
        };
        if self.reset_block_lengths {
            self.reset_block_lengths = false;
            self.prev_block_bits = size(bits)?;
            self.block_bits = size(bits)?;
        } else {
            self.prev_block_bits = self.block_bits;
            self.block_bits = self.next_block_bits;
        }
        self.next_block_bits = size(bits)?;
        Ok(())
    }

    /// Decodes the block at `block_pos`; returns the position after it.
    fn decode_block(&mut self, bits: &mut Bits<'_>, block_pos: usize) -> Result<usize, WmaError> {
        self.read_block_sizes(bits)?;
        let p = &self.params;
        let bsize = (p.frame_len_bits - self.block_bits) as usize;
        if bsize >= p.nb_block_sizes {
            return Err(WmaError::Corrupt {
                what: "block size out of range",
            });
        }
        let block_len = 1usize << self.block_bits;
        if block_pos + block_len > p.frame_len {
            return Err(WmaError::Corrupt {
                what: "blocks overrun the frame",
            });
        }
        let nch = p.channels;
        if nch == 2 {
            self.ms_stereo = bits.bit()?;
        }
        let mut any_coded = false;
        for ch in &mut self.channels {
            ch.coded = bits.bit()?;
            any_coded |= ch.coded;
        }
        if any_coded {
            self.decode_spectrum(bits, bsize, block_len)?;
        }
        if self.ms_stereo && self.channels[1].coded {
            // Mid/side: an uncoded mid channel is silence. L = M + S, R = M − S.
            let (first, second) = self.channels.split_at_mut(1);
            let (mid, side) = (&mut first[0], &mut second[0]);
            if !mid.coded {
                mid.spectrum[..block_len].fill(0.0);
                mid.coded = true;
            }
            for (m, s) in mid.spectrum[..block_len]
                .iter_mut()
                .zip(&mut side.spectrum[..block_len])
            {
                let (a, b) = (*m, *s);
                *m = a + b;
                *s = a - b;
            }
        }
        let sizes = (self.prev_block_bits, self.block_bits, self.next_block_bits);
        for (c, ch) in self.channels.iter().enumerate() {
            // With mid/side and an uncoded side channel both outputs equal the mid signal, so
            // the second channel reuses the first one's inverse transform.
            let reuse = self.ms_stereo && c == 1;
            let spectrum = ch.coded.then_some(&ch.spectrum[..block_len]);
            self.synth.add_block(c, spectrum, reuse, block_pos, sizes);
        }
        Ok(block_pos + block_len)
    }

    fn decode_spectrum(
        &mut self,
        bits: &mut Bits<'_>,
        bsize: usize,
        block_len: usize,
    ) -> Result<(), WmaError> {
        let mut total_gain = 1u32;
        loop {
            if bits.left() < 7 {
                return Err(WmaError::Truncated);
            }
            let a = bits.read(7)?;
            total_gain += a;
            if a != 127 {
                break;
            }
        }
        let coef_bits = match total_gain {
            0..15 => 13,
            15..32 => 12,
            32..40 => 11,
            40..45 => 10,
            _ => 9,
        };
        let p = &self.params;
        let full = p.coefs_end[bsize].saturating_sub(p.coefs_start);
        let high_bands = &p.exponent_high_bands[bsize];
        let mut nb_coefs = [full; 2];

        if p.use_noise_coding {
            for (c, ch) in self
                .channels
                .iter_mut()
                .enumerate()
                .filter(|(_, ch)| ch.coded)
            {
                for (i, &width) in high_bands.iter().enumerate() {
                    ch.high_band_coded[i] = bits.bit()?;
                    if ch.high_band_coded[i] {
                        nb_coefs[c] = nb_coefs[c].saturating_sub(width);
                    }
                }
            }
            let book = self.hgain_book.as_ref().ok_or(WmaError::Codebook)?;
            for ch in self.channels.iter_mut().filter(|ch| ch.coded) {
                let mut value: Option<i32> = None;
                for i in 0..high_bands.len() {
                    if ch.high_band_coded[i] {
                        let v = match value {
                            None => bits.read(7)? as i32 - 19,
                            Some(v) => v + bits.symbol(book)? as i32 - 18,
                        };
                        value = Some(v);
                        ch.high_band_values[i] = v;
                    }
                }
            }
        }

        // Exponents are always sent for full-frame blocks; shorter blocks may reuse them.
        if self.block_bits == p.frame_len_bits || bits.bit()? {
            for ch in self.channels.iter_mut().filter(|ch| ch.coded) {
                let exps = &mut ch.exponents[..block_len];
                let max = match &self.exp_book {
                    Some(book) => exponents::decode_vlc(
                        bits,
                        book,
                        &self.pow,
                        p.version,
                        &p.exponent_bands[bsize],
                        exps,
                    )?,
                    None => exponents::decode_lsp(bits, &self.lsp_cos, exps)?,
                };
                if !max.is_finite() || max <= 0.0 {
                    return Err(WmaError::Corrupt {
                        what: "exponent curve is not finite",
                    });
                }
                ch.max_exponent = max;
                ch.exponents_bsize = bsize;
                ch.exponents_valid = true;
            }
        }
        if self
            .channels
            .iter()
            .any(|ch| ch.coded && !ch.exponents_valid)
        {
            return Err(WmaError::Corrupt {
                what: "block reuses exponents never sent",
            });
        }

        let ms = self.ms_stereo;
        for (c, &count) in nb_coefs.iter().enumerate().take(p.channels) {
            if self.channels[c].coded {
                // The side channel of a mid/side pair has its own, lower-energy code.
                let table = &self.coef[usize::from(c == 1 && ms)];
                let levels = &mut self.channels[c].levels[..block_len];
                levels.fill(0.0);
                decode_run_level(bits, table, levels, count, p.frame_len_bits, coef_bits)?;
            }
            if p.version == 1 && p.channels >= 2 {
                bits.align();
            }
        }

        for (c, &count) in nb_coefs.iter().enumerate().take(p.channels) {
            if self.channels[c].coded {
                self.reconstruct(c, bsize, block_len, total_gain, count);
            }
        }
        Ok(())
    }

    /// Turns levels and exponents into MDCT coefficients, substituting noise where the stream
    /// says so.
    fn reconstruct(&mut self, c: usize, bsize: usize, block_len: usize, gain: u32, nb: usize) {
        let p = &self.params;
        let noise = &self.noise;
        let ch = &mut self.channels[c];
        let esize = ch.exponents_bsize;
        // Exponents may come from a longer block: bin i of this block maps to bin
        // (i << bsize) >> esize of the exponent curve.
        let exps = &ch.exponents;
        let e = |pos: usize| exps.get(pos).copied().unwrap_or(0.0);
        let scale = |i: usize| (i << bsize) >> esize;
        let n4 = block_len / 2;
        let mut mdct_norm = (1.0 / n4 as f64) as f32;
        if p.version == 1 {
            mdct_norm = (f64::from(mdct_norm) * (n4 as f64).sqrt()) as f32;
        }
        let mut mult = (10f64.powf(f64::from(gain) * 0.05) / f64::from(ch.max_exponent)) as f32;
        mult *= mdct_norm;
        let out = &mut ch.spectrum[..block_len];
        let levels = &ch.levels[..block_len];
        let mut idx = self.noise_index;
        let mut next_noise = || {
            let v = noise[idx];
            idx = (idx + 1) & (NOISE_TABLE_SIZE - 1);
            v
        };

        if !p.use_noise_coding {
            out.fill(0.0);
            let start = p.coefs_start.min(block_len);
            for (i, &l) in levels.iter().take(nb.min(block_len - start)).enumerate() {
                out[start + i] = l * e(scale(i)) * mult;
            }
            return;
        }

        let mut k = 0; // output bin
                       // Version 1: the lowest bins are pure noise.
        while k < p.coefs_start.min(block_len) {
            out[k] = next_noise() * e(scale(k)) * mult;
            k += 1;
        }
        let high_bands = &p.exponent_high_bands[bsize];
        let high_start = p.high_band_start[bsize];
        // Power of the exponent curve over each noise band, relative to the last one.
        let mut power = [0f32; HIGH_BAND_MAX];
        let mut last_band = 0;
        let mut epos = scale(high_start);
        for (j, &n) in high_bands.iter().enumerate() {
            if ch.high_band_coded[j] {
                let e2: f32 = (0..n)
                    .map(|i| e(epos + scale(i)) * e(epos + scale(i)))
                    .sum();
                power[j] = e2 / n as f32;
                last_band = j;
            }
            epos += scale(n);
        }
        let mut epos = scale(p.coefs_start);
        let mut li = 0; // next decoded level
        for j in 0..=high_bands.len() {
            let (n, noise_band) = if j == 0 {
                (high_start.saturating_sub(p.coefs_start), false)
            } else {
                (high_bands[j - 1], ch.high_band_coded[j - 1])
            };
            if noise_band {
                let mut m = (f64::from(power[j - 1] / power[last_band]).sqrt()) as f32;
                m = (f64::from(m) * 10f64.powf(f64::from(ch.high_band_values[j - 1]) * 0.05))
                    as f32;
                m /= ch.max_exponent * p.noise_mult;
                m *= mdct_norm;
                for i in 0..n {
                    if k < block_len {
                        out[k] = next_noise() * e(epos + scale(i)) * m;
                        k += 1;
                    }
                }
            } else {
                for i in 0..n {
                    let l = levels.get(li).copied().unwrap_or(0.0);
                    li += 1;
                    if k < block_len {
                        out[k] = (l + next_noise()) * e(epos + scale(i)) * mult;
                        k += 1;
                    }
                }
            }
            epos += scale(n);
        }
        // Above the last coded bin: noise at the level of the last exponent.
        let last_e = e(epos.wrapping_add_signed((-(1isize << bsize)) >> esize));
        let m = mult * last_e;
        let tail = block_len.saturating_sub(p.coefs_end[bsize]);
        for _ in 0..tail {
            if k < block_len {
                out[k] = next_noise() * m;
                k += 1;
            }
        }
        out[k..].fill(0.0);
        self.noise_index = idx;
    }
}

/// Run-level decoding of `count` coefficients into `out` (zeroed by the caller). Symbol 1 ends
/// the block early; symbol 0 escapes to a raw level (`coef_bits` wide) and a raw run
/// (`frame_len_bits` wide). Positions wrap modulo the block length, as the format specifies.
fn decode_run_level(
    bits: &mut Bits<'_>,
    table: &RunLevel,
    out: &mut [f32],
    count: usize,
    frame_len_bits: u32,
    coef_bits: u32,
) -> Result<(), WmaError> {
    let mask = out.len() - 1;
    let mut offset = 0usize;
    while offset < count {
        let code = bits.symbol(&table.book)?;
        let level = match code {
            1 => break,
            0 => {
                let level = bits.read(coef_bits)? as f32;
                offset += bits.read(frame_len_bits)? as usize;
                level
            }
            _ => {
                offset += usize::from(table.run[code]);
                table.level[code]
            }
        };
        // Sign bit: 1 = positive, 0 = negative.
        let positive = bits.bit()?;
        out[offset & mask] = if positive { level } else { -level };
        offset += 1;
    }
    if offset > count {
        return Err(WmaError::Corrupt {
            what: "coefficient run past the block",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes (value, width) pairs MSB first.
    fn pack(fields: &[(u32, u32)]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut n = 0;
        for &(v, w) in fields {
            for i in (0..w).rev() {
                if n % 8 == 0 {
                    out.push(0);
                }
                if (v >> i) & 1 == 1 {
                    *out.last_mut().unwrap() |= 0x80 >> (n % 8);
                }
                n += 1;
            }
        }
        out.extend_from_slice(&[0; 8]);
        out
    }

    #[test]
    fn run_level_escape_places_raw_level_after_raw_run() {
        let table = RunLevel::new(0).unwrap();
        let (esc, esc_len) = (COEF0_ESCAPE.0, COEF0_ESCAPE.1);
        let (eob, eob_len) = (COEF0_EOB.0, COEF0_EOB.1);
        // escape: level 5 (9 bits), run 3 (11 bits), sign 0 (negative); then end of block.
        let data = pack(&[(esc, esc_len), (5, 9), (3, 11), (0, 1), (eob, eob_len)]);
        let mut bits = Bits::new(&data, 0).unwrap();
        let mut out = vec![0f32; 16];
        decode_run_level(&mut bits, &table, &mut out, 16, 11, 9).unwrap();
        assert_eq!(out[3], -5.0);
        assert_eq!(out.iter().filter(|v| **v != 0.0).count(), 1);
    }

    #[test]
    fn run_level_past_the_block_is_an_error() {
        let table = RunLevel::new(0).unwrap();
        let (esc, esc_len) = (COEF0_ESCAPE.0, COEF0_ESCAPE.1);
        let data = pack(&[(esc, esc_len), (5, 9), (40, 11), (1, 1)]);
        let mut bits = Bits::new(&data, 0).unwrap();
        let mut out = vec![0f32; 16];
        let err = decode_run_level(&mut bits, &table, &mut out, 16, 11, 9).unwrap_err();
        assert!(matches!(err, WmaError::Corrupt { .. }));
    }

    const COEF0_ESCAPE: (u32, u32) = (
        super::super::coef_tables::COEF0_CODES[0],
        super::super::coef_tables::COEF0_BITS[0] as u32,
    );
    const COEF0_EOB: (u32, u32) = (
        super::super::coef_tables::COEF0_CODES[1],
        super::super::coef_tables::COEF0_BITS[1] as u32,
    );
}
