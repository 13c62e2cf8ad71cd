//! `AsfReader`: symphonia `FormatReader` over an ASF file carrying one WMA audio stream.
//!
//! Layout (ASF specification 1.20, §2–§5): Header Object (parsed in `header`), then the Data
//! Object: 50 bytes of header (GUID, size, file id, total packet count, reserved 0x0101) followed
//! by data packets (parsed in `packet`). Packets are normally all of the size given in the File
//! Properties Object; when min ≠ max packet size each packet's explicit length is used.
//!
//! Each reassembled media object is split into codec blocks of `nBlockAlign` bytes — one WMA
//! "superframe" each — and every block becomes one symphonia `Packet`. Timestamps are in samples
//! (time base 1/sample_rate) from the object's presentation time minus the preroll; blocks after
//! the first in an object are spaced by the nominal block duration.
//!
//! After the last data packet the reader returns one empty packet: the WMA decoder's signal to
//! flush the overlap of its final frame (as the reference decoder does at end of stream).
//!
//! Seeking is coarse: the reader jumps to the data packet proportional to the requested time
//! and the decoder resynchronises on the next superframe. Index objects are not used.

use std::collections::VecDeque;
use std::io::{Seek, SeekFrom};
use std::sync::Arc;

use symphonia::core::audio::{Channels, Position};
use symphonia::core::codecs::audio::AudioCodecParameters;
use symphonia::core::codecs::CodecParameters;
use symphonia::core::common::FourCc;
use symphonia::core::errors::{Error, Result, SeekErrorKind};
use symphonia::core::formats::prelude::*;
use symphonia::core::formats::probe::{
    ProbeDataMatchSpec, ProbeFormatData, ProbeableFormat, Score, Scoreable,
};
use symphonia::core::io::{MediaSourceStream, ReadBytes, ScopedStream, SeekBuffered};
use symphonia::core::meta::{
    Metadata, MetadataBuilder, MetadataId, MetadataInfo, MetadataLog, RawTag, StandardTag, Tag,
};

use super::guid::{self, Cursor};
use super::header::{self, tag, AsfHeader, AudioStream};
use super::packet::{self, Assembler};
use super::AsfError;
use crate::audio::wma;

/// The ASF format id ("asf " as a FourCC).
pub const FORMAT_ID_ASF: FormatId = FormatId::new(FourCc::new(*b"asf "));

const ASF_FORMAT_INFO: FormatInfo = FormatInfo {
    format: FORMAT_ID_ASF,
    short_name: "asf",
    long_name: "Advanced Systems Format (Windows Media)",
};

const ASF_METADATA_INFO: MetadataInfo = MetadataInfo {
    metadata: MetadataId::new(FourCc::new(*b"asf ")),
    short_name: "asf",
    long_name: "ASF content description",
};

/// Size of the Data Object's own header (§5.1).
const DATA_OBJECT_HEADER: u64 = 50;

/// Symphonia format reader for ASF (.wma/.asf) files.
pub struct AsfReader<'s> {
    reader: MediaSourceStream<'s>,
    media_info: MediaInfo,
    tracks: Vec<Track>,
    metadata: MetadataLog,
    audio: AudioStream,
    header: AsfHeader,
    data_start: u64,
    data_end: Option<u64>,
    packets_read: u64,
    assembler: Assembler,
    queue: VecDeque<Packet>,
    /// Nominal samples per codec block, used to space blocks inside one media object.
    block_dur: u64,
    /// Timestamp after the last queued block, for the end-of-stream packet.
    next_pts: u64,
    /// Whether the empty end-of-stream packet has been returned.
    eos_sent: bool,
}

