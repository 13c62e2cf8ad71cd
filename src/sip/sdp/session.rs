//! [`LocalSession`]: one dialog's SDP state across offers, answers and re-offers (RFC 3264 §8).
//!
//! It remembers the last description we sent so that the `o=` version moves exactly when our
//! description changes (§8: "incremented by one" on any change; a session refresh that changes
//! nothing gets the same SDP with the same version, §8 last paragraph), and the codec in use so
//! that re-offers and their answers keep it while the peer still allows it (§8.3.3). A rejected
//! exchange leaves the negotiated state as it was (§8: "the session state is unchanged").
//!
//! It does not know about SIP: whoever holds it feeds it the bodies of INVITE/2xx/ACK/UPDATE.

use super::answer::{answer, NegotiatedMedia};
use super::codec::{Codec, LocalMedia};
use super::model::{Direction, SessionDescription};
use super::offer::{offer_with, process_answer};
use super::SdpError;

/// Our side of one dialog's offer/answer state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalSession {
    local: LocalMedia,
    /// The last description we sent, offer or answer; versions are counted from it.
    last_sent: Option<SessionDescription>,
    /// Our offer awaiting its answer.
    pending_offer: Option<SessionDescription>,
    negotiated: Option<NegotiatedMedia>,
}

impl LocalSession {
    /// A session whose first description carries `local.session_version`.
    pub fn new(local: LocalMedia) -> LocalSession {
        LocalSession {
            local,
            last_sent: None,
            pending_offer: None,
            negotiated: None,
        }
    }

    pub fn local(&self) -> &LocalMedia {
        &self.local
    }

    /// Changes our side (a new RTP port, say); the next description we send gets a new version.
    pub fn local_mut(&mut self) -> &mut LocalMedia {
        &mut self.local
    }

    /// The outcome of the last completed exchange.
    pub fn negotiated(&self) -> Option<&NegotiatedMedia> {
        self.negotiated.as_ref()
    }

    /// The last description we sent.
    pub fn last_sent(&self) -> Option<&SessionDescription> {
        self.last_sent.as_ref()
    }

    /// Whether we sent an offer whose answer has not been processed yet.
    pub fn offer_pending(&self) -> bool {
        self.pending_offer.is_some()
    }

    /// Answers a peer's offer or re-offer. On error nothing changes; the caller answers 488
    /// (or 400 for a malformed body) and the previous session stays in force.
    pub fn answer(
        &mut self,
        offer: &SessionDescription,
    ) -> Result<(SessionDescription, NegotiatedMedia), SdpError> {
        let keep = self.negotiated.as_ref().map(|n| n.codec);
        let (sdp, negotiated) = answer(offer, &self.local, keep)?;
        let sdp = self.stamp(sdp);
        self.negotiated = Some(negotiated.clone());
        // An offer of ours crossing theirs is resolved by 491 at the SIP layer (§4, RFC 3261
        // §14.1); once we answer theirs, ours is void.
        self.pending_offer = None;
        Ok((sdp, negotiated))
    }

    /// What we want on the stream from now on: `SendOnly` or `Inactive` to hold the peer,
    /// `SendRecv` to resume. It bounds every later answer and [`reoffer`](Self::reoffer), so a
    /// hold we placed survives the held side's own re-offers (RFC 3264 §8.4: the side that
    /// holds decides when to resume). Send the change with `reoffer()`.
    pub fn set_direction(&mut self, direction: Direction) {
        self.local.direction = direction;
    }

    /// Our offer in our wanted direction: for a re-INVITE without SDP, a session refresh, or
    /// after [`set_direction`](Self::set_direction). Offer what *we* want, not a mirror of the
    /// peer's last hold state: the peer states its own direction in its answer (RFC 6337 §5).
    pub fn reoffer(&mut self) -> SessionDescription {
        self.offer(self.local.direction)
    }

    /// Our offer (late-offer 2xx, agent legs) in `direction`, once; [`set_direction`] is the
    /// lasting way to hold. The codec in use, if any, is listed first so a re-offer does not
    /// switch it (§8.3.3).
    ///
    /// [`set_direction`]: Self::set_direction
    pub fn offer(&mut self, direction: Direction) -> SessionDescription {
        let mut codecs = self.local.codecs.clone();
        if let Some(current) = self.negotiated.as_ref().map(|n| n.codec) {
            codecs.sort_by_key(|c| *c != current);
        }
        let sdp = self.stamp(offer_with(&self.local, &codecs, direction));
        self.pending_offer = Some(sdp.clone());
        sdp
    }

