//! The UAS side of caller dialogs (RFC 3261 §8.2, §12, §13.3, §14.2, §15; RFC 3264; RFC 3311):
//! answering INVITEs on service numbers, ACK, CANCEL, BYE, re-INVITE and UPDATE for hold,
//! resume and session refresh, OPTIONS keepalives.

use std::net::SocketAddr;

use crate::sip::header::{split_list, HeaderName};
use crate::sip::message::{Request, Response};
use crate::sip::method::Method;
use crate::sip::sdp::{LocalMedia, LocalSession, SdpError, SessionDescription};
use crate::sip::transaction::{response_destination, ServerTxId};
use crate::sip::transport::Peer;
use crate::time::Time;

use super::call::{Call, CallHandle, CallState, PendingOffer};
use super::core::{CallTimer, Core, DialogRef, EndReason, Event};
use super::precheck;
use super::reply;

impl Core {
    /// A new request (not ACK, not CANCEL) with its server transaction.
    pub(crate) fn on_request(
        &mut self,
        now: Time,
        tx: ServerTxId,
        req: Request,
        from: Peer,
        local: SocketAddr,
    ) {
        if let Err(rej) = precheck::check(&req) {
            let mut resp = self.response(&req, rej.status, None);
            for (name, value) in rej.headers {
                resp.headers.push(name, value);
            }
            return self.respond(now, tx, resp);
        }
        let Some(to_tag) = req.headers.to().and_then(|t| t.tag().map(str::to_owned)) else {
            return self.on_out_of_dialog(now, tx, req, from, local);
        };
        let call_id = req.headers.call_id().unwrap_or_default().to_owned();
        let handle = match self.dialogs.get(&(call_id, to_tag)) {
            Some(&DialogRef::Caller(handle)) => handle,
            Some(&DialogRef::Agent(leg)) => return self.on_agent_request(now, tx, leg, req),
            // §12.2.2: a request with a To tag that matches no dialog gets 481.
            None => return self.respond_status(now, tx, &req, 481),
        };
        let span = self.calls.get(&handle).map(|c| c.span.clone());
        let _enter = span.map(|s| s.entered());
        match req.method {
            Method::Invite | Method::Update => self.on_offer_in_dialog(now, tx, handle, req),
            Method::Bye => self.on_bye(now, tx, handle, &req),
            Method::Options => self.on_options(now, tx, &req),
            // A caller cannot make holdline call someone else (RFC 3515 §2.4.2 lets the
            // recipient refuse; toll fraud): only agents transfer.
            Method::Refer => self.respond_status(now, tx, &req, 403),
            Method::Notify => self.on_caller_notify(now, tx, handle, &req),
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
    ) {
        match req.method {
            Method::Invite => self.on_invite(now, tx, req, from, local),
            Method::Options => self.on_options(now, tx, &req),
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

    fn on_invite(
        &mut self,
        now: Time,
        tx: ServerTxId,
        req: Request,
        from: Peer,
        local: SocketAddr,
    ) {
        let tag = self.new_tag();
        if self.draining {
            let mut resp = self.response(&req, 503, Some(&tag));
            resp.headers.push(HeaderName::RetryAfter, "30");
            return self.respond(now, tx, resp);
        }
        // Every number that reaches no queue gets the same 404, so scanners learn nothing.
        let Some(queue) = self.directory.lookup(&req.uri).cloned() else {
            let resp = self.response(&req, 404, Some(&tag));
            return self.respond(now, tx, resp);
        };
        let offer = match parse_body(&req) {
            Ok(offer) => offer,
            Err(err) => return self.reject_sdp(now, tx, &req, &tag, &err),
        };
        let Some(rtp_port) = self.ports.reserve() else {
            tracing::warn!("no free RTP port; refusing the call");
            let resp = self.response(&req, 503, Some(&tag));
            return self.respond(now, tx, resp);
        };
        let session_id = u64::from(self.rng_u32());
        let media_ip = self.media_ip(local, &req.uri);
        let mut sdp = LocalSession::new(LocalMedia::new(media_ip, rtp_port, session_id));
        // Negotiate before ringing so an unusable offer gets 488 at once (§13.3.1.1).
        let answer = match &offer {
            Some(offer) => match sdp.answer(offer) {
                Ok((answer, _)) => Some(answer),
                Err(err) => {
                    self.ports.release(rtp_port);
                    return self.reject_sdp(now, tx, &req, &tag, &err);
                }
            },
            None => None,
        };
        let call_id = req.headers.call_id().unwrap_or_default().to_owned();
        let handle = self.new_handle();
        let remote_target = req
            .headers
            .contacts()
            .into_iter()
            .next()
            .map(|c| c.uri)
            .or_else(|| req.headers.from().map(|f| f.uri))
            .unwrap_or_else(|| req.uri.clone());
        let flow = match req.headers.top_via() {
            Some(via) => response_destination(&via, from),
            None => from,
        };
        let from_header = req.headers.from();
        let caller_display = from_header
            .as_ref()
            .and_then(|f| f.display.as_deref())
            .map(|d| d.trim_matches('"').to_owned())
            .filter(|d| !d.is_empty());
        let caller_uri = from_header.map(|f| f.uri);
        let call = Call {
            handle,
            queue: queue.clone(),
            call_id: call_id.clone(),
            local_tag: tag.clone(),
            local_party: format!(
                "{};tag={tag}",
                req.headers.get(&HeaderName::To).unwrap_or_default()
            ),
            remote_party: req
                .headers
                .get(&HeaderName::From)
                .unwrap_or_default()
                .to_owned(),
            remote_target,
            route_set: req
                .headers
                .get_all(&HeaderName::RecordRoute)
                .flat_map(split_list)
                .map(str::to_owned)
                .collect(),
            flow,
            remote_cseq: req.headers.cseq().map(|c| c.seq).unwrap_or(0),
            local_cseq: self.rng_u32() % 10_000,
            state: CallState::Ringing {
                invite_tx: tx,
                answer_at: now,
            },
            sdp,
            rtp_port,
            pending_offer: None,
            ring: None,
            local,
            span: tracing::info_span!("call", call_id = %call_id),
            caller_display,
            caller_uri,
            dialled: req.uri.clone(),
            bridged: None,
            // RFC 3261 §20.5: the methods the caller's side accepts; REFER lets a forward be
            // handed to it (RFC 3515) instead of dialled by us.
            allows_refer: req
                .headers
                .list(&HeaderName::Allow)
                .any(|m| m.eq_ignore_ascii_case("REFER")),
            started: now,
        };
        let span = call.span.clone();
        let _enter = span.enter();
        tracing::info!(queue = %queue, uri = %req.uri, "incoming call");
        self.dialogs
            .insert((call_id, tag), DialogRef::Caller(handle));
        self.calls.insert(handle, call);
        self.ringing.insert(tx, handle);
        let caller = crate::queue::types::CallerInfo {
            from: req
                .headers
                .from()
                .map(|f| f.uri.to_string())
                .unwrap_or_default(),
            display: self
                .calls
                .get(&handle)
                .and_then(|c| c.caller_display.clone()),
        };
        if let Some(call) = self.calls.get_mut(&handle) {
            call.ring = Some((req, answer));
        }
        // The engine decides: answer (greeting, music, agents), or 486 / forward / 480 before
        // answering. Its actions are carried out when this input settles.
        match self.engine.call_arrived(now, &queue, caller) {
            Ok(qcall) => {
                self.queue_calls.insert(qcall, handle);
                self.queue_call_of.insert(handle, qcall);
            }
            Err(err) => {
                tracing::warn!(%err, "the queue engine refused the call");
                self.hang_up(now, handle, 503, "queue unavailable");
            }
        }
    }

    /// 180 Ringing (with our Contact) to a caller not answered yet.
    pub(crate) fn send_ringing(&mut self, now: Time, handle: CallHandle) {
        let Some(call) = self.calls.get(&handle) else {
            return;
        };
        let CallState::Ringing { invite_tx, .. } = call.state else {
            return;
        };
        let Some((req, _)) = call.ring.clone() else {
            return;
        };
        let mut ringing = self.call_response(handle, &req, 180);
        self.add_contact(&mut ringing, handle, &req);
        self.respond(now, invite_tx, ringing);
    }

    /// Answers a ringing caller now (200 OK with our SDP).
    pub(crate) fn answer_now(&mut self, now: Time, handle: CallHandle) {
        let Some(call) = self.calls.get_mut(&handle) else {
            return;
        };
        let CallState::Ringing { invite_tx, .. } = call.state else {
            return;
        };
        let Some((req, answer)) = call.ring.take() else {
            return;
        };
        let span = call.span.clone();
        let _enter = span.enter();
        self.ringing.remove(&invite_tx);
        self.answer(now, handle, invite_tx, &req, answer);
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
        let Some(call) = self.calls.get_mut(&handle) else {
            return;
        };
        let body = match answer {
            Some(answer) => answer,
            None => {
                // Late offer (§13.2.1): we offer in the 200, the answer comes in the ACK.
                call.pending_offer = Some(PendingOffer {
                    cseq: call.remote_cseq,
                });
                call.sdp.offer(crate::sip::sdp::Direction::SendRecv)
            }
        };
        call.state = CallState::Answered;
        let media = call.sdp.negotiated().cloned();
        let event = Event::CallAnswered {
            call: handle,
            call_id: call.call_id.clone(),
            queue: call.queue.clone(),
            rtp_port: call.rtp_port,
            media,
        };
        let mut resp = self.call_response(handle, req, 200);
        self.add_contact(&mut resp, handle, req);
        reply::add_capabilities(&mut resp);
        // §12.1.1: the UAS copies Record-Route into its 2xx.
        for rr in req.headers.get_all(&HeaderName::RecordRoute) {
            resp.headers.push(HeaderName::RecordRoute, rr.to_owned());
        }
        set_sdp(&mut resp, &body);
        self.respond(now, tx, resp);
        tracing::info!("answered");
        self.events.push_back(event);
    }

    pub(crate) fn on_call_timer(&mut self, now: Time, handle: CallHandle, timer: CallTimer) {
        match timer {
            CallTimer::Answer => self.answer_now(now, handle),
            CallTimer::Refer => self.refer_timed_out(now, handle),
            CallTimer::GreetingEnd => self.greeting_finished(now, handle),
        }
    }

    /// §9.2: CANCEL gets 200 (or 481 when it matches no INVITE); a still-ringing INVITE then
    /// gets 487 and the call is gone. A CANCEL after the final response changes nothing.
    pub(crate) fn on_cancel(
        &mut self,
        now: Time,
        tx: ServerTxId,
        invite: Option<ServerTxId>,
        req: &Request,
    ) {
        let handle = invite.and_then(|i| self.ringing.get(&i).copied());
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
        if let Some(call) = self.calls.get_mut(&handle) {
            if let Some((invite_req, _)) = call.ring.take() {
                let span = call.span.clone();
                let _enter = span.enter();
                tracing::info!("caller cancelled");
                let terminated = self.call_response(handle, &invite_req, 487);
                self.respond(now, invite, terminated);
            }
        }
        self.ringing.remove(&invite);
        self.finish(handle, EndReason::CallerCancelled);
    }

    /// An ACK: for our 2xx (confirms the dialog, may carry the answer to our offer), or stray.
    pub(crate) fn on_ack(&mut self, now: Time, req: &Request) {
        let Some(tag) = req.headers.to().and_then(|t| t.tag().map(str::to_owned)) else {
            return;
        };
        let call_id = req.headers.call_id().unwrap_or_default().to_owned();
        let Some(&DialogRef::Caller(handle)) = self.dialogs.get(&(call_id, tag)) else {
            return;
        };
        let Some(call) = self.calls.get_mut(&handle) else {
            return;
        };
        let span = call.span.clone();
        let _enter = span.enter();
        if call.state == CallState::Answered {
            call.state = CallState::Confirmed;
            tracing::debug!("ACK received; call confirmed");
        }
        let ack_cseq = req.headers.cseq().map(|c| c.seq);
        let Some(pending) = call.pending_offer else {
            return;
        };
        if ack_cseq != Some(pending.cseq) {
            return;
        }
        call.pending_offer = None;
        // §13.2.1 / RFC 3264 §5: the answer to the offer in our 2xx. An ACK without one, or
        // with an unusable one, leaves no session: hang up (§13.3.1.4 lets the UAS send BYE).
        let outcome = match parse_body(req) {
            Ok(Some(answer)) => call.sdp.process_answer(&answer).map_err(|e| e.to_string()),
            Ok(None) => {
                call.sdp.offer_rejected();
                Err("the ACK carried no SDP answer".to_owned())
            }
            Err(e) => {
                call.sdp.offer_rejected();
                Err(e.to_string())
            }
        };
        match outcome {
            Ok(media) => self.events.push_back(Event::MediaUpdated {
                call: handle,
                media,
            }),
            Err(why) => {
                tracing::info!(%why, "unusable answer in ACK; hanging up");
                if call.sdp.negotiated().is_none() {
                    self.send_bye(now, handle, 488, "no usable SDP answer");
                }
            }
        }
    }

    /// re-INVITE (§14.2) or UPDATE (RFC 3311): hold, resume, session refresh, target refresh.
    fn on_offer_in_dialog(&mut self, now: Time, tx: ServerTxId, handle: CallHandle, req: Request) {
        let cseq = req.headers.cseq().map(|c| c.seq).unwrap_or(0);
        let Some(call) = self.calls.get_mut(&handle) else {
            return;
        };
        // §12.2.2: a CSeq lower than the last one is out of order: 500.
        if cseq <= call.remote_cseq {
            let resp = self.call_response(handle, &req, 500);
            return self.respond(now, tx, resp);
        }
        call.remote_cseq = cseq;
        if call.state == CallState::Ending {
            let resp = self.call_response(handle, &req, 481);
            return self.respond(now, tx, resp);
        }
        // §14.2 / RFC 3264 §4: while our own offer awaits its answer, a new offer collides.
        if call.pending_offer.is_some() || call.is_ringing() {
            let mut resp = self.call_response(handle, &req, 491);
            resp.headers.push(HeaderName::RetryAfter, "1");
            return self.respond(now, tx, resp);
        }
        // §12.2.2: a target-refresh request updates the remote target.
        if let Some(contact) = req.headers.contacts().into_iter().next() {
            call.remote_target = contact.uri;
        }
        let body = match parse_body(&req) {
            Ok(Some(offer)) => match call.sdp.answer(&offer) {
                Ok((answer, media)) => {
                    let direction = media.direction;
                    tracing::info!(?direction, hold = media.hold, "media renegotiated");
                    self.events.push_back(Event::MediaUpdated {
                        call: handle,
                        media,
                    });
                    Some(answer)
                }
                Err(err) => {
                    // RFC 3264 §8 / RFC 3261 §14.2: a refused re-offer leaves the session as is.
                    let tag = call.local_tag.clone();
                    return self.reject_sdp(now, tx, &req, &tag, &err);
                }
            },
            Ok(None) if req.method == Method::Invite => {
                // A re-INVITE without SDP (§14.2): we offer in the 200 what we want
                // (RFC 6337 §5: the peer states its own hold in its answer, in the ACK).
                call.pending_offer = Some(PendingOffer { cseq });
                Some(call.sdp.reoffer())
            }
            // An UPDATE without SDP only refreshes the session (RFC 3311 §5.2).
            Ok(None) => None,
            Err(err) => {
                let tag = call.local_tag.clone();
                return self.reject_sdp(now, tx, &req, &tag, &err);
            }
        };
        let mut resp = self.call_response(handle, &req, 200);
        self.add_contact(&mut resp, handle, &req);
        if req.method == Method::Invite {
            reply::add_capabilities(&mut resp);
        }
        if let Some(body) = body {
            set_sdp(&mut resp, &body);
        }
        self.respond(now, tx, resp);
    }

    /// §15.1.2: BYE gets 200 and the call is over.
    fn on_bye(&mut self, now: Time, tx: ServerTxId, handle: CallHandle, req: &Request) {
        let resp = self.call_response(handle, req, 200);
        self.respond(now, tx, resp);
        tracing::info!("caller hung up");
        // A BYE for a call whose INVITE is still pending (§15.1.2 allows it after a 2xx
        // only, but be liberal): answer the INVITE too.
        if let Some(call) = self.calls.get_mut(&handle) {
            if let (CallState::Ringing { invite_tx, .. }, Some((invite, _))) =
                (call.state.clone(), call.ring.take())
            {
                let terminated = self.call_response(handle, &invite, 487);
                self.respond(now, invite_tx, terminated);
                self.ringing.remove(&invite_tx);
            }
        }
        self.finish(handle, EndReason::CallerHungUp);
    }

    /// Ends a call from our side: a final error to a ringing INVITE, BYE to an answered call.
    pub(crate) fn hang_up(&mut self, now: Time, handle: CallHandle, status: u16, why: &str) {
        let Some(call) = self.calls.get_mut(&handle) else {
            return;
        };
        if let CallState::Ringing { invite_tx, .. } = call.state {
            if let Some((invite, _)) = call.ring.take() {
                let mut resp = self.call_response(handle, &invite, status);
                resp.headers.push(
                    HeaderName::Reason,
                    format!("SIP;cause={status};text=\"{}\"", why.replace('"', "'")),
                );
                self.respond(now, invite_tx, resp);
            }
            self.ringing.remove(&invite_tx);
            self.finish(handle, EndReason::ServerHungUp);
        } else {
            self.send_bye(now, handle, status, why);
        }
    }

    /// Hangs up a caller from our side (RTP timeout, queue timeout, an admin): a final
    /// `status` to a ringing INVITE, else BYE. Either carries `Reason: SIP;cause=status` with
    /// `why` (RFC 3326).
    pub fn hang_up_call(&mut self, now: Time, call: CallHandle, status: u16, why: &str) {
        self.hang_up(now, call, status, why);
        self.settle(now);
    }

    /// Sends BYE on an answered call (§15.1.1) with `Reason: SIP;cause={cause}` (RFC 3326);
    /// the call ends when the BYE's transaction does.
    pub(crate) fn send_bye(&mut self, now: Time, handle: CallHandle, cause: u16, why: &str) {
        let Some(call) = self.calls.get(&handle) else {
            return;
        };
        if call.state == CallState::Ending {
            return;
        }
        let (flow, local) = (call.flow, call.local);
        let via = self.new_via(&flow, local);
        let user_agent = self.user_agent.clone();
        let Some(call) = self.calls.get_mut(&handle) else {
            return;
        };
        call.state = CallState::Ending;
        let mut bye = call.request(Method::Bye, &via);
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
                self.byes.insert(id, handle);
            }
            Err(err) => {
                tracing::warn!(%err, "could not send BYE");
                self.finish(handle, EndReason::ServerHungUp);
            }
        }
    }

    /// Forgets a call: its dialog, timers and RTP port; tells the media plane.
    pub(crate) fn finish(&mut self, handle: CallHandle, reason: EndReason) {
        let Some(call) = self.calls.remove(&handle) else {
            return;
        };
        self.dialogs
            .remove(&(call.call_id.clone(), call.local_tag.clone()));
        self.timers.retain(|(_, h, _)| *h != handle);
        self.ringing.retain(|_, h| *h != handle);
        self.byes.retain(|_, h| *h != handle);
        self.ports.release(call.rtp_port);
        self.ended_calls.push_back(handle);
        call.span.in_scope(|| tracing::info!(?reason, "call ended"));
        self.events.push_back(Event::CallEnded {
            call: handle,
            call_id: call.call_id,
            rtp_port: call.rtp_port,
            reason,
        });
    }

    /// Answers 488 (or 400 for a malformed body) with a Warning (§20.43), leaving any session
    /// as it was.
    fn reject_sdp(&mut self, now: Time, tx: ServerTxId, req: &Request, tag: &str, err: &SdpError) {
        let mut resp = self.response(req, err.status_code(), Some(tag));
        if let Some(code) = err.warning_code() {
            let host = self
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

    /// A response to `req` with the §8.2.6 headers, our To tag (a fresh one when `tag` is
    /// `None` and the request has none) and Server.
    pub(crate) fn response(&mut self, req: &Request, status: u16, tag: Option<&str>) -> Response {
        let fresh;
        let tag = match tag {
            Some(t) => t,
            None => {
                fresh = self.new_tag();
                &fresh
            }
        };
        let mut resp = crate::sip::transaction::response_for(req, status, Some(tag));
        self.add_server_header(&mut resp);
        resp
    }

    /// A response inside a call's dialog, carrying the call's To tag.
    pub(crate) fn call_response(
        &mut self,
        handle: CallHandle,
        req: &Request,
        status: u16,
    ) -> Response {
        let tag = self.calls.get(&handle).map(|c| c.local_tag.clone());
        self.response(req, status, tag.as_deref())
    }

    fn add_contact(&self, resp: &mut Response, handle: CallHandle, req: &Request) {
        let Some(call) = self.calls.get(&handle) else {
            return;
        };
        let (host, port) = self.advertised(call.flow.transport, call.local, Some(&req.uri));
        let transport = match call.flow.transport {
            crate::sip::transport::Transport::Udp => String::new(),
            t => format!(";transport={}", t.as_via_str().to_ascii_lowercase()),
        };
        resp.headers.push(
            HeaderName::Contact,
            format!("<sip:{host}:{port}{transport}>"),
        );
    }

    pub(crate) fn respond(&mut self, now: Time, tx: ServerTxId, resp: Response) {
        let answer = super::provisioning::answer_key(&resp);
        match self.tx.respond(now, tx, resp) {
            Ok(()) => self.count_answer(answer),
            Err(err) => tracing::warn!(%err, "could not send a response"),
        }
    }

    pub(crate) fn rng_u32(&mut self) -> u32 {
        rand::Rng::gen(&mut self.rng)
    }
}

/// The SDP in a request's body, if any. Content-Type was checked by [`precheck`].
fn parse_body(req: &Request) -> Result<Option<SessionDescription>, SdpError> {
    if req.body.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(None);
    }
    SessionDescription::parse(&req.body).map(Some)
}

fn set_sdp(resp: &mut Response, sdp: &SessionDescription) {
    resp.headers
        .push(HeaderName::ContentType, "application/sdp");
    resp.body = sdp.to_bytes();
}
