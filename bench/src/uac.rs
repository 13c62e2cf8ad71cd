//! One bench call as a sans-IO UAC: INVITE with an SDP offer, ACK, hold, BYE (RFC 3261 §13.2,
//! §17.1.1 and §17.1.2 over UDP), plus answering a BYE from the server (§15.1.2).
//!
//! The call is a plain struct driven by [`Call::handle_message`] and [`Call::handle_timeout`]
//! with `now`; it queues datagrams to send ([`Call::poll_transmit`]), what happened
//! ([`Call::poll_event`]) and its next deadline ([`Call::poll_timeout`]). The driver owns the
//! socket and the clock, so every retransmission rule is checked on virtual time in the tests.
//! The dialog a 2xx makes (remote target, route set, CSeq; the ACK and the BYE built in it) is
//! holdline's own [`holdline::sip::dialog::Dialog`], on the bench's Via and branches.
//!
//! Timers: the INVITE is retransmitted at T1, 2·T1, 4·T1 … (Timer A, §17.1.1.2) until any
//! response; with no final response the call times out after `setup_timeout` (Timer B, 64·T1 by
//! default) and, if something provisional came, a CANCEL is sent (§9.1). The BYE is
//! retransmitted at T1 doubling up to T2 (Timer E) and abandoned after 64·T1 (Timer F,
//! §17.1.2.2). Deliberately not done: authentication, PRACK, forking (only the first 2xx makes
//! the dialog), and retransmitting our own 2xx to a server re-INVITE (loopback does not lose it).

use std::collections::VecDeque;
use std::time::Duration;

use serde::Serialize;

use crate::messages::{self, branch, Answer, BadNumber, CallIds, Offer};
use holdline::sip::dialog::Dialog;
use holdline::sip::header::HeaderName;
use holdline::sip::message::{Message, Request, Response};
use holdline::sip::method::Method;
use holdline::time::Time;

/// The INVITE's CSeq number (`CallIds::invite`); the BYE is the dialog's next, 2.
const INVITE_CSEQ: u32 = 1;

/// Settings shared by every call of a run.
#[derive(Clone, Copy, Debug)]
pub struct CallSettings {
    /// RFC 3261 T1 (500 ms).
    pub t1: Duration,
    /// RFC 3261 T2 (4 s).
    pub t2: Duration,
    /// Give up on a call with no final response after this long (Timer B).
    pub setup_timeout: Duration,
    /// How long to stay on the call after the 2xx before sending BYE.
    pub hold: Duration,
    /// Makes branches unique across runs.
    pub nonce: u64,
}

/// How a call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Outcome {
    /// Answered, held, our BYE got a 2xx: ended cleanly.
    Completed,
    /// Answered, and the server hung up with BYE before our hold time ended.
    ServerHangup,
    /// Answered, but our BYE got no final response.
    ByeTimedOut,
    /// Answered, but our BYE got a non-2xx final response.
    ByeRejected { status: u16 },
    /// The INVITE got a non-2xx final response.
    Failed { status: u16 },
    /// The INVITE got no final response in time.
    TimedOut,
    /// Still in progress when the run ended.
    Unfinished,
}

impl Outcome {
    /// Whether the INVITE was answered with a 2xx.
    pub fn answered(self) -> bool {
        matches!(
            self,
            Outcome::Completed
                | Outcome::ServerHangup
                | Outcome::ByeTimedOut
                | Outcome::ByeRejected { .. }
        )
    }
}

/// Something the driver acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallEvent {
    /// The first 2xx: INVITE sent → 2xx received, and what the SDP answer chose.
    Answered {
        setup: Duration,
        answer: Option<Answer>,
    },
    /// The call is over; its RTP receiver can stop.
    Finished(Outcome),
}

/// Per-call signalling counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SipCounters {
    pub invite_retransmits: u64,
    pub bye_retransmits: u64,
    pub provisional: u64,
    /// Requests the server sent inside the dialog other than BYE (re-INVITE, UPDATE, …).
    pub server_requests: u64,
}

