//! The file edge of the audio pipeline: `holdline media probe FILE` and
//! `holdline media convert FILE -o OUT.wav [--law ulaw|alaw]`, and reading prompt files.
//!
//! Everything else in `audio` works on bytes; these functions read and write files and return
//! results that print as the CLI's output (`Display`).
//!
//! This module does not parse command lines; the CLI wires these functions in.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::audio::decode::{guarded, open, DecodeOptions};
use crate::audio::error::AudioError;
use crate::audio::g711::Law;
use crate::audio::prompt::decode_prompt;
use crate::audio::registry;
use crate::audio::wav::g711_wav;

/// Largest file read as a prompt (an hour of 48 kHz stereo 16-bit PCM is ~660 MB; ten minutes
/// of anything sensible is far below this).
pub const MAX_FILE_BYTES: u64 = 512 * 1024 * 1024;

/// What a file contains, as the container declares it.
#[derive(Clone, Debug, PartialEq)]
pub struct ProbeInfo {
    /// Container, e.g. "wav (Waveform Audio File Format)".
    pub container: String,
    /// Codec, e.g. "pcm_s16le (PCM Signed 16-bit Little-Endian Interleaved)".
    pub codec: String,
    pub sample_rate: Option<u32>,
    pub channels: Option<usize>,
    pub duration: Option<Duration>,
}

impl fmt::Display for ProbeInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "container:   {}", self.container)?;
        writeln!(f, "codec:       {}", self.codec)?;
        match self.sample_rate {
            Some(rate) => writeln!(f, "sample rate: {rate} Hz")?,
            None => writeln!(f, "sample rate: unknown")?,
        }
        match self.channels {
            Some(n) => writeln!(f, "channels:    {n}")?,
            None => writeln!(f, "channels:    unknown")?,
        }
        match self.duration {
            Some(d) => write!(f, "duration:    {:.3} s", d.as_secs_f64()),
            None => write!(f, "duration:    unknown"),
        }
    }
}

/// Probe a file held in memory (`name` labels errors and hints the format by its extension).
pub fn probe_bytes(name: &str, bytes: &[u8]) -> Result<ProbeInfo, AudioError> {
    guarded(name, || probe_unguarded(name, bytes))
}

fn probe_unguarded(name: &str, bytes: &[u8]) -> Result<ProbeInfo, AudioError> {
    let opened = open(name, bytes)?;
    let info = opened.reader.format_info();
    let codec = match registry::codecs().get_audio_decoder(opened.params.codec) {
        Some(found) => format!(
            "{} ({})",
            found.codec.info.short_name, found.codec.info.long_name
        ),
        None => format!("unsupported codec {:?}", opened.params.codec),
    };
    Ok(ProbeInfo {
        container: format!("{} ({})", info.short_name, info.long_name),
        codec,
        sample_rate: opened.params.sample_rate,
        channels: opened.params.channels.as_ref().map(|c| c.count()),
        duration: opened.duration,
    })
}

/// `holdline media probe FILE`.
pub fn probe(path: &Path) -> Result<ProbeInfo, AudioError> {
    let bytes = read_file(path)?;
    probe_bytes(&path.display().to_string(), &bytes)
}

/// What `convert` wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvertReport {
    pub input: PathBuf,
    pub output: PathBuf,
    pub law: Law,
    /// Playing time of the written audio.
    pub duration: Duration,
    pub bytes_written: u64,
}

impl fmt::Display for ConvertReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} -> {}: 8000 Hz mono G.711 {}, {:.3} s, {} bytes",
            self.input.display(),
            self.output.display(),
            self.law,
            self.duration.as_secs_f64(),
            self.bytes_written
        )
    }
}

/// `holdline media convert FILE -o OUT.wav --law LAW` with the default limits.
pub fn convert(path: &Path, out: &Path, law: Law) -> Result<ConvertReport, AudioError> {
    convert_with(path, out, law, &DecodeOptions::default())
}

/// Convert `path` through the prompt pipeline and write an 8 kHz G.711 WAV to `out`.
pub fn convert_with(
    path: &Path,
    out: &Path,
    law: Law,
    opts: &DecodeOptions,
) -> Result<ConvertReport, AudioError> {
    let bytes = read_file(path)?;
    let prompt = decode_prompt(&path.display().to_string(), &bytes, opts)?;
    let wav = g711_wav(law, prompt.samples(law));
    std::fs::write(out, &wav).map_err(|source| AudioError::Io {
        path: out.to_owned(),
        source,
    })?;
    Ok(ConvertReport {
        input: path.to_owned(),
        output: out.to_owned(),
        law,
        duration: prompt.duration,
        bytes_written: wav.len() as u64,
    })
}

/// Read a whole prompt file, refusing absurd sizes before allocating.
pub fn read_file(path: &Path) -> Result<Vec<u8>, AudioError> {
    let io = |source| AudioError::Io {
        path: path.to_owned(),
        source,
    };
    let len = std::fs::metadata(path).map_err(io)?.len();
    if len > MAX_FILE_BYTES {
        return Err(AudioError::TooLarge {
            name: path.display().to_string(),
            bytes: len,
            limit: MAX_FILE_BYTES,
        });
    }
    std::fs::read(path).map_err(io)
}
