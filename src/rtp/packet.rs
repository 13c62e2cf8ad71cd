//! RTP data packets (RFC 3550 §5.1): parsing a received packet and writing our fixed 12-byte
//! header in place.
//!
//! The parser applies the validity checks of RFC 3550 §A.1 that need no per-source state:
//! version 2, a payload type that is not RTCP's (RFC 5761 §4), a CSRC list, header extension
//! (§5.3.1) and padding (§5.1 "P") that fit in the datagram. Sequence-number checks need the
//! source's history and live in [`super::inbound`]. It never panics, whatever the bytes.
//!
//! The writer emits only what holdline sends: no padding, no extension, no CSRCs (we are an end
//! system, not a mixer, RFC 3550 §7). It does not allocate: the stream writes the header into
//! the first 12 bytes of the buffer that then receives the payload.

use thiserror::Error;

/// The fixed header's length: what we write, and the minimum a packet can have (§5.1).
pub const HEADER_LEN: usize = 12;

/// RTP version 2 (§5.1 "V").
pub const VERSION: u8 = 2;

/// A synchronization source identifier (§5.1 "SSRC"), random per stream (§8).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ssrc(pub u32);

/// Why a datagram is not a valid RTP packet.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RtpError {
    #[error("datagram of {len} bytes is shorter than the 12-byte RTP header")]
    TooShort { len: usize },
    #[error("RTP version {version} (expected 2)")]
    BadVersion { version: u8 },
    #[error("payload type {payload_type} with marker is an RTCP packet type (RFC 5761 §4)")]
    RtcpPacketType { payload_type: u8 },
    #[error("{count} CSRCs do not fit in {len} bytes")]
    CsrcOverrun { count: u8, len: usize },
    #[error("header extension of {words} words does not fit in {len} bytes")]
    ExtensionOverrun { words: u16, len: usize },
    #[error("padding count {padding} exceeds the {available} bytes after the header")]
    BadPadding { padding: u8, available: usize },
}

/// A parsed RTP packet borrowing the datagram it came in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    pub marker: bool,
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: Ssrc,
    pub csrc_count: u8,
    /// The header extension's profile-defined 16 bits, when the X bit is set (§5.3.1).
    pub extension_profile: Option<u16>,
    /// The payload without CSRCs, extension and padding.
    pub payload: &'a [u8],
}

/// Parses `buf` as an RTP packet (§5.1) with the context-free checks of §A.1.
pub fn parse(buf: &[u8]) -> Result<RtpPacket<'_>, RtpError> {
    let len = buf.len();
    let Some(fixed) = buf.first_chunk::<HEADER_LEN>() else {
        return Err(RtpError::TooShort { len });
    };
    let version = fixed[0] >> 6;
    if version != VERSION {
        return Err(RtpError::BadVersion { version });
    }
    let padding = fixed[0] & 0x20 != 0;
    let extension = fixed[0] & 0x10 != 0;
    let csrc_count = fixed[0] & 0x0f;
    let marker = fixed[1] & 0x80 != 0;
    let payload_type = fixed[1] & 0x7f;
    // RFC 5761 §4: second octets 192–223 (RTCP types 200–204 and neighbours) are RTCP when RTP
    // and RTCP share a port; §A.1 "the payload type must be known" rules them out anyway.
    if (64..=95).contains(&payload_type) && marker {
        return Err(RtpError::RtcpPacketType { payload_type });
    }
    let sequence = u16::from_be_bytes([fixed[2], fixed[3]]);
    let timestamp = u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]);
    let ssrc = Ssrc(u32::from_be_bytes([
        fixed[8], fixed[9], fixed[10], fixed[11],
    ]));

    let mut offset = HEADER_LEN + 4 * usize::from(csrc_count);
    if offset > len {
        return Err(RtpError::CsrcOverrun {
            count: csrc_count,
            len,
        });
    }
    let mut extension_profile = None;
    if extension {
        // §5.3.1: a 4-byte extension header (profile, length in 32-bit words) then the words.
        let Some(ext) = buf.get(offset..offset + 4) else {
            return Err(RtpError::ExtensionOverrun { words: 0, len });
        };
        let profile = u16::from_be_bytes([ext[0], ext[1]]);
        let words = u16::from_be_bytes([ext[2], ext[3]]);
        offset += 4 + 4 * usize::from(words);
        if offset > len {
            return Err(RtpError::ExtensionOverrun { words, len });
        }
        extension_profile = Some(profile);
    }
    let mut end = len;
    if padding {
        // §5.1 "P": the last octet counts the padding octets, itself included; §A.1 requires
        // it to be non-zero and to fit in the packet.
        let count = buf[len - 1];
        let available = len - offset;
        if count == 0 || usize::from(count) > available {
            return Err(RtpError::BadPadding {
                padding: count,
                available,
            });
        }
        end = len - usize::from(count);
    }
    Ok(RtpPacket {
        marker,
        payload_type,
        sequence,
        timestamp,
        ssrc,
        csrc_count,
        extension_profile,
        payload: &buf[offset..end],
    })
}

