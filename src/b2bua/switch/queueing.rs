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

use crate::config::{QueueId, Target, UserId};
use crate::queue::types::{AgentId, CallId as QueueCallId, DeclineReason, EndReason as QueueEnd};
use crate::queue::Action;

use crate::b2bua::core::{Event, Playback};
use crate::b2bua::legs::call::CallHandle;
use crate::b2bua::legs::{LegHandle, LegOutcome, RingRequest};
use crate::b2bua::settings::Destination;

use super::{CallTimer, Ctx, Seat, Switch};

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

impl Switch {
    pub(super) fn carry_out(&mut self, cx: &mut Ctx, action: Action<Target>) {
        let now = cx.now;
        let qcall = action.call();
        if let Action::CancelRing { agent, .. } = action {
            // Also for a caller already gone: its agents must stop ringing.
            let elsewhere = self.answered_elsewhere(qcall);
            for leg in self.rings.legs.remove(&(qcall, agent)).unwrap_or_default() {
                match elsewhere {
                    true => cx.legs.cancel_leg_completed_elsewhere(now, leg),
                    false => cx.legs.cancel_leg(now, leg),
                }
            }
            return;
        }
        let Some(&handle) = self.seats.calls.get(&qcall) else {
            // The caller is already gone; ring and bridge actions for it are moot.
            return;
        };
        match action {
            Action::Answer { .. } => self.answer_when_due(cx, handle),
            Action::PlayGreeting { queue, .. } => {
                match self.seat(cx, handle, queue).greeting.clone() {
                    Some(file) => cx.emit(Event::Play {
                        call: handle,
                        what: Playback::Greeting(file),
                    }),
                    // The engine's queue and ours change together, so this is not expected; the
                    // call goes on to its music rather than wait for the greeting guard.
                    None => {
                        let _ = self.engine.greeting_finished(now, qcall);
                    }
                }
            }
            Action::PlayMusic { queue, .. } => {
                let music = self.seat(cx, handle, queue).music.clone();
                cx.emit(Event::Play {
                    call: handle,
                    what: Playback::Music(music),
                })
            }
            Action::Ring {
                agent, queue_name, ..
            } => self.ring_contacts(cx, handle, qcall, agent, &queue_name),
            Action::CancelRing { .. } => {}
            Action::Bridge { agent, .. } => self.bridge(cx, handle, qcall, agent),
            Action::Reject { status, .. } => {
                self.forget_queue_call(handle);
                let why = match status {
                    486 => "the queue is full",
                    482 => "forwarding loop",
                    _ => "nobody can take the call",
                };
                cx.legs.hang_up(now, handle, status, why);
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
                cx.legs.hang_up(now, handle, cause, why);
            }
            Action::Forward {
                target, answered, ..
            } => {
                self.forget_queue_call(handle);
                self.forward(cx, handle, &target, answered);
            }
        }
    }

    /// The engine's `Answer`: 200 now, or 180 first and 200 after the queue's answer delay.
    fn answer_when_due(&mut self, cx: &mut Ctx, handle: CallHandle) {
        let now = cx.now;
        if !cx.legs.is_ringing(handle) {
            return;
        }
        let delay = match self.seats.seat.get(&handle) {
            Some(seat) => cx.settings.answer_delay(&seat.queue),
            None => Duration::ZERO,
        };
        if delay.is_zero() {
            cx.legs.answer_now(now, handle);
            return;
        }
        cx.legs.send_ringing(now, handle);
        self.timers.insert((now + delay, handle, CallTimer::Answer));
    }

