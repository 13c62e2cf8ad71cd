//! Parsers for the typed headers of [`crate::sip::typed`] — Via (§20.42), name-addr / addr-spec
//! (§20.10, §25.1) and CSeq (§20.16) — and the [`Headers`] accessors built on them.
//!
//! Each parser takes one header value (one list element for Via and Contact) with folding
//! already collapsed. The accessors assume a message that passed [`super::parse_datagram`] /
//! [`super::parse_stream`] validation and skip elements that do not parse rather than fail.

use super::lex::{
    header_params, is_token, is_token_char, is_ws, quoted_len, skip_ws, take_while, trim_ws,
};
use super::uri::{host, port, uri};
use super::{Origin, ParseError, ParseErrorKind};
use crate::sip::header::{split_list, HeaderName, Headers};
use crate::sip::method::Method;
use crate::sip::typed::{CSeq, NameAddr, Via};

fn value_err(kind: ParseErrorKind) -> ParseError {
    ParseError::new(kind, Origin::Value)
}

fn bad(what: &'static str, reason: &'static str) -> ParseErrorKind {
    ParseErrorKind::BadValue { what, reason }
}

impl Via {
    /// Parses one via-parm: `SIP / 2.0 / transport LWS sent-by *( SEMI via-params )`, with the
    /// LWS the grammar allows around `/`, `:` and `;` (RFC 4475 §3.1.1.1 wsinv).
    pub fn parse(s: &str) -> Result<Via, ParseError> {
        via(s).map_err(value_err)
    }
}

pub(crate) fn via(s: &str) -> Result<Via, ParseErrorKind> {
    // sent-protocol = protocol-name SLASH protocol-version SLASH transport; SLASH = SWS "/" SWS.
    let mut rest = skip_ws(s);
    let mut parts = [""; 3];
    for (i, part) in parts.iter_mut().enumerate() {
        if i > 0 {
            rest = skip_ws(rest)
                .strip_prefix('/')
                .ok_or(bad("Via", "expected `/` in sent-protocol"))?;
            rest = skip_ws(rest);
        }
        let (tok, r) = take_while(rest, is_token_char);
        if tok.is_empty() {
            return Err(bad("Via", "empty sent-protocol token"));
        }
        *part = tok;
        rest = r;
    }
    let [name, version, transport] = parts;
    if !name.eq_ignore_ascii_case("SIP") || version != "2.0" {
        return Err(bad("Via", "sent-protocol is not SIP/2.0"));
    }
    // LWS is mandatory between the transport and sent-by.
    if !rest.bytes().next().is_some_and(is_ws) {
        return Err(bad("Via", "missing LWS before sent-by"));
    }
    let (host, rest) = host(skip_ws(rest))?;
    let rest = skip_ws(rest);
    let (port, rest) = match rest.strip_prefix(':') {
        Some(r) => {
            let (digits, r) = take_while(skip_ws(r), |b| b.is_ascii_digit());
            (Some(port(digits)?), r)
        }
        None => (None, rest),
    };
    Ok(Via {
        transport: transport.to_owned(),
        host,
        port,
        params: header_params(rest)?,
    })
}

impl NameAddr {
    /// Parses `[display-name] LAQUOT addr-spec RAQUOT *(SEMI param)` or a bare
    /// `addr-spec *(SEMI param)`. In the bare form the URI ends at the first `;` or LWS and every
    /// parameter after it belongs to the header (§20.10); a bare URI may therefore contain no
    /// `,`, `?` or `;` (RFC 4475 §3.1.2.13 regbadct).
    pub fn parse(s: &str) -> Result<NameAddr, ParseError> {
        name_addr(s).map_err(value_err)
    }
}

pub(crate) fn name_addr(s: &str) -> Result<NameAddr, ParseErrorKind> {
    let s = trim_ws(s);
    let (display, rest) = if s.starts_with('"') {
        let n = quoted_len(s).ok_or(bad("name-addr", "unterminated quoted display name"))?;
        let rest = skip_ws(&s[n..]);
        if !rest.starts_with('<') {
            return Err(bad("name-addr", "quoted display name not followed by `<`"));
        }
        (Some(&s[..n]), rest)
    } else if let Some(lt) = memchr::memchr(b'<', s.as_bytes()) {
        // display-name = *(token LWS): tokens separated by white space, nothing else.
        let d = trim_ws(&s[..lt]);
        if !d.bytes().all(|b| is_token_char(b) || is_ws(b)) {
            return Err(bad(
                "name-addr",
                "display name is not a token list or quoted string",
            ));
        }
        ((!d.is_empty()).then_some(d), &s[lt..])
    } else {
        return addr_spec(s);
    };
    let inner = &rest[1..];
    let gt = memchr::memchr(b'>', inner.as_bytes()).ok_or(bad("name-addr", "missing `>`"))?;
    let text = &inner[..gt];
    if text.bytes().any(is_ws) {
        // addr-spec admits no LWS (RFC 4475 §3.1.2.14 badaspec).
        return Err(bad("name-addr", "white space inside `<…>`"));
    }
    let uri = uri(text)?;
    Ok(NameAddr {
        display: display.map(str::to_owned),
        uri,
        params: header_params(&inner[gt + 1..])?,
    })
}

