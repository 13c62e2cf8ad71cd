//! Transfers and forwards of answered callers through the whole core on virtual time: an
//! agent's blind transfer (REFER, RFC 3515) to a user, a queue or an allowed number, refused
//! when nobody allowed the target (toll fraud); a queue's forward to a user after `max_wait`.

use std::time::Duration;

use holdline::b2bua::Event;
use holdline::sip::header::HeaderName;
use holdline::sip::message::{Message, Request, Response};
use holdline::sip::Method;
use holdline_testkit::harness::*;

const AMOS: &str = "198.51.100.20:5070";
const BEA: &str = "198.51.100.21:5070";
const TRUNK: &str = "203.0.113.9:5060";

fn config(extra: &str) -> String {
    format!(
        r#"
[sip]
listen = ["udp:192.0.2.1:5060"]
[rtp]
ports = "20000-29999"
[[number]]
e164 = "+14255550100"
kind = "service-toll"
[[number]]
e164 = "+14255550101"
kind = "service-toll"
[[user]]
id = "amos"
contacts = ["sip:amos@{AMOS}"]
[[user]]
id = "bea"
contacts = ["sip:bea@{BEA}"]
[[trunk]]
id = "carrier"
proxy = "sip:{TRUNK}"
allow = ["+1425*"]
[[queue]]
id = "sales"
name = "UK Sales"
numbers = ["+14255550100"]
agents = ["amos"]
{extra}
[[queue]]
id = "support"
name = "Support"
numbers = ["+14255550101"]
agents = ["bea"]
"#
    )
}

/// A request from the agent inside the leg `invite` opened (our From is its To).
fn agent_request(invite: &Request, method: &str, cseq: u32, tag: &str, extra: &str) -> String {
    let our_from = invite.headers.get(&HeaderName::From).unwrap();
    let call_id = invite.headers.get(&HeaderName::CallId).unwrap();
    format!(
        "{method} sip:holdline@192.0.2.1:5060 SIP/2.0\n\
         Via: SIP/2.0/UDP {AMOS};branch=z9hG4bKagent{cseq}\n\
         From: <sip:amos@{AMOS}>;tag={tag}\n\
         To: {our_from}\n\
         Call-ID: {call_id}\n\
         CSeq: {cseq} {method}\n\
         Max-Forwards: 70\n\
         Contact: <sip:amos@{AMOS}>\n\
         {extra}\n\
         Content-Length: 0\n\n"
    )
}

/// Everything sent to `peer` (removing everything sent): its requests and responses.
fn sent_to(h: &mut Harness, peer: &str) -> (Vec<Request>, Vec<Response>) {
    let (mut reqs, mut resps) = (Vec::new(), Vec::new());
    for (p, m) in h.sent.drain(..) {
        if p.addr.to_string() != peer {
            continue;
        }
        match m {
            Message::Request(r) => reqs.push(r),
            Message::Response(r) => resps.push(r),
        }
    }
    (reqs, resps)
}

fn sipfrag(notify: &Request) -> String {
    String::from_utf8_lossy(&notify.body).trim().to_owned()
}

/// A caller bridged to amos; returns the INVITE amos got.
fn bridged_to_amos(h: &mut Harness) -> Request {
    caller_arrives(h, "c1");
    let invite = requests_to(h, AMOS).remove(0);
    assert_eq!(invite.method, Method::Invite);
    h.send_from(AMOS, &reply(&invite, 200, "amos1"));
    assert!(h.events.iter().any(|e| matches!(e, Event::Bridge { .. })));
    h.sent.clear();
    h.events.clear();
    invite
}

