//! holdline: a SIP/RTP call-queue server.
//!
//! # Layout
//!
//! ```text
//! main → runtime → api   → { config, store, audio, number, reports }  (arrows: "imports")
//!                  b2bua → { queue, sip, config, number }
//!                  the modules below: the runtime drives every core
//! main → api, config, audio          (the admin commands, check-config, media probe|convert)
//! config → { queue, number, sip }    number → sip              rtp → audio (the G.711 law)
//! sip, rtp, queue → time             audio, store: nothing of the crate
//! ```
//!
//! `tests/architecture.rs` holds this graph and fails on any other import, and on `tokio`
//! outside `runtime`, `api` and `main`.
//!
//! - [`runtime`]: the IO edge, the only module with tokio, sockets, files, signals and OS
//!   randomness. [`runtime::clock`] holds the only clock reads and sleeps (one epoch for the
//!   core, the pacers and the event log); `runtime::sys` the only `unsafe` (three OS calls).
//! - [`api`]: the admin REST API (axum, the HTTP edge), provisioning checked by the
//!   configuration's validation, metrics, and the CLI's client.
//! - [`b2bua`]: the call path, sans-IO, in parts that own their state: `legs` (every SIP
//!   dialog, callers' and agents'; knows no queues), `switch` (the queue engine, rings,
//!   forwards and transfers in flight, call timers), `settings` (what the configuration says,
//!   swapped whole), `locations` (a user's contacts), `provisioning` (configuration and agents'
//!   settings applied to new calls), `admission` (per-source limits and bans, in front of the
//!   rest); [`b2bua::Core`] routes between them.
//! - [`sip`]: RFC 3261 mechanics (messages, SDP, transactions, and [`sip::dialog`], the one §12
//!   dialog type). Sans-IO.
//! - [`rtp`]: RTP/RTCP packets, DTMF, outgoing streams and pacing, receive state, the bridge
//!   relay, and [`rtp::session`], what each party's media does. Sans-IO.
//! - [`queue`]: the call-queue engine in its own vocabulary (calls, agents, routing policies,
//!   actions, timers). Sans-IO; imports only [`time`].
//! - [`audio`]: decode, resample and G.711-encode prompts, offline. Pure functions over bytes.
//! - [`config`]: the TOML configuration, its validation, the service directory and the
//!   embedded default.
//! - [`number`]: E.164 service numbers and Request-URI matching.
//! - [`store`]: the SQLite database: provisioning, agents' settings, the event log.
//! - [`reports`]: call figures per queue and agent, per hour or day, from the event log. Pure;
//!   reads the store's event rows.
//! - [`time`]: virtual time for the sans-IO cores.
//!
//! Besides `runtime`, only the edges that do IO by nature touch the outside: `store` (its
//! database file, synchronously) and `api` (HTTP); they keep their logic testable on an
//! in-memory database and an injected state. Every other module is a plain struct driven by
//! inputs that carry `now`.
//!
//! The workspace has two more members: `holdline-bench` (`bench/`), the load tool, built on
//! this library's SIP types and dialogs; and `holdline-testkit` (`testkit/`), what the tests
//! share.

pub mod api;
pub mod audio;
pub mod b2bua;
pub mod config;
pub mod number;
pub mod queue;
pub mod reports;
pub mod rtp;
pub mod runtime;
pub mod sip;
pub mod store;
pub mod time;
