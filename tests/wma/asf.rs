//! ASF demuxer against ffprobe: packet sizes, counts and timestamps; metadata; refusals.

use crate::wma_support::*;
use holdline::audio::asf::{self, AsfError};
use symphonia::core::errors::Error;
use symphonia::core::formats::TrackType;
use symphonia::core::meta::StandardTag;

fn our_packets(bytes: Vec<u8>) -> (Vec<(usize, i64)>, u32) {
    let mut reader = open(bytes).expect("open asf");
    let track = reader.first_track(TrackType::Audio).unwrap().clone();
    let rate = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .and_then(|a| a.sample_rate);
    let mut out = Vec::new();
    while let Some(p) = reader.next_packet().expect("packet") {
        if !p.data.is_empty() {
            out.push((p.data.len(), p.pts.get()));
        }
    }
    (out, rate.unwrap())
}

fn assert_packets_match_ffprobe(codec: &str, channels: u32, rate: u32, bitrate: &str) {
    let path = encode(codec, channels, rate, bitrate, 2.0);
    let expected = ffprobe_packets(&path);
    let (ours, sr) = our_packets(std::fs::read(&path).unwrap());
    assert_eq!(sr, rate);
    assert_eq!(
        ours.len(),
        expected.len(),
        "packet count for {}",
        path.display()
    );
    for (i, ((size, pts), (esize, epts_ms))) in ours.iter().zip(&expected).enumerate() {
        assert_eq!(size, esize, "packet {i} size");
        let pts_ms = pts * 1000 / i64::from(sr);
        assert!(
            (pts_ms - epts_ms).abs() <= 2,
            "packet {i} pts {pts_ms} ms vs {epts_ms} ms"
        );
    }
}

#[test]
fn wmav2_stereo_packets_match_ffprobe() {
    assert_packets_match_ffprobe("wmav2", 2, 44100, "128k");
}

#[test]
fn wmav1_mono_packets_match_ffprobe() {
    assert_packets_match_ffprobe("wmav1", 1, 22050, "32k");
}

#[test]
fn wmav2_low_rate_packets_match_ffprobe() {
    assert_packets_match_ffprobe("wmav2", 1, 32000, "24k");
}

#[test]
fn title_and_author_are_exposed_as_metadata() {
    let path = encode("wmav2", 2, 44100, "128k", 2.0);
    let mut reader = open(std::fs::read(&path).unwrap()).unwrap();
    let mut md = reader.metadata();
    let rev = md.skip_to_latest().expect("metadata revision");
    let title = rev.media.tags.iter().find_map(|t| match &t.std {
        Some(StandardTag::TrackTitle(s)) => Some(s.to_string()),
        _ => None,
    });
    assert_eq!(title.as_deref(), Some("Holdline Test"));
    let artist = rev.media.tags.iter().find_map(|t| match &t.std {
        Some(StandardTag::Artist(s)) => Some(s.to_string()),
        _ => None,
    });
    assert_eq!(artist.as_deref(), Some("Holdline QA"));
}

/// Rewrites the WAVEFORMATEX codec tag of a fixture (it follows the audio media GUID by 38
/// bytes: type GUID, error-correction GUID, time offset, two lengths, flags, reserved).
fn with_codec_tag(mut bytes: Vec<u8>, tag: u16) -> Vec<u8> {
    let audio_guid = [0x40, 0x9E, 0x69, 0xF8, 0x4D, 0x5B, 0xCF, 0x11];
    let at = bytes
        .windows(8)
        .position(|w| w == audio_guid)
        .expect("audio stream");
    let tag_at = at + 16 + 16 + 8 + 4 + 4 + 2 + 4;
    bytes[tag_at..tag_at + 2].copy_from_slice(&tag.to_le_bytes());
    bytes
}

fn refusal(bytes: Vec<u8>) -> String {
    match open(bytes) {
        Err(Error::Unsupported(msg)) => msg.to_string(),
        Err(e) => panic!("expected a refusal, got {e}"),
        Ok(_) => panic!("expected a refusal, file opened"),
    }
}

