//! An agent's phone, or the trunk's far end, as the property test plays it: the UAS of the
//! INVITEs holdline sends (RFC 3261 §13.3), answered 1xx / 200 / 486 when the test says so,
//! a CANCEL (§9.2) answered 200 and then 487 when the test says so; the UAC of BYE and REFER
//! (RFC 3515) in dialogs it answered. BYE and NOTIFY from holdline get 200 at once, requests
//! for a dialog it does not have get 481, retransmissions get the response already sent.
//!
//! What it checks: a BYE or REFER of its own in a dialog still up never gets 481, and the
//! trunk is only ever asked for numbers its allow list admits (toll fraud). Whether its 2xx
//! was ACKed the test reads from [`PState`].

use std::collections::HashMap;
use std::net::SocketAddr;

use holdline::sip::header::HeaderName;
use holdline::sip::message::{Message, Request, Response};
use holdline::sip::transaction::response_for;
use holdline::sip::Method;
use holdline::time::Time;

use super::{branch_of, SIXTY_FOUR_T1};

/// The SDP answer of every phone.
const ANSWER: &str = "v=0\r\no=a 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                      m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

/// Where one of the phone's dialogs is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PState {
    /// The INVITE has no final response yet.
    Offered,
    /// 200 sent, no ACK yet.
    Answered,
    Confirmed,
    Ended,
}

#[derive(Debug)]
pub struct PhoneDialog {
    pub call_id: String,
    invite: Request,
    tag: String,
    pub state: PState,
    /// A CANCEL not answered yet.
    pub cancel: Option<Request>,
    /// When the first CANCEL came.
    cancelled_at: Option<Time>,
    /// A provisional response was sent: the INVITE's transaction waits for a final one
    /// without a timer (§17.1.1.2: Timer B stops at the first 1xx).
    rang: bool,
    /// When the INVITE came.
    at: Time,
    cseq: u32,
    /// Our requests awaiting a final response, by CSeq.
    awaiting: HashMap<u32, Method>,
}

/// A phone (or the trunk) at `addr`.
#[derive(Debug)]
pub struct Phone {
    pub name: String,
    pub addr: SocketAddr,
    /// The trunk: every INVITE must be for an allowed number.
    pub trunk: bool,
    pub dialogs: Vec<PhoneDialog>,
    /// The From of every INVITE received, in order.
    pub invited_by: Vec<String>,
    n: u32,
    answered: HashMap<(String, String), Vec<u8>>,
    pub outbox: Vec<Vec<u8>>,
    pub failures: Vec<String>,
}

impl Phone {
    pub fn new(name: &str, addr: SocketAddr, trunk: bool) -> Phone {
        Phone {
            name: name.to_owned(),
            addr,
            trunk,
            dialogs: Vec::new(),
            invited_by: Vec::new(),
            n: 0,
            answered: HashMap::new(),
            outbox: Vec::new(),
            failures: Vec::new(),
        }
    }

    /// Indices of the dialogs in `state`.
    fn in_state(&self, state: PState) -> Vec<usize> {
        (0..self.dialogs.len())
            .filter(|&i| self.dialogs[i].state == state)
            .collect()
    }

    fn pick(&self, state: PState, pick: usize) -> Option<usize> {
        let found = self.in_state(state);
        (!found.is_empty()).then(|| found[pick % found.len()])
    }

    /// Answers the `pick`th offered INVITE with `status`. Returns, on a 2xx, its Call-ID
    /// when holdline's transaction must still be there to ACK it: the INVITE rang or 64·T1
    /// (Timer B) have not passed since it came, and 64·T1 have not passed since a CANCEL
    /// (§9.1: then the transaction may be destroyed). A 2xx after that is a stray response
    /// that §18.1.2 discards.
    pub fn respond(&mut self, now: Time, pick: usize, status: u16) -> Option<String> {
        let i = self.pick(PState::Offered, pick)?;
        let d = &mut self.dialogs[i];
        let waiting = (d.rang || now < d.at + SIXTY_FOUR_T1)
            && d.cancelled_at.is_none_or(|at| now < at + SIXTY_FOUR_T1);
        // A provisional response stops Timer B only if it reached the transaction in time.
        d.rang |= waiting && status < 200;
        self.respond_at(i, status).filter(|_| waiting)
    }