#[test]
fn agent_refer_to_a_user_rings_them_and_bridges_on_answer() {
    let mut h = Harness::with_config(&config(""));
    let invite = bridged_to_amos(&mut h);
    h.send_from(
        AMOS,
        &agent_request(
            &invite,
            "REFER",
            2,
            "amos1",
            "Refer-To: <sip:bea@192.0.2.1>",
        ),
    );
    assert!(
        h.events.iter().any(|e| matches!(e, Event::Unbridge { .. })),
        "the caller leaves the agent at once (music while bea rings)"
    );
    let to_bea = requests_to_keep(&mut h, BEA);
    let (reqs, resps) = sent_to(&mut h, AMOS);
    assert_eq!(
        resps.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![202]
    );
    let notify = &reqs[0];
    assert_eq!(notify.method, Method::Notify);
    assert_eq!(notify.headers.get(&HeaderName::Event), Some("refer"));
    assert_eq!(sipfrag(notify), "SIP/2.0 100 Trying");
    assert!(notify
        .headers
        .get(&HeaderName::SubscriptionState)
        .unwrap()
        .starts_with("active"));

    assert_eq!(methods(&to_bea), vec![Method::Invite]);
    h.send_from(BEA, &reply(&to_bea[0], 200, "bea1"));
    assert!(
        h.events.iter().any(|e| matches!(e, Event::Bridge { .. })),
        "bea's answer is bridged to the caller"
    );
    let (reqs, _) = sent_to(&mut h, AMOS);
    assert_eq!(methods(&reqs), vec![Method::Notify, Method::Bye]);
    assert_eq!(sipfrag(&reqs[0]), "SIP/2.0 200 OK");
    assert!(reqs[0]
        .headers
        .get(&HeaderName::SubscriptionState)
        .unwrap()
        .starts_with("terminated"));
    // Amos's BYE does not hang up the caller, who now talks to bea.
    h.send_from(AMOS, &reply(&reqs[1], 200, "amos1"));
    assert_eq!(h.core.call_count(), 1);
    assert_eq!(h.core.leg_count(), 1, "only bea's leg is left");
}

/// Like `requests_to`, keeping everything else sent.
fn requests_to_keep(h: &mut Harness, peer: &str) -> Vec<Request> {
    let (mine, rest): (Vec<_>, Vec<_>) = h
        .sent
        .drain(..)
        .partition(|(p, _)| p.addr.to_string() == peer);
    h.sent = rest;
    mine.into_iter()
        .filter_map(|(_, m)| match m {
            Message::Request(r) => Some(r),
            _ => None,
        })
        .collect()
}

#[test]
fn agent_refer_to_a_number_nobody_allowed_is_refused_with_403() {
    let mut h = Harness::with_config(&config(""));
    let invite = bridged_to_amos(&mut h);
    for (i, target) in [
        "<tel:+882345678901>",
        "<sip:+447700900123@198.51.100.99;user=phone>",
        "<sip:anyone@elsewhere.example>",
    ]
    .into_iter()
    .enumerate()
    {
        let refer = agent_request(
            &invite,
            "REFER",
            2 + i as u32,
            "amos1",
            &format!("Refer-To: {target}"),
        );
        h.send_from(AMOS, &refer);
        let (reqs, resps) = sent_to(&mut h, AMOS);
        assert_eq!(
            resps.iter().map(|r| r.status).collect::<Vec<_>>(),
            vec![403],
            "{target}"
        );
        assert!(reqs.is_empty(), "no NOTIFY for a refused REFER");
    }
    assert!(
        h.sent
            .iter()
            .all(|(_, m)| !matches!(m, Message::Request(_))),
        "nothing was dialled"
    );
    assert!(
        !h.events.iter().any(|e| matches!(e, Event::Unbridge { .. })),
        "the caller stays with the agent"
    );
    assert_eq!(h.core.leg_count(), 1);
}

#[test]
fn agent_refer_with_unknown_replaces_or_two_refer_tos_is_refused() {
    let mut h = Harness::with_config(&config(""));
    let invite = bridged_to_amos(&mut h);
    h.send_from(
        AMOS,
        &agent_request(
            &invite,
            "REFER",
            2,
            "amos1",
            "Refer-To: <sip:bea@192.0.2.1?Replaces=abc%3Bto-tag%3D1%3Bfrom-tag%3D2>",
        ),
    );
    h.send_from(
        AMOS,
        &agent_request(
            &invite,
            "REFER",
            3,
            "amos1",
            "Refer-To: <sip:bea@192.0.2.1>\nRefer-To: <sip:amos@192.0.2.1>",
        ),
    );
    let (reqs, resps) = sent_to(&mut h, AMOS);
    // An attended transfer naming no dialog of holdline's: 202, then the final NOTIFY says
    // 481 (RFC 3891 §3, see tests/core/attended.rs); two Refer-Tos: 400.
    assert_eq!(
        resps.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![202, 400]
    );
    assert_eq!(
        reqs.iter().map(sipfrag).collect::<Vec<_>>(),
        vec![
            "SIP/2.0 100 Trying",
            "SIP/2.0 481 Call/Transaction Does Not Exist"
        ]
    );
}

