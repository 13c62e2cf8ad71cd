//! Whether a static contact answers: what OPTIONS probes (RFC 3261 §11) found out, and when to
//! probe next.
//!
//! - [`Reachability`]: the contacts known not to answer. [`Locations`](super::locations)
//!   consults it, so an unreachable contact is not rung and a user whose every contact is
//!   unreachable is offline. A contact not probed yet counts as reachable: a fresh start
//!   rings as before probing existed.
//! - [`Prober`]: one timer per static contact, every `[probe] interval`, staggered so that
//!   a thousand contacts are not probed in the same millisecond (contact *i* of *n*, counted
//!   from 1, first at `interval · i / n`: the first round ends one interval after start), and
//!   a deadline per probe (`[probe] timeout`). Sans-IO: the core
//!   asks what is due at `now`, sends the OPTIONS through the legs and reports the outcome.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;

use crate::config::Config;
use crate::sip::uri::Uri;
use crate::time::Time;

/// The contacts known not to answer, by their text.
#[derive(Clone, Debug, Default)]
pub(crate) struct Reachability {
    unreachable: HashSet<String>,
}

impl Reachability {
    /// Whether `contact` may be rung: not known to be unreachable.
    pub fn is_reachable(&self, contact: &Uri) -> bool {
        self.unreachable.is_empty() || !self.unreachable.contains(&contact.to_string())
    }

    /// Records a probe's outcome; whether it changed what is known of `contact`.
    pub fn set(&mut self, contact: &Uri, reachable: bool) -> bool {
        let key = contact.to_string();
        match reachable {
            true => self.unreachable.remove(&key),
            false => self.unreachable.insert(key),
        }
    }

    /// Forgets contacts that are no longer configured.
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.unreachable.retain(|c| keep(c));
    }
}

/// What is due at a given time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Due {
    /// Time to send `contact` an OPTIONS.
    Probe(Uri),
    /// The probe sent to `contact` got no final response in time: it is unreachable.
    Expired(Uri),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    /// Before `Send` at the same instant: a probe's outcome is known before the next one goes.
    Deadline,
    Send,
}

#[derive(Clone, Debug)]
struct Probed {
    uri: Uri,
    /// The deadline of the probe in flight, if any.
    deadline: Option<Time>,
}

/// When each static contact is probed next (see the module doc).
#[derive(Debug, Default)]
pub(crate) struct Prober {
    interval: Option<Duration>,
    timeout: Duration,
    contacts: HashMap<String, Probed>,
    timers: BTreeSet<(Time, Timer, String)>,
}

impl Prober {
    /// Every static contact of `config`, the first probes spread over one interval from `now`.
    pub fn new(now: Time, config: &Config) -> Prober {
        let mut p = Prober {
            interval: config.probe.interval,
            timeout: config.probe.timeout,
            ..Prober::default()
        };
        let contacts = static_contacts(config);
        p.schedule(now, contacts);
        p
    }

    /// The static contacts of `config`: kept ones keep their timers, new ones are spread over
    /// one interval from `now`; a changed interval or timeout starts the schedule again.
    pub fn reconfigure(&mut self, now: Time, config: &Config) {
        let contacts = static_contacts(config);
        if self.interval != config.probe.interval || self.timeout != config.probe.timeout {
            *self = Prober::new(now, config);
            return;
        }
        let wanted: HashSet<String> = contacts.iter().map(Uri::to_string).collect();
        self.contacts.retain(|k, _| wanted.contains(k));
        self.timers.retain(|(_, _, k)| wanted.contains(k));
        let new: Vec<Uri> = contacts
            .into_iter()
            .filter(|c| !self.contacts.contains_key(&c.to_string()))
            .collect();
        self.schedule(now, new);
    }

    /// Spreads the first probes of `contacts` over one interval from `now`.
    fn schedule(&mut self, now: Time, contacts: Vec<Uri>) {
        let Some(interval) = self.interval else {
            return;
        };
        let n = contacts.len() as u32;
        for (i, uri) in contacts.into_iter().enumerate() {
            let key = uri.to_string();
            if self.contacts.contains_key(&key) {
                continue;
            }
            let at = now + interval * (i as u32 + 1) / n.max(1);
            self.timers.insert((at, Timer::Send, key.clone()));
            self.contacts.insert(
                key,
                Probed {
                    uri,
                    deadline: None,
                },
            );
        }
    }

    /// Whether `contact` is a static contact being probed.
    pub fn watches(&self, contact: &Uri) -> bool {
        self.interval.is_some() && self.contacts.contains_key(&contact.to_string())
    }

    /// When [`Prober::due`] must run next.
    pub fn poll_timeout(&self) -> Option<Time> {
        self.timers.first().map(|(at, _, _)| *at)
    }

    /// What is due at `now`, in order. Each contact's next probe is scheduled one interval
    /// after this one was due (so the spread holds), or one interval from `now` when the
    /// core fell that far behind.
    pub fn due(&mut self, now: Time) -> Vec<Due> {
        let mut due = Vec::new();
        while let Some((at, timer, key)) = self.timers.first().cloned() {
            if at > now {
                break;
            }
            self.timers.pop_first();
            let Some(c) = self.contacts.get_mut(&key) else {
                continue;
            };
            match timer {
                Timer::Deadline => {
                    c.deadline = None;
                    due.push(Due::Expired(c.uri.clone()));
                }
                Timer::Send => {
                    let interval = self.interval.unwrap_or(Duration::from_secs(30));
                    let mut next = at + interval;
                    if next <= now {
                        next = now + interval;
                    }
                    self.timers.insert((next, Timer::Send, key));
                    due.push(Due::Probe(c.uri.clone()));
                }
            }
        }
        due
    }

