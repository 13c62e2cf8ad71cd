//! Dial strings: what an external target asks a trunk to dial, and whether that is allowed.
//!
//! A carrier dials any user part that looks like a number, whatever the host says, so the
//! toll-fraud policy cannot judge `sip:011441234567890@partner.example.com` by its host. Every
//! external target, a queue's forward (checked when the configuration or the API sets it) and
//! an agent's `Refer-To` (checked at REFER time), goes through [`route`]:
//!
//! - A user part that is a **number** (digits with a leading `+`, the RFC 3966 §5.1.1 visual
//!   separators `-.()`, an international or national prefix, `user=phone`, anything that does
//!   not start with a letter, or digits beside only the letters dial strings use) is
//!   normalised to E.164 with the trunk's [`DialRules`] and must match one of the trunk's
//!   number patterns (`+1425*`). It is then dialled as `+E164` and nothing else of the URI is
//!   kept.
//! - A user part that is a **name** (`support`, `bob`) is admitted by a host entry of the allow
//!   list (`sip:partner.example.com`), and only by one.
//! - **Refused** whatever the allow list says: a feature code (`*` or `#` anywhere in the user
//!   part: `*67`, `#31#` change what the carrier does with the call), a local number
//!   (`phone-context`, RFC 3966 §5.1.5: its meaning depends on a dial plan we do not know), a
//!   number without `+` when the trunk has no rules to read it, `?headers` (RFC 3261 §19.1.5:
//!   they would become headers of our INVITE, `?Route=` included), and `maddr` on a name
//!   (§19.1.1, §16.5: a proxy on the way would send the call to that address instead).
//!
//! A number's URI is rebuilt (`sip:+E164@proxy;user=phone`), so nothing else of it survives,
//! `maddr` included. The other routing parameters (`transport`, `lr`, `ttl`, `received`,
//! `method`) are dropped from a name's URI: a request to a trunk goes to the trunk's proxy, as
//! the trunk says.
//!
//! What this does not do: national numbering plans (number lengths, area codes). A national
//! number is the country code and the digits after the national prefix; the allow patterns
//! are what decides which of those may be dialled.

use thiserror::Error;

use crate::number::{E164Error, E164};
use crate::sip::uri::{unescape, Params, SipUri, Uri};

use super::model::{ExternalTarget, Trunk, TrunkId};

/// How a trunk reads numbers written without `+` (per `[[trunk]]`: `country_code`,
/// `national_prefix`, `international_prefix`). Without any, only `+E.164` is a number.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DialRules {
    /// The country code of national numbers (`"1"`, `"44"`): digits only.
    pub country_code: Option<String>,
    /// Dialled before a national number (`"1"` in the NANP, `"0"` in most of Europe); optional
    /// when dialling, stripped when present. Needs `country_code`.
    pub national_prefix: Option<String>,
    /// Dialled before a country code (`"011"` in the NANP, `"00"` in most of the world).
    pub international_prefix: Option<String>,
    /// `plus`: how numbers are written toward the trunk (see [`super::trunk_numbers`]).
    pub plus: super::trunk_numbers::PlusForm,
}

/// URI parameters that say how or where to send a request rather than who it is for
/// (RFC 3261 §19.1.1). `maddr` is refused rather than dropped, see [`DialError::Maddr`].
const ROUTING_PARAMS: [&str; 5] = ["transport", "lr", "ttl", "received", "method"];

/// What a target's user part is, before any trunk reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DialString {
    /// A name at a host: the URI with its routing parameters removed.
    Name(SipUri),
    /// A number as dialled: `+` and digits (global) or digits only (needs the trunk's rules).
    Number { global: bool, digits: String },
}

/// Where an allowed external target goes and what is dialled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub trunk: TrunkId,
    pub dialled: Dialled,
}

/// What the trunk is asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dialled {
    /// The number, normalised: the Request-URI is `sip:+E164@…;user=phone`.
    Number(E164),
    /// A name at an allowed host, without routing parameters or headers.
    Name(SipUri),
}