    /// Answers every offered INVITE: a pending CANCEL with 200 and 487, the rest with
    /// `status`. Without one, an INVITE not answered at all is left to holdline's timers, and
    /// one that rang gets 480 (the phone's or the carrier's own no-answer timer: holdline
    /// has none on a forward leg, and §17.1.1.2 gives the transaction none after a 1xx).
    pub fn answer_all(&mut self, status: Option<u16>) {
        for i in self.in_state(PState::Offered) {
            let d = &self.dialogs[i];
            match (d.cancel.is_some(), status, d.rang) {
                (true, _, _) => self.answer_cancel_at(i),
                (false, Some(status), _) => drop(self.respond_at(i, status)),
                (false, None, true) => drop(self.respond_at(i, 480)),
                (false, None, false) => {}
            }
        }
    }

    fn respond_at(&mut self, i: usize, status: u16) -> Option<String> {
        let d = &mut self.dialogs[i];
        let mut resp = response_for(&d.invite, status, Some(&d.tag));
        if (101..300).contains(&status) {
            resp.headers.push(
                HeaderName::Contact,
                format!("<sip:{}@{}>", self.name, self.addr),
            );
        }
        if status == 200 {
            resp.headers
                .push(HeaderName::ContentType, "application/sdp");
            resp.body = ANSWER.as_bytes().to_vec();
        }
        let bytes = resp.to_bytes();
        d.state = match status {
            ..=199 => PState::Offered,
            200..=299 => PState::Answered,
            _ => PState::Ended,
        };
        let (invite, call_id) = (d.invite.clone(), d.call_id.clone());
        self.remember(&invite, bytes);
        // A CANCEL that crossed our final response has no effect but its 200 (§9.2).
        if status >= 200 {
            if let Some(cancel) = self.dialogs[i].cancel.take() {
                self.reply(&cancel, 200, None);
            }
        }
        (200..300).contains(&status).then_some(call_id)
    }

    /// Answers the `pick`th pending CANCEL: 200, then 487 to its INVITE (§9.2).
    pub fn answer_cancel(&mut self, pick: usize) {
        let cancelled: Vec<usize> = (0..self.dialogs.len())
            .filter(|&i| self.dialogs[i].state == PState::Offered)
            .filter(|&i| self.dialogs[i].cancel.is_some())
            .collect();
        if cancelled.is_empty() {
            return;
        }
        self.answer_cancel_at(cancelled[pick % cancelled.len()]);
    }

    fn answer_cancel_at(&mut self, i: usize) {
        let Some(cancel) = self.dialogs[i].cancel.take() else {
            return;
        };
        self.reply(&cancel, 200, None);
        self.dialogs[i].state = PState::Ended;
        let (invite, tag) = (self.dialogs[i].invite.clone(), self.dialogs[i].tag.clone());
        self.reply(&invite, 487, Some(&tag));
    }

    /// Hangs up the `pick`th confirmed dialog.
    pub fn bye(&mut self, pick: usize) {
        if let Some(i) = self.pick(PState::Confirmed, pick) {
            self.send_in_dialog(i, Method::Bye, None);
            self.dialogs[i].state = PState::Ended;
        }
    }

    /// Transfers the other party of the `pick`th confirmed dialog to `target` (REFER).
    pub fn refer(&mut self, pick: usize, target: &str) {
        if let Some(i) = self.pick(PState::Confirmed, pick) {
            self.send_in_dialog(i, Method::Refer, Some(target));
        }
    }

    /// Where the dialog of `call_id` is.
    pub fn state_of(&self, call_id: &str) -> Option<PState> {
        self.dialogs
            .iter()
            .find(|d| d.call_id == call_id)
            .map(|d| d.state)
    }

    /// Confirmed dialogs left.
    pub fn confirmed(&self) -> usize {
        self.in_state(PState::Confirmed).len()
    }

    fn send_in_dialog(&mut self, i: usize, method: Method, refer_to: Option<&str>) {
        self.n += 1;
        let branch = format!("z9hG4bK{}-{}", self.name, self.n);
        let (name, addr) = (self.name.clone(), self.addr);
        let d = &mut self.dialogs[i];
        d.cseq += 1;
        d.awaiting.insert(d.cseq, method.clone());
        let target = d
            .invite
            .headers
            .contacts()
            .into_iter()
            .next()
            .map(|c| c.uri)
            .unwrap_or_else(|| d.invite.uri.clone());
        let mut req = Request::new(method.clone(), target);
        let h = &mut req.headers;
        h.push(
            HeaderName::Via,
            format!("SIP/2.0/UDP {addr};branch={branch};rport"),
        );
        h.push(HeaderName::MaxForwards, "70");
        let to = d.invite.headers.get(&HeaderName::To).unwrap_or_default();
        h.push(HeaderName::From, format!("{to};tag={}", d.tag));
        let from = d.invite.headers.get(&HeaderName::From).unwrap_or_default();
        h.push(HeaderName::To, from);
        h.push(HeaderName::CallId, d.call_id.clone());
        h.push(HeaderName::CSeq, format!("{} {method}", d.cseq));
        h.push(HeaderName::Contact, format!("<sip:{name}@{addr}>"));
        if let Some(target) = refer_to {
            h.push(HeaderName::ReferTo, format!("<{target}>"));
        }
        self.outbox.push(req.to_bytes());
    }

