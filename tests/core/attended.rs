//! Attended transfer through the whole core on virtual time (RFC 5589 §7, RFC 3891): a caller
//! queued for sales is answered by amos, who holds it, calls the support queue (answered by
//! bea) and REFERs the caller with `Replaces` naming that consult call. The refusals, and an
//! INVITE that carries `Replaces`.

use std::time::Duration;

use holdline::b2bua::Event;
use holdline::queue::types::Activity;
use holdline::sip::header::HeaderName;
use holdline::sip::message::{Message, Request, Response};
use holdline::sip::Method;
use holdline_testkit::harness::*;

const AMOS: &str = "198.51.100.20:5070";
const BEA: &str = "198.51.100.21:5070";

fn config() -> String {
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
[[number]]
e164 = "+14255550102"
kind = "service-toll"
[[user]]
id = "amos"
contacts = ["sip:amos@{AMOS}"]
[[user]]
id = "bea"
contacts = ["sip:bea@{BEA}"]
[[queue]]
id = "sales"
name = "UK Sales"
numbers = ["+14255550100"]
agents = ["amos"]
wrap_up = 5
[[queue]]
id = "support"
name = "Support"
numbers = ["+14255550101"]
agents = ["bea"]
[[queue]]
id = "slow"
name = "Slow"
numbers = ["+14255550102"]
agents = ["bea"]
answer_delay_ms = 3000
"#
    )
}

const AMOS_SDP: &str = "v=0\r\no=amos 1 2 IN IP4 198.51.100.20\r\ns=-\r\nc=IN IP4 198.51.100.20\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

/// A request from amos inside the leg `invite` opened (our From is its To).
fn in_leg(invite: &Request, method: &str, cseq: u32, extra: &str, body: &str) -> String {
    let our_from = invite.headers.get(&HeaderName::From).unwrap();
    let call_id = invite.headers.get(&HeaderName::CallId).unwrap();
    let ct = match body.is_empty() {
        true => "",
        false => "Content-Type: application/sdp\n",
    };
    format!(
        "{method} sip:holdline@192.0.2.1:5060 SIP/2.0\n\
         Via: SIP/2.0/UDP {AMOS};branch=z9hG4bKleg{method}{cseq}\n\
         From: <sip:amos@{AMOS}>;tag=amos1\n\
         To: {our_from}\n\
         Call-ID: {call_id}\n\
         CSeq: {cseq} {method}\n\
         Max-Forwards: 70\n\
         Contact: <sip:amos@{AMOS}>\n\
         {extra}{ct}Content-Length: {}\n\n{body}",
        body.len()
    )
}

/// amos's consult call: an INVITE from amos's phone to `number`.
fn consult_invite(number: &str, call_id: &str) -> String {
    format!(
        "INVITE sip:{number}@192.0.2.1 SIP/2.0\n\
         Via: SIP/2.0/UDP {AMOS};branch=z9hG4bK{call_id}\n\
         From: \"Amos\" <sip:amos@{AMOS}>;tag=amosc\n\
         To: <sip:{number}@192.0.2.1>\n\
         Call-ID: {call_id}\n\
         CSeq: 1 INVITE\n\
         Contact: <sip:amos@{AMOS}>\n\
         Max-Forwards: 70\n\
         Content-Type: application/sdp\n\
         Content-Length: {}\n\n{AMOS_SDP}",
        AMOS_SDP.len()
    )
}

fn consult_ack(number: &str, call_id: &str, tag: &str) -> String {
    format!(
        "ACK sip:{number}@192.0.2.1 SIP/2.0\n\
         Via: SIP/2.0/UDP {AMOS};branch=z9hG4bK{call_id}ack\n\
         From: \"Amos\" <sip:amos@{AMOS}>;tag=amosc\n\
         To: <sip:{number}@192.0.2.1>;tag={tag}\n\
         Call-ID: {call_id}\n\
         CSeq: 1 ACK\n\
         Max-Forwards: 70\n\
         Content-Length: 0\n\n"
    )
}

