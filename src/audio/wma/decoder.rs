//! `WmaDecoder`: the symphonia `AudioDecoder` for WMA v1/v2, and the superframe layer.
//!
//! Each packet is one `nBlockAlign`-byte superframe. Without the bit reservoir (`flags2` bit 1)
//! a superframe holds exactly one frame. With it, frames are packed back to back across
//! superframe boundaries:
//!
//! ```text
//! | index:4 | count:4 | bit_offset:(byte_offset_bits+3) | tail of previous frame | frames… | head of next frame |
//! ```
//!
//! `count` includes the frame that started in the previous superframe; `bit_offset` is the
//! length in bits of that frame's tail. The head of the last, unfinished frame is kept (with its
//! starting bit offset) and completed by the next superframe's tail.
//!
//! Output is planar f32. The first two frames are the codec's start-up delay and are dropped;
//! an empty packet at end of stream (the ASF reader sends one) flushes the final overlap, so
//! the output has the same length as the reference decoder's.

use symphonia::core::audio::{
    AsGenericAudioBufferRef, Audio, AudioBuffer, AudioMut, AudioSpec, Channels,
    GenericAudioBufferRef, Position,
};
use symphonia::core::codecs::audio::{
    AudioCodecParameters, AudioDecoder, AudioDecoderOptions, FinalizeResult,
};
use symphonia::core::codecs::registry::{RegisterableAudioDecoder, SupportedAudioCodec};
use symphonia::core::codecs::CodecInfo;
use symphonia::core::errors::{Error, Result};
use symphonia::core::packet::PacketRef;

use super::bits::Bits;
use super::frame::FrameDecoder;
use super::params::{self, MAX_SUPERFRAME_BYTES};
use super::{WmaError, CODEC_ID_WMAV1, CODEC_ID_WMAV2};

const SUPPORTED: &[SupportedAudioCodec] = &[
    SupportedAudioCodec {
        id: CODEC_ID_WMAV1,
        info: CodecInfo {
            short_name: "wmav1",
            long_name: "Windows Media Audio 1",
            profiles: &[],
        },
    },
    SupportedAudioCodec {
        id: CODEC_ID_WMAV2,
        info: CodecInfo {
            short_name: "wmav2",
            long_name: "Windows Media Audio 2",
            profiles: &[],
        },
    },
];

/// Decoder for Windows Media Audio versions 1 and 2.
pub struct WmaDecoder {
    codec_params: AudioCodecParameters,
    frames: FrameDecoder,
    buf: AudioBuffer<f32>,
    /// Bytes of the unfinished last frame of the previous superframe.
    reservoir: Vec<u8>,
    /// Bit position in `reservoir[0]` where that frame starts.
    reservoir_bit: usize,
    /// Samples per channel still to drop (start-up delay).
    skip: usize,
    flushed: bool,
    /// Bits each frame of the last packet occupied (single-frame packets only; for tests that
    /// repack a stream).
    frame_bits: Vec<u64>,
}

impl WmaDecoder {
    /// Creates a decoder. `params.extra_data` must hold the stream's complete WAVEFORMATEX (as
    /// the ASF reader provides it): the bit rate and block size shape the bitstream.
    pub fn try_new(params: &AudioCodecParameters, _opts: &AudioDecoderOptions) -> Result<Self> {
        let wfx = params.extra_data.as_deref().ok_or(Error::Unsupported(
            "wma: codec parameters lack the WAVEFORMATEX extra data",
        ))?;
        let stream = params::from_waveformatex(wfx)?;
        let channels = if stream.channels == 1 {
            Channels::Positioned(Position::FRONT_CENTER)
        } else {
            Channels::Positioned(Position::FRONT_LEFT | Position::FRONT_RIGHT)
        };
        let spec = AudioSpec::new(stream.sample_rate, channels);
        let capacity = 17 * stream.frame_len;
        let skip = 2 * stream.frame_len;
        Ok(WmaDecoder {
            codec_params: params.clone(),
            frames: FrameDecoder::new(stream)?,
            buf: AudioBuffer::new(spec, capacity),
            reservoir: Vec::new(),
            reservoir_bit: 0,
            skip,
            flushed: false,
            frame_bits: Vec::new(),
        })
    }

