//! Status queries for the admin API: per queue the calls in line and the agents; per agent its
//! state. Read-only snapshots; they never change the engine.

use std::time::Duration;

use crate::time::Time;

use super::agent::Agent;
use super::call::Phase;
use super::engine::Engine;
use super::types::{Activity, AgentId, CallId, CallerInfo, QueueId};

/// A queue's state now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueStatus {
    pub queue: QueueId,
    pub name: String,
    /// Removed by provisioning and serving its last calls.
    pub removed: bool,
    /// In line order; `position` 1 is the head.
    pub waiting: Vec<WaitingCall>,
    /// The queue's members, in member order.
    pub agents: Vec<QueueAgent>,
}

/// A call in a queue's line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WaitingCall {
    pub call: CallId,
    pub position: usize,
    pub waited: Duration,
    pub caller: CallerInfo,
    pub state: WaitState,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WaitState {
    /// Hearing the greeting; not offered yet.
    Greeting,
    /// On music on hold, no agent ringing.
    Waiting,
    /// Ringing these agents.
    Ringing(Vec<AgentId>),
}

/// An agent as seen from one queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueAgent {
    pub status: AgentStatus,
    /// Takes this queue's calls at all (online, not DND, not opted out where allowed).
    pub serves: bool,
    /// Could be rung for this queue right now.
    pub free: bool,
}

/// One agent's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentStatus {
    pub agent: AgentId,
    pub online: bool,
    pub dnd: bool,
    /// On a call the engine did not offer.
    pub busy_elsewhere: bool,
    pub activity: Activity,
    /// Queues the agent opted out of (whether or not those queues allow it).
    pub opted_out: Vec<QueueId>,
    /// Queues the agent is a member of.
    pub queues: Vec<QueueId>,
    /// Free of calls since (for longest-idle routing).
    pub idle_since: Time,
}

impl AgentStatus {
    fn of(a: &Agent) -> Self {
        AgentStatus {
            agent: a.id.clone(),
            online: a.online,
            dnd: a.dnd,
            busy_elsewhere: a.busy_elsewhere,
            activity: a.activity,
            opted_out: a.opted_out.iter().cloned().collect(),
            queues: a.queues.iter().cloned().collect(),
            idle_since: a.idle_since,
        }
    }
}

impl<T> Engine<T> {
    /// The queue's line and agents now, or `None` for an unknown queue.
    pub fn queue_status(&self, now: Time, queue: &QueueId) -> Option<QueueStatus> {
        let q = self.queues.get(queue)?;
        let waiting = q
            .line
            .values()
            .filter_map(|id| self.calls.get(id))
            .enumerate()
            .map(|(i, c)| WaitingCall {
                call: c.id,
                position: i + 1,
                waited: now.saturating_since(c.entered),
                caller: c.caller.clone(),
                state: match (c.phase, c.rings.is_empty()) {
                    (Phase::Greeting, _) => WaitState::Greeting,
                    (_, true) => WaitState::Waiting,
                    (_, false) => WaitState::Ringing(
                        c.rings
                            .iter()
                            .map(|r| self.agents[r.agent].id.clone())
                            .collect(),
                    ),
                },
            })
            .collect();
        let agents = q
            .members
            .iter()
            .map(|&a| {
                let agent = &self.agents[a];
                QueueAgent {
                    status: AgentStatus::of(agent),
                    serves: agent.serves(&q.cfg),
                    free: agent.offerable(&q.cfg),
                }
            })
            .collect();
        Some(QueueStatus {
            queue: queue.clone(),
            name: q.cfg.name.clone(),
            removed: q.removed,
            waiting,
            agents,
        })
    }

    /// One agent's state, or `None` for an unknown agent.
    pub fn agent_status(&self, agent: &AgentId) -> Option<AgentStatus> {
        let ix = *self.agent_ix.get(agent)?;
        Some(AgentStatus::of(&self.agents[ix]))
    }

    /// The ids of the queues the engine serves (removed ones until their last call leaves).
    pub fn queue_ids(&self) -> Vec<QueueId> {
        self.queues.keys().cloned().collect()
    }

    /// How many calls the engine holds (in line or connected).
    pub fn call_count(&self) -> usize {
        self.calls.len()
    }

    /// The queue a call is in now (it changes when the call is forwarded to another queue).
    pub fn call_queue(&self, call: CallId) -> Option<&QueueId> {
        self.calls.get(&call).map(|c| &c.entry.id)
    }

    /// How many timers are armed (for tests that check nothing is left behind).
    pub fn timer_count(&self) -> usize {
        self.timers.len()
    }
}
