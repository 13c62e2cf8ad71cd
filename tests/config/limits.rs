//! `[limits]`: admission control's defaults, and every value out of range refused with an
//! error that names the field and why.

use std::path::Path;
use std::time::Duration;

use holdline::config::{from_toml_str, ClassLimits, Config, LimitsConfig};

fn parse(toml: &str) -> Result<Config, String> {
    from_toml_str(toml, Path::new(".")).map_err(|e| e.to_string())
}

#[test]
fn defaults_hold_for_a_file_without_limits() {
    let config = parse("").expect("valid");
    assert_eq!(
        config.limits,
        LimitsConfig {
            source: ClassLimits {
                request_rate: 200,
                burst: 1000,
                unconfirmed: 20,
            },
            trunk: ClassLimits {
                request_rate: 5000,
                burst: 20_000,
                unconfirmed: 5000,
            },
            authenticated: ClassLimits {
                request_rate: 200,
                burst: 1000,
                unconfirmed: 20,
            },
            ban: Duration::from_secs(60),
            max_sources: 65_536,
        }
    );
    assert_eq!(LimitsConfig::default(), config.limits);
}

#[test]
fn every_key_is_read() {
    let config = parse(
        "[limits]\nrequest_rate = 5\nburst = 10\nunconfirmed_per_source = 2\nban = 600\n\
         trunk_request_rate = 50\ntrunk_burst = 100\ntrunk_unconfirmed = 30\nmax_sources = 1000\n",
    )
    .expect("valid");
    let l = config.limits;
    assert_eq!(
        (l.source.request_rate, l.source.burst, l.source.unconfirmed),
        (5, 10, 2)
    );
    assert_eq!(
        (l.trunk.request_rate, l.trunk.burst, l.trunk.unconfirmed),
        (50, 100, 30)
    );
    assert_eq!(l.ban, Duration::from_secs(600));
    assert_eq!(l.max_sources, 1000);
}

#[test]
fn values_out_of_range_are_refused_naming_the_field() {
    let err = parse(
        "[limits]\nrequest_rate = 0\nburst = -1\nunconfirmed_per_source = 0\nban = 0\n\
         trunk_request_rate = 2000000\ntrunk_burst = 0\ntrunk_unconfirmed = 0\nmax_sources = 1\n",
    )
    .unwrap_err();
    for want in [
        "[limits]: request_rate 0 is out of range; it must be 1–1000000 requests a second",
        "[limits]: burst -1 is out of range; it must be 1–1000000 requests",
        "[limits]: unconfirmed_per_source 0 is out of range; it must be 1–100000 calls",
        "[limits]: ban 0 is out of range; it must be 1–86400 seconds",
        "[limits]: trunk_request_rate 2000000 is out of range; it must be 1–1000000 requests a second",
        "[limits]: trunk_burst 0 is out of range; it must be 1–1000000 requests",
        "[limits]: trunk_unconfirmed 0 is out of range; it must be 1–100000 calls",
        "[limits]: max_sources 1 is out of range; it must be 16–10000000 addresses",
    ] {
        assert!(err.lines().any(|l| l == want), "wanted {want:?} among:\n{err}");
    }
}

#[test]
fn a_burst_below_the_rate_is_refused() {
    let err = parse("[limits]\nrequest_rate = 100\nburst = 10\n").unwrap_err();
    assert!(
        err.contains("[limits]: burst 10 is smaller than request_rate 100"),
        "{err}"
    );
}

#[test]
fn an_unknown_key_is_refused() {
    let err = parse("[limits]\nrequest_rat = 5\n").unwrap_err();
    assert!(err.contains("request_rat"), "{err}");
}
