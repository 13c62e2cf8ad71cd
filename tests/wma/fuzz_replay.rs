//! Replays inputs the fuzzer once flagged (kept in tests/wma_support/fuzz/) through the same
//! tolerant demux+decode loop as the fuzz target: each must finish quickly and without panic.

use crate::wma_support::*;
use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::formats::TrackType;

#[test]
fn fuzz_regressions_terminate_without_panic() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/wma_support/fuzz");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        seen += 1;
        let Ok(mut reader) = open(data.clone()) else {
            continue;
        };
        let Some(params) = reader
            .first_track(TrackType::Audio)
            .and_then(|t| t.codec_params.as_ref())
            .and_then(|p| p.audio())
            .cloned()
        else {
            continue;
        };
        let registry = codecs();
        let Some(reg) = registry.get_audio_decoder(params.codec) else {
            continue;
        };
        let Ok(mut dec) = (reg.factory)(&params, &AudioDecoderOptions::default()) else {
            continue;
        };
        let (mut packets, mut errors, mut frames) = (0usize, 0usize, 0usize);
        loop {
            packets += 1;
            assert!(
                packets <= data.len() + 100,
                "{}: too many packets",
                path.display()
            );
            match reader.next_packet() {
                Ok(Some(p)) => {
                    if let Ok(buf) = dec.decode(&p) {
                        frames += buf.frames();
                    }
                }
                Ok(None) => break,
                Err(_) => {
                    errors += 1;
                    if errors > 64 {
                        break;
                    }
                }
            }
        }
        eprintln!(
            "{}: {packets} packets, {errors} errors, {frames} frames",
            path.display()
        );
    }
    assert!(seen > 0);
}
