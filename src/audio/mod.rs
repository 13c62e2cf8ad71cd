//! Offline audio: decode prompt files, resample to 8 kHz, encode G.711, cache prompts. (in progress)

pub mod asf;
pub mod g711;
pub mod wma;
