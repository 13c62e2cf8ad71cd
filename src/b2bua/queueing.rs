//! The glue between SIP legs and the queue engine (DESIGN.md §2: b2bua is the composition
//! root). Caller arrivals and hang-ups, agent-leg outcomes and timers go into the
//! [`Engine`](crate::queue::Engine); its actions come back out as SIP (answer, 486, INVITE and
//! CANCEL to agents, BYE, 302) and as media events (play, bridge).
//!
//! One agent may have several contacts: a `Ring` forks one leg per contact; the first answer
//! is the agent's answer and the agent's other legs are cancelled. The engine hears about a
//! refusal only when the last of an agent's legs for the call has ended.

use std::collections::HashMap;
use std::time::Duration;

use crate::config::Target;
use crate::queue::types::{AgentId, CallId as QueueCallId, DeclineReason, EndReason as QueueEnd};
use crate::queue::Action;
use crate::sip::header::HeaderName;
use crate::time::Time;

use super::call::{CallHandle, CallState};
use super::core::{Core, Event, Playback};
use super::transfer::Destination;
use super::uac::{LegHandle, LegOutcome, RingRequest};

/// Agent legs by the engine's (call, agent) pair, and back.
#[derive(Debug, Default)]
pub(crate) struct Rings {
    pub legs: HashMap<(QueueCallId, AgentId), Vec<LegHandle>>,
    pub owner: HashMap<LegHandle, (QueueCallId, AgentId)>,
    /// The leg an agent answered on, between `agent_answered` and the engine's `Bridge`.
    pub answered: HashMap<(QueueCallId, AgentId), LegHandle>,
    /// Bridged legs and their callers.
    pub bridged: HashMap<LegHandle, CallHandle>,
    /// Last refusal per (call, agent), reported when the agent's last leg ends.
    pub refusal: HashMap<(QueueCallId, AgentId), LegOutcome>,
}

impl Core {
    /// Runs the engine until it has nothing more to say, carrying out its actions; feeds it the
    /// leg outcomes and hang-ups that piled up. Returns whether anything happened.
    pub(crate) fn pump_engine(&mut self, now: Time) -> bool {
        let mut busy = false;
        while let Some(handle) = self.ended_calls.pop_front() {
            busy = true;
            self.caller_gone(now, handle);
        }
        while let Some(event) = self.leg_events.pop_front() {
            busy = true;
            self.on_leg_event(now, event);
        }
        self.engine.handle_timeout(now);
        // Events first, while every call they name is still mapped to its dialog (carrying
        // out an action may forget it), then those the actions caused.
        self.drain_queue_events();
        while let Some(action) = self.engine.poll_action() {
            busy = true;
            self.carry_out(now, action);
        }
        self.drain_queue_events();
        busy
    }

    fn carry_out(&mut self, now: Time, action: Action) {
        let qcall = action.call();
        if let Action::CancelRing { agent, .. } = action {
            // Also for a caller already gone: its agents must stop ringing.
            for leg in self.rings.legs.remove(&(qcall, agent)).unwrap_or_default() {
                self.cancel_leg(now, leg);
            }
            return;
        }
        let Some(&handle) = self.queue_calls.get(&qcall) else {
            // The caller is already gone; ring and bridge actions for it are moot.
            return;
        };
        match action {
            Action::Answer { .. } => self.answer_when_due(now, handle),
            Action::PlayGreeting { file, .. } => self.events.push_back(Event::Play {
                call: handle,
                what: Playback::Greeting(file),
            }),
            Action::PlayMusic { music, .. } => self.events.push_back(Event::Play {
                call: handle,
                what: Playback::Music(music),
            }),
            Action::Ring {
                agent,
                contacts,
                queue_name,
                ..
            } => self.ring_contacts(now, handle, qcall, agent, contacts, &queue_name),
            Action::CancelRing { .. } => {}
            Action::Bridge { agent, .. } => self.bridge(now, handle, qcall, agent),
            Action::Reject { status, .. } => {
                self.forget_queue_call(handle);
                let why = match status {
                    486 => "the queue is full",
                    482 => "forwarding loop",
                    _ => "nobody can take the call",
                };
                self.hang_up(now, handle, status, why);
            }
            Action::Disconnect { reason, .. } => {
                self.forget_queue_call(handle);
                let (cause, why) = match reason {
                    QueueEnd::Timeout => (408, "maximum wait reached"),
                    QueueEnd::Overflow => (486, "the queue is full"),
                    QueueEnd::NoAgents => (480, "no agents available"),
                    QueueEnd::ForwardLoop => (482, "forwarding loop"),
                    QueueEnd::ForwardFailed => (404, "forward target is gone"),
                };
                self.hang_up(now, handle, cause, why);
            }
            Action::Forward {
                target, answered, ..
            } => {
                self.forget_queue_call(handle);
                self.forward(now, handle, &target, answered);
            }
        }
    }

