//! G.711 μ-law and A-law companding (ITU-T G.711, 1988), our own encoders and decoders.
//!
//! The segment/quantisation arithmetic is the classic one published with the recommendation's
//! reference code (the "Sun" `g711.c`: μ-law on a 14-bit, A-law on a 13-bit two's-complement
//! input). The 16-bit sample is first rounded (half up) to that width, as sox does, and
//! `tests/audio_g711.rs` checks both laws bit-exactly against sox over all 65,536 inputs and all
//! 256 codes. Within a segment the quantiser truncates to the interval's lower decision level as
//! G.711 Tables 1/2 specify; the 16-bit decode values are the intervals' midpoints.
//!
//! This module does not do rate conversion, packetisation or silence detection.

use std::sync::OnceLock;

/// A G.711 companding law (ITU-T G.711 §2: A-law, §3: μ-law).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Law {
    /// μ-law (PCMU, RTP payload type 0), used in North America and Japan.
    Ulaw,
    /// A-law (PCMA, RTP payload type 8), used elsewhere.
    Alaw,
}

impl Law {
    /// The code of digital silence for this law: the encoding of sample 0.
    pub const fn silence(self) -> u8 {
        match self {
            Law::Ulaw => 0xFF,
            Law::Alaw => 0xD5,
        }
    }

    /// Encode one 16-bit linear sample (a lookup in a table built once from the arithmetic
    /// encoders below: a prompt encodes millions of samples).
    pub fn encode(self, sample: i16) -> u8 {
        self.table()[usize::from(sample as u16)]
    }

    /// The 64 KiB encode table of this law, indexed by the sample's bits as `u16`.
    fn table(self) -> &'static [u8; 65_536] {
        static ULAW: OnceLock<Box<[u8; 65_536]>> = OnceLock::new();
        static ALAW: OnceLock<Box<[u8; 65_536]>> = OnceLock::new();
        let (cell, encode): (_, fn(i16) -> u8) = match self {
            Law::Ulaw => (&ULAW, linear_to_ulaw),
            Law::Alaw => (&ALAW, linear_to_alaw),
        };
        cell.get_or_init(|| {
            let mut table = Box::new([0u8; 65_536]);
            for (bits, code) in table.iter_mut().enumerate() {
                *code = encode(bits as u16 as i16);
            }
            table
        })
    }

    /// Decode one code to a 16-bit linear sample.
    pub fn decode(self, code: u8) -> i16 {
        match self {
            Law::Ulaw => ulaw_to_linear(code),
            Law::Alaw => alaw_to_linear(code),
        }
    }

    /// Re-encodes a code of `self` in law `to` (PCMU ⇄ PCMA for a bridge whose legs chose
    /// different codecs): decode to linear, encode again. A table of 256 built once per pair;
    /// the same law is the identity.
    pub fn transcode(self, to: Law, code: u8) -> u8 {
        if self == to {
            return code;
        }
        static U2A: OnceLock<[u8; 256]> = OnceLock::new();
        static A2U: OnceLock<[u8; 256]> = OnceLock::new();
        let cell = match self {
            Law::Ulaw => &U2A,
            Law::Alaw => &A2U,
        };
        cell.get_or_init(|| std::array::from_fn(|c| to.encode(self.decode(c as u8))))
            [usize::from(code)]
    }

    /// Encode a block of 16-bit linear samples.
    pub fn encode_all(self, samples: &[i16]) -> Vec<u8> {
        let table = self.table();
        samples
            .iter()
            .map(|&s| table[usize::from(s as u16)])
            .collect()
    }
}

impl std::fmt::Display for Law {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Law::Ulaw => "ulaw",
            Law::Alaw => "alaw",
        })
    }
}

impl std::str::FromStr for Law {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "ulaw" | "mulaw" | "u-law" | "μ-law" | "pcmu" => Ok(Law::Ulaw),
            "alaw" | "a-law" | "pcma" => Ok(Law::Alaw),
            other => Err(format!(
                "unknown G.711 law {other:?} (expected ulaw or alaw)"
            )),
        }
    }
}

