//! Header fields (RFC 3261 §7.3, §20): names with their compact forms, and the ordered header
//! list of a message.
//!
//! Values are stored as text with line folding already replaced by a single space (§7.3.1), so
//! the message layer never re-parses continuation lines. Headers the stack does not know keep
//! their name exactly as received and pass through untouched.

use std::fmt;

/// A header field name. Known names compare and serialize canonically; the compact forms of
/// §7.3.3 (`v f t i m l c s k e o`, plus `r b u x` from later RFCs) map onto them.
#[derive(Clone, Debug)]
pub enum HeaderName {
    Accept,
    AcceptEncoding,
    AcceptLanguage,
    Allow,
    AllowEvents,
    Authorization,
    CallId,
    Contact,
    ContentDisposition,
    ContentEncoding,
    ContentLength,
    ContentType,
    CSeq,
    Date,
    Diversion,
    Event,
    Expires,
    From,
    HistoryInfo,
    MaxForwards,
    MinExpires,
    MinSe,
    /// RFC 3327.
    Path,
    PAssertedIdentity,
    PPreferredIdentity,
    Privacy,
    ProxyAuthenticate,
    ProxyAuthorization,
    ProxyRequire,
    Reason,
    RecordRoute,
    ReferTo,
    ReferredBy,
    Require,
    RetryAfter,
    Route,
    Server,
    SessionExpires,
    Subject,
    SubscriptionState,
    Supported,
    Timestamp,
    To,
    Unsupported,
    UserAgent,
    Via,
    Warning,
    WwwAuthenticate,
    /// Any other name, exactly as received.
    Other(String),
}

/// Known names: (canonical, compact form, variant).
const KNOWN: &[(&str, Option<&str>, HeaderName)] = &[
    ("Accept", None, HeaderName::Accept),
    ("Accept-Encoding", None, HeaderName::AcceptEncoding),
    ("Accept-Language", None, HeaderName::AcceptLanguage),
    ("Allow", None, HeaderName::Allow),
    ("Allow-Events", Some("u"), HeaderName::AllowEvents),
    ("Authorization", None, HeaderName::Authorization),
    ("Call-ID", Some("i"), HeaderName::CallId),
    ("Contact", Some("m"), HeaderName::Contact),
    ("Content-Disposition", None, HeaderName::ContentDisposition),
    ("Content-Encoding", Some("e"), HeaderName::ContentEncoding),
    ("Content-Length", Some("l"), HeaderName::ContentLength),
    ("Content-Type", Some("c"), HeaderName::ContentType),
    ("CSeq", None, HeaderName::CSeq),
    ("Date", None, HeaderName::Date),
    ("Diversion", None, HeaderName::Diversion),
    ("Event", Some("o"), HeaderName::Event),
    ("Expires", None, HeaderName::Expires),
    ("From", Some("f"), HeaderName::From),
    ("History-Info", None, HeaderName::HistoryInfo),
    ("Max-Forwards", None, HeaderName::MaxForwards),
    ("Min-Expires", None, HeaderName::MinExpires),
    ("Min-SE", None, HeaderName::MinSe),
    ("Path", None, HeaderName::Path),
    ("P-Asserted-Identity", None, HeaderName::PAssertedIdentity),
    ("P-Preferred-Identity", None, HeaderName::PPreferredIdentity),
    ("Privacy", None, HeaderName::Privacy),
    ("Proxy-Authenticate", None, HeaderName::ProxyAuthenticate),
    ("Proxy-Authorization", None, HeaderName::ProxyAuthorization),
    ("Proxy-Require", None, HeaderName::ProxyRequire),
    ("Reason", None, HeaderName::Reason),
    ("Record-Route", None, HeaderName::RecordRoute),
    ("Refer-To", Some("r"), HeaderName::ReferTo),
    ("Referred-By", Some("b"), HeaderName::ReferredBy),
    ("Require", None, HeaderName::Require),
    ("Retry-After", None, HeaderName::RetryAfter),
    ("Route", None, HeaderName::Route),
    ("Server", None, HeaderName::Server),
    ("Session-Expires", Some("x"), HeaderName::SessionExpires),
    ("Subject", Some("s"), HeaderName::Subject),
    ("Subscription-State", None, HeaderName::SubscriptionState),
    ("Supported", Some("k"), HeaderName::Supported),
    ("Timestamp", None, HeaderName::Timestamp),
    ("To", Some("t"), HeaderName::To),
    ("Unsupported", None, HeaderName::Unsupported),
    ("User-Agent", None, HeaderName::UserAgent),
    ("Via", Some("v"), HeaderName::Via),
    ("Warning", None, HeaderName::Warning),
    ("WWW-Authenticate", None, HeaderName::WwwAuthenticate),
];

impl HeaderName {
    /// The name for a header-name token as received (case-insensitive, compact forms allowed).
    pub fn from_wire(name: &str) -> HeaderName {
        for (canonical, compact, variant) in KNOWN {
            if canonical.eq_ignore_ascii_case(name)
                || compact.is_some_and(|c| c.eq_ignore_ascii_case(name))
            {
                return variant.clone();
            }
        }
        HeaderName::Other(name.to_owned())
    }

