//! SIP requests and responses (RFC 3261 §7) and their serialization.
//!
//! A message is a start line, an ordered header list and a body. Serialization always writes a
//! correct `Content-Length` for the body (§20.14: mandatory on stream transports) and never the
//! one it was parsed with, so a message built or edited in memory cannot be mis-framed.

use std::fmt::Write as _;

use crate::sip::header::{HeaderName, Headers};
use crate::sip::method::Method;
use crate::sip::uri::Uri;

/// A SIP request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    pub uri: Uri,
    pub headers: Headers,
    pub body: Vec<u8>,
}

/// A SIP response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    pub headers: Headers,
    pub body: Vec<u8>,
}

/// Either kind of message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    Request(Request),
    Response(Response),
}

impl Message {
    pub fn headers(&self) -> &Headers {
        match self {
            Message::Request(r) => &r.headers,
            Message::Response(r) => &r.headers,
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Message::Request(r) => r.to_bytes(),
            Message::Response(r) => r.to_bytes(),
        }
    }
}

impl Request {
    pub fn new(method: Method, uri: Uri) -> Request {
        Request {
            method,
            uri,
            headers: Headers::new(),
            body: Vec::new(),
        }
    }

    /// The wire form: request line, headers (Content-Length last, recomputed), blank line, body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut head = String::with_capacity(512);
        let _ = write!(head, "{} {} SIP/2.0\r\n", self.method, self.uri);
        finish(head, &self.headers, &self.body)
    }
}

impl Response {
    pub fn new(status: u16, reason: impl Into<String>) -> Response {
        Response {
            status,
            reason: reason.into(),
            headers: Headers::new(),
            body: Vec::new(),
        }
    }

    /// The wire form: status line, headers (Content-Length last, recomputed), blank line, body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut head = String::with_capacity(512);
        let _ = write!(head, "SIP/2.0 {} {}\r\n", self.status, self.reason);
        finish(head, &self.headers, &self.body)
    }

    /// 1xx.
    pub fn is_provisional(&self) -> bool {
        self.status < 200
    }

    /// 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

fn finish(mut head: String, headers: &Headers, body: &[u8]) -> Vec<u8> {
    for h in headers.iter() {
        if h.name == HeaderName::ContentLength {
            continue;
        }
        let _ = write!(head, "{}: {}\r\n", h.name, h.value);
    }
    let _ = write!(head, "Content-Length: {}\r\n\r\n", body.len());
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    out
}

/// The standard reason phrase for a status code (§21), for responses we generate.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        421 => "Extension Required",
        423 => "Interval Too Brief",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        600 => "Busy Everywhere",
        603 => "Decline",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::uri::{Host, Params, Scheme, SipUri};

    #[test]
    fn serialization_recomputes_content_length() {
        let uri = Uri::Sip(SipUri {
            scheme: Scheme::Sip,
            user: Some("+14255550100".into()),
            password: None,
            host: Host::Name("example.com".into()),
            port: None,
            params: Params::default(),
            headers: None,
        });
        let mut req = Request::new(Method::Options, uri);
        req.headers.push(HeaderName::ContentLength, "999");
        req.headers.push(HeaderName::CallId, "abc");
        req.body = b"hi".to_vec();
        let text = String::from_utf8(req.to_bytes()).unwrap();
        assert_eq!(
            text,
            "OPTIONS sip:+14255550100@example.com SIP/2.0\r\nCall-ID: abc\r\nContent-Length: 2\r\n\r\nhi"
        );
    }
}
