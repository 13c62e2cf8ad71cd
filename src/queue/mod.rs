//! The call-queue engine, sans-IO: calls, agents, routing policies and timers.
//!
//! The engine owns calls and agents as its own types ([`CallId`], [`AgentId`]) and never sees a
//! SIP message. It has its own vocabulary and imports nothing of holdline but `time`: queues
//! are [`QueueSpec`]s (ids, routing, offer mode, limits, overflow / timeout / no-agents actions)
//! that the configuration converts into, and a forward to anywhere but another queue carries the
//! driver's own target, opaque to the engine ([`ForwardTo`]). The b2bua drives it with inputs
//! that carry `now` (call arrived / hung up, agent answered / declined / busy / unreachable /
//! call ended, agent online or not, agent state changed, greeting finished, timeout, queue
//! updated) and carries out the [`Action`]s it hands back (answer, play greeting / music, ring,
//! cancel, bridge, forward, reject, disconnect). Actions name agents and queues, never contacts
//! or files: the b2bua resolves those. Every step is also a [`QueueEvent`] for the log and the
//! store.
//!
//! ```text
//! let call = engine.call_arrived(now, &queue, caller)?;
//! while let Some(action) = engine.poll_action() { /* SIP legs, media */ }
//! while let Some(event) = engine.poll_event() { /* store */ }
//! if let Some(at) = engine.poll_timeout() { /* wake at `at`: engine.handle_timeout(at) */ }
//! ```
//!
//! Queue rules (DESIGN.md §1): calls are served FIFO; by default only the head call rings
//! agents (`offer = "parallel"`: several calls ring distinct agents). Routing methods are
//! policies (`policy`): attendant, serial, round-robin, longest-idle. Offline, DND, opted-out
//! (where allowed), ringing, busy and wrapping-up agents are never rung, and one agent never
//! rings for two calls at once, across queues. `max_calls` → `on_overflow`, `max_wait` →
//! `on_timeout` (never cutting the greeting short; with `max_wait = 0` the greeting plays and
//! then the timeout runs, or without a greeting it runs before answering), nobody serving the
//! queue at entry → `no_agents`. Forwards to `queue:` targets move the call internally, at most
//! [`EngineOptions::max_forward_hops`] times.
//!
//! # Driving the engine (the b2bua's side of the contract)
//! - Map each caller leg to the [`CallId`] `call_arrived` returns, each agent leg to
//!   (call, agent). Carry out the actions in order; `Answer` honours the queue's
//!   `answer_delay` (the signalling layer owns it); `Ring` rings the agent's contacts and
//!   `PlayGreeting` / `PlayMusic` play the queue's files, as the driver knows them.
//! - Tell the engine whether each agent can be rung with `set_agent_online` (at start with
//!   [`Engine::new`], then whenever it changes: contacts added or gone, registrations).
//! - Report the end of every greeting with `greeting_finished` (a guard timer moves on after
//!   the longest allowed prompt if it never comes).
//! - Report each ring's outcome once: `agent_answered` (on `Err`, hang up that agent leg: the
//!   offer was withdrawn), `agent_declined` / `agent_busy` / `agent_unreachable`. Outcomes
//!   after a `CancelRing` are refused harmlessly.
//! - A bridge is the b2bua's: when either leg of a bridged call ends, end the other leg and
//!   report it once, with `call_hung_up` (caller) or `agent_call_ended` (agent); an agent's
//!   REFER is `call_transferred`.
//! - `Forward` (external targets), `Reject` and `Disconnect` end the call in the engine.
//! - Call `handle_timeout(now)` at `poll_timeout()`; drain `poll_event` into the log/store.
//!
//! What this does not do: signalling, media, registrations or persistence; the b2bua, media
//! plane, registrar and store do, driven by the actions and events.
//!
//! # Layout
//! - [`engine`]: [`Engine`], its inputs and outputs. `lifecycle`: entering, timeout, forward,
//!   ends. `dispatch`: offering calls to agents. `policy`: the routing methods.
//! - `provision`: queue updates and agent state at run time.
//! - `call`, `agent`: the engine's records. `timers`: named deadlines.
//! - [`spec`], [`action`], [`event`], [`types`], [`status`], [`error`]: the public vocabulary.

pub mod action;
mod agent;
mod call;
mod dispatch;
pub mod engine;
pub mod error;
pub mod event;
mod lifecycle;
pub(crate) mod policy;
mod provision;
pub mod spec;
pub mod status;
pub(crate) mod timers;
pub mod types;

pub use action::Action;
pub use engine::{Engine, EngineOptions};
pub use error::QueueError;
pub use event::{EventKind, QueueEvent};
pub use spec::{ForwardTo, OnNoAgents, OnOverflow, OnTimeout, QueueSpec};
pub use status::{AgentStatus, QueueAgent, QueueStatus, WaitState, WaitingCall};
pub use types::{
    Activity, AgentChange, AgentId, CallId, CallerInfo, DeclineReason, EndReason, OfferMode,
    QueueId, RingOutcome, Routing,
};
