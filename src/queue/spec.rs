//! A queue as the engine sees it: who serves it, how calls are offered, its limits and what
//! happens when they are reached.
//!
//! The configuration converts each of its queues into a [`QueueSpec`]; the engine never reads
//! the configuration. What the engine does not decide is left out: the greeting and music
//! files, the answer delay and agents' contacts belong to the driver (the b2bua), which the
//! engine tells "play the greeting of queue X" or "ring agent Y".
//!
//! A forward leaves the engine unless it goes to another queue, so a target outside the engine
//! is the driver's own value `T` (the b2bua's configured `user:`, `tel:` or `sip:` target),
//! opaque here: the engine only hands it back in [`super::Action::Forward`] and shows it in
//! events by its text.

use std::fmt;
use std::time::Duration;

use super::types::{AgentId, OfferMode, QueueId, Routing};

/// One queue's settings, with `T` the driver's forward targets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueSpec<T> {
    pub id: QueueId,
    /// Shown to agents (the ring's From display name).
    pub name: String,
    /// A greeting plays once before music on hold; the driver knows the file.
    pub has_greeting: bool,
    pub routing: Routing,
    pub offer: OfferMode,
    /// Everyone who can be offered the queue's calls, in order (serial routing rings in it).
    pub members: Vec<AgentId>,
    /// Agents may opt out of this queue.
    pub allow_opt_out: bool,
    /// How long an offered call rings an agent.
    pub agent_alert_time: Duration,
    /// Pause after an agent's call before their next offer.
    pub wrap_up: Duration,
    /// Calls waiting at once; one more gets `on_overflow`.
    pub max_calls: u32,
    pub on_overflow: OnOverflow<T>,
    /// Longest wait before `on_timeout`.
    pub max_wait: Duration,
    pub on_timeout: OnTimeout<T>,
    /// A call arriving when no member serves the queue (offline, DND or opted out).
    pub no_agents: OnNoAgents<T>,
}

/// Where a call is forwarded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ForwardTo<T> {
    /// Another queue: the engine moves the call itself, without signalling.
    Queue(QueueId),
    /// Anywhere else (a person, a number, a SIP address), opaque to the engine: the driver
    /// gets it back in [`super::Action::Forward`] and places the call.
    Elsewhere(T),
}

impl<T> ForwardTo<T> {
    /// The same target with the outside one mapped (events keep only its text).
    pub fn map<U>(&self, f: impl FnOnce(&T) -> U) -> ForwardTo<U> {
        match self {
            ForwardTo::Queue(q) => ForwardTo::Queue(q.clone()),
            ForwardTo::Elsewhere(t) => ForwardTo::Elsewhere(f(t)),
        }
    }
}

/// `queue:ID` for a queue, else the outside target's own text (`user:amos`, `tel:+1…`).
impl<T: fmt::Display> fmt::Display for ForwardTo<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ForwardTo::Queue(q) => write!(f, "queue:{q}"),
            ForwardTo::Elsewhere(t) => t.fmt(f),
        }
    }
}

/// A call arriving when `max_calls` are waiting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OnOverflow<T> {
    /// 486 Busy Here before answering (a BYE for a call that was already answered).
    Busy,
    Forward(ForwardTo<T>),
}

/// A call that waited `max_wait`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OnTimeout<T> {
    Disconnect,
    Forward(ForwardTo<T>),
}

/// A call arriving when nobody serves the queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OnNoAgents<T> {
    /// Queue the call anyway.
    Queue,
    Disconnect,
    Forward(ForwardTo<T>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forward_shows_as_its_target_text() {
        let queue: ForwardTo<&str> = ForwardTo::Queue(QueueId("support".into()));
        assert_eq!(queue.to_string(), "queue:support");
        let out = ForwardTo::Elsewhere(7u8).map(|n| format!("tel:+1425555010{n}"));
        assert_eq!(out.to_string(), "tel:+14255550107");
    }
}
