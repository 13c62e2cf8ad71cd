//! Differential test of the features ffmpeg's WMA *encoder* never uses (block switching, LSP
//! exponents, every noise-coding and mid/side combination, version 1 stereo alignment): a
//! generator writes random but valid WMA v1/v2 bitstreams following the format's syntax, they
//! are wrapped in a WAVE file, and our decoder must match ffmpeg's decoder on them.

use crate::wma_support::*;
use holdline::audio::wma::coef_tables::*;
use holdline::audio::wma::params::{derive, StreamParams};
use holdline::audio::wma::tables::{HGAIN_BITS, HGAIN_CODES, SCALE_BITS, SCALE_CODES};
use holdline::audio::wma::{WmaDecoder, CODEC_ID_WMAV1, CODEC_ID_WMAV2};
use holdline_testkit::BitWriter;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use symphonia::core::codecs::audio::{AudioCodecParameters, AudioDecoder, AudioDecoderOptions};
use symphonia::core::packet::Packet;
use symphonia::core::units::{Duration, Timestamp};

/// One run-level code with its (run) expansion, as the format defines it.
struct Coef {
    codes: &'static [u32],
    bits: &'static [u8],
    run: Vec<usize>,
}

fn coef(index: usize) -> Coef {
    let (codes, bits, levels): (&'static [u32], &'static [u8], &'static [u16]) = match index {
        0 => (&COEF0_CODES, &COEF0_BITS, &LEVELS0),
        1 => (&COEF1_CODES, &COEF1_BITS, &LEVELS1),
        2 => (&COEF2_CODES, &COEF2_BITS, &LEVELS2),
        3 => (&COEF3_CODES, &COEF3_BITS, &LEVELS3),
        4 => (&COEF4_CODES, &COEF4_BITS, &LEVELS4),
        _ => (&COEF5_CODES, &COEF5_BITS, &LEVELS5),
    };
    let mut run = vec![0; 2];
    for &count in levels {
        run.extend(0..usize::from(count));
    }
    run.truncate(codes.len());
    Coef { codes, bits, run }
}

struct Generator {
    rng: SmallRng,
    p: StreamParams,
    coef: [Coef; 2],
    reset: bool,
    cur: usize,
    next: usize,
    exp_sent: [bool; 2],
    /// Chance of ending a channel's coefficients early (keeps frames small).
    eob: f64,
}

impl Generator {
    fn new(p: StreamParams, seed: u64) -> Self {
        let t = p.coef_table;
        Generator {
            rng: SmallRng::seed_from_u64(seed),
            coef: [coef(2 * t), coef(2 * t + 1)],
            reset: true,
            cur: 0,
            next: 0,
            exp_sent: [false; 2],
            eob: 0.02,
            p,
        }
    }

    /// One frame as a packet of `block_align` bytes.
    fn frame(&mut self) -> Vec<u8> {
        let mut w = self.frame_bits();
        assert!(
            w.bytes.len() <= self.p.block_align,
            "generated frame too large"
        );
        w.bytes.resize(self.p.block_align, 0);
        w.bytes
    }

    /// One frame, unpadded.
    fn frame_bits(&mut self) -> BitWriter {
        let mut w = BitWriter::default();
        let frame_len = self.p.frame_len;
        let mut pos = 0;
        while pos < frame_len {
            self.block(&mut w, pos);
            pos += frame_len >> self.cur;
        }
        w
    }

