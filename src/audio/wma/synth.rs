//! Synthesis: inverse MDCT, sine windows and overlap-add into the frame buffer.
//!
//! A block of N coefficients gives 2N time samples. The block is centred in the frame: its
//! output starts at `frame_len/2 + block_pos − N/2` of a 2·frame_len buffer per channel. Each
//! half of the output is windowed by a sine window whose length is that of the *smaller* of the
//! two neighbouring blocks (so that overlapping windows always satisfy w² + w'² = 1); the part
//! of a longer block outside a short overlap is copied flat on the left and zeroed on the right.
//! After all blocks of a frame, the first frame_len samples are final; the second half is the
//! pending overlap for the next frame.

use symphonia::core::dsp::mdct::Imdct;

use super::params::StreamParams;

pub struct Synth {
    frame_len: usize,
    frame_len_bits: u32,
    /// One transform per block size, index = frame_len_bits − block_bits.
    imdct: Vec<Imdct>,
    /// Rising sine window per block size.
    windows: Vec<Vec<f32>>,
    /// Inverse transform output of the current channel (kept for the mid/side reuse case).
    output: Vec<f32>,
    /// Per channel, 2·frame_len samples.
    frame_out: Vec<Vec<f32>>,
}

impl Synth {
    pub fn new(p: &StreamParams) -> Self {
        let mut imdct = Vec::new();
        let mut windows = Vec::new();
        for k in 0..p.nb_block_sizes {
            let n = p.frame_len >> k;
            // The bitstream's coefficients are on a 16-bit scale; output is ±1.0 full scale.
            imdct.push(Imdct::new_scaled(n, 1.0 / 32768.0));
            let w = (0..n)
                .map(|i| ((i as f64 + 0.5) * std::f64::consts::PI / (2.0 * n as f64)).sin() as f32)
                .collect();
            windows.push(w);
        }
        Synth {
            frame_len: p.frame_len,
            frame_len_bits: p.frame_len_bits,
            imdct,
            windows,
            output: vec![0.0; 2 * p.frame_len],
            frame_out: vec![vec![0.0; 2 * p.frame_len]; p.channels],
        }
    }

    pub fn reset(&mut self) {
        for f in &mut self.frame_out {
            f.fill(0.0);
        }
    }

    /// The frame's finished samples for channel `ch` (valid right after `finish_frame`).
    pub fn finished(&self, ch: usize) -> &[f32] {
        &self.frame_out[ch][..self.frame_len]
    }

    /// The pending overlap (what a flush at end of stream outputs).
    pub fn pending(&self, ch: usize) -> &[f32] {
        &self.frame_out[ch][..self.frame_len]
    }

    /// Moves the second half down after the caller consumed the first half.
    pub fn advance(&mut self) {
        let n = self.frame_len;
        for f in &mut self.frame_out {
            f.copy_within(n..2 * n, 0);
        }
    }

    /// Transforms one channel's block and overlap-adds it. `sizes` are log2 lengths of the
    /// previous, current and next blocks.
    pub fn add_block(
        &mut self,
        ch: usize,
        spectrum: Option<&[f32]>,
        reuse_previous: bool,
        block_pos: usize,
        sizes: (u32, u32, u32),
    ) {
        let (prev_bits, bits, next_bits) = sizes;
        let block_len = 1usize << bits;
        let bsize = (self.frame_len_bits - bits) as usize;
        let out = &mut self.output[..2 * block_len];
        match spectrum {
            Some(s) => {
                self.imdct[bsize].imdct(s, out);
                // symphonia's IMDCT has the opposite sign convention to the one WMA is coded for.
                out.iter_mut().for_each(|x| *x = -*x);
            }
            None if !reuse_previous => out.fill(0.0),
            None => {}
        }
        let start = self.frame_len / 2 + block_pos - block_len / 2;
        let dst = &mut self.frame_out[ch][start..start + 2 * block_len];
        let (dl, dr) = dst.split_at_mut(block_len);
        let (il, ir) = out.split_at(block_len);

        // Left half: rises over the overlap with the previous block.
        if bits <= prev_bits {
            let w = &self.windows[bsize];
            for ((d, &x), &w) in dl.iter_mut().zip(il).zip(w) {
                *d += x * w;
            }
        } else {
            let len = 1usize << prev_bits;
            let pad = (block_len - len) / 2;
            let w = &self.windows[(self.frame_len_bits - prev_bits) as usize];
            for i in 0..len {
                dl[pad + i] += il[pad + i] * w[i];
            }
            dl[pad + len..].copy_from_slice(&il[pad + len..]);
        }

        // Right half: falls over the overlap with the next block (written, not added).
        if bits <= next_bits {
            let w = &self.windows[bsize];
            for (i, (d, &x)) in dr.iter_mut().zip(ir).enumerate() {
                *d = x * w[block_len - 1 - i];
            }
        } else {
            let len = 1usize << next_bits;
            let pad = (block_len - len) / 2;
            let w = &self.windows[(self.frame_len_bits - next_bits) as usize];
            dr[..pad].copy_from_slice(&ir[..pad]);
            for i in 0..len {
                dr[pad + i] = ir[pad + i] * w[len - 1 - i];
            }
            dr[pad + len..].fill(0.0);
        }
    }
}
