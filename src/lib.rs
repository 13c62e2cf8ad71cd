//! holdline: a SIP/RTP call-queue server.
//!
//! # Layout
//! - [`sip`]: RFC 3261 mechanics (messages, SDP, transactions). Sans-IO.
//! - [`audio`]: decode, resample and G.711-encode prompts, offline. Pure functions over bytes.
//! - [`config`]: the TOML configuration, its validation and the embedded default.
//! - [`number`]: E.164 service numbers and Request-URI matching.
//! - [`queue`]: the call-queue engine (calls, agents, routing policies, timers). Sans-IO.
//! - [`rtp`]: RTP/RTCP packets, DTMF, outgoing streams and pacing, receive state. Sans-IO.
//! - [`time`]: virtual time for the sans-IO cores.
//! - [`bench`]: the `holdline-bench` load tool (SIP UAC, RTP receive statistics).
//!
//! Only `runtime` (and the load tool's IO edge in `bench`) touches sockets, files, the clock
//! and OS randomness; every other module is a plain struct driven by inputs that carry `now`.

pub mod audio;
pub mod b2bua;
pub mod bench;
pub mod config;
pub mod number;
pub mod queue;
pub mod rtp;
pub mod runtime;
pub mod sip;
pub mod time;
