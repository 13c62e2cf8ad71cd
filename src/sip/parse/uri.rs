//! URI parsing: `sip:` / `sips:` (RFC 3261 §19.1.1, §25.1), `tel:` (RFC 3966) strictly, and
//! any other syntactically valid `absoluteURI` (RFC 2396, as §25.1 imports it) as
//! [`Uri::Other`].
//!
//! Components stay in their wire (escaped) form so `Display` gives back the text parsed; only
//! the escapes themselves are validated. An IPv6 host is the one exception: it is stored as an
//! address, so `[2001:DB8::10]` displays as `[2001:db8::10]` (still an equal URI, §19.1.4).
//! This module does not decide whether a URI is acceptable where it appears (headers in a
//! Request-URI, unknown schemes): callers do.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::lex::{escapes_valid, is_unreserved, is_uric, take_while};
use super::{Origin, ParseError, ParseErrorKind};
use crate::sip::uri::{Host, Params, Scheme, SipUri, TelUri, Uri};

/// Parses an absolute URI (no surrounding LWS or angle brackets).
pub fn parse_uri(s: &str) -> Result<Uri, ParseError> {
    uri(s).map_err(|kind| ParseError::new(kind, Origin::Value))
}

fn bad(reason: &'static str) -> ParseErrorKind {
    ParseErrorKind::BadUri { reason }
}

pub(crate) fn uri(s: &str) -> Result<Uri, ParseErrorKind> {
    let colon = memchr::memchr(b':', s.as_bytes()).ok_or(bad("no scheme"))?;
    let (scheme, rest) = (&s[..colon], &s[colon + 1..]);
    // scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
    let valid_scheme = scheme
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    if !valid_scheme {
        return Err(bad("invalid scheme"));
    }
    if scheme.eq_ignore_ascii_case("sip") {
        sip_uri(Scheme::Sip, rest).map(Uri::Sip)
    } else if scheme.eq_ignore_ascii_case("sips") {
        sip_uri(Scheme::Sips, rest).map(Uri::Sip)
    } else if scheme.eq_ignore_ascii_case("tel") {
        tel_uri(rest).map(Uri::Tel)
    } else {
        // absoluteURI = scheme ":" ( hier-part / opaque-part ): a non-empty run of uric.
        if rest.is_empty() || !rest.bytes().all(is_uric) || !escapes_valid(rest) {
            return Err(bad("invalid characters in an absolute URI"));
        }
        Ok(Uri::Other {
            scheme: scheme.to_owned(),
            rest: rest.to_owned(),
        })
    }
}

/// `user-unreserved` (§25.1) added to unreserved for the user part.
fn is_user_char(b: u8) -> bool {
    is_unreserved(b) || b"&=+$,;?/%".contains(&b)
}

fn is_password_char(b: u8) -> bool {
    is_unreserved(b) || b"&=+$,%".contains(&b)
}

/// `paramchar` (§25.1): param-unreserved, unreserved, escaped.
fn is_param_char(b: u8) -> bool {
    is_unreserved(b) || b"[]/:&+$%".contains(&b)
}

/// `hname` / `hvalue` characters plus the `=` and `&` separating them.
fn is_header_char(b: u8) -> bool {
    is_unreserved(b) || b"[]/?:+$%=&".contains(&b)
}

