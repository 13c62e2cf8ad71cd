//! Damaged WMA files never panic and never loop: mutated and truncated fixtures either decode
//! or fail with an error, within a bounded number of packets.

use crate::wma_support::*;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::formats::TrackType;

/// Demuxes and decodes `bytes`, tolerating per-packet errors like a player would. Returns the
/// number of packets seen; panics (failing the test) only if a bound is exceeded.
fn run_tolerant(bytes: Vec<u8>, max_packets: usize) -> usize {
    let Ok(mut reader) = open(bytes) else {
        return 0;
    };
    let Some(track) = reader.first_track(TrackType::Audio).cloned() else {
        return 0;
    };
    let Some(params) = track.codec_params.as_ref().and_then(|p| p.audio()).cloned() else {
        return 0;
    };
    let registry = codecs();
    let Some(reg) = registry.get_audio_decoder(params.codec) else {
        return 0;
    };
    let Ok(mut dec) = (reg.factory)(&params, &AudioDecoderOptions::default()) else {
        return 0;
    };
    let mut packets = 0;
    let mut errors = 0;
    loop {
        packets += 1;
        assert!(packets <= max_packets, "demuxer did not terminate");
        match reader.next_packet() {
            Ok(Some(p)) => {
                if let Ok(buf) = dec.decode(&p) {
                    assert!(buf.frames() <= 17 * 2048);
                }
            }
            Ok(None) => return packets,
            Err(_) => {
                // A bad data packet is skipped; too many in a row means give up.
                errors += 1;
                if errors > 64 {
                    return packets;
                }
            }
        }
    }
}

fn fixtures() -> Vec<Vec<u8>> {
    [
        ("wmav2", 2, 44100, "128k"),
        ("wmav2", 1, 44100, "32k"),
        ("wmav1", 2, 22050, "32k"),
        ("wmav1", 1, 32000, "48k"),
    ]
    .iter()
    .map(|&(c, ch, sr, br)| std::fs::read(encode(c, ch, sr, br, 1.0)).unwrap())
    .collect()
}

/// Reads a numeric environment variable: `WMA_FUZZ_ROUNDS` raises the rounds per fixture for
/// long local soak runs, `WMA_FUZZ_SEED` changes the seed.
fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn mutated_fixtures_never_panic_or_loop() {
    let mut rng = SmallRng::seed_from_u64(env_or("WMA_FUZZ_SEED", 0x3d5a));
    let rounds = env_or("WMA_FUZZ_ROUNDS", 60);
    for original in fixtures() {
        let bound = original.len() + 1000;
        for round in 0..rounds {
            let mut bytes = original.clone();
            // Early rounds hit the header, later ones the data packets.
            let region = if round % 3 == 0 {
                0..600.min(bytes.len())
            } else {
                0..bytes.len()
            };
            for _ in 0..rng.gen_range(1..8) {
                let at = rng.gen_range(region.clone());
                bytes[at] = match rng.gen_range(0..4) {
                    0 => 0,
                    1 => 0xff,
                    2 => bytes[at] ^ (1 << rng.gen_range(0..8)),
                    _ => rng.gen(),
                };
            }
            run_tolerant(bytes, bound);
        }
    }
}

#[test]
fn truncated_fixtures_never_panic_or_loop() {
    for original in fixtures() {
        let step = (original.len() / 97).max(1);
        for cut in (0..original.len()).step_by(step) {
            run_tolerant(original[..cut].to_vec(), original.len() + 1000);
        }
    }
}

#[test]
fn random_packets_into_the_decoder_never_panic() {
    let mut rng = SmallRng::seed_from_u64(7);
    let bytes = std::fs::read(encode("wmav2", 2, 44100, "128k", 1.0)).unwrap();
    let reader = open(bytes).unwrap();
    let params = reader.tracks()[0]
        .codec_params
        .as_ref()
        .unwrap()
        .audio()
        .unwrap()
        .clone();
    // Exercise every decoder configuration: exponent coding, reservoir, block switching.
    for flags2 in [0u16, 1, 2, 3, 4, 5, 7, 0x1f] {
        let mut p = params.clone();
        let mut wfx = p.extra_data.clone().unwrap().to_vec();
        wfx[22..24].copy_from_slice(&flags2.to_le_bytes());
        p.with_extra_data(wfx.into_boxed_slice());
        let registry = codecs();
        let reg = registry.get_audio_decoder(p.codec).unwrap();
        let mut dec = (reg.factory)(&p, &AudioDecoderOptions::default()).unwrap();
        for _ in 0..300 {
            let len = if rng.gen_bool(0.8) {
                743
            } else {
                rng.gen_range(0..1000)
            };
            let data: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            let packet = symphonia::core::packet::Packet::new(
                0,
                symphonia::core::units::Timestamp::new(0),
                symphonia::core::units::Duration::new(0),
                data,
            );
            let _ = dec.decode(&packet);
        }
    }
}
