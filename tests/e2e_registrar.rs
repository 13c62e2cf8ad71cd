//! End-to-end registrar: the real `holdline` binary on loopback, phones played by plain UDP
//! sockets and a TCP stream. A phone registers with digest authentication (challenge,
//! answer); the server is killed (SIGKILL) and started again on the same store, and a queue
//! call then rings the phone at the address its REGISTER came from, while a binding that expired
//! meanwhile is not rung. Over TCP the call comes on the REGISTER's connection, and closing it
//! unregisters. Wrong passwords ban their source (listed, counted, logged once) while another
//! source still registers. The log never shows a password or an Authorization header.
#![allow(clippy::disallowed_methods)] // A real process in real time: waiting is the point.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use holdline::api::client::Client;
use holdline::sip::digest::{authorization, Challenge, Request as DigestRequest};
use holdline::sip::header::HeaderName;
use holdline::sip::message::{Message, Request, Response};
use holdline::sip::parse::{parse_datagram, Limits};
use holdline::sip::Method;
use holdline_testkit::{ConfigToml, QueueToml, Server};

const NUMBER: &str = "+14255550100";
const TOKEN: &str = "registrar-test-token";

fn config() -> String {
    ConfigToml::loopback("19000-19999")
        .api_token(TOKEN)
        .number(NUMBER, "service-toll")
        .raw(
            "[registrar]\nmin_expires = 1\ndefault_expires = 600\n\
             [[user]]\nid = \"amos\"\npassword = \"s3cret\"\n\
             [[user]]\nid = \"bea\"\npassword = \"b3a\"\n",
        )
        .queue(
            QueueToml::new("sales")
                .numbers(&[NUMBER])
                .agents(&["amos", "bea"]),
        )
        .to_string()
}

fn socket() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    s
}

/// The next message on `s` matching `want` within `limit`.
fn recv(s: &UdpSocket, limit: Duration, want: impl Fn(&Message) -> bool) -> Option<Message> {
    let end = Instant::now() + limit;
    let mut buf = [0u8; 65536];
    while Instant::now() < end {
        let Ok(n) = s.recv(&mut buf) else { continue };
        if let Ok(m) = parse_datagram(&buf[..n], &Limits::default()) {
            if want(&m) {
                return Some(m);
            }
        }
    }
    None
}

