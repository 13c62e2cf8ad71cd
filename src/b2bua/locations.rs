//! Where a user is rung: the one place that turns a user into contacts, and tells the queue
//! engine whether an agent is online.
//!
//! The queue engine never sees a contact: it says "ring agent X", the b2bua asks this module
//! where, and the engine hears only online / offline.
//!
//! Registered bindings ([`Locations::set_registered`], from the registrar) join the static
//! contacts of `[[user]] contacts` (phones that do not register): a user is online while they
//! have either. A registered contact is rung at the address (and over the connection) its
//! REGISTER came from, with its Path as Route.
//!
//! Static contacts are probed with OPTIONS (`super::reachability`): one known not to answer
//! is not rung, and a user whose every static contact is unreachable and who has no
//! registered binding is offline until a probe is answered again.
//!
//! What this does not do: expiry (the registrar's).

use std::collections::HashMap;

use crate::config::{Config, UserId};
use crate::sip::transport::Peer;
use crate::sip::uri::Uri;

use super::reachability::Reachability;

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
    /// Which static contacts answer their probes.
    reachability: Reachability,
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
            reachability: Reachability::default(),
        }
    }

    /// Every place to ring `user`: static contacts, then registered bindings.
    pub fn ring_targets(&self, user: &UserId) -> Vec<RingTarget> {
        let statics = self.contacts(user).into_iter().map(|uri| RingTarget {
            uri,
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

    /// The static contacts where to ring `user` (fork to each): those not known to be
    /// unreachable; empty for an unknown user or one with none.
    pub fn contacts(&self, user: &UserId) -> Vec<Uri> {
        self.reachable(user).cloned().collect()
    }

    fn reachable<'a>(&'a self, user: &UserId) -> impl Iterator<Item = &'a Uri> + 'a {
        self.static_contacts
            .get(user)
            .into_iter()
            .flatten()
            .filter(|c| self.reachability.is_reachable(c))
    }

    /// Whether `user` has somewhere to ring: a reachable static contact or a registered
    /// binding.
    pub fn is_online(&self, user: &UserId) -> bool {
        self.reachable(user).next().is_some() || self.registered.contains_key(user)
    }

    /// A probe of static `contact` was answered (`reachable`) or not. Returns the users whose
    /// online state this changed, in configuration order, with their new state.
    pub fn set_reachable(&mut self, contact: &Uri, reachable: bool) -> Vec<(UserId, bool)> {
        // Most outcomes repeat what is known: those cost one lookup, not a pass over the users.
        if self.reachability.is_reachable(contact) == reachable {
            return Vec::new();
        }
        let owners: Vec<UserId> = self
            .users
            .iter()
            .filter(|u| {
                self.static_contacts
                    .get(*u)
                    .is_some_and(|c| c.contains(contact))
            })
            .cloned()
            .collect();
        if owners.is_empty() {
            // Not a static contact (any more): nothing to remember.
            return Vec::new();
        }
        let before: Vec<bool> = owners.iter().map(|u| self.is_online(u)).collect();
        if !self.reachability.set(contact, reachable) {
            return Vec::new();
        }
        tracing::info!(%contact, reachable, "static contact reachability changed");
        owners
            .into_iter()
            .zip(before)
            .filter(|(u, was)| self.is_online(u) != *was)
            .map(|(u, was)| (u, !was))
            .collect()
    }

    /// Forgets what probes found (every static contact counts as reachable again); returns
    /// the users this brings online, in configuration order.
    pub fn forget_reachability(&mut self) -> Vec<(UserId, bool)> {
        let offline: Vec<UserId> = self
            .users
            .iter()
            .filter(|u| !self.is_online(u))
            .cloned()
            .collect();
        self.reachability = Reachability::default();
        offline
            .into_iter()
            .filter(|u| self.is_online(u))
            .map(|u| (u, true))
            .collect()
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
        // What the probes found stays known for the static contacts still configured.
        let mut reachability = old.reachability.clone();
        let configured: std::collections::HashSet<String> = self
            .static_contacts
            .values()
            .flatten()
            .map(Uri::to_string)
            .collect();
        reachability.retain(|c| configured.contains(c));
        self.reachability = reachability;
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
