//! Golden test over the RFC 4475 torture messages (read from `../shared/sip-torture/rfc4475/`,
//! never copied into the repo) and our own crafted messages in `sip-fixtures/messages/`.
//!
//! Every torture file has an explicit expectation: valid messages parse, round-trip through
//! serialization and frame identically on a stream; invalid ones fail with the status a UAS
//! should send (400 / 505) or `None` when the input must be dropped. A file missing from the
//! table fails the test. Messages that parse but need a UAS-level answer (416, 420, 415, 406,
//! 501, 481, 401) are the UAS's concern: here they must simply parse.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use holdline::sip::header::HeaderName;
use holdline::sip::message::Message;
use holdline::sip::method::Method;
use holdline::sip::parse::{parse_datagram, parse_stream, Frame, Limits, ParseErrorKind};
use holdline::sip::uri::{unescape, Host, Uri};
use holdline_testkit::sip::normalized;

#[derive(Clone, Copy)]
enum Expect {
    /// Parses; the function checks fields the RFC lists.
    Valid(fn(&Message)),
    /// Fails; the status the UAS should answer with (`None`: drop silently), and a fragment of
    /// the error text naming the reason, so a message is rejected for the right cause.
    Reject(Option<u16>, &'static str),
}
use Expect::{Reject, Valid};

fn no_check(_: &Message) {}

const TABLE: &[(&str, Expect)] = &[
    // §3.1.1 valid messages.
    ("wsinv", Valid(check_wsinv)),
    ("intmeth", Valid(check_intmeth)),
    ("esc01", Valid(check_esc01)),
    ("escnull", Valid(check_escnull)),
    ("esc02", Valid(check_esc02)),
    ("lwsdisp", Valid(check_lwsdisp)),
    ("longreq", Valid(check_longreq)),
    ("dblreq", Valid(check_dblreq)),
    ("semiuri", Valid(check_semiuri)),
    ("transports", Valid(check_transports)),
    ("mpart01", Valid(check_mpart01)),
    ("unreason", Valid(check_unreason)),
    ("noreason", Valid(check_noreason)),
    // §3.1.2 invalid messages.
    ("badinv01", Reject(Some(400), "invalid Via header")),
    ("clerr", Reject(Some(400), "exceeds the 154 body bytes")),
    ("ncl", Reject(Some(400), "Content-Length \"-999\"")),
    ("scalar02", Reject(Some(400), "invalid CSeq header")),
    ("scalarlg", Reject(None, "invalid CSeq header")),
    ("quotbal", Reject(Some(400), "unterminated quoted")),
    ("ltgtruri", Reject(Some(400), "enclosed in `<>`")),
    ("lwsruri", Reject(Some(400), "request line is not")),
    ("lwsstart", Reject(Some(400), "request line is not")),
    ("trws", Reject(Some(400), "request line is not")),
    ("escruri", Reject(Some(400), "Request-URI carries headers")),
    // Either is allowed; we ignore Date, so it parses.
    ("baddate", Valid(no_check)),
    ("regbadct", Reject(Some(400), "invalid Contact header")),
    ("badaspec", Reject(Some(400), "white space inside")),
    ("baddn", Reject(Some(400), "invalid From header")),
    ("badvers", Reject(Some(505), "unsupported protocol version")),
    (
        "mismatch01",
        Reject(Some(400), "INVITE does not match request method OPTIONS"),
    ),
    (
        "mismatch02",
        Reject(Some(400), "match request method NEWMETHOD"),
    ),
    ("bigcode", Reject(None, "status code")),
    // §3.2 transaction layer.
    ("badbranch", Valid(check_badbranch)),
    // §3.3 application layer: parse here, the UAS answers.
    ("insuf", Reject(Some(400), "is missing")),
    ("unkscm", Valid(check_unkscm)),
    ("novelsc", Valid(check_novelsc)),
    ("unksm2", Valid(check_unksm2)),
    ("bext01", Valid(check_bext01)),
    ("invut", Valid(check_invut)),
    ("regaut01", Valid(no_check)),
    ("multi01", Reject(Some(400), "must have one value")),
    (
        "mcl01",
        Reject(Some(400), "Content-Length must have one value"),
    ),
    ("bcast", Valid(check_bcast)),
    ("zeromf", Valid(check_zeromf)),
    ("cparam01", Valid(check_cparam01)),
    ("cparam02", Valid(check_cparam02)),
    ("regescrt", Valid(check_regescrt)),
    ("sdp01", Valid(no_check)),
    // §3.4 backward compatibility.
    ("inv2543", Valid(check_inv2543)),
];

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/sip-torture/rfc4475")
}

