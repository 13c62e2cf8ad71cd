//! Trunk SBC health: OPTIONS (RFC 3261 §11) to every SBC of a trunk with `health_interval`,
//! and what the answers say.
//!
//! - An SBC starts `Probing` (not known yet: it is tried, as before health checks existed),
//!   is `Down` after `down_after` probes in a row got no final response in time (the trunk's
//!   `first_response_timeout`), a 408, or a transport error, and `Up` after `up_after`
//!   answered ones in a row (any other final response: the SBC is there).
//! - A 503 with `Retry-After` (RFC 3261 §21.5.4, §20.33) takes the SBC out of failover for
//!   that many seconds whatever its state; a 503 without one counts as a failure.
//! - A 503 with `Retry-After` to an INVITE through the trunk takes the SBC out the same way,
//!   health checks or not ([`Health::hold_out`]).
//! - A `Down` SBC, or one out for Retry-After, is skipped by failover (`b2bua::trunk`).
//!
//! Sans-IO like `reachability`: the core asks what is due at `now`, sends the OPTIONS through
//! the legs and reports each outcome here with the time it came.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::config::{Config, TrunkHealth, TrunkId};
use crate::sip::uri::{SipUri, Uri};
use crate::time::Time;

/// What is known of an SBC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SbcState {
    Probing,
    Up,
    Down,
}

impl SbcState {
    pub fn as_str(self) -> &'static str {
        match self {
            SbcState::Probing => "probing",
            SbcState::Up => "up",
            SbcState::Down => "down",
        }
    }
}

/// One SBC as the API shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct SbcView {
    pub trunk: TrunkId,
    pub uri: String,
    pub state: SbcState,
    /// Round-trip time of the last answered OPTIONS.
    pub rtt: Option<Duration>,
    /// Out of failover until then (a 503's Retry-After), when that is later than now.
    pub retry_after_until: Option<Time>,
    pub failures_in_a_row: u32,
}

/// A change worth logging.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub at: Time,
    pub trunk: TrunkId,
    pub uri: String,
    pub state: SbcState,
}

/// What is due at a given time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Due {
    Probe(Uri),
    /// The OPTIONS to this SBC got no final response in time.
    Expired(Uri),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Deadline,
    Send,
}

#[derive(Clone, Debug)]
struct Sbc {
    trunk: TrunkId,
    uri: SipUri,
    health: TrunkHealth,
    timeout: Duration,
    state: SbcState,
    failures: u32,
    answers: u32,
    rtt: Option<Duration>,
    out_until: Option<Time>,
    sent_at: Option<Time>,
    deadline: Option<Time>,
}

/// Every health-checked SBC, keyed by (trunk, SBC URI text).
#[derive(Debug, Default)]
pub(crate) struct Health {
    sbcs: BTreeMap<(TrunkId, String), Sbc>,
    timers: BTreeSet<(Time, Timer, (TrunkId, String))>,
    /// SBCs without health checks that an INVITE's 503 took out until then (at most one
    /// entry per configured SBC; ended ones are dropped at the next hold-out).
    held_out: BTreeMap<(TrunkId, String), Time>,
}

impl Health {
    /// The SBCs of every trunk with `health_interval`; kept ones keep their state, new ones
    /// get their first probe spread over one interval from `now`.
    pub fn reconfigure(&mut self, now: Time, config: &Config) {
        let mut wanted = BTreeMap::new();
        for t in &config.trunks {
            let Some(health) = t.health else { continue };
            for s in &t.sbcs {
                wanted.insert((t.id.clone(), s.uri.to_string()), (t, s, health));
            }
        }
        self.sbcs.retain(|k, _| wanted.contains_key(k));
        self.timers.retain(|(_, _, k)| wanted.contains_key(k));
        let n = wanted.len().max(1) as u32;
        for (i, (key, (t, s, health))) in wanted.into_iter().enumerate() {
            if let Some(kept) = self.sbcs.get_mut(&key) {
                kept.health = health;
                kept.timeout = t.first_response_timeout;
                continue;
            }
            let at = now + health.interval * (i as u32 + 1) / n;
            self.timers.insert((at, Timer::Send, key.clone()));
            self.sbcs.insert(
                key,
                Sbc {
                    trunk: t.id.clone(),
                    uri: s.uri.clone(),
                    health,
                    timeout: t.first_response_timeout,
                    state: SbcState::Probing,
                    failures: 0,
                    answers: 0,
                    rtt: None,
                    out_until: None,
                    sent_at: None,
                    deadline: None,
                },
            );
        }
    }

    pub fn poll_timeout(&self) -> Option<Time> {
        self.timers.first().map(|(at, _, _)| *at)
    }

