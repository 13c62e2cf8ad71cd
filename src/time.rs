//! Virtual time for the sans-IO cores.
//!
//! Cores never read a clock: every input carries `now` as a [`Time`], an offset from an
//! arbitrary epoch chosen by whoever drives the core. The runtime maps `tokio::time::Instant`
//! onto it; tests start at [`Time::ZERO`] and advance it by hand, so ten minutes of a queue run
//! in microseconds and every timer race is reproducible.

use std::ops::{Add, AddAssign, Sub};
use std::time::Duration;

/// A point in time, as an offset from the driver's epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(Duration);

impl Time {
    /// The driver's epoch.
    pub const ZERO: Time = Time(Duration::ZERO);

    /// The time `d` after the epoch.
    pub const fn from_epoch(d: Duration) -> Self {
        Time(d)
    }

    /// A time `ms` milliseconds after the epoch (handy in tests).
    pub const fn from_millis(ms: u64) -> Self {
        Time(Duration::from_millis(ms))
    }

    /// The offset from the epoch.
    pub const fn since_epoch(self) -> Duration {
        self.0
    }

    /// `self - earlier`, or zero when `earlier` is later.
    pub fn saturating_since(self, earlier: Time) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}

impl Add<Duration> for Time {
    type Output = Time;
    fn add(self, rhs: Duration) -> Time {
        Time(self.0 + rhs)
    }
}

impl AddAssign<Duration> for Time {
    fn add_assign(&mut self, rhs: Duration) {
        self.0 += rhs;
    }
}

impl Sub<Time> for Time {
    type Output = Duration;
    fn sub(self, rhs: Time) -> Duration {
        self.0.saturating_sub(rhs.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates_instead_of_panicking() {
        let t = Time::from_millis(500);
        assert_eq!(t + Duration::from_millis(500), Time::from_millis(1000));
        assert_eq!(Time::ZERO - t, Duration::ZERO);
        assert_eq!(t - Time::ZERO, Duration::from_millis(500));
    }
}
