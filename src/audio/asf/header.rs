//! ASF Header Object parsing (ASF specification 1.20, §3).
//!
//! The Header Object is read whole into memory (it is small: a few hundred bytes to a few
//! kilobytes) and walked here. We keep what decoding audio needs: the File Properties (§3.2:
//! packet size, preroll, duration), the first audio Stream Properties (§3.3 with the
//! WAVEFORMATEX of §9.1 and the audio-spread error-correction data of §10.5), and the text of the
//! Content Description (§3.10) and Extended Content Description (§3.11) objects. Encryption
//! objects (§3.14, §3.15 and PlayReady's object inside the Header Extension, §3.4) are only
//! detected, so the reader can refuse DRM-protected files by name.
//!
//! Not handled: video and script streams (ignored), Extended Stream Properties and bitrate
//! mutual exclusion (one audio stream is all a prompt file carries), index objects.

use super::guid::{self, utf16le, Cursor, Guid};
use super::AsfError;

/// Upper bound on the Header Object we are willing to hold in memory.
pub const MAX_HEADER_SIZE: u64 = 16 * 1024 * 1024;

/// WAVEFORMATEX codec tags of the Windows Media Audio family.
pub mod tag {
    pub const WMA_V1: u16 = 0x0160;
    pub const WMA_V2: u16 = 0x0161;
    pub const WMA_PRO: u16 = 0x0162;
    pub const WMA_LOSSLESS: u16 = 0x0163;
    pub const WMA_VOICE: u16 = 0x000A;
    pub const WMA_VOICE_10: u16 = 0x000B;
}

/// The parts of an audio stream's Stream Properties Object we use.
#[derive(Clone, Debug)]
pub struct AudioStream {
    pub stream_number: u8,
    pub codec_tag: u16,
    pub channels: u16,
    pub sample_rate: u32,
    pub avg_bytes_per_sec: u32,
    pub block_align: u16,
    pub bits_per_sample: u16,
    /// Codec-specific data that follows WAVEFORMATEX (`cbSize` bytes).
    pub extra_data: Vec<u8>,
    /// Audio-spread interleaving (§10.5): `span` packets of `virtual_packet_len` bytes are
    /// interleaved in chunks of `virtual_chunk_len` bytes. A span of 1 means no interleaving.
    pub spread_span: u8,
    pub spread_packet_len: u16,
    pub spread_chunk_len: u16,
    /// Stream Properties flags bit 15: "Encrypted Content Flag".
    pub encrypted: bool,
}

/// Everything the reader needs from the Header Object.
#[derive(Clone, Debug, Default)]
pub struct AsfHeader {
    /// Size of every data packet when min == max (§3.2 requires that); `None` otherwise.
    pub packet_size: Option<u32>,
    pub max_packet_size: u32,
    pub data_packets: u64,
    /// Play duration in 100 ns units, which includes the preroll.
    pub play_duration: u64,
    pub preroll_ms: u64,
    pub audio: Option<AudioStream>,
    pub encrypted: bool,
    /// (key, value) text tags from the content description objects.
    pub tags: Vec<(String, String)>,
}

/// Parses the body of the Header Object: `buf` starts right after its 30-byte header (GUID,
/// size, object count, two reserved bytes).
pub fn parse_header(buf: &[u8], object_count: u32) -> Result<AsfHeader, AsfError> {
    let mut out = AsfHeader::default();
    walk_objects(buf, Some(object_count), &mut out)?;
    Ok(out)
}

fn walk_objects(buf: &[u8], count: Option<u32>, out: &mut AsfHeader) -> Result<(), AsfError> {
    let mut cur = Cursor::new(buf);
    let mut seen = 0u32;
    while cur.remaining() >= 24 && count.is_none_or(|c| seen < c) {
        let id = cur.guid("object id")?;
        let size = cur.u64("object size")?;
        if size < 24 || size - 24 > cur.remaining() as u64 {
            return Err(AsfError::BadObjectSize { size });
        }
        let body = cur.bytes((size - 24) as usize, "object body")?;
        parse_object(id, body, out)?;
        seen += 1;
    }
    Ok(())
}

fn parse_object(id: Guid, body: &[u8], out: &mut AsfHeader) -> Result<(), AsfError> {
    let mut c = Cursor::new(body);
    match id {
        guid::FILE_PROPERTIES => {
            // §3.2: file id, file size, creation date, then the fields we need.
            c.skip(16 + 8 + 8, "file properties")?;
            out.data_packets = c.u64("data packets count")?;
            out.play_duration = c.u64("play duration")?;
            c.skip(8, "send duration")?;
            out.preroll_ms = c.u64("preroll")?;
            c.skip(4, "flags")?;
            let min = c.u32("minimum data packet size")?;
            let max = c.u32("maximum data packet size")?;
            out.max_packet_size = max;
            out.packet_size = (min == max && min > 0).then_some(min);
        }
        guid::STREAM_PROPERTIES if out.audio.is_none() => out.audio = parse_stream(&mut c)?,
        guid::HEADER_EXTENSION => {
            // §3.4: reserved GUID, reserved u16, data size, then nested objects.
            c.skip(16 + 2, "header extension")?;
            let len = c.u32("header extension data size")? as usize;
            let nested = c.bytes(len.min(c.remaining()), "header extension data")?;
            walk_objects(nested, None, out)?;
        }
        guid::CONTENT_DESCRIPTION => parse_content_description(&mut c, out)?,
        guid::EXTENDED_CONTENT_DESCRIPTION => parse_extended_content(&mut c, out)?,
        guid::CONTENT_ENCRYPTION
        | guid::EXTENDED_CONTENT_ENCRYPTION
        | guid::ADVANCED_CONTENT_ENCRYPTION => out.encrypted = true,
        _ => {}
    }
    Ok(())
}

