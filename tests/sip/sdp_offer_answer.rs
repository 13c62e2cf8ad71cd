//! RFC 3264 offer/answer against SDP from real equipment: codec choice, telephone-event, stream
//! rejection, hold in its three spellings, versions across re-offers, late offers, IPv6.

use std::net::SocketAddr;

use crate::sip_sdp_samples::*;
use holdline::sip::sdp::{
    answer, offer, process_answer, Codec, Direction, LocalMedia, LocalSession, NegotiatedMedia,
    SdpError, SessionDescription,
};

fn sdp(text: &str) -> SessionDescription {
    text.parse().expect("sample parses")
}

fn local() -> LocalMedia {
    LocalMedia::new("198.51.100.2".parse().unwrap(), 31000, 900)
}

fn answer_to(text: &str) -> (SessionDescription, NegotiatedMedia) {
    answer(&sdp(text), &local(), None).expect("offer is answerable")
}

fn addr(s: &str) -> Option<SocketAddr> {
    Some(s.parse().unwrap())
}

/// A minimal offer around one media section.
fn offer_of(session_attrs: &str, connection: &str, media: &str) -> String {
    format!("v=0\r\no=- 5 5 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 {connection}\r\nt=0 0\r\n{session_attrs}{media}")
}

#[test]
fn every_sample_parses_and_round_trips() {
    for text in ALL {
        let parsed = sdp(text);
        let again: SessionDescription = parsed.to_string().parse().unwrap();
        assert_eq!(parsed, again, "{text}");
    }
}

#[test]
fn answer_prefers_offerers_codec_order() {
    // Yealink lists PCMU first, the SBC and baresip PCMA (after codecs we do not have).
    assert_eq!(answer_to(YEALINK).1.codec, Codec::Pcmu);
    assert_eq!(answer_to(SBC).1.codec, Codec::Pcma);
    let (answer, neg) = answer_to(BARESIP);
    assert_eq!((neg.codec, neg.payload_type), (Codec::Pcma, 8));
    assert_eq!(answer.media[0].formats, ["8", "101"]);
    // Polycom: G.722 and G.722.1 first, then PCMU.
    assert_eq!(answer_to(POLYCOM).1.codec, Codec::Pcmu);
}

#[test]
fn answer_restricted_to_local_codecs() {
    let mut only_pcma = local();
    only_pcma.codecs = vec![Codec::Pcma];
    let (_, neg) = answer(&sdp(YEALINK), &only_pcma, None).unwrap();
    assert_eq!(neg.codec, Codec::Pcma);
}

#[test]
fn answer_mirrors_telephone_event_pt() {
    let (answer, neg) = answer_to(POLYCOM);
    assert_eq!(neg.dtmf_payload_type, Some(127));
    assert_eq!(answer.media[0].formats, ["0", "127"]);
    assert_eq!(
        answer.media[0].rtpmap(127).unwrap().encoding,
        "telephone-event"
    );
    // Polycom sent no fmtp, so neither do we (RFC 4733 §2.4.1 default 0-15 applies).
    assert!(answer.media[0].fmtp("127").is_none());

    let (answer, _) = answer_to(YEALINK);
    assert_eq!(answer.media[0].fmtp("101").unwrap().params, "0-15");
    let (answer, _) = answer_to(SBC);
    assert_eq!(answer.media[0].fmtp("101").unwrap().params, "0-16");

    // Linphone offers telephone-event at 48000, 16000 and 8000: only the last is G.711's.
    let (answer, neg) = answer_to(LINPHONE);
    assert_eq!(neg.dtmf_payload_type, Some(100));
    assert_eq!(answer.media[0].formats, ["0", "100"]);
}