    fn ring_contacts(
        &mut self,
        cx: &mut Ctx,
        handle: CallHandle,
        qcall: QueueCallId,
        agent: AgentId,
        queue_name: &str,
    ) {
        let now = cx.now;
        let Some(call) = cx.legs.caller(handle) else {
            return;
        };
        let display = match &call.display {
            Some(name) => format!("{name} via {queue_name}"),
            None => queue_name.to_owned(),
        };
        let caller = call.uri;
        let dialled = call.dialled;
        let mut legs = Vec::new();
        // Static contacts and registered bindings (at their REGISTER's source, with Path).
        for target in cx.locations.ring_targets(&UserId::from(&agent)) {
            let ring = RingRequest {
                call: handle,
                target: target.uri,
                dest: target.dest,
                display_name: display.clone(),
                caller: caller.clone(),
                dialled: Some(dialled.clone()),
                auth: None,
                route: target.route,
            };
            if let Some(leg) = cx.legs.ring_user_device(now, ring, &UserId::from(&agent)) {
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
    fn bridge(&mut self, cx: &mut Ctx, handle: CallHandle, qcall: QueueCallId, agent: AgentId) {
        let now = cx.now;
        let key = (qcall, agent);
        let Some(leg) = self.rings.answered.remove(&key) else {
            return;
        };
        for other in self.rings.legs.remove(&key).unwrap_or_default() {
            if other != leg {
                cx.legs.cancel_leg_completed_elsewhere(now, other);
            }
        }
        // An agent took a call that still rings out its answer delay: answer it now, so the
        // caller is connected to the agent (a 200 comes before the bridge, never after).
        if cx.legs.is_ringing(handle) {
            self.timers
                .retain(|(_, h, t)| !(*h == handle && *t == CallTimer::Answer));
            cx.legs.answer_now(now, handle);
        }
        self.rings.bridged.insert(leg, handle);
        cx.emit(Event::Bridge { call: handle, leg });
    }

    /// Whether an agent took `qcall` (answered, or bridged already): the engine's
    /// `CancelRing` for the other agents then comes from that answer (it follows the `Bridge`),
    /// and their phones are told the call was completed elsewhere (RFC 3326 §2).
    fn answered_elsewhere(&self, qcall: QueueCallId) -> bool {
        if self.rings.answered.keys().any(|(c, _)| *c == qcall) {
            return true;
        }
        let Some(handle) = self.seats.calls.get(&qcall) else {
            return false;
        };
        self.rings.bridged.values().any(|c| c == handle)
    }

    /// `Forward` to a target outside the engine. Before answering, an external target gets a
    /// 302 (RFC 3261 §21.3.3) so the caller's side reaches it directly; an answered caller
    /// is forwarded on a new leg of ours (see `transfer`), and so is a caller forwarded to a
    /// user, which is answered first (it hears music while the user's phones ring).
    fn forward(&mut self, cx: &mut Ctx, handle: CallHandle, target: &Target, answered: bool) {
        let now = cx.now;
        let contact = match target {
            Target::Tel { number, .. } => Some(format!("<tel:{number}>")),
            Target::Sip { uri, .. } => Some(format!("<{uri}>")),
            _ => None,
        };
        if let (Some(contact), false) = (&contact, answered) {
            return cx.legs.redirect(now, handle, contact);
        }
        let Some(dest) = cx.settings.dial_plan.destination_of(target) else {
            tracing::warn!(%target, "forwarding to this target is not supported; releasing the call");
            return cx
                .legs
                .hang_up(now, handle, 480, "forward target not reachable");
        };
        if !answered {
            cx.legs.answer_now(now, handle);
            if let Some(seat) = self.seats.seat.get(&handle) {
                let music = seat.music.clone();
                cx.emit(Event::Play {
                    call: handle,
                    what: Playback::Music(music),
                });
            }
        }
        match dest {
            Destination::External { .. } if answered => {
                let refer_to = match target {
                    Target::Tel { number, .. } => format!("tel:{number}"),
                    other => other.to_string(),
                };
                self.forward_external(cx, handle, dest, &refer_to)
            }
            dest => self.forward_answered(cx, handle, dest, None),
        }
    }

    /// An agent answered: the engine hears of it (its `Bridge` follows). A forward or
    /// transfer leg is not an offer to an agent (see `transfer`).
    pub(super) fn on_leg_answered(&mut self, cx: &mut Ctx, leg: LegHandle) {
        if self.transfers.legs.contains_key(&leg) {
            return self.forward_leg_answered(cx, leg);
        }
        let now = cx.now;
        if let Some((qcall, agent)) = self.rings.owner.get(&leg).cloned() {
            if self.engine.agent_answered(now, qcall, &agent).is_ok() {
                self.rings.answered.insert((qcall, agent), leg);
            } else {
                // The offer was withdrawn while the agent answered: hang up that leg.
                cx.legs.cancel_leg(now, leg);
            }
        }
    }

    /// An agent leg ended: the engine hears the agent's answer once its last leg for the call
    /// is over; a bridged caller is hung up.
    pub(super) fn on_leg_ended(&mut self, cx: &mut Ctx, leg: LegHandle, outcome: LegOutcome) {
        if self.transfers.legs.contains_key(&leg) {
            return self.forward_leg_ended(cx, leg, outcome);
        }
        self.leg_ended(cx, leg, outcome);
    }

    fn leg_ended(&mut self, cx: &mut Ctx, leg: LegHandle, outcome: LegOutcome) {
        let now = cx.now;
        let owner = self.rings.owner.remove(&leg);
        if let Some(caller) = self.rings.bridged.remove(&leg) {
            // The agent hung up a bridged call: the call is complete; hang up the caller too.
            if let Some((_, agent)) = &owner {
                let _ = self.engine.agent_call_ended(now, agent);
            }
            self.forget_queue_call(caller);
            cx.legs.hang_up(now, caller, 200, "the agent hung up");
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
    pub(super) fn caller_gone(&mut self, cx: &mut Ctx, handle: CallHandle) {
        let now = cx.now;
        if let Some(qcall) = self.seats.queue_call_of.remove(&handle) {
            self.seats.calls.remove(&qcall);
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
            cx.legs.cancel_leg(now, leg);
        }
        self.seats.seat.remove(&handle);
        self.cancel_forwards(cx, handle);
    }

    /// Where `call` sits, moved to `queue` first when the engine moved it there (a forward
    /// between queues): the prompts of the queue it is in, as they were when it got there.
    fn seat(&mut self, cx: &Ctx, call: CallHandle, queue: QueueId) -> &Seat {
        let seat = self
            .seats
            .seat
            .entry(call)
            .or_insert_with(|| Seat::new(queue.clone(), cx.settings));
        if seat.queue != queue {
            *seat = Seat::new(queue, cx.settings);
        }
        seat
    }
}
