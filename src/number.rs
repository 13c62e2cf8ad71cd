//! E.164 numbers (ITU-T E.164, RFC 3966 `tel:` global numbers): normalisation and extraction
//! from Request-URIs.
//!
//! A number is kept in one canonical form, `+` followed by 8–15 digits, so `+14255550100`,
//! `14255550100`, `+1-425-555-0100`, `+1 (425) 555.0100` and `tel:+1-425-555-0100` are all the
//! same [`E164`] and compare equal. [`E164::from_uri`] finds the number a caller dialled in a
//! `sip:`/`sips:` user part (RFC 3261 §19.1.1, with or without `;user=phone`) or a `tel:` URI.
//!
//! What this does not do: it never interprets local numbers. A `tel:` URI or telephone-subscriber
//! user part with `phone-context` (RFC 3966 §5.1.5) is a local number whose meaning depends on the
//! dial plan of that context; rather than guess (prepending the context is right for some
//! carriers and wrong for others) it yields `None`, and the call misses like any unknown target.
//! No national dial plans, no `00`/`011` international prefixes here: numbers a trunk is asked to
//! dial are read with that trunk's rules in `config::dial`.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

use crate::sip::uri::{unescape, Uri};

/// The fewest digits after `+` we accept. E.164 itself allows shorter numbers in some
/// countries, but nothing that short is a service number a carrier delivers.
pub const MIN_DIGITS: usize = 8;
/// ITU-T E.164 §6: at most 15 digits including the country code.
pub const MAX_DIGITS: usize = 15;

/// A global E.164 number in canonical form: `+` then 8–15 digits, the first not `0`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct E164(String);

/// Why a string is not an E.164 number.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum E164Error {
    #[error("is empty")]
    Empty,
    #[error("contains {found:?}, which is not a digit or a visual separator")]
    InvalidChar { found: char },
    #[error("has {count} digits; an E.164 number has {MIN_DIGITS} to {MAX_DIGITS}")]
    Length { count: usize },
    #[error("starts with 0 after the +; country codes never start with 0")]
    LeadingZero,
    #[error("has a + that is not at the start")]
    MisplacedPlus,
}

impl E164 {
    /// Parses a number as people write it: an optional `tel:` prefix, an optional leading `+`,
    /// digits, and the RFC 3966 visual separators `-`, `.`, `(`, `)` and spaces anywhere.
    /// Without a `+` the digits are taken as a full international number (`14255550100`).
    pub fn parse(text: &str) -> Result<E164, E164Error> {
        let text = text.trim();
        let text = strip_prefix_ignore_case(text, "tel:").unwrap_or(text);
        if text.is_empty() {
            return Err(E164Error::Empty);
        }
        let mut digits = String::with_capacity(MAX_DIGITS + 1);
        digits.push('+');
        for (i, c) in text.char_indices() {
            match c {
                '0'..='9' => digits.push(c),
                '+' if i == 0 => {}
                '+' => return Err(E164Error::MisplacedPlus),
                // RFC 3966 §3 visual-separator, plus the space people type in config files.
                '-' | '.' | '(' | ')' | ' ' => {}
                other => return Err(E164Error::InvalidChar { found: other }),
            }
        }
        let count = digits.len() - 1;
        if !(MIN_DIGITS..=MAX_DIGITS).contains(&count) {
            return Err(E164Error::Length { count });
        }
        if digits.as_bytes()[1] == b'0' {
            return Err(E164Error::LeadingZero);
        }
        Ok(E164(digits))
    }

    /// The number a Request-URI addresses, if it addresses a global number:
    /// - `tel:+1-425-555-0100` (RFC 3966 global-number);
    /// - `sip:+14255550100@host;user=phone` and `sip:14255550100@host` (the user part is the
    ///   number; `%2B` escapes are decoded first, RFC 3261 §19.1.2);
    ///
    /// and `None` for a user part that is not a number (`sip:sales@example.com`), for local
    /// numbers (`phone-context`, see the module docs), and for other schemes.
    pub fn from_uri(uri: &Uri) -> Option<E164> {
        match uri {
            Uri::Tel(tel) => {
                if tel.params.contains("phone-context") {
                    return None;
                }
                // A tel: URI is global only with a leading + (RFC 3966 §5.1.4).
                let number = unescape(&tel.number);
                if !number.starts_with('+') {
                    return None;
                }
                E164::parse(&number).ok()
            }
            Uri::Sip(sip) => {
                let user = unescape(sip.user.as_deref()?);
                // RFC 3261 §19.1.1 / RFC 3966: with user=phone the user part is a
                // telephone-subscriber and may carry its own ;params after the number.
                let (number, params) = match user.split_once(';') {
                    Some((n, p)) => (n, Some(p)),
                    None => (user.as_str(), None),
                };
                let local = params.is_some_and(|p| {
                    p.split(';').any(|kv| {
                        let name = kv.split('=').next().unwrap_or("");
                        name.eq_ignore_ascii_case("phone-context")
                    })
                });
                if local || number.is_empty() {
                    return None;
                }
                // A user part of letters (`sales`) is an address, not a number; visual
                // separators are tolerated as in a tel: URI.
                E164::parse(number).ok()
            }
            Uri::Other { .. } => None,
        }
    }

