//! `[limits]`: per-source admission control (request rate, unconfirmed calls, bans), its
//! checks and defaults.
//!
//! The defaults never hurt a real phone (a few requests a second, one or two calls set up at
//! a time), a SIPp test at ordinary rates from one address, or a carrier trunk (a `[[trunk]]`
//! proxy's address has its own, higher limits). What they stop: one address sending thousands
//! of requests a second, or holding many calls answered but never ACKed.
//!
//! What this does not do: limits per authenticated user have no keys yet (the registrar that
//! authenticates users comes later); they take the per-source values until then.

use std::time::Duration;

use serde::Deserialize;

use super::validate::{in_range, Problems};

/// `[limits]` as the file gives it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table ([limits])")]
pub struct RawLimits {
    pub request_rate: Option<i64>,
    pub burst: Option<i64>,
    pub unconfirmed_per_source: Option<i64>,
    pub ban: Option<i64>,
    pub trunk_request_rate: Option<i64>,
    pub trunk_burst: Option<i64>,
    pub trunk_unconfirmed: Option<i64>,
    pub max_sources: Option<i64>,
}

/// What one class of source may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClassLimits {
    /// Requests a second, sustained (the token bucket's refill rate).
    pub request_rate: u32,
    /// Requests at once above the rate (the bucket's size).
    pub burst: u32,
    /// Calls from the source answered or ringing but not ACKed yet, at most.
    pub unconfirmed: u32,
}

/// `[limits]`, validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LimitsConfig {
    /// Any source that is not a trunk.
    pub source: ClassLimits,
    /// A `[[trunk]]` proxy's address.
    pub trunk: ClassLimits,
    /// An authenticated user's source (no keys yet: the per-source values).
    pub authenticated: ClassLimits,
    /// How long a source that broke its limits is dropped.
    pub ban: Duration,
    /// How many source addresses are tracked at once.
    pub max_sources: usize,
}

pub const DEFAULT_REQUEST_RATE: i64 = 200;
pub const DEFAULT_BURST: i64 = 1000;
pub const DEFAULT_UNCONFIRMED: i64 = 20;
pub const DEFAULT_BAN_SECONDS: i64 = 60;
pub const DEFAULT_TRUNK_REQUEST_RATE: i64 = 5000;
pub const DEFAULT_TRUNK_BURST: i64 = 20_000;
pub const DEFAULT_TRUNK_UNCONFIRMED: i64 = 5000;
pub const DEFAULT_MAX_SOURCES: i64 = 65_536;

impl Default for LimitsConfig {
    fn default() -> LimitsConfig {
        limits(&RawLimits::default(), &mut Problems::default())
    }
}

/// Checks `[limits]`; every value out of range is a problem naming its field.
pub(super) fn limits(raw: &RawLimits, p: &mut Problems) -> LimitsConfig {
    const S: &str = "[limits]";
    let mut num = |field, value, default, range, unit| {
        let v = in_range(S, field, value, default, range, unit, p);
        u32::try_from(v).unwrap_or(u32::MAX)
    };
    let source = ClassLimits {
        request_rate: num(
            "request_rate",
            raw.request_rate,
            DEFAULT_REQUEST_RATE,
            1..=1_000_000,
            " requests a second",
        ),
        burst: num(
            "burst",
            raw.burst,
            DEFAULT_BURST,
            1..=1_000_000,
            " requests",
        ),
        unconfirmed: num(
            "unconfirmed_per_source",
            raw.unconfirmed_per_source,
            DEFAULT_UNCONFIRMED,
            1..=100_000,
            " calls",
        ),
    };
    let trunk = ClassLimits {
        request_rate: num(
            "trunk_request_rate",
            raw.trunk_request_rate,
            DEFAULT_TRUNK_REQUEST_RATE,
            1..=1_000_000,
            " requests a second",
        ),
        burst: num(
            "trunk_burst",
            raw.trunk_burst,
            DEFAULT_TRUNK_BURST,
            1..=1_000_000,
            " requests",
        ),
        unconfirmed: num(
            "trunk_unconfirmed",
            raw.trunk_unconfirmed,
            DEFAULT_TRUNK_UNCONFIRMED,
            1..=100_000,
            " calls",
        ),
    };
    let ban = num("ban", raw.ban, DEFAULT_BAN_SECONDS, 1..=86_400, " seconds");
    let max_sources = num(
        "max_sources",
        raw.max_sources,
        DEFAULT_MAX_SOURCES,
        16..=10_000_000,
        " addresses",
    );
    // A bucket smaller than a second's worth would refuse a source that keeps to its rate
    // but sends in bursts (a phone's INVITE, PRACK and ACK arrive together).
    for (class, prefix) in [(&source, ""), (&trunk, "trunk_")] {
        if class.burst < class.request_rate {
            p.add(
                S,
                &format!("{prefix}burst"),
                format!(
                    "{prefix}burst {} is smaller than {prefix}request_rate {}: it must hold at \
                     least one second's worth of requests",
                    class.burst, class.request_rate
                ),
            );
        }
    }
    LimitsConfig {
        source,
        trunk,
        authenticated: source,
        ban: Duration::from_secs(u64::from(ban)),
        max_sources: max_sources as usize,
    }
}
