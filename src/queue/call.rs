//! A caller's call inside the engine, and its round of offers to agents.
//!
//! ```text
//!   call_arrived / forward to a queue
//!        │ (full → overflow action; nobody serves → no_agents action)
//!        ▼
//!   Greeting ──greeting_finished──▶ Waiting ──agent answers──▶ Connected ──▶ Complete
//!        │                            │  ▲
//!        │                            ▼  │ rings end
//!        │                          (rings to agents)
//!        └──── hang-up: Abandon;  max_wait: Timeout → forward / disconnect ────┘
//! ```
//! While waiting, a call is offered to agents in *rounds*: each agent at most once per round
//! (in the order the routing policy gives); when every free agent has been tried the next round
//! starts, no sooner than `round_pause` after the previous one began, so a queue whose agents
//! all decline at once does not ring them in a tight loop.

use std::sync::Arc;

use crate::time::Time;

use super::spec::QueueSpec;
use super::timers::AgentIx;
use super::types::{CallId, CallerInfo};

/// Where a call is in its life in the engine. States own only their data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// The greeting plays; the call holds its place in line but is not offered yet.
    Greeting,
    /// Music on hold; offered to agents.
    Waiting,
    /// Bridged to this agent; no longer in the queue's line.
    Connected { agent: AgentIx, since: Time },
}

/// One outstanding offer to one agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ring {
    pub agent: AgentIx,
    pub until: Time,
}

/// The agents tried for a call since its current round began.
#[derive(Clone, Debug, Default)]
pub(crate) struct Round {
    pub started: Time,
    pub tried: Vec<AgentIx>,
    /// The agent rung last in this round (serial and round-robin go on after them).
    pub last: Option<AgentIx>,
    /// Round-robin: the agent who last answered a call of the queue when the round began.
    pub after: Option<AgentIx>,
    /// Set while the call waits for its next round (`Timer::NextRound`).
    pub next_at: Option<Time>,
}

#[derive(Debug)]
pub(crate) struct Call<T> {
    pub id: CallId,
    pub caller: CallerInfo,
    /// The queue's settings when the call entered it: its `max_wait`, `on_timeout` and wrap-up
    /// stay as they were even if the queue is updated meanwhile.
    pub entry: Arc<QueueSpec<T>>,
    /// Place in the queue's line (engine-wide arrival counter; lower is earlier).
    pub seq: u64,
    pub entered: Time,
    pub answered: bool,
    pub phase: Phase,
    pub rings: Vec<Ring>,
    pub round: Round,
    /// How often the call moved between queues.
    pub hops: u8,
    /// The `max_wait` deadline, when armed.
    pub max_wait_at: Option<Time>,
    /// `max_wait` was reached during the greeting: the timeout runs when the greeting ends.
    pub timeout_due: bool,
    pub greeting_guard_at: Option<Time>,
}

impl<T> Call<T> {
    pub fn is_ringing(&self, agent: AgentIx) -> bool {
        self.rings.iter().any(|r| r.agent == agent)
    }

    /// In the line and past the greeting.
    pub fn is_ready(&self) -> bool {
        self.phase == Phase::Waiting
    }
}