    /// An OPTIONS went to `contact` at `now`: it must be answered within the timeout.
    pub fn sent(&mut self, now: Time, contact: &Uri) {
        let key = contact.to_string();
        let Some(c) = self.contacts.get_mut(&key) else {
            return;
        };
        if let Some(old) = c.deadline.take() {
            self.timers.remove(&(old, Timer::Deadline, key.clone()));
        }
        let at = now + self.timeout;
        c.deadline = Some(at);
        self.timers.insert((at, Timer::Deadline, key));
    }

    /// A probe of `contact` has its outcome: its deadline is moot.
    pub fn resolved(&mut self, contact: &Uri) {
        let key = contact.to_string();
        if let Some(at) = self.contacts.get_mut(&key).and_then(|c| c.deadline.take()) {
            self.timers.remove(&(at, Timer::Deadline, key));
        }
    }
}

/// Every distinct static contact of `config`, in configuration order.
fn static_contacts(config: &Config) -> Vec<Uri> {
    let mut seen = HashSet::new();
    config
        .users
        .iter()
        .flat_map(|u| u.contacts.iter())
        .filter(|c| seen.insert(c.to_string()))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn config(toml: &str) -> Config {
        crate::config::from_toml_str(toml, Path::new("")).expect("config")
    }

    fn users(n: usize) -> String {
        (0..n)
            .map(|i| {
                let (a, b) = (i / 250, i % 250 + 1);
                format!("[[user]]\nid = \"u{i}\"\ncontacts = [\"sip:u{i}@10.0.{a}.{b}\"]\n")
            })
            .collect()
    }

    #[test]
    fn first_probes_are_spread_over_the_interval_then_repeat_at_it() {
        let mut p = Prober::new(Time::ZERO, &config(&users(4)));
        let mut sends = Vec::new();
        let mut now = Time::ZERO;
        while now <= Time::from_millis(60_000) {
            for d in p.due(now) {
                if let Due::Probe(uri) = d {
                    sends.push((now.since_epoch().as_millis(), uri.to_string()));
                }
            }
            now = p.poll_timeout().expect("a timer");
        }
        let at: Vec<u128> = sends.iter().map(|(t, _)| *t).collect();
        assert_eq!(
            at,
            [7_500, 15_000, 22_500, 30_000, 37_500, 45_000, 52_500, 60_000]
        );
        assert_eq!(sends[0].1, sends[4].1);
    }

    #[test]
    fn an_unanswered_probe_expires_after_the_timeout_and_an_answer_cancels_it() {
        let mut p = Prober::new(Time::ZERO, &config(&users(1)));
        let t = Time::from_millis;
        assert_eq!(p.poll_timeout(), Some(t(30_000)));
        let Due::Probe(uri) = p.due(t(30_000)).remove(0) else {
            panic!("a probe first");
        };
        p.sent(t(30_000), &uri);
        assert_eq!(p.poll_timeout(), Some(t(35_000)));
        assert_eq!(p.due(t(35_000)), [Due::Expired(uri.clone())]);
        assert_eq!(p.due(t(60_000)), [Due::Probe(uri.clone())]);
        p.sent(t(60_000), &uri);
        p.resolved(&uri);
        assert_eq!(p.poll_timeout(), Some(t(90_000)));
    }

    #[test]
    fn a_thousand_contacts_are_never_probed_in_the_same_millisecond() {
        let mut p = Prober::new(Time::ZERO, &config(&users(1000)));
        let mut at = Vec::new();
        while let Some(t) = p.poll_timeout().filter(|t| *t <= Time::from_millis(60_000)) {
            at.extend(p.due(t).iter().map(|_| t.since_epoch().as_millis()));
        }
        assert_eq!(at.len(), 2000, "each contact twice in two intervals");
        let gaps: Vec<u128> = at.windows(2).map(|w| w[1] - w[0]).collect();
        assert_eq!(gaps.iter().min(), Some(&30), "30 s / 1000 contacts apart");
        assert_eq!(gaps.iter().max(), Some(&30));
    }

    #[test]
    fn interval_zero_probes_nothing() {
        let p = Prober::new(
            Time::ZERO,
            &config(&format!("[probe]\ninterval = 0\n{}", users(3))),
        );
        assert_eq!(p.poll_timeout(), None);
    }

    #[test]
    fn reachability_counts_unknown_contacts_as_reachable() {
        let uri = crate::sip::parse::parse_uri("sip:a@192.0.2.1").expect("uri");
        let mut r = Reachability::default();
        assert!(r.is_reachable(&uri));
        assert!(r.set(&uri, false));
        assert!(!r.set(&uri, false));
        assert!(!r.is_reachable(&uri));
        assert!(r.set(&uri, true));
        assert!(r.is_reachable(&uri));
    }
}
