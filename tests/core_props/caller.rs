//! A caller's phone as the property test plays it: one call at a time, each an INVITE to a
//! service number (RFC 3261 §13.2), the ACK for a 2xx when the test says so and for a non-2xx
//! at once (§17.1.1.3), CANCEL (§9.1) and BYE (§15.1.1) when the test says so. It takes
//! holdline's requests the way a UA does: BYE gets 200, a REFER (RFC 3515) waits for the test
//! to answer 202 or 603 and to send NOTIFYs with a sipfrag, anything for a dialog it no longer
//! has gets 481, and a retransmitted request gets the response it already got.
//!
//! What it checks: a request of its own for a dialog still up (BYE, or a NOTIFY for a REFER
//! whose subscription cannot have lapsed yet) never gets 481.

use std::collections::HashMap;
use std::net::SocketAddr;

use holdline::sip::header::HeaderName;
use holdline::sip::message::{Message, Request, Response};
use holdline::sip::transaction::{build_ack, build_cancel, response_for};
use holdline::sip::Method;
use holdline::time::Time;

use super::{branch_of, parse_request, SDP, SIXTY_FOUR_T1};

/// Where a call is, from the caller's side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallState {
    /// INVITE sent, no final response yet.
    Calling { cancelled: bool },
    /// A 2xx arrived (ACKed or not yet).
    Up { acked: bool },
    /// Refused, cancelled or hung up (by either side).
    Done,
}

/// A REFER from holdline to this caller's side and its implicit subscription.
#[derive(Clone, Debug)]
pub struct Refer {
    req: Request,
    /// When it arrived: holdline waits 64·T1 from then for the outcome.
    pub at: Time,
    pub state: ReferState,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReferState {
    /// Not answered yet.
    Pending,
    /// 202 sent; no final NOTIFY yet.
    Accepted,
    Done,
}

/// One call of the caller.
#[derive(Debug)]
pub struct CallerCall {
    pub call_id: String,
    invite: Request,
    pub state: CallState,
    /// The 2xx to our INVITE: the dialog's To tag and holdline's Contact.
    ok: Option<Response>,
    cseq: u32,
    pub refers: Vec<Refer>,
    /// Our in-dialog requests awaiting a final response, by CSeq: whether a 481 would mean
    /// holdline forgot a dialog (or subscription) that is still live.
    awaiting: HashMap<u32, bool>,
}

/// A caller's phone.
#[derive(Debug)]
pub struct Caller {
    pub name: String,
    pub addr: SocketAddr,
    pub call: Option<CallerCall>,
    calls: u32,
    branches: u32,
    /// The response sent to each request, by (branch, method), for retransmissions.
    answered: HashMap<(String, String), Vec<u8>>,
    pub outbox: Vec<Vec<u8>>,
    pub failures: Vec<String>,
}

impl Caller {
    pub fn new(index: usize, addr: SocketAddr) -> Caller {
        Caller {
            name: format!("caller{index}"),
            addr,
            call: None,
            calls: 0,
            branches: 0,
            answered: HashMap::new(),
            outbox: Vec::new(),
            failures: Vec::new(),
        }
    }

    /// The live call, if any (not `Done`).
    pub fn live(&self) -> Option<&CallerCall> {
        self.call.as_ref().filter(|c| c.state != CallState::Done)
    }

    fn branch(&mut self) -> String {
        self.branches += 1;
        format!("z9hG4bK{}-{}", self.name, self.branches)
    }

    fn via(&mut self) -> String {
        let branch = self.branch();
        format!("SIP/2.0/UDP {};branch={branch};rport", self.addr)
    }

    /// Dials `number` unless a call is in progress; `refer` lists REFER in Allow.
    pub fn invite(&mut self, number: &str, refer: bool) {
        if self.live().is_some() {
            return;
        }
        self.calls += 1;
        let (name, addr, n) = (self.name.clone(), self.addr, self.calls);
        let call_id = format!("{name}-{n}@props");
        let allow = if refer {
            "Allow: INVITE, ACK, CANCEL, BYE, REFER, NOTIFY\r\n"
        } else {
            "Allow: INVITE, ACK, CANCEL, BYE\r\n"
        };
        let via = self.via();
        let text = format!(
            "INVITE sip:{number}@127.0.0.1 SIP/2.0\r\n\
             Via: {via}\r\n\
             From: \"Caller\" <sip:{name}@127.0.0.1>;tag={name}-{n}\r\n\
             To: <sip:{number}@127.0.0.1>\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: 1 INVITE\r\n\
             Contact: <sip:{name}@{addr}>\r\n\
             Max-Forwards: 70\r\n\
             {allow}\
             Content-Type: application/sdp\r\n\
             Content-Length: {}\r\n\r\n{SDP}",
            SDP.len()
        );
        let invite = parse_request(text.as_bytes());
        self.outbox.push(text.into_bytes());
        self.call = Some(CallerCall {
            call_id,
            invite,
            state: CallState::Calling { cancelled: false },
            ok: None,
            cseq: 1,
            refers: Vec::new(),
            awaiting: HashMap::new(),
        });
    }