    /// A response to `req` (our tag when its To has none), remembered for retransmissions.
    fn reply(&mut self, req: &Request, status: u16, tag: Option<&str>) {
        let tag = tag
            .map(str::to_owned)
            .unwrap_or_else(|| format!("{}-x", self.name));
        let bytes = response_for(req, status, Some(&tag)).to_bytes();
        self.remember(req, bytes);
    }

    fn remember(&mut self, req: &Request, bytes: Vec<u8>) {
        let key = (branch_of(&req.headers), req.method.to_string());
        self.answered.insert(key, bytes.clone());
        self.outbox.push(bytes);
    }

    /// A message holdline sent to this phone.
    pub fn deliver(&mut self, now: Time, msg: Message) {
        match msg {
            Message::Request(req) => self.on_request(now, req),
            Message::Response(resp) => self.on_response(resp),
        }
    }

    fn dialog(&mut self, call_id: Option<&str>) -> Option<usize> {
        let call_id = call_id?;
        self.dialogs.iter().position(|d| d.call_id == call_id)
    }

    fn on_request(&mut self, now: Time, req: Request) {
        let key = (branch_of(&req.headers), req.method.to_string());
        if let Some(bytes) = self.answered.get(&key) {
            if req.method != Method::Ack {
                self.outbox.push(bytes.clone());
            }
            return;
        }
        let found = self.dialog(req.headers.call_id());
        match (req.method.clone(), found) {
            // A retransmission before any response (holdline sends no re-INVITEs).
            (Method::Invite, Some(_)) => {}
            (Method::Invite, None) => self.on_invite(now, req),
            (Method::Ack, Some(i)) => {
                if self.dialogs[i].state == PState::Answered {
                    self.dialogs[i].state = PState::Confirmed;
                }
            }
            (Method::Ack, None) => {}
            (Method::Cancel, Some(i)) if self.dialogs[i].state == PState::Offered => {
                let d = &mut self.dialogs[i];
                d.cancelled_at.get_or_insert(now);
                d.cancel = Some(req);
            }
            (Method::Cancel, Some(_)) => self.reply(&req, 200, None),
            (Method::Bye, Some(i))
                if matches!(self.dialogs[i].state, PState::Answered | PState::Confirmed) =>
            {
                self.dialogs[i].state = PState::Ended;
                self.reply(&req, 200, None);
            }
            (Method::Notify, Some(i)) if self.dialogs[i].state != PState::Ended => {
                self.reply(&req, 200, None)
            }
            (Method::Bye | Method::Notify | Method::Cancel, _) => self.reply(&req, 481, None),
            _ => self.reply(&req, 501, None),
        }
    }

    fn on_invite(&mut self, now: Time, req: Request) {
        if self.trunk && !req.uri.to_string().starts_with("sip:+1425") {
            self.failures.push(format!(
                "the trunk was asked for {}, which no allow list admits",
                req.uri
            ));
        }
        self.invited_by.push(
            req.headers
                .get(&HeaderName::From)
                .unwrap_or_default()
                .to_owned(),
        );
        self.n += 1;
        self.dialogs.push(PhoneDialog {
            call_id: req.headers.call_id().unwrap_or_default().to_owned(),
            tag: format!("{}-{}", self.name, self.n),
            invite: req,
            state: PState::Offered,
            cancel: None,
            cancelled_at: None,
            rang: false,
            at: now,
            cseq: 0,
            awaiting: HashMap::new(),
        });
    }

    fn on_response(&mut self, resp: Response) {
        let Some(i) = self.dialog(resp.headers.call_id()) else {
            return;
        };
        let (Some(cseq), true) = (resp.headers.cseq(), resp.status >= 200) else {
            return;
        };
        let d = &mut self.dialogs[i];
        // Sent only in a confirmed dialog: a 481 means holdline forgot a live one.
        if let (Some(method), 481) = (d.awaiting.remove(&cseq.seq), resp.status) {
            self.failures.push(format!(
                "{}: {method} in the live dialog {} got 481",
                self.name, d.call_id
            ));
        }
    }
}