#[test]
fn wma_pro_lossless_and_voice_are_refused_by_name() {
    let bytes = std::fs::read(encode("wmav2", 2, 44100, "128k", 2.0)).unwrap();
    for (tag, name) in [
        (0x0162, "WMA Pro"),
        (0x0163, "WMA Lossless"),
        (0x000A, "WMA Voice"),
    ] {
        let msg = refusal(with_codec_tag(bytes.clone(), tag));
        assert!(msg.contains(name) && msg.contains("MP3 or WAV"), "{msg}");
    }
    let header = asf::inspect(&with_codec_tag(bytes, 0x0162)).unwrap();
    assert_eq!(header.audio.unwrap().codec_tag, 0x0162);
}

#[test]
fn drm_protected_file_is_refused() {
    let mut bytes = std::fs::read(encode("wmav2", 2, 44100, "128k", 2.0)).unwrap();
    // Turn the Codec List object (always written by ffmpeg) into a Content Encryption object.
    let codec_list = [0x40, 0x52, 0xD1, 0x86, 0x1D, 0x31, 0xD0, 0x11];
    let at = bytes
        .windows(8)
        .position(|w| w == codec_list)
        .expect("codec list object");
    let enc = [
        0xFB, 0xB3, 0x11, 0x22, 0x23, 0xBD, 0xD2, 0x11, 0xB4, 0xB7, 0x00, 0xA0, 0xC9, 0x55, 0xFC,
        0x6E,
    ];
    bytes[at..at + 16].copy_from_slice(&enc);
    let msg = refusal(bytes);
    assert!(msg.contains("DRM"), "{msg}");
}

#[test]
fn truncated_file_is_an_error_not_a_panic() {
    let bytes = std::fs::read(encode("wmav2", 2, 44100, "128k", 2.0)).unwrap();
    for cut in [10, 100, 400, 700, bytes.len() / 2, bytes.len() - 5] {
        let result = open(bytes[..cut].to_vec()).and_then(|mut r| {
            while r.next_packet()?.is_some() {}
            Ok(())
        });
        assert!(result.is_err(), "cut at {cut} must be an error");
    }
    assert_eq!(
        asf::inspect(&bytes[..40]).unwrap_err(),
        AsfError::Truncated {
            field: "header object body"
        }
    );
}

#[test]
fn coarse_seek_lands_near_the_requested_time_and_decoding_continues() {
    use symphonia::core::codecs::audio::AudioDecoderOptions;
    use symphonia::core::formats::{SeekMode, SeekTo};
    use symphonia::core::units::Timestamp;

    let path = encode("wmav2", 2, 44100, "128k", 3.0);
    let mut reader = open(std::fs::read(&path).unwrap()).unwrap();
    let params = reader.tracks()[0]
        .codec_params
        .as_ref()
        .unwrap()
        .audio()
        .unwrap()
        .clone();
    let registry = codecs();
    let reg = registry.get_audio_decoder(params.codec).unwrap();
    let mut dec = (reg.factory)(&params, &AudioDecoderOptions::default()).unwrap();

    let target = 44100; // 1.0 s
    let seeked = reader
        .seek(
            SeekMode::Coarse,
            SeekTo::Timestamp {
                ts: Timestamp::new(target),
                track_id: 0,
            },
        )
        .expect("seek");
    dec.reset();
    assert!(
        (seeked.actual_ts.get() - target).abs() < 44100 / 5,
        "{seeked:?}"
    );
    let first = reader.next_packet().unwrap().expect("packet after seek");
    assert!(
        (first.pts.get() - target).abs() < 44100 / 5,
        "pts {}",
        first.pts.get()
    );
    dec.decode(&first).expect("decode after seek");
    let mut rest = 0;
    while let Some(p) = reader.next_packet().unwrap() {
        dec.decode(&p).expect("decode after seek");
        rest += 1;
    }
    assert!(rest > 20);
}

