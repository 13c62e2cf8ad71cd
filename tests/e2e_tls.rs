//! End-to-end SIP over TLS: the real `holdline` binary with a `tls:` listener, certificates
//! made in the test (rcgen), callers, phones and SBCs played by the testkit's TLS client and
//! server (rustls). A caller over TLS reaches a queue and hears its music; an agent registered
//! over TLS is rung on that very connection; a listener that requires client certificates
//! refuses a client without one or with one from another CA; SIGHUP serves a new certificate
//! to the next connection while an open one carries on; a forward to a TLS trunk reaches an SBC
//! whose certificate is valid for the configured name and CA (presenting the trunk's client
//! certificate, which that SBC requires), over TLS from the first byte, and never one whose
//! certificate is not; a static TLS contact is verified against `[sip] tls_ca`; a stalled
//! handshake is closed at the message deadline, plaintext on the TLS port is never answered,
//! and TLS connections count against the per-source cap.
#![allow(clippy::disallowed_methods)] // A real process in real time: waiting is the point.

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use holdline::sip::digest::{authorization, Challenge, Request as DigestRequest};
use holdline::sip::header::HeaderName;
use holdline::sip::message::Message;
use holdline::sip::parse::{parse_datagram, Limits};
use holdline_testkit::audio::{sox, tone_share};
use holdline_testkit::tls::{header, Leaf, Pki, TlsClient, TlsServer};
use holdline_testkit::{metric_value, scratch_dir, ConfigToml, QueueToml, Server};

const NUMBER: &str = "+14255550100";
const TOKEN: &str = "tls-test-token";
/// The name and address holdline's certificate is valid for.
const PBX: &str = "pbx.test";

fn parse(text: &str) -> Message {
    parse_datagram(text.as_bytes(), &Limits::default()).expect("a SIP message")
}

fn status(text: &str) -> u16 {
    match parse(text) {
        Message::Response(r) => r.status,
        Message::Request(r) => panic!("a request, not a response: {}", r.method),
    }
}

fn tls_addr(server: &Server) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], server.tls_port.expect("a tls listener")))
}

fn metric(server: &Server, series: &str) -> u64 {
    let text = server.metrics(Some(TOKEN));
    metric_value(&text, series).unwrap_or_else(|| panic!("no {series} in\n{text}"))
}