    fn block(&mut self, w: &mut BitWriter, pos: usize) {
        let p = self.p.clone();
        let frame_len = p.frame_len;
        if p.use_variable_block_len {
            let width = (usize::BITS - (p.nb_block_sizes - 1).leading_zeros()).max(1);
            if self.reset {
                self.reset = false;
                let prev = self.rng.gen_range(0..p.nb_block_sizes);
                self.cur = self.rng.gen_range(0..p.nb_block_sizes);
                w.put(prev as u32, width);
                w.put(self.cur as u32, width);
            } else {
                self.cur = self.next;
            }
            let after = frame_len - pos - (frame_len >> self.cur);
            let candidates: Vec<usize> = (0..p.nb_block_sizes)
                .filter(|&v| after == 0 || frame_len >> v <= after)
                .collect();
            self.next = candidates[self.rng.gen_range(0..candidates.len())];
            w.put(self.next as u32, width);
        }
        let bsize = self.cur;
        let block_len = frame_len >> bsize;
        let ms = p.channels == 2 && self.rng.gen_bool(0.5);
        if p.channels == 2 {
            w.put(u32::from(ms), 1);
        }
        let coded: Vec<bool> = (0..p.channels).map(|_| self.rng.gen_bool(0.9)).collect();
        for &c in &coded {
            w.put(u32::from(c), 1);
        }
        if !coded.iter().any(|&c| c) {
            return;
        }
        let a = self.rng.gen_range(5..70u32);
        w.put(a, 7);
        let total_gain = 1 + a;
        let coef_bits = match total_gain {
            0..15 => 13,
            15..32 => 12,
            32..40 => 11,
            40..45 => 10,
            _ => 9,
        };
        let full = p.coefs_end[bsize] - p.coefs_start;
        let mut nb = [full; 2];
        let high = &p.exponent_high_bands[bsize];
        if p.use_noise_coding {
            let mut band_coded = vec![vec![false; high.len()]; 2];
            for c in (0..p.channels).filter(|&c| coded[c]) {
                for (i, &width) in high.iter().enumerate() {
                    band_coded[c][i] = self.rng.gen_bool(0.4);
                    w.put(u32::from(band_coded[c][i]), 1);
                    if band_coded[c][i] {
                        nb[c] -= width;
                    }
                }
            }
            for c in (0..p.channels).filter(|&c| coded[c]) {
                let mut first = true;
                for &is_coded in &band_coded[c] {
                    if is_coded {
                        if first {
                            w.put(self.rng.gen_range(10..60), 7);
                            first = false;
                        } else {
                            let sym = self.rng.gen_range(15..22usize);
                            w.put(HGAIN_CODES[sym], u32::from(HGAIN_BITS[sym]));
                        }
                    }
                }
            }
        }
        let must_send = (0..p.channels).any(|c| coded[c] && !self.exp_sent[c]);
        let send = block_len == frame_len || must_send || self.rng.gen_bool(0.5);
        if block_len != frame_len {
            w.put(u32::from(send), 1);
        }
        if send {
            for c in (0..p.channels).filter(|&c| coded[c]) {
                self.exp_sent[c] = true;
                if p.use_exp_vlc {
                    let mut filled = 0;
                    let mut bands = p.exponent_bands[bsize].iter();
                    let mut last = 36i32;
                    if p.version == 1 {
                        let first = self.rng.gen_range(10..40u32);
                        w.put(first - 10, 5);
                        last = first as i32;
                        filled += bands.next().unwrap();
                    }
                    while filled < block_len {
                        let delta = self.rng.gen_range(-3..=3i32).clamp(5 - last, 60 - last);
                        last += delta;
                        let sym = (delta + 60) as usize;
                        w.put(SCALE_CODES[sym], u32::from(SCALE_BITS[sym]));
                        filled += bands.next().unwrap();
                    }
                } else {
                    for i in 0..10 {
                        let width = if i == 0 || i >= 8 { 3 } else { 4 };
                        w.put(self.rng.gen_range(0..(1 << width)), width);
                    }
                }
            }
        }
        for c in 0..p.channels {
            if coded[c] {
                let table = usize::from(c == 1 && ms);
                self.coefficients(w, table, nb[c], coef_bits);
            }
            if p.version == 1 && p.channels == 2 {
                w.align();
            }
        }
    }

    fn coefficients(&mut self, w: &mut BitWriter, table: usize, count: usize, coef_bits: u32) {
        let frame_len_bits = self.p.frame_len_bits;
        let code = &self.coef[table];
        let mut offset = 0;
        while offset < count {
            if self.rng.gen_bool(self.eob) {
                w.put(code.codes[1], u32::from(code.bits[1])); // end of block
                return;
            }
            if self.rng.gen_bool(0.03) {
                let run = self.rng.gen_range(0..(count - offset).min(8));
                w.put(code.codes[0], u32::from(code.bits[0]));
                w.put(self.rng.gen_range(1..(1 << coef_bits.min(9))), coef_bits);
                w.put(run as u32, frame_len_bits);
                offset += run;
            } else {
                let sym = loop {
                    // Favour small levels and short runs, as real streams do.
                    let s = self.rng.gen_range(2..code.codes.len().min(40));
                    if offset + code.run[s] < count {
                        break s;
                    }
                };
                w.put(code.codes[sym], u32::from(code.bits[sym]));
                offset += code.run[sym];
            }
            w.put(self.rng.gen_range(0..2), 1); // sign
            offset += 1;
        }
    }
}

