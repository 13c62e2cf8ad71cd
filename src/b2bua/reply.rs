//! Building responses to requests (RFC 3261 §8.2.6) and the capability headers every
//! response of ours carries (§20.5 Allow, §20.1 Accept, §20.37 Supported).

use crate::sip::header::{HeaderName, Headers};
use crate::sip::message::{reason_phrase, Request, Response};

/// Methods holdline implements as a UAS; also the `Allow` value (§20.5).
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO";
/// Bodies we understand (§20.1): SDP only. Multipart INVITE bodies are not accepted yet.
pub const ACCEPT: &str = "application/sdp";
/// Option tags we support (§20.37). None yet: the header is still sent (empty) because trunks
/// probing with OPTIONS expect it (§11.2).
pub const SUPPORTED: &str = "";

/// A response to `req` with the §8.2.6.2 headers copied: every Via in order, From, To, Call-ID
/// and CSeq. `to_tag` is added to To when the request had none (§8.2.6.2: the UAS adds a tag to
/// every response except 100).
pub fn response_to(req: &Request, status: u16, to_tag: Option<&str>) -> Response {
    response_from_headers(&req.headers, status, to_tag)
}

/// Like [`response_to`], from the raw headers of a request (also those recovered from one that
/// failed to parse, for a 400).
pub fn response_from_headers(headers: &Headers, status: u16, to_tag: Option<&str>) -> Response {
    let mut resp = Response::new(status, reason_phrase(status));
    for h in headers.iter() {
        match h.name {
            HeaderName::Via
            | HeaderName::From
            | HeaderName::CallId
            | HeaderName::CSeq
            | HeaderName::Timestamp => resp.headers.push(h.name.clone(), h.value.clone()),
            HeaderName::To => {
                let mut value = h.value.clone();
                if let Some(tag) = to_tag {
                    if status != 100 && !has_tag_param(&value) {
                        value.push_str(";tag=");
                        value.push_str(tag);
                    }
                }
                resp.headers.push(HeaderName::To, value);
            }
            _ => {}
        }
    }
    resp
}

/// Whether a To/From value carries a `tag` header parameter (outside the `<…>` URI).
pub fn has_tag_param(value: &str) -> bool {
    let params = match value.rfind('>') {
        Some(i) => &value[i + 1..],
        // addr-spec form: every parameter after the URI is a header parameter (§20.10).
        None => value,
    };
    params.split(';').skip(1).any(|p| {
        p.trim()
            .split('=')
            .next()
            .is_some_and(|n| n.trim().eq_ignore_ascii_case("tag"))
    })
}

/// Adds Allow, Accept and Supported (for OPTIONS, 405, 415 and 2xx to INVITE).
pub fn add_capabilities(resp: &mut Response) {
    resp.headers.push(HeaderName::Allow, ALLOW);
    resp.headers.push(HeaderName::Accept, ACCEPT);
    resp.headers.push(HeaderName::Supported, SUPPORTED);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_detection_ignores_uri_parameters() {
        assert!(has_tag_param("<sip:a@b>;tag=1"));
        assert!(has_tag_param("sip:a@b;tag=1"));
        assert!(!has_tag_param("<sip:a@b;tag=1>"));
        assert!(!has_tag_param("\"x;tag=1\" <sip:a@b>"));
    }
}
