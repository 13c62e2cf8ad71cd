//! Why a prompt file could not be turned into G.711 audio.
//!
//! Every variant names the file (`name`: the path or label the caller gave) and the reason, so an
//! operator reading `holdline check-config` or the admin API knows what to fix.

use std::path::PathBuf;

/// A failure to read, decode, convert or write an audio file.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    /// The file could not be read or written.
    #[error("{path}: {source}", path = path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A container or codec we do not decode.
    #[error("{name}: unsupported audio: {reason}")]
    Unsupported { name: String, reason: String },
    /// The file is malformed beyond what skipping a bad packet can repair.
    #[error("{name}: corrupt audio: {reason}")]
    Corrupt { name: String, reason: String },
    /// The file ends before the length its header declares.
    #[error("{name}: truncated: {decoded} of {expected} sample frames present")]
    Truncated {
        name: String,
        decoded: u64,
        expected: u64,
    },
    /// The file is larger than any prompt we would accept; refused before reading it.
    #[error("{name}: file too large: {bytes} bytes (limit {limit} bytes)")]
    TooLarge {
        name: String,
        bytes: u64,
        limit: u64,
    },
    /// The file decodes to no audio at all.
    #[error("{name}: contains no audio samples")]
    Empty { name: String },
    /// The file is longer than the configured limit (checked while decoding, so a long file is
    /// refused without decoding all of it).
    #[error("{name}: too long: over the {limit_secs} s limit for a prompt")]
    TooLong { name: String, limit_secs: u64 },
    /// The stream declares parameters we refuse (zero or absurd rate, too many channels).
    #[error("{name}: bad stream parameters: {reason}")]
    BadParameters { name: String, reason: String },
    /// The resampler refused the conversion (should not happen for valid rates).
    #[error("{name}: resampling from {from_hz} Hz failed: {reason}")]
    Resample {
        name: String,
        from_hz: u32,
        reason: String,
    },
}

impl AudioError {
    /// The file name or label this error is about.
    pub fn name(&self) -> String {
        match self {
            AudioError::Io { path, .. } => path.display().to_string(),
            AudioError::Unsupported { name, .. }
            | AudioError::Corrupt { name, .. }
            | AudioError::Truncated { name, .. }
            | AudioError::TooLarge { name, .. }
            | AudioError::Empty { name }
            | AudioError::TooLong { name, .. }
            | AudioError::BadParameters { name, .. }
            | AudioError::Resample { name, .. } => name.clone(),
        }
    }
}
