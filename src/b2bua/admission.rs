//! [`Admission`]: per-source admission control in front of the transaction layer, on virtual
//! time. Each source address has a token bucket of requests; a source that empties it, or that
//! holds more calls answered (or ringing) but not ACKed than its quota, is banned for
//! `[limits] ban` seconds, and a banned source's datagrams are dropped without an answer.
//!
//! Sources are classed: a `[[trunk]]` proxy's address has its own, higher limits and is never
//! banned automatically (a carrier banned is every caller refused: its excess requests are
//! dropped instead); an authenticated user's source ([`Admission::mark_authenticated`], for the
//! registrar) has its own limits too. The ban list is general: each ban says why
//! ([`BanReason`]), so the registrar's bans for failed authentication go on the same list, and
//! an admin lifts any of them.
//!
//! Cost and memory: one `HashMap` lookup per datagram (two while a ban is active somewhere).
//! Responses are not rate limited: they answer our own transactions, which bound them. The
//! table of sources holds at most `[limits] max_sources` addresses; an entry whose bucket has
//! refilled is no different from a fresh one, so when the table is full such idle entries are
//! swept (at most once a second). When it is still full, new addresses share one bucket with
//! the per-source limits: a spray from many addresses is limited as a whole, nobody is banned
//! for it, and the sources already known keep their own buckets.
//!
//! What this does not do: send anything. A ban drops; the caller of [`Admission::admit`]
//! decides nothing else.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::time::Duration;

use crate::config::{ClassLimits, Config, LimitsConfig};
use crate::time::Time;

/// How often, at most, a full table is swept for idle entries.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// Which limits a source gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Any address nothing else is known of.
    Source,
    /// A `[[trunk]]` proxy's address.
    Trunk,
    /// A source a user authenticated from (the registrar's hook).
    Authenticated,
}

/// Why a source is banned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BanReason {
    /// More requests than its rate and burst allow.
    RequestRate,
    /// More calls answered or ringing but not ACKed than its quota.
    Unconfirmed,
    /// Failed authentication too often (the registrar's).
    AuthFailures,
    /// An admin banned it.
    Admin,
}

impl BanReason {
    pub fn as_str(self) -> &'static str {
        match self {
            BanReason::RequestRate => "request-rate",
            BanReason::Unconfirmed => "unconfirmed-calls",
            BanReason::AuthFailures => "auth-failures",
            BanReason::Admin => "admin",
        }
    }
}

/// One ban, as the admin API lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BanView {
    pub addr: IpAddr,
    pub reason: BanReason,
    pub since: Time,
    pub until: Time,
    /// Datagrams dropped from it since it was banned.
    pub dropped: u64,
}

/// Counters for `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AdmissionStats {
    /// Bans since start.
    pub bans_total: u64,
    /// Datagrams dropped: from banned sources, or over a rate.
    pub dropped_total: u64,
    /// Requests refused because the source table was full and the shared bucket empty.
    pub overflow_dropped: u64,
}

/// A token bucket: `tokens` at `at`.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Time,
}

impl Bucket {
    fn full(limits: &ClassLimits, now: Time) -> Bucket {
        Bucket {
            tokens: f64::from(limits.burst),
            at: now,
        }
    }

    /// Refills for the time since the last request and takes one token, if there is one.
    fn take(&mut self, limits: &ClassLimits, now: Time) -> bool {
        let elapsed = now.saturating_since(self.at).as_secs_f64();
        self.tokens =
            (self.tokens + elapsed * f64::from(limits.request_rate)).min(f64::from(limits.burst));
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Whether the bucket has refilled by `now` (the entry carries nothing a fresh one would not).
    fn idle(&self, limits: &ClassLimits, now: Time) -> bool {
        let missing = f64::from(limits.burst) - self.tokens;
        now.saturating_since(self.at).as_secs_f64() * f64::from(limits.request_rate) >= missing
    }
}

#[derive(Clone, Copy, Debug)]
struct Source {
    bucket: Bucket,
    class: Class,
}

#[derive(Clone, Copy, Debug)]
struct Ban {
    reason: BanReason,
    since: Time,
    until: Time,
    dropped: u64,
}

/// What [`Admission::admit`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// Drop silently (banned, or over the rate).
    Drop,
}

