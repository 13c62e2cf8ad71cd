//! `[probe]`: OPTIONS probing of static contacts (`[[user]] contacts`), its checks and
//! defaults.
//!
//! A phone with a static contact does not register, so nothing tells holdline when it is
//! switched off; an OPTIONS request (RFC 3261 §11) every `interval` does. A contact that does
//! not answer within `timeout` is not rung, and an agent with no reachable contact is offline.

use std::time::Duration;

use serde::Deserialize;

use super::validate::{in_range, seconds, Problems};

/// `[probe]` as the file gives it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table ([probe])")]
pub struct RawProbe {
    pub interval: Option<i64>,
    pub timeout: Option<i64>,
}

/// `[probe]`, validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeConfig {
    /// Time between two probes of one contact; `None`: probing is off (every static contact
    /// counts as reachable, as before probing existed).
    pub interval: Option<Duration>,
    /// How long a probe may go without a final response before its contact is unreachable
    /// (at most Timer F, 64·T1, after which the transaction gives up anyway).
    pub timeout: Duration,
}

pub const DEFAULT_INTERVAL_SECONDS: i64 = 30;
pub const DEFAULT_TIMEOUT_SECONDS: i64 = 5;

impl Default for ProbeConfig {
    fn default() -> ProbeConfig {
        probe(&RawProbe::default(), &mut Problems::default())
    }
}

/// Checks `[probe]`; every value out of range is a problem naming its field.
pub(super) fn probe(raw: &RawProbe, p: &mut Problems) -> ProbeConfig {
    const S: &str = "[probe]";
    let interval = in_range(
        S,
        "interval",
        raw.interval,
        DEFAULT_INTERVAL_SECONDS,
        0..=3600,
        " s (0: no probing)",
        p,
    );
    let timeout = in_range(
        S,
        "timeout",
        raw.timeout,
        DEFAULT_TIMEOUT_SECONDS,
        1..=32,
        " s",
        p,
    );
    if interval > 0 && timeout > interval {
        p.add(
            S,
            "timeout",
            format!(
                "timeout {timeout} s is longer than interval {interval} s; \
                 a probe would still run when the next one is due"
            ),
        );
    }
    ProbeConfig {
        interval: (interval > 0).then(|| seconds(interval)),
        timeout: seconds(timeout),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn problems(toml: &str) -> Vec<String> {
        match crate::config::from_toml_str(toml, Path::new("")) {
            Ok(_) => Vec::new(),
            Err(e) => vec![e.to_string()],
        }
    }

    #[test]
    fn defaults_probe_every_30_s_with_a_5_s_timeout() {
        let c = crate::config::from_toml_str("", Path::new("")).expect("config");
        assert_eq!(c.probe.interval, Some(Duration::from_secs(30)));
        assert_eq!(c.probe.timeout, Duration::from_secs(5));
        let off =
            crate::config::from_toml_str("[probe]\ninterval = 0\n", Path::new("")).expect("config");
        assert_eq!(off.probe.interval, None);
    }

    #[test]
    fn out_of_range_values_name_the_field() {
        let e = problems("[probe]\ninterval = -1\n").join("\n");
        assert!(e.contains("[probe]") && e.contains("interval"), "{e}");
        let e = problems("[probe]\ntimeout = 0\n").join("\n");
        assert!(e.contains("timeout"), "{e}");
        let e = problems("[probe]\ninterval = 10\ntimeout = 20\n").join("\n");
        assert!(e.contains("longer than interval"), "{e}");
    }
}