#[test]
fn telephone_event_is_left_out_when_disabled_or_not_offered() {
    let mut no_dtmf = local();
    no_dtmf.telephone_event = false;
    let (answer, neg) = answer(&sdp(YEALINK), &no_dtmf, None).unwrap();
    assert_eq!(neg.dtmf_payload_type, None);
    assert_eq!(answer.media[0].formats, ["0"]);
    let plain = offer_of("", "192.0.2.1", "m=audio 4000 RTP/AVP 0\r\n");
    assert_eq!(answer_to(&plain).1.dtmf_payload_type, None);
}

#[test]
fn answer_rejects_video_with_port_zero() {
    let (answer, neg) = answer_to(LINPHONE);
    assert_eq!(answer.media.len(), 2);
    let video = &answer.media[1];
    assert_eq!((video.media.as_str(), video.port), ("video", 0));
    assert_eq!(video.formats, ["96", "97"]);
    assert_eq!(video.proto, "RTP/AVP");
    assert!(video.attributes.is_empty());
    assert_eq!(neg.remote, addr("192.0.2.15:7078"));
    // a=rtcp:7082 with no address: the stream's address, that port (RFC 3605).
    assert_eq!(neg.remote_rtcp, addr("192.0.2.15:7082"));
}

#[test]
fn answer_rejects_second_audio_stream() {
    let text = offer_of(
        "",
        "192.0.2.1",
        "m=audio 4000 RTP/AVP 0\r\nm=audio 4002 RTP/AVP 8\r\n",
    );
    let (answer, neg) = answer_to(&text);
    assert_eq!(answer.media[0].port, 31000);
    assert_eq!(
        (answer.media[1].port, answer.media[1].formats.clone()),
        (0, vec!["8".to_owned()])
    );
    assert_eq!(neg.remote, addr("192.0.2.1:4000"));
}

#[test]
fn srtp_stream_is_rejected_and_following_rtp_stream_accepted() {
    let (answer, neg) = answer_to(SRTP_THEN_RTP);
    assert_eq!(answer.media[0].port, 0);
    assert_eq!(answer.media[0].proto, "RTP/SAVP");
    assert_eq!(answer.media[0].formats, ["0", "8", "101"]);
    assert_eq!(answer.media[1].port, 31000);
    assert_eq!(neg.remote, addr("203.0.113.30:20002"));
}

#[test]
fn dtls_only_offer_is_refused_with_warning_302() {
    let err = answer(&sdp(WEBRTC), &local(), None).unwrap_err();
    assert!(matches!(err, SdpError::UnsupportedTransport { .. }));
    assert_eq!((err.status_code(), err.warning_code()), (488, Some(302)));
}

#[test]
fn sbc_media_connection_and_rtcp_attribute_are_used() {
    let (_, neg) = answer_to(SBC);
    assert_eq!(neg.remote, addr("203.0.113.21:6000"));
    assert_eq!(neg.remote_rtcp, addr("203.0.113.22:6101"));
    assert_eq!(neg.ptime_ms, 30);
}

#[test]
fn ptime_out_of_range_defaults_to_20() {
    for ptime in ["5", "25", "90", "200", "x"] {
        let text = offer_of(
            "",
            "192.0.2.1",
            &format!("m=audio 4000 RTP/AVP 0\r\na=ptime:{ptime}\r\n"),
        );
        let (answer, neg) = answer_to(&text);
        assert_eq!(neg.ptime_ms, 20, "ptime {ptime}");
        assert_eq!(answer.media[0].ptime(), Some(20));
    }
}

#[test]
fn ptime_in_range_is_honoured_and_echoed() {
    for ptime in [10, 30, 40, 60] {
        let text = offer_of(
            "",
            "192.0.2.1",
            &format!("m=audio 4000 RTP/AVP 8\r\na=ptime:{ptime}\r\n"),
        );
        let (answer, neg) = answer_to(&text);
        assert_eq!(neg.ptime_ms, ptime);
        assert_eq!(answer.media[0].ptime(), Some(ptime));
    }
}

