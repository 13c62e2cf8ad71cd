//! Making our own offer (RFC 3264 §5) and processing the answer to it (§6.1, §7).
//!
//! We offer when the peer did not: a late-offer INVITE (our offer goes in the 2xx, the answer
//! comes in the ACK, RFC 3261 §13.2.1), and on the agent legs the B2BUA originates. The offer is
//! one `RTP/AVP` audio stream: our codecs under their static numbers, telephone-event/8000 as 101
//! with events 0-16, ptime 20. The answer must pick from what we offered; a payload type we did
//! not offer is ignored, and an answer with nothing of ours is an error (the caller then ends the
//! dialog: there is no 488 for an answer).

use super::answer::{audio_section, ip_of, remote_addresses, skeleton, NegotiatedMedia};
use super::codec::{
    codec_of, ptime_of, telephone_event_of, Codec, LocalMedia, DEFAULT_PTIME_MS,
    TELEPHONE_EVENT_FMTP, TELEPHONE_EVENT_PT,
};
use super::crypto::{self, CryptoLine, CryptoSuite, SdesKeys, SrtpPolicy};
use super::model::{Direction, SessionDescription};
use super::SdpError;

/// The tag of the one crypto line in our offers.
const OFFER_CRYPTO_TAG: u32 = 1;

/// Our offer: one audio stream with `local.codecs` in order, in `direction`.
pub fn offer(local: &LocalMedia, direction: Direction) -> SessionDescription {
    offer_with(local, &local.codecs, direction)
}

/// [`offer`] with an explicit codec order (re-offers put the codec in use first, §8.3.3).
pub(super) fn offer_with(
    local: &LocalMedia,
    codecs: &[Codec],
    direction: Direction,
) -> SessionDescription {
    let codecs: Vec<(Codec, u8)> = codecs
        .iter()
        .map(|c| (*c, c.static_payload_type()))
        .collect();
    let dtmf = local
        .telephone_event
        .then(|| (TELEPHONE_EVENT_PT, Some(TELEPHONE_EVENT_FMTP.to_owned())));
    let mut sdp = skeleton(local);
    // Under `required` (and over TLS) we offer SRTP only; `optional` offers plain RTP, since an
    // SRTP-only offer to a peer without SRTP fails the call (best-effort SRTP needs SDP
    // capability negotiation, RFC 5939, which is not done).
    let key = local
        .srtp
        .usable_key()
        .filter(|_| local.srtp.policy == SrtpPolicy::Required);
    let proto = if key.is_some() { "RTP/SAVP" } else { "RTP/AVP" };
    let mut section = audio_section(local, proto, &codecs, dtmf, DEFAULT_PTIME_MS, direction);
    if let Some(key) = key {
        let line = CryptoLine {
            tag: OFFER_CRYPTO_TAG,
            suite: CryptoSuite::AesCm128HmacSha1_80,
            key: key.clone(),
        };
        section.attributes.push(line.to_attribute());
    }
    sdp.media.push(section);
    sdp
}

/// The SRTP keys of an answer to our offer: when we offered `RTP/SAVP` with a key, the
/// answer must accept it with a crypto line carrying our tag and suite and its own key
/// (RFC 4568 §7.1.3).
fn answered_keys(
    ours: &super::model::MediaDescription,
    theirs: &super::model::MediaDescription,
) -> Result<Option<SdesKeys>, SdpError> {
    let Some(offered) = crypto::first_usable(ours) else {
        return Ok(None);
    };
    if !crypto::is_sdes_profile(&theirs.proto) {
        return Err(SdpError::SrtpRequired);
    }
    crypto::crypto_lines(theirs)
        .filter_map(Result::ok)
        .find(|line| line.tag == offered.tag && line.suite == offered.suite)
        .map(|line| {
            Some(SdesKeys {
                suite: line.suite,
                ours: offered.key.clone(),
                theirs: line.key,
            })
        })
        .ok_or(SdpError::NoUsableCrypto)
}