/// Why a target may not be dialled. Each message completes "… is refused: ".
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum DialError {
    #[error("it is not a sip:, sips: or tel: URI")]
    Scheme,
    #[error("it has ?headers, which would become headers of our request (RFC 3261 §19.1.5)")]
    Headers,
    #[error("it has maddr, which would send the call somewhere else than the allowed host")]
    Maddr,
    #[error("{found:?} is a feature code, never passed to a carrier")]
    FeatureCode { found: char },
    #[error("it is a local number (phone-context); write the number as +E.164")]
    Local,
    #[error("{found:?} in a number is not a digit or a visual separator")]
    NotANumber { found: char },
    #[error(
        "{digits} has no + and trunk {trunk:?} has no country_code or international_prefix \
         that reads it; write the number as +E.164"
    )]
    NoRules { digits: String, trunk: String },
    #[error(
        "{digits} starts with 0, which trunk {trunk:?} does not know as a prefix; \
         write the number as +E.164"
    )]
    UnknownPrefix { digits: String, trunk: String },
    #[error("the number {0}")]
    Number(E164Error),
    #[error("{0} is not in any [[trunk]]'s allow list")]
    NotAllowed(E164),
    #[error("no [[trunk]] has an allow entry that admits it")]
    NoTrunk,
}

/// What `uri` asks to dial, independent of any trunk (see the module doc).
pub fn dial_string(uri: &Uri) -> Result<DialString, DialError> {
    match uri {
        Uri::Tel(tel) => {
            if tel.params.contains("phone-context") {
                return Err(DialError::Local);
            }
            number(&unescape(&tel.number))
        }
        Uri::Sip(sip) => sip_dial_string(sip),
        Uri::Other { .. } => Err(DialError::Scheme),
    }
}

fn sip_dial_string(sip: &SipUri) -> Result<DialString, DialError> {
    if sip.headers.is_some() {
        return Err(DialError::Headers);
    }
    let user = sip.user.as_deref().map(unescape).unwrap_or_default();
    // Checked on the whole user part, names included: a gateway that dials names as digits
    // (or strips letters) would still see the code.
    if let Some(found) = user.chars().find(|c| matches!(c, '*' | '#')) {
        return Err(DialError::FeatureCode { found });
    }
    // RFC 3261 §19.1.1 / RFC 3966: with `;` the user part is a telephone-subscriber.
    let (main, sub_params) = match user.split_once(';') {
        Some((m, p)) => (m, Some(p)),
        None => (user.as_str(), None),
    };
    if sub_params.is_some_and(|p| {
        p.split(';').any(|kv| {
            let name = kv.split('=').next().unwrap_or("");
            name.eq_ignore_ascii_case("phone-context")
        })
    }) {
        return Err(DialError::Local);
    }
    // `user=phone` or `user=dialstring` (RFC 4967): the sender says it is a number.
    let says_number = sip
        .params
        .value("user")
        .is_some_and(|u| !u.eq_ignore_ascii_case("ip"));
    let is_name = if main.is_empty() {
        !says_number && sub_params.is_none()
    } else {
        !(says_number || sub_params.is_some() || looks_dialable(main))
    };
    if !is_name {
        // The number is dialled as `+E164` at the trunk's proxy and nothing else of this URI
        // is kept, `maddr` included.
        return number(main);
    }
    // A name's URI is passed on, and a proxy on the way sends a request with `maddr` there
    // (RFC 3261 §16.5): refused, not dropped, since nothing legitimate needs it.
    if sip.params.contains("maddr") {
        return Err(DialError::Maddr);
    }
    Ok(DialString::Name(without_routing(sip)))
}

/// Whether a gateway could take `user` for digits: it does not start with a letter, or its
/// letters are only ones dial strings use (pauses `p`/`w`/`x`, DTMF `a`–`d`) beside digits.
fn looks_dialable(user: &str) -> bool {
    let Some(first) = user.chars().next() else {
        return false;
    };
    if !first.is_ascii_alphabetic() {
        return true;
    }
    let has_digit = user.chars().any(|c| c.is_ascii_digit());
    has_digit
        && user
            .chars()
            .filter(char::is_ascii_alphabetic)
            .all(|c| "abcdpwxABCDPWX".contains(c))
}

