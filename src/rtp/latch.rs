//! Strict RTP: which source a party's RTP is accepted from, and so where its media may go.
//!
//! The address the SDP signalled is the party's (RFC 3264 §5: "the address and port … to
//! which the offerer would like to receive"; RFC 4961 symmetric RTP sends from it too), so a
//! packet from it is always accepted and fixes the latch there. Another source is latched only
//! for the NAT case (the peer advertised an address it does not send from) and only:
//!
//! - after `probation` consecutive packets from it, one SSRC, sequence numbers each one above
//!   the last (RFC 3550 §A.1's probation idea, applied to a source address), and
//! - before the signalled address has sent anything, and before any source is latched.
//!
//! Every other packet is dropped and counted: a packet sprayed at the port before or during
//! the call (RTP bleed) latches nothing, so no media ever goes to it and none of it is relayed.
//! A new SDP address ([`Latch::signal`]) starts the evaluation again (a re-INVITE moved the
//! peer). Without symmetric RTP (`probation: None`) only the signalled address is accepted.
//!
//! Deliberately not done: several candidates at once (an attacker interleaving packets keeps a
//! NAT'd peer on probation until its signalled address or its own run wins), or tying the NAT
//! candidate to the SIP signalling's source address.

use std::net::SocketAddr;

use super::packet::Ssrc;

/// What one packet from `from` does to the latch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// From the latched source: accept it.
    Accept,
    /// Accept it, and from now on this is the source (send there).
    Latched(SocketAddr),
    /// A NAT candidate still on probation: dropped (counted).
    Probation,
    /// From a source that may not latch: dropped (counted).
    Foreign,
}

impl Verdict {
    pub fn accepted(self) -> bool {
        matches!(self, Verdict::Accept | Verdict::Latched(_))
    }
}

/// Packets the latch dropped and latches it made, for logs and `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LatchCounters {
    /// Packets from a source that was not (or not yet) latched.
    pub dropped_foreign: u64,
    /// Sources latched other than the signalled address (the NAT case).
    pub nat_latches: u64,
}

/// A source on probation: its run of in-sequence packets so far.
#[derive(Clone, Copy, Debug)]
struct Candidate {
    from: SocketAddr,
    ssrc: Ssrc,
    seq: u16,
    run: u16,
}

/// The strict-RTP latch of one party.
#[derive(Clone, Debug)]
pub struct Latch {
    /// Consecutive in-sequence packets that latch a source other than the signalled one;
    /// `None`: never (symmetric RTP off).
    probation: Option<u16>,
    signalled: Option<SocketAddr>,
    source: Option<SocketAddr>,
    heard_signalled: bool,
    candidate: Option<Candidate>,
    counters: LatchCounters,
}

impl Latch {
    pub fn new(probation: Option<u16>) -> Latch {
        Latch {
            // One packet is no proof at all: at least two.
            probation: probation.map(|n| n.max(2)),
            signalled: None,
            source: None,
            heard_signalled: false,
            candidate: None,
            counters: LatchCounters::default(),
        }
    }

    /// The address the SDP signalled (`None`: none given, e.g. a hold with `c=0.0.0.0`, which
    /// keeps the last one). A new address starts over: the old latch belonged to the old peer.
    /// Returns whether the latch was reset.
    pub fn signal(&mut self, rtp: Option<SocketAddr>) -> bool {
        let Some(rtp) = rtp else {
            return false;
        };
        if self.signalled == Some(rtp) {
            return false;
        }
        self.signalled = Some(rtp);
        self.source = None;
        self.heard_signalled = false;
        self.candidate = None;
        true
    }

    /// Forgets the latched source and probation (the peer moved), keeping the signalled
    /// address.
    pub fn reset(&mut self) {
        self.source = None;
        self.heard_signalled = false;
        self.candidate = None;
    }