/// Reads the answer to `our_offer` (RFC 3264 §6.1, §7): same number of `m=` lines, our audio
/// stream not rejected, its codec one we offered.
pub fn process_answer(
    our_offer: &SessionDescription,
    answer: &SessionDescription,
) -> Result<NegotiatedMedia, SdpError> {
    if answer.media.len() != our_offer.media.len() {
        return Err(SdpError::MediaCountMismatch {
            offered: our_offer.media.len(),
            answered: answer.media.len(),
        });
    }
    let (index, ours) = our_offer
        .media
        .iter()
        .enumerate()
        .find(|(_, m)| m.media.eq_ignore_ascii_case("audio") && m.port != 0)
        .ok_or(SdpError::NoAudioStream)?;
    let Some(theirs) = answer.media.get(index).filter(|m| m.port != 0) else {
        return Err(SdpError::StreamRejected { media_index: index });
    };

    // The answer's numbers refer to our offer's mapping (§6.1: same number, same codec).
    let (codec, payload_type) = theirs
        .payload_types()
        .filter(|pt| ours.payload_types().any(|o| o == *pt))
        .find_map(|pt| {
            let codec = codec_of(ours, pt)?;
            (codec_of(theirs, pt) == Some(codec)).then_some((codec, pt))
        })
        .ok_or_else(|| SdpError::AnswerNotFromOffer {
            payload_types: theirs.formats.clone(),
        })?;
    let srtp = answered_keys(ours, theirs)?;
    // A dynamic number the answerer chose differently is still the one it receives on (§6.1).
    let dtmf = telephone_event_of(ours).and(telephone_event_of(theirs));

    let connection = answer
        .connection_for(theirs)
        .ok_or(SdpError::MissingConnection { media_index: index })?;
    let ip = ip_of(connection, index)?;
    let held_by_address = connection.is_hold_address();
    let offered = our_offer.direction_for(ours);
    let answered = answer.direction_for(theirs);
    let direction = offered.intersect(answered.reversed());
    let (remote, remote_rtcp) = if held_by_address {
        (None, None)
    } else {
        remote_addresses(ip, theirs)
    };
    Ok(NegotiatedMedia {
        remote,
        remote_rtcp,
        codec,
        payload_type,
        dtmf_payload_type: dtmf,
        // §6.1: a=ptime in the answer is what the answerer wants to receive.
        ptime_ms: ptime_of(theirs),
        direction: if held_by_address {
            direction.without_send()
        } else {
            direction
        },
        hold: held_by_address || (offered.sends() && !answered.receives()),
        srtp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> LocalMedia {
        LocalMedia::new("198.51.100.7".parse().unwrap(), 20000, 1000)
    }

    fn answer_with(media: &str) -> SessionDescription {
        format!("v=0\r\no=- 5 5 IN IP4 192.0.2.9\r\ns=-\r\nc=IN IP4 192.0.2.9\r\nt=0 0\r\n{media}")
            .parse()
            .unwrap()
    }

    #[test]
    fn offer_lists_g711_and_telephone_event() {
        assert_eq!(
            offer(&local(), Direction::SendRecv).to_string(),
            "v=0\r\no=holdline 1000 1000 IN IP4 198.51.100.7\r\ns=holdline\r\n\
             c=IN IP4 198.51.100.7\r\nt=0 0\r\nm=audio 20000 RTP/AVP 0 8 101\r\n\
             a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
             a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\n\
             a=sendrecv\r\n"
        );
    }

    #[test]
    fn answer_with_codec_we_did_not_offer_is_refused() {
        let ours = offer(&local(), Direction::SendRecv);
        let err = process_answer(&ours, &answer_with("m=audio 4000 RTP/AVP 18\r\n")).unwrap_err();
        assert!(matches!(err, SdpError::AnswerNotFromOffer { .. }));
    }

    #[test]
    fn answer_rejecting_our_stream_is_an_error() {
        let ours = offer(&local(), Direction::SendRecv);
        let err = process_answer(&ours, &answer_with("m=audio 0 RTP/AVP 0\r\n")).unwrap_err();
        assert_eq!(err, SdpError::StreamRejected { media_index: 0 });
        let two = answer_with("m=audio 4000 RTP/AVP 0\r\nm=video 0 RTP/AVP 96\r\n");
        assert!(matches!(
            process_answer(&ours, &two),
            Err(SdpError::MediaCountMismatch {
                offered: 1,
                answered: 2
            })
        ));
    }

    #[test]
    fn our_sendonly_hold_answered_recvonly_lets_us_send_only() {
        let ours = offer(&local(), Direction::SendOnly);
        let neg = process_answer(
            &ours,
            &answer_with("m=audio 4000 RTP/AVP 8\r\na=recvonly\r\n"),
        )
        .unwrap();
        assert_eq!(neg.codec, Codec::Pcma);
        assert_eq!(neg.direction, Direction::SendOnly);
        assert!(neg.we_send() && !neg.we_receive() && !neg.hold);
        assert_eq!(neg.dtmf_payload_type, None);
    }

    #[test]
    fn answer_ptime_and_dtmf_are_used() {
        let ours = offer(&local(), Direction::SendRecv);
        let neg = process_answer(
            &ours,
            &answer_with(
                "m=audio 4000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=ptime:30\r\n",
            ),
        )
        .unwrap();
        assert_eq!(
            (neg.payload_type, neg.dtmf_payload_type, neg.ptime_ms),
            (0, Some(101), 30)
        );
    }
}
