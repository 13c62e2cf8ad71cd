//! A most-significant-bit-first reader over one frame's bytes, on top of symphonia's
//! `BitReaderLtr`, that also knows how many bits it has consumed (superframe framing needs the
//! exact bit position where a frame ended).

use symphonia::core::io::{BitReaderLtr, FiniteBitStream, ReadBitsLtr};

use super::vlc::Book;
use super::WmaError;

pub struct Bits<'a> {
    reader: BitReaderLtr<'a>,
    total: u64,
}

impl<'a> Bits<'a> {
    /// Starts reading `buf` at bit `bit_pos` (counted from the first byte's MSB).
    pub fn new(buf: &'a [u8], bit_pos: usize) -> Result<Self, WmaError> {
        let byte = bit_pos / 8;
        if byte > buf.len() {
            return Err(WmaError::Truncated);
        }
        let mut bits = Bits {
            reader: BitReaderLtr::new(&buf[byte..]),
            total: 0,
        };
        bits.total = bits.reader.bits_left();
        bits.skip((bit_pos % 8) as u32)?;
        Ok(bits)
    }

    /// Bits consumed since `new` (including the initial sub-byte skip).
    pub fn consumed(&self) -> u64 {
        self.total - self.reader.bits_left()
    }

    pub fn left(&self) -> u64 {
        self.reader.bits_left()
    }

    pub fn read(&mut self, n: u32) -> Result<u32, WmaError> {
        if n == 0 {
            return Ok(0);
        }
        self.reader
            .read_bits_leq32(n)
            .map_err(|_| WmaError::Truncated)
    }

    pub fn bit(&mut self) -> Result<bool, WmaError> {
        self.reader.read_bool().map_err(|_| WmaError::Truncated)
    }

    pub fn skip(&mut self, n: u32) -> Result<(), WmaError> {
        self.reader.ignore_bits(n).map_err(|_| WmaError::Truncated)
    }

    pub fn symbol(&mut self, book: &Book) -> Result<usize, WmaError> {
        self.reader
            .read_codebook(book)
            .map(|(v, _)| usize::from(v))
            .map_err(|_| WmaError::Truncated)
    }

    /// Skips to the next byte boundary of the underlying buffer.
    pub fn align(&mut self) {
        self.reader.realign();
    }
}