fn read_dir(dir: &Path, ext: &str) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .map(|p| {
            let name = p.file_stem().expect("stem").to_string_lossy().into_owned();
            (name, std::fs::read(&p).expect("read fixture"))
        })
        .collect();
    out.sort();
    out
}

/// parse(to_bytes(m)) == m, as a datagram and as a stream frame.
fn assert_round_trips(name: &str, m: &Message) {
    let bytes = m.to_bytes();
    let limits = Limits::default();
    let again = parse_datagram(&bytes, &limits)
        .unwrap_or_else(|e| panic!("{name}: re-parse of serialized message failed: {e}"));
    assert_eq!(
        normalized(&again),
        normalized(m),
        "{name}: datagram round trip"
    );
    match parse_stream(&bytes, &limits) {
        Ok(Frame::Message { message, consumed }) => {
            assert_eq!(consumed, bytes.len(), "{name}: stream consumed");
            assert_eq!(
                normalized(&message),
                normalized(m),
                "{name}: stream round trip"
            );
        }
        other => panic!("{name}: stream framing gave {other:?}"),
    }
}

/// The same bytes on a stream frame to the same first message; without Content-Length a
/// stream cannot be framed at all (§18.3).
fn assert_same_on_a_stream(name: &str, bytes: &[u8], m: &Message) {
    let limits = Limits::default();
    match parse_stream(bytes, &limits) {
        Ok(Frame::Message { message, .. }) => assert_eq!(&message, m, "{name}: stream framing"),
        Err(e) if !m.headers().contains(&HeaderName::ContentLength) => {
            assert_eq!(e.kind, ParseErrorKind::MissingContentLength, "{name}")
        }
        other => panic!("{name}: stream framing gave {other:?}"),
    }
}

#[test]
fn rfc4475_torture_messages() {
    let dir = corpus_dir();
    if !dir.is_dir() {
        println!(
            "SKIPPED: RFC 4475 corpus not found at {}; the torture test did not run",
            dir.display()
        );
        return;
    }
    let files = read_dir(&dir, "dat");
    let known: BTreeSet<&str> = TABLE.iter().map(|(n, _)| *n).collect();
    let present: BTreeSet<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    let unknown: Vec<_> = present.difference(&known).collect();
    let missing: Vec<_> = known.difference(&present).collect();
    assert!(
        unknown.is_empty(),
        "corpus files with no expectation: {unknown:?}"
    );
    assert!(
        missing.is_empty(),
        "expected corpus files not found: {missing:?}"
    );
    assert_eq!(files.len(), 49);

    let limits = Limits::default();
    for (name, bytes) in &files {
        let expect = TABLE.iter().find(|(n, _)| n == name).map(|(_, e)| *e);
        match (
            expect.expect("checked above"),
            parse_datagram(bytes, &limits),
        ) {
            (Valid(check), Ok(m)) => {
                check(&m);
                assert_round_trips(name, &m);
                assert_same_on_a_stream(name, bytes, &m);
            }
            (Valid(_), Err(e)) => panic!("{name}: valid message rejected: {e}"),
            (Reject(status, _), Ok(m)) => {
                panic!("{name}: invalid message accepted (want {status:?}): {m:?}")
            }
            (Reject(status, reason), Err(e)) => {
                assert_eq!(e.status(), status, "{name}: wrong status for error `{e}`");
                let text = e.to_string();
                assert!(
                    text.contains(reason),
                    "{name}: rejected for `{text}`, not `{reason}`"
                );
                if status.is_some() {
                    // §8.2.6: the UAS needs these to build its response.
                    let p = e
                        .partial_headers()
                        .unwrap_or_else(|| panic!("{name}: no partial"));
                    assert!(
                        p.top_via().is_some() || p.contains(&HeaderName::Via),
                        "{name}"
                    );
                    assert!(p.contains(&HeaderName::CSeq), "{name}: partial lacks CSeq");
                }
            }
        }
    }
}

