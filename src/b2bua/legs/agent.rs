//! Agent legs: holdline as the UAC that rings an agent's phone (RFC 3261 §8.1, §9, §12.1.2,
//! §13.2, §15; RFC 3264 offer in the INVITE).
//!
//! ```text
//!  ring_agent ──► Calling ──1xx──► Ringing ──2xx (ACK sent)──► Answered ──BYE──► (gone)
//!                    │                │
//!                    └──cancel_leg────┴──► Cancelling ──487──► (gone)
//!                                            └─crossing 2xx: ACK, then BYE (§9.1, §15)
//! ```
//!
//! Forked answers (§13.2.2.4): the first 2xx wins; every other 2xx, from another branch of the
//! fork, is ACKed and then ended with BYE. What to ring and when is the queue engine's call;
//! this module only does the signalling and reports what happened as [`Event`]s.

use std::net::{IpAddr, SocketAddr};

use crate::config::TrunkAuth;
use crate::sip::dialog::Dialog;
use crate::sip::header::HeaderName;
use crate::sip::message::{Request, Response};
use crate::sip::method::Method;
use crate::sip::sdp::{Direction, LocalMedia, LocalSession, NegotiatedMedia, SessionDescription};
use crate::sip::transaction::build_cancel;
use crate::sip::transport::{Peer, Transport};
use crate::sip::typed::{quote_display, NameAddr};
use crate::sip::uri::{Host, Scheme, Uri};
use crate::time::Time;

use super::call::CallHandle;
use super::{DialogRef, LegEvent, Legs};
use crate::b2bua::core::Event;

/// holdline's handle for one agent leg.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LegHandle(pub u64);

/// What to ring.
#[derive(Clone, Debug)]
pub struct RingRequest {
    /// The caller this leg is for.
    pub call: CallHandle,
    /// The agent's contact (registered or static).
    pub target: Uri,
    /// Where to send the INVITE; derived from `target` when it names an IP address.
    pub dest: Option<Peer>,
    /// Shown on the agent's phone: `"Caller Name via UK Sales"` (the queue name ≤ 64 chars).
    pub display_name: String,
    /// The caller's identity, for From and P-Asserted-Identity.
    pub caller: Option<Uri>,
    /// The service number or address the caller dialled, for History-Info (RFC 7044).
    pub dialled: Option<Uri>,
    /// Credentials for answering a 401 / 407 challenge: a trunk's `auth`. Agents' phones are
    /// never sent credentials.
    pub auth: Option<TrunkAuth>,
    /// Route header values, in order (a registered binding's Path, RFC 3327 §5.3).
    pub route: Vec<String>,
}

/// Why an agent leg did not connect, or ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LegOutcome {
    /// A final non-2xx from the agent: 486 busy, 603 decline, 480 unavailable …
    Refused(u16),
    /// No final response (Timer B) or the agent was unreachable.
    NoResponse,
    /// We cancelled it (another agent answered, the caller hung up, alert time over).
    Cancelled,
    /// An answered leg ended: by the agent's BYE or ours.
    HungUp,
}

/// Where an agent leg is. The dialog (the agent's tag, Contact and route set, §12.1.2) exists
/// from the 2xx on and belongs to the states that have one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LegState {
    Calling,
    Ringing,
    Answered(Box<Dialog>),
    /// CANCEL wanted; sent once a provisional response arrived (§9.1).
    Cancelling {
        cancel_sent: bool,
    },
    /// BYE sent.
    Ending(Box<Dialog>),
}

impl LegState {
    /// The dialog a 2xx made, in the states that have one.
    pub fn dialog(&self) -> Option<&Dialog> {
        match self {
            LegState::Answered(d) | LegState::Ending(d) => Some(d),
            _ => None,
        }
    }
}

/// A trunk's credentials and the challenges they answered on one leg.
#[derive(Debug)]
pub struct Credentials {
    pub auth: TrunkAuth,
    /// INVITEs resent with credentials so far.
    pub tries: u8,
    /// The (status, realm) challenges answered so far.
    pub answered: Vec<(u16, String)>,
}