#[test]
fn sendonly_offer_gets_recvonly_answer() {
    let text = offer_of("", "192.0.2.1", "m=audio 4000 RTP/AVP 0\r\na=sendonly\r\n");
    let (answer, neg) = answer_to(&text);
    assert_eq!(answer.media[0].direction(), Some(Direction::RecvOnly));
    assert_eq!(neg.direction, Direction::RecvOnly);
    assert!(neg.hold && !neg.we_send() && neg.we_receive());
    assert_eq!(neg.remote, addr("192.0.2.1:4000"));
}

#[test]
fn recvonly_offer_gets_sendonly_answer() {
    let text = offer_of("", "192.0.2.1", "m=audio 4000 RTP/AVP 0\r\na=recvonly\r\n");
    let (answer, neg) = answer_to(&text);
    assert_eq!(answer.media[0].direction(), Some(Direction::SendOnly));
    assert!(neg.we_send() && !neg.we_receive() && !neg.hold);
}

#[test]
fn inactive_offer_gets_inactive_answer() {
    let text = offer_of("", "192.0.2.1", "m=audio 4000 RTP/AVP 0\r\na=inactive\r\n");
    let (answer, neg) = answer_to(&text);
    assert_eq!(answer.media[0].direction(), Some(Direction::Inactive));
    assert!(neg.hold && !neg.we_send() && !neg.we_receive());
}

#[test]
fn session_level_direction_applies_and_media_level_wins() {
    let session_only = offer_of("a=sendonly\r\n", "192.0.2.1", "m=audio 4000 RTP/AVP 0\r\n");
    assert_eq!(answer_to(&session_only).1.direction, Direction::RecvOnly);
    let both = offer_of(
        "a=sendonly\r\n",
        "192.0.2.1",
        "m=audio 4000 RTP/AVP 0\r\na=sendrecv\r\n",
    );
    let (answer, neg) = answer_to(&both);
    assert_eq!(neg.direction, Direction::SendRecv);
    assert_eq!(answer.media[0].direction(), Some(Direction::SendRecv));
    // Polycom's session-level a=sendrecv.
    assert_eq!(answer_to(POLYCOM).1.direction, Direction::SendRecv);
}

#[test]
fn c_zero_means_hold() {
    let text = offer_of("", "0.0.0.0", "m=audio 4000 RTP/AVP 0\r\n");
    let (answer, neg) = answer_to(&text);
    assert!(neg.hold);
    assert_eq!((neg.remote, neg.remote_rtcp), (None, None));
    assert!(!neg.we_send() && neg.we_receive());
    // Answered as offered (sendrecv) for RFC 2543 peers; we just do not send (RFC 3264 §8.4).
    assert_eq!(answer.media[0].direction(), Some(Direction::SendRecv));
    assert_eq!(answer.connection.unwrap().address, "198.51.100.2");
}

#[test]
fn no_common_codec_is_error() {
    let text = offer_of(
        "",
        "192.0.2.1",
        "m=audio 4000 RTP/AVP 18 9 101\r\na=rtpmap:101 telephone-event/8000\r\n",
    );
    let err = answer(&sdp(&text), &local(), None).unwrap_err();
    assert_eq!(err, SdpError::NoCommonCodec);
    assert_eq!((err.status_code(), err.warning_code()), (488, Some(305)));
    // PCMU at another rate, or stereo, is not our PCMU.
    let text = offer_of(
        "",
        "192.0.2.1",
        "m=audio 4000 RTP/AVP 96 97\r\na=rtpmap:96 PCMU/16000\r\na=rtpmap:97 PCMA/8000/2\r\n",
    );
    assert_eq!(
        answer(&sdp(&text), &local(), None).unwrap_err(),
        SdpError::NoCommonCodec
    );
}

#[test]
fn offer_without_audio_is_refused_with_warning_304() {
    let text = offer_of(
        "",
        "192.0.2.1",
        "m=video 4000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n",
    );
    let err = answer(&sdp(&text), &local(), None).unwrap_err();
    assert_eq!(
        (err.clone(), err.warning_code()),
        (SdpError::NoAudioStream, Some(304))
    );
}