fn refer_with_replaces(call_id: &str, to_tag: &str, from_tag: &str) -> String {
    format!(
        "Refer-To: <sip:+14255550101@192.0.2.1?Replaces={call_id}%3Bto-tag%3D{to_tag}%3Bfrom-tag%3D{from_tag}>\n"
    )
}

fn sent_to(h: &mut Harness, peer: &str) -> (Vec<Request>, Vec<Response>) {
    let (mut reqs, mut resps) = (Vec::new(), Vec::new());
    let (mine, rest): (Vec<_>, Vec<_>) = h
        .sent
        .drain(..)
        .partition(|(p, _)| p.addr.to_string() == peer);
    h.sent = rest;
    for (_, m) in mine {
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

fn activity(h: &Harness, agent: &str) -> Activity {
    h.core
        .engine()
        .agent_status(&agent.into())
        .expect("a configured agent")
        .activity
}

/// Where the scenario stands once amos holds the caller and talks to whoever answers the
/// consult call.
struct Consult {
    /// The INVITE holdline sent amos for the caller.
    amos_leg: Request,
    /// Our To tag on amos's consult call.
    consult_tag: String,
}

/// The caller is bridged to amos; amos holds it (re-INVITE sendonly) and calls `number`;
/// the consult call is answered by holdline (and ACKed).
fn hold_and_consult(h: &mut Harness, number: &str) -> Consult {
    caller_arrives(h, "c1");
    let amos_leg = requests_to(h, AMOS).remove(0);
    h.send_from(AMOS, &reply(&amos_leg, 200, "amos1"));
    assert!(h.events.iter().any(|e| matches!(e, Event::Bridge { .. })));
    h.sent.clear();
    h.events.clear();

    // Hold: RFC 3264 §8.4 sendonly; the caller hears its music again (the media plane stops
    // relaying amos's phone while the leg's media says it holds).
    let held = AMOS_SDP.replace(
        "a=rtpmap:0 PCMU/8000\r\n",
        "a=rtpmap:0 PCMU/8000\r\na=sendonly\r\n",
    );
    h.send_from(AMOS, &in_leg(&amos_leg, "INVITE", 2, "", &held));
    let (_, resps) = sent_to(h, AMOS);
    let resps: Vec<Response> = resps.into_iter().filter(|r| r.status >= 200).collect();
    assert_eq!(
        resps.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![200]
    );
    assert!(String::from_utf8_lossy(&resps[0].body).contains("a=recvonly"));
    assert!(
        h.events
            .iter()
            .any(|e| matches!(e, Event::LegMediaUpdated { media, .. } if media.hold)),
        "the hold reaches the media plane: {:?}",
        h.events
    );
    h.send_from(AMOS, &in_leg(&amos_leg, "ACK", 2, "", ""));
    h.sent.clear();
    h.events.clear();

    h.send_from(AMOS, &consult_invite(number, "consult1"));
    let answered = h.last_response(200).expect("the consult call is answered");
    let consult_tag = to_tag(&answered);
    h.send_from(AMOS, &consult_ack(number, "consult1", &consult_tag));
    Consult {
        amos_leg,
        consult_tag,
    }
}

#[test]
fn refer_with_replaces_hands_the_caller_to_the_consulted_agent() {
    let mut h = Harness::with_config(&config());
    let c = hold_and_consult(&mut h, "+14255550101");
    let bea_invite = requests_to(&mut h, BEA).remove(0);
    assert_eq!(bea_invite.method, Method::Invite);
    h.send_from(BEA, &reply(&bea_invite, 200, "bea1"));
    let Some(&Event::Bridge {
        call: consult,
        leg: bea_leg,
    }) = h.events.iter().find(|e| matches!(e, Event::Bridge { .. }))
    else {
        panic!("bea is bridged to amos's consult call: {:?}", h.events);
    };
    h.sent.clear();
    h.events.clear();
    while h.core.poll_queue_event().is_some() {}

    // amos transfers, naming the consult dialog from its side (its own tag is the From tag).
    let refer = in_leg(
        &c.amos_leg,
        "REFER",
        3,
        &refer_with_replaces("consult1", &c.consult_tag, "amosc"),
        "",
    );
    h.send_from(AMOS, &refer);

    let (reqs, resps) = sent_to(&mut h, AMOS);
    assert_eq!(
        resps.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![202]
    );
    assert_eq!(
        methods(&reqs),
        vec![Method::Notify, Method::Notify, Method::Bye, Method::Bye],
        "NOTIFY 100, NOTIFY 200, then BYE on both of amos's dialogs"
    );
    assert_eq!(sipfrag(&reqs[0]), "SIP/2.0 100 Trying");
    assert_eq!(sipfrag(&reqs[1]), "SIP/2.0 200 OK");
    assert!(reqs[1]
        .headers
        .get(&HeaderName::SubscriptionState)
        .unwrap()
        .starts_with("terminated"));
    let bye_ids: Vec<&str> = reqs[2..]
        .iter()
        .map(|r| r.headers.get(&HeaderName::CallId).unwrap())
        .collect();
    let leg_call_id = c.amos_leg.headers.get(&HeaderName::CallId).unwrap();
    assert!(bye_ids.contains(&leg_call_id), "BYE on the held leg");
    assert!(bye_ids.contains(&"consult1"), "BYE on the consult call");

    // Media: the consult call lets bea go, the caller is bridged to bea's leg (no re-INVITE
    // to anyone: nothing was sent to bea or the caller).
    let bridged_caller = h.events.iter().find_map(|e| match e {
        Event::Bridge { call, leg } if *leg == bea_leg => Some(*call),
        _ => None,
    });
    let bridged_caller = bridged_caller.expect("bea's leg is bridged again");
    assert_ne!(
        bridged_caller, consult,
        "to the caller, not the consult call"
    );
    let unbridge = h
        .events
        .iter()
        .position(|e| *e == Event::Unbridge { call: consult })
        .expect("the consult call leaves bea first");
    let bridge = h
        .events
        .iter()
        .position(|e| matches!(e, Event::Bridge { leg, .. } if *leg == bea_leg))
        .unwrap();
    assert!(unbridge < bridge);
    assert!(
        h.sent.is_empty(),
        "nothing to bea or the caller: {:?}",
        h.sent
    );

    // The log: the caller's sales call was transferred by amos.
    let logged: Vec<_> = std::iter::from_fn(|| h.core.poll_queue_event()).collect();
    let transfer = logged
        .iter()
        .find(|e| e.event.kind.name() == "transfer")
        .expect("a transfer event");
    assert_eq!(transfer.call_id, "c1");
    assert_eq!(
        transfer.event.agent.as_ref().map(|a| a.as_str()),
        Some("amos")
    );
    assert!(
        format!("{:?}", transfer.event.kind).contains("attended:"),
        "{:?}",
        transfer.event.kind
    );

    // amos answers both BYEs; the caller and bea remain.
    for bye in &reqs[2..] {
        h.send_from(AMOS, &reply(bye, 200, "x"));
    }
    assert_eq!(h.core.call_count(), 1, "only the caller's dialog is left");
    assert_eq!(h.core.leg_count(), 1, "only bea's leg is left");
    assert!(matches!(activity(&h, "amos"), Activity::WrapUp(_)));
    assert!(matches!(activity(&h, "bea"), Activity::OnCall(_)));
    h.advance(Duration::from_secs(6));
    assert_eq!(
        activity(&h, "amos"),
        Activity::Idle,
        "amos is free after wrap-up"
    );

    // bea hangs up: the caller gets BYE (its call is bea's queue call now) and bea is free.
    h.sent.clear();
    let bye = format!(
        "BYE sip:holdline@192.0.2.1:5060 SIP/2.0\n\
         Via: SIP/2.0/UDP {BEA};branch=z9hG4bKbeabye\n\
         From: <sip:bea@{BEA}>;tag=bea1\n\
         To: {}\n\
         Call-ID: {}\n\
         CSeq: 2 BYE\n\
         Max-Forwards: 70\n\
         Content-Length: 0\n\n",
        bea_invite.headers.get(&HeaderName::From).unwrap(),
        bea_invite.headers.get(&HeaderName::CallId).unwrap()
    );
    h.send_from(BEA, &bye);
    let to_caller = requests_to(&mut h, CALLER);
    assert_eq!(methods(&to_caller), vec![Method::Bye]);
    assert_eq!(to_caller[0].headers.get(&HeaderName::CallId), Some("c1"));
    assert!(!matches!(activity(&h, "bea"), Activity::OnCall(_)));
}

#[test]
fn transfer_while_the_consulted_queue_still_rings_puts_the_caller_in_its_place() {
    let mut h = Harness::with_config(&config());
    let c = hold_and_consult(&mut h, "+14255550101");
    let bea_invite = requests_to(&mut h, BEA).remove(0);
    h.events.clear();
    let refer = in_leg(
        &c.amos_leg,
        "REFER",
        3,
        &refer_with_replaces("consult1", &c.consult_tag, "amosc"),
        "",
    );
    h.send_from(AMOS, &refer);
    let (reqs, _) = sent_to(&mut h, AMOS);
    assert_eq!(sipfrag(&reqs[1]), "SIP/2.0 200 OK");
    let caller = h
        .events
        .iter()
        .find_map(|e| match e {
            Event::Unbridge { call } => Some(*call),
            _ => None,
        })
        .expect("the caller leaves amos for its music");
    assert!(
        !h.events.iter().any(|e| matches!(e, Event::Bridge { .. })),
        "nobody to bridge yet"
    );
    for bye in reqs.iter().filter(|r| r.method == Method::Bye) {
        h.send_from(AMOS, &reply(bye, 200, "x"));
    }
    assert_eq!(h.core.call_count(), 1, "the consult call is gone");
    // bea, still ringing, answers: bridged to the caller that took the consult call's place.
    h.events.clear();
    h.send_from(BEA, &reply(&bea_invite, 200, "bea1"));
    assert!(
        h.events
            .iter()
            .any(|e| matches!(e, Event::Bridge { call, .. } if *call == caller)),
        "{:?}",
        h.events
    );
}

/// A REFER with Replaces that cannot be carried out: 202, NOTIFY 100, a final NOTIFY with
/// `status`; amos keeps the caller (no media change, no BYE).
fn assert_refused(h: &mut Harness, amos_leg: &Request, extra: &str, status: &str) {
    static CSEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(100);
    let cseq = CSEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    h.sent.clear();
    h.events.clear();
    let refer = in_leg(amos_leg, "REFER", cseq, extra, "");
    h.send_from(AMOS, &refer);
    let (reqs, resps) = sent_to(h, AMOS);
    assert_eq!(
        resps.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![202]
    );
    assert_eq!(
        methods(&reqs),
        vec![Method::Notify, Method::Notify],
        "{extra}"
    );
    assert!(
        sipfrag(&reqs[1]).starts_with(&format!("SIP/2.0 {status}")),
        "{extra}: {}",
        sipfrag(&reqs[1])
    );
    assert!(
        !h.events
            .iter()
            .any(|e| matches!(e, Event::Bridge { .. } | Event::Unbridge { .. })),
        "{extra}: the caller stays with amos"
    );
    for n in &reqs {
        h.send_from(AMOS, &reply(n, 200, "x"));
    }
    h.sent.clear();
}

#[test]
fn unknown_dialogs_and_other_peoples_calls_get_481() {
    let mut h = Harness::with_config(&config());
    let c = hold_and_consult(&mut h, "+14255550101");
    let bea_invite = requests_to(&mut h, BEA).remove(0);
    h.send_from(BEA, &reply(&bea_invite, 200, "bea1"));
    // Wrong Call-ID, wrong tags, the tags of bea's leg (a dialog amos is not in).
    let bea_call_id = bea_invite.headers.get(&HeaderName::CallId).unwrap();
    let bea_from = bea_invite.headers.get(&HeaderName::From).unwrap();
    let our_tag = bea_from.split("tag=").nth(1).unwrap();
    for extra in [
        refer_with_replaces("nosuchcall", &c.consult_tag, "amosc"),
        refer_with_replaces("consult1", "wrong", "amosc"),
        refer_with_replaces("consult1", &c.consult_tag, "wrong"),
        refer_with_replaces(&bea_call_id.replace('@', "%40"), "bea1", our_tag),
    ] {
        assert_refused(&mut h, &c.amos_leg, &extra, "481");
    }
    // A malformed Replaces is the REFER's own error.
    h.send_from(
        AMOS,
        &in_leg(
            &c.amos_leg,
            "REFER",
            9,
            "Refer-To: <sip:+14255550101@192.0.2.1?Replaces=consult1>\n",
            "",
        ),
    );
    let (reqs, resps) = sent_to(&mut h, AMOS);
    assert_eq!(
        resps.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![400]
    );
    assert!(reqs.is_empty());
    // Still amos's call: the tags in the other order also name the consult call, and work.
    h.send_from(
        AMOS,
        &in_leg(
            &c.amos_leg,
            "REFER",
            10,
            &refer_with_replaces("consult1", "amosc", &c.consult_tag),
            "",
        ),
    );
    let (reqs, _) = sent_to(&mut h, AMOS);
    assert_eq!(sipfrag(&reqs[1]), "SIP/2.0 200 OK");
}

#[test]
fn a_consult_call_not_answered_by_holdline_yet_is_an_early_dialog_481() {
    let mut h = Harness::with_config(&config());
    caller_arrives(&mut h, "c1");
    let amos_leg = requests_to(&mut h, AMOS).remove(0);
    h.send_from(AMOS, &reply(&amos_leg, 200, "amos1"));
    // The slow queue rings 3 s before answering: amos's consult dialog is early (180 only).
    h.send_from(AMOS, &consult_invite("+14255550102", "consult1"));
    let ringing = h.last_response(180).expect("180 during the answer delay");
    let tag = to_tag(&ringing);
    assert_refused(
        &mut h,
        &amos_leg,
        &refer_with_replaces("consult1", &tag, "amosc"),
        "481",
    );
    // early-only on a confirmed consult call: 486 (RFC 3891 §3).
    h.sent.clear();
    h.advance(Duration::from_secs(4));
    let answered = h
        .last_response(200)
        .expect("the slow queue answers after its delay");
    assert_eq!(answered.headers.get(&HeaderName::CallId), Some("consult1"));
    let extra = format!(
        "Refer-To: <sip:x@192.0.2.1?Replaces=consult1%3Bto-tag%3D{tag}%3Bfrom-tag%3Damosc%3Bearly-only>\n"
    );
    assert_refused(&mut h, &amos_leg, &extra, "486");
}

/// An INVITE from the caller's address with Replaces naming the caller's dialog (`c1`, our
/// `tag`, the caller's `caller1`), as a PBX sends after its own attended transfer.
fn replacing_invite(call_id: &str, branch: &str, replaces: &str) -> String {
    invite("+14255550100", call_id, branch, Some(SDP_PCMU))
        .replace(
            "sip:+14255550100@192.0.2.1 SIP/2.0",
            "sip:holdline@192.0.2.1:5060 SIP/2.0",
        )
        .replace("tag=caller1", "tag=newparty")
        .replace(
            "Max-Forwards: 70\n",
            &format!("Max-Forwards: 70\nReplaces: {replaces}\n"),
        )
}

#[test]
fn an_invite_with_replaces_is_refused_unless_it_names_a_callers_dialog_from_its_address() {
    let mut h = Harness::with_config(&config());
    let tag = caller_arrives(&mut h, "c1");
    let amos_leg = requests_to(&mut h, AMOS).remove(0);
    h.send_from(AMOS, &reply(&amos_leg, 200, "amos1"));
    let calls = h.core.call_count();
    let amos_call_id = amos_leg.headers.get(&HeaderName::CallId).unwrap();
    let amos_tag = amos_leg.headers.get(&HeaderName::From).unwrap();
    let amos_tag = amos_tag.split("tag=").nth(1).unwrap();
    for (i, (from, replaces, status)) in [
        // The caller's dialog, but from another address: as unknown (RFC 3891 §6).
        (BEA, format!("c1;to-tag={tag};from-tag=caller1"), 481),
        (CALLER, "c1;to-tag=nope;from-tag=caller1".to_owned(), 481),
        (
            CALLER,
            format!("c1;to-tag={tag};from-tag=caller1;early-only"),
            486,
        ),
        (
            AMOS,
            format!("{amos_call_id};to-tag=amos1;from-tag={amos_tag}"),
            603,
        ),
        (CALLER, "c1".to_owned(), 400),
    ]
    .into_iter()
    .enumerate()
    {
        h.sent.clear();
        let inv = replacing_invite("c2", &format!("z9hG4bKrep{i}"), &replaces);
        h.send_from(from, &inv);
        let finals: Vec<u16> = h.statuses().into_iter().filter(|s| *s >= 200).collect();
        assert_eq!(finals, vec![status], "{replaces}");
        assert_eq!(h.core.call_count(), calls, "no new call");
    }
}

#[test]
fn an_invite_with_replaces_from_the_callers_side_takes_the_callers_place() {
    let mut h = Harness::with_config(&config());
    let tag = caller_arrives(&mut h, "c1");
    let amos_leg = requests_to(&mut h, AMOS).remove(0);
    h.send_from(AMOS, &reply(&amos_leg, 200, "amos1"));
    let Some(&Event::Bridge { call: old, leg }) =
        h.events.iter().find(|e| matches!(e, Event::Bridge { .. }))
    else {
        panic!("amos is bridged");
    };
    h.sent.clear();
    h.events.clear();
    let inv = replacing_invite(
        "c2",
        "z9hG4bKrepl",
        &format!("c1;to-tag={tag};from-tag=caller1"),
    );
    h.send(&inv);
    let ok = h.last_response(200).expect("the new party is answered");
    assert_eq!(ok.headers.get(&HeaderName::CallId), Some("c2"));
    let to_caller = requests_to(&mut h, CALLER);
    let bye = to_caller
        .iter()
        .find(|r| r.method == Method::Bye)
        .expect("the replaced dialog gets BYE");
    assert_eq!(bye.headers.get(&HeaderName::CallId), Some("c1"));
    let new = h
        .events
        .iter()
        .find_map(|e| match e {
            Event::CallAnswered { call, call_id, .. } if call_id == "c2" => Some(*call),
            _ => None,
        })
        .expect("the new call is answered");
    assert!(h.events.contains(&Event::Unbridge { call: old }));
    assert!(
        h.events.contains(&Event::Bridge { call: new, leg }),
        "amos now talks to the new party: {:?}",
        h.events
    );
    assert!(
        h.events
            .iter()
            .any(|e| matches!(e, Event::Play { call, .. } if *call == new)),
        "the new caller's stream starts"
    );
    h.send(&reply(bye, 200, "x"));
    assert_eq!(h.core.call_count(), 1);
    assert_eq!(h.core.leg_count(), 1, "amos's leg stays");
    // amos hangs up: the new party gets BYE (it holds the queue call now).
    h.sent.clear();
    h.send_from(AMOS, &in_leg(&amos_leg, "BYE", 5, "", ""));
    let to_caller = requests_to(&mut h, CALLER);
    assert_eq!(methods(&to_caller), vec![Method::Bye]);
    assert_eq!(to_caller[0].headers.get(&HeaderName::CallId), Some("c2"));
    assert!(!matches!(activity(&h, "amos"), Activity::OnCall(_)));
}
