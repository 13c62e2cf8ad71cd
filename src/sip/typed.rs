//! Typed views of the header fields the stack acts on: Via (§20.42), name-addr for
//! From / To / Contact / Route (§20.10, §25.1), and CSeq (§20.16).
//!
//! The message keeps header values as text; these types are parsed from it on demand (the
//! parsers live in [`crate::sip::parse`]) and serialize back with `Display`.

use std::fmt;

use crate::sip::method::Method;
use crate::sip::transport::Transport;
use crate::sip::uri::{Host, Params, Uri};

/// The RFC 3261 branch magic cookie (§8.1.1.7); a branch without it is from RFC 2543.
pub const BRANCH_MAGIC: &str = "z9hG4bK";

/// One Via value: `SIP/2.0/UDP host:port;params`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Via {
    /// The transport token as written (`UDP`, `TCP`, `TLS`, `SCTP`, or an extension).
    pub transport: String,
    pub host: Host,
    pub port: Option<u16>,
    pub params: Params,
}

impl Via {
    pub fn branch(&self) -> Option<&str> {
        self.params.value("branch")
    }

    /// Whether the branch carries the RFC 3261 magic cookie (§17.2.3).
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch().is_some_and(|b| b.starts_with(BRANCH_MAGIC))
    }

    pub fn received(&self) -> Option<&str> {
        self.params.value("received")
    }

    /// `Some(None)` for a bare `;rport` (RFC 3581 §3), `Some(Some(p))` once filled in.
    pub fn rport(&self) -> Option<Option<u16>> {
        self.params
            .get("rport")
            .map(|v| v.and_then(|p| p.parse().ok()))
    }

    pub fn transport(&self) -> Option<Transport> {
        Transport::from_via_token(&self.transport)
    }

    /// `sent-by` as text (`host[:port]`), the transaction-matching key of §17.2.3.
    pub fn sent_by(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{p}", self.host),
            None => self.host.to_string(),
        }
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIP/2.0/{} {}", self.transport, self.sent_by())?;
        write!(f, "{}", self.params)
    }
}

/// `[display-name] <uri>;params` or a bare addr-spec with params (§20.10).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameAddr {
    /// The display name as written, quotes included when it was quoted.
    pub display: Option<String>,
    pub uri: Uri,
    /// Header parameters (`tag`, `expires`, `q`, …), not the URI's own.
    pub params: Params,
}

impl NameAddr {
    pub fn new(uri: Uri) -> NameAddr {
        NameAddr {
            display: None,
            uri,
            params: Params::default(),
        }
    }

    pub fn tag(&self) -> Option<&str> {
        self.params.value("tag")
    }
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Always write the angle-bracket form: it is unambiguous when the URI has parameters.
        if let Some(d) = &self.display {
            write!(f, "{d} ")?;
        }
        write!(f, "<{}>{}", self.uri, self.params)
    }
}

/// `CSeq: 4711 INVITE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CSeq {
    pub seq: u32,
    pub method: Method,
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

/// Quotes a display name for a header (§25.1 quoted-string), escaping `"` and `\`.
pub fn quote_display(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        if c != '\r' && c != '\n' {
            out.push(c);
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::uri::{Scheme, SipUri};

    #[test]
    fn via_displays_sent_by_and_params() {
        let via = Via {
            transport: "UDP".into(),
            host: Host::Name("pc33.example.com".into()),
            port: Some(5066),
            params: Params(vec![
                ("branch".into(), Some("z9hG4bK776".into())),
                ("rport".into(), None),
            ]),
        };
        assert_eq!(
            via.to_string(),
            "SIP/2.0/UDP pc33.example.com:5066;branch=z9hG4bK776;rport"
        );
        assert!(via.has_rfc3261_branch());
        assert_eq!(via.rport(), Some(None));
    }

    #[test]
    fn name_addr_displays_with_brackets() {
        let uri = Uri::Sip(SipUri {
            scheme: Scheme::Sip,
            user: Some("alice".into()),
            password: None,
            host: Host::Name("example.com".into()),
            port: None,
            params: Params::default(),
            headers: None,
        });
        let mut na = NameAddr::new(uri);
        na.display = Some(quote_display("Al \"ice\""));
        na.params.set("tag", Some("1928"));
        assert_eq!(
            na.to_string(),
            r#""Al \"ice\"" <sip:alice@example.com>;tag=1928"#
        );
    }
}
