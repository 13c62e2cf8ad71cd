//! Spectral envelope ("exponents") of a block, in its two coded forms.
//!
//! The envelope is a per-bin scale applied to the decoded coefficient levels. It is sent either
//!
//! - Huffman-coded (`flags2` bit 0): one value per exponent band, as a delta in 1/16-decade
//!   steps (10^(e/16)) from the previous band. Version 1 sends the first band's exponent as 5
//!   raw bits + 10; version 2 starts the deltas from 36. Valid exponents are −60..=95.
//! - as 10 line-spectral-pair coefficients (LSP, as in speech codecs and Vorbis floor 0), each
//!   a 3- or 4-bit index into a fixed codebook; the envelope is |A(e^jw)|^(-1/2) evaluated on
//!   the block's bins, i.e. (P² (2 − w) + Q² (2 + w))^(−1/4) with w = 2 cos(πi / frame_len).
//!
//! Both return the envelope's maximum, which normalises the global gain.

use super::bits::Bits;
use super::tables::LSP_CODEBOOK;
use super::vlc::Book;
use super::WmaError;

/// Lowest and highest exponent (in 1/16 decade) the format allows.
const EXP_MIN: i32 = -60;
const EXP_MAX: i32 = 95;

/// Precomputed 10^(e/16) for every legal exponent.
pub struct PowTable([f32; (EXP_MAX - EXP_MIN + 1) as usize]);

impl PowTable {
    pub fn new() -> Self {
        let mut t = [0f32; (EXP_MAX - EXP_MIN + 1) as usize];
        for (i, v) in t.iter_mut().enumerate() {
            *v = 10f64.powf((i as i32 + EXP_MIN) as f64 / 16.0) as f32;
        }
        PowTable(t)
    }

    fn get(&self, e: i32) -> Result<f32, WmaError> {
        if !(EXP_MIN..=EXP_MAX).contains(&e) {
            return Err(WmaError::Corrupt {
                what: "exponent out of range",
            });
        }
        Ok(self.0[(e - EXP_MIN) as usize])
    }
}

/// Decodes Huffman-coded exponents into `out` (one value per bin of the block), band by band.
pub fn decode_vlc(
    bits: &mut Bits<'_>,
    book: &Book,
    pow: &PowTable,
    version: u8,
    bands: &[usize],
    out: &mut [f32],
) -> Result<f32, WmaError> {
    let mut bands = bands.iter();
    let mut pos = 0;
    let mut max = 0f32;
    let mut last = 36;
    if version == 1 {
        last = bits.read(5)? as i32 + 10;
        let v = pow.get(last)?;
        max = v;
        let width = *bands.next().ok_or(WmaError::Corrupt {
            what: "no exponent bands",
        })?;
        pos = fill(out, pos, width, v);
    }
    while pos < out.len() {
        let width = *bands.next().ok_or(WmaError::Corrupt {
            what: "exponent bands exhausted",
        })?;
        last += bits.symbol(book)? as i32 - 60;
        let v = pow.get(last)?;
        max = max.max(v);
        pos = fill(out, pos, width, v);
    }
    Ok(max)
}

fn fill(out: &mut [f32], pos: usize, width: usize, v: f32) -> usize {
    let end = (pos + width).min(out.len());
    out[pos..end].fill(v);
    end
}

/// 2·cos(πi/frame_len) for the LSP evaluation.
pub fn lsp_cos_table(frame_len: usize) -> Vec<f32> {
    let step = std::f64::consts::PI / frame_len as f64;
    (0..frame_len)
        .map(|i| (2.0 * (step * i as f64).cos()) as f32)
        .collect()
}

/// Decodes LSP-coded exponents into `out` (length = block length).
pub fn decode_lsp(bits: &mut Bits<'_>, cos: &[f32], out: &mut [f32]) -> Result<f32, WmaError> {
    let mut lsp = [0f32; 10];
    for (i, c) in lsp.iter_mut().enumerate() {
        // Coefficients 0, 8 and 9 have 8-entry codebooks, the others 16.
        let width = if i == 0 || i >= 8 { 3 } else { 4 };
        *c = LSP_CODEBOOK[i][bits.read(width)? as usize];
    }
    let mut max = 0f32;
    for (v, &w) in out.iter_mut().zip(cos) {
        let (mut p, mut q) = (0.5f32, 0.5f32);
        for pair in lsp.chunks_exact(2) {
            q *= w - pair[0];
            p *= w - pair[1];
        }
        p = p * p * (2.0 - w);
        q = q * q * (2.0 + w);
        *v = (p + q).powf(-0.25);
        max = max.max(*v);
    }
    Ok(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pow_table_spans_the_legal_range() {
        let t = PowTable::new();
        assert!((t.get(0).unwrap() - 1.0).abs() < 1e-6);
        assert!((t.get(16).unwrap() - 10.0).abs() < 1e-4);
        assert!(t.get(96).is_err());
        assert!(t.get(-61).is_err());
    }

    #[test]
    fn lsp_envelope_is_positive_and_bounded() {
        let cos = lsp_cos_table(512);
        let data = [0x5au8; 8];
        let mut bits = Bits::new(&data, 0).unwrap();
        let mut out = vec![0f32; 512];
        let max = decode_lsp(&mut bits, &cos, &mut out).unwrap();
        assert!(out.iter().all(|v| v.is_finite() && *v > 0.0));
        assert_eq!(max, out.iter().cloned().fold(0.0, f32::max));
        assert_eq!(bits.consumed(), 3 + 7 * 4 + 2 * 3);
    }
}