/// Reads a number as written: an optional leading `+`, digits and visual separators.
fn number(text: &str) -> Result<DialString, DialError> {
    let text = text.trim();
    let (global, rest) = match text.strip_prefix('+') {
        Some(r) => (true, r),
        None => (false, text),
    };
    let mut digits = String::with_capacity(rest.len());
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            // RFC 3966 §5.1.1 visual-separator (and the space people type).
            '-' | '.' | '(' | ')' | ' ' => {}
            '*' | '#' => return Err(DialError::FeatureCode { found: c }),
            other => return Err(DialError::NotANumber { found: other }),
        }
    }
    if digits.is_empty() {
        return Err(DialError::Number(E164Error::Empty));
    }
    Ok(DialString::Number { global, digits })
}

/// The E.164 number `digits` is when dialled through a trunk with `rules`.
pub fn normalise(
    global: bool,
    digits: &str,
    rules: &DialRules,
    trunk: &str,
) -> Result<E164, DialError> {
    let e164 = |d: &str| E164::parse(&format!("+{d}")).map_err(DialError::Number);
    if global {
        return e164(digits);
    }
    // The international prefix first: "00" starts like the national prefix "0".
    if let Some(rest) = rules
        .international_prefix
        .as_deref()
        .and_then(|p| digits.strip_prefix(p))
    {
        return e164(rest);
    }
    let Some(cc) = rules.country_code.as_deref() else {
        return Err(DialError::NoRules {
            digits: digits.to_owned(),
            trunk: trunk.to_owned(),
        });
    };
    let national = rules
        .national_prefix
        .as_deref()
        .and_then(|p| digits.strip_prefix(p))
        .unwrap_or(digits);
    // A national significant number never starts with 0 (E.164 §6); a 0 here is a prefix
    // this trunk was not told about (an international one, or a carrier selection code).
    if national.starts_with('0') || national.is_empty() {
        return Err(DialError::UnknownPrefix {
            digits: digits.to_owned(),
            trunk: trunk.to_owned(),
        });
    }
    e164(&format!("{cc}{national}"))
}

/// The trunk that may carry `uri` and what it is asked to dial: the first trunk whose rules
/// read the number and whose allow list admits it, or whose host entry admits the name.
pub fn route(uri: &Uri, trunks: &[Trunk]) -> Result<Route, DialError> {
    match dial_string(uri)? {
        DialString::Name(name) => {
            let host = ExternalTarget::SipHost(name.host.to_string().to_ascii_lowercase());
            trunks
                .iter()
                .find(|t| t.allows(&host))
                .map(|t| Route {
                    trunk: t.id.clone(),
                    dialled: Dialled::Name(name),
                })
                .ok_or(DialError::NoTrunk)
        }
        DialString::Number { global, digits } => {
            let mut refusal = None;
            for t in trunks {
                match normalise(global, &digits, &t.dialling, t.id.as_str()) {
                    Ok(n) if t.allows(&ExternalTarget::Number(n.clone())) => {
                        return Ok(Route {
                            trunk: t.id.clone(),
                            dialled: Dialled::Number(n),
                        });
                    }
                    // "Not allowed" says more than a trunk that could not read the number.
                    Ok(n) => refusal = Some(DialError::NotAllowed(n)),
                    Err(e) => {
                        if refusal.is_none() {
                            refusal = Some(e);
                        }
                    }
                }
            }
            Err(refusal.unwrap_or(DialError::NoTrunk))
        }
    }
}