/// One outbound INVITE dialog to an agent.
#[derive(Debug)]
pub struct Leg {
    pub call: CallHandle,
    pub call_id: String,
    pub local_tag: String,
    /// Our INVITE as last sent (a resend with credentials has a higher CSeq, §22.2).
    pub invite: Request,
    pub dest: Peer,
    pub state: LegState,
    pub sdp: LocalSession,
    pub rtp_port: u16,
    /// See [`RingRequest::auth`].
    pub credentials: Option<Credentials>,
    /// [`Event::LegRinging`] was reported.
    pub ring_reported: bool,
    /// The agent's 2xx carried no usable answer (§13.2.1), so the leg is hung up unbridged:
    /// it ends as a refusal (488), not as a call that took place.
    pub unusable_answer: bool,
    /// The media a provisional response's SDP answer set up (early media, RFC 3261
    /// §13.2.1), reported once; the 2xx repeats that answer.
    pub early: Option<NegotiatedMedia>,
    /// Our CANCEL says the call was answered on another device (RFC 3326 §2).
    pub completed_elsewhere: bool,
    /// The RFC 4028 session timer the 2xx agreed, if any.
    pub session: Option<super::session_timer::SessionTimer>,
}

/// RFC 3326 §2 (and RFC 3261 §9.1's use of it for forks): the Reason of a CANCEL sent because
/// another branch answered. Phones show no missed call for it.
pub const COMPLETED_ELSEWHERE: &str = "SIP;cause=200;text=\"Call completed elsewhere\"";

/// The CANCEL for `leg`'s INVITE (§9.1), with the Reason that says why when it was answered
/// elsewhere. Other causes (the caller hung up, the alert time ran out, the queue withdrew the
/// offer) carry no Reason: to the agent those are calls they missed, and RFC 3326 defines no
/// SIP cause for them that a phone would show otherwise.
fn leg_cancel(leg: &Leg) -> Request {
    let mut cancel = build_cancel(&leg.invite);
    if leg.completed_elsewhere {
        cancel.headers.push(HeaderName::Reason, COMPLETED_ELSEWHERE);
    }
    cancel
}

impl Legs {
    /// Sends an INVITE with our SDP offer to an agent. Returns `None` (and reports nothing)
    /// when the target cannot be reached without DNS or no RTP port is free.
    pub fn ring_agent(&mut self, now: Time, ring: RingRequest) -> Option<LegHandle> {
        self.ring_with(now, ring, Vec::new())
    }

    /// [`Legs::ring_agent`] with `extra` headers in the INVITE (a forward's `Diversion` and
    /// `History-Info` entries, see `switch::transfer`).
    pub fn ring_with(
        &mut self,
        now: Time,
        ring: RingRequest,
        extra: Vec<(HeaderName, String)>,
    ) -> Option<LegHandle> {
        self.ring_inner(now, ring, extra, None)
    }