fn req(m: &Message) -> &holdline::sip::message::Request {
    match m {
        Message::Request(r) => r,
        Message::Response(r) => panic!("expected a request, got {r:?}"),
    }
}

fn resp(m: &Message) -> &holdline::sip::message::Response {
    match m {
        Message::Response(r) => r,
        Message::Request(r) => panic!("expected a response, got {r:?}"),
    }
}

fn check_wsinv(m: &Message) {
    let r = req(m);
    assert_eq!(r.method, Method::Invite);
    assert_eq!(
        r.uri.to_string(),
        "sip:vivekg@chair-dnrc.example.com;unknownparam"
    );
    let h = &r.headers;
    assert_eq!(h.call_id(), Some("wsinv.ndaksdj@192.0.2.1"));
    let vias = h.vias();
    assert_eq!(vias.len(), 3);
    assert_eq!(vias[0].transport, "UDP");
    assert_eq!(vias[0].branch(), Some("390skdjuw"));
    assert_eq!(vias[1].transport, "TCP");
    assert_eq!(vias[1].sent_by(), "spindle.example.com");
    assert_eq!(vias[2].branch(), Some("z9hG4bK30239"));
    assert_eq!(h.to().unwrap().tag(), Some("1918181833n"));
    let from = h.from().unwrap();
    assert_eq!(from.tag(), Some("98asjd8"));
    assert_eq!(from.display.as_deref(), Some(r#""J Rosenberg \\\"""#));
    assert_eq!(h.max_forwards(), Some(68));
    let cseq = h.cseq().unwrap();
    assert_eq!((cseq.seq, cseq.method), (9, Method::Invite));
    assert_eq!(h.get(&HeaderName::Subject), Some(""));
    assert_eq!(
        h.get(&HeaderName::from_wire("NewFangledHeader")),
        Some("newfangled value continued newfangled value")
    );
    assert_eq!(
        h.get(&HeaderName::from_wire("UnknownHeaderWithUnusualValue")),
        Some(";;,,;;,;")
    );
    let contact = &h.contacts()[0];
    assert_eq!(contact.params.value("newparam"), Some("newvalue"));
    assert_eq!(contact.params.value("q"), Some("0.33"));
    assert!(contact.params.contains("secondparam"));
    assert_eq!(r.body.len(), 150);
}

fn check_intmeth(m: &Message) {
    let r = req(m);
    assert_eq!(
        r.method,
        Method::Extension("!interesting-Method0123456789_*+`.%indeed'~".into())
    );
    let sip = r.uri.as_sip().unwrap();
    assert_eq!(
        sip.user.as_deref(),
        Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
    );
    assert_eq!(
        r.headers.call_id(),
        Some("intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{")
    );
    assert_eq!(r.headers.from().unwrap().tag(), Some("_token~1'+`*%!-."));
    assert_eq!(
        r.headers.from().unwrap().display.as_deref(),
        Some("token1~` token2'+_ token3*%!.-")
    );
    assert_eq!(
        r.headers
            .get(&HeaderName::from_wire("extensionHeader-!.%*+_`'~")),
        Some("\u{FEFF}\u{5927}\u{505C}\u{96FB}")
    );
}

fn check_esc01(m: &Message) {
    let r = req(m);
    assert_eq!(r.method, Method::Invite);
    let user = r.uri.as_sip().unwrap().user.as_deref().unwrap();
    assert_eq!(unescape(user), "sips:user@example.com");
    let to = r.headers.to().unwrap();
    assert_eq!(
        unescape(to.uri.as_sip().unwrap().user.as_deref().unwrap()),
        "user"
    );
    assert_eq!(r.headers.content_type(), Some("application/sdp"));
    assert_eq!(r.body.len(), 150);
}

fn check_escnull(m: &Message) {
    let r = req(m);
    assert_eq!(r.method, Method::Register);
    let contacts = r.headers.contacts();
    assert_eq!(contacts.len(), 2);
    assert_eq!(
        unescape(contacts[1].uri.as_sip().unwrap().user.as_deref().unwrap()),
        "\0\0"
    );
    assert!(r.body.is_empty());
}

fn check_esc02(m: &Message) {
    let r = req(m);
    assert_eq!(r.method, Method::Extension("RE%47IST%45R".into()));
    assert_eq!(r.headers.cseq().unwrap().method, r.method);
    // `C%6Fntact` is an unknown header, not Contact.
    assert_eq!(r.headers.contacts().len(), 2);
    assert!(r.headers.contains(&HeaderName::from_wire("C%6Fntact")));
}

fn check_lwsdisp(m: &Message) {
    let r = req(m);
    assert_eq!(r.method, Method::Options);
    assert_eq!(r.headers.from().unwrap().display.as_deref(), Some("caller"));
}

fn check_longreq(m: &Message) {
    let r = req(m);
    let vias = r.headers.vias();
    assert_eq!(vias.len(), 34);
    assert_eq!(vias[0].sent_by(), "sip33.example.com");
    assert_eq!(vias[33].received(), Some("192.0.2.5"));
    let to = r.headers.to().unwrap();
    assert!(to.display.unwrap().contains("extremeextreme"));
    assert_eq!(to.uri.as_sip().unwrap().port, Some(6000));
    assert!(r.headers.call_id().unwrap().len() > 100);
    assert_eq!(r.body.len(), 150);
}

fn check_dblreq(m: &Message) {
    let r = req(m);
    assert_eq!(r.method, Method::Register);
    assert!(r.body.is_empty(), "trailing INVITE must be discarded");
}

/// On a stream, dblreq's bytes are two requests (with a CRLF keep-alive between them). The
/// INVITE's body is 2 octets longer than its Content-Length, so what follows it ("C" CRLF CRLF)
/// is garbage that must be dropped, not answered.
#[test]
fn dblreq_on_a_stream_is_two_requests() {
    let path = corpus_dir().join("dblreq.dat");
    let Ok(bytes) = std::fs::read(&path) else {
        println!("SKIPPED: {} not found", path.display());
        return;
    };
    let limits = Limits::default();
    let mut buf = &bytes[..];
    let mut methods = Vec::new();
    let error = loop {
        match parse_stream(buf, &limits) {
            Ok(Frame::Message { message, consumed }) => {
                methods.push(req(&message).method.clone());
                buf = &buf[consumed..];
            }
            Ok(Frame::KeepAlive { consumed }) => buf = &buf[consumed..],
            Ok(Frame::Incomplete) => panic!("left over: {buf:?}"),
            Err(e) => break e,
        }
    };
    assert_eq!(methods, [Method::Register, Method::Invite]);
    assert_eq!(buf, b"C\r\n\r\n");
    assert_eq!(error.status(), None);
}

fn check_semiuri(m: &Message) {
    let r = req(m);
    let sip = r.uri.as_sip().unwrap();
    assert_eq!(sip.user.as_deref(), Some("user;par=u%40example.net"));
    assert_eq!(sip.host, Host::Name("example.com".into()));
    assert!(sip.params.is_empty());
    assert_eq!(r.headers.list(&HeaderName::Accept).count(), 6);
}

fn check_transports(m: &Message) {
    let t: Vec<String> = req(m)
        .headers
        .vias()
        .into_iter()
        .map(|v| v.transport)
        .collect();
    assert_eq!(t, ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]);
}

fn check_mpart01(m: &Message) {
    let r = req(m);
    assert_eq!(r.method, Method::Message);
    assert_eq!(r.body.len(), 553);
    assert!(r
        .headers
        .content_type()
        .unwrap()
        .starts_with("multipart/mixed"));
}

fn check_unreason(m: &Message) {
    let r = resp(m);
    assert_eq!(r.status, 200);
    assert!(r.reason.starts_with("= 2**3 * 5**2 "));
    assert_eq!(r.body.len(), 154);
}

fn check_noreason(m: &Message) {
    let r = resp(m);
    assert_eq!((r.status, r.reason.as_str()), (100, ""));
}

fn check_badbranch(m: &Message) {
    let via = req(m).headers.top_via().unwrap();
    assert_eq!(via.branch(), Some("z9hG4bK"));
}

fn check_unkscm(m: &Message) {
    match &req(m).uri {
        Uri::Other { scheme, rest } => {
            assert_eq!(scheme, "nobodyKnowsThisScheme");
            assert_eq!(rest, "totallyopaquecontent");
        }
        other => panic!("{other:?}"),
    }
}

fn check_novelsc(m: &Message) {
    assert!(matches!(&req(m).uri, Uri::Other { scheme, .. } if scheme == "soap.beep"));
}

fn check_unksm2(m: &Message) {
    let h = &req(m).headers;
    assert!(matches!(h.to().unwrap().uri, Uri::Other { ref scheme, .. } if scheme == "isbn"));
    assert!(matches!(h.from().unwrap().uri, Uri::Other { ref scheme, .. } if scheme == "http"));
    assert_eq!(h.contacts().len(), 1);
}

fn check_bext01(m: &Message) {
    let h = &req(m).headers;
    assert_eq!(h.list(&HeaderName::Require).count(), 2);
    assert_eq!(h.list(&HeaderName::ProxyRequire).count(), 2);
}

fn check_invut(m: &Message) {
    let r = req(m);
    assert_eq!(r.headers.content_type(), Some("application/unknownformat"));
    assert_eq!(r.body.len(), 40);
}

fn check_bcast(m: &Message) {
    let r = resp(m);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.headers.vias()[1].host,
        Host::V4("255.255.255.255".parse().unwrap())
    );
}