fn register_text(user: &str, phone: &UdpSocket, cseq: u32, expires: u32, auth: &str) -> String {
    let me = phone.local_addr().unwrap();
    format!(
        "REGISTER sip:127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP {me};branch=z9hG4bKreg{cseq}{user};rport\r\n\
         From: <sip:{user}@127.0.0.1>;tag=r{cseq}\r\n\
         To: <sip:{user}@127.0.0.1>\r\n\
         Call-ID: reg-{user}@test\r\n\
         CSeq: {cseq} REGISTER\r\n\
         Contact: <sip:{user}@10.1.2.3:5060>\r\n\
         Expires: {expires}\r\n\
         {auth}Max-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

fn response(s: &UdpSocket) -> Response {
    match recv(s, Duration::from_secs(5), |m| {
        matches!(m, Message::Response(_))
    }) {
        Some(Message::Response(r)) => r,
        _ => panic!("no response to REGISTER"),
    }
}

/// Registers `user` from `phone` for `expires` seconds, answering the challenge.
fn register(server: &Server, phone: &UdpSocket, user: &str, password: &str, expires: u32) {
    let to = format!("127.0.0.1:{}", server.port);
    phone
        .send_to(register_text(user, phone, 1, expires, "").as_bytes(), &to)
        .unwrap();
    let challenge = response(phone);
    assert_eq!(challenge.status, 401);
    let ch = Challenge::pick(
        challenge.headers.get_all(&HeaderName::WwwAuthenticate),
        None,
    )
    .expect("a challenge we can answer");
    let req = DigestRequest {
        method: "REGISTER",
        uri: "sip:127.0.0.1",
        body: b"",
    };
    let auth = authorization(&ch, user, password, req, "c0ffee").unwrap();
    phone
        .send_to(
            register_text(
                user,
                phone,
                2,
                expires,
                &format!("Authorization: {auth}\r\n"),
            )
            .as_bytes(),
            &to,
        )
        .unwrap();
    let ok = response(phone);
    assert_eq!(ok.status, 200, "{ok:?}");
    let contact = ok.headers.get(&HeaderName::Contact).unwrap_or_default();
    assert!(contact.contains(&format!("expires={expires}")), "{contact}");
}

/// A caller's INVITE to the queue's number.
fn call(server: &Server, caller: &UdpSocket) {
    let me = caller.local_addr().unwrap();
    let sdp = format!(
        "v=0\r\no=c 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
        me.port() + 2
    );
    let text = format!(
        "INVITE sip:{NUMBER}@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP {me};branch=z9hG4bKcall1;rport\r\n\
         From: <sip:caller@127.0.0.1>;tag=c1\r\n\
         To: <sip:{NUMBER}@127.0.0.1>\r\n\
         Call-ID: call-1@test\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:caller@{me}>\r\n\
         Max-Forwards: 70\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    caller
        .send_to(text.as_bytes(), format!("127.0.0.1:{}", server.port))
        .unwrap();
}

fn invite_on(s: &UdpSocket, limit: Duration) -> Option<Request> {
    match recv(
        s,
        limit,
        |m| matches!(m, Message::Request(r) if r.method == Method::Invite),
    ) {
        Some(Message::Request(r)) => Some(r),
        _ => None,
    }
}

#[test]
fn bindings_survive_sigkill_and_an_expired_one_is_not_rung() {
    let server = Server::start(&config());
    let amos = socket();
    let bea = socket();
    register(&server, &amos, "amos", "s3cret", 600);
    register(&server, &bea, "bea", "b3a", 2);
    // The writer stores bindings off the call path; give it a moment, then kill.
    std::thread::sleep(Duration::from_millis(500));
    // The log (at debug level) names no password and no Authorization header.
    let log = server.log_text();
    assert!(log.contains("registration updated"), "the log is read");
    for secret in ["s3cret", "b3a", "Digest username", "response="] {
        assert!(!log.contains(secret), "the log shows {secret:?}");
    }
    let dir = server.dir.clone();
    server.kill();
    // bea's binding expires while the server is down.
    std::thread::sleep(Duration::from_millis(2500));
    let server = Server::restart_in(&dir);
    // The API lists the restored binding (bea's expired one is gone), and /metrics counts it.
    let api = Client::new(server.api.clone(), Some(TOKEN.to_owned()));
    let list = api
        .request("GET", "/api/v1/users/amos/registrations", None)
        .unwrap();
    assert_eq!(list.status, 200);
    assert_eq!(
        list.body[0]["source"],
        amos.local_addr().unwrap().to_string()
    );
    assert_eq!(list.body[0]["transport"], "udp");
    assert_eq!(list.body.as_array().map(Vec::len), Some(1), "{}", list.body);
    let bea_list = api
        .request("GET", "/api/v1/users/bea/registrations", None)
        .unwrap();
    assert_eq!(bea_list.body, serde_json::json!([]));
    let metrics = api.request("GET", "/metrics", None).unwrap();
    let text = metrics.body.as_str().unwrap_or_default().to_owned();
    assert!(
        text.lines().any(|l| l == "holdline_registered_bindings 1"),
        "{text}"
    );
    let caller = socket();
    call(&server, &caller);
    let invite = invite_on(&amos, Duration::from_secs(10)).expect("amos's phone is rung");
    // NAT: the Contact said 10.1.2.3, the INVITE came to the REGISTER's source.
    assert_eq!(invite.uri.to_string(), "sip:amos@10.1.2.3:5060");
    assert!(
        invite_on(&bea, Duration::from_secs(2)).is_none(),
        "bea's expired binding is not rung"
    );
    // A REGISTER from a source the server never saw is still challenged, not refused.
    let stranger = socket();
    stranger
        .send_to(
            register_text("nobody", &stranger, 1, 60, "").as_bytes(),
            format!("127.0.0.1:{}", server.port),
        )
        .unwrap();
    assert_eq!(response(&stranger).status, 401);
}

/// Reads from `s` until `buf` holds a whole message with `marker` (a response or a request) or
/// `limit` passes; returns that message's text.
fn read_tcp(
    s: &mut std::net::TcpStream,
    buf: &mut Vec<u8>,
    marker: &str,
    limit: Duration,
) -> String {
    use std::io::Read;
    let end = Instant::now() + limit;
    let mut chunk = [0u8; 8192];
    loop {
        let text = String::from_utf8_lossy(buf).into_owned();
        if let Some(start) = text.find(marker) {
            if let Some(head_end) = text[start..].find("\r\n\r\n") {
                let head = &text[start..start + head_end];
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("Content-Length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                let total = start + head_end + 4 + len;
                if text.len() >= total {
                    let msg = text[start..total].to_owned();
                    buf.drain(..total);
                    return msg;
                }
            }
        }
        assert!(
            Instant::now() < end,
            "no {marker:?} on the connection: {text:?}"
        );
        if let Ok(n) = s.read(&mut chunk) {
            if n == 0 {
                panic!("connection closed while waiting for {marker:?}");
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    }
}

#[test]
fn over_tcp_the_call_comes_on_the_register_connection_and_closing_it_unregisters() {
    use std::io::Write;
    let server = Server::start(&config());
    let mut phone = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    phone
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let me = phone.local_addr().unwrap();
    let text = |cseq: u32, auth: &str| {
        format!(
            "REGISTER sip:127.0.0.1 SIP/2.0\r\n\
             Via: SIP/2.0/TCP {me};branch=z9hG4bKtcp{cseq};rport\r\n\
             From: <sip:amos@127.0.0.1>;tag=t{cseq}\r\n\
             To: <sip:amos@127.0.0.1>\r\n\
             Call-ID: reg-tcp@test\r\n\
             CSeq: {cseq} REGISTER\r\n\
             Contact: <sip:amos@10.1.2.3:5060;transport=tcp>\r\n\
             Expires: 600\r\n\
             {auth}Max-Forwards: 70\r\n\
             Content-Length: 0\r\n\r\n"
        )
    };
    let mut buf = Vec::new();
    phone.write_all(text(1, "").as_bytes()).unwrap();
    let challenge = read_tcp(&mut phone, &mut buf, "SIP/2.0 401", Duration::from_secs(5));
    let Ok(Message::Response(challenge)) = parse_datagram(challenge.as_bytes(), &Limits::default())
    else {
        panic!("unparsable 401")
    };
    let ch = Challenge::pick(
        challenge.headers.get_all(&HeaderName::WwwAuthenticate),
        None,
    )
    .expect("a challenge");
    let req = DigestRequest {
        method: "REGISTER",
        uri: "sip:127.0.0.1",
        body: b"",
    };
    let auth = authorization(&ch, "amos", "s3cret", req, "c0ffee").unwrap();
    phone
        .write_all(text(2, &format!("Authorization: {auth}\r\n")).as_bytes())
        .unwrap();
    read_tcp(&mut phone, &mut buf, "SIP/2.0 200", Duration::from_secs(5));

    let caller = socket();
    call(&server, &caller);
    let invite = read_tcp(&mut phone, &mut buf, "INVITE ", Duration::from_secs(10));
    assert!(
        invite.starts_with("INVITE sip:amos@10.1.2.3:5060;transport=tcp SIP/2.0"),
        "{invite}"
    );

    // The phone's connection goes away: its binding goes with it.
    drop(phone);
    let api = Client::new(server.api.clone(), Some(TOKEN.to_owned()));
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let list = api
            .request("GET", "/api/v1/users/amos/registrations", None)
            .unwrap();
        if list.body == serde_json::json!([]) {
            break;
        }
        assert!(Instant::now() < end, "still registered: {}", list.body);
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn wrong_passwords_ban_the_source_while_another_source_still_registers() {
    let server = Server::start(&config().replace(
        "[registrar]\n",
        "[registrar]\nauth_failures = 3\nauth_ban = 600\n",
    ));
    let to = format!("127.0.0.1:{}", server.port);
    let guesser = socket();
    for cseq in 1..=3 {
        guesser
            .send_to(
                register_text("amos", &guesser, cseq * 2 - 1, 600, "").as_bytes(),
                &to,
            )
            .unwrap();
        let challenge = response(&guesser);
        let ch = Challenge::pick(
            challenge.headers.get_all(&HeaderName::WwwAuthenticate),
            None,
        )
        .unwrap();
        let req = DigestRequest {
            method: "REGISTER",
            uri: "sip:127.0.0.1",
            body: b"",
        };
        let auth = authorization(&ch, "amos", "guess", req, "c0ffee").unwrap();
        let text = register_text(
            "amos",
            &guesser,
            cseq * 2,
            600,
            &format!("Authorization: {auth}\r\n"),
        );
        guesser.send_to(text.as_bytes(), &to).unwrap();
        assert_eq!(response(&guesser).status, 401, "wrong password {cseq}");
    }
    // Banned: not even a challenge any more.
    guesser
        .send_to(register_text("amos", &guesser, 9, 600, "").as_bytes(), &to)
        .unwrap();
    assert!(
        recv(&guesser, Duration::from_secs(1), |m| matches!(
            m,
            Message::Response(_)
        ))
        .is_none(),
        "a banned source gets no answer"
    );
    // Another source (another loopback address) registers with the right password.
    let phone = UdpSocket::bind("127.0.0.2:0").unwrap();
    phone
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    register(&server, &phone, "amos", "s3cret", 600);
    // The ban is listed with its reason, and counted.
    let api = Client::new(server.api.clone(), Some(TOKEN.to_owned()));
    let bans = api.request("GET", "/api/v1/bans", None).unwrap();
    assert_eq!(bans.body.as_array().map(Vec::len), Some(1), "{}", bans.body);
    assert_eq!(bans.body[0]["addr"], "127.0.0.1");
    assert_eq!(bans.body[0]["reason"], "auth-failures");
    let metrics = api.request("GET", "/metrics", None).unwrap();
    let text = metrics.body.as_str().unwrap_or_default().to_owned();
    for line in [
        "holdline_auth_failures_total 3",
        "holdline_auth_failure_bans_total 1",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in {text}");
    }
    assert_eq!(
        server
            .log_text()
            .matches("source banned; its datagrams are dropped")
            .count(),
        1,
        "the ban is logged once"
    );
    // The event log has the ban and the registration, through the API's filters.
    let banned = logged_events(&api, "kind=banned", 1);
    assert_eq!(
        banned[0]["detail"],
        "source=127.0.0.1 reason=auth-failures until=+600s"
    );
    assert_eq!(banned[0]["queue"], "");
    let registered = logged_events(&api, "kind=registered&agent=amos", 1);
    let detail = registered[0]["detail"].as_str().unwrap_or_default();
    let source = format!("source=udp:{} reason=new", phone.local_addr().unwrap());
    assert!(
        detail.starts_with("contact=sip:amos@10.1.2.3:5060 ") && detail.ends_with(&source),
        "{detail}"
    );
    assert_eq!(registered[0]["call_id"], "reg-amos@test");
    assert!(logged_events(&api, "kind=registered&agent=bea", 0).is_empty());
}

/// `GET /api/v1/events?{query}` once it lists `want` events (the log is written off the
/// core's task: up to 5 s).
fn logged_events(api: &Client, query: &str, want: usize) -> Vec<serde_json::Value> {
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let reply = api
            .request("GET", &format!("/api/v1/events?{query}"), None)
            .unwrap();
        let events = reply.body.as_array().cloned().unwrap_or_default();
        if events.len() >= want || Instant::now() > end {
            assert_eq!(events.len(), want, "{query}: {}", reply.body);
            return events;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
