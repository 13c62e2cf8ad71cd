//! The registrar on virtual time: digest authentication (both algorithms, stale nonces,
//! replayed counts), bindings (423, `*`, refresh, max_contacts, RFC 5626 instance ids, Path),
//! presence from registrations (expiry takes an agent offline), queue calls rung at the
//! REGISTER's source (and connection), the auth-failure ban, and answers that do not tell a
//! known user from an unknown one.
//!
//! Digest responses are computed here by hand from RFC 7616 §3.4.1, independently of the
//! server's code.

use std::net::SocketAddr;
use std::time::Duration;

use holdline::queue::types::AgentId;
use holdline::sip::digest::Challenge;
use holdline::sip::header::HeaderName;
use holdline::sip::message::{Message, Response};
use holdline::sip::parse::{parse_datagram, Limits};
use holdline::sip::transport::{ConnId, Peer, Transport};
use holdline::sip::Method;
use holdline::time::Time;
use holdline_testkit::harness::*;
use md5::{Digest as _, Md5};
use sha2::Sha256;

/// Amos's phone, behind NAT: its Contact says 10.0.0.5, its packets come from here.
const PHONE: &str = "203.0.113.9:40000";
const PHONE2: &str = "203.0.113.10:41000";
const SCANNER: &str = "203.0.113.66:5060";

fn config(extra: &str) -> String {
    format!(
        r#"
[sip]
listen = ["udp:192.0.2.1:5060", "tcp:192.0.2.1:5060"]
domains = ["example.com"]
[rtp]
ports = "20000-29999"
[[number]]
e164 = "+14255550100"
kind = "service-toll"
[[number]]
e164 = "+14255550123"
kind = "user"
[[user]]
id = "amos"
password = "s3cret"
numbers = ["+14255550123"]
[[user]]
id = "bea"
[[queue]]
id = "sales"
name = "UK Sales"
numbers = ["+14255550100"]
agents = ["amos", "bea"]
{extra}
"#
    )
}

fn harness(extra: &str) -> Harness {
    let mut h = Harness::with_config(&config(extra));
    h.core.set_registrar_secret(b"test secret");
    h
}

/// A REGISTER's parts that tests vary.
#[derive(Clone)]
struct Reg<'a> {
    user: &'a str,
    domain: &'a str,
    contact: String,
    expires: Option<&'a str>,
    call_id: &'a str,
    cseq: u32,
    extra: &'a str,
    auth: Option<String>,
}

impl<'a> Reg<'a> {
    fn new(cseq: u32) -> Reg<'a> {
        Reg {
            user: "amos",
            domain: "example.com",
            contact: "<sip:amos@10.0.0.5:5060>".into(),
            expires: None,
            call_id: "reg-1",
            cseq,
            extra: "",
            auth: None,
        }
    }

    fn text(&self, transport: &str) -> String {
        let expires = self
            .expires
            .map(|e| format!("Expires: {e}\n"))
            .unwrap_or_default();
        let auth = self
            .auth
            .as_ref()
            .map(|a| format!("Authorization: {a}\n"))
            .unwrap_or_default();
        format!(
            "REGISTER sip:{domain} SIP/2.0\n\
             Via: SIP/2.0/{transport} 10.0.0.5:5060;branch=z9hG4bKr{cseq}{call_id};rport\n\
             From: <sip:{user}@{domain}>;tag=ph{cseq}\n\
             To: <sip:{user}@{domain}>\n\
             Call-ID: {call_id}\n\
             CSeq: {cseq} REGISTER\n\
             Contact: {contact}\n\
             {expires}{auth}{extra}Max-Forwards: 70\n\
             User-Agent: TestPhone 1.0\n\
             Content-Length: 0\n\n",
            domain = self.domain,
            user = self.user,
            cseq = self.cseq,
            call_id = self.call_id,
            contact = self.contact,
            extra = self.extra,
        )
    }
}