/// μ-law bias (G.711 §3: the encoder works on |x| + 33 in 14-bit units, i.e. 0x84 in 16-bit).
const ULAW_BIAS: i32 = 0x84;
/// Largest 14-bit magnitude before the bias: 8159 + 33 = 8192 fills segment 7 exactly.
const ULAW_CLIP: i32 = 8159;

/// Segment index of a biased/absolute magnitude: the number of the highest set bit above the
/// first segment's width. `first_top` is the top value of segment 0 (0x3F μ-law, 0x1F A-law).
fn segment(magnitude: i32, first_top: i32) -> u32 {
    let mut seg = 0;
    let mut top = first_top;
    while magnitude > top && seg < 8 {
        seg += 1;
        top = (top << 1) | 1;
    }
    seg
}

/// Reduce a 16-bit sample to `bits` bits by rounding half up (and saturating at the top), which
/// is what sox does before companding: the quantiser then sees the nearest 14/13-bit value
/// instead of one truncated towards −∞.
fn round_to_bits(sample: i16, bits: u32) -> i32 {
    let shift = 16 - bits;
    let max = (1 << (bits - 1)) - 1;
    ((i32::from(sample) + (1 << (shift - 1))) >> shift).min(max)
}

/// μ-law encode (G.711 Table 2) of a 16-bit sample rounded to the 14 bits μ-law resolves.
pub fn linear_to_ulaw(sample: i16) -> u8 {
    let mut pcm = round_to_bits(sample, 14);
    let mask: u8 = if pcm < 0 {
        pcm = -pcm;
        0x7F
    } else {
        0xFF
    };
    pcm = pcm.min(ULAW_CLIP) + (ULAW_BIAS >> 2);
    let seg = segment(pcm, 0x3F);
    if seg >= 8 {
        return 0x7F ^ mask;
    }
    let mantissa = ((pcm >> (seg + 1)) & 0x0F) as u8;
    (((seg as u8) << 4) | mantissa) ^ mask
}

/// μ-law decode (G.711 Table 2): the midpoint of the code's decision interval, in 16-bit units.
pub fn ulaw_to_linear(code: u8) -> i16 {
    let u = !code;
    let mut t = (i32::from(u & 0x0F) << 3) + ULAW_BIAS;
    t <<= (u & 0x70) >> 4;
    let v = if u & 0x80 != 0 {
        ULAW_BIAS - t
    } else {
        t - ULAW_BIAS
    };
    v as i16
}

/// A-law encode (G.711 Table 1) of a 16-bit sample rounded to the 13 bits A-law resolves.
/// Negative values use the one's complement magnitude, as the reference code does, so that the
/// 13-bit values −1 and 0 land in the two innermost codes. Even bits are inverted (XOR 0x55) per §2.
pub fn linear_to_alaw(sample: i16) -> u8 {
    let mut pcm = round_to_bits(sample, 13);
    let mask: u8 = if pcm >= 0 {
        0xD5
    } else {
        pcm = -pcm - 1;
        0x55
    };
    let seg = segment(pcm, 0x1F);
    if seg >= 8 {
        return 0x7F ^ mask;
    }
    let shift = if seg < 2 { 1 } else { seg };
    let mantissa = ((pcm >> shift) & 0x0F) as u8;
    (((seg as u8) << 4) | mantissa) ^ mask
}

