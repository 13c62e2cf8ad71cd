//! The capability headers our responses carry (RFC 3261 §20.5 Allow, §20.1 Accept,
//! §20.37 Supported). The §8.2.6 response skeleton itself is
//! [`crate::sip::transaction::response_for`].

use crate::sip::header::HeaderName;
use crate::sip::message::Response;

/// Methods holdline implements as a UAS; also the `Allow` value (§20.5).
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO, REFER, NOTIFY, REGISTER";
/// Bodies we understand (§20.1): SDP only. Multipart INVITE bodies are not accepted yet.
pub const ACCEPT: &str = "application/sdp";
/// Option tags we support (§20.37): session timers (RFC 4028 §7.1 / §9 ask for it in every
/// INVITE, 2xx and OPTIONS answer); trunks probing with OPTIONS expect the header (§11.2).
pub const SUPPORTED: &str = "timer";

/// Adds Allow, Accept and Supported (for OPTIONS, 405, 415 and 2xx to INVITE).
pub fn add_capabilities(resp: &mut Response) {
    resp.headers.push(HeaderName::Allow, ALLOW);
    resp.headers.push(HeaderName::Accept, ACCEPT);
    resp.headers.push(HeaderName::Supported, SUPPORTED);
}
