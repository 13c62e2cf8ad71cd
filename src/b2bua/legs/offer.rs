//! Offer/answer inside a caller's dialog (RFC 3264): the ACK that carries the answer to the
//! offer in our 2xx (RFC 3261 §13.2.1, late offer), re-INVITE (§14.2) and UPDATE (RFC 3311)
//! for hold, resume, session refresh and target refresh.
//!
//! What this does not do: offer anything on its own, except the session refreshes of
//! [`super::session_timer`].

use crate::b2bua::core::Event;
use crate::b2bua::reply;
use crate::sip::header::HeaderName;
use crate::sip::message::Request;
use crate::sip::method::Method;
use crate::sip::transaction::ServerTxId;
use crate::time::Time;

use super::call::{CallHandle, CallState, PendingOffer};
use super::caller::{parse_body, set_sdp};
use super::{DialogRef, Legs};

impl Legs {
    /// An ACK: for our 2xx (confirms the dialog, may carry the answer to our offer), or stray.
    pub(super) fn on_ack(&mut self, now: Time, req: &Request) {
        let Some(tag) = req.headers.to().and_then(|t| t.tag().map(str::to_owned)) else {
            return;
        };
        let call_id = req.headers.call_id().unwrap_or_default().to_owned();
        let Some(&DialogRef::Caller(handle)) = self.dialogs.get(&(call_id, tag)) else {
            return;
        };
        let Some(call) = self.callers.calls.get_mut(&handle) else {
            return;
        };
        let span = call.span.clone();
        let _enter = span.enter();
        if call.state == CallState::Answered {
            call.state = CallState::Confirmed;
            tracing::debug!("ACK received; call confirmed");
            self.out
                .media
                .push_back(Event::CallConfirmed { call: handle });
            if let Some(addr) = call.unconfirmed_from.take() {
                if let Some(n) = self.unconfirmed.get_mut(&addr) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        self.unconfirmed.remove(&addr);
                    }
                }
            }
        }
        let ack_cseq = req.headers.cseq().map(|c| c.seq);
        let Some(pending) = call.media.pending_offer else {
            return;
        };
        if ack_cseq != Some(pending.cseq) {
            return;
        }
        call.media.pending_offer = None;
        // §13.2.1 / RFC 3264 §5: the answer to the offer in our 2xx. An ACK without one, or
        // with an unusable one, leaves no session: hang up (§13.3.1.4 lets the UAS send BYE).
        let outcome = match parse_body(req) {
            Ok(Some(answer)) => call
                .media
                .sdp
                .process_answer(&answer)
                .map_err(|e| e.to_string()),
            Ok(None) => {
                call.media.sdp.offer_rejected();
                Err("the ACK carried no SDP answer".to_owned())
            }
            Err(e) => {
                call.media.sdp.offer_rejected();
                Err(e.to_string())
            }
        };
        match outcome {
            Ok(media) => self.out.media.push_back(Event::MediaUpdated {
                call: handle,
                media,
            }),
            Err(why) => {
                tracing::info!(%why, "unusable answer in ACK; hanging up");
                if call.media.sdp.negotiated().is_none() {
                    self.send_bye(now, handle, 488, "no usable SDP answer");
                }
            }
        }
    }

    /// re-INVITE (§14.2) or UPDATE (RFC 3311): hold, resume, session refresh, target refresh.
    pub(super) fn on_offer_in_dialog(
        &mut self,
        now: Time,
        tx: ServerTxId,
        handle: CallHandle,
        req: Request,
    ) {
        let cseq = req.headers.cseq().map(|c| c.seq).unwrap_or(0);
        let Some(call) = self.callers.calls.get_mut(&handle) else {
            return;
        };
        // §12.2.2: a CSeq lower than the last one is out of order: 500.
        if !call.dialog.accept_remote_cseq(cseq) {
            let resp = self.call_response(handle, &req, 500);
            return self.respond(now, tx, resp);
        }
        if call.state == CallState::Ending {
            let resp = self.call_response(handle, &req, 481);
            return self.respond(now, tx, resp);
        }
        // §14.2 / RFC 3264 §4: while our own offer awaits its answer, a new offer collides;
        // so does one arriving while our session refresh's re-INVITE is pending (§14.1).
        let our_offer_pending = call.session.as_ref().is_some_and(|t| t.offer_pending());
        let offers = req.method == Method::Invite || !req.body.is_empty();
        if call.media.pending_offer.is_some() || call.is_ringing() || (our_offer_pending && offers)
        {
            let mut resp = self.call_response(handle, &req, 491);
            resp.headers.push(HeaderName::RetryAfter, "1");
            return self.respond(now, tx, resp);
        }
        // RFC 4028 §9: a refresh is negotiated like the INVITE; too small an interval gets
        // 422 and leaves the session as it was.
        let renewed = match super::session_timer::negotiate(&req, self.endpoint.session_timer) {
            Ok(timer) => timer,
            Err(min) => {
                let tag = call.dialog.local_tag.clone();
                let resp = self.session_too_small(&req, Some(&tag), min);
                return self.respond(now, tx, resp);
            }
        };
        let Some(call) = self.callers.calls.get_mut(&handle) else {
            return;
        };
        // §12.2.2: a target-refresh request updates the remote target.
        call.dialog.refresh_target(&req);
        let body = match parse_body(&req) {
            Ok(Some(offer)) => match call.media.sdp.answer(&offer) {
                Ok((answer, media)) => {
                    let direction = media.direction;
                    tracing::info!(?direction, hold = media.hold, "media renegotiated");
                    self.out.media.push_back(Event::MediaUpdated {
                        call: handle,
                        media,
                    });
                    Some(answer)
                }
                Err(err) => {
                    // RFC 3264 §8 / RFC 3261 §14.2: a refused re-offer leaves the session as is.
                    let tag = call.dialog.local_tag.clone();
                    return self.reject_sdp(now, tx, &req, &tag, &err);
                }
            },
            Ok(None) if req.method == Method::Invite => {
                // A re-INVITE without SDP (§14.2): we offer in the 200 what we want
                // (RFC 6337 §5: the peer states its own hold in its answer, in the ACK).
                call.media.pending_offer = Some(PendingOffer { cseq });
                Some(call.media.sdp.reoffer())
            }
            // An UPDATE without SDP only refreshes the session (RFC 3311 §5.2).
            Ok(None) => None,
            Err(err) => {
                let tag = call.dialog.local_tag.clone();
                return self.reject_sdp(now, tx, &req, &tag, &err);
            }
        };
        let mut resp = self.call_response(handle, &req, 200);
        self.add_contact(&mut resp, handle, &req);
        if req.method == Method::Invite {
            reply::add_capabilities(&mut resp);
        }
        // The refresh succeeded (a refused offer above left the timer as it was): the new
        // interval and refresher hold from now on.
        if let (Some(mut timer), Some(call)) = (renewed, self.callers.calls.get_mut(&handle)) {
            if let Some(old) = &call.session {
                timer.in_flight = old.in_flight;
                timer.due = old.due;
            }
            call.session = Some(timer);
        }
        self.add_session_headers(&mut resp, handle);
        if let Some(body) = body {
            set_sdp(&mut resp, &body);
        }
        self.respond(now, tx, resp);
        // RFC 4028 §10: a 2xx to a refresh, either way, restarts the session timer.
        self.arm_session_timer(now, handle);
    }
}