    /// The answer to our pending offer (in a 2xx, the ACK after a late offer, or a 200 to our
    /// re-INVITE). On error the pending offer is dropped and the previous session stays.
    pub fn process_answer(
        &mut self,
        answer: &SessionDescription,
    ) -> Result<NegotiatedMedia, SdpError> {
        let ours = self.pending_offer.take().ok_or(SdpError::NoOfferPending)?;
        let negotiated = process_answer(&ours, answer)?;
        self.negotiated = Some(negotiated.clone());
        Ok(negotiated)
    }

    /// Our offer was refused (488, 491, a failed re-INVITE): forget it. The version it used
    /// stays spent, so whatever we send next is numbered above it.
    pub fn offer_rejected(&mut self) {
        self.pending_offer = None;
    }

    /// The codec in use, if an exchange completed.
    pub fn codec(&self) -> Option<Codec> {
        self.negotiated.as_ref().map(|n| n.codec)
    }

    /// Numbers `sdp` against the last description we sent: same content, same version;
    /// different content, that version plus one (§8). Records it as sent.
    fn stamp(&mut self, mut sdp: SessionDescription) -> SessionDescription {
        if let Some(previous) = &self.last_sent {
            let version = previous.origin.session_version;
            sdp.origin.session_version = version;
            if sdp != *previous {
                sdp.origin.session_version = version.wrapping_add(1);
            }
        }
        self.last_sent = Some(sdp.clone());
        sdp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> LocalSession {
        LocalSession::new(LocalMedia::new("192.0.2.50".parse().unwrap(), 40000, 77))
    }

    fn peer(media: &str) -> SessionDescription {
        format!("v=0\r\no=- 9 9 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n{media}")
            .parse()
            .unwrap()
    }

    #[test]
    fn repeated_offer_of_ours_keeps_version_and_hold_bumps_it() {
        let mut s = session();
        let first = s.offer(Direction::SendRecv);
        s.process_answer(&peer("m=audio 5000 RTP/AVP 0\r\n"))
            .unwrap();
        let refresh = s.offer(Direction::SendRecv);
        assert_eq!(refresh, first);
        let hold = s.offer(Direction::SendOnly);
        assert_eq!(hold.origin.session_version, 78);
    }

    #[test]
    fn reoffer_lists_codec_in_use_first() {
        let mut s = session();
        s.offer(Direction::SendRecv);
        s.process_answer(&peer("m=audio 5000 RTP/AVP 8\r\n"))
            .unwrap();
        let again = s.offer(Direction::SendRecv);
        assert_eq!(again.media[0].formats, ["8", "0", "101"]);
        assert_eq!(again.origin.session_version, 78);
    }

    #[test]
    fn peer_reoffer_during_our_hold_keeps_hold() {
        let mut s = session();
        s.answer(&peer("m=audio 5000 RTP/AVP 0\r\n")).unwrap();
        s.set_direction(Direction::SendOnly);
        let hold = s.reoffer();
        assert_eq!(hold.media[0].direction(), Some(Direction::SendOnly));
        s.process_answer(&peer("m=audio 5000 RTP/AVP 0\r\na=recvonly\r\n"))
            .unwrap();
        // The held agent's phone refreshes the session with a plain sendrecv offer.
        let (answer, neg) = s.answer(&peer("m=audio 5000 RTP/AVP 0\r\n")).unwrap();
        assert_eq!(answer.media[0].direction(), Some(Direction::SendOnly));
        assert!(neg.we_send() && !neg.we_receive());
        // Resuming is ours to do.
        s.set_direction(Direction::SendRecv);
        let resume = s.reoffer();
        assert_eq!(resume.media[0].direction(), Some(Direction::SendRecv));
    }

    #[test]
    fn reoffer_after_peer_hold_offers_sendrecv() {
        // The peer held us (sendonly); its re-INVITE without SDP gets our full offer, not a
        // mirror of its hold, so the call is not stuck one-way when it answers sendrecv.
        let mut s = session();
        s.answer(&peer("m=audio 5000 RTP/AVP 0\r\na=sendonly\r\n"))
            .unwrap();
        let offer = s.reoffer();
        assert_eq!(offer.media[0].direction(), Some(Direction::SendRecv));
        let neg = s
            .process_answer(&peer("m=audio 5000 RTP/AVP 0\r\n"))
            .unwrap();
        assert!(neg.we_send() && neg.we_receive() && !neg.hold);
    }

    #[test]
    fn failed_reoffer_leaves_session_unchanged() {
        let mut s = session();
        s.answer(&peer("m=audio 5000 RTP/AVP 8 0\r\n")).unwrap();
        let before = s.negotiated().cloned();
        assert!(s.answer(&peer("m=audio 5000 RTP/AVP 18\r\n")).is_err());
        assert_eq!(s.negotiated().cloned(), before);
        assert_eq!(
            s.process_answer(&peer("m=audio 1 RTP/AVP 0\r\n")),
            Err(SdpError::NoOfferPending)
        );
    }
}
