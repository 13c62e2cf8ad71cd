//! The core's side of users' outbound calls: an INVITE for no service whose Request-URI is
//! a number (not a user, extension, queue or feature code) is a user's call out, once the user
//! is known. The decisions, in order:
//!
//! 1. **Who**: the digest-authenticated user (`core::direct`'s 407, RFC 3261 §22.3), or a
//!    user without a password whose static contact's address and port the INVITE came from
//!    (`identify_by_source`). Nobody else reaches a trunk: credentials that fail get 403, not
//!    another challenge.
//! 2. **What**: the digits as E.164 with `[outbound]`'s rules (an unreadable number is 404, as
//!    any number nobody has); a user's own number is a call to that user.
//! 3. **May they**: a blocked prefix, `outbound = "none"`, or an international number for
//!    `national`, is 403 (RFC 3261 §21.4.4: understood, and refused); so is a number no
//!    trunk's allow list admits.
//! 4. **Shown as** (RFC 3325 §9.1 P-Asserted-Identity, RFC 3323 Privacy): the user's
//!    caller-ID policy (`config::outbound`): a service number; anonymous, with the user's own
//!    number asserted for the carrier only; or the user's own number, also when the policy
//!    allows an override and the user asked for it (the `clid_override` prefix, or a
//!    P-Preferred-Identity naming their own number, RFC 3325 §9.2). A user with no policy
//!    shows their own number; a user who needs one and has none gets 403. A phone that asks
//!    for privacy (`Privacy: id`) calls anonymously, what the policy shows asserted only.
//!
//! The switch (`switch::outbound`) then rings the number through the trunk.

use crate::b2bua::legs::PendingInvite;
use crate::b2bua::settings::Destination;
use crate::b2bua::switch::ShownIdentity;
use crate::config::dial::{self, DialString};
use crate::config::outbound::{stream_contact_ip, ClidMode, OutboundClass};
use crate::config::{Config, QueueId, UserId};
use crate::number::E164;
use crate::sip::header::HeaderName;
use crate::sip::transport::Peer;
use crate::sip::uri::Uri;
use crate::time::Time;

use super::Core;

/// Users' outbound calls since start, for `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutboundStats {
    /// Sent toward a trunk.
    pub placed: u64,
    /// Refused before any trunk saw them (credentials that failed, not granted, blocked,
    /// no caller ID, no trunk allows the number, a number that cannot be read).
    pub refused: u64,
}

/// An external number as dialled, before it is read with `[outbound]`'s rules.
#[derive(Clone, Debug)]
pub(super) struct OutboundDial {
    global: bool,
    digits: String,
    /// The `clid_override` prefix was dialled first.
    override_wanted: bool,
}

impl Core {
    /// Users' outbound calls placed and refused since start.
    pub fn outbound_stats(&self) -> OutboundStats {
        self.outbound_stats
    }

    /// Counts an outbound INVITE refused before it reached a trunk.
    pub(super) fn outbound_refused(&mut self) {
        self.outbound_stats.refused += 1;
    }

    /// The number `invite` dials, when users may call out at all and its Request-URI is a
    /// number (after an optional `clid_override` prefix).
    pub(super) fn outbound_dial(&self, invite: &PendingInvite) -> Option<OutboundDial> {
        let config = &self.applied.config;
        let enabled = config
            .outbound
            .users
            .values()
            .any(|u| u.class != OutboundClass::None);
        if !enabled {
            return None;
        }
        let mut uri = invite.req.uri.clone();
        let mut override_wanted = false;
        if let Uri::Sip(sip) = &mut uri {
            let prefix = config.features.clid_override.as_str();
            let rest = sip.user.as_deref().and_then(|u| u.strip_prefix(prefix));
            if let Some(rest) = rest.filter(|r| !r.is_empty()) {
                sip.user = Some(rest.to_owned());
                override_wanted = true;
            }
        }
        match dial::dial_string(&uri) {
            Ok(DialString::Number { global, digits }) => Some(OutboundDial {
                global,
                digits,
                override_wanted,
            }),
            _ => None,
        }
    }

