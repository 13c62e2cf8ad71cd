//! A latency histogram with fixed 0.1 ms buckets up to 1 s, for inter-arrival times, their
//! deviation from ptime, and call set-up latency.
//!
//! Storing buckets instead of every sample keeps memory flat however long a run lasts: 2,000
//! streams at 50 packets/s are 100,000 samples a second. Buckets are kept sparse (a sorted map
//! of the non-empty ones), because inter-arrival times cluster around ptime and a dense array of
//! 10,000 counters per stream would cost 80 MB at 2,000 calls. Values of 1 s and more share one
//! overflow bucket; the exact maximum is kept apart, so `max` is never rounded.
//!
//! Percentiles are reported as the upper edge of the bucket the rank falls in (clamped to the
//! exact maximum), so they are conservative by at most 0.1 ms. Pure code: no clock, no IO.

use std::collections::BTreeMap;

use serde::Serialize;

/// Width of one bucket in microseconds (0.1 ms).
pub const BUCKET_US: u64 = 100;
/// Values at or above this (1 s) land in the overflow bucket.
pub const LIMIT_US: u64 = 1_000_000;
const OVERFLOW: u32 = (LIMIT_US / BUCKET_US) as u32;

/// Counts of microsecond values in 0.1 ms buckets, with the exact min, max and sum.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Histogram {
    buckets: BTreeMap<u32, u64>,
    count: u64,
    sum_us: u128,
    min_us: u64,
    max_us: u64,
}

/// The figures a report prints for one histogram, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Summary {
    pub count: u64,
    pub min_ms: f64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl Histogram {
    pub fn new() -> Histogram {
        Histogram::default()
    }

    /// Adds one value in microseconds.
    pub fn record(&mut self, us: u64) {
        let bucket = (us / BUCKET_US).min(u64::from(OVERFLOW)) as u32;
        *self.buckets.entry(bucket).or_insert(0) += 1;
        if self.count == 0 || us < self.min_us {
            self.min_us = us;
        }
        self.max_us = self.max_us.max(us);
        self.count += 1;
        self.sum_us += u128::from(us);
    }

    /// Adds every sample of `other` (per-call histograms into the run's aggregate).
    pub fn merge(&mut self, other: &Histogram) {
        if other.count == 0 {
            return;
        }
        for (&b, &n) in &other.buckets {
            *self.buckets.entry(b).or_insert(0) += n;
        }
        if self.count == 0 || other.min_us < self.min_us {
            self.min_us = other.min_us;
        }
        self.max_us = self.max_us.max(other.max_us);
        self.count += other.count;
        self.sum_us += other.sum_us;
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// The exact largest value, or 0 when empty.
    pub fn max_us(&self) -> u64 {
        self.max_us
    }

    /// The value below or at which `q` (0.0–1.0) of the samples lie: the upper edge of the
    /// bucket holding the sample of rank ⌈q·count⌉, never above the exact maximum. `None` when
    /// empty. A rank in the overflow bucket reports the maximum.
    pub fn quantile_us(&self, q: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let q = if q.is_nan() { 1.0 } else { q.clamp(0.0, 1.0) };
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (&b, &n) in &self.buckets {
            seen += n;
            if seen >= rank {
                if b == OVERFLOW {
                    return Some(self.max_us);
                }
                let upper = (u64::from(b) + 1) * BUCKET_US;
                return Some(upper.min(self.max_us));
            }
        }
        Some(self.max_us)
    }

    pub fn summary(&self) -> Summary {
        if self.count == 0 {
            return Summary::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Summary {
            count: self.count,
            min_ms: ms(self.min_us),
            mean_ms: self.sum_us as f64 / self.count as f64 / 1000.0,
            p50_ms: ms(self.quantile_us(0.50).unwrap_or(0)),
            p99_ms: ms(self.quantile_us(0.99).unwrap_or(0)),
            p999_ms: ms(self.quantile_us(0.999).unwrap_or(0)),
            max_ms: ms(self.max_us),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_histogram_has_no_quantiles() {
        let h = Histogram::new();
        assert_eq!(h.quantile_us(0.5), None);
        assert_eq!(h.summary(), Summary::default());
    }

    #[test]
    fn quantiles_report_the_upper_edge_of_the_rank_bucket() {
        let mut h = Histogram::new();
        // 98 samples at 20.03 ms, one at 21.55 ms, one at 39.99 ms.
        for _ in 0..98 {
            h.record(20_030);
        }
        h.record(21_550);
        h.record(39_990);
        assert_eq!(h.quantile_us(0.50), Some(20_100));
        assert_eq!(h.quantile_us(0.98), Some(20_100));
        assert_eq!(h.quantile_us(0.99), Some(21_600));
        // The top bucket's edge would be 40.0 ms; the exact maximum is lower and wins.
        assert_eq!(h.quantile_us(1.0), Some(39_990));
        let s = h.summary();
        assert_eq!(s.count, 100);
        assert_eq!(s.max_ms, 39.99);
        assert_eq!(s.min_ms, 20.03);
    }

    #[test]
    fn values_of_a_second_and_more_overflow_but_keep_the_exact_max() {
        let mut h = Histogram::new();
        h.record(5_000);
        h.record(2_500_000);
        h.record(7_000_000);
        assert_eq!(h.max_us(), 7_000_000);
        assert_eq!(h.quantile_us(0.5), Some(7_000_000));
        assert_eq!(h.quantile_us(0.2), Some(5_100));
        assert_eq!(
            h.buckets.len(),
            2,
            "both large values share the overflow bucket"
        );
    }

    #[test]
    fn merge_equals_recording_everything_in_one() {
        let (mut a, mut b, mut all) = (Histogram::new(), Histogram::new(), Histogram::new());
        for v in [100, 19_950, 20_000, 20_049] {
            a.record(v);
            all.record(v);
        }
        for v in [3, 45_000, 20_010] {
            b.record(v);
            all.record(v);
        }
        a.merge(&b);
        assert_eq!(a, all);
        let mut empty = Histogram::new();
        empty.merge(&Histogram::new());
        assert_eq!(empty.count(), 0);
    }

    #[test]
    fn zero_values_and_extreme_quantiles_do_not_panic() {
        let mut h = Histogram::new();
        h.record(0);
        assert_eq!(h.quantile_us(0.0), Some(0));
        assert_eq!(h.quantile_us(f64::NAN), Some(0));
        assert_eq!(h.quantile_us(7.0), Some(0));
        h.record(u64::MAX);
        assert_eq!(h.quantile_us(1.0), Some(u64::MAX));
    }
}