    /// [`Legs::ring_with`] under `user_srtp`, the rung user's own SRTP policy (a trunk's,
    /// found by the SBC's address, applies otherwise).
    pub(super) fn ring_inner(
        &mut self,
        now: Time,
        ring: RingRequest,
        extra: Vec<(HeaderName, String)>,
        user_srtp: Option<crate::sip::sdp::SrtpPolicy>,
    ) -> Option<LegHandle> {
        let dest = ring.dest.or_else(|| peer_of(&ring.target))?;
        let srtp_policy = user_srtp.or_else(|| self.srtp.for_trunk(dest.addr.ip()));
        // RFC 4568 §8.3: SDES keys only over TLS; `required` places no leg otherwise.
        if srtp_policy == Some(crate::sip::sdp::SrtpPolicy::Required)
            && dest.transport != Transport::Tls
        {
            tracing::warn!(target = %ring.target, "SRTP is required but the target is not reached over TLS; not ringing it");
            return None;
        }
        let rtp_port = self.ports.reserve()?;
        let local = self.listener(dest.transport);
        let (host, port) = self.advertised(dest.transport, local, None);
        let media_ip = self.media_ip(local, None);
        let session_id = u64::from(self.rng_u32());
        let mut local_media = LocalMedia::new(media_ip, rtp_port, session_id);
        // Under a user's or a trunk's SRTP policy our offer follows it (`required`: RTP/SAVP
        // with a key of this leg's own).
        if let Some(policy) = srtp_policy {
            local_media.srtp = self.srtp_local(policy, dest.transport);
        }
        let mut sdp = LocalSession::new(local_media);
        let offer = sdp.offer(Direction::SendRecv);
        let handle = LegHandle(self.new_handle());
        let local_tag = self.new_tag();
        let call_id = format!("{:016x}{:016x}@{host}", self.rng_u64(), self.rng_u64());
        let via = self.new_via(&dest, local);
        let caller_uri = ring.caller.clone().unwrap_or_else(|| anonymous_uri(&host));
        let mut from = NameAddr::new(caller_uri.clone());
        from.display = Some(quote_display(&ring.display_name));
        from.params.set("tag", Some(&local_tag));

        let mut invite = Request::new(Method::Invite, ring.target.clone());
        let h = &mut invite.headers;
        h.push(HeaderName::Via, via);
        for route in &ring.route {
            h.push(HeaderName::Route, route.clone());
        }
        h.push(HeaderName::MaxForwards, "70");
        h.push(HeaderName::From, from.to_string());
        h.push(
            HeaderName::To,
            NameAddr::new(ring.target.clone()).to_string(),
        );
        h.push(HeaderName::CallId, call_id.clone());
        h.push(HeaderName::CSeq, "1 INVITE");
        // RFC 3261 §8.1.1.8: a SIPS Request-URI needs a SIPS Contact (over TLS, which a SIPS
        // target always gets).
        let contact = match (dest.transport, &ring.target) {
            (Transport::Tls, Uri::Sip(u)) if u.scheme == Scheme::Sips => {
                format!("<sips:{host}:{port}>")
            }
            (Transport::Udp, _) => format!("<sip:{host}:{port}>"),
            (t, _) => format!(
                "<sip:{host}:{port};transport={}>",
                t.as_via_str().to_ascii_lowercase()
            ),
        };
        h.push(HeaderName::Contact, contact);
        // RFC 3325: the caller's identity for phones that display it over From; an
        // identity given with the extra headers (a user's outbound call, whose From may be
        // anonymous) replaces it.
        let asserted = extra
            .iter()
            .any(|(n, _)| *n == HeaderName::PAssertedIdentity);
        if ring.caller.is_some() && !asserted {
            h.push(
                HeaderName::PAssertedIdentity,
                NameAddr::new(caller_uri).to_string(),
            );
        }
        // RFC 7044: the number the caller dialled, so the agent sees which service it was.
        if let Some(dialled) = &ring.dialled {
            h.push(HeaderName::HistoryInfo, format!("<{dialled}>;index=1"));
        }
        for (name, value) in extra {
            h.push(name, value);
        }
        h.push(HeaderName::Allow, crate::b2bua::reply::ALLOW);
        if !self.endpoint.user_agent.is_empty() {
            h.push(HeaderName::UserAgent, self.endpoint.user_agent.clone());
        }
        h.push(HeaderName::ContentType, "application/sdp");
        invite.body = offer.to_bytes();
        self.add_uac_session_headers(&mut invite);
        // After every header: the size decides the transport.
        let dest = self.large_request_over_tcp(dest, &mut invite);

        let invite_tx = match self.tx.send_request(now, invite.clone(), dest) {
            Ok(id) => id,
            Err(err) => {
                tracing::warn!(%err, "could not send INVITE to agent");
                self.ports.release(rtp_port);
                return None;
            }
        };
        self.agents.invites.insert(invite_tx, handle);
        self.dialogs.insert(
            (call_id.clone(), local_tag.clone()),
            DialogRef::Agent(handle),
        );
        self.agents.legs.insert(
            handle,
            Leg {
                call: ring.call,
                call_id,
                local_tag,
                invite,
                dest,
                state: LegState::Calling,
                sdp,
                rtp_port,
                credentials: ring.auth.map(|auth| Credentials {
                    auth,
                    tries: 0,
                    answered: Vec::new(),
                }),
                ring_reported: false,
                unusable_answer: false,
                early: None,
                completed_elsewhere: false,
                session: None,
            },
        );
        self.drain_transactions(now);
        Some(handle)
    }

