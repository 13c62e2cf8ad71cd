//! Agents' own phones on virtual time: INVITEs from users challenged with 407 (RFC 3261
//! §22.3), feature codes (DND, sign in / out, opt out of one queue by its extension), users
//! calling users (every device rung, the loser cancelled), and an agent busy for queue offers
//! while on such a call.
//!
//! Digest responses are computed here by hand from RFC 7616 §3.4.1, independently of the
//! server's code.

use std::time::Duration;

use holdline::b2bua::{AgentRequest, Event, SettingChange};
use holdline::config::{QueueId, UserId};
use holdline::queue::types::AgentId;
use holdline::sip::digest::{Algorithm, Challenge};
use holdline::sip::header::HeaderName;
use holdline::sip::message::{Message, Request, Response};
use holdline::sip::Method;
use holdline_testkit::harness::*;
use md5::{Digest as _, Md5};
use sha2::Sha256;

/// Amos's phone; Bea's two phones (static contacts); a scanner.
const AMOS: &str = "203.0.113.9:40000";
const BEA1: &str = "198.51.100.20:5070";
const BEA2: &str = "198.51.100.21:5070";
const SCANNER: &str = "203.0.113.66:5060";

const CONFIG: &str = r#"
[sip]
listen = ["udp:192.0.2.1:5060", "tcp:192.0.2.1:5060"]
domains = ["example.com"]
[rtp]
ports = "20000-29999"
[probe]
interval = 0
[[number]]
e164 = "+14255550100"
kind = "service-toll"
[[number]]
e164 = "+14255550123"
kind = "user"
[[user]]
id = "amos"
name = "Amos Marble"
password = "s3cret"
extension = "201"
contacts = ["sip:amos@203.0.113.9:40000"]
[[user]]
id = "bea"
password = "b3a"
extension = "202"
numbers = ["+14255550123"]
contacts = ["sip:bea@198.51.100.20:5070", "sip:bea@198.51.100.21:5070"]
[[user]]
id = "cy"
[[queue]]
id = "sales"
numbers = ["+14255550100"]
agents = ["bea", "amos"]
extension = "7"
[[queue]]
id = "support"
agents = ["amos"]
allow_opt_out = false
extension = "8"
"#;

fn harness() -> Harness {
    let mut h = Harness::with_config(CONFIG);
    h.core.set_registrar_secret(b"test secret");
    h
}

