//! Property tests for the SIP parser: no input panics or loops (arbitrary bytes, mutated torture
//! and fixture messages, on both datagram and stream paths); whatever parses re-serializes and
//! re-parses to the same message; generated valid messages round-trip; and stream framing gives
//! the same messages whatever the split of the byte stream into reads.

use std::path::Path;
use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::sample::Index;

use holdline::sip::header::HeaderName;
use holdline::sip::message::{Message, Request, Response};
use holdline::sip::method::Method;
use holdline::sip::parse::{parse_datagram, parse_stream, Frame, Limits};
use holdline::sip::typed::quote_display;
use holdline::sip::uri::{Host, Params, Scheme, SipUri, Uri};
use holdline_testkit::sip::normalized;

/// Torture messages (when the corpus is present) and our fixtures, read once.
fn corpus() -> &'static [Vec<u8>] {
    static CORPUS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    CORPUS.get_or_init(read_corpus)
}

fn read_corpus() -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for (dir, ext) in [
        (root.join("../shared/sip-torture/rfc4475"), "dat"),
        (root.join("sip-fixtures/messages"), "sip"),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            println!(
                "corpus folder {} missing: mutations use the rest",
                dir.display()
            );
            continue;
        };
        let mut paths: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == ext))
            .collect();
        paths.sort();
        out.extend(paths.iter().filter_map(|p| std::fs::read(p).ok()));
    }
    assert!(!out.is_empty(), "no fixtures at all");
    out
}

/// Whatever the parser accepts must survive serialization unchanged.
fn assert_reparses(m: &Message) {
    let bytes = m.to_bytes();
    let again = parse_datagram(&bytes, &Limits::default()).unwrap_or_else(|e| {
        panic!(
            "accepted message does not re-parse: {e}\n{}",
            String::from_utf8_lossy(&bytes)
        )
    });
    assert_eq!(normalized(&again), normalized(m));
}

/// Runs stream framing over `buf` to the end; every step must make progress.
fn drain_stream(mut buf: &[u8], limits: &Limits) -> Vec<Message> {
    let mut out = Vec::new();
    loop {
        match parse_stream(buf, limits) {
            Ok(Frame::Message { message, consumed }) => {
                assert!(consumed > 0 && consumed <= buf.len());
                out.push(message);
                buf = &buf[consumed..];
            }
            Ok(Frame::KeepAlive { consumed }) => {
                assert!(consumed > 0 && consumed <= buf.len());
                buf = &buf[consumed..];
            }
            Ok(Frame::Incomplete) | Err(_) => return out,
        }
    }
}

/// What a connection reader does: append each read to a buffer, frame what is complete.
fn read_in_chunks(data: &[u8], cuts: &[usize], limits: &Limits) -> Result<Vec<Message>, String> {
    let mut buf: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    let mut last = 0;
    for &cut in cuts.iter().chain(std::iter::once(&data.len())) {
        buf.extend_from_slice(&data[last..cut]);
        last = cut;
        loop {
            match parse_stream(&buf, limits).map_err(|e| e.to_string())? {
                Frame::Message { message, consumed } => {
                    out.push(message);
                    buf.drain(..consumed);
                }
                Frame::KeepAlive { consumed } => {
                    buf.drain(..consumed);
                }
                Frame::Incomplete => break,
            }
        }
    }
    Ok(out)
}

