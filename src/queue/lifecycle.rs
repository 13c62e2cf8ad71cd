//! A call's way through queues: entering (overflow, no agents, greeting), the timeout, forwards
//! (internal moves between queues with a hop cap), and every way a call or a ring ends.
//!
//! Terminal steps go through [`Engine::refuse`], [`Engine::forward`] (external targets),
//! [`Engine::complete`], or the abandon/transfer paths in `engine.rs`; each removes the call,
//! so a call ends exactly once.

use std::fmt;
use std::time::Duration;

use crate::time::Time;

use super::action::Action;
use super::call::{Phase, Round};
use super::engine::Engine;
use super::event::EventKind;
use super::spec::{ForwardTo, OnNoAgents, OnOverflow, OnTimeout};
use super::timers::{AgentIx, Timer};
use super::types::{Activity, CallId, EndReason, QueueId, RingOutcome};

/// 480 Temporarily Unavailable (RFC 3261 §21.4.18): nobody can take the call now.
const UNAVAILABLE: u16 = 480;
/// 486 Busy Here (§21.4.25): the queue is full.
const BUSY_HERE: u16 = 486;
/// 482 Loop Detected (§21.4.20): forwarded between queues too often.
const LOOP_DETECTED: u16 = 482;

impl<T: Clone + fmt::Display> Engine<T> {
    /// Puts a call (new, or moved from another queue and detached) into `queue`.
    pub(crate) fn enter(&mut self, now: Time, id: CallId, queue: &QueueId) {
        let Some(q) = self.queues.get(queue).filter(|q| !q.removed) else {
            self.refuse(now, id, UNAVAILABLE, EndReason::ForwardFailed);
            return;
        };
        let cfg = q.cfg.clone();
        let full = q.line.len() >= cfg.max_calls as usize;
        let nobody = !q.members.iter().any(|&a| self.agents[a].serves(&cfg));
        let position = q.line.len() + 1;
        let after = q.last_answered;
        let seq = self.next_seq;
        self.next_seq += 1;
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        c.entry = cfg.clone();
        c.entered = now;
        c.seq = seq;
        c.phase = Phase::Waiting;
        c.timeout_due = false;
        c.round = Round {
            started: now,
            after,
            ..Round::default()
        };

        if full {
            self.emit(now, id, None, EventKind::Overflow);
            match &cfg.on_overflow {
                OnOverflow::Busy => self.refuse(now, id, BUSY_HERE, EndReason::Overflow),
                OnOverflow::Forward(t) => self.forward(now, id, t.clone()),
            }
            return;
        }
        if nobody && !matches!(cfg.no_agents, OnNoAgents::Queue) {
            self.emit(now, id, None, EventKind::NoAgents);
            match &cfg.no_agents {
                OnNoAgents::Forward(t) => self.forward(now, id, t.clone()),
                _ => self.refuse(now, id, UNAVAILABLE, EndReason::NoAgents),
            }
            return;
        }
        self.emit(now, id, None, EventKind::Enter { position });
        if let Some(q) = self.queues.get_mut(queue) {
            q.line.insert(seq, id);
        }
        // max_wait = 0 without a greeting: the timeout action runs at once, before answering.
        if cfg.max_wait.is_zero() && !cfg.has_greeting {
            self.run_timeout(now, id);
            return;
        }
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let answer = !c.answered;
        c.answered = true;
        if answer {
            self.actions.push_back(Action::Answer { call: id });
            self.emit(now, id, None, EventKind::Answer);
        }
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        if cfg.has_greeting {
            c.phase = Phase::Greeting;
            let guard = now + self.options.greeting_guard;
            c.greeting_guard_at = Some(guard);
            self.timers.insert(guard, Timer::GreetingGuard(id));
            self.actions.push_back(Action::PlayGreeting {
                call: id,
                queue: queue.clone(),
            });
        } else {
            self.actions.push_back(Action::PlayMusic {
                call: id,
                queue: queue.clone(),
            });
        }
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        if cfg.max_wait.is_zero() {
            // Only reachable with a greeting: it plays, then the timeout runs.
            c.timeout_due = true;
        } else {
            let at = now + cfg.max_wait;
            c.max_wait_at = Some(at);
            self.timers.insert(at, Timer::MaxWait(id));
        }
        self.dirty.insert(queue.clone());
    }

