//! Numbers as a trunk writes them: read into E.164 on the way in, written in the trunk's form
//! on the way out. Pure functions over a trunk's [`DialRules`].
//!
//! - **Inbound** ([`inbound_number`]): a carrier puts the dialled service number in the
//!   Request-URI as it likes: `+442071234567`, `442071234567`, national `02071234567`,
//!   international `00442071234567`, or a `tel:` URI with RFC 3966 §5.1.1 visual separators
//!   (`-`, `.`, `(`, `)`). With the trunk's `country_code`, `national_prefix` and
//!   `international_prefix` every one of them reads as `+442071234567` before the
//!   service-number lookup. Digits that start with the country code and with neither prefix
//!   are read as an international number without `+` (a national number never starts with its
//!   own country code in the plans that use a national prefix). A number without `+` and without rules that read it is taken as
//!   digits of a full international number, as the service directory always did.
//! - **Outbound** ([`trunk_form`]): `plus = "keep"` or `"add"` write `+` and the digits (our
//!   numbers are E.164, so the `+` is always there to keep); `"strip"` writes the digits
//!   alone, for carriers that refuse a `+` in the user part.
//!
//! What this does not do: national numbering plans (lengths, area codes), local numbers with
//! `phone-context` (RFC 3966 §5.1.5: their meaning depends on a dial plan we do not know; they
//! are not read at all).

use crate::number::E164;
use crate::sip::uri::Uri;

use super::dial::{self, DialRules, DialString};
use super::raw::RawTrunk;
use super::validate::Problems;

/// `plus`: how the `+` of a number is written toward the trunk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PlusForm {
    /// `+` and the digits, as holdline keeps numbers (the default).
    #[default]
    Keep,
    /// The digits without `+` (`442071234567`).
    Strip,
    /// `+` and the digits, said explicitly.
    Add,
}

/// The E.164 number a trunk's Request-URI dials, read with the trunk's rules. `None` for a
/// name (`sip:sales@…`), a local number, or digits no rule turns into a valid number.
pub fn inbound_number(uri: &Uri, rules: &DialRules) -> Option<E164> {
    let DialString::Number { global, digits } = dial::dial_string(uri).ok()? else {
        return None;
    };
    // Carriers often send the country code and national number without `+`
    // (`442071234567`): digits that start with the country code and with neither prefix are
    // that, not a national number without its prefix.
    if let (false, Some(cc)) = (global, rules.country_code.as_deref()) {
        let starts = |p: Option<&str>| p.is_some_and(|p| digits.starts_with(p));
        if digits.starts_with(cc)
            && !starts(rules.international_prefix.as_deref())
            && !starts(rules.national_prefix.as_deref())
        {
            if let Ok(n) = E164::parse(&digits) {
                return Some(n);
            }
        }
    }
    match dial::normalise(global, &digits, rules, "") {
        Ok(n) => Some(n),
        // Digits no rule reads: a full international number without `+`, as the service
        // directory reads any number.
        Err(_) if !global => E164::parse(&digits).ok(),
        Err(_) => None,
    }
}

/// `number` as the trunk is sent it (the user part of the Request-URI).
pub fn trunk_form(number: &E164, rules: &DialRules) -> String {
    match rules.plus {
        PlusForm::Keep | PlusForm::Add => number.as_str().to_owned(),
        PlusForm::Strip => number.digits().to_owned(),
    }
}

/// A trunk's `plus` key (default `keep`).
pub(super) fn plus(t: &RawTrunk, subj: &str, p: &mut Problems) -> PlusForm {
    match t.plus.as_deref().map(str::trim) {
        None | Some("keep") => PlusForm::Keep,
        Some("strip") => PlusForm::Strip,
        Some("add") => PlusForm::Add,
        Some(other) => {
            p.add(
                subj,
                "plus",
                format!("plus {other:?} must be \"keep\", \"strip\" or \"add\""),
            );
            PlusForm::Keep
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uk() -> DialRules {
        DialRules {
            country_code: Some("44".into()),
            national_prefix: Some("0".into()),
            international_prefix: Some("00".into()),
            plus: PlusForm::Keep,
        }
    }

    fn read(text: &str, rules: &DialRules) -> Option<String> {
        let uri = crate::sip::parse::parse_uri(text).expect("a URI");
        inbound_number(&uri, rules).map(|n| n.to_string())
    }

    #[test]
    fn an_empty_user_part_is_no_number() {
        let Ok(Uri::Sip(mut sip)) = crate::sip::parse::parse_uri("sip:x@198.51.100.1") else {
            panic!("a sip: URI");
        };
        sip.user = Some(String::new());
        assert_eq!(inbound_number(&Uri::Sip(sip), &uk()), None);
    }

    #[test]
    fn a_uk_carrier_reaches_the_e164_number_in_every_form() {
        let want = Some("+442071234567".to_owned());
        for text in [
            "sip:+442071234567@198.51.100.1",
            "sip:442071234567@198.51.100.1",
            "sip:02071234567@198.51.100.1;user=phone",
            "sip:00442071234567@198.51.100.1",
            "tel:+44-20-7123-4567",
            "tel:+44.(20).7123.4567",
            "sip:%2B44-20-7123-4567@198.51.100.1;user=phone",
            "sip:020-7123-4567@198.51.100.1",
        ] {
            assert_eq!(read(text, &uk()), want, "{text}");
        }
    }

    #[test]
    fn a_national_number_without_its_prefix_still_reads() {
        assert_eq!(
            read("sip:2071234567@198.51.100.1", &uk()).as_deref(),
            Some("+442071234567")
        );
        let nanp = DialRules {
            country_code: Some("1".into()),
            national_prefix: Some("1".into()),
            international_prefix: Some("011".into()),
            plus: PlusForm::Keep,
        };
        for text in [
            "sip:14255550100@x",
            "sip:4255550100@x",
            "sip:+14255550100@x",
        ] {
            assert_eq!(read(text, &nanp).as_deref(), Some("+14255550100"), "{text}");
        }
    }

    #[test]
    fn without_rules_digits_are_a_full_international_number() {
        let none = DialRules::default();
        assert_eq!(
            read("sip:442071234567@x.example", &none).as_deref(),
            Some("+442071234567")
        );
        // A national number means nothing without the country it is national to.
        assert_eq!(read("sip:02071234567@x.example", &none), None);
    }

    #[test]
    fn empty_letters_too_long_and_local_numbers_are_no_number() {
        for text in [
            "sip:198.51.100.1",
            "sip:sales@example.com",
            "sip:0207abc4567@198.51.100.1;user=phone",
            "sip:+4420712345678901234@198.51.100.1",
            "sip:0020712345678901234@198.51.100.1",
            "tel:2071234567;phone-context=+44",
            "sip:*67@198.51.100.1",
            "sip:0@198.51.100.1",
        ] {
            assert_eq!(read(text, &uk()), None, "{text}");
        }
    }

    #[test]
    fn numbers_toward_the_trunk_keep_or_lose_their_plus() {
        let n = E164::parse("+442071234567").unwrap();
        let mut rules = uk();
        assert_eq!(trunk_form(&n, &rules), "+442071234567");
        rules.plus = PlusForm::Add;
        assert_eq!(trunk_form(&n, &rules), "+442071234567");
        rules.plus = PlusForm::Strip;
        assert_eq!(trunk_form(&n, &rules), "442071234567");
    }
}
