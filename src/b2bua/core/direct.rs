//! The core's side of INVITEs that reach no service: a user calling another user, or a
//! feature code dialled from an agent's phone. Both need the caller to be a user, so both are
//! challenged first (RFC 3261 §22.3: 407 with Proxy-Authenticate, the registrar's nonces,
//! algorithms, replay checks and failure limit). So is every other INVITE for no service when
//! any user has a password, so that the answer does not tell a user id or extension from a
//! number nobody has; it gets 404 once the credentials check out. Without such users, 404 at
//! once, as before.
//!
//! A feature code changes the agent's own settings the way the admin API does: the core
//! applies it at once (the engine hears it) and hands an [`AgentRequest`] to the runtime, which
//! writes it to the store through the API's provisioning, so it survives a restart and shows
//! in `GET /api/v1/agents/{id}`.
//!
//! An INVITE for a number that is neither a user's nor a feature code is a user's call out
//! through a trunk (`core::outbound`), challenged the same way.

use crate::b2bua::admission::BanReason;
use crate::b2bua::legs::PendingInvite;
use crate::config::features::FeatureCode;
use crate::config::{QueueId, UserId};
use crate::time::Time;

use super::Core;

/// An agent's own setting changed by a feature code, for the runtime to store (as the admin
/// API's `PUT /api/v1/agents/{id}/dnd` and `POST …/opt-out` do) and to log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentRequest {
    pub user: UserId,
    pub change: SettingChange,
    /// The queues it concerns, for the event log: the one opted out of or into; for DND,
    /// every queue the user is an agent of.
    pub queues: Vec<QueueId>,
    /// The code dialled and the SIP Call-ID of its INVITE (the event log names both).
    pub code: String,
    pub call_id: String,
}

/// What a feature code changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SettingChange {
    Dnd(bool),
    OptOut { queue: QueueId, out: bool },
}

/// What an INVITE for no service is for.
enum DirectTarget {
    Feature(FeatureCode),
    User(UserId),
}

impl Core {
    /// Decides on every INVITE the legs could not route to a service.
    pub(super) fn on_invites(&mut self, now: Time) {
        while let Some(invite) = self.legs.poll_invite() {
            self.on_direct_invite(now, invite);
        }
    }

    /// The next feature-code change for the store.
    pub fn poll_agent_request(&mut self) -> Option<AgentRequest> {
        self.agent_requests.pop_front()
    }

    fn on_direct_invite(&mut self, now: Time, invite: PendingInvite) {
        let target = self.direct_target(&invite);
        let outbound = match target {
            None => self.outbound_dial(&invite),
            Some(_) => None,
        };
        // A user without a password recognised by the address of a static contact (only
        // when their configuration says so).
        if let Some(user) = self.user_by_source(invite.from) {
            return self.direct_invite_from(now, invite, &user, target, outbound);
        }
        // Where users can authenticate, every INVITE for no service is challenged first, so
        // a scanner cannot tell a user id or extension from a number nobody has (the 404
        // comes only after valid credentials). Where none can, there is nothing to hide.
        if target.is_none() && !self.registrar.has_accounts() {
            return self.legs.refuse_invite(now, invite, 404, Vec::new());
        }
        let offered = invite
            .req
            .headers
            .get(&crate::sip::header::HeaderName::ProxyAuthorization)
            .is_some();
        let user = match self
            .registrar
            .authenticate_invite(now, &invite.req, invite.from)
        {
            Ok(user) => user,
            Err(answer) => {
                let stale = answer
                    .headers
                    .iter()
                    .any(|(_, v)| v.to_ascii_lowercase().contains("stale=true"));
                // A call out whose credentials failed is refused outright (RFC 3261
                // §21.4.4), not challenged again: nothing unauthenticated reaches a trunk,
                // and a phone with the wrong password stops here. A stale nonce is only
                // asked again (RFC 7616 §3.3).
                let (status, headers) = match outbound.is_some() && offered && !stale {
                    true => {
                        self.outbound_refused();
                        (403, Vec::new())
                    }
                    false => (answer.status, answer.headers),
                };
                self.legs.refuse_invite(now, invite, status, headers);
                if let Some((addr, period)) = answer.ban {
                    self.admission
                        .ban_for(now, addr, BanReason::AuthFailures, period);
                    self.silence_banned(now);
                }
                return;
            }
        };
        // Authenticated like a REGISTER: the source's admission class is a user's.
        if self.admission_on {
            self.admission
                .mark_authenticated(now, invite.from.addr.ip());
        }
        self.direct_invite_from(now, invite, &user, target, outbound);
    }

