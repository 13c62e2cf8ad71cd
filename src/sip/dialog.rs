//! One SIP dialog's state (RFC 3261 §12) from our side, UAS or UAC, and the requests built
//! inside it.
//!
//! A dialog is what §12.1 says both sides keep: the Call-ID, the local and remote parties with
//! their tags, the remote target (the peer's Contact), the route set, and the CSeq numbers in
//! each direction. From it §12.2.1.1 builds every request we send inside the dialog (BYE,
//! re-INVITE, REFER, NOTIFY) and §13.2.2.4 the ACK for a 2xx.
//!
//! What this does not do: send anything, keep transactions, or decide when a dialog ends.
//! Forked early dialogs (§12.1.2, one per To tag of a 1xx) are not tracked: a dialog is made
//! from the 2xx that confirms it.

use std::fmt::Write as _;

use super::header::{split_list, HeaderName};
use super::message::{Request, Response};
use super::method::Method;
use super::uri::Uri;

/// A confirmed or early dialog (see the module doc).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dialog {
    pub call_id: String,
    /// Our tag: the To tag we added (UAS) or the From tag we sent (UAC).
    pub local_tag: String,
    /// Our party as a header value with our tag: From in our requests (§12.2.1.1).
    pub local_party: String,
    /// The peer's party as a header value with its tag: To in our requests.
    pub remote_party: String,
    /// Where our requests go: the peer's Contact, refreshed by target-refresh requests.
    pub remote_target: Uri,
    /// Route headers for our requests, in the order they are sent.
    pub route_set: Vec<String>,
    /// The CSeq number of our last request in the dialog.
    pub local_cseq: u32,
    /// The CSeq number of the peer's last request (§12.2.2), when it has sent one.
    pub remote_cseq: Option<u32>,
}

impl Dialog {
    /// The UAS side of the dialog `req` creates, with `local_tag` added to its To (§12.1.1):
    /// remote target from the Contact (else From), route set = Record-Route in order,
    /// remote CSeq from the request, our CSeq starting at `local_cseq`.
    pub fn uas(req: &Request, local_tag: &str, local_cseq: u32) -> Dialog {
        let remote_target = req
            .headers
            .contacts()
            .into_iter()
            .next()
            .map(|c| c.uri)
            .or_else(|| req.headers.from().map(|f| f.uri))
            .unwrap_or_else(|| req.uri.clone());
        Dialog {
            call_id: req.headers.call_id().unwrap_or_default().to_owned(),
            local_tag: local_tag.to_owned(),
            local_party: format!(
                "{};tag={local_tag}",
                req.headers.get(&HeaderName::To).unwrap_or_default()
            ),
            remote_party: req
                .headers
                .get(&HeaderName::From)
                .unwrap_or_default()
                .to_owned(),
            remote_target,
            route_set: record_route(&req.headers),
            local_cseq,
            remote_cseq: req.headers.cseq().map(|c| c.seq),
        }
    }

    /// The UAC side of the dialog a 2xx to our `req` confirms (§12.1.2): remote party and
    /// tag from the response's To, remote target from its Contact (else the Request-URI),
    /// route set = its Record-Route reversed, our CSeq = the request's.
    pub fn uac(req: &Request, resp: &Response) -> Dialog {
        let remote_target = resp
            .headers
            .contacts()
            .into_iter()
            .next()
            .map(|c| c.uri)
            .unwrap_or_else(|| req.uri.clone());
        let mut route_set = record_route(&resp.headers);
        route_set.reverse();
        let local_party = req
            .headers
            .get(&HeaderName::From)
            .unwrap_or_default()
            .to_owned();
        Dialog {
            call_id: req.headers.call_id().unwrap_or_default().to_owned(),
            local_tag: req
                .headers
                .from()
                .and_then(|f| f.tag().map(str::to_owned))
                .unwrap_or_default(),
            local_party,
            remote_party: resp
                .headers
                .get(&HeaderName::To)
                .unwrap_or_default()
                .to_owned(),
            remote_target,
            route_set,
            local_cseq: req.headers.cseq().map(|c| c.seq).unwrap_or(1),
            remote_cseq: None,
        }
    }

    /// The peer's tag, from its party's header value.
    pub fn remote_tag(&self) -> Option<&str> {
        tag_of(&self.remote_party)
    }

    /// A request of ours in the dialog (§12.2.1.1): Request-URI = remote target, Route = the
    /// route set, From / To = local / remote party, Call-ID, the next local CSeq, and `via`.
    pub fn request(&mut self, method: Method, via: &str) -> Request {
        self.local_cseq += 1;
        self.build(method, self.local_cseq, via)
    }

    /// The ACK for a 2xx to our INVITE with CSeq number `invite_cseq` (§13.2.2.4): built as an
    /// in-dialog request, but with the INVITE's CSeq number.
    pub fn ack(&self, invite_cseq: u32, via: &str) -> Request {
        self.build(Method::Ack, invite_cseq, via)
    }

    /// A target-refresh request from the peer (re-INVITE, UPDATE) names a new remote target
    /// in its Contact (§12.2.2).
    pub fn refresh_target(&mut self, req: &Request) {
        if let Some(contact) = req.headers.contacts().into_iter().next() {
            self.remote_target = contact.uri;
        }
    }

    /// Checks a peer's request CSeq (§12.2.2): lower than the last one is out of order (the
    /// caller answers 500); otherwise it becomes the last one.
    pub fn accept_remote_cseq(&mut self, cseq: u32) -> bool {
        if self.remote_cseq.is_some_and(|last| cseq <= last) {
            return false;
        }
        self.remote_cseq = Some(cseq);
        true
    }

