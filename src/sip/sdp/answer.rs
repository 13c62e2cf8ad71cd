//! Answering a peer's offer (RFC 3264 §6), and the [`NegotiatedMedia`] that results.
//!
//! We accept exactly one stream: the first `audio` stream on `RTP/AVP` (or `RTP/AVPF`, which an
//! AVP endpoint interoperates with, RFC 4585 §5) with a non-zero port and a codec in common.
//! Every other `m=` line — video, a second audio stream, SRTP profiles — is rejected with port 0
//! and its format list kept (§6). The codec is the first in the offer's order that we support
//! (or in ours, see [`CodecPreference`](super::CodecPreference)), under the payload type number
//! the offer used (§6.1); telephone-event is mirrored with the offer's number and `fmtp`.
//!
//! Hold (§8.4): `a=sendonly`/`a=inactive` in the offer, or the RFC 2543 `c=0.0.0.0`. For the
//! latter we still answer the offer's direction reversed — an RFC 2543 peer may not know
//! `recvonly` — but the [`NegotiatedMedia`] says we must not send.

use std::net::{IpAddr, SocketAddr};

use super::codec::{codec_of, ptime_of, telephone_event_of, Codec, CodecPreference, LocalMedia};
use super::model::{
    Attribute, Connection, Direction, Fmtp, MediaDescription, Origin, Rtcp, RtpMap,
    SessionDescription, Timing,
};
use super::SdpError;

/// The outcome of one offer/answer exchange, from our side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NegotiatedMedia {
    /// Where to send RTP; `None` when the stream is held with `c=0.0.0.0`, removed (port 0)
    /// or rejected.
    pub remote: Option<SocketAddr>,
    /// Where to send RTCP: RFC 3605 `a=rtcp`, else RTP port + 1 (RFC 3550 §11).
    pub remote_rtcp: Option<SocketAddr>,
    pub codec: Codec,
    /// The payload type number we send the codec with.
    pub payload_type: u8,
    /// The telephone-event payload type, when both sides use RFC 4733.
    pub dtmf_payload_type: Option<u8>,
    /// The packet time we send with.
    pub ptime_ms: u32,
    /// What *we* may do on the stream.
    pub direction: Direction,
    /// The peer put us on hold (`sendonly`, `inactive` or `c=0.0.0.0` from it).
    pub hold: bool,
}

impl NegotiatedMedia {
    /// Whether we may send RTP now: the direction allows it and there is somewhere to send to.
    pub fn we_send(&self) -> bool {
        self.direction.sends() && self.remote.is_some()
    }

    pub fn we_receive(&self) -> bool {
        self.direction.receives()
    }
}

/// Answers `offer` (RFC 3264 §6). `keep` is the codec currently in use on this dialog, kept
/// when the (re-)offer still allows it (§8.3.3: a change of codec is not the answerer's whim).
pub fn answer(
    offer: &SessionDescription,
    local: &LocalMedia,
    keep: Option<Codec>,
) -> Result<(SessionDescription, NegotiatedMedia), SdpError> {
    let chosen = choose_stream(offer, local, keep)?;
    let mut answer = skeleton(local);
    answer.media = offer.media.iter().map(rejected).collect();
    let Some(chosen) = chosen else {
        // Every audio stream has port 0: the offerer removed it (§8.2). Answer all-zero.
        let codec = keep
            .or(local.codecs.first().copied())
            .unwrap_or(Codec::Pcmu);
        let removed = NegotiatedMedia {
            remote: None,
            remote_rtcp: None,
            codec,
            payload_type: codec.static_payload_type(),
            dtmf_payload_type: None,
            ptime_ms: super::codec::DEFAULT_PTIME_MS,
            direction: Direction::Inactive,
            hold: false,
        };
        return Ok((answer, removed));
    };

    let m = &offer.media[chosen.index];
    let connection = offer.connection_for(m).ok_or(SdpError::MissingConnection {
        media_index: chosen.index,
    })?;
    let ip = ip_of(connection, chosen.index)?;
    let held_by_address = connection.is_hold_address();
    let offered = offer.direction_for(m);
    let ours = offered.reversed().intersect(local.direction);
    let dtmf = telephone_event_of(m).filter(|_| local.telephone_event);
    let ptime_ms = ptime_of(m);

    answer.media[chosen.index] = audio_section(
        local,
        &m.proto,
        &[(chosen.codec, chosen.payload_type)],
        dtmf.map(|pt| (pt, m.fmtp(&pt.to_string()).map(|f| f.params.clone()))),
        ptime_ms,
        ours,
    );
    let (remote, remote_rtcp) = if held_by_address {
        (None, None)
    } else {
        remote_addresses(ip, m)
    };
    let negotiated = NegotiatedMedia {
        remote,
        remote_rtcp,
        codec: chosen.codec,
        payload_type: chosen.payload_type,
        dtmf_payload_type: dtmf,
        ptime_ms,
        direction: if held_by_address {
            ours.without_send()
        } else {
            ours
        },
        hold: held_by_address || matches!(offered, Direction::SendOnly | Direction::Inactive),
    };
    Ok((answer, negotiated))
}

