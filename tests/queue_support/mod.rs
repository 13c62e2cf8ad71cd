//! A harness for queue engine tests: a configuration with five agents, virtual time, and the
//! actions and events the engine produced, taken in order.

#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use holdline::config::{from_toml_str, Config, QueueId};
use holdline::queue::{
    Action, AgentChange, AgentId, CallId, CallerInfo, DeclineReason, Engine, EngineOptions,
    EventKind, QueueEvent,
};
use holdline::time::Time;

/// Five agents (a–e) with static contacts, one trunk, and the service numbers queues use.
pub const BASE: &str = r#"
[[number]]
e164 = "+14255550100"
kind = "service-toll"

[[user]]
id = "a"
contacts = ["sip:a@192.0.2.1"]
[[user]]
id = "b"
contacts = ["sip:b@192.0.2.2"]
[[user]]
id = "c"
contacts = ["sip:c@192.0.2.3"]
[[user]]
id = "d"
contacts = ["sip:d@192.0.2.4"]
[[user]]
id = "e"
contacts = ["sip:e@192.0.2.5"]

[[trunk]]
id = "carrier"
proxy = "sip:sbc.carrier.example"
allow = ["+1*"]
"#;

pub fn config(queues: &str) -> Config {
    match from_toml_str(&format!("{BASE}\n{queues}"), Path::new("/srv/holdline")) {
        Ok(c) => c,
        Err(e) => panic!("test configuration is invalid:\n{e}"),
    }
}

pub fn q(id: &str) -> QueueId {
    QueueId(id.to_owned())
}

pub fn ag(id: &str) -> AgentId {
    AgentId::from(id)
}

pub struct Harness {
    pub engine: Engine,
    pub now: Time,
    pending: Vec<Action>,
    pub events: Vec<QueueEvent>,
}

impl Harness {
    pub fn new(queues: &str) -> Self {
        let engine = Engine::new(&config(queues));
        Self::from_engine(engine)
    }

    pub fn with_options(queues: &str, f: impl FnOnce(&mut EngineOptions)) -> Self {
        let cfg = config(queues);
        let mut opts = EngineOptions::for_config(&cfg);
        f(&mut opts);
        Self::from_engine(Engine::with_options(&cfg, opts))
    }

    fn from_engine(engine: Engine) -> Self {
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
    pub fn take(&mut self) -> Vec<Action> {
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
