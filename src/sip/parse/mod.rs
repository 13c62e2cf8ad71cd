//! Parsing: bytes → SIP messages (RFC 3261 §7, §20, §25), with datagram and stream framing
//! (§18.3), and the typed-header parsers (`parse_uri`, `Via::parse`, `NameAddr::parse`,
//! `CSeq::parse`) with the typed accessors on [`Headers`].
//!
//! The parser validates what a UAS must check before it can act (mandatory and single-valued
//! headers, CSeq vs method, Content-Length, name-addr syntax, RFC 4475's invalid messages) and
//! reports each failure with the response to send ([`ParseError::status`]) and, for requests, the
//! header lines needed to build that response ([`ParseError::partial_headers`], §8.2.6).
//!
//! It does not judge semantics left to the UAS core: unknown URI schemes (416), unsupported
//! `Require` (420), media types (415), dialogs (481) or methods (501) all parse successfully.
//! The `Date` header is not validated (RFC 4475 §3.1.2.12 allows ignoring a bad one).
//!
//! # Layout
//! - `lex`: character classes, quoted strings, parameter lists.
//! - `uri`: `sip:` / `sips:` / `tel:` / other absolute URIs.
//! - `typed`: Via, name-addr, CSeq, and the `Headers` accessors.
//! - `head`: start line and header lines with folding.
//! - `validate`: message-level checks (mandatory, single-valued and syntax-checked headers).
//! - `framing`: one message per datagram; Content-Length framing and keep-alives on streams.

mod framing;
mod head;
mod lex;
mod typed;
mod uri;
mod validate;

pub use framing::{parse_datagram, parse_stream, Frame};
pub use uri::parse_uri;

/// Parses a name-addr or addr-spec header value (`"Bob" <sip:bob@host>;p=1`, `sip:bob@host`),
/// as in From, To, Contact and Refer-To (RFC 3261 §20.10).
pub fn name_addr_of(value: &str) -> Option<crate::sip::typed::NameAddr> {
    typed::name_addr(value).ok()
}

use crate::sip::header::{HeaderName, Headers};

/// Resource limits applied while parsing, so no peer can make the parser buffer or work without
/// bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Start line + headers + body.
    pub max_message_bytes: usize,
    /// Header fields (after unfolding).
    pub max_headers: usize,
    /// One physical line, and one unfolded header field.
    pub max_line_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_message_bytes: 64 * 1024,
            max_headers: 256,
            max_line_bytes: 8 * 1024,
        }
    }
}

/// What kind of input failed, which decides who, if anyone, gets an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A request line was recognised: the UAS answers with an error response.
    Request,
    /// A response (or something shaped like one): never answered (§8.1.3.1: discard).
    Response,
    /// No recognisable start line: dropped.
    Unknown,
    /// A lone value given to a typed parser (`parse_uri`, `Via::parse`, …).
    Value,
}

/// Why a message or value failed to parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseErrorKind {
    #[error("message of at least {size} bytes exceeds the {limit}-byte limit")]
    MessageTooLarge { size: usize, limit: usize },
    #[error("more than {limit} header fields")]
    TooManyHeaders { limit: usize },
    #[error("a line or header field longer than {limit} bytes")]
    LineTooLong { limit: usize },
    #[error("no message: empty input")]
    Empty,
    #[error("the start line or header section is not valid UTF-8")]
    NotUtf8,
    #[error("malformed start line: {reason}")]
    BadStartLine { reason: &'static str },
    #[error("unsupported protocol version {version:?}")]
    UnsupportedVersion { version: String },
    #[error("status code {code:?} is not three digits in 100..=699")]
    BadStatusCode { code: String },
    #[error("malformed header line {line}: {reason}")]
    BadHeaderLine { line: usize, reason: &'static str },
    #[error("the header section is not terminated by an empty line")]
    UnterminatedHeaders,
    #[error("mandatory header {name} is missing")]
    MissingHeader { name: &'static str },
    #[error("header {name} must have one value, found {count}")]
    RepeatedHeader { name: &'static str, count: usize },
    #[error("invalid {name} header: {source}")]
    BadHeader {
        name: &'static str,
        source: Box<ParseErrorKind>,
    },
    #[error("CSeq method {cseq} does not match request method {method}")]
    CSeqMismatch { cseq: String, method: String },
    #[error("Content-Length {value:?} is not a non-negative 32-bit number")]
    BadContentLength { value: String },
    #[error("Content-Length {declared} exceeds the {available} body bytes present")]
    BodyTruncated { declared: usize, available: usize },
    #[error("Content-Length is mandatory on stream transports")]
    MissingContentLength,
    #[error("invalid URI: {reason}")]
    BadUri { reason: &'static str },
    #[error("the Request-URI carries headers, which §19.1.1 forbids")]
    HeadersInRequestUri,
    #[error("invalid {what}: {reason}")]
    BadValue {
        what: &'static str,
        reason: &'static str,
    },
}

/// A parse failure: what failed, on what kind of input, and what a UAS can still answer with.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind}")]
pub struct ParseError {
    pub kind: ParseErrorKind,
    pub origin: Origin,
    partial: Option<Box<Headers>>,
}

impl ParseError {
    pub(crate) fn new(kind: ParseErrorKind, origin: Origin) -> ParseError {
        ParseError {
            kind,
            origin,
            partial: None,
        }
    }

    pub(crate) fn with_partial(mut self, partial: Option<Headers>) -> ParseError {
        self.partial = partial.filter(|h| !h.is_empty()).map(Box::new);
        self
    }

    /// The response a UAS should send, or `None` to drop the input silently: responses are
    /// never answered (§8.1.3.1 discards malformed ones), and neither is input with no request
    /// line or no recoverable Via (a response is routed by Via, §18.2.2). 513 for size
    /// (§21.5.12), 505 for an unknown version (§21.5.6), 400 otherwise.
    pub fn status(&self) -> Option<u16> {
        let answerable = match self.origin {
            Origin::Response | Origin::Unknown => false,
            Origin::Request => self
                .partial
                .as_deref()
                .is_some_and(|h| h.contains(&HeaderName::Via)),
            Origin::Value => true,
        };
        answerable.then_some(match self.kind {
            ParseErrorKind::MessageTooLarge { .. } => 513,
            ParseErrorKind::UnsupportedVersion { .. } => 505,
            _ => 400,
        })
    }

    /// For an invalid request, the Via / From / To / Call-ID / CSeq lines that could be
    /// recovered, as received, so the UAS can build its error response (§8.2.6).
    pub fn partial_headers(&self) -> Option<&Headers> {
        self.partial.as_deref()
    }
}
