//! WMA v1/v2 decoder registered into symphonia. (in progress)

use symphonia::core::codecs::audio::AudioCodecId;
use symphonia::core::common::FourCc;

/// Codec id of Windows Media Audio version 1 (WAVEFORMATEX tag 0x0160).
pub const CODEC_ID_WMAV1: AudioCodecId = AudioCodecId::new(FourCc::new(*b"wma1"));
/// Codec id of Windows Media Audio version 2 (tag 0x0161; "WMA 9 Standard" is version 2).
pub const CODEC_ID_WMAV2: AudioCodecId = AudioCodecId::new(FourCc::new(*b"wma2"));
/// Upper bound on the samples per channel one superframe decodes to (16 frames of 2048).
pub const MAX_FRAMES_PER_SUPERFRAME: u64 = 16 * 2048;

use symphonia::core::codecs::registry::CodecRegistry;

/// Registers the WMA decoder with a symphonia codec registry. (decoder in progress)
pub fn register(_registry: &mut CodecRegistry) {}
