//! `[rtp] latch_packets` and `unproven_media`: strict RTP and the bound on media toward a caller
//! that has not proven its address. Defaults when absent, values read, and every value out of
//! range refused with the field and the range.

use std::path::Path;
use std::time::Duration;

use holdline::config::from_toml_str;

#[test]
fn strict_rtp_keys_have_defaults_and_are_read() {
    let c = from_toml_str("", Path::new(".")).expect("empty config");
    assert_eq!(c.rtp.latch_packets, 4);
    assert_eq!(c.rtp.unproven_media, Some(Duration::from_secs(5)));
    let c = from_toml_str(
        "[rtp]\nlatch_packets = 10\nunproven_media = 30\n",
        Path::new("."),
    )
    .expect("valid values");
    assert_eq!(c.rtp.latch_packets, 10);
    assert_eq!(c.rtp.unproven_media, Some(Duration::from_secs(30)));
}

#[test]
fn strict_rtp_keys_out_of_range_are_refused_with_field_and_reason() {
    for (toml, field, message) in [
        (
            "latch_packets = 1",
            "latch_packets",
            "latch_packets 1 is out of range; it must be 2–50 packets",
        ),
        (
            "latch_packets = 51",
            "latch_packets",
            "latch_packets 51 is out of range; it must be 2–50 packets",
        ),
        (
            "unproven_media = 0",
            "unproven_media",
            "unproven_media 0 is out of range; it must be 1–60 s",
        ),
        (
            "unproven_media = 61",
            "unproven_media",
            "unproven_media 61 is out of range; it must be 1–60 s",
        ),
    ] {
        let err = from_toml_str(&format!("[rtp]\n{toml}\n"), Path::new(".")).expect_err(toml);
        let p = &err.problems()[0];
        assert_eq!(
            (p.subject.as_str(), p.field.as_str(), p.message.as_str()),
            ("[rtp]", field, message),
            "{toml}"
        );
    }
    let wrong_type = from_toml_str("[rtp]\nunproven_media = \"5s\"\n", Path::new("."));
    assert!(wrong_type.is_err(), "a string is not a number of seconds");
}
