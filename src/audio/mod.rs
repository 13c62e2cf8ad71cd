//! Offline audio: decode prompt files, downmix, resample to 8 kHz, encode G.711 once in both
//! laws, and cache the result for the media plane (DESIGN.md §2).
//!
//! Pipeline: bytes → [`decode`] (symphonia via [`registry`]: WAV PCM/float/μ-law/A-law/IMA-ADPCM,
//! MP3; mono by averaging) → [`resample`] (rubato FFT, to 8 kHz) → [`prompt`] (clamp, [`g711`]
//! both laws, padded to 20 ms frames) → [`cache`] (one decode per distinct content, shared
//! `Arc<[u8]>`). [`media`] is the file edge (`holdline media probe|convert`); [`wav`] writes
//! G.711 WAV files. All of it runs at config-load or admin time, never on the call path.
//!
//! It does not packetise or pace RTP (`rtp/` does), and it never panics on file data: every
//! failure is an [`AudioError`] naming the file and the reason.

pub mod asf;
pub mod cache;
pub mod decode;
pub mod error;
pub mod g711;
pub mod media;
pub mod prompt;
pub mod registry;
pub mod resample;
pub mod wav;
pub mod wma;

pub use cache::{PromptCache, DEFAULT_MUSIC};
pub use decode::{DecodeOptions, MonoPcm};
pub use error::AudioError;
pub use g711::Law;
pub use media::{convert, convert_with, probe, probe_bytes, ConvertReport, ProbeInfo};
pub use prompt::{decode_prompt, Prompt, FRAME_SAMPLES};

/// The default music on hold: `media/moh-default.wav` (made with sox by the project, CC0; see
/// `media/README.md`), embedded so `holdline serve` works from any directory with no files.
pub fn default_music() -> &'static [u8] {
    include_bytes!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/media/moh-default.wav"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_music_decodes_to_a_40_second_loop() {
        let prompt = decode_prompt("default", default_music(), &DecodeOptions::default())
            .expect("the embedded asset decodes");
        assert_eq!(prompt.frames(), 2000);
        assert_eq!(prompt.duration, std::time::Duration::from_secs(40));
        // Not silence: the music has real level throughout.
        let quiet = prompt
            .ulaw
            .iter()
            .filter(|&&c| c == Law::Ulaw.silence())
            .count();
        assert!(quiet < prompt.ulaw.len() / 100, "{quiet} silent samples");
    }
}
