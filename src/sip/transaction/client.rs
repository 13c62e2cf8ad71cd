//! Client transactions: the INVITE machine of RFC 3261 §17.1.1 as amended by RFC 6026 §7.2
//! (a 2xx moves to Accepted instead of Terminated), and the non-INVITE machine of §17.1.2.
//!
//! A [`ClientTx`] owns the request bytes, its destination and its [`TimerTable`]; it reacts to
//! responses and fired timers by queueing transmits and TU events in [`Outputs`]. It does not
//! match responses (the layer does, §17.1.3), build the request, or ACK a 2xx: that ACK belongs
//! to the UAC core (§13.2.2.4), which receives every 2xx, retransmissions included.

use std::time::Duration;

use crate::sip::header::{split_list, HeaderName, Headers};
use crate::sip::message::{Request, Response};
use crate::sip::method::Method;
use crate::sip::transport::Peer;
use crate::time::Time;

use super::timer::{Timer, TimerConfig, TimerTable};
use super::{ClientTxId, Outputs, TransactionEvent, TxId};

/// The state of a client transaction.
///
/// INVITE (§17.1.1.2, Figure 5 as amended by RFC 6026 Figure 3):
/// ```text
///            |INVITE from TU, Timer A fires (UDP): resend, A = 2A; Timer B fires: TU timeout
///            v
///        Calling --1xx--> Proceeding --1xx: to TU
///          |   \             |    \
///  300-699 |    \2xx    300-699    \2xx: to TU
///  ACK, TU |     \------+----|------+--> Accepted --2xx: to TU; Timer M fires--> Terminated
///          v            |    v
///        Completed <----+  (same)   --300-699: resend ACK; Timer D fires--> Terminated
///   Calling/Proceeding, CancelWait fires (64·T1 after our CANCEL, §9.1): TU timeout, Terminated
/// ```
/// Non-INVITE (§17.1.2.2, Figure 6):
/// ```text
///   Trying --1xx--> Proceeding --200-699: to TU--> Completed --Timer K--> Terminated
///     |  Timer E: resend, E = min(2E, T2)   | Timer E: resend, E = T2
///     +-- 200-699: to TU --> Completed       Timer F (either state): TU timeout --> Terminated
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientState {
    /// INVITE sent, no response yet.
    Calling,
    /// Non-INVITE sent, no response yet.
    Trying,
    /// A provisional response arrived.
    Proceeding,
    /// A final (non-2xx for INVITE) response arrived; absorbing its retransmissions.
    Completed,
    /// RFC 6026: a 2xx to an INVITE arrived; further 2xx go to the TU until Timer M.
    Accepted,
    Terminated,
}

/// One client transaction.
#[derive(Debug)]
pub(crate) struct ClientTx {
    pub id: ClientTxId,
    pub state: ClientState,
    pub timers: TimerTable,
    /// The request as sent; the ACK for a non-2xx is built from it (§17.1.1.3).
    request: Request,
    bytes: Vec<u8>,
    to: Peer,
    /// The current Timer A / E interval.
    interval: Duration,
    /// The ACK sent for the non-2xx final response, resent for each retransmission of it.
    ack: Option<Vec<u8>>,
}

impl ClientTx {
    /// Creates the transaction and sends the request (§17.1.1.2, §17.1.2.2).
    pub fn start(
        id: ClientTxId,
        now: Time,
        cfg: &TimerConfig,
        request: Request,
        to: Peer,
        out: &mut Outputs,
    ) -> ClientTx {
        let bytes = request.to_bytes();
        let invite = request.method == Method::Invite;
        let mut tx = ClientTx {
            id,
            state: if invite {
                ClientState::Calling
            } else {
                ClientState::Trying
            },
            timers: TimerTable::default(),
            request,
            bytes,
            to,
            interval: cfg.t1,
            ack: None,
        };
        out.send(to, tx.bytes.clone());
        let reliable = to.transport.is_reliable();
        // Retransmission timers only on unreliable transports (§17.1.1.2, §17.1.2.2).
        let (retransmit, timeout) = if invite {
            (Timer::A, Timer::B)
        } else {
            (Timer::E, Timer::F)
        };
        if !reliable {
            tx.timers.set(retransmit, now + cfg.t1);
        }
        tx.timers.set(timeout, now + cfg.timeout());
        tx
    }

