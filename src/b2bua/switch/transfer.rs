//! Forwards and transfers that keep holdline in the call: a new leg rung for an answered
//! caller and bridged like an agent, and agents' blind transfers (REFER).
//!
//! - **An agent's REFER** (RFC 3515 §2.4, blind transfer as in RFC 5589 §6): `Refer-To` is
//!   resolved against what holdline knows: one of its queues (a service number or queue
//!   address), a user (the URI's user part is a user id, or the number is one of the user's),
//!   or an external target that a `[[trunk]]`'s `allow` list admits. Anything else gets 403:
//!   an agent's phone, or whoever took over its dialog, can never make holdline dial a number
//!   nobody approved (toll fraud). An accepted REFER gets 202 Accepted and at once a NOTIFY
//!   with `SIP/2.0 100 Trying` (§2.4.4: the notifier MUST send one), then a final NOTIFY with
//!   the outcome (§2.4.5: the sipfrag of the target's final response) that terminates the
//!   implicit subscription, then our BYE to the agent, whose part is over. The caller leaves
//!   the agent at once and hears music while the target rings; the agent goes to wrap-up.
//! - **A queue's forward of an answered call** to `user:ID` rings the user's contacts; to an
//!   external target, the target through its trunk's proxy. The first answer is bridged to
//!   the caller and the other legs are cancelled. A forward that reaches nobody hangs the
//!   caller up with 480 and a Reason header.
//! - **A queue's forward of an answered call to an external target**, when the caller's side
//!   listed REFER in its Allow: holdline asks it to make the call (REFER with `Refer-To` the
//!   target and `Referred-By` the number it dialled, RFC 3515 §2.4.1, RFC 3892), so the
//!   caller's own carrier places it and holdline leaves the path. It follows the NOTIFYs
//!   (§2.4.5): a final 2xx sipfrag means the caller reached the target and holdline hangs up
//!   its leg (RFC 5589 §6.1); a refused REFER, a failure sipfrag or no final NOTIFY within
//!   64·T1 falls back to a new leg through the trunk, bridged by holdline.
//! - A queue target never leaves holdline: the caller enters that queue (no signalling).
//!
//! A trunk that challenges a leg with 401 / 407 gets the INVITE again with its `auth`
//! credentials (`uac.rs`, RFC 3261 §22.2).
//!
//! Not here: attended transfer (`Refer-To` with a `Replaces` header: see `attended`), auto
//! attendants (there are none yet: 480).

use std::collections::{HashMap, HashSet, VecDeque};

use crate::b2bua::core::Event;
use crate::b2bua::legs::call::CallHandle;
use crate::b2bua::legs::{LegHandle, LegOutcome, RingRequest};
use crate::b2bua::settings::Destination;
use crate::b2bua::trunk::{self, Attempt};
use crate::config::QueueId;
use crate::sip::header::HeaderName;
use crate::sip::message::Request;
use crate::sip::transaction::ServerTxId;
use crate::sip::uri::Uri;

use super::{CallTimer, Ctx, Switch};

/// A leg rung for a forward or transfer (not a queue's offer to an agent).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ForwardLeg {
    pub call: CallHandle,
    /// The agent leg whose REFER asked for it: it hears the outcome by NOTIFY.
    pub referrer: Option<LegHandle>,
}

/// Forwards and transfers in flight. Nothing here comes from the configuration (that is
/// [`Settings`](super::settings::Settings)), so a reconfigure leaves all of it in place.
#[derive(Debug, Default)]
pub(crate) struct Transfers {
    pub legs: HashMap<LegHandle, ForwardLeg>,
    /// Agent legs that sent a REFER we accepted: the subscription the NOTIFYs belong to.
    pub referrers: HashSet<LegHandle>,
    /// Callers we sent a REFER to, and where: the fallback if their side cannot do it.
    pub referred: HashMap<CallHandle, Destination>,
    /// External forwards and the SBCs / trunks left to try (`b2bua::trunk`).
    pub failover: HashMap<CallHandle, Failover>,
    /// Callers hearing a forward leg's early media instead of their music.
    pub early: HashMap<CallHandle, LegHandle>,
}

/// An external forward in flight: one attempt at a time, the rest in order.
#[derive(Debug)]
pub(crate) struct Failover {
    rest: VecDeque<Attempt>,
    referrer: Option<LegHandle>,
    display: String,
    caller: Option<Uri>,
    dialled: Uri,
    /// Where the forward goes (for its Diversion and History-Info headers).
    dest: Destination,
    /// The leg of the attempt in flight.
    current: Option<LegHandle>,
}

