//! Property tests: the RTP, RTCP and telephone-event parsers never panic on any bytes, and what
//! we write parses back to what we meant.

use std::time::Duration;

use holdline::rtp::dtmf::{DtmfDetector, TelephoneEvent};
use holdline::rtp::inbound::{Expect, Inbound, InboundConfig};
use holdline::rtp::packet::{self, RtpHeader, Ssrc, HEADER_LEN};
use holdline::rtp::rtcp::{self, NtpTime, Report, ReportBlock, SenderInfo};
use holdline::time::Time;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn rtp_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(p) = packet::parse(&bytes) {
            prop_assert!(p.payload.len() + HEADER_LEN <= bytes.len());
        }
    }

    #[test]
    fn rtp_parser_never_panics_on_version_2_headers(
        first in any::<u8>(), rest in proptest::collection::vec(any::<u8>(), 0..120)
    ) {
        let mut bytes = vec![0x80 | (first & 0x3f)];
        bytes.extend(rest);
        let _ = packet::parse(&bytes);
    }

    #[test]
    fn rtcp_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        for p in rtcp::packets(&bytes) {
            if let Ok(rtcp::RtcpPacket::SenderReport { blocks, .. }
                | rtcp::RtcpPacket::ReceiverReport { blocks, .. }) = p
            {
                prop_assert!(blocks.count() <= 31);
            }
        }
    }

    #[test]
    fn rtcp_parser_never_panics_on_plausible_headers(
        count in 0u8..32, pt in 200u8..205, words in 0u16..20,
        body in proptest::collection::vec(any::<u8>(), 0..200)
    ) {
        let mut bytes = vec![0x80 | count, pt];
        bytes.extend_from_slice(&words.to_be_bytes());
        bytes.extend(body);
        let _ = rtcp::packets(&bytes).count();
    }

    #[test]
    fn inbound_and_dtmf_never_panic(
        datagrams in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..30)
    ) {
        let mut inbound = Inbound::new(Time::ZERO, InboundConfig::default(), Expect {
            payload_type: 0, dtmf_payload_type: Some(101), receiving: true,
        });
        let mut detector = DtmfDetector::new();
        let from = "192.0.2.1:4000".parse().unwrap();
        for (i, d) in datagrams.iter().enumerate() {
            let now = Time::from_millis(i as u64 * 20);
            inbound.on_rtp(now, from, d);
            inbound.on_rtcp(now, from, d);
            let _ = TelephoneEvent::parse(d);
            detector.on_packet(i as u32, d);
        }
        let _ = inbound.report_block(Time::from_millis(10_000));
    }

    #[test]
    fn rtp_header_round_trips(marker in any::<bool>(), pt in 0u8..128, seq in any::<u16>(),
                              ts in any::<u32>(), ssrc in any::<u32>()) {
        // Payload types 72–76 with the marker collide with RTCP (RFC 5761 §4): we never send them.
        prop_assume!(!(marker && (64..=95).contains(&pt)));
        let h = RtpHeader { marker, payload_type: pt, sequence: seq, timestamp: ts, ssrc: Ssrc(ssrc) };
        let mut buf = [0u8; HEADER_LEN];
        h.write(&mut buf);
        let p = packet::parse(&buf).unwrap();
        prop_assert_eq!((p.marker, p.payload_type, p.sequence, p.timestamp, p.ssrc),
                        (marker, pt, seq, ts, Ssrc(ssrc)));
    }

    #[test]
    fn rtcp_report_round_trips(ssrc in any::<u32>(), secs in 0u64..4_000_000_000, lost in -0x80_0000i32..0x80_0000,
                               packets in any::<u32>(), cname in "[a-z0-9@.]{0,40}") {
        let info = SenderInfo {
            ntp: NtpTime::from_unix(Duration::from_secs(secs)),
            rtp_timestamp: packets.rotate_left(7), packet_count: packets, octet_count: packets / 3,
        };
        let block = ReportBlock { ssrc: Ssrc(!ssrc), cumulative_lost: lost, ..ReportBlock::default() };
        let mut out = Vec::new();
        Report { ssrc: Ssrc(ssrc), sender: Some(info), block: Some(block), cname: &cname, bye: true }.write(&mut out);
        let parsed: Vec<_> = rtcp::packets(&out).collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(parsed.len(), 3);
        match parsed[0] {
            rtcp::RtcpPacket::SenderReport { ssrc: s, info: i, blocks } => {
                prop_assert_eq!(s, Ssrc(ssrc));
                prop_assert_eq!(i, info);
                prop_assert_eq!(blocks.collect::<Vec<_>>(), vec![block]);
            }
            other => prop_assert!(false, "not an SR: {:?}", other),
        }
    }
}
