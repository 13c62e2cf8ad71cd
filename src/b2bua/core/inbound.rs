//! The core's side of the inbound policy (`b2bua::inbound`): the verdict on each new INVITE
//! before the legs see it, RFC 3325 §9.1 on every request, and the authentication of a
//! registered user's INVITE for a service number.

use crate::b2bua::admission::BanReason;
use crate::b2bua::inbound::{self, Verdict};
use crate::b2bua::legs::PendingInvite;
use crate::config::inbound::trunk_of_source;
use crate::config::QueueId;
use crate::sip::message::Message;
use crate::sip::method::Method;
use crate::sip::parse::ParseError;
use crate::sip::transport::Peer;
use crate::time::Time;

use super::Core;

impl Core {
    /// The inbound policy's verdict on `parsed` from `from`; `None` when it is dropped without
    /// an answer (counted). A request from a source that is no trunk loses its
    /// P-Asserted-Identity here (RFC 3325 §9.1), before anything reads it.
    pub(super) fn inbound_verdict(
        &mut self,
        now: Time,
        from: Peer,
        parsed: &mut Result<Message, ParseError>,
    ) -> Option<Verdict> {
        let Ok(Message::Request(req)) = parsed else {
            return Some(Verdict::Pass);
        };
        let ip = from.addr.ip();
        let trunk = trunk_of_source(self.settings.dial_plan.trunks(), ip);
        if trunk.is_none() {
            inbound::strip_untrusted(req);
        }
        // Only a new dialog's INVITE: in-dialog requests belong to calls already let in.
        let initial =
            req.method == Method::Invite && req.headers.to().is_some_and(|t| t.tag().is_none());
        let policy = self.applied.config.sip.inbound;
        if !initial || policy.mode == crate::config::inbound::InboundMode::Any {
            return Some(Verdict::Pass);
        }
        let service = inbound::service_of_request(&self.settings.directory, trunk, req);
        // Only asked when the answer matters (one set lookup for a source that never
        // registered).
        let registered = trunk.is_none()
            && service.as_ref().is_some_and(|(_, number)| *number)
            && self.registrar.registered_from(now, ip);
        let verdict = inbound::decide(policy, trunk.is_some(), service.as_ref(), registered);
        if verdict == Verdict::Drop {
            // Every datagram of it, retransmissions included: nothing answers them.
            self.inbound_dropped += 1;
            tracing::debug!(%ip, uri = %req.uri, "INVITE dropped by the inbound policy");
            return None;
        }
        Some(verdict)
    }

    /// A registered user's INVITE for a service number (`inbound = "trunks"`): challenged
    /// like a user's call (RFC 3261 §22.3, the registrar's nonces and failure limit), then
    /// queued for `queue` as any caller is.
    pub(super) fn on_service_invite(&mut self, now: Time, invite: PendingInvite, queue: QueueId) {
        match self
            .registrar
            .authenticate_invite(now, &invite.req, invite.from)
        {
            Ok(user) => {
                tracing::info!(user = %user, queue = %queue, "authenticated caller for a service number");
                if self.admission_on {
                    self.admission
                        .mark_authenticated(now, invite.from.addr.ip());
                }
                self.legs.open_service(now, invite, queue);
            }
            Err(answer) => {
                self.legs
                    .refuse_invite(now, invite, answer.status, answer.headers);
                if let Some((addr, period)) = answer.ban {
                    self.admission
                        .ban_for(now, addr, BanReason::AuthFailures, period);
                    self.silence_banned(now);
                }
            }
        }
    }

    /// Trunk SBCs that answered an INVITE 503 with Retry-After: out of failover for that time
    /// (`sbc_health`), as a probe's 503 takes them out. Matched by address, as the INVITE
    /// was sent to it.
    pub(super) fn take_busy_servers(&mut self, now: Time) {
        while let Some((dest, after)) = self.legs.poll_busy_server() {
            for trunk in self.settings.dial_plan.trunks() {
                for sbc in &trunk.sbcs {
                    let uri = crate::sip::uri::Uri::Sip(sbc.uri.clone());
                    if crate::b2bua::legs::peer_of(&uri).is_some_and(|p| p.addr == dest.addr) {
                        tracing::info!(trunk = %trunk.id, sbc = %sbc.uri, seconds = after.as_secs(), "SBC answered 503 with Retry-After; out of failover until then");
                        self.sbc_health.hold_out(now, &trunk.id, &sbc.uri, after);
                    }
                }
            }
        }
    }

    /// INVITEs for service numbers the inbound policy refused: answered 403 or dropped
    /// (`holdline_inbound_refused_total`).
    pub fn inbound_refused_total(&self) -> u64 {
        self.legs.inbound_refused() + self.inbound_dropped
    }
}