#[test]
fn agent_refer_to_a_queue_number_puts_the_caller_in_that_queue() {
    let mut h = Harness::with_config(&config(""));
    let invite = bridged_to_amos(&mut h);
    h.send_from(
        AMOS,
        &agent_request(
            &invite,
            "REFER",
            2,
            "amos1",
            "Refer-To: <sip:+14255550101@192.0.2.1;user=phone>",
        ),
    );
    let to_bea = requests_to_keep(&mut h, BEA);
    assert_eq!(
        methods(&to_bea),
        vec![Method::Invite],
        "support's agent is offered the caller"
    );
    let from = to_bea[0].headers.get(&HeaderName::From).unwrap().to_owned();
    assert!(from.contains("via Support"), "{from}");
    let (reqs, resps) = sent_to(&mut h, AMOS);
    assert_eq!(resps[0].status, 202);
    assert_eq!(
        methods(&reqs),
        vec![Method::Notify, Method::Notify, Method::Bye]
    );
    assert_eq!(sipfrag(&reqs[1]), "SIP/2.0 200 OK");
}

#[test]
fn agent_refer_to_an_allowed_number_dials_it_through_the_trunk() {
    let mut h = Harness::with_config(&config(""));
    let invite = bridged_to_amos(&mut h);
    h.send_from(
        AMOS,
        &agent_request(
            &invite,
            "REFER",
            2,
            "amos1",
            "Refer-To: <tel:+1-425-555-0999>",
        ),
    );
    let to_trunk = requests_to_keep(&mut h, TRUNK);
    assert_eq!(methods(&to_trunk), vec![Method::Invite]);
    assert_eq!(
        to_trunk[0].uri.to_string(),
        "sip:+14255550999@203.0.113.9;user=phone"
    );
    // The carrier refuses: amos hears the outcome, the caller is released.
    h.send_from(TRUNK, &reply(&to_trunk[0], 486, "carrier1"));
    let to_caller = requests_to_keep(&mut h, CALLER);
    assert_eq!(
        methods(&to_caller),
        vec![Method::Bye],
        "the caller is released"
    );
    let (reqs, _) = sent_to(&mut h, AMOS);
    assert_eq!(
        methods(&reqs),
        vec![Method::Notify, Method::Notify, Method::Bye]
    );
    assert_eq!(sipfrag(&reqs[1]), "SIP/2.0 486 Refused");
}

#[test]
fn timeout_forwards_to_a_user_by_ringing_them() {
    let mut h = Harness::with_config(&config(
        "max_wait = 15\non_timeout = { action = \"forward\", to = \"user:bea\" }",
    ));
    caller_arrives(&mut h, "c9");
    let to_amos = requests_to(&mut h, AMOS);
    assert_eq!(methods(&to_amos), vec![Method::Invite]);
    h.send_from(AMOS, &reply(&to_amos[0], 180, "amos1"));
    h.sent.clear();
    h.advance(Duration::from_millis(15_100));
    let to_bea = requests_to_keep(&mut h, BEA);
    assert_eq!(methods(&to_bea), vec![Method::Invite], "bea is rung");
    let (to_amos, _) = sent_to(&mut h, AMOS);
    assert!(
        methods(&to_amos).contains(&Method::Cancel),
        "amos stops ringing"
    );
    h.events.clear();
    h.send_from(BEA, &reply(&to_bea[0], 200, "bea1"));
    assert!(h.events.iter().any(|e| matches!(e, Event::Bridge { .. })));
}

#[test]
fn forward_to_a_user_who_does_not_answer_releases_the_caller() {
    let mut h = Harness::with_config(&config(
        "max_wait = 15\non_timeout = { action = \"forward\", to = \"user:bea\" }",
    ));
    let tag = caller_arrives(&mut h, "c10");
    h.advance(Duration::from_millis(15_100));
    let to_bea = requests_to(&mut h, BEA);
    h.send_from(BEA, &reply(&to_bea[0], 603, "bea1"));
    let byes: Vec<Request> = requests_to(&mut h, CALLER)
        .into_iter()
        .filter(|r| r.method == Method::Bye)
        .collect();
    assert_eq!(byes.len(), 1, "the caller is hung up");
    let reason = byes[0].headers.get(&HeaderName::Reason).unwrap();
    assert!(reason.contains("cause=480"), "{reason}");
    let _ = tag;
}

