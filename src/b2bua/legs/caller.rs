//! The UAS side of caller dialogs (RFC 3261 §8.2, §12, §13.3, §14.2, §15; RFC 3264; RFC 3311):
//! answering INVITEs on service numbers, ACK, CANCEL, BYE, re-INVITE and UPDATE for hold,
//! resume and session refresh, OPTIONS keepalives.

use std::net::SocketAddr;

use crate::sip::header::HeaderName;
use crate::sip::message::{Request, Response};
use crate::sip::method::Method;
use crate::sip::sdp::{LocalMedia, LocalSession, SdpError, SessionDescription};
use crate::sip::transaction::{response_destination, ServerTxId};
use crate::sip::transport::Peer;
use crate::time::Time;

use super::call::{Call, CallHandle, CallMedia, CallState, Caller, PendingOffer, Ringing};
use super::{DialogRef, Inbound, LegEvent, Legs};
use crate::b2bua::core::{EndReason, Event};
use crate::b2bua::{precheck, reply};
use crate::sip::dialog::Dialog;

impl Legs {
    /// A new request (not ACK, not CANCEL) with its server transaction.
    pub(super) fn on_request(
        &mut self,
        now: Time,
        tx: ServerTxId,
        req: Request,
        from: Peer,
        local: SocketAddr,
        inbound: Inbound<'_>,
    ) {
        if let Err(rej) = precheck::check(&req) {
            let mut resp = self.response(&req, rej.status, None);
            for (name, value) in rej.headers {
                resp.headers.push(name, value);
            }
            return self.respond(now, tx, resp);
        }
        let Some(to_tag) = req.headers.to().and_then(|t| t.tag().map(str::to_owned)) else {
            return self.on_out_of_dialog(now, tx, req, from, local, inbound);
        };
        let call_id = req.headers.call_id().unwrap_or_default().to_owned();
        let handle = match self.dialogs.get(&(call_id, to_tag)) {
            Some(&DialogRef::Caller(handle)) => handle,
            Some(&DialogRef::Agent(leg)) => return self.on_agent_request(now, tx, leg, req),
            // §12.2.2: a request with a To tag that matches no dialog gets 481.
            None => return self.respond_status(now, tx, &req, 481),
        };
        let span = self.callers.calls.get(&handle).map(|c| c.span.clone());
        let _enter = span.map(|s| s.entered());
        match req.method {
            Method::Invite | Method::Update => self.on_offer_in_dialog(now, tx, handle, req),
            Method::Bye => self.on_bye(now, tx, handle, &req),
            Method::Options => self.on_options(now, tx, &req),
            // A caller cannot make holdline call someone else (RFC 3515 §2.4.2 lets the
            // recipient refuse; toll fraud): only agents transfer.
            Method::Refer => self.respond_status(now, tx, &req, 403),
            // The progress of our REFER (RFC 3515 §2.4.5): the switch knows the subscription.
            Method::Notify => self.out.events.push_back(LegEvent::CallerNotify {
                tx,
                call: handle,
                req,
            }),
            // INFO (legacy DTMF relay) is accepted; DTMF is read from RTP (RFC 4733).
            _ => self.respond_status(now, tx, &req, 200),
        }
    }

    fn on_out_of_dialog(
        &mut self,
        now: Time,
        tx: ServerTxId,
        req: Request,
        from: Peer,
        local: SocketAddr,
        inbound: Inbound<'_>,
    ) {
        match req.method {
            Method::Invite => match self.replacing_invite(now, tx, &req, from.addr.ip()) {
                None => self.on_invite(now, tx, req, from, local, inbound),
                Some(super::replaces::Replacing::Refused) => {}
                Some(super::replaces::Replacing::Takes { call, dialled }) => {
                    self.on_replacing_invite(now, tx, req, from, local, inbound, call, dialled)
                }
            },
            Method::Options => self.on_options(now, tx, &req),
            Method::Register => self.on_register(tx, req, from),
            // BYE, UPDATE, INFO need a dialog (§12.2.2, §15.1.2).
            _ => self.respond_status(now, tx, &req, 481),
        }
    }

    /// §11.2: OPTIONS, in or out of a dialog, is what a trunk's keepalive probes. A draining
    /// server answers 503 so the trunk steers new calls elsewhere.
    fn on_options(&mut self, now: Time, tx: ServerTxId, req: &Request) {
        let status = if self.draining { 503 } else { 200 };
        let mut resp = self.response(req, status, None);
        reply::add_capabilities(&mut resp);
        self.respond(now, tx, resp);
    }