impl Switch {
    /// An agent's REFER on its leg (see the module doc).
    pub(crate) fn on_refer(&mut self, cx: &mut Ctx, tx: ServerTxId, leg: LegHandle, req: Request) {
        let now = cx.now;
        let refuse = |cx: &mut Ctx, status: u16, why: &str| {
            cx.legs.refuse_refer(now, tx, leg, &req, status, why);
        };
        let Some(&caller) = self.rings.bridged.get(&leg) else {
            return refuse(cx, 403, "No call to transfer");
        };
        // Toll fraud: the far end of a user's outbound call is a carrier's party, who may
        // not make holdline place calls (a REFER back out through a trunk, or into a queue).
        if self.is_outbound_call(caller) {
            tracing::warn!(
                leg = leg.0,
                "REFER from the far end of an outbound call refused"
            );
            return refuse(cx, 403, "Transfer not allowed");
        }
        // RFC 3515 §2.4.1: exactly one Refer-To.
        let values: Vec<&str> = req.headers.get_all(&HeaderName::ReferTo).collect();
        let refer_to = match values.as_slice() {
            [one] => crate::sip::parse::name_addr_of(one),
            _ => None,
        };
        let Some(refer_to) = refer_to else {
            return refuse(cx, 400, "Bad Refer-To");
        };
        // RFC 5589 §7: a Refer-To with Replaces asks for an attended transfer (`attended`).
        if let Uri::Sip(sip) = &refer_to.uri {
            let replaces = sip
                .headers
                .as_deref()
                .and_then(crate::sip::replaces::from_uri_headers);
            if let Some(replaces) = replaces {
                return self.on_attended_refer(cx, tx, leg, caller, &req, replaces);
            }
        }
        let settings = cx.settings;
        let dest = match settings
            .dial_plan
            .resolve(&settings.directory, &refer_to.uri)
        {
            Ok(dest) => dest,
            Err(why) => {
                tracing::warn!(leg = leg.0, target = %refer_to.uri, %why, "REFER refused");
                return refuse(cx, 403, "Transfer target not allowed");
            }
        };
        // Toll fraud: users do not call out through a trunk, so a user call's callee may not
        // send the calling user there either (two accounts would otherwise be enough to dial
        // anything a trunk allows).
        if matches!(dest, Destination::External { .. }) && self.is_user_call(caller) {
            tracing::warn!(leg = leg.0, target = %dest, "REFER of a user call to a trunk refused");
            return refuse(cx, 403, "Transfer target not allowed");
        }
        tracing::info!(leg = leg.0, target = %dest, "agent transfers the caller");
        cx.legs.accept_refer(now, tx, leg, &req);
        self.transfers.referrers.insert(leg);

        // The caller leaves the agent; the engine closes the agent's part (wrap-up).
        self.rings.bridged.remove(&leg);
        cx.emit(Event::Unbridge { call: caller });
        if let Some(&qcall) = self.seats.queue_call_of.get(&caller) {
            if let Err(err) = self.engine.call_transferred(now, qcall, &dest.to_string()) {
                tracing::debug!(%err, "transfer of a call the engine no longer connects");
            }
            self.forget_queue_call(caller);
        }
        self.forward_answered(cx, caller, dest, Some(leg));
    }

