//! What the engine asks its driver (the b2bua) to do: the engine's only way to act.
//!
//! Actions are commands about legs and media, never SIP messages: the b2bua turns `Ring` into an
//! INVITE to the agent's contacts, `CancelRing` into a CANCEL (or a BYE if the agent's 200 OK
//! crossed it), `Bridge` into connecting the two legs' media, `Forward` into REFER or a new leg,
//! `Reject` into a final response before answering and `Disconnect` into a BYE. Calls moved
//! between queues (`queue:` targets) never produce an action: no new signalling is needed.
//!
//! The engine names agents and queues, never where they are: which contacts ring for an agent
//! and which files play for a queue are the driver's to resolve.

use std::time::Duration;

use super::types::{AgentId, CallId, EndReason, QueueId};

/// One command for the driver, taken from [`super::Engine::poll_action`] in order. `T` is the
/// driver's forward target (see [`super::ForwardTo`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action<T> {
    /// Answer the caller (200 OK; the b2bua applies the queue's `answer_delay` first).
    Answer { call: CallId },
    /// Play `queue`'s greeting once; report its end with
    /// [`super::Engine::greeting_finished`].
    PlayGreeting { call: CallId, queue: QueueId },
    /// Play `queue`'s music on hold, looped, until the call is bridged, moved or ended.
    PlayMusic { call: CallId, queue: QueueId },
    /// Offer the call to an agent: INVITE every contact the agent has (forking), for at most
    /// `alert_for` (the engine also times the ring and sends `CancelRing` when it ends).
    /// `queue_name` is shown to the agent (From display name). Report the outcome with
    /// `agent_answered`, `agent_declined`, `agent_busy` or `agent_unreachable`; an agent
    /// online with nowhere known to ring is `agent_unreachable`.
    Ring {
        call: CallId,
        agent: AgentId,
        alert_for: Duration,
        queue: QueueId,
        queue_name: String,
    },
    /// Stop offering the call to the agent (CANCEL). Outcomes reported for it afterwards are
    /// ignored; an answer that crossed the CANCEL is refused by `agent_answered` (hang it up).
    CancelRing { call: CallId, agent: AgentId },
    /// The agent answered: stop the music and connect the caller to the agent's leg.
    Bridge { call: CallId, agent: AgentId },
    /// Hand the call to a target outside the engine (the driver's own, from the queue's
    /// [`super::ForwardTo::Elsewhere`]): by REFER or a new leg when `answered`, else by a
    /// redirect or a new leg before answering. The engine forgets the call.
    Forward {
        call: CallId,
        target: T,
        answered: bool,
    },
    /// Refuse the call before it was answered with this final status (486 Busy Here for
    /// overflow, 480 when nobody can take calls or it timed out at once, 482 Loop Detected).
    /// The engine forgets the call.
    Reject { call: CallId, status: u16 },
    /// Hang up the answered caller (BYE). The engine forgets the call.
    Disconnect { call: CallId, reason: EndReason },
}

impl<T> Action<T> {
    /// The call the action is about.
    pub fn call(&self) -> CallId {
        match self {
            Action::Answer { call }
            | Action::PlayGreeting { call, .. }
            | Action::PlayMusic { call, .. }
            | Action::Ring { call, .. }
            | Action::CancelRing { call, .. }
            | Action::Bridge { call, .. }
            | Action::Forward { call, .. }
            | Action::Reject { call, .. }
            | Action::Disconnect { call, .. } => *call,
        }
    }
}