/// A caller whose INVITE lists REFER in Allow (its side can take a REFER); returns our tag.
fn referable_caller_arrives(h: &mut Harness, call_id: &str) -> String {
    caller_arrives_with(
        h,
        call_id,
        "Allow: INVITE, ACK, CANCEL, BYE, REFER, NOTIFY\n",
    )
}

/// A referable caller waits out `max_wait` (15 s): returns our tag and the REFER its side got.
fn referred_at_timeout(h: &mut Harness, call_id: &str) -> (String, Request) {
    let tag = referable_caller_arrives(h, call_id);
    h.sent.clear();
    h.advance(Duration::from_millis(15_100));
    let refer = requests_to_keep(h, CALLER)
        .into_iter()
        .find(|r| r.method == Method::Refer)
        .expect("REFER to the caller's side");
    (tag, refer)
}

/// The caller's NOTIFY for our REFER with the sipfrag `frag`.
fn caller_notify(call_id: &str, tag: &str, cseq: u32, frag: &str, state: &str) -> String {
    let body = format!("{frag}\r\n");
    in_dialog(
        "NOTIFY",
        call_id,
        tag,
        cseq,
        &format!("z9hG4bKn{cseq}"),
        None,
    )
    .replace(
        "Content-Length: 0\n\n",
        &format!(
            "Event: refer\nSubscription-State: {state}\nContent-Type: message/sipfrag\n\
             Content-Length: {}\n\n{body}",
            body.len()
        ),
    )
}

const FORWARD_OUT: &str =
    "max_wait = 15\non_timeout = { action = \"forward\", to = \"tel:+14255550999\" }";

#[test]
fn timeout_forward_to_a_number_is_referred_to_the_callers_side() {
    let mut h = Harness::with_config(&config(FORWARD_OUT));
    let (tag, refer) = referred_at_timeout(&mut h, "r1");
    assert_eq!(
        refer.headers.get(&HeaderName::ReferTo),
        Some("<tel:+14255550999>")
    );
    assert!(refer.headers.get(&HeaderName::ReferredBy).is_some());
    assert!(
        requests_to_keep(&mut h, TRUNK).is_empty(),
        "holdline dials nothing itself"
    );
    h.send(&reply(&refer, 202, "caller1"));
    h.send(&caller_notify(
        "r1",
        &tag,
        2,
        "SIP/2.0 100 Trying",
        "active",
    ));
    assert_eq!(h.last_response(200).map(|r| r.status), Some(200));
    h.sent.clear();
    h.send(&caller_notify(
        "r1",
        &tag,
        3,
        "SIP/2.0 200 OK",
        "terminated;reason=noresource",
    ));
    let to_caller = requests_to_keep(&mut h, CALLER);
    assert_eq!(methods(&to_caller), vec![Method::Bye], "we leave the call");
    assert!(requests_to_keep(&mut h, TRUNK).is_empty());
}

#[test]
fn a_refused_refer_falls_back_to_a_leg_through_the_trunk() {
    let mut h = Harness::with_config(&config(FORWARD_OUT));
    let (_, refer) = referred_at_timeout(&mut h, "r2");
    h.send(&reply(&refer, 603, "caller1"));
    let to_trunk = requests_to_keep(&mut h, TRUNK);
    assert_eq!(
        methods(&to_trunk),
        vec![Method::Invite],
        "we place it ourselves"
    );
    h.events.clear();
    h.send_from(TRUNK, &reply(&to_trunk[0], 200, "far1"));
    assert!(h.events.iter().any(|e| matches!(e, Event::Bridge { .. })));
}

#[test]
fn a_failed_sipfrag_falls_back_and_so_does_silence() {
    // The caller's side accepts, then reports failure.
    let mut h = Harness::with_config(&config(FORWARD_OUT));
    let (tag, refer) = referred_at_timeout(&mut h, "r3");
    h.send(&reply(&refer, 202, "caller1"));
    h.send(&caller_notify(
        "r3",
        &tag,
        2,
        "SIP/2.0 503 Service Unavailable",
        "terminated",
    ));
    assert_eq!(
        methods(&requests_to_keep(&mut h, TRUNK)),
        vec![Method::Invite]
    );

    // The caller's side accepts and never says how it went: after 64·T1 we place it.
    let mut h = Harness::with_config(&config(FORWARD_OUT));
    let (_, refer) = referred_at_timeout(&mut h, "r4");
    h.send(&reply(&refer, 202, "caller1"));
    h.sent.clear();
    h.advance(Duration::from_secs(31));
    assert!(requests_to_keep(&mut h, TRUNK).is_empty(), "still waiting");
    h.advance(Duration::from_secs(2));
    let to_trunk = methods(&requests_to_keep(&mut h, TRUNK));
    assert!(
        !to_trunk.is_empty() && to_trunk.iter().all(|m| *m == Method::Invite),
        "the INVITE (and its retransmissions): {to_trunk:?}"
    );
}

