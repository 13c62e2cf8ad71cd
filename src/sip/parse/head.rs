//! The message head: start line (§7.1, §7.2), header lines with folding (§7.3.1) and the
//! message-level checks a UAS needs before acting (§8.2, RFC 4475 §3.1.2, §3.3).
//!
//! Input is the head only — start line and header lines up to, not including, the empty line;
//! framing and the body are [`super::framing`]'s job. Lines end in CRLF; a bare LF is accepted
//! as a line end too (a common leniency), a bare CR is not.

use super::lex::{is_token, is_token_char, is_ws, trim_ws};
use super::uri::uri;
use super::validate::validate;
use super::{Limits, Origin, ParseError, ParseErrorKind};
use crate::sip::header::{HeaderName, Headers};
use crate::sip::method::Method;
use crate::sip::uri::Uri;

/// A parsed start line.
#[derive(Debug)]
pub(super) enum Start {
    Request { method: Method, uri: Uri },
    Response { status: u16, reason: String },
}

/// A validated head.
#[derive(Debug)]
pub(super) struct Head {
    pub start: Start,
    pub headers: Headers,
    /// The Content-Length value, when the header is present.
    pub content_length: Option<usize>,
}

/// Guesses what the input was meant to be from its first bytes, to decide who gets an answer.
pub(super) fn sniff(bytes: &[u8]) -> Origin {
    match bytes.get(..4) {
        None if bytes.is_empty() => Origin::Unknown,
        Some(p) if p.eq_ignore_ascii_case(b"SIP/") => Origin::Response,
        _ if bytes.first().copied().is_some_and(is_token_char) => Origin::Request,
        _ => Origin::Unknown,
    }
}

/// Splits `text` into lines, ending each at LF and dropping one CR before it.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    let text = text.strip_suffix('\n').unwrap_or(text);
    let text = text.strip_suffix('\r').unwrap_or(text);
    text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l))
}

/// Parses and validates a head (start line + header lines, no terminating empty line).
pub(super) fn parse_head(head: &[u8], limits: &Limits) -> Result<Head, ParseError> {
    let origin = sniff(head);
    let text = match std::str::from_utf8(head) {
        Ok(t) => t,
        Err(_) => {
            let lossy = String::from_utf8_lossy(head);
            return Err(ParseError::new(ParseErrorKind::NotUtf8, origin)
                .with_partial(recover_partial(&lossy, origin, limits)));
        }
    };
    let mut it = lines(text);
    let start_line = it.next().unwrap_or("");
    let (headers, line_error) = header_lines(it, limits);
    let fail = |kind: ParseErrorKind| {
        ParseError::new(kind, origin).with_partial(partial(&headers, origin))
    };
    if start_line.len() > limits.max_line_bytes {
        return Err(fail(ParseErrorKind::LineTooLong {
            limit: limits.max_line_bytes,
        }));
    }
    let start = start(start_line).map_err(fail)?;
    if let Some(kind) = line_error {
        return Err(fail(kind));
    }
    let content_length = validate(&start, &headers).map_err(fail)?;
    Ok(Head {
        start,
        headers,
        content_length,
    })
}

/// Best-effort header recovery from a head that failed before normal parsing (size, UTF-8).
pub(super) fn recover_partial(head: &str, origin: Origin, limits: &Limits) -> Option<Headers> {
    let (headers, _) = header_lines(lines(head).skip(1), limits);
    partial(&headers, origin)
}

/// The lines a UAS needs to answer a bad request (§8.2.6: Via, From, To, Call-ID, CSeq).
pub(super) fn partial(headers: &Headers, origin: Origin) -> Option<Headers> {
    if origin != Origin::Request {
        return None;
    }
    let keep = [
        HeaderName::Via,
        HeaderName::From,
        HeaderName::To,
        HeaderName::CallId,
        HeaderName::CSeq,
    ];
    let kept: Vec<_> = headers
        .iter()
        .filter(|h| keep.contains(&h.name))
        .cloned()
        .collect();
    Some(Headers(kept))
}