fn hash(alg: &str, s: &str) -> String {
    let bytes: Vec<u8> = match alg {
        "SHA-256" => Sha256::digest(s.as_bytes()).to_vec(),
        _ => Md5::digest(s.as_bytes()).to_vec(),
    };
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The Authorization answering `ch` for `user`/`password`, by hand (RFC 7616 §3.4.1).
fn authorization(
    ch: &Challenge,
    alg: &str,
    user: &str,
    password: &str,
    uri: &str,
    nc: u32,
) -> String {
    let cnonce = "0a4f113b";
    let ha1 = hash(alg, &format!("{user}:{}:{password}", ch.realm));
    let ha2 = hash(alg, &format!("REGISTER:{uri}"));
    let response = hash(
        alg,
        &format!("{ha1}:{}:{nc:08x}:{cnonce}:auth:{ha2}", ch.nonce),
    );
    format!(
        "Digest username=\"{user}\", realm=\"{}\", nonce=\"{}\", uri=\"{uri}\", \
         response=\"{response}\", algorithm={alg}, qop=auth, nc={nc:08x}, cnonce=\"{cnonce}\"",
        ch.realm, ch.nonce
    )
}

/// The last response sent to `peer` (everything sent is removed).
fn response_to(h: &mut Harness, peer: &str) -> Response {
    let sent: Vec<_> = h.sent.drain(..).collect();
    sent.into_iter()
        .rev()
        .find_map(|(p, m)| match m {
            Message::Response(r) if p.addr.to_string() == peer => Some(r),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no response to {peer}"))
}

fn challenges(resp: &Response) -> Vec<Challenge> {
    resp.headers
        .get_all(&HeaderName::WwwAuthenticate)
        .map(|v| Challenge::parse(v).expect("a digest challenge"))
        .collect()
}

/// Sends `reg` from `from` over UDP; returns the answer.
fn send(h: &mut Harness, from: &str, reg: &Reg) -> Response {
    h.send_from(from, &reg.text("UDP"));
    response_to(h, from)
}

/// Registers `reg` with the right password (challenge, then answer with `alg`).
fn register(h: &mut Harness, from: &str, reg: &Reg, alg: &str) -> Response {
    let first = send(h, from, reg);
    assert_eq!(first.status, 401);
    let ch = pick(&first, alg);
    let mut answer = reg.clone();
    answer.cseq += 1;
    answer.auth = Some(authorization(
        &ch,
        alg,
        reg.user,
        "s3cret",
        &format!("sip:{}", reg.domain),
        1,
    ));
    send(h, from, &answer)
}

fn pick(resp: &Response, alg: &str) -> Challenge {
    let want = if alg == "SHA-256" {
        holdline::sip::digest::Algorithm::Sha256
    } else {
        holdline::sip::digest::Algorithm::Md5
    };
    challenges(resp)
        .into_iter()
        .find(|c| c.algorithm == want)
        .expect("challenge for the algorithm")
}

fn contacts(resp: &Response) -> Vec<String> {
    resp.headers
        .list(&HeaderName::Contact)
        .map(str::to_owned)
        .collect()
}

fn online(h: &Harness, agent: &str) -> bool {
    h.core
        .engine()
        .agent_status(&AgentId::from(agent))
        .expect("agent known")
        .online
}

#[test]
fn challenge_offers_sha256_then_md5_and_both_register() {
    let mut h = harness("");
    let first = send(&mut h, PHONE, &Reg::new(1));
    assert_eq!(first.status, 401);
    let ch = challenges(&first);
    assert_eq!(ch.len(), 2);
    assert_eq!(ch[0].algorithm, holdline::sip::digest::Algorithm::Sha256);
    assert_eq!(ch[1].algorithm, holdline::sip::digest::Algorithm::Md5);
    for c in &ch {
        assert_eq!(c.realm, "example.com");
        assert_eq!(c.qop, ["auth"]);
        assert!(!c.stale);
    }
    assert!(!online(&h, "amos"));

    let ok = register(&mut h, PHONE, &Reg::new(1), "SHA-256");
    assert_eq!(ok.status, 200);
    assert_eq!(contacts(&ok), ["<sip:amos@10.0.0.5:5060>;expires=3600"]);
    assert!(online(&h, "amos"));

    // MD5, a minute later (a fresh nonce), from the same Call-ID with higher CSeqs.
    h.advance(Duration::from_secs(60));
    let ok = register(&mut h, PHONE, &Reg::new(3), "MD5");
    assert_eq!(ok.status, 200);
    assert_eq!(contacts(&ok), ["<sip:amos@10.0.0.5:5060>;expires=3600"]);
    // By one of the user's numbers as the address of record too.
    h.advance(Duration::from_secs(1));
    let mut by_number = Reg::new(5);
    by_number.user = "amos";
    let first = send(&mut h, PHONE, &by_number);
    let ch = pick(&first, "SHA-256");
    let mut answer = by_number.clone();
    answer.cseq = 6;
    answer.auth = Some(authorization(
        &ch,
        "SHA-256",
        "amos",
        "s3cret",
        "sip:example.com",
        1,
    ));
    let text = answer
        .text("UDP")
        .replace("To: <sip:amos@", "To: <sip:+14255550123@");
    h.send_from(PHONE, &text);
    assert_eq!(response_to(&mut h, PHONE).status, 200);
}

#[test]
fn stale_nonce_gets_stale_true_then_succeeds() {
    let mut h = harness("");
    let first = send(&mut h, PHONE, &Reg::new(1));
    let ch = pick(&first, "SHA-256");
    h.advance(Duration::from_secs(301));
    let mut late = Reg::new(2);
    late.auth = Some(authorization(
        &ch,
        "SHA-256",
        "amos",
        "s3cret",
        "sip:example.com",
        1,
    ));
    let resp = send(&mut h, PHONE, &late);
    assert_eq!(resp.status, 401);
    let fresh = challenges(&resp);
    assert!(fresh.iter().all(|c| c.stale), "stale=true on both");
    assert_ne!(fresh[0].nonce, ch.nonce);
    let mut retry = Reg::new(3);
    retry.auth = Some(authorization(
        &fresh[0],
        "SHA-256",
        "amos",
        "s3cret",
        "sip:example.com",
        1,
    ));
    assert_eq!(send(&mut h, PHONE, &retry).status, 200);
    // A stale nonce is not a failed authentication.
    assert_eq!(h.core.registrar_stats().2.auth_failures_total, 0);
}

#[test]
fn replayed_or_lower_nonce_count_is_refused_a_higher_one_accepted() {
    let mut h = harness("");
    let ch = pick(&send(&mut h, PHONE, &Reg::new(1)), "SHA-256");
    let with_nc = |cseq: u32, nc: u32| {
        let mut r = Reg::new(cseq);
        r.auth = Some(authorization(
            &ch,
            "SHA-256",
            "amos",
            "s3cret",
            "sip:example.com",
            nc,
        ));
        r
    };
    assert_eq!(send(&mut h, PHONE, &with_nc(2, 1)).status, 200);
    // The same Authorization again (a captured REGISTER replayed): refused.
    let replay = send(&mut h, PHONE, &with_nc(3, 1));
    assert_eq!(replay.status, 401);
    assert!(challenges(&replay).iter().all(|c| !c.stale));
    assert_eq!(send(&mut h, PHONE, &with_nc(4, 3)).status, 200);
    assert_eq!(send(&mut h, PHONE, &with_nc(5, 2)).status, 401, "lower nc");
    assert_eq!(h.core.registrar_stats().2.auth_failures_total, 2);
}

#[test]
fn too_short_gets_423_with_min_expires_and_zero_removes() {
    let mut h =
        harness("[registrar]\nmin_expires = 120\nmax_expires = 1800\ndefault_expires = 600\n");
    let mut short = Reg::new(1);
    short.expires = Some("30");
    let resp = register(&mut h, PHONE, &short, "SHA-256");
    assert_eq!(resp.status, 423);
    assert_eq!(resp.headers.get(&HeaderName::MinExpires), Some("120"));
    assert!(!online(&h, "amos"));
    // No Expires: the default; a long one is clamped to max_expires.
    assert_eq!(
        contacts(&register(&mut h, PHONE, &Reg::new(3), "SHA-256")),
        ["<sip:amos@10.0.0.5:5060>;expires=600"]
    );
    let mut long = Reg::new(5);
    long.contact = "<sip:amos@10.0.0.5:5060>;expires=999999".into();
    assert_eq!(
        contacts(&register(&mut h, PHONE, &long, "SHA-256")),
        ["<sip:amos@10.0.0.5:5060>;expires=1800"]
    );
    assert!(online(&h, "amos"));
    // Expires 0 removes (it is not "too short").
    let mut gone = Reg::new(7);
    gone.expires = Some("0");
    let resp = register(&mut h, PHONE, &gone, "SHA-256");
    assert_eq!(resp.status, 200);
    assert!(contacts(&resp).is_empty());
    assert!(!online(&h, "amos"));
}

#[test]
fn wildcard_removes_all_only_with_expires_zero() {
    let mut h = harness("");
    let mut a = Reg::new(1);
    a.contact = "<sip:amos@10.0.0.5:5060>, <sip:amos@10.0.0.6:5060>".into();
    assert_eq!(contacts(&register(&mut h, PHONE, &a, "SHA-256")).len(), 2);
    let mut star = Reg::new(3);
    star.call_id = "other";
    star.contact = "*".into();
    assert_eq!(
        register(&mut h, PHONE, &star, "SHA-256").status,
        400,
        "* without Expires: 0"
    );
    star.expires = Some("0");
    star.cseq = 5;
    let resp = register(&mut h, PHONE, &star, "SHA-256");
    assert_eq!(resp.status, 200);
    assert!(contacts(&resp).is_empty());
    assert!(!online(&h, "amos"));
    assert_eq!(h.core.registrar_stats().0, 0);
}

#[test]
fn refresh_keeps_one_binding_and_an_out_of_order_cseq_is_ignored() {
    let mut h = harness("");
    let mut r = Reg::new(10);
    r.expires = Some("600");
    register(&mut h, PHONE, &r, "SHA-256");
    h.advance(Duration::from_secs(300));
    let mut refresh = Reg::new(20);
    refresh.expires = Some("600");
    let resp = register(&mut h, PHONE, &refresh, "SHA-256");
    assert_eq!(contacts(&resp), ["<sip:amos@10.0.0.5:5060>;expires=600"]);
    // §10.3 step 7: the same Call-ID with a lower CSeq does not touch the binding.
    let mut old = Reg::new(12);
    old.expires = Some("0");
    let resp = register(&mut h, PHONE, &old, "SHA-256");
    assert_eq!(resp.status, 200);
    assert_eq!(contacts(&resp), ["<sip:amos@10.0.0.5:5060>;expires=600"]);
    // Refreshed: still online 500 s after the first registration ended.
    h.advance(Duration::from_secs(500));
    assert!(online(&h, "amos"));
    assert_eq!(
        h.core
            .registrations(h.now, &holdline::config::UserId("amos".into()))
            .len(),
        1
    );
}

#[test]
fn max_contacts_drops_the_oldest() {
    let mut h = harness("[registrar]\nmax_contacts = 2\n");
    for (i, host) in ["10.0.0.1", "10.0.0.2", "10.0.0.3"].iter().enumerate() {
        let mut r = Reg::new(1 + 2 * i as u32);
        r.contact = format!("<sip:amos@{host}:5060>");
        register(&mut h, PHONE, &r, "SHA-256");
        h.advance(Duration::from_secs(1));
    }
    let list: Vec<String> = h
        .core
        .registrations(h.now, &holdline::config::UserId("amos".into()))
        .iter()
        .map(|b| b.contact.uri.to_string())
        .collect();
    assert_eq!(list, ["sip:amos@10.0.0.2:5060", "sip:amos@10.0.0.3:5060"]);
}

#[test]
fn same_instance_from_a_new_address_replaces_its_binding() {
    let mut h = harness("");
    let inst = "+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\";reg-id=1";
    let mut first = Reg::new(1);
    first.contact = format!("<sip:amos@10.0.0.5:5060;ob>;{inst}");
    first.extra = "Supported: path, outbound\n";
    let resp = register(&mut h, PHONE, &first, "SHA-256");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.headers.get(&HeaderName::Require), Some("outbound"));
    // The phone moved (another network, another Call-ID): one binding, at the new place.
    let mut moved = Reg::new(1);
    moved.call_id = "reg-2";
    moved.contact = format!("<sip:amos@192.168.1.7:5060;ob>;{inst}");
    let resp = register(&mut h, PHONE2, &moved, "SHA-256");
    assert_eq!(contacts(&resp).len(), 1, "{:?}", contacts(&resp));
    let list = h
        .core
        .registrations(h.now, &holdline::config::UserId("amos".into()));
    assert_eq!(list.len(), 1);
    assert_eq!(
        list[0].contact.uri.to_string(),
        "sip:amos@192.168.1.7:5060;ob"
    );
    assert_eq!(list[0].source.addr.to_string(), PHONE2);
    // Another reg-id of the same instance is another flow: a second binding.
    let mut second_flow = Reg::new(3);
    second_flow.call_id = "reg-2";
    second_flow.contact = inst.replace("reg-id=1", "reg-id=2");
    second_flow.contact = format!("<sip:amos@192.168.1.7:5060;ob>;{}", second_flow.contact);
    register(&mut h, PHONE2, &second_flow, "SHA-256");
    assert_eq!(h.core.registrar_stats().1, 2);
}

/// A caller arrives at the queue; returns the INVITEs sent and where they went.
fn ring(h: &mut Harness, call_id: &str) -> Vec<(Peer, holdline::sip::message::Request)> {
    h.sent.clear();
    let text = invite(
        "+14255550100",
        call_id,
        &format!("z9hG4bK{call_id}"),
        Some(SDP_PCMU),
    );
    h.send(&text);
    h.sent
        .drain(..)
        .filter_map(|(p, m)| match m {
            Message::Request(r) if r.method == Method::Invite => Some((p, r)),
            _ => None,
        })
        .collect()
}

#[test]
fn registered_agent_is_rung_at_the_register_source_with_path_as_route() {
    let mut h = harness("");
    let mut r = Reg::new(1);
    r.extra = "Path: <sip:edge.example.net;lr>\nSupported: path\n";
    let resp = register(&mut h, PHONE, &r, "SHA-256");
    assert_eq!(
        resp.headers.get(&HeaderName::Path),
        Some("<sip:edge.example.net;lr>")
    );
    let invites = ring(&mut h, "q1");
    assert_eq!(
        invites.len(),
        1,
        "one INVITE, to amos (bea has nowhere to ring)"
    );
    let (to, inv) = &invites[0];
    // NAT: the Contact names 10.0.0.5; the INVITE goes where the REGISTER came from.
    assert_eq!(to.addr.to_string(), PHONE);
    assert_eq!(to.transport, Transport::Udp);
    assert_eq!(inv.uri.to_string(), "sip:amos@10.0.0.5:5060");
    assert_eq!(
        inv.headers.get(&HeaderName::Route),
        Some("<sip:edge.example.net;lr>")
    );
    // The phone answers: the call is bridged to it.
    h.send_from(PHONE, &reply(inv, 200, "amos1"));
    assert!(h
        .events
        .iter()
        .any(|e| matches!(e, holdline::b2bua::Event::Bridge { .. })));
}

#[test]
fn over_tcp_the_invite_goes_on_the_register_connection_and_a_closed_one_drops_the_binding() {
    let mut h = harness("");
    let conn = ConnId(42);
    let peer = Peer {
        transport: Transport::Tcp,
        addr: PHONE.parse().unwrap(),
        conn: Some(conn),
    };
    let local: SocketAddr = SERVER.parse().unwrap();
    let send_tcp = |h: &mut Harness, reg: &Reg| {
        let bytes = crlf(&reg.text("TCP"));
        let parsed = parse_datagram(&bytes, &Limits::default());
        h.core.handle_parsed(h.now, peer, local, parsed);
        h.collect();
        response_to(h, PHONE)
    };
    let mut r = Reg::new(1);
    r.contact = "<sip:amos@10.0.0.5:5060;transport=tcp>".into();
    let ch = pick(&send_tcp(&mut h, &r), "SHA-256");
    r.cseq = 2;
    r.auth = Some(authorization(
        &ch,
        "SHA-256",
        "amos",
        "s3cret",
        "sip:example.com",
        1,
    ));
    assert_eq!(send_tcp(&mut h, &r).status, 200);
    let invites = ring(&mut h, "q1");
    assert_eq!(invites.len(), 1);
    assert_eq!(invites[0].0, peer, "on the REGISTER's connection");
    // Hang the caller up, then the connection closes: amos is offline, not rung again.
    h.core.connection_closed(h.now, conn);
    h.collect();
    assert!(!online(&h, "amos"));
    assert_eq!(h.core.registrar_stats().1, 0);
}

#[test]
fn expiry_takes_the_agent_offline_and_it_is_not_rung() {
    let mut h = harness("");
    let mut r = Reg::new(1);
    r.expires = Some("120");
    register(&mut h, PHONE, &r, "SHA-256");
    assert!(online(&h, "amos"));
    h.advance(Duration::from_secs(119));
    assert!(online(&h, "amos"));
    h.advance(Duration::from_secs(2));
    assert!(!online(&h, "amos"), "offline when the binding expired");
    let invites = ring(&mut h, "q2");
    assert!(
        invites.is_empty(),
        "no INVITE to an expired binding: {invites:?}"
    );
}

#[test]
fn failed_authentications_ban_the_source_until_the_ban_ends() {
    let mut h =
        harness("[registrar]\nauth_failures = 3\nauth_failure_window = 60\nauth_ban = 600\n");
    let ch = pick(&send(&mut h, SCANNER, &Reg::new(1)), "SHA-256");
    for i in 0..3 {
        let mut bad = Reg::new(2 + i);
        bad.auth = Some(authorization(
            &ch,
            "SHA-256",
            "amos",
            &format!("guess{i}"),
            "sip:example.com",
            1 + i,
        ));
        assert_eq!(send(&mut h, SCANNER, &bad).status, 401);
    }
    let bans = h.core.bans(h.now);
    assert_eq!(bans.len(), 1);
    assert_eq!(bans[0].addr.to_string(), "203.0.113.66");
    assert_eq!(bans[0].reason.as_str(), "auth-failures");
    assert_eq!(bans[0].until, h.now + Duration::from_secs(600));
    let (_, _, stats) = h.core.registrar_stats();
    assert_eq!((stats.auth_failures_total, stats.auth_bans_total), (3, 1));
    // Banned: the right password from there gets nothing at all; another source registers.
    h.send_from(SCANNER, &Reg::new(10).text("UDP"));
    assert!(h.sent.is_empty());
    assert_eq!(register(&mut h, PHONE, &Reg::new(1), "SHA-256").status, 200);
    // After the ban, the source is answered again.
    h.advance(Duration::from_secs(601));
    assert!(h.core.bans(h.now).is_empty());
    let mut again = Reg::new(20);
    again.call_id = "reg-9";
    assert_eq!(register(&mut h, SCANNER, &again, "SHA-256").status, 200);
}

/// A response with the parts that must differ (tags, nonces) and the request's own
/// (address of record, Call-ID) blanked.
fn normalized(resp: &Response, aor: &str, call_id: &str) -> String {
    let mut r = resp.clone();
    if let Some(to) = r.headers.get(&HeaderName::To) {
        let to = to.split(";tag=").next().unwrap_or_default().to_owned();
        r.headers.set(HeaderName::To, to);
    }
    let mut out = String::from_utf8(r.to_bytes()).unwrap();
    for c in challenges(resp) {
        out = out.replace(&c.nonce, "NONCE");
    }
    out.replace(aor, "AOR").replace(call_id, "CALLID")
}

#[test]
fn unknown_users_wrong_domains_and_wrong_passwords_get_the_same_401() {
    let mut h = harness("");
    let mut bare = Vec::new();
    let mut wrong = Vec::new();
    let cases = [
        ("amos", "example.com"),
        ("nobody", "example.com"),
        ("bea", "example.com"),
        ("amos", "elsewhere.test"),
    ];
    for (i, (user, domain)) in cases.into_iter().enumerate() {
        let call_id = format!("scan-{i}");
        let mut r = Reg::new(1);
        r.user = user;
        r.domain = domain;
        r.call_id = &call_id;
        let aor = format!("{user}@{domain}");
        let first = send(&mut h, PHONE, &r);
        bare.push(normalized(&first, &aor, &call_id));
        // With credentials: a wrong password for amos, any password for the others, and
        // amos's right password for a domain that is not ours.
        let password = if domain == "example.com" {
            "wrong"
        } else {
            "s3cret"
        };
        let ch = pick(&first, "SHA-256");
        r.cseq = 2;
        r.auth = Some(authorization(
            &ch,
            "SHA-256",
            user,
            password,
            &format!("sip:{domain}"),
            1,
        ));
        wrong.push(normalized(&send(&mut h, PHONE, &r), &aor, &call_id));
    }
    assert!(bare[0].starts_with("SIP/2.0 401"), "{}", bare[0]);
    for answers in [&bare, &wrong] {
        for other in answers.iter() {
            assert_eq!(&answers[0], other);
        }
    }
    // Nothing registered, and every try with credentials counted as a failure.
    assert_eq!(h.core.registrar_stats().2.auth_failures_total, 4);
}

#[test]
fn invite_and_options_to_a_user_do_not_tell_known_from_unknown() {
    let mut h = harness("");
    let mut answers = Vec::new();
    for user in ["amos", "nobody"] {
        for method in ["INVITE", "OPTIONS"] {
            let text = format!(
                "{method} sip:{user}@example.com SIP/2.0\n\
                 Via: SIP/2.0/UDP 198.51.100.7:5062;branch=z9hG4bKprobe{method};rport\n\
                 From: <sip:scan@198.51.100.7>;tag=s1\n\
                 To: <sip:{user}@example.com>\n\
                 Call-ID: probe-{method}\n\
                 CSeq: 1 {method}\n\
                 Contact: <sip:scan@198.51.100.7:5062>\n\
                 Max-Forwards: 70\n\
                 Content-Length: 0\n\n"
            );
            h.send(&text);
            h.advance(Duration::from_secs(40));
            let resp = h
                .take()
                .into_iter()
                .find_map(|m| match m {
                    Message::Response(r) if r.status >= 200 => Some(r),
                    _ => None,
                })
                .expect("a final answer");
            let mut r = resp.clone();
            let to = r.headers.get(&HeaderName::To).unwrap().replace(user, "U");
            let to = to.split(";tag=").next().unwrap().to_owned();
            r.headers.set(HeaderName::To, to);
            // The INVITE's 407 challenge: nonces differ with the time, nothing else may.
            let mut text = String::from_utf8(r.to_bytes()).unwrap();
            for c in resp.headers.get_all(&HeaderName::ProxyAuthenticate) {
                let nonce = Challenge::parse(c).expect("a digest challenge").nonce;
                text = text.replace(&nonce, "NONCE");
            }
            answers.push((method, text));
        }
    }
    assert!(answers[0].1.starts_with("SIP/2.0 407"), "{}", answers[0].1);
    assert_eq!(answers[0], answers[2], "INVITE");
    assert_eq!(answers[1], answers[3], "OPTIONS");
}

#[test]
fn time_is_virtual_and_the_nonce_secret_is_injected() {
    // Two cores with the same secret issue the same challenge at the same time: the nonce
    // depends on the time and the secret only, never on who asks.
    let mut a = harness("");
    let mut b = harness("");
    let ra = send(&mut a, PHONE, &Reg::new(1));
    let rb = send(&mut b, SCANNER, &Reg::new(1));
    assert_eq!(pick(&ra, "SHA-256").nonce, pick(&rb, "SHA-256").nonce);
    assert_eq!(a.now, Time::ZERO);
}

#[test]
fn hostile_registers_get_an_answer_and_never_panic() {
    let mut h = harness("");
    let ch = pick(&send(&mut h, PHONE, &Reg::new(1)), "SHA-256");
    let good = authorization(&ch, "SHA-256", "amos", "s3cret", "sip:example.com", 1);
    let hostile: Vec<(String, &str)> = vec![
        ("Digest".into(), "<sip:amos@10.0.0.5>"),
        (
            "Digest username=\"amos\", nc=zzzzzzzz".into(),
            "<sip:amos@10.0.0.5>",
        ),
        ("Basic YW1vczpzM2NyZXQ=".into(), "<sip:amos@10.0.0.5>"),
        (
            good.replace("algorithm=SHA-256", "algorithm=SHA-512-256-sess"),
            "<sip:amos@10.0.0.5>",
        ),
        (good.replace(&ch.nonce, "00"), "<sip:amos@10.0.0.5>"),
        (
            good.replace(&ch.nonce, &"f".repeat(56)),
            "<sip:amos@10.0.0.5>",
        ),
        (
            good.replace("nc=00000001", "nc=ffffffff"),
            "<sip:amos@10.0.0.5>",
        ),
        (
            good.clone(),
            "<sip:amos@10.0.0.5>;expires=18446744073709551616",
        ),
        (good.clone(), "<sip:amos@10.0.0.5>;reg-id=-1;+sip.instance"),
        (good.clone(), "*, <sip:amos@10.0.0.5>"),
    ];
    for (i, (auth, contact)) in hostile.into_iter().enumerate() {
        let mut r = Reg::new(10 + i as u32);
        r.auth = Some(auth);
        r.contact = contact.to_owned();
        r.expires = Some("not a number");
        h.send_from(PHONE, &r.text("UDP"));
        let status = h.statuses().last().copied();
        assert!(status.is_some_and(|s| s >= 200), "case {i}: {status:?}");
    }
    // The server still registers a phone that behaves.
    let mut ok = Reg::new(100);
    ok.call_id = "fresh";
    assert_eq!(register(&mut h, PHONE2, &ok, "MD5").status, 200);
}

#[test]
fn bindings_restored_into_a_new_core_are_rung_and_expired_ones_are_not() {
    let mut before = harness("");
    let mut long = Reg::new(1);
    long.expires = Some("3600");
    register(&mut before, PHONE, &long, "SHA-256");
    let mut short = Reg::new(1);
    short.user = "amos";
    short.call_id = "reg-short";
    short.contact = "<sip:amos@10.0.0.9:5060>".into();
    short.expires = Some("60");
    register(&mut before, PHONE2, &short, "SHA-256");
    let amos = holdline::config::UserId("amos".into());
    let kept = before.core.registrations(before.now, &amos);
    assert_eq!(kept.len(), 2);

    // A new core (a restart), 10 minutes later on the same time line: the 60 s binding has
    // expired, the other is restored and rung at its REGISTER's source.
    let mut after = harness("");
    after.advance(Duration::from_secs(600));
    assert!(!online(&after, "amos"));
    after.core.restore_registrations(after.now, &amos, kept);
    assert!(online(&after, "amos"));
    let list = after.core.registrations(after.now, &amos);
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].contact.uri.to_string(), "sip:amos@10.0.0.5:5060");
    let invites = ring(&mut after, "q3");
    assert_eq!(invites.len(), 1, "{invites:?}");
    assert_eq!(invites[0].0.addr.to_string(), PHONE);
    // Restored bindings are not written back as changes; a user who cannot register is.
    assert_eq!(after.core.poll_registration_change(), None);
    after.core.restore_registrations(
        after.now,
        &holdline::config::UserId("bea".into()),
        Vec::new(),
    );
    assert_eq!(
        after.core.poll_registration_change(),
        Some(holdline::config::UserId("bea".into()))
    );
}