impl<'s> AsfReader<'s> {
    /// Reads the Header Object and positions the reader at the first data packet.
    pub fn try_new(mut mss: MediaSourceStream<'s>, opts: FormatOptions) -> Result<Self> {
        let id = read_guid(&mut mss)?;
        if id != guid::HEADER {
            return Err(AsfError::NotAsf.into());
        }
        let size = mss.read_u64()?;
        if !(30..=header::MAX_HEADER_SIZE).contains(&size) {
            return Err(AsfError::BadObjectSize { size }.into());
        }
        let count = mss.read_u32()?;
        mss.ignore_bytes(2)?;
        let body = mss.read_boxed_slice_exact((size - 30) as usize)?;
        let header = header::parse_header(&body, count)?;
        let audio = check_playable(&header)?;

        // Skip any top-level objects between the header and the Data Object.
        let data_obj_start = loop {
            let start = mss.pos();
            let id = read_guid(&mut mss)?;
            let size = mss.read_u64()?;
            if id == guid::DATA {
                break (start, size);
            }
            if size < 24 {
                return Err(AsfError::BadObjectSize { size }.into());
            }
            mss.ignore_bytes(size - 24)?;
        };
        mss.ignore_bytes(DATA_OBJECT_HEADER - 24)?;
        let data_start = mss.pos();
        let (obj_start, obj_size) = data_obj_start;
        // A size of 0 (or too small) is legal for live/broadcast files: read to end of stream.
        let data_end = (obj_size > DATA_OBJECT_HEADER).then(|| obj_start.saturating_add(obj_size));

        let track = build_track(&header, &audio);
        let block_dur = nominal_block_dur(&audio);
        let mut metadata = opts.external_data.metadata.unwrap_or_default();
        if !header.tags.is_empty() {
            metadata.push(build_metadata(&header.tags));
        }
        Ok(AsfReader {
            reader: mss,
            media_info: MediaInfo::from_track(&track),
            tracks: vec![track],
            metadata,
            audio,
            header,
            data_start,
            data_end,
            packets_read: 0,
            assembler: Assembler::default(),
            queue: VecDeque::new(),
            block_dur,
            next_pts: 0,
            eos_sent: false,
        })
    }

    /// Reads one data packet and queues the codec blocks it completes.
    fn read_data_packet(&mut self) -> Result<bool> {
        if self.data_end.is_some_and(|end| self.reader.pos() >= end)
            || (self.header.data_packets > 0 && self.packets_read >= self.header.data_packets)
        {
            return Ok(false);
        }
        let bytes = match self.header.packet_size {
            Some(size) => match self.reader.read_boxed_slice_exact(size as usize) {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    // A stream with no declared end simply stops; a declared one was cut short.
                    if self.data_end.is_none() && self.header.data_packets == 0 {
                        return Ok(false);
                    }
                    return Err(AsfError::Truncated {
                        field: "data packet",
                    }
                    .into());
                }
                Err(e) => return Err(e.into()),
            },
            None => self.read_variable_packet()?,
        };
        self.packets_read += 1;
        let payloads = packet::parse_packet(&bytes)?;
        let stream = self.audio.stream_number;
        for p in payloads.iter().filter(|p| p.stream == stream) {
            if let Some(mut obj) = self.assembler.push(p) {
                packet::descramble(
                    &mut obj.data,
                    usize::from(self.audio.spread_span),
                    usize::from(self.audio.spread_packet_len),
                    usize::from(self.audio.spread_chunk_len),
                );
                self.queue_object(obj.pres_time_ms, &obj.data);
            }
        }
        Ok(true)
    }

    /// Packets without a fixed size carry their length in the payload parsing information.
    fn read_variable_packet(&mut self) -> Result<Box<[u8]>> {
        let max = self.header.max_packet_size.clamp(32, 1 << 20) as usize;
        self.reader.ensure_seekback_buffer(64);
        let mut prefix = [0u8; 32];
        let mut n = 0;
        while n < prefix.len() {
            match self.reader.read_byte() {
                Ok(b) => {
                    prefix[n] = b;
                    n += 1;
                }
                Err(_) => break,
            }
        }
        self.reader.seek_buffered_rev(n);
        let len = packet::packet_length(&prefix[..n])?.ok_or(AsfError::BadPacket {
            what: "variable-size packet without a length",
        })?;
        if len as usize > max || len < 8 {
            return Err(AsfError::BadPacket {
                what: "packet length out of range",
            }
            .into());
        }
        Ok(self.reader.read_boxed_slice_exact(len as usize)?)
    }

    fn queue_object(&mut self, pres_time_ms: u32, data: &[u8]) {
        let preroll = self.header.preroll_ms;
        let rate = u64::from(self.audio.sample_rate);
        let start = u64::from(pres_time_ms)
            .saturating_sub(preroll)
            .saturating_mul(rate)
            / 1000;
        let align = usize::from(self.audio.block_align).max(1);
        for (k, block) in data.chunks(align).enumerate() {
            let pts = start.saturating_add((k as u64).saturating_mul(self.block_dur));
            let ts = Timestamp::new(i64::try_from(pts).unwrap_or(i64::MAX));
            self.queue
                .push_back(Packet::new(0, ts, Duration::new(self.block_dur), block));
            self.next_pts = pts.saturating_add(self.block_dur);
        }
    }
}

fn read_guid(mss: &mut MediaSourceStream<'_>) -> Result<guid::Guid> {
    let mut g = [0u8; 16];
    mss.read_buf_exact(&mut g)?;
    Ok(guid::Guid(g))
}

