//! What we can do ([`Codec`], [`LocalMedia`]) and how a format in a peer's media description
//! maps onto it: static payload types (RFC 3551 §6: 0 = PCMU, 8 = PCMA), dynamic ones by
//! `a=rtpmap` name and rate (RFC 8866 §6.6), RFC 4733 telephone-event, and packet time
//! (RFC 8866 §6.4). Policy-free: `answer`/`offer` decide what to pick.

use std::net::IpAddr;

use super::model::{Direction, MediaDescription};

/// The codecs we send and receive: G.711 at 8 kHz, mono.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Codec {
    Pcmu,
    Pcma,
}

impl Codec {
    /// G.711 and telephone-event both run an 8000 Hz RTP clock.
    pub const CLOCK_RATE: u32 = 8000;

    /// The RFC 3551 static payload type.
    pub fn static_payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    /// The `a=rtpmap` encoding name.
    pub fn encoding_name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    fn from_static(payload_type: u8) -> Option<Codec> {
        match payload_type {
            0 => Some(Codec::Pcmu),
            8 => Some(Codec::Pcma),
            _ => None,
        }
    }

    fn from_encoding(name: &str) -> Option<Codec> {
        // RFC 8866 §6.6 + RFC 4855 §3: encoding names are case-insensitive.
        if name.eq_ignore_ascii_case("PCMU") {
            Some(Codec::Pcmu)
        } else if name.eq_ignore_ascii_case("PCMA") {
            Some(Codec::Pcma)
        } else {
            None
        }
    }
}

/// Whose order decides between two codecs both sides support.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CodecPreference {
    /// The first codec in the offer's format list that we support (RFC 3264 §6.1 leaves the
    /// choice to the answerer; following the offerer is what callers expect).
    #[default]
    Offerer,
    /// The first codec of [`LocalMedia::codecs`] that the offer lists.
    Local,
}

/// Our side of a media session: where we receive RTP and what we do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalMedia {
    /// The address in our `c=` and `o=` lines (the public address behind NAT).
    pub address: IpAddr,
    pub rtp_port: u16,
    /// Advertised with RFC 3605 `a=rtcp` when it is not `rtp_port + 1`.
    pub rtcp_port: Option<u16>,
    /// The codecs we support, in our order of preference. Default: PCMU, PCMA.
    pub codecs: Vec<Codec>,
    pub preference: CodecPreference,
    /// Offer and accept RFC 4733 telephone-event.
    pub telephone_event: bool,
    /// What we are willing to do on this stream; the answer never grants more (RFC 3264 §6.1).
    pub direction: Direction,
    /// `o=` username, session id and the version our next description starts from.
    pub username: String,
    pub session_id: u64,
    pub session_version: u64,
    /// `s=`.
    pub session_name: String,
    /// SRTP policy, signalling security and our key for this dialog (off unless set).
    pub srtp: super::crypto::SrtpLocal,
}

impl LocalMedia {
    pub fn new(address: IpAddr, rtp_port: u16, session_id: u64) -> LocalMedia {
        LocalMedia {
            address,
            rtp_port,
            rtcp_port: None,
            codecs: vec![Codec::Pcmu, Codec::Pcma],
            preference: CodecPreference::Offerer,
            telephone_event: true,
            direction: Direction::SendRecv,
            username: "holdline".to_owned(),
            session_id,
            session_version: session_id,
            session_name: "holdline".to_owned(),
            srtp: super::crypto::SrtpLocal::off(),
        }
    }

    pub fn supports(&self, codec: Codec) -> bool {
        self.codecs.contains(&codec)
    }
}

/// The payload type we use for telephone-event in our own offers (a common dynamic choice).
pub const TELEPHONE_EVENT_PT: u8 = 101;
/// The RFC 4733 events we handle: DTMF 0–9, *, #, A–D (0–15) and flash (16).
pub const TELEPHONE_EVENT_FMTP: &str = "0-16";
/// Packet time when the peer states none we can honour (RFC 3551 §4.5: 20 ms default).
pub const DEFAULT_PTIME_MS: u32 = 20;