struct Chosen {
    index: usize,
    codec: Codec,
    payload_type: u8,
}

/// The stream and codec to accept; `Ok(None)` when every audio stream was removed (port 0).
fn choose_stream(
    offer: &SessionDescription,
    local: &LocalMedia,
    keep: Option<Codec>,
) -> Result<Option<Chosen>, SdpError> {
    let audio = || {
        offer
            .media
            .iter()
            .enumerate()
            .filter(|(_, m)| m.media.eq_ignore_ascii_case("audio"))
    };
    if audio().next().is_none() {
        return Err(SdpError::NoAudioStream);
    }
    // §8.2: a zero port removes a stream; only the others are candidates.
    let mut live = audio().filter(|(_, m)| m.port != 0).peekable();
    let Some((_, first_live)) = live.peek().copied() else {
        return Ok(None);
    };
    let mut rtp = live.filter(|(_, m)| is_plain_rtp(&m.proto)).peekable();
    if rtp.peek().is_none() {
        return Err(SdpError::UnsupportedTransport {
            proto: first_live.proto.clone(),
        });
    }
    rtp.find_map(|(index, m)| {
        choose_codec(m, local, keep).map(|(codec, payload_type)| Chosen {
            index,
            codec,
            payload_type,
        })
    })
    .map(Some)
    .ok_or(SdpError::NoCommonCodec)
}

/// RTP without encryption: the profiles we can answer as they are.
fn is_plain_rtp(proto: &str) -> bool {
    proto.eq_ignore_ascii_case("RTP/AVP") || proto.eq_ignore_ascii_case("RTP/AVPF")
}

fn choose_codec(
    m: &MediaDescription,
    local: &LocalMedia,
    keep: Option<Codec>,
) -> Option<(Codec, u8)> {
    let offered: Vec<(Codec, u8)> = m
        .payload_types()
        .filter_map(|pt| codec_of(m, pt).map(|c| (c, pt)))
        .filter(|(c, _)| local.supports(*c))
        .collect();
    let find = |want: Codec| offered.iter().copied().find(|(c, _)| *c == want);
    if let Some(kept) = keep.and_then(find) {
        return Some(kept);
    }
    match local.preference {
        CodecPreference::Offerer => offered.first().copied(),
        CodecPreference::Local => local.codecs.iter().find_map(|c| find(*c)),
    }
}

/// The stream's IP address, if media may go there: an IP literal (no DNS here) that is not
/// multicast, broadcast or unspecified (only `0.0.0.0`, the RFC 3264 §8.4 hold, is).
pub(super) fn ip_of(connection: &Connection, media_index: usize) -> Result<IpAddr, SdpError> {
    let ip = connection
        .ip()
        .ok_or_else(|| SdpError::UnsupportedAddress {
            media_index,
            address: connection.address.clone(),
        })?;
    match super::model::unusable_address(ip) {
        Some(kind) => Err(SdpError::UnusableAddress {
            media_index,
            address: ip.to_string(),
            kind,
        }),
        None => Ok(ip),
    }
}

/// RTP to the stream's address and port; RTCP per RFC 3605 `a=rtcp`, else port + 1.
pub(super) fn remote_addresses(
    ip: IpAddr,
    m: &MediaDescription,
) -> (Option<SocketAddr>, Option<SocketAddr>) {
    if m.port == 0 {
        return (None, None);
    }
    let rtcp = match m.rtcp() {
        Some(Rtcp {
            port,
            connection: Some(c),
        }) => c
            .ip()
            // RTCP goes nowhere rather than to a group or a broadcast address.
            .filter(|ip| super::model::unusable_address(*ip).is_none() && !ip.is_unspecified())
            .map(|rtcp_ip| SocketAddr::new(rtcp_ip, *port)),
        Some(Rtcp { port, .. }) => Some(SocketAddr::new(ip, *port)),
        None => m.port.checked_add(1).map(|p| SocketAddr::new(ip, p)),
    };
    (Some(SocketAddr::new(ip, m.port)), rtcp)
}

