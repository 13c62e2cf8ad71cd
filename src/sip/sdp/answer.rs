//! Answering a peer's offer (RFC 3264 §6), and the [`NegotiatedMedia`] that results.
//!
//! We accept exactly one stream: the first `audio` stream on `RTP/AVP` (or `RTP/AVPF`, which an
//! AVP endpoint interoperates with, RFC 4585 §5) with a non-zero port and a codec in common, or,
//! when the dialog's SRTP policy allows it, on `RTP/SAVP`/`RTP/SAVPF` with a usable SDES
//! `a=crypto` line (see [`super::crypto`]; `required` takes only those). Every other `m=` line —
//! video, a second audio stream, DTLS-SRTP profiles — is rejected with port 0 and its format
//! list kept (§6). The codec is the first in the offer's order that we support
//! (or in ours, see [`CodecPreference`](super::CodecPreference)), under the payload type number
//! the offer used (§6.1); telephone-event is mirrored with the offer's number and `fmtp`.
//!
//! Hold (§8.4): `a=sendonly`/`a=inactive` in the offer, or the RFC 2543 `c=0.0.0.0`. For the
//! latter we still answer the offer's direction reversed — an RFC 2543 peer may not know
//! `recvonly` — but the [`NegotiatedMedia`] says we must not send.

use std::net::{IpAddr, SocketAddr};

use super::codec::{codec_of, ptime_of, telephone_event_of, Codec, CodecPreference, LocalMedia};
use super::crypto::{self, CryptoLine, SdesKeys, SrtpPolicy};
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
    /// The SRTP keys when the stream is SRTP (SDES, RFC 4568); `None`: plain RTP.
    pub srtp: Option<SdesKeys>,
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
            srtp: None,
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

    let proto = match &chosen.security {
        Security::Downgraded => crypto::plain_profile(&m.proto),
        Security::Plain | Security::Sdes(_) => &m.proto,
    };
    let mut section = audio_section(
        local,
        proto,
        &[(chosen.codec, chosen.payload_type)],
        dtmf.map(|pt| (pt, m.fmtp(&pt.to_string()).map(|f| f.params.clone()))),
        ptime_ms,
        ours,
    );
    // RFC 4568 §7.1.2: the answer carries one crypto line with the tag and suite it accepted
    // and the answerer's own key.
    let srtp = match (&chosen.security, local.srtp.usable_key()) {
        (Security::Sdes(theirs), Some(key)) => {
            let line = CryptoLine {
                tag: theirs.tag,
                suite: theirs.suite,
                key: key.clone(),
            };
            section.attributes.push(line.to_attribute());
            Some(SdesKeys {
                suite: theirs.suite,
                ours: key.clone(),
                theirs: theirs.key.clone(),
            })
        }
        _ => None,
    };
    answer.media[chosen.index] = section;
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
        srtp,
    };
    Ok((answer, negotiated))
}

struct Chosen {
    index: usize,
    codec: Codec,
    payload_type: u8,
    security: Security,
}

/// How the chosen stream is protected.
enum Security {
    /// Offered plain, answered plain.
    Plain,
    /// Offered `RTP/SAVP` where keys may not be exchanged (UDP/TCP signalling) under the
    /// `optional` policy: answered as plain `RTP/AVP` without keys.
    Downgraded,
    /// SRTP with the offerer's key from this line.
    Sdes(CryptoLine),
}