    /// The engine's `Answer`: 200 now, or 180 first and 200 after the queue's answer delay.
    fn answer_when_due(&mut self, now: Time, handle: CallHandle) {
        let Some(call) = self.calls.get(&handle) else {
            return;
        };
        let CallState::Ringing { invite_tx, .. } = call.state else {
            return;
        };
        let delay = self
            .queues
            .get(&call.queue)
            .map(|q| q.answer_delay)
            .unwrap_or_default();
        if delay.is_zero() {
            self.answer_now(now, handle);
            return;
        }
        if let Some(call) = self.calls.get_mut(&handle) {
            call.state = CallState::Ringing {
                invite_tx,
                answer_at: now + delay,
            };
        }
        self.send_ringing(now, handle);
        self.timers
            .insert((now + delay, handle, super::core::CallTimer::Answer));
    }

    fn ring_contacts(
        &mut self,
        now: Time,
        handle: CallHandle,
        qcall: QueueCallId,
        agent: AgentId,
        contacts: Vec<crate::sip::uri::Uri>,
        queue_name: &str,
    ) {
        let Some(call) = self.calls.get(&handle) else {
            return;
        };
        let display = match &call.caller_display {
            Some(name) => format!("{name} via {queue_name}"),
            None => queue_name.to_owned(),
        };
        let caller = call.caller_uri.clone();
        let dialled = call.dialled.clone();
        let mut legs = Vec::new();
        for target in contacts {
            let ring = RingRequest {
                call: handle,
                target,
                dest: None,
                display_name: display.clone(),
                caller: caller.clone(),
                dialled: Some(dialled.clone()),
                auth: None,
            };
            if let Some(leg) = self.ring_agent(now, ring) {
                self.rings.owner.insert(leg, (qcall, agent.clone()));
                legs.push(leg);
            }
        }
        if legs.is_empty() {
            tracing::info!(agent = %agent, "no contact of the agent could be rung");
            let _ = self.engine.agent_unreachable(now, qcall, &agent);
            return;
        }
        self.rings.legs.insert((qcall, agent), legs);
    }

    /// The engine's `Bridge`: the caller and the answering leg are connected; the agent's
    /// other legs for this call stop ringing.
    fn bridge(&mut self, now: Time, handle: CallHandle, qcall: QueueCallId, agent: AgentId) {
        let key = (qcall, agent);
        let Some(leg) = self.rings.answered.remove(&key) else {
            return;
        };
        for other in self.rings.legs.remove(&key).unwrap_or_default() {
            if other != leg {
                self.cancel_leg(now, other);
            }
        }
        self.rings.bridged.insert(leg, handle);
        if let Some(call) = self.calls.get_mut(&handle) {
            call.bridged = Some(leg);
        }
        self.events.push_back(Event::Bridge { call: handle, leg });
    }

    /// `Forward` to a target outside the engine. Before answering, an external target gets a
    /// 302 (RFC 3261 §21.3.3) so the caller's side reaches it directly; an answered caller
    /// is forwarded on a new leg of ours (see `transfer`), and so is a caller forwarded to a
    /// user, which is answered first (it hears music while the user's phones ring).
    fn forward(&mut self, now: Time, handle: CallHandle, target: &Target, answered: bool) {
        let contact = match target {
            Target::Tel { number, .. } => Some(format!("<tel:{number}>")),
            Target::Sip { uri, .. } => Some(format!("<{uri}>")),
            _ => None,
        };
        if let (Some(contact), false) = (&contact, answered) {
            return self.redirect(now, handle, contact);
        }
        let Some(dest) = self.transfers.destination_of(target) else {
            tracing::warn!(%target, "forwarding to this target is not supported; releasing the call");
            return self.hang_up(now, handle, 480, "forward target not reachable");
        };
        if !answered {
            self.answer_now(now, handle);
            if let Some(call) = self.calls.get(&handle) {
                let queue = call.queue.clone();
                self.events.push_back(Event::Play {
                    call: handle,
                    what: Playback::Music(self.music_of(&queue)),
                });
            }
        }
        match dest {
            Destination::External { .. } if answered => {
                let refer_to = match target {
                    Target::Tel { number, .. } => format!("tel:{number}"),
                    other => other.to_string(),
                };
                self.forward_external(now, handle, dest, &refer_to)
            }
            dest => self.forward_answered(now, handle, dest, None),
        }
    }

    /// The music on hold of `queue`.
    fn music_of(&self, queue: &crate::config::QueueId) -> crate::config::Music {
        self.queues
            .get(queue)
            .map_or(crate::config::Music::Default, |q| q.music.clone())
    }

    /// 302 Moved Temporarily with `contact` to a ringing caller.
    fn redirect(&mut self, now: Time, handle: CallHandle, contact: &str) {
        let Some(call) = self.calls.get_mut(&handle) else {
            return;
        };
        let CallState::Ringing { invite_tx, .. } = call.state else {
            return;
        };
        let Some((invite, _)) = call.ring.take() else {
            return;
        };
        let mut resp = self.call_response(handle, &invite, 302);
        resp.headers.push(HeaderName::Contact, contact.to_owned());
        self.respond(now, invite_tx, resp);
        self.ringing.remove(&invite_tx);
        self.finish(handle, super::core::EndReason::Forwarded);
    }

