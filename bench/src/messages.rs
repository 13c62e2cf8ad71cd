//! The SIP requests and responses the load tool's UAC sends outside a dialog (RFC 3261 §8.1.1,
//! §17.1.1.3, §8.2.6), built on the project's own message model, and the SDP offer it makes
//! (RFC 3264 §5: PCMU 0, PCMA 8, telephone-event 101, one ptime). Requests inside the dialog
//! (the ACK for a 2xx, BYE) come from `holdline::sip::dialog`, with our Via.
//!
//! Only what a caller on UDP needs: no authentication, no TCP/TLS.

use std::net::SocketAddr;

use holdline::sip::header::HeaderName;
use holdline::sip::message::{reason_phrase, Request, Response};
use holdline::sip::method::Method;
use holdline::sip::parse::parse_uri;
use holdline::sip::sdp::{Codec, SessionDescription};
use holdline::sip::typed::BRANCH_MAGIC;
use holdline::sip::uri::Uri;

/// The User-Agent the tool announces, so server logs show who was calling.
pub const USER_AGENT: &str = "holdline-bench";

/// What stays the same for every request of one call.
#[derive(Clone, Debug)]
pub struct CallIds {
    pub call_id: String,
    pub from_tag: String,
    /// Our SIP socket, for Via and Contact.
    pub local: SocketAddr,
    /// The dialled number as the user part of the Request-URI and To.
    pub number: String,
    pub server: SocketAddr,
}

/// Our media offer for one call.
#[derive(Clone, Copy, Debug)]
pub struct Offer {
    pub rtp: SocketAddr,
    pub codec: Codec,
    pub ptime_ms: u32,
    pub session_version: u64,
}

/// Why the Request-URI could not be built from the dialled number and server.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot make a SIP URI of number {number:?} at {server}")]
pub struct BadNumber {
    pub number: String,
    pub server: SocketAddr,
}

impl CallIds {
    pub fn request_uri(&self) -> Result<Uri, BadNumber> {
        parse_uri(&format!("sip:{}@{};user=phone", self.number, self.server)).map_err(|_| {
            BadNumber {
                number: self.number.clone(),
                server: self.server,
            }
        })
    }

    fn from(&self) -> String {
        format!("<sip:{USER_AGENT}@{}>;tag={}", self.local, self.from_tag)
    }

    /// Our Via for a request on `branch` (with `rport`: the server answers where we sent from).
    pub fn via(&self, branch: &str) -> String {
        format!("SIP/2.0/UDP {};branch={branch};rport", self.local)
    }

    fn common(&self, req: &mut Request, branch: &str, cseq: u32, method: &str, to: &str) {
        let h = &mut req.headers;
        h.push(HeaderName::Via, self.via(branch));
        h.push(HeaderName::MaxForwards, "70");
        h.push(HeaderName::From, self.from());
        h.push(HeaderName::To, to);
        h.push(HeaderName::CallId, self.call_id.as_str());
        h.push(HeaderName::CSeq, format!("{cseq} {method}"));
    }

    /// The initial INVITE with our SDP offer (§8.1.1, §13.2.1).
    pub fn invite(&self, uri: Uri, branch: &str, offer: &Offer) -> Request {
        let to = format!("<sip:{}@{};user=phone>", self.number, self.server);
        let mut req = Request::new(Method::Invite, uri);
        self.common(&mut req, branch, 1, "INVITE", &to);
        let h = &mut req.headers;
        h.push(
            HeaderName::Contact,
            format!("<sip:{USER_AGENT}@{}>", self.local),
        );
        h.push(HeaderName::UserAgent, USER_AGENT);
        h.push(
            HeaderName::Allow,
            "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE",
        );
        h.push(HeaderName::ContentType, "application/sdp");
        req.body = offer.sdp().into_bytes();
        req
    }

