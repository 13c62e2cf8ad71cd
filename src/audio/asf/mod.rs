//! ASF container demuxer (Advanced Systems Format 1.20, the container of .wma files),
//! registered into symphonia's probe so `.wma` goes through the same pipeline as `.wav`/`.mp3`.
//!
//! - `guid`: object GUIDs and a bounds-checked byte cursor.
//! - `header`: the Header Object (§3): file and stream properties, WAVEFORMATEX, metadata,
//!   encryption detection.
//! - `packet`: data packets (§5.2): error correction, payload parsing information, single /
//!   multiple / compressed payloads, replicated data, padding; media-object reassembly and
//!   audio-spread descrambling (§10.5).
//! - `reader`: `AsfReader`, the symphonia `FormatReader`.
//!
//! Only the first audio stream is exposed, and only WMA v1/v2 is accepted: WMA Pro, Lossless,
//! Voice and DRM-protected files are refused with an error naming the variant. Video streams,
//! index objects and script commands are ignored.

mod guid;
pub mod header;
pub mod packet;
mod reader;

use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::probe::Probe;

pub use reader::{inspect, AsfReader, FORMAT_ID_ASF};

/// What went wrong reading an ASF file.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AsfError {
    #[error("not an ASF file (no ASF header object)")]
    NotAsf,
    #[error("ASF file truncated while reading {field}")]
    Truncated { field: &'static str },
    #[error("ASF object has an impossible size {size}")]
    BadObjectSize { size: u64 },
    #[error("malformed ASF data packet: {what}")]
    BadPacket { what: &'static str },
    #[error("ASF file has no audio stream")]
    NoAudioStream,
    #[error("ASF audio stream has an invalid format (channels or sample rate)")]
    BadAudioFormat,
    #[error("{variant} is not supported; convert the file to MP3 or WAV")]
    Refused { variant: &'static str },
    #[error("audio codec tag {tag:#06x} in ASF is not supported; convert the file to MP3 or WAV")]
    UnsupportedCodec { tag: u16 },
}

impl From<AsfError> for SymphoniaError {
    /// symphonia errors carry `&'static str`, so each case maps to a fixed message.
    fn from(e: AsfError) -> Self {
        match e {
            AsfError::NotAsf => SymphoniaError::Unsupported("asf: not an ASF file"),
            AsfError::Truncated { .. } => SymphoniaError::DecodeError("asf: file is truncated"),
            AsfError::BadObjectSize { .. } => {
                SymphoniaError::DecodeError("asf: object has an impossible size")
            }
            AsfError::BadPacket { .. } => SymphoniaError::DecodeError("asf: malformed data packet"),
            AsfError::NoAudioStream => SymphoniaError::Unsupported("asf: no audio stream"),
            AsfError::BadAudioFormat => {
                SymphoniaError::Unsupported("asf: audio stream needs 1 or 2 channels and a rate")
            }
            AsfError::Refused { variant } => SymphoniaError::Unsupported(match variant {
                "WMA Pro" => "WMA Pro is not supported; convert the file to MP3 or WAV",
                "WMA Lossless" => "WMA Lossless is not supported; convert the file to MP3 or WAV",
                "WMA Voice" => "WMA Voice is not supported; convert the file to MP3 or WAV",
                _ => "DRM-protected Windows Media is not supported; convert the file to MP3 or WAV",
            }),
            AsfError::UnsupportedCodec { .. } => SymphoniaError::Unsupported(
                "this ASF audio codec is not supported; convert the file to MP3 or WAV",
            ),
        }
    }
}

/// Registers the ASF reader with a symphonia probe.
pub fn register(probe: &mut Probe) {
    probe.register_format::<AsfReader<'_>>();
}
