//! Limits on SIP connections (TCP, and TLS when it is served), decided on virtual time and
//! carried out by the runtime: a global cap on open connections, a cap per source address,
//! a deadline for a complete message and an idle timeout.
//!
//! RFC 3261 §18.3 lets an implementation close a connection it no longer wants, and §18.2.2
//! opens a new one when a response's connection has gone; a server on a public address has to
//! use that latitude, or a few thousand idle connections take every descriptor (and with them
//! the RTP ports and the API).
//!
//! - [`ConnectionLimits`]: admission. `try_open` gives a [`Permit`] or a [`Refusal`]; `close`
//!   gives the permit back. Connections we open ourselves (to agents and trunks) count against
//!   the global cap but never against a source's count, and a slice of the global cap is kept
//!   for them, so an inbound flood cannot stop holdline from reaching its agents.
//! - [`StreamDeadlines`]: when one connection is closed for slowness: a message must be complete
//!   within `message_deadline` of its first byte (a deadline for the message, not per read, so
//!   a peer trickling a byte a second cannot hold a connection), and a connection with no bytes
//!   at all for `idle_timeout` is closed (RFC 5626 §4.4.1 keep-alive CRLFs count as activity).
//!
//! What this does not do: sockets, timers or logging. It says what to do and when; the runtime
//! does it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use crate::time::Time;

/// The limits, validated by the configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LimitSettings {
    /// Open connections at most, inbound and outbound together.
    pub max_connections: usize,
    /// Inbound connections at most from one source address.
    pub max_per_source: usize,
    /// A message must be complete within this time of its first byte.
    pub message_deadline: Duration,
    /// A connection with no bytes received for this long is closed.
    pub idle_timeout: Duration,
    /// A source refused again within this window is counted but not logged again.
    pub log_window: Duration,
}

impl LimitSettings {
    /// Inbound connections may use the global cap up to this many; the rest is kept for the
    /// connections holdline opens itself (a sixteenth: a flood of inbound connections never
    /// leaves holdline unable to send an agent its INVITE).
    pub fn inbound_cap(&self) -> usize {
        self.max_connections - self.max_connections / 16
    }
}

/// Who opened a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Accepted from a peer: counts against the global cap (less the outbound reserve) and
    /// the source's cap.
    Inbound,
    /// Opened by holdline (to an agent, a trunk, or a response whose connection has gone):
    /// counts against the global cap only.
    Outbound,
}

/// One admitted connection. Not `Clone`: each permit is given back once, by [`ConnectionLimits::close`].
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a permit not given back to close() holds its place for ever"]
pub struct Permit {
    source: IpAddr,
    direction: Direction,
}

impl Permit {
    pub fn source(&self) -> IpAddr {
        self.source
    }

    pub fn direction(&self) -> Direction {
        self.direction
    }
}

/// Why a connection was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefusedBecause {
    /// The global cap is reached.
    Full,
    /// This source has `max_per_source` connections open.
    SourceFull,
}

/// A refused connection: close it at once. `log` is true for the first refusal of a source
/// within the log window, so a flood is logged once, not once per connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub because: RefusedBecause,
    pub log: bool,
}

/// Counters since start, for `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnectionStats {
    /// Connections open now.
    pub open: u64,
    /// Connections admitted since start (inbound and outbound).
    pub opened: u64,
    /// Refused because the global cap was reached.
    pub refused_full: u64,
    /// Refused because their source had `max_per_source` open.
    pub refused_source: u64,
}

/// How many sources' last log times are remembered: beyond this (a flood from very many
/// addresses), refusals of sources not remembered are counted but not logged.
const LOGGED_SOURCES: usize = 4096;

/// Admission of connections against the caps.
#[derive(Debug)]
pub struct ConnectionLimits {
    settings: LimitSettings,
    open: usize,
    /// Inbound connections open per source; a source with none has no entry.
    per_source: HashMap<IpAddr, usize>,
    /// When each recently refused source was last logged.
    logged: HashMap<IpAddr, Time>,
    stats: ConnectionStats,
    /// The most connections open at once since [`ConnectionLimits::take_peak`] last ran.
    peak: usize,
    /// When a full table was last logged.
    full_logged: Option<Time>,
}