#[test]
fn a_user_cannot_register_someone_elses_address_of_record() {
    let mut h = harness("");
    let ch = pick(&send(&mut h, PHONE, &Reg::new(1)), "SHA-256");
    // amos's valid credentials, bea's address of record in To.
    let mut r = Reg::new(2);
    r.auth = Some(authorization(
        &ch,
        "SHA-256",
        "amos",
        "s3cret",
        "sip:example.com",
        1,
    ));
    let text = r
        .text("UDP")
        .replace("To: <sip:amos@example.com>", "To: <sip:bea@example.com>");
    h.send_from(PHONE, &text);
    assert_eq!(response_to(&mut h, PHONE).status, 403);
    assert!(!online(&h, "bea"));
    assert!(!online(&h, "amos"));
}

/// The registrar's timeout is a lower bound kept without scanning the bindings (a refresh
/// moves an expiry later without one): a refreshed binding must still live to its new end,
/// and the others must still end on time.
#[test]
fn a_refresh_moves_expiry_later_and_other_bindings_still_expire_on_time() {
    let mut h = harness("[[user]]\nid = \"cy\"\npassword = \"s3cret\"\n");
    let reg = |user: &'static str, cseq: u32| {
        let mut r = Reg::new(cseq);
        r.user = user;
        r.call_id = if user == "amos" { "reg-a" } else { "reg-c" };
        r.contact = format!("<sip:{user}@10.0.0.5:5060>");
        r.expires = Some("120");
        r
    };
    assert_eq!(
        register(&mut h, PHONE, &reg("amos", 1), "SHA-256").status,
        200
    );
    h.advance(Duration::from_secs(10));
    assert_eq!(
        register(&mut h, PHONE2, &reg("cy", 1), "SHA-256").status,
        200
    );
    h.advance(Duration::from_secs(50));
    // amos refreshes at 60 s: his binding now ends at 180 s, cy's still at 130 s.
    assert_eq!(
        register(&mut h, PHONE, &reg("amos", 3), "SHA-256").status,
        200
    );
    // The old end of amos's binding (120 s) passes: nothing expires.
    h.advance(Duration::from_secs(65));
    assert!(online(&h, "amos"));
    assert_eq!(h.core.registrar_stats().1, 2);
    // cy's ends at 130 s.
    h.advance(Duration::from_secs(6));
    assert_eq!(
        h.core.registrar_stats().1,
        1,
        "cy's binding expired at 130 s"
    );
    assert!(online(&h, "amos"));
    assert_eq!(
        h.core.poll_timeout(),
        Some(Time::ZERO + Duration::from_secs(180))
    );
    h.advance(Duration::from_secs(50));
    assert!(
        !online(&h, "amos"),
        "amos's refreshed binding ended at 180 s"
    );
    assert_eq!(h.core.registrar_stats().1, 0);
    assert_eq!(h.core.poll_timeout().filter(|t| *t <= h.now), None);
}

