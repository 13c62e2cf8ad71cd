//! Attended transfer (RFC 5589 §7, RFC 3891, RFC 3515): an agent talking to a caller puts
//! the caller on hold, places a consult call through holdline (to another queue's service
//! number, or to a user once users can call users), and when the consult call's far side has
//! answered sends REFER on the caller's dialog with
//! `Refer-To: <sip:…?Replaces=<consult Call-ID>;to-tag=…;from-tag=…>`.
//!
//! holdline plays both the transferee and the transfer target of RFC 5589, so no INVITE with
//! Replaces is ever sent (least of all toward a trunk): it finds the consult dialog by the
//! Replaces ids (RFC 3891 §3, either tag order) among its own dialogs, and the caller takes
//! the consult call's place:
//!
//! - the caller leaves the transferring agent (the engine's Transfer event for the caller's
//!   queue call, `to = "attended:<the number the consult call dialled>"`; the agent goes to
//!   wrap-up as after a blind transfer);
//! - whatever the consult call was connected to is connected to the caller instead: its
//!   bridged leg (the second agent's, or a forward's) is bridged to the caller (media: the
//!   caller keeps its own RTP stream, SSRC and seq/ts continuous, and the far side keeps the
//!   leg's stream and addresses, so nobody is re-INVITEd); the consult call's queue call, if
//!   any, becomes the caller's, so the far side's hang-up ends the caller's call and frees
//!   that agent as for any queue call;
//! - 202 Accepted, NOTIFY `SIP/2.0 100 Trying` (§2.4.4 of RFC 3515), NOTIFY
//!   `SIP/2.0 200 OK` that ends the implicit subscription, then BYE on both of the
//!   transferring agent's dialogs (the held one and the consult call).
//!
//! The consult call need not be answered by its far side yet (RFC 5589 §7.5's semi-attended
//! transfer, as a phone's "transfer while ringing"): a consult call waiting in a queue is
//! still a holdline dialog that holdline answered, so the caller takes its place in that
//! queue, hears its music and is bridged to whichever agent answers.
//!
//! Refusals (the caller stays with the agent, who can take it back from hold): after the 202,
//! a final NOTIFY with the status the INVITE with Replaces would have got from a target:
//! - no dialog matches, or it matches a dialog of another party (the consult call must come
//!   from the address of the agent's phone; RFC 3891 §6 asks the target to check that the
//!   replacer may replace, and a dialog's ids alone are weak proof): `481`, so a stranger
//!   learns nothing of other calls (§3: "If no match is found, the UAS rejects the INVITE
//!   and returns a 481");
//! - the consult dialog is still early on our side (holdline has not answered it: a queue
//!   still in its answer delay): `481`, as RFC 3891 §3 has a UAS answer for an early dialog
//!   it did not initiate;
//! - `early-only` and the consult dialog is confirmed: `486` (RFC 3891 §3);
//! - the consult dialog is one holdline placed to the agent (someone called the agent) or the
//!   call being transferred itself: `603 Declined` (§3 allows declining by policy): holdline
//!   bridges a caller to a leg it placed, never two callers;
//! - the consult call has nothing on its far side any more (its queue dropped it): `480`.
//!
//! A malformed Replaces in Refer-To gets `400` to the REFER itself.
//!
//! **An INVITE with Replaces** (RFC 3891 §3) naming an answered caller's dialog, from that
//! caller's address (its PBX or SBC completed a transfer of its own, or a phone picked the
//! call up), takes the caller's place the same way: answered, given the old caller's music,
//! bridge and queue call; the old dialog gets BYE. The legs refuse every other INVITE with
//! Replaces (see `legs/replaces.rs`).

use crate::b2bua::core::{Event, Playback};
use crate::b2bua::legs::call::CallHandle;
use crate::b2bua::legs::{LegHandle, Replaced};
use crate::sip::message::Request;
use crate::sip::replaces::{Replaces, ReplacesError};
use crate::sip::transaction::ServerTxId;

use super::{Ctx, Switch};