    /// Appends the frame just decoded to the output and slides the overlap buffer.
    fn emit_frame(&mut self) {
        self.emit(false);
        self.frames.synth.advance();
    }

    fn emit(&mut self, pending: bool) {
        let n = self.frames.params.frame_len;
        let drop = self.skip.min(n);
        self.skip -= drop;
        let keep = n - drop;
        if keep == 0 || self.buf.frames() + keep > self.buf.capacity() {
            return;
        }
        let start = self.buf.frames();
        self.buf.render_uninit(Some(keep));
        for ch in 0..self.frames.params.channels {
            let src = if pending {
                self.frames.synth.pending(ch)
            } else {
                self.frames.synth.finished(ch)
            };
            if let Some(plane) = self.buf.plane_mut(ch) {
                plane[start..start + keep].copy_from_slice(&src[drop..]);
            }
        }
    }

    /// Bits used by the frame of the last packet when the stream has no bit reservoir (one frame
    /// per packet). Lets tests cut frames out of packets and repack them.
    #[doc(hidden)]
    pub fn last_frame_bits(&self) -> &[u64] {
        &self.frame_bits
    }

    fn decode_superframe(&mut self, data: &[u8]) -> std::result::Result<(), WmaError> {
        self.frame_bits.clear();
        let p = &self.frames.params;
        if data.is_empty() {
            // End of stream: the pending overlap is the last frame_len samples.
            if !self.flushed {
                self.flushed = true;
                self.emit(true);
            }
            return Ok(());
        }
        if data.len() < p.block_align {
            return Err(WmaError::Corrupt {
                what: "packet shorter than the block size",
            });
        }
        let data = &data[..p.block_align];
        if !p.use_bit_reservoir {
            let mut bits = Bits::new(data, 0)?;
            self.frames.decode_frame(&mut bits)?;
            self.frame_bits.push(bits.consumed());
            self.emit_frame();
            return Ok(());
        }

        let offset_bits = p.byte_offset_bits + 3;
        let mut bits = Bits::new(data, 0)?;
        bits.skip(4)?; // superframe index
        let mut count = bits.read(4)? as i32 - i32::from(self.reservoir.is_empty());
        if count <= 0 {
            // A superframe holding only the middle of a long frame.
            if count < 0 || bits.left() <= 8 {
                return Err(WmaError::Corrupt {
                    what: "superframe frame count",
                });
            }
            if self.reservoir.len() + data.len() - 1 > MAX_SUPERFRAME_BYTES {
                return Err(WmaError::Corrupt {
                    what: "bit reservoir overflow",
                });
            }
            self.reservoir.extend_from_slice(&data[1..]);
            return Ok(());
        }
        let bit_offset = bits.read(offset_bits)? as usize;
        if bit_offset as u64 > bits.left() {
            return Err(WmaError::Corrupt {
                what: "superframe bit offset past its end",
            });
        }
        if !self.reservoir.is_empty() {
            // Complete the previous superframe's last frame with `bit_offset` bits.
            if self.reservoir.len() + bit_offset.div_ceil(8) > MAX_SUPERFRAME_BYTES {
                return Err(WmaError::Corrupt {
                    what: "bit reservoir overflow",
                });
            }
            let mut left = bit_offset as u32;
            while left > 7 {
                self.reservoir.push(bits.read(8)? as u8);
                left -= 8;
            }
            if left > 0 {
                self.reservoir.push((bits.read(left)? << (8 - left)) as u8);
            }
            let reservoir = std::mem::take(&mut self.reservoir);
            let mut prev = Bits::new(&reservoir, self.reservoir_bit)?;
            self.frames.decode_frame(&mut prev)?;
            self.emit_frame();
            count -= 1;
        }
        let start = bit_offset + 4 + 4 + offset_bits as usize;
        if start > data.len() * 8 {
            return Err(WmaError::Corrupt {
                what: "superframe bit offset past its end",
            });
        }
        let mut bits = Bits::new(data, start)?;
        self.frames.reset_block_lengths = true;
        for _ in 0..count {
            self.frames.decode_frame(&mut bits)?;
            self.emit_frame();
        }
        // Keep the head of the unfinished frame for the next superframe.
        let end = (start & !7) + bits.consumed() as usize;
        let byte = end / 8;
        if byte > data.len() {
            return Err(WmaError::Corrupt {
                what: "frame overran the superframe",
            });
        }
        self.reservoir_bit = end % 8;
        self.reservoir = data[byte..].to_vec();
        Ok(())
    }
}

