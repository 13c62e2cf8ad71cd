//! Offline audio, one test binary: decoding every supported format against sox and ffmpeg as
//! oracles, G.711 bit-exact over all inputs, the prompt pipeline, clear errors for bad files,
//! and the decode-speed checks.

mod decode;
mod errors;
mod g711;
mod media;
mod perf;
