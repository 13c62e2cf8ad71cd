//! The checks a UAS runs on every request before acting on it (RFC 3261 §8.2.1–§8.2.3), in
//! the RFC's order: method, Request-URI scheme, `Require`, body type, `Accept`.
//!
//! Dialog state (481, 491, CSeq order) is checked by the dialog code, not here.

use crate::sip::header::{split_list, HeaderName};
use crate::sip::message::Request;
use crate::sip::method::Method;
use crate::sip::uri::Uri;

use super::reply::{ACCEPT, ALLOW};

/// Why a request is refused, with the extra headers the response must carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub status: u16,
    pub headers: Vec<(HeaderName, String)>,
}

impl Rejection {
    fn new(status: u16) -> Rejection {
        Rejection {
            status,
            headers: Vec::new(),
        }
    }

    fn with(mut self, name: HeaderName, value: impl Into<String>) -> Rejection {
        self.headers.push((name, value.into()));
        self
    }
}

/// Runs the §8.2 checks on a request that is not ACK or CANCEL.
pub fn check(req: &Request) -> Result<(), Rejection> {
    check_method(&req.method)?;
    check_uri_scheme(&req.uri)?;
    check_require(req)?;
    if matches!(req.method, Method::Invite | Method::Update) {
        check_body_type(req)?;
        check_accept(req)?;
    }
    Ok(())
}

/// §8.2.1: 405 with Allow for a method we know but do not serve, 501 for one we do not know.
fn check_method(method: &Method) -> Result<(), Rejection> {
    match method {
        Method::Invite
        | Method::Ack
        | Method::Cancel
        | Method::Bye
        | Method::Options
        | Method::Update
        | Method::Info
        // In dialogs only: an agent's blind transfer (RFC 3515) and its NOTIFYs.
        | Method::Refer
        | Method::Notify
        // The registrar (RFC 3261 §10.3).
        | Method::Register => Ok(()),
        Method::Extension(_) => Err(Rejection::new(501).with(HeaderName::Allow, ALLOW)),
        // SUBSCRIBE, MESSAGE, PRACK, PUBLISH are
        // standard methods a queue does not serve as a UAS.
        _ => Err(Rejection::new(405).with(HeaderName::Allow, ALLOW)),
    }
}

/// §8.2.2.1: a Request-URI scheme we cannot handle gets 416.
fn check_uri_scheme(uri: &Uri) -> Result<(), Rejection> {
    match uri {
        Uri::Sip(_) | Uri::Tel(_) => Ok(()),
        Uri::Other { .. } => Err(Rejection::new(416)),
    }
}

/// §8.2.2.3: option tags in `Require` that we do not support get 420 listing them in
/// `Unsupported`. Only the registrar supports any (see [`registrar_supports`]).
fn check_require(req: &Request) -> Result<(), Rejection> {
    let unsupported: Vec<&str> = req
        .headers
        .list(&HeaderName::Require)
        .filter(|tag| !registrar_supports(req, tag))
        .collect();
    if unsupported.is_empty() {
        return Ok(());
    }
    Err(Rejection::new(420).with(HeaderName::Unsupported, unsupported.join(", ")))
}

/// The option tags the registrar supports in a REGISTER: `path` (RFC 3327, which a proxy
/// adding Path may require) and `outbound` (RFC 5626).
fn registrar_supports(req: &Request, tag: &str) -> bool {
    req.method == Method::Register
        && (tag.eq_ignore_ascii_case("path") || tag.eq_ignore_ascii_case("outbound"))
}

/// §8.2.3: a body whose type (or encoding) we do not understand gets 415 with Accept.
fn check_body_type(req: &Request) -> Result<(), Rejection> {
    let unsupported = || {
        Rejection::new(415)
            .with(HeaderName::Accept, ACCEPT)
            .with(HeaderName::AcceptEncoding, "identity")
    };
    if let Some(enc) = req.headers.get(&HeaderName::ContentEncoding) {
        if split_list(enc).any(|e| !e.eq_ignore_ascii_case("identity")) {
            return Err(unsupported());
        }
    }
    if req.body.is_empty() {
        return Ok(());
    }
    match req.headers.get(&HeaderName::ContentType) {
        Some(ct) if media_type(ct) == "application/sdp" => Ok(()),
        _ => Err(unsupported()),
    }
}

/// §21.4.7: when the request's `Accept` excludes SDP, our 200 could not carry an answer: 406.
/// An absent Accept means `application/sdp` (§20.1).
fn check_accept(req: &Request) -> Result<(), Rejection> {
    if !req.headers.contains(&HeaderName::Accept) {
        return Ok(());
    }
    let accepts_sdp = req.headers.list(&HeaderName::Accept).any(|range| {
        matches!(
            media_type(range).as_str(),
            "application/sdp" | "application/*" | "*/*"
        )
    });
    if accepts_sdp {
        Ok(())
    } else {
        Err(Rejection::new(406).with(HeaderName::Accept, ACCEPT))
    }
}

/// The `type/subtype` of a Content-Type or media range, lower-cased, without parameters.
fn media_type(value: &str) -> String {
    value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::uri::{Host, Params, Scheme, SipUri};

    fn invite() -> Request {
        let uri = Uri::Sip(SipUri {
            scheme: Scheme::Sip,
            user: Some("+14255550100".into()),
            password: None,
            host: Host::Name("example.com".into()),
            port: None,
            params: Params::default(),
            headers: None,
        });
        Request::new(Method::Invite, uri)
    }

    #[test]
    fn unknown_method_gets_501_and_known_unserved_gets_405() {
        let mut r = invite();
        r.method = Method::Extension("NEWMETHOD".into());
        assert_eq!(check(&r).unwrap_err().status, 501);
        r.method = Method::Subscribe;
        let rej = check(&r).unwrap_err();
        assert_eq!(rej.status, 405);
        assert_eq!(rej.headers[0].0, HeaderName::Allow);
    }

    #[test]
    fn unknown_scheme_gets_416() {
        let mut r = invite();
        r.uri = Uri::Other {
            scheme: "http".into(),
            rest: "//example.com".into(),
        };
        assert_eq!(check(&r).unwrap_err().status, 416);
    }

    #[test]
    fn require_lists_every_unsupported_tag() {
        let mut r = invite();
        r.headers.push(HeaderName::Require, "foo, bar");
        let rej = check(&r).unwrap_err();
        assert_eq!(rej.status, 420);
        assert_eq!(
            rej.headers,
            vec![(HeaderName::Unsupported, "foo, bar".to_string())]
        );
    }

    #[test]
    fn unknown_body_type_gets_415_with_accept() {
        let mut r = invite();
        r.headers
            .push(HeaderName::ContentType, "application/unknownformat");
        r.body = b"xyz".to_vec();
        let rej = check(&r).unwrap_err();
        assert_eq!(rej.status, 415);
        assert!(rej
            .headers
            .contains(&(HeaderName::Accept, ACCEPT.to_string())));
        r.headers
            .set(HeaderName::ContentType, "Application/SDP; charset=utf-8");
        assert_eq!(check(&r), Ok(()));
    }

    #[test]
    fn accept_without_sdp_gets_406() {
        let mut r = invite();
        r.headers.push(HeaderName::Accept, "text/nobodyKnowsThis");
        assert_eq!(check(&r).unwrap_err().status, 406);
        r.headers
            .set(HeaderName::Accept, "text/plain, application/*");
        assert_eq!(check(&r), Ok(()));
    }
}
