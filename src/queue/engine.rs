//! The engine: owns every queue, waiting call and agent, takes inputs with `now`, and hands
//! out actions, events and its next deadline.
//!
//! Every input method changes state, queues actions and events, and then *dispatches*: each
//! queue touched by the input offers its waiting calls to its free agents (see `dispatch`).
//! Inputs that arrive too late (an outcome for a ring already canceled, a hang-up for a call
//! already gone) return an error and change nothing, so every race between the b2bua's legs
//! and the engine's timers resolves one way, reproducibly.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::time::Time;

use super::action::Action;
use super::agent::Agent;
use super::call::{Call, Phase, Round};
use super::error::QueueError;
use super::event::{EventKind, QueueEvent};
use super::spec::QueueSpec;
use super::timers::{AgentIx, Timer, TimerTable};
use super::types::{Activity, AgentId, CallId, CallerInfo, DeclineReason, QueueId, RingOutcome};

/// Tunables that are not queue configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EngineOptions {
    /// A call moves between queues at most this often; one more forward ends it (482 Loop
    /// Detected before answering, else a BYE). Config validation already refuses loops; this
    /// catches loops made by run-time updates.
    pub max_forward_hops: u8,
    /// A new round of offers for a call starts no sooner than this after the previous one.
    pub round_pause: Duration,
    /// If the media plane never reports the greeting's end, the call goes on this long after
    /// entering (the longest prompt allowed plus slack).
    pub greeting_guard: Duration,
}

impl EngineOptions {
    /// The defaults, for prompts (greetings) of at most `longest_prompt`.
    pub fn for_longest_prompt(longest_prompt: Duration) -> Self {
        EngineOptions {
            max_forward_hops: 5,
            round_pause: Duration::from_secs(5),
            greeting_guard: longest_prompt + Duration::from_secs(5),
        }
    }
}

/// One queue's run-time state.
#[derive(Debug)]
pub(crate) struct QueueState<T> {
    /// The current settings; new calls and every new offer use them.
    pub cfg: Arc<QueueSpec<T>>,
    /// `cfg.members` as agent indices, in order.
    pub members: Vec<AgentIx>,
    /// The calls in line (greeting or waiting, ringing or not), by arrival.
    pub line: BTreeMap<u64, CallId>,
    /// The agent who answered the queue's previous call (round-robin starts after them).
    pub last_answered: Option<AgentIx>,
    /// Removed by provisioning: takes no new calls, serves the ones in line, then goes.
    pub removed: bool,
}

/// The call-queue engine. See the module docs of [`crate::queue`]. `T` is the driver's forward
/// target, opaque to the engine (see [`super::ForwardTo`]).
#[derive(Debug)]
pub struct Engine<T> {
    pub(crate) options: EngineOptions,
    pub(crate) queues: BTreeMap<QueueId, QueueState<T>>,
    pub(crate) agents: Vec<Agent>,
    pub(crate) agent_ix: HashMap<AgentId, AgentIx>,
    pub(crate) calls: HashMap<CallId, Call<T>>,
    pub(crate) timers: TimerTable,
    pub(crate) actions: VecDeque<Action<T>>,
    pub(crate) events: VecDeque<QueueEvent>,
    /// Queues to dispatch at the end of the current input.
    pub(crate) dirty: BTreeSet<QueueId>,
    next_call: u64,
    pub(crate) next_seq: u64,
}

impl<T: Clone + fmt::Display> Engine<T> {
    /// An engine that knows `agents` (each online or not) and serves `queues`, before any
    /// call. Members of a queue not among `agents` start offline.
    pub fn new(
        options: EngineOptions,
        agents: impl IntoIterator<Item = (AgentId, bool)>,
        queues: impl IntoIterator<Item = QueueSpec<T>>,
    ) -> Self {
        let mut engine = Engine {
            options,
            queues: BTreeMap::new(),
            agents: Vec::new(),
            agent_ix: HashMap::new(),
            calls: HashMap::new(),
            timers: TimerTable::default(),
            actions: VecDeque::new(),
            events: VecDeque::new(),
            dirty: BTreeSet::new(),
            next_call: 1,
            next_seq: 1,
        };
        for (agent, online) in agents {
            let ix = engine.agent_entry(agent);
            engine.agents[ix].online = online;
        }
        for q in queues {
            engine.install_queue(q);
        }
        engine.dirty.clear();
        engine
    }

    // ---- outputs -------------------------------------------------------------------------

    /// The next thing the driver must do.
    pub fn poll_action(&mut self) -> Option<Action<T>> {
        self.actions.pop_front()
    }

    /// The next queue event, for the log and the event store.
    pub fn poll_event(&mut self) -> Option<QueueEvent> {
        self.events.pop_front()
    }