#[test]
fn a_caller_without_refer_is_forwarded_on_our_own_leg() {
    let mut h = Harness::with_config(&config(FORWARD_OUT));
    caller_arrives(&mut h, "r5");
    h.sent.clear();
    h.advance(Duration::from_millis(15_100));
    assert!(requests_to_keep(&mut h, CALLER)
        .iter()
        .all(|r| r.method != Method::Refer));
    assert_eq!(
        methods(&requests_to_keep(&mut h, TRUNK)),
        vec![Method::Invite]
    );
}

#[test]
fn a_callers_refer_is_refused() {
    let mut h = Harness::with_config(&config(""));
    let tag = caller_arrives(&mut h, "r6");
    h.sent.clear();
    h.send(
        &in_dialog("REFER", "r6", &tag, 2, "z9hG4bKr6r", None).replace(
            "Content-Length: 0",
            "Refer-To: <tel:+14255550999>\nContent-Length: 0",
        ),
    );
    assert_eq!(h.statuses(), vec![403]);
    assert!(requests_to_keep(&mut h, TRUNK).is_empty());
}

/// The trunk with credentials (`auth`), for its challenges.
fn config_with_trunk_auth(realm: &str) -> String {
    config("").replace(
        "allow = [\"+1425*\"]",
        &format!(
            "allow = [\"+1425*\"]\n\
             auth = {{ username = \"holdline\", password = \"s3cret\", realm = \"{realm}\" }}"
        ),
    )
}

/// amos transfers the bridged caller to +14255550999; returns the INVITE the trunk got.
fn transferred_to_the_trunk(h: &mut Harness) -> Request {
    let invite = bridged_to_amos(h);
    h.send_from(
        AMOS,
        &agent_request(&invite, "REFER", 2, "amos1", "Refer-To: <tel:+14255550999>"),
    );
    let mut to_trunk = requests_to_keep(h, TRUNK);
    assert_eq!(methods(&to_trunk), vec![Method::Invite]);
    h.sent.clear();
    to_trunk.remove(0)
}

/// The INVITEs sent to the trunk since the last clear.
fn invites_to_trunk(h: &mut Harness) -> Vec<Request> {
    requests_to_keep(h, TRUNK)
        .into_iter()
        .filter(|r| r.method == Method::Invite)
        .collect()
}

/// `resp` (a reply's text) with a challenge header after its status line.
fn challenge(resp: String, header: &str) -> String {
    resp.replacen('\n', &format!("\n{header}\n"), 1)
}

/// The `name` parameter of an Authorization-style header value.
fn auth_param(value: &str, name: &str) -> String {
    // " nonce=" never matches "cnonce=".
    let start = value.find(&format!(" {name}=")).unwrap() + name.len() + 2;
    let rest = &value[start..];
    match rest.strip_prefix('"') {
        Some(q) => q[..q.find('"').unwrap()].to_owned(),
        None => rest.split([',', ' ']).next().unwrap().to_owned(),
    }
}