    /// One valid RTP packet with a negotiated payload type from `from`.
    pub fn on_packet(&mut self, from: SocketAddr, ssrc: Ssrc, seq: u16) -> Verdict {
        if Some(from) == self.signalled {
            // The signalled address always wins, even over a NAT latch made before it spoke.
            self.heard_signalled = true;
            self.candidate = None;
            if self.source == Some(from) {
                return Verdict::Accept;
            }
            self.source = Some(from);
            return Verdict::Latched(from);
        }
        if self.source == Some(from) {
            return Verdict::Accept;
        }
        let Some(probation) = self.probation else {
            return self.drop_foreign(Verdict::Foreign);
        };
        if self.heard_signalled || self.source.is_some() {
            return self.drop_foreign(Verdict::Foreign);
        }
        let run = match &mut self.candidate {
            Some(c) if c.from == from && c.ssrc == ssrc && seq == c.seq.wrapping_add(1) => {
                c.seq = seq;
                c.run += 1;
                c.run
            }
            _ => {
                self.candidate = Some(Candidate {
                    from,
                    ssrc,
                    seq,
                    run: 1,
                });
                1
            }
        };
        if run < probation {
            return self.drop_foreign(Verdict::Probation);
        }
        self.candidate = None;
        self.source = Some(from);
        self.counters.nat_latches += 1;
        Verdict::Latched(from)
    }

    /// Whether a packet from `from` that cannot latch (an unknown payload type, RTCP's
    /// address) comes from where this party's media is accepted from.
    pub fn is_source(&self, from: SocketAddr) -> bool {
        self.source == Some(from)
    }

    /// Counts a packet dropped for its source by the caller (RTCP from a foreign address).
    pub fn count_foreign(&mut self) {
        self.counters.dropped_foreign += 1;
    }

    /// The latched source, if any.
    pub fn source(&self) -> Option<SocketAddr> {
        self.source
    }

    /// The address the SDP signalled last.
    pub fn signalled(&self) -> Option<SocketAddr> {
        self.signalled
    }

    pub fn counters(&self) -> LatchCounters {
        self.counters
    }

