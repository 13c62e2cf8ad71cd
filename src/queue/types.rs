//! The engine's own identifiers and the small value types its inputs carry.
//!
//! A call and an agent are named by the engine's own [`CallId`] and [`AgentId`], never by a SIP
//! Call-ID or URI: the b2bua keeps the mapping between its legs and these ids. A queue is named
//! by its [`QueueId`], and how it offers calls by [`Routing`] and [`OfferMode`]; the
//! configuration shares these three (it re-exports them) and converts the rest of a queue into
//! a [`super::QueueSpec`]. Nothing here knows about SIP beyond the status codes an agent's
//! decline is reported with.

use std::fmt;

use crate::time::Time;

/// A queue, by the `id` it is configured with (`"sales"`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueueId(pub String);

impl QueueId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for QueueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How agents are chosen for an offered call (each is a policy in `policy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Routing {
    /// Ring every eligible agent at once; the first to answer wins.
    Attendant,
    /// One at a time, in member order.
    Serial,
    /// One at a time, starting after the agent who took the previous call.
    RoundRobin,
    /// One at a time, the agent idle longest first.
    LongestIdle,
}

/// Which waiting calls are offered to agents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OfferMode {
    /// Only the call at the head of the queue rings agents (FIFO, the default).
    Head,
    /// Several waiting calls may ring different agents at once.
    Parallel,
}

/// A caller's call as the engine knows it; assigned by [`super::Engine::call_arrived`] and kept
/// when the call moves between queues.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(pub u64);

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "call-{}", self.0)
    }
}

/// An agent: one person (a configured user) who may be a member of several queues.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AgentId(pub String);

impl AgentId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for AgentId {
    fn from(s: &str) -> Self {
        AgentId(s.to_owned())
    }
}

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who is calling, as text for status queries and events; the engine never interprets it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallerInfo {
    /// The caller's address (`tel:+14255550123`, `sip:bob@example.com`).
    pub from: String,
    /// The display name, when the caller sent one.
    pub display: Option<String>,
}

impl CallerInfo {
    pub fn new(from: impl Into<String>) -> Self {
        CallerInfo {
            from: from.into(),
            display: None,
        }
    }
}

/// Why an agent's phone refused an offered call (the final response to the agent INVITE).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeclineReason {
    /// 603 Decline: the agent pressed "decline".
    Declined,
    /// 486 Busy Here / 600 Busy Everywhere.
    Busy,
    /// 480 Temporarily Unavailable.
    Unavailable,
    /// Any other final error status.
    Other(u16),
}

impl DeclineReason {
    /// Maps an agent's final error response to a reason (RFC 3261 §21.4.18, §21.4.25, §21.6.1-2).
    pub fn from_status(status: u16) -> Self {
        match status {
            603 => DeclineReason::Declined,
            486 | 600 => DeclineReason::Busy,
            480 => DeclineReason::Unavailable,
            other => DeclineReason::Other(other),
        }
    }
}

/// How a ring (one offer of one call to one agent) ended, when it did not end in an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingOutcome {
    /// The agent's phone refused the call.
    Declined(DeclineReason),
    /// The agent alert time ran out.
    NoAnswer,
    /// No response or a transport failure reaching the agent (408, 503, Timer B).
    Unreachable,
    /// The engine stopped the ring (another agent answered, the call timed out or moved, or the
    /// agent became unavailable).
    Canceled,
    /// The caller hung up while the agent's phone rang: the ring is withdrawn. That is the
    /// caller's abandon, not the agent's miss, so it is told apart from [`RingOutcome::Canceled`].
    CallerLeft,
}

/// Why the engine hangs up (or refuses) a caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    /// `max_wait` reached and `on_timeout` is `disconnect`.
    Timeout,
    /// The queue was full and `on_overflow` is `busy`, but the call was already answered (it
    /// arrived by an internal forward).
    Overflow,
    /// Nobody can take the queue's calls and `no_agents` is `disconnect`.
    NoAgents,
    /// The call was forwarded between queues too often (a loop made at run time).
    ForwardLoop,
    /// The call was forwarded to a queue that no longer exists.
    ForwardFailed,
}

/// A change to an agent's state, from the agent (opt in/out, DND), presence (online), or the
/// b2bua (on a call the engine did not place).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AgentChange {
    /// Signed in / registered: can be offered calls.
    Online,
    /// Signed out / unregistered / unreachable: never rung.
    Offline,
    /// Do not disturb on or off.
    Dnd(bool),
    /// Opted out of (`true`) or back into (`false`) one queue. Only counts where the queue has
    /// `allow_opt_out`; elsewhere it is remembered but has no effect.
    OptOut { queue: QueueId, opted_out: bool },
    /// On (or off) a call the engine did not offer (a direct call to the agent).
    Busy(bool),
}

/// An agent's activity, as status queries report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activity {
    /// Free for an offer.
    Idle,
    /// Being offered this call.
    Ringing(CallId),
    /// Bridged to this call.
    OnCall(CallId),
    /// After a queue call, not offered calls until this time.
    WrapUp(Time),
}
