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

use std::collections::BTreeSet;

use crate::config::{Config, QueueId, Target};
use crate::queue::event::QueueEvent;
use crate::queue::types::{AgentChange, AgentId};
use crate::queue::{Engine, QueueSpec};
use crate::time::Time;

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
}

impl Applied {
    pub fn new(config: &Config) -> Applied {
        Applied {
            config: config.clone(),
            settings: AgentSettings::default(),
        }
    }

    /// Applies a new effective configuration to the engine for new calls (see the module
    /// docs). Sections the runtime reads only at start-up (`[sip]`, `[rtp]`, `[api]`) are not
    /// changed here.
    pub fn reconfigure(&mut self, now: Time, config: &Config, engine: &mut Engine<Target>) {
        let old = std::mem::replace(&mut self.config, config.clone());
        for q in &config.queues {
            if old.queue(&q.id) != Some(q) {
                engine.update_queue(now, QueueSpec::from(q));
            }
        }
        for q in &old.queues {
            if config.queue(&q.id).is_none() {
                let _ = engine.remove_queue(now, &q.id);
            }
        }
        // A queue that no longer allows opting out opts every agent in again, for good (the
        // store drops those opt-outs too): turning it back on must not revive them.
        self.settings.opted_out.retain(|(_, queue)| {
            config
                .queue(&QueueId(queue.clone()))
                .is_none_or(|q| q.allow_opt_out)
        });
        self.apply_settings(now, engine);
    }

    /// Applies agents' do-not-disturb and opt-outs to every agent of the configuration (at
    /// start-up from the store, then whenever an agent changes them). An agent who can no
    /// longer take the call ringing them stops ringing; calls in progress go on.
    pub fn set_agent_settings(
        &mut self,
        now: Time,
        settings: &AgentSettings,
        engine: &mut Engine<Target>,
    ) {
        self.settings = settings.clone();
        self.apply_settings(now, engine);
    }

    fn apply_settings(&self, now: Time, engine: &mut Engine<Target>) {
        let settings = &self.settings;
        for user in &self.config.users {
            let agent = AgentId::from(&user.id);
            let Some(status) = engine.agent_status(&agent) else {
                continue;
            };
            let dnd = settings.dnd.contains(agent.as_str());
            if status.dnd != dnd {
                let _ = engine.set_agent_state(now, &agent, AgentChange::Dnd(dnd));
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
                let _ = engine.set_agent_state(now, &agent, change);
            }
        }
    }
}