    /// The ACK for a non-2xx final response: same branch and Request-URI as the INVITE, the
    /// response's To (§17.1.1.3).
    pub fn ack_for_failure(&self, invite: &Request, response: &Response, branch: &str) -> Request {
        let to = response.headers.get(&HeaderName::To).unwrap_or_default();
        let mut req = Request::new(Method::Ack, invite.uri.clone());
        self.common(&mut req, branch, 1, "ACK", to);
        req
    }
}

/// A branch for request `n` of call `call`: unique per run thanks to `nonce` (§8.1.1.7).
pub fn branch(nonce: u64, call: u64, n: u32) -> String {
    format!("{BRANCH_MAGIC}{nonce:x}.{call:x}.{n}")
}

impl Offer {
    /// RFC 3264 §5 offer: both G.711 laws in our preference order, then telephone-event.
    pub fn sdp(&self) -> String {
        let ip = self.rtp.ip();
        let family = if ip.is_ipv6() { "IP6" } else { "IP4" };
        let (first, second) = match self.codec {
            Codec::Pcmu => (0, 8),
            Codec::Pcma => (8, 0),
        };
        format!(
            "v=0\r\no=- {v} {v} IN {family} {ip}\r\ns=holdline-bench\r\nc=IN {family} {ip}\r\n\
             t=0 0\r\nm=audio {port} RTP/AVP {first} {second} 101\r\na=rtpmap:0 PCMU/8000\r\n\
             a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n\
             a=ptime:{ptime}\r\na=sendrecv\r\n",
            v = self.session_version,
            port = self.rtp.port(),
            ptime = self.ptime_ms,
        )
    }
}

/// What the answer chose: the first payload type of the audio stream and its address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Answer {
    pub payload_type: Option<u8>,
    /// Where the server wants our RTP: the stream's (or the session's) `c=` address and port.
    pub rtp: Option<SocketAddr>,
}

/// Reads the SDP answer in a 2xx; `None` when the body is missing or not SDP.
pub fn read_answer(body: &[u8]) -> Option<Answer> {
    let sdp = SessionDescription::parse(body).ok()?;
    let audio = sdp.media.iter().find(|m| m.media == "audio")?;
    let ip = sdp.connection_for(audio).and_then(|c| c.ip());
    Some(Answer {
        payload_type: audio.formats.first().and_then(|f| f.parse().ok()),
        rtp: ip
            .filter(|_| audio.port != 0)
            .map(|ip| SocketAddr::new(ip, audio.port)),
    })
}

