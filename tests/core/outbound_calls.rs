//! Users' calls to external numbers on virtual time: who may dial what (`outbound` classes,
//! blocked prefixes, the trunks' allow lists), the caller ID each policy shows toward the
//! trunk (From, P-Asserted-Identity, Privacy: RFC 3323, RFC 3325), and that nothing without
//! valid credentials ever reaches the trunk.
//!
//! Digest responses are computed here by hand from RFC 7616 §3.4.1, independently of the
//! server's code.

use std::time::Duration;

use holdline::queue::types::AgentId;
use holdline::sip::digest::{Algorithm, Challenge};
use holdline::sip::header::HeaderName;
use holdline::sip::message::{Message, Request, Response};
use holdline::sip::transport::{Peer, Transport};
use holdline::sip::Method;
use holdline_testkit::harness::*;
use sha2::{Digest as _, Sha256};

/// The carrier's SBC.
const TRUNK: &str = "203.0.113.10:5060";
/// Users' phones.
const AMOS: &str = "198.51.100.30:5070";
const BEA: &str = "198.51.100.31:5070";
const CY: &str = "198.51.100.32:5070";
const DEE: &str = "198.51.100.33:5070";
const EVE: &str = "198.51.100.34:5070";

const CONFIG: &str = r#"
[sip]
listen = ["udp:192.0.2.1:5060"]
domains = ["example.com"]
[rtp]
ports = "20000-29999"
[probe]
interval = 0
[outbound]
country_code = "44"
national_prefix = "0"
international_prefix = "00"
blocked_prefixes = ["+449"]
[[number]]
e164 = "+442079460000"
kind = "service-toll"
[[number]]
e164 = "+442079460011"
kind = "user"
[[number]]
e164 = "+442079460022"
kind = "user"
[[number]]
e164 = "+442079460033"
kind = "user"
[[number]]
e164 = "+442079460055"
kind = "user"
[[clid_policy]]
id = "sales-cid"
mode = "service-number"
service_number = "+442079460000"
allow_override = true
[[clid_policy]]
id = "hidden"
mode = "anonymous"
[[user]]
id = "amos"
name = "Amos Marble"
password = "s3cret"
outbound = "national"
clid_policy = "sales-cid"
numbers = ["+442079460011"]
contacts = ["sip:amos@198.51.100.30:5070"]
[[user]]
id = "bea"
name = "Bea Lamb"
password = "b3a"
outbound = "international"
numbers = ["+442079460022"]
[[user]]
id = "cy"
password = "cy"
outbound = "international"
clid_policy = "hidden"
numbers = ["+442079460033"]
[[user]]
id = "dee"
password = "d33"
[[user]]
id = "eve"
name = "Eve Ash"
identify_by_source = true
outbound = "national"
numbers = ["+442079460055"]
contacts = ["sip:eve@198.51.100.34:5070;transport=tcp"]
[[trunk]]
id = "carrier"
proxy = "sip:203.0.113.10:5060"
allow = ["+44*", "+33*"]
[[queue]]
id = "sales"
name = "UK Sales"
numbers = ["+442079460000"]
agents = ["amos"]
"#;

fn harness() -> Harness {
    let mut h = Harness::with_config(CONFIG);
    h.core.set_registrar_secret(b"test secret");
    h
}