    /// Stops ringing a device because the call was answered on another one (another contact
    /// of the same agent, another agent of the queue, another contact of a forward): the
    /// CANCEL carries `Reason: SIP;cause=200` (RFC 3326 §2) so the phone shows no missed call.
    pub fn cancel_leg_completed_elsewhere(&mut self, now: Time, leg: LegHandle) {
        if let Some(l) = self.agents.legs.get_mut(&leg) {
            l.completed_elsewhere = true;
        }
        self.cancel_leg(now, leg);
    }

    /// Stops ringing an agent (§9.1): CANCEL now if it has rung, else as soon as it does.
    /// Ends an answered leg with BYE.
    pub fn cancel_leg(&mut self, now: Time, leg: LegHandle) {
        let Some(l) = self.agents.legs.get_mut(&leg) else {
            return;
        };
        match l.state {
            LegState::Calling => l.state = LegState::Cancelling { cancel_sent: false },
            LegState::Ringing => {
                l.state = LegState::Cancelling { cancel_sent: true };
                let cancel = leg_cancel(l);
                let dest = l.dest;
                if let Err(err) = self.tx.send_request(now, cancel, dest) {
                    tracing::debug!(%err, "could not send CANCEL");
                }
            }
            LegState::Answered(_) => self.send_leg_bye(now, leg),
            LegState::Cancelling { .. } | LegState::Ending(_) => {}
        }
        self.drain_transactions(now);
    }

    /// A response on a leg's INVITE transaction.
    pub(super) fn on_leg_response(&mut self, now: Time, leg: LegHandle, resp: Response) {
        let Some(l) = self.agents.legs.get_mut(&leg) else {
            // A 2xx for a leg we already forgot (a late fork): ACK and BYE it.
            return;
        };
        if resp.is_provisional() {
            // The phone rings at its first 18x, which may follow a 100 (or a resend with
            // credentials); reported once.
            if resp.status > 100
                && !l.ring_reported
                && matches!(l.state, LegState::Calling | LegState::Ringing)
            {
                l.ring_reported = true;
                self.out.media.push_back(Event::LegRinging { leg });
            }
            self.note_early_media(leg, &resp);
            let Some(l) = self.agents.legs.get_mut(&leg) else {
                return;
            };
            match l.state {
                LegState::Calling => l.state = LegState::Ringing,
                LegState::Cancelling { cancel_sent: false } => {
                    // §9.1: the CANCEL waited for this provisional response.
                    l.state = LegState::Cancelling { cancel_sent: true };
                    let cancel = leg_cancel(l);
                    let dest = l.dest;
                    let _ = self.tx.send_request(now, cancel, dest);
                }
                _ => {}
            }
            return;
        }
        if !resp.is_success() {
            // The transaction ACKs a non-2xx itself (§17.1.1.3).
            if matches!(resp.status, 401 | 407)
                && matches!(l.state, LegState::Calling | LegState::Ringing)
                && self.resend_with_credentials(now, leg, &resp)
            {
                return;
            }
            let Some(l) = self.agents.legs.get_mut(&leg) else {
                return;
            };
            let outcome = match l.state {
                LegState::Cancelling { .. } => LegOutcome::Cancelled,
                _ => LegOutcome::Refused(resp.status),
            };
            if l.state.dialog().is_none() {
                self.finish_leg(leg, outcome);
            }
            return;
        }
        // A 2xx (§13.2.2.4): ACKed, every one of them. The first one makes the dialog; any
        // other, from another branch of a fork, is released with BYE.
        let made = Dialog::uac(&l.invite, &resp);
        let (dest, invite_cseq) = (l.dest, l.invite.headers.cseq().map_or(1, |c| c.seq));
        let known = l
            .state
            .dialog()
            .map(|d| d.remote_tag() == made.remote_tag());
        let local = self.listener(dest.transport);
        let via = self.new_via(&dest, local);
        self.tx.send_ack(&made.ack(invite_cseq, &via), dest);
        match known {
            // A retransmitted 2xx: the ACK above is all it needs.
            Some(true) => return,
            Some(false) => return self.bye_stray_fork(now, dest, made),
            None => {}
        }
        let Some(l) = self.agents.legs.get_mut(&leg) else {
            return;
        };
        if let LegState::Cancelling { .. } = l.state {
            // §9.1 race: the 200 crossed our CANCEL. The call exists now: end it with BYE.
            l.state = LegState::Answered(Box::new(made));
            self.send_leg_bye(now, leg);
            return;
        }
        l.state = LegState::Answered(Box::new(made));
        // After early media the offer is answered already (an unreliable 18x's answer is
        // repeated in the 2xx, RFC 3261 §13.2.1): that answer stands.
        let media = match SessionDescription::parse(&resp.body) {
            Ok(answer) => l.sdp.process_answer(&answer).ok().or(l.early.clone()),
            Err(_) => l.early.clone(),
        };
        let Some(media) = media else {
            // §13.2.1: a 2xx to our offer must carry an acceptable answer; without one there
            // is no session to bridge.
            tracing::info!("agent answered without a usable SDP answer; hanging up");
            l.unusable_answer = true;
            self.send_leg_bye(now, leg);
            return;
        };
        self.out.media.push_back(Event::LegAnswered {
            leg,
            call: l.call,
            rtp_port: l.rtp_port,
            media,
        });
        self.out.events.push_back(LegEvent::LegAnswered { leg });
        self.start_leg_timer(now, leg, &resp);
    }