/// Why an attended transfer was refused: the status of the final NOTIFY's sipfrag.
type Refusal = (u16, &'static str);

impl Switch {
    /// An agent's REFER on `leg` (bridged to `caller`) whose Refer-To carries `Replaces`.
    pub(super) fn on_attended_refer(
        &mut self,
        cx: &mut Ctx,
        tx: ServerTxId,
        leg: LegHandle,
        caller: CallHandle,
        req: &Request,
        replaces: Result<Replaces, ReplacesError>,
    ) {
        let now = cx.now;
        let Ok(replaces) = replaces else {
            return cx
                .legs
                .refuse_refer(now, tx, leg, req, 400, "Bad Replaces in Refer-To");
        };
        let verdict = self.consult_call(cx, leg, caller, &replaces);
        cx.legs.accept_refer(now, tx, leg, req);
        let consult = match verdict {
            Ok(consult) => consult,
            Err((status, reason)) => {
                tracing::info!(leg = leg.0, status, reason, "attended transfer refused");
                return cx.legs.notify_referrer(now, leg, status, reason);
            }
        };
        tracing::info!(leg = leg.0, "agent completes an attended transfer");
        self.caller_replaces_consult(cx, leg, caller, consult);
        cx.legs.notify_referrer(now, leg, 200, "OK");
        // Both of the transferring agent's dialogs are over (RFC 5589 §7.1: the transferor
        // ends them once the transfer succeeded; holdline, being the other end of both,
        // ends them itself).
        cx.legs.cancel_leg(now, leg);
        cx.legs.send_bye(now, consult, 200, "transferred");
    }

    /// The consult call `replaces` names, when the agent on `leg` may hand `caller` to it
    /// (see the module doc for each refusal).
    fn consult_call(
        &self,
        cx: &Ctx,
        leg: LegHandle,
        caller: CallHandle,
        replaces: &Replaces,
    ) -> Result<CallHandle, Refusal> {
        const UNKNOWN: Refusal = (481, "Call/Transaction Does Not Exist");
        let found = cx.legs.replaced_dialog(replaces).ok_or(UNKNOWN)?;
        // RFC 3891 §6: only the party to the consult dialog may hand it over.
        if Some(found.peer()) != cx.legs.leg_peer(leg) {
            return Err(UNKNOWN);
        }
        let consult = match found {
            Replaced::Caller { call, .. } if call == caller => return Err((603, "Declined")),
            Replaced::Agent { .. } => return Err((603, "Declined")),
            Replaced::Caller { early: true, .. } => return Err(UNKNOWN),
            Replaced::Caller {
                call, early: false, ..
            } => call,
        };
        if replaces.early_only {
            return Err((486, "Busy Here"));
        }
        let connected = self.rings.bridged.values().any(|c| *c == consult);
        let queued = self.seats.queue_call_of.contains_key(&consult);
        let forwarding = self.transfers.legs.values().any(|f| f.call == consult);
        if !(connected || queued || forwarding) {
            return Err((480, "Temporarily Unavailable"));
        }
        Ok(consult)
    }

    /// `caller` leaves the agent on `leg` and takes `consult`'s place (see the module doc).
    fn caller_replaces_consult(
        &mut self,
        cx: &mut Ctx,
        leg: LegHandle,
        caller: CallHandle,
        consult: CallHandle,
    ) {
        let now = cx.now;
        // The caller's part with the transferring agent: the engine closes it (wrap-up).
        self.rings.bridged.remove(&leg);
        let to = match cx.legs.caller(consult) {
            Some(c) => format!("attended:{}", c.dialled),
            None => "attended".to_owned(),
        };
        if let Some(&qcall) = self.seats.queue_call_of.get(&caller) {
            if let Err(err) = self.engine.call_transferred(now, qcall, &to) {
                tracing::debug!(%err, "attended transfer of a call the engine no longer connects");
            }
            self.forget_queue_call(caller);
        }
        self.take_place(cx, caller, consult);
    }

    /// A new caller's INVITE with Replaces (RFC 3891 §3) for caller `replaced` (its side
    /// transferred it, or a phone picked the call up): the new caller is answered and takes
    /// the old one's place, which ends with BYE. Its music is the old caller's.
    pub(super) fn caller_replaced(&mut self, cx: &mut Ctx, call: CallHandle, replaced: CallHandle) {
        let now = cx.now;
        if !cx.legs.has_call(replaced) {
            // Gone between the INVITE and now: nothing to take over.
            return cx.legs.hang_up(now, call, 481, "the replaced call is gone");
        }
        tracing::info!(
            call = call.0,
            replaced = replaced.0,
            "a caller replaces another (RFC 3891)"
        );
        cx.legs.answer_now(now, call);
        if let Some(seat) = self.seats.seat.remove(&replaced) {
            let music = seat.music.clone();
            self.seats.seat.insert(call, seat);
            cx.emit(Event::Play {
                call,
                what: Playback::Music(music),
            });
        }
        self.take_place(cx, call, replaced);
        cx.legs.send_bye(now, replaced, 200, "replaced");
    }

    /// `caller` takes `consult`'s place: its bridge, its queue call and its forward legs.
    /// `consult` is left with nothing and is ended by the caller of this.
    fn take_place(&mut self, cx: &mut Ctx, caller: CallHandle, consult: CallHandle) {
        let now = cx.now;
        // The consult call's timers (answer delay, greeting) are moot: it ends now.
        self.timers.retain(|(_, h, _)| *h != consult);
        if let Some(qcall) = self.seats.queue_call_of.remove(&consult) {
            self.seats.calls.insert(qcall, caller);
            self.seats.queue_call_of.insert(caller, qcall);
            // The caller keeps hearing its own music: no second greeting (ignored when the
            // consult call was past it).
            let _ = self.engine.greeting_finished(now, qcall);
        }
        for fwd in self.transfers.legs.values_mut() {
            if fwd.call == consult {
                fwd.call = caller;
            }
        }
        let far: Vec<LegHandle> = self
            .rings
            .bridged
            .iter()
            .filter(|(_, c)| **c == consult)
            .map(|(l, _)| *l)
            .collect();
        if far.is_empty() {
            // Nobody on the far side yet: the caller hears its music until someone answers.
            cx.emit(Event::Unbridge { call: caller });
            return;
        }
        cx.emit(Event::Unbridge { call: consult });
        for far_leg in far {
            self.rings.bridged.insert(far_leg, caller);
            cx.emit(Event::Bridge {
                call: caller,
                leg: far_leg,
            });
        }
    }
}