impl AudioDecoder for WmaDecoder {
    fn reset(&mut self) {
        // After a seek the first two frames overlap with nothing, as at the start of a stream.
        self.skip = 2 * self.frames.params.frame_len;
        self.frames.reset();
        self.reservoir.clear();
        self.reservoir_bit = 0;
        self.flushed = false;
        self.buf.clear();
    }

    fn codec_info(&self) -> &CodecInfo {
        let v1 = self.codec_params.codec == CODEC_ID_WMAV1;
        &SUPPORTED[usize::from(!v1)].info
    }

    fn codec_params(&self) -> &AudioCodecParameters {
        &self.codec_params
    }

    fn decode_ref(&mut self, packet: &PacketRef<'_>) -> Result<GenericAudioBufferRef<'_>> {
        self.buf.clear();
        if let Err(e) = self.decode_superframe(packet.data) {
            // A damaged superframe also invalidates the frame spanning into the next one.
            self.reservoir.clear();
            self.buf.clear();
            return Err(e.into());
        }
        Ok(self.buf.as_generic_audio_buffer_ref())
    }

    fn finalize(&mut self) -> FinalizeResult {
        FinalizeResult::default()
    }

    fn last_decoded(&self) -> GenericAudioBufferRef<'_> {
        self.buf.as_generic_audio_buffer_ref()
    }
}

impl RegisterableAudioDecoder for WmaDecoder {
    fn try_registry_new(
        params: &AudioCodecParameters,
        opts: &AudioDecoderOptions,
    ) -> Result<Box<dyn AudioDecoder>>
    where
        Self: Sized,
    {
        Ok(Box::new(WmaDecoder::try_new(params, opts)?))
    }

    fn supported_codecs() -> &'static [SupportedAudioCodec] {
        SUPPORTED
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use symphonia::core::packet::Packet;
    use symphonia::core::units::{Duration, Timestamp};

    fn decoder(flags2: u16) -> WmaDecoder {
        let mut wfx = vec![0x61, 0x01, 1, 0, 0x44, 0xac, 0, 0, 0x00, 0x7d, 0, 0];
        wfx.extend_from_slice(&[0x00, 0x02, 16, 0, 10, 0, 0, 0, 0, 0]);
        wfx.extend_from_slice(&flags2.to_le_bytes());
        wfx.extend_from_slice(&[0, 0, 0, 0]);
        let mut params = AudioCodecParameters::new();
        params
            .for_codec(CODEC_ID_WMAV2)
            .with_extra_data(wfx.into_boxed_slice());
        WmaDecoder::try_new(&params, &AudioDecoderOptions::default()).unwrap()
    }

    fn packet(data: Vec<u8>) -> Packet {
        Packet::new(0, Timestamp::new(0), Duration::new(0), data)
    }

    #[test]
    fn short_packet_is_an_error() {
        let mut dec = decoder(1);
        assert!(dec.decode(&packet(vec![0; 100])).is_err());
    }

    #[test]
    fn silent_frames_decode_to_silence_after_the_startup_delay() {
        let mut dec = decoder(1);
        // A frame whose only channel is not coded is silence (1 bit used).
        let mut total = 0;
        for _ in 0..3 {
            let buf = dec.decode(&packet(vec![0; 512])).unwrap();
            total += buf.frames();
        }
        assert_eq!(total, 2048, "first two frames are the start-up delay");
        let flushed = dec.decode(&packet(Vec::new())).unwrap().frames();
        assert_eq!(flushed, 2048);
        assert_eq!(dec.decode(&packet(Vec::new())).unwrap().frames(), 0);
    }

    #[test]
    fn missing_waveformatex_is_refused() {
        let params = AudioCodecParameters::new();
        assert!(WmaDecoder::try_new(&params, &AudioDecoderOptions::default()).is_err());
    }
}
