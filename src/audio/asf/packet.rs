//! ASF data packets and media-object reassembly (ASF specification 1.20, §5.2).
//!
//! A data packet is: optional error-correction data (§5.2.1), payload parsing information
//! (§5.2.2: length-type flags, property flags, packet length, sequence, padding length, send
//! time, duration), then one payload or a counted list of payloads (§5.2.3), then padding.
//! Each payload carries a fragment of a "media object" (for WMA: one or more codec blocks of
//! `block_align` bytes): the fragment's offset inside the object, and in its replicated data the
//! object's size and presentation time. A replicated-data length of 1 marks a *compressed*
//! payload (§5.2.3.3): the offset field is then the presentation time, one byte of time delta
//! follows, and the payload data is a run of (size byte, sub-payload) pairs, each a whole object.
//!
//! Parsing is over a byte slice and never panics; fragments that do not line up (a lost packet)
//! drop the partial object rather than emitting corrupted audio.

use super::guid::Cursor;
use super::AsfError;

/// The parsed payload parsing information of one packet.
#[derive(Debug, Clone, Copy)]
struct PacketInfo {
    multiple: bool,
    replicated_type: u8,
    offset_type: u8,
    object_type: u8,
    stream_type: u8,
    /// Explicit packet length (0 when absent).
    packet_length: u32,
    padding: u32,
}

/// One payload: a fragment of a media object (or, when compressed, a whole object).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload<'a> {
    pub stream: u8,
    pub object_number: u32,
    pub offset: u32,
    /// Size of the whole media object, from replicated data; `None` if not given.
    pub object_size: Option<u32>,
    /// Presentation time in milliseconds (includes the preroll).
    pub pres_time_ms: u32,
    pub data: &'a [u8],
}

/// Reads just enough of a packet's header to learn its length. Used when packets are not of a
/// fixed size (min ≠ max packet size in the File Properties Object).
pub fn packet_length(prefix: &[u8]) -> Result<Option<u32>, AsfError> {
    let mut c = Cursor::new(prefix);
    let info = read_info(&mut c)?;
    Ok((info.packet_length > 0).then_some(info.packet_length))
}

fn read_info(c: &mut Cursor<'_>) -> Result<PacketInfo, AsfError> {
    let mut flags = c.u8("packet flags")?;
    // §5.2.1: bit 7 set means error-correction data precedes; its low nibble is its length and
    // bits 5–6 (the length type) must be 0.
    if flags & 0x80 != 0 {
        if flags & 0x60 != 0 {
            return Err(AsfError::BadPacket {
                what: "error correction length type",
            });
        }
        c.skip(usize::from(flags & 0x0f), "error correction data")?;
        flags = c.u8("length type flags")?;
    }
    let props = c.u8("property flags")?;
    let packet_length_type = (flags >> 5) & 3;
    let sequence_type = (flags >> 1) & 3;
    let padding_type = (flags >> 3) & 3;
    let packet_length = c.sized(packet_length_type, "packet length")?;
    c.sized(sequence_type, "sequence")?;
    let padding = c.sized(padding_type, "padding length")?;
    c.skip(4 + 2, "send time and duration")?;
    Ok(PacketInfo {
        multiple: flags & 1 != 0,
        replicated_type: props & 3,
        offset_type: (props >> 2) & 3,
        object_type: (props >> 4) & 3,
        stream_type: (props >> 6) & 3,
        packet_length,
        padding,
    })
}

/// Parses one whole data packet into its payloads. `packet` is exactly the bytes of the packet.
pub fn parse_packet(packet: &[u8]) -> Result<Vec<Payload<'_>>, AsfError> {
    let mut c = Cursor::new(packet);
    let info = read_info(&mut c)?;
    // §5.2.2: with an explicit length shorter than the stored packet, the rest is padding too.
    let len = if info.packet_length > 0 {
        (info.packet_length as usize).min(packet.len())
    } else {
        packet.len()
    };
    let end = len
        .checked_sub(info.padding as usize)
        .filter(|&e| e >= c.pos())
        .ok_or(AsfError::BadPacket {
            what: "padding longer than packet",
        })?;
    let header_len = c.pos();
    let mut c = Cursor::new(&packet[..end]);
    c.skip(header_len, "packet header")?;

    let mut out = Vec::new();
    let (count, length_type) = if info.multiple {
        let pf = c.u8("payload flags")?;
        (usize::from(pf & 0x3f), pf >> 6)
    } else {
        (1, 0)
    };
    for _ in 0..count {
        read_payload(&mut c, &info, length_type, &mut out)?;
    }
    Ok(out)
}

