//! Trunks as peers on the way in, on virtual time: `[sip] inbound = "trunks"` refuses (403 or
//! no answer) and never queues an INVITE for a service number from a source that is neither
//! one of a trunk's `sources` nor a registered user who authenticates; SIP-address queues stay
//! reachable; P-Asserted-Identity and Privacy are kept from a trunk; a PAI from anyone else
//! is removed (RFC 3325 §9.1); a trunk's national and international forms reach the E.164
//! service number.
//!
//! Digest responses are computed here by hand from RFC 7616 §3.4.1.

use std::time::Duration;

use holdline::config::QueueId;
use holdline::sip::digest::Challenge;
use holdline::sip::header::HeaderName;
use holdline::sip::message::{Message, Request, Response};
use holdline::sip::Method;
use holdline_testkit::harness::*;
use md5::{Digest as _, Md5};

/// Inside the trunk's `sources` (203.0.113.48/29), not its SBC's address.
const TRUNK_SRC: &str = "203.0.113.51:5060";
/// Amos's phone, where he registers from.
const PHONE: &str = "198.51.100.30:40000";
const AMOS: &str = "198.51.100.20:5070";

fn config(extra_sip: &str) -> String {
    format!(
        r#"
[sip]
listen = ["udp:192.0.2.1:5060"]
domains = ["example.com"]
{extra_sip}
[rtp]
ports = "20000-29999"
[probe]
interval = 0
[[number]]
e164 = "+14255550100"
kind = "service-toll"
[[number]]
e164 = "+442071234567"
kind = "service-toll"
[[user]]
id = "amos"
password = "s3cret"
contacts = ["sip:amos@{AMOS}"]
[[trunk]]
id = "carrier"
proxy = "sip:203.0.113.50:5060"
sources = ["203.0.113.48/29", "2001:db8:5::/48"]
allow = ["+44*"]
country_code = "44"
national_prefix = "0"
international_prefix = "00"
[[queue]]
id = "sales"
name = "UK Sales"
numbers = ["+14255550100"]
addresses = ["sip:sales@example.com"]
[[queue]]
id = "london"
name = "London"
numbers = ["+442071234567"]
agents = ["amos"]
"#
    )
}

fn harness(extra_sip: &str) -> Harness {
    let mut h = Harness::with_config(&config(extra_sip));
    h.core.set_registrar_secret(b"test secret");
    h
}

fn trunks_only() -> Harness {
    harness("inbound = \"trunks\"")
}

/// An INVITE to `user@192.0.2.1` from `from`, with `headers` (lines ending in `\n`).
fn invite_from(from: &str, user: &str, call_id: &str, cseq: u32, headers: &str) -> String {
    let body = SDP_PCMU.replace('\n', "\r\n");
    format!(
        "INVITE sip:{user}@192.0.2.1 SIP/2.0\n\
         Via: SIP/2.0/UDP {from};branch=z9hG4bK{call_id}{cseq};rport\n\
         From: \"Alice\" <sip:alice@{from}>;tag=a{call_id}\n\
         To: <sip:{user}@192.0.2.1>\n\
         Call-ID: {call_id}\n\
         CSeq: {cseq} INVITE\n\
         Contact: <sip:alice@{from}>\n\
         {headers}Max-Forwards: 70\n\
         Content-Type: application/sdp\n\
         Content-Length: {}\n\n{body}",
        body.len()
    )
}

/// Responses sent to `peer` (everything sent is removed).
fn responses_to(h: &mut Harness, peer: &str) -> Vec<Response> {
    let sent: Vec<_> = h.sent.drain(..).collect();
    sent.into_iter()
        .filter(|(p, _)| p.addr.to_string() == peer)
        .filter_map(|(_, m)| match m {
            Message::Response(r) => Some(r),
            _ => None,
        })
        .collect()
}

fn finals(resps: &[Response]) -> Vec<u16> {
    resps
        .iter()
        .map(|r| r.status)
        .filter(|s| *s >= 200)
        .collect()
}

fn waiting(h: &Harness, queue: &str) -> usize {
    h.core
        .engine()
        .queue_status(h.now, &QueueId(queue.into()))
        .map_or(usize::MAX, |s| s.waiting.len())
}

