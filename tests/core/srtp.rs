//! SRTP policies in the call core (SDES, RFC 4568): what a caller's offer is answered with,
//! by transport and policy, and that our key for a dialog stays the same across re-INVITEs
//! (the media plane keeps its contexts, and their rollover counters, only while it does).

use std::net::SocketAddr;

use holdline::b2bua::Event;
use holdline::sip::message::Message;
use holdline::sip::sdp::{crypto, MasterKey, SdesKeys, SessionDescription};
use holdline::sip::transport::{Peer, Transport};
use holdline_testkit::harness::*;

const KEY_A: &str = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";
const KEY_B: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd";

fn savp(key: &str, direction: &str) -> String {
    format!(
        "v=0\no=caller 1 1 IN IP4 198.51.100.7\ns=-\nc=IN IP4 198.51.100.7\nt=0 0\n\
         m=audio 30000 RTP/SAVP 0\na=rtpmap:0 PCMU/8000\n\
         a=crypto:7 AES_CM_128_HMAC_SHA1_80 inline:{key}\na={direction}\n"
    )
}

/// `text` from the caller over TLS (its connection, as the runtime would report it).
fn send_tls(h: &mut Harness, text: &str) {
    let from = Peer {
        transport: Transport::Tls,
        addr: CALLER.parse::<SocketAddr>().unwrap(),
        conn: None,
    };
    h.core.handle_datagram(
        h.now,
        from,
        h.local,
        &crlf(&text.replace("SIP/2.0/UDP", "SIP/2.0/TLS")),
    );
    h.collect();
}

fn answer_sdp(h: &Harness, status: u16) -> SessionDescription {
    let resp = h.last_response(status).expect("a response");
    std::str::from_utf8(&resp.body).unwrap().parse().unwrap()
}

fn keys(h: &Harness) -> Vec<Option<SdesKeys>> {
    h.events
        .iter()
        .filter_map(|e| match e {
            Event::CallAnswered { media: Some(m), .. } | Event::MediaUpdated { media: m, .. } => {
                Some(m.srtp.clone())
            }
            _ => None,
        })
        .collect()
}

#[test]
fn over_tls_our_key_stays_across_reinvites_and_theirs_follows_the_offer() {
    let mut h = Harness::new();
    send_tls(
        &mut h,
        &invite(
            "+14255550100",
            "s1",
            "z9hG4bKs1",
            Some(&savp(KEY_A, "sendrecv")),
        ),
    );
    let first = answer_sdp(&h, 200);
    let line = crypto::first_usable(&first.media[0]).expect("our crypto line");
    assert_eq!(first.media[0].proto, "RTP/SAVP");
    assert_eq!(line.tag, 7);
    let tag = to_tag(&h.last_response(200).unwrap());
    send_tls(&mut h, &in_dialog("ACK", "s1", &tag, 1, "z9hG4bKs1a", None));

    // Hold with the same key, then resume with a new one.
    send_tls(
        &mut h,
        &in_dialog(
            "INVITE",
            "s1",
            &tag,
            2,
            "z9hG4bKs1b",
            Some(&savp(KEY_A, "sendonly")),
        ),
    );
    let hold = answer_sdp(&h, 200);
    send_tls(&mut h, &in_dialog("ACK", "s1", &tag, 2, "z9hG4bKs1c", None));
    send_tls(
        &mut h,
        &in_dialog(
            "INVITE",
            "s1",
            &tag,
            3,
            "z9hG4bKs1d",
            Some(&savp(KEY_B, "sendrecv")),
        ),
    );
    let resume = answer_sdp(&h, 200);
    for sdp in [&hold, &resume] {
        assert_eq!(
            crypto::first_usable(&sdp.media[0]).unwrap().key,
            line.key,
            "the same key of ours: {sdp}"
        );
    }
    let k: Vec<SdesKeys> = keys(&h).into_iter().map(|k| k.expect("SRTP")).collect();
    assert_eq!(k.len(), 3, "{k:?}");
    assert!(k.iter().all(|k| k.ours == line.key));
    assert_eq!(k[0].theirs, MasterKey::from_base64(KEY_A).unwrap());
    assert_eq!(k[1].theirs, MasterKey::from_base64(KEY_A).unwrap());
    assert_eq!(k[2].theirs, MasterKey::from_base64(KEY_B).unwrap());

    // Another dialog gets another key.
    send_tls(
        &mut h,
        &invite(
            "+14255550100",
            "s2",
            "z9hG4bKs2",
            Some(&savp(KEY_A, "sendrecv")),
        ),
    );
    let other = crypto::first_usable(&answer_sdp(&h, 200).media[0]).unwrap();
    assert_ne!(other.key, line.key);
}

#[test]
fn required_refuses_plain_and_udp_offers_with_488_and_queues_nothing() {
    let mut h =
        Harness::with_config(&CONFIG.replacen("[sip]\n", "[sip]\nsrtp = \"required\"\n", 1));
    h.send(&invite("+14255550100", "r1", "z9hG4bKr1", Some(SDP_PCMU)));
    h.send(&invite(
        "+14255550100",
        "r2",
        "z9hG4bKr2",
        Some(&savp(KEY_A, "sendrecv")),
    ));
    let refusals: Vec<_> = h
        .sent
        .iter()
        .filter_map(|(_, m)| match m {
            Message::Response(r) if r.status >= 200 => Some(r.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(refusals.len(), 2, "{refusals:?}");
    for r in &refusals {
        assert_eq!(r.status, 488);
        let warning = r
            .headers
            .get(&holdline::sip::header::HeaderName::Warning)
            .unwrap();
        assert!(warning.starts_with("302 "), "{warning}");
    }
    assert!(keys(&h).is_empty(), "no call answered");
    // Over TLS the SRTP offer is taken.
    send_tls(
        &mut h,
        &invite(
            "+14255550100",
            "r3",
            "z9hG4bKr3",
            Some(&savp(KEY_A, "sendrecv")),
        ),
    );
    assert_eq!(answer_sdp(&h, 200).media[0].proto, "RTP/SAVP");
}

#[test]
fn an_agent_whose_policy_requires_srtp_is_not_rung_on_a_plain_phone() {
    use holdline_testkit::config::{AMOS, BEA};
    use holdline_testkit::{ConfigToml, QueueToml};
    let toml = ConfigToml::two_agents()
        .queue(
            QueueToml::new("sales")
                .numbers(&["+14255550100"])
                .agents(&["amos", "bea"]),
        )
        .to_string()
        .replacen("id = \"amos\"\n", "id = \"amos\"\nsrtp = \"required\"\n", 1);
    assert!(toml.contains("srtp = \"required\""), "{toml}");
    let mut h = Harness::with_config(&toml);
    caller_arrives(&mut h, "a1");
    let sent: Vec<_> = h.sent.clone();
    let invites_to = |addr: &str| {
        sent.iter()
            .filter(|(p, m)| {
                p.addr.to_string() == addr
                    && matches!(m, Message::Request(r) if r.method == holdline::sip::Method::Invite)
            })
            .count()
    };
    // Bea (no policy of her own: plain) is rung; Amos's phone is on UDP, so no SRTP and no
    // leg for him.
    assert_eq!(invites_to(BEA), 1);
    assert_eq!(invites_to(AMOS), 0);
}