fn read_payload<'a>(
    c: &mut Cursor<'a>,
    info: &PacketInfo,
    length_type: u8,
    out: &mut Vec<Payload<'a>>,
) -> Result<(), AsfError> {
    if info.stream_type != 1 {
        // §5.2.2: the stream number length type is always 1 (a byte).
        return Err(AsfError::BadPacket {
            what: "stream number length type",
        });
    }
    let stream = c.u8("stream number")? & 0x7f;
    let object_number = c.sized(info.object_type, "media object number")?;
    let offset = c.sized(info.offset_type, "offset into media object")?;
    let replicated_len = c.sized(info.replicated_type, "replicated data length")? as usize;

    if replicated_len == 1 {
        // §5.2.3.3 compressed payload: `offset` is the presentation time.
        let delta = u32::from(c.u8("presentation time delta")?);
        let data = payload_data(c, info, length_type)?;
        let mut sub = Cursor::new(data);
        let mut k = 0u32;
        while sub.remaining() > 0 {
            let size = usize::from(sub.u8("sub-payload size")?);
            let bytes = sub.bytes(size, "sub-payload data")?;
            out.push(Payload {
                stream,
                object_number: object_number.wrapping_add(k),
                offset: 0,
                object_size: Some(size as u32),
                pres_time_ms: offset.wrapping_add(k.wrapping_mul(delta)),
                data: bytes,
            });
            k = k.wrapping_add(1);
        }
        return Ok(());
    }

    let replicated = c.bytes(replicated_len, "replicated data")?;
    let (object_size, pres_time_ms) = if replicated_len >= 8 {
        let mut r = Cursor::new(replicated);
        (
            Some(r.u32("media object size")?),
            r.u32("presentation time")?,
        )
    } else {
        (None, 0)
    };
    let data = payload_data(c, info, length_type)?;
    out.push(Payload {
        stream,
        object_number,
        offset,
        object_size,
        pres_time_ms,
        data,
    });
    Ok(())
}

fn payload_data<'a>(
    c: &mut Cursor<'a>,
    info: &PacketInfo,
    length_type: u8,
) -> Result<&'a [u8], AsfError> {
    let len = if info.multiple {
        c.sized(length_type, "payload length")? as usize
    } else {
        c.remaining()
    };
    c.bytes(len, "payload data")
}

/// A complete media object of the audio stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaObject {
    pub pres_time_ms: u32,
    pub data: Vec<u8>,
}

/// Reassembles media objects of one stream from payload fragments (§5.2.3.1).
#[derive(Default)]
pub struct Assembler {
    current: Option<(u32, u32, MediaObject)>,
}

/// Largest media object we will assemble; WMA objects are a few kilobytes.
const MAX_OBJECT_SIZE: u32 = 4 * 1024 * 1024;

impl Assembler {
    pub fn reset(&mut self) {
        self.current = None;
    }

    /// Feeds one payload; returns a finished object when this fragment completes one.
    pub fn push(&mut self, p: &Payload<'_>) -> Option<MediaObject> {
        let Some(size) = p.object_size else {
            // No replicated data: the payload is taken to be a whole object.
            self.current = None;
            return Some(MediaObject {
                pres_time_ms: p.pres_time_ms,
                data: p.data.to_vec(),
            });
        };
        if size > MAX_OBJECT_SIZE {
            self.current = None;
            return None;
        }
        if p.offset == 0 {
            let obj = MediaObject {
                pres_time_ms: p.pres_time_ms,
                data: Vec::new(),
            };
            self.current = Some((p.object_number, size, obj));
        }
        let (number, size, obj) = self.current.as_mut()?;
        if *number != p.object_number || obj.data.len() != p.offset as usize {
            // A fragment is missing: drop the partial object.
            self.current = None;
            return None;
        }
        let room = (*size as usize).saturating_sub(obj.data.len());
        obj.data
            .extend_from_slice(&p.data[..p.data.len().min(room)]);
        if obj.data.len() >= *size as usize {
            return self.current.take().map(|(_, _, o)| o);
        }
        None
    }
}

