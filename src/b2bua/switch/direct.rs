//! Calls that are not a queue's: a user calling another user, a feature code dialled from an
//! agent's phone, and who is busy because of any call through holdline.
//!
//! - **A user's call to a user** rings every device of the callee at once (static contacts
//!   and registered bindings, as a queue's offer does); the first to answer is bridged to the
//!   caller (media anchored here, like a queue call) and the others get CANCEL with `Reason:
//!   SIP;cause=200;text="Call completed elsewhere"` (RFC 3326). When nobody answers: 486 Busy
//!   Here when a device said busy (RFC 3261 §21.4.24), 408 Request Timeout when the ring time
//!   ran out (§21.4.9), else 480 Temporarily Unavailable (§21.4.18). The caller is answered
//!   only once the callee answers, so the caller's phone shows the outcome.
//! - **A feature code** was carried out by the core before the call got here; the call is
//!   answered, hears a short prompt (the default music, [`FEATURE_PROMPT`] long) and gets BYE.
//! - **Busy**: an agent is busy for queue offers (the engine's `busy_elsewhere`) while they
//!   place a call as a user, while a user call to them is answered, and while a forward or
//!   transfer to them is answered; a queue call they took is the engine's own business. A
//!   count per user, so two overlapping calls keep them busy until both end.
//!
//! What this does not do: call waiting or hunting to voicemail (there is none).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use crate::b2bua::core::{Event, Playback};
use crate::b2bua::legs::call::CallHandle;
use crate::b2bua::legs::{LegHandle, LegOutcome, RingRequest};
use crate::config::{Music, UserId};
use crate::queue::types::{Activity, AgentChange, AgentId};

use super::{CallTimer, Ctx, Switch};

/// How long the confirmation of a feature code plays before holdline hangs up.
pub(crate) const FEATURE_PROMPT: Duration = Duration::from_secs(1);

/// Who places a user call, as the callee's phone is shown: the authenticated user's name and
/// `sip:ID@domain`.
pub(crate) struct Caller<'a> {
    pub user: &'a UserId,
    pub name: String,
    pub uri: Option<crate::sip::uri::Uri>,
}

/// One user's call to another.
#[derive(Debug)]
struct UserCall {
    callee: UserId,
    /// Legs to the callee's devices still ringing.
    ringing: Vec<LegHandle>,
    answered: bool,
    /// A device answered 486 / 600 (the callee is busy), or refused otherwise.
    busy: bool,
}

/// Direct calls and what makes users busy (see the module doc).
#[derive(Debug, Default)]
pub(crate) struct Direct {
    calls: HashMap<CallHandle, UserCall>,
    /// Legs rung for a user call → the caller's dialog.
    legs: HashMap<LegHandle, CallHandle>,
    /// Feature-code calls being answered with their prompt.
    features: HashSet<CallHandle>,
    /// Forward and transfer legs to a user (busy once answered).
    forwards: HashMap<LegHandle, UserId>,
    /// Answered legs that make their user busy.
    busy_legs: HashMap<LegHandle, UserId>,
    /// Calls placed by a user (busy while they last).
    busy_calls: HashMap<CallHandle, UserId>,
    /// How many of the above each user is on.
    on_call: HashMap<UserId, u32>,
}

impl Switch {
    /// Whether `user` is on a call through holdline (a direct call, a forward, a queue call).
    pub fn user_busy(&self, user: &UserId) -> bool {
        if self.direct.on_call.get(user).is_some_and(|n| *n > 0) {
            return true;
        }
        self.engine
            .agent_status(&AgentId::from(user))
            .is_some_and(|s| matches!(s.activity, Activity::OnCall(_)))
    }

    /// A feature code was carried out: answer, play the confirmation, then hang up.
    pub fn feature_call(&mut self, cx: &mut Ctx, call: CallHandle) {
        let now = cx.now;
        self.direct.features.insert(call);
        cx.legs.answer_now(now, call);
        cx.emit(Event::Play {
            call,
            what: Playback::Music(Music::Default),
        });
        self.timers
            .insert((now + FEATURE_PROMPT, call, CallTimer::FeatureDone));
    }

