//! Windows Media Audio v1/v2 decoder ("WMA 9 Standard" is version 2), registered into
//! symphonia's codec registry.
//!
//! WMA v1/v2 is an MDCT transform codec. A stream is cut into frames of 512/1024/2048 samples;
//! a frame is split into blocks (variable sizes when enabled); each block carries a spectral
//! envelope (exponents, Huffman- or LSP-coded), run-level Huffman coded coefficient levels,
//! optional noise substitution for high bands, and optional mid/side stereo. Frames are packed
//! into fixed-size superframes, optionally with a bit reservoir so frames straddle packets.
//!
//! - `params`: stream parameters derived from WAVEFORMATEX (frame/block sizes, bands, noise).
//! - `tables`, `coef_tables`: constant tables of the format (data).
//! - `vlc`: Huffman codebooks; `bits`: bit reader.
//! - `exponents`: Huffman and LSP envelope decoding.
//! - `frame`: block/frame decoding and spectrum reconstruction.
//! - `synth`: inverse MDCT, windows, overlap-add.
//! - `decoder`: superframes and the symphonia `AudioDecoder`.
//!
//! Not supported (refused by the ASF reader, by name): WMA Pro, WMA Lossless, WMA Voice.

mod bits;
pub mod coef_tables;
mod decoder;
mod exponents;
mod frame;
pub mod params;
mod synth;
pub mod tables;
mod vlc;

use symphonia::core::codecs::audio::AudioCodecId;
use symphonia::core::codecs::registry::CodecRegistry;
use symphonia::core::common::FourCc;
use symphonia::core::errors::Error as SymphoniaError;

pub use decoder::WmaDecoder;

/// Codec id of Windows Media Audio version 1 (WAVEFORMATEX tag 0x0160).
pub const CODEC_ID_WMAV1: AudioCodecId = AudioCodecId::new(FourCc::new(*b"wma1"));
/// Codec id of Windows Media Audio version 2 (tag 0x0161; "WMA 9 Standard" is version 2).
pub const CODEC_ID_WMAV2: AudioCodecId = AudioCodecId::new(FourCc::new(*b"wma2"));
/// Upper bound on the samples per channel one superframe decodes to (16 frames of 2048).
pub const MAX_FRAMES_PER_SUPERFRAME: u64 = 16 * 2048;

/// What went wrong decoding WMA.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WmaError {
    #[error("unusable WMA stream parameters: {what}")]
    BadParams { what: &'static str },
    #[error("WMA frame is truncated")]
    Truncated,
    #[error("corrupt WMA frame: {what}")]
    Corrupt { what: &'static str },
    #[error("WMA codebook could not be built")]
    Codebook,
}

impl From<WmaError> for SymphoniaError {
    fn from(e: WmaError) -> Self {
        match e {
            WmaError::BadParams { what } => SymphoniaError::Unsupported(what),
            WmaError::Truncated => SymphoniaError::DecodeError("wma: frame is truncated"),
            WmaError::Corrupt { what } => SymphoniaError::DecodeError(what),
            WmaError::Codebook => SymphoniaError::DecodeError("wma: codebook build failed"),
        }
    }
}

/// Registers the WMA v1/v2 decoder with a symphonia codec registry.
pub fn register(registry: &mut CodecRegistry) {
    registry.register_audio_decoder::<WmaDecoder>();
}