    /// An 18x with an SDP answer while the leg rings: early media (RFC 3261 §13.2.1; RFC 3960
    /// §3: the far end's announcement or ring-back is for the caller to hear). Reported once
    /// to the switch, which decides whether the caller hears it (a forward's far end: it
    /// starts the stream with [`Legs::early_media`]) or not (an agent's phone rings while
    /// the caller hears its music).
    fn note_early_media(&mut self, leg: LegHandle, resp: &Response) {
        let Some(l) = self.agents.legs.get_mut(&leg) else {
            return;
        };
        if l.early.is_some()
            || resp.status == 100
            || resp.body.is_empty()
            || !matches!(l.state, LegState::Calling | LegState::Ringing)
        {
            return;
        }
        let Ok(answer) = SessionDescription::parse(&resp.body) else {
            return;
        };
        let Ok(media) = l.sdp.process_answer(&answer) else {
            return;
        };
        l.early = Some(media);
        self.out.events.push_back(LegEvent::LegEarlyMedia { leg });
    }

    /// The media plane's start of a ringing leg's early media, when it has any.
    pub fn early_media(&self, leg: LegHandle) -> Option<Event> {
        let l = self.agents.legs.get(&leg)?;
        if !matches!(l.state, LegState::Calling | LegState::Ringing) {
            return None;
        }
        Some(Event::LegEarlyMedia {
            leg,
            call: l.call,
            rtp_port: l.rtp_port,
            media: l.early.clone()?,
        })
    }

    /// A second 2xx from another fork: its dialog is not wanted (§13.2.2.4: ACK, then BYE
    /// with a CSeq above the INVITE's, §12.2.1.1).
    fn bye_stray_fork(&mut self, now: Time, dest: Peer, mut dialog: Dialog) {
        let local = self.listener(dest.transport);
        let via = self.new_via(&dest, local);
        let bye = dialog.request(Method::Bye, &via);
        let _ = self.tx.send_request(now, bye, dest);
    }

    /// BYE on an answered leg (§15.1.1).
    pub(super) fn send_leg_bye(&mut self, now: Time, leg: LegHandle) {
        let Some(l) = self.agents.legs.get_mut(&leg) else {
            return;
        };
        let dialog = match std::mem::replace(&mut l.state, LegState::Calling) {
            LegState::Answered(d) | LegState::Ending(d) => d,
            other => {
                l.state = other;
                return;
            }
        };
        l.state = LegState::Ending(dialog);
        match self.send_leg_request(now, leg, Method::Bye, Vec::new(), Vec::new()) {
            Some(id) => {
                self.agents.byes.insert(id, leg);
            }
            None => self.finish_leg(leg, LegOutcome::HungUp),
        }
    }