    pub(super) fn feature_done(&mut self, cx: &mut Ctx, call: CallHandle) {
        if self.direct.features.contains(&call) {
            cx.legs.hang_up(cx.now, call, 200, "feature code done");
        }
    }

    /// `caller`'s call (dialog `call`, ringing) to `callee`: rings every device of the callee.
    pub fn call_user(
        &mut self,
        cx: &mut Ctx,
        call: CallHandle,
        caller: Caller<'_>,
        callee: &UserId,
        ring_time: Duration,
    ) {
        let now = cx.now;
        self.busy(cx, caller.user, true);
        self.direct.busy_calls.insert(call, caller.user.clone());
        let Some(identity) = cx.legs.caller(call) else {
            return;
        };
        let mut ringing = Vec::new();
        for target in cx.locations.ring_targets(callee) {
            let ring = RingRequest {
                call,
                target: target.uri,
                dest: target.dest,
                display_name: caller.name.clone(),
                caller: caller.uri.clone(),
                dialled: Some(identity.dialled.clone()),
                auth: None,
                route: target.route,
            };
            if let Some(leg) = cx.legs.ring_user_device(now, ring, callee) {
                self.direct.legs.insert(leg, call);
                ringing.push(leg);
            }
        }
        if ringing.is_empty() {
            // §21.4.18: the callee has nowhere to be reached now.
            tracing::info!(callee = %callee, "no device of the user could be rung");
            return cx.legs.hang_up(now, call, 480, "user not reachable");
        }
        tracing::info!(caller = %caller.user, callee = %callee, devices = ringing.len(), "user calls user");
        cx.legs.send_ringing(now, call);
        self.direct.calls.insert(
            call,
            UserCall {
                callee: callee.clone(),
                ringing,
                answered: false,
                busy: false,
            },
        );
        self.timers
            .insert((now + ring_time, call, CallTimer::UserNoAnswer));
    }

    /// Nobody answered in the ring time: the devices stop ringing, the caller gets 408
    /// (RFC 3261 §21.4.9).
    pub(super) fn user_no_answer(&mut self, cx: &mut Ctx, call: CallHandle) {
        let Some(uc) = self.direct.calls.get_mut(&call) else {
            return;
        };
        if uc.answered {
            return;
        }
        let legs = std::mem::take(&mut uc.ringing);
        for leg in legs {
            self.direct.legs.remove(&leg);
            cx.legs.cancel_leg(cx.now, leg);
        }
        cx.legs.hang_up(cx.now, call, 408, "no answer");
    }

    /// Looks at a leg event before the queues do; `true` when it was a direct call's and is
    /// handled.
    pub(super) fn direct_leg_answered(&mut self, cx: &mut Ctx, leg: LegHandle) -> bool {
        if let Some(user) = self.direct.forwards.remove(&leg) {
            // A forward or transfer to a user was answered: busy until that leg ends.
            self.busy(cx, &user, true);
            self.direct.busy_legs.insert(leg, user);
            return false;
        }
        let Some(call) = self.direct.legs.remove(&leg) else {
            return false;
        };
        let now = cx.now;
        let Some(uc) = self.direct.calls.get_mut(&call) else {
            cx.legs.cancel_leg(now, leg);
            return true;
        };
        uc.answered = true;
        let others: Vec<LegHandle> = uc.ringing.drain(..).filter(|l| *l != leg).collect();
        let callee = uc.callee.clone();
        for other in others {
            self.direct.legs.remove(&other);
            cx.legs.cancel_leg_completed_elsewhere(now, other);
        }
        self.timers
            .retain(|(_, h, t)| !(*h == call && *t == CallTimer::UserNoAnswer));
        if !cx.legs.has_call(call) {
            cx.legs.cancel_leg(now, leg);
            return true;
        }
        self.busy(cx, &callee, true);
        self.direct.busy_legs.insert(leg, callee);
        cx.legs.answer_now(now, call);
        // The caller's stream starts (as a queue caller's does) and is bridged at once.
        cx.emit(Event::Play {
            call,
            what: Playback::Music(Music::Default),
        });
        // From here the call is like a queue call's bridge: either side's BYE ends both, and
        // the callee may transfer the caller (REFER).
        self.rings.bridged.insert(leg, call);
        cx.emit(Event::Bridge { call, leg });
        true
    }

