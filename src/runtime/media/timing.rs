//! How a pacer shard keeps time, for the operator: per-packet lateness (send time − due
//! time), wake-up lateness and batch duration, in histograms logged every 10 s at debug level.
//! Not a benchmark (that is `holdline-bench`): a view, on the machine in production, of
//! whether the pacer keeps time and, if not, whether the machine or the sending is to blame.

use std::time::Duration;

use crate::time::Time;

/// How the shard keeps time, logged every 10 s at debug level: an operator's view of whether
/// the pacer keeps time on this machine, and if not, why. A packet leaves
/// `wake-up lateness + its place in the tick's batch` after its due time, so the three are
/// logged apart: a late wake-up is the machine (another task on the core, a stalled virtual
/// CPU), a long batch is the cost of sending.
pub(super) struct Timing {
    /// Send time − due time, per packet.
    pub packets: Histogram,
    /// Wake-up time − the deadline slept for, per timed wait.
    pub wakes: Histogram,
    /// How long a tick's sending took, per tick that sent anything.
    pub batches: Histogram,
    since: Time,
}

/// Durations in 100 µs steps up to 100 ms.
pub(super) struct Histogram {
    buckets: Vec<u32>,
}

impl Histogram {
    const STEP_US: u64 = 100;
    const BUCKETS: usize = 1000;

    fn new() -> Histogram {
        Histogram {
            buckets: vec![0; Self::BUCKETS],
        }
    }

    pub fn record(&mut self, d: Duration) {
        let i = (d.as_micros() as u64 / Self::STEP_US) as usize;
        self.buckets[i.min(Self::BUCKETS - 1)] += 1;
    }

    fn count(&self) -> u64 {
        self.buckets.iter().map(|&n| u64::from(n)).sum()
    }

    /// The upper edge of the bucket holding quantile `q`, in µs.
    fn quantile_us(&self, q: f64) -> u64 {
        let want = ((self.count() as f64 * q).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &n) in self.buckets.iter().enumerate() {
            seen += u64::from(n);
            if seen >= want {
                return (i as u64 + 1) * Self::STEP_US;
            }
        }
        0
    }

    fn clear(&mut self) {
        self.buckets.iter_mut().for_each(|n| *n = 0);
    }
}

impl Timing {
    pub fn new() -> Timing {
        Timing {
            packets: Histogram::new(),
            wakes: Histogram::new(),
            batches: Histogram::new(),
            since: Time::ZERO,
        }
    }

    pub fn report(&mut self, now: Time, shard_streams: usize) {
        if now.saturating_since(self.since) < Duration::from_secs(10) {
            return;
        }
        if self.packets.count() > 0 {
            let (p, w, b) = (&self.packets, &self.wakes, &self.batches);
            tracing::debug!(
                streams = shard_streams,
                packets = p.count(),
                p50_us = p.quantile_us(0.5),
                p99_us = p.quantile_us(0.99),
                max_us = p.quantile_us(1.0),
                wake_p50_us = w.quantile_us(0.5),
                wake_p99_us = w.quantile_us(0.99),
                wake_max_us = w.quantile_us(1.0),
                batch_p50_us = b.quantile_us(0.5),
                batch_p99_us = b.quantile_us(0.99),
                batch_max_us = b.quantile_us(1.0),
                "pacer lateness (send time − due time, ≤), wake-up lateness, batch duration"
            );
        }
        self.packets.clear();
        self.wakes.clear();
        self.batches.clear();
        self.since = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_upper_bucket_edges_and_overflow_lands_in_the_last_bucket() {
        let mut h = Histogram::new();
        for us in [50, 150, 150, 950] {
            h.record(Duration::from_micros(us));
        }
        h.record(Duration::from_secs(1));
        assert_eq!(h.count(), 5);
        assert_eq!(h.quantile_us(0.5), 200);
        assert_eq!(h.quantile_us(0.8), 1_000);
        assert_eq!(h.quantile_us(1.0), 100_000, "capped at 100 ms");
        h.clear();
        assert_eq!((h.count(), h.quantile_us(0.5)), (0, 0));
    }
}