fn hash(alg: &str, s: &str) -> String {
    let bytes: Vec<u8> = match alg {
        "SHA-256" => Sha256::digest(s.as_bytes()).to_vec(),
        _ => Md5::digest(s.as_bytes()).to_vec(),
    };
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The Proxy-Authorization answering `ch` for an INVITE to `uri` (RFC 7616 §3.4.1).
fn authorization(ch: &Challenge, alg: &str, user: &str, password: &str, uri: &str) -> String {
    let cnonce = "0a4f113b";
    let ha1 = hash(alg, &format!("{user}:{}:{password}", ch.realm));
    let ha2 = hash(alg, &format!("INVITE:{uri}"));
    let response = hash(
        alg,
        &format!("{ha1}:{}:00000001:{cnonce}:auth:{ha2}", ch.nonce),
    );
    format!(
        "Digest username=\"{user}\", realm=\"{}\", nonce=\"{}\", uri=\"{uri}\", \
         response=\"{response}\", algorithm={alg}, qop=auth, nc=00000001, cnonce=\"{cnonce}\"",
        ch.realm, ch.nonce
    )
}

const SDP: &str = "v=0\no=amos 1 1 IN IP4 203.0.113.9\ns=-\nc=IN IP4 203.0.113.9\nt=0 0\nm=audio 30000 RTP/AVP 0\na=rtpmap:0 PCMU/8000\na=ptime:20\n";

/// An INVITE from Amos's phone to `target@example.com`.
fn invite_from_amos(target: &str, call_id: &str, cseq: u32, auth: Option<&str>) -> String {
    let body = SDP.replace('\n', "\r\n");
    let auth = auth
        .map(|a| format!("Proxy-Authorization: {a}\n"))
        .unwrap_or_default();
    format!(
        "INVITE sip:{target}@example.com SIP/2.0\n\
         Via: SIP/2.0/UDP 203.0.113.9:40000;branch=z9hG4bK{call_id}{cseq};rport\n\
         From: \"Amos\" <sip:amos@example.com>;tag=am{call_id}\n\
         To: <sip:{target}@example.com>\n\
         Call-ID: {call_id}\n\
         CSeq: {cseq} INVITE\n\
         Contact: <sip:amos@203.0.113.9:40000>\n\
         {auth}Max-Forwards: 70\n\
         Content-Type: application/sdp\n\
         Content-Length: {}\n\n{body}",
        body.len()
    )
}

/// Responses sent to `peer` (removing everything sent).
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

fn final_of(resps: &[Response]) -> Response {
    resps
        .iter()
        .rev()
        .find(|r| r.status >= 200)
        .cloned()
        .expect("a final response")
}

fn challenge(resp: &Response, alg: Algorithm) -> Challenge {
    resp.headers
        .get_all(&HeaderName::ProxyAuthenticate)
        .map(|v| Challenge::parse(v).expect("a digest challenge"))
        .find(|c| c.algorithm == alg)
        .expect("a challenge for the algorithm")
}

/// The ACK for a non-2xx final response to `invite_from_amos` (§17.1.1.3).
fn ack(target: &str, call_id: &str, cseq: u32, resp: &Response) -> String {
    format!(
        "ACK sip:{target}@example.com SIP/2.0\n\
         Via: SIP/2.0/UDP 203.0.113.9:40000;branch=z9hG4bK{call_id}{cseq};rport\n\
         From: \"Amos\" <sip:amos@example.com>;tag=am{call_id}\n\
         To: {}\n\
         Call-ID: {call_id}\n\
         CSeq: {cseq} ACK\n\
         Max-Forwards: 70\n\
         Content-Length: 0\n\n",
        resp.headers.get(&HeaderName::To).unwrap()
    )
}

/// Amos dials `target` with his password: the 407, the ACK, the INVITE again with
/// credentials. Returns what was sent to his phone after the second INVITE (the rest of
/// what was sent stays in `h.sent`).
fn dial(h: &mut Harness, target: &str, call_id: &str, password: &str) -> Vec<Response> {
    h.send_from(AMOS, &invite_from_amos(target, call_id, 1, None));
    let first = final_of(&responses_to(h, AMOS));
    assert_eq!(first.status, 407, "the first INVITE is challenged");
    h.send_from(AMOS, &ack(target, call_id, 1, &first));
    let ch = challenge(&first, Algorithm::Sha256);
    let uri = format!("sip:{target}@example.com");
    let auth = authorization(&ch, "SHA-256", "amos", password, &uri);
    h.send_from(AMOS, &invite_from_amos(target, call_id, 2, Some(&auth)));
    let sent: Vec<_> = h.sent.drain(..).collect();
    let (mine, rest): (Vec<_>, Vec<_>) = sent
        .into_iter()
        .partition(|(p, m)| p.addr.to_string() == AMOS && matches!(m, Message::Response(_)));
    h.sent = rest;
    mine.into_iter()
        .filter_map(|(_, m)| match m {
            Message::Response(r) => Some(r),
            _ => None,
        })
        .collect()
}

fn status(h: &Harness, user: &str) -> holdline::queue::status::AgentStatus {
    h.core
        .engine()
        .agent_status(&AgentId::from(user))
        .expect("agent known")
}

fn requests(h: &mut Harness) -> Vec<(String, Request)> {
    h.sent
        .drain(..)
        .filter_map(|(p, m)| match m {
            Message::Request(r) => Some((p.addr.to_string(), r)),
            _ => None,
        })
        .collect()
}

/// The settings changes feature codes asked the store for (all Amos's).
fn agent_requests(h: &mut Harness) -> Vec<SettingChange> {
    std::iter::from_fn(|| h.core.poll_agent_request())
        .map(|r: AgentRequest| {
            assert_eq!(r.user, UserId("amos".into()));
            r.change
        })
        .collect()
}

/// The 407 with what echoes the request (Via, From, To, Call-ID, CSeq) left out and nonces
/// blanked: what is left must not depend on who asked for what.
fn normalized(resp: &Response) -> String {
    let mut text = String::from_utf8(resp.to_bytes()).unwrap();
    for c in resp.headers.get_all(&HeaderName::ProxyAuthenticate) {
        text = text.replace(&Challenge::parse(c).unwrap().nonce, "NONCE");
    }
    text.split("\r\n")
        .filter(|l| {
            !["Via:", "From:", "To:", "Call-ID:", "CSeq:"]
                .iter()
                .any(|h| l.starts_with(h))
        })
        .collect::<Vec<_>>()
        .join("\r\n")
}

#[test]
fn an_invite_to_a_user_is_challenged_with_407_then_rings_every_device() {
    let mut h = harness();
    h.send_from(AMOS, &invite_from_amos("bea", "c1", 1, None));
    let first = final_of(&responses_to(&mut h, AMOS));
    assert_eq!(first.status, 407);
    let algs: Vec<Algorithm> = first
        .headers
        .get_all(&HeaderName::ProxyAuthenticate)
        .map(|v| Challenge::parse(v).unwrap().algorithm)
        .collect();
    assert_eq!(algs, [Algorithm::Sha256, Algorithm::Md5]);
    assert!(first.headers.get(&HeaderName::WwwAuthenticate).is_none());
    // Nothing rang before the credentials.
    assert!(requests(&mut h).is_empty());
    h.send_from(AMOS, &ack("bea", "c1", 1, &first));

    let ch = challenge(&first, Algorithm::Md5);
    let auth = authorization(&ch, "MD5", "amos", "s3cret", "sip:bea@example.com");
    // The From claims someone else: holdline shows Bea the user who authenticated.
    let claim = invite_from_amos("bea", "c1", 2, Some(&auth)).replace(
        "\"Amos\" <sip:amos@example.com>",
        "\"The Boss\" <sip:boss@example.com>",
    );
    h.send_from(AMOS, &claim);
    let sent = std::mem::take(&mut h.sent);
    let to_phone: Vec<u16> = sent
        .iter()
        .filter(|(p, _)| p.addr.to_string() == AMOS)
        .filter_map(|(_, m)| match m {
            Message::Response(r) => Some(r.status),
            _ => None,
        })
        .collect();
    assert_eq!(to_phone, [100, 180], "ringing, not answered before Bea");
    let invited: Vec<String> = sent
        .iter()
        .filter_map(|(p, m)| match m {
            Message::Request(r) if r.method == Method::Invite => Some(p.addr.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(invited, [BEA1, BEA2]);
    // Bea's phone is shown who authenticated (name, and asserted identity), whatever the
    // From header of the INVITE said.
    let to_bea = sent
        .iter()
        .find_map(|(_, m)| match m {
            Message::Request(r) if r.method == Method::Invite => Some(r),
            _ => None,
        })
        .unwrap();
    assert!(to_bea
        .headers
        .get(&HeaderName::From)
        .unwrap()
        .starts_with("\"Amos Marble\""));
    assert_eq!(
        to_bea.headers.get(&HeaderName::PAssertedIdentity),
        Some("<sip:amos@example.com>")
    );
    // The INVITE authenticated its source like a REGISTER (admission's user class).
    assert!(status(&h, "amos").busy_elsewhere, "the caller is on a call");
}

#[test]
fn wrong_passwords_and_unknown_users_get_the_same_407_as_a_first_invite() {
    let mut h = harness();
    let mut answers = Vec::new();
    // Bare, a wrong password, an unknown user; for a user target, a feature code and a
    // number nobody has.
    for (i, target) in ["bea", "*78", "999"].into_iter().enumerate() {
        let call_id = format!("s{i}");
        h.send_from(AMOS, &invite_from_amos(target, &call_id, 1, None));
        let bare = final_of(&responses_to(&mut h, AMOS));
        answers.push(normalized(&bare));
        let ch = challenge(&bare, Algorithm::Sha256);
        let uri = format!("sip:{target}@example.com");
        for (cseq, user, password) in [(2, "amos", "wrong"), (3, "nobody", "s3cret")] {
            let auth = authorization(&ch, "SHA-256", user, password, &uri);
            h.send_from(AMOS, &invite_from_amos(target, &call_id, cseq, Some(&auth)));
            answers.push(normalized(&final_of(&responses_to(&mut h, AMOS))));
        }
    }
    // The right password for a domain that is not ours.
    let at_else = |text: String| text.replace("bea@example.com", "bea@else.test");
    h.send_from(AMOS, &at_else(invite_from_amos("bea", "s9", 1, None)));
    let bare = final_of(&responses_to(&mut h, AMOS));
    let ch = challenge(&bare, Algorithm::Sha256);
    let auth = authorization(&ch, "SHA-256", "amos", "s3cret", "sip:bea@else.test");
    h.send_from(
        AMOS,
        &at_else(invite_from_amos("bea", "s9", 2, Some(&auth))),
    );
    answers.push(normalized(&final_of(&responses_to(&mut h, AMOS))));

    assert!(answers[0].starts_with("SIP/2.0 407"), "{}", answers[0]);
    assert!(answers[0].contains("Proxy-Authenticate"), "{}", answers[0]);
    for a in &answers {
        assert_eq!(&answers[0], a);
    }
    // Nobody rang and every wrong credential counted as a failure.
    assert!(requests(&mut h)
        .iter()
        .all(|(_, r)| r.method != Method::Invite));
    assert_eq!(h.core.registrar_stats().2.auth_failures_total, 7);
}

#[test]
fn feature_codes_set_dnd_sign_in_and_out_and_opt_out_by_queue_extension() {
    let mut h = harness();
    // *78: do not disturb; answered, a prompt, then BYE.
    let resps = dial(&mut h, "*78", "f1", "s3cret");
    assert_eq!(final_of(&resps).status, 200);
    assert!(status(&h, "amos").dnd);
    let stored: Vec<AgentRequest> = std::iter::from_fn(|| h.core.poll_agent_request()).collect();
    assert_eq!(
        stored,
        [AgentRequest {
            user: UserId("amos".into()),
            change: SettingChange::Dnd(true),
            // Logged for every queue Amos is an agent of, named by the code's call.
            queues: vec![QueueId("sales".into()), QueueId("support".into())],
            code: "*78".into(),
            call_id: "f1".into(),
        }]
    );
    assert!(h.events.iter().any(|e| matches!(e, Event::Play { .. })));
    let to_tag = to_tag(&final_of(&resps));
    h.send_from(
        AMOS,
        &format!(
            "ACK sip:*78@example.com SIP/2.0\n\
             Via: SIP/2.0/UDP 203.0.113.9:40000;branch=z9hG4bKf1ack;rport\n\
             From: \"Amos\" <sip:amos@example.com>;tag=amf1\n\
             To: <sip:*78@example.com>;tag={to_tag}\n\
             Call-ID: f1\n\
             CSeq: 2 ACK\n\
             Max-Forwards: 70\n\
             Content-Length: 0\n\n"
        ),
    );
    h.advance(Duration::from_millis(900));
    assert!(
        requests(&mut h).is_empty(),
        "the prompt plays about a second"
    );
    h.advance(Duration::from_millis(200));
    let bye: Vec<Method> = requests(&mut h)
        .into_iter()
        .map(|(_, r)| r.method)
        .collect();
    assert_eq!(bye, [Method::Bye]);

    // *79: off again.
    h.advance(Duration::from_secs(5));
    assert_eq!(final_of(&dial(&mut h, "*79", "f2", "s3cret")).status, 200);
    assert!(!status(&h, "amos").dnd);
    assert_eq!(agent_requests(&mut h), [SettingChange::Dnd(false)]);

    // *41: out of every queue that allows it (sales), not support.
    assert_eq!(final_of(&dial(&mut h, "*41", "f3", "s3cret")).status, 200);
    assert_eq!(status(&h, "amos").opted_out, [QueueId("sales".into())]);
    assert_eq!(
        agent_requests(&mut h),
        [SettingChange::OptOut {
            queue: QueueId("sales".into()),
            out: true
        }]
    );
    // *40: back in.
    assert_eq!(final_of(&dial(&mut h, "*40", "f4", "s3cret")).status, 200);
    assert!(status(&h, "amos").opted_out.is_empty());
    assert_eq!(agent_requests(&mut h).len(), 1);

    // *457 toggles sales: out, then in again.
    assert_eq!(final_of(&dial(&mut h, "*457", "f5", "s3cret")).status, 200);
    assert_eq!(status(&h, "amos").opted_out, [QueueId("sales".into())]);
    assert_eq!(final_of(&dial(&mut h, "*457", "f6", "s3cret")).status, 200);
    assert!(status(&h, "amos").opted_out.is_empty());
    assert_eq!(agent_requests(&mut h).len(), 2);

    // *467 opts out whatever the state (again: confirmed, nothing to store); *477 back in.
    assert_eq!(final_of(&dial(&mut h, "*467", "f9", "s3cret")).status, 200);
    assert_eq!(final_of(&dial(&mut h, "*467", "f10", "s3cret")).status, 200);
    assert_eq!(status(&h, "amos").opted_out, [QueueId("sales".into())]);
    assert_eq!(final_of(&dial(&mut h, "*477", "f11", "s3cret")).status, 200);
    assert!(status(&h, "amos").opted_out.is_empty());
    assert_eq!(
        agent_requests(&mut h),
        [
            SettingChange::OptOut {
                queue: QueueId("sales".into()),
                out: true
            },
            SettingChange::OptOut {
                queue: QueueId("sales".into()),
                out: false
            }
        ]
    );

    // *458: support does not allow opting out (403); *459: no queue has extension 9 (404).
    assert_eq!(final_of(&dial(&mut h, "*458", "f7", "s3cret")).status, 403);
    assert!(status(&h, "amos").opted_out.is_empty());
    assert_eq!(final_of(&dial(&mut h, "*459", "f8", "s3cret")).status, 404);
    assert!(agent_requests(&mut h).is_empty());
}

#[test]
fn a_user_call_rings_all_devices_bridges_the_first_answer_and_cancels_the_other() {
    let mut h = harness();
    let resps = dial(&mut h, "202", "u1", "s3cret");
    assert_eq!(resps.last().map(|r| r.status), Some(180));
    let invites: Vec<(String, Request)> = requests(&mut h)
        .into_iter()
        .filter(|(_, r)| r.method == Method::Invite)
        .collect();
    assert_eq!(
        invites.len(),
        2,
        "both of Bea's phones ring (by extension 202)"
    );
    let (dev1, inv1) = &invites[0];
    assert_eq!(dev1, BEA1);
    // Both phones ring (a CANCEL waits for a provisional response, RFC 3261 §9.1).
    h.send_from(BEA1, &reply(inv1, 180, "bea1"));
    h.send_from(BEA2, &reply(&invites[1].1, 180, "bea2"));
    h.sent.clear();
    h.send_from(BEA1, &reply(inv1, 200, "bea1"));
    // Amos is answered and bridged to Bea's first phone; the second is cancelled with
    // the Reason of RFC 3326.
    let sent = std::mem::take(&mut h.sent);
    let ok = sent.iter().find_map(|(p, m)| match m {
        Message::Response(r) if p.addr.to_string() == AMOS && r.status == 200 => Some(r),
        _ => None,
    });
    assert!(
        ok.is_some(),
        "the caller is answered once the callee answers"
    );
    let cancel = sent
        .iter()
        .find_map(|(p, m)| match m {
            Message::Request(r) if r.method == Method::Cancel => Some((p.addr.to_string(), r)),
            _ => None,
        })
        .expect("the other phone is cancelled");
    assert_eq!(cancel.0, BEA2);
    let reason = cancel
        .1
        .headers
        .get(&HeaderName::Reason)
        .unwrap_or_default();
    assert!(
        reason.contains("cause=200") && reason.contains("Call completed elsewhere"),
        "{reason}"
    );
    assert!(h.events.iter().any(|e| matches!(e, Event::Bridge { .. })));
    assert!(status(&h, "bea").busy_elsewhere && status(&h, "amos").busy_elsewhere);
}

#[test]
fn a_busy_agent_is_not_offered_a_queue_call_while_on_a_user_call_and_is_after() {
    let mut h = harness();
    dial(&mut h, "bea", "u2", "s3cret");
    let invites: Vec<(String, Request)> = requests(&mut h)
        .into_iter()
        .filter(|(_, r)| r.method == Method::Invite)
        .collect();
    let inv1 = invites[0].1.clone();
    h.send_from(BEA1, &reply(&inv1, 200, "bea1"));
    h.sent.clear();
    // Bea is on the user call; Amos (who placed it) is too: a queue call rings nobody.
    let _tag = caller_arrives(&mut h, "q1");
    h.advance(Duration::from_millis(100));
    let rung: Vec<String> = requests(&mut h)
        .into_iter()
        .filter(|(_, r)| r.method == Method::Invite)
        .map(|(p, _)| p)
        .collect();
    assert!(rung.is_empty(), "nobody busy is offered the call: {rung:?}");
    // Bea hangs up the user call: she is free and the waiting call rings her phones.
    let bye = format!(
        "BYE {} SIP/2.0\n\
         Via: SIP/2.0/UDP 198.51.100.20:5070;branch=z9hG4bKbyebea;rport\n\
         From: {};tag=bea1\n\
         To: {}\n\
         Call-ID: {}\n\
         CSeq: 5 BYE\n\
         Max-Forwards: 70\n\
         Content-Length: 0\n\n",
        inv1.headers
            .get(&HeaderName::Contact)
            .unwrap()
            .trim_matches(['<', '>']),
        inv1.headers.get(&HeaderName::To).unwrap(),
        inv1.headers.get(&HeaderName::From).unwrap(),
        inv1.headers.call_id().unwrap(),
    );
    h.send_from(BEA1, &bye);
    assert!(!status(&h, "bea").busy_elsewhere);
    h.advance(Duration::from_millis(100));
    let rung: Vec<String> = requests(&mut h)
        .into_iter()
        .filter(|(_, r)| r.method == Method::Invite)
        .map(|(p, _)| p)
        .collect();
    assert!(rung.contains(&BEA1.to_owned()), "{rung:?}");
}

#[test]
fn dnd_offline_and_unanswered_callees_get_480_and_408() {
    let mut h = harness();
    // Cy has no device at all: 480 (RFC 3261 §21.4.18).
    assert_eq!(final_of(&dial(&mut h, "cy", "o1", "s3cret")).status, 480);
    // Nobody answers within ring_time (30 s): 408 and both phones are cancelled.
    dial(&mut h, "bea", "o2", "s3cret");
    for (phone, (_, inv)) in [BEA1, BEA2].into_iter().zip(requests(&mut h)) {
        h.send_from(phone, &reply(&inv, 180, phone));
    }
    h.sent.clear();
    h.advance(Duration::from_secs(31));
    let sent = std::mem::take(&mut h.sent);
    let mut cancelled: Vec<String> = sent
        .iter()
        .filter(|(_, m)| matches!(m, Message::Request(r) if r.method == Method::Cancel))
        .map(|(p, _)| p.addr.to_string())
        .collect();
    cancelled.sort();
    cancelled.dedup();
    assert_eq!(cancelled, [BEA1, BEA2]);
    // (The 480 to Cy's call is retransmitted meanwhile: nobody ACKs it here.)
    let fin = sent.iter().rev().find_map(|(p, m)| match m {
        Message::Response(r) if p.addr.to_string() == AMOS && r.status >= 200 => Some(r.status),
        _ => None,
    });
    assert_eq!(fin, Some(408));
    assert!(!status(&h, "amos").busy_elsewhere);
    // Bea in DND: 480 at once, nothing rings.
    let mut settings = holdline::b2bua::AgentSettings::default();
    settings.dnd.insert("bea".into());
    h.core.set_agent_settings(h.now, &settings);
    h.advance(Duration::from_secs(40));
    h.sent.clear();
    assert_eq!(final_of(&dial(&mut h, "bea", "o3", "s3cret")).status, 480);
    assert!(requests(&mut h)
        .iter()
        .all(|(_, r)| r.method != Method::Invite));
    // Calling oneself: busy with this very call (486).
    assert_eq!(final_of(&dial(&mut h, "amos", "o6", "s3cret")).status, 486);
    // An unknown target, once authenticated, is 404; a scanner never gets that far.
    assert_eq!(
        final_of(&dial(&mut h, "nobody", "o4", "s3cret")).status,
        404
    );
    h.send_from(SCANNER, &invite_from_amos("nobody", "o5", 1, None));
    assert_eq!(final_of(&responses_to(&mut h, SCANNER)).status, 407);
}

/// A request from Bea's first phone inside the leg `invite` opened (our From is its To).
fn from_bea(invite: &Request, method: &str, cseq: u32, extra: &str) -> String {
    format!(
        "{method} {} SIP/2.0\n\
         Via: SIP/2.0/UDP {BEA1};branch=z9hG4bKbea{method}{cseq}\n\
         From: {};tag=bea1\n\
         To: {}\n\
         Call-ID: {}\n\
         CSeq: {cseq} {method}\n\
         Max-Forwards: 70\n\
         Contact: <sip:bea@{BEA1}>\n\
         {extra}Content-Length: 0\n\n",
        invite
            .headers
            .get(&HeaderName::Contact)
            .unwrap()
            .trim_matches(['<', '>']),
        invite.headers.get(&HeaderName::To).unwrap(),
        invite.headers.get(&HeaderName::From).unwrap(),
        invite.headers.call_id().unwrap(),
    )
}

#[test]
fn a_transfer_to_a_users_extension_rings_them_and_keeps_them_busy_until_it_ends() {
    let mut h = harness();
    caller_arrives(&mut h, "t1");
    let offers: Vec<(String, Request)> = requests(&mut h)
        .into_iter()
        .filter(|(_, r)| r.method == Method::Invite)
        .collect();
    let (_, to_bea) = offers
        .iter()
        .find(|(p, _)| p == BEA1)
        .cloned()
        .expect("the queue call rings Bea's first phone");
    h.send_from(BEA1, &reply(&to_bea, 200, "bea1"));
    h.advance(Duration::from_millis(10));
    h.sent.clear();
    // Bea's transfer button with Amos's extension.
    h.send_from(
        BEA1,
        &from_bea(&to_bea, "REFER", 2, "Refer-To: <sip:201@example.com>\n"),
    );
    let to_amos: Vec<Request> = requests(&mut h)
        .into_iter()
        .filter(|(p, r)| p == AMOS && r.method == Method::Invite)
        .map(|(_, r)| r)
        .collect();
    assert_eq!(to_amos.len(), 1, "the transfer rings Amos by his extension");
    assert!(
        !status(&h, "amos").busy_elsewhere,
        "not busy while it only rings"
    );
    h.send_from(AMOS, &reply(&to_amos[0], 200, "amos-t"));
    assert!(
        status(&h, "amos").busy_elsewhere,
        "busy on the transferred call"
    );
    // Amos hangs up: free again.
    let bye = format!(
        "BYE {} SIP/2.0\n\
         Via: SIP/2.0/UDP {AMOS};branch=z9hG4bKamosbye;rport\n\
         From: {};tag=amos-t\n\
         To: {}\n\
         Call-ID: {}\n\
         CSeq: 9 BYE\n\
         Max-Forwards: 70\n\
         Content-Length: 0\n\n",
        to_amos[0]
            .headers
            .get(&HeaderName::Contact)
            .unwrap()
            .trim_matches(['<', '>']),
        to_amos[0].headers.get(&HeaderName::To).unwrap(),
        to_amos[0].headers.get(&HeaderName::From).unwrap(),
        to_amos[0].headers.call_id().unwrap(),
    );
    h.send_from(AMOS, &bye);
    assert!(!status(&h, "amos").busy_elsewhere);
}

/// A request from Amos's phone inside the leg `invite` opened (our From is its To).
fn from_amos(invite: &Request, method: &str, cseq: u32, extra: &str) -> String {
    format!(
        "{method} {} SIP/2.0\n\
         Via: SIP/2.0/UDP {AMOS};branch=z9hG4bKamos{method}{cseq};rport\n\
         From: {};tag=amos-q\n\
         To: {}\n\
         Call-ID: {}\n\
         CSeq: {cseq} {method}\n\
         Max-Forwards: 70\n\
         Contact: <sip:amos@{AMOS}>\n\
         {extra}Content-Length: 0\n\n",
        invite
            .headers
            .get(&HeaderName::Contact)
            .unwrap()
            .trim_matches(['<', '>']),
        invite.headers.get(&HeaderName::To).unwrap(),
        invite.headers.get(&HeaderName::From).unwrap(),
        invite.headers.call_id().unwrap(),
    )
}

#[test]
fn an_attended_transfer_through_a_user_call_hands_the_caller_to_the_user() {
    // Amos takes a queue call, calls Bea as a user (extension 202) to consult, then transfers
    // with Replaces naming that user call: the caller is bridged to Bea's phone, Amos's two
    // dialogs end, and Bea stays busy on the caller (the attended transfer does not care
    // what the consult call is, see `b2bua/switch/attended.rs`).
    let mut h = harness();
    caller_arrives(&mut h, "q1");
    let offers: Vec<(String, Request)> = requests(&mut h)
        .into_iter()
        .filter(|(_, r)| r.method == Method::Invite)
        .collect();
    let (_, to_amos) = offers
        .iter()
        .find(|(p, _)| p == AMOS)
        .cloned()
        .expect("the queue call rings Amos");
    h.send_from(AMOS, &reply(&to_amos, 200, "amos-q"));
    h.advance(Duration::from_millis(10));
    h.sent.clear();

    let resps = dial(&mut h, "202", "u9", "s3cret");
    assert_eq!(resps.last().map(|r| r.status), Some(180));
    let ring: Vec<(String, Request)> = requests(&mut h)
        .into_iter()
        .filter(|(_, r)| r.method == Method::Invite)
        .collect();
    let (_, to_bea) = ring.iter().find(|(p, _)| p == BEA1).cloned().unwrap();
    h.send_from(BEA1, &reply(&to_bea, 200, "bea-u"));
    let ok = final_of(&responses_to(&mut h, AMOS));
    assert_eq!(
        ok.status, 200,
        "the consult call is answered once Bea answers"
    );
    let tag = ok
        .headers
        .to()
        .and_then(|t| t.tag().map(str::to_owned))
        .unwrap();
    let bea_leg = h
        .events
        .iter()
        .rev()
        .find_map(|e| match e {
            Event::Bridge { leg, .. } => Some(*leg),
            _ => None,
        })
        .unwrap();
    h.events.clear();
    h.sent.clear();

    let refer_to =
        format!("Refer-To: <sip:202@example.com?Replaces=u9%3Bto-tag%3D{tag}%3Bfrom-tag%3Damu9>\n");
    h.send_from(AMOS, &from_amos(&to_amos, "REFER", 2, &refer_to));
    let to_amos_now: Vec<Request> = requests(&mut h)
        .into_iter()
        .filter(|(p, _)| p == AMOS)
        .map(|(_, r)| r)
        .collect();
    let notify_bodies: Vec<String> = to_amos_now
        .iter()
        .filter(|r| r.method == Method::Notify)
        .map(|r| String::from_utf8_lossy(&r.body).trim().to_owned())
        .collect();
    assert_eq!(notify_bodies, ["SIP/2.0 100 Trying", "SIP/2.0 200 OK"]);
    let byes = to_amos_now
        .iter()
        .filter(|r| r.method == Method::Bye)
        .count();
    assert_eq!(byes, 2, "BYE on Amos's queue leg and on his call to Bea");
    assert!(
        h.events
            .iter()
            .any(|e| matches!(e, Event::Bridge { leg, .. } if *leg == bea_leg)),
        "Bea's leg is bridged to the caller: {:?}",
        h.events
    );
    for bye in to_amos_now.iter().filter(|r| r.method == Method::Bye) {
        h.send_from(AMOS, &reply(bye, 200, "x"));
    }
    assert_eq!(h.core.call_count(), 1, "the caller's dialog is left");
    assert!(
        status(&h, "bea").busy_elsewhere,
        "Bea is on the caller's call"
    );
    assert!(
        !status(&h, "amos").busy_elsewhere,
        "Amos placed no call any more"
    );
}

/// A trunk that allows every +1425 number, added to [`CONFIG`].
const TRUNK: &str = "203.0.113.50:5060";

#[test]
fn a_user_calls_callee_cannot_transfer_the_caller_out_through_a_trunk() {
    let config = format!(
        "{CONFIG}[[trunk]]\nid = \"carrier\"\nproxy = \"sip:{TRUNK}\"\nallow = [\"+1425*\"]\n"
    );
    let refer_to = "Refer-To: <sip:+14255550999@example.com;user=phone>\n";
    let refer_answer = |h: &mut Harness| -> Vec<u16> {
        responses_to(h, BEA1)
            .iter()
            .filter(|r| {
                r.headers
                    .get(&HeaderName::CSeq)
                    .is_some_and(|c| c.ends_with("REFER"))
            })
            .map(|r| r.status)
            .collect()
    };
    let to_trunk = |h: &Harness| {
        h.sent
            .iter()
            .filter(|(p, m)| p.addr.to_string() == TRUNK && matches!(m, Message::Request(_)))
            .count()
    };

    // Amos calls Bea; Bea answers and presses transfer with an external number: two user
    // accounts must not be enough to dial out.
    let mut h = Harness::with_config(&config);
    h.core.set_registrar_secret(b"test secret");
    dial(&mut h, "202", "u1", "s3cret");
    let (_, to_bea) = requests(&mut h)
        .into_iter()
        .find(|(p, r)| p == BEA1 && r.method == Method::Invite)
        .expect("Bea's phone rings");
    h.send_from(BEA1, &reply(&to_bea, 200, "bea1"));
    h.advance(Duration::from_millis(10));
    h.sent.clear();
    h.send_from(BEA1, &from_bea(&to_bea, "REFER", 2, refer_to));
    let at_once = to_trunk(&h);
    assert_eq!(refer_answer(&mut h), vec![403]);
    h.advance(Duration::from_secs(5));
    assert_eq!(at_once + to_trunk(&h), 0, "nothing reached the trunk");

    // The same REFER from an agent on a queue call is carried out: the refusal above is the
    // user call's, not the number's.
    let mut h = Harness::with_config(&config);
    h.core.set_registrar_secret(b"test secret");
    caller_arrives(&mut h, "t1");
    let (_, to_bea) = requests(&mut h)
        .into_iter()
        .find(|(p, r)| p == BEA1 && r.method == Method::Invite)
        .expect("the queue call rings Bea's first phone");
    h.send_from(BEA1, &reply(&to_bea, 200, "bea1"));
    h.advance(Duration::from_millis(10));
    h.sent.clear();
    h.send_from(BEA1, &from_bea(&to_bea, "REFER", 2, refer_to));
    let sent_to_trunk = to_trunk(&h);
    assert_eq!(refer_answer(&mut h), vec![202]);
    assert_eq!(
        sent_to_trunk, 1,
        "the agent's transfer goes out through the trunk"
    );
}
