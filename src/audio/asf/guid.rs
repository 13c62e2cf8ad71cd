//! ASF object identifiers (GUIDs) and a small little-endian byte cursor.
//!
//! Every ASF object starts with a 128-bit GUID followed by a 64-bit little-endian size that
//! includes the 24-byte object header (ASF specification 1.20, §3.1). GUIDs are stored on disk in
//! the Windows `GUID` layout: the first three fields little-endian, the last eight bytes as-is.
//! The constants below are written in that on-disk byte order so they compare with a plain slice.
//!
//! The cursor never panics: every read checks the remaining length and reports `Truncated` with
//! the name of the field that ran off the end.

use super::AsfError;

/// A GUID in its on-disk byte order.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Guid(pub [u8; 16]);

/// Builds the on-disk byte order from the textual form `d1-d2-d3-d4`.
const fn guid(d1: u32, d2: u16, d3: u16, d4: [u8; 8]) -> Guid {
    let a = d1.to_le_bytes();
    let b = d2.to_le_bytes();
    let c = d3.to_le_bytes();
    Guid([
        a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d4[0], d4[1], d4[2], d4[3], d4[4], d4[5],
        d4[6], d4[7],
    ])
}

// Top-level objects (§3, §5).
pub const HEADER: Guid = guid(
    0x75B2_2630,
    0x668E,
    0x11CF,
    [0xA6, 0xD9, 0x00, 0xAA, 0x00, 0x62, 0xCE, 0x6C],
);
pub const DATA: Guid = guid(
    0x75B2_2636,
    0x668E,
    0x11CF,
    [0xA6, 0xD9, 0x00, 0xAA, 0x00, 0x62, 0xCE, 0x6C],
);

// Header objects (§3.2 – §3.17).
pub const FILE_PROPERTIES: Guid = guid(
    0x8CAB_DCA1,
    0xA947,
    0x11CF,
    [0x8E, 0xE4, 0x00, 0xC0, 0x0C, 0x20, 0x53, 0x65],
);
pub const STREAM_PROPERTIES: Guid = guid(
    0xB7DC_0791,
    0xA9B7,
    0x11CF,
    [0x8E, 0xE6, 0x00, 0xC0, 0x0C, 0x20, 0x53, 0x65],
);
pub const HEADER_EXTENSION: Guid = guid(
    0x5FBF_03B5,
    0xA92E,
    0x11CF,
    [0x8E, 0xE3, 0x00, 0xC0, 0x0C, 0x20, 0x53, 0x65],
);
pub const CONTENT_DESCRIPTION: Guid = guid(
    0x75B2_2633,
    0x668E,
    0x11CF,
    [0xA6, 0xD9, 0x00, 0xAA, 0x00, 0x62, 0xCE, 0x6C],
);
pub const EXTENDED_CONTENT_DESCRIPTION: Guid = guid(
    0xD2D0_A440,
    0xE307,
    0x11D2,
    [0x97, 0xF0, 0x00, 0xA0, 0xC9, 0x5E, 0xA8, 0x50],
);
pub const CONTENT_ENCRYPTION: Guid = guid(
    0x2211_B3FB,
    0xBD23,
    0x11D2,
    [0xB4, 0xB7, 0x00, 0xA0, 0xC9, 0x55, 0xFC, 0x6E],
);
pub const EXTENDED_CONTENT_ENCRYPTION: Guid = guid(
    0x298A_E614,
    0x2622,
    0x4C17,
    [0xB9, 0x35, 0xDA, 0xE0, 0x7E, 0xE9, 0x28, 0x9C],
);
/// PlayReady's Advanced Content Encryption object lives inside the header extension (§4.15 of
/// the 2.0 extension spec); its presence alone means the payloads are encrypted.
pub const ADVANCED_CONTENT_ENCRYPTION: Guid = guid(
    0x4305_8533,
    0x6981,
    0x49E6,
    [0x9B, 0x74, 0xAD, 0x12, 0xCB, 0x86, 0xD5, 0x8C],
);

// Stream types and error-correction types (§10.4, §10.5).
pub const AUDIO_MEDIA: Guid = guid(
    0xF869_9E40,
    0x5B4D,
    0x11CF,
    [0xA8, 0xFD, 0x00, 0x80, 0x5F, 0x5C, 0x44, 0x2B],
);
pub const AUDIO_SPREAD: Guid = guid(
    0xBFC3_CD50,
    0x618F,
    0x11CF,
    [0x8B, 0xB2, 0x00, 0xAA, 0x00, 0xB4, 0xE2, 0x20],
);

/// A bounds-checked little-endian reader over a byte slice.
pub struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn bytes(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], AsfError> {
        if n > self.remaining() {
            return Err(AsfError::Truncated { field });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub fn skip(&mut self, n: usize, field: &'static str) -> Result<(), AsfError> {
        self.bytes(n, field).map(|_| ())
    }

    pub fn u8(&mut self, field: &'static str) -> Result<u8, AsfError> {
        Ok(self.bytes(1, field)?[0])
    }

    pub fn u16(&mut self, field: &'static str) -> Result<u16, AsfError> {
        let b = self.bytes(2, field)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    pub fn u32(&mut self, field: &'static str) -> Result<u32, AsfError> {
        let b = self.bytes(4, field)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn u64(&mut self, field: &'static str) -> Result<u64, AsfError> {
        let lo = u64::from(self.u32(field)?);
        let hi = u64::from(self.u32(field)?);
        Ok(lo | (hi << 32))
    }

    pub fn guid(&mut self, field: &'static str) -> Result<Guid, AsfError> {
        let b = self.bytes(16, field)?;
        let mut g = [0u8; 16];
        g.copy_from_slice(b);
        Ok(Guid(g))
    }

    /// Reads a field whose width is given by a 2-bit "length type" code (§5.2.2): 0 means the
    /// field is absent (value 0), 1 a byte, 2 a word, 3 a dword.
    pub fn sized(&mut self, length_type: u8, field: &'static str) -> Result<u32, AsfError> {
        match length_type & 3 {
            0 => Ok(0),
            1 => self.u8(field).map(u32::from),
            2 => self.u16(field).map(u32::from),
            _ => self.u32(field),
        }
    }
}

/// Decodes a UTF-16LE string of `len` bytes, dropping the terminating NUL(s).
pub fn utf16le(bytes: &[u8]) -> String {
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16_lossy(&units)
        .trim_end_matches('\0')
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_guid_matches_on_disk_bytes() {
        let disk = [
            0x30, 0x26, 0xB2, 0x75, 0x8E, 0x66, 0xCF, 0x11, 0xA6, 0xD9, 0x00, 0xAA, 0x00, 0x62,
            0xCE, 0x6C,
        ];
        assert_eq!(HEADER.0, disk);
    }

    #[test]
    fn cursor_reports_truncated_field() {
        let mut c = Cursor::new(&[1, 2, 3]);
        assert_eq!(c.u16("a").unwrap(), 0x0201);
        assert!(matches!(
            c.u32("b"),
            Err(AsfError::Truncated { field: "b" })
        ));
    }
}
