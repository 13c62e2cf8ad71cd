//! Huffman codebooks of the WMA bitstream, built once per decoder with symphonia's VLC builder.
//!
//! - exponent deltas (`SCALE_*`, symbol − 60 is the delta),
//! - noise-gain deltas (`HGAIN_*`, symbol − 18 is the delta),
//! - run-level coefficient codes: symbol 0 = escape, 1 = end of block, 2.. = (level, run)
//!   pairs. `RunLevel` expands the `LEVELS` counts into per-symbol run and level tables.

use symphonia::core::io::vlc::{BitOrder, Codebook, CodebookBuilder, Entry16x32};

use super::coef_tables::*;
use super::tables::{HGAIN_BITS, HGAIN_CODES, SCALE_BITS, SCALE_CODES};
use super::WmaError;

pub type Book = Codebook<Entry16x32>;

fn build(codes: &[u32], bits: &[u8]) -> Result<Book, WmaError> {
    let values: Vec<u16> = (0..codes.len() as u16).collect();
    let mut builder = CodebookBuilder::new(BitOrder::Verbatim);
    builder.bits_per_read(8);
    builder
        .make::<Entry16x32>(codes, bits, &values)
        .map_err(|_| WmaError::Codebook)
}

pub fn exponent_book() -> Result<Book, WmaError> {
    build(&SCALE_CODES, &SCALE_BITS)
}

pub fn hgain_book() -> Result<Book, WmaError> {
    build(&HGAIN_CODES, &HGAIN_BITS)
}

/// A coefficient code with its symbol → (run, level) expansion.
pub struct RunLevel {
    pub book: Book,
    pub run: Vec<u16>,
    pub level: Vec<f32>,
}

impl RunLevel {
    /// Coefficient code `index` (0..6).
    pub fn new(index: usize) -> Result<RunLevel, WmaError> {
        let (codes, bits, levels): (&[u32], &[u8], &[u16]) = match index {
            0 => (&COEF0_CODES, &COEF0_BITS, &LEVELS0),
            1 => (&COEF1_CODES, &COEF1_BITS, &LEVELS1),
            2 => (&COEF2_CODES, &COEF2_BITS, &LEVELS2),
            3 => (&COEF3_CODES, &COEF3_BITS, &LEVELS3),
            4 => (&COEF4_CODES, &COEF4_BITS, &LEVELS4),
            _ => (&COEF5_CODES, &COEF5_BITS, &LEVELS5),
        };
        let mut run = vec![0u16; codes.len()];
        let mut level = vec![0f32; codes.len()];
        // Symbols from 2 on list, for level 1, 2, 3, …, the runs 0, 1, … levels[level - 1] - 1.
        let mut symbol = 2;
        for (l, &count) in levels.iter().enumerate() {
            for r in 0..count {
                if symbol < codes.len() {
                    run[symbol] = r;
                    level[symbol] = (l + 1) as f32;
                }
                symbol += 1;
            }
        }
        Ok(RunLevel {
            book: build(codes, bits)?,
            run,
            level,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_codebooks_build() {
        exponent_book().unwrap();
        hgain_book().unwrap();
        for i in 0..6 {
            let rl = RunLevel::new(i).unwrap();
            assert_eq!(rl.level[2], 1.0);
            assert_eq!(rl.run[2], 0);
            assert_eq!(rl.run[3], 1);
        }
    }
}