impl SipCounters {
    pub fn add(&mut self, o: &SipCounters) {
        self.invite_retransmits += o.invite_retransmits;
        self.bye_retransmits += o.bye_retransmits;
        self.provisional += o.provisional;
        self.server_requests += o.server_requests;
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Calling {
        retransmit_at: Time,
        interval: Duration,
    },
    Proceeding,
    Confirmed {
        hang_up_at: Time,
    },
    Terminating {
        retransmit_at: Time,
        interval: Duration,
        give_up_at: Time,
    },
    Done,
}

/// One call placed by the load tool.
#[derive(Debug)]
pub struct Call {
    index: u64,
    ids: CallIds,
    settings: CallSettings,
    offer: Offer,
    invite: Request,
    invite_bytes: Vec<u8>,
    started: Time,
    setup_deadline: Time,
    dialog: Option<Dialog>,
    /// The last ACK sent, resent for each retransmitted final response (§13.2.2.4, §17.1.1.3).
    ack: Option<Vec<u8>>,
    bye: Option<Vec<u8>>,
    state: State,
    outcome: Option<Outcome>,
    transmit: VecDeque<Vec<u8>>,
    events: VecDeque<CallEvent>,
    pub counters: SipCounters,
}

impl Call {
    /// Sends the INVITE at `now`.
    pub fn start(
        index: u64,
        ids: CallIds,
        offer: Offer,
        settings: CallSettings,
        now: Time,
    ) -> Result<Call, BadNumber> {
        let invite = ids.invite(
            ids.request_uri()?,
            &branch(settings.nonce, index, 0),
            &offer,
        );
        let invite_bytes = invite.to_bytes();
        let mut call = Call {
            index,
            ids,
            settings,
            offer,
            invite,
            invite_bytes: invite_bytes.clone(),
            started: now,
            setup_deadline: now + settings.setup_timeout,
            dialog: None,
            ack: None,
            bye: None,
            state: State::Calling {
                retransmit_at: now + settings.t1,
                interval: settings.t1,
            },
            outcome: None,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            counters: SipCounters::default(),
        };
        call.transmit.push_back(invite_bytes);
        Ok(call)
    }

    pub fn call_id(&self) -> &str {
        &self.ids.call_id
    }