    /// Whether `call` is a user's call to another user (not a queue's caller).
    pub(super) fn is_user_call(&self, call: CallHandle) -> bool {
        self.direct.calls.contains_key(&call)
    }

    /// A leg ended: a user call's device that did not answer, or a leg whose user was busy.
    /// `true` when nothing else needs to hear of it.
    pub(super) fn direct_leg_ended(
        &mut self,
        cx: &mut Ctx,
        leg: LegHandle,
        outcome: LegOutcome,
    ) -> bool {
        self.direct.forwards.remove(&leg);
        if let Some(user) = self.direct.busy_legs.remove(&leg) {
            self.busy(cx, &user, false);
        }
        let Some(call) = self.direct.legs.remove(&leg) else {
            return false;
        };
        let Some(uc) = self.direct.calls.get_mut(&call) else {
            return true;
        };
        uc.ringing.retain(|l| *l != leg);
        if matches!(outcome, LegOutcome::Refused(486 | 600)) {
            uc.busy = true;
        }
        if uc.answered || !uc.ringing.is_empty() {
            return true;
        }
        let (status, why) = match (uc.busy, outcome) {
            // §21.4.24: a device said the callee is busy.
            (true, _) => (486, "user busy"),
            // §21.4.18: reached nobody (declined, unreachable).
            _ => (480, "user not available"),
        };
        self.timers
            .retain(|(_, h, t)| !(*h == call && *t == CallTimer::UserNoAnswer));
        cx.legs.hang_up(cx.now, call, status, why);
        true
    }

    /// A forward or transfer leg rung to `user` (busy once it answers).
    pub(super) fn note_forward_to_user(&mut self, leg: LegHandle, user: &UserId) {
        self.direct.forwards.insert(leg, user.clone());
    }

    /// A caller's dialog is over: a feature call's, a user call's (its devices stop ringing,
    /// its caller is free again).
    pub(super) fn direct_caller_gone(&mut self, cx: &mut Ctx, call: CallHandle) {
        self.direct.features.remove(&call);
        if let Some(user) = self.direct.busy_calls.remove(&call) {
            self.busy(cx, &user, false);
        }
        if let Some(uc) = self.direct.calls.remove(&call) {
            for leg in uc.ringing {
                self.direct.legs.remove(&leg);
                cx.legs.cancel_leg(cx.now, leg);
            }
        }
    }

    /// Counts `user` onto (or off) a call; the engine hears when they become busy or free.
    pub(super) fn busy(&mut self, cx: &mut Ctx, user: &UserId, on: bool) {
        let n = self.direct.on_call.entry(user.clone()).or_insert(0);
        let before = *n;
        *n = if on {
            n.saturating_add(1)
        } else {
            n.saturating_sub(1)
        };
        let after = *n;
        if after == 0 {
            self.direct.on_call.remove(user);
        }
        if (before == 0) != (after == 0) {
            tracing::info!(user = %user, busy = after > 0, "agent busy with a call outside the queues");
            let agent = AgentId::from(user);
            if let Err(err) =
                self.engine
                    .set_agent_state(cx.now, &agent, AgentChange::Busy(after > 0))
            {
                tracing::debug!(%err, "busy state of an agent the engine does not know");
            }
        }
    }
}