fn addr_spec(s: &str) -> Result<NameAddr, ParseErrorKind> {
    let end = s
        .bytes()
        .position(|b| b == b';' || is_ws(b))
        .unwrap_or(s.len());
    let text = &s[..end];
    if text.contains([',', '?']) {
        return Err(bad(
            "name-addr",
            "a URI with `,` or `?` must be in angle brackets",
        ));
    }
    Ok(NameAddr {
        display: None,
        uri: uri(text)?,
        params: header_params(&s[end..])?,
    })
}

impl CSeq {
    /// Parses `1*DIGIT LWS Method`. The number must be below 2^31 (§8.1.1.5).
    pub fn parse(s: &str) -> Result<CSeq, ParseError> {
        cseq(s).map_err(value_err)
    }
}

pub(crate) fn cseq(s: &str) -> Result<CSeq, ParseErrorKind> {
    let s = trim_ws(s);
    let (digits, rest) = take_while(s, |b| b.is_ascii_digit());
    if digits.is_empty() || !rest.bytes().next().is_some_and(is_ws) {
        return Err(bad("CSeq", "expected a number then LWS"));
    }
    let seq: u32 = match digits.trim_start_matches('0') {
        "" => 0,
        d if d.len() <= 10 => d.parse().map_err(|_| bad("CSeq", "number too large"))?,
        _ => return Err(bad("CSeq", "number too large")),
    };
    if seq >= 1 << 31 {
        return Err(bad("CSeq", "number must be less than 2**31"));
    }
    let method = skip_ws(rest);
    if !is_token(method) {
        return Err(bad("CSeq", "method is not a token"));
    }
    Ok(CSeq {
        seq,
        method: Method::from_token(method),
    })
}

/// Typed accessors. They return the first (or every) element that parses; a message from the
/// parser has already had these headers validated, so nothing is silently lost there.
impl Headers {
    /// The topmost Via element: the first value of the first Via line.
    pub fn top_via(&self) -> Option<Via> {
        self.get_all(&HeaderName::Via)
            .flat_map(split_list)
            .next()
            .and_then(|v| via(v).ok())
    }

    /// Every Via element across all Via lines, top first.
    pub fn vias(&self) -> Vec<Via> {
        self.list(&HeaderName::Via)
            .filter_map(|v| via(v).ok())
            .collect()
    }

    pub fn call_id(&self) -> Option<&str> {
        self.get(&HeaderName::CallId).map(trim_ws)
    }

    pub fn cseq(&self) -> Option<CSeq> {
        self.get(&HeaderName::CSeq).and_then(|v| cseq(v).ok())
    }

    pub fn from(&self) -> Option<NameAddr> {
        self.get(&HeaderName::From).and_then(|v| name_addr(v).ok())
    }

    pub fn to(&self) -> Option<NameAddr> {
        self.get(&HeaderName::To).and_then(|v| name_addr(v).ok())
    }

    /// Every Contact element across all lines; the REGISTER wildcard `*` is not a name-addr and
    /// is left out (see [`Headers::contact_is_wildcard`]).
    pub fn contacts(&self) -> Vec<NameAddr> {
        self.list(&HeaderName::Contact)
            .filter_map(|v| name_addr(v).ok())
            .collect()
    }

    /// `Contact: *` (§10.2.2: remove all bindings).
    pub fn contact_is_wildcard(&self) -> bool {
        self.list(&HeaderName::Contact).any(|v| v == "*")
    }

    /// Max-Forwards as a number; `None` when absent or out of range for `u32` (RFC 4475
    /// §3.1.2.4 lets an element treat an out-of-range value as absent).
    pub fn max_forwards(&self) -> Option<u32> {
        self.get(&HeaderName::MaxForwards)
            .and_then(|v| trim_ws(v).parse().ok())
    }