    pub fn is_invite(&self) -> bool {
        self.request.method == Method::Invite
    }

    pub fn request(&self) -> &Request {
        &self.request
    }

    /// Where the request goes.
    pub fn destination(&self) -> Peer {
        self.to
    }

    /// A response matched to this transaction. Returns it when it goes to the TU.
    pub fn on_response(
        &mut self,
        now: Time,
        cfg: &TimerConfig,
        resp: Response,
        out: &mut Outputs,
    ) -> Option<Response> {
        if self.is_invite() {
            self.on_invite_response(now, cfg, resp, out)
        } else {
            self.on_non_invite_response(now, cfg, resp)
        }
    }

    fn on_invite_response(
        &mut self,
        now: Time,
        cfg: &TimerConfig,
        resp: Response,
        out: &mut Outputs,
    ) -> Option<Response> {
        let reliable = self.to.transport.is_reliable();
        match (self.state, resp.status) {
            (ClientState::Calling | ClientState::Proceeding, 100..=199) => {
                // §17.1.1.2: no more retransmissions once anything is heard; Timer B only
                // governs Calling.
                self.timers.stop(Timer::A);
                self.timers.stop(Timer::B);
                self.state = ClientState::Proceeding;
                Some(resp)
            }
            (ClientState::Calling | ClientState::Proceeding, 200..=299) => {
                // RFC 6026 §7.2: Accepted, so 2xx retransmissions and forked 2xx still reach the
                // TU, which ACKs each one (§13.2.2.4).
                self.timers.stop(Timer::A);
                self.timers.stop(Timer::B);
                self.timers.stop(Timer::CancelWait);
                self.state = ClientState::Accepted;
                self.timers.set(Timer::M, now + cfg.timeout());
                Some(resp)
            }
            (ClientState::Calling | ClientState::Proceeding, _) => {
                // §17.1.1.2: 300-699 → ACK, pass to TU, Completed with Timer D.
                self.timers.stop(Timer::A);
                self.timers.stop(Timer::B);
                self.timers.stop(Timer::CancelWait);
                let ack = build_ack(&self.request, &resp).to_bytes();
                out.send(self.to, ack.clone());
                self.ack = Some(ack);
                self.enter_final(now, cfg.timer_d(reliable), Timer::D, ClientState::Completed);
                Some(resp)
            }
            (ClientState::Completed, 300..) => {
                // §17.1.1.2: a retransmitted final response → resend the ACK, not to the TU.
                if let Some(ack) = &self.ack {
                    out.send(self.to, ack.clone());
                }
                None
            }
            (ClientState::Accepted, 200..=299) => Some(resp),
            // Anything else (a late 1xx, a non-2xx after a 2xx) has no transition: absorb.
            _ => None,
        }
    }

    fn on_non_invite_response(
        &mut self,
        now: Time,
        cfg: &TimerConfig,
        resp: Response,
    ) -> Option<Response> {
        let reliable = self.to.transport.is_reliable();
        match (self.state, resp.status) {
            (ClientState::Trying | ClientState::Proceeding, 100..=199) => {
                self.state = ClientState::Proceeding;
                Some(resp)
            }
            (ClientState::Trying | ClientState::Proceeding, _) => {
                // §17.1.2.2: a final response → Completed, Timer K buffers retransmissions.
                self.timers.stop(Timer::E);
                self.timers.stop(Timer::F);
                self.enter_final(
                    now,
                    cfg.t4_or_zero(reliable),
                    Timer::K,
                    ClientState::Completed,
                );
                Some(resp)
            }
            _ => None,
        }
    }

