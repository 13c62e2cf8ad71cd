//! The ASF demuxer and WMA decoder, one test binary: container parsing (`asf`), decoding
//! against ffmpeg as the oracle (`decode`), hand-made bitstreams (`generated`, `reservoir`),
//! corrupt input refused without a panic (`robustness`, `fuzz_replay`: the fuzzers' corpus
//! replayed) and the decode-speed check (`bench`).

#[path = "../wma_support/mod.rs"]
mod wma_support;

mod asf;
mod bench;
mod decode;
mod fuzz_replay;
mod generated;
mod reservoir;
mod robustness;