    /// The media type as written (`application/sdp`), parameters included.
    pub fn content_type(&self) -> Option<&str> {
        self.get(&HeaderName::ContentType).map(trim_ws)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::uri::{Host, Uri};

    #[test]
    fn via_tolerates_lws_around_separators() {
        let v = Via::parse("SIP  /   2.0 /UDP 192.0.2.2;branch=390skdjuw").unwrap();
        assert_eq!(v.transport, "UDP");
        assert_eq!(v.host, Host::V4("192.0.2.2".parse().unwrap()));
        assert_eq!(v.branch(), Some("390skdjuw"));
        let v =
            Via::parse("SIP  / 2.0  / TCP     spindle.example.com   ;  branch  =   z9hG4bK9ikj8")
                .unwrap();
        assert_eq!(v.sent_by(), "spindle.example.com");
        assert_eq!(v.branch(), Some("z9hG4bK9ikj8"));
    }

    #[test]
    fn via_parses_ipv6_port_and_rport() {
        let v = Via::parse(
            "SIP/2.0/TCP [2001:db8::10]:5070;branch=z9hG4bKx;rport;received=2001:db8::1",
        )
        .unwrap();
        assert_eq!(v.host, Host::V6("2001:db8::10".parse().unwrap()));
        assert_eq!(v.port, Some(5070));
        assert_eq!(v.rport(), Some(None));
        assert_eq!(v.received(), Some("2001:db8::1"));
        assert_eq!(Via::parse(&v.to_string()).unwrap(), v);
    }

    #[test]
    fn via_rejects_garbage() {
        for s in [
            "SIP/2.0/UDP 192.0.2.15;;,;,,",
            "SIP/7.0/UDP host",
            "SIP/2.0/UDPhost",
            "SIP/2.0 host",
            "SIP/2.0/UDP",
            "SIP/2.0/UDP host:",
        ] {
            assert!(Via::parse(s).is_err(), "{s} should be rejected");
        }
    }

    #[test]
    fn name_addr_forms() {
        let na = NameAddr::parse(
            r#""J Rosenberg \\\""       <sip:jdrosen@example.com> ; tag = 98asjd8"#,
        )
        .unwrap();
        assert_eq!(na.display.as_deref(), Some(r#""J Rosenberg \\\"""#));
        assert_eq!(na.tag(), Some("98asjd8"));
        let na = NameAddr::parse("caller<sip:caller@example.com>;tag=323").unwrap();
        assert_eq!(na.display.as_deref(), Some("caller"));
        // addr-spec: the params belong to the header, not to the URI.
        let na =
            NameAddr::parse("sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n").unwrap();
        assert_eq!(na.tag(), Some("1918181833n"));
        assert!(na.uri.as_sip().unwrap().params.is_empty());
        let na = NameAddr::parse("sip:+19725552222@gw1.example.net;unknownparam").unwrap();
        assert!(na.params.contains("unknownparam"));
        let na = NameAddr::parse("isbn:2983792873").unwrap();
        assert!(matches!(na.uri, Uri::Other { .. }));
        assert_eq!(NameAddr::parse(&na.to_string()).unwrap(), na);
    }

    #[test]
    fn name_addr_rejects_rfc4475_bad_forms() {
        for s in [
            r#""Mr. J. User <sip:j.user@example.com>"#,
            "sip:user@example.com?Route=%3Csip:sip.example.com%3E",
            r#""Watson, Thomas" < sip:t.watson@example.org >"#,
            "Bell, Alexander <sip:a.g.bell@example.com>;tag=43",
            r#""Joe" <sip:joe@example.org>;;;;"#,
            "<sip:a@b",
        ] {
            assert!(NameAddr::parse(s).is_err(), "{s} should be rejected");
        }
    }

    #[test]
    fn cseq_limits() {
        let c = CSeq::parse("0009 INVITE").unwrap();
        assert_eq!((c.seq, c.method), (9, Method::Invite));
        assert_eq!(CSeq::parse("2147483647 BYE").unwrap().seq, 2_147_483_647);
        assert!(CSeq::parse("2147483648 BYE").is_err());
        assert!(CSeq::parse("36893488147419103232 REGISTER").is_err());
        assert!(CSeq::parse("INVITE").is_err());
        assert!(CSeq::parse("1 INVITE x").is_err());
        assert!(CSeq::parse("-1 INVITE").is_err());
    }

    #[test]
    fn accessors_read_typed_values() {
        let mut h = Headers::new();
        h.push(
            HeaderName::Via,
            "SIP/2.0/UDP a.example.com;branch=z9hG4bK1, SIP/2.0/TCP b.example.com",
        );
        h.push(HeaderName::Via, "SIP/2.0/UDP c.example.com");
        h.push(HeaderName::CallId, " abc@host ");
        h.push(HeaderName::CSeq, "4 INVITE");
        h.push(HeaderName::From, "<sip:a@example.com>;tag=1");
        h.push(HeaderName::To, "sip:b@example.com");
        h.push(
            HeaderName::Contact,
            "<sip:a@192.0.2.1>, <sip:a@[2001:db8::1]:5070>",
        );
        h.push(HeaderName::MaxForwards, "0068");
        h.push(HeaderName::ContentType, "application/sdp");
        assert_eq!(
            h.top_via().unwrap().host,
            Host::Name("a.example.com".into())
        );
        let sent_by: Vec<_> = h.vias().iter().map(Via::sent_by).collect();
        assert_eq!(sent_by, ["a.example.com", "b.example.com", "c.example.com"]);
        assert_eq!(h.call_id(), Some("abc@host"));
        assert_eq!(h.cseq().unwrap().seq, 4);
        assert_eq!(h.from().unwrap().tag(), Some("1"));
        assert_eq!(h.to().unwrap().tag(), None);
        assert_eq!(h.contacts().len(), 2);
        assert!(!h.contact_is_wildcard());
        assert_eq!(h.max_forwards(), Some(68));
        assert_eq!(h.content_type(), Some("application/sdp"));
    }
}