    /// An agent leg reported something: tell the engine, and the media plane.
    fn on_leg_event(&mut self, now: Time, event: Event) {
        let forward = match &event {
            Event::LegAnswered { leg, .. } | Event::LegEnded { leg, .. } => {
                self.transfers.legs.contains_key(leg)
            }
            _ => false,
        };
        if forward {
            // Not an offer to an agent: a forward or transfer leg (see `transfer`). The media
            // plane hears of the leg before it hears of its bridge.
            self.events.push_back(event.clone());
            self.on_forward_leg(now, &event);
            return;
        }
        match &event {
            Event::LegAnswered { leg, .. } => {
                if let Some((qcall, agent)) = self.rings.owner.get(leg).cloned() {
                    if self.engine.agent_answered(now, qcall, &agent).is_ok() {
                        self.rings.answered.insert((qcall, agent), *leg);
                    } else {
                        // The offer was withdrawn while the agent answered: hang up that leg.
                        self.cancel_leg(now, *leg);
                    }
                }
            }
            Event::LegEnded { leg, outcome, .. } => self.leg_ended(now, *leg, *outcome),
            _ => {}
        }
        self.events.push_back(event);
    }

    fn leg_ended(&mut self, now: Time, leg: LegHandle, outcome: LegOutcome) {
        let owner = self.rings.owner.remove(&leg);
        if let Some(caller) = self.rings.bridged.remove(&leg) {
            // The agent hung up a bridged call: the call is complete; hang up the caller too.
            if let Some((_, agent)) = &owner {
                let _ = self.engine.agent_call_ended(now, agent);
            }
            if let Some(call) = self.calls.get_mut(&caller) {
                call.bridged = None;
            }
            self.forget_queue_call(caller);
            self.hang_up(now, caller, 200, "the agent hung up");
            return;
        }
        let Some(key) = owner else {
            return;
        };
        if !matches!(outcome, LegOutcome::Cancelled | LegOutcome::HungUp) {
            self.rings.refusal.insert(key.clone(), outcome);
        }
        let remaining = self.rings.legs.get_mut(&key).map(|legs| {
            legs.retain(|l| *l != leg);
            legs.len()
        });
        match remaining {
            Some(0) => {}
            Some(_) => return,
            // The engine withdrew the ring already (CancelRing): it wants no outcome.
            None => {
                self.rings.refusal.remove(&key);
                return;
            }
        }
        self.rings.legs.remove(&key);
        let (qcall, agent) = &key;
        let result = match self.rings.refusal.remove(&key) {
            Some(LegOutcome::Refused(486 | 600)) => self.engine.agent_busy(now, *qcall, agent),
            Some(LegOutcome::Refused(status)) => {
                self.engine
                    .agent_declined(now, *qcall, agent, DeclineReason::from_status(status))
            }
            Some(LegOutcome::NoResponse) => self.engine.agent_unreachable(now, *qcall, agent),
            _ => Ok(()),
        };
        if let Err(err) = result {
            tracing::debug!(%err, "late agent outcome ignored");
        }
    }

    /// The caller's dialog ended (BYE, CANCEL, our hang-up): the engine forgets the call and
    /// a bridged agent leg is hung up.
    fn caller_gone(&mut self, now: Time, handle: CallHandle) {
        if let Some(qcall) = self.queue_call_of.remove(&handle) {
            self.queue_calls.remove(&qcall);
            let _ = self.engine.call_hung_up(now, qcall);
        }
        let bridged: Vec<LegHandle> = self
            .rings
            .bridged
            .iter()
            .filter(|(_, c)| **c == handle)
            .map(|(l, _)| *l)
            .collect();
        for leg in bridged {
            self.rings.bridged.remove(&leg);
            self.cancel_leg(now, leg);
        }
        self.cancel_forwards(now, handle);
    }

    /// The engine has already forgotten this call (it rejected, forwarded or disconnected it).
    pub(crate) fn forget_queue_call(&mut self, handle: CallHandle) {
        if let Some(qcall) = self.queue_call_of.remove(&handle) {
            self.queue_calls.remove(&qcall);
        }
    }

    /// The media plane started playing a call's greeting, `length` long (zero: it skipped it):
    /// its end is a timer of the core, so it runs on the core's time like every other.
    pub fn greeting_started(&mut self, now: Time, call: CallHandle, length: Duration) {
        if length.is_zero() {
            return self.greeting_finished(now, call);
        }
        self.timers
            .insert((now + length, call, super::core::CallTimer::GreetingEnd));
    }

    /// The media plane finished playing a call's greeting.
    pub fn greeting_finished(&mut self, now: Time, call: CallHandle) {
        if let Some(&qcall) = self.queue_call_of.get(&call) {
            let _ = self.engine.greeting_finished(now, qcall);
        }
        self.settle(now);
    }
}
