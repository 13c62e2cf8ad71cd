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
use crate::sip::digest::{self, Challenge};
use crate::sip::header::{split_list, HeaderName};
use crate::sip::message::{Request, Response};
use crate::sip::method::Method;
use crate::sip::sdp::{Direction, LocalMedia, LocalSession, SessionDescription};
use crate::sip::transaction::build_cancel;
use crate::sip::transport::{Peer, Transport};
use crate::sip::typed::{quote_display, NameAddr};
use crate::sip::uri::{Host, Scheme, Uri};
use crate::time::Time;

use super::call::CallHandle;
use super::core::{Core, DialogRef, Event};

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

/// Where an agent leg is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LegState {
    Calling,
    Ringing,
    Answered,
    /// CANCEL wanted; sent once a provisional response arrived (§9.1).
    Cancelling {
        cancel_sent: bool,
    },
    /// BYE sent.
    Ending,
}

/// One outbound INVITE dialog to an agent.
#[derive(Debug)]
pub struct Leg {
    pub call: CallHandle,
    pub call_id: String,
    pub local_tag: String,
    /// The answering agent's To tag, once a 2xx chose the dialog.
    pub remote_tag: Option<String>,
    pub invite: Request,
    pub dest: Peer,
    pub state: LegState,
    pub sdp: LocalSession,
    pub rtp_port: u16,
    pub local_cseq: u32,
    /// The agent's Contact from its 2xx (remote target, §12.1.2).
    pub remote_target: Option<Uri>,
    /// Record-Route of the 2xx, reversed (§12.1.2).
    pub route_set: Vec<String>,
    /// See [`RingRequest::auth`].
    pub auth: Option<TrunkAuth>,
    /// INVITEs resent with credentials so far.
    pub auth_tries: u8,
    /// The (status, realm) challenges answered so far.
    pub auth_answered: Vec<(u16, String)>,
    /// [`Event::LegRinging`] was reported.
    pub ring_reported: bool,
}

impl Core {
    /// Sends an INVITE with our SDP offer to an agent. Returns `None` (and reports nothing)
    /// when the target cannot be reached without DNS or no RTP port is free.
    pub fn ring_agent(&mut self, now: Time, ring: RingRequest) -> Option<LegHandle> {
        let dest = ring.dest.or_else(|| peer_of(&ring.target))?;
        let rtp_port = self.ports.reserve()?;
        let local = self.listener(dest.transport);
        let (host, port) = self.advertised(dest.transport, local, None);
        let media_ip = self.public_ip.unwrap_or_else(|| {
            if local.ip().is_unspecified() {
                IpAddr::from([127, 0, 0, 1])
            } else {
                local.ip()
            }
        });
        let session_id = u64::from(self.rng_u32());
        let mut sdp = LocalSession::new(LocalMedia::new(media_ip, rtp_port, session_id));
        let offer = sdp.offer(Direction::SendRecv);
        let handle = LegHandle(self.new_handle().0);
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
        h.push(HeaderName::MaxForwards, "70");
        h.push(HeaderName::From, from.to_string());
        h.push(
            HeaderName::To,
            NameAddr::new(ring.target.clone()).to_string(),
        );
        h.push(HeaderName::CallId, call_id.clone());
        h.push(HeaderName::CSeq, "1 INVITE");
        let transport = match dest.transport {
            Transport::Udp => String::new(),
            t => format!(";transport={}", t.as_via_str().to_ascii_lowercase()),
        };
        h.push(
            HeaderName::Contact,
            format!("<sip:{host}:{port}{transport}>"),
        );
        // RFC 3325: the caller's identity for phones that display it over From.
        if ring.caller.is_some() {
            h.push(
                HeaderName::PAssertedIdentity,
                NameAddr::new(caller_uri).to_string(),
            );
        }
        // RFC 7044: the number the caller dialled, so the agent sees which service it was.
        if let Some(dialled) = &ring.dialled {
            h.push(HeaderName::HistoryInfo, format!("<{dialled}>;index=1"));
        }
        h.push(HeaderName::Allow, super::reply::ALLOW);
        if !self.user_agent.is_empty() {
            h.push(HeaderName::UserAgent, self.user_agent.clone());
        }
        h.push(HeaderName::ContentType, "application/sdp");
        invite.body = offer.to_bytes();

        let invite_tx = match self.tx.send_request(now, invite.clone(), dest) {
            Ok(id) => id,
            Err(err) => {
                tracing::warn!(%err, "could not send INVITE to agent");
                self.ports.release(rtp_port);
                return None;
            }
        };
        self.leg_invites.insert(invite_tx, handle);
        self.dialogs.insert(
            (call_id.clone(), local_tag.clone()),
            DialogRef::Agent(handle),
        );
        self.legs.insert(
            handle,
            Leg {
                call: ring.call,
                call_id,
                local_tag,
                remote_tag: None,
                invite,
                dest,
                state: LegState::Calling,
                sdp,
                rtp_port,
                local_cseq: 1,
                remote_target: None,
                route_set: Vec::new(),
                auth: ring.auth,
                auth_tries: 0,
                auth_answered: Vec::new(),
                ring_reported: false,
            },
        );
        self.drain_transactions(now);
        Some(handle)
    }