impl ConnectionLimits {
    pub fn new(settings: LimitSettings) -> ConnectionLimits {
        ConnectionLimits {
            settings,
            open: 0,
            per_source: HashMap::new(),
            logged: HashMap::new(),
            stats: ConnectionStats::default(),
            peak: 0,
            full_logged: None,
        }
    }

    pub fn settings(&self) -> &LimitSettings {
        &self.settings
    }

    /// Admits a connection from (inbound) or to (outbound) `source`, or says why not.
    pub fn try_open(
        &mut self,
        now: Time,
        source: IpAddr,
        direction: Direction,
    ) -> Result<Permit, Refusal> {
        let refused = match direction {
            Direction::Inbound if self.open >= self.settings.inbound_cap() => {
                Some(RefusedBecause::Full)
            }
            Direction::Inbound
                if self.per_source.get(&source).copied().unwrap_or(0)
                    >= self.settings.max_per_source =>
            {
                Some(RefusedBecause::SourceFull)
            }
            Direction::Outbound if self.open >= self.settings.max_connections => {
                Some(RefusedBecause::Full)
            }
            _ => None,
        };
        if let Some(because) = refused {
            match because {
                RefusedBecause::Full => self.stats.refused_full += 1,
                RefusedBecause::SourceFull => self.stats.refused_source += 1,
            }
            let log = match because {
                // A full table is one condition whoever knocks: logged once per window, or a
                // flood from many addresses would log each of them.
                RefusedBecause::Full => self.full_first_in_window(now),
                RefusedBecause::SourceFull => self.first_in_window(now, source),
            };
            return Err(Refusal { because, log });
        }
        self.open += 1;
        self.peak = self.peak.max(self.open);
        self.stats.opened += 1;
        if direction == Direction::Inbound {
            *self.per_source.entry(source).or_insert(0) += 1;
        }
        Ok(Permit { source, direction })
    }

    /// Gives a connection's place back.
    pub fn close(&mut self, permit: Permit) {
        self.open = self.open.saturating_sub(1);
        if permit.direction == Direction::Inbound {
            if let Some(n) = self.per_source.get_mut(&permit.source) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    // No state kept for a source with nothing open.
                    self.per_source.remove(&permit.source);
                }
            }
        }
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open
    }

    /// Inbound connections open now from `source`.
    pub fn open_from(&self, source: IpAddr) -> usize {
        self.per_source.get(&source).copied().unwrap_or(0)
    }

    /// Sources with at least one inbound connection open.
    pub fn sources(&self) -> usize {
        self.per_source.len()
    }

    /// The most connections open at once since the last call (or since start), and starts
    /// over from the count open now: how many have closed since is `peak - open()`.
    pub fn take_peak(&mut self) -> usize {
        std::mem::replace(&mut self.peak, self.open)
    }

    pub fn stats(&self) -> ConnectionStats {
        ConnectionStats {
            open: self.open as u64,
            ..self.stats
        }
    }

    /// True when a full table was not logged within the log window (and remembers it now).
    fn full_first_in_window(&mut self, now: Time) -> bool {
        let window = self.settings.log_window;
        if self
            .full_logged
            .is_some_and(|at| now.saturating_since(at) < window)
        {
            return false;
        }
        self.full_logged = Some(now);
        true
    }

    /// True when `source` was not logged within the log window (and remembers it now).
    fn first_in_window(&mut self, now: Time, source: IpAddr) -> bool {
        let window = self.settings.log_window;
        if let Some(at) = self.logged.get(&source) {
            if now.saturating_since(*at) < window {
                return false;
            }
        }
        if self.logged.len() >= LOGGED_SOURCES {
            self.logged
                .retain(|_, at| now.saturating_since(*at) < window);
            if self.logged.len() >= LOGGED_SOURCES {
                return false;
            }
        }
        self.logged.insert(source, now);
        true
    }
}

