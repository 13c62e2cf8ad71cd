//! Server transactions: the INVITE machine of RFC 3261 §17.2.1 as amended by RFC 6026 §7.1
//! (a 2xx moves to Accepted, which absorbs INVITE retransmissions until Timer L), and the
//! non-INVITE machine of §17.2.2.
//!
//! A [`ServerTx`] keeps the last response it sent, to resend it when the request is
//! retransmitted and (for a non-2xx final to an INVITE over UDP) on Timer G. It does not match
//! requests (the layer does, §17.2.3), and it does not retransmit a 2xx: that is the UAS core's
//! job (§13.3.1.4, [`super::uas_2xx`]).

use std::time::Duration;

use crate::sip::header::{HeaderName, Headers};
use crate::sip::message::{reason_phrase, Request, Response};
use crate::sip::transport::Peer;
use crate::time::Time;

use super::timer::{Timer, TimerConfig, TimerTable};
use super::{Outputs, ServerTxId, TransactionError, TransactionEvent, TxId};

/// How many times Timer G resends a non-2xx final response to an INVITE over UDP. RFC 3261
/// §17.2.1 retransmits until Timer H (about ten times in 64·T1); a peer that never ACKs (a
/// scanner, a forged source) would draw all of them. After these, the final is resent only
/// when the INVITE is (a peer that lost it retransmits the INVITE), so nothing is amplified;
/// Timer H still ends the transaction.
pub const FINAL_RETRANSMITS: u32 = 4;

/// The state of a server transaction.
///
/// INVITE (§17.2.1, Figure 7 as amended by RFC 6026 Figure 5):
/// ```text
///   INVITE: to TU, 100 Trying
///        v
///   Proceeding --1xx from TU: send; INVITE: resend last 1xx
///     |      \
///     |300-699 \2xx from TU: send
///     v         v
///   Completed  Accepted --INVITE: absorb; ACK: to TU; 2xx from TU: send
///     |  INVITE: resend final; Timer G (UDP): resend, G = min(2G, T2), at most
///     |  FINAL_RETRANSMITS times
///     |  Timer H: TU timeout --> Terminated            Timer L --> Terminated
///     |ACK
///     v
///   Confirmed --ACK: absorb; Timer I --> Terminated
/// ```
/// Non-INVITE (§17.2.2, Figure 8):
/// ```text
///   Trying --1xx from TU--> Proceeding --200-699 from TU--> Completed --Timer J--> Terminated
///     | request: absorb       | request: resend 1xx            | request: resend final
///     +------200-699 from TU------------------------------------^
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerState {
    /// Non-INVITE received, nothing sent yet.
    Trying,
    /// A provisional response was sent (or, for INVITE, none yet).
    Proceeding,
    /// A final response (non-2xx for INVITE) was sent.
    Completed,
    /// INVITE only: the ACK for the non-2xx final arrived.
    Confirmed,
    /// RFC 6026 INVITE only: a 2xx was sent.
    Accepted,
    Terminated,
}

/// What became of an ACK that matched an INVITE server transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AckDisposition {
    /// The ACK for our non-2xx final (or a retransmission of it): the transaction's business.
    Absorbed,
    /// The ACK for a 2xx (RFC 6026 §7.1): for the TU.
    ToTu,
}

/// One server transaction.
#[derive(Debug)]
pub(crate) struct ServerTx {
    pub id: ServerTxId,
    pub state: ServerState,
    pub timers: TimerTable,
    invite: bool,
    /// Where responses go (§18.2.2), fixed when the request arrived.
    pub dest: Peer,
    last_response: Option<Vec<u8>>,
    /// The current Timer G interval.
    interval: Duration,
    /// Timer G resends so far ([`FINAL_RETRANSMITS`] at most).
    resent: u32,
}

impl ServerTx {
    pub fn new(id: ServerTxId, invite: bool, dest: Peer) -> ServerTx {
        ServerTx {
            id,
            state: if invite {
                ServerState::Proceeding
            } else {
                ServerState::Trying
            },
            timers: TimerTable::default(),
            invite,
            dest,
            last_response: None,
            interval: Duration::ZERO,
            resent: 0,
        }
    }

    pub fn is_invite(&self) -> bool {
        self.invite
    }

    fn reliable(&self) -> bool {
        self.dest.transport.is_reliable()
    }

    /// The request was retransmitted (§17.2.1, §17.2.2): resend the last response where the
    /// state calls for it, otherwise absorb.
    pub fn on_retransmission(&mut self, out: &mut Outputs) {
        let resend = match self.state {
            ServerState::Proceeding | ServerState::Completed => true,
            // Trying: nothing sent yet. Confirmed: absorb. Accepted: RFC 6026 §7.1 absorbs
            // INVITE retransmissions; the UAS core retransmits the 2xx on its own schedule.
            _ => false,
        };
        if let (true, Some(bytes)) = (resend, &self.last_response) {
            out.send(self.dest, bytes.clone());
        }
    }