fn waveformatex(
    version: u8,
    channels: u16,
    rate: u32,
    bit_rate: u32,
    align: u16,
    f2: u16,
) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&(if version == 1 { 0x160u16 } else { 0x161 }).to_le_bytes());
    v.extend_from_slice(&channels.to_le_bytes());
    v.extend_from_slice(&rate.to_le_bytes());
    v.extend_from_slice(&(bit_rate / 8).to_le_bytes());
    v.extend_from_slice(&align.to_le_bytes());
    v.extend_from_slice(&16u16.to_le_bytes());
    if version == 1 {
        v.extend_from_slice(&4u16.to_le_bytes());
        v.extend_from_slice(&[0, 0]);
        v.extend_from_slice(&f2.to_le_bytes());
    } else {
        v.extend_from_slice(&10u16.to_le_bytes());
        v.extend_from_slice(&[0, 0, 0, 0]);
        v.extend_from_slice(&f2.to_le_bytes());
        v.extend_from_slice(&[0, 0, 0, 0]);
    }
    v
}

fn run_case(name: &str, version: u8, channels: u16, rate: u32, bit_rate: u32, flags2: u16) {
    let align = 8192u16;
    let p = derive(
        version,
        channels.into(),
        rate,
        bit_rate.into(),
        align.into(),
        flags2,
    )
    .unwrap();
    let mut g = Generator::new(p.clone(), u64::from(rate) ^ u64::from(flags2));
    let packets: Vec<Vec<u8>> = (0..40).map(|_| g.frame()).collect();
    let wfx = waveformatex(version, channels, rate, bit_rate, align, flags2);

    let mut params = AudioCodecParameters::new();
    params
        .for_codec(if version == 1 {
            CODEC_ID_WMAV1
        } else {
            CODEC_ID_WMAV2
        })
        .with_sample_rate(rate)
        .with_extra_data(wfx.clone().into_boxed_slice());
    let mut dec = WmaDecoder::try_new(&params, &AudioDecoderOptions::default()).unwrap();
    let mut ours = Vec::new();
    for data in packets.iter().cloned().chain([Vec::new()]) {
        let buf = dec
            .decode(&Packet::new(0, Timestamp::new(0), Duration::new(0), data))
            .expect("our decoder rejected a generated frame");
        let start = ours.len();
        ours.resize(start + buf.frames() * usize::from(channels), 0.0);
        buf.copy_to_slice_interleaved(&mut ours[start..]);
    }

    let data = packets.concat();
    let mut wav = b"RIFF".to_vec();
    wav.extend_from_slice(&((4 + 8 + wfx.len() + 8 + data.len()) as u32).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&(wfx.len() as u32).to_le_bytes());
    wav.extend_from_slice(&wfx);
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&(data.len() as u32).to_le_bytes());
    wav.extend_from_slice(&data);
    let path = fixture_dir().join(format!("generated-{name}.wav"));
    std::fs::write(&path, &wav).unwrap();
    let reference = ffmpeg_decode(&path);
    let snr = snr_db(&reference, &ours);
    eprintln!(
        "{name}: {} vs {} samples, SNR {snr:.1} dB",
        ours.len(),
        reference.len()
    );
    assert_eq!(ours.len(), reference.len(), "{name}: length");
    assert!(snr >= 60.0, "{name}: SNR {snr:.1} dB");
}

/// Decodes `packets` with our decoder (plus the end-of-stream flush) and with ffmpeg from a
/// WAVE file; asserts equal length and SNR ≥ 60 dB.
fn compare_with_ffmpeg(name: &str, channels: u16, rate: u32, wfx: &[u8], packets: &[Vec<u8>]) {
    let mut params = AudioCodecParameters::new();
    params
        .for_codec(CODEC_ID_WMAV2)
        .with_sample_rate(rate)
        .with_extra_data(wfx.to_vec().into_boxed_slice());
    let mut dec = WmaDecoder::try_new(&params, &AudioDecoderOptions::default()).unwrap();
    let mut ours = Vec::new();
    for data in packets.iter().cloned().chain([Vec::new()]) {
        let buf = dec
            .decode(&Packet::new(0, Timestamp::new(0), Duration::new(0), data))
            .expect("our decoder rejected a generated frame");
        let start = ours.len();
        ours.resize(start + buf.frames() * usize::from(channels), 0.0);
        buf.copy_to_slice_interleaved(&mut ours[start..]);
    }
    let data = packets.concat();
    let mut wav = b"RIFF".to_vec();
    wav.extend_from_slice(&((4 + 8 + wfx.len() + 8 + data.len()) as u32).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&(wfx.len() as u32).to_le_bytes());
    wav.extend_from_slice(wfx);
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&(data.len() as u32).to_le_bytes());
    wav.extend_from_slice(&data);
    let path = fixture_dir().join(format!("generated-{name}.wav"));
    std::fs::write(&path, &wav).unwrap();
    let reference = ffmpeg_decode(&path);
    let snr = snr_db(&reference, &ours);
    eprintln!(
        "{name}: {} vs {} samples, SNR {snr:.1} dB",
        ours.len(),
        reference.len()
    );
    assert_eq!(ours.len(), reference.len(), "{name}: length");
    assert!(snr >= 60.0, "{name}: SNR {snr:.1} dB");
}