    /// The canonical spelling (or the received one for unknown names).
    pub fn as_str(&self) -> &str {
        if let HeaderName::Other(s) = self {
            return s;
        }
        KNOWN
            .iter()
            .find(|(_, _, v)| std::mem::discriminant(v) == std::mem::discriminant(self))
            .map(|(c, _, _)| *c)
            .unwrap_or("")
    }
}

impl PartialEq for HeaderName {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (HeaderName::Other(a), HeaderName::Other(b)) => a.eq_ignore_ascii_case(b),
            _ => std::mem::discriminant(self) == std::mem::discriminant(other),
        }
    }
}

impl Eq for HeaderName {}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One header field line. A line holding several comma-separated values stays one `Header`;
/// [`split_list`] separates them when a caller needs the elements.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub name: HeaderName,
    pub value: String,
}

/// The header fields of a message, in the order received (order matters for Via, Route and
/// Record-Route, §7.3.1).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers(pub Vec<Header>);

impl Headers {
    pub fn new() -> Headers {
        Headers(Vec::new())
    }

    /// The first value of `name`.
    pub fn get(&self, name: &HeaderName) -> Option<&str> {
        self.0
            .iter()
            .find(|h| &h.name == name)
            .map(|h| h.value.as_str())
    }

    /// Every field line named `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a HeaderName) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |h| &h.name == name)
            .map(|h| h.value.as_str())
    }

    /// Every list element of `name` across all its lines (`Allow: A, B` + `Allow: C`).
    pub fn list<'a>(&'a self, name: &'a HeaderName) -> impl Iterator<Item = &'a str> + 'a {
        self.get_all(name).flat_map(split_list)
    }

    pub fn contains(&self, name: &HeaderName) -> bool {
        self.0.iter().any(|h| &h.name == name)
    }

    pub fn push(&mut self, name: HeaderName, value: impl Into<String>) {
        self.0.push(Header {
            name,
            value: value.into(),
        });
    }

    /// Inserts a field line before all others (a new top Via, §8.1.1.7).
    pub fn push_front(&mut self, name: HeaderName, value: impl Into<String>) {
        self.0.insert(
            0,
            Header {
                name,
                value: value.into(),
            },
        );
    }

    /// Replaces every `name` line by one, at the position of the first (or at the end).
    pub fn set(&mut self, name: HeaderName, value: impl Into<String>) {
        let value = value.into();
        match self.0.iter().position(|h| h.name == name) {
            Some(i) => {
                self.0[i].value = value;
                let mut idx = 0;
                self.0.retain(|h| {
                    let keep = idx <= i || h.name != name;
                    idx += 1;
                    keep
                });
            }
            None => self.push(name, value),
        }
    }

    pub fn remove(&mut self, name: &HeaderName) {
        self.0.retain(|h| &h.name != name);
    }

    pub fn iter(&self) -> impl Iterator<Item = &Header> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Splits a header value on the commas that separate list elements (§7.3.1), ignoring commas
/// inside quoted strings and `<…>` URIs. Elements are trimmed; empty ones are skipped.
pub fn split_list(value: &str) -> impl Iterator<Item = &str> {
    let bytes = value.as_bytes();
    let mut parts = Vec::new();
    let (mut start, mut in_quote, mut in_angle, mut escaped) = (0, false, false, false);
    for (i, &b) in bytes.iter().enumerate() {
        if escaped {
            escaped = false;
            continue;
        }
        match b {
            b'\\' if in_quote => escaped = true,
            b'"' => in_quote = !in_quote,
            b'<' if !in_quote => in_angle = true,
            b'>' if !in_quote => in_angle = false,
            b',' if !in_quote && !in_angle => {
                parts.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&value[start..]);
    parts.into_iter().map(str::trim).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_forms_map_to_canonical_names() {
        for (compact, canonical) in [
            ("v", "Via"),
            ("f", "From"),
            ("t", "To"),
            ("i", "Call-ID"),
            ("m", "Contact"),
            ("l", "Content-Length"),
            ("c", "Content-Type"),
            ("s", "Subject"),
            ("k", "Supported"),
            ("e", "Content-Encoding"),
            ("o", "Event"),
        ] {
            assert_eq!(HeaderName::from_wire(compact).as_str(), canonical);
            assert_eq!(
                HeaderName::from_wire(compact),
                HeaderName::from_wire(&canonical.to_lowercase())
            );
        }
        assert_eq!(HeaderName::from_wire("X-Custom").as_str(), "X-Custom");
        assert_eq!(
            HeaderName::from_wire("x-custom"),
            HeaderName::from_wire("X-CUSTOM")
        );
    }

    #[test]
    fn split_list_respects_quotes_and_angles() {
        let v = r#""Doe, John" <sip:a@b;x=1,2>, <sip:c@d> ,sip:e@f"#;
        let parts: Vec<_> = split_list(v).collect();
        assert_eq!(
            parts,
            vec![r#""Doe, John" <sip:a@b;x=1,2>"#, "<sip:c@d>", "sip:e@f"]
        );
    }

    #[test]
    fn set_replaces_all_lines_in_place() {
        let mut h = Headers::new();
        h.push(HeaderName::Via, "a");
        h.push(HeaderName::To, "t");
        h.push(HeaderName::Via, "b");
        h.set(HeaderName::Via, "c");
        assert_eq!(h.get_all(&HeaderName::Via).collect::<Vec<_>>(), vec!["c"]);
        assert_eq!(h.0[0].name, HeaderName::Via);
    }
}