    pub fn outcome(&self) -> Option<Outcome> {
        self.outcome
    }

    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmit.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<CallEvent> {
        self.events.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Time> {
        match self.state {
            State::Calling { retransmit_at, .. } => Some(retransmit_at.min(self.setup_deadline)),
            State::Proceeding => Some(self.setup_deadline),
            State::Confirmed { hang_up_at } => Some(hang_up_at),
            State::Terminating {
                retransmit_at,
                give_up_at,
                ..
            } => Some(retransmit_at.min(give_up_at)),
            State::Done => None,
        }
    }

    /// Ends a call the run is abandoning; it reports [`Outcome::Unfinished`].
    pub fn abort(&mut self) {
        if self.state != State::Done {
            self.finish(Outcome::Unfinished);
        }
    }

    pub fn handle_timeout(&mut self, now: Time) {
        match self.state {
            State::Calling { .. } | State::Proceeding if now >= self.setup_deadline => {
                if self.state == State::Proceeding {
                    // §9.1: a CANCEL so the server stops ringing us.
                    let cancel = self.cancel();
                    self.transmit.push_back(cancel);
                }
                self.finish(Outcome::TimedOut);
            }
            State::Calling {
                retransmit_at,
                interval,
            } if now >= retransmit_at => {
                self.counters.invite_retransmits += 1;
                self.transmit.push_back(self.invite_bytes.clone());
                let interval = interval * 2;
                self.state = State::Calling {
                    retransmit_at: now + interval,
                    interval,
                };
            }
            State::Confirmed { hang_up_at } if now >= hang_up_at => self.send_bye(now),
            State::Terminating { give_up_at, .. } if now >= give_up_at => {
                self.finish(Outcome::ByeTimedOut)
            }
            State::Terminating {
                retransmit_at,
                interval,
                give_up_at,
            } if now >= retransmit_at => {
                self.counters.bye_retransmits += 1;
                if let Some(bye) = &self.bye {
                    self.transmit.push_back(bye.clone());
                }
                let interval = (interval * 2).min(self.settings.t2);
                self.state = State::Terminating {
                    retransmit_at: now + interval,
                    interval,
                    give_up_at,
                };
            }
            _ => {}
        }
    }

    /// A message whose Call-ID is ours.
    pub fn handle_message(&mut self, msg: Message, now: Time) {
        match msg {
            Message::Response(r) => self.on_response(r, now),
            Message::Request(r) => self.on_request(r),
        }
    }

    fn on_response(&mut self, r: Response, now: Time) {
        let Some(cseq) = r.headers.cseq() else { return };
        match cseq.method {
            Method::Invite if cseq.seq == INVITE_CSEQ => self.on_invite_response(r, now),
            Method::Bye => {
                if let State::Terminating { .. } = self.state {
                    if r.status >= 300 {
                        self.finish(Outcome::ByeRejected { status: r.status });
                    } else if r.status >= 200 {
                        self.finish(Outcome::Completed);
                    }
                }
            }
            _ => {}
        }
    }

    fn on_invite_response(&mut self, r: Response, now: Time) {
        match self.state {
            State::Calling { .. } | State::Proceeding => {
                if r.is_provisional() {
                    // §17.1.1.2: any provisional response stops Timer A.
                    self.counters.provisional += 1;
                    self.state = State::Proceeding;
                } else if r.is_success() {
                    let answer = messages::read_answer(&r.body);
                    self.confirm(&r);
                    self.state = State::Confirmed {
                        hang_up_at: now + self.settings.hold,
                    };
                    self.events.push_back(CallEvent::Answered {
                        setup: now - self.started,
                        answer,
                    });
                } else {
                    let ack = self.ids.ack_for_failure(
                        &self.invite,
                        &r,
                        &branch(self.settings.nonce, self.index, 0),
                    );
                    self.send_ack(ack.to_bytes());
                    self.finish(Outcome::Failed { status: r.status });
                }
            }
            State::Done if self.outcome == Some(Outcome::TimedOut) && r.is_success() => {
                // A 2xx after we gave up: confirm and hang up at once so the server's call
                // does not linger (§13.2.2.4 still requires the ACK).
                self.confirm(&r);
                self.send_bye(now);
                self.state = State::Done;
            }
            _ if r.status >= 200 => {
                // A retransmitted final response: the ACK got lost or crossed it.
                if let Some(ack) = self.ack.clone() {
                    self.transmit.push_back(ack);
                }
            }
            _ => {}
        }
    }

    /// Makes the dialog from a 2xx (§12.1.2) and ACKs it (§13.2.2.4) on a branch of its own.
    fn confirm(&mut self, r: &Response) {
        let dialog = Dialog::uac(&self.invite, r);
        let ack = dialog.ack(
            INVITE_CSEQ,
            &self.ids.via(&branch(self.settings.nonce, self.index, 1)),
        );
        self.dialog = Some(dialog);
        self.send_ack(ack.to_bytes());
    }

    fn send_ack(&mut self, ack: Vec<u8>) {
        self.transmit.push_back(ack.clone());
        self.ack = Some(ack);
    }

    fn send_bye(&mut self, now: Time) {
        let via = self.ids.via(&branch(self.settings.nonce, self.index, 2));
        let Some(dialog) = &mut self.dialog else {
            return self.finish(Outcome::Unfinished);
        };
        // The dialog's next CSeq after the INVITE's: 2.
        let bye = dialog.request(Method::Bye, &via).to_bytes();
        self.transmit.push_back(bye.clone());
        self.bye = Some(bye);
        self.state = State::Terminating {
            retransmit_at: now + self.settings.t1,
            interval: self.settings.t1,
            give_up_at: now + self.settings.t1 * 64,
        };
    }

    fn cancel(&self) -> Vec<u8> {
        // §9.1: Request-URI, Call-ID, From, To, CSeq number and top Via as the INVITE.
        let mut req = Request::new(Method::Cancel, self.invite.uri.clone());
        for h in self.invite.headers.iter() {
            match h.name {
                HeaderName::Via
                | HeaderName::From
                | HeaderName::To
                | HeaderName::CallId
                | HeaderName::MaxForwards => req.headers.push(h.name.clone(), h.value.as_str()),
                _ => {}
            }
        }
        req.headers.push(HeaderName::CSeq, "1 CANCEL");
        req.to_bytes()
    }

    fn on_request(&mut self, r: Request) {
        let tag = self.ids.from_tag.clone();
        match r.method {
            Method::Ack => {}
            Method::Bye => {
                self.transmit
                    .push_back(messages::response_to(&r, 200, &tag).to_bytes());
                match self.state {
                    State::Confirmed { .. } => self.finish(Outcome::ServerHangup),
                    // Both sides hung up at once: the call still ended cleanly.
                    State::Terminating { .. } => self.finish(Outcome::Completed),
                    _ => {}
                }
            }
            Method::Invite => {
                self.counters.server_requests += 1;
                // A re-INVITE (session refresh, hold): answer with our unchanged media, a new
                // o= version (RFC 3264 §8).
                self.offer.session_version += 1;
                let mut resp = messages::response_to(&r, 200, &tag);
                resp.headers.push(
                    HeaderName::Contact,
                    format!("<sip:{}@{}>", messages::USER_AGENT, self.ids.local),
                );
                resp.headers
                    .push(HeaderName::ContentType, "application/sdp");
                resp.body = self.offer.sdp().into_bytes();
                self.transmit.push_back(resp.to_bytes());
            }
            Method::Options | Method::Update | Method::Info | Method::Notify => {
                self.counters.server_requests += 1;
                self.transmit
                    .push_back(messages::response_to(&r, 200, &tag).to_bytes());
            }
            _ => {
                self.counters.server_requests += 1;
                self.transmit
                    .push_back(messages::response_to(&r, 501, &tag).to_bytes());
            }
        }
    }

    fn finish(&mut self, outcome: Outcome) {
        self.state = State::Done;
        self.outcome = Some(outcome);
        self.events.push_back(CallEvent::Finished(outcome));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use holdline::sip::parse::{parse_datagram, Limits};
    use holdline::sip::sdp::Codec;

    const T1: Duration = Duration::from_millis(500);

    fn start(at: Time) -> Call {
        let ids = CallIds {
            call_id: "c7@bench".into(),
            from_tag: "ft7".into(),
            local: "127.0.0.1:40000".parse().unwrap(),
            number: "+14255550100".into(),
            server: "127.0.0.1:5060".parse().unwrap(),
        };
        let offer = Offer {
            rtp: "127.0.0.1:30000".parse().unwrap(),
            codec: Codec::Pcmu,
            ptime_ms: 20,
            session_version: 1,
        };
        let settings = CallSettings {
            t1: T1,
            t2: Duration::from_secs(4),
            setup_timeout: T1 * 64,
            hold: Duration::from_secs(10),
            nonce: 1,
        };
        Call::start(7, ids, offer, settings, at).unwrap()
    }

    fn parse(bytes: &[u8]) -> Message {
        parse_datagram(bytes, &Limits::default()).expect("the call sent a parseable message")
    }

    fn sent(call: &mut Call) -> Vec<Message> {
        std::iter::from_fn(|| call.poll_transmit())
            .map(|b| parse(&b))
            .collect()
    }

    fn request(m: &Message) -> &Request {
        match m {
            Message::Request(r) => r,
            Message::Response(_) => panic!("expected a request, got {m:?}"),
        }
    }

    /// The server's response to the call's INVITE.
    fn answer_invite(call: &Call, status: u16) -> Message {
        let mut r = messages::response_to(&call.invite, status, "srv");
        if status == 200 {
            r.headers
                .push(HeaderName::Contact, "<sip:queue@127.0.0.1:5060>");
            r.body = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n\
                       t=0 0\r\nm=audio 20000 RTP/AVP 0 101\r\n"
                .to_vec();
        }
        Message::Response(r)
    }

    fn answered_call() -> Call {
        let mut call = start(Time::ZERO);
        sent(&mut call);
        call.handle_message(answer_invite(&call, 200), Time::from_millis(30));
        call
    }

    #[test]
    fn invite_is_retransmitted_at_t1_doubling_until_a_response() {
        let mut call = start(Time::ZERO);
        assert_eq!(request(&sent(&mut call)[0]).method, Method::Invite);
        let mut at = Vec::new();
        while let Some(t) = call.poll_timeout() {
            if t > Time::from_millis(8000) {
                break;
            }
            call.handle_timeout(t);
            if !sent(&mut call).is_empty() {
                at.push(t.since_epoch().as_millis());
            }
        }
        assert_eq!(at, [500, 1500, 3500, 7500]);
        assert_eq!(call.counters.invite_retransmits, 4);
        call.handle_message(answer_invite(&call, 100), Time::from_millis(7600));
        assert_eq!(call.poll_timeout(), Some(Time::from_millis(32_000)));
    }

    #[test]
    fn no_response_times_out_after_timer_b() {
        let mut call = start(Time::ZERO);
        while let Some(t) = call.poll_timeout() {
            call.handle_timeout(t);
        }
        assert_eq!(call.outcome(), Some(Outcome::TimedOut));
        assert_eq!(call.counters.invite_retransmits, 6);
    }

    #[test]
    fn provisional_then_timeout_sends_cancel() {
        let mut call = start(Time::ZERO);
        sent(&mut call);
        call.handle_message(answer_invite(&call, 180), Time::from_millis(10));
        call.handle_timeout(Time::from_millis(32_000));
        let out = sent(&mut call);
        assert_eq!(request(&out[0]).method, Method::Cancel);
        assert_eq!(call.outcome(), Some(Outcome::TimedOut));
    }

    #[test]
    fn answered_call_is_acked_held_and_hung_up_cleanly() {
        let mut call = answered_call();
        assert_eq!(
            call.poll_event(),
            Some(CallEvent::Answered {
                setup: Duration::from_millis(30),
                answer: Some(Answer {
                    payload_type: Some(0),
                    rtp: Some("127.0.0.1:20000".parse().unwrap()),
                })
            })
        );
        let ack = sent(&mut call);
        let ack = request(&ack[0]);
        assert_eq!(ack.method, Method::Ack);
        assert_eq!(ack.uri.to_string(), "sip:queue@127.0.0.1:5060");
        assert_eq!(call.poll_timeout(), Some(Time::from_millis(10_030)));
        call.handle_timeout(Time::from_millis(10_030));
        let bye = sent(&mut call);
        let bye = request(&bye[0]).clone();
        assert_eq!(bye.method, Method::Bye);
        assert_eq!(bye.headers.to().unwrap().tag(), Some("srv"));
        let ok = messages::response_to(&bye, 200, "srv");
        call.handle_message(Message::Response(ok), Time::from_millis(10_031));
        assert_eq!(call.outcome(), Some(Outcome::Completed));
        assert_eq!(
            call.poll_event(),
            Some(CallEvent::Finished(Outcome::Completed))
        );
        assert_eq!(call.poll_timeout(), None);
    }

    #[test]
    fn bye_is_retransmitted_until_t2_and_abandoned_after_timer_f() {
        let mut call = answered_call();
        sent(&mut call);
        call.handle_timeout(Time::from_millis(10_030));
        sent(&mut call);
        let mut gaps = Vec::new();
        let mut last = Time::from_millis(10_030);
        while let Some(t) = call.poll_timeout() {
            call.handle_timeout(t);
            if !sent(&mut call).is_empty() {
                gaps.push((t - last).as_millis());
                last = t;
            }
        }
        assert_eq!(&gaps[..5], [500, 1000, 2000, 4000, 4000]);
        assert_eq!(call.outcome(), Some(Outcome::ByeTimedOut));
    }

    #[test]
    fn server_bye_is_answered_and_counted_as_a_server_hang_up() {
        let mut call = answered_call();
        sent(&mut call);
        let raw = "BYE sip:holdline-bench@127.0.0.1:40000 SIP/2.0\r\n\
                   Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKs1\r\n\
                   From: <sip:+14255550100@127.0.0.1>;tag=srv\r\n\
                   To: <sip:holdline-bench@127.0.0.1:40000>;tag=ft7\r\n\
                   Call-ID: c7@bench\r\nCSeq: 5 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
        call.handle_message(parse(raw.as_bytes()), Time::from_millis(2000));
        let out = sent(&mut call);
        let Message::Response(ok) = &out[0] else {
            panic!("expected 200 to BYE")
        };
        assert_eq!(ok.status, 200);
        assert_eq!(call.outcome(), Some(Outcome::ServerHangup));
        // A retransmitted BYE is answered again.
        call.handle_message(parse(raw.as_bytes()), Time::from_millis(2500));
        assert_eq!(sent(&mut call).len(), 1);
    }

    #[test]
    fn failure_response_is_acked_on_the_invite_branch_and_counted() {
        let mut call = start(Time::ZERO);
        sent(&mut call);
        call.handle_message(answer_invite(&call, 486), Time::from_millis(5));
        let out = sent(&mut call);
        let ack = request(&out[0]);
        assert_eq!(ack.method, Method::Ack);
        assert_eq!(
            ack.headers.top_via().unwrap().branch(),
            call.invite.headers.top_via().unwrap().branch()
        );
        assert_eq!(call.outcome(), Some(Outcome::Failed { status: 486 }));
        assert!(!Outcome::Failed { status: 486 }.answered());
        // The 486 retransmitted: ACK again.
        call.handle_message(answer_invite(&call, 486), Time::from_millis(505));
        assert_eq!(sent(&mut call).len(), 1);
    }

    #[test]
    fn retransmitted_200_is_acked_again() {
        let mut call = answered_call();
        assert_eq!(sent(&mut call).len(), 1);
        call.handle_message(answer_invite(&call, 200), Time::from_millis(530));
        let out = sent(&mut call);
        assert_eq!(request(&out[0]).method, Method::Ack);
        assert_eq!(call.counters.provisional, 0);
    }

    #[test]
    fn late_200_after_timeout_is_acked_and_hung_up() {
        let mut call = start(Time::ZERO);
        while let Some(t) = call.poll_timeout() {
            call.handle_timeout(t);
        }
        sent(&mut call);
        call.handle_message(answer_invite(&call, 200), Time::from_millis(33_000));
        let methods: Vec<Method> = sent(&mut call)
            .iter()
            .map(|m| request(m).method.clone())
            .collect();
        assert_eq!(methods, [Method::Ack, Method::Bye]);
        assert_eq!(call.outcome(), Some(Outcome::TimedOut));
    }
}