    /// When [`Engine::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Time> {
        self.timers.next()
    }

    // ---- caller inputs -------------------------------------------------------------------

    /// A caller reached `queue`. The call gets an id and enters the queue, or gets the queue's
    /// overflow, no-agents or immediate-timeout action; what to do is in the actions either
    /// way (`Answer` + `PlayGreeting`/`PlayMusic`, or `Reject`/`Forward`).
    pub fn call_arrived(
        &mut self,
        now: Time,
        queue: &QueueId,
        caller: CallerInfo,
    ) -> Result<CallId, QueueError> {
        let cfg = match self.queues.get(queue) {
            Some(q) if !q.removed => q.cfg.clone(),
            _ => {
                return Err(QueueError::UnknownQueue {
                    queue: queue.clone(),
                })
            }
        };
        let id = CallId(self.next_call);
        self.next_call += 1;
        self.calls.insert(
            id,
            Call {
                id,
                caller,
                entry: cfg,
                seq: 0,
                entered: now,
                answered: false,
                phase: Phase::Waiting,
                rings: Vec::new(),
                round: Round::default(),
                hops: 0,
                max_wait_at: None,
                timeout_due: false,
                greeting_guard_at: None,
            },
        );
        self.enter(now, id, queue);
        self.dispatch(now);
        Ok(id)
    }

    /// The caller hung up (BYE or CANCEL). Waiting: the call is abandoned and its rings
    /// canceled. Connected: the call is complete (the b2bua ends the agent's leg itself).
    pub fn call_hung_up(&mut self, now: Time, call: CallId) -> Result<(), QueueError> {
        let phase = self.call(call)?.phase;
        match phase {
            Phase::Connected { agent, since } => self.complete(now, call, agent, since),
            Phase::Greeting | Phase::Waiting => {
                // The rings still going are withdrawn because the caller left: logged as the
                // caller's abandon, never as the agents' misses.
                self.detach_ending_rings(now, call, RingOutcome::CallerLeft);
                self.emit(now, call, None, EventKind::Abandon);
                self.calls.remove(&call);
            }
        }
        self.dispatch(now);
        Ok(())
    }

    /// The media plane finished playing the greeting: music starts and the call is offered
    /// to agents, or, when `max_wait` was reached meanwhile (always so for `max_wait = 0`),
    /// the timeout action runs now. Ignored when the greeting already ended.
    pub fn greeting_finished(&mut self, now: Time, call: CallId) -> Result<(), QueueError> {
        if self.call(call)?.phase == Phase::Greeting {
            self.end_greeting(now, call);
            self.dispatch(now);
        }
        Ok(())
    }

    /// The agent a connected call was bridged to transferred it (REFER): the engine is done
    /// with the call; the agent goes to wrap-up.
    pub fn call_transferred(
        &mut self,
        now: Time,
        call: CallId,
        to: &str,
    ) -> Result<(), QueueError> {
        let Phase::Connected { agent, .. } = self.call(call)?.phase else {
            return Err(QueueError::NotConnected { call });
        };
        self.emit(
            now,
            call,
            Some(agent),
            EventKind::Transfer { to: to.to_owned() },
        );
        if let Some(c) = self.calls.remove(&call) {
            self.after_call(now, agent, c.entry.wrap_up);
        }
        self.dispatch(now);
        Ok(())
    }

    // ---- agent-leg inputs ----------------------------------------------------------------

    /// The agent answered the offered call: the caller is bridged to them and every other
    /// ring for the call is canceled. `Err` means the offer was already withdrawn (another
    /// agent won, the caller left): the driver hangs up the agent's leg.
    pub fn agent_answered(
        &mut self,
        now: Time,
        call: CallId,
        agent: &AgentId,
    ) -> Result<(), QueueError> {
        let ix = self.ringing_ix(call, agent)?;
        self.take_ring(call, ix);
        self.agents[ix].activity = Activity::OnCall(call);
        self.actions.push_back(Action::Bridge {
            call,
            agent: agent.clone(),
        });
        self.emit(now, call, Some(ix), EventKind::Connect);
        // Losers first lose their ring, then the call leaves the line.
        self.detach(now, call);
        if let Some(c) = self.calls.get_mut(&call) {
            c.phase = Phase::Connected {
                agent: ix,
                since: now,
            };
            let queue = c.entry.id.clone();
            if let Some(q) = self.queues.get_mut(&queue) {
                q.last_answered = Some(ix);
            }
        }
        self.dispatch(now);
        Ok(())
    }

    /// The agent's phone refused the call (603, 486, 480, …): the call moves on at once.
    pub fn agent_declined(
        &mut self,
        now: Time,
        call: CallId,
        agent: &AgentId,
        reason: DeclineReason,
    ) -> Result<(), QueueError> {
        self.ring_failed(now, call, agent, RingOutcome::Declined(reason))
    }

    /// The agent's phone answered 486 Busy Here / 600 Busy Everywhere.
    pub fn agent_busy(
        &mut self,
        now: Time,
        call: CallId,
        agent: &AgentId,
    ) -> Result<(), QueueError> {
        self.ring_failed(now, call, agent, RingOutcome::Declined(DeclineReason::Busy))
    }

    /// The agent could not be reached (timeout, 408, 503, transport error).
    pub fn agent_unreachable(
        &mut self,
        now: Time,
        call: CallId,
        agent: &AgentId,
    ) -> Result<(), QueueError> {
        self.ring_failed(now, call, agent, RingOutcome::Unreachable)
    }

    /// The agent's queue call ended (the agent hung up, or the b2bua ended the bridge): the
    /// call is complete and the agent goes to wrap-up.
    pub fn agent_call_ended(&mut self, now: Time, agent: &AgentId) -> Result<(), QueueError> {
        let ix = self.agent_index(agent)?;
        let Activity::OnCall(call) = self.agents[ix].activity else {
            return Err(QueueError::NotOnCall {
                agent: agent.clone(),
            });
        };
        match self.calls.get(&call).map(|c| c.phase) {
            Some(Phase::Connected { since, .. }) => self.complete(now, call, ix, since),
            // Not expected (the call left while connected); free the agent anyway.
            _ => self.after_call(now, ix, Duration::ZERO),
        }
        self.dispatch(now);
        Ok(())
    }

    // ---- time ----------------------------------------------------------------------------

    /// Runs every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Time) {
        while let Some((at, timer)) = self.timers.pop_due(now) {
            self.fire(now, at, timer);
        }
        self.dispatch(now);
    }

    fn fire(&mut self, now: Time, at: Time, timer: Timer) {
        match timer {
            Timer::MaxWait(call) => {
                let Some(c) = self.calls.get_mut(&call) else {
                    return;
                };
                if c.max_wait_at != Some(at) {
                    return;
                }
                c.max_wait_at = None;
                match c.phase {
                    // The timeout never cuts the greeting short; it runs when it ends.
                    Phase::Greeting => c.timeout_due = true,
                    Phase::Waiting => self.run_timeout(now, call),
                    Phase::Connected { .. } => {}
                }
            }
            Timer::GreetingGuard(call) => {
                let due = self
                    .calls
                    .get(&call)
                    .is_some_and(|c| c.phase == Phase::Greeting && c.greeting_guard_at == Some(at));
                if due {
                    self.end_greeting(now, call);
                }
            }
            Timer::Alert(call, ix) => {
                let due = self
                    .calls
                    .get(&call)
                    .is_some_and(|c| c.rings.iter().any(|r| r.agent == ix && r.until == at));
                if due {
                    self.end_ring(now, call, ix, RingOutcome::NoAnswer);
                }
            }
            Timer::NextRound(call) => {
                let Some(c) = self.calls.get_mut(&call) else {
                    return;
                };
                if c.round.next_at == Some(at) {
                    c.round.next_at = None;
                    let queue = c.entry.id.clone();
                    self.new_round(now, call);
                    self.dirty.insert(queue);
                }
            }
            Timer::WrapUp(ix) => {
                let a = &mut self.agents[ix];
                if a.activity == Activity::WrapUp(at) {
                    a.activity = Activity::Idle;
                    a.idle_since = at;
                    self.mark_agent_queues(ix);
                }
            }
        }
    }

    // ---- helpers shared by the engine's files ---------------------------------------------

    pub(crate) fn call(&self, call: CallId) -> Result<&Call<T>, QueueError> {
        self.calls
            .get(&call)
            .ok_or(QueueError::UnknownCall { call })
    }

    pub(crate) fn agent_index(&self, agent: &AgentId) -> Result<AgentIx, QueueError> {
        self.agent_ix
            .get(agent)
            .copied()
            .ok_or_else(|| QueueError::UnknownAgent {
                agent: agent.clone(),
            })
    }

    fn ringing_ix(&self, call: CallId, agent: &AgentId) -> Result<AgentIx, QueueError> {
        let not_ringing = || QueueError::NotRinging {
            call,
            agent: agent.clone(),
        };
        let ix = self.agent_ix.get(agent).copied().ok_or_else(not_ringing)?;
        match self.calls.get(&call) {
            Some(c) if c.is_ringing(ix) => Ok(ix),
            Some(_) => Err(not_ringing()),
            None => Err(QueueError::UnknownCall { call }),
        }
    }

    fn ring_failed(
        &mut self,
        now: Time,
        call: CallId,
        agent: &AgentId,
        outcome: RingOutcome,
    ) -> Result<(), QueueError> {
        let ix = self.ringing_ix(call, agent)?;
        self.end_ring(now, call, ix, outcome);
        self.dispatch(now);
        Ok(())
    }

    pub(crate) fn mark_agent_queues(&mut self, ix: AgentIx) {
        self.dirty.extend(self.agents[ix].queues.iter().cloned());
    }

    /// Queues an event and writes it to the log.
    pub(crate) fn emit(
        &mut self,
        now: Time,
        call: CallId,
        agent: Option<AgentIx>,
        kind: EventKind,
    ) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let event = QueueEvent {
            at: now,
            call,
            queue: c.entry.id.clone(),
            agent: agent.map(|a| self.agents[a].id.clone()),
            waited: now.saturating_since(c.entered),
            kind,
        };
        tracing::info!(target: "holdline::queue", "{event}");
        self.events.push_back(event);
    }
}
