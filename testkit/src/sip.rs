//! Comparing SIP messages across a serialize/parse round trip.

use holdline::sip::header::HeaderName;
use holdline::sip::message::Message;

/// The message with its Content-Length lines removed: serialization rewrites that header (and
/// moves it last), so structural equality is checked without it.
pub fn normalized(m: &Message) -> Message {
    let mut m = m.clone();
    match &mut m {
        Message::Request(r) => r.headers.remove(&HeaderName::ContentLength),
        Message::Response(r) => r.headers.remove(&HeaderName::ContentLength),
    }
    m
}
