//! Message-level checks on a parsed head (RFC 3261 §8.1.1, §8.2, §20; RFC 4475 §3.1.2, §3.3):
//! mandatory and single-valued headers, the syntax of the headers the stack acts on (Via,
//! From, To, Contact, Route, Record-Route, Call-ID, CSeq, Max-Forwards, Content-Length) and the
//! CSeq method against the request method.
//!
//! It does not check what only a UAS can judge (Require, Content-Type support, URI schemes,
//! dialogs) nor headers it never acts on (Date, Expires: RFC 4475 §3.1.2.4 and §3.1.2.12 allow
//! treating bad values there as absent or default).

use super::head::Start;
use super::lex::{is_ws, trim_ws};
use super::typed::{cseq, name_addr, via};
use super::ParseErrorKind;
use crate::sip::header::{HeaderName, Headers};

/// Headers that must appear exactly once when present (§20: single-valued fields; RFC 4475
/// §3.3.8 multi01, §3.3.9 mcl01).
const SINGLE: [(HeaderName, &str); 7] = [
    (HeaderName::To, "To"),
    (HeaderName::From, "From"),
    (HeaderName::CallId, "Call-ID"),
    (HeaderName::CSeq, "CSeq"),
    (HeaderName::MaxForwards, "Max-Forwards"),
    (HeaderName::ContentLength, "Content-Length"),
    (HeaderName::ContentType, "Content-Type"),
];

/// Checks the headers a transaction layer and UAS rely on; returns Content-Length.
///
/// Required in both requests and responses: To, From, CSeq, Call-ID, Via (§8.1.1, §8.2.6.2).
/// Max-Forwards is required of a UAC (§8.1.1.6) but RFC 2543 peers omit it (RFC 4475 §3.4.1
/// inv2543 is valid), so its absence is accepted; a UAS without it treats it as 70.
pub(super) fn validate(start: &Start, headers: &Headers) -> Result<Option<usize>, ParseErrorKind> {
    for (name, label) in &SINGLE {
        let count = headers.get_all(name).count();
        if count > 1 {
            return Err(ParseErrorKind::RepeatedHeader { name: label, count });
        }
        let required = !matches!(
            name,
            HeaderName::MaxForwards | HeaderName::ContentLength | HeaderName::ContentType
        );
        if required && count == 0 {
            return Err(ParseErrorKind::MissingHeader { name: label });
        }
    }
    let wrap = |name: &'static str| {
        move |e| ParseErrorKind::BadHeader {
            name,
            source: Box::new(e),
        }
    };
    let mut via_count = 0;
    for v in headers.list(&HeaderName::Via) {
        via(v).map_err(wrap("Via"))?;
        via_count += 1;
    }
    if via_count == 0 {
        return Err(ParseErrorKind::MissingHeader { name: "Via" });
    }
    for (name, label) in [(HeaderName::From, "From"), (HeaderName::To, "To")] {
        name_addr(headers.get(&name).unwrap_or("")).map_err(wrap(label))?;
    }
    let contacts: Vec<&str> = headers.list(&HeaderName::Contact).collect();
    for c in &contacts {
        if *c == "*" && contacts.len() == 1 {
            continue; // §10.2.2 wildcard
        }
        name_addr(c).map_err(wrap("Contact"))?;
    }
    for (name, label) in [
        (HeaderName::Route, "Route"),
        (HeaderName::RecordRoute, "Record-Route"),
    ] {
        for r in headers.list(&name) {
            // route-param / rec-route = name-addr *( SEMI param ): angle brackets required.
            if !r.contains('<') {
                return Err(wrap(label)(ParseErrorKind::BadValue {
                    what: "route",
                    reason: "a route must be a name-addr in angle brackets",
                }));
            }
            name_addr(r).map_err(wrap(label))?;
        }
    }
    let call_id = trim_ws(headers.get(&HeaderName::CallId).unwrap_or(""));
    if call_id.is_empty() || call_id.bytes().any(|b| is_ws(b) || b.is_ascii_control()) {
        return Err(wrap("Call-ID")(ParseErrorKind::BadValue {
            what: "Call-ID",
            reason: "must be one non-empty word",
        }));
    }
    let cs = cseq(headers.get(&HeaderName::CSeq).unwrap_or("")).map_err(wrap("CSeq"))?;
    if let Start::Request { method, .. } = start {
        // §8.2 / RFC 4475 §3.1.2.17-18: the CSeq method must match the request method.
        if cs.method != *method {
            return Err(ParseErrorKind::CSeqMismatch {
                cseq: cs.method.to_string(),
                method: method.to_string(),
            });
        }
    }
    if let Some(mf) = headers.get(&HeaderName::MaxForwards) {
        let mf = trim_ws(mf);
        if mf.is_empty() || !mf.bytes().all(|b| b.is_ascii_digit()) {
            return Err(wrap("Max-Forwards")(ParseErrorKind::BadValue {
                what: "Max-Forwards",
                reason: "not a number",
            }));
        }
    }
    headers
        .get(&HeaderName::ContentLength)
        .map(content_length)
        .transpose()
}