fn check_zeromf(m: &Message) {
    assert_eq!(req(m).headers.max_forwards(), Some(0));
}

fn check_cparam01(m: &Message) {
    // addr-spec form: `;unknownparam` is a Contact header parameter (§20.10).
    let c = &req(m).headers.contacts()[0];
    assert!(c.params.contains("unknownparam"));
    assert!(c.uri.as_sip().unwrap().params.is_empty());
}

fn check_cparam02(m: &Message) {
    // name-addr form: `;unknownparam` belongs to the URI.
    let c = &req(m).headers.contacts()[0];
    assert!(c.params.is_empty());
    assert!(c.uri.as_sip().unwrap().params.contains("unknownparam"));
}

fn check_regescrt(m: &Message) {
    let c = &req(m).headers.contacts()[0];
    assert_eq!(
        c.uri.as_sip().unwrap().headers.as_deref(),
        Some("Route=%3Csip:sip.example.com%3E")
    );
}

fn check_inv2543(m: &Message) {
    let r = req(m);
    assert_eq!(r.headers.max_forwards(), None);
    assert_eq!(r.headers.top_via().unwrap().branch(), None);
    // No Content-Length on UDP: the rest of the datagram is the body.
    assert!(r.body.starts_with(b"v=0\r\n"));
}