#[test]
fn a_trunk_challenge_is_answered_with_the_trunks_credentials() {
    use holdline::sip::digest::{authorization, Challenge, Request as Authorised};
    let mut h = Harness::with_config(&config_with_trunk_auth("carrier.example"));
    let first = transferred_to_the_trunk(&mut h);
    let www = "Proxy-Authenticate: Digest realm=\"carrier.example\", nonce=\"n0nce\", \
               algorithm=MD5, qop=\"auth\", opaque=\"op\"";
    h.send_from(TRUNK, &challenge(reply(&first, 407, "carrier1"), www));

    // RFC 3261 §22.2: the same INVITE again, CSeq one higher, with the credentials.
    let to_trunk = requests_to_keep(&mut h, TRUNK);
    let again: Vec<&Request> = to_trunk
        .iter()
        .filter(|r| r.method == Method::Invite)
        .collect();
    assert_eq!(again.len(), 1, "one INVITE with credentials: {to_trunk:?}");
    let again = again[0];
    let header = |r: &Request, n: HeaderName| r.headers.get(&n).unwrap().to_owned();
    assert_eq!(header(again, HeaderName::CSeq), "2 INVITE");
    assert_eq!(
        header(again, HeaderName::CallId),
        header(&first, HeaderName::CallId)
    );
    assert_eq!(
        header(again, HeaderName::From),
        header(&first, HeaderName::From)
    );
    assert_ne!(
        header(again, HeaderName::Via),
        header(&first, HeaderName::Via)
    );
    assert_eq!(again.uri, first.uri);
    assert!(again.headers.get(&HeaderName::Authorization).is_none());
    let creds = header(again, HeaderName::ProxyAuthorization);
    assert_eq!(auth_param(&creds, "username"), "holdline");
    assert_eq!(auth_param(&creds, "uri"), first.uri.to_string());
    assert_eq!(auth_param(&creds, "opaque"), "op");
    // The response answers this challenge for this request (the digest itself is checked
    // against RFC 7616's examples in `sip::digest` and by SIPp in the end-to-end test).
    let ch = Challenge::parse(&www["Proxy-Authenticate: ".len()..]).unwrap();
    let uri = first.uri.to_string();
    let want = authorization(
        &ch,
        "holdline",
        "s3cret",
        Authorised {
            method: "INVITE",
            uri: &uri,
            body: &again.body,
        },
        &auth_param(&creds, "cnonce"),
    )
    .unwrap();
    assert_eq!(creds, want);

    // The carrier answers: the caller is bridged to it and amos hears 200 in the sipfrag.
    h.send_from(TRUNK, &reply(again, 200, "carrier2"));
    let (reqs, _) = sent_to(&mut h, AMOS);
    let notifies: Vec<String> = reqs
        .iter()
        .filter(|r| r.method == Method::Notify)
        .map(sipfrag)
        .collect();
    assert_eq!(notifies, vec!["SIP/2.0 200 OK".to_owned()]);
}

#[test]
fn refused_credentials_are_not_sent_again() {
    let mut h = Harness::with_config(&config_with_trunk_auth("carrier.example"));
    let first = transferred_to_the_trunk(&mut h);
    let www = "WWW-Authenticate: Digest realm=\"carrier.example\", nonce=\"a\"";
    h.send_from(TRUNK, &challenge(reply(&first, 401, "carrier1"), www));
    let again = requests_to_keep(&mut h, TRUNK);
    let again: Vec<&Request> = again
        .iter()
        .filter(|r| r.method == Method::Invite)
        .collect();
    assert_eq!(again.len(), 1);
    assert!(again[0].headers.get(&HeaderName::Authorization).is_some());
    h.sent.clear();

    // A second challenge that does not say the nonce was stale: the credentials were wrong.
    let again = again[0].clone();
    let www2 = "WWW-Authenticate: Digest realm=\"carrier.example\", nonce=\"b\"";
    h.send_from(TRUNK, &challenge(reply(&again, 401, "carrier2"), www2));
    assert!(requests_to_keep(&mut h, TRUNK)
        .iter()
        .all(|r| r.method != Method::Invite));
    let (reqs, _) = sent_to(&mut h, AMOS);
    let last = reqs.iter().rfind(|r| r.method == Method::Notify).unwrap();
    assert_eq!(sipfrag(last), "SIP/2.0 401 Refused");
}

#[test]
fn a_stale_nonce_is_answered_again() {
    let mut h = Harness::with_config(&config_with_trunk_auth("carrier.example"));
    let first = transferred_to_the_trunk(&mut h);
    let www = "WWW-Authenticate: Digest realm=\"carrier.example\", nonce=\"a\"";
    h.send_from(TRUNK, &challenge(reply(&first, 401, "carrier1"), www));
    let second = invites_to_trunk(&mut h).into_iter().next().unwrap();
    h.sent.clear();
    let stale = "WWW-Authenticate: Digest realm=\"carrier.example\", nonce=\"b\", stale=true";
    h.send_from(TRUNK, &challenge(reply(&second, 401, "carrier2"), stale));
    let third = invites_to_trunk(&mut h)
        .into_iter()
        .next()
        .expect("a stale nonce gets the credentials again");
    assert_eq!(third.headers.get(&HeaderName::CSeq), Some("3 INVITE"));
    let creds = third.headers.get(&HeaderName::Authorization).unwrap();
    assert_eq!(auth_param(creds, "nonce"), "b");
}

