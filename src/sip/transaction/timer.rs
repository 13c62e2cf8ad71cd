//! The transaction timers of RFC 3261 §17 (Table 4 of Appendix A) and RFC 6026 §7, their
//! configured base values, and a per-transaction [`TimerTable`] of named deadlines.
//!
//! Timers are plain deadlines on virtual time ([`Time`]): a transaction sets and stops them, and
//! the layer in [`super`] keeps one heap over all tables to find the earliest. Nothing here
//! sleeps or reads a clock. Timer C (proxy only, §16.6) is deliberately absent: we are a UA.

use std::time::Duration;

use crate::time::Time;

/// A named transaction timer. The names and values are those of RFC 3261 Appendix A and
/// RFC 6026 §7. The last three are waits the RFC specifies without naming them: the CANCEL
/// give-up of §9.1 and the UAS core's 2xx timers of §13.3.1.4.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Timer {
    /// INVITE client: request retransmit interval, T1 doubling, UDP only (§17.1.1.2).
    A,
    /// INVITE client: transaction timeout in Calling, 64·T1 (§17.1.1.2).
    B,
    /// INVITE client: wait for response retransmits in Completed, ≥32 s UDP / 0 reliable.
    D,
    /// Non-INVITE client: request retransmit interval, T1 doubling to T2 (T2 in Proceeding).
    E,
    /// Non-INVITE client: transaction timeout, 64·T1 (§17.1.2.2).
    F,
    /// INVITE server: non-2xx final retransmit interval, T1 doubling to T2, UDP only (§17.2.1).
    G,
    /// INVITE server: wait for ACK after a non-2xx final, 64·T1 (§17.2.1).
    H,
    /// INVITE server: wait for ACK retransmits in Confirmed, T4 UDP / 0 reliable (§17.2.1).
    I,
    /// Non-INVITE server: wait for request retransmits in Completed, 64·T1 UDP / 0 reliable.
    J,
    /// Non-INVITE client: wait for response retransmits in Completed, T4 UDP / 0 reliable.
    K,
    /// INVITE server: linger in Accepted after a 2xx to absorb INVITE retransmits, 64·T1
    /// (RFC 6026 §7.1).
    L,
    /// INVITE client: linger in Accepted to pass further 2xx to the TU, 64·T1 (RFC 6026 §7.2).
    M,
    /// INVITE client: destroy the INVITE 64·T1 after its CANCEL if no final response came (§9.1).
    CancelWait,
    /// UAS core: 2xx retransmit interval, T1 doubling to T2 (§13.3.1.4).
    Retransmit2xx,
    /// UAS core: give up waiting for the ACK of a 2xx after 64·T1 (§13.3.1.4).
    Ack2xxTimeout,
}

impl Timer {
    /// Every timer, in declaration order (the [`TimerTable`] slot order).
    pub const ALL: [Timer; 15] = [
        Timer::A,
        Timer::B,
        Timer::D,
        Timer::E,
        Timer::F,
        Timer::G,
        Timer::H,
        Timer::I,
        Timer::J,
        Timer::K,
        Timer::L,
        Timer::M,
        Timer::CancelWait,
        Timer::Retransmit2xx,
        Timer::Ack2xxTimeout,
    ];

    const fn slot(self) -> usize {
        self as usize
    }
}

/// The base values every timer derives from (RFC 3261 §17.1.1.1 and Appendix A).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerConfig {
    /// RTT estimate: 500 ms by default. A larger value may be configured on links known to be
    /// slow; a smaller one only on a private network (§17.1.1.1).
    pub t1: Duration,
    /// Maximum retransmit interval for non-INVITE requests and INVITE responses: 4 s.
    pub t2: Duration,
    /// Maximum time a message stays in the network: 5 s.
    pub t4: Duration,
    /// Timer D on unreliable transports: "at least 32 s" (§17.1.1.2).
    pub timer_d: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        TimerConfig {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
            timer_d: Duration::from_secs(32),
        }
    }
}

impl TimerConfig {
    /// The configuration with every base clamped to 1 ms ..= 1 h, so a misconfigured zero can
    /// never re-arm a timer at `now` (an endless loop) and no deadline overflows [`Time`].
    pub fn clamped(self) -> TimerConfig {
        let clamp = |d: Duration| d.clamp(Duration::from_millis(1), Duration::from_secs(3600));
        TimerConfig {
            t1: clamp(self.t1),
            t2: clamp(self.t2),
            t4: clamp(self.t4),
            timer_d: self.timer_d.min(Duration::from_secs(3600)),
        }
    }

    /// 64·T1: Timers B, F, H, L, M, J (UDP) and the 2xx give-up time.
    pub fn timeout(&self) -> Duration {
        self.t1.saturating_mul(64)
    }

    /// The next retransmit interval after `current`: doubled, capped at T2 when `capped`
    /// (Timers E, G and the 2xx retransmit are capped; Timer A is not, §17.1.1.2).
    pub fn backoff(&self, current: Duration, capped: bool) -> Duration {
        let doubled = current.saturating_mul(2);
        if capped {
            doubled.min(self.t2)
        } else {
            doubled
        }
    }

    /// Timer D: `timer_d` over UDP, zero over a reliable transport.
    pub fn timer_d(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.timer_d
        }
    }

    /// Timers I and K: T4 over UDP, zero over a reliable transport.
    pub fn t4_or_zero(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.t4
        }
    }

    /// Timer J: 64·T1 over UDP, zero over a reliable transport (§17.2.2).
    pub fn timer_j(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.timeout()
        }
    }
}