    /// Enters `state` with its linger `timer`, or Terminated at once when the linger is zero
    /// (reliable transports, Timers D and K).
    fn enter_final(&mut self, now: Time, linger: Duration, timer: Timer, state: ClientState) {
        if linger.is_zero() {
            self.terminate();
        } else {
            self.state = state;
            self.timers.set(timer, now + linger);
        }
    }

    /// The TU sent a CANCEL for this INVITE: if no final response arrives within 64·T1, the
    /// transaction is destroyed (§9.1), so an unresponsive callee cannot leak it.
    pub fn on_cancel_sent(&mut self, now: Time, cfg: &TimerConfig) {
        let pending = matches!(self.state, ClientState::Calling | ClientState::Proceeding);
        if self.is_invite() && pending && !self.timers.is_armed(Timer::CancelWait) {
            self.timers.set(Timer::CancelWait, now + cfg.timeout());
        }
    }

    /// `timer` fired.
    pub fn on_timer(&mut self, now: Time, cfg: &TimerConfig, timer: Timer, out: &mut Outputs) {
        match (timer, self.state) {
            (Timer::A, ClientState::Calling) => {
                out.send(self.to, self.bytes.clone());
                self.interval = cfg.backoff(self.interval, false);
                self.timers.set(Timer::A, now + self.interval);
            }
            (Timer::E, ClientState::Trying) => {
                out.send(self.to, self.bytes.clone());
                self.interval = cfg.backoff(self.interval, true);
                self.timers.set(Timer::E, now + self.interval);
            }
            (Timer::E, ClientState::Proceeding) => {
                // §17.1.2.2: in Proceeding the interval is T2.
                out.send(self.to, self.bytes.clone());
                self.timers.set(Timer::E, now + cfg.t2);
            }
            (Timer::B, ClientState::Calling)
            | (Timer::CancelWait, ClientState::Calling | ClientState::Proceeding)
            | (Timer::F, ClientState::Trying | ClientState::Proceeding) => {
                // §17.1.1.2 / §17.1.2.2: inform the TU of the timeout (a 408 to it, §8.1.3.1);
                // §9.1: after a CANCEL, the INVITE is considered cancelled.
                out.events.push_back(TransactionEvent::Timeout {
                    tx: TxId::Client(self.id),
                    timer,
                });
                self.terminate();
            }
            (Timer::D | Timer::K, ClientState::Completed) | (Timer::M, ClientState::Accepted) => {
                self.terminate();
            }
            // A timer from a state already left: nothing to do.
            _ => {}
        }
    }

    pub fn terminate(&mut self) {
        self.state = ClientState::Terminated;
        self.timers.stop_all();
    }
}

/// The ACK for a non-2xx final response (§17.1.1.3): the original Request-URI, Call-ID, From,
/// CSeq number and top Via only; the To of the response (with its tag); the Route set of the
/// request. It is part of the INVITE transaction, so it reuses the INVITE's branch.
pub fn build_ack(invite: &Request, resp: &Response) -> Request {
    let to = resp.headers.get(&HeaderName::To);
    derive_request(invite, Method::Ack, to)
}

/// The CANCEL for a request (§9.1): the same Request-URI, Call-ID, From, To, CSeq number, top
/// Via (hence branch) and Route set, with method CANCEL. Send it with
/// [`super::TransactionLayer::send_request`]; it is its own non-INVITE transaction, and should
/// only be sent once a provisional response has arrived (§9.1).
pub fn build_cancel(request: &Request) -> Request {
    derive_request(request, Method::Cancel, None)
}

