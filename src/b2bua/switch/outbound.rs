//! Users' calls to external numbers, through a trunk: the core has authenticated the user,
//! checked what they may dial and chosen the caller ID (`core::outbound`); this rings the
//! number at the trunk's SBCs one at a time, with the same failover as a forward
//! (`b2bua::trunk`: the next SBC, then the next trunk whose allow list admits the number, on
//! a 503, no response or no provisional response in time, RFC 3263 §4.3), and bridges the
//! answer to the user with anchored media like a user's call to a user.
//!
//! - The user's phone is answered only once the far end answers (it hears its own ring tone
//!   after our 180), so it shows the outcome. A final refusal from the far end is passed on
//!   (486 busy, 404 …), except a 401 / 407 (the trunk's challenge is holdline's business,
//!   never the phone's: 503) and 3xx (holdline does not follow redirects to anywhere: 480).
//!   No answer at all: 408 (RFC 3261 §21.4.9).
//! - The user is busy for the queues while the call lasts (as on a call to a user).
//! - Once answered, either side's BYE ends both, as for a queue call; the far end may not
//!   REFER (`transfer`): a carrier's transfer would make holdline dial for nobody.
//!
//! What this does not do: early media from the far end (the phone hears its own ring tone).

use std::collections::{HashMap, VecDeque};

use crate::b2bua::core::{Event, Playback};
use crate::b2bua::legs::call::CallHandle;
use crate::b2bua::legs::{LegHandle, LegOutcome, RingRequest};
use crate::b2bua::settings::Destination;
use crate::b2bua::trunk::{self, Attempt};
use crate::config::{Music, UserId};
use crate::sip::header::HeaderName;
use crate::sip::uri::Uri;

use super::{CallTimer, Ctx, Switch};

/// Who the called party is shown an outbound call is from (see `core::outbound`).
#[derive(Clone, Debug)]
pub(crate) struct ShownIdentity {
    /// From's display name.
    pub display: String,
    /// From's URI (`sip:anonymous@anonymous.invalid` for an anonymous call).
    pub from: Uri,
    /// P-Asserted-Identity (RFC 3325): the identity the carrier may rely on.
    pub asserted: Uri,
    /// `Privacy: id` (RFC 3325 §9.3): the carrier keeps the asserted identity from the
    /// called party.
    pub private: bool,
}

/// One user's external call in flight.
#[derive(Debug)]
struct OutboundCall {
    user: UserId,
    identity: ShownIdentity,
    /// Attempts left, in order.
    rest: VecDeque<Attempt>,
    /// The leg of the attempt in flight.
    current: Option<LegHandle>,
}

/// Users' outbound calls (see the module doc).
#[derive(Debug, Default)]
pub(crate) struct Outbound {
    calls: HashMap<CallHandle, OutboundCall>,
    /// Attempt legs not answered yet → their call.
    legs: HashMap<LegHandle, CallHandle>,
}

impl Switch {
    /// `user`'s call (dialog `call`, not answered) to `dest`, an external number through a
    /// trunk, showing `identity`.
    pub fn call_out(
        &mut self,
        cx: &mut Ctx,
        call: CallHandle,
        user: &UserId,
        dest: &Destination,
        identity: ShownIdentity,
    ) {
        let now = cx.now;
        let Destination::External { target, trunk } = dest else {
            return cx.legs.hang_up(now, call, 404, "not an external number");
        };
        self.busy(cx, user, true);
        let legs = &mut *cx.legs;
        let mut rest = trunk::attempts(
            cx.settings.dial_plan.trunks(),
            cx.addresses,
            target,
            trunk,
            || legs.random_u32(),
        );
        // Down SBCs, and those a 503 sent away for a while, are skipped (`sbc_health`).
        rest.retain(|a| cx.health.usable(now, &a.trunk, &a.sbc));
        tracing::info!(user = %user, target = %target, attempts = rest.len(), "user calls out");
        self.outbound.calls.insert(
            call,
            OutboundCall {
                user: user.clone(),
                identity,
                rest,
                current: None,
            },
        );
        if !self.next_outbound_attempt(cx, call) {
            // §21.4.18 would say "unavailable"; the trunk, not the number, is what failed.
            return self.outbound_failed(cx, call, 503, "no trunk could take the call");
        }
        cx.legs.send_ringing(now, call);
    }

    /// Whether `call` is a user's outbound call.
    pub(super) fn is_outbound_call(&self, call: CallHandle) -> bool {
        self.outbound.calls.contains_key(&call)
    }

    /// Rings the next attempt; `false` when none is left that could be sent.
    fn next_outbound_attempt(&mut self, cx: &mut Ctx, call: CallHandle) -> bool {
        let now = cx.now;
        while let Some(oc) = self.outbound.calls.get_mut(&call) {
            let Some(attempt) = oc.rest.pop_front() else {
                oc.current = None;
                return false;
            };
            let id = &oc.identity;
            let ring = RingRequest {
                call,
                target: attempt.uri.clone(),
                dest: Some(attempt.dest),
                display_name: id.display.clone(),
                caller: Some(id.from.clone()),
                // The user's dial string stays here: the carrier is asked for the number.
                dialled: None,
                auth: attempt.auth.clone(),
                route: Vec::new(),
            };
            let mut extra = vec![(HeaderName::PAssertedIdentity, format!("<{}>", id.asserted))];
            if id.private {
                // RFC 3325 §9.3 / RFC 3323 §4.2: the asserted identity is for the carrier only.
                extra.push((HeaderName::Privacy, "id".to_owned()));
            }
            let more = !oc.rest.is_empty();
            let Some(leg) = cx.legs.ring_with(now, ring, extra) else {
                tracing::info!(trunk = %attempt.trunk, sbc = %attempt.dest.addr, "could not send the call to this SBC; trying the next");
                continue;
            };
            tracing::info!(trunk = %attempt.trunk, sbc = %attempt.dest.addr, target = %attempt.uri, "outbound call sent through trunk");
            oc.current = Some(leg);
            self.outbound.legs.insert(leg, call);
            let next = more.then_some(now + attempt.first_response_timeout);
            self.set_call_timer(call, CallTimer::OutboundFirstResponse, next);
            return true;
        }
        false
    }