    /// Forwards an answered caller to `dest` (a queue's forward action, an agent's transfer).
    pub(crate) fn forward_answered(
        &mut self,
        cx: &mut Ctx,
        handle: CallHandle,
        dest: Destination,
        referrer: Option<LegHandle>,
    ) {
        let now = cx.now;
        if let Destination::Queue(queue) = &dest {
            return self.enter_queue(cx, handle, queue, referrer);
        }
        let Some(call) = cx.legs.caller(handle) else {
            return;
        };
        let display = call.display.unwrap_or_else(|| "Transfer".to_owned());
        let (caller, dialled) = (call.uri, call.dialled);
        let mut placed = false;
        if let Destination::External { target, trunk } = &dest {
            // One SBC at a time, the next when it fails (RFC 3263 §4.3, `b2bua::trunk`).
            let legs = &mut *cx.legs;
            let (health, now) = (cx.health, cx.now);
            let mut rest = trunk::attempts(
                cx.settings.dial_plan.trunks(),
                cx.addresses,
                target,
                trunk,
                || legs.random_u32(),
            );
            // Down SBCs, and those a 503 sent away for a while, are skipped (`sbc_health`).
            rest.retain(|a| health.usable(now, &a.trunk, &a.sbc));
            let failover = Failover {
                rest,
                referrer,
                display: display.clone(),
                caller: caller.clone(),
                dialled: dialled.clone(),
                dest: dest.clone(),
                current: None,
            };
            self.transfers.failover.insert(handle, failover);
            placed = self.next_attempt(cx, handle);
            if !placed {
                self.transfers.failover.remove(&handle);
            }
        }
        let external = matches!(dest, Destination::External { .. });
        let ring_targets = match external {
            true => Vec::new(),
            false => cx.settings.dial_plan.ring_targets(&dest, cx.locations),
        };
        for target in ring_targets {
            let diverted = diversion_headers(&dest, &dialled, &target.uri, referrer.is_some());
            let ring = RingRequest {
                call: handle,
                target: target.uri,
                dest: target.dest,
                display_name: display.clone(),
                caller: caller.clone(),
                dialled: Some(dialled.clone()),
                auth: target.auth,
                route: target.route,
            };
            if let Some(leg) = cx.legs.ring_with(now, ring, diverted) {
                if let Destination::User(user) = &dest {
                    self.note_forward_to_user(leg, user);
                }
                self.transfers.legs.insert(
                    leg,
                    ForwardLeg {
                        call: handle,
                        referrer,
                    },
                );
                placed = true;
            }
        }
        if !placed {
            tracing::warn!(target = %dest, "nothing to ring for the forward; releasing the call");
            if let Some(agent) = referrer {
                self.finish_referral(cx, agent, 480, "Temporarily Unavailable");
            }
            cx.legs
                .hang_up(now, handle, 480, "forward target not reachable");
        }
    }

    /// Rings the next attempt of `handle`'s external forward; `false` when none is left that
    /// could be sent. The first-response timer runs only while another attempt is left: the
    /// last one may take until Timer B.
    fn next_attempt(&mut self, cx: &mut Ctx, handle: CallHandle) -> bool {
        let now = cx.now;
        while let Some(f) = self.transfers.failover.get_mut(&handle) {
            let Some(attempt) = f.rest.pop_front() else {
                f.current = None;
                return false;
            };
            let ring = RingRequest {
                call: handle,
                target: attempt.uri.clone(),
                dest: Some(attempt.dest),
                display_name: f.display.clone(),
                caller: f.caller.clone(),
                dialled: Some(f.dialled.clone()),
                auth: attempt.auth.clone(),
                route: Vec::new(),
            };
            let referrer = f.referrer;
            let more = !f.rest.is_empty();
            // RFC 5806 / RFC 7044: each attempt says where the call was diverted from.
            let diverted = diversion_headers(&f.dest, &f.dialled, &attempt.uri, referrer.is_some());
            let Some(leg) = cx.legs.ring_with(now, ring, diverted) else {
                tracing::info!(trunk = %attempt.trunk, sbc = %attempt.dest.addr, "could not send the forward to this SBC; trying the next");
                continue;
            };
            tracing::info!(trunk = %attempt.trunk, sbc = %attempt.dest.addr, target = %attempt.uri, "forward sent through trunk");
            if let Some(f) = self.transfers.failover.get_mut(&handle) {
                f.current = Some(leg);
            }
            self.transfers.legs.insert(
                leg,
                ForwardLeg {
                    call: handle,
                    referrer,
                },
            );
            let next = more.then_some(now + attempt.first_response_timeout);
            self.set_call_timer(handle, CallTimer::FirstResponse, next);
            return true;
        }
        false
    }

    /// Sets `call`'s one `kind` timer to `at`, or clears it (`None`): an SBC attempt's
    /// first-response timer is replaced by each new attempt of the forward or outbound call.
    pub(super) fn set_call_timer(
        &mut self,
        call: CallHandle,
        kind: CallTimer,
        at: Option<crate::time::Time>,
    ) {
        self.timers.retain(|(_, h, t)| !(*h == call && *t == kind));
        if let Some(at) = at {
            self.timers.insert((at, call, kind));
        }
    }