/// Refuses what we recognise but cannot play, naming it (the "clear refusals").
fn check_playable(h: &AsfHeader) -> std::result::Result<AudioStream, AsfError> {
    let audio = h.audio.clone().ok_or(AsfError::NoAudioStream)?;
    if h.encrypted || audio.encrypted {
        return Err(AsfError::Refused {
            variant: "DRM-protected Windows Media",
        });
    }
    let variant = match audio.codec_tag {
        tag::WMA_V1 | tag::WMA_V2 => None,
        tag::WMA_PRO => Some("WMA Pro"),
        tag::WMA_LOSSLESS => Some("WMA Lossless"),
        tag::WMA_VOICE | tag::WMA_VOICE_10 => Some("WMA Voice"),
        other => return Err(AsfError::UnsupportedCodec { tag: other }),
    };
    if let Some(variant) = variant {
        return Err(AsfError::Refused { variant });
    }
    if audio.channels == 0 || audio.channels > 2 || audio.sample_rate == 0 {
        return Err(AsfError::BadAudioFormat);
    }
    Ok(audio)
}

/// The complete WAVEFORMATEX is handed to the decoder as extra data, because the WMA bitstream
/// depends on the bit rate and block size, which `AudioCodecParameters` has no field for.
fn waveformatex(a: &AudioStream) -> Vec<u8> {
    let mut v = Vec::with_capacity(18 + a.extra_data.len());
    v.extend_from_slice(&a.codec_tag.to_le_bytes());
    v.extend_from_slice(&a.channels.to_le_bytes());
    v.extend_from_slice(&a.sample_rate.to_le_bytes());
    v.extend_from_slice(&a.avg_bytes_per_sec.to_le_bytes());
    v.extend_from_slice(&a.block_align.to_le_bytes());
    v.extend_from_slice(&a.bits_per_sample.to_le_bytes());
    v.extend_from_slice(&(a.extra_data.len() as u16).to_le_bytes());
    v.extend_from_slice(&a.extra_data);
    v
}

fn build_track(h: &AsfHeader, a: &AudioStream) -> Track {
    let codec = if a.codec_tag == tag::WMA_V1 {
        wma::CODEC_ID_WMAV1
    } else {
        wma::CODEC_ID_WMAV2
    };
    let channels = if a.channels == 1 {
        Channels::Positioned(Position::FRONT_CENTER)
    } else {
        Channels::Positioned(Position::FRONT_LEFT | Position::FRONT_RIGHT)
    };
    let mut params = AudioCodecParameters::new();
    params
        .for_codec(codec)
        .with_sample_rate(a.sample_rate)
        .with_channels(channels)
        .with_max_frames_per_packet(wma::MAX_FRAMES_PER_SUPERFRAME)
        .with_extra_data(waveformatex(a).into_boxed_slice());
    let mut track = Track::new(0);
    track.with_codec_params(CodecParameters::Audio(params));
    // Play duration is in 100 ns units and includes the preroll (§3.2).
    let dur_100ns = h
        .play_duration
        .saturating_sub(h.preroll_ms.saturating_mul(10_000));
    if dur_100ns > 0 {
        let frames = (u128::from(dur_100ns) * u128::from(a.sample_rate) / 10_000_000) as u64;
        track
            .with_num_frames(frames)
            .with_duration(Duration::new(frames));
    }
    track
}

fn nominal_block_dur(a: &AudioStream) -> u64 {
    if a.avg_bytes_per_sec == 0 {
        return 0;
    }
    u64::from(a.block_align) * u64::from(a.sample_rate) / u64::from(a.avg_bytes_per_sec)
}

fn build_metadata(tags: &[(String, String)]) -> symphonia::core::meta::MetadataRevision {
    let mut b = MetadataBuilder::new(ASF_METADATA_INFO);
    for (key, value) in tags {
        let v = Arc::new(value.clone());
        let std = match key.as_str() {
            "Title" => Some(StandardTag::TrackTitle(v)),
            "Author" => Some(StandardTag::Artist(v)),
            "Copyright" => Some(StandardTag::Copyright(v)),
            "Description" => Some(StandardTag::Comment(v)),
            "WM/AlbumTitle" => Some(StandardTag::Album(v)),
            "WM/Genre" => Some(StandardTag::Genre(v)),
            _ => None,
        };
        let raw = RawTag::new(key.clone(), value.clone());
        b.add_tag(match std {
            Some(s) => Tag::new_std(raw, s),
            None => Tag::new(raw),
        });
    }
    b.build()
}