    /// A bare response with `status` (our To tag added when the request had none).
    fn respond_status(&mut self, now: Time, tx: ServerTxId, req: &Request, status: u16) {
        let resp = self.response(req, status, None);
        self.respond(now, tx, resp);
    }

    pub(super) fn on_invite(
        &mut self,
        now: Time,
        tx: ServerTxId,
        req: Request,
        from: Peer,
        local: SocketAddr,
        inbound: Inbound<'_>,
    ) {
        let tag = self.new_tag();
        if self.draining {
            let mut resp = self.response(&req, 503, Some(&tag));
            resp.headers.push(HeaderName::RetryAfter, "30");
            return self.respond(now, tx, resp);
        }
        // Admission control: a source holding its quota of calls not ACKed yet gets no more
        // (and is banned by the core); the one final answer (RFC 3261 §21.5.4) closes this
        // transaction.
        let source = from.addr.ip();
        let quota = inbound.unconfirmed_quota;
        if self.unconfirmed_from(source) >= quota {
            tracing::info!(%source, quota, "too many unconfirmed calls from one source");
            self.over_quota.push(source);
            let resp = self.response(&req, 503, Some(&tag));
            return self.respond(now, tx, resp);
        }
        let Some(queue) = inbound.directory.lookup(&req.uri).cloned() else {
            // Not a service: the core decides (a user's call or feature code, after digest
            // authentication; else the same 404 for every number, so scanners learn nothing).
            return self.out.invites.push_back(super::direct::PendingInvite {
                tx,
                req,
                from,
                local,
                tag,
                srtp: None,
            });
        };
        if let Some((handle, info)) = self.open_call(now, tx, req, from, local, tag, &queue, None) {
            // The switch decides: answer (greeting, music, agents), or 486 / forward / 480
            // before answering.
            self.out.events.push_back(LegEvent::CallerArrived {
                call: handle,
                queue,
                caller: info,
            });
        }
    }