/// Why a connection is closed for time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiry {
    /// A message started and did not complete within `message_deadline`.
    MessageDeadline,
    /// Nothing was received for `idle_timeout`.
    Idle,
}

/// One connection's deadlines: when it is to be closed unless more bytes come.
#[derive(Clone, Copy, Debug)]
pub struct StreamDeadlines {
    message_deadline: Duration,
    idle_timeout: Duration,
    last_activity: Time,
    /// When the first byte of the message not yet complete arrived.
    message_started: Option<Time>,
}

impl StreamDeadlines {
    /// A connection opened at `now`, with nothing received yet.
    pub fn new(now: Time, settings: &LimitSettings) -> StreamDeadlines {
        StreamDeadlines {
            message_deadline: settings.message_deadline,
            idle_timeout: settings.idle_timeout,
            last_activity: now,
            message_started: None,
        }
    }

    /// Bytes arrived at `now` and were framed: `completed` says whether at least one message
    /// (or keep-alive) was taken from the buffer, `pending` whether bytes of an incomplete
    /// message are left in it.
    pub fn received(&mut self, now: Time, completed: bool, pending: bool) {
        // Any byte is activity, a keep-alive CRLF too (RFC 5626 §4.4.1).
        self.last_activity = now;
        self.message_started = match (pending, completed, self.message_started) {
            (false, _, _) => None,
            // The message that started earlier is still incomplete: its clock keeps running,
            // however many bytes trickle in (the deadline is for the message, not per read).
            (true, false, Some(started)) => Some(started),
            // A new message began in these bytes.
            (true, _, _) => Some(now),
        };
    }