/// The armed timers of one transaction: one optional deadline per [`Timer`], plus the set armed
/// since the layer last looked (so it schedules each new deadline exactly once).
#[derive(Clone, Debug, Default)]
pub struct TimerTable {
    deadlines: [Option<Time>; Timer::ALL.len()],
    /// Bit `slot` is set when that timer was (re)armed and not yet handed to the scheduler
    /// (one bit per timer: `Timer::ALL` must stay within 16).
    fresh: u16,
}

impl TimerTable {
    /// Arms `timer` to fire at `at`, replacing any earlier deadline.
    pub fn set(&mut self, timer: Timer, at: Time) {
        self.deadlines[timer.slot()] = Some(at);
        self.fresh |= 1 << timer.slot();
    }

    /// Disarms `timer`.
    pub fn stop(&mut self, timer: Timer) {
        self.deadlines[timer.slot()] = None;
        self.fresh &= !(1 << timer.slot());
    }

    /// Disarms every timer (on entering Terminated).
    pub fn stop_all(&mut self) {
        *self = TimerTable::default();
    }

    pub fn get(&self, timer: Timer) -> Option<Time> {
        self.deadlines[timer.slot()]
    }

    pub fn is_armed(&self, timer: Timer) -> bool {
        self.get(timer).is_some()
    }

    /// The earliest armed deadline.
    pub fn next_timeout(&self) -> Option<Time> {
        self.deadlines.iter().flatten().min().copied()
    }

    /// The earliest timer due at `now`, disarmed as it is returned. Call repeatedly: handling
    /// one timer may arm or stop others.
    pub fn expire(&mut self, now: Time) -> Option<Timer> {
        let (slot, _) = self
            .deadlines
            .iter()
            .enumerate()
            .filter_map(|(i, d)| d.filter(|&d| d <= now).map(|d| (i, d)))
            .min_by_key(|&(_, d)| d)?;
        let timer = Timer::ALL[slot];
        self.stop(timer);
        Some(timer)
    }

    /// The timers armed since the last call, with their deadlines; clears the fresh set.
    pub fn take_fresh(&mut self) -> impl Iterator<Item = (Timer, Time)> + '_ {
        let fresh = std::mem::take(&mut self.fresh);
        Timer::ALL.into_iter().filter_map(move |t| {
            if fresh & (1 << t.slot()) == 0 {
                return None;
            }
            self.deadlines[t.slot()].map(|at| (t, at))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn defaults_follow_rfc3261_appendix_a() {
        let c = TimerConfig::default();
        assert_eq!((c.t1, c.t2, c.t4), (ms(500), ms(4000), ms(5000)));
        assert_eq!(c.timeout(), ms(32_000));
        assert_eq!(c.timer_d(false), ms(32_000));
        assert_eq!(c.timer_d(true), Duration::ZERO);
        assert_eq!(c.t4_or_zero(false), ms(5000));
        assert_eq!(c.timer_j(true), Duration::ZERO);
    }

    #[test]
    fn clamping_keeps_every_interval_positive_and_bounded() {
        let c = TimerConfig {
            t1: Duration::ZERO,
            t2: Duration::MAX,
            t4: Duration::ZERO,
            timer_d: Duration::MAX,
        }
        .clamped();
        assert_eq!(c.t1, ms(1));
        assert_eq!(c.t2, Duration::from_secs(3600));
        assert_eq!(c.t4, ms(1));
        assert_eq!(c.timer_d, Duration::from_secs(3600));
        assert_eq!(TimerConfig::default().clamped(), TimerConfig::default());
    }

    #[test]
    fn capped_backoff_stops_at_t2_and_uncapped_keeps_doubling() {
        let c = TimerConfig::default();
        let mut capped = vec![c.t1];
        let mut uncapped = vec![c.t1];
        for _ in 0..5 {
            capped.push(c.backoff(*capped.last().unwrap(), true));
            uncapped.push(c.backoff(*uncapped.last().unwrap(), false));
        }
        assert_eq!(
            capped,
            vec![ms(500), ms(1000), ms(2000), ms(4000), ms(4000), ms(4000)]
        );
        assert_eq!(uncapped.last(), Some(&ms(16_000)));
    }

    #[test]
    fn table_expires_earliest_first_and_disarms() {
        let mut t = TimerTable::default();
        t.set(Timer::B, Time::from_millis(32_000));
        t.set(Timer::A, Time::from_millis(500));
        assert_eq!(t.next_timeout(), Some(Time::from_millis(500)));
        assert_eq!(t.expire(Time::from_millis(499)), None);
        assert_eq!(t.expire(Time::from_millis(40_000)), Some(Timer::A));
        assert_eq!(t.expire(Time::from_millis(40_000)), Some(Timer::B));
        assert_eq!(t.expire(Time::from_millis(40_000)), None);
        assert_eq!(t.next_timeout(), None);
    }

    #[test]
    fn fresh_reports_each_arming_once() {
        let mut t = TimerTable::default();
        t.set(Timer::G, Time::from_millis(500));
        t.set(Timer::H, Time::from_millis(32_000));
        t.stop(Timer::H);
        let fresh: Vec<_> = t.take_fresh().collect();
        assert_eq!(fresh, vec![(Timer::G, Time::from_millis(500))]);
        assert_eq!(t.take_fresh().count(), 0);
        t.set(Timer::G, Time::from_millis(1500));
        assert_eq!(
            t.take_fresh().collect::<Vec<_>>(),
            vec![(Timer::G, Time::from_millis(1500))]
        );
    }
}
