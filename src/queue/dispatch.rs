//! Dispatch: offering waiting calls to free agents, in FIFO order, under the queue's policy.
//!
//! At the end of every input the engine dispatches each queue the input touched, the queue
//! whose longest-waiting ready call arrived first going first (so an agent in several queues
//! goes to the caller who has waited longest). Within a queue:
//!
//! - `offer = "head"` (default): only the first call in line that is past its greeting rings
//!   agents; the next call rings once it is answered or leaves.
//! - `offer = "parallel"`: calls in line order each take the free agents their policy picks,
//!   until no free agent is left, so several calls ring *distinct* agents at once (an attendant
//!   call takes every free agent, so the earliest call gets them all).
//!
//! An agent is offered a call only when free (idle, not busy elsewhere) and serving the queue
//! (online, not DND, not opted out where allowed); taking them marks them ringing, so no agent
//! ever rings for two calls, in any queue.

use std::sync::Arc;

use std::fmt;

use crate::time::Time;

use super::action::Action;
use super::call::Ring;
use super::engine::Engine;
use super::event::EventKind;
use super::policy::{pick, policy_for, Candidate, Policy, RoundView};
use super::spec::QueueSpec;
use super::timers::{AgentIx, Timer};
use super::types::{Activity, CallId, OfferMode, QueueId};

impl<T: Clone + fmt::Display> Engine<T> {
    /// Dispatches every queue marked by the current input.
    pub(crate) fn dispatch(&mut self, now: Time) {
        if self.dirty.is_empty() {
            return;
        }
        let dirty = std::mem::take(&mut self.dirty);
        let mut order: Vec<(u64, QueueId)> = dirty
            .into_iter()
            .filter_map(|q| {
                let state = self.queues.get(&q)?;
                let first = state
                    .line
                    .values()
                    .find(|c| self.calls.get(c).is_some_and(|c| c.is_ready()))
                    .and_then(|c| self.calls.get(c))?;
                Some((first.seq, q))
            })
            .collect();
        order.sort();
        for (_, q) in order {
            self.dispatch_queue(now, &q);
        }
        // Offering only takes agents; nothing it does can make another queue's offer possible.
        self.dirty.clear();
    }

    fn dispatch_queue(&mut self, now: Time, queue: &QueueId) {
        let Some(q) = self.queues.get(queue) else {
            return;
        };
        let cfg = q.cfg.clone();
        let policy = policy_for(cfg.routing);
        let mut pool: Vec<Candidate> = q
            .members
            .iter()
            .enumerate()
            .filter(|(_, &a)| self.agents[a].offerable(&cfg))
            .map(|(position, &agent)| Candidate {
                agent,
                position,
                idle_since: self.agents[agent].idle_since,
            })
            .collect();
        let mut from = 0u64;
        while !pool.is_empty() {
            let Some((seq, id)) = self
                .queues
                .get(queue)
                .and_then(|q| q.line.range(from..).next().map(|(s, c)| (*s, *c)))
            else {
                break;
            };
            from = seq + 1;
            let Some(c) = self.calls.get(&id) else {
                continue;
            };
            if !c.is_ready() {
                continue;
            }
            self.offer(now, id, queue, &cfg, policy, &mut pool);
            if cfg.offer == OfferMode::Head {
                break;
            }
        }
    }

    /// Rings the agents the policy picks for one call from the free `pool`; starts the call's
    /// next round when this one is exhausted.
    fn offer(
        &mut self,
        now: Time,
        id: CallId,
        queue: &QueueId,
        cfg: &Arc<QueueSpec<T>>,
        policy: &dyn Policy,
        pool: &mut Vec<Candidate>,
    ) {
        for fresh in [false, true] {
            let Some(c) = self.calls.get(&id) else {
                return;
            };
            let members = self
                .queues
                .get(queue)
                .map(|q| &q.members[..])
                .unwrap_or(&[]);
            let position =
                |a: Option<AgentIx>| a.and_then(|a| members.iter().position(|&m| m == a));
            let view = RoundView {
                members: members.len(),
                last: position(c.round.last),
                after: position(c.round.after),
            };
            let candidates: Vec<Candidate> = pool
                .iter()
                .filter(|p| !c.round.tried.contains(&p.agent))
                .copied()
                .collect();
            let picks = pick(policy, &candidates, &view, c.rings.len());
            if !picks.is_empty() {
                self.cancel_next_round(id);
                for agent in picks {
                    pool.retain(|p| p.agent != agent);
                    self.ring(now, id, agent, cfg);
                }
                return;
            }
            if !c.rings.is_empty() || pool.is_empty() || fresh {
                return;
            }
            if candidates.is_empty() {
                // Every free agent was tried this round: the next round waits for the pause.
                if c.round.next_at.is_some() {
                    return;
                }
                let next = c.round.started + self.options.round_pause;
                if next > now {
                    if let Some(c) = self.calls.get_mut(&id) {
                        c.round.next_at = Some(next);
                        self.timers.insert(next, Timer::NextRound(id));
                    }
                    return;
                }
            }
            // Free agents the policy's order passed over (serial does not go back before the
            // agent rung last) have not been rung: wrap around to them at once.
            self.new_round(now, id);
        }
    }

    fn ring(&mut self, now: Time, id: CallId, agent: AgentIx, cfg: &QueueSpec<T>) {
        let until = now + cfg.agent_alert_time;
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        c.rings.push(Ring { agent, until });
        c.round.tried.push(agent);
        c.round.last = Some(agent);
        self.timers.insert(until, Timer::Alert(id, agent));
        let a = &mut self.agents[agent];
        a.activity = Activity::Ringing(id);
        self.actions.push_back(Action::Ring {
            call: id,
            agent: a.id.clone(),
            alert_for: cfg.agent_alert_time,
            queue: cfg.id.clone(),
            queue_name: cfg.name.clone(),
        });
        self.emit(now, id, Some(agent), EventKind::Ring);
    }
}