    /// The user a password-less INVITE is from, by its source: the IP address of a static
    /// TCP or TLS contact of a user with `identify_by_source`. Never over UDP: a datagram's
    /// source address can be forged, and a forged INVITE would place a call through a trunk
    /// (the port is not compared: a phone's connections come from ephemeral ports).
    pub(super) fn user_by_source(&self, from: Peer) -> Option<UserId> {
        if from.transport == crate::sip::transport::Transport::Udp {
            return None;
        }
        let config = &self.applied.config;
        config
            .outbound
            .users
            .iter()
            .filter(|(_, o)| o.identify_by_source)
            .find(|(id, _)| {
                config.user(id).is_some_and(|u| {
                    u.contacts
                        .iter()
                        .any(|c| stream_contact_ip(c) == Some(from.addr.ip()))
                })
            })
            .map(|(id, _)| id.clone())
    }

    /// `user`'s call to `dial` (see the module doc for the order of the checks).
    pub(super) fn call_out(
        &mut self,
        now: Time,
        invite: PendingInvite,
        user: &UserId,
        dial: OutboundDial,
    ) {
        match self.outbound_decision(&invite, user, &dial) {
            Decision::Refuse(status) => {
                self.outbound_refused();
                self.legs.refuse_invite(now, invite, status, Vec::new())
            }
            Decision::Colleague(callee) => self.call_user(now, invite, user, &callee),
            Decision::Out(out) => {
                let Outgoing {
                    number,
                    dest,
                    identity,
                } = *out;
                let label = QueueId(format!("out:{number}"));
                let Some(call) = self.legs.open_direct(now, invite, label) else {
                    return;
                };
                self.outbound_stats.placed += 1;
                let (switch, mut cx) = self.parts(now);
                switch.call_out(&mut cx, call, user, &dest, identity);
            }
        }
    }

    /// What becomes of `user`'s call to `dial`: the checks of the module doc, in order.
    fn outbound_decision(
        &self,
        invite: &PendingInvite,
        user: &UserId,
        dial: &OutboundDial,
    ) -> Decision {
        let config = &self.applied.config;
        let rules = &config.outbound.dialling;
        let number = match dial::normalise(dial.global, &dial.digits, rules, "[outbound]") {
            Ok(n) => n,
            Err(err) => {
                // A number nobody could dial: the same 404 as any number nobody has.
                tracing::info!(user = %user, %err, "outbound number not read");
                return Decision::Refuse(404);
            }
        };
        let Ok(tel) = crate::sip::parse::parse_uri(&format!("tel:{}", number.as_str())) else {
            return Decision::Refuse(404);
        };
        if let Some(callee) = self.settings.dial_plan.user_of(&tel) {
            // A colleague's number dialled in full: a call between users, not out.
            return Decision::Colleague(callee);
        }
        if let Err(why) = permitted(config, user, &number) {
            tracing::info!(user = %user, number = %number, why, "outbound call refused");
            return Decision::Refuse(403);
        }
        let host = match &invite.req.uri {
            Uri::Sip(sip) => sip.host.to_string(),
            _ => invite.local.ip().to_string(),
        };
        let ppi = invite
            .req
            .headers
            .get(&HeaderName::PPreferredIdentity)
            .and_then(crate::sip::parse::name_addr_of)
            .and_then(|n| E164::from_uri(&n.uri));
        let mut identity = match shown_identity(config, user, dial.override_wanted, ppi, &host) {
            Ok(identity) => identity,
            Err(why) => {
                tracing::info!(user = %user, why, "outbound call refused: no caller ID");
                return Decision::Refuse(403);
            }
        };
        // RFC 3323 §4.2 / RFC 3325 §9.3: the phone asks for its identity to be withheld
        // (`Privacy: id`): whatever the policy shows is asserted to the carrier only.
        let wants_privacy = invite
            .req
            .headers
            .get_all(&HeaderName::Privacy)
            .flat_map(|v| v.split(';'))
            .any(|t| t.trim().eq_ignore_ascii_case("id"));
        if wants_privacy {
            identity = anonymous(identity.asserted);
        }
        // The trunks' allow lists are the last word (the toll-fraud policy, `config::dial`).
        match self
            .settings
            .dial_plan
            .resolve(&self.settings.directory, &tel)
        {
            Ok(dest @ Destination::External { .. }) => Decision::Out(Box::new(Outgoing {
                number,
                dest,
                identity,
            })),
            other => {
                tracing::info!(user = %user, number = %number, ?other, "no trunk may carry the outbound call");
                Decision::Refuse(403)
            }
        }
    }
}