/// `digest_algorithms = ["MD5"]`, for phones whose SIP stack gives up on a SHA-256 challenge
/// (baresip 1.0): the 401 and the stale 401 offer MD5 alone, an MD5 answer registers, and a
/// SHA-256 answer to that nonce is refused as a failed authentication (not offered).
#[test]
fn md5_only_offers_one_challenge_and_refuses_a_sha256_answer() {
    let mut h = harness("[registrar]\ndigest_algorithms = [\"MD5\"]\nnonce_lifetime = 60\n");
    let first = send(&mut h, PHONE, &Reg::new(1));
    assert_eq!(first.status, 401);
    let ch = challenges(&first);
    assert_eq!(ch.len(), 1, "one challenge");
    assert_eq!(ch[0].algorithm, holdline::sip::digest::Algorithm::Md5);

    // SHA-256 computed over the MD5 challenge's own nonce: right password, wrong algorithm.
    let mut sha = Reg::new(2);
    sha.auth = Some(authorization(
        &ch[0],
        "SHA-256",
        "amos",
        "s3cret",
        "sip:example.com",
        1,
    ));
    let refused = send(&mut h, PHONE, &sha);
    assert_eq!(refused.status, 401);
    assert_eq!(challenges(&refused).len(), 1);
    assert_eq!(h.core.registrar_stats().2.auth_failures_total, 1);
    assert!(!online(&h, "amos"));

    let ok = register(&mut h, PHONE, &Reg::new(3), "MD5");
    assert_eq!(ok.status, 200);
    assert!(online(&h, "amos"));

    // A nonce past its lifetime: the stale 401 offers MD5 alone too.
    let old = ch[0].clone();
    h.advance(Duration::from_secs(120));
    let mut late = Reg::new(5);
    late.auth = Some(authorization(
        &old,
        "MD5",
        "amos",
        "s3cret",
        "sip:example.com",
        2,
    ));
    let stale = send(&mut h, PHONE, &late);
    assert_eq!(stale.status, 401);
    let ch = challenges(&stale);
    assert_eq!(ch.len(), 1);
    assert!(ch[0].stale);
    assert_eq!(ch[0].algorithm, holdline::sip::digest::Algorithm::Md5);
    assert_eq!(h.core.registrar_stats().2.auth_failures_total, 1);
}