fn sip_uri(scheme: Scheme, rest: &str) -> Result<SipUri, ParseErrorKind> {
    // userinfo = ( user / telephone-subscriber ) [ ":" password ] "@". No unescaped `@` may
    // appear elsewhere in a SIP URI, so the first `@` ends the userinfo even when the user part
    // holds `;` or `?` (RFC 4475 §3.1.1.2 intmeth, §3.1.1.9 semiuri).
    let (user, password, hostport) = match memchr::memchr(b'@', rest.as_bytes()) {
        Some(at) => {
            let userinfo = &rest[..at];
            let (user, password) = match memchr::memchr(b':', userinfo.as_bytes()) {
                Some(c) => (&userinfo[..c], Some(&userinfo[c + 1..])),
                None => (userinfo, None),
            };
            if user.is_empty() || !user.bytes().all(is_user_char) || !escapes_valid(user) {
                return Err(bad("invalid user part"));
            }
            if let Some(pw) = password {
                if !pw.bytes().all(is_password_char) || !escapes_valid(pw) {
                    return Err(bad("invalid password"));
                }
            }
            (Some(user), password, &rest[at + 1..])
        }
        None => (None, None, rest),
    };
    let (host, after_host) = host(hostport)?;
    let (port, after_port) = match after_host.strip_prefix(':') {
        Some(p) => {
            let (digits, rest) = take_while(p, |b| b.is_ascii_digit());
            (Some(port(digits)?), rest)
        }
        None => (None, after_host),
    };
    let (params_text, headers) = match memchr::memchr(b'?', after_port.as_bytes()) {
        Some(q) => (&after_port[..q], Some(&after_port[q + 1..])),
        None => (after_port, None),
    };
    let params = uri_params(params_text)?;
    if let Some(h) = headers {
        if h.is_empty() || !h.bytes().all(is_header_char) || !escapes_valid(h) {
            return Err(bad("invalid URI headers"));
        }
    }
    Ok(SipUri {
        scheme,
        user: user.map(str::to_owned),
        password: password.map(str::to_owned),
        host,
        port,
        params,
        headers: headers.map(str::to_owned),
    })
}

/// `port = 1*DIGIT`, which must fit in 16 bits.
pub(crate) fn port(digits: &str) -> Result<u16, ParseErrorKind> {
    if digits.is_empty() || digits.len() > 5 {
        return Err(bad("invalid port"));
    }
    digits.parse().map_err(|_| bad("port out of range"))
}

/// `host = hostname / IPv4address / IPv6reference` at the start of `s`; returns the rest.
pub(crate) fn host(s: &str) -> Result<(Host, &str), ParseErrorKind> {
    if let Some(inner) = s.strip_prefix('[') {
        let close =
            memchr::memchr(b']', inner.as_bytes()).ok_or(bad("unterminated IPv6 reference"))?;
        let addr: Ipv6Addr = inner[..close]
            .parse()
            .map_err(|_| bad("invalid IPv6 address"))?;
        return Ok((Host::V6(addr), &inner[close + 1..]));
    }
    let (name, rest) = take_while(s, |b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
    if name.is_empty() {
        return Err(bad("empty host"));
    }
    if name.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        // All digits and dots: an IPv4address or nothing (a toplabel starts with a letter).
        let addr: Ipv4Addr = name.parse().map_err(|_| bad("invalid IPv4 address"))?;
        return Ok((Host::V4(addr), rest));
    }
    if name.starts_with(['.', '-']) || name.contains("..") {
        return Err(bad("invalid host name"));
    }
    Ok((Host::Name(name.to_owned()), rest))
}

/// `uri-parameters = *( ";" uri-parameter )` with no LWS (§25.1). Names are `pname`
/// (paramchar), values optional.
fn uri_params(s: &str) -> Result<Params, ParseErrorKind> {
    let mut params = Params::default();
    if s.is_empty() {
        return Ok(params);
    }
    let s = s
        .strip_prefix(';')
        .ok_or(bad("unexpected characters after host"))?;
    for p in s.split(';') {
        let (name, value) = match memchr::memchr(b'=', p.as_bytes()) {
            Some(e) => (&p[..e], Some(&p[e + 1..])),
            None => (p, None),
        };
        let ok_name = !name.is_empty() && name.bytes().all(is_param_char);
        let ok_value = value.is_none_or(|v| !v.is_empty() && v.bytes().all(is_param_char));
        if !ok_name || !ok_value || !escapes_valid(p) {
            return Err(bad("invalid URI parameter"));
        }
        params.0.push((name.to_owned(), value.map(str::to_owned)));
    }
    Ok(params)
}