/// A description of ours with no media yet.
pub(super) fn skeleton(local: &LocalMedia) -> SessionDescription {
    let connection = Connection::for_ip(local.address);
    SessionDescription {
        origin: Origin {
            username: local.username.clone(),
            session_id: local.session_id.to_string(),
            session_version: local.session_version,
            nettype: connection.nettype.clone(),
            addrtype: connection.addrtype.clone(),
            address: connection.address.clone(),
        },
        session_name: local.session_name.clone(),
        connection: Some(connection),
        timing: Timing::default(),
        attributes: Vec::new(),
        other_lines: Vec::new(),
        media: Vec::new(),
    }
}

/// Our audio section: the given codecs in order, telephone-event, ptime, direction.
pub(super) fn audio_section(
    local: &LocalMedia,
    proto: &str,
    codecs: &[(Codec, u8)],
    dtmf: Option<(u8, Option<String>)>,
    ptime_ms: u32,
    direction: Direction,
) -> MediaDescription {
    let mut formats: Vec<String> = codecs.iter().map(|(_, pt)| pt.to_string()).collect();
    let mut attributes: Vec<Attribute> = codecs
        .iter()
        .map(|(codec, pt)| {
            Attribute::RtpMap(RtpMap {
                payload_type: *pt,
                encoding: codec.encoding_name().to_owned(),
                clock_rate: Codec::CLOCK_RATE,
                params: None,
            })
        })
        .collect();
    if let Some((pt, fmtp)) = dtmf {
        formats.push(pt.to_string());
        attributes.push(Attribute::RtpMap(RtpMap {
            payload_type: pt,
            encoding: "telephone-event".to_owned(),
            clock_rate: Codec::CLOCK_RATE,
            params: None,
        }));
        if let Some(params) = fmtp {
            attributes.push(Attribute::Fmtp(Fmtp {
                format: pt.to_string(),
                params,
            }));
        }
    }
    attributes.push(Attribute::Ptime(ptime_ms));
    if let Some(port) = local
        .rtcp_port
        .filter(|p| Some(*p) != local.rtp_port.checked_add(1))
    {
        attributes.push(Attribute::Rtcp(Rtcp {
            port,
            connection: None,
        }));
    }
    // Always explicit, even sendrecv: a session-level attribute of the peer's is not ours.
    attributes.push(Attribute::Direction(direction));
    MediaDescription {
        media: "audio".to_owned(),
        port: local.rtp_port,
        port_count: None,
        proto: proto.to_owned(),
        formats,
        connection: None,
        attributes,
        other_lines: Vec::new(),
    }
}