    /// The canonical text: `+` and digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The digits without the `+`.
    pub fn digits(&self) -> &str {
        &self.0[1..]
    }
}

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for E164 {
    type Err = E164Error;

    fn from_str(s: &str) -> Result<E164, E164Error> {
        E164::parse(s)
    }
}

/// The global number `uri` addresses; the same as [`E164::from_uri`].
pub fn from_uri(uri: &Uri) -> Option<E164> {
    E164::from_uri(uri)
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::uri::{Host, Params, Scheme, SipUri, TelUri};

    fn sip(user: &str, params: &[(&str, Option<&str>)]) -> Uri {
        Uri::Sip(SipUri {
            scheme: Scheme::Sip,
            user: Some(user.to_owned()),
            password: None,
            host: Host::Name("carrier.example".into()),
            port: None,
            params: Params(
                params
                    .iter()
                    .map(|(n, v)| (n.to_string(), v.map(str::to_owned)))
                    .collect(),
            ),
            headers: None,
        })
    }

    fn tel(number: &str, params: &[(&str, Option<&str>)]) -> Uri {
        Uri::Tel(TelUri {
            number: number.to_owned(),
            params: Params(
                params
                    .iter()
                    .map(|(n, v)| (n.to_string(), v.map(str::to_owned)))
                    .collect(),
            ),
        })
    }

    #[test]
    fn e164_accepts_visual_separators() {
        let want = E164::parse("+14255550100").unwrap();
        for text in [
            "14255550100",
            "+1-425-555-0100",
            "+1 (425) 555.0100",
            "tel:+1-425-555-0100",
            "TEL:+14255550100",
            "  +1 425 555 0100 ",
        ] {
            assert_eq!(E164::parse(text).unwrap(), want, "{text}");
        }
        assert_eq!(want.as_str(), "+14255550100");
        assert_eq!(want.digits(), "14255550100");
    }

    #[test]
    fn e164_rejects_malformed_numbers() {
        assert_eq!(E164::parse(""), Err(E164Error::Empty));
        assert_eq!(E164::parse("+1234567"), Err(E164Error::Length { count: 7 }));
        assert_eq!(
            E164::parse("+1234567890123456"),
            Err(E164Error::Length { count: 16 })
        );
        assert_eq!(E164::parse("+0425555010"), Err(E164Error::LeadingZero));
        assert_eq!(E164::parse("+1425+5550100"), Err(E164Error::MisplacedPlus));
        assert_eq!(
            E164::parse("+1425555010x"),
            Err(E164Error::InvalidChar { found: 'x' })
        );
        assert!(E164::parse("sales").is_err());
        assert!(E164::parse("+").is_err());
    }

    #[test]
    fn sip_uri_with_user_phone_matches_number() {
        let want = E164::parse("+14255550100").ok();
        assert_eq!(
            E164::from_uri(&sip("+14255550100", &[("user", Some("phone"))])),
            want
        );
        assert_eq!(E164::from_uri(&sip("14255550100", &[])), want);
        assert_eq!(E164::from_uri(&sip("%2B14255550100", &[])), want);
        assert_eq!(
            E164::from_uri(&sip("+1-425-555-0100;npdi", &[("user", Some("phone"))])),
            want
        );
    }

    #[test]
    fn tel_uri_global_number_matches() {
        let want = E164::parse("+14255550100").ok();
        assert_eq!(E164::from_uri(&tel("+1-425-555-0100", &[])), want);
        assert_eq!(
            E164::from_uri(&tel("+14255550100", &[("ext", Some("12"))])),
            want
        );
    }

    #[test]
    fn local_numbers_with_phone_context_are_not_matched() {
        assert_eq!(
            E164::from_uri(&tel("5550100", &[("phone-context", Some("+1425"))])),
            None
        );
        assert_eq!(
            E164::from_uri(&tel("+14255550100", &[("phone-context", Some("x"))])),
            None
        );
        assert_eq!(E164::from_uri(&tel("14255550100", &[])), None);
        assert_eq!(
            E164::from_uri(&sip(
                "5550100;phone-context=+1425",
                &[("user", Some("phone"))]
            )),
            None
        );
    }

    #[test]
    fn non_numeric_user_part_is_not_a_number() {
        assert_eq!(E164::from_uri(&sip("sales", &[])), None);
        assert_eq!(E164::from_uri(&sip("1234", &[])), None);
        assert_eq!(E164::from_uri(&sip("", &[])), None);
        let other = Uri::Other {
            scheme: "urn".into(),
            rest: "service:sos".into(),
        };
        assert_eq!(E164::from_uri(&other), None);
    }
}