#[derive(Clone, Debug)]
enum Mutation {
    Flip(Index, u8),
    Truncate(Index),
    Insert(Index, Vec<u8>),
    Delete(Index, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    // Bytes that matter to the grammar are over-represented.
    let byte = prop_oneof![
        any::<u8>(),
        prop::sample::select(b"\r\n \t:;,<>\"\\@=%?/[]0123456789".to_vec()),
    ];
    prop_oneof![
        (any::<Index>(), byte.clone()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        any::<Index>().prop_map(Mutation::Truncate),
        (any::<Index>(), prop::collection::vec(byte, 1..8))
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
        (any::<Index>(), 1usize..16).prop_map(|(i, n)| Mutation::Delete(i, n)),
    ]
}

fn apply(mut data: Vec<u8>, muts: &[Mutation]) -> Vec<u8> {
    for m in muts {
        let len = data.len().max(1);
        match m {
            Mutation::Flip(i, b) if !data.is_empty() => {
                let at = i.index(len);
                data[at] = *b;
            }
            Mutation::Truncate(i) => data.truncate(i.index(len)),
            Mutation::Insert(i, bytes) => {
                let at = i.index(len + 1).min(data.len());
                data.splice(at..at, bytes.iter().copied());
            }
            Mutation::Delete(i, n) if !data.is_empty() => {
                let at = i.index(len);
                let end = (at + n).min(data.len());
                data.drain(at..end);
            }
            _ => {}
        }
    }
    data
}

fn small_limits() -> Limits {
    Limits {
        max_message_bytes: 512,
        max_headers: 8,
        max_line_bytes: 128,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..2048)) {
        for limits in [Limits::default(), small_limits()] {
            if let Ok(m) = parse_datagram(&data, &limits) {
                assert_reparses(&m);
            }
            drain_stream(&data, &limits);
        }
    }

    #[test]
    fn sip_shaped_noise_never_panics(
        lines in prop::collection::vec(
            "[A-Za-z!%*+`'~.-]{0,6}[ \t]{0,2}:?[ \t]{0,2}[ -~]{0,40}", 0..12)
    ) {
        let text = format!("INVITE sip:a@b SIP/2.0\r\n{}\r\n\r\n", lines.join("\r\n"));
        if let Ok(m) = parse_datagram(text.as_bytes(), &Limits::default()) {
            assert_reparses(&m);
        }
        drain_stream(text.as_bytes(), &Limits::default());
    }

    #[test]
    fn mutated_corpus_never_panics_and_accepted_output_reparses(
        pick in any::<Index>(),
        muts in prop::collection::vec(mutation(), 1..6),
    ) {
        let corpus = corpus();
        let data = apply(corpus[pick.index(corpus.len())].clone(), &muts);
        for limits in [Limits::default(), small_limits()] {
            if let Ok(m) = parse_datagram(&data, &limits) {
                assert_reparses(&m);
            }
            drain_stream(&data, &limits);
        }
    }

    #[test]
    fn generated_messages_round_trip(m in message()) {
        let bytes = m.to_bytes();
        let parsed = parse_datagram(&bytes, &Limits::default())
            .unwrap_or_else(|e| panic!("{e}\n{}", String::from_utf8_lossy(&bytes)));
        prop_assert_eq!(normalized(&parsed), normalized(&m));
        let Ok(Frame::Message { message, consumed }) = parse_stream(&bytes, &Limits::default()) else {
            panic!("stream framing failed");
        };
        prop_assert_eq!(consumed, bytes.len());
        prop_assert_eq!(normalized(&message), normalized(&m));
    }

    #[test]
    fn stream_reads_split_anywhere_give_the_same_messages(
        cuts in prop::collection::vec(any::<Index>(), 1..6),
    ) {
        let data = stream_fixture();
        let whole = read_in_chunks(&data, &[], &Limits::default()).expect("whole buffer");
        let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(data.len() + 1)).collect();
        cuts.sort_unstable();
        prop_assert_eq!(read_in_chunks(&data, &cuts, &Limits::default()).expect("split"), whole);
    }
}

/// Several messages and keep-alives back to back, as a TCP peer could send them.
fn stream_fixture() -> Vec<u8> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("sip-fixtures/messages");
    let mut data = Vec::new();
    for name in [
        "tcp-two-messages",
        "tcp-keepalive-then-bye",
        "compact-invite",
    ] {
        let bytes = std::fs::read(root.join(format!("{name}.sip"))).expect("fixture");
        data.extend_from_slice(&bytes);
    }
    data
}

#[test]
fn every_single_split_point_gives_the_same_messages() {
    let data = stream_fixture();
    let limits = Limits::default();
    let whole = read_in_chunks(&data, &[], &limits).expect("whole buffer");
    assert_eq!(whole.len(), 4);
    for cut in 0..=data.len() {
        let split = read_in_chunks(&data, &[cut], &limits).expect("split buffer");
        assert_eq!(split, whole, "split at {cut}");
    }
    // And byte by byte.
    let cuts: Vec<usize> = (1..data.len()).collect();
    assert_eq!(read_in_chunks(&data, &cuts, &limits).unwrap(), whole);
}