#[test]
fn zero_port_audio_offer_removes_stream() {
    let text = offer_of("", "192.0.2.1", "m=audio 0 RTP/AVP 0 8\r\n");
    let (answer, neg) = answer_to(&text);
    assert_eq!(answer.media[0].port, 0);
    assert_eq!(answer.media[0].formats, ["0", "8"]);
    assert_eq!(neg.remote, None);
    assert_eq!(neg.direction, Direction::Inactive);
    assert!(!neg.we_send() && !neg.we_receive());
}

#[test]
fn ipv6_offer_is_answered() {
    let (_, neg) = answer_to(IPV6);
    assert_eq!(neg.remote, addr("[2001:db8::10]:16000"));
    assert_eq!(neg.remote_rtcp, addr("[2001:db8::10]:16001"));
    let local6 = LocalMedia::new("2001:db8::2".parse().unwrap(), 31000, 1);
    let (answer, _) = answer(&sdp(IPV6), &local6, None).unwrap();
    let text = answer.to_string();
    assert!(
        text.contains("o=holdline 1 1 IN IP6 2001:db8::2\r\n"),
        "{text}"
    );
    assert!(text.contains("c=IN IP6 2001:db8::2\r\n"), "{text}");
}

#[test]
fn polycom_answer_is_exactly_this() {
    let (answer, _) = answer_to(POLYCOM);
    assert_eq!(
        answer.to_string(),
        "v=0\r\no=holdline 900 900 IN IP4 198.51.100.2\r\ns=holdline\r\n\
         c=IN IP4 198.51.100.2\r\nt=0 0\r\nm=audio 31000 RTP/AVP 0 127\r\n\
         a=rtpmap:0 PCMU/8000\r\na=rtpmap:127 telephone-event/8000\r\na=ptime:20\r\n\
         a=sendrecv\r\n"
    );
}

#[test]
fn identical_reoffer_keeps_version() {
    let mut session = LocalSession::new(local());
    let (first, _) = session.answer(&sdp(YEALINK)).unwrap();
    // A session-refresh re-INVITE with the same offer (RFC 4028) gets the same SDP back.
    let (refresh, _) = session.answer(&sdp(YEALINK)).unwrap();
    assert_eq!(refresh, first);
    assert_eq!(refresh.origin.session_version, 900);
}

#[test]
fn changed_reoffer_bumps_version() {
    let mut session = LocalSession::new(local());
    let (first, _) = session.answer(&sdp(YEALINK)).unwrap();
    let hold = YEALINK.replace("a=sendrecv", "a=sendonly");
    let (held, neg) = session.answer(&sdp(&hold)).unwrap();
    assert!(neg.hold);
    assert_eq!(
        held.origin.session_version,
        first.origin.session_version + 1
    );
    assert_eq!(held.media[0].direction(), Some(Direction::RecvOnly));
    // Resumed: our answer is sendrecv again, so it changed again.
    let (resumed, neg) = session.answer(&sdp(YEALINK)).unwrap();
    assert!(!neg.hold && neg.we_send());
    assert_eq!(
        resumed.origin.session_version,
        first.origin.session_version + 2
    );
    assert_eq!(session.last_sent(), Some(&resumed));
    // RFC 2543 hold (c=0.0.0.0) leaves our answer as it was: same SDP, same version.
    let old_hold = YEALINK.replace("c=IN IP4 192.0.2.23", "c=IN IP4 0.0.0.0");
    let (held, neg) = session.answer(&sdp(&old_hold)).unwrap();
    assert!(neg.hold && !neg.we_send());
    assert_eq!(held, resumed);
}