    /// What is due at `now`, in order; each SBC's next probe one interval later.
    pub fn due(&mut self, now: Time) -> Vec<Due> {
        let mut due = Vec::new();
        while let Some((at, timer, key)) = self.timers.first().cloned() {
            if at > now {
                break;
            }
            self.timers.pop_first();
            let Some(s) = self.sbcs.get_mut(&key) else {
                continue;
            };
            let uri = Uri::Sip(s.uri.clone());
            match timer {
                Timer::Deadline => {
                    s.deadline = None;
                    if !due.contains(&Due::Expired(uri.clone())) {
                        due.push(Due::Expired(uri));
                    }
                }
                Timer::Send => {
                    let mut next = at + s.health.interval;
                    if next <= now {
                        next = now + s.health.interval;
                    }
                    self.timers.insert((next, Timer::Send, key));
                    // One probe in flight per SBC: a slow one is not piled on.
                    if s.deadline.is_none() && !due.contains(&Due::Probe(uri.clone())) {
                        due.push(Due::Probe(uri));
                    }
                }
            }
        }
        due
    }

    /// An OPTIONS went to `sbc` at `now`: it must be answered within the timeout.
    pub fn sent(&mut self, now: Time, sbc: &Uri) {
        let text = sbc.to_string();
        for (key, s) in self.sbcs.iter_mut().filter(|(k, _)| k.1 == text) {
            if let Some(old) = s.deadline.take() {
                self.timers.remove(&(old, Timer::Deadline, key.clone()));
            }
            let at = now + s.timeout;
            s.sent_at = Some(now);
            s.deadline = Some(at);
            self.timers.insert((at, Timer::Deadline, key.clone()));
        }
    }

    /// The outcome of the OPTIONS to `sbc`: its final status (`None`: none in time, or the
    /// transport failed) and a 503's Retry-After. Returns the state changes.
    pub fn outcome(
        &mut self,
        now: Time,
        sbc: &Uri,
        status: Option<u16>,
        retry_after: Option<Duration>,
    ) -> Vec<Change> {
        let text = sbc.to_string();
        let mut changes = Vec::new();
        for (key, s) in self.sbcs.iter_mut().filter(|(k, _)| k.1 == text) {
            // Only the probe in flight counts: a late answer to one already given up on
            // says nothing the next probe will not.
            let Some(sent_at) = s.sent_at.take() else {
                continue;
            };
            if let Some(at) = s.deadline.take() {
                self.timers.remove(&(at, Timer::Deadline, key.clone()));
            }
            let answered = match (status, retry_after) {
                // RFC 3261 §21.5.4: the server says when to come back; until then it is out.
                (Some(503), Some(after)) => {
                    s.out_until = Some(now + after);
                    None
                }
                (Some(408 | 503), _) | (None, _) => Some(false),
                (Some(_), _) => Some(true),
            };
            let before = s.state;
            match answered {
                Some(true) => {
                    // An answer says it serves again, whatever an earlier 503 asked for.
                    s.out_until = None;
                    s.rtt = Some(now.saturating_since(sent_at));
                    s.failures = 0;
                    s.answers += 1;
                    if s.state != SbcState::Up && s.answers >= s.health.up_after {
                        s.state = SbcState::Up;
                    }
                }
                Some(false) => {
                    s.answers = 0;
                    s.failures += 1;
                    if s.state != SbcState::Down && s.failures >= s.health.down_after {
                        s.state = SbcState::Down;
                    }
                }
                None => {}
            }
            if s.state != before {
                changes.push(Change {
                    at: now,
                    trunk: s.trunk.clone(),
                    uri: text.clone(),
                    state: s.state,
                });
            }
        }
        changes
    }

    /// Whether failover may try `sbc` of `trunk` at `now`: not down, not out for Retry-After.
    /// An SBC without health checks is usable unless an INVITE's 503 took it out.
    pub fn usable(&self, now: Time, trunk: &TrunkId, sbc: &SipUri) -> bool {
        let key = (trunk.clone(), sbc.to_string());
        match self.sbcs.get(&key) {
            None => self.held_out.get(&key).is_none_or(|t| now >= *t),
            Some(s) => s.state != SbcState::Down && s.out_until.is_none_or(|t| now >= t),
        }
    }

    /// An INVITE to `sbc` of `trunk` got 503 with Retry-After `after` (already capped as a
    /// probe's is): out of failover until `now + after` (RFC 3261 §21.5.4). A later end
    /// already set stays.
    pub fn hold_out(&mut self, now: Time, trunk: &TrunkId, sbc: &SipUri, after: Duration) {
        let until = now + after;
        let key = (trunk.clone(), sbc.to_string());
        if let Some(s) = self.sbcs.get_mut(&key) {
            s.out_until = Some(s.out_until.map_or(until, |t| t.max(until)));
            return;
        }
        self.held_out.retain(|_, t| *t > now);
        let entry = self.held_out.entry(key).or_insert(until);
        *entry = (*entry).max(until);
    }

    /// Every health-checked SBC, by trunk and URI.
    pub fn view(&self, now: Time) -> Vec<SbcView> {
        self.sbcs
            .values()
            .map(|s| SbcView {
                trunk: s.trunk.clone(),
                uri: s.uri.to_string(),
                state: s.state,
                rtt: s.rtt,
                retry_after_until: s.out_until.filter(|t| *t > now),
                failures_in_a_row: s.failures,
            })
            .collect()
    }
}