    /// The greeting ended (reported or guarded): music and offers, or the pending timeout.
    pub(crate) fn end_greeting(&mut self, now: Time, id: CallId) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        c.phase = Phase::Waiting;
        if let Some(at) = c.greeting_guard_at.take() {
            self.timers.remove(at, Timer::GreetingGuard(id));
        }
        if c.timeout_due {
            self.run_timeout(now, id);
            return;
        }
        let queue = c.entry.id.clone();
        self.actions.push_back(Action::PlayMusic {
            call: id,
            queue: queue.clone(),
        });
        self.dirty.insert(queue);
    }

    /// `max_wait` reached: the timeout action the call entered with.
    pub(crate) fn run_timeout(&mut self, now: Time, id: CallId) {
        let Some(c) = self.calls.get(&id) else {
            return;
        };
        let action = c.entry.on_timeout.clone();
        self.emit(now, id, None, EventKind::Timeout);
        match action {
            OnTimeout::Disconnect => self.refuse(now, id, UNAVAILABLE, EndReason::Timeout),
            OnTimeout::Forward(t) => self.forward(now, id, t),
        }
    }

    /// Forwards a call. `queue:` targets move it internally (no signalling) up to the hop cap;
    /// other targets hand it to the driver and the engine forgets it.
    pub(crate) fn forward(&mut self, now: Time, id: CallId, target: ForwardTo<T>) {
        self.detach(now, id);
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let shown = target.map(T::to_string);
        match target {
            ForwardTo::Queue(queue) => {
                if c.hops >= self.options.max_forward_hops {
                    self.refuse(now, id, LOOP_DETECTED, EndReason::ForwardLoop);
                    return;
                }
                c.hops += 1;
                self.emit(now, id, None, EventKind::Forward { target: shown });
                self.enter(now, id, &queue);
            }
            ForwardTo::Elsewhere(target) => {
                let answered = c.answered;
                self.emit(now, id, None, EventKind::Forward { target: shown });
                self.actions.push_back(Action::Forward {
                    call: id,
                    target,
                    answered,
                });
                self.calls.remove(&id);
            }
        }
    }

    /// Ends a call from the engine's side: `status` before answering, else a BYE for `reason`.
    pub(crate) fn refuse(&mut self, now: Time, id: CallId, status: u16, reason: EndReason) {
        self.detach(now, id);
        let Some(c) = self.calls.get(&id) else {
            return;
        };
        if c.answered {
            self.actions
                .push_back(Action::Disconnect { call: id, reason });
            self.emit(now, id, None, EventKind::Disconnect { reason });
        } else {
            self.actions.push_back(Action::Reject { call: id, status });
            self.emit(now, id, None, EventKind::Reject { status });
        }
        self.calls.remove(&id);
    }

    /// A connected call ended: complete, and the agent goes to wrap-up.
    pub(crate) fn complete(&mut self, now: Time, id: CallId, agent: AgentIx, since: Time) {
        self.emit(
            now,
            id,
            Some(agent),
            EventKind::Complete {
                talked: now.saturating_since(since),
            },
        );
        if let Some(c) = self.calls.remove(&id) {
            self.after_call(now, agent, c.entry.wrap_up);
        }
    }

    /// The agent's call is over: wrap-up for `wrap_up`, then free.
    pub(crate) fn after_call(&mut self, now: Time, agent: AgentIx, wrap_up: Duration) {
        let a = &mut self.agents[agent];
        if wrap_up.is_zero() {
            a.activity = Activity::Idle;
            a.idle_since = now;
        } else {
            let until = now + wrap_up;
            a.activity = Activity::WrapUp(until);
            self.timers.insert(until, Timer::WrapUp(agent));
        }
        self.mark_agent_queues(agent);
    }

    /// Takes a call out of its queue's line: cancels its rings and its timers. The call itself
    /// stays in the call table for the caller to finish.
    pub(crate) fn detach(&mut self, now: Time, id: CallId) {
        self.detach_ending_rings(now, id, RingOutcome::Canceled);
    }

    /// [`Self::detach`], ending the call's rings with `outcome` (the caller hanging up
    /// withdraws them: [`RingOutcome::CallerLeft`]).
    pub(crate) fn detach_ending_rings(&mut self, now: Time, id: CallId, outcome: RingOutcome) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let rings: Vec<AgentIx> = c.rings.iter().map(|r| r.agent).collect();
        if let Some(at) = c.max_wait_at.take() {
            self.timers.remove(at, Timer::MaxWait(id));
        }
        if let Some(at) = c.greeting_guard_at.take() {
            self.timers.remove(at, Timer::GreetingGuard(id));
        }
        let queue = c.entry.id.clone();
        let seq = c.seq;
        self.cancel_next_round(id);
        for agent in rings {
            self.end_ring(now, id, agent, outcome);
        }
        if let Some(q) = self.queues.get_mut(&queue) {
            if q.line.get(&seq) == Some(&id) {
                q.line.remove(&seq);
            }
        }
        self.dirty.insert(queue.clone());
        self.collect_queue(&queue);
    }

    /// Removes one ring from a call (its timer too) without touching the agent.
    pub(crate) fn take_ring(&mut self, id: CallId, agent: AgentIx) {
        if let Some(c) = self.calls.get_mut(&id) {
            if let Some(i) = c.rings.iter().position(|r| r.agent == agent) {
                let ring = c.rings.swap_remove(i);
                self.timers.remove(ring.until, Timer::Alert(id, agent));
            }
        }
    }

    /// A ring ended without an answer: the agent is free again and the call moves on.
    /// The engine cancels the ring itself unless the agent's phone ended it.
    pub(crate) fn end_ring(&mut self, now: Time, id: CallId, agent: AgentIx, outcome: RingOutcome) {
        self.take_ring(id, agent);
        if self.agents[agent].activity == Activity::Ringing(id) {
            self.agents[agent].activity = Activity::Idle;
        }
        if matches!(
            outcome,
            RingOutcome::Canceled | RingOutcome::NoAnswer | RingOutcome::CallerLeft
        ) {
            self.actions.push_back(Action::CancelRing {
                call: id,
                agent: self.agents[agent].id.clone(),
            });
        }
        self.emit(now, id, Some(agent), EventKind::RingEnd { outcome });
        if let Some(c) = self.calls.get(&id) {
            self.dirty.insert(c.entry.id.clone());
        }
        self.mark_agent_queues(agent);
    }

    /// Drops a call's pending `NextRound` timer, if any.
    pub(crate) fn cancel_next_round(&mut self, id: CallId) {
        if let Some(at) = self.calls.get_mut(&id).and_then(|c| c.round.next_at.take()) {
            self.timers.remove(at, Timer::NextRound(id));
        }
    }

    /// Starts a call's next round of offers.
    pub(crate) fn new_round(&mut self, now: Time, id: CallId) {
        self.cancel_next_round(id);
        let Some(c) = self.calls.get(&id) else {
            return;
        };
        let after = self.queues.get(&c.entry.id).and_then(|q| q.last_answered);
        if let Some(c) = self.calls.get_mut(&id) {
            c.round = Round {
                started: now,
                after,
                ..Round::default()
            };
        }
    }
}
