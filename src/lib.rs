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
//! - [`store`]: the SQLite database: provisioning, agents' settings, the event log.
//! - [`api`]: the admin REST API (axum), metrics, and the CLI's client.
//! - [`bench`]: the `holdline-bench` load tool (SIP UAC, RTP receive statistics).
//!
//! Only `runtime` touches sockets, files, the clock and OS randomness, apart from the edges
//! that do IO by nature: `store` (its database file), `api` (HTTP) and the load tool's IO in
//! `bench`; they keep their logic testable on an in-memory database, an injected state and
//! pure statistics. Every other module is a plain struct driven by inputs that carry `now`.

pub mod api;
pub mod audio;
pub mod b2bua;
pub mod bench;
pub mod config;
pub mod number;
pub mod queue;
pub mod rtp;
pub mod runtime;
pub mod sip;
pub mod store;
pub mod time;
