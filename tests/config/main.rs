//! The configuration, one test binary: validation errors that name the field and why, the
//! directory of numbers and users, strict RTP's keys, `[limits]`, and property tests.

mod authorized_users;
mod dial_props;
mod directory;
mod inbound;
mod limits;
mod prompt_refs;
mod props;
mod strict_rtp;
mod tls;
mod trunk_sbcs;
mod validation;
