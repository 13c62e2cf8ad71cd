//! Property tests: the SDP parser never panics, on arbitrary text or on mutations of real
//! samples; whatever it accepts writes back to text that parses to the same value; and answering
//! or processing whatever it accepts never panics either.

use proptest::prelude::*;

use crate::sip_sdp_samples::ALL;
use holdline::sip::sdp::{
    answer, offer, process_answer, Direction, LocalMedia, LocalSession, SessionDescription,
};

/// One edit to a byte string; positions are taken modulo the length when applied.
#[derive(Clone, Debug)]
enum Mutation {
    Delete { at: usize, len: usize },
    Insert { at: usize, bytes: Vec<u8> },
    Overwrite { at: usize, byte: u8 },
    DuplicateLine { line: usize },
    SwapLines { a: usize, b: usize },
    Truncate { at: usize },
}

/// Bytes likely to matter to an SDP parser, plus anything at all.
fn interesting_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        Just(b'\r'),
        Just(b'\n'),
        Just(b'='),
        Just(b':'),
        Just(b'/'),
        Just(b' '),
        Just(b'0'),
        Just(b'9'),
        Just(b'm'),
        Just(b'a'),
        Just(b'c'),
        any::<u8>(),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1..20usize).prop_map(|(at, len)| Mutation::Delete { at, len }),
        (
            any::<usize>(),
            prop::collection::vec(interesting_byte(), 1..12)
        )
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        (any::<usize>(), interesting_byte())
            .prop_map(|(at, byte)| Mutation::Overwrite { at, byte }),
        any::<usize>().prop_map(|line| Mutation::DuplicateLine { line }),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines { a, b }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
    ]
}

fn apply(text: &mut Vec<u8>, m: &Mutation) {
    let n = text.len().max(1);
    match m {
        Mutation::Delete { at, len } => {
            let start = at % n;
            let end = (start + len).min(text.len());
            if start < end {
                text.drain(start..end);
            }
        }
        Mutation::Insert { at, bytes } => {
            let at = at % (text.len() + 1);
            text.splice(at..at, bytes.iter().copied());
        }
        Mutation::Overwrite { at, byte } => {
            if let Some(b) = text.get_mut(at % n) {
                *b = *byte;
            }
        }
        Mutation::DuplicateLine { line } | Mutation::SwapLines { a: line, .. } => {
            let mut lines: Vec<Vec<u8>> = text.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
            let i = line % lines.len();
            match m {
                Mutation::SwapLines { b, .. } => {
                    let j = b % lines.len();
                    lines.swap(i, j);
                }
                _ => {
                    let copy = lines[i].clone();
                    lines.insert(i, copy);
                }
            }
            *text = lines.join(&b'\n');
        }
        Mutation::Truncate { at } => text.truncate(at % n),
    }
}

fn local() -> LocalMedia {
    LocalMedia::new("192.0.2.200".parse().unwrap(), 40000, 5)
}

/// Everything downstream of a successful parse must hold up too.
fn check_accepted(sdp: &SessionDescription) {
    let again: SessionDescription = sdp.to_string().parse().expect("written SDP re-parses");
    assert_eq!(&again, sdp, "round trip changed the value:\n{sdp}");
    if let Ok((ans, neg)) = answer(sdp, &local(), None) {
        assert_eq!(ans.media.len(), sdp.media.len());
        let reparsed: SessionDescription = ans.to_string().parse().expect("our answer parses");
        assert_eq!(reparsed, ans);
        assert!(!neg.we_send() || neg.remote.is_some());
    }
    let _ = process_answer(&offer(&local(), Direction::SendRecv), sdp);
    let mut session = LocalSession::new(local());
    let _ = session.answer(sdp);
    let _ = session.answer(sdp);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parser_never_panics_on_arbitrary_strings(text in "\\PC*") {
        if let Ok(sdp) = text.parse::<SessionDescription>() {
            check_accepted(&sdp);
        }
    }

    #[test]
    fn parser_never_panics_on_sdp_shaped_lines(
        lines in prop::collection::vec("[vosctmab]=[ -~]{0,40}", 0..20)
    ) {
        let text = format!("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n{}", lines.join("\r\n"));
        if let Ok(sdp) = text.parse::<SessionDescription>() {
            check_accepted(&sdp);
        }
    }

    #[test]
    fn parser_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(sdp) = SessionDescription::parse(&bytes) {
            check_accepted(&sdp);
        }
    }

    #[test]
    fn parser_never_panics_on_mutated_samples(
        sample in 0..ALL.len(),
        mutations in prop::collection::vec(mutation(), 1..8),
    ) {
        let mut text = ALL[sample].as_bytes().to_vec();
        for m in &mutations {
            apply(&mut text, m);
        }
        if let Ok(sdp) = SessionDescription::parse(&text) {
            check_accepted(&sdp);
        }
    }
}