#[test]
fn credentials_go_to_their_realm_only_and_never_to_agents() {
    // A challenge for a realm other than the configured one is not answered.
    let mut h = Harness::with_config(&config_with_trunk_auth("carrier.example"));
    let first = transferred_to_the_trunk(&mut h);
    let www = "WWW-Authenticate: Digest realm=\"elsewhere.example\", nonce=\"a\"";
    h.send_from(TRUNK, &challenge(reply(&first, 401, "carrier1"), www));
    assert!(requests_to_keep(&mut h, TRUNK)
        .iter()
        .all(|r| r.method != Method::Invite));

    // An agent's phone that challenges gets no credentials: the leg just fails.
    let mut h = Harness::with_config(&config_with_trunk_auth("carrier.example"));
    caller_arrives(&mut h, "c1");
    let invite = requests_to(&mut h, AMOS).remove(0);
    let www = "WWW-Authenticate: Digest realm=\"carrier.example\", nonce=\"a\"";
    h.send_from(AMOS, &challenge(reply(&invite, 401, "amos1"), www));
    let (reqs, _) = sent_to(&mut h, AMOS);
    assert!(
        reqs.iter()
            .all(|r| r.headers.get(&HeaderName::Authorization).is_none()),
        "{reqs:?}"
    );
}

#[test]
fn a_proxy_and_the_far_end_are_both_answered_and_the_right_realm_is_picked() {
    let mut h = Harness::with_config(&config_with_trunk_auth("carrier.example"));
    let first = transferred_to_the_trunk(&mut h);
    // The first challenge is another realm's; the configured realm's comes second.
    h.send_from(
        TRUNK,
        &challenge(
            reply(&first, 407, "p1"),
            "Proxy-Authenticate: Digest realm=\"elsewhere.example\", nonce=\"x\"\n\
             Proxy-Authenticate: Digest realm=\"carrier.example\", nonce=\"p\"",
        ),
    );
    let second = invites_to_trunk(&mut h).remove(0);
    let proxy_creds = second
        .headers
        .get(&HeaderName::ProxyAuthorization)
        .unwrap()
        .to_owned();
    assert_eq!(auth_param(&proxy_creds, "realm"), "carrier.example");
    assert_eq!(auth_param(&proxy_creds, "nonce"), "p");
    h.sent.clear();

    // Then the far end challenges too (RFC 3261 §22.3): answered, and the proxy's stays.
    h.send_from(
        TRUNK,
        &challenge(
            reply(&second, 401, "f1"),
            "WWW-Authenticate: Digest realm=\"carrier.example\", nonce=\"f\", qop=\"auth\"",
        ),
    );
    let third = invites_to_trunk(&mut h).remove(0);
    assert_eq!(third.headers.get(&HeaderName::CSeq), Some("3 INVITE"));
    assert_eq!(
        third.headers.get(&HeaderName::ProxyAuthorization),
        Some(proxy_creds.as_str())
    );
    let www = third.headers.get(&HeaderName::Authorization).unwrap();
    assert_eq!(auth_param(www, "nonce"), "f");
}

#[test]
fn a_stray_forks_bye_is_above_the_resent_invites_cseq() {
    let mut h = Harness::with_config(&config_with_trunk_auth("carrier.example"));
    let first = transferred_to_the_trunk(&mut h);
    h.send_from(
        TRUNK,
        &challenge(
            reply(&first, 401, "c1"),
            "WWW-Authenticate: Digest realm=\"carrier.example\", nonce=\"a\"",
        ),
    );
    let second = invites_to_trunk(&mut h).remove(0);
    h.sent.clear();
    // Two forks answer: the first wins, the second is ACKed and ended with BYE (§13.2.2.4),
    // whose CSeq must be above the INVITE's 2 (§12.2.1.1).
    h.send_from(TRUNK, &reply(&second, 200, "forkA"));
    h.send_from(TRUNK, &reply(&second, 200, "forkB"));
    let bye = requests_to_keep(&mut h, TRUNK)
        .into_iter()
        .find(|r| r.method == Method::Bye)
        .expect("BYE to the stray fork");
    assert!(bye.headers.get(&HeaderName::To).unwrap().contains("forkB"));
    assert_eq!(bye.headers.get(&HeaderName::CSeq), Some("3 BYE"));
}
