//! Provisioning at run time, seen from the call path: a new effective configuration applied
//! for new calls, agents' own settings (do-not-disturb, opt-outs) replayed into the engine, and
//! what the admin API reads back (queue events with their SIP Call-ID, calls in progress, SIP
//! answers by method and class).
//!
//! A new configuration changes what *new* calls see: the service directory (Request-URI →
//! queue), the per-queue signalling settings, the users and trunks transfers resolve against,
//! and the engine's queues and agents. Calls in progress are not disturbed: the engine keeps
//! the `max_wait`, timeout action and media a call entered with, a removed queue serves the
//! calls already in line before it goes, and forward legs and accepted REFERs in flight carry
//! on.
//!
//! What this does not do: read the store or the clock. The runtime follows the store's
//! changes and calls in with `now`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::config::{Config, QueueId, ServiceDirectory, Target};
use crate::queue::event::QueueEvent;
use crate::queue::status::WaitState;
use crate::queue::types::{AgentChange, AgentId, CallId as QueueCallId};
use crate::queue::{Engine, QueueSpec};
use crate::sip::message::Response;
use crate::time::Time;

use super::call::CallState;
use super::core::{Core, QueueSignalling};
use super::transfer::Transfers;

/// Agents' own settings, as the store keeps them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AgentSettings {
    /// Users in do-not-disturb.
    pub dnd: BTreeSet<String>,
    /// (user, queue) pairs where the user opted out of the queue.
    pub opted_out: BTreeSet<(String, String)>,
}

/// A queue event with the caller's SIP Call-ID (the engine knows only its own call ids).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedEvent {
    pub event: QueueEvent,
    /// The caller's SIP Call-ID; the engine's call id (`call-7`) for a call the core no
    /// longer knows.
    pub call_id: String,
}

/// A call in progress, as the admin API lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallView {
    pub call_id: String,
    pub queue: QueueId,
    pub caller: String,
    /// `ringing` (not answered yet), `greeting`, `waiting`, `offered` (agents ring),
    /// `connected`, `forwarding`, `ending`.
    pub state: &'static str,
    /// The agent the caller talks to, or who is being offered the call (the first one).
    pub agent: Option<String>,
    pub started: Time,
}

/// The provisioning state the core keeps: what it applied last.
#[derive(Debug)]
pub(crate) struct Applied {
    pub config: Config,
    pub settings: AgentSettings,
    /// Final responses we sent, by (method, class `2xx` …).
    pub answers: BTreeMap<(String, String), u64>,
    /// Engine events not yet polled by the runtime.
    pub events: std::collections::VecDeque<LoggedEvent>,
    /// The SIP Call-ID of each engine call seen in an event, until its terminal event.
    pub call_ids: HashMap<QueueCallId, String>,
}

impl Applied {
    pub fn new(config: &Config) -> Applied {
        Applied {
            config: config.clone(),
            settings: AgentSettings::default(),
            answers: BTreeMap::new(),
            events: std::collections::VecDeque::new(),
            call_ids: HashMap::new(),
        }
    }
}

/// The per-queue signalling settings of `config`.
pub(crate) fn signalling(config: &Config) -> HashMap<QueueId, QueueSignalling> {
    config
        .queues
        .iter()
        .map(|q| {
            (
                q.id.clone(),
                QueueSignalling {
                    answer_delay: q.answer_delay,
                    greeting: q.greeting.clone(),
                    music: q.music_on_hold.clone(),
                },
            )
        })
        .collect()
}

impl Core {
    /// Applies a new effective configuration for new calls (see the module docs). Sections
    /// the runtime reads only at start-up (`[sip]`, `[rtp]`, `[api]`) are not changed here.
    pub fn reconfigure(&mut self, now: Time, config: &Config) {
        let old = std::mem::replace(&mut self.applied.config, config.clone());
        self.directory = ServiceDirectory::new(config);
        self.queues = signalling(config);
        let mut transfers = Transfers::new(config);
        transfers.legs = std::mem::take(&mut self.transfers.legs);
        transfers.referrers = std::mem::take(&mut self.transfers.referrers);
        self.transfers = transfers;

        // Agents first, so a new queue's members are known online or not. A removed user is
        // never rung again; the engine keeps the record, offline.
        for (user, online) in self.locations.reconfigure(config) {
            self.engine
                .set_agent_online(now, &AgentId::from(&user), online);
        }
        for q in &config.queues {
            if old.queue(&q.id) != Some(q) {
                self.engine.update_queue(now, QueueSpec::from(q));
            }
        }
        for q in &old.queues {
            if config.queue(&q.id).is_none() {
                let _ = self.engine.remove_queue(now, &q.id);
            }
        }
        let settings = self.applied.settings.clone();
        self.apply_settings(now, &settings);
        self.settle(now);
    }

    /// Applies agents' do-not-disturb and opt-outs to every agent of the configuration (at
    /// start-up from the store, then whenever an agent changes them). An agent who can no
    /// longer take the call ringing them stops ringing; calls in progress go on.
    pub fn set_agent_settings(&mut self, now: Time, settings: &AgentSettings) {
        self.applied.settings = settings.clone();
        self.apply_settings(now, settings);
        self.settle(now);
    }

