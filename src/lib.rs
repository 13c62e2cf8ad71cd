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
//!
//! Only `runtime` touches sockets, files, the clock and OS randomness, apart from the edges
//! that do IO by nature: `store` (its database file) and `api` (HTTP); they keep their logic
//! testable on an in-memory database and an injected state. Every other module is a plain struct
//! driven by inputs that carry `now`.
//!
//! The `holdline-bench` load tool is a crate of its own in the workspace (`bench/`), built on this
//! library's SIP types.

pub mod api;
pub mod audio;
pub mod b2bua;
pub mod config;
pub mod number;
pub mod queue;
pub mod rtp;
pub mod runtime;
pub mod sip;
pub mod store;
pub mod time;