    fn drop_foreign(&mut self, verdict: Verdict) -> Verdict {
        self.counters.dropped_foreign += 1;
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([192, 0, 2, 7], port))
    }

    fn attacker(port: u16) -> SocketAddr {
        SocketAddr::from(([203, 0, 113, 66], port))
    }

    const SSRC: Ssrc = Ssrc(7);

    fn signalled(probation: Option<u16>) -> Latch {
        let mut l = Latch::new(probation);
        assert!(l.signal(Some(addr(4000))));
        l
    }

    #[test]
    fn spray_before_the_first_packet_latches_nothing_and_the_caller_wins() {
        let mut l = signalled(Some(4));
        // One packet per source, as a sweep over the port range sends: none latches.
        for port in 0..50 {
            assert_eq!(
                l.on_packet(attacker(10000 + port), Ssrc(port.into()), 1),
                Verdict::Probation
            );
        }
        assert_eq!(l.source(), None);
        assert_eq!(
            l.on_packet(addr(4000), SSRC, 100),
            Verdict::Latched(addr(4000))
        );
        assert_eq!(l.on_packet(addr(4000), SSRC, 101), Verdict::Accept);
        assert_eq!(l.counters().dropped_foreign, 50);
        assert_eq!(l.counters().nat_latches, 0);
    }

    #[test]
    fn spray_during_the_call_is_dropped_however_well_sequenced() {
        let mut l = signalled(Some(4));
        assert_eq!(
            l.on_packet(addr(4000), SSRC, 1),
            Verdict::Latched(addr(4000))
        );
        for seq in 0..20 {
            assert_eq!(l.on_packet(attacker(5000), SSRC, seq), Verdict::Foreign);
        }
        assert_eq!(l.source(), Some(addr(4000)));
        assert_eq!(l.counters().dropped_foreign, 20);
    }

    #[test]
    fn nat_relatches_after_n_in_sequence_packets_while_the_signalled_address_is_silent() {
        let mut l = signalled(Some(4));
        let nat = addr(61000);
        for seq in 10..13 {
            assert_eq!(l.on_packet(nat, SSRC, seq), Verdict::Probation);
        }
        assert_eq!(l.on_packet(nat, SSRC, 13), Verdict::Latched(nat));
        assert_eq!(l.on_packet(nat, SSRC, 14), Verdict::Accept);
        assert_eq!(l.counters().nat_latches, 1);
        assert_eq!(l.counters().dropped_foreign, 3);
        // Once latched, another source cannot take over, even in sequence.
        for seq in 0..10 {
            assert_eq!(l.on_packet(attacker(1), SSRC, seq), Verdict::Foreign);
        }
        // The signalled address speaking up wins back the latch.
        assert_eq!(
            l.on_packet(addr(4000), SSRC, 15),
            Verdict::Latched(addr(4000))
        );
        assert_eq!(l.on_packet(nat, SSRC, 15), Verdict::Foreign);
    }

    #[test]
    fn a_broken_run_starts_probation_again() {
        let mut l = signalled(Some(3));
        let nat = addr(61000);
        assert_eq!(l.on_packet(nat, SSRC, 1), Verdict::Probation);
        assert_eq!(l.on_packet(nat, SSRC, 2), Verdict::Probation);
        // A gap, another SSRC, or another source in between: the run starts over.
        assert_eq!(l.on_packet(nat, SSRC, 4), Verdict::Probation);
        assert_eq!(l.on_packet(nat, Ssrc(8), 5), Verdict::Probation);
        assert_eq!(l.on_packet(attacker(1), Ssrc(8), 6), Verdict::Probation);
        assert_eq!(l.on_packet(nat, Ssrc(8), 7), Verdict::Probation);
        assert_eq!(l.on_packet(nat, Ssrc(8), 8), Verdict::Probation);
        assert_eq!(l.on_packet(nat, Ssrc(8), 9), Verdict::Latched(nat));
        // Sequence numbers wrap.
        let mut w = signalled(Some(2));
        assert_eq!(w.on_packet(nat, SSRC, u16::MAX), Verdict::Probation);
        assert_eq!(w.on_packet(nat, SSRC, 0), Verdict::Latched(nat));
    }

    #[test]
    fn no_nat_latch_once_the_signalled_address_has_sent() {
        let mut l = signalled(Some(2));
        assert_eq!(
            l.on_packet(addr(4000), SSRC, 1),
            Verdict::Latched(addr(4000))
        );
        let nat = addr(61000);
        for seq in 1..10 {
            assert_eq!(l.on_packet(nat, SSRC, seq), Verdict::Foreign);
        }
    }

    #[test]
    fn a_new_sdp_address_is_evaluated_afresh() {
        let mut l = signalled(Some(2));
        assert_eq!(
            l.on_packet(addr(4000), SSRC, 1),
            Verdict::Latched(addr(4000))
        );
        // The same address again (a session refresh) keeps the latch; a hold keeps it too.
        assert!(!l.signal(Some(addr(4000))));
        assert!(!l.signal(None));
        assert_eq!(l.on_packet(addr(4000), SSRC, 2), Verdict::Accept);
        // A re-INVITE to a new address: the old one is foreign now, the new one latches.
        assert!(l.signal(Some(addr(5000))));
        assert_eq!(l.source(), None);
        assert_eq!(l.on_packet(addr(4000), SSRC, 3), Verdict::Probation);
        assert_eq!(
            l.on_packet(addr(5000), SSRC, 4),
            Verdict::Latched(addr(5000))
        );
        // And a NAT peer of the new address may latch again while it is silent.
        assert!(l.signal(Some(addr(6000))));
        assert_eq!(l.on_packet(addr(61000), SSRC, 1), Verdict::Probation);
        assert_eq!(
            l.on_packet(addr(61000), SSRC, 2),
            Verdict::Latched(addr(61000))
        );
    }

    #[test]
    fn without_symmetric_rtp_only_the_signalled_address_counts() {
        let mut l = signalled(None);
        for seq in 0..10 {
            assert_eq!(l.on_packet(addr(61000), SSRC, seq), Verdict::Foreign);
        }
        assert_eq!(
            l.on_packet(addr(4000), SSRC, 1),
            Verdict::Latched(addr(4000))
        );
        assert_eq!(l.counters().dropped_foreign, 10);
    }

    #[test]
    fn without_a_signalled_address_only_a_probation_run_latches() {
        // A late offer before its answer: nothing signalled yet.
        let mut l = Latch::new(Some(3));
        assert_eq!(l.on_packet(addr(1), SSRC, 1), Verdict::Probation);
        assert_eq!(l.on_packet(addr(1), SSRC, 2), Verdict::Probation);
        assert_eq!(l.on_packet(addr(1), SSRC, 3), Verdict::Latched(addr(1)));
        // The answer arrives with another address: evaluated afresh.
        assert!(l.signal(Some(addr(4000))));
        assert_eq!(l.on_packet(addr(1), SSRC, 4), Verdict::Probation);
    }
}
