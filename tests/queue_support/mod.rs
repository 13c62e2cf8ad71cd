//! A harness for queue engine tests: queues in the engine's own vocabulary ([`QueueSpec`]),
//! five agents (a–e) online, virtual time, and the actions and events the engine produced,
//! taken in order.
//!
//! A forward target outside the engine is opaque to it; here it is plain text
//! (`"tel:+14255550199"`), which the engine hands back in `Action::Forward`.

#![allow(dead_code)] // each test binary uses a different subset

use std::time::Duration;

use holdline::queue::{
    Action, AgentChange, AgentId, CallId, CallerInfo, DeclineReason, Engine, EngineOptions,
    EventKind, ForwardTo, OfferMode, OnNoAgents, OnOverflow, OnTimeout, QueueEvent, QueueId,
    QueueSpec, Routing,
};
use holdline::time::Time;

/// The agents every harness starts with, all online.
pub const AGENTS: [&str; 5] = ["a", "b", "c", "d", "e"];

/// A queue with the configuration's defaults (attendant, head offer, 30 s alert time, 50
/// calls, 1200 s wait then disconnect, opt-out allowed, queue when nobody serves) and no
/// members; tests change what they need with `QueueSpec { .., ..spec("sales") }`.
pub fn spec(id: &str) -> QueueSpec<String> {
    QueueSpec {
        id: q(id),
        name: id.to_owned(),
        has_greeting: false,
        routing: Routing::Attendant,
        offer: OfferMode::Head,
        members: Vec::new(),
        allow_opt_out: true,
        agent_alert_time: Duration::from_secs(30),
        wrap_up: Duration::ZERO,
        max_calls: 50,
        on_overflow: OnOverflow::Busy,
        max_wait: Duration::from_secs(1200),
        on_timeout: OnTimeout::Disconnect,
        no_agents: OnNoAgents::Queue,
    }
}

/// `spec(id)` with `members` and `routing`.
pub fn queue(id: &str, routing: Routing, members: &[&str]) -> QueueSpec<String> {
    QueueSpec {
        routing,
        members: agents(members),
        ..spec(id)
    }
}

pub fn agents(ids: &[&str]) -> Vec<AgentId> {
    ids.iter().map(|a| ag(a)).collect()
}

/// Forward to another queue.
pub fn to_queue(id: &str) -> ForwardTo<String> {
    ForwardTo::Queue(q(id))
}

/// Forward out of the engine, to a target it does not look into.
pub fn elsewhere(target: &str) -> ForwardTo<String> {
    ForwardTo::Elsewhere(target.to_owned())
}

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

pub fn q(id: &str) -> QueueId {
    QueueId(id.to_owned())
}

pub fn ag(id: &str) -> AgentId {
    AgentId::from(id)
}

pub struct Harness {
    pub engine: Engine<String>,
    pub now: Time,
    pending: Vec<Action<String>>,
    pub events: Vec<QueueEvent>,
}

/// The engine options the server uses with its default longest prompt (600 s).
pub fn options() -> EngineOptions {
    EngineOptions::for_longest_prompt(Duration::from_secs(600))
}

impl Harness {
    /// An engine serving `queues`, with agents a–e online.
    pub fn new(queues: impl IntoIterator<Item = QueueSpec<String>>) -> Self {
        Self::with_options(queues, |_| {})
    }

    pub fn with_options(
        queues: impl IntoIterator<Item = QueueSpec<String>>,
        f: impl FnOnce(&mut EngineOptions),
    ) -> Self {
        let mut opts = options();
        f(&mut opts);
        let online = AGENTS.iter().map(|a| (ag(a), true));
        Self::from_engine(Engine::new(opts, online, queues))
    }

    pub fn from_engine(engine: Engine<String>) -> Self {
        Harness {
            engine,
            now: Time::ZERO,
            pending: Vec::new(),
            events: Vec::new(),
        }
    }

    /// Moves the engine's outputs into the harness.
    pub fn pump(&mut self) {
        while let Some(a) = self.engine.poll_action() {
            self.pending.push(a);
        }
        while let Some(e) = self.engine.poll_event() {
            self.events.push(e);
        }
    }

    /// The actions produced since the last call.
    pub fn take(&mut self) -> Vec<Action<String>> {
        self.pump();
        std::mem::take(&mut self.pending)
    }

    /// Agents rung (call, agent) since the last `take`, consuming the actions.
    pub fn rings(&mut self) -> Vec<(CallId, String)> {
        self.take()
            .into_iter()
            .filter_map(|a| match a {
                Action::Ring { call, agent, .. } => Some((call, agent.0)),
                _ => None,
            })
            .collect()
    }

    /// Agents currently ringing for `call` (from the engine's status).
    pub fn ringing(&self, call: CallId) -> Vec<String> {
        let Some(queue) = self.engine.call_queue(call) else {
            return Vec::new();
        };
        let status = self.engine.queue_status(self.now, queue).expect("queue");
        status
            .waiting
            .into_iter()
            .find(|w| w.call == call)
            .map(|w| match w.state {
                holdline::queue::WaitState::Ringing(agents) => {
                    let mut v: Vec<String> = agents.into_iter().map(|a| a.0).collect();
                    v.sort();
                    v
                }
                _ => Vec::new(),
            })
            .unwrap_or_default()
    }

    pub fn arrive(&mut self, queue: &str) -> CallId {
        let call = self
            .engine
            .call_arrived(self.now, &q(queue), CallerInfo::new("tel:+14255550123"))
            .expect("queue exists");
        self.pump();
        call
    }

    /// Advances virtual time by `secs`, running every timer due on the way at its own time.
    pub fn advance(&mut self, secs: u64) {
        self.advance_by(Duration::from_secs(secs));
    }

    pub fn advance_by(&mut self, d: Duration) {
        let target = self.now + d;
        while let Some(at) = self.engine.poll_timeout() {
            if at > target {
                break;
            }
            self.now = self.now.max(at);
            self.engine.handle_timeout(self.now);
            self.pump();
        }
        self.now = target;
    }

    pub fn answer(&mut self, call: CallId, agent: &str) {
        self.engine
            .agent_answered(self.now, call, &ag(agent))
            .expect("agent was ringing");
        self.pump();
    }

    pub fn decline(&mut self, call: CallId, agent: &str) {
        self.engine
            .agent_declined(self.now, call, &ag(agent), DeclineReason::Declined)
            .expect("agent was ringing");
        self.pump();
    }

    pub fn hang_up(&mut self, call: CallId) {
        self.engine
            .call_hung_up(self.now, call)
            .expect("call known");
        self.pump();
    }

    pub fn agent_hangs_up(&mut self, agent: &str) {
        self.engine
            .agent_call_ended(self.now, &ag(agent))
            .expect("agent on call");
        self.pump();
    }

    pub fn set(&mut self, agent: &str, change: AgentChange) {
        self.engine
            .set_agent_state(self.now, &ag(agent), change)
            .expect("agent known");
        self.pump();
    }

    pub fn greeting_done(&mut self, call: CallId) {
        self.engine
            .greeting_finished(self.now, call)
            .expect("call known");
        self.pump();
    }

    /// The kinds of the events of `call`, by name, in order.
    pub fn steps(&self, call: CallId) -> Vec<&'static str> {
        self.events
            .iter()
            .filter(|e| e.call == call)
            .map(|e| e.kind.name())
            .collect()
    }

    pub fn terminal(&self, call: CallId) -> Vec<&EventKind> {
        self.events
            .iter()
            .filter(|e| e.call == call && e.kind.is_terminal())
            .map(|e| &e.kind)
            .collect()
    }
}
