//! The virtual-time harness: a scripted SIP peer for driving the sans-IO [`Core`] on virtual
//! time. Feed it text messages, read back the parsed messages it sends; ten minutes of a
//! queue run in milliseconds.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use holdline::b2bua::{Core, CoreSettings, Event};
use holdline::sip::header::HeaderName;
use holdline::sip::message::{Message, Request, Response};
use holdline::sip::parse::{parse_datagram, Limits};
use holdline::sip::transport::{Peer, Transport};
use holdline::sip::Method;
use holdline::time::Time;

pub const SERVER: &str = "192.0.2.1:5060";
pub const CALLER: &str = "198.51.100.7:5062";

pub const CONFIG: &str = r#"
[sip]
listen = ["udp:192.0.2.1:5060", "tcp:192.0.2.1:5060"]
[rtp]
ports = "20000-29999"
[[number]]
e164 = "+14255550100"
kind = "service-toll"
[[number]]
e164 = "+14255550111"
kind = "service-toll"
[[queue]]
id = "sales"
name = "UK Sales"
numbers = ["+14255550100"]
addresses = ["sip:sales@example.com"]
[[queue]]
id = "ringing"
name = "Rings First"
numbers = ["+14255550111"]
answer_delay_ms = 2000
"#;

/// The core under test with a clock and a record of what it sent.
pub struct Harness {
    pub core: Core,
    pub now: Time,
    pub sent: Vec<(Peer, Message)>,
    pub events: Vec<Event>,
    pub local: SocketAddr,
}

impl Harness {
    pub fn new() -> Harness {
        Harness::with_config(CONFIG)
    }

    pub fn with_config(toml: &str) -> Harness {
        let config = holdline::config::from_toml_str(toml, Path::new("."))
            .unwrap_or_else(|e| panic!("test config is invalid: {e}"));
        let local: SocketAddr = SERVER.parse().unwrap();
        let settings = CoreSettings {
            listeners: vec![(Transport::Udp, local), (Transport::Tcp, local)],
            seed: 7,
            key_seed: [7; 32],
            limits: Limits::default(),
            transactions: Default::default(),
        };
        Harness {
            core: Core::new(&config, settings),
            now: Time::ZERO,
            sent: Vec::new(),
            events: Vec::new(),
            local,
        }
    }

    /// Sends `text` (LF line ends are turned into CRLF) as a UDP datagram from the caller.
    pub fn send(&mut self, text: &str) {
        let bytes = crlf(text);
        self.send_bytes(&bytes);
    }

    /// Sends `text` as a UDP datagram from `from` (an agent's phone, say).
    pub fn send_from(&mut self, from: &str, text: &str) {
        let from = Peer::udp(from.parse().unwrap());
        self.core
            .handle_datagram(self.now, from, self.local, &crlf(text));
        self.collect();
    }

    pub fn send_bytes(&mut self, bytes: &[u8]) {
        let from = Peer::udp(CALLER.parse().unwrap());
        self.core.handle_datagram(self.now, from, self.local, bytes);
        self.collect();
    }

    /// Advances virtual time by `d`, firing every timer due on the way in order.
    pub fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        while let Some(at) = self.core.poll_timeout() {
            if at > end {
                break;
            }
            self.now = self.now.max(at);
            self.core.handle_timeout(self.now);
            self.collect();
        }
        self.now = end;
        self.core.handle_timeout(self.now);
        self.collect();
    }

    pub fn shutdown(&mut self) {
        self.core.shutdown(self.now);
        self.collect();
    }

    /// Moves what the core sent and reported into `sent` and `events`.
    pub fn collect(&mut self) {
        while let Some(t) = self.core.poll_transmit() {
            let msg = match parse_datagram(&t.bytes, &Limits::default()) {
                Ok(m) => m,
                // A 400 to a request with an overlarge CSeq copies that CSeq (§8.2.6.2), so
                // it does not parse again; keep its status line.
                Err(e) => status_only(&t.bytes).unwrap_or_else(|| {
                    panic!(
                        "core sent an unparsable message ({e}): {:?}",
                        String::from_utf8_lossy(&t.bytes)
                    )
                }),
            };
            self.sent.push((t.to, msg));
        }
        while let Some(e) = self.core.poll_event() {
            self.events.push(e);
        }
    }

    /// Removes and returns everything sent so far.
    pub fn take(&mut self) -> Vec<Message> {
        self.sent.drain(..).map(|(_, m)| m).collect()
    }

    /// The statuses of the responses sent so far (removing them all).
    pub fn statuses(&mut self) -> Vec<u16> {
        self.take()
            .into_iter()
            .filter_map(|m| match m {
                Message::Response(r) => Some(r.status),
                Message::Request(_) => None,
            })
            .collect()
    }

    /// The last response sent with `status`.
    pub fn last_response(&self, status: u16) -> Option<Response> {
        self.sent.iter().rev().find_map(|(_, m)| match m {
            Message::Response(r) if r.status == status => Some(r.clone()),
            _ => None,
        })
    }
}

impl Default for Harness {
    fn default() -> Self {
        Harness::new()
    }
}

/// A response reduced to its status line, for responses that echo unparsable headers.
fn status_only(bytes: &[u8]) -> Option<Message> {
    let text = String::from_utf8_lossy(bytes);
    let line = text.lines().next()?;
    let mut parts = line.splitn(3, ' ');
    (parts.next()? == "SIP/2.0").then_some(())?;
    let status: u16 = parts.next()?.parse().ok()?;
    Some(Message::Response(Response::new(
        status,
        parts.next().unwrap_or(""),
    )))
}

