//! Message framing (RFC 3261 §18.3, §7.5; RFC 5626 §3.5.1): where a message starts and ends in a
//! datagram or in a stream buffer, and the body it carries.
//!
//! - Datagram: one message per datagram. The body is Content-Length octets; octets past it are
//!   discarded (RFC 4475 §3.1.1.8 dblreq); without Content-Length the rest of the datagram is
//!   the body; a Content-Length larger than what arrived is an error (§3.1.2.2 clerr → 400).
//! - Stream: Content-Length is mandatory; CRLF before a start line is a keep-alive (a
//!   double-CRLF ping or a CRLF pong); a partial message is `Incomplete`; one over the size limit
//!   is an error, so a peer cannot make us buffer forever.
//!
//! The caller owns the buffer: after `Frame::Message` / `Frame::KeepAlive` it drops `consumed`
//! bytes and calls again; after an error on a stream the framing is lost and the connection must
//! be closed (after sending the error response, if [`super::ParseError::status`] gives one).
//!
//! Cost is linear in the bytes looked at (memchr on LF). `parse_stream` keeps no state, so it
//! rescans a partial head on every call: a peer trickling a head one byte per read costs
//! quadratic time, bounded by `max_message_bytes` (64 KiB by default).

use super::head::{parse_head, partial, recover_partial, sniff, Head, Start};
use super::{Limits, ParseError, ParseErrorKind};
use crate::sip::message::{Message, Request, Response};

/// One step of stream framing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// A complete message occupying the first `consumed` bytes.
    Message { message: Message, consumed: usize },
    /// CRLF keep-alives (RFC 5626 §3.5.1): `consumed` is 4 for a ping (CRLFCRLF, to be answered
    /// with a CRLF pong) and 2 for a pong. A ping split across reads shows as two pongs.
    KeepAlive { consumed: usize },
    /// More bytes are needed.
    Incomplete,
}

/// Parses the one message in a datagram.
pub fn parse_datagram(bytes: &[u8], limits: &Limits) -> Result<Message, ParseError> {
    // §7.5 lets stream receivers skip CRLFs before a start line; a datagram gets the same
    // leniency.
    let mut lead = 0;
    while bytes[lead..].starts_with(b"\r\n") {
        lead += 2;
    }
    let bytes = &bytes[lead..];
    let origin = sniff(bytes);
    if bytes.is_empty() {
        return Err(ParseError::new(ParseErrorKind::Empty, origin));
    }
    if bytes.len() > limits.max_message_bytes {
        return Err(too_large(bytes, bytes.len(), limits));
    }
    let (head_len, body_start) = match find_head_end(bytes) {
        Some(ends) => ends,
        // A datagram is complete by definition: a head that ends with its last line but lacks
        // the empty line (as RFC 4475's own baddn.dat does) is read as a head with no body.
        None if bytes.ends_with(b"\n") => (bytes.len(), bytes.len()),
        None => {
            let text = String::from_utf8_lossy(bytes);
            return Err(ParseError::new(ParseErrorKind::UnterminatedHeaders, origin)
                .with_partial(recover_partial(&text, origin, limits)));
        }
    };
    let head = parse_head(&bytes[..head_len], limits)?;
    let available = bytes.len() - body_start;
    let body_len = match head.content_length {
        Some(n) if n > available => {
            return Err(ParseError::new(
                ParseErrorKind::BodyTruncated {
                    declared: n,
                    available,
                },
                origin,
            )
            .with_partial(partial(&head.headers, origin)));
        }
        Some(n) => n,
        None => available,
    };
    Ok(message(head, &bytes[body_start..body_start + body_len]))
}