#[test]
fn digest_algorithms_md5_first_puts_its_challenge_first() {
    let mut h = harness("[registrar]\ndigest_algorithms = [\"MD5\", \"SHA-256\"]\n");
    let first = send(&mut h, PHONE, &Reg::new(1));
    let algs: Vec<_> = challenges(&first).iter().map(|c| c.algorithm).collect();
    assert_eq!(
        algs,
        [
            holdline::sip::digest::Algorithm::Md5,
            holdline::sip::digest::Algorithm::Sha256
        ]
    );
    // Both still register.
    assert_eq!(register(&mut h, PHONE, &Reg::new(1), "SHA-256").status, 200);
}

#[test]
fn a_registered_agent_whose_static_contact_is_silent_stays_online_and_rings_at_the_binding() {
    const DESK: &str = "198.51.100.40:5070";
    let text = config("[probe]\ninterval = 9\ntimeout = 2").replace(
        "password = \"s3cret\"\n",
        &format!("password = \"s3cret\"\ncontacts = [\"sip:amos@{DESK}\"]\n"),
    );
    let mut h = Harness::with_config(&text);
    h.core.set_registrar_secret(b"test secret");
    register(&mut h, PHONE, &Reg::new(1), "SHA-256");
    // The desk phone's probe at 9 s goes unanswered: it is unreachable from 11 s.
    h.advance(Duration::from_secs(12));
    let probed = h.sent.iter().any(|(p, m)| {
        p.addr.to_string() == DESK
            && matches!(m, Message::Request(r) if r.method == Method::Options)
    });
    assert!(probed, "the static contact is probed");
    assert!(
        online(&h, "amos"),
        "the registered softphone keeps amos online"
    );
    let invites = ring(&mut h, "q1");
    let to: Vec<String> = invites.iter().map(|(p, _)| p.addr.to_string()).collect();
    assert_eq!(
        to,
        [PHONE.to_string()],
        "rung at the binding, not the silent desk phone"
    );
}

