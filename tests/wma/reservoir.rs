//! The bit-reservoir (superframe) path, checked against ffmpeg: frames of an ffmpeg-encoded
//! stream are repacked back to back into superframes that straddle packet boundaries, written as
//! a WAVE file (WAVEFORMATEX 0x0161 with flags2 bit 1 set), and decoded by both decoders.

use crate::wma_support::*;
use holdline::audio::wma::{WmaDecoder, CODEC_ID_WMAV2};
use holdline_testkit::BitWriter;
use symphonia::core::codecs::audio::{AudioCodecParameters, AudioDecoder, AudioDecoderOptions};
use symphonia::core::formats::TrackType;
use symphonia::core::packet::Packet;
use symphonia::core::units::{Duration, Timestamp};

fn packet(data: Vec<u8>) -> Packet {
    Packet::new(0, Timestamp::new(0), Duration::new(0), data)
}

fn decode_packets(params: &AudioCodecParameters, packets: &[Vec<u8>]) -> Vec<f32> {
    let mut dec = WmaDecoder::try_new(params, &AudioDecoderOptions::default()).unwrap();
    let mut out = Vec::new();
    for p in packets.iter().cloned().chain([Vec::new()]) {
        let buf = dec.decode(&packet(p)).expect("decode");
        let start = out.len();
        out.resize(start + buf.frames() * 2, 0.0);
        buf.copy_to_slice_interleaved(&mut out[start..]);
    }
    out
}

#[test]
fn repacked_superframes_with_bit_reservoir_match_ffmpeg() {
    let path = encode("wmav2", 2, 44100, "128k", 3.0);
    let mut reader = open(std::fs::read(&path).unwrap()).unwrap();
    let params = reader
        .first_track(TrackType::Audio)
        .and_then(|t| t.codec_params.as_ref())
        .and_then(|p| p.audio())
        .unwrap()
        .clone();
    let wfx = params.extra_data.clone().unwrap().to_vec();

    // Cut each single-frame packet down to the bits its frame uses.
    let mut dec = WmaDecoder::try_new(&params, &AudioDecoderOptions::default()).unwrap();
    let mut frames: Vec<(Vec<u8>, usize)> = Vec::new();
    while let Some(p) = reader.next_packet().unwrap() {
        if p.data.is_empty() {
            continue;
        }
        dec.decode(&p).unwrap();
        frames.push((p.data.to_vec(), dec.last_frame_bits()[0] as usize));
    }

    // Pack them into superframes of 600 bytes (smaller than the original 743) so frames must
    // straddle superframes. Header: index:4, count:4, bit_offset:13 (byte_offset_bits 10 + 3).
    let block_align = 600usize;
    let offset_bits: u32 = 13;
    let mut superframes: Vec<Vec<u8>> = Vec::new();
    let (mut frame, mut done_bits) = (0usize, 0usize); // next frame, bits of it already sent
    let mut reservoir_empty = true;
    while frame < frames.len() {
        let mut w = BitWriter::default();
        let capacity = block_align * 8 - 8 - offset_bits as usize;
        // The tail of a frame started in the previous superframe.
        let tail = if done_bits > 0 {
            frames[frame].1 - done_bits
        } else {
            0
        };
        assert!(tail <= capacity, "frame larger than a superframe");
        let mut used = tail;
        let mut complete = usize::from(tail > 0);
        let mut next = frame + usize::from(tail > 0);
        while next < frames.len() && used + frames[next].1 <= capacity && complete < 14 {
            used += frames[next].1;
            complete += 1;
            next += 1;
        }
        let count = complete + usize::from(reservoir_empty);
        w.put((superframes.len() % 16) as u32, 4);
        w.put(count as u32, 4);
        w.put(tail as u32, offset_bits);
        if tail > 0 {
            w.put_bits_of(&frames[frame].0, done_bits, tail);
            frame += 1;
        }
        for f in &frames[frame..next] {
            w.put_bits_of(&f.0, 0, f.1);
        }
        frame = next;
        // Start the next frame in the remaining space.
        let room = capacity - used;
        done_bits = 0;
        if frame < frames.len() && room > 0 {
            done_bits = room.min(frames[frame].1 - 1);
            w.put_bits_of(&frames[frame].0, 0, done_bits);
        }
        reservoir_empty = done_bits == 0 && room == 0;
        let mut bytes = w.bytes;
        bytes.resize(block_align, 0);
        superframes.push(bytes);
    }

    let mut new_wfx = wfx.clone();
    new_wfx[12..14].copy_from_slice(&(block_align as u16).to_le_bytes());
    new_wfx[22..24].copy_from_slice(&3u16.to_le_bytes()); // exponent VLC + bit reservoir
    let mut new_params = AudioCodecParameters::new();
    new_params
        .for_codec(CODEC_ID_WMAV2)
        .with_sample_rate(44100)
        .with_extra_data(new_wfx.clone().into_boxed_slice());
    let ours = decode_packets(&new_params, &superframes);

    // The same stream as a WAVE file for ffmpeg.
    let data: Vec<u8> = superframes.concat();
    let mut wav = b"RIFF".to_vec();
    wav.extend_from_slice(&((4 + 8 + new_wfx.len() + 8 + data.len()) as u32).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&(new_wfx.len() as u32).to_le_bytes());
    wav.extend_from_slice(&new_wfx);
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&(data.len() as u32).to_le_bytes());
    wav.extend_from_slice(&data);
    let wav_path = fixture_dir().join("reservoir.wav");
    std::fs::write(&wav_path, &wav).unwrap();
    let reference = ffmpeg_decode(&wav_path);

    let snr = snr_db(&reference, &ours);
    eprintln!(
        "reservoir: {} vs {} samples, SNR {snr:.1} dB",
        ours.len(),
        reference.len()
    );
    assert_eq!(ours.len(), reference.len());
    assert!(snr >= 60.0, "SNR {snr:.1} dB");
    // And the repacked stream carries the same audio as the original packets.
    let original = decode_all(std::fs::read(&path).unwrap()).unwrap().0;
    let n = ours.len().min(original.len()) - 2 * 2048 * 2;
    assert!(snr_db(&original[..n], &ours[..n]) >= 60.0);
}
