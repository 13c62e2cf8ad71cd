//! Property tests: no config text or dialled string makes the config and number code panic,
//! and normalisation is stable.

use std::path::Path;

use proptest::prelude::*;

use holdline::config::{from_toml_str, uri::parse_sip_uri, ConfigError};
use holdline::number::E164;
use holdline::sip::uri::Uri;

const EXAMPLE: &str = include_str!("../../deploy/holdline.example.toml");

proptest! {
    #[test]
    fn e164_parse_is_canonical_and_idempotent(text in "[ +tel:0-9().x-]{0,24}") {
        if let Ok(n) = E164::parse(&text) {
            let s = n.as_str();
            prop_assert!(s.starts_with('+'));
            prop_assert!(s[1..].bytes().all(|b| b.is_ascii_digit()));
            prop_assert!((9..=16).contains(&s.len()));
            prop_assert_ne!(s.as_bytes()[1], b'0');
            prop_assert_eq!(E164::parse(s), Ok(n.clone()));
            prop_assert_eq!(E164::parse(n.digits()), Ok(n));
        }
    }

    #[test]
    fn number_from_any_sip_user_never_panics(user in "[a-zA-Z0-9%+;=.()-]{1,30}") {
        if let Ok(uri) = parse_sip_uri(&format!("sip:{user}@example.com")) {
            let _ = E164::from_uri(&Uri::Sip(uri));
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let _ = from_toml_str(&text, Path::new(""));
    }

    #[test]
    fn edited_example_never_panics_and_errors_are_located(
        line in 0usize..400,
        replacement in "[a-z_=\"\\[\\] 0-9:+-]{0,20}",
    ) {
        // Replace one line of the example with junk: the result is accepted or refused with
        // messages, never a panic; a syntax error names a line inside the file.
        let lines: Vec<&str> = EXAMPLE.lines().collect();
        let at = line % lines.len();
        let mut edited: Vec<&str> = lines.clone();
        edited[at] = &replacement;
        let text = edited.join("\n");
        match from_toml_str(&text, Path::new("/etc/holdline")) {
            Ok(_) => {}
            Err(ConfigError::Syntax(s)) => {
                if let Some(l) = s.line {
                    prop_assert!(l >= 1 && l <= lines.len() + 1, "line {} of {}", l, lines.len());
                }
            }
            Err(e) => prop_assert!(!e.problems().is_empty(), "{}", e),
        }
    }
}