    /// A call for `queue` (a service, or a direct call's label) from a checked INVITE: its SDP
    /// negotiated, an RTP port reserved, its dialog kept, ringing. `None` when it was refused
    /// (488, 503: already answered).
    // The INVITE's transaction, the request and where it came from, as `on_invite` had them.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn open_call(
        &mut self,
        now: Time,
        tx: ServerTxId,
        req: Request,
        from: Peer,
        local: SocketAddr,
        tag: String,
        queue: &crate::config::QueueId,
        user_srtp: Option<crate::sip::sdp::SrtpPolicy>,
    ) -> Option<(CallHandle, crate::queue::types::CallerInfo)> {
        let source = from.addr.ip();
        let offer = match parse_body(&req) {
            Ok(offer) => offer,
            Err(err) => {
                self.reject_sdp(now, tx, &req, &tag, &err);
                return None;
            }
        };
        // RFC 4028 §8.1: a Session-Expires below our minimum gets 422 with our Min-SE.
        let session = match super::session_timer::negotiate(&req, self.endpoint.session_timer) {
            Ok(timer) => timer,
            Err(min) => {
                let resp = self.session_too_small(&req, Some(&tag), min);
                self.respond(now, tx, resp);
                return None;
            }
        };
        let Some(rtp_port) = self.ports.reserve() else {
            tracing::warn!("no free RTP port; refusing the call");
            let resp = self.response(&req, 503, Some(&tag));
            self.respond(now, tx, resp);
            return None;
        };
        let session_id = u64::from(self.rng_u32());
        let media_ip = self.media_ip(local, Some(&req.uri));
        let mut local_media = LocalMedia::new(media_ip, rtp_port, session_id);
        let policy = self.srtp.for_peer(source, user_srtp);
        local_media.srtp = self.srtp_local(policy, from.transport);
        let mut sdp = LocalSession::new(local_media);
        // Negotiate before ringing so an unusable offer gets 488 at once (§13.3.1.1).
        let answer = match &offer {
            Some(offer) => match sdp.answer(offer) {
                Ok((answer, _)) => Some(answer),
                Err(err) => {
                    self.ports.release(rtp_port);
                    self.reject_sdp(now, tx, &req, &tag, &err);
                    return None;
                }
            },
            None => None,
        };
        let handle = CallHandle(self.new_handle());
        let flow = match req.headers.top_via() {
            Some(via) => response_destination(&via, from),
            None => from,
        };
        let from_header = req.headers.from();
        let caller = Caller {
            display: from_header
                .as_ref()
                .and_then(|f| f.display.as_deref())
                .map(|d| d.trim_matches('"').to_owned())
                .filter(|d| !d.is_empty()),
            uri: from_header.map(|f| f.uri),
            dialled: req.uri.clone(),
            // RFC 3261 §20.5: the methods the caller's side accepts; REFER lets a forward be
            // handed to it (RFC 3515) instead of dialled by us.
            allows_refer: req
                .headers
                .list(&HeaderName::Allow)
                .any(|m| m.eq_ignore_ascii_case("REFER")),
        };
        let info = crate::queue::types::CallerInfo {
            from: caller
                .uri
                .as_ref()
                .map(|u| u.to_string())
                .unwrap_or_default(),
            display: caller.display.clone(),
        };
        let dialog = Dialog::uas(&req, &tag, self.rng_u32() % 10_000);
        let span = tracing::info_span!("call", call_id = %dialog.call_id);
        let _enter = span.enter();
        tracing::info!(queue = %queue, uri = %req.uri, "incoming call");
        self.dialogs
            .insert((dialog.call_id.clone(), tag), DialogRef::Caller(handle));
        self.callers.ringing.insert(tx, handle);
        let call = Call {
            handle,
            queue: queue.clone(),
            dialog,
            flow,
            local,
            state: CallState::Ringing(Box::new(Ringing {
                invite_tx: tx,
                invite: req,
                answer,
            })),
            media: CallMedia {
                sdp,
                rtp_port,
                pending_offer: None,
            },
            caller,
            span: span.clone(),
            unconfirmed_from: Some(source),
            started: now,
            session,
        };
        *self.unconfirmed.entry(source).or_insert(0) += 1;
        self.callers.calls.insert(handle, call);
        Some((handle, info))
    }

    /// 180 Ringing (with our Contact) to a caller not answered yet.
    pub fn send_ringing(&mut self, now: Time, handle: CallHandle) {
        let Some(call) = self.callers.calls.get(&handle) else {
            return;
        };
        let CallState::Ringing(ringing) = &call.state else {
            return;
        };
        let (invite_tx, req) = (ringing.invite_tx, ringing.invite.clone());
        let mut ringing = self.call_response(handle, &req, 180);
        self.add_contact(&mut ringing, handle, &req);
        self.respond(now, invite_tx, ringing);
    }

    /// Whether `call` has not had a final response yet.
    pub fn is_ringing(&self, call: CallHandle) -> bool {
        self.callers.calls.get(&call).is_some_and(Call::is_ringing)
    }

    /// Answers a ringing caller now (200 OK with our SDP).
    pub fn answer_now(&mut self, now: Time, handle: CallHandle) {
        let Some(call) = self.callers.calls.get_mut(&handle) else {
            return;
        };
        let Some(Ringing {
            invite_tx,
            invite,
            answer,
        }) = call.stop_ringing(CallState::Answered)
        else {
            return;
        };
        let span = call.span.clone();
        let _enter = span.enter();
        self.callers.ringing.remove(&invite_tx);
        self.answer(now, handle, invite_tx, &invite, answer);
    }

    /// Sends the 200 OK to the initial INVITE: our answer, or our offer for a late offer.
    fn answer(
        &mut self,
        now: Time,
        handle: CallHandle,
        tx: ServerTxId,
        req: &Request,
        answer: Option<SessionDescription>,
    ) {
        let Some(call) = self.callers.calls.get_mut(&handle) else {
            return;
        };
        let body = match answer {
            Some(answer) => answer,
            None => {
                // Late offer (§13.2.1): we offer in the 200, the answer comes in the ACK.
                call.media.pending_offer = Some(PendingOffer {
                    cseq: call.dialog.remote_cseq.unwrap_or(0),
                });
                call.media.sdp.offer(crate::sip::sdp::Direction::SendRecv)
            }
        };
        call.state = CallState::Answered;
        let media = call.media.sdp.negotiated().cloned();
        let event = Event::CallAnswered {
            call: handle,
            call_id: call.dialog.call_id.clone(),
            queue: call.queue.clone(),
            rtp_port: call.media.rtp_port,
            media,
        };
        let mut resp = self.call_response(handle, req, 200);
        self.add_contact(&mut resp, handle, req);
        reply::add_capabilities(&mut resp);
        // §12.1.1: the UAS copies Record-Route into its 2xx.
        for rr in req.headers.get_all(&HeaderName::RecordRoute) {
            resp.headers.push(HeaderName::RecordRoute, rr.to_owned());
        }
        self.add_session_headers(&mut resp, handle);
        set_sdp(&mut resp, &body);
        self.respond(now, tx, resp);
        self.arm_session_timer(now, handle);
        tracing::info!("answered");
        self.out.media.push_back(event);
    }

    /// §9.2: CANCEL gets 200 (or 481 when it matches no INVITE); a still-ringing INVITE then
    /// gets 487 and the call is gone. A CANCEL after the final response changes nothing.
    pub(super) fn on_cancel(
        &mut self,
        now: Time,
        tx: ServerTxId,
        invite: Option<ServerTxId>,
        req: &Request,
    ) {
        let handle = invite.and_then(|i| self.callers.ringing.get(&i).copied());
        let Some(invite) = invite else {
            let resp = self.response(req, 481, None);
            return self.respond(now, tx, resp);
        };
        let Some(handle) = handle else {
            let resp = self.response(req, 200, None);
            return self.respond(now, tx, resp);
        };
        // §9.2: the To tag of the CANCEL's 200 should equal the one in the INVITE's responses.
        let ok = self.call_response(handle, req, 200);
        self.respond(now, tx, ok);
        if let Some(call) = self.callers.calls.get_mut(&handle) {
            if let Some(ringing) = call.stop_ringing(CallState::Ending) {
                let span = call.span.clone();
                let _enter = span.enter();
                tracing::info!("caller cancelled");
                let terminated = self.call_response(handle, &ringing.invite, 487);
                self.respond(now, invite, terminated);
            }
        }
        self.callers.ringing.remove(&invite);
        self.finish(handle, EndReason::CallerCancelled);
    }

    /// §15.1.2: BYE gets 200 and the call is over.
    fn on_bye(&mut self, now: Time, tx: ServerTxId, handle: CallHandle, req: &Request) {
        let resp = self.call_response(handle, req, 200);
        self.respond(now, tx, resp);
        tracing::info!("caller hung up");
        // A BYE for a call whose INVITE is still pending (§15.1.2 allows it after a 2xx
        // only, but be liberal): answer the INVITE too.
        if let Some(call) = self.callers.calls.get_mut(&handle) {
            if let Some(ringing) = call.stop_ringing(CallState::Ending) {
                let terminated = self.call_response(handle, &ringing.invite, 487);
                self.respond(now, ringing.invite_tx, terminated);
                self.callers.ringing.remove(&ringing.invite_tx);
            }
        }
        self.finish(handle, EndReason::CallerHungUp);
    }

    /// Ends a call from our side: a final `status` to a ringing INVITE, else BYE. Either
    /// carries `Reason: SIP;cause=status` with `why` (RFC 3326).
    pub fn hang_up(&mut self, now: Time, handle: CallHandle, status: u16, why: &str) {
        let Some(call) = self.callers.calls.get_mut(&handle) else {
            return;
        };
        if let Some(ringing) = call.stop_ringing(CallState::Ending) {
            // A call that never got its 200 can only be refused (§21.4–21.6): a success
            // `status` (the other side's normal hang-up) becomes 480.
            let status = if status < 300 { 480 } else { status };
            let mut resp = self.call_response(handle, &ringing.invite, status);
            resp.headers.push(
                HeaderName::Reason,
                format!("SIP;cause={status};text=\"{}\"", why.replace('"', "'")),
            );
            self.respond(now, ringing.invite_tx, resp);
            self.callers.ringing.remove(&ringing.invite_tx);
            self.finish(handle, EndReason::ServerHungUp);
        } else {
            self.send_bye(now, handle, status, why);
        }
    }

    /// Sends BYE on an answered call (§15.1.1) with `Reason: SIP;cause={cause}` (RFC 3326);
    /// the call ends when the BYE's transaction does.
    pub fn send_bye(&mut self, now: Time, handle: CallHandle, cause: u16, why: &str) {
        let Some(call) = self.callers.calls.get(&handle) else {
            return;
        };
        if call.state == CallState::Ending {
            return;
        }
        let (flow, local) = (call.flow, call.local);
        let via = self.new_via(&flow, local);
        let user_agent = self.endpoint.user_agent.clone();
        let Some(call) = self.callers.calls.get_mut(&handle) else {
            return;
        };
        call.state = CallState::Ending;
        let mut bye = call.dialog.request(Method::Bye, &via);
        // RFC 3326: say why we hang up.
        bye.headers.push(
            HeaderName::Reason,
            format!("SIP;cause={cause};text=\"{}\"", why.replace('"', "'")),
        );
        if !user_agent.is_empty() {
            bye.headers.push(HeaderName::UserAgent, user_agent);
        }
        match self.tx.send_request(now, bye, flow) {
            Ok(id) => {
                self.callers.byes.insert(id, handle);
            }
            Err(err) => {
                tracing::warn!(%err, "could not send BYE");
                self.finish(handle, EndReason::ServerHungUp);
            }
        }
    }

    /// Forgets a call: its dialog, timers and RTP port; tells the media plane.
    pub(super) fn finish(&mut self, handle: CallHandle, reason: EndReason) {
        self.settle_unconfirmed(handle);
        let Some(call) = self.callers.calls.remove(&handle) else {
            return;
        };
        self.dialogs
            .remove(&(call.dialog.call_id.clone(), call.dialog.local_tag.clone()));
        self.callers.ringing.retain(|_, h| *h != handle);
        self.callers.byes.retain(|_, h| *h != handle);
        self.callers.refers.retain(|_, h| *h != handle);
        self.callers.refreshes.retain(|_, h| *h != handle);
        self.ports.release(call.media.rtp_port);
        self.session_due
            .clear(call.session.as_ref().and_then(|t| t.due), handle);
        call.span.in_scope(|| tracing::info!(?reason, "call ended"));
        self.out
            .events
            .push_back(LegEvent::CallerGone { call: handle });
        self.out.media.push_back(Event::CallEnded {
            call: handle,
            call_id: call.dialog.call_id,
            rtp_port: call.media.rtp_port,
            reason,
        });
    }

    /// Answers 488 (or 400 for a malformed body) with a Warning (§20.43), leaving any session
    /// as it was.
    pub(super) fn reject_sdp(
        &mut self,
        now: Time,
        tx: ServerTxId,
        req: &Request,
        tag: &str,
        err: &SdpError,
    ) {
        let mut resp = self.response(req, err.status_code(), Some(tag));
        if let Some(code) = err.warning_code() {
            let host = self
                .endpoint
                .public_host
                .clone()
                .unwrap_or_else(|| "holdline".into());
            resp.headers.push(
                HeaderName::Warning,
                format!("{code} {host} \"{}\"", err.to_string().replace('"', "'")),
            );
        }
        if err.status_code() == 488 {
            resp.headers.push(HeaderName::Accept, reply::ACCEPT);
        }
        self.respond(now, tx, resp);
    }

    /// A response inside a call's dialog, carrying the call's To tag.
    pub(super) fn call_response(
        &mut self,
        handle: CallHandle,
        req: &Request,
        status: u16,
    ) -> Response {
        let tag = self
            .callers
            .calls
            .get(&handle)
            .map(|c| c.dialog.local_tag.clone());
        self.response(req, status, tag.as_deref())
    }

    pub(super) fn add_contact(&self, resp: &mut Response, handle: CallHandle, req: &Request) {
        let Some(call) = self.callers.calls.get(&handle) else {
            return;
        };
        let contact = self.contact(call.flow.transport, call.local, Some(&req.uri));
        resp.headers.push(HeaderName::Contact, contact);
    }
}

/// The SDP in a request's body, if any. Content-Type was checked by [`precheck`].
pub(super) fn parse_body(req: &Request) -> Result<Option<SessionDescription>, SdpError> {
    if req.body.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(None);
    }
    SessionDescription::parse(&req.body).map(Some)
}

pub(super) fn set_sdp(resp: &mut Response, sdp: &SessionDescription) {
    resp.headers
        .push(HeaderName::ContentType, "application/sdp");
    resp.body = sdp.to_bytes();
}