// ---- generators of valid messages ----

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9!%*_+`'~.-]{1,12}"
}

fn host() -> impl Strategy<Value = Host> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,10}(\\.[a-z][a-z0-9-]{0,10}){0,3}".prop_map(Host::Name),
        any::<[u8; 4]>().prop_map(|o| Host::V4(o.into())),
        any::<[u16; 8]>().prop_map(|s| Host::V6(s.into())),
    ]
}

fn uri_params() -> impl Strategy<Value = Params> {
    prop::collection::vec(
        (
            "[a-z][a-z0-9-]{0,8}",
            prop::option::of("[A-Za-z0-9.-]{1,8}"),
        ),
        0..3,
    )
    .prop_map(Params)
}

fn sip_uri() -> impl Strategy<Value = Uri> {
    (
        any::<bool>(),
        prop::option::of("[A-Za-z0-9+._-]{1,12}(%[0-9A-F]{2})?"),
        host(),
        prop::option::of(1u16..),
        uri_params(),
    )
        .prop_map(|(sips, user, host, port, params)| {
            Uri::Sip(SipUri {
                scheme: if sips { Scheme::Sips } else { Scheme::Sip },
                user,
                password: None,
                host,
                port,
                params,
                headers: None,
            })
        })
}

fn header_params() -> impl Strategy<Value = Params> {
    prop::collection::vec(
        (
            token(),
            prop::option::of(prop_oneof![
                token(),
                "[ -!#-\\[\\]-~]{0,10}".prop_map(|s| format!("\"{s}\"")),
            ]),
        ),
        0..3,
    )
    .prop_map(Params)
}

fn name_addr_text(tag: bool) -> impl Strategy<Value = String> {
    (
        prop::option::of(prop_oneof![
            "[ -~]{0,16}".prop_map(|s| quote_display(&s)),
            "[A-Za-z0-9]{1,8}( [A-Za-z0-9]{1,8}){0,2}",
        ]),
        sip_uri(),
        header_params(),
        token(),
    )
        .prop_map(move |(display, uri, params, t)| {
            let mut s = match display {
                Some(d) => format!("{d} <{uri}>"),
                None => format!("<{uri}>"),
            };
            let mut params = params;
            params.remove("tag");
            if tag {
                params.set("tag", Some(&t));
            }
            s.push_str(&params.to_string());
            s
        })
}

fn via_text() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["UDP", "TCP", "TLS", "SCTP", "WS"]),
        host(),
        prop::option::of(1u16..),
        token(),
        any::<bool>(),
    )
        .prop_map(|(t, host, port, branch, rport)| {
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            let rport = if rport { ";rport" } else { "" };
            format!("SIP/2.0/{t} {host}{port};branch=z9hG4bK{branch}{rport}")
        })
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        prop::sample::select(vec![
            Method::Invite,
            Method::Ack,
            Method::Bye,
            Method::Cancel,
            Method::Options,
            Method::Register,
            Method::Refer,
        ]),
        token().prop_map(|t| Method::from_token(&t)),
    ]
}

/// Free-form header value: printable UTF-8 without leading/trailing white space.
fn ext_value() -> impl Strategy<Value = String> {
    "[!-~\u{a0}-\u{2fff}]([ -~\u{a0}-\u{2fff}]{0,30}[!-~\u{a0}-\u{2fff}])?"
}

fn message() -> impl Strategy<Value = Message> {
    (
        method(),
        sip_uri(),
        prop::collection::vec(via_text(), 1..4),
        name_addr_text(true),
        name_addr_text(false),
        "[A-Za-z0-9.!%*_+`'~()<>:\\\\\"/\\[\\]?{}-]{1,20}(@[a-z0-9.]{1,12})?",
        0u32..(1 << 31),
        prop::collection::vec(("X-[A-Za-z0-9-]{1,10}", ext_value()), 0..4),
        prop::collection::vec(any::<u8>(), 0..64),
        prop::option::of((100u16..700, "[ -~]{0,20}")),
    )
        .prop_map(
            |(method, uri, vias, from, to, call_id, seq, ext, body, response)| {
                let mut req = Request::new(method.clone(), uri);
                let h = &mut req.headers;
                for v in vias {
                    h.push(HeaderName::Via, v);
                }
                h.push(HeaderName::From, from);
                h.push(HeaderName::To, to);
                h.push(HeaderName::CallId, call_id);
                h.push(HeaderName::CSeq, format!("{seq} {method}"));
                h.push(HeaderName::MaxForwards, "70");
                for (n, v) in ext {
                    h.push(HeaderName::from_wire(&n), v);
                }
                req.body = body;
                match response {
                    None => Message::Request(req),
                    Some((status, reason)) => {
                        let mut r = Response::new(status, reason);
                        r.headers = req.headers;
                        r.body = req.body;
                        Message::Response(r)
                    }
                }
            },
        )
}

/// A digest challenge built from arbitrary parameter values, some quoted, in any order.
fn challenge_text() -> impl Strategy<Value = String> {
    let names = prop::sample::select(vec![
        "realm",
        "nonce",
        "opaque",
        "algorithm",
        "qop",
        "stale",
        "userhash",
        "domain",
        "x",
    ]);
    let value = prop_oneof![
        "[ -~]{0,12}".prop_map(|v| format!("\"{}\"", v.replace(['"', '\\'], ""))),
        "[A-Za-z0-9-]{0,10}",
        prop::sample::select(vec!["MD5", "SHA-256-sess", "\"auth,auth-int\"", "true"])
            .prop_map(str::to_owned),
    ];
    (
        prop::sample::select(vec!["Digest", "digest", "Basic", ""]),
        prop::collection::vec((names, value), 0..8),
    )
        .prop_map(|(scheme, params)| {
            let params: Vec<String> = params
                .into_iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect();
            format!("{scheme} {}", params.join(", "))
        })
}

proptest! {
    /// A trunk's challenge is hostile input: whatever it says, parsing and answering it never
    /// panics, and an answer carries the challenge's realm and nonce back.
    #[test]
    fn digest_challenges_never_panic(text in prop_oneof![challenge_text(), "\\PC{0,80}"]) {
        use holdline::sip::digest::{authorization, Challenge, Request as Authorised};
        if let Ok(ch) = Challenge::parse(&text) {
            let req = Authorised { method: "INVITE", uri: "sip:+1@example.com", body: b"v=0" };
            if let Ok(v) = authorization(&ch, "user", "pass", req, "cn") {
                prop_assert!(v.starts_with("Digest username="));
                let quote = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
                prop_assert!(v.contains(&format!("realm=\"{}\"", quote(&ch.realm))), "{}", v);
                prop_assert!(v.contains(&format!("nonce=\"{}\"", quote(&ch.nonce))), "{}", v);
            }
        }
    }
}
