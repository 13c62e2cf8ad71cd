//! The calls in progress as the admin API lists them: the dialog's phase from the legs, the
//! place in line from the engine, the agent from the rings.

use std::collections::HashMap;

use crate::b2bua::legs::call::CallHandle;
use crate::b2bua::legs::call::Phase;
use crate::b2bua::legs::{LegHandle, Legs};
use crate::b2bua::provisioning::CallView;
use crate::queue::status::WaitState;
use crate::queue::types::CallId as QueueCallId;
use crate::time::Time;

use super::Switch;

impl Switch {
    /// Every caller dialog in progress, oldest first.
    pub fn calls_view(&self, now: Time, legs: &Legs) -> Vec<CallView> {
        // The engine's view of the calls in line: greeting, waiting, or agents ringing.
        let mut line: HashMap<QueueCallId, WaitState> = HashMap::new();
        for q in self.engine.queue_ids() {
            if let Some(status) = self.engine.queue_status(now, &q) {
                for w in status.waiting {
                    line.insert(w.call, w.state);
                }
            }
        }
        // Callers bridged to a leg, looked up once rather than per call.
        let bridged_to: HashMap<CallHandle, LegHandle> =
            self.rings.bridged.iter().map(|(l, c)| (*c, *l)).collect();
        let mut out: Vec<CallView> = legs
            .calls()
            .filter_map(|(handle, dialled, phase)| {
                let identity = legs.caller(handle)?;
                let bridged = bridged_to.get(&handle).copied();
                let qcall = self.seats.queue_call_of.get(&handle);
                let mut agent = None;
                let state = match (phase, bridged) {
                    (Phase::Ringing, _) => "ringing",
                    (Phase::Ending, _) => "ending",
                    (_, Some(leg)) => {
                        agent = self.rings.owner.get(&leg).map(|(_, a)| a.0.clone());
                        "connected"
                    }
                    _ => match qcall.and_then(|q| line.get(q)) {
                        Some(WaitState::Greeting) => "greeting",
                        Some(WaitState::Waiting) => "waiting",
                        Some(WaitState::Ringing(agents)) => {
                            agent = agents.first().map(|a| a.0.clone());
                            "offered"
                        }
                        None if qcall.is_some() => "connected",
                        None => "forwarding",
                    },
                };
                Some(CallView {
                    call_id: identity.call_id,
                    queue: self
                        .seats
                        .seat
                        .get(&handle)
                        .map_or(dialled, |s| &s.queue)
                        .clone(),
                    caller: identity
                        .uri
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                    state,
                    agent,
                    started: identity.started,
                })
            })
            .collect();
        out.sort_by(|a, b| (a.started, &a.call_id).cmp(&(b.started, &b.call_id)));
        out
    }
}
