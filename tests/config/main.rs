//! The configuration, one test binary: validation errors that name the field and why, the
//! directory of numbers and users, strict RTP's keys, and property tests.

mod dial_props;
mod directory;
mod props;
mod strict_rtp;
mod validation;
