//! Toll fraud through dial strings at REFER time, on virtual time: an agent's `Refer-To` whose
//! user part a carrier would dial as a number is read with the trunk's rules and checked
//! against its number patterns, whatever host it names. Each attack is answered 403 and no
//! request at all reaches the trunk (or anyone else); a number in the allowed range, however
//! it is written, reaches the trunk as `+E164;user=phone` with nothing else of the URI, and a
//! name at the allowed host reaches it without routing parameters.

use holdline::b2bua::Event;
use holdline::sip::header::HeaderName;
use holdline::sip::message::{Message, Request};
use holdline::sip::Method;
use holdline_testkit::harness::*;

const AMOS: &str = "198.51.100.20:5070";
const TRUNK: &str = "203.0.113.9:5060";
/// Where the attacks try to send the call instead of the trunk.
const ELSEWHERE: &str = "198.51.100.66";

/// NANP rules for numbers written without `+` (011 international, 1 national).
const NANP: &str = "country_code = \"1\"\nnational_prefix = \"1\"\ninternational_prefix = \"011\"";

fn config(rules: &str) -> String {
    format!(
        r#"
[sip]
listen = ["udp:192.0.2.1:5060"]
[rtp]
ports = "20000-29999"
[[number]]
e164 = "+14255550100"
kind = "service-toll"
[[user]]
id = "amos"
contacts = ["sip:amos@{AMOS}"]
[[trunk]]
id = "carrier"
proxy = "sip:{TRUNK}"
allow = ["+1425*", "sip:partner.example.com"]
{rules}
[[queue]]
id = "sales"
numbers = ["+14255550100"]
agents = ["amos"]
"#
    )
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

/// amos REFERs the caller to `target` (a name-addr) with CSeq `cseq`.
fn refer(h: &mut Harness, invite: &Request, cseq: u32, target: &str) {
    let our_from = invite.headers.get(&HeaderName::From).unwrap();
    let call_id = invite.headers.get(&HeaderName::CallId).unwrap();
    let text = format!(
        "REFER sip:holdline@192.0.2.1:5060 SIP/2.0\n\
         Via: SIP/2.0/UDP {AMOS};branch=z9hG4bKrefer{cseq}\n\
         From: <sip:amos@{AMOS}>;tag=amos1\n\
         To: {our_from}\n\
         Call-ID: {call_id}\n\
         CSeq: {cseq} REFER\n\
         Max-Forwards: 70\n\
         Contact: <sip:amos@{AMOS}>\n\
         Refer-To: {target}\n\
         Content-Length: 0\n\n"
    );
    h.send_from(AMOS, &text);
}

/// The statuses of the responses sent to amos, and every request sent to anyone (removing
/// everything sent).
fn outcome(h: &mut Harness) -> (Vec<u16>, Vec<(String, Request)>) {
    let (mut statuses, mut requests) = (Vec::new(), Vec::new());
    for (peer, m) in h.sent.drain(..) {
        match m {
            Message::Response(r) if peer.addr.to_string() == AMOS => statuses.push(r.status),
            Message::Request(r) => requests.push((peer.addr.to_string(), r)),
            Message::Response(_) => {}
        }
    }
    (statuses, requests)
}

/// Each target is answered 403 and nothing is sent to anyone but that answer; the caller
/// stays with amos.
fn assert_all_refused(rules: &str, targets: &[&str]) {
    let mut h = Harness::with_config(&config(rules));
    let invite = bridged_to_amos(&mut h);
    for (i, target) in targets.iter().enumerate() {
        refer(&mut h, &invite, 2 + i as u32, target);
        let (statuses, requests) = outcome(&mut h);
        assert_eq!(statuses, vec![403], "{target}");
        assert!(
            requests.is_empty(),
            "{target}: nothing may be dialled, yet sent {:?}",
            requests
                .iter()
                .map(|(p, r)| format!("{} {} to {p}", r.method, r.uri))
                .collect::<Vec<_>>()
        );
    }
    assert!(
        !h.events.iter().any(|e| matches!(e, Event::Unbridge { .. })),
        "the caller stays with the agent"
    );
    assert_eq!(h.core.leg_count(), 1, "no leg towards the trunk");
}

#[test]
fn refer_to_dial_strings_at_an_allowed_host_is_refused_and_nothing_reaches_the_trunk() {
    assert_all_refused(
        NANP,
        &[
            // International prefixes: read as +44…, outside +1425*.
            "<sip:011441234567890@partner.example.com>",
            "<sip:00441234567890@partner.example.com>",
            // A local number in a context, premium rate.
            "<sip:19005551234;phone-context=+1@partner.example.com;user=phone>",
            // Feature codes, even in front of an allowed number.
            "<sip:*67+19005551234@partner.example.com>",
            "<sip:*67+14255550999@partner.example.com>",
            "<sip:%2331%2314255550999@partner.example.com>",
            // Visual separators hiding a premium-rate number.
            "<sip:1-(900)-555.1234@partner.example.com>",
            // maddr on a name, header injection on an allowed number.
            &format!("<sip:support@partner.example.com;maddr={ELSEWHERE}>"),
            &format!("<sip:+14255550999@partner.example.com?Route=%3Csip:{ELSEWHERE}%3E>"),
            // Pause letters in front of digits.
            "<sip:pw19005551234@partner.example.com>",
        ],
    );
}

#[test]
fn refer_to_a_national_number_without_trunk_rules_is_refused() {
    // In the allowed range once read as NANP, but the trunk was not told how to read it.
    assert_all_refused(
        "",
        &[
            "<sip:14255550999@partner.example.com>",
            "<sip:4255550999@partner.example.com;user=phone>",
            "<sip:011441234567890@partner.example.com>",
        ],
    );
}

/// amos transfers to `target`: the one request sent, to the trunk, after a 202.
fn transferred(rules: &str, target: &str) -> Request {
    let mut h = Harness::with_config(&config(rules));
    let invite = bridged_to_amos(&mut h);
    refer(&mut h, &invite, 2, target);
    let (statuses, requests) = outcome(&mut h);
    assert_eq!(statuses, vec![202], "{target}");
    let to_trunk: Vec<&Request> = requests
        .iter()
        .filter(|(p, _)| p == TRUNK)
        .map(|(_, r)| r)
        .collect();
    assert_eq!(
        to_trunk
            .iter()
            .map(|r| r.method.clone())
            .collect::<Vec<_>>(),
        vec![Method::Invite],
        "{target}"
    );
    assert!(
        requests.iter().all(|(p, _)| p == TRUNK || p == AMOS),
        "{target}: nothing goes elsewhere: {:?}",
        requests.iter().map(|(p, _)| p).collect::<Vec<_>>()
    );
    to_trunk[0].clone()
}

#[test]
fn refer_to_an_allowed_number_reaches_the_trunk_as_e164_without_maddr() {
    for (rules, target) in [
        (
            NANP,
            format!("<sip:1-425-555-0999@partner.example.com;maddr={ELSEWHERE};user=phone>"),
        ),
        (NANP, "<sip:4255550999@partner.example.com>".to_owned()),
        (NANP, "<sip:01114255550999@partner.example.com>".to_owned()),
        (
            "",
            format!("<sip:%2B1.425.555.0999@partner.example.com;maddr={ELSEWHERE}>"),
        ),
    ] {
        let invite = transferred(rules, &target);
        assert_eq!(
            invite.uri.to_string(),
            "sip:+14255550999@203.0.113.9;user=phone",
            "{target}"
        );
    }
}

#[test]
fn refer_to_a_name_at_the_allowed_host_reaches_the_trunk_without_routing_parameters() {
    let invite = transferred(
        "",
        "<sip:support@partner.example.com;transport=tcp;lr;ttl=5>",
    );
    assert_eq!(invite.uri.to_string(), "sip:support@partner.example.com");
    assert!(
        invite.headers.get(&HeaderName::Route).is_none(),
        "no route from the Refer-To"
    );
}