    /// An ACK matched this (INVITE) transaction.
    pub fn on_ack(&mut self, now: Time, cfg: &TimerConfig) -> AckDisposition {
        match self.state {
            ServerState::Completed => {
                // §17.2.1: Confirmed; stop G and H; Timer I absorbs further ACKs.
                self.timers.stop(Timer::G);
                self.timers.stop(Timer::H);
                let linger = cfg.t4_or_zero(self.reliable());
                self.enter(now, linger, Timer::I, ServerState::Confirmed);
                AckDisposition::Absorbed
            }
            ServerState::Accepted => AckDisposition::ToTu,
            _ => AckDisposition::Absorbed,
        }
    }

    /// The TU sends `resp` on this transaction.
    pub fn respond(
        &mut self,
        now: Time,
        cfg: &TimerConfig,
        resp: &Response,
        out: &mut Outputs,
    ) -> Result<(), TransactionError> {
        let status = resp.status;
        if !(100..=699).contains(&status) {
            return Err(TransactionError::InvalidStatus { status });
        }
        let provisional = status < 200;
        let success = (200..300).contains(&status);
        match self.state {
            ServerState::Trying | ServerState::Proceeding => {}
            // RFC 6026 §7.1: further 2xx from the TU in Accepted are passed to the transport.
            ServerState::Accepted if success => {}
            state => {
                return Err(TransactionError::FinalResponseAlreadySent {
                    tx: TxId::Server(self.id),
                    state,
                    status,
                })
            }
        }
        let bytes = resp.to_bytes();
        out.send(self.dest, bytes.clone());
        self.last_response = Some(bytes);
        if provisional {
            self.state = ServerState::Proceeding;
        } else if !self.invite {
            // §17.2.2: Completed; Timer J absorbs request retransmissions (zero if reliable).
            let linger = cfg.timer_j(self.reliable());
            if linger.is_zero() {
                self.terminate();
            } else {
                self.state = ServerState::Completed;
                self.timers.set(Timer::J, whole_second_after(now + linger));
            }
        } else if success {
            // RFC 6026 §7.1: Accepted with Timer L, instead of RFC 3261's Terminated.
            if self.state != ServerState::Accepted {
                self.state = ServerState::Accepted;
                self.timers.set(Timer::L, now + cfg.timeout());
            }
        } else {
            // §17.2.1: Completed; Timer G retransmits over UDP, Timer H bounds the wait for ACK.
            self.state = ServerState::Completed;
            if !self.reliable() {
                self.interval = cfg.t1;
                self.timers.set(Timer::G, now + cfg.t1);
            }
            self.timers.set(Timer::H, now + cfg.timeout());
        }
        Ok(())
    }

    pub fn on_timer(&mut self, now: Time, cfg: &TimerConfig, timer: Timer, out: &mut Outputs) {
        match (timer, self.state) {
            (Timer::G, ServerState::Completed) => {
                if let Some(bytes) = &self.last_response {
                    out.send(self.dest, bytes.clone());
                }
                self.resent += 1;
                if self.resent < FINAL_RETRANSMITS {
                    self.interval = cfg.backoff(self.interval, true);
                    self.timers.set(Timer::G, now + self.interval);
                }
            }
            (Timer::H, ServerState::Completed) => {
                // §17.2.1: no ACK; inform the TU (the dialog, if any, is dead).
                out.events.push_back(TransactionEvent::Timeout {
                    tx: TxId::Server(self.id),
                    timer,
                });
                self.terminate();
            }
            (Timer::I, ServerState::Confirmed)
            | (Timer::J, ServerState::Completed)
            | (Timer::L, ServerState::Accepted) => self.terminate(),
            _ => {}
        }
    }

    fn enter(&mut self, now: Time, linger: Duration, timer: Timer, state: ServerState) {
        if linger.is_zero() {
            self.terminate();
        } else {
            self.state = state;
            self.timers.set(timer, now + linger);
        }
    }

    pub fn terminate(&mut self) {
        self.state = ServerState::Terminated;
        self.timers.stop_all();
    }
}

/// A response to `req` per §8.2.6: Via (all values, in order), From, To (with `to_tag` added
/// when the request's To has no tag), Call-ID, CSeq and Timestamp copied from the request.
/// The TU adds Contact, body and the rest.
pub fn response_for(req: &Request, status: u16, to_tag: Option<&str>) -> Response {
    response_from_headers(&req.headers, status, to_tag)
}