/// Unfolds and splits header lines. Malformed lines are skipped and the first problem is
/// returned beside what could be read, so a bad request can still be answered.
fn header_lines<'a>(
    lines: impl Iterator<Item = &'a str>,
    limits: &Limits,
) -> (Headers, Option<ParseErrorKind>) {
    let mut headers = Headers::new();
    let mut error = None;
    // Whether the last header line was accepted, so continuations of a rejected one are
    // skipped with it.
    let mut last_ok = false;
    for (i, line) in lines.enumerate() {
        let line_no = i + 2;
        let mut fail = |kind| {
            error.get_or_insert(kind);
        };
        if line.len() > limits.max_line_bytes {
            fail(ParseErrorKind::LineTooLong {
                limit: limits.max_line_bytes,
            });
            last_ok = false;
            continue;
        }
        if line.contains('\r') {
            fail(ParseErrorKind::BadHeaderLine {
                line: line_no,
                reason: "bare CR",
            });
            last_ok = false;
            continue;
        }
        if line.bytes().next().is_some_and(is_ws) {
            // §7.3.1: CRLF + white space is LWS, equivalent to a single SP.
            match headers.0.last_mut() {
                Some(h) if last_ok => {
                    let add = trim_ws(line);
                    if h.value.len() + 1 + add.len() > limits.max_line_bytes {
                        fail(ParseErrorKind::LineTooLong {
                            limit: limits.max_line_bytes,
                        });
                        headers.0.pop();
                        last_ok = false;
                        continue;
                    }
                    let kept = h.value.trim_end_matches([' ', '\t']).len();
                    h.value.truncate(kept);
                    if !h.value.is_empty() && !add.is_empty() {
                        h.value.push(' ');
                    }
                    h.value.push_str(add);
                }
                Some(_) => {}
                None => fail(ParseErrorKind::BadHeaderLine {
                    line: line_no,
                    reason: "continuation line before any header",
                }),
            }
            continue;
        }
        last_ok = false;
        let Some(colon) = memchr::memchr(b':', line.as_bytes()) else {
            fail(ParseErrorKind::BadHeaderLine {
                line: line_no,
                reason: "no `:` after the header name",
            });
            continue;
        };
        // HCOLON = *( SP / HTAB ) ":" SWS: white space may precede the colon.
        let name = line[..colon].trim_end_matches([' ', '\t']);
        if !is_token(name) {
            fail(ParseErrorKind::BadHeaderLine {
                line: line_no,
                reason: "header name is not a token",
            });
            continue;
        }
        if headers.len() >= limits.max_headers {
            fail(ParseErrorKind::TooManyHeaders {
                limit: limits.max_headers,
            });
            break;
        }
        headers.push(HeaderName::from_wire(name), trim_ws(&line[colon + 1..]));
        last_ok = true;
    }
    (headers, error)
}

fn bad_start(reason: &'static str) -> ParseErrorKind {
    ParseErrorKind::BadStartLine { reason }
}

/// `SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT`; only 2.0 is supported (→ 505 otherwise).
fn version(v: &str) -> Result<(), ParseErrorKind> {
    let num = match v.get(..4) {
        Some(p) if p.eq_ignore_ascii_case("SIP/") => &v[4..],
        _ => return Err(bad_start("invalid SIP-Version")),
    };
    let well_formed = num.split_once('.').is_some_and(|(a, b)| {
        !a.is_empty()
            && !b.is_empty()
            && a.bytes().all(|c| c.is_ascii_digit())
            && b.bytes().all(|c| c.is_ascii_digit())
    });
    if !well_formed {
        return Err(bad_start("invalid SIP-Version"));
    }
    if num != "2.0" {
        return Err(ParseErrorKind::UnsupportedVersion {
            version: v.to_owned(),
        });
    }
    Ok(())
}