/// A-law decode (G.711 Table 1): the midpoint of the code's decision interval, in 16-bit units.
pub fn alaw_to_linear(code: u8) -> i16 {
    let a = code ^ 0x55;
    let mut t = i32::from(a & 0x0F) << 4;
    let seg = (a & 0x70) >> 4;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= seg - 1;
        }
    }
    let v = if a & 0x80 != 0 { t } else { -t };
    v as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transcoding_keeps_the_linear_value_within_one_step() {
        for code in 0..=255u8 {
            let a = Law::Ulaw.transcode(Law::Alaw, code);
            assert_eq!(a, Law::Alaw.encode(Law::Ulaw.decode(code)));
            let u = Law::Alaw.transcode(Law::Ulaw, code);
            assert_eq!(u, Law::Ulaw.encode(Law::Alaw.decode(code)));
            assert_eq!(Law::Ulaw.transcode(Law::Ulaw, code), code);
        }
        assert_eq!(
            Law::Ulaw.transcode(Law::Alaw, Law::Ulaw.silence()),
            Law::Alaw.silence()
        );
        // A-law has no zero: its quietest code (±8) stays within one μ-law step of silence.
        let quiet = Law::Alaw.transcode(Law::Ulaw, Law::Alaw.silence());
        assert!(Law::Ulaw.decode(quiet).abs() <= 8);
    }

    #[test]
    fn zero_encodes_to_the_silence_code() {
        assert_eq!(linear_to_ulaw(0), Law::Ulaw.silence());
        assert_eq!(linear_to_alaw(0), Law::Alaw.silence());
    }

    #[test]
    fn extremes_encode_to_the_outermost_codes() {
        assert_eq!(linear_to_ulaw(i16::MAX), 0x80);
        assert_eq!(linear_to_ulaw(i16::MIN), 0x00);
        assert_eq!(linear_to_alaw(i16::MAX), 0xAA);
        assert_eq!(linear_to_alaw(i16::MIN), 0x2A);
    }

    #[test]
    fn decode_of_extreme_codes_matches_g711_tables() {
        // G.711 Table 2: μ-law full scale is ±8031 in 14-bit units (±32124 in 16-bit).
        assert_eq!(ulaw_to_linear(0x80), 32124);
        assert_eq!(ulaw_to_linear(0x00), -32124);
        // G.711 Table 1: A-law full scale is ±4032 in 13-bit units (±32256 in 16-bit).
        assert_eq!(alaw_to_linear(0xAA), 32256);
        assert_eq!(alaw_to_linear(0x2A), -32256);
    }

    #[test]
    fn every_code_round_trips_through_linear() {
        for code in 0..=255u8 {
            let u = ulaw_to_linear(code);
            // 0x7F and 0xFF are both zero (negative/positive zero); 0 encodes as 0xFF.
            let expect = if code == 0x7F { 0xFF } else { code };
            assert_eq!(linear_to_ulaw(u), expect, "ulaw code {code:#04x}");
            assert_eq!(
                linear_to_alaw(alaw_to_linear(code)),
                code,
                "alaw code {code:#04x}"
            );
        }
    }

    #[test]
    fn encoding_is_monotonic_in_the_input() {
        let mut prev_u = ulaw_to_linear(linear_to_ulaw(i16::MIN));
        let mut prev_a = alaw_to_linear(linear_to_alaw(i16::MIN));
        for s in i16::MIN..=i16::MAX {
            let u = ulaw_to_linear(linear_to_ulaw(s));
            let a = alaw_to_linear(linear_to_alaw(s));
            assert!(u >= prev_u && a >= prev_a, "not monotonic at {s}");
            prev_u = u;
            prev_a = a;
        }
    }

    #[test]
    fn table_encoder_agrees_with_the_arithmetic_one() {
        for s in i16::MIN..=i16::MAX {
            assert_eq!(Law::Ulaw.encode(s), linear_to_ulaw(s), "ulaw {s}");
            assert_eq!(Law::Alaw.encode(s), linear_to_alaw(s), "alaw {s}");
        }
        assert_eq!(Law::Alaw.encode_all(&[0, -8, i16::MAX]), [0xD5, 0x55, 0xAA]);
    }

    #[test]
    fn law_parses_from_cli_spellings() {
        assert_eq!("ulaw".parse::<Law>(), Ok(Law::Ulaw));
        assert_eq!("PCMA".parse::<Law>(), Ok(Law::Alaw));
        assert!("gsm".parse::<Law>().is_err());
    }
}
