//! Where a user is rung: the one place that turns a user into contacts, and tells the queue
//! engine whether an agent is online.
//!
//! Today the contacts are the static ones of `[[user]] contacts` (phones that do not
//! register); registered bindings join them when the registrar lands, and then a user is online
//! while they have either. The queue engine never sees a contact: it says "ring agent X", the
//! b2bua asks [`Locations::contacts`], and the engine hears only online / offline.
//!
//! Registered bindings join the static contacts ([`Locations::set_registered`], from the
//! registrar): a user is online while they have either. A registered contact is rung at the
//! address (and over the connection) its REGISTER came from, with its Path as Route.
//!
//! What this does not do: expiry (the registrar's) or reachability checks (OPTIONS); a contact
//! that does not answer shows up as a ring that fails.

use std::collections::HashMap;

use crate::config::{Config, UserId};
use crate::sip::transport::Peer;
use crate::sip::uri::Uri;

/// Somewhere to ring a user: a static contact (`dest` from its URI) or a registered binding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RingTarget {
    pub uri: Uri,
    /// Where to send (a binding's source); `None`: from the URI.
    pub dest: Option<Peer>,
    /// Route header values (a binding's Path, RFC 3327).
    pub route: Vec<String>,
}

/// Every configured user's contacts.
#[derive(Clone, Debug, Default)]
pub(crate) struct Locations {
    static_contacts: HashMap<UserId, Vec<Uri>>,
    /// The users in configuration order, so what the engine hears is in a reproducible order.
    users: Vec<UserId>,
    /// Registered bindings, from the registrar; users without any are absent.
    registered: HashMap<UserId, Vec<RingTarget>>,
}

impl Locations {
    pub fn new(config: &Config) -> Locations {
        Locations {
            static_contacts: config
                .users
                .iter()
                .map(|u| (u.id.clone(), u.contacts.clone()))
                .collect(),
            users: config.users.iter().map(|u| u.id.clone()).collect(),
            registered: HashMap::new(),
        }
    }

    /// Every place to ring `user`: static contacts, then registered bindings.
    pub fn ring_targets(&self, user: &UserId) -> Vec<RingTarget> {
        let statics = self.contacts(user).iter().map(|uri| RingTarget {
            uri: uri.clone(),
            dest: None,
            route: Vec::new(),
        });
        let registered = self.registered.get(user).into_iter().flatten().cloned();
        statics.chain(registered).collect()
    }

    /// The registrar's bindings of `user` now; returns whether `user` went online or offline
    /// by it.
    pub fn set_registered(&mut self, user: &UserId, targets: Vec<RingTarget>) -> Option<bool> {
        let was = self.is_online(user);
        if targets.is_empty() {
            self.registered.remove(user);
        } else {
            self.registered.insert(user.clone(), targets);
        }
        let now = self.is_online(user);
        (was != now && self.users.contains(user)).then_some(now)
    }

    /// Where to ring `user` (fork to each); empty for an unknown user or one with nowhere known.
    pub fn contacts(&self, user: &UserId) -> &[Uri] {
        self.static_contacts
            .get(user)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// Whether `user` has somewhere to ring: a static contact or a registered binding.
    pub fn is_online(&self, user: &UserId) -> bool {
        !self.contacts(user).is_empty() || self.registered.contains_key(user)
    }

    /// Every configured user and whether they are online, in configuration order: what a
    /// new engine starts with.
    pub fn users(&self) -> impl Iterator<Item = (&UserId, bool)> + '_ {
        self.users.iter().map(|u| (u, self.is_online(u)))
    }

    /// Takes `config`'s static contacts and returns what the engine must hear, in order: every
    /// user who is new or whose online state changed, then every removed user (offline: never
    /// rung again).
    pub fn reconfigure(&mut self, config: &Config) -> Vec<(UserId, bool)> {
        let mut old = std::mem::replace(self, Locations::new(config));
        // Bindings outlive a configuration change; the registrar drops those of users who
        // can no longer register ([`Locations::set_registered`]).
        self.registered = old
            .registered
            .drain()
            .filter(|(u, _)| self.static_contacts.contains_key(u))
            .collect();
        old.registered = self.registered.clone();
        let known = |u: &UserId| old.static_contacts.contains_key(u);
        let mut changes: Vec<(UserId, bool)> = self
            .users()
            .filter(|&(u, online)| !known(u) || old.is_online(u) != online)
            .map(|(u, online)| (u.clone(), online))
            .collect();
        changes.extend(
            old.users
                .iter()
                .filter(|u| !self.static_contacts.contains_key(*u))
                .map(|u| (u.clone(), false)),
        );
        changes
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn config(users: &str) -> Config {
        crate::config::from_toml_str(users, Path::new("")).expect("config")
    }

    #[test]
    fn a_user_with_contacts_is_online_and_rung_there() {
        let l = Locations::new(&config(
            "[[user]]\nid = \"amos\"\ncontacts = [\"sip:amos@192.0.2.5\"]\n[[user]]\nid = \"bea\"\n",
        ));
        let amos = UserId("amos".into());
        assert_eq!(l.contacts(&amos).len(), 1);
        assert!(l.is_online(&amos));
        assert!(!l.is_online(&UserId("bea".into())));
        assert!(l.contacts(&UserId("nobody".into())).is_empty());
    }

    #[test]
    fn reconfigure_reports_new_changed_and_removed_users_only() {
        let mut l = Locations::new(&config(
            "[[user]]\nid = \"a\"\ncontacts = [\"sip:a@192.0.2.1\"]\n\
             [[user]]\nid = \"b\"\ncontacts = [\"sip:b@192.0.2.2\"]\n\
             [[user]]\nid = \"gone\"\n",
        ));
        let mut changes = l.reconfigure(&config(
            // a: another contact (still online); b: none left; c: new.
            "[[user]]\nid = \"a\"\ncontacts = [\"sip:a@192.0.2.9\"]\n\
             [[user]]\nid = \"b\"\n[[user]]\nid = \"c\"\n",
        ));
        changes.sort();
        let id = |s: &str| UserId(s.into());
        assert_eq!(
            changes,
            [(id("b"), false), (id("c"), false), (id("gone"), false)]
        );
    }
}