impl Scoreable for AsfReader<'_> {
    fn score(mut src: ScopedStream<&mut MediaSourceStream<'_>>) -> Result<Score> {
        let mut g = [0u8; 16];
        src.read_buf_exact(&mut g)?;
        Ok(if g == guid::HEADER.0 {
            Score::Supported(255)
        } else {
            Score::Unsupported
        })
    }
}

impl ProbeableFormat<'_> for AsfReader<'_> {
    fn try_probe_new(
        mss: MediaSourceStream<'_>,
        opts: FormatOptions,
    ) -> Result<Box<dyn FormatReader + '_>> {
        Ok(Box::new(AsfReader::try_new(mss, opts)?))
    }

    fn probe_data() -> &'static [ProbeFormatData] {
        const HEADER_MARKER: [u8; 16] = guid::HEADER.0;
        &[ProbeFormatData {
            spec: ProbeDataMatchSpec {
                extensions: &["wma", "asf", "wmv"],
                mime_types: &["audio/x-ms-wma", "video/x-ms-asf", "application/vnd.ms-asf"],
                markers: &[&HEADER_MARKER],
            },
            info: ASF_FORMAT_INFO,
        }]
    }
}

impl FormatReader for AsfReader<'_> {
    fn format_info(&self) -> &FormatInfo {
        &ASF_FORMAT_INFO
    }

    fn media_info(&self) -> &MediaInfo {
        &self.media_info
    }

    fn metadata(&mut self) -> Metadata<'_> {
        self.metadata.metadata()
    }

    fn seek(&mut self, _mode: SeekMode, to: SeekTo) -> Result<SeekedTo> {
        let track = &self.tracks[0];
        let required_ts = match to {
            SeekTo::Timestamp { ts, .. } => ts,
            SeekTo::Time { time, .. } => track
                .time_base
                .and_then(|tb| tb.calc_timestamp(time))
                .ok_or(Error::SeekError(SeekErrorKind::Unseekable))?,
        };
        let (Some(size), Some(frames)) = (self.header.packet_size, track.num_frames) else {
            return Err(Error::SeekError(SeekErrorKind::Unseekable));
        };
        if required_ts.is_negative() || required_ts.get() as u64 > frames {
            return Err(Error::SeekError(SeekErrorKind::OutOfRange));
        }
        let packets = self.header.data_packets.max(1);
        let index = (u128::from(required_ts.get() as u64) * u128::from(packets)
            / u128::from(frames.max(1))) as u64;
        let index = index.min(packets - 1);
        let pos = self
            .data_start
            .saturating_add(index.saturating_mul(u64::from(size)));
        self.reader.seek(SeekFrom::Start(pos))?;
        self.packets_read = index;
        self.assembler.reset();
        self.queue.clear();
        self.eos_sent = false;
        let actual = (u128::from(index) * u128::from(frames) / u128::from(packets)) as u64;
        Ok(SeekedTo {
            track_id: 0,
            required_ts,
            actual_ts: Timestamp::new(i64::try_from(actual).unwrap_or(i64::MAX)),
        })
    }

    fn tracks(&self) -> &[Track] {
        &self.tracks
    }

    fn next_packet(&mut self) -> Result<Option<Packet>> {
        loop {
            if let Some(p) = self.queue.pop_front() {
                return Ok(Some(p));
            }
            if !self.read_data_packet()? {
                if self.eos_sent {
                    return Ok(None);
                }
                // One empty packet tells the WMA decoder to flush its final overlap (the last
                // frame_len samples), which it cannot emit any other way.
                self.eos_sent = true;
                let ts = Timestamp::new(i64::try_from(self.next_pts).unwrap_or(i64::MAX));
                return Ok(Some(Packet::new(0, ts, Duration::ZERO, Vec::new())));
            }
        }
    }

    fn into_inner<'a>(self: Box<Self>) -> MediaSourceStream<'a>
    where
        Self: 'a,
    {
        self.reader
    }
}

/// Reads the Header Object of an in-memory file (used by `holdline media probe` to describe a
/// file it refuses, and by tests).
pub fn inspect(bytes: &[u8]) -> std::result::Result<AsfHeader, AsfError> {
    let mut c = Cursor::new(bytes);
    if c.guid("header object id")? != guid::HEADER {
        return Err(AsfError::NotAsf);
    }
    let size = c.u64("header object size")?;
    let count = c.u32("header object count")?;
    c.skip(2, "reserved")?;
    let body_len = usize::try_from(size.saturating_sub(30)).unwrap_or(usize::MAX);
    header::parse_header(c.bytes(body_len, "header object body")?, count)
}
