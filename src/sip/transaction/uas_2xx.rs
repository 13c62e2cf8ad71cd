//! The UAS core's 2xx retransmission for INVITE (RFC 3261 §13.3.1.4), and the key that
//! matches an ACK to it.
//!
//! A 2xx to an INVITE is not retransmitted by the server transaction (it moves to Accepted,
//! RFC 6026 §7.1): the UAS core resends it at T1, 2·T1, … capped at T2 until the ACK arrives,
//! and after 64·T1 without one it gives up and tells the TU, which confirms the dialog and sends
//! BYE. §13.3.1.4 asks for this "even if the transport at the UAS is reliable", because hops
//! further on may be UDP; [`super::Config::retransmit_2xx_on_reliable`] can turn that off.
//!
//! The UAC side has no state here: the ACK for a 2xx is built and sent by the UAC core
//! (§13.2.2.4), which sees every 2xx retransmission through the client transaction's Accepted
//! state (RFC 6026 §7.2) and resends its ACK for each.

use std::time::Duration;

use crate::sip::message::{Request, Response};
use crate::sip::transport::Peer;
use crate::time::Time;

use super::timer::{Timer, TimerConfig, TimerTable};
use super::{Outputs, TransactionError, TransactionEvent};

/// Identifies one 2xx awaiting its ACK: the dialog (Call-ID and our local tag, the To tag of
/// the 2xx) plus the INVITE's CSeq number, which the ACK repeats (§13.2.2.4).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Uas2xxKey {
    pub call_id: String,
    pub cseq: u32,
    pub local_tag: String,
}

impl Uas2xxKey {
    /// The key of a 2xx we send: its Call-ID, CSeq number and To tag.
    pub fn of_response(resp: &Response) -> Result<Uas2xxKey, TransactionError> {
        let headers = &resp.headers;
        Ok(Uas2xxKey {
            call_id: headers
                .call_id()
                .ok_or(TransactionError::MissingHeader { name: "Call-ID" })?
                .to_owned(),
            cseq: headers
                .cseq()
                .ok_or(TransactionError::MissingHeader { name: "CSeq" })?
                .seq,
            local_tag: headers
                .to()
                .and_then(|to| to.tag().map(str::to_owned))
                .ok_or(TransactionError::MissingHeader { name: "To tag" })?,
        })
    }

    /// The key an ACK refers to, or `None` when it lacks any part (it then matches nothing).
    pub fn of_ack(ack: &Request) -> Option<Uas2xxKey> {
        let headers = &ack.headers;
        Some(Uas2xxKey {
            call_id: headers.call_id()?.to_owned(),
            cseq: headers.cseq()?.seq,
            local_tag: headers.to()?.tag()?.to_owned(),
        })
    }
}

/// One 2xx being retransmitted.
#[derive(Debug)]
pub(crate) struct Pending2xx {
    pub key: Uas2xxKey,
    pub timers: TimerTable,
    bytes: Vec<u8>,
    dest: Peer,
    interval: Duration,
    done: bool,
}

impl Pending2xx {
    /// Starts retransmitting `bytes` (already sent once by the server transaction).
    pub fn start(
        now: Time,
        cfg: &TimerConfig,
        key: Uas2xxKey,
        bytes: Vec<u8>,
        dest: Peer,
        retransmit: bool,
    ) -> Pending2xx {
        let mut timers = TimerTable::default();
        if retransmit {
            timers.set(Timer::Retransmit2xx, now + cfg.t1);
        }
        timers.set(Timer::Ack2xxTimeout, now + cfg.timeout());
        Pending2xx {
            key,
            timers,
            bytes,
            dest,
            interval: cfg.t1,
            done: false,
        }
    }

    /// Where the 2xx is resent.
    pub fn dest(&self) -> Peer {
        self.dest
    }

    /// The TU sent the 2xx again (e.g. with a new body): retransmit the new bytes from now on.
    pub fn replace(&mut self, bytes: Vec<u8>) {
        self.bytes = bytes;
    }

    pub fn on_timer(&mut self, now: Time, cfg: &TimerConfig, timer: Timer, out: &mut Outputs) {
        match timer {
            Timer::Retransmit2xx => {
                out.send(self.dest, self.bytes.clone());
                self.interval = cfg.backoff(self.interval, true);
                self.timers.set(Timer::Retransmit2xx, now + self.interval);
            }
            Timer::Ack2xxTimeout => {
                // §13.3.1.4: no ACK within 64·T1: the dialog is confirmed but the session
                // SHOULD be ended with a BYE, which is the TU's to send.
                out.events.push_back(TransactionEvent::NoAckFor2xx {
                    key: self.key.clone(),
                });
                self.finish();
            }
            _ => {}
        }
    }

    pub fn finish(&mut self) {
        self.done = true;
        self.timers.stop_all();
    }

    pub fn is_done(&self) -> bool {
        self.done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::header::HeaderName;
    use crate::sip::transaction::server::response_for;
    use crate::sip::transaction::tests_support::{invite, udp_peer};

    #[test]
    fn key_of_2xx_matches_key_of_its_ack() {
        let req = invite("z9hG4bKk1");
        let ok = response_for(&req, 200, Some("uas-tag"));
        let key = Uas2xxKey::of_response(&ok).unwrap();
        assert_eq!(key.cseq, 1);
        assert_eq!(key.local_tag, "uas-tag");
        let mut ack = req.clone();
        ack.method = crate::sip::method::Method::Ack;
        ack.headers.set(HeaderName::CSeq, "1 ACK");
        ack.headers
            .set(HeaderName::To, ok.headers.get(&HeaderName::To).unwrap());
        assert_eq!(Uas2xxKey::of_ack(&ack), Some(key));
    }

    #[test]
    fn response_without_to_tag_has_no_key() {
        let req = invite("z9hG4bKk2");
        let ok = response_for(&req, 200, None);
        assert!(matches!(
            Uas2xxKey::of_response(&ok),
            Err(TransactionError::MissingHeader { name: "To tag" })
        ));
    }

    #[test]
    fn retransmit_interval_doubles_to_t2() {
        let cfg = TimerConfig::default();
        let mut out = Outputs::default();
        let key = Uas2xxKey {
            call_id: "c".into(),
            cseq: 1,
            local_tag: "t".into(),
        };
        let mut p = Pending2xx::start(Time::ZERO, &cfg, key, b"200".to_vec(), udp_peer(), true);
        let mut fired = Vec::new();
        while let Some(at) = p.timers.get(Timer::Retransmit2xx) {
            if at > Time::from_millis(20_000) {
                break;
            }
            p.timers.stop(Timer::Retransmit2xx);
            p.on_timer(at, &cfg, Timer::Retransmit2xx, &mut out);
            fired.push(at.since_epoch().as_millis());
        }
        assert_eq!(fired, vec![500, 1500, 3500, 7500, 11_500, 15_500, 19_500]);
        assert_eq!(out.transmits.len(), fired.len());
    }
}
