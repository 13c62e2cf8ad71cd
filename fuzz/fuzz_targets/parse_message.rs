//! Fuzzes the SIP message parser: `parse_datagram` and `parse_stream` on arbitrary bytes must
//! not panic or stall, and every message they accept must serialize and re-parse to the same
//! message (Content-Length aside: serialization recomputes it and writes it last).
#![no_main]

use holdline::sip::header::HeaderName;
use holdline::sip::message::Message;
use holdline::sip::parse::{parse_datagram, parse_stream, Frame, Limits};
use libfuzzer_sys::fuzz_target;

fn without_content_length(mut m: Message) -> Message {
    match &mut m {
        Message::Request(r) => r.headers.remove(&HeaderName::ContentLength),
        Message::Response(r) => r.headers.remove(&HeaderName::ContentLength),
    }
    m
}

/// Serialization expands compact names and adds Content-Length, so the re-parse gets room.
fn reparse_limits(limits: &Limits) -> Limits {
    Limits {
        max_message_bytes: limits.max_message_bytes * 2 + 64,
        max_headers: limits.max_headers + 1,
        max_line_bytes: limits.max_line_bytes + 64,
    }
}

fn check_reparses(m: &Message, limits: &Limits) {
    let bytes = m.to_bytes();
    let again = match parse_datagram(&bytes, &reparse_limits(limits)) {
        Ok(again) => again,
        Err(e) => panic!(
            "accepted message does not re-parse: {e}\n{}",
            String::from_utf8_lossy(&bytes)
        ),
    };
    assert_eq!(
        without_content_length(again),
        without_content_length(m.clone())
    );
}

fuzz_target!(|data: &[u8]| {
    let tight = Limits {
        max_message_bytes: 1024,
        max_headers: 16,
        max_line_bytes: 256,
    };
    for limits in [Limits::default(), tight] {
        if let Ok(m) = parse_datagram(data, &limits) {
            check_reparses(&m, &limits);
        }
        let mut buf = data;
        loop {
            match parse_stream(buf, &limits) {
                Ok(Frame::Message { message, consumed }) => {
                    assert!(consumed > 0 && consumed <= buf.len());
                    check_reparses(&message, &limits);
                    buf = &buf[consumed..];
                }
                Ok(Frame::KeepAlive { consumed }) => {
                    assert!(consumed > 0 && consumed <= buf.len());
                    buf = &buf[consumed..];
                }
                Ok(Frame::Incomplete) | Err(_) => break,
            }
        }
    }
});