#[test]
fn reoffer_keeps_codec_in_use() {
    let mut session = LocalSession::new(local());
    let (_, neg) = session.answer(&sdp(YEALINK)).unwrap();
    assert_eq!(neg.codec, Codec::Pcmu);
    // The re-offer now prefers PCMA but still allows PCMU: stay on PCMU (RFC 3264 §8.3.3).
    let swapped = YEALINK.replace("RTP/AVP 0 8 18", "RTP/AVP 8 0 18");
    let (answer, neg) = session.answer(&sdp(&swapped)).unwrap();
    assert_eq!(neg.codec, Codec::Pcmu);
    assert_eq!(answer.origin.session_version, 900);
    // A re-offer without PCMU moves to PCMA, with a new version.
    let pcma_only = YEALINK.replace("RTP/AVP 0 8 18", "RTP/AVP 8 18");
    let (answer, neg) = session.answer(&sdp(&pcma_only)).unwrap();
    assert_eq!(neg.codec, Codec::Pcma);
    assert_eq!(answer.origin.session_version, 901);
}

#[test]
fn late_offer_answer_in_ack() {
    // INVITE without SDP: our offer goes in the 200 OK, the caller's answer in the ACK.
    let mut session = LocalSession::new(local());
    let our_offer = session.offer(Direction::SendRecv);
    assert_eq!(our_offer.media[0].formats, ["0", "8", "101"]);
    assert!(session.offer_pending());
    let ack_body = "v=0\r\no=- 3 3 IN IP4 192.0.2.77\r\ns=-\r\nc=IN IP4 192.0.2.77\r\nt=0 0\r\n\
        m=audio 9000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n\
        a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\n";
    let neg = session.process_answer(&sdp(ack_body)).unwrap();
    assert!(!session.offer_pending());
    assert_eq!(
        (neg.codec, neg.payload_type, neg.dtmf_payload_type),
        (Codec::Pcma, 8, Some(101))
    );
    assert_eq!(neg.remote, addr("192.0.2.77:9000"));
    assert!(neg.we_send() && neg.we_receive());
    assert_eq!(session.negotiated(), Some(&neg));
}

#[test]
fn agent_leg_hold_offer_and_resume() {
    // We put an agent leg on hold with sendonly, then resume; versions step by one each.
    let mut session = LocalSession::new(local());
    let first = session.offer(Direction::SendRecv);
    let answer = "v=0\r\no=agent 1 1 IN IP4 192.0.2.5\r\ns=-\r\nc=IN IP4 192.0.2.5\r\nt=0 0\r\n\
        m=audio 5004 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n";
    session.process_answer(&sdp(answer)).unwrap();
    let hold = session.offer(Direction::SendOnly);
    assert_eq!(
        hold.origin.session_version,
        first.origin.session_version + 1
    );
    let held = session
        .process_answer(&sdp(&format!("{answer}a=recvonly\r\n")))
        .unwrap();
    assert!(held.we_send() && !held.we_receive());
    let resume = session.offer(Direction::SendRecv);
    assert_eq!(
        resume.origin.session_version,
        first.origin.session_version + 2
    );
    assert_eq!(resume.media[0].formats, ["0", "8", "101"]);
}

#[test]
fn offer_and_process_answer_are_usable_without_a_session() {
    let ours = offer(&local(), Direction::SendRecv);
    let text = "v=0\r\no=- 3 3 IN IP4 192.0.2.77\r\ns=-\r\nt=0 0\r\n\
        m=audio 9000 RTP/AVP 0\r\nc=IN IP4 192.0.2.78\r\na=ptime:40\r\n";
    let neg = process_answer(&ours, &sdp(text)).unwrap();
    assert_eq!(neg.remote, addr("192.0.2.78:9000"));
    assert_eq!(
        (neg.codec, neg.ptime_ms, neg.dtmf_payload_type),
        (Codec::Pcmu, 40, None)
    );
}

#[test]
fn answer_with_c_zero_to_our_offer_means_we_do_not_send() {
    let ours = offer(&local(), Direction::SendRecv);
    let text = offer_of("", "0.0.0.0", "m=audio 9000 RTP/AVP 0\r\n");
    let neg = process_answer(&ours, &sdp(&text)).unwrap();
    assert!(neg.hold && !neg.we_send() && neg.we_receive());
}