/// Per-source admission control (see the module doc).
#[derive(Debug)]
pub struct Admission {
    limits: LimitsConfig,
    trunks: HashSet<IpAddr>,
    sources: HashMap<IpAddr, Source>,
    bans: HashMap<IpAddr, Ban>,
    /// The bucket new addresses share while the table is full.
    overflow: Bucket,
    next_sweep: Time,
    next_expiry: Time,
    /// Sources banned since the last [`Admission::poll_banned`].
    banned: Vec<IpAddr>,
    stats: AdmissionStats,
}

impl Admission {
    pub fn new(config: &Config) -> Admission {
        Admission {
            limits: config.limits,
            trunks: trunk_addresses(config),
            sources: HashMap::new(),
            bans: HashMap::new(),
            overflow: Bucket::full(&config.limits.source, Time::ZERO),
            next_sweep: Time::ZERO,
            next_expiry: Time::ZERO,
            banned: Vec::new(),
            stats: AdmissionStats::default(),
        }
    }

    /// New limits and trunks (a configuration change). Buckets and bans carry on; a source
    /// that became a trunk gets the trunk's limits from its next request.
    pub fn reconfigure(&mut self, config: &Config) {
        self.limits = config.limits;
        self.trunks = trunk_addresses(config);
        let trunks = &self.trunks;
        for (addr, s) in &mut self.sources {
            if s.class != Class::Authenticated {
                s.class = if trunks.contains(addr) {
                    Class::Trunk
                } else {
                    Class::Source
                };
            }
        }
    }

    /// Addresses DNS gave for trunk SBCs named by host (`sbc_dns`) are the trunk too, like
    /// the configured IP addresses; sources already known as them get the trunk's limits.
    pub fn add_trunk_addresses(&mut self, addrs: impl IntoIterator<Item = IpAddr>) {
        for addr in addrs {
            self.trunks.insert(addr);
            if let Some(s) = self.sources.get_mut(&addr) {
                if s.class == Class::Source {
                    s.class = Class::Trunk;
                }
            }
        }
    }

    /// A datagram (or framed message) from `addr`: `request` says whether it is a request.
    /// Banned sources are dropped whatever they send; requests take a token from the source's
    /// bucket, and a source with none left is banned (trunks: only the request is dropped).
    pub fn admit(&mut self, now: Time, addr: IpAddr, request: bool) -> Verdict {
        if !self.bans.is_empty() && self.banned(now, addr) {
            self.stats.dropped_total += 1;
            return Verdict::Drop;
        }
        if !request {
            return Verdict::Pass;
        }
        let limits = &self.limits;
        if let Some(s) = self.sources.get_mut(&addr) {
            let class_limits = class_limits(limits, s.class);
            if s.bucket.take(class_limits, now) {
                return Verdict::Pass;
            }
            let class = s.class;
            return self.over_rate(now, addr, class);
        }
        let class = self.class_of(&addr);
        if self.sources.len() >= self.limits.max_sources && class != Class::Trunk {
            self.sweep(now);
        }
        if self.sources.len() >= self.limits.max_sources && class != Class::Trunk {
            // The table is full of active sources: the newcomers share one bucket.
            if self.overflow.take(&self.limits.source, now) {
                return Verdict::Pass;
            }
            self.stats.overflow_dropped += 1;
            self.stats.dropped_total += 1;
            return Verdict::Drop;
        }
        let limits = *class_limits(&self.limits, class);
        let mut bucket = Bucket::full(&limits, now);
        bucket.take(&limits, now);
        self.sources.insert(addr, Source { bucket, class });
        Verdict::Pass
    }

    /// How many calls from `addr` may be answered or ringing but not ACKed at once.
    pub fn unconfirmed_quota(&self, addr: IpAddr) -> u32 {
        let class = self
            .sources
            .get(&addr)
            .map_or_else(|| self.class_of(&addr), |s| s.class);
        class_limits(&self.limits, class).unconfirmed
    }

    /// A new call from `addr` would have exceeded its unconfirmed quota (it was refused): the
    /// source is banned, unless it is a trunk.
    pub fn over_quota(&mut self, now: Time, addr: IpAddr) {
        if self.class_of_known(&addr) == Class::Trunk {
            // Not logged per call at warn: a trunk at its quota may stay there for a while.
            tracing::debug!(%addr, "trunk over its quota of unconfirmed calls; call refused");
            return;
        }
        self.ban(now, addr, BanReason::Unconfirmed);
    }