    /// An external forward's attempt had no provisional response within its trunk's
    /// `first_response_timeout`: it is abandoned (CANCEL once it answers at all, RFC 3261
    /// §9.1; BYE if it answers 2xx) and the next SBC is tried.
    pub(crate) fn first_response_timed_out(&mut self, cx: &mut Ctx, handle: CallHandle) {
        let now = cx.now;
        let Some(f) = self.transfers.failover.get(&handle) else {
            return;
        };
        let Some(leg) = f.current else {
            return;
        };
        if f.rest.is_empty() || !cx.legs.leg_unanswered_yet(leg) {
            return;
        }
        tracing::info!(
            leg = leg.0,
            "no provisional response from the SBC in time; trying the next"
        );
        let referrer = f.referrer;
        self.transfers.legs.remove(&leg);
        cx.legs.cancel_leg(now, leg);
        if !self.next_attempt(cx, handle) {
            self.external_forward_failed(cx, handle, referrer, 408, "Request Timeout");
        }
    }

    /// Every attempt of an external forward failed: the caller is released.
    fn external_forward_failed(
        &mut self,
        cx: &mut Ctx,
        handle: CallHandle,
        referrer: Option<LegHandle>,
        status: u16,
        reason: &str,
    ) {
        self.transfers.failover.remove(&handle);
        self.set_call_timer(handle, CallTimer::FirstResponse, None);
        if let Some(agent) = referrer {
            self.finish_referral(cx, agent, status, reason);
        }
        cx.legs
            .hang_up(cx.now, handle, 480, "forward target did not answer");
    }

    /// A queue's forward of an answered caller to an external target: REFER to its side when
    /// it takes REFER, else (and as the fallback) our own leg through the trunk.
    pub(crate) fn forward_external(
        &mut self,
        cx: &mut Ctx,
        handle: CallHandle,
        dest: Destination,
        refer_to: &str,
    ) {
        let now = cx.now;
        if !matches!(dest, Destination::External { .. }) {
            return self.forward_answered(cx, handle, dest, None);
        }
        if !cx.legs.has_call(handle) {
            return;
        }
        if !cx.legs.can_refer(handle) {
            return self.forward_answered(cx, handle, dest, None);
        }
        // The target as configured (`tel:+…` or a SIP URI): the caller's side dials it its way.
        if !cx.legs.refer(now, handle, refer_to) {
            tracing::debug!("could not send REFER; placing the forward ourselves");
            return self.forward_answered(cx, handle, dest, None);
        }
        tracing::info!(
            target = refer_to,
            "asking the caller's side to make the forward (REFER)"
        );
        self.transfers.referred.insert(handle, dest);
        let deadline = now + self.refer_timeout;
        self.timers.insert((deadline, handle, CallTimer::Refer));
    }

    /// The final response to our REFER: 2xx, wait for the NOTIFYs; anything else, fall back.
    pub(crate) fn on_caller_refer_response(
        &mut self,
        cx: &mut Ctx,
        handle: CallHandle,
        status: u16,
    ) {
        if (200..300).contains(&status) {
            return;
        }
        tracing::info!(
            status,
            "the caller's side refused our REFER; placing the forward ourselves"
        );
        self.refer_fell_through(cx, handle);
    }