    /// A request of ours inside a leg's dialog (§12.2.1.1). `None` when the leg has no
    /// dialog (not answered) or the request could not be sent.
    pub(super) fn send_leg_request(
        &mut self,
        now: Time,
        leg: LegHandle,
        method: Method,
        headers: Vec<(HeaderName, String)>,
        body: Vec<u8>,
    ) -> Option<crate::sip::transaction::ClientTxId> {
        let dest = self.agents.legs.get(&leg)?.dest;
        let local = self.listener(dest.transport);
        let via = self.new_via(&dest, local);
        let l = self.agents.legs.get_mut(&leg)?;
        let dialog = match &mut l.state {
            LegState::Answered(d) | LegState::Ending(d) => d,
            _ => return None,
        };
        let mut req = dialog.request(method.clone(), &via);
        for (name, value) in headers {
            req.headers.push(name, value);
        }
        req.body = body;
        match self.tx.send_request(now, req, dest) {
            Ok(id) => Some(id),
            Err(err) => {
                tracing::debug!(%err, ?method, "could not send an in-dialog request to an agent");
                None
            }
        }
    }

    /// A request from an agent inside a leg's dialog: BYE ends it; re-INVITE / UPDATE (the
    /// agent holding the caller) is answered; anything else gets 200.
    pub(super) fn on_agent_request(
        &mut self,
        now: Time,
        tx: crate::sip::transaction::ServerTxId,
        leg: LegHandle,
        req: Request,
    ) {
        let tag = self.agents.legs.get(&leg).map(|l| l.local_tag.clone());
        let mut resp = self.response(&req, 200, tag.as_deref());
        match req.method {
            Method::Bye => {
                self.respond(now, tx, resp);
                self.finish_leg(leg, LegOutcome::HungUp);
            }
            // A transfer: the switch decides whether and where (the toll-fraud policy).
            Method::Refer => self
                .out
                .events
                .push_back(LegEvent::LegRefer { tx, leg, req }),
            Method::Invite | Method::Update => {
                let Some(l) = self.agents.legs.get_mut(&leg) else {
                    return;
                };
                // RFC 3261 §14.1: an offer crossing our pending re-INVITE (a session
                // refresh) gets 491.
                let offers = req.method == Method::Invite || !req.body.is_empty();
                if offers && l.session.as_ref().is_some_and(|t| t.offer_pending()) {
                    let resp = self.response(&req, 491, tag.as_deref());
                    return self.respond(now, tx, resp);
                }
                if let LegState::Answered(dialog) = &mut l.state {
                    dialog.refresh_target(&req);
                }
                let body = match SessionDescription::parse(&req.body) {
                    Ok(offer) => match l.sdp.answer(&offer) {
                        Ok((answer, media)) => {
                            self.out
                                .media
                                .push_back(Event::LegMediaUpdated { leg, media });
                            Some(answer)
                        }
                        // 488 with the §20.43 Warning, as to a caller; the dialog stays.
                        Err(err) => {
                            let tag = tag.unwrap_or_default();
                            return self.reject_sdp(now, tx, &req, &tag, &err);
                        }
                    },
                    Err(_) if req.body.is_empty() && req.method == Method::Invite => {
                        Some(l.sdp.reoffer())
                    }
                    Err(_) if req.body.is_empty() => None,
                    Err(err) => {
                        let resp = self.response(&req, err.status_code(), tag.as_deref());
                        return self.respond(now, tx, resp);
                    }
                };
                if let Some(body) = body {
                    resp.headers
                        .push(HeaderName::ContentType, "application/sdp");
                    resp.body = body.to_bytes();
                }
                let dest = l.dest;
                let local = self.listener(dest.transport);
                let (host, port) = self.advertised(dest.transport, local, None);
                resp.headers
                    .push(HeaderName::Contact, format!("<sip:{host}:{port}>"));
                self.leg_refreshed(now, leg, &req, &mut resp);
                self.respond(now, tx, resp);
            }
            _ => self.respond(now, tx, resp),
        }
    }

    /// Forgets a leg: its dialog, port and pending transactions; tells the engine.
    pub(super) fn finish_leg(&mut self, leg: LegHandle, outcome: LegOutcome) {
        let Some(l) = self.agents.legs.remove(&leg) else {
            return;
        };
        self.dialogs
            .remove(&(l.call_id.clone(), l.local_tag.clone()));
        self.agents.invites.retain(|_, h| *h != leg);
        self.agents.byes.retain(|_, h| *h != leg);
        self.agents.refreshes.retain(|_, h| *h != leg);
        self.leg_session_due
            .clear(l.session.as_ref().and_then(|t| t.due), leg);
        self.ports.release(l.rtp_port);
        // An answer whose media we refused (RFC 3261 §21.4.26's reason, on our side): to the
        // queue the agent did not take the call, so it moves on as after a refusal.
        let outcome = match l.unusable_answer {
            true => LegOutcome::Refused(488),
            false => outcome,
        };
        self.out.media.push_back(Event::LegEnded {
            leg,
            call: l.call,
            outcome,
        });
        self.out
            .events
            .push_back(LegEvent::LegEnded { leg, outcome });
    }
}

