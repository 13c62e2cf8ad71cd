//! The one place where symphonia's format probe and codec registry are built.
//!
//! symphonia's defaults (`symphonia::default`) are a fixed set; we build our own so that our
//! pure-Rust ASF demuxer and WMA decoder (`audio::asf`, `audio::wma`) register here next to the
//! stock WAV/PCM/ADPCM/MP3 support, and every decode path sees the same set. Until a WMA decoder
//! is registered, an ASF file is recognised by its header GUID and refused with a clear message.
//!
//! This module does not decode; see `audio::decode`.

use std::sync::OnceLock;

use symphonia::core::codecs::registry::CodecRegistry;
use symphonia::core::formats::probe::Probe;

/// The ASF Header Object GUID (ASF spec §3.1, 75B22630-668E-11CF-A6D9-00AA0062CE6C) as it is laid
/// out on disk: every ASF (WMA/WMV) file starts with it.
pub const ASF_HEADER_GUID: [u8; 16] = [
    0x30, 0x26, 0xB2, 0x75, 0x8E, 0x66, 0xCF, 0x11, 0xA6, 0xD9, 0x00, 0xAA, 0x00, 0x62, 0xCE, 0x6C,
];

/// Whether `bytes` start like an ASF file.
pub fn is_asf(bytes: &[u8]) -> bool {
    bytes.starts_with(&ASF_HEADER_GUID)
}

/// The container formats we can open.
pub fn probe() -> &'static Probe {
    static PROBE: OnceLock<Probe> = OnceLock::new();
    PROBE.get_or_init(|| {
        let mut probe = Probe::default();
        symphonia::default::register_enabled_formats(&mut probe);
        probe.register_format::<crate::audio::asf::AsfReader<'_>>();
        probe
    })
}

/// The audio codecs we can decode.
pub fn codecs() -> &'static CodecRegistry {
    static CODECS: OnceLock<CodecRegistry> = OnceLock::new();
    CODECS.get_or_init(|| {
        let mut registry = CodecRegistry::new();
        symphonia::default::register_enabled_codecs(&mut registry);
        registry.register_audio_decoder::<crate::audio::wma::WmaDecoder>();
        registry
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use symphonia::core::codecs::audio::well_known::{CODEC_ID_MP3, CODEC_ID_PCM_MULAW};

    #[test]
    fn registry_decodes_mp3_and_mulaw() {
        assert!(codecs().get_audio_decoder(CODEC_ID_MP3).is_some());
        assert!(codecs().get_audio_decoder(CODEC_ID_PCM_MULAW).is_some());
    }

    #[test]
    fn asf_guid_is_recognised_only_at_the_start() {
        let mut file = ASF_HEADER_GUID.to_vec();
        file.extend_from_slice(&[0; 30]);
        assert!(is_asf(&file));
        assert!(!is_asf(&file[1..]));
        assert!(!is_asf(b"RIFF\0\0\0\0WAVE"));
    }
}