pub fn crlf(text: &str) -> Vec<u8> {
    let mut out = String::new();
    for line in text.trim_start_matches('\n').split('\n') {
        out.push_str(line.trim_end_matches('\r'));
        out.push_str("\r\n");
    }
    // `text` ends with an empty line after the headers (or the body); keep exactly one CRLF
    // per line.
    out.truncate(out.len() - 2);
    out.into_bytes()
}

pub const SDP_PCMU: &str = "v=0\no=caller 1 1 IN IP4 198.51.100.7\ns=-\nc=IN IP4 198.51.100.7\nt=0 0\nm=audio 30000 RTP/AVP 0 101\na=rtpmap:0 PCMU/8000\na=rtpmap:101 telephone-event/8000\na=fmtp:101 0-16\na=ptime:20\n";

/// An INVITE from the caller to `number` with `sdp` (or none).
pub fn invite(number: &str, call_id: &str, branch: &str, sdp: Option<&str>) -> String {
    let body = sdp.map(|s| s.replace('\n', "\r\n")).unwrap_or_default();
    let ct = if sdp.is_some() {
        "Content-Type: application/sdp\n"
    } else {
        ""
    };
    format!(
        "INVITE sip:{number}@192.0.2.1 SIP/2.0\n\
         Via: SIP/2.0/UDP 198.51.100.7:5062;branch={branch};rport\n\
         From: \"Alice\" <sip:alice@198.51.100.7>;tag=caller1\n\
         To: <sip:{number}@192.0.2.1>\n\
         Call-ID: {call_id}\n\
         CSeq: 1 INVITE\n\
         Contact: <sip:alice@198.51.100.7:5062>\n\
         Max-Forwards: 70\n\
         {ct}Content-Length: {}\n\n{body}",
        body.len()
    )
}

/// A request inside the dialog of `invite()`, with our To tag.
pub fn in_dialog(
    method: &str,
    call_id: &str,
    to_tag: &str,
    cseq: u32,
    branch: &str,
    sdp: Option<&str>,
) -> String {
    let body = sdp.map(|s| s.replace('\n', "\r\n")).unwrap_or_default();
    let ct = if sdp.is_some() {
        "Content-Type: application/sdp\n"
    } else {
        ""
    };
    format!(
        "{method} sip:alice@198.51.100.7:5062 SIP/2.0\n\
         Via: SIP/2.0/UDP 198.51.100.7:5062;branch={branch};rport\n\
         From: \"Alice\" <sip:alice@198.51.100.7>;tag=caller1\n\
         To: <sip:+14255550100@192.0.2.1>;tag={to_tag}\n\
         Call-ID: {call_id}\n\
         CSeq: {cseq} {method}\n\
         Contact: <sip:alice@198.51.100.7:5062>\n\
         Max-Forwards: 70\n\
         {ct}Content-Length: {}\n\n{body}",
        body.len()
    )
}

/// The To tag of a response.
pub fn to_tag(resp: &Response) -> String {
    resp.headers
        .to()
        .and_then(|t| t.tag().map(str::to_owned))
        .expect("response has a To tag")
}

/// Requests sent to `peer` (removing everything sent).
pub fn requests_to(h: &mut Harness, peer: &str) -> Vec<Request> {
    let sent: Vec<_> = h.sent.drain(..).collect();
    sent.into_iter()
        .filter(|(p, _)| p.addr.to_string() == peer)
        .filter_map(|(_, m)| match m {
            Message::Request(r) => Some(r),
            _ => None,
        })
        .collect()
}

pub fn methods(reqs: &[Request]) -> Vec<Method> {
    reqs.iter().map(|r| r.method.clone()).collect()
}

/// The agent's response to `req` (a To tag; an SDP answer on 2xx).
pub fn reply(req: &Request, status: u16, tag: &str) -> String {
    let mut out = format!("SIP/2.0 {status} Reason\n");
    for name in [
        HeaderName::Via,
        HeaderName::From,
        HeaderName::CallId,
        HeaderName::CSeq,
    ] {
        for v in req.headers.get_all(&name) {
            out.push_str(&format!("{name}: {v}\n"));
        }
    }
    let to = req.headers.get(&HeaderName::To).unwrap();
    if to.contains("tag=") {
        out.push_str(&format!("To: {to}\n"));
    } else {
        out.push_str(&format!("To: {to};tag={tag}\n"));
    }
    let host = req.uri.to_string();
    out.push_str(&format!("Contact: <{host}>\n"));
    let body = if status == 200 && req.method == Method::Invite {
        "v=0\r\no=a 1 1 IN IP4 198.51.100.20\r\ns=-\r\nc=IN IP4 198.51.100.20\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    } else {
        ""
    };
    if !body.is_empty() {
        out.push_str("Content-Type: application/sdp\n");
    }
    out.push_str(&format!("Content-Length: {}\n\n{body}", body.len()));
    out
}

/// A caller dials the queue and ACKs the 200. Returns our To tag.
pub fn caller_arrives(h: &mut Harness, call_id: &str) -> String {
    caller_arrives_with(h, call_id, "")
}

/// [`caller_arrives`] with `headers` (lines ending in `\n`) added to the INVITE.
pub fn caller_arrives_with(h: &mut Harness, call_id: &str, headers: &str) -> String {
    let text = invite(
        "+14255550100",
        call_id,
        &format!("z9hG4bK{call_id}"),
        Some(SDP_PCMU),
    )
    .replace(
        "Max-Forwards: 70\n",
        &format!("Max-Forwards: 70\n{headers}"),
    );
    h.send(&text);
    let tag = to_tag(&h.last_response(200).expect("caller answered"));
    h.send(&in_dialog(
        "ACK",
        call_id,
        &tag,
        1,
        &format!("z9hG4bK{call_id}a"),
        None,
    ));
    tag
}
