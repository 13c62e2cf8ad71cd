//! Queue events: one record per step of a call's life, for the log and the event store.
//!
//! Every step is an event with the call, the queue, the agent when one is involved, the time
//! and how long the call had waited in the queue. A call's life ends in exactly one *terminal*
//! event ([`EventKind::is_terminal`]); a forward to another queue is not terminal (the call
//! enters the other queue next). The engine also writes each event to the `tracing` log; the
//! store persists them (provisioning issue).

use std::fmt;
use std::time::Duration;

use crate::time::Time;

use super::spec::ForwardTo;
use super::types::{AgentId, CallId, EndReason, QueueId, RingOutcome};

/// One step of one call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueEvent {
    pub at: Time,
    pub call: CallId,
    pub queue: QueueId,
    pub agent: Option<AgentId>,
    /// Time since the call entered this queue (zero before it entered).
    pub waited: Duration,
    pub kind: EventKind,
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// The call joined the queue at this position (1 = head).
    Enter { position: usize },
    /// holdline answered the caller.
    Answer,
    /// An agent was offered the call.
    Ring,
    /// An offer ended without an answer.
    RingEnd { outcome: RingOutcome },
    /// An agent answered and the caller was bridged to them.
    Connect,
    /// The caller hung up before being connected. Terminal.
    Abandon,
    /// The call waited `max_wait`; a forward, reject or disconnect follows.
    Timeout,
    /// The queue was full (`max_calls`); a forward, reject or disconnect follows.
    Overflow,
    /// Nobody could take the queue's calls; a forward, reject or disconnect follows.
    NoAgents,
    /// The call was forwarded. Terminal unless the target is a queue. A target outside the
    /// engine is shown by its text (`user:amos`, `tel:+14255550199`).
    Forward { target: ForwardTo<String> },
    /// The call was refused before answering with this status. Terminal.
    Reject { status: u16 },
    /// holdline hung up the caller. Terminal.
    Disconnect { reason: EndReason },
    /// The agent transferred the connected call elsewhere. Terminal.
    Transfer { to: String },
    /// A connected call ended. Terminal.
    Complete { talked: Duration },
}

impl EventKind {
    /// Whether this event ends the call's life in the engine.
    pub fn is_terminal(&self) -> bool {
        match self {
            EventKind::Abandon
            | EventKind::Reject { .. }
            | EventKind::Disconnect { .. }
            | EventKind::Transfer { .. }
            | EventKind::Complete { .. } => true,
            EventKind::Forward { target } => !matches!(target, ForwardTo::Queue(_)),
            _ => false,
        }
    }

    /// A short lowercase name for logs and the store (`enter`, `ring`, `connect` …).
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Enter { .. } => "enter",
            EventKind::Answer => "answer",
            EventKind::Ring => "ring",
            EventKind::RingEnd { .. } => "ring-end",
            EventKind::Connect => "connect",
            EventKind::Abandon => "abandon",
            EventKind::Timeout => "timeout",
            EventKind::Overflow => "overflow",
            EventKind::NoAgents => "no-agents",
            EventKind::Forward { .. } => "forward",
            EventKind::Reject { .. } => "reject",
            EventKind::Disconnect { .. } => "disconnect",
            EventKind::Transfer { .. } => "transfer",
            EventKind::Complete { .. } => "complete",
        }
    }
}

impl fmt::Display for QueueEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} queue={} waited={}ms",
            self.kind.name(),
            self.call,
            self.queue,
            self.waited.as_millis()
        )?;
        if let Some(a) = &self.agent {
            write!(f, " agent={a}")?;
        }
        match &self.kind {
            EventKind::Enter { position } => write!(f, " position={position}"),
            EventKind::RingEnd { outcome } => write!(f, " outcome={outcome:?}"),
            EventKind::Forward { target } => write!(f, " to={target}"),
            EventKind::Reject { status } => write!(f, " status={status}"),
            EventKind::Disconnect { reason } => write!(f, " reason={reason:?}"),
            EventKind::Transfer { to } => write!(f, " to={to}"),
            EventKind::Complete { talked } => write!(f, " talked={}ms", talked.as_millis()),
            _ => Ok(()),
        }
    }
}
