//! Registration and ban events for the event log: a binding came or went (and why), a source
//! was banned or its ban ended. The core reports them as [`AccessEvent`]s beside the queue
//! events; the runtime writes both to the same log (`GET /api/v1/events`).
//!
//! What is logged, and what is not:
//! - `registered`: a binding that was not there (`reason=new`), or one that is now reached at
//!   another source address (`reason=moved`: a NAT rebinding, a phone on another network).
//! - `unregistered`: a binding removed by its phone (`Expires: 0`, `Contact: *`, replaced
//!   when the user is at `max_contacts`: `reason=phone`), through the admin API
//!   (`reason=admin`), or because the user can no longer register (`reason=config`).
//! - `registration-expired`: the phone did not refresh in time.
//! - `registration-flow-closed`: the TCP/TLS connection it registered over closed (RFC 5626).
//! - `banned` (`reason=` the admission reason, `until=` seconds) and `ban-lifted`
//!   (`reason=admin` or `reason=expired`).
//!
//! A refresh that changes nothing a reader needs (same binding, same source) is **not**
//! logged: 10,000 agents refreshing every 60 s would write about 170 rows a second, 14 million
//! a day, burying the queue events and the store under rows that say "still there". The
//! current bindings are in `GET /api/v1/users/{id}/registrations`; the log keeps the changes.
//!
//! The diff is made against what this log last saw of each user (`known`), so it costs one
//! comparison of a user's few bindings per REGISTER and no scan of anyone else's.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use crate::config::UserId;
use crate::sip::transport::Peer;
use crate::time::Time;

use super::admission::BanView;
use super::registrar::Binding;

/// The kinds of [`AccessEvent`], as spelled in the log.
pub mod kind {
    pub const REGISTERED: &str = "registered";
    pub const UNREGISTERED: &str = "unregistered";
    pub const REGISTRATION_EXPIRED: &str = "registration-expired";
    pub const REGISTRATION_FLOW_CLOSED: &str = "registration-flow-closed";
    pub const BANNED: &str = "banned";
    pub const BAN_LIFTED: &str = "ban-lifted";
}

/// A core nobody drains (tests, benchmarks of the core) keeps at most this many events; the
/// oldest go first.
const MAX_PENDING: usize = 65_536;

/// One registration or ban event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessEvent {
    pub at: Time,
    /// One of [`kind`].
    pub kind: &'static str,
    /// The user whose binding it is (none for bans).
    pub user: Option<UserId>,
    /// The Call-ID of the REGISTER that made or last refreshed the binding.
    pub call_id: Option<String>,
    /// The Contact URI as registered.
    pub contact: Option<String>,
    /// `udp:198.51.100.20:5062` for a binding, the address for a ban.
    pub source: Option<String>,
    /// Why (see the module doc).
    pub reason: String,
}

impl AccessEvent {
    /// `contact=… source=… reason=…`: the event log's `detail`.
    pub fn detail(&self) -> String {
        let mut parts = Vec::new();
        if let Some(c) = &self.contact {
            parts.push(format!("contact={c}"));
        }
        if let Some(s) = &self.source {
            parts.push(format!("source={s}"));
        }
        parts.push(format!("reason={}", self.reason));
        parts.join(" ")
    }
}

/// Why the core looks at a user's bindings again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cause {
    /// A REGISTER was accepted.
    Register,
    /// The expiry timer ran.
    Expiry,
    /// A stream connection closed.
    FlowClosed,
    /// The admin API removed a binding.
    Admin,
    /// A configuration change: the user can no longer register.
    Config,
    /// Bindings put back after a restart: known from now on, not news.
    Restore,
}

/// What the log last saw of one binding.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Known {
    /// The binding's identity (RFC 5626 instance and reg-id, else the Contact URI), as the
    /// registrar matches refreshes.
    key: String,
    contact: String,
    source: Peer,
    call_id: String,
    expires: Time,
}

impl Known {
    fn of(b: &Binding) -> Known {
        let contact = b.contact.uri.to_string();
        let key = match &b.instance {
            Some(i) => format!("{i};{:?}", b.reg_id),
            None => contact.clone(),
        };
        Known {
            key,
            contact,
            source: b.source,
            call_id: b.call_id.clone(),
            expires: b.expires,
        }
    }
}

fn source_text(p: &Peer) -> String {
    format!(
        "{}:{}",
        p.transport.as_via_str().to_ascii_lowercase(),
        p.addr
    )
}

/// The registration and ban events not yet taken, and what they are diffed against.
#[derive(Debug, Default)]
pub(crate) struct AccessLog {
    known: HashMap<UserId, Vec<Known>>,
    /// Bans logged and not yet logged as ended, with their end.
    bans: HashMap<IpAddr, Time>,
    events: VecDeque<AccessEvent>,
}