/// [`response_for`] from a request's raw header lines: also usable for a request that failed
/// to parse whole, from the lines the parser could recover (a 400 per §8.2.6 / RFC 4475).
pub fn response_from_headers(headers: &Headers, status: u16, to_tag: Option<&str>) -> Response {
    let mut resp = Response::new(status, reason_phrase(status));
    for h in headers.iter() {
        match &h.name {
            HeaderName::Via
            | HeaderName::From
            | HeaderName::CallId
            | HeaderName::CSeq
            | HeaderName::Timestamp => resp.headers.push(h.name.clone(), h.value.clone()),
            HeaderName::To => {
                // §8.2.6.2: add our tag unless the request already had one (in-dialog), and
                // never on a 100 (it does not establish a dialog).
                let value = match to_tag {
                    Some(tag) if status != 100 && !has_tag(&h.value) => {
                        format!("{};tag={tag}", h.value)
                    }
                    _ => h.value.clone(),
                };
                resp.headers.push(HeaderName::To, value);
            }
            _ => {}
        }
    }
    resp
}

/// Whether a From/To value carries a `tag` header parameter: a `;tag=` after the closing `>`
/// of a name-addr, or anywhere in a bare addr-spec (whose parameters are header parameters,
/// §20.10).
fn has_tag(value: &str) -> bool {
    let params = match value.rfind('>') {
        Some(i) => &value[i..],
        None => value,
    };
    params
        .split(';')
        .skip(1)
        .any(|p| p.trim().to_ascii_lowercase().starts_with("tag="))
}

/// `at` rounded up to a whole second of the time line. Timer J only ends the absorbing of
/// request retransmissions, and §17.2.2 sets 64·T1 as how long that lasts at least, so it may
/// end later: rounded, the transactions completed within one second all end at one timer
/// wake-up instead of one each (a registrar with 10,000 phones completes 170 a second, and a
/// wake-up of the server costs more than the transaction's clean-up).
fn whole_second_after(at: Time) -> Time {
    let d = at.since_epoch();
    let secs = if d.subsec_nanos() == 0 {
        d.as_secs()
    } else {
        d.as_secs().saturating_add(1)
    };
    Time::from_epoch(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::transaction::tests_support::{invite, udp_peer};

    #[test]
    fn response_for_copies_dialog_headers_and_adds_tag_once() {
        let req = invite("z9hG4bKr1");
        let resp = response_for(&req, 180, Some("uas1"));
        assert_eq!(resp.reason, "Ringing");
        assert_eq!(
            resp.headers.get_all(&HeaderName::Via).collect::<Vec<_>>(),
            req.headers.get_all(&HeaderName::Via).collect::<Vec<_>>()
        );
        assert_eq!(
            resp.headers.get(&HeaderName::To),
            Some("<sip:bob@example.com>;tag=uas1")
        );
        assert!(!resp.headers.contains(&HeaderName::Route));
        let trying = response_for(&req, 100, Some("uas1"));
        assert_eq!(
            trying.headers.get(&HeaderName::To),
            Some("<sip:bob@example.com>")
        );
        let mut in_dialog = req.clone();
        in_dialog
            .headers
            .set(HeaderName::To, "<sip:bob@example.com>;tag=old");
        let resp = response_for(&in_dialog, 200, Some("new"));
        assert_eq!(
            resp.headers.get(&HeaderName::To),
            Some("<sip:bob@example.com>;tag=old")
        );
    }

    #[test]
    fn tag_inside_uri_brackets_is_not_a_header_tag() {
        assert!(!has_tag("<sip:bob@example.com;tag=fake>"));
        assert!(has_tag("<sip:bob@example.com>;tag=real"));
        assert!(has_tag("sip:bob@example.com;TAG=real"));
    }

    #[test]
    fn second_final_response_is_refused() {
        let cfg = TimerConfig::default();
        let mut out = Outputs::default();
        let req = invite("z9hG4bKr2");
        let mut tx = ServerTx::new(ServerTxId(1), true, udp_peer());
        tx.respond(
            Time::ZERO,
            &cfg,
            &response_for(&req, 486, Some("t")),
            &mut out,
        )
        .unwrap();
        let err = tx
            .respond(
                Time::ZERO,
                &cfg,
                &response_for(&req, 200, Some("t")),
                &mut out,
            )
            .unwrap_err();
        assert!(matches!(
            err,
            TransactionError::FinalResponseAlreadySent { status: 200, .. }
        ));
        assert!(matches!(
            tx.respond(Time::ZERO, &cfg, &Response::new(99, "x"), &mut out),
            Err(TransactionError::InvalidStatus { status: 99 })
        ));
    }
}
