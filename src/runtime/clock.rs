//! The runtime's clock: the only place in the server that reads the time or sleeps.
//!
//! The sans-IO cores take `now` as a [`Time`], an offset from an epoch their driver picks.
//! The server picks one epoch, a [`Clock`] taken as it starts, and hands copies of it to
//! everything that turns real time into `Time` or back: the core task (SIP timers, queue
//! timers, the greeting's end), the pacer shards and the calls' receive tasks. A deadline any
//! of them computes therefore names the same instant to all the others, and a packet due at
//! `epoch + n·ptime` on a shard is on the same time line as the core's timers.
//!
//! The same epoch, stamped with the wall clock when it was taken, turns a core `Time` into
//! Unix time for the queue event log, so the log's order is the core's order even if the
//! system clock is stepped meanwhile. Absolute wall time that must follow the system clock
//! (RTCP sender reports' NTP time, the event log's retention cut-off) is [`wall_now`].
//!
//! `clippy.toml` bans `Instant::now`, `SystemTime::now`, `std::thread::sleep` and tokio's
//! `Instant::now`/`sleep`/`sleep_until` everywhere else in the server, so a clock read cannot
//! slip into a core (they would stop running on virtual time) or into another runtime module
//! (it would start its own, unrelated epoch).
//!
//! Not here: timeouts around IO (`tokio::time::timeout`) and periodic ticks
//! (`tokio::time::interval`), which measure a span, not a point on the core's time line.
#![allow(clippy::disallowed_methods)] // This module is the one place the clock is read.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use crate::time::Time;

/// The server's epoch: where its [`Time`] zero is, in monotonic and in wall-clock time.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    epoch: Instant,
    /// The Unix time of `epoch`.
    epoch_unix: Duration,
}

impl Clock {
    /// Takes the epoch: `Time::ZERO` is now.
    pub fn start() -> Clock {
        Clock {
            epoch: Instant::now(),
            epoch_unix: wall_now(),
        }
    }

    /// A clock whose epoch was at Unix time `epoch_unix` (tests of the wall-time mapping).
    #[cfg(test)]
    pub(crate) fn with_unix_epoch(epoch_unix: Duration) -> Clock {
        Clock {
            epoch: Instant::now(),
            epoch_unix,
        }
    }

    /// The time now, on the cores' time line.
    pub fn now(&self) -> Time {
        Time::from_epoch(Instant::now().saturating_duration_since(self.epoch))
    }

    /// How long from now until `at` (zero when it has passed).
    pub fn until(&self, at: Time) -> Duration {
        at.saturating_since(self.now())
    }

    /// Sleeps until `at` (returns at once when it has passed). Cancel-safe.
    pub async fn sleep_until(&self, at: Time) {
        tokio::time::sleep_until(self.epoch + at.since_epoch()).await;
    }

    /// `at` as milliseconds of Unix time (the event log's stamps).
    pub fn unix_ms(&self, at: Time) -> i64 {
        i64::try_from((self.epoch_unix + at.since_epoch()).as_millis()).unwrap_or(i64::MAX)
    }
}

/// Sleeps for `d`: a pause between attempts, not a deadline on the cores' time line.
pub async fn sleep(d: Duration) {
    tokio::time::sleep(d).await;
}

/// How long until `at`, an instant a library gave (a DNS answer's expiry); zero when past.
pub fn left_until(at: std::time::Instant) -> Duration {
    at.saturating_duration_since(std::time::Instant::now())
}

/// The system's wall clock now, as time since the Unix epoch.
pub fn wall_now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// The system's wall clock now, in milliseconds of Unix time.
pub fn wall_now_ms() -> i64 {
    i64::try_from(wall_now().as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_time_maps_onto_unix_time_from_the_epoch() {
        let clock = Clock::with_unix_epoch(Duration::from_secs(1_700_000_000));
        assert_eq!(clock.unix_ms(Time::ZERO), 1_700_000_000_000);
        assert_eq!(clock.unix_ms(Time::from_millis(2_500)), 1_700_000_002_500);
    }

    #[test]
    fn now_starts_at_zero_and_until_saturates() {
        let clock = Clock::start();
        assert!(clock.now() < Time::from_millis(60_000));
        assert_eq!(clock.until(Time::ZERO), Duration::ZERO);
        assert!(clock.until(clock.now() + Duration::from_secs(10)) > Duration::from_secs(9));
    }
}