/// Whether the offered stream `m` can be taken under `local`'s SRTP policy, and how.
/// `Err(true)`: an SDES stream whose crypto lines are all unusable.
fn security_for(m: &MediaDescription, local: &LocalMedia) -> Result<Security, bool> {
    let policy = local.srtp.policy;
    if is_plain_rtp(&m.proto) {
        // RFC 4568 does not let a required policy accept plain RTP.
        return if policy == SrtpPolicy::Required {
            Err(false)
        } else {
            Ok(Security::Plain)
        };
    }
    if !crypto::is_sdes_profile(&m.proto) || policy == SrtpPolicy::None {
        return Err(false);
    }
    if local.srtp.usable_key().is_none() {
        // §8.3: no keys over unsecured signalling. `optional` answers plain RTP instead.
        return if policy == SrtpPolicy::Optional {
            Ok(Security::Downgraded)
        } else {
            Err(false)
        };
    }
    crypto::first_usable(m).map(Security::Sdes).ok_or(true)
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
    let mut bad_crypto = false;
    let candidates: Vec<_> = live
        .filter_map(|(index, m)| match security_for(m, local) {
            Ok(security) => Some((index, m, security)),
            Err(crypto) => {
                bad_crypto |= crypto;
                None
            }
        })
        .collect();
    if candidates.is_empty() {
        return Err(if bad_crypto {
            SdpError::NoUsableCrypto
        } else if local.srtp.policy == SrtpPolicy::Required {
            SdpError::SrtpRequired
        } else {
            SdpError::UnsupportedTransport {
                proto: first_live.proto.clone(),
            }
        });
    }
    candidates
        .into_iter()
        .find_map(|(index, m, security)| {
            choose_codec(m, local, keep).map(|(codec, payload_type)| Chosen {
                index,
                codec,
                payload_type,
                security,
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

    fn srtp_local(policy: SrtpPolicy, tls: bool) -> LocalMedia {
        let mut l = local();
        l.srtp = crypto::SrtpLocal {
            policy,
            secure_signalling: tls,
            key: Some(crypto::MasterKey::new([9; 30])),
        };
        l
    }

    const THEIR_KEY: &str = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";

    #[test]
    fn sdes_offer_over_tls_is_answered_with_our_key_and_the_first_usable_tag() {
        // An unknown suite, then bad base64, then a key that is too short, then a good line:
        // RFC 4568 §7.1.2, the first acceptable one in the offer's order wins.
        let o = offer(&format!(
            "m=audio 4000 RTP/SAVP 0\r\n\
             a=crypto:1 AES_256_CM_HMAC_SHA1_80 inline:{THEIR_KEY}\r\n\
             a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:***\r\n\
             a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\r\n\
             a=crypto:4 AES_CM_128_HMAC_SHA1_32 inline:{THEIR_KEY}|2^31\r\n"
        ));
        let l = srtp_local(SrtpPolicy::Optional, true);
        let (sdp, neg) = answer(&o, &l, None).unwrap();
        let m = &sdp.media[0];
        assert_eq!(m.proto, "RTP/SAVP");
        let lines: Vec<_> = crypto::crypto_lines(m).collect();
        assert_eq!(lines.len(), 1, "{sdp}");
        let ours = lines[0].clone().unwrap();
        assert_eq!(ours.tag, 4);
        assert_eq!(ours.suite, crypto::CryptoSuite::AesCm128HmacSha1_32);
        assert_eq!(ours.key, crypto::MasterKey::new([9; 30]));
        let keys = neg.srtp.expect("SRTP negotiated");
        assert_eq!(keys.ours, crypto::MasterKey::new([9; 30]));
        assert_eq!(keys.theirs.to_base64(), THEIR_KEY);
        assert_eq!(keys.suite, crypto::CryptoSuite::AesCm128HmacSha1_32);
    }

    #[test]
    fn sdes_offer_with_no_usable_line_gets_488() {
        let o = offer("m=audio 4000 RTP/SAVP 0\r\na=crypto:1 F8_128_HMAC_SHA1_80 inline:AAAA\r\n");
        let err = answer(&o, &srtp_local(SrtpPolicy::Optional, true), None).unwrap_err();
        assert_eq!(err, SdpError::NoUsableCrypto);
        assert_eq!(err.status_code(), 488);
        let none = offer("m=audio 4000 RTP/SAVP 0\r\n");
        let err = answer(&none, &srtp_local(SrtpPolicy::Required, true), None).unwrap_err();
        assert_eq!(err.status_code(), 488);
    }

    #[test]
    fn sdes_offer_over_udp_under_optional_is_answered_plain_without_keys() {
        let o = offer(&format!(
            "m=audio 4000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{THEIR_KEY}\r\n"
        ));
        let (sdp, neg) = answer(&o, &srtp_local(SrtpPolicy::Optional, false), None).unwrap();
        assert_eq!(sdp.media[0].proto, "RTP/AVP");
        assert!(!sdp.to_string().contains("crypto"), "{sdp}");
        assert!(neg.srtp.is_none());
        // Under `required` the same offer is refused (no keys over UDP, RFC 4568 §8.3).
        let err = answer(&o, &srtp_local(SrtpPolicy::Required, false), None).unwrap_err();
        assert_eq!(err, SdpError::SrtpRequired);
        // Under `none` it is refused as before.
        let err = answer(&o, &srtp_local(SrtpPolicy::None, true), None).unwrap_err();
        assert!(
            matches!(err, SdpError::UnsupportedTransport { .. }),
            "{err:?}"
        );
    }

    #[test]
    fn plain_offer_under_required_gets_488_and_under_optional_stays_plain() {
        let o = offer("m=audio 4000 RTP/AVP 0\r\n");
        let err = answer(&o, &srtp_local(SrtpPolicy::Required, true), None).unwrap_err();
        assert_eq!(err, SdpError::SrtpRequired);
        assert_eq!((err.status_code(), err.warning_code()), (488, Some(302)));
        let (sdp, neg) = answer(&o, &srtp_local(SrtpPolicy::Optional, true), None).unwrap();
        assert_eq!(sdp.media[0].proto, "RTP/AVP");
        assert!(neg.srtp.is_none());
    }

    #[test]
    fn required_policy_offers_savp_and_reads_the_answer_key() {
        let l = srtp_local(SrtpPolicy::Required, true);
        let ours = super::super::offer(&l, Direction::SendRecv);
        assert_eq!(ours.media[0].proto, "RTP/SAVP");
        let line = crypto::first_usable(&ours.media[0]).unwrap();
        assert_eq!(line.key, crypto::MasterKey::new([9; 30]));
        let good = offer(&format!(
            "m=audio 5000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{THEIR_KEY}\r\n"
        ));
        let neg = super::super::process_answer(&ours, &good).unwrap();
        assert_eq!(neg.srtp.unwrap().theirs.to_base64(), THEIR_KEY);
        let plain = offer("m=audio 5000 RTP/AVP 0\r\n");
        assert_eq!(
            super::super::process_answer(&ours, &plain),
            Err(SdpError::SrtpRequired)
        );
        let wrong_tag = offer(&format!(
            "m=audio 5000 RTP/SAVP 0\r\na=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:{THEIR_KEY}\r\n"
        ));
        assert_eq!(
            super::super::process_answer(&ours, &wrong_tag),
            Err(SdpError::NoUsableCrypto)
        );
        // `optional` offers plain RTP (no capability negotiation).
        let optional =
            super::super::offer(&srtp_local(SrtpPolicy::Optional, true), Direction::SendRecv);
        assert_eq!(optional.media[0].proto, "RTP/AVP");
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
