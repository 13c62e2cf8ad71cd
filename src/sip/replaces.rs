//! The `Replaces` header (RFC 3891 §6.1): which dialog a new INVITE (or the INVITE a REFER asks
//! for, RFC 3891 §4 and RFC 5589 §7) is to take the place of.
//!
//! ```text
//! Replaces = callid *(SEMI (to-tag / from-tag / early-flag / generic-param))
//! ```
//!
//! Inside a `Refer-To` URI the header travels escaped as a URI header
//! (`?Replaces=abc%40host%3Bto-tag%3D1%3Bfrom-tag%3D2`, RFC 3261 §19.1.1); [`from_uri_headers`]
//! finds and decodes it. Both tags are required: a dialog is named by its Call-ID and both
//! tags (RFC 3891 §3), and a value without them names nothing.

use super::uri::unescape;

/// A parsed `Replaces` value: the dialog it names, as seen by whoever sent it (the `to-tag`
/// is the tag of the party the INVITE goes to, RFC 3891 §3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replaces {
    pub call_id: String,
    pub to_tag: String,
    pub from_tag: String,
    /// `early-only`: the sender wants only an early dialog replaced (RFC 3891 §3).
    pub early_only: bool,
}

/// Why a `Replaces` value was not usable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplacesError {
    /// No Call-ID, or a tag missing or empty.
    Malformed,
}

/// Parses a `Replaces` header value (already unescaped).
pub fn parse(value: &str) -> Result<Replaces, ReplacesError> {
    let mut parts = value.split(';');
    let call_id = parts.next().unwrap_or("").trim();
    if call_id.is_empty() || call_id.contains(char::is_whitespace) {
        return Err(ReplacesError::Malformed);
    }
    let (mut to_tag, mut from_tag, mut early_only) = (None, None, false);
    for param in parts {
        let (name, value) = match param.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim())),
            None => (param.trim(), None),
        };
        if name.eq_ignore_ascii_case("to-tag") {
            to_tag = value.map(str::to_owned);
        } else if name.eq_ignore_ascii_case("from-tag") {
            from_tag = value.map(str::to_owned);
        } else if name.eq_ignore_ascii_case("early-only") {
            early_only = true;
        }
        // Other generic-params are allowed and carry nothing for us.
    }
    match (to_tag, from_tag) {
        (Some(to_tag), Some(from_tag)) if !to_tag.is_empty() && !from_tag.is_empty() => {
            Ok(Replaces {
                call_id: call_id.to_owned(),
                to_tag,
                from_tag,
                early_only,
            })
        }
        _ => Err(ReplacesError::Malformed),
    }
}

/// The `Replaces` among a URI's escaped headers (`hname=hvalue&…`, RFC 3261 §19.1.1): `None`
/// when there is none, the parse result when there is one. Header names compare
/// case-insensitively; a second `Replaces` makes the value malformed (it names two dialogs).
pub fn from_uri_headers(headers: &str) -> Option<Result<Replaces, ReplacesError>> {
    let mut found = None;
    for pair in headers.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if !unescape(name).trim().eq_ignore_ascii_case("replaces") {
            continue;
        }
        if found.is_some() {
            return Some(Err(ReplacesError::Malformed));
        }
        found = Some(parse(&unescape(value)));
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_rfc_5589_example_escaped_in_a_refer_to() {
        let r =
            from_uri_headers("Replaces=090459243588173445%3Bto-tag%3D7553452%3Bfrom-tag%3D31431")
                .unwrap()
                .unwrap();
        assert_eq!(r.call_id, "090459243588173445");
        assert_eq!(r.to_tag, "7553452");
        assert_eq!(r.from_tag, "31431");
        assert!(!r.early_only);
    }

    #[test]
    fn call_ids_with_escaped_at_and_other_headers_around() {
        let r = from_uri_headers(
            "Subject=hi&replaces=abc%40host.example%3Bfrom-tag%3Dx%3Bearly-only%3Bto-tag%3Dy",
        )
        .unwrap()
        .unwrap();
        assert_eq!(r.call_id, "abc@host.example");
        assert_eq!((r.to_tag.as_str(), r.from_tag.as_str()), ("y", "x"));
        assert!(r.early_only);
        assert!(from_uri_headers("Subject=hi").is_none());
    }

    #[test]
    fn a_value_without_both_tags_or_twice_is_malformed() {
        for bad in [
            "Replaces=abc",
            "Replaces=abc%3Bto-tag%3D1",
            "Replaces=abc%3Bto-tag%3D%3Bfrom-tag%3D2",
            "Replaces=%3Bto-tag%3D1%3Bfrom-tag%3D2",
            "Replaces=a%3Bto-tag%3D1%3Bfrom-tag%3D2&Replaces=b%3Bto-tag%3D1%3Bfrom-tag%3D2",
            "Replaces=%ZZ",
        ] {
            assert_eq!(
                from_uri_headers(bad),
                Some(Err(ReplacesError::Malformed)),
                "{bad}"
            );
        }
        assert!(parse("a b;to-tag=1;from-tag=2").is_err());
    }
}