    /// Bans `addr` for `[limits] ban` from `now` (a ban in force is extended, keeping its
    /// reason). Logged once per ban.
    pub fn ban(&mut self, now: Time, addr: IpAddr, reason: BanReason) {
        self.ban_for(now, addr, reason, self.limits.ban);
    }

    /// Bans `addr` for `period` from `now` (the registrar's `auth_ban`); otherwise as
    /// [`Admission::ban`].
    pub fn ban_for(&mut self, now: Time, addr: IpAddr, reason: BanReason, period: Duration) {
        let until = now + period;
        if let Some(ban) = self.bans.get_mut(&addr) {
            if ban.until > now {
                ban.until = ban.until.max(until);
                return;
            }
        }
        tracing::warn!(
            %addr,
            reason = reason.as_str(),
            seconds = period.as_secs(),
            "source banned; its datagrams are dropped"
        );
        self.stats.bans_total += 1;
        self.bans.insert(
            addr,
            Ban {
                reason,
                since: now,
                until,
                dropped: 0,
            },
        );
        // A banned source starts over when its ban ends.
        self.sources.remove(&addr);
        self.banned.push(addr);
    }

    /// A source banned since the last call (the core stops answering it).
    pub fn poll_banned(&mut self) -> Option<IpAddr> {
        self.banned.pop()
    }

    /// Lifts the ban on `addr`; whether there was one in force.
    pub fn lift(&mut self, now: Time, addr: IpAddr) -> bool {
        match self.bans.remove(&addr) {
            Some(ban) if ban.until > now => {
                tracing::info!(%addr, reason = ban.reason.as_str(), "ban lifted");
                true
            }
            _ => false,
        }
    }

    /// Marks `addr` as a source a user authenticated from: its limits are the authenticated
    /// ones from now on (the registrar's hook).
    pub fn mark_authenticated(&mut self, now: Time, addr: IpAddr) {
        let limits = self.limits.authenticated;
        self.sources
            .entry(addr)
            .and_modify(|s| s.class = Class::Authenticated)
            .or_insert(Source {
                bucket: Bucket::full(&limits, now),
                class: Class::Authenticated,
            });
    }

    /// The bans in force at `now`, by address.
    pub fn bans(&self, now: Time) -> Vec<BanView> {
        let mut v: Vec<BanView> = self
            .bans
            .iter()
            .filter(|(_, b)| b.until > now)
            .map(|(addr, b)| BanView {
                addr: *addr,
                reason: b.reason,
                since: b.since,
                until: b.until,
                dropped: b.dropped,
            })
            .collect();
        v.sort_by_key(|b| b.addr);
        v
    }

    /// Whether `addr` is banned at `now`.
    pub fn is_banned(&self, now: Time, addr: IpAddr) -> bool {
        self.bans.get(&addr).is_some_and(|b| b.until > now)
    }

    pub fn stats(&self) -> AdmissionStats {
        self.stats
    }

    /// Source addresses tracked (memory tests).
    pub fn source_count(&self) -> usize {
        self.sources.len()
    }

    /// Forgets bans that have ended, at most once per [`SWEEP_EVERY`] (the core calls this on
    /// its timer; lookups also forget them as they meet them), so the list stays as long as
    /// the bans in force.
    pub fn expire(&mut self, now: Time) {
        if now < self.next_expiry {
            return;
        }
        self.next_expiry = now + SWEEP_EVERY;
        self.bans.retain(|addr, b| {
            let keep = b.until > now;
            if !keep {
                tracing::info!(%addr, reason = b.reason.as_str(), "ban ended");
            }
            keep
        });
    }

    /// When the next ban ends.
    pub fn poll_timeout(&self) -> Option<Time> {
        self.bans.values().map(|b| b.until).min()
    }

    /// Whether `addr` is banned now, counting the drop; an ended ban is forgotten.
    fn banned(&mut self, now: Time, addr: IpAddr) -> bool {
        let Some(ban) = self.bans.get_mut(&addr) else {
            return false;
        };
        if ban.until > now {
            ban.dropped += 1;
            return true;
        }
        tracing::info!(%addr, reason = ban.reason.as_str(), "ban ended");
        self.bans.remove(&addr);
        false
    }

    fn over_rate(&mut self, now: Time, addr: IpAddr, class: Class) -> Verdict {
        self.stats.dropped_total += 1;
        if class == Class::Trunk {
            // Never ban a carrier: dropping its excess is enough, and it retransmits.
            tracing::debug!(%addr, "trunk over its request rate; request dropped");
        } else {
            self.ban(now, addr, BanReason::RequestRate);
        }
        Verdict::Drop
    }