    /// ACKs the 2xx not ACKed yet.
    pub fn ack(&mut self) {
        let Some(call) = self.call.as_mut() else {
            return;
        };
        if call.state == (CallState::Up { acked: false }) {
            call.state = CallState::Up { acked: true };
            self.send_ack();
        }
    }

    /// CANCELs an INVITE with no final response yet.
    pub fn cancel(&mut self) {
        let Some(call) = self.call.as_mut() else {
            return;
        };
        if call.state == (CallState::Calling { cancelled: false }) {
            call.state = CallState::Calling { cancelled: true };
            let cancel = build_cancel(&call.invite);
            self.outbox.push(cancel.to_bytes());
        }
    }

    /// Hangs up an established call.
    pub fn bye(&mut self) {
        if !matches!(self.live().map(|c| c.state), Some(CallState::Up { .. })) {
            return;
        }
        self.send_in_dialog(Method::Bye, Vec::new(), Vec::new(), true);
        if let Some(call) = self.call.as_mut() {
            call.state = CallState::Done;
            for r in &mut call.refers {
                r.state = ReferState::Done;
            }
        }
    }

    /// Answers the REFER waiting for an answer (202 or a refusal); returns when it came.
    pub fn answer_refer(&mut self, status: u16) -> Option<Time> {
        let call = self.call.as_mut()?;
        let refer = call
            .refers
            .iter_mut()
            .rfind(|r| r.state == ReferState::Pending)?;
        refer.state = if status < 300 {
            ReferState::Accepted
        } else {
            ReferState::Done
        };
        let (req, at) = (refer.req.clone(), refer.at);
        self.respond(&req, status);
        Some(at)
    }

    /// A NOTIFY for the accepted REFER with the sipfrag `SIP/2.0 {frag}`; a final one ends
    /// the subscription. Returns, when one was sent, whether holdline certainly still waits
    /// for it (64·T1 from its REFER have not passed).
    pub fn notify(&mut self, now: Time, frag: u16) -> Option<bool> {
        let call = self.call.as_mut()?;
        if !matches!(call.state, CallState::Up { .. }) {
            return None;
        }
        let refer = call
            .refers
            .iter_mut()
            .rfind(|r| r.state == ReferState::Accepted)?;
        // Holdline waits 64·T1 from its REFER for the outcome; until then the subscription
        // is certainly its.
        let live = now < refer.at + SIXTY_FOUR_T1;
        let state = if frag >= 200 {
            refer.state = ReferState::Done;
            "terminated;reason=noresource"
        } else {
            "active;expires=60"
        };
        let reason = match frag {
            100 => "Trying",
            200 => "OK",
            _ => "Service Unavailable",
        };
        let headers = vec![
            (HeaderName::Event, "refer".to_owned()),
            (HeaderName::SubscriptionState, state.to_owned()),
            (HeaderName::ContentType, "message/sipfrag".to_owned()),
        ];
        let body = format!("SIP/2.0 {frag} {reason}\r\n").into_bytes();
        self.send_in_dialog(Method::Notify, headers, body, live);
        Some(live)
    }

    /// Whether this caller has a REFER waiting for an answer or an accepted one.
    pub fn refer_open(&self) -> (bool, bool) {
        let refers = self
            .call
            .as_ref()
            .map(|c| c.refers.as_slice())
            .unwrap_or(&[]);
        (
            refers.iter().any(|r| r.state == ReferState::Pending),
            refers.iter().any(|r| r.state == ReferState::Accepted),
        )
    }

    fn send_ack(&mut self) {
        let via = self.via();
        let Some(call) = self.call.as_ref() else {
            return;
        };
        let Some(ok) = call.ok.as_ref() else {
            return;
        };
        let mut ack = Request::new(Method::Ack, remote_target(ok, &call.invite));
        let h = &mut ack.headers;
        h.push(HeaderName::Via, via);
        h.push(HeaderName::MaxForwards, "70");
        copy(&call.invite, h, HeaderName::From);
        h.push(
            HeaderName::To,
            ok.headers.get(&HeaderName::To).unwrap_or_default(),
        );
        copy(&call.invite, h, HeaderName::CallId);
        h.push(HeaderName::CSeq, "1 ACK");
        self.outbox.push(ack.to_bytes());
    }