    fn apply_settings(&mut self, now: Time, settings: &AgentSettings) {
        let users: Vec<_> = self
            .applied
            .config
            .users
            .iter()
            .map(|u| AgentId::from(&u.id))
            .collect();
        for agent in users {
            let Some(status) = self.engine.agent_status(&agent) else {
                continue;
            };
            let dnd = settings.dnd.contains(agent.as_str());
            if status.dnd != dnd {
                let _ = self
                    .engine
                    .set_agent_state(now, &agent, AgentChange::Dnd(dnd));
            }
            let want: BTreeSet<QueueId> = settings
                .opted_out
                .iter()
                .filter(|(u, _)| u == agent.as_str())
                .map(|(_, q)| QueueId(q.clone()))
                .collect();
            let have: BTreeSet<QueueId> = status.opted_out.into_iter().collect();
            for (queue, opted_out) in want
                .difference(&have)
                .map(|q| (q, true))
                .chain(have.difference(&want).map(|q| (q, false)))
            {
                let change = AgentChange::OptOut {
                    queue: queue.clone(),
                    opted_out,
                };
                let _ = self.engine.set_agent_state(now, &agent, change);
            }
        }
    }

    /// The next queue event, with the caller's SIP Call-ID. The runtime drains these into the
    /// event log; a core nobody drains keeps them (tests read them this way).
    pub fn poll_queue_event(&mut self) -> Option<LoggedEvent> {
        self.applied.events.pop_front()
    }

    /// The SIP Call-ID of the caller behind an engine call, while the core knows it.
    pub fn queue_call_id(&self, call: QueueCallId) -> Option<&str> {
        self.queue_calls
            .get(&call)
            .and_then(|h| self.calls.get(h))
            .map(|c| c.call_id.as_str())
    }

    /// The queue engine, for status queries.
    pub fn engine(&self) -> &Engine<Target> {
        &self.engine
    }

    /// Final responses sent, by (method, class such as `2xx`). Extension methods count as
    /// `OTHER`, so a peer cannot grow the table without bound.
    pub fn answers(&self) -> &BTreeMap<(String, String), u64> {
        &self.applied.answers
    }

    /// Every caller dialog in progress.
    pub fn calls_view(&self, now: Time) -> Vec<CallView> {
        // The engine's view of the calls in line: greeting, waiting, or agents ringing.
        let mut line: HashMap<QueueCallId, WaitState> = HashMap::new();
        for q in self.engine.queue_ids() {
            if let Some(status) = self.engine.queue_status(now, &q) {
                for w in status.waiting {
                    line.insert(w.call, w.state);
                }
            }
        }
        let mut out: Vec<CallView> = self
            .calls
            .values()
            .map(|c| {
                let caller = c
                    .caller_uri
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                let mut agent = None;
                let state = match (&c.state, c.bridged) {
                    (CallState::Ringing { .. }, _) => "ringing",
                    (CallState::Ending, _) => "ending",
                    (_, Some(leg)) => {
                        agent = self.rings.owner.get(&leg).map(|(_, a)| a.0.clone());
                        "connected"
                    }
                    _ => match self.queue_call_of.get(&c.handle).and_then(|q| line.get(q)) {
                        Some(WaitState::Greeting) => "greeting",
                        Some(WaitState::Waiting) => "waiting",
                        Some(WaitState::Ringing(agents)) => {
                            agent = agents.first().map(|a| a.0.clone());
                            "offered"
                        }
                        None if self.queue_call_of.contains_key(&c.handle) => "connected",
                        None => "forwarding",
                    },
                };
                CallView {
                    call_id: c.call_id.clone(),
                    queue: c.queue.clone(),
                    caller,
                    state,
                    agent,
                    started: c.started,
                }
            })
            .collect();
        out.sort_by(|a, b| (a.started, &a.call_id).cmp(&(b.started, &b.call_id)));
        out
    }

    /// Moves the engine's events out, naming each call by its SIP Call-ID. Called before the
    /// engine's actions are carried out (they may forget the call) and after.
    pub(crate) fn drain_queue_events(&mut self) {
        while let Some(event) = self.engine.poll_event() {
            tracing::info!(
                target: "holdline::queue_events",
                call = %event.call,
                queue = %event.queue,
                agent = ?event.agent.as_ref().map(|a| a.as_str()),
                waited_ms = event.waited.as_millis() as u64,
                kind = event.kind.name(),
                "queue event"
            );
            let known = self
                .queue_calls
                .get(&event.call)
                .and_then(|h| self.calls.get(h))
                .map(|c| c.call_id.clone());
            let call_id = match known {
                Some(id) => {
                    self.applied.call_ids.insert(event.call, id.clone());
                    id
                }
                None => self
                    .applied
                    .call_ids
                    .get(&event.call)
                    .cloned()
                    .unwrap_or_else(|| event.call.to_string()),
            };
            if event.kind.is_terminal() {
                self.applied.call_ids.remove(&event.call);
            }
            self.applied
                .events
                .push_back(LoggedEvent { event, call_id });
        }
    }

    /// Counts a final response we sent (for `/metrics`).
    pub(crate) fn count_answer(&mut self, key: Option<(String, String)>) {
        if let Some(key) = key {
            *self.applied.answers.entry(key).or_insert(0) += 1;
        }
    }
}

/// (method, class) of a final response, for [`Core::answers`]; `None` for a provisional one.
pub(crate) fn answer_key(resp: &Response) -> Option<(String, String)> {
    if resp.status < 200 {
        return None;
    }
    let method = match resp.headers.cseq()?.method {
        crate::sip::method::Method::Extension(_) => "OTHER".to_owned(),
        m => m.as_str().to_owned(),
    };
    Some((method, format!("{}xx", resp.status / 100)))
}
