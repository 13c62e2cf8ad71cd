//! Fuzz target: arbitrary bytes through the ASF demuxer and the WMA decoder, the way the media
//! pipeline uses them (probe → reader → decoder, per-packet errors tolerated). Any panic,
//! overflow or non-terminating loop is a bug. Seed the corpus with small .wma files, e.g. the
//! fixtures the `wma_*` tests encode into target/tmp/wma-fixtures.
#![no_main]

use holdline::audio::{asf, wma};
use libfuzzer_sys::fuzz_target;
use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::codecs::registry::CodecRegistry;
use symphonia::core::formats::probe::{Hint, Probe};
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;

fuzz_target!(|data: &[u8]| {
    let mut probe = Probe::default();
    asf::register(&mut probe);
    let mut codecs = CodecRegistry::new();
    wma::register(&mut codecs);

    let mss = MediaSourceStream::new(Box::new(std::io::Cursor::new(data.to_vec())), Default::default());
    let Ok(mut reader) =
        probe.probe(&Hint::new(), mss, FormatOptions::default(), MetadataOptions::default())
    else {
        return;
    };
    let Some(params) = reader
        .first_track(TrackType::Audio)
        .and_then(|t| t.codec_params.as_ref())
        .and_then(|p| p.audio())
        .cloned()
    else {
        return;
    };
    let Some(reg) = codecs.get_audio_decoder(params.codec) else { return };
    let Ok(mut decoder) = (reg.factory)(&params, &AudioDecoderOptions::default()) else { return };
    // Every packet consumes input, so the count is bounded by the input size.
    let mut errors = 0;
    for _ in 0..data.len() + 100 {
        match reader.next_packet() {
            Ok(Some(packet)) => {
                let _ = decoder.decode(&packet);
            }
            Ok(None) => return,
            Err(_) => {
                errors += 1;
                if errors > 64 {
                    return;
                }
            }
        }
    }
    panic!("demuxer produced more packets than the input could hold");
});