/// A response to a request the server sent us (§8.2.6): Via, From, Call-ID and CSeq copied,
/// To copied with our tag added when it has none.
pub fn response_to(req: &Request, status: u16, local_tag: &str) -> Response {
    let mut resp = Response::new(status, reason_phrase(status));
    for h in req.headers.iter() {
        match h.name {
            HeaderName::Via | HeaderName::From | HeaderName::CallId | HeaderName::CSeq => {
                resp.headers.push(h.name.clone(), h.value.as_str());
            }
            HeaderName::To => {
                let tagged = req.headers.to().is_some_and(|t| t.tag().is_some());
                let value = if tagged {
                    h.value.clone()
                } else {
                    format!("{};tag={local_tag}", h.value)
                };
                resp.headers.push(HeaderName::To, value);
            }
            _ => {}
        }
    }
    resp.headers.push(HeaderName::UserAgent, USER_AGENT);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use holdline::sip::dialog::Dialog;
    use holdline::sip::parse::{parse_datagram, Limits};
    use holdline::sip::Message;

    fn ids() -> CallIds {
        CallIds {
            call_id: "c1@bench".into(),
            from_tag: "ft1".into(),
            local: "127.0.0.1:40000".parse().unwrap(),
            number: "+14255550100".into(),
            server: "127.0.0.1:5060".parse().unwrap(),
        }
    }

    fn offer() -> Offer {
        Offer {
            rtp: "127.0.0.1:30000".parse().unwrap(),
            codec: Codec::Pcma,
            ptime_ms: 20,
            session_version: 7,
        }
    }

    #[test]
    fn invite_parses_with_our_own_parser_and_offers_both_laws() {
        let ids = ids();
        let invite = ids.invite(ids.request_uri().unwrap(), &branch(1, 2, 0), &offer());
        let Ok(Message::Request(req)) = parse_datagram(&invite.to_bytes(), &Limits::default())
        else {
            panic!("our INVITE does not parse");
        };
        assert_eq!(req.method, Method::Invite);
        assert_eq!(req.headers.call_id(), Some("c1@bench"));
        assert_eq!(req.headers.cseq().map(|c| c.seq), Some(1));
        assert!(req.headers.top_via().unwrap().has_rfc3261_branch());
        let sdp = SessionDescription::parse(&req.body).unwrap();
        assert_eq!(sdp.media[0].port, 30000);
        assert_eq!(sdp.media[0].formats, ["8", "0", "101"]);
        assert_eq!(sdp.media[0].ptime(), Some(20));
    }

    #[test]
    fn bye_in_the_dialog_goes_to_the_remote_target_with_the_tags_route_set_and_our_via() {
        let ids = ids();
        let invite = ids.invite(ids.request_uri().unwrap(), &branch(1, 2, 0), &offer());
        let mut ok = response_to(&invite, 200, "srv");
        ok.headers
            .push(HeaderName::Contact, "<sip:q@127.0.0.1:5070>");
        ok.headers
            .push(HeaderName::RecordRoute, "<sip:proxy.example;lr>");
        let mut dialog = Dialog::uac(&invite, &ok);
        let bye = dialog.request(Method::Bye, &ids.via(&branch(1, 2, 2)));
        let text = String::from_utf8(bye.to_bytes()).unwrap();
        assert!(text.starts_with("BYE sip:q@127.0.0.1:5070 SIP/2.0\r\n"));
        // The INVITE was CSeq 1; the BYE is the dialog's next request.
        assert!(text.contains("\r\nCSeq: 2 BYE\r\n"));
        assert!(text.contains(";tag=srv\r\n"));
        assert!(text.contains("\r\nRoute: <sip:proxy.example;lr>\r\n"));
        assert!(text.contains(";tag=ft1\r\n"));
        assert!(text.contains(";branch=z9hG4bK1.2.2;rport\r\n"));
    }

    #[test]
    fn response_to_server_bye_copies_headers_and_keeps_the_tags() {
        let raw = "BYE sip:holdline-bench@127.0.0.1:40000 SIP/2.0\r\n\
                   Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx\r\n\
                   From: <sip:+14255550100@127.0.0.1>;tag=srv\r\n\
                   To: <sip:holdline-bench@127.0.0.1:40000>;tag=ft1\r\n\
                   Call-ID: c1@bench\r\nCSeq: 9 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
        let Ok(Message::Request(req)) = parse_datagram(raw.as_bytes(), &Limits::default()) else {
            panic!("fixture does not parse");
        };
        let resp = response_to(&req, 200, "ft1");
        let text = String::from_utf8(resp.to_bytes()).unwrap();
        assert!(text.starts_with("SIP/2.0 200 OK\r\n"));
        assert!(text.contains("CSeq: 9 BYE\r\n"));
        assert!(text.contains("To: <sip:holdline-bench@127.0.0.1:40000>;tag=ft1\r\n"));
        assert!(!text.contains("tag=ft1;tag=ft1"));
    }

    #[test]
    fn answer_reports_the_chosen_payload_type() {
        let body = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                     m=audio 20000 RTP/AVP 8 101\r\n";
        assert_eq!(
            read_answer(body),
            Some(Answer {
                payload_type: Some(8),
                rtp: Some("127.0.0.1:20000".parse().unwrap()),
            })
        );
        assert_eq!(read_answer(b"not sdp"), None);
    }
}