    /// When the connection is to be closed, and why, unless bytes arrive first.
    pub fn deadline(&self) -> (Time, Expiry) {
        let idle = (self.last_activity + self.idle_timeout, Expiry::Idle);
        match self.message_started {
            Some(started) => {
                let message = (started + self.message_deadline, Expiry::MessageDeadline);
                if message.0 <= idle.0 {
                    message
                } else {
                    idle
                }
            }
            None => idle,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn settings(max: usize, per_source: usize) -> LimitSettings {
        LimitSettings {
            max_connections: max,
            max_per_source: per_source,
            message_deadline: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(600),
            log_window: Duration::from_secs(60),
        }
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
    }

    fn at(s: u64) -> Time {
        Time::from_millis(s * 1000)
    }

    #[test]
    fn global_cap_refuses_inbound_beyond_the_cap_less_the_outbound_reserve() {
        // 32 connections: 2 kept for outbound, 30 for inbound.
        let mut l = ConnectionLimits::new(settings(32, 1000));
        let mut permits = Vec::new();
        for i in 0..30u8 {
            permits.push(l.try_open(at(0), ip(i), Direction::Inbound).unwrap());
        }
        let refused = l.try_open(at(0), ip(200), Direction::Inbound).unwrap_err();
        assert_eq!(refused.because, RefusedBecause::Full);
        assert_eq!(l.open(), 30);
        // The reserve admits outbound connections up to the whole cap, and no further.
        let a = l.try_open(at(0), ip(100), Direction::Outbound).unwrap();
        let b = l.try_open(at(0), ip(100), Direction::Outbound).unwrap();
        let c = l.try_open(at(0), ip(100), Direction::Outbound).unwrap_err();
        assert_eq!(c.because, RefusedBecause::Full);
        assert_eq!(l.open(), 32);
        assert_eq!(l.stats().refused_full, 2);
        for p in [a, b] {
            l.close(p);
        }
        assert_eq!(l.open(), 30);
        for p in permits {
            l.close(p);
        }
        assert_eq!(l.stats().open, 0);
        assert_eq!(l.stats().opened, 32);
    }

    #[test]
    fn per_source_cap_refuses_only_that_source() {
        let mut l = ConnectionLimits::new(settings(1000, 3));
        let held: Vec<_> = (0..3)
            .map(|_| l.try_open(at(0), ip(1), Direction::Inbound).unwrap())
            .collect();
        let refused = l.try_open(at(0), ip(1), Direction::Inbound).unwrap_err();
        assert_eq!(refused.because, RefusedBecause::SourceFull);
        assert!(l.try_open(at(0), ip(2), Direction::Inbound).is_ok());
        assert_eq!(l.open_from(ip(1)), 3);
        assert_eq!(l.stats().refused_source, 1);
        assert_eq!(l.stats().refused_full, 0);
        drop(held);
    }

    #[test]
    fn closing_gives_the_place_back_and_forgets_the_source() {
        let mut l = ConnectionLimits::new(settings(1000, 2));
        let a = l.try_open(at(0), ip(1), Direction::Inbound).unwrap();
        let b = l.try_open(at(0), ip(1), Direction::Inbound).unwrap();
        assert!(l.try_open(at(0), ip(1), Direction::Inbound).is_err());
        l.close(a);
        let c = l.try_open(at(1), ip(1), Direction::Inbound).unwrap();
        l.close(b);
        l.close(c);
        assert_eq!(l.open(), 0);
        assert_eq!(l.open_from(ip(1)), 0);
        assert_eq!(l.sources(), 0, "no per-source state after the last close");
    }

    #[test]
    fn the_peak_is_kept_until_taken() {
        let mut l = ConnectionLimits::new(settings(1000, 1000));
        let permits: Vec<_> = (0..5)
            .map(|_| l.try_open(at(0), ip(1), Direction::Inbound).unwrap())
            .collect();
        for p in permits {
            l.close(p);
        }
        let _one = l.try_open(at(0), ip(1), Direction::Inbound).unwrap();
        assert_eq!(l.take_peak(), 5, "a burst between looks is still seen");
        assert_eq!(l.take_peak(), 1, "starts over from what is open");
    }

    #[test]
    fn outbound_is_never_refused_for_an_inbound_flood_from_the_same_address() {
        let mut l = ConnectionLimits::new(settings(1000, 4));
        let flood: Vec<_> = (0..4)
            .map(|_| l.try_open(at(0), ip(9), Direction::Inbound).unwrap())
            .collect();
        assert!(l.try_open(at(0), ip(9), Direction::Inbound).is_err());
        // holdline's own connections to that address (an agent behind the same NAT) go through,
        // and do not count against the source.
        let out: Vec<_> = (0..10)
            .map(|_| l.try_open(at(0), ip(9), Direction::Outbound).unwrap())
            .collect();
        assert_eq!(l.open_from(ip(9)), 4);
        assert_eq!(l.open(), 14);
        for p in out {
            assert_eq!(p.direction(), Direction::Outbound);
            l.close(p);
        }
        assert_eq!(
            l.open_from(ip(9)),
            4,
            "closing outbound leaves the inbound count"
        );
        for p in flood {
            l.close(p);
        }
        assert_eq!(l.open(), 0);
    }

    #[test]
    fn refusals_are_logged_once_per_source_per_window() {
        let mut l = ConnectionLimits::new(settings(1000, 1));
        let _held = l.try_open(at(0), ip(1), Direction::Inbound).unwrap();
        let logs: Vec<bool> = (0..100)
            .map(|_| {
                l.try_open(at(1), ip(1), Direction::Inbound)
                    .unwrap_err()
                    .log
            })
            .collect();
        assert_eq!(logs.iter().filter(|l| **l).count(), 1);
        assert!(logs[0]);
        // Another source is logged on its own.
        let _other = l.try_open(at(1), ip(2), Direction::Inbound).unwrap();
        assert!(
            l.try_open(at(2), ip(2), Direction::Inbound)
                .unwrap_err()
                .log
        );
        // Within the window: quiet; after it: logged again.
        assert!(
            !l.try_open(at(60), ip(1), Direction::Inbound)
                .unwrap_err()
                .log
        );
        assert!(
            l.try_open(at(61), ip(1), Direction::Inbound)
                .unwrap_err()
                .log
        );
        assert_eq!(l.stats().refused_source, 103);
    }

    #[test]
    fn the_log_memory_is_bounded_under_a_flood_from_many_sources() {
        // max_per_source 0: every source is over its cap, each refused on its own account.
        let mut l = ConnectionLimits::new(settings(1000, 0));
        let mut logged = 0;
        for i in 0..10_000u32 {
            let source = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
            if l.try_open(at(0), source, Direction::Inbound)
                .unwrap_err()
                .log
            {
                logged += 1;
            }
        }
        assert_eq!(logged, LOGGED_SOURCES);
        assert!(l.logged.len() <= LOGGED_SOURCES);
        // Once the window has passed, the old entries make room again.
        let late = IpAddr::V4(Ipv4Addr::new(10, 9, 9, 9));
        assert!(
            l.try_open(at(120), late, Direction::Inbound)
                .unwrap_err()
                .log
        );
        assert_eq!(l.logged.len(), 1);
    }

    #[test]
    fn a_full_table_is_logged_once_per_window_whatever_the_sources() {
        let mut l = ConnectionLimits::new(settings(16, 1000));
        let _held: Vec<_> = (0..15u8)
            .map(|i| l.try_open(at(0), ip(i), Direction::Inbound).unwrap())
            .collect();
        let logged = (0..200u8)
            .filter(|i| {
                l.try_open(at(1), ip(*i), Direction::Inbound)
                    .unwrap_err()
                    .log
            })
            .count();
        assert_eq!(logged, 1);
        assert!(
            l.try_open(at(62), ip(7), Direction::Inbound)
                .unwrap_err()
                .log
        );
        assert_eq!(l.stats().refused_full, 201);
    }

    #[test]
    fn a_trickled_message_meets_its_deadline_from_its_first_byte() {
        let s = settings(10, 10);
        let mut d = StreamDeadlines::new(at(0), &s);
        assert_eq!(d.deadline(), (at(600), Expiry::Idle));
        // One byte a second: each read is activity, but the message's clock does not restart.
        d.received(at(5), false, true);
        for t in 6..14 {
            d.received(at(t), false, true);
            assert_eq!(d.deadline(), (at(15), Expiry::MessageDeadline));
        }
        // The message completes: back to the idle timeout, counted from the last byte.
        d.received(at(14), true, false);
        assert_eq!(d.deadline(), (at(614), Expiry::Idle));
    }

    #[test]
    fn a_new_message_starting_in_the_same_read_gets_a_fresh_deadline() {
        let s = settings(10, 10);
        let mut d = StreamDeadlines::new(at(0), &s);
        d.received(at(1), false, true);
        // This read completes the first message and carries the start of a second.
        d.received(at(9), true, true);
        assert_eq!(d.deadline(), (at(19), Expiry::MessageDeadline));
    }

    #[test]
    fn keep_alives_keep_an_idle_connection_open() {
        let s = settings(10, 10);
        let mut d = StreamDeadlines::new(at(0), &s);
        // RFC 5626 pings every 120 s: a CRLFCRLF is taken whole, nothing pending.
        for t in (120..=1200).step_by(120) {
            assert!(d.deadline().0 > at(t));
            d.received(at(t), true, false);
        }
        assert_eq!(d.deadline(), (at(1800), Expiry::Idle));
    }

    #[test]
    fn idle_timeout_wins_when_shorter_than_the_message_deadline() {
        let mut s = settings(10, 10);
        s.idle_timeout = Duration::from_secs(3);
        let mut d = StreamDeadlines::new(at(0), &s);
        d.received(at(1), false, true);
        assert_eq!(d.deadline(), (at(4), Expiry::Idle));
    }
}
