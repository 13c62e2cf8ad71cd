//! Bounded media toward a peer that has not proven its address (reflection).
//!
//! A caller's SDP names where our media goes, and nothing in an INVITE proves that address is
//! the caller's: one datagram naming someone else's address in `c=` would otherwise point a
//! stream of music at them for as long as the call lasts (the 200 is retransmitted for 32 s,
//! then the BYE for another 32 s). So until the peer proves it — its ACK arrives (RFC 3261
//! §13.3.1.4: it received our 200), or RTP is accepted from it (it is at the address) — a
//! stream sends for at most `budget`, then pauses. Proof resumes it at once. The RTP timeout
//! stops it too, at the moment it fires rather than when the BYE that follows completes.
//!
//! Sans-IO: the pacer shard asks [`SendBudget::allows`] when a party's sending changes, and
//! fires [`SendBudget::expire`] at [`SendBudget::deadline`]; nothing here is per packet.

use std::time::Duration;

use crate::time::Time;

/// Whether a party's stream may send, as far as proof of its peer goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SendBudget {
    proof: Proof,
    /// The RTP timeout fired: nothing goes out until a new negotiation.
    halted: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Proof {
    /// Sends until `until`, unless proven before.
    Unproven {
        until: Time,
    },
    /// The budget ran out with no proof: paused until proof comes.
    Exhausted,
    Proven,
}

impl SendBudget {
    /// A stream that starts now toward an unproven peer; `None`: no bound.
    pub fn new(now: Time, budget: Option<Duration>) -> SendBudget {
        let proof = match budget {
            Some(b) => Proof::Unproven { until: now + b },
            None => Proof::Proven,
        };
        SendBudget {
            proof,
            halted: false,
        }
    }

    /// A stream toward a peer proven already (an agent who answered the INVITE we sent).
    pub fn proven() -> SendBudget {
        SendBudget {
            proof: Proof::Proven,
            halted: false,
        }
    }

    /// Whether the stream may send now.
    pub fn allows(&self) -> bool {
        !self.halted && self.proof != Proof::Exhausted
    }

    /// When the budget runs out, while it is running.
    pub fn deadline(&self) -> Option<Time> {
        match self.proof {
            Proof::Unproven { until } => Some(until),
            _ => None,
        }
    }

    /// The deadline passed (`now` at or after it): returns whether sending must stop now.
    pub fn expire(&mut self, now: Time) -> bool {
        match self.proof {
            Proof::Unproven { until } if now >= until => {
                self.proof = Proof::Exhausted;
                !self.halted
            }
            _ => false,
        }
    }

    /// The peer proved its address (ACK, or RTP accepted from it). Returns whether sending may
    /// resume because of it.
    pub fn prove(&mut self) -> bool {
        let was = self.allows();
        self.proof = Proof::Proven;
        !was && self.allows()
    }

    /// The RTP timeout fired. Returns whether sending must stop now.
    pub fn halt(&mut self) -> bool {
        let was = self.allows();
        self.halted = true;
        was
    }

    /// A new offer/answer: the RTP timeout starts over, so a halt is lifted (the bound on an
    /// unproven peer is not).
    pub fn renegotiated(&mut self) {
        self.halted = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIVE: Option<Duration> = Some(Duration::from_secs(5));

    #[test]
    fn an_unproven_peer_gets_the_budget_then_nothing() {
        let mut b = SendBudget::new(Time::from_millis(1000), FIVE);
        assert!(b.allows());
        assert_eq!(b.deadline(), Some(Time::from_millis(6000)));
        assert!(!b.expire(Time::from_millis(5999)), "not yet");
        assert!(b.allows());
        assert!(b.expire(Time::from_millis(6000)));
        assert!(!b.allows() && b.deadline().is_none());
        assert!(!b.expire(Time::from_millis(9000)), "once");
        // A late ACK (or RTP) brings the media back.
        assert!(b.prove());
        assert!(b.allows());
    }

    #[test]
    fn proof_before_the_deadline_lifts_the_bound() {
        let mut b = SendBudget::new(Time::ZERO, FIVE);
        assert!(!b.prove(), "it was sending already");
        assert_eq!(b.deadline(), None);
        assert!(!b.expire(Time::from_millis(60_000)));
        assert!(b.allows());
        assert!(SendBudget::new(Time::ZERO, None).allows());
        assert_eq!(SendBudget::new(Time::ZERO, None).deadline(), None);
    }

    #[test]
    fn the_rtp_timeout_stops_sending_until_a_new_negotiation() {
        let mut b = SendBudget::proven();
        assert!(b.halt());
        assert!(!b.allows());
        assert!(!b.halt(), "already stopped");
        assert!(!b.prove(), "proof does not undo a timeout");
        b.renegotiated();
        assert!(b.allows());
        // A halt while exhausted: a new negotiation alone does not resume an unproven peer.
        let mut u = SendBudget::new(Time::ZERO, FIVE);
        assert!(u.expire(Time::from_millis(5000)));
        assert!(!u.halt());
        u.renegotiated();
        assert!(!u.allows());
    }
}