/// Our own crafted messages: `<name>.sip` is one datagram (or stream buffer for `tcp-*`).
#[test]
fn crafted_fixture_messages() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("sip-fixtures/messages");
    let files = read_dir(&dir, "sip");
    let names: BTreeSet<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    let expected: BTreeSet<&str> = [
        "compact-invite",
        "folded-invite",
        "ipv6-register",
        "tel-ruri-invite",
        "tcp-two-messages",
        "tcp-keepalive-then-bye",
        "response-180-ipv6",
    ]
    .into();
    assert_eq!(names, expected, "fixture set changed: update this test");
    let limits = Limits::default();
    for (name, bytes) in &files {
        let messages = if name.starts_with("tcp-") {
            stream_all(bytes, &limits)
        } else {
            vec![parse_datagram(bytes, &limits).unwrap_or_else(|e| panic!("{name}: {e}"))]
        };
        for m in &messages {
            assert_round_trips(name, m);
        }
        check_fixture(name, &messages);
    }
}

/// Frames every message in a stream buffer, skipping keep-alives.
fn stream_all(mut buf: &[u8], limits: &Limits) -> Vec<Message> {
    let mut out = Vec::new();
    loop {
        match parse_stream(buf, limits).expect("stream parse") {
            Frame::Message { message, consumed } => {
                out.push(message);
                buf = &buf[consumed..];
            }
            Frame::KeepAlive { consumed } => buf = &buf[consumed..],
            Frame::Incomplete => {
                assert!(
                    buf.is_empty(),
                    "left over: {:?}",
                    String::from_utf8_lossy(buf)
                );
                return out;
            }
        }
    }
}