/// Waits until `series` reaches `at_least` (SIGHUP and handshakes are asynchronous).
fn wait_metric(server: &Server, series: &str, at_least: u64) -> u64 {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let v = metric(server, series);
        if v >= at_least || Instant::now() > end {
            return v;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A CA and holdline's certificate (for `pbx.test` and 127.0.0.1) in `dir`.
fn server_pki(dir: &Path) -> (Pki, Leaf) {
    let pki = Pki::new(dir, "pbx");
    let leaf = pki.issue("holdline", &[PBX, "127.0.0.1"]);
    (pki, leaf)
}

fn p(path: &Path) -> String {
    path.display().to_string()
}

/// An INVITE over `client` for the queue's number, offering PCMU toward `rtp`.
fn invite_text(client: &TlsClient, call_id: &str, rtp: u16) -> String {
    let me = client.local_addr();
    let sdp = format!(
        "v=0\r\no=c 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {rtp} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    );
    format!(
        "INVITE sips:{NUMBER}@{PBX} SIP/2.0\r\n\
         Via: SIP/2.0/TLS {me};branch=z9hG4bK{call_id};rport\r\n\
         From: <sips:caller@client.test>;tag=c-{call_id}\r\n\
         To: <sips:{NUMBER}@{PBX}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:caller@{me};transport=tls>\r\n\
         Max-Forwards: 70\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
}

/// An in-dialog request (ACK or BYE) of the caller's call, `to` being the 200's To.
fn in_dialog(client: &TlsClient, method: &str, call_id: &str, to: &str, cseq: u32) -> String {
    let me = client.local_addr();
    format!(
        "{method} sips:{NUMBER}@{PBX} SIP/2.0\r\n\
         Via: SIP/2.0/TLS {me};branch=z9hG4bK{call_id}{method}{cseq};rport\r\n\
         From: <sips:caller@client.test>;tag=c-{call_id}\r\n\
         To: {to}\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} {method}\r\n\
         Max-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// Places a call over `client` and returns the 200 OK's text (after ACKing it).
fn answered_call(client: &mut TlsClient, call_id: &str, rtp: u16) -> String {
    client.send(&invite_text(client, call_id, rtp)).unwrap();
    let ok = client
        .recv_until(Duration::from_secs(10), |first| {
            first.starts_with("SIP/2.0 2")
                || first.starts_with("SIP/2.0 4")
                || first.starts_with("SIP/2.0 5")
        })
        .expect("a final response to the INVITE");
    assert_eq!(status(&ok), 200, "{ok}");
    let to = header(&ok, "to", Some("t")).expect("To");
    client
        .send(&in_dialog(client, "ACK", call_id, &to, 1))
        .unwrap();
    ok
}

/// The μ-law audio of the RTP packets `socket` receives for `how_long`, and their count.
fn record_ulaw(socket: &UdpSocket, how_long: Duration) -> (Vec<i16>, usize) {
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let end = Instant::now() + how_long;
    let (mut samples, mut packets) = (Vec::new(), 0);
    let mut last_seq: Option<u16> = None;
    let mut buf = [0u8; 2048];
    while Instant::now() < end {
        let Ok(n) = socket.recv(&mut buf) else {
            continue;
        };
        if n < 12 || buf[0] >> 6 != 2 || buf[1] & 0x7f != 0 {
            continue;
        }
        let seq = u16::from_be_bytes([buf[2], buf[3]]);
        if let Some(last) = last_seq {
            assert_eq!(seq, last.wrapping_add(1), "sequence numbers continue");
        }
        last_seq = Some(seq);
        packets += 1;
        samples.extend(
            buf[12..n]
                .iter()
                .map(|&b| holdline::audio::g711::ulaw_to_linear(b)),
        );
    }
    (samples, packets)
}

#[test]
fn a_caller_over_tls_reaches_the_queue_and_hears_its_music() {
    let dir = scratch_dir("tls-moh");
    let (pki, leaf) = server_pki(&dir);
    let music = dir.join("music.wav");
    sox(&[
        "-n",
        "-r",
        "8000",
        "-c",
        "1",
        &p(&music),
        "synth",
        "3",
        "sine",
        "1000",
    ]);
    let server = Server::start(
        &ConfigToml::loopback("41000-41999")
            .api_token(TOKEN)
            .tls(&p(&leaf.cert_pem), &p(&leaf.key_pem), None)
            .number(NUMBER, "service-toll")
            .queue(
                QueueToml::new("sales")
                    .numbers(&[NUMBER])
                    .set("music_on_hold", &format!("{:?}", p(&music)))
                    .set("no_agents", r#"{ action = "queue" }"#),
            )
            .to_string(),
    );
    let mut client = TlsClient::connect(tls_addr(&server), PBX, pki.client_config(None))
        .expect("TLS to holdline");
    assert_eq!(client.peer_certificate(), Some(leaf.cert.clone()));
    let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let ok = answered_call(&mut client, "tls-moh-1", rtp.local_addr().unwrap().port());
    // The call was to a sips: URI, so our Contact is sips: too (RFC 3261 §12.1.1), at the
    // TLS listener: in-dialog requests come back over TLS.
    let contact = header(&ok, "contact", Some("m")).expect("Contact");
    let port = server.tls_port.unwrap();
    assert_eq!(contact, format!("<sips:127.0.0.1:{port}>"));
    let (samples, packets) = record_ulaw(&rtp, Duration::from_secs(2));
    assert!(packets >= 80, "{packets} RTP packets in 2 s");
    let share = tone_share(&samples, 8000, 1000.0);
    assert!(
        share > 0.9,
        "the music (a 1 kHz tone) is {share:.2} of what was heard"
    );
    // Hang up over the same connection.
    let to = header(&ok, "to", Some("t")).unwrap();
    client
        .send(&in_dialog(&client, "BYE", "tls-moh-1", &to, 2))
        .unwrap();
    let bye_ok = client
        .recv_until(Duration::from_secs(5), |f| f.starts_with("SIP/2.0"))
        .expect("an answer to BYE");
    assert_eq!(status(&bye_ok), 200, "{bye_ok}");
    assert!(metric(&server, "holdline_sip_tls_inbound_handshakes_total") >= 1);
}

/// REGISTER over `client` for `user`, answering the digest challenge.
fn register(client: &mut TlsClient, user: &str, password: &str) {
    let me = client.local_addr();
    let text = |cseq: u32, auth: &str| {
        format!(
            "REGISTER sips:{PBX} SIP/2.0\r\n\
             Via: SIP/2.0/TLS {me};branch=z9hG4bKreg{cseq};rport\r\n\
             From: <sips:{user}@{PBX}>;tag=r{cseq}\r\n\
             To: <sips:{user}@{PBX}>\r\n\
             Call-ID: reg-{user}@tls\r\n\
             CSeq: {cseq} REGISTER\r\n\
             Contact: <sips:{user}@10.9.8.7:5061>\r\n\
             Expires: 600\r\n\
             {auth}Max-Forwards: 70\r\n\
             Content-Length: 0\r\n\r\n"
        )
    };
    client.send(&text(1, "")).unwrap();
    let challenge = client
        .recv_until(Duration::from_secs(5), |f| f.starts_with("SIP/2.0"))
        .expect("a challenge");
    let Message::Response(challenge) = parse(&challenge) else {
        unreachable!()
    };
    assert_eq!(challenge.status, 401);
    let ch = Challenge::pick(
        challenge.headers.get_all(&HeaderName::WwwAuthenticate),
        None,
    )
    .expect("a challenge we can answer");
    let uri = format!("sips:{PBX}");
    let req = DigestRequest {
        method: "REGISTER",
        uri: &uri,
        body: b"",
    };
    let auth = authorization(&ch, user, password, req, "c0ffee").unwrap();
    client
        .send(&text(2, &format!("Authorization: {auth}\r\n")))
        .unwrap();
    let ok = client
        .recv_until(Duration::from_secs(5), |f| f.starts_with("SIP/2.0"))
        .expect("an answer to REGISTER");
    assert_eq!(status(&ok), 200, "{ok}");
}

#[test]
fn an_agent_registered_over_tls_is_rung_on_that_connection() {
    let dir = scratch_dir("tls-agent");
    let (pki, leaf) = server_pki(&dir);
    let server = Server::start(
        &ConfigToml::loopback("42000-42999")
            .api_token(TOKEN)
            .tls(&p(&leaf.cert_pem), &p(&leaf.key_pem), None)
            .number(NUMBER, "service-toll")
            .raw("[[user]]\nid = \"amos\"\npassword = \"s3cret\"\n")
            .queue(QueueToml::new("sales").numbers(&[NUMBER]).agents(&["amos"]))
            .to_string(),
    );
    let mut agent = TlsClient::connect(tls_addr(&server), PBX, pki.client_config(None))
        .expect("the agent's TLS connection");
    register(&mut agent, "amos", "s3cret");
    // A caller over another TLS connection.
    let mut caller = TlsClient::connect(tls_addr(&server), "127.0.0.1", pki.client_config(None))
        .expect("the caller's TLS connection");
    let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    caller
        .send(&invite_text(
            &caller,
            "tls-agent-1",
            rtp.local_addr().unwrap().port(),
        ))
        .unwrap();
    // The INVITE comes on the agent's own connection (RFC 5626 §5.3 flow; §18 reuse), for the
    // registered Contact, with a TLS Via and a Contact that says TLS.
    let invite = agent
        .recv_until(Duration::from_secs(10), |f| f.starts_with("INVITE"))
        .expect("the agent is rung on the connection it registered over");
    let first = invite.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("INVITE sips:amos@10.9.8.7:5061"),
        "{first}"
    );
    let via = header(&invite, "via", Some("v")).unwrap();
    assert!(via.starts_with("SIP/2.0/TLS "), "{via}");
    // A sips: Request-URI gets a sips: Contact (RFC 3261 §8.1.1.8).
    let contact = header(&invite, "contact", Some("m")).unwrap();
    let port = server.tls_port.unwrap();
    assert_eq!(contact, format!("<sips:127.0.0.1:{port}>"));
    // The agent declines; the caller is still queued and the connection stays usable.
    let decline =
        holdline_testkit::tls::response(&invite, "486 Busy Here", agent.local_addr(), None);
    agent.send(&decline).unwrap();
    let ack = agent
        .recv_until(Duration::from_secs(5), |f| f.starts_with("ACK"))
        .expect("the 486 is ACKed on the same connection");
    assert!(ack.contains("CSeq: 1 ACK"), "{ack}");
}

#[test]
fn a_static_tls_contact_is_connected_to_and_verified_against_tls_ca() {
    let dir = scratch_dir("tls-static");
    let (pki, leaf) = server_pki(&dir);
    let phones = Pki::new(&dir, "phones");
    let rogue = Pki::new(&dir, "rogue-phones");
    let phone_rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let rtp_port = phone_rtp.local_addr().unwrap().port();
    // Both phones' certificates name 127.0.0.1; only one is from the configured CA.
    let good = TlsServer::start(
        Pki::server_config(&phones.issue("phone-good", &["127.0.0.1"]), None),
        rtp_port,
    );
    let bad = TlsServer::start(
        Pki::server_config(&rogue.issue("phone-bad", &["127.0.0.1"]), None),
        rtp_port,
    );
    let server = Server::start(
        &ConfigToml::loopback("40000-40999")
            .api_token(TOKEN)
            .tls(&p(&leaf.cert_pem), &p(&leaf.key_pem), None)
            .tls_ca(&p(&phones.ca_pem()))
            .number(NUMBER, "service-toll")
            .raw(&format!(
                "[[user]]\nid = \"amos\"\ncontacts = [\"sip:amos@{};transport=tls\"]\n\
                 [[user]]\nid = \"bea\"\ncontacts = [\"sips:bea@{}\"]\n",
                good.addr, bad.addr
            ))
            .queue(
                QueueToml::new("sales")
                    .numbers(&[NUMBER])
                    .agents(&["amos", "bea"]),
            )
            .to_string(),
    );
    let mut caller = TlsClient::connect(tls_addr(&server), PBX, pki.client_config(None)).unwrap();
    let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    caller
        .send(&invite_text(
            &caller,
            "tls-static-1",
            rtp.local_addr().unwrap().port(),
        ))
        .unwrap();
    let end = Instant::now() + Duration::from_secs(10);
    while good.seen().messages.is_empty() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
    }
    {
        let seen = good.seen();
        assert_eq!((seen.handshakes, seen.plaintext), (1, 0), "{seen:?}");
        let invite = seen
            .messages
            .iter()
            .find(|m| m.starts_with("INVITE sip:amos@"))
            .unwrap_or_else(|| panic!("the phone is rung over TLS: {seen:?}"));
        let via = header(invite, "via", Some("v")).unwrap();
        assert!(via.starts_with("SIP/2.0/TLS "), "{via}");
    }
    assert!(
        wait_metric(
            &server,
            "holdline_sip_tls_outbound_handshake_failures_total",
            1
        ) >= 1,
        "the other CA's phone is refused"
    );
    let seen = bad.seen();
    assert!(seen.client_hellos >= 1, "{seen:?}");
    assert!(
        seen.messages.is_empty(),
        "no SIP to a phone the CA did not issue: {seen:?}"
    );
}

#[test]
fn a_listener_requiring_client_certificates_admits_only_the_right_ones() {
    let dir = scratch_dir("tls-mtls");
    let (pki, leaf) = server_pki(&dir);
    let sbc_ca = Pki::new(&dir, "sbc");
    let sbc_client = sbc_ca.issue("sbc-client", &["sbc.carrier.test"]);
    let rogue_ca = Pki::new(&dir, "rogue");
    let rogue_client = rogue_ca.issue("rogue-client", &["sbc.carrier.test"]);
    let server = Server::start(
        &ConfigToml::loopback("43000-43999")
            .api_token(TOKEN)
            .tls(
                &p(&leaf.cert_pem),
                &p(&leaf.key_pem),
                Some(&p(&sbc_ca.ca_pem())),
            )
            .number(NUMBER, "service-toll")
            .queue(QueueToml::new("sales").numbers(&[NUMBER]))
            .to_string(),
    );
    let options = |client: &TlsClient| {
        format!(
            "OPTIONS sips:{PBX} SIP/2.0\r\n\
             Via: SIP/2.0/TLS {};branch=z9hG4bKopt;rport\r\n\
             From: <sips:sbc@carrier.test>;tag=o1\r\n\
             To: <sips:{PBX}>\r\n\
             Call-ID: opt@tls\r\n\
             CSeq: 1 OPTIONS\r\n\
             Max-Forwards: 70\r\n\
             Content-Length: 0\r\n\r\n",
            client.local_addr()
        )
    };
    // No certificate, and one from another CA: the handshake is refused.
    for (case, client_cert) in [("none", None), ("another CA's", Some(&rogue_client))] {
        let refused = TlsClient::connect(tls_addr(&server), PBX, pki.client_config(client_cert));
        match refused {
            Err(_) => {}
            // A TLS 1.3 client may finish before the server's alert arrives: then nothing
            // it sends is answered and the connection is closed.
            Ok(mut c) => {
                let _ = c.send(&options(&c));
                assert_eq!(c.recv(Duration::from_secs(2)), None, "{case} certificate");
            }
        }
    }
    assert_eq!(
        wait_metric(
            &server,
            "holdline_sip_tls_inbound_handshake_failures_total",
            2
        ),
        2
    );
    // The SBC's own certificate: admitted, and answered.
    let mut sbc = TlsClient::connect(tls_addr(&server), PBX, pki.client_config(Some(&sbc_client)))
        .expect("the right client certificate is admitted");
    sbc.send(&options(&sbc)).unwrap();
    let ok = sbc
        .recv_until(Duration::from_secs(5), |f| f.starts_with("SIP/2.0"))
        .expect("OPTIONS answered");
    assert_eq!(status(&ok), 200, "{ok}");
    assert_eq!(
        metric(&server, "holdline_sip_tls_inbound_handshakes_total"),
        1
    );
}

#[test]
fn sighup_serves_a_new_certificate_to_the_next_connection() {
    let dir = scratch_dir("tls-reload");
    let (pki, first) = server_pki(&dir);
    let server = Server::start(
        &ConfigToml::loopback("44000-44999")
            .api_token(TOKEN)
            .tls(&p(&first.cert_pem), &p(&first.key_pem), None)
            .number(NUMBER, "service-toll")
            .queue(QueueToml::new("sales").numbers(&[NUMBER]))
            .to_string(),
    );
    let mut open = TlsClient::connect(tls_addr(&server), PBX, pki.client_config(None)).unwrap();
    assert_eq!(open.peer_certificate(), Some(first.cert.clone()));
    // A new certificate and key under the same names, then SIGHUP.
    let second = pki.issue("holdline", &[PBX, "127.0.0.1"]);
    assert_ne!(second.cert, first.cert);
    server.signal(libc::SIGHUP);
    assert_eq!(wait_metric(&server, "holdline_sip_tls_reloads_total", 1), 1);
    let next = TlsClient::connect(tls_addr(&server), PBX, pki.client_config(None)).unwrap();
    assert_eq!(
        next.peer_certificate(),
        Some(second.cert.clone()),
        "the next connection gets the new certificate"
    );
    // The connection opened before the reload carries on.
    let options = format!(
        "OPTIONS sips:{PBX} SIP/2.0\r\n\
         Via: SIP/2.0/TLS {};branch=z9hG4bKreload;rport\r\n\
         From: <sips:x@client.test>;tag=x\r\nTo: <sips:{PBX}>\r\nCall-ID: reload@tls\r\n\
         CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        open.local_addr()
    );
    open.send(&options).unwrap();
    let ok = open
        .recv_until(Duration::from_secs(5), |f| f.starts_with("SIP/2.0"))
        .expect("the old connection still works");
    assert_eq!(status(&ok), 200);
    // A bad certificate is refused; the one loaded before keeps serving.
    std::fs::write(
        &second.cert_pem,
        "-----BEGIN CERTIFICATE-----\nnot base64\n",
    )
    .unwrap();
    server.signal(libc::SIGHUP);
    assert_eq!(
        wait_metric(&server, "holdline_sip_tls_reload_failures_total", 1),
        1
    );
    let after = TlsClient::connect(tls_addr(&server), PBX, pki.client_config(None)).unwrap();
    assert_eq!(after.peer_certificate(), Some(second.cert.clone()));
    assert!(
        server.log_text().contains("TLS reload refused"),
        "the reason is logged"
    );
}

/// A server whose queue forwards every caller, once the greeting has played, to +1 425 555
/// 0123 through a TLS trunk at `sbc` verified for `name` against `ca`.
fn forwarding_server(
    dir: &Path,
    leaf: &Leaf,
    sbc: SocketAddr,
    ca: &Path,
    name: &str,
    client: &Leaf,
    rtp: &str,
) -> Server {
    let greeting = dir.join("greeting.wav");
    sox(&[
        "-n",
        "-r",
        "8000",
        "-c",
        "1",
        &p(&greeting),
        "synth",
        "0.3",
        "sine",
        "500",
    ]);
    Server::start(
        &ConfigToml::loopback(rtp)
            .api_token(TOKEN)
            .tls(&p(&leaf.cert_pem), &p(&leaf.key_pem), None)
            .number(NUMBER, "service-toll")
            .raw(&format!(
                "[[trunk]]\nid = \"carrier\"\nproxy = \"sip:{sbc};transport=tls\"\n\
                 allow = [\"+1425*\"]\ntls_ca = {:?}\ntls_name = \"{name}\"\n\
                 tls_cert = {:?}\ntls_key = {:?}\n",
                p(ca),
                p(&client.cert_pem),
                p(&client.key_pem)
            ))
            .queue(
                QueueToml::new("sales")
                    .numbers(&[NUMBER])
                    .set("greeting", &format!("{:?}", p(&greeting)))
                    .set("max_wait", "0")
                    .set("no_agents", r#"{ action = "queue" }"#)
                    .set(
                        "on_timeout",
                        r#"{ action = "forward", to = "tel:+14255550123" }"#,
                    ),
            )
            .to_string(),
    )
}

#[test]
fn a_forward_to_a_mutual_tls_trunk_reaches_only_an_sbc_with_the_right_certificate() {
    let dir = scratch_dir("tls-trunk");
    let (pki, leaf) = server_pki(&dir);
    let carrier = Pki::new(&dir, "carrier");
    let sbc_rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sbc_rtp_port = sbc_rtp.local_addr().unwrap().port();
    // Mutual TLS: the SBC takes only the client certificate the carrier issued to us.
    let ours = carrier.issue("holdline-client", &["pbx.test"]);
    let good = TlsServer::start(
        Pki::server_config(
            &carrier.issue("sbc-good", &["sbc.carrier.test"]),
            Some(&carrier),
        ),
        sbc_rtp_port,
    );
    let wrong_name = TlsServer::start(
        Pki::server_config(&carrier.issue("sbc-wrong", &["other.carrier.test"]), None),
        sbc_rtp_port,
    );
    let cases = [
        (&good, true, "45000-45499"),
        (&wrong_name, false, "45500-45999"),
    ];
    for (sbc, reachable, rtp_range) in cases {
        let server = forwarding_server(
            &dir,
            &leaf,
            sbc.addr,
            &carrier.ca_pem(),
            "sbc.carrier.test",
            &ours,
            rtp_range,
        );
        let mut caller =
            TlsClient::connect(tls_addr(&server), PBX, pki.client_config(None)).unwrap();
        let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let call_id = format!("fwd-{reachable}");
        let ok = answered_call(&mut caller, &call_id, rtp.local_addr().unwrap().port());
        assert_eq!(status(&ok), 200);
        if reachable {
            let end = Instant::now() + Duration::from_secs(10);
            while sbc.seen().messages.is_empty() && Instant::now() < end {
                std::thread::sleep(Duration::from_millis(50));
            }
            let seen = sbc.seen();
            assert!(seen.client_hellos >= 1 && seen.handshakes >= 1, "{seen:?}");
            assert_eq!(seen.plaintext, 0, "nothing in plaintext");
            let invite = seen
                .messages
                .iter()
                .find(|m| m.starts_with("INVITE"))
                .unwrap_or_else(|| panic!("the SBC got an INVITE: {seen:?}"));
            let via = header(invite, "via", Some("v")).unwrap();
            assert!(via.starts_with("SIP/2.0/TLS "), "{via}");
            let contact = header(invite, "contact", Some("m")).unwrap();
            assert!(contact.contains("transport=tls"), "{contact}");
            assert!(invite.contains("+14255550123"), "{invite}");
        } else {
            // The handshake fails on holdline's side (the certificate is not for the
            // configured name): no SIP reaches the SBC and the caller is released.
            let bye = caller
                .recv_until(Duration::from_secs(10), |f| f.starts_with("BYE"))
                .expect("the caller is released");
            assert!(bye.starts_with("BYE "), "{bye}");
            let seen = sbc.seen();
            assert!(seen.client_hellos >= 1, "{seen:?}");
            assert!(
                seen.messages.is_empty(),
                "no SIP for a wrong certificate: {seen:?}"
            );
            assert_eq!(seen.plaintext, 0);
            assert!(
                metric(
                    &server,
                    "holdline_sip_tls_outbound_handshake_failures_total"
                ) >= 1
            );
        }
    }
}

#[test]
fn a_stalled_handshake_is_closed_at_the_message_deadline_and_tls_connections_count_per_source() {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    let dir = scratch_dir("tls-limits");
    let (pki, leaf) = server_pki(&dir);
    let server = Server::start(
        &ConfigToml::loopback("39000-39999")
            .api_token(TOKEN)
            .tls(&p(&leaf.cert_pem), &p(&leaf.key_pem), None)
            .number(NUMBER, "service-toll")
            .raw("[sip.connections]\nmessage_deadline = 1\nmax_per_source = 2\n")
            .queue(QueueToml::new("sales").numbers(&[NUMBER]))
            .to_string(),
    );
    // A client that connects and never starts the handshake is closed at the deadline.
    let mut stalled = TcpStream::connect(tls_addr(&server)).unwrap();
    stalled
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let began = Instant::now();
    let mut buf = [0u8; 64];
    let read = stalled.read(&mut buf);
    let waited = began.elapsed();
    assert!(
        matches!(read, Ok(0) | Err(_))
            && waited >= Duration::from_millis(900)
            && waited < Duration::from_secs(4),
        "closed after {waited:?}: {read:?}"
    );
    assert_eq!(
        wait_metric(
            &server,
            "holdline_sip_tls_inbound_handshake_failures_total",
            1
        ),
        1
    );
    // Plaintext SIP on the TLS port is no handshake: closed and counted, never answered.
    let mut plain = TcpStream::connect(tls_addr(&server)).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    plain
        .write_all(b"OPTIONS sip:pbx.test SIP/2.0\r\nContent-Length: 0\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let _ = plain.read_to_end(&mut got);
    assert!(
        !String::from_utf8_lossy(&got).contains("SIP/2.0"),
        "{got:?}"
    );
    assert_eq!(
        wait_metric(
            &server,
            "holdline_sip_tls_inbound_handshake_failures_total",
            2
        ),
        2
    );
    // Two TLS connections from one source are its cap; a third is closed at once.
    let first = TlsClient::connect(tls_addr(&server), PBX, pki.client_config(None)).unwrap();
    let second = TlsClient::connect(tls_addr(&server), PBX, pki.client_config(None)).unwrap();
    assert!(TlsClient::connect(tls_addr(&server), PBX, pki.client_config(None)).is_err());
    let refused = metric_value(
        &server.metrics(Some(TOKEN)),
        "holdline_sip_connections_refused_total{reason=\"max_per_source\"}",
    );
    assert_eq!(refused, Some(1));
    drop((first, second));
}
