//! Run-time changes from provisioning and presence: queue updates and removal, and agent state
//! (online, DND, opt-out, busy elsewhere).
//!
//! Changes apply to new calls and new offers at once and never disturb calls in progress: a
//! ring goes on unless its agent can no longer take the call, and a call in line keeps the
//! `max_wait`, timeout action and wrap-up it entered with.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::time::Time;

use super::agent::Agent;
use super::engine::{Engine, QueueState};
use super::error::QueueError;
use super::spec::QueueSpec;
use super::timers::AgentIx;
use super::types::{Activity, AgentChange, AgentId, QueueId, RingOutcome};

impl<T: Clone + fmt::Display> Engine<T> {
    /// Changes an agent's state. An agent who becomes unable to take a call they are ringing
    /// for stops ringing (the call moves on).
    pub fn set_agent_state(
        &mut self,
        now: Time,
        agent: &AgentId,
        change: AgentChange,
    ) -> Result<(), QueueError> {
        let ix = self.agent_index(agent)?;
        let a = &mut self.agents[ix];
        match change {
            AgentChange::Online => a.online = true,
            AgentChange::Offline => a.online = false,
            AgentChange::Dnd(on) => a.dnd = on,
            AgentChange::OptOut { queue, opted_out } => {
                if opted_out {
                    a.opted_out.insert(queue);
                } else {
                    a.opted_out.remove(&queue);
                }
            }
            AgentChange::Busy(on) => {
                if a.busy_elsewhere && !on {
                    a.idle_since = now;
                }
                a.busy_elsewhere = on;
            }
        }
        // A ring the agent can no longer take ends now.
        if let Activity::Ringing(call) = self.agents[ix].activity {
            let keep = self.calls.get(&call).is_some_and(|c| {
                let a = &self.agents[ix];
                a.serves(&c.entry) && !a.busy_elsewhere
            });
            if !keep {
                self.end_ring(now, call, ix, RingOutcome::Canceled);
            }
        }
        self.mark_agent_queues(ix);
        self.dispatch(now);
        Ok(())
    }

    /// Whether the agent can be rung at all (the driver knows where: registrations or static
    /// contacts). Unknown agents are created; an agent going offline stops ringing.
    pub fn set_agent_online(&mut self, now: Time, agent: &AgentId, online: bool) {
        self.agent_entry(agent.clone());
        let change = if online {
            AgentChange::Online
        } else {
            AgentChange::Offline
        };
        // The agent exists now, so this cannot fail.
        let _ = self.set_agent_state(now, agent, change);
    }

    /// Adds a queue or replaces its settings. New calls see them at once; calls in line keep
    /// their `max_wait` deadline, timeout action and wrap-up, and rings in progress go on; every
    /// *new* offer uses the new members, routing, offer mode and alert time. Agents not known
    /// yet are created offline.
    pub fn update_queue(&mut self, now: Time, queue: QueueSpec<T>) {
        self.install_queue(queue);
        self.dispatch(now);
    }

    /// Removes a queue: it takes no new calls (nor forwards) from now on. Calls already in line
    /// are not disturbed: they keep waiting, ringing the queue's last agents, until they are
    /// answered, time out (with the action they entered with) or hang up; then the queue is
    /// gone. Re-adding it with [`Engine::update_queue`] meanwhile revives it.
    pub fn remove_queue(&mut self, now: Time, queue: &QueueId) -> Result<(), QueueError> {
        let q = self
            .queues
            .get_mut(queue)
            .ok_or_else(|| QueueError::UnknownQueue {
                queue: queue.clone(),
            })?;
        q.removed = true;
        self.collect_queue(queue);
        self.dispatch(now);
        Ok(())
    }

    /// The agent's index, creating the agent (offline) if needed.
    pub(crate) fn agent_entry(&mut self, id: AgentId) -> AgentIx {
        if let Some(&ix) = self.agent_ix.get(&id) {
            return ix;
        }
        let ix = self.agents.len();
        self.agents.push(Agent::new(id.clone(), false));
        self.agent_ix.insert(id, ix);
        ix
    }

    /// Installs or replaces a queue's settings and its agents' memberships.
    pub(crate) fn install_queue(&mut self, cfg: QueueSpec<T>) {
        let members: Vec<AgentIx> = cfg
            .members
            .iter()
            .map(|a| self.agent_entry(a.clone()))
            .collect();
        let id = cfg.id.clone();
        let cfg = Arc::new(cfg);
        if let Some(q) = self.queues.get_mut(&id) {
            for &a in &q.members {
                self.agents[a].queues.remove(&id);
            }
            q.cfg = cfg;
            q.members = members.clone();
            q.removed = false;
        } else {
            self.queues.insert(
                id.clone(),
                QueueState {
                    cfg,
                    members: members.clone(),
                    line: BTreeMap::new(),
                    last_answered: None,
                    removed: false,
                },
            );
        }
        for a in members {
            self.agents[a].queues.insert(id.clone());
        }
        self.dirty.insert(id);
    }

    /// Drops a removed queue once its line is empty.
    pub(crate) fn collect_queue(&mut self, queue: &QueueId) {
        let gone = self
            .queues
            .get(queue)
            .is_some_and(|q| q.removed && q.line.is_empty());
        if gone {
            if let Some(q) = self.queues.remove(queue) {
                for a in q.members {
                    self.agents[a].queues.remove(queue);
                }
            }
            self.dirty.remove(queue);
        }
    }
}