/// What an outbound INVITE gets.
enum Decision {
    /// Refused with this status.
    Refuse(u16),
    /// The number is a user's: a call between users.
    Colleague(UserId),
    /// Out through a trunk.
    Out(Box<Outgoing>),
}

/// A call that goes out: the number, its trunk and what it shows.
struct Outgoing {
    number: E164,
    dest: Destination,
    identity: ShownIdentity,
}

/// Whether `user` may call `number`: blocked prefixes first (nobody may), then the user's
/// class. `Err` says why, for the log.
fn permitted(config: &Config, user: &UserId, number: &E164) -> Result<(), &'static str> {
    let o = &config.outbound;
    if o.blocked(number).is_some() {
        return Err("blocked prefix");
    }
    match o.user(user).class {
        OutboundClass::None => Err("the user may not call out"),
        OutboundClass::National if !o.is_national(number) => {
            Err("an international number for a user with national calls only")
        }
        OutboundClass::National | OutboundClass::International => Ok(()),
    }
}

/// `sip:+E164@host;user=phone` (RFC 3261 §19.1.6).
fn number_uri(number: &E164, host: &str) -> Option<Uri> {
    crate::sip::parse::parse_uri(&format!("sip:{}@{host};user=phone", number.as_str())).ok()
}

/// What the called party and the carrier are shown (see the module doc, step 4). `ppi`: the
/// number in the phone's P-Preferred-Identity, if any.
fn shown_identity(
    config: &Config,
    user: &UserId,
    override_wanted: bool,
    ppi: Option<E164>,
    host: &str,
) -> Result<ShownIdentity, &'static str> {
    let account = config.user(user).ok_or("the user is gone")?;
    // RFC 3325 §9.2: a preferred identity is only a wish; it counts only when it names one of
    // the user's own numbers.
    let preferred = ppi.filter(|n| account.numbers.contains(n));
    let own = preferred
        .clone()
        .or_else(|| account.numbers.first().cloned());
    let policy = config.outbound.policy_for(user);
    let overridden = policy.is_some_and(|p| p.allow_override)
        && (override_wanted || preferred.is_some())
        && own.is_some();
    let own_identity = |own: Option<E164>| -> Result<ShownIdentity, &'static str> {
        let own = own.ok_or("the user has no number of their own")?;
        let uri = number_uri(&own, host).ok_or("no URI for the number")?;
        Ok(ShownIdentity {
            display: account.name.clone(),
            from: uri.clone(),
            asserted: uri,
            private: false,
        })
    };
    match policy.map(|p| &p.mode) {
        _ if overridden => own_identity(own),
        None | Some(ClidMode::User) => own_identity(own),
        Some(ClidMode::ServiceNumber(n)) => {
            let uri = number_uri(n, host).ok_or("no URI for the number")?;
            // The queue the number reaches names the call, as a queue's own calls do.
            let display = config
                .queues
                .iter()
                .find(|q| q.numbers.contains(n))
                .map_or_else(|| account.name.clone(), |q| q.name.clone());
            Ok(ShownIdentity {
                display,
                from: uri.clone(),
                asserted: uri,
                private: false,
            })
        }
        Some(ClidMode::Anonymous) => {
            // RFC 3323 §4.1.1.3: the anonymous From; RFC 3325 §9.3: the real identity stays
            // asserted for the carrier, which withholds it because of `Privacy: id`.
            let own = own.ok_or("an anonymous call still asserts the user's own number")?;
            let asserted = number_uri(&own, host).ok_or("no URI for the number")?;
            Ok(anonymous(asserted))
        }
    }
}

/// An anonymous call asserting `asserted` for the carrier only: RFC 3323 §4.1.1.3's From,
/// `Privacy: id` (RFC 3325 §9.3).
fn anonymous(asserted: Uri) -> ShownIdentity {
    ShownIdentity {
        display: "Anonymous".to_owned(),
        from: Uri::Sip(crate::sip::uri::SipUri {
            scheme: crate::sip::uri::Scheme::Sip,
            user: Some("anonymous".to_owned()),
            password: None,
            host: crate::sip::uri::Host::Name("anonymous.invalid".to_owned()),
            port: None,
            params: Default::default(),
            headers: None,
        }),
        asserted,
        private: true,
    }
}
