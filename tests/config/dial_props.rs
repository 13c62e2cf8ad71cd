//! Property tests of the dial-string policy (`config::dial`): over Refer-To style URIs built
//! from prefixes, feature codes, digits with visual separators, telephone-subscriber and URI
//! parameters and headers, every accepted number is an E.164 that an allow pattern admits and
//! that is the written digits read with the trunk's rules; every accepted name is at the
//! allowed host without routing parameters; and nothing with a feature code, a local number,
//! `?headers`, `maddr` on a name or a number outside the patterns passes.

use std::path::Path;

use proptest::prelude::*;

use holdline::config::dial::{route, Dialled};
use holdline::config::{from_toml_str, Trunk};
use holdline::sip::parse::parse_uri;
use holdline::sip::uri::unescape;

/// One trunk with NANP rules allowing +1425… and +44207… numbers and names at
/// partner.example.com; a second without rules allowing only +1206….
fn trunks() -> Vec<Trunk> {
    let toml = r#"
[sip]
listen = ["udp:192.0.2.1:5060"]
[[trunk]]
id = "nanp"
proxy = "sip:203.0.113.9:5060"
allow = ["+1425*", "+44207*", "sip:partner.example.com"]
country_code = "1"
national_prefix = "1"
international_prefix = "011"
[[trunk]]
id = "plain"
proxy = "sip:203.0.113.10:5060"
allow = ["+1206*"]
"#;
    from_toml_str(toml, Path::new("."))
        .expect("valid trunks")
        .trunks
}

fn number_user() -> impl Strategy<Value = String> {
    let prefix = prop_oneof![
        Just(""),
        Just("+"),
        Just("%2B"),
        Just("011"),
        Just("00"),
        Just("1"),
        Just("*67"),
        Just("%2A67+"),
        Just("#31#"),
        Just("*"),
    ];
    let body = prop_oneof![
        "4255550[0-9]{3}",
        "14255550[0-9]{3}",
        "442079460[0-9]{3}",
        "12065550[0-9]{3}",
        "1900555[0-9]{4}",
        "[0-9]{1,15}",
    ];
    let separators =
        prop::collection::vec(prop_oneof![Just(""), Just("-"), Just("."), Just("(")], 0..3);
    let sub = prop_oneof![
        Just(""),
        Just(";phone-context=+1"),
        Just(";isub=12"),
        Just(";npdi"),
    ];
    (prefix, body, separators, sub).prop_map(|(p, b, seps, s)| {
        // Separators at a few places inside the digits (RFC 3966 visual-separator).
        let mut text = b.to_string();
        for (i, sep) in seps.iter().enumerate() {
            let at = (i * 3 + 1).min(text.len());
            text.insert_str(at, sep);
        }
        format!("{p}{text}{s}")
    })
}

fn name_user() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9]{0,8}",
        "[pwx][0-9]{3,10}",
        "[a-z]{2,5}[*#][0-9]{2}"
    ]
}

fn uri_text() -> impl Strategy<Value = String> {
    let user = prop_oneof![number_user(), name_user()];
    let host = prop_oneof![Just("partner.example.com"), Just("elsewhere.example")];
    let params = prop::collection::vec(
        prop_oneof![
            Just(";user=phone"),
            Just(";maddr=198.51.100.66"),
            Just(";transport=tcp"),
            Just(";lr"),
        ],
        0..3,
    );
    let headers = prop_oneof![3 => Just(""), 1 => Just("?Route=%3Csip:198.51.100.66%3E")];
    (user, host, params, headers)
        .prop_map(|(u, h, ps, hs)| format!("sip:{u}@{h}{}{hs}", ps.concat()))
}

/// The digits of a user part's number, separators and `+` removed (escapes decoded).
fn written_digits(user: &str) -> String {
    let main = user.split(';').next().unwrap_or("");
    main.chars().filter(char::is_ascii_digit).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn only_allowed_numbers_and_names_at_allowed_hosts_pass(text in uri_text()) {
        let trunks = trunks();
        let Ok(uri) = parse_uri(&text) else {
            return Ok(());
        };
        let holdline::sip::uri::Uri::Sip(sip) = &uri else {
            unreachable!("built as sip:");
        };
        let user = unescape(sip.user.as_deref().unwrap_or(""));
        let result = route(&uri, &trunks);
        let feature = user.contains('*') || user.contains('#');
        let local = user.to_ascii_lowercase().contains("phone-context");
        if feature || local || sip.headers.is_some() {
            prop_assert!(result.is_err(), "{} passed as {:?}", text, result);
            return Ok(());
        }
        let Ok(route) = result else {
            return Ok(());
        };
        let trunk = trunks.iter().find(|t| t.id == route.trunk).expect("a known trunk");
        match route.dialled {
            Dialled::Number(n) => {
                // An allow pattern of that trunk admits it, by an independent reading too.
                let ok_prefix = match trunk.id.as_str() {
                    "nanp" => {
                        n.as_str().starts_with("+1425") || n.as_str().starts_with("+44207")
                    }
                    _ => n.as_str().starts_with("+1206"),
                };
                prop_assert!(ok_prefix, "{} dialled as {} through {}", text, n, trunk.id);
                // It is the digits written, with a prefix taken off or the country code put on.
                let written = written_digits(&user);
                prop_assert!(
                    written.ends_with(n.digits()) || n.digits().ends_with(&written),
                    "{} read as {}", text, n
                );
                // Without + the plain trunk has no rules: only a global number goes there.
                if trunk.id.as_str() == "plain" {
                    prop_assert!(user.starts_with('+'), "{} through plain", text);
                }
            }
            Dialled::Name(name) => {
                prop_assert_eq!(name.host.to_string(), "partner.example.com");
                let starts_with_letter = name
                    .user
                    .as_deref()
                    .is_some_and(|u| u.starts_with(|c: char| c.is_ascii_alphabetic()));
                prop_assert!(starts_with_letter, "{} passed as a name", text);
                prop_assert!(!sip.params.contains("maddr"), "{} kept its maddr", text);
                prop_assert_ne!(sip.params.value("user"), Some("phone"), "{} passed as a name", text);
                for p in ["maddr", "transport", "lr", "ttl", "received", "method"] {
                    prop_assert!(!name.params.contains(p), "{} kept {}", text, p);
                }
                prop_assert!(name.headers.is_none());
                // A gateway could not read it as digits.
                let pause_then_digits = user.len() > 1
                    && user.starts_with(|c: char| "pwx".contains(c))
                    && user[1..].chars().all(|c| c.is_ascii_digit());
                prop_assert!(!pause_then_digits, "{} passed as a name", text);
            }
        }
    }
}

#[test]
fn allowed_numbers_in_every_written_form_pass() {
    let trunks = trunks();
    for (text, want) in [
        ("sip:+14255550123@elsewhere.example", "+14255550123"),
        (
            "sip:1-425-555-0123@partner.example.com;maddr=198.51.100.66",
            "+14255550123",
        ),
        (
            "sip:4255550123@partner.example.com;user=phone",
            "+14255550123",
        ),
        ("sip:011442079460123@partner.example.com", "+442079460123"),
        ("sip:%2B1(206)5550123@partner.example.com", "+12065550123"),
        ("tel:+1-206-555-0123", "+12065550123"),
    ] {
        let route =
            route(&parse_uri(text).unwrap(), &trunks).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(
            route.dialled,
            Dialled::Number(want.parse().unwrap()),
            "{text}"
        );
    }
}