/// RFC 3261 §18.1.1: "If a request is within 200 bytes of the path MTU, or if it is larger
/// than 1300 bytes and the path MTU is unknown, the request MUST be sent using an RFC 2914
/// congestion controlled transport protocol, such as TCP."
const LARGE_REQUEST: usize = 1300;

impl Legs {
    /// §18.1.1's switch: a request over [`LARGE_REQUEST`] bytes for a UDP destination known to
    /// take TCP (a trunk proxy whose URI does not pin `transport=udp`) goes over TCP, with the
    /// top Via (as §18.1.1 requires) and the Contact changed to say so. Registered phones and
    /// static contacts stay on UDP: behind NAT a phone may take nothing else. Needs a TCP
    /// listener, for the far end's in-dialog requests to reach the new Contact.
    fn large_request_over_tcp(&mut self, dest: Peer, invite: &mut Request) -> Peer {
        let has_tcp = self
            .endpoint
            .listeners
            .iter()
            .any(|(t, _)| *t == Transport::Tcp);
        if dest.transport != Transport::Udp
            || dest.conn.is_some()
            || !has_tcp
            || !self.endpoint.stream_capable.contains(&dest.addr)
            || invite.to_bytes().len() <= LARGE_REQUEST
        {
            return dest;
        }
        let tcp = Peer {
            transport: Transport::Tcp,
            ..dest
        };
        let local = self.listener(Transport::Tcp);
        let via = self.new_via(&tcp, local);
        let (host, port) = self.advertised(Transport::Tcp, local, None);
        invite.headers.set(HeaderName::Via, via);
        invite.headers.set(
            HeaderName::Contact,
            format!("<sip:{host}:{port};transport=tcp>"),
        );
        tcp
    }
}

/// The trunk proxies a large request may switch to TCP for: reached over UDP by default, not
/// because their URI says `transport=udp` (RFC 3263 §4.1: TCP is mandatory to implement, so
/// an unpinned proxy takes it).
pub fn stream_capable(config: &crate::config::Config) -> std::collections::HashSet<SocketAddr> {
    config
        .trunks
        .iter()
        .filter(|t| t.proxy.params.value("transport").is_none())
        .filter_map(|t| peer_of(&Uri::Sip(t.proxy.clone())))
        .filter(|p| p.transport == Transport::Udp)
        .map(|p| p.addr)
        .collect()
}

/// Where to send a request for `uri` without DNS: its IP host, its port (5060, or 5061 for
/// sips), its `transport` parameter (RFC 3263 §4.1 defaults without NAPTR/SRV).
pub fn peer_of(uri: &Uri) -> Option<Peer> {
    let Uri::Sip(u) = uri else {
        return None;
    };
    let ip: IpAddr = match &u.host {
        Host::V4(a) => IpAddr::V4(*a),
        Host::V6(a) => IpAddr::V6(*a),
        Host::Name(n) => n.parse().ok()?,
    };
    let transport = match (u.scheme, u.params.value("transport")) {
        (Scheme::Sips, _) => Transport::Tls,
        (_, Some(t)) if t.eq_ignore_ascii_case("tcp") => Transport::Tcp,
        (_, Some(t)) if t.eq_ignore_ascii_case("tls") => Transport::Tls,
        _ => Transport::Udp,
    };
    let default_port = if transport == Transport::Tls {
        5061
    } else {
        5060
    };
    Some(Peer {
        transport,
        addr: SocketAddr::new(ip, u.port.unwrap_or(default_port)),
        conn: None,
    })
}

/// RFC 3261 §8.1.1.3's anonymous From for a caller without an identity.
fn anonymous_uri(host: &str) -> Uri {
    crate::sip::parse::parse_uri(&format!("sip:anonymous@{host}")).unwrap_or_else(|_| Uri::Other {
        scheme: "sip".into(),
        rest: "anonymous@anonymous.invalid".into(),
    })
}