    /// No provisional response from the SBC in time: abandoned (CANCEL once it answers at
    /// all, RFC 3261 §9.1), and the next one tried.
    pub(super) fn outbound_first_response_timed_out(&mut self, cx: &mut Ctx, call: CallHandle) {
        let Some(oc) = self.outbound.calls.get(&call) else {
            return;
        };
        let Some(leg) = oc.current else {
            return;
        };
        if oc.rest.is_empty() || !cx.legs.leg_unanswered_yet(leg) {
            return;
        }
        tracing::info!(
            leg = leg.0,
            "no provisional response from the SBC in time; trying the next"
        );
        self.outbound.legs.remove(&leg);
        cx.legs.cancel_leg(cx.now, leg);
        if !self.next_outbound_attempt(cx, call) {
            self.outbound_failed(cx, call, 408, "no answer from the trunk");
        }
    }

    /// A leg event for an outbound attempt; `true` when it was one (and is handled).
    pub(super) fn outbound_leg_answered(&mut self, cx: &mut Ctx, leg: LegHandle) -> bool {
        let Some(call) = self.outbound.legs.remove(&leg) else {
            return false;
        };
        let now = cx.now;
        self.set_call_timer(call, CallTimer::OutboundFirstResponse, None);
        if let Some(oc) = self.outbound.calls.get_mut(&call) {
            oc.current = None;
            oc.rest.clear();
        }
        if !cx.legs.has_call(call) {
            cx.legs.cancel_leg(now, leg);
            return true;
        }
        cx.legs.answer_now(now, call);
        // The user's stream starts (as a queue caller's does) and is bridged at once.
        cx.emit(Event::Play {
            call,
            what: Playback::Music(Music::Default),
        });
        // From here on like a queue call's bridge: either side's BYE ends both.
        self.rings.bridged.insert(leg, call);
        cx.emit(Event::Bridge { call, leg });
        true
    }

    /// An attempt ended unanswered: the next SBC or trunk when this one failed (RFC 3263
    /// §4.3), else the far end's answer goes to the user.
    pub(super) fn outbound_leg_ended(
        &mut self,
        cx: &mut Ctx,
        leg: LegHandle,
        outcome: LegOutcome,
    ) -> bool {
        let Some(call) = self.outbound.legs.remove(&leg) else {
            return false;
        };
        let current = self
            .outbound
            .calls
            .get_mut(&call)
            .is_some_and(|oc| oc.current == Some(leg));
        if !current {
            // An abandoned attempt (its SBC was too slow): the next one is in flight.
            return true;
        }
        if let Some(oc) = self.outbound.calls.get_mut(&call) {
            oc.current = None;
        }
        if trunk::fails_over(outcome) && cx.legs.has_call(call) {
            tracing::info!(
                ?outcome,
                "outbound call failed at this SBC; trying the next"
            );
            if self.next_outbound_attempt(cx, call) {
                return true;
            }
        }
        let (status, why) = match outcome {
            // The trunk's challenge was its business (answered with its credentials, or
            // not): a phone must never be asked for a trunk's password.
            LegOutcome::Refused(401 | 407) => (503, "trunk refused the call"),
            // No redirect is followed to a target nobody checked.
            LegOutcome::Refused(300..=399) => (480, "redirected"),
            LegOutcome::Refused(s @ 400..=699) => (s, "refused by the far end"),
            LegOutcome::Refused(_) => (500, "unexpected answer from the far end"),
            // §21.4.9: nobody answered in time.
            LegOutcome::NoResponse => (408, "no answer"),
            LegOutcome::Cancelled | LegOutcome::HungUp => (487, "cancelled"),
        };
        self.outbound_failed(cx, call, status, why);
        true
    }

    fn outbound_failed(&mut self, cx: &mut Ctx, call: CallHandle, status: u16, why: &str) {
        self.set_call_timer(call, CallTimer::OutboundFirstResponse, None);
        if let Some(oc) = self.outbound.calls.get_mut(&call) {
            oc.rest.clear();
        }
        cx.legs.hang_up(cx.now, call, status, why);
    }

    /// The user's dialog is over: an attempt still ringing is cancelled, the user is free.
    pub(super) fn outbound_caller_gone(&mut self, cx: &mut Ctx, call: CallHandle) {
        let Some(oc) = self.outbound.calls.remove(&call) else {
            return;
        };
        self.set_call_timer(call, CallTimer::OutboundFirstResponse, None);
        if let Some(leg) = oc.current {
            self.outbound.legs.remove(&leg);
            cx.legs.cancel_leg(cx.now, leg);
        }
        self.busy(cx, &oc.user, false);
    }
}
