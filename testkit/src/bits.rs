//! An MSB-first bit writer, for bitstreams written by hand (the WMA tests' frames and
//! superframes): bits fill each byte from its top bit down, as the format reads them.

/// Bits appended MSB first; `bytes` holds them, the last byte padded with zeros.
#[derive(Debug, Default)]
pub struct BitWriter {
    pub bytes: Vec<u8>,
    /// How many bits have been written.
    pub bits: usize,
}

impl BitWriter {
    /// Appends the low `n` bits of `value`, its highest of them first.
    pub fn put(&mut self, value: u32, n: u32) {
        for i in (0..n).rev() {
            if self.bits.is_multiple_of(8) {
                self.bytes.push(0);
            }
            if (value >> i) & 1 == 1 {
                let last = self.bytes.len() - 1;
                self.bytes[last] |= 0x80 >> (self.bits % 8);
            }
            self.bits += 1;
        }
    }

    /// Appends bits `start..start + n` of `src`, read MSB first.
    pub fn put_bits_of(&mut self, src: &[u8], start: usize, n: usize) {
        for k in start..start + n {
            self.put(u32::from((src[k / 8] >> (7 - k % 8)) & 1), 1);
        }
    }

    /// Pads with zero bits to the next byte boundary.
    pub fn align(&mut self) {
        while !self.bits.is_multiple_of(8) {
            self.put(0, 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_fill_each_byte_from_the_top() {
        let mut w = BitWriter::default();
        w.put(0b101, 3);
        w.put(0x1f, 5);
        w.put(1, 1);
        assert_eq!((w.bytes.as_slice(), w.bits), (&[0b1011_1111, 0x80][..], 9));
        w.align();
        assert_eq!(w.bits, 16);
        let mut copy = BitWriter::default();
        copy.put_bits_of(&w.bytes, 1, 4);
        assert_eq!((copy.bytes.as_slice(), copy.bits), (&[0b0111_0000][..], 4));
    }
}