/// Generates frames and packs them into bit-reservoir superframes: frames run back to back
/// across superframe boundaries, and the block sizes restart (previous and current size sent
/// again) with the first frame that begins in each superframe, as the format requires.
fn run_reservoir_case(
    name: &str,
    channels: u16,
    rate: u32,
    bit_rate: u32,
    flags2: u16,
    align: usize,
) {
    let p = derive(2, channels.into(), rate, bit_rate.into(), align, flags2).unwrap();
    assert!(p.use_bit_reservoir && p.nb_block_sizes > 1);
    let offset_bits = p.byte_offset_bits + 3;
    let mut g = Generator::new(p.clone(), u64::from(rate) ^ 0x5eed);
    g.eob = 0.02;
    let capacity = align * 8 - 8 - offset_bits as usize;
    let mut superframes = Vec::new();
    // The frame straddling into the next superframe, and how many of its bits were sent.
    let mut pending: Option<(BitWriter, usize)> = None;
    let mut reservoir_empty = true;
    for index in 0..30u32 {
        let mut body = BitWriter::default();
        let mut complete = 0;
        let mut tail = 0;
        if let Some((frame, sent)) = pending.take() {
            tail = frame.bits - sent;
            assert!(
                tail < (1 << offset_bits) && tail <= capacity,
                "tail too long"
            );
            body.put_bits_of(&frame.bytes, sent, tail);
            complete += 1;
        }
        g.reset = true;
        loop {
            let frame = g.frame_bits();
            let room = capacity - body.bits;
            if frame.bits <= room {
                body.put_bits_of(&frame.bytes, 0, frame.bits);
                complete += 1;
                continue;
            }
            // Start the frame here and finish it in the next superframe.
            body.put_bits_of(&frame.bytes, 0, room);
            pending = Some((frame, room));
            break;
        }
        let mut w = BitWriter::default();
        w.put(index % 16, 4);
        w.put((complete + usize::from(reservoir_empty)) as u32, 4);
        w.put(tail as u32, offset_bits);
        w.put_bits_of(&body.bytes, 0, body.bits);
        assert_eq!(w.bits, align * 8);
        assert!(
            complete < 15,
            "{complete} frames do not fit the 4-bit count"
        );
        reservoir_empty = false;
        superframes.push(w.bytes);
    }
    let wfx = waveformatex(2, channels, rate, bit_rate, align as u16, flags2);
    compare_with_ffmpeg(name, channels, rate, &wfx, &superframes);
}

#[test]
fn v2_bit_reservoir_with_block_switching_matches_ffmpeg() {
    // 44.1 kHz stereo 128 kb/s: ≥ 32 kb/s per channel adds two block sizes → 2048 … 256.
    run_reservoir_case(
        "v2-reservoir-switch",
        2,
        44100,
        128000,
        0x1 | 0x2 | 0x4,
        1024,
    );
}

#[test]
fn v2_bit_reservoir_with_lsp_and_block_switching_matches_ffmpeg() {
    run_reservoir_case("v2-reservoir-lsp", 1, 22050, 64000, 0x2 | 0x4 | 0x8, 300);
}

#[test]
fn v2_block_switching_with_vlc_exponents_and_noise_matches_ffmpeg() {
    // 44.1 kHz stereo at 32 kb/s: noise coding on; flags2: VLC exponents, variable blocks,
    // (flags2 >> 3) & 3 = 3 → 5 block sizes (2048 … 128).
    run_case("v2-switch-vlc", 2, 2, 44100, 32000, 0x1 | 0x4 | 0x18);
}

#[test]
fn v2_block_switching_with_lsp_exponents_matches_ffmpeg() {
    run_case("v2-switch-lsp", 2, 1, 22050, 20000, 0x4 | 0x08);
}

#[test]
fn v2_fixed_blocks_high_rate_without_noise_matches_ffmpeg() {
    run_case("v2-fixed-hi", 2, 2, 32000, 128000, 0x1);
}

#[test]
fn v1_lsp_stereo_with_alignment_matches_ffmpeg() {
    run_case("v1-lsp-stereo", 1, 2, 22050, 32000, 0x0);
}

#[test]
fn v1_vlc_mono_16k_matches_ffmpeg() {
    run_case("v1-vlc-16k", 1, 1, 16000, 16000, 0x1);
}