/// `Content-Length = 1*DIGIT`, within u32 (RFC 4475 §3.1.2.3 ncl, §3.1.2.4 scalar02).
fn content_length(v: &str) -> Result<usize, ParseErrorKind> {
    let t = trim_ws(v);
    let bad = || ParseErrorKind::BadContentLength {
        value: t.chars().take(32).collect(),
    };
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n = t.trim_start_matches('0');
    if n.len() > 10 {
        return Err(bad());
    }
    let n: u64 = if n.is_empty() {
        0
    } else {
        n.parse().map_err(|_| bad())?
    };
    u32::try_from(n).map(|n| n as usize).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::super::head::parse_head;
    use super::super::{Limits, ParseError, ParseErrorKind};

    const BASE: &str = "OPTIONS sip:b@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h.example.com;branch=z9hG4bK1\r\nTo: <sip:b@example.com>\r\nFrom: <sip:a@example.com>;tag=1\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70";

    /// The error for BASE with `from` replaced by `to`, or `None` when it parses.
    fn error(from: &str, to: &str) -> Option<ParseError> {
        parse_head(BASE.replace(from, to).as_bytes(), &Limits::default()).err()
    }

    /// The error for BASE plus one header line.
    fn error_with(line: &str) -> Option<ParseError> {
        error("Max-Forwards: 70", &format!("Max-Forwards: 70\r\n{line}"))
    }

    #[test]
    fn base_message_is_valid() {
        assert_eq!(error("", ""), None);
    }

    #[test]
    fn content_length_must_fit_u32() {
        for cl in ["-1", "4294967296", "1e3", ""] {
            let e = error_with(&format!("l: {cl}")).expect(cl);
            assert!(
                matches!(e.kind, ParseErrorKind::BadContentLength { .. }),
                "{cl}"
            );
            assert_eq!(e.status(), Some(400));
        }
        assert_eq!(error_with("l: 4294967295"), None);
        assert_eq!(error_with("l: 000"), None);
    }

    #[test]
    fn single_valued_headers_appear_once() {
        let e = error_with("Call-ID: c2").unwrap();
        assert_eq!(
            e.kind,
            ParseErrorKind::RepeatedHeader {
                name: "Call-ID",
                count: 2
            }
        );
    }

    #[test]
    fn contact_wildcard_must_stand_alone() {
        assert_eq!(error_with("Contact: *"), None);
        assert!(error_with("Contact: *, <sip:a@example.com>").is_some());
    }

    #[test]
    fn routes_need_angle_brackets() {
        assert_eq!(
            error_with("Route: <sip:p.example.com;lr>, <sip:q.example.com;lr>"),
            None
        );
        assert!(error_with("Record-Route: sip:p.example.com;lr").is_some());
    }

    #[test]
    fn max_forwards_must_be_digits_but_may_be_large() {
        assert_eq!(error("Max-Forwards: 70", "Max-Forwards: 300"), None);
        assert!(error("Max-Forwards: 70", "Max-Forwards: seventy").is_some());
        // RFC 2543 peers omit it (RFC 4475 §3.4.1).
        assert_eq!(error("\r\nMax-Forwards: 70", ""), None);
    }

    #[test]
    fn call_id_must_be_one_word() {
        let e = error("Call-ID: c1", "Call-ID: two words").unwrap();
        assert_eq!(e.status(), Some(400));
    }

    #[test]
    fn missing_mandatory_header_is_400_with_partial() {
        let e = error("\r\nCall-ID: c1", "").unwrap();
        assert_eq!(e.kind, ParseErrorKind::MissingHeader { name: "Call-ID" });
        assert_eq!(e.status(), Some(400));
        assert_eq!(e.partial_headers().unwrap().len(), 4);
    }

    #[test]
    fn cseq_method_must_match() {
        let e = error("CSeq: 1 OPTIONS", "CSeq: 1 INVITE").unwrap();
        assert!(matches!(e.kind, ParseErrorKind::CSeqMismatch { .. }));
    }
}