/// A request derived from `orig` as §17.1.1.3 and §9.1 describe, with `to` replacing its To.
fn derive_request(orig: &Request, method: Method, to: Option<&str>) -> Request {
    let mut derived = Request::new(method.clone(), orig.uri.clone());
    let mut headers = Headers::new();
    if let Some(top) = orig
        .headers
        .get(&HeaderName::Via)
        .and_then(|v| split_list(v).next())
    {
        headers.push(HeaderName::Via, top);
    }
    for h in orig.headers.iter() {
        match &h.name {
            HeaderName::MaxForwards | HeaderName::Route | HeaderName::From | HeaderName::CallId => {
                headers.push(h.name.clone(), h.value.clone())
            }
            HeaderName::To => headers.push(HeaderName::To, to.unwrap_or(&h.value)),
            HeaderName::CSeq => {
                let seq = h.value.split_whitespace().next().unwrap_or("0");
                headers.push(HeaderName::CSeq, format!("{seq} {method}"));
            }
            _ => {}
        }
    }
    derived.headers = headers;
    derived
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::transaction::tests_support::{invite, ok_status, udp_peer};
    use crate::sip::transport::Transport;

    fn secs(ms: u64) -> Time {
        Time::from_millis(ms)
    }

    #[test]
    fn ack_for_non_2xx_copies_top_via_and_takes_to_from_response() {
        let req = invite("z9hG4bKack1");
        let mut resp = ok_status(&req, 486);
        resp.headers
            .set(HeaderName::To, "<sip:bob@example.com>;tag=xyz");
        let ack = build_ack(&req, &resp);
        assert_eq!(ack.method, Method::Ack);
        assert_eq!(ack.uri, req.uri);
        let vias: Vec<_> = ack.headers.get_all(&HeaderName::Via).collect();
        assert_eq!(vias, vec!["SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKack1"]);
        assert_eq!(
            ack.headers.get(&HeaderName::To),
            Some("<sip:bob@example.com>;tag=xyz")
        );
        assert_eq!(ack.headers.get(&HeaderName::CSeq), Some("1 ACK"));
        assert_eq!(
            ack.headers.get(&HeaderName::Route),
            Some("<sip:proxy.example.com;lr>")
        );
        assert!(!ack.headers.contains(&HeaderName::Contact));
    }

    #[test]
    fn invite_over_tcp_arms_no_timer_a_and_terminates_on_final_at_once() {
        let cfg = TimerConfig::default();
        let mut out = Outputs::default();
        let mut to = udp_peer();
        to.transport = Transport::Tcp;
        let req = invite("z9hG4bKtcp");
        let mut tx = ClientTx::start(ClientTxId(1), secs(0), &cfg, req.clone(), to, &mut out);
        assert!(!tx.timers.is_armed(Timer::A));
        assert_eq!(tx.timers.get(Timer::B), Some(secs(32_000)));
        let resp = ok_status(&req, 404);
        assert!(tx.on_response(secs(10), &cfg, resp, &mut out).is_some());
        // Timer D is zero on a reliable transport: straight to Terminated, ACK still sent.
        assert_eq!(tx.state, ClientState::Terminated);
        assert_eq!(out.transmits.len(), 2);
    }

    #[test]
    fn proceeding_non_invite_retransmits_at_t2() {
        let cfg = TimerConfig::default();
        let mut out = Outputs::default();
        let mut req = invite("z9hG4bKopt");
        req.method = Method::Options;
        let mut tx = ClientTx::start(
            ClientTxId(1),
            secs(0),
            &cfg,
            req.clone(),
            udp_peer(),
            &mut out,
        );
        let trying = ok_status(&req, 100);
        assert!(tx.on_response(secs(100), &cfg, trying, &mut out).is_some());
        assert_eq!(tx.state, ClientState::Proceeding);
        // The pending Timer E keeps its deadline; once it fires in Proceeding it re-arms at T2.
        assert_eq!(tx.timers.expire(secs(500)), Some(Timer::E));
        tx.on_timer(secs(500), &cfg, Timer::E, &mut out);
        assert_eq!(tx.timers.get(Timer::E), Some(secs(4500)));
    }
}