/// `sip` without `maddr`'s fellow routing parameters, headers or a password.
fn without_routing(sip: &SipUri) -> SipUri {
    let params = sip
        .params
        .0
        .iter()
        .filter(|(n, _)| !ROUTING_PARAMS.iter().any(|r| n.eq_ignore_ascii_case(r)))
        .cloned()
        .collect();
    SipUri {
        password: None,
        params: Params(params),
        headers: None,
        ..sip.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(text: &str) -> Uri {
        crate::sip::parse::parse_uri(text).expect("a URI")
    }

    fn nanp() -> DialRules {
        DialRules {
            country_code: Some("1".into()),
            national_prefix: Some("1".into()),
            international_prefix: Some("011".into()),
            ..DialRules::default()
        }
    }

    fn norm(text: &str, rules: &DialRules) -> Result<String, DialError> {
        match dial_string(&uri(text))? {
            DialString::Number { global, digits } => {
                normalise(global, &digits, rules, "t").map(|n| n.to_string())
            }
            DialString::Name(n) => panic!("{text} read as the name {n}"),
        }
    }

    #[test]
    fn numbers_in_every_disguise_are_read_as_numbers() {
        let r = nanp();
        let p = "@partner.example.com";
        assert_eq!(
            norm(&format!("sip:011441234567890{p}"), &r).unwrap(),
            "+441234567890"
        );
        assert_eq!(
            norm(&format!("sip:19005551234{p}"), &r).unwrap(),
            "+19005551234"
        );
        assert_eq!(
            norm(&format!("sip:9005551234{p}"), &r).unwrap(),
            "+19005551234"
        );
        assert_eq!(
            norm(&format!("sip:1-(900)-555.1234{p}"), &r).unwrap(),
            "+19005551234"
        );
        assert_eq!(
            norm(&format!("sip:%2B44-20-7946-0000{p};user=phone"), &r).unwrap(),
            "+442079460000"
        );
        // UK rules: 00 international, 0 national.
        let uk = DialRules {
            country_code: Some("44".into()),
            national_prefix: Some("0".into()),
            international_prefix: Some("00".into()),
            ..DialRules::default()
        };
        assert_eq!(
            norm(&format!("sip:00441234567890{p}"), &uk).unwrap(),
            "+441234567890"
        );
        assert_eq!(
            norm(&format!("sip:07700900123{p}"), &uk).unwrap(),
            "+447700900123"
        );
    }

    #[test]
    fn without_rules_only_global_numbers_are_numbers() {
        let none = DialRules::default();
        assert_eq!(
            norm("sip:+14255550100@x.example", &none).unwrap(),
            "+14255550100"
        );
        for text in ["sip:14255550100@x.example", "sip:011441234567890@x.example"] {
            assert!(
                matches!(norm(text, &none), Err(DialError::NoRules { .. })),
                "{text}"
            );
        }
        // NANP rules do not read a 00 international prefix.
        assert!(matches!(
            norm("sip:00441234567890@x.example", &nanp()),
            Err(DialError::UnknownPrefix { .. })
        ));
    }

    #[test]
    fn feature_codes_local_numbers_maddr_and_headers_are_refused() {
        let cases = [
            (
                "sip:*67+19005551234@p.example",
                DialError::FeatureCode { found: '*' },
            ),
            (
                "sip:%2A67%2B19005551234@p.example",
                DialError::FeatureCode { found: '*' },
            ),
            (
                "sip:%2331%23bob@p.example",
                DialError::FeatureCode { found: '#' },
            ),
            (
                "tel:*67-425-555-0100",
                DialError::FeatureCode { found: '*' },
            ),
            (
                "sip:19005551234;phone-context=+1@p.example;user=phone",
                DialError::Local,
            ),
            ("tel:5550100;phone-context=+1425", DialError::Local),
            ("sip:support@p.example;maddr=198.51.100.7", DialError::Maddr),
            (
                "sip:support@p.example?Route=%3Csip:198.51.100.7%3Blr%3E",
                DialError::Headers,
            ),
            (
                "sip:+1425555x0100@p.example",
                DialError::NotANumber { found: 'x' },
            ),
            ("mailto:a@p.example", DialError::Scheme),
        ];
        for (text, want) in cases {
            assert_eq!(dial_string(&uri(text)), Err(want), "{text}");
        }
    }

    #[test]
    fn names_stay_names_and_lose_their_routing_parameters() {
        let Ok(DialString::Name(n)) = dial_string(&uri(
            "sip:support@Partner.example.com:5070;transport=tcp;lr;x=1",
        )) else {
            panic!("support is a name");
        };
        assert_eq!(n.to_string(), "sip:support@Partner.example.com:5070;x=1");
        for text in [
            "sip:bob2024@p.example",
            "sip:abc@p.example",
            "sip:p.example",
        ] {
            assert!(
                matches!(dial_string(&uri(text)), Ok(DialString::Name(_))),
                "{text}"
            );
        }
        // Pause letters in front of digits, user=phone on letters: dialled as digits somewhere.
        for text in [
            "sip:pw19005551234@p.example",
            "sip:bob@p.example;user=phone",
        ] {
            assert!(
                matches!(dial_string(&uri(text)), Err(DialError::NotANumber { .. })),
                "{text}"
            );
        }
    }
}