    /// A NOTIFY in a caller's dialog: the progress of our REFER (RFC 3515 §2.4.5).
    pub(crate) fn on_caller_notify(
        &mut self,
        cx: &mut Ctx,
        tx: ServerTxId,
        handle: CallHandle,
        req: &Request,
    ) {
        let now = cx.now;
        // RFC 6665 §4.1.3: a NOTIFY for no subscription of ours gets 481.
        let status = match self.transfers.referred.contains_key(&handle) {
            true => 200,
            false => 481,
        };
        cx.legs.answer_notify(now, tx, handle, req, status);
        if status != 200 {
            return;
        }
        // The sipfrag's status line: "SIP/2.0 200 OK".
        let frag = String::from_utf8_lossy(&req.body);
        let status = frag
            .lines()
            .next()
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|code| code.parse::<u16>().ok());
        match status {
            Some(100..=199) => {}
            Some(200..=299) => {
                tracing::info!("the caller's side reached the forward target; leaving the call");
                self.end_referral(handle);
                cx.legs.send_bye(now, handle, 200, "forwarded");
            }
            _ => {
                tracing::info!(
                    ?status,
                    "the caller's side could not reach the target; placing the forward ourselves"
                );
                self.refer_fell_through(cx, handle);
            }
        }
    }

    /// No final NOTIFY in time.
    pub(crate) fn refer_timed_out(&mut self, cx: &mut Ctx, handle: CallHandle) {
        if self.transfers.referred.contains_key(&handle) {
            tracing::info!("no outcome of our REFER in time; placing the forward ourselves");
            self.refer_fell_through(cx, handle);
        }
    }

    fn refer_fell_through(&mut self, cx: &mut Ctx, handle: CallHandle) {
        if let Some(dest) = self.end_referral(handle) {
            self.forward_answered(cx, handle, dest, None);
        }
    }

    /// Forgets our REFER to `handle`'s side (its transaction, its timer); returns where it
    /// was to go.
    fn end_referral(&mut self, handle: CallHandle) -> Option<Destination> {
        self.timers
            .retain(|(_, h, t)| !(*h == handle && *t == CallTimer::Refer));
        self.transfers.referred.remove(&handle)
    }

    /// A transferred caller enters `queue` as a new arrival (it is answered already).
    fn enter_queue(
        &mut self,
        cx: &mut Ctx,
        handle: CallHandle,
        queue: &QueueId,
        referrer: Option<LegHandle>,
    ) {
        let now = cx.now;
        let Some(call) = cx.legs.caller(handle) else {
            return;
        };
        let seat = super::Seat::new(queue.clone(), cx.settings);
        self.seats.seat.insert(handle, seat);
        let info = crate::queue::types::CallerInfo {
            from: call.uri.as_ref().map(|u| u.to_string()).unwrap_or_default(),
            display: call.display,
        };
        match self.engine.call_arrived(now, queue, info) {
            Ok(qcall) => {
                self.seats.calls.insert(qcall, handle);
                self.seats.queue_call_of.insert(handle, qcall);
                if let Some(agent) = referrer {
                    self.finish_referral(cx, agent, 200, "OK");
                }
            }
            Err(err) => {
                tracing::warn!(%err, "the queue engine refused the transferred call");
                if let Some(agent) = referrer {
                    self.finish_referral(cx, agent, 503, "Service Unavailable");
                }
                cx.legs.hang_up(now, handle, 503, "queue unavailable");
            }
        }
    }

    /// A forward leg's far end sent early media (a 183 with SDP: its ring-back tone or an
    /// announcement, RFC 3960 §3): the caller hears it instead of its music until the leg
    /// answers (then it stays bridged) or fails (then the music comes back while the next SBC
    /// is tried). The caller of a forward leg is always answered (an unanswered one is
    /// redirected with 302, never dialled for). One leg at a time: a second forked leg's
    /// early media is not mixed in.
    pub(super) fn forward_early_media(&mut self, cx: &mut Ctx, leg: LegHandle) {
        let Some(fwd) = self.transfers.legs.get(&leg) else {
            return;
        };
        let call = fwd.call;
        if self.transfers.early.contains_key(&call) || !cx.legs.has_call(call) {
            return;
        }
        let Some(start) = cx.legs.early_media(leg) else {
            return;
        };
        tracing::info!(
            call = call.0,
            leg = leg.0,
            "forward's early media relayed to the caller"
        );
        self.transfers.early.insert(call, leg);
        cx.emit(start);
        cx.emit(Event::Bridge { call, leg });
    }

    /// A forward leg that was relaying early media to its caller is over: the caller hears its
    /// music again.
    fn end_early_media(&mut self, cx: &mut Ctx, call: CallHandle, leg: LegHandle) {
        if self.transfers.early.get(&call) == Some(&leg) {
            self.transfers.early.remove(&call);
            if cx.legs.has_call(call) {
                cx.emit(Event::Unbridge { call });
            }
        }
    }

    /// A forward leg answered: the first answer wins and is bridged to the caller; the other
    /// contacts stop ringing.
    pub(super) fn forward_leg_answered(&mut self, cx: &mut Ctx, leg: LegHandle) {
        let now = cx.now;
        let Some(fwd) = self.transfers.legs.remove(&leg) else {
            return;
        };
        // Its early media, if any, becomes the call's media (the Bridge below replaces
        // another leg's, whose leg is cancelled with the rest).
        self.transfers.early.remove(&fwd.call);
        self.transfers.failover.remove(&fwd.call);
        self.set_call_timer(fwd.call, CallTimer::FirstResponse, None);
        self.cancel_forward_legs(cx, fwd.call, true);
        if !cx.legs.has_call(fwd.call) {
            cx.legs.cancel_leg(now, leg);
            return;
        }
        self.rings.bridged.insert(leg, fwd.call);
        cx.emit(Event::Bridge {
            call: fwd.call,
            leg,
        });
        if let Some(agent) = fwd.referrer {
            self.finish_referral(cx, agent, 200, "OK");
        }
    }

    /// A forward leg ended unanswered: when it was the last one ringing, the transfer failed
    /// and the caller is released.
    pub(super) fn forward_leg_ended(&mut self, cx: &mut Ctx, leg: LegHandle, outcome: LegOutcome) {
        let now = cx.now;
        let Some(fwd) = self.transfers.legs.remove(&leg) else {
            return;
        };
        self.end_early_media(cx, fwd.call, leg);
        if let Some(f) = self.transfers.failover.get_mut(&fwd.call) {
            if f.current == Some(leg) {
                f.current = None;
                // RFC 3263 §4.3: this SBC failed (503, 408, timeout, transport error); the
                // next one, or the next trunk, is tried. Any other answer is the far end's.
                if trunk::fails_over(outcome) && cx.legs.has_call(fwd.call) {
                    tracing::info!(?outcome, "forward failed at this SBC; trying the next");
                    if self.next_attempt(cx, fwd.call) {
                        return;
                    }
                }
                self.transfers.failover.remove(&fwd.call);
                self.set_call_timer(fwd.call, CallTimer::FirstResponse, None);
            }
        }
        let still_ringing = self.transfers.legs.values().any(|f| f.call == fwd.call);
        if still_ringing {
            return;
        }
        let (status, reason) = match outcome {
            LegOutcome::Refused(status) => (status, "Refused"),
            LegOutcome::NoResponse => (408, "Request Timeout"),
            _ => (487, "Request Terminated"),
        };
        if let Some(agent) = fwd.referrer {
            self.finish_referral(cx, agent, status, reason);
        }
        cx.legs
            .hang_up(now, fwd.call, 480, "forward target did not answer");
    }

    /// The caller is gone: its forward legs stop ringing, a REFER to it is moot.
    pub(crate) fn cancel_forwards(&mut self, cx: &mut Ctx, handle: CallHandle) {
        self.transfers.early.remove(&handle);
        self.end_referral(handle);
        self.transfers.failover.remove(&handle);
        self.set_call_timer(handle, CallTimer::FirstResponse, None);
        self.cancel_forward_legs(cx, handle, false);
    }

    /// Stops every forward leg still ringing for `handle`; `elsewhere`: because one of them
    /// answered (their CANCELs say so, RFC 3326 §2).
    fn cancel_forward_legs(&mut self, cx: &mut Ctx, handle: CallHandle, elsewhere: bool) {
        let now = cx.now;
        let legs: Vec<LegHandle> = self
            .transfers
            .legs
            .iter()
            .filter(|(_, f)| f.call == handle)
            .map(|(l, _)| *l)
            .collect();
        for leg in legs {
            self.transfers.legs.remove(&leg);
            match elsewhere {
                true => cx.legs.cancel_leg_completed_elsewhere(now, leg),
                false => cx.legs.cancel_leg(now, leg),
            }
        }
    }

    /// The final NOTIFY of a transfer (RFC 3515 §2.4.5), then BYE: the agent's part is over.
    fn finish_referral(&mut self, cx: &mut Ctx, agent: LegHandle, status: u16, reason: &str) {
        let now = cx.now;
        if !self.transfers.referrers.remove(&agent) {
            return;
        }
        cx.legs.notify_referrer(now, agent, status, reason);
        cx.legs.cancel_leg(now, agent);
    }
}

/// What an INVITE that leaves toward a trunk or an external target says about where the call
/// came from: `Diversion` (RFC 5806 §4) naming the service the caller dialled, with why and how
/// often it was diverted, and the `History-Info` entry (RFC 7044 §9.1) for the new target
/// beside the dialled one (`index=1`, which every leg carries): `mp` because the queue mapped
/// the request to another AoR. Carriers show the diverting number and charge or screen on it.
/// Forwards to users and queues stay inside holdline: nothing is added.
fn diversion_headers(
    dest: &Destination,
    dialled: &Uri,
    target: &Uri,
    by_agent: bool,
) -> Vec<(HeaderName, String)> {
    if !matches!(dest, Destination::External { .. }) {
        return Vec::new();
    }
    // RFC 5806 §4: an agent's transfer is a deflection; a queue's forward (overflow, timeout)
    // always happens on its own, unconditionally.
    let reason = if by_agent {
        "deflection"
    } else {
        "unconditional"
    };
    vec![
        (
            HeaderName::Diversion,
            format!("<{dialled}>;reason={reason};counter=1;privacy=off"),
        ),
        (
            HeaderName::HistoryInfo,
            format!("<{target}>;index=1.1;mp=1"),
        ),
    ]
}