/// The header holdline sends: V=2, no padding, no extension, no CSRCs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtpHeader {
    pub marker: bool,
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: Ssrc,
}

impl RtpHeader {
    /// Writes the 12-byte fixed header (§5.1) into `out`.
    pub fn write(&self, out: &mut [u8; HEADER_LEN]) {
        out[0] = VERSION << 6;
        out[1] = (u8::from(self.marker) << 7) | (self.payload_type & 0x7f);
        out[2..4].copy_from_slice(&self.sequence.to_be_bytes());
        out[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        out[8..12].copy_from_slice(&self.ssrc.0.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> RtpHeader {
        RtpHeader {
            marker: true,
            payload_type: 8,
            sequence: 0xfffe,
            timestamp: 0xdead_beef,
            ssrc: Ssrc(0x0102_0304),
        }
    }

    #[test]
    fn written_header_parses_back() {
        let mut buf = [0u8; HEADER_LEN + 3];
        let (head, payload) = buf.split_at_mut(HEADER_LEN);
        header().write(head.try_into().unwrap());
        payload.copy_from_slice(&[1, 2, 3]);
        let p = parse(&buf).unwrap();
        assert!(p.marker);
        assert_eq!(p.payload_type, 8);
        assert_eq!(p.sequence, 0xfffe);
        assert_eq!(p.timestamp, 0xdead_beef);
        assert_eq!(p.ssrc, Ssrc(0x0102_0304));
        assert_eq!(p.payload, &[1, 2, 3]);
        assert_eq!(buf[0], 0x80);
        assert_eq!(buf[1], 0x88);
    }

    #[test]
    fn csrcs_extension_and_padding_are_stripped_from_payload() {
        let mut buf = vec![0xb1, 0x00, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3]; // V=2 P X CC=1
        buf.extend_from_slice(&[9, 9, 9, 9]); // CSRC
        buf.extend_from_slice(&[0xbe, 0xde, 0, 1, 7, 7, 7, 7]); // one extension word
        buf.extend_from_slice(&[0x55, 0x66]); // payload
        buf.extend_from_slice(&[0, 0, 3]); // 3 bytes of padding
        let p = parse(&buf).unwrap();
        assert_eq!(p.csrc_count, 1);
        assert_eq!(p.extension_profile, Some(0xbede));
        assert_eq!(p.payload, &[0x55, 0x66]);
    }

    #[test]
    fn invalid_packets_are_rejected_with_reason() {
        assert_eq!(parse(&[0x80; 11]), Err(RtpError::TooShort { len: 11 }));
        let mut v1 = [0u8; 12];
        v1[0] = 0x40;
        assert_eq!(parse(&v1), Err(RtpError::BadVersion { version: 1 }));
        let mut rtcp = [0u8; 12];
        rtcp[0] = 0x80;
        rtcp[1] = 200; // SR
        assert!(matches!(parse(&rtcp), Err(RtpError::RtcpPacketType { .. })));
        let mut cc = [0u8; 12];
        cc[0] = 0x82;
        assert!(matches!(parse(&cc), Err(RtpError::CsrcOverrun { .. })));
        let mut ext = [0u8; 16];
        ext[0] = 0x90;
        ext[15] = 5;
        assert!(matches!(
            parse(&ext),
            Err(RtpError::ExtensionOverrun { words: 5, .. })
        ));
        let mut pad = [0u8; 13];
        pad[0] = 0xa0;
        pad[12] = 2;
        assert!(matches!(parse(&pad), Err(RtpError::BadPadding { .. })));
        pad[12] = 0;
        assert!(matches!(parse(&pad), Err(RtpError::BadPadding { .. })));
    }
}