fn start(line: &str) -> Result<Start, ParseErrorKind> {
    if line
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case("SIP/"))
    {
        // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase; an empty reason is valid
        // (RFC 4475 §3.1.1.13) and a missing final SP is tolerated.
        let mut parts = line.splitn(3, ' ');
        version(parts.next().unwrap_or(""))?;
        let code = parts.next().unwrap_or("");
        let status = match code.parse::<u16>() {
            Ok(s) if code.len() == 3 && (100..=699).contains(&s) => s,
            _ => {
                return Err(ParseErrorKind::BadStatusCode {
                    code: code.chars().take(16).collect(),
                })
            }
        };
        let reason = parts.next().unwrap_or("");
        if reason.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
            return Err(bad_start("control character in the reason phrase"));
        }
        return Ok(Start::Response {
            status,
            reason: reason.to_owned(),
        });
    }
    // Request-Line = Method SP Request-URI SP SIP-Version CRLF: exactly two single spaces
    // (RFC 4475 §3.1.2.7–3.1.2.10: ltgtruri, lwsruri, lwsstart, trws are all 400).
    let parts: Vec<&str> = line.split(' ').collect();
    let [method, ruri, ver] = parts[..] else {
        return Err(bad_start(
            "request line is not `Method SP Request-URI SP SIP-Version`",
        ));
    };
    if !is_token(method) {
        return Err(bad_start("method is not a token"));
    }
    version(ver)?;
    if ruri.starts_with('<') {
        // RFC 4475 §3.1.2.7 ltgtruri: the Request-URI is never enclosed in `<>`.
        return Err(bad_start("Request-URI enclosed in `<>`"));
    }
    let uri = uri(ruri)?;
    if uri.as_sip().is_some_and(|u| u.headers.is_some()) {
        return Err(ParseErrorKind::HeadersInRequestUri);
    }
    Ok(Start::Request {
        method: Method::from_token(method),
        uri,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Result<Head, ParseError> {
        parse_head(text.as_bytes(), &Limits::default())
    }

    const BASE: &str = "Via: SIP/2.0/UDP h.example.com;branch=z9hG4bK1\r\nTo: <sip:b@example.com>\r\nFrom: <sip:a@example.com>;tag=1\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70";

    #[test]
    fn folding_collapses_to_a_single_space() {
        let h = head(&format!("OPTIONS sip:b@example.com SIP/2.0\r\n{BASE}\r\nSubject: a  \r\n \t b\r\nX-Empty:\r\n  late")).unwrap();
        assert_eq!(h.headers.get(&HeaderName::Subject), Some("a b"));
        assert_eq!(
            h.headers.get(&HeaderName::from_wire("x-empty")),
            Some("late")
        );
    }

    #[test]
    fn request_line_must_use_single_spaces() {
        for line in [
            "OPTIONS  sip:b@example.com SIP/2.0",
            "OPTIONS sip:b@example.com SIP/2.0 ",
            "OPTIONS sip:b@example.com; lr SIP/2.0",
            "OPTIONS <sip:b@example.com> SIP/2.0",
            "OPTIONS sip:b@example.com",
        ] {
            let e = head(&format!("{line}\r\n{BASE}")).unwrap_err();
            assert_eq!(e.status(), Some(400), "{line}: {e}");
            assert!(e.partial_headers().unwrap().top_via().is_some());
        }
    }

    #[test]
    fn unknown_version_is_505_and_bad_status_code_is_dropped() {
        let e = head(&format!("OPTIONS sip:b@example.com SIP/7.0\r\n{BASE}")).unwrap_err();
        assert_eq!(e.status(), Some(505));
        let e = head(&format!("SIP/2.0 4294967301 Big\r\n{BASE}")).unwrap_err();
        assert_eq!(e.status(), None);
        assert!(e.partial_headers().is_none());
    }

    #[test]
    fn garbage_without_via_is_dropped() {
        let e = head("hello world\r\nfoo").unwrap_err();
        assert_eq!(e.status(), None);
    }

    #[test]
    fn header_name_may_have_space_before_colon() {
        let h = head(&format!(
            "OPTIONS sip:b@example.com SIP/2.0\r\n{BASE}\r\nContent-Length   : 0"
        ))
        .unwrap();
        assert_eq!(h.content_length, Some(0));
    }

    #[test]
    fn header_count_and_line_limits_apply() {
        let limits = Limits {
            max_headers: 6,
            ..Limits::default()
        };
        let text = format!("OPTIONS sip:b@example.com SIP/2.0\r\n{BASE}\r\nX-A: 1");
        let e = parse_head(text.as_bytes(), &limits).unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::TooManyHeaders { limit: 6 });
        let limits = Limits {
            max_line_bytes: 60,
            ..Limits::default()
        };
        let text = format!(
            "OPTIONS sip:b@example.com SIP/2.0\r\n{BASE}\r\nX-A: {}",
            "a".repeat(60)
        );
        let e = parse_head(text.as_bytes(), &limits).unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::LineTooLong { limit: 60 });
    }
}
