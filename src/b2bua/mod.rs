//! The composition root of the call path: SIP legs ⇄ the call switch ⇄ media commands.
//!
//! holdline is the UAS for callers (it answers INVITEs on service numbers and keeps their
//! dialogs: hold, resume, refresh, BYE, CANCEL) and the UAC for agents and forwards; between
//! them the switch runs the queues and tells the media plane what to play where. It is
//! sans-IO: [`Core`] is driven by the runtime with datagrams, frames, timeouts and `now`.
//!
//! ```text
//!   network ──► legs ──LegEvent──► switch ──► media commands (Event) ──► runtime
//!                 ▲                   │
//!                 └──── commands ─────┘        settings: read by both, swapped whole
//! ```
//!
//! # Layout
//! - [`core`]: [`Core`], a thin router between the parts below; its inputs and outputs.
//! - [`admission`]: per-source request rates, unconfirmed-call quotas and bans, in front of
//!   the legs.
//! - `legs`: every SIP dialog (callers' and agents') and its transactions; takes commands,
//!   reports events, knows no queues. [`legs::call`]: one caller dialog's state.
//! - `switch`: the queue engine, rings, forwards and transfers in flight, call timers.
//! - `settings`: what the configuration says (directory, queue signalling, dial plan), one
//!   immutable value swapped whole on reconfigure.
//! - `locations`: the one place that turns a user into contacts (and online / offline).
//! - `reachability`: OPTIONS probes of static contacts, when they are due and what they found.
//! - `provisioning`: agent settings and configuration changes applied to the engine; what the
//!   admin API reads.
//! - [`registrar`]: REGISTER with digest authentication; bindings become locations.
//! - [`precheck`]: the §8.2 checks every request passes first.
//! - [`reply`]: the capability headers (Allow, Accept, Supported).
//! - [`ports`]: the RTP port pool.

pub mod access_log;
pub mod admission;
pub mod core;
pub mod legs;
mod locations;
pub mod ports;
pub mod precheck;
mod provisioning;
mod reachability;
pub mod registrar;
pub mod reply;
pub mod sbc_dns;
pub mod sbc_health;
mod settings;
mod switch;
mod trunk;

pub use self::core::{AgentRequest, Core, CoreSettings, EndReason, Event, Playback, SettingChange};
pub use self::legs::call::CallHandle;
pub use self::legs::{peer_of, LegHandle, LegOutcome, LegState, RingRequest};
pub use self::provisioning::{AgentSettings, CallView, LoggedEvent};