#[test]
fn asf_coexists_with_symphonias_default_formats_in_one_probe() {
    use symphonia::core::codecs::audio::AudioDecoderOptions;
    use symphonia::core::codecs::registry::CodecRegistry;
    use symphonia::core::formats::probe::{Hint, Probe};
    use symphonia::core::formats::FormatOptions;
    use symphonia::core::io::MediaSourceStream;
    use symphonia::core::meta::MetadataOptions;

    // The registry the media pipeline builds: symphonia's formats and codecs plus ours.
    let mut probe = Probe::default();
    symphonia::default::register_enabled_formats(&mut probe);
    asf::register(&mut probe);
    let mut registry = CodecRegistry::new();
    symphonia::default::register_enabled_codecs(&mut registry);
    holdline::audio::wma::register(&mut registry);

    let wma = std::fs::read(encode("wmav1", 1, 22050, "32k", 2.0)).unwrap();
    let wav = {
        let path = fixture_dir().join("tone.wav");
        let ok = std::process::Command::new("ffmpeg")
            .args([
                "-v", "error", "-y", "-f", "lavfi", "-i", "sine=d=1", "-ar", "8000",
            ])
            .arg(&path)
            .status()
            .unwrap()
            .success();
        assert!(ok);
        std::fs::read(path).unwrap()
    };
    for (bytes, ext, format) in [(wma, "wma", "asf"), (wav, "wav", "wave")] {
        let mss = MediaSourceStream::new(Box::new(std::io::Cursor::new(bytes)), Default::default());
        let mut hint = Hint::new();
        hint.with_extension(ext);
        let mut reader = probe
            .probe(
                &hint,
                mss,
                FormatOptions::default(),
                MetadataOptions::default(),
            )
            .unwrap();
        assert_eq!(reader.format_info().short_name, format);
        let params = reader.tracks()[0]
            .codec_params
            .as_ref()
            .unwrap()
            .audio()
            .unwrap()
            .clone();
        let reg = registry
            .get_audio_decoder(params.codec)
            .expect("decoder registered");
        let mut dec = (reg.factory)(&params, &AudioDecoderOptions::default()).unwrap();
        let mut frames = 0;
        while let Some(p) = reader.next_packet().unwrap() {
            frames += dec.decode(&p).unwrap().frames();
        }
        assert!(frames > 7000, "{ext}: {frames} frames");
    }
}

/// Rewrites ffmpeg's fixed-size packets as variable-size ones: each packet gets an explicit
/// word-sized packet length, loses its trailing padding, and the File Properties Object's
/// minimum packet size no longer equals the maximum.
fn with_variable_size_packets(bytes: &[u8]) -> Vec<u8> {
    let find = |pat: &[u8]| bytes.windows(pat.len()).position(|w| w == pat).unwrap();
    let fp = find(&[0xA1, 0xDC, 0xAB, 0x8C, 0x47, 0xA9, 0xCF, 0x11]);
    let min_at = fp + 24 + 16 + 8 + 8 + 8 + 8 + 8 + 8 + 4;
    let size = u32::from_le_bytes(bytes[min_at..min_at + 4].try_into().unwrap()) as usize;
    let data = find(&[0x36, 0x26, 0xB2, 0x75, 0x8E, 0x66, 0xCF, 0x11]);
    let mut out = bytes[..data + 50].to_vec();
    out[min_at..min_at + 4].copy_from_slice(&0u32.to_le_bytes());
    let mut packets = bytes[data + 50..].chunks_exact(size);
    for pkt in packets.by_ref() {
        // ffmpeg: 82 00 00 | flags 0x09 | props 0x5d | padding:u8 | send:u32 | duration:u16 | …
        assert_eq!(
            &pkt[..5],
            &[0x82, 0, 0, 0x09, 0x5d],
            "unexpected packet layout"
        );
        let padding = usize::from(pkt[5]);
        let body = &pkt[6..size - padding];
        let len = 3 + 1 + 1 + 2 + 1 + body.len();
        out.extend_from_slice(&[0x82, 0, 0, 0x49, 0x5d]);
        out.extend_from_slice(&(len as u16).to_le_bytes());
        out.push(0);
        out.extend_from_slice(body);
    }
    let data_size = (out.len() - data) as u64;
    out[data + 16..data + 24].copy_from_slice(&data_size.to_le_bytes());
    out.extend_from_slice(packets.remainder());
    out
}

#[test]
fn variable_size_packets_decode_like_fixed_ones() {
    let bytes = std::fs::read(encode("wmav2", 2, 44100, "128k", 2.0)).unwrap();
    let variable = with_variable_size_packets(&bytes);
    assert!(variable.len() < bytes.len());
    let header = asf::inspect(&variable).unwrap();
    assert_eq!(header.packet_size, None);
    let (fixed_pcm, _, _) = decode_all(bytes).unwrap();
    let (variable_pcm, _, _) = decode_all(variable).unwrap();
    assert_eq!(fixed_pcm, variable_pcm);
}