/// Frames the next item at the start of a stream buffer.
pub fn parse_stream(buf: &[u8], limits: &Limits) -> Result<Frame, ParseError> {
    if buf.is_empty() || buf == b"\r" || buf == b"\r\n\r" {
        return Ok(Frame::Incomplete);
    }
    if buf.starts_with(b"\r\n\r\n") {
        return Ok(Frame::KeepAlive { consumed: 4 });
    }
    if buf.starts_with(b"\r\n") {
        return Ok(Frame::KeepAlive { consumed: 2 });
    }
    let origin = sniff(buf);
    let Some((head_len, body_start)) = find_head_end(buf) else {
        if buf.len() > limits.max_message_bytes {
            return Err(too_large(buf, buf.len(), limits));
        }
        return Ok(Frame::Incomplete);
    };
    if body_start > limits.max_message_bytes {
        return Err(too_large(buf, body_start, limits));
    }
    let head = parse_head(&buf[..head_len], limits)?;
    let Some(body_len) = head.content_length else {
        // §18.3: on a stream the message end cannot be found without Content-Length.
        return Err(
            ParseError::new(ParseErrorKind::MissingContentLength, origin)
                .with_partial(partial(&head.headers, origin)),
        );
    };
    let total = body_start + body_len;
    if total > limits.max_message_bytes {
        return Err(ParseError::new(
            ParseErrorKind::MessageTooLarge {
                size: total,
                limit: limits.max_message_bytes,
            },
            origin,
        )
        .with_partial(partial(&head.headers, origin)));
    }
    if buf.len() < total {
        return Ok(Frame::Incomplete);
    }
    Ok(Frame::Message {
        message: message(head, &buf[body_start..total]),
        consumed: total,
    })
}

/// Finds the empty line ending the head: `(head_len, body_start)`, where the head is the start
/// line and header lines with their line ends. Linear in the bytes scanned (memchr on LF).
fn find_head_end(buf: &[u8]) -> Option<(usize, usize)> {
    let mut pos = 0;
    while let Some(off) = memchr::memchr(b'\n', &buf[pos..]) {
        let nl = pos + off;
        let empty = nl == pos || (nl == pos + 1 && buf[pos] == b'\r');
        if empty && pos > 0 {
            return Some((pos, nl + 1));
        }
        pos = nl + 1;
    }
    None
}

/// A size error, with the headers recovered from whatever head fits in the limit.
fn too_large(bytes: &[u8], size: usize, limits: &Limits) -> ParseError {
    let origin = sniff(bytes);
    let window = &bytes[..bytes.len().min(limits.max_message_bytes)];
    let head = find_head_end(window).map_or(window, |(h, _)| &window[..h]);
    let text = String::from_utf8_lossy(head);
    ParseError::new(
        ParseErrorKind::MessageTooLarge {
            size,
            limit: limits.max_message_bytes,
        },
        origin,
    )
    .with_partial(recover_partial(&text, origin, limits))
}