/// The codec a payload type of `media` stands for, if it is one of ours.
pub fn codec_of(media: &MediaDescription, payload_type: u8) -> Option<Codec> {
    match media.rtpmap(payload_type) {
        // An explicit rtpmap wins, also for a static number: it is what the peer will send.
        Some(map) => Codec::from_encoding(&map.encoding).filter(|_| {
            map.clock_rate == Codec::CLOCK_RATE
                && map.params.as_deref().is_none_or(|ch| ch.trim() == "1")
        }),
        None => Codec::from_static(payload_type),
    }
}

/// The first payload type of `media` mapped to telephone-event at 8000 Hz (RFC 4733 §7.1.1).
/// Offers often carry a second one at 48000 Hz for Opus; that one is not ours.
pub fn telephone_event_of(media: &MediaDescription) -> Option<u8> {
    media.payload_types().find(|pt| {
        media.rtpmap(*pt).is_some_and(|m| {
            m.encoding.eq_ignore_ascii_case("telephone-event") && m.clock_rate == Codec::CLOCK_RATE
        })
    })
}

/// The packet time to send `media` with: its `a=ptime` when it is 10–60 ms in whole 10 ms
/// steps (whole G.711 frames we can pace), else 20 ms — lowered to 10 ms when `a=maxptime`
/// forbids 20 (RFC 8866 §6.5).
pub fn ptime_of(media: &MediaDescription) -> u32 {
    let usable = |ms: u32| (10..=60).contains(&ms) && ms % 10 == 0;
    match media.ptime() {
        Some(ms) if usable(ms) => ms,
        _ => match media.maxptime() {
            Some(max) if (10..DEFAULT_PTIME_MS).contains(&max) => 10,
            _ => DEFAULT_PTIME_MS,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::sdp::SessionDescription;

    fn media(lines: &str) -> MediaDescription {
        let text = format!("v=0\r\no=- 1 1 IN IP4 h\r\n{lines}");
        let mut sdp: SessionDescription = text.parse().unwrap();
        sdp.media.remove(0)
    }

    #[test]
    fn static_and_dynamic_g711_are_recognised() {
        let m = media(
            "m=audio 1 RTP/AVP 0 8 96 97 98 18\r\na=rtpmap:96 pcma/8000\r\n\
             a=rtpmap:97 PCMU/16000\r\na=rtpmap:98 PCMU/8000/2\r\n",
        );
        assert_eq!(codec_of(&m, 0), Some(Codec::Pcmu));
        assert_eq!(codec_of(&m, 8), Some(Codec::Pcma));
        assert_eq!(codec_of(&m, 96), Some(Codec::Pcma));
        assert_eq!(codec_of(&m, 97), None);
        assert_eq!(codec_of(&m, 98), None);
        assert_eq!(codec_of(&m, 18), None);
    }

    #[test]
    fn telephone_event_at_8000_is_preferred_over_48000() {
        let m = media(
            "m=audio 1 RTP/AVP 111 0 110 101\r\na=rtpmap:111 opus/48000/2\r\n\
             a=rtpmap:110 telephone-event/48000\r\na=rtpmap:101 telephone-event/8000\r\n",
        );
        assert_eq!(telephone_event_of(&m), Some(101));
    }

    #[test]
    fn ptime_rules() {
        let p = |a: &str| ptime_of(&media(&format!("m=audio 1 RTP/AVP 0\r\n{a}")));
        assert_eq!(p(""), 20);
        assert_eq!(p("a=ptime:30\r\n"), 30);
        assert_eq!(p("a=ptime:60\r\n"), 60);
        assert_eq!(p("a=ptime:25\r\n"), 20);
        assert_eq!(p("a=ptime:90\r\n"), 20);
        assert_eq!(p("a=ptime:0\r\n"), 20);
        assert_eq!(p("a=maxptime:10\r\n"), 10);
        assert_eq!(p("a=maxptime:150\r\n"), 20);
    }
}