    /// An INVITE for no service from `user`, who is known: a feature code, a call to a user,
    /// a call out, or 404.
    fn direct_invite_from(
        &mut self,
        now: Time,
        invite: PendingInvite,
        user: &UserId,
        target: Option<DirectTarget>,
        outbound: Option<super::outbound::OutboundDial>,
    ) {
        match (target, outbound) {
            (Some(DirectTarget::Feature(code)), _) => self.feature_code(now, invite, user, code),
            (Some(DirectTarget::User(callee)), _) => self.call_user(now, invite, user, &callee),
            (None, Some(dial)) => self.call_out(now, invite, user, dial),
            (None, None) => self.legs.refuse_invite(now, invite, 404, Vec::new()),
        }
    }

    /// A feature code (the Request-URI's user part) or a user (by id, extension or number).
    fn direct_target(&self, invite: &PendingInvite) -> Option<DirectTarget> {
        let dialled = invite
            .req
            .uri
            .as_sip()
            .and_then(|s| s.user.as_deref())
            .unwrap_or_default();
        if let Some(code) = self.applied.config.features.code(dialled) {
            return Some(DirectTarget::Feature(code));
        }
        self.settings
            .dial_plan
            .user_of(&invite.req.uri)
            .map(DirectTarget::User)
    }

    /// Carries out `code` for `user`: 403 when it is not allowed, 404 for a queue extension
    /// nobody has; else the settings change, and the call is answered with a confirmation.
    fn feature_code(
        &mut self,
        now: Time,
        mut invite: PendingInvite,
        user: &UserId,
        code: FeatureCode,
    ) {
        let mut settings = self.applied.settings.clone();
        let mut requests = Vec::new();
        let id = user.as_str().to_owned();
        let config = &self.applied.config;
        // The queues the user is an agent of that let agents opt out.
        let opt_out_queues: Vec<QueueId> = config
            .queues
            .iter()
            .filter(|q| q.members.contains(user) && q.allow_opt_out)
            .map(|q| q.id.clone())
            .collect();
        let status = match &code {
            FeatureCode::Dnd(on) => {
                match on {
                    true => settings.dnd.insert(id.clone()),
                    false => settings.dnd.remove(&id),
                };
                requests.push(SettingChange::Dnd(*on));
                200
            }
            // Signing out opts out of every queue that allows it; a queue that does not is
            // one the agent must serve (as the API's opt-out refuses there too).
            FeatureCode::SignIn(_) if opt_out_queues.is_empty() => 403,
            FeatureCode::SignIn(sign_in) => {
                for q in &opt_out_queues {
                    let key = (id.clone(), q.as_str().to_owned());
                    let changed = match sign_in {
                        true => settings.opted_out.remove(&key),
                        false => settings.opted_out.insert(key),
                    };
                    if changed {
                        requests.push(SettingChange::OptOut {
                            queue: q.clone(),
                            out: !sign_in,
                        });
                    }
                }
                200
            }
            FeatureCode::Queue { queue: None, .. } => 404,
            FeatureCode::Queue { queue: Some(q), .. } if !opt_out_queues.contains(q) => 403,
            FeatureCode::Queue {
                queue: Some(q),
                out,
            } => {
                let key = (id.clone(), q.as_str().to_owned());
                // A toggle flips what is; the explicit codes set it (a repeat changes nothing
                // and is confirmed all the same).
                let out = out.unwrap_or(!settings.opted_out.contains(&key));
                let changed = match out {
                    true => settings.opted_out.insert(key),
                    false => settings.opted_out.remove(&key),
                };
                if changed {
                    requests.push(SettingChange::OptOut {
                        queue: q.clone(),
                        out,
                    });
                }
                200
            }
        };
        if status != 200 {
            tracing::info!(user = %user, ?code, status, "feature code refused");
            return self.legs.refuse_invite(now, invite, status, Vec::new());
        }
        tracing::info!(user = %user, ?code, "feature code");
        let member_of: Vec<QueueId> = config
            .queues
            .iter()
            .filter(|q| q.members.contains(user))
            .map(|q| q.id.clone())
            .collect();
        let code_text = dialled(&invite);
        let call_id = invite.req.headers.call_id().unwrap_or_default().to_owned();
        let label = QueueId(format!("feature:{code_text}"));
        // The authenticated user's own SRTP policy, not its source's.
        invite.srtp = self.applied.config.user(user).and_then(|u| u.srtp);
        let Some(call) = self.legs.open_direct(now, invite, label) else {
            return;
        };
        for change in requests {
            let queues = match &change {
                SettingChange::Dnd(_) => member_of.clone(),
                SettingChange::OptOut { queue, .. } => vec![queue.clone()],
            };
            self.agent_requests.push_back(AgentRequest {
                user: user.clone(),
                change,
                queues,
                code: code_text.clone(),
                call_id: call_id.clone(),
            });
        }
        self.set_agent_settings(now, &settings);
        let (switch, mut cx) = self.parts(now);
        switch.feature_call(&mut cx, call);
    }