/// §3.3 Stream Properties Object. Returns `None` for non-audio streams.
fn parse_stream(c: &mut Cursor<'_>) -> Result<Option<AudioStream>, AsfError> {
    let stream_type = c.guid("stream type")?;
    let ec_type = c.guid("error correction type")?;
    c.skip(8, "time offset")?;
    let ts_len = c.u32("type-specific data length")? as usize;
    let ec_len = c.u32("error correction data length")? as usize;
    let flags = c.u16("stream flags")?;
    c.skip(4, "reserved")?;
    let ts = c.bytes(ts_len, "type-specific data")?;
    let ec = c.bytes(ec_len, "error correction data")?;
    if stream_type != guid::AUDIO_MEDIA {
        return Ok(None);
    }
    // §9.1 WAVEFORMATEX.
    let mut w = Cursor::new(ts);
    let codec_tag = w.u16("wFormatTag")?;
    let channels = w.u16("nChannels")?;
    let sample_rate = w.u32("nSamplesPerSec")?;
    let avg_bytes_per_sec = w.u32("nAvgBytesPerSec")?;
    let block_align = w.u16("nBlockAlign")?;
    let bits_per_sample = w.u16("wBitsPerSample")?;
    let extra_data = if w.remaining() >= 2 {
        let cb = w.u16("cbSize")? as usize;
        w.bytes(cb.min(w.remaining()), "codec specific data")?
            .to_vec()
    } else {
        Vec::new()
    };
    let (mut span, mut vpl, mut vcl) = (1u8, 0u16, 0u16);
    if ec_type == guid::AUDIO_SPREAD && ec.len() >= 5 {
        let mut e = Cursor::new(ec);
        span = e.u8("span")?;
        vpl = e.u16("virtual packet length")?;
        vcl = e.u16("virtual chunk length")?;
    }
    Ok(Some(AudioStream {
        stream_number: (flags & 0x7f) as u8,
        codec_tag,
        channels,
        sample_rate,
        avg_bytes_per_sec,
        block_align,
        bits_per_sample,
        extra_data,
        spread_span: span,
        spread_packet_len: vpl,
        spread_chunk_len: vcl,
        encrypted: flags & 0x8000 != 0,
    }))
}

/// §3.10: five lengths, then five UTF-16LE strings.
fn parse_content_description(c: &mut Cursor<'_>, out: &mut AsfHeader) -> Result<(), AsfError> {
    const KEYS: [&str; 5] = ["Title", "Author", "Copyright", "Description", "Rating"];
    let mut lens = [0usize; 5];
    for len in &mut lens {
        *len = c.u16("content description length")? as usize;
    }
    for (key, len) in KEYS.iter().zip(lens) {
        let text = utf16le(c.bytes(len, "content description string")?);
        if !text.is_empty() {
            out.tags.push((key.to_string(), text));
        }
    }
    Ok(())
}

/// §3.11: descriptor count, then (name, type, value) triples. Only strings (type 0) are kept.
fn parse_extended_content(c: &mut Cursor<'_>, out: &mut AsfHeader) -> Result<(), AsfError> {
    let count = c.u16("descriptor count")?;
    for _ in 0..count {
        let name_len = c.u16("descriptor name length")? as usize;
        let name = utf16le(c.bytes(name_len, "descriptor name")?);
        let kind = c.u16("descriptor value type")?;
        let value_len = c.u16("descriptor value length")? as usize;
        let value = c.bytes(value_len, "descriptor value")?;
        if kind == 0 {
            let text = utf16le(value);
            if !text.is_empty() {
                out.tags.push((name, text));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(id: Guid, body: &[u8]) -> Vec<u8> {
        let mut v = id.0.to_vec();
        v.extend_from_slice(&(body.len() as u64 + 24).to_le_bytes());
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn content_description_yields_title_and_author() {
        let title: Vec<u8> = "Hi\0"
            .encode_utf16()
            .flat_map(|u| u.to_le_bytes())
            .collect();
        let author: Vec<u8> = "Me\0"
            .encode_utf16()
            .flat_map(|u| u.to_le_bytes())
            .collect();
        let mut body = Vec::new();
        for len in [title.len(), author.len(), 0, 0, 0] {
            body.extend_from_slice(&(len as u16).to_le_bytes());
        }
        body.extend_from_slice(&title);
        body.extend_from_slice(&author);
        let h = parse_header(&object(guid::CONTENT_DESCRIPTION, &body), 1).unwrap();
        assert_eq!(
            h.tags,
            vec![
                ("Title".into(), "Hi".into()),
                ("Author".into(), "Me".into())
            ]
        );
    }

    #[test]
    fn encryption_object_marks_header_encrypted() {
        let h = parse_header(&object(guid::CONTENT_ENCRYPTION, &[0; 16]), 1).unwrap();
        assert!(h.encrypted);
    }

    #[test]
    fn oversized_object_is_an_error() {
        let mut o = object(guid::FILE_PROPERTIES, &[0; 8]);
        o[16] = 0xff;
        assert!(matches!(
            parse_header(&o, 1),
            Err(AsfError::BadObjectSize { .. })
        ));
    }
}
