//! SDP (RFC 8866, formerly RFC 4566) and the RFC 3264 offer/answer model, for a B2BUA that
//! speaks G.711 (PCMU payload type 0, PCMA 8) and RFC 4733 telephone-event.
//!
//! - [`model`]: the session description types; [`parse`] and [`write`]: text ⇄ model, tolerant
//!   of what deployed phones send, never panicking.
//! - [`codec`]: what we support ([`Codec`], [`LocalMedia`]) and how an offered format maps to it.
//! - [`answer`](mod@answer): RFC 3264 §6 — answer a peer's offer, yielding [`NegotiatedMedia`].
//! - [`offer`](mod@offer): RFC 3264 §5 and §6.1/§7 — make our offer (late offer in a 200, agent
//!   legs) and process the answer to it.
//! - [`session`]: [`LocalSession`] — one dialog's SDP state across re-offers: `o=` versions that
//!   move only when our description changes (§8), a codec that stays put while allowed (§8.3.3).
//!
//! - [`crypto`]: SDES (RFC 4568) `a=crypto` keys and the SRTP policy; `RTP/SAVP` streams are
//!   answered with SRTP when the policy and the signalling allow it.
//!
//! Deliberately not done: DTLS-SRTP and ICE (such streams are rejected with port 0), video,
//! multicast (a multicast, broadcast or unspecified `c=` other than the `0.0.0.0` hold is
//! refused, offer or answer), rtcp-mux, codecs other than G.711, and DNS for FQDNs in `c=` (refused, sans-IO).

pub mod answer;
pub mod codec;
pub mod crypto;
pub mod model;
pub mod offer;
pub mod parse;
pub mod session;
pub mod write;

pub use answer::{answer, NegotiatedMedia};
pub use codec::{Codec, CodecPreference, LocalMedia};
pub use crypto::{CryptoSuite, MasterKey, SdesKeys, SrtpLocal, SrtpPolicy};
pub use model::{
    unusable_address, Attribute, Connection, Direction, Fmtp, Line, MediaDescription, Origin, Rtcp,
    RtpMap, SessionDescription, Timing,
};
pub use offer::{offer, process_answer};
pub use session::LocalSession;

/// Why an SDP body could not be parsed, or an offer/answer exchange could not complete.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    #[error("SDP body does not start with v=0")]
    MissingVersion,
    #[error("unsupported SDP version {value:?}")]
    UnsupportedVersion { value: String },
    #[error("SDP has no o= line")]
    MissingOrigin,
    #[error("SDP line {line} is not <type>=<value>")]
    MalformedLine { line: usize },
    #[error("SDP line {line}: second session-level {kind}= line")]
    DuplicateLine { line: usize, kind: char },
    #[error("SDP line {line}: malformed o= {value:?}")]
    InvalidOrigin { line: usize, value: String },
    #[error("SDP line {line}: malformed c= {value:?}")]
    InvalidConnection { line: usize, value: String },
    #[error("SDP line {line}: malformed m= {value:?}")]
    InvalidMedia { line: usize, value: String },

    #[error("no audio stream offered")]
    NoAudioStream,
    #[error("audio offered only over {proto}, which we do not support")]
    UnsupportedTransport { proto: String },
    #[error("no common codec: we support PCMU and PCMA")]
    NoCommonCodec,
    #[error("m= line {media_index} has no connection address")]
    MissingConnection { media_index: usize },
    #[error("m= line {media_index}: connection address {address:?} is not an IP address")]
    UnsupportedAddress { media_index: usize, address: String },
    #[error("m= line {media_index}: connection address {address} is {kind}; media is sent to one unicast address only")]
    UnusableAddress {
        media_index: usize,
        address: String,
        kind: &'static str,
    },

    #[error("answer has {answered} m= lines for our {offered}")]
    MediaCountMismatch { offered: usize, answered: usize },
    #[error("answer rejected our audio stream (m= line {media_index})")]
    StreamRejected { media_index: usize },
    #[error("an answer arrived but we have no offer outstanding")]
    NoOfferPending,
    #[error("answer picked payload types {payload_types:?}, none of them from our offer")]
    AnswerNotFromOffer { payload_types: Vec<String> },

    /// The policy says SRTP, and the offer has no `RTP/SAVP` stream we can key (or the
    /// signalling is not TLS, so keys may not be exchanged, RFC 4568 §8.3).
    #[error("SRTP is required: offer RTP/SAVP with a=crypto AES_CM_128_HMAC_SHA1_80 over TLS")]
    SrtpRequired,
    /// An `RTP/SAVP` stream whose `a=crypto` lines are all unusable (RFC 4568 §7.1.2).
    #[error("no usable a=crypto line: we support AES_CM_128_HMAC_SHA1_80/_32 with one inline key")]
    NoUsableCrypto,
}