fn message(head: Head, body: &[u8]) -> Message {
    match head.start {
        Start::Request { method, uri } => Message::Request(Request {
            method,
            uri,
            headers: head.headers,
            body: body.to_vec(),
        }),
        Start::Response { status, reason } => Message::Response(Response {
            status,
            reason,
            headers: head.headers,
            body: body.to_vec(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: &str = "OPTIONS sip:b@example.com SIP/2.0\r\nVia: SIP/2.0/TCP h.example.com;branch=z9hG4bK1\r\nTo: <sip:b@example.com>\r\nFrom: <sip:a@example.com>;tag=1\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n";

    fn with_body(body: &str) -> String {
        format!("{OPTIONS}Content-Length: {}\r\n\r\n{body}", body.len())
    }

    #[test]
    fn datagram_body_is_content_length_bytes() {
        let mut d = with_body("hello").into_bytes();
        d.extend_from_slice(b"trailing junk");
        let m = parse_datagram(&d, &Limits::default()).unwrap();
        let Message::Request(r) = m else { panic!() };
        assert_eq!(r.body, b"hello");
    }

    #[test]
    fn datagram_without_content_length_takes_the_rest() {
        let d = format!("{OPTIONS}\r\nabc");
        let Message::Request(r) = parse_datagram(d.as_bytes(), &Limits::default()).unwrap() else {
            panic!()
        };
        assert_eq!(r.body, b"abc");
    }

    #[test]
    fn datagram_short_body_is_400_with_partial_headers() {
        let d = format!("{OPTIONS}Content-Length: 10\r\n\r\nabc");
        let e = parse_datagram(d.as_bytes(), &Limits::default()).unwrap_err();
        assert_eq!(e.status(), Some(400));
        let p = e.partial_headers().unwrap();
        assert_eq!(p.call_id(), Some("c1"));
        assert_eq!(p.len(), 5);
    }

    #[test]
    fn invalid_utf8_in_a_header_is_400_not_a_panic() {
        let mut d = OPTIONS.as_bytes().to_vec();
        d.extend_from_slice(b"Subject: \xff\xfe bad\r\nContent-Length: 0\r\n\r\n");
        let e = parse_datagram(&d, &Limits::default()).unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::NotUtf8);
        assert_eq!(e.status(), Some(400));
        assert_eq!(e.partial_headers().unwrap().call_id(), Some("c1"));
        // A body is bytes: it may hold anything.
        let mut bytes = format!("{OPTIONS}Content-Length: 2\r\n\r\n").into_bytes();
        bytes.extend_from_slice(b"\xff\x00");
        let Message::Request(r) = parse_datagram(&bytes, &Limits::default()).unwrap() else {
            panic!()
        };
        assert_eq!(r.body, b"\xff\x00");
    }

    #[test]
    fn oversized_datagram_is_513() {
        let body = "x".repeat(200);
        let limits = Limits {
            max_message_bytes: 300,
            ..Limits::default()
        };
        let e = parse_datagram(with_body(&body).as_bytes(), &limits).unwrap_err();
        assert_eq!(e.status(), Some(513));
        assert!(e.partial_headers().is_some());
    }

    #[test]
    fn stream_yields_two_messages_then_incomplete() {
        let buf = format!("{}{}", with_body("one"), with_body("second"));
        let limits = Limits::default();
        let Frame::Message { message, consumed } = parse_stream(buf.as_bytes(), &limits).unwrap()
        else {
            panic!()
        };
        let Message::Request(r) = message else {
            panic!()
        };
        assert_eq!(r.body, b"one");
        let rest = &buf.as_bytes()[consumed..];
        let Frame::Message { consumed: c2, .. } = parse_stream(rest, &limits).unwrap() else {
            panic!()
        };
        assert_eq!(c2, rest.len());
        assert_eq!(
            parse_stream(&rest[..c2 - 1], &limits).unwrap(),
            Frame::Incomplete
        );
    }

    #[test]
    fn stream_keepalives() {
        let l = Limits::default();
        assert_eq!(
            parse_stream(b"\r\n\r\n", &l).unwrap(),
            Frame::KeepAlive { consumed: 4 }
        );
        assert_eq!(
            parse_stream(b"\r\n", &l).unwrap(),
            Frame::KeepAlive { consumed: 2 }
        );
        assert_eq!(
            parse_stream(b"\r\nOPT", &l).unwrap(),
            Frame::KeepAlive { consumed: 2 }
        );
        assert_eq!(parse_stream(b"\r\n\r", &l).unwrap(), Frame::Incomplete);
        assert_eq!(parse_stream(b"", &l).unwrap(), Frame::Incomplete);
    }

    #[test]
    fn stream_requires_content_length() {
        let buf = format!("{OPTIONS}\r\n");
        let e = parse_stream(buf.as_bytes(), &Limits::default()).unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::MissingContentLength);
        assert_eq!(e.status(), Some(400));
    }

    #[test]
    fn stream_never_buffers_past_the_limit() {
        let limits = Limits {
            max_message_bytes: 1000,
            ..Limits::default()
        };
        // A head that never ends.
        let mut buf = OPTIONS.as_bytes().to_vec();
        while buf.len() <= 1000 {
            buf.extend_from_slice(b"X-Pad: 0123456789\r\n");
        }
        let e = parse_stream(&buf, &limits).unwrap_err();
        assert_eq!(e.status(), Some(513));
        // A declared body past the limit fails before it arrives.
        let head = format!("{OPTIONS}Content-Length: 5000\r\n\r\n");
        let e = parse_stream(head.as_bytes(), &limits).unwrap_err();
        assert!(matches!(e.kind, ParseErrorKind::MessageTooLarge { size, .. } if size > 5000));
    }
}
