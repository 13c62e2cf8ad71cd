//! `[[trunk]]` with several SBCs: `sbcs` (priority, weight) or `proxy`, and
//! `first_response_timeout`; every problem names the trunk and the field.

use std::path::Path;
use std::time::Duration;

use holdline::config::{from_toml_str, Config};

fn parse(trunk: &str) -> Result<Config, String> {
    from_toml_str(
        &format!("[[trunk]]\nid = \"t\"\nallow = [\"+1*\"]\n{trunk}"),
        Path::new("/etc/holdline"),
    )
    .map_err(|e| e.to_string())
}

fn problems(trunk: &str) -> Vec<String> {
    match parse(trunk) {
        Ok(_) => panic!("configuration was accepted:\n{trunk}"),
        Err(e) => e.lines().map(str::to_owned).collect(),
    }
}

#[test]
fn sbcs_are_read_with_their_priorities_weights_and_defaults() {
    let c = parse(
        "sbcs = [{ uri = \"sip:192.0.2.11:5060\", priority = 2, weight = 50 },\n\
                 { uri = \"sip:192.0.2.10:5060;transport=tcp\" }]\n\
         first_response_timeout = 1.5",
    )
    .unwrap();
    let t = &c.trunks[0];
    let got: Vec<(String, u16, u16)> = t
        .sbcs
        .iter()
        .map(|s| (s.uri.to_string(), s.priority, s.weight))
        .collect();
    assert_eq!(
        got,
        [
            ("sip:192.0.2.11:5060".to_owned(), 2, 50),
            ("sip:192.0.2.10:5060;transport=tcp".to_owned(), 1, 1),
        ]
    );
    assert_eq!(
        t.proxy.to_string(),
        "sip:192.0.2.10:5060;transport=tcp",
        "proxy is the first SBC by priority"
    );
    assert_eq!(t.first_response_timeout, Duration::from_millis(1_500));
}

#[test]
fn a_proxy_alone_is_one_sbc_with_a_two_second_first_response_timeout() {
    let c = parse("proxy = \"sip:192.0.2.10\"").unwrap();
    let t = &c.trunks[0];
    assert_eq!(t.sbcs.len(), 1);
    assert_eq!(t.sbcs[0].uri, t.proxy);
    assert_eq!(t.first_response_timeout, Duration::from_secs(2));
}

#[test]
fn proxy_or_sbcs_exactly_one_of_them() {
    assert_eq!(
        problems(""),
        ["trunk \"t\": a trunk needs proxy (one SBC's sip: URI) or sbcs (several)"]
    );
    assert_eq!(
        problems("proxy = \"sip:192.0.2.10\"\nsbcs = [{ uri = \"sip:192.0.2.11\" }]"),
        ["trunk \"t\": give either proxy (one SBC) or sbcs (several), not both"]
    );
}

#[test]
fn each_sbc_is_checked_and_named() {
    let got = problems(
        "sbcs = [{ uri = \"sip:sbc.carrier.example\" },\n\
                 { uri = \"sip:192.0.2.10\", priority = 70000, weight = -1 },\n\
                 { uri = \"sip:192.0.2.12\" }, { uri = \"sip:192.0.2.12\" }]",
    );
    assert_eq!(
        got,
        [
            "trunk \"t\": sbcs[1] priority 70000 must be 0 to 65535 (RFC 2782)",
            "trunk \"t\": sbcs[1] weight -1 must be 0 to 65535 (RFC 2782)",
            "trunk \"t\": sbcs[3] uri \"sip:192.0.2.12\" is listed twice",
        ]
    );
    assert!(problems("sbcs = [{ uri = \"sip:192.0.2.10\", port = 5 }]")
        .join("\n")
        .contains("port"));
}

#[test]
fn first_response_timeout_stays_under_timer_b() {
    for bad in ["0", "0.05", "32", "600", "-1", "nan"] {
        let got = problems(&format!(
            "proxy = \"sip:192.0.2.10\"\nfirst_response_timeout = {bad}"
        ));
        assert_eq!(got.len(), 1, "{bad}: {got:?}");
        assert!(
            got[0].starts_with("trunk \"t\": first_response_timeout ")
                && got[0].ends_with(
                    "must be at least 0.1 and under 32 seconds (Timer B ends the INVITE then)"
                ),
            "{bad}: {got:?}"
        );
    }
}

#[test]
fn health_checks_are_off_unless_an_interval_is_given() {
    let t = &parse("proxy = \"sip:192.0.2.10\"").unwrap().trunks[0];
    assert_eq!(t.health, None);
    let t = &parse("proxy = \"sip:192.0.2.10\"\nhealth_interval = 30")
        .unwrap()
        .trunks[0];
    let h = t.health.expect("health checks on");
    assert_eq!(
        (h.interval, h.down_after, h.up_after),
        (Duration::from_secs(30), 3, 2)
    );
}

#[test]
fn health_keys_are_checked() {
    assert_eq!(
        problems(
            "proxy = \"sip:192.0.2.10\"\nhealth_interval = 3601\ndown_after = 0\nup_after = 101"
        ),
        [
            "trunk \"t\": down_after 0 must be 1 to 100 probes",
            "trunk \"t\": up_after 101 must be 1 to 100 probes",
            "trunk \"t\": health_interval 3601 must be 1 to 3600 seconds (0: no health checks)",
        ]
    );
    assert_eq!(
        problems("proxy = \"sip:192.0.2.10\"\ndown_after = 2"),
        ["trunk \"t\": down_after and up_after need health_interval (seconds between OPTIONS)"]
    );
}