fn md5_hex(s: &str) -> String {
    Md5::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Digest credentials for `method` `uri` answering `ch` (RFC 7616 §3.4.1, MD5).
fn credentials(ch: &Challenge, method: &str, uri: &str) -> String {
    let cnonce = "0a4f113b";
    let ha1 = md5_hex(&format!("amos:{}:s3cret", ch.realm));
    let ha2 = md5_hex(&format!("{method}:{uri}"));
    let response = md5_hex(&format!("{ha1}:{}:00000001:{cnonce}:auth:{ha2}", ch.nonce));
    format!(
        "Digest username=\"amos\", realm=\"{}\", nonce=\"{}\", uri=\"{uri}\", \
         response=\"{response}\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"{cnonce}\"",
        ch.realm, ch.nonce
    )
}

fn md5_challenge(resp: &Response, header: &HeaderName) -> Challenge {
    resp.headers
        .get_all(header)
        .filter_map(|v| Challenge::parse(v).ok())
        .find(|c| c.algorithm == holdline::sip::digest::Algorithm::Md5)
        .expect("an MD5 challenge")
}

/// Amos registers from `PHONE` (401, then the right credentials: 200).
fn register_amos(h: &mut Harness) {
    let register = |cseq: u32, auth: &str| {
        format!(
            "REGISTER sip:example.com SIP/2.0\n\
             Via: SIP/2.0/UDP {PHONE};branch=z9hG4bKreg{cseq};rport\n\
             From: <sip:amos@example.com>;tag=r1\n\
             To: <sip:amos@example.com>\n\
             Call-ID: reg-1\n\
             CSeq: {cseq} REGISTER\n\
             Contact: <sip:amos@{PHONE}>\n\
             {auth}Max-Forwards: 70\n\
             Content-Length: 0\n\n"
        )
    };
    h.send_from(PHONE, &register(1, ""));
    let first = responses_to(h, PHONE).pop().expect("an answer");
    assert_eq!(first.status, 401);
    let ch = md5_challenge(&first, &HeaderName::WwwAuthenticate);
    let auth = credentials(&ch, "REGISTER", "sip:example.com");
    h.send_from(PHONE, &register(2, &format!("Authorization: {auth}\n")));
    let ok = responses_to(h, PHONE).pop().expect("an answer");
    assert_eq!(ok.status, 200, "amos registered");
}

#[test]
fn an_unknown_source_gets_403_is_counted_and_never_queued() {
    let mut h = trunks_only();
    let text = invite_from(CALLER, "+14255550100", "u1", 1, "");
    h.send(&text);
    assert_eq!(finals(&responses_to(&mut h, CALLER)), vec![403]);
    // A retransmission is absorbed by the transaction: the same 403, counted once.
    h.send(&text);
    assert_eq!(finals(&responses_to(&mut h, CALLER)), vec![403]);
    assert_eq!(waiting(&h, "sales"), 0);
    assert_eq!(h.core.call_count(), 0);
    assert_eq!(h.core.inbound_refused_total(), 1);
    // Every service number alike.
    h.send(&invite_from(CALLER, "+442071234567", "u2", 1, ""));
    assert_eq!(finals(&responses_to(&mut h, CALLER)), vec![403]);
    assert_eq!(waiting(&h, "london"), 0);
    assert_eq!(h.core.inbound_refused_total(), 2);
}

#[test]
fn with_drop_an_unknown_source_gets_no_answer_at_all() {
    let mut h = harness("inbound = \"trunks\"\ninbound_refuse = \"drop\"");
    h.send(&invite_from(CALLER, "+14255550100", "d1", 1, ""));
    h.advance(Duration::from_secs(40));
    assert!(h.sent.is_empty(), "nothing sent: {:?}", h.sent);
    assert_eq!(waiting(&h, "sales"), 0);
    assert_eq!(h.core.call_count(), 0);
    assert_eq!(h.core.inbound_refused_total(), 1);
}

#[test]
fn the_trunks_sources_are_queued_and_the_default_policy_lets_anyone_in() {
    let mut h = trunks_only();
    h.send_from(
        TRUNK_SRC,
        &invite_from(TRUNK_SRC, "+14255550100", "t1", 1, ""),
    );
    assert_eq!(finals(&responses_to(&mut h, TRUNK_SRC)), vec![200]);
    assert_eq!(waiting(&h, "sales"), 1);
    assert_eq!(h.core.inbound_refused_total(), 0);

    let mut any = harness("");
    any.send(&invite_from(CALLER, "+14255550100", "a1", 1, ""));
    assert_eq!(finals(&responses_to(&mut any, CALLER)), vec![200]);
    assert_eq!(waiting(&any, "sales"), 1);
}

#[test]
fn a_registered_phone_is_challenged_then_queued_and_an_unregistered_one_is_not() {
    let mut h = trunks_only();
    register_amos(&mut h);
    h.send_from(PHONE, &invite_from(PHONE, "+14255550100", "r1", 1, ""));
    let challenge = responses_to(&mut h, PHONE);
    assert_eq!(finals(&challenge), vec![407]);
    assert_eq!(
        waiting(&h, "sales"),
        0,
        "not queued before it authenticates"
    );
    let ch = md5_challenge(challenge.last().unwrap(), &HeaderName::ProxyAuthenticate);
    let auth = credentials(&ch, "INVITE", "sip:+14255550100@192.0.2.1");
    let with_auth = format!("Proxy-Authorization: {auth}\n");
    h.send_from(
        PHONE,
        &invite_from(PHONE, "+14255550100", "r1", 2, &with_auth),
    );
    assert_eq!(finals(&responses_to(&mut h, PHONE)), vec![200]);
    assert_eq!(waiting(&h, "sales"), 1);
    assert_eq!(h.core.inbound_refused_total(), 0);

    // The same good credentials from an address nobody registered from: 403, no challenge.
    h.send(&invite_from(CALLER, "+14255550100", "r2", 2, &with_auth));
    assert_eq!(finals(&responses_to(&mut h, CALLER)), vec![403]);
    assert_eq!(waiting(&h, "sales"), 1);

    // Once the registration has expired (default 3600 s), the phone's address is a stranger.
    h.advance(Duration::from_secs(3_601));
    h.sent.clear();
    h.send_from(PHONE, &invite_from(PHONE, "+14255550100", "r3", 1, ""));
    assert_eq!(finals(&responses_to(&mut h, PHONE)), vec![403]);
}

#[test]
fn a_sip_address_queue_is_reachable_from_anywhere() {
    let mut h = trunks_only();
    let text = invite_from(CALLER, "sales", "s1", 1, "").replace("@192.0.2.1", "@example.com");
    h.send(&text);
    assert_eq!(finals(&responses_to(&mut h, CALLER)), vec![200]);
    assert_eq!(waiting(&h, "sales"), 1);
    assert_eq!(h.core.inbound_refused_total(), 0);
}

/// The INVITE holdline sends Amos for a caller of the London queue.
fn agent_invite(h: &mut Harness) -> Request {
    let to_amos = requests_to(h, AMOS);
    to_amos
        .into_iter()
        .find(|r| r.method == Method::Invite)
        .expect("amos is rung")
}

#[test]
fn a_trunks_asserted_identity_and_privacy_reach_the_agent() {
    let mut h = trunks_only();
    let pai = "P-Asserted-Identity: \"Bob Jones\" <sip:+442079460000@carrier.example>\n\
               P-Asserted-Identity: <tel:+442079460000>\n\
               Privacy: id\n";
    h.send_from(
        TRUNK_SRC,
        &invite_from(TRUNK_SRC, "+442071234567", "p1", 1, pai),
    );
    let invite = agent_invite(&mut h);
    let from = invite.headers.get(&HeaderName::From).unwrap();
    assert!(
        from.starts_with("\"Bob Jones via London\" <sip:+442079460000@carrier.example>"),
        "{from}"
    );
    assert_eq!(
        invite.headers.get(&HeaderName::PAssertedIdentity),
        Some("<sip:+442079460000@carrier.example>")
    );
    assert_eq!(invite.headers.get(&HeaderName::Privacy), Some("id"));
}

#[test]
fn an_asserted_identity_from_anyone_else_is_removed_before_it_is_used() {
    let mut h = harness("");
    let forged = "P-Asserted-Identity: \"The Bank\" <sip:+442079460000@bank.example>\n\
                  Privacy: id\n";
    h.send(&invite_from(CALLER, "+442071234567", "f1", 1, forged));
    let invite = agent_invite(&mut h);
    let from = invite.headers.get(&HeaderName::From).unwrap();
    assert!(
        from.starts_with(&format!("\"Alice via London\" <sip:alice@{CALLER}>")),
        "{from}"
    );
    let text = String::from_utf8_lossy(&invite.to_bytes()).to_string();
    assert!(!text.contains("bank.example"), "{text}");
    // The agent is shown the caller as From says, as before; the forged one is gone.
    assert_eq!(
        invite.headers.get(&HeaderName::PAssertedIdentity),
        Some(format!("<sip:alice@{CALLER}>").as_str())
    );
    assert_eq!(invite.headers.get(&HeaderName::Privacy), None);
}

#[test]
fn a_trunks_national_and_international_forms_reach_the_e164_service() {
    for (i, dialled) in [
        "02071234567",
        "2071234567",
        "442071234567",
        "00442071234567",
        "+44-20-7123-4567",
    ]
    .iter()
    .enumerate()
    {
        let mut h = trunks_only();
        h.send_from(
            TRUNK_SRC,
            &invite_from(TRUNK_SRC, dialled, &format!("n{i}"), 1, ""),
        );
        assert_eq!(
            finals(&responses_to(&mut h, TRUNK_SRC)),
            vec![200],
            "{dialled}"
        );
        assert_eq!(waiting(&h, "london"), 1, "{dialled}");
    }
    // An SBC that addresses our contact keeps the dialled number in To.
    let mut h = trunks_only();
    let text = invite_from(TRUNK_SRC, "02071234567", "to1", 1, "").replacen(
        "INVITE sip:02071234567@192.0.2.1",
        "INVITE sip:192.0.2.1",
        1,
    );
    h.send_from(TRUNK_SRC, &text);
    assert_eq!(finals(&responses_to(&mut h, TRUNK_SRC)), vec![200]);
    assert_eq!(waiting(&h, "london"), 1);
    // The trunk's rules are the trunk's: the national form from elsewhere is no service.
    let mut h = harness("");
    h.send(&invite_from(CALLER, "02071234567", "n9", 1, ""));
    assert_eq!(finals(&responses_to(&mut h, CALLER)), vec![407]);
    assert_eq!(waiting(&h, "london"), 0);
}

/// An INVITE with Replaces from the trunk for a call it delivered in national form takes that
/// call's place: the dialled number is read with the trunk's rules, as the first INVITE's was.
#[test]
fn a_replacing_invite_for_a_trunks_national_call_is_taken() {
    let mut h = trunks_only();
    h.send_from(
        TRUNK_SRC,
        &invite_from(TRUNK_SRC, "02071234567", "r1", 1, ""),
    );
    let ok = responses_to(&mut h, TRUNK_SRC)
        .into_iter()
        .find(|r| r.status == 200)
        .expect("the trunk's call is answered");
    let to = ok.headers.get(&HeaderName::To).unwrap().to_owned();
    let tag = to.split("tag=").nth(1).unwrap().to_owned();
    let replacing = invite_from(TRUNK_SRC, "02071234567", "r2", 1, "")
        .replace("tag=ar2", "tag=newparty")
        .replace(
            "Max-Forwards: 70\n",
            &format!("Replaces: r1;to-tag={tag};from-tag=ar1\nMax-Forwards: 70\n"),
        );
    h.send_from(TRUNK_SRC, &replacing);
    let statuses = finals(&responses_to(&mut h, TRUNK_SRC));
    assert_eq!(statuses, vec![200], "taken, not declined with 603");
    assert_eq!(
        waiting(&h, "london"),
        1,
        "one caller: the new party in the old one's place"
    );
}