/// `tel:` (RFC 3966 §3): a global (`+` digits) or local number with visual separators, then
/// `;`-parameters.
fn tel_uri(rest: &str) -> Result<TelUri, ParseErrorKind> {
    let (number, params) = match memchr::memchr(b';', rest.as_bytes()) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let digits = number.strip_prefix('+').unwrap_or(number);
    let valid = digits
        .bytes()
        .any(|b| b.is_ascii_hexdigit() || b == b'*' || b == b'#')
        && digits
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || b"*#-.()".contains(&b));
    if !valid {
        return Err(bad("invalid telephone number"));
    }
    Ok(TelUri {
        number: number.to_owned(),
        params: uri_params(params)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(s: &str) -> Uri {
        let u = parse_uri(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(u.to_string(), s);
        u
    }

    #[test]
    fn sip_uri_components_stay_escaped() {
        let u = round_trip("sip:sips%3Auser%40example.com@example.net");
        let sip = u.as_sip().unwrap();
        assert_eq!(sip.user.as_deref(), Some("sips%3Auser%40example.com"));
        assert_eq!(sip.host, Host::Name("example.net".into()));
        round_trip("sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31");
    }

    #[test]
    fn user_part_may_hold_semicolons_and_question_marks() {
        let u = round_trip("sip:user;par=u%40example.net@example.com");
        assert_eq!(
            u.as_sip().unwrap().user.as_deref(),
            Some("user;par=u%40example.net")
        );
        let weird = "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com";
        let u = round_trip(weird);
        let sip = u.as_sip().unwrap();
        assert_eq!(
            sip.user.as_deref(),
            Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
        );
        assert_eq!(
            sip.password.as_deref(),
            Some("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)")
        );
    }

    #[test]
    fn ipv6_and_ports_and_headers_parse() {
        let u = round_trip("sips:[2001:db8::10]:5061;transport=tls?Subject=hi&Priority=urgent");
        let sip = u.as_sip().unwrap();
        assert_eq!(sip.host, Host::V6("2001:db8::10".parse().unwrap()));
        assert_eq!(sip.port, Some(5061));
        assert_eq!(sip.params.value("transport"), Some("tls"));
        assert_eq!(sip.headers.as_deref(), Some("Subject=hi&Priority=urgent"));
        let u = round_trip("sip:alice@192.0.2.4:5060;lr");
        assert_eq!(
            u.as_sip().unwrap().host,
            Host::V4(Ipv4Addr::new(192, 0, 2, 4))
        );
    }

    #[test]
    fn tel_and_other_schemes_parse() {
        match round_trip("tel:+1-425-555-0100;phone-context=example.com") {
            Uri::Tel(t) => assert_eq!(t.number, "+1-425-555-0100"),
            other => panic!("{other:?}"),
        }
        for s in [
            "soap.beep://192.0.2.103:3002",
            "nobodyKnowsThisScheme:totallyopaquecontent",
            "isbn:2983792873",
            "http://www.example.com",
        ] {
            assert!(matches!(round_trip(s), Uri::Other { .. }));
        }
    }

    #[test]
    fn malformed_uris_are_rejected() {
        for s in [
            "<sip:user@example.com>",
            "sip:user@example.com lr",
            "sip:user@example.com;",
            "sip:@example.com",
            "sip:user@",
            "sip:user@example.com:",
            "sip:user@example.com:70000",
            "sip:user@[2001:db8::10",
            "sip:user@256.1.1.1",
            "sip:user@example.com?",
            "sip:us%zzer@example.com",
            "tel:",
            "tel:abc-xyz",
            "x:",
            "1x:abc",
            "mailto:a b",
        ] {
            assert!(parse_uri(s).is_err(), "{s} should be rejected");
        }
    }
}