fn check_fixture(name: &str, ms: &[Message]) {
    match name {
        "compact-invite" => {
            let h = &req(&ms[0]).headers;
            assert_eq!(h.call_id(), Some("compact-1@192.0.2.10"));
            assert_eq!(h.contacts().len(), 1);
            assert_eq!(h.content_type(), Some("application/sdp"));
            assert_eq!(h.from().unwrap().tag(), Some("c0mp"));
            assert_eq!(h.list(&HeaderName::Supported).count(), 2);
            assert_eq!(h.get(&HeaderName::Subject), Some("compact forms"));
            assert!(req(&ms[0]).body.starts_with(b"v=0"));
        }
        "folded-invite" => {
            let h = &req(&ms[0]).headers;
            assert_eq!(
                h.get(&HeaderName::Subject),
                Some("a subject folded over three lines")
            );
            assert_eq!(h.vias().len(), 2);
            assert_eq!(h.cseq().unwrap().seq, 314159);
            assert_eq!(h.to().unwrap().display.as_deref(), Some("\"Queue, Sales\""));
        }
        "ipv6-register" => {
            let r = req(&ms[0]);
            let v6 = |s: &str| Host::V6(s.parse().unwrap());
            assert_eq!(r.headers.top_via().unwrap().host, v6("2001:db8::10"));
            assert_eq!(r.headers.top_via().unwrap().port, Some(5070));
            let c = &r.headers.contacts()[0];
            assert_eq!(c.uri.as_sip().unwrap().host, v6("2001:db8::10"));
            assert_eq!(c.params.value("expires"), Some("3600"));
            assert_eq!(r.uri.as_sip().unwrap().host, v6("2001:db8::1"));
        }
        "tel-ruri-invite" => match &req(&ms[0]).uri {
            Uri::Tel(t) => {
                assert_eq!(t.number, "+1-425-555-0100");
                assert!(t.params.contains("phone-context") || t.params.is_empty());
            }
            other => panic!("{other:?}"),
        },
        "tcp-two-messages" => {
            assert_eq!(ms.len(), 2);
            assert_eq!(req(&ms[0]).method, Method::Invite);
            assert_eq!(req(&ms[0]).body.len(), 129);
            assert_eq!(req(&ms[1]).method, Method::Cancel);
        }
        "tcp-keepalive-then-bye" => {
            assert_eq!(ms.len(), 1);
            assert_eq!(req(&ms[0]).method, Method::Bye);
        }
        "response-180-ipv6" => {
            let r = resp(&ms[0]);
            assert_eq!((r.status, r.reason.as_str()), (180, "Ringing"));
            assert_eq!(r.headers.to().unwrap().tag(), Some("agent-7"));
        }
        other => panic!("no check for fixture {other}"),
    }
}