fn sha256(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The Proxy-Authorization answering `ch` for an INVITE to `uri` (RFC 7616 §3.4.1).
fn authorization(ch: &Challenge, user: &str, password: &str, uri: &str) -> String {
    let cnonce = "0a4f113b";
    let ha1 = sha256(&format!("{user}:{}:{password}", ch.realm));
    let ha2 = sha256(&format!("INVITE:{uri}"));
    let response = sha256(&format!("{ha1}:{}:00000001:{cnonce}:auth:{ha2}", ch.nonce));
    format!(
        "Digest username=\"{user}\", realm=\"{}\", nonce=\"{}\", uri=\"{uri}\", \
         response=\"{response}\", algorithm=SHA-256, qop=auth, nc=00000001, cnonce=\"{cnonce}\"",
        ch.realm, ch.nonce
    )
}

const SDP: &str = "v=0\no=u 1 1 IN IP4 198.51.100.30\ns=-\nc=IN IP4 198.51.100.30\nt=0 0\nm=audio 30000 RTP/AVP 0\na=rtpmap:0 PCMU/8000\na=ptime:20\n";

/// An INVITE from `phone` (user `user`) to `dialled@example.com`, with `extra` header lines.
fn invite_from(
    phone: &str,
    user: &str,
    dialled: &str,
    call_id: &str,
    cseq: u32,
    extra: &str,
) -> String {
    let body = SDP.replace('\n', "\r\n");
    format!(
        "INVITE sip:{dialled}@example.com SIP/2.0\n\
         Via: SIP/2.0/UDP {phone};branch=z9hG4bK{call_id}{cseq};rport\n\
         From: <sip:{user}@example.com>;tag=t{call_id}\n\
         To: <sip:{dialled}@example.com>\n\
         Call-ID: {call_id}\n\
         CSeq: {cseq} INVITE\n\
         Contact: <sip:{user}@{phone}>\n\
         {extra}Max-Forwards: 70\n\
         Content-Type: application/sdp\n\
         Content-Length: {}\n\n{body}",
        body.len()
    )
}

fn ack_for(
    phone: &str,
    user: &str,
    dialled: &str,
    call_id: &str,
    cseq: u32,
    resp: &Response,
) -> String {
    format!(
        "ACK sip:{dialled}@example.com SIP/2.0\n\
         Via: SIP/2.0/UDP {phone};branch=z9hG4bK{call_id}{cseq};rport\n\
         From: <sip:{user}@example.com>;tag=t{call_id}\n\
         To: {}\n\
         Call-ID: {call_id}\n\
         CSeq: {cseq} ACK\n\
         Max-Forwards: 70\n\
         Content-Length: 0\n\n",
        resp.headers.get(&HeaderName::To).unwrap()
    )
}

fn responses_to(h: &Harness, peer: &str) -> Vec<Response> {
    h.sent
        .iter()
        .filter(|(p, _)| p.addr.to_string() == peer)
        .filter_map(|(_, m)| match m {
            Message::Response(r) => Some(r.clone()),
            _ => None,
        })
        .collect()
}

fn final_status(h: &Harness, peer: &str) -> Option<u16> {
    responses_to(h, peer)
        .iter()
        .rev()
        .find(|r| r.status >= 200)
        .map(|r| r.status)
}

/// Every request sent to the trunk so far (kept in `h.sent`).
fn to_trunk(h: &Harness) -> Vec<Request> {
    h.sent
        .iter()
        .filter(|(p, _)| p.addr.to_string() == TRUNK)
        .filter_map(|(_, m)| match m {
            Message::Request(r) => Some(r.clone()),
            _ => None,
        })
        .collect()
}

/// `user` on `phone` dials `dialled` with `password`: the 407, its ACK, the INVITE again with
/// credentials (and `extra` header lines on both). What was sent stays in `h.sent`, from the
/// second INVITE on.
fn dial(
    h: &mut Harness,
    phone: &str,
    user: &str,
    password: &str,
    dialled: &str,
    call_id: &str,
    extra: &str,
) {
    h.send_from(phone, &invite_from(phone, user, dialled, call_id, 1, extra));
    let first = responses_to(h, phone).pop().expect("an answer");
    assert_eq!(first.status, 407, "the first INVITE is challenged");
    assert!(
        to_trunk(h).is_empty(),
        "nothing reaches the trunk before the credentials"
    );
    h.sent.clear();
    h.send_from(phone, &ack_for(phone, user, dialled, call_id, 1, &first));
    let ch = first
        .headers
        .get_all(&HeaderName::ProxyAuthenticate)
        .map(|v| Challenge::parse(v).expect("a digest challenge"))
        .find(|c| c.algorithm == Algorithm::Sha256)
        .expect("a SHA-256 challenge");
    let uri = format!("sip:{dialled}@example.com");
    let auth = format!(
        "Proxy-Authorization: {}\n",
        authorization(&ch, user, password, &uri)
    );
    h.send_from(
        phone,
        &invite_from(phone, user, dialled, call_id, 2, &format!("{auth}{extra}")),
    );
}

/// The one INVITE the trunk got.
fn trunk_invite(h: &Harness) -> Request {
    let invites: Vec<Request> = to_trunk(h)
        .into_iter()
        .filter(|r| r.method == Method::Invite)
        .collect();
    assert_eq!(invites.len(), 1, "one INVITE to the trunk");
    invites[0].clone()
}

fn header(req: &Request, name: HeaderName) -> String {
    req.headers.get(&name).unwrap_or_default().to_owned()
}

#[test]
fn a_national_call_goes_out_with_the_queues_service_number_and_is_bridged() {
    let mut h = harness();
    dial(&mut h, AMOS, "amos", "s3cret", "02079460999", "n1", "");
    let inv = trunk_invite(&h);
    // Normalised to E.164 with [outbound]'s national prefix and country code.
    assert_eq!(
        inv.uri.to_string(),
        "sip:+442079460999@203.0.113.10;user=phone"
    );
    let from = header(&inv, HeaderName::From);
    assert!(
        from.starts_with("\"UK Sales\" <sip:+442079460000@example.com;user=phone>"),
        "{from}"
    );
    assert_eq!(
        header(&inv, HeaderName::PAssertedIdentity),
        "<sip:+442079460000@example.com;user=phone>"
    );
    assert!(inv.headers.get(&HeaderName::Privacy).is_none());
    // The dial string and the user's own number stay inside.
    let text = String::from_utf8(inv.to_bytes()).unwrap();
    assert!(
        !text.contains("02079460999") && !text.contains("+442079460011"),
        "{text}"
    );
    // Ringing for the phone, not answered before the far end.
    assert_eq!(
        responses_to(&h, AMOS)
            .iter()
            .map(|r| r.status)
            .collect::<Vec<_>>(),
        [100, 180]
    );
    let busy = |h: &Harness| {
        h.core
            .engine()
            .agent_status(&AgentId::from("amos"))
            .expect("agent")
            .busy_elsewhere
    };
    assert!(
        busy(&h),
        "the agent is busy for the queues while calling out"
    );
    let stats = h.core.outbound_stats();
    assert_eq!((stats.placed, stats.refused), (1, 0));

    h.sent.clear();
    h.send_from(TRUNK, &reply(&inv, 200, "far"));
    assert_eq!(
        final_status(&h, AMOS),
        Some(200),
        "answered once the far end is"
    );
    assert!(h
        .events
        .iter()
        .any(|e| matches!(e, holdline::b2bua::Event::Bridge { .. })));
    assert!(to_trunk(&h).iter().any(|r| r.method == Method::Ack));

    // The far end hangs up: the user's phone gets BYE and the agent is free again.
    let bye = format!(
        "BYE sip:192.0.2.1:5060 SIP/2.0\n\
         Via: SIP/2.0/UDP {TRUNK};branch=z9hG4bKfarbye\n\
         From: {};tag=far\n\
         To: {}\n\
         Call-ID: {}\n\
         CSeq: 2 BYE\n\
         Max-Forwards: 70\n\
         Content-Length: 0\n\n",
        header(&inv, HeaderName::To),
        header(&inv, HeaderName::From),
        header(&inv, HeaderName::CallId),
    );
    h.sent.clear();
    h.send_from(TRUNK, &bye);
    let to_phone: Vec<Request> = h
        .sent
        .iter()
        .filter(|(p, _)| p.addr.to_string() == AMOS)
        .filter_map(|(_, m)| match m {
            Message::Request(r) => Some(r.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(methods(&to_phone), [Method::Bye]);
    assert!(busy(&h), "busy until the phone's dialog is over");
    h.send_from(AMOS, &reply(&to_phone[0], 200, "x"));
    assert!(!busy(&h), "free once the call is over");
}

#[test]
fn an_international_number_is_refused_for_a_national_user() {
    let mut h = harness();
    dial(&mut h, AMOS, "amos", "s3cret", "0033142685300", "i1", "");
    assert_eq!(final_status(&h, AMOS), Some(403));
    assert!(to_trunk(&h).is_empty(), "the trunk saw nothing");
    // The same number is fine for an international user (and the trunk allows +33).
    let mut h = harness();
    dial(&mut h, BEA, "bea", "b3a", "0033142685300", "i2", "");
    assert_eq!(
        trunk_invite(&h).uri.to_string(),
        "sip:+33142685300@203.0.113.10;user=phone"
    );
}

#[test]
fn a_blocked_prefix_is_refused_even_for_international_users() {
    let mut h = harness();
    dial(&mut h, BEA, "bea", "b3a", "09012345678", "b1", "");
    assert_eq!(final_status(&h, BEA), Some(403));
    assert!(to_trunk(&h).is_empty());
    // A number no trunk's allow list admits is refused too.
    let mut h = harness();
    dial(&mut h, BEA, "bea", "b3a", "0014255550100", "b2", "");
    assert_eq!(final_status(&h, BEA), Some(403));
    assert!(to_trunk(&h).is_empty());
}

#[test]
fn a_user_without_an_outbound_grant_is_refused() {
    let mut h = harness();
    dial(&mut h, DEE, "dee", "d33", "02079460999", "x1", "");
    assert_eq!(final_status(&h, DEE), Some(403));
    assert!(to_trunk(&h).is_empty());
}

#[test]
fn without_valid_credentials_nothing_reaches_the_trunk() {
    let mut h = harness();
    // No credentials: challenged.
    h.send_from(AMOS, &invite_from(AMOS, "amos", "02079460999", "u1", 1, ""));
    let first = responses_to(&h, AMOS).pop().unwrap();
    assert_eq!(first.status, 407);
    h.send_from(AMOS, &ack_for(AMOS, "amos", "02079460999", "u1", 1, &first));
    // A wrong password, then an unknown user: refused outright.
    let ch = first
        .headers
        .get_all(&HeaderName::ProxyAuthenticate)
        .map(|v| Challenge::parse(v).unwrap())
        .find(|c| c.algorithm == Algorithm::Sha256)
        .unwrap();
    let uri = "sip:02079460999@example.com";
    for (cseq, user, password) in [(2, "amos", "wrong"), (3, "mallory", "s3cret")] {
        h.sent.clear();
        let auth = format!(
            "Proxy-Authorization: {}\n",
            authorization(&ch, user, password, uri)
        );
        h.send_from(
            AMOS,
            &invite_from(AMOS, "amos", "02079460999", "u1", cseq, &auth),
        );
        assert_eq!(final_status(&h, AMOS), Some(403), "{user}/{password}");
    }
    // A source that claims Eve's address family but not her contact's port is not Eve.
    h.send_from(
        "198.51.100.34:5999",
        &invite_from("198.51.100.34:5999", "eve", "02079460999", "u2", 1, ""),
    );
    assert_eq!(final_status(&h, "198.51.100.34:5999"), Some(407));
    h.advance(Duration::from_secs(40));
    assert!(to_trunk(&h).is_empty(), "the trunk saw nothing at all");
    let stats = h.core.outbound_stats();
    assert_eq!(
        (stats.placed, stats.refused),
        (0, 2),
        "both refusals counted"
    );
}

#[test]
fn without_a_policy_the_users_own_number_is_shown() {
    let mut h = harness();
    dial(&mut h, BEA, "bea", "b3a", "02079460999", "o1", "");
    let inv = trunk_invite(&h);
    assert!(
        header(&inv, HeaderName::From)
            .starts_with("\"Bea Lamb\" <sip:+442079460022@example.com;user=phone>"),
        "{}",
        header(&inv, HeaderName::From)
    );
    assert_eq!(
        header(&inv, HeaderName::PAssertedIdentity),
        "<sip:+442079460022@example.com;user=phone>"
    );
}

#[test]
fn an_anonymous_policy_hides_the_caller_but_asserts_the_number_for_the_carrier() {
    let mut h = harness();
    dial(&mut h, CY, "cy", "cy", "02079460999", "a1", "");
    let inv = trunk_invite(&h);
    assert!(
        header(&inv, HeaderName::From)
            .starts_with("\"Anonymous\" <sip:anonymous@anonymous.invalid>"),
        "{}",
        header(&inv, HeaderName::From)
    );
    assert_eq!(
        header(&inv, HeaderName::PAssertedIdentity),
        "<sip:+442079460033@example.com;user=phone>"
    );
    assert_eq!(header(&inv, HeaderName::Privacy), "id");
}

#[test]
fn an_override_shows_the_users_own_number_where_the_policy_allows_it() {
    // The prefix before the number.
    let mut h = harness();
    dial(&mut h, AMOS, "amos", "s3cret", "*8202079460999", "v1", "");
    let inv = trunk_invite(&h);
    assert_eq!(
        inv.uri.to_string(),
        "sip:+442079460999@203.0.113.10;user=phone"
    );
    assert_eq!(
        header(&inv, HeaderName::PAssertedIdentity),
        "<sip:+442079460011@example.com;user=phone>"
    );
    // P-Preferred-Identity naming the user's own number.
    let mut h = harness();
    let ppi = "P-Preferred-Identity: <sip:+442079460011@example.com;user=phone>\n";
    dial(&mut h, AMOS, "amos", "s3cret", "02079460999", "v2", ppi);
    assert_eq!(
        header(&trunk_invite(&h), HeaderName::PAssertedIdentity),
        "<sip:+442079460011@example.com;user=phone>"
    );
    // Naming someone else's number is ignored: the policy's service number.
    let mut h = harness();
    let ppi = "P-Preferred-Identity: <sip:+442079460022@example.com;user=phone>\n";
    dial(&mut h, AMOS, "amos", "s3cret", "02079460999", "v3", ppi);
    assert_eq!(
        header(&trunk_invite(&h), HeaderName::PAssertedIdentity),
        "<sip:+442079460000@example.com;user=phone>"
    );
    // A policy without allow_override ignores the prefix.
    let mut h = harness();
    dial(&mut h, CY, "cy", "cy", "*8202079460999", "v4", "");
    assert_eq!(header(&trunk_invite(&h), HeaderName::Privacy), "id");
}

#[test]
fn a_user_identified_by_source_calls_out_without_a_challenge() {
    // Over TCP from the contact's address (any port: a connection's is ephemeral).
    let mut h = harness();
    let from = Peer {
        transport: Transport::Tcp,
        addr: "198.51.100.34:40512".parse().unwrap(),
        conn: None,
    };
    let invite =
        invite_from(EVE, "eve", "02079460999", "e1", 1, "").replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    h.core.handle_datagram(h.now, from, h.local, &crlf(&invite));
    h.collect();
    let inv = trunk_invite(&h);
    assert_eq!(
        header(&inv, HeaderName::PAssertedIdentity),
        "<sip:+442079460055@example.com;user=phone>"
    );
    assert!(!responses_to(&h, EVE).iter().any(|r| r.status == 407));
}

/// The same INVITE over UDP from the contact's exact address and port is challenged, and
/// nothing reaches the trunk: a datagram's source can be forged (toll fraud otherwise).
#[test]
fn a_udp_source_never_identifies_a_user() {
    let mut h = harness();
    h.send_from(EVE, &invite_from(EVE, "eve", "02079460999", "e2", 1, ""));
    assert!(
        responses_to(&h, EVE).iter().any(|r| r.status == 407),
        "challenged like anyone else"
    );
    h.advance(std::time::Duration::from_secs(5));
    assert!(to_trunk(&h).is_empty(), "the trunk saw nothing");
}

#[test]
fn the_far_ends_refusal_reaches_the_phone_and_a_challenge_never_does() {
    let mut h = harness();
    dial(&mut h, BEA, "bea", "b3a", "02079460999", "f1", "");
    let inv = trunk_invite(&h);
    h.send_from(TRUNK, &reply(&inv, 486, "far"));
    assert_eq!(final_status(&h, BEA), Some(486));
    let mut h = harness();
    dial(&mut h, BEA, "bea", "b3a", "02079460999", "f2", "");
    let inv = trunk_invite(&h);
    h.send_from(TRUNK, &reply(&inv, 407, "far"));
    assert_eq!(final_status(&h, BEA), Some(503));
}

#[test]
fn the_far_end_of_an_outbound_call_cannot_transfer_it() {
    let mut h = harness();
    dial(&mut h, BEA, "bea", "b3a", "02079460999", "r1", "");
    let inv = trunk_invite(&h);
    h.send_from(TRUNK, &reply(&inv, 200, "far"));
    h.sent.clear();
    let refer = format!(
        "REFER sip:192.0.2.1:5060 SIP/2.0\n\
         Via: SIP/2.0/UDP {TRUNK};branch=z9hG4bKrefer1\n\
         From: {};tag=far\n\
         To: {}\n\
         Call-ID: {}\n\
         CSeq: 2 REFER\n\
         Refer-To: <sip:+442079460998@203.0.113.10;user=phone>\n\
         Contact: <sip:{TRUNK}>\n\
         Max-Forwards: 70\n\
         Content-Length: 0\n\n",
        header(&inv, HeaderName::To),
        header(&inv, HeaderName::From),
        header(&inv, HeaderName::CallId),
    );
    h.send_from(TRUNK, &refer);
    assert_eq!(final_status(&h, TRUNK), Some(403));
    assert!(
        !to_trunk(&h).iter().any(|r| r.method == Method::Invite),
        "no new call to the trunk"
    );
}

#[test]
fn an_outbound_call_cannot_be_taken_over_with_replaces() {
    let mut h = harness();
    dial(&mut h, BEA, "bea", "b3a", "02079460999", "p1", "");
    let inv = trunk_invite(&h);
    h.sent.clear();
    h.send_from(TRUNK, &reply(&inv, 200, "far"));
    let ok = responses_to(&h, BEA)
        .into_iter()
        .find(|r| r.status == 200)
        .expect("the phone is answered");
    let our_tag = to_tag(&ok);
    let calls = h.core.call_count();
    // Even from the phone's own address, an INVITE with Replaces naming the outbound call's
    // dialog is declined (RFC 3891 §3: by policy; only a service's caller can be replaced),
    // so nobody joins a paid call by naming it.
    let replacing = invite_from(
        BEA,
        "bea",
        "holdline",
        "p2",
        1,
        &format!("Replaces: p1;to-tag={our_tag};from-tag=tp1\n"),
    );
    h.sent.clear();
    h.send_from(BEA, &replacing);
    assert_eq!(final_status(&h, BEA), Some(603));
    assert_eq!(h.core.call_count(), calls, "no new call");
    assert!(to_trunk(&h).is_empty(), "the far end hears nothing of it");
}

#[test]
fn an_outbound_call_fails_over_to_the_next_sbc_on_503_and_on_silence() {
    const SBC_B: &str = "203.0.113.11:5060";
    const SBC_C: &str = "203.0.113.12:5060";
    let config = CONFIG.replace(
        "proxy = \"sip:203.0.113.10:5060\"",
        "sbcs = [\n  { uri = \"sip:203.0.113.10:5060\", priority = 1 },\n  \
         { uri = \"sip:203.0.113.11:5060\", priority = 2 },\n  \
         { uri = \"sip:203.0.113.12:5060\", priority = 3 },\n]\nfirst_response_timeout = 2",
    );
    let mut h = Harness::with_config(&config);
    h.core.set_registrar_secret(b"test secret");
    dial(&mut h, BEA, "bea", "b3a", "02079460999", "s1", "");
    let first = trunk_invite(&h);
    h.sent.clear();
    // RFC 3263 §4.3: a 503 sends the call to the next SBC, with the same identity.
    h.send_from(TRUNK, &reply(&first, 503, "sbc1"));
    let invite_to = |h: &Harness, sbc: &str| {
        h.sent.iter().find_map(|(p, m)| match m {
            Message::Request(r) if p.addr.to_string() == sbc && r.method == Method::Invite => {
                Some(r.clone())
            }
            _ => None,
        })
    };
    let second = invite_to(&h, SBC_B).expect("the second SBC is tried");
    assert_eq!(
        second.uri.to_string(),
        "sip:+442079460999@203.0.113.11;user=phone"
    );
    assert_eq!(
        header(&second, HeaderName::PAssertedIdentity),
        "<sip:+442079460022@example.com;user=phone>"
    );
    assert_eq!(final_status(&h, BEA), None, "the phone still waits");
    // The second says nothing within first_response_timeout: the third.
    h.sent.clear();
    h.advance(Duration::from_millis(2100));
    let third = invite_to(&h, SBC_C).expect("the third SBC is tried after 2 s of silence");
    h.send_from(SBC_C, &reply(&third, 200, "sbc3"));
    assert_eq!(final_status(&h, BEA), Some(200));
}

#[test]
fn a_phone_asking_for_privacy_calls_anonymously_with_the_policys_number_asserted() {
    let mut h = harness();
    dial(
        &mut h,
        AMOS,
        "amos",
        "s3cret",
        "02079460999",
        "q1",
        "Privacy: id\n",
    );
    let inv = trunk_invite(&h);
    assert!(
        header(&inv, HeaderName::From)
            .starts_with("\"Anonymous\" <sip:anonymous@anonymous.invalid>"),
        "{}",
        header(&inv, HeaderName::From)
    );
    assert_eq!(header(&inv, HeaderName::Privacy), "id");
    // The carrier still gets the identity the policy shows.
    assert_eq!(
        header(&inv, HeaderName::PAssertedIdentity),
        "<sip:+442079460000@example.com;user=phone>"
    );
}

#[test]
fn a_phone_that_gives_up_cancels_the_trunk_leg_and_frees_the_agent() {
    let mut h = harness();
    dial(&mut h, BEA, "bea", "b3a", "02079460999", "k1", "");
    let inv = trunk_invite(&h);
    h.send_from(TRUNK, &reply(&inv, 180, "far"));
    h.sent.clear();
    let busy = |h: &Harness| {
        h.core
            .engine()
            .agent_status(&AgentId::from("bea"))
            .map(|s| s.busy_elsewhere)
    };
    assert_eq!(busy(&h), Some(true), "busy while the number rings");
    // The phone's CANCEL for its second INVITE (same branch, RFC 3261 §9.1).
    let cancel = format!(
        "CANCEL sip:02079460999@example.com SIP/2.0\n\
         Via: SIP/2.0/UDP {BEA};branch=z9hG4bKk12;rport\n\
         From: <sip:bea@example.com>;tag=tk1\n\
         To: <sip:02079460999@example.com>\n\
         Call-ID: k1\n\
         CSeq: 2 CANCEL\n\
         Max-Forwards: 70\n\
         Content-Length: 0\n\n"
    );
    h.send_from(BEA, &cancel);
    let statuses: Vec<u16> = responses_to(&h, BEA).iter().map(|r| r.status).collect();
    assert!(
        statuses.contains(&200) && statuses.contains(&487),
        "{statuses:?}"
    );
    let to_carrier: Vec<Method> = to_trunk(&h).iter().map(|r| r.method.clone()).collect();
    assert_eq!(
        to_carrier,
        [Method::Cancel],
        "the trunk's ringing leg is cancelled"
    );
    assert_eq!(busy(&h), Some(false), "free once the call is over");
}