    fn class_of(&self, addr: &IpAddr) -> Class {
        if self.trunks.contains(addr) {
            Class::Trunk
        } else {
            Class::Source
        }
    }

    fn class_of_known(&self, addr: &IpAddr) -> Class {
        self.sources
            .get(addr)
            .map_or_else(|| self.class_of(addr), |s| s.class)
    }

    /// Drops entries whose bucket has refilled, at most once per [`SWEEP_EVERY`].
    fn sweep(&mut self, now: Time) {
        if now < self.next_sweep {
            return;
        }
        self.next_sweep = now + SWEEP_EVERY;
        let limits = self.limits;
        self.sources
            .retain(|_, s| !s.bucket.idle(class_limits(&limits, s.class), now));
    }
}

fn class_limits(limits: &LimitsConfig, class: Class) -> &ClassLimits {
    match class {
        Class::Source => &limits.source,
        Class::Trunk => &limits.trunk,
        Class::Authenticated => &limits.authenticated,
    }
}

/// The IP addresses of every trunk's SBCs (validated as IP addresses).
fn trunk_addresses(config: &Config) -> HashSet<IpAddr> {
    config
        .trunks
        .iter()
        // Every SBC of the trunk is the trunk, not only the first one.
        .flat_map(|t| {
            t.sbcs.iter().filter_map(|s| {
                super::legs::peer_of(&crate::sip::uri::Uri::Sip(s.uri.clone())).map(|p| p.addr.ip())
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(toml: &str) -> Config {
        crate::config::from_toml_str(toml, std::path::Path::new("")).expect("valid config")
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_full_bucket_refills_at_the_rate() {
        let c = config("[limits]\nrequest_rate = 10\nburst = 10\n");
        let mut a = Admission::new(&c);
        let src = ip("192.0.2.1");
        for _ in 0..10 {
            assert_eq!(a.admit(Time::ZERO, src, true), Verdict::Pass);
        }
        // The eleventh at once is over: banned.
        assert_eq!(a.admit(Time::ZERO, src, true), Verdict::Drop);
        assert!(a.is_banned(Time::ZERO, src));
    }

    #[test]
    fn a_steady_source_at_the_rate_is_never_banned() {
        let c = config("[limits]\nrequest_rate = 10\nburst = 10\n");
        let mut a = Admission::new(&c);
        let src = ip("192.0.2.1");
        for i in 0..1000 {
            assert_eq!(
                a.admit(Time::from_millis(i * 100), src, true),
                Verdict::Pass
            );
        }
        assert_eq!(a.stats().bans_total, 0);
    }

    #[test]
    fn responses_are_not_counted_but_a_banned_source_is_dropped_whatever_it_sends() {
        let c = config("[limits]\nrequest_rate = 1\nburst = 1\n");
        let mut a = Admission::new(&c);
        let src = ip("192.0.2.1");
        for _ in 0..100 {
            assert_eq!(a.admit(Time::ZERO, src, false), Verdict::Pass);
        }
        a.ban(Time::ZERO, src, BanReason::Admin);
        assert_eq!(a.admit(Time::ZERO, src, false), Verdict::Drop);
        assert_eq!(a.bans(Time::ZERO)[0].dropped, 1);
    }

    #[test]
    fn a_full_table_sweeps_idle_sources_and_then_shares_one_bucket() {
        let c = config("[limits]\nrequest_rate = 10\nburst = 10\nmax_sources = 16\n");
        let mut a = Admission::new(&c);
        let addr = |i: u32| IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
        for i in 0..16 {
            assert_eq!(a.admit(Time::ZERO, addr(i), true), Verdict::Pass);
        }
        assert_eq!(a.source_count(), 16);
        // Still active (not refilled): newcomers share the overflow bucket of 10.
        let passed = (16..100)
            .filter(|&i| a.admit(Time::from_millis(10), addr(i), true) == Verdict::Pass)
            .count();
        assert_eq!(passed, 10);
        assert_eq!(a.source_count(), 16);
        assert_eq!(a.stats().bans_total, 0);
        // A second later every entry has refilled: the sweep makes room.
        assert_eq!(
            a.admit(Time::from_millis(1100), addr(200), true),
            Verdict::Pass
        );
        assert_eq!(a.source_count(), 1);
    }
}