    fn build(&self, method: Method, cseq: u32, via: &str) -> Request {
        let mut req = Request::new(method.clone(), self.remote_target.clone());
        let h = &mut req.headers;
        h.push(HeaderName::Via, via);
        for route in &self.route_set {
            h.push(HeaderName::Route, route.clone());
        }
        h.push(HeaderName::MaxForwards, "70");
        h.push(HeaderName::From, self.local_party.clone());
        h.push(HeaderName::To, self.remote_party.clone());
        h.push(HeaderName::CallId, self.call_id.clone());
        let mut value = String::new();
        let _ = write!(value, "{cseq} {method}");
        h.push(HeaderName::CSeq, value);
        req
    }
}

/// The Record-Route values of a message, in order (each header may list several).
fn record_route(headers: &super::header::Headers) -> Vec<String> {
    headers
        .get_all(&HeaderName::RecordRoute)
        .flat_map(split_list)
        .map(str::to_owned)
        .collect()
}

/// The `tag` parameter of a From / To header value.
fn tag_of(value: &str) -> Option<&str> {
    // Parameters follow the name-addr's closing `>`, or the URI itself when there is none
    // (§20.10: then the URI cannot carry parameters of its own).
    let params = match value.rfind('>') {
        Some(end) => &value[end + 1..],
        None => value,
    };
    params.split(';').skip(1).find_map(|p| {
        let (name, v) = p.split_once('=')?;
        name.trim().eq_ignore_ascii_case("tag").then(|| v.trim())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::parse::parse_datagram;
    use crate::sip::Message;

    fn parse(text: &str) -> Message {
        let bytes = text.replace('\n', "\r\n");
        parse_datagram(bytes.as_bytes(), &Default::default()).expect("test message parses")
    }

    fn invite() -> Request {
        let Message::Request(req) = parse(
            "INVITE sip:+14255550100@192.0.2.1 SIP/2.0\n\
             Via: SIP/2.0/UDP 198.51.100.7:5062;branch=z9hG4bK1\n\
             Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\n\
             From: \"Alice\" <sip:alice@example.com>;tag=a1\n\
             To: <sip:+14255550100@192.0.2.1>\n\
             Call-ID: c1@example.com\n\
             CSeq: 7 INVITE\n\
             Contact: <sip:alice@198.51.100.7:5062>\n\
             Max-Forwards: 70\n\
             Content-Length: 0\n\n",
        ) else {
            panic!("a request");
        };
        req
    }

    #[test]
    fn uas_dialog_follows_12_1_1_and_builds_requests_per_12_2_1_1() {
        let mut d = Dialog::uas(&invite(), "b2", 100);
        assert_eq!(d.remote_tag(), Some("a1"));
        assert_eq!(d.remote_cseq, Some(7));
        assert_eq!(d.route_set.len(), 2, "Record-Route kept in order");
        let bye = d.request(Method::Bye, "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKx");
        assert_eq!(bye.uri.to_string(), "sip:alice@198.51.100.7:5062");
        let routes: Vec<_> = bye.headers.get_all(&HeaderName::Route).collect();
        assert_eq!(
            routes,
            ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
        );
        assert_eq!(
            bye.headers.get(&HeaderName::From),
            Some("<sip:+14255550100@192.0.2.1>;tag=b2")
        );
        assert_eq!(
            bye.headers.get(&HeaderName::To),
            Some("\"Alice\" <sip:alice@example.com>;tag=a1")
        );
        assert_eq!(bye.headers.get(&HeaderName::CSeq), Some("101 BYE"));
        assert!(!d.accept_remote_cseq(7), "§12.2.2: not above the last CSeq");
        assert!(d.accept_remote_cseq(8));
    }

    #[test]
    fn uac_dialog_follows_12_1_2_and_acks_with_the_invite_cseq() {
        let req = invite();
        let Message::Response(resp) = parse(
            "SIP/2.0 200 OK\n\
             Via: SIP/2.0/UDP 198.51.100.7:5062;branch=z9hG4bK1\n\
             Record-Route: <sip:p1.example.com;lr>\n\
             Record-Route: <sip:p2.example.com;lr>\n\
             From: \"Alice\" <sip:alice@example.com>;tag=a1\n\
             To: <sip:+14255550100@192.0.2.1>;tag=z9\n\
             Call-ID: c1@example.com\n\
             CSeq: 7 INVITE\n\
             Contact: <sip:agent@203.0.113.5:5070>\n\
             Content-Length: 0\n\n",
        ) else {
            panic!("a response");
        };
        let mut d = Dialog::uac(&req, &resp);
        assert_eq!(d.local_tag, "a1");
        assert_eq!(d.remote_tag(), Some("z9"));
        assert_eq!(
            d.route_set,
            ["<sip:p2.example.com;lr>", "<sip:p1.example.com;lr>"],
            "§12.1.2: the route set is Record-Route reversed"
        );
        let ack = d.ack(7, "SIP/2.0/UDP 198.51.100.7:5062;branch=z9hG4bK2");
        assert_eq!(ack.uri.to_string(), "sip:agent@203.0.113.5:5070");
        assert_eq!(ack.headers.get(&HeaderName::CSeq), Some("7 ACK"));
        let bye = d.request(Method::Bye, "SIP/2.0/UDP 198.51.100.7:5062;branch=z9hG4bK3");
        assert_eq!(bye.headers.get(&HeaderName::CSeq), Some("8 BYE"));
    }

    #[test]
    fn tags_are_found_after_the_name_addr_only() {
        assert_eq!(tag_of("<sip:a@b;tag=no>;tag=yes"), Some("yes"));
        assert_eq!(tag_of("sip:a@b;tag=t1"), Some("t1"));
        assert_eq!(tag_of("<sip:a@b>"), None);
    }
}
