//! SIP, SIPS and tel URIs (RFC 3261 §19.1, §25.1; RFC 3966) and their parameters.
//!
//! Components are kept in their wire (escaped) form, so a parsed URI serializes back to the same
//! text; [`unescape`] gives the decoded form where a comparison needs it (§19.1.4). Parsing lives
//! in [`crate::sip::parse`].

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// A URI as it appears in a Request-URI or a name-addr.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Uri {
    Sip(SipUri),
    Tel(TelUri),
    /// Any other absolute URI (`http:`, `urn:`, `im:` …): carried, never interpreted.
    Other {
        scheme: String,
        rest: String,
    },
}

/// `sip:` or `sips:`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    Sip,
    Sips,
}

/// A `sip:` / `sips:` URI. Every string is in wire (escaped) form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SipUri {
    pub scheme: Scheme,
    pub user: Option<String>,
    pub password: Option<String>,
    pub host: Host,
    pub port: Option<u16>,
    pub params: Params,
    /// The `?hname=hvalue&…` part, without the `?`.
    pub headers: Option<String>,
}

/// The host part of a SIP URI or Via.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Host {
    /// A domain name, kept as written (compare case-insensitively).
    Name(String),
    V4(Ipv4Addr),
    /// Written as `[addr]` (RFC 3261 §25.1 IPv6reference).
    V6(Ipv6Addr),
}

/// A `tel:` URI (RFC 3966): the number as written (`+1-425-555-0100`) and its parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TelUri {
    pub number: String,
    pub params: Params,
}

/// An ordered list of `;name[=value]` parameters. Names compare case-insensitively.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params(pub Vec<(String, Option<String>)>);

impl Params {
    /// The first parameter named `name`: `Some(None)` for a flag such as `;lr`.
    pub fn get(&self, name: &str) -> Option<Option<&str>> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_deref())
    }

    /// The value of `name`, when it is present and has one.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.get(name).flatten()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Replaces every `name` by one `name=value` (or flag), keeping its first position.
    pub fn set(&mut self, name: &str, value: Option<&str>) {
        let value = value.map(str::to_owned);
        match self
            .0
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some(i) => {
                self.0[i].1 = value;
                let mut seen = false;
                self.0.retain(|(n, _)| {
                    if !n.eq_ignore_ascii_case(name) {
                        return true;
                    }
                    let keep = !seen;
                    seen = true;
                    keep
                });
            }
            None => self.0.push((name.to_owned(), value)),
        }
    }

    pub fn remove(&mut self, name: &str) {
        self.0.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, value) in &self.0 {
            match value {
                Some(v) => write!(f, ";{name}={v}")?,
                None => write!(f, ";{name}")?,
            }
        }
        Ok(())
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(n) => f.write_str(n),
            Host::V4(a) => write!(f, "{a}"),
            Host::V6(a) => write!(f, "[{a}]"),
        }
    }
}

impl fmt::Display for SipUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.scheme {
            Scheme::Sip => "sip:",
            Scheme::Sips => "sips:",
        })?;
        if let Some(user) = &self.user {
            f.write_str(user)?;
            if let Some(pw) = &self.password {
                write!(f, ":{pw}")?;
            }
            f.write_str("@")?;
        }
        write!(f, "{}", self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        write!(f, "{}", self.params)?;
        if let Some(h) = &self.headers {
            write!(f, "?{h}")?;
        }
        Ok(())
    }
}

impl fmt::Display for TelUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tel:{}{}", self.number, self.params)
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Uri::Sip(u) => write!(f, "{u}"),
            Uri::Tel(u) => write!(f, "{u}"),
            Uri::Other { scheme, rest } => write!(f, "{scheme}:{rest}"),
        }
    }
}

impl Uri {
    /// The SIP URI, when this is one.
    pub fn as_sip(&self) -> Option<&SipUri> {
        match self {
            Uri::Sip(u) => Some(u),
            _ => None,
        }
    }
}

/// Decodes `%HH` escapes (RFC 3261 §19.1.2, §25.1); a `%` not followed by two hex digits is
/// kept literally. Invalid UTF-8 after decoding is replaced, never a panic.
pub fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescape_decodes_valid_escapes_only() {
        assert_eq!(
            unescape("sips%3Auser%40example.com"),
            "sips:user@example.com"
        );
        assert_eq!(unescape("100%"), "100%");
        assert_eq!(unescape("%4"), "%4");
        assert_eq!(unescape("%zz1"), "%zz1");
    }

    #[test]
    fn params_set_replaces_duplicates() {
        let mut p = Params(vec![
            ("rport".into(), None),
            ("branch".into(), Some("a".into())),
            ("RPORT".into(), None),
        ]);
        p.set("rport", Some("5060"));
        assert_eq!(p.to_string(), ";rport=5060;branch=a");
        assert_eq!(p.value("Branch"), Some("a"));
    }
}
