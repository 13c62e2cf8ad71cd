//! Reading the SIP URIs written in a config file (queue addresses, static contacts, trunk
//! proxies, `sip:` forward targets) into [`crate::sip::uri`] values.
//!
//! This is a deliberately small reader for hand-written URIs, following the RFC 3261 §25.1
//! `SIP-URI` shape `sip:[user@]host[:port][;params]`; errors say what is wrong in words a config
//! author understands. It does not accept passwords in URIs (§19.1.1: NOT RECOMMENDED) or
//! `?headers`, which mean nothing in these places. Messages from the network are parsed by
//! [`crate::sip::parse`], not here.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::sip::uri::{Host, Params, Scheme, SipUri};

/// Parses `sip:` / `sips:` URIs as written in the config. The error is a reason phrase.
pub fn parse_sip_uri(text: &str) -> Result<SipUri, String> {
    let (scheme, rest) = if let Some(rest) = strip_scheme(text, "sip:") {
        (Scheme::Sip, rest)
    } else if let Some(rest) = strip_scheme(text, "sips:") {
        (Scheme::Sips, rest)
    } else {
        return Err("is not a sip: or sips: URI".into());
    };
    if rest.contains('?') {
        return Err("has ?headers, which are not allowed here".into());
    }
    // §19.1.1: the user part ends at the last '@' before the host (a user part may not contain
    // an unescaped '@', so the first is as good; we take the last to report the host well).
    let (user, hostport_params) = match rest.rfind('@') {
        Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
        None => (None, rest),
    };
    if let Some(user) = user {
        if user.is_empty() {
            return Err("has an empty user part before @".into());
        }
        if user.contains(':') {
            return Err("has a password in the user part; put credentials elsewhere".into());
        }
        if let Some(c) = user.chars().find(|c| !is_user_char(*c)) {
            return Err(format!("has {c:?} in the user part; escape it as %XX"));
        }
    }
    let (hostport, params) = match hostport_params.find(';') {
        Some(i) => (&hostport_params[..i], &hostport_params[i..]),
        None => (hostport_params, ""),
    };
    let (host, port) = parse_hostport(hostport)?;
    Ok(SipUri {
        scheme,
        user: user.map(str::to_owned),
        password: None,
        host,
        port,
        params: parse_params(params)?,
        headers: None,
    })
}

/// Whether `uri` must be reached over TLS: `sips:` (RFC 3261 §19.1) or `transport=tls`.
pub fn asks_for_tls(uri: &SipUri) -> bool {
    uri.scheme == Scheme::Sips
        || uri
            .params
            .value("transport")
            .is_some_and(|t| t.eq_ignore_ascii_case("tls"))
}

/// Parses `host[:port]` where host is a domain name, an IPv4 address or `[IPv6]`.
pub fn parse_hostport(text: &str) -> Result<(Host, Option<u16>), String> {
    let (host_text, port_text) = if let Some(rest) = text.strip_prefix('[') {
        let end = rest
            .find(']')
            .ok_or_else(|| "has an IPv6 address without its closing ]".to_string())?;
        let after = &rest[end + 1..];
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or_else(|| format!("has {p:?} after the IPv6 address"))?,
            ),
        };
        (&text[..end + 2], port)
    } else {
        match text.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (text, None),
        }
    };
    let host = parse_host(host_text)?;
    let port = match port_text {
        None => None,
        Some(p) => Some(
            p.parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("has port {p:?}, which is not a port number 1-65535"))?,
        ),
    };
    Ok((host, port))
}

/// Parses a host: `[v6]`, a dotted IPv4 address or a domain name (RFC 3261 §25.1 hostname).
pub fn parse_host(text: &str) -> Result<Host, String> {
    if text.is_empty() {
        return Err("has no host".into());
    }
    if let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        return inner
            .parse::<Ipv6Addr>()
            .map(Host::V6)
            .map_err(|_| format!("has {inner:?}, which is not an IPv6 address"));
    }
    if let Ok(v4) = text.parse::<Ipv4Addr>() {
        return Ok(Host::V4(v4));
    }
    let valid_label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let trimmed = text.strip_suffix('.').unwrap_or(text);
    if text.len() > 253 || !trimmed.split('.').all(valid_label) {
        return Err(format!(
            "has host {text:?}, which is not a host name or IP address"
        ));
    }
    Ok(Host::Name(text.to_owned()))
}

fn parse_params(text: &str) -> Result<Params, String> {
    let mut params = Vec::new();
    for p in text.split(';').skip(1) {
        let (name, value) = match p.split_once('=') {
            Some((n, v)) => (n, Some(v.to_owned())),
            None => (p, None),
        };
        if name.is_empty() || !name.chars().all(is_token_char) {
            return Err(format!("has a malformed parameter {p:?}"));
        }
        params.push((name.to_owned(), value));
    }
    Ok(Params(params))
}

fn strip_scheme<'a>(text: &'a str, scheme: &str) -> Option<&'a str> {
    let head = text.get(..scheme.len())?;
    head.eq_ignore_ascii_case(scheme)
        .then(|| &text[scheme.len()..])
}

/// RFC 3261 §25.1 `user`: unreserved / escaped / user-unreserved.
fn is_user_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_.!~*'()%&=+$,;?/".contains(c)
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-.!%*_+`'~[]/:&$".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_uri_with_user_port_and_params_parses() {
        let u = parse_sip_uri("sip:amos@192.0.2.5:5062;transport=tcp").unwrap();
        assert_eq!(u.user.as_deref(), Some("amos"));
        assert_eq!(u.host, Host::V4(Ipv4Addr::new(192, 0, 2, 5)));
        assert_eq!(u.port, Some(5062));
        assert_eq!(u.params.value("transport"), Some("tcp"));
        assert_eq!(u.to_string(), "sip:amos@192.0.2.5:5062;transport=tcp");
    }

    #[test]
    fn config_uri_accepts_ipv6_and_domain_hosts() {
        let u = parse_sip_uri("sips:[2001:db8::1]:5061").unwrap();
        assert_eq!(u.scheme, Scheme::Sips);
        assert_eq!(u.port, Some(5061));
        let u = parse_sip_uri("SIP:Sales@Example.COM").unwrap();
        assert_eq!(u.host, Host::Name("Example.COM".into()));
    }

    #[test]
    fn config_uri_errors_name_the_problem() {
        assert!(parse_sip_uri("sales@example.com")
            .unwrap_err()
            .contains("not a sip:"));
        assert!(parse_sip_uri("sip:a:pw@example.com")
            .unwrap_err()
            .contains("password"));
        assert!(parse_sip_uri("sip:a@exa mple.com")
            .unwrap_err()
            .contains("host"));
        assert!(parse_sip_uri("sip:a@example.com:99999")
            .unwrap_err()
            .contains("port"));
        assert!(parse_sip_uri("sip:@example.com").is_err());
        assert!(parse_sip_uri("sip:a@example.com?subject=x").is_err());
        assert!(parse_sip_uri("sip:a@[::1").is_err());
    }
}