/// The answer to a stream we do not take: port 0, the offer's media, proto and formats (§6).
fn rejected(offered: &MediaDescription) -> MediaDescription {
    MediaDescription {
        media: offered.media.clone(),
        port: 0,
        port_count: None,
        proto: offered.proto.clone(),
        formats: offered.formats.clone(),
        connection: None,
        attributes: Vec::new(),
        other_lines: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> LocalMedia {
        LocalMedia::new("203.0.113.5".parse().unwrap(), 30000, 42)
    }

    fn offer(media: &str) -> SessionDescription {
        format!("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n{media}")
            .parse()
            .unwrap()
    }

    #[test]
    fn answer_has_our_address_one_codec_and_explicit_direction() {
        let (sdp, neg) = answer(&offer("m=audio 4000 RTP/AVP 8 0\r\n"), &local(), None).unwrap();
        assert_eq!(
            sdp.to_string(),
            "v=0\r\no=holdline 42 42 IN IP4 203.0.113.5\r\ns=holdline\r\n\
             c=IN IP4 203.0.113.5\r\nt=0 0\r\nm=audio 30000 RTP/AVP 8\r\n\
             a=rtpmap:8 PCMA/8000\r\na=ptime:20\r\na=sendrecv\r\n"
        );
        assert_eq!(neg.remote, Some("192.0.2.1:4000".parse().unwrap()));
        assert_eq!(neg.remote_rtcp, Some("192.0.2.1:4001".parse().unwrap()));
        assert!(neg.we_send() && neg.we_receive() && !neg.hold);
    }

    #[test]
    fn kept_codec_wins_over_offer_order() {
        let o = offer("m=audio 4000 RTP/AVP 0 8\r\n");
        let (_, neg) = answer(&o, &local(), Some(Codec::Pcma)).unwrap();
        assert_eq!((neg.codec, neg.payload_type), (Codec::Pcma, 8));
    }

    #[test]
    fn local_preference_order_is_honoured_when_configured() {
        let mut l = local();
        l.codecs = vec![Codec::Pcma, Codec::Pcmu];
        l.preference = CodecPreference::Local;
        let (_, neg) = answer(&offer("m=audio 4000 RTP/AVP 0 8\r\n"), &l, None).unwrap();
        assert_eq!(neg.codec, Codec::Pcma);
    }

    #[test]
    fn srtp_only_offer_is_unsupported_transport() {
        let err = answer(&offer("m=audio 4000 RTP/SAVP 0\r\n"), &local(), None).unwrap_err();
        assert_eq!(err.warning_code(), Some(302));
    }

    #[test]
    fn dynamic_pcmu_keeps_the_offered_number() {
        let o = offer("m=audio 4000 RTP/AVP 96\r\na=rtpmap:96 PCMU/8000\r\n");
        let (sdp, neg) = answer(&o, &local(), None).unwrap();
        assert_eq!(neg.payload_type, 96);
        assert_eq!(sdp.media[0].formats, ["96"]);
        assert_eq!(sdp.media[0].rtpmap(96).unwrap().encoding, "PCMU");
    }

    #[test]
    fn multicast_broadcast_and_unspecified_connections_are_refused_but_hold_is_not() {
        let with = |c: &str| -> SessionDescription {
            format!("v=0\r\no=- 1 1 IN IP4 h\r\nc={c}\r\nm=audio 4000 RTP/AVP 0\r\n")
                .parse()
                .unwrap()
        };
        for c in [
            "IN IP4 224.0.0.1",
            "IN IP4 224.0.0.1/127",
            "IN IP4 255.255.255.255",
            "IN IP6 ff02::1",
            "IN IP6 ::",
        ] {
            let err = answer(&with(c), &local(), None).unwrap_err();
            assert!(
                matches!(err, SdpError::UnusableAddress { media_index: 0, .. }),
                "{c}: {err:?}"
            );
            assert_eq!(err.status_code(), 488);
            assert_eq!(err.warning_code(), Some(301));
        }
        let (_, held) = answer(&with("IN IP4 0.0.0.0"), &local(), None).unwrap();
        assert!(held.hold && held.remote.is_none());
        // A unicast stream whose a=rtcp names a group: RTP goes, RTCP does not.
        let o: SessionDescription = "v=0\r\no=- 1 1 IN IP4 h\r\nc=IN IP4 192.0.2.1\r\n\
            m=audio 4000 RTP/AVP 0\r\na=rtcp:4001 IN IP4 224.0.0.1\r\n"
            .parse()
            .unwrap();
        let (_, neg) = answer(&o, &local(), None).unwrap();
        assert!(neg.remote.is_some() && neg.remote_rtcp.is_none());
    }

    #[test]
    fn fqdn_connection_is_refused() {
        let o: SessionDescription = "v=0\r\no=- 1 1 IN IP4 h\r\nc=IN IP4 pbx.example.com\r\n\
            m=audio 4000 RTP/AVP 0\r\n"
            .parse()
            .unwrap();
        assert!(matches!(
            answer(&o, &local(), None),
            Err(SdpError::UnsupportedAddress { media_index: 0, .. })
        ));
    }

    #[test]
    fn rtcp_port_is_advertised_only_when_not_adjacent() {
        let mut l = local();
        l.rtcp_port = Some(30001);
        let (sdp, _) = answer(&offer("m=audio 4000 RTP/AVP 0\r\n"), &l, None).unwrap();
        assert!(sdp.media[0].rtcp().is_none());
        l.rtcp_port = Some(31000);
        let (sdp, _) = answer(&offer("m=audio 4000 RTP/AVP 0\r\n"), &l, None).unwrap();
        assert_eq!(sdp.media[0].rtcp().unwrap().port, 31000);
    }
}
