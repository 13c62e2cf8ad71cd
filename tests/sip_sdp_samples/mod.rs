//! Realistic SDP bodies as sent by deployed equipment (addresses and ids changed to
//! documentation ranges). Shared by the `sip_sdp_*` test files.
#![allow(dead_code)] // each test binary uses a different subset

/// Polycom VVX: session-level `a=sendrecv`, G.722 first, G.722.1 dynamic, DTMF on 127.
pub const POLYCOM: &str = "v=0\r
o=- 1619543418 1619543418 IN IP4 192.0.2.101\r
s=Polycom IP Phone\r
c=IN IP4 192.0.2.101\r
t=0 0\r
a=sendrecv\r
m=audio 2222 RTP/AVP 9 102 0 8 18 127\r
a=rtpmap:9 G722/8000\r
a=rtpmap:102 G7221/16000\r
a=fmtp:102 bitrate=32000\r
a=rtpmap:0 PCMU/8000\r
a=rtpmap:8 PCMA/8000\r
a=rtpmap:18 G729/8000\r
a=fmtp:18 annexb=no\r
a=rtpmap:127 telephone-event/8000\r
";

/// Yealink T4x: PCMU first, fmtp before its rtpmap, ptime and explicit sendrecv.
pub const YEALINK: &str = "v=0\r
o=- 20066 20066 IN IP4 192.0.2.23\r
s=SDP data\r
c=IN IP4 192.0.2.23\r
t=0 0\r
m=audio 11826 RTP/AVP 0 8 18 9 101\r
a=rtpmap:0 PCMU/8000\r
a=rtpmap:8 PCMA/8000\r
a=rtpmap:18 G729/8000\r
a=fmtp:18 annexb=no\r
a=rtpmap:9 G722/8000\r
a=fmtp:101 0-15\r
a=rtpmap:101 telephone-event/8000\r
a=ptime:20\r
a=sendrecv\r
";

/// A carrier SBC: media-level c= overriding the session's, PCMA first, G.729, G.722, dynamic
/// Opus, ptime 30, maxptime, RFC 3605 a=rtcp on a non-adjacent port and address, bandwidth.
pub const SBC: &str = "v=0\r
o=SBC 1428306154 1428306062 IN IP4 203.0.113.20\r
s=Phone-Call\r
c=IN IP4 203.0.113.20\r
b=AS:84\r
t=0 0\r
m=audio 6000 RTP/AVP 8 18 9 111 0 101\r
c=IN IP4 203.0.113.21\r
b=AS:84\r
a=rtpmap:8 PCMA/8000\r
a=rtpmap:18 G729/8000\r
a=fmtp:18 annexb=no\r
a=rtpmap:9 G722/8000\r
a=rtpmap:111 opus/48000/2\r
a=fmtp:111 useinbandfec=1;maxplaybackrate=16000\r
a=rtpmap:0 PCMU/8000\r
a=rtpmap:101 telephone-event/8000\r
a=fmtp:101 0-16\r
a=ptime:30\r
a=maxptime:40\r
a=rtcp:6101 IN IP4 203.0.113.22\r
a=sendrecv\r
";

/// Linphone: Opus and Speex first, telephone-event at three rates, a=rtcp with port only,
/// rtcp-fb/rtcp-xr, a video stream. Bare `\n` line ends, as some builds send.
pub const LINPHONE: &str = "v=0
o=alice 3025 1743 IN IP4 192.0.2.15
s=Talk
c=IN IP4 192.0.2.15
t=0 0
a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics
a=record:off
m=audio 7078 RTP/AVP 96 97 98 0 8 18 101 99 100
a=rtpmap:96 opus/48000/2
a=fmtp:96 useinbandfec=1
a=rtpmap:97 speex/16000
a=fmtp:97 vbr=on
a=rtpmap:98 speex/8000
a=fmtp:98 vbr=on
a=fmtp:18 annexb=yes
a=rtpmap:101 telephone-event/48000
a=rtpmap:99 telephone-event/16000
a=rtpmap:100 telephone-event/8000
a=rtcp:7082
a=rtcp-fb:* trr-int 1000
a=rtcp-fb:* ccm tmmbr
m=video 9078 RTP/AVP 96 97
a=rtpmap:96 VP8/90000
a=rtpmap:97 H264/90000
a=fmtp:97 profile-level-id=42801F
a=rtcp-fb:* nack pli
";

/// baresip: Opus first, PCMA before PCMU, ssrc/label/rtcp-rsize noise, no s=/t= reordering.
pub const BARESIP: &str = "v=0\r
o=- 1797516349 3624232627 IN IP4 192.0.2.9\r
s=-\r
c=IN IP4 192.0.2.9\r
t=0 0\r
m=audio 10052 RTP/AVP 96 9 8 0 101\r
b=AS:64\r
a=rtpmap:96 opus/48000/2\r
a=fmtp:96 stereo=1;sprop-stereo=1\r
a=rtpmap:9 G722/8000\r
a=rtpmap:8 PCMA/8000\r
a=rtpmap:0 PCMU/8000\r
a=rtpmap:101 telephone-event/8000\r
a=fmtp:101 0-15\r
a=rtcp-rsize\r
a=label:1\r
a=ssrc:2345791733 cname:8b7f3c3e-4a5b-4c2d-9e21-3f6a1f0b8d11\r
a=sendrecv\r
";

/// A "best effort SRTP" SBC offer: SRTP stream first, plain RTP alternative second.
pub const SRTP_THEN_RTP: &str = "v=0\r
o=- 1 1 IN IP4 203.0.113.30\r
s=-\r
c=IN IP4 203.0.113.30\r
t=0 0\r
m=audio 20000 RTP/SAVP 0 8 101\r
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32\r
a=rtpmap:101 telephone-event/8000\r
m=audio 20002 RTP/AVP 0 8 101\r
a=rtpmap:101 telephone-event/8000\r
";

/// A WebRTC-style offer we cannot do (DTLS-SRTP only).
pub const WEBRTC: &str = "v=0\r
o=- 4611731400430051336 2 IN IP4 127.0.0.1\r
s=-\r
t=0 0\r
a=group:BUNDLE 0\r
m=audio 9 UDP/TLS/RTP/SAVPF 111 0 8 126\r
c=IN IP4 0.0.0.0\r
a=rtcp:9 IN IP4 0.0.0.0\r
a=ice-ufrag:EsAw\r
a=fingerprint:sha-256 D2:FA:0E:C3:22:59:5E:14:95:69:92:3D:13:B4:84:24:2C:C2:A2:C0:3E:FD:34:8E:5E:EA:6F:AF:52:CE:E6:0F\r
a=setup:actpass\r
a=mid:0\r
a=rtcp-mux\r
a=rtpmap:111 opus/48000/2\r
a=rtpmap:126 telephone-event/8000\r
";

/// An IPv6 softphone.
pub const IPV6: &str = "v=0\r
o=bob 7 7 IN IP6 2001:db8::10\r
s=-\r
c=IN IP6 2001:db8::10\r
t=0 0\r
m=audio 16000 RTP/AVP 8 101\r
a=rtpmap:8 PCMA/8000\r
a=rtpmap:101 telephone-event/8000\r
a=fmtp:101 0-16\r
";

pub const ALL: &[&str] = &[
    POLYCOM,
    YEALINK,
    SBC,
    LINPHONE,
    BARESIP,
    SRTP_THEN_RTP,
    WEBRTC,
    IPV6,
];