    fn send_in_dialog(
        &mut self,
        method: Method,
        headers: Vec<(HeaderName, String)>,
        body: Vec<u8>,
        expect_live: bool,
    ) {
        let via = self.via();
        let Some(call) = self.call.as_mut() else {
            return;
        };
        let Some(ok) = call.ok.as_ref() else {
            return;
        };
        call.cseq += 1;
        call.awaiting.insert(call.cseq, expect_live);
        let mut req = Request::new(method.clone(), remote_target(ok, &call.invite));
        let h = &mut req.headers;
        h.push(HeaderName::Via, via);
        h.push(HeaderName::MaxForwards, "70");
        copy(&call.invite, h, HeaderName::From);
        h.push(
            HeaderName::To,
            ok.headers.get(&HeaderName::To).unwrap_or_default(),
        );
        copy(&call.invite, h, HeaderName::CallId);
        h.push(HeaderName::CSeq, format!("{} {method}", call.cseq));
        copy(&call.invite, h, HeaderName::Contact);
        for (name, value) in headers {
            h.push(name, value);
        }
        req.body = body;
        self.outbox.push(req.to_bytes());
    }

    fn respond(&mut self, req: &Request, status: u16) {
        let resp = response_for(req, status, Some(&format!("{}-x", self.name)));
        let bytes = resp.to_bytes();
        let key = (branch_of(&req.headers), req.method.to_string());
        self.answered.insert(key, bytes.clone());
        self.outbox.push(bytes);
    }

    /// A message holdline sent to this caller.
    pub fn deliver(&mut self, now: Time, msg: Message) {
        match msg {
            Message::Response(resp) => self.on_response(resp),
            Message::Request(req) => self.on_request(now, req),
        }
    }

    fn on_response(&mut self, resp: Response) {
        let Some(call) = self.call.as_mut() else {
            return;
        };
        if resp.headers.call_id() != Some(call.call_id.as_str()) {
            return;
        }
        let Some(cseq) = resp.headers.cseq() else {
            return;
        };
        match cseq.method {
            Method::Invite if resp.status < 200 => {}
            Method::Invite if resp.status < 300 => match call.state {
                CallState::Calling { .. } => {
                    call.state = CallState::Up { acked: false };
                    call.ok = Some(resp);
                }
                // §13.2.2.4: every retransmission of the 2xx is ACKed.
                CallState::Up { acked: true } | CallState::Done if call.ok.is_some() => {
                    self.send_ack()
                }
                _ => {}
            },
            Method::Invite => {
                // §17.1.1.3: the transaction ACKs every non-2xx final response.
                let ack = build_ack(&call.invite, &resp);
                if let CallState::Calling { .. } = call.state {
                    call.state = CallState::Done;
                }
                self.outbox.push(ack.to_bytes());
            }
            Method::Cancel => {}
            method if resp.status >= 200 => {
                let live = call.awaiting.remove(&cseq.seq) == Some(true);
                if live && resp.status == 481 {
                    self.failures.push(format!(
                        "{}: {method} in the live dialog {} got 481",
                        self.name, call.call_id
                    ));
                }
            }
            _ => {}
        }
    }

    fn on_request(&mut self, now: Time, req: Request) {
        let key = (branch_of(&req.headers), req.method.to_string());
        if let Some(bytes) = self.answered.get(&key) {
            self.outbox.push(bytes.clone());
            return;
        }
        if req.method == Method::Ack {
            return;
        }
        let branch = key.0;
        let live = self
            .call
            .as_mut()
            .filter(|c| req.headers.call_id() == Some(c.call_id.as_str()))
            .filter(|c| c.state != CallState::Done);
        let Some(call) = live else {
            return self.respond(&req, 481);
        };
        match req.method {
            Method::Bye => {
                call.state = CallState::Done;
                for r in &mut call.refers {
                    r.state = ReferState::Done;
                }
                self.respond(&req, 200);
            }
            Method::Refer if matches!(call.state, CallState::Up { .. }) => {
                // A retransmission of a REFER not answered yet changes nothing.
                if !call
                    .refers
                    .iter()
                    .any(|r| branch_of(&r.req.headers) == branch)
                {
                    call.refers.push(Refer {
                        req,
                        at: now,
                        state: ReferState::Pending,
                    });
                }
            }
            Method::Refer => self.respond(&req, 481),
            _ => self.respond(&req, 501),
        }
    }
}

/// Holdline's Contact in its 2xx: where in-dialog requests go (§12.1.2).
fn remote_target(ok: &Response, invite: &Request) -> holdline::sip::uri::Uri {
    ok.headers
        .contacts()
        .into_iter()
        .next()
        .map(|c| c.uri)
        .unwrap_or_else(|| invite.uri.clone())
}

fn copy(from: &Request, to: &mut holdline::sip::header::Headers, name: HeaderName) {
    if let Some(v) = from.headers.get(&name) {
        to.push(name, v.to_owned());
    }
}