/// The registration and ban events the core reports for the event log, as (kind, user, reason).
fn access_events(h: &mut Harness) -> Vec<(String, Option<String>, String)> {
    std::iter::from_fn(|| h.core.poll_access_event())
        .map(|e| {
            (
                e.kind.to_owned(),
                e.user.map(|u| u.as_str().to_owned()),
                e.reason,
            )
        })
        .collect()
}

#[test]
fn registrations_and_bans_are_logged_but_plain_refreshes_are_not() {
    let mut h =
        harness("[registrar]\nauth_failures = 2\nauth_failure_window = 60\nauth_ban = 600\n");
    let mut r = Reg::new(10);
    r.expires = Some("600");
    register(&mut h, PHONE, &r, "SHA-256");
    let logged: Vec<_> = std::iter::from_fn(|| h.core.poll_access_event()).collect();
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert_eq!(logged[0].kind, "registered");
    assert_eq!(
        logged[0].detail(),
        "contact=sip:amos@10.0.0.5:5060 source=udp:203.0.113.9:40000 reason=new"
    );
    assert_eq!(logged[0].call_id.as_deref(), Some("reg-1"));

    // A refresh from the same place: nothing (10,000 agents refreshing would flood the log).
    h.advance(Duration::from_secs(300));
    let mut refresh = Reg::new(20);
    refresh.expires = Some("600");
    assert_eq!(register(&mut h, PHONE, &refresh, "SHA-256").status, 200);
    assert_eq!(access_events(&mut h), []);
    // The same binding refreshed from another address (NAT rebinding): logged as moved.
    let mut moved = Reg::new(30);
    moved.expires = Some("600");
    assert_eq!(register(&mut h, PHONE2, &moved, "SHA-256").status, 200);
    assert_eq!(
        access_events(&mut h),
        [("registered".into(), Some("amos".into()), "moved".into())]
    );
    // Removed by the phone, then a new one that expires.
    let mut gone = Reg::new(40);
    gone.expires = Some("0");
    register(&mut h, PHONE2, &gone, "SHA-256");
    assert_eq!(
        access_events(&mut h),
        [("unregistered".into(), Some("amos".into()), "phone".into())]
    );
    let mut short = Reg::new(50);
    short.expires = Some("120");
    register(&mut h, PHONE, &short, "SHA-256");
    h.advance(Duration::from_secs(121));
    assert_eq!(
        access_events(&mut h),
        [
            ("registered".into(), Some("amos".into()), "new".into()),
            (
                "registration-expired".into(),
                Some("amos".into()),
                "expired".into()
            )
        ]
    );

    // Two wrong passwords: the source is banned (logged once), and the ban's end is logged.
    let ch = pick(&send(&mut h, SCANNER, &Reg::new(1)), "SHA-256");
    for i in 0..2 {
        let mut bad = Reg::new(2 + i);
        bad.auth = Some(authorization(
            &ch,
            "SHA-256",
            "amos",
            "guess",
            "sip:example.com",
            1 + i,
        ));
        send(&mut h, SCANNER, &bad);
    }
    let banned: Vec<_> = std::iter::from_fn(|| h.core.poll_access_event()).collect();
    assert_eq!(banned.len(), 1, "{banned:?}");
    assert_eq!(banned[0].kind, "banned");
    assert_eq!(
        banned[0].detail(),
        "source=203.0.113.66 reason=auth-failures until=+600s"
    );
    h.advance(Duration::from_secs(599));
    assert_eq!(access_events(&mut h), []);
    h.advance(Duration::from_secs(2));
    assert_eq!(
        access_events(&mut h),
        [("ban-lifted".into(), None, "expired".into())]
    );
    // An admin's ban and lift.
    let addr: std::net::IpAddr = "198.51.100.77".parse().unwrap();
    h.core.ban(
        h.now,
        addr,
        holdline::b2bua::admission::BanReason::RequestRate,
    );
    assert!(h.core.lift_ban(h.now, addr));
    let kinds: Vec<_> = access_events(&mut h)
        .into_iter()
        .map(|(k, _, r)| format!("{k} {r}"))
        .collect();
    assert_eq!(
        kinds,
        ["banned request-rate until=+60s", "ban-lifted admin"]
    );
}