    /// Stops ringing an agent (§9.1): CANCEL now if it has rung, else as soon as it does.
    /// Ends an answered leg with BYE.
    pub fn cancel_leg(&mut self, now: Time, leg: LegHandle) {
        let Some(l) = self.legs.get_mut(&leg) else {
            return;
        };
        match l.state {
            LegState::Calling => l.state = LegState::Cancelling { cancel_sent: false },
            LegState::Ringing => {
                l.state = LegState::Cancelling { cancel_sent: true };
                let cancel = build_cancel(&l.invite);
                let dest = l.dest;
                if let Err(err) = self.tx.send_request(now, cancel, dest) {
                    tracing::debug!(%err, "could not send CANCEL");
                }
            }
            LegState::Answered => self.send_leg_bye(now, leg),
            LegState::Cancelling { .. } | LegState::Ending => {}
        }
        self.drain_transactions(now);
    }

    /// The media plane gave up on an answered leg (no RTP for the configured time): BYE, and
    /// the bridged caller is hung up when the leg has ended.
    pub fn hang_up_leg(&mut self, now: Time, leg: LegHandle) {
        self.cancel_leg(now, leg);
        self.settle(now);
    }

    /// A response on a leg's INVITE transaction.
    pub(crate) fn on_leg_response(&mut self, now: Time, leg: LegHandle, resp: Response) {
        let Some(l) = self.legs.get_mut(&leg) else {
            // A 2xx for a leg we already forgot (a late fork): ACK and BYE it.
            return;
        };
        let tag = resp.headers.to().and_then(|t| t.tag().map(str::to_owned));
        if resp.is_provisional() {
            // The phone rings at its first 18x, which may follow a 100 (or a resend with
            // credentials); reported once.
            if resp.status > 100
                && !l.ring_reported
                && matches!(l.state, LegState::Calling | LegState::Ringing)
            {
                l.ring_reported = true;
                self.leg_events.push_back(Event::LegRinging { leg });
            }
            match l.state {
                LegState::Calling => l.state = LegState::Ringing,
                LegState::Cancelling { cancel_sent: false } => {
                    // §9.1: the CANCEL waited for this provisional response.
                    l.state = LegState::Cancelling { cancel_sent: true };
                    let cancel = build_cancel(&l.invite);
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
            let Some(l) = self.legs.get_mut(&leg) else {
                return;
            };
            let outcome = match l.state {
                LegState::Cancelling { .. } => LegOutcome::Cancelled,
                _ => LegOutcome::Refused(resp.status),
            };
            if l.remote_tag.is_none() {
                self.finish_leg(leg, outcome);
            }
            return;
        }
        // A 2xx. The first one fixes the dialog; any other (a fork, §13.2.2.4) is ACKed and
        // released with BYE.
        let first = l.remote_tag.is_none();
        let same_dialog = l.remote_tag.is_some() && l.remote_tag == tag;
        let ack = self.leg_ack(leg, &resp);
        let dest = self.legs.get(&leg).map(|l| l.dest);
        if let (Some(ack), Some(dest)) = (ack, dest) {
            self.tx.send_ack(&ack, dest);
        }
        if same_dialog {
            // A retransmitted 2xx: the ACK above is all it needs (§13.2.2.4).
            return;
        }
        let Some(l) = self.legs.get_mut(&leg) else {
            return;
        };
        if !first {
            self.bye_stray_fork(now, leg, &resp);
            return;
        }
        l.remote_tag = tag;
        l.remote_target = resp.headers.contacts().into_iter().next().map(|c| c.uri);
        l.route_set = resp
            .headers
            .get_all(&HeaderName::RecordRoute)
            .flat_map(split_list)
            .map(str::to_owned)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        if let LegState::Cancelling { .. } = l.state {
            // §9.1 race: the 200 crossed our CANCEL. The call exists now: end it with BYE.
            l.state = LegState::Answered;
            self.send_leg_bye(now, leg);
            return;
        }
        let media = match SessionDescription::parse(&resp.body) {
            Ok(answer) => l.sdp.process_answer(&answer).ok(),
            Err(_) => None,
        };
        let Some(media) = media else {
            // §13.2.1: a 2xx to our offer must carry an acceptable answer; without one there
            // is no session to bridge.
            l.state = LegState::Answered;
            tracing::info!("agent answered without a usable SDP answer; hanging up");
            self.send_leg_bye(now, leg);
            return;
        };
        l.state = LegState::Answered;
        self.leg_events.push_back(Event::LegAnswered {
            leg,
            call: l.call,
            rtp_port: l.rtp_port,
            media,
        });
    }

    /// A 401 / 407 on a leg that has credentials: the INVITE again with an Authorization /
    /// Proxy-Authorization answering the challenge (§22.2, RFC 7616 §3.4), CSeq one higher,
    /// same Call-ID and From tag, a new branch (§8.1.3.5). Returns false (the leg fails with the
    /// challenge's status) when there are no credentials, no challenge is for the configured
    /// realm, nothing in the challenge can be answered, or the far end refused what we sent
    /// (the same realm challenging again without saying the nonce was stale). Credentials go
    /// only where the leg was sent: a trunk's `auth` rides on that trunk's legs, never on an
    /// agent's.
    fn resend_with_credentials(&mut self, now: Time, leg: LegHandle, resp: &Response) -> bool {
        const MAX_TRIES: u8 = 3;
        let Some(l) = self.legs.get(&leg) else {
            return false;
        };
        let Some(auth) = l.auth.clone() else {
            return false;
        };
        let (challenge_header, answer_header) = if resp.status == 407 {
            (
                HeaderName::ProxyAuthenticate,
                HeaderName::ProxyAuthorization,
            )
        } else {
            (HeaderName::WwwAuthenticate, HeaderName::Authorization)
        };
        // Only challenges for the configured realm (when one is set) are candidates, so a
        // response that also carries another realm's challenge first still gets answered.
        let values = resp.headers.get_all(&challenge_header);
        let Some(challenge) = Challenge::pick(values, auth.realm.as_deref()) else {
            tracing::warn!(
                status = resp.status,
                "trunk challenge holdline cannot answer (realm or algorithm)"
            );
            return false;
        };
        // RFC 7616 §3.3: stale=true is a new nonce for the same credentials; the same realm
        // challenging again otherwise means they were refused, and sending them again would
        // loop. A different challenger (a proxy's 407, then the far end's 401) is answered.
        let key = (resp.status, challenge.realm.clone());
        if l.auth_tries >= MAX_TRIES || (l.auth_answered.contains(&key) && !challenge.stale) {
            tracing::warn!(status = resp.status, realm = %challenge.realm, "trunk refused our credentials");
            return false;
        }
        let mut invite = l.invite.clone();
        let (dest, cseq) = (l.dest, l.local_cseq + 1);
        let uri = invite.uri.to_string();
        let cnonce = format!("{:016x}", self.rng_u64());
        let value = match digest::authorization(
            &challenge,
            &auth.username,
            &auth.password,
            digest::Request {
                method: invite.method.as_str(),
                uri: &uri,
                body: &invite.body,
            },
            &cnonce,
        ) {
            Ok(v) => v,
            Err(err) => {
                tracing::warn!(%err, "trunk challenge not answered");
                return false;
            }
        };
        let local = self.listener(dest.transport);
        let via = self.new_via(&dest, local);
        let h = &mut invite.headers;
        h.remove(&HeaderName::Via);
        // §22.3: credentials for another challenger (a proxy's, when the far end now asks
        // too) stay; this challenger's earlier answer is replaced.
        h.remove(&answer_header);
        h.remove(&HeaderName::CSeq);
        h.push_front(HeaderName::Via, via);
        h.push(HeaderName::CSeq, format!("{cseq} INVITE"));
        h.push(answer_header, value);
        let tx = match self.tx.send_request(now, invite.clone(), dest) {
            Ok(tx) => tx,
            Err(err) => {
                tracing::warn!(%err, "could not resend INVITE with credentials");
                return false;
            }
        };
        self.leg_invites.retain(|_, h| *h != leg);
        self.leg_invites.insert(tx, leg);
        if let Some(l) = self.legs.get_mut(&leg) {
            l.invite = invite;
            l.local_cseq = cseq;
            l.auth_tries += 1;
            l.auth_answered.push(key);
            // A CANCEL waits for a provisional response to this new INVITE (§9.1).
            l.state = LegState::Calling;
        }
        true
    }

    /// The ACK for a 2xx on a leg (§13.2.2.4): Request-URI from the 2xx's Contact, the
    /// INVITE's CSeq number, the 2xx's To (with its tag), a new branch.
    fn leg_ack(&mut self, leg: LegHandle, resp: &Response) -> Option<Request> {
        let (dest, invite) = {
            let l = self.legs.get(&leg)?;
            (l.dest, l.invite.clone())
        };
        let local = self.listener(dest.transport);
        let via = self.new_via(&dest, local);
        let target = resp
            .headers
            .contacts()
            .into_iter()
            .next()
            .map(|c| c.uri)
            .unwrap_or_else(|| invite.uri.clone());
        let mut ack = Request::new(Method::Ack, target);
        ack.headers.push(HeaderName::Via, via);
        for rr in resp
            .headers
            .get_all(&HeaderName::RecordRoute)
            .collect::<Vec<_>>()
            .iter()
            .rev()
        {
            ack.headers.push(HeaderName::Route, (*rr).to_owned());
        }
        ack.headers.push(HeaderName::MaxForwards, "70");
        for name in [HeaderName::From, HeaderName::CallId] {
            if let Some(v) = invite.headers.get(&name) {
                ack.headers.push(name, v.to_owned());
            }
        }
        if let Some(to) = resp.headers.get(&HeaderName::To) {
            ack.headers.push(HeaderName::To, to.to_owned());
        }
        let seq = invite.headers.cseq().map(|c| c.seq).unwrap_or(1);
        ack.headers.push(HeaderName::CSeq, format!("{seq} ACK"));
        Some(ack)
    }

    /// A second 2xx from another fork: its dialog is not wanted (§13.2.2.4: ACK, then BYE).
    fn bye_stray_fork(&mut self, now: Time, leg: LegHandle, resp: &Response) {
        let Some((dest, invite)) = self.legs.get(&leg).map(|l| (l.dest, l.invite.clone())) else {
            return;
        };
        let local = self.listener(dest.transport);
        let via = self.new_via(&dest, local);
        let target = resp
            .headers
            .contacts()
            .into_iter()
            .next()
            .map(|c| c.uri)
            .unwrap_or_else(|| invite.uri.clone());
        let mut bye = Request::new(Method::Bye, target);
        bye.headers.push(HeaderName::Via, via);
        bye.headers.push(HeaderName::MaxForwards, "70");
        for name in [HeaderName::From, HeaderName::CallId] {
            if let Some(v) = invite.headers.get(&name) {
                bye.headers.push(name, v.to_owned());
            }
        }
        if let Some(to) = resp.headers.get(&HeaderName::To) {
            bye.headers.push(HeaderName::To, to.to_owned());
        }
        // §12.2.1.1: above the INVITE's CSeq, which is 2 or more after a digest resend.
        let seq = invite.headers.cseq().map(|c| c.seq).unwrap_or(1) + 1;
        bye.headers.push(HeaderName::CSeq, format!("{seq} BYE"));
        let _ = self.tx.send_request(now, bye, dest);
    }

    /// BYE on an answered leg (§15.1.1).
    pub(crate) fn send_leg_bye(&mut self, now: Time, leg: LegHandle) {
        let Some(l) = self.legs.get_mut(&leg) else {
            return;
        };
        l.state = LegState::Ending;
        match self.send_leg_request(now, leg, Method::Bye, Vec::new(), Vec::new()) {
            Some(id) => {
                self.leg_byes.insert(id, leg);
            }
            None => self.finish_leg(leg, LegOutcome::HungUp),
        }
    }

    /// A request of ours inside a leg's dialog (§12.2.1.1): Request-URI = the agent's Contact,
    /// Route = the route set, the next local CSeq. `None` when it could not be sent.
    pub(crate) fn send_leg_request(
        &mut self,
        now: Time,
        leg: LegHandle,
        method: Method,
        headers: Vec<(HeaderName, String)>,
        body: Vec<u8>,
    ) -> Option<crate::sip::transaction::ClientTxId> {
        let l = self.legs.get_mut(&leg)?;
        l.local_cseq += 1;
        let dest = l.dest;
        let target = l
            .remote_target
            .clone()
            .unwrap_or_else(|| l.invite.uri.clone());
        let mut req = Request::new(method.clone(), target);
        let routes = l.route_set.clone();
        let from = l
            .invite
            .headers
            .get(&HeaderName::From)
            .unwrap_or_default()
            .to_owned();
        let mut to = NameAddr::new(l.invite.uri.clone());
        if let Some(tag) = &l.remote_tag {
            to.params.set("tag", Some(tag));
        }
        let call_id = l.call_id.clone();
        let cseq = l.local_cseq;
        let local = self.listener(dest.transport);
        let via = self.new_via(&dest, local);
        let h = &mut req.headers;
        h.push(HeaderName::Via, via);
        for r in routes {
            h.push(HeaderName::Route, r);
        }
        h.push(HeaderName::MaxForwards, "70");
        h.push(HeaderName::From, from);
        h.push(HeaderName::To, to.to_string());
        h.push(HeaderName::CallId, call_id);
        h.push(HeaderName::CSeq, format!("{cseq} {method}"));
        for (name, value) in headers {
            h.push(name, value);
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
    pub(crate) fn on_agent_request(
        &mut self,
        now: Time,
        tx: crate::sip::transaction::ServerTxId,
        leg: LegHandle,
        req: Request,
    ) {
        let tag = self.legs.get(&leg).map(|l| l.local_tag.clone());
        let mut resp = self.response(&req, 200, tag.as_deref());
        match req.method {
            Method::Bye => {
                self.respond(now, tx, resp);
                self.finish_leg(leg, LegOutcome::HungUp);
            }
            Method::Refer => self.on_refer(now, tx, leg, req),
            Method::Invite | Method::Update => {
                let Some(l) = self.legs.get_mut(&leg) else {
                    return;
                };
                if let Some(contact) = req.headers.contacts().into_iter().next() {
                    l.remote_target = Some(contact.uri);
                }
                let body = match SessionDescription::parse(&req.body) {
                    Ok(offer) => match l.sdp.answer(&offer) {
                        Ok((answer, media)) => {
                            self.leg_events
                                .push_back(Event::LegMediaUpdated { leg, media });
                            Some(answer)
                        }
                        Err(err) => {
                            let status = err.status_code();
                            let resp = self.response(&req, status, tag.as_deref());
                            return self.respond(now, tx, resp);
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
                self.respond(now, tx, resp);
            }
            _ => self.respond(now, tx, resp),
        }
    }

    /// Forgets a leg: its dialog, port and pending transactions; tells the engine.
    pub(crate) fn finish_leg(&mut self, leg: LegHandle, outcome: LegOutcome) {
        let Some(l) = self.legs.remove(&leg) else {
            return;
        };
        self.dialogs
            .remove(&(l.call_id.clone(), l.local_tag.clone()));
        self.leg_invites.retain(|_, h| *h != leg);
        self.leg_byes.retain(|_, h| *h != leg);
        self.ports.release(l.rtp_port);
        self.leg_events.push_back(Event::LegEnded {
            leg,
            call: l.call,
            outcome,
        });
    }

    /// Legs alive (for leak tests).
    pub fn leg_count(&self) -> usize {
        self.legs.len()
    }

    /// The local address of our listener for `transport`.
    pub(crate) fn listener(&self, transport: Transport) -> SocketAddr {
        self.local
            .listeners
            .iter()
            .find(|(t, _)| *t == transport)
            .or_else(|| self.local.listeners.first())
            .map(|(_, a)| *a)
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 5060)))
    }

    pub(crate) fn rng_u64(&mut self) -> u64 {
        rand::Rng::gen(&mut self.rng)
    }
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