/// Undoes audio-spread interleaving (§10.5): the object is `span` virtual packets written
/// column-wise in chunks of `chunk` bytes.
pub fn descramble(data: &mut [u8], span: usize, packet: usize, chunk: usize) {
    if span <= 1 || chunk == 0 || packet == 0 || !packet.is_multiple_of(chunk) {
        return;
    }
    if data.len() != span * packet {
        return;
    }
    let chunks_per_packet = packet / chunk;
    let src = data.to_vec();
    for (index, dst) in data.chunks_exact_mut(chunk).enumerate() {
        let row = index / span;
        let col = index % span;
        let from = row + col * chunks_per_packet;
        dst.copy_from_slice(&src[from * chunk..from * chunk + chunk]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A packet with error correction, two payloads (word lengths), 8-byte replicated data and
    /// byte padding, shaped like the packets ffmpeg's muxer writes.
    fn two_payload_packet() -> Vec<u8> {
        let mut p = vec![0x82, 0, 0, 0x09, 0x5d, 3, 0, 0, 0, 0, 0, 0, 0x82];
        for (num, bytes) in [(0u8, [1u8, 2, 3]), (1u8, [4, 5, 6])] {
            p.extend_from_slice(&[1, num, 0, 0, 0, 0, 8]);
            p.extend_from_slice(&3u32.to_le_bytes());
            p.extend_from_slice(&(3100u32 + u32::from(num)).to_le_bytes());
            p.extend_from_slice(&3u16.to_le_bytes());
            p.extend_from_slice(&bytes);
        }
        p.extend_from_slice(&[0, 0, 0]);
        p
    }

    #[test]
    fn multiple_payloads_with_padding_parse() {
        let pkt = two_payload_packet();
        let payloads = parse_packet(&pkt).unwrap();
        assert_eq!(payloads.len(), 2);
        assert_eq!(payloads[1].data, &[4, 5, 6]);
        assert_eq!(payloads[1].pres_time_ms, 3101);
        assert_eq!(payloads[0].object_size, Some(3));
    }

    #[test]
    fn explicit_packet_length_shorter_than_buffer_counts_as_padding() {
        // No error correction; single payload; packet length type word (0x40), padding byte.
        let mut p = vec![0x40 | 0x08, 0x5d];
        p.extend_from_slice(&23u16.to_le_bytes()); // packet length: 18 header + 3 + 2 padding
        p.push(2); // padding
        p.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // send time, duration
        p.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0]); // stream, object, offset, no replicated
        p.extend_from_slice(&[9, 9, 9, 9, 9]); // 5 bytes: 3 payload + 2 padding
        p.extend_from_slice(&[0xee; 12]); // beyond the explicit length
        assert_eq!(packet_length(&p).unwrap(), Some(23));
        let payloads = parse_packet(&p).unwrap();
        assert_eq!(payloads.len(), 1);
        assert_eq!(payloads[0].data, &[9, 9, 9]);
    }

    #[test]
    fn compressed_payload_splits_into_objects() {
        // Single payload, replicated length 1, offset field = presentation time 100, delta 20.
        let mut p = vec![0x00, 0x5d, 0, 0, 0, 0, 0, 0];
        p.extend_from_slice(&[1, 7]);
        p.extend_from_slice(&100u32.to_le_bytes());
        p.extend_from_slice(&[1, 20, 2, 0xaa, 0xbb, 1, 0xcc]);
        let payloads = parse_packet(&p).unwrap();
        assert_eq!(payloads.len(), 2);
        assert_eq!(payloads[1].pres_time_ms, 120);
        assert_eq!(payloads[1].data, &[0xcc]);
    }

    #[test]
    fn truncated_packets_are_errors_not_panics() {
        let pkt = two_payload_packet();
        for n in 0..pkt.len() - 3 {
            let _ = parse_packet(&pkt[..n]);
        }
        assert!(parse_packet(&pkt[..20]).is_err());
    }

    #[test]
    fn assembler_joins_fragments_and_drops_gaps() {
        let mut a = Assembler::default();
        let frag = |offset, data: &'static [u8]| Payload {
            stream: 1,
            object_number: 5,
            offset,
            object_size: Some(4),
            pres_time_ms: 9,
            data,
        };
        assert!(a.push(&frag(0, &[1, 2])).is_none());
        let obj = a.push(&frag(2, &[3, 4])).unwrap();
        assert_eq!(obj.data, vec![1, 2, 3, 4]);
        assert!(a.push(&frag(0, &[1, 2])).is_none());
        assert!(a.push(&frag(3, &[4])).is_none());
        assert!(a.push(&frag(2, &[3, 4])).is_none());
    }

    #[test]
    fn descramble_reorders_columns() {
        // span 2, packet 4, chunk 2: stored order is p0c0 p1c0 p0c1 p1c1.
        let mut d = vec![0, 0, 2, 2, 1, 1, 3, 3];
        descramble(&mut d, 2, 4, 2);
        assert_eq!(d, vec![0, 0, 1, 1, 2, 2, 3, 3]);
    }
}