    /// `caller` calls `callee`: DND or nowhere to ring is 480 (RFC 3261 §21.4.18), on a call
    /// already (a call to oneself included: this very one) 486 (§21.4.24); else every device
    /// of the callee rings.
    pub(super) fn call_user(
        &mut self,
        now: Time,
        mut invite: PendingInvite,
        caller: &UserId,
        callee: &UserId,
    ) {
        let dnd = self.applied.settings.dnd.contains(callee.as_str());
        let status = if dnd || self.locations.ring_targets(callee).is_empty() {
            Some(480)
        } else if caller == callee || self.switch.user_busy(callee) {
            Some(486)
        } else {
            None
        };
        if let Some(status) = status {
            tracing::info!(caller = %caller, callee = %callee, status, "user call refused");
            return self.legs.refuse_invite(now, invite, status, Vec::new());
        }
        // The callee is shown who authenticated, not what the From header claims: holdline
        // asserts it (P-Asserted-Identity, RFC 3325), so it must be what it checked.
        let name = self
            .applied
            .config
            .user(caller)
            .map_or_else(|| caller.as_str().to_owned(), |u| u.name.clone());
        let host = invite
            .req
            .uri
            .as_sip()
            .map(|s| s.host.to_string())
            .unwrap_or_default();
        let identity = crate::sip::parse::parse_uri(&format!("sip:{caller}@{host}")).ok();
        let label = QueueId(format!("user:{callee}"));
        // The authenticated caller's own SRTP policy, not its source's.
        invite.srtp = self.applied.config.user(caller).and_then(|u| u.srtp);
        let Some(call) = self.legs.open_direct(now, invite, label) else {
            return;
        };
        let ring_time = self.applied.config.features.ring_time;
        let (switch, mut cx) = self.parts(now);
        let who = super::super::switch::Caller {
            user: caller,
            name,
            uri: identity,
        };
        switch.call_user(&mut cx, call, who, callee, ring_time);
    }
}

/// The user part the INVITE dialled.
fn dialled(invite: &PendingInvite) -> String {
    invite
        .req
        .uri
        .as_sip()
        .and_then(|s| s.user.clone())
        .unwrap_or_default()
}