impl SdpError {
    /// Whether the body itself is malformed (as opposed to well-formed but unacceptable).
    pub fn is_parse_error(&self) -> bool {
        matches!(
            self,
            SdpError::MissingVersion
                | SdpError::UnsupportedVersion { .. }
                | SdpError::MissingOrigin
                | SdpError::MalformedLine { .. }
                | SdpError::DuplicateLine { .. }
                | SdpError::InvalidOrigin { .. }
                | SdpError::InvalidConnection { .. }
                | SdpError::InvalidMedia { .. }
        )
    }

    /// The status a UAS answers an unacceptable offer with: 400 for a body it cannot read,
    /// otherwise 488 Not Acceptable Here (RFC 3261 §13.3.1.1, RFC 3264 §6).
    pub fn status_code(&self) -> u16 {
        if self.is_parse_error() {
            400
        } else {
            488
        }
    }

    /// The RFC 3261 §20.43 warn-code that goes in the Warning header with a 488, if one fits.
    pub fn warning_code(&self) -> Option<u16> {
        match self {
            // §20.43: 301 Incompatible network address formats.
            SdpError::UnsupportedAddress { .. } | SdpError::UnusableAddress { .. } => Some(301),
            SdpError::UnsupportedTransport { .. } | SdpError::SrtpRequired => Some(302),
            SdpError::NoAudioStream => Some(304),
            SdpError::NoCommonCodec | SdpError::AnswerNotFromOffer { .. } => Some(305),
            _ if self.is_parse_error() => None,
            _ => Some(399),
        }
    }

    /// A Warning header value for the 488 (RFC 3261 §20.43):
    /// `305 pbx.example.com "no common codec: we support PCMU and PCMA"`.
    pub fn warning_header(&self, agent: &str) -> Option<String> {
        let code = self.warning_code()?;
        // warn-text is a quoted-string: keep it free of quotes and backslashes.
        let text = self.to_string().replace(['"', '\\'], "'");
        Some(format!("{code} {agent} \"{text}\""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_failures_map_to_488_with_warning() {
        assert_eq!(SdpError::NoCommonCodec.status_code(), 488);
        assert_eq!(SdpError::NoCommonCodec.warning_code(), Some(305));
        assert_eq!(SdpError::NoAudioStream.warning_code(), Some(304));
        assert_eq!(SdpError::MissingOrigin.status_code(), 400);
        assert_eq!(SdpError::MissingOrigin.warning_code(), None);
        assert_eq!(
            SdpError::NoCommonCodec
                .warning_header("pbx.example.com")
                .as_deref(),
            Some("305 pbx.example.com \"no common codec: we support PCMU and PCMA\"")
        );
        let odd = SdpError::UnsupportedAddress {
            media_index: 0,
            address: "a\"b".into(),
        };
        let header = odd.warning_header("h").unwrap();
        assert!(header.starts_with("301 h \""));
        assert_eq!(header.matches('"').count(), 2, "{header}");
    }
}
