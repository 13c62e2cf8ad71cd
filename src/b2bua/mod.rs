//! The composition root of the call path: SIP legs ⇄ queue actions ⇄ media commands.
//!
//! Today it is the UAS for callers: it answers INVITEs on service numbers, keeps their dialogs
//! (hold, resume, refresh, BYE, CANCEL) and tells the media plane what to play where. It is
//! sans-IO: [`Core`] is driven by the runtime with datagrams, frames, timeouts and `now`.
//!
//! # Layout
//! - [`core`]: the [`Core`] struct, its inputs and outputs, transaction plumbing.
//! - [`uas`]: request handling for caller dialogs.
//! - `uac`: agent legs: ringing agents, CANCEL, ACK, BYE, forks.
//! - `queueing`: the queue engine's actions carried out as SIP and media events.
//! - `locations`: the one place that turns a user into contacts (and online / offline).
//! - `provisioning`: run-time configuration and agent settings, what the admin API reads.
//! - `transfer`: forwards of answered calls and agents' REFERs (new legs, toll-fraud policy).
//! - [`call`]: one caller dialog's state.
//! - [`precheck`]: the §8.2 checks every request passes first.
//! - [`reply`]: the capability headers (Allow, Accept, Supported).
//! - [`ports`]: the RTP port pool.

pub mod call;
pub mod core;
mod locations;
pub mod ports;
pub mod precheck;
mod provisioning;
mod queueing;
pub mod reply;
mod transfer;
mod uac;
mod uas;

pub use self::call::CallHandle;
pub use self::core::{Core, CoreSettings, EndReason, Event, Playback};
pub use self::provisioning::{AgentSettings, CallView, LoggedEvent};
pub use self::uac::{peer_of, LegHandle, LegOutcome, LegState, RingRequest};