impl AccessLog {
    /// `user`'s bindings are `current` now, for `cause`: logs what came and went.
    pub fn bindings(&mut self, now: Time, user: &UserId, current: &[&Binding], cause: Cause) {
        let new: Vec<Known> = current.iter().map(|b| Known::of(b)).collect();
        let old = self.known.remove(user).unwrap_or_default();
        if cause != Cause::Restore {
            for k in &new {
                let reason = match old.iter().find(|o| o.key == k.key) {
                    None => "new",
                    Some(o) if o.source.addr != k.source.addr => "moved",
                    Some(_) => continue,
                };
                self.binding_event(now, kind::REGISTERED, user, k, reason);
            }
            for o in old.iter().filter(|o| !new.iter().any(|k| k.key == o.key)) {
                let (kind, reason) = match cause {
                    // An expired binding is expired whatever made us look (the registrar
                    // drops expired ones before it takes a REGISTER).
                    _ if o.expires <= now => (kind::REGISTRATION_EXPIRED, "expired"),
                    Cause::FlowClosed => (kind::REGISTRATION_FLOW_CLOSED, "flow-closed"),
                    Cause::Admin => (kind::UNREGISTERED, "admin"),
                    Cause::Config => (kind::UNREGISTERED, "config"),
                    Cause::Expiry => (kind::REGISTRATION_EXPIRED, "expired"),
                    Cause::Register | Cause::Restore => (kind::UNREGISTERED, "phone"),
                };
                self.binding_event(now, kind, user, o, reason);
            }
        }
        if !new.is_empty() {
            self.known.insert(user.clone(), new);
        }
    }

    fn binding_event(
        &mut self,
        now: Time,
        kind: &'static str,
        user: &UserId,
        k: &Known,
        reason: &str,
    ) {
        self.push(AccessEvent {
            at: now,
            kind,
            user: Some(user.clone()),
            call_id: Some(k.call_id.clone()),
            contact: Some(k.contact.clone()),
            source: Some(source_text(&k.source)),
            reason: reason.to_owned(),
        });
    }

    /// A source was banned.
    pub fn banned(&mut self, now: Time, ban: &BanView) {
        self.bans.insert(ban.addr, ban.until);
        let secs = ban.until.saturating_since(now).as_secs();
        self.push(AccessEvent {
            at: now,
            kind: kind::BANNED,
            user: None,
            call_id: None,
            contact: None,
            source: Some(ban.addr.to_string()),
            reason: format!("{} until=+{secs}s", ban.reason.as_str()),
        });
    }

    /// The ban on `addr` ended before its time (an admin lifted it).
    pub fn lifted(&mut self, now: Time, addr: IpAddr) {
        self.bans.remove(&addr);
        self.ban_lifted(now, addr, "admin");
    }

    /// Logs the end of the bans due at `now`; `until` says when a ban in force ends now (a
    /// ban extended since it was logged ends later and is looked at again then).
    pub fn expire_bans(&mut self, now: Time, until: impl Fn(IpAddr) -> Option<Time>) {
        if self.bans.values().all(|t| *t > now) {
            return;
        }
        let due: Vec<IpAddr> = self
            .bans
            .iter()
            .filter(|(_, t)| **t <= now)
            .map(|(a, _)| *a)
            .collect();
        for addr in due {
            match until(addr) {
                Some(later) if later > now => {
                    self.bans.insert(addr, later);
                }
                _ => {
                    self.bans.remove(&addr);
                    self.ban_lifted(now, addr, "expired");
                }
            }
        }
    }

    fn ban_lifted(&mut self, now: Time, addr: IpAddr, reason: &str) {
        self.push(AccessEvent {
            at: now,
            kind: kind::BAN_LIFTED,
            user: None,
            call_id: None,
            contact: None,
            source: Some(addr.to_string()),
            reason: reason.to_owned(),
        });
    }

    /// When the next logged ban ends.
    pub fn poll_timeout(&self) -> Option<Time> {
        self.bans.values().min().copied()
    }

    pub fn poll(&mut self) -> Option<AccessEvent> {
        self.events.pop_front()
    }

    fn push(&mut self, event: AccessEvent) {
        tracing::info!(
            target: "holdline::access_events",
            kind = event.kind,
            user = ?event.user.as_ref().map(|u| u.as_str()),
            detail = %event.detail(),
            "access event"
        );
        if self.events.len() >= MAX_PENDING {
            self.events.pop_front();
        }
        self.events.push_back(event);
    }
}
