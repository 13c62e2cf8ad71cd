//! RFC 4475 torture messages against the whole UAS (parser, transaction layer, §8.2 checks,
//! dialogs, routing): each message gets the response the RFC expects of a UAS, or none where
//! the RFC says to drop it, and the server keeps answering afterwards.
//!
//! The corpus is reference data in `../shared/sip-torture/rfc4475/` (not copied here); when the
//! folder is missing the test says so plainly and checks nothing.

use std::path::Path;

use holdline_testkit::harness::{invite, Harness, CONFIG, SDP_PCMU};

/// (file, the status holdline answers with, or None when the message is dropped). Where the RFC
/// allows more than one handling, the comment says which one holdline takes and why.
const EXPECTED: &[(&str, Option<u16>)] = &[
    // §3.1.1 valid messages.
    ("wsinv", Some(481)),   // To tag of a dialog we never had (§12.2.2).
    ("intmeth", Some(501)), // extension method (§8.2.1)
    ("esc01", Some(404)),   // a valid INVITE for a user that is no queue
    ("escnull", Some(401)), // REGISTER: the registrar challenges
    ("esc02", Some(501)),   // RE%47IST%45R is an extension method, not REGISTER
    ("lwsdisp", Some(200)), // OPTIONS
    ("longreq", Some(404)), // valid INVITE to a non-queue user
    ("dblreq", Some(401)),  // REGISTER (challenged); trailing octets discarded
    ("semiuri", Some(200)), // OPTIONS
    ("transports", Some(200)),
    ("mpart01", Some(405)), // MESSAGE is not served
    ("unreason", None),     // responses to nothing: stray, dropped (§18.1.2)
    ("noreason", None),
    // §3.1.2 invalid messages.
    ("badinv01", Some(400)),
    ("clerr", Some(400)),
    ("ncl", Some(400)),
    ("scalar02", Some(400)),
    ("scalarlg", None),
    ("quotbal", Some(400)),
    ("ltgtruri", Some(400)),
    ("lwsruri", Some(400)),
    ("lwsstart", Some(400)),
    ("trws", Some(400)),
    ("escruri", Some(400)),
    ("baddate", Some(404)), // the RFC allows ignoring a bad Date: holdline never reads it
    ("regbadct", Some(400)),
    ("badaspec", Some(400)),
    ("baddn", Some(400)),
    ("badvers", Some(505)),
    ("mismatch01", Some(400)),
    ("mismatch02", Some(400)),
    ("bigcode", None),
    // §3.2 transaction layer.
    ("badbranch", Some(200)), // RFC 2543 branch: matched the old way, processed (OPTIONS)
    // §3.3 application layer.
    ("insuf", Some(400)),
    ("unkscm", Some(416)),
    ("novelsc", Some(416)), // im: is not a scheme holdline serves
    ("unksm2", Some(401)),  // valid REGISTER (challenged); unknown schemes in headers are fine
    ("bext01", Some(420)),
    ("invut", Some(415)),
    ("regaut01", Some(401)), // credentials for a nonce of another server: challenged again
    ("multi01", Some(400)),
    ("mcl01", Some(400)),
    ("bcast", None),
    ("zeromf", Some(200)), // Max-Forwards 0 only stops proxies; a UAS processes it
    ("cparam01", Some(401)), // REGISTER: challenged
    ("cparam02", Some(401)), // REGISTER: challenged
    ("regescrt", Some(401)), // REGISTER: challenged
    ("sdp01", Some(406)),
    ("inv2543", Some(404)), // valid RFC 2543 INVITE for a user that is no queue
];

fn corpus() -> Option<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/sip-torture/rfc4475");
    dir.is_dir().then_some(dir)
}

#[test]
fn every_torture_message_gets_the_rfc_response_and_the_server_keeps_answering() {
    let Some(dir) = corpus() else {
        eprintln!("RFC 4475 corpus not found at ../shared/sip-torture/rfc4475: SKIPPED");
        return;
    };
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("read corpus")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".dat"))
        .map(|n| n.trim_end_matches(".dat").to_owned())
        .collect();
    files.sort();
    for f in &files {
        assert!(
            EXPECTED.iter().any(|(name, _)| name == f),
            "{f}.dat has no expectation in this test"
        );
    }
    assert_eq!(
        files.len(),
        EXPECTED.len(),
        "every expectation has its file"
    );

    let mut failures = Vec::new();
    // The "normal call" after each message is never ACKed: from one source, more of them than
    // admission control's default quota of unconfirmed calls.
    let mut h = Harness::with_config(&format!(
        "{CONFIG}\n[limits]\nunconfirmed_per_source = 1000\n"
    ));
    for (name, expected) in EXPECTED {
        let bytes = std::fs::read(dir.join(format!("{name}.dat"))).expect("read message");
        h.take();
        h.send_bytes(&bytes);
        let got: Vec<u16> = h.statuses().into_iter().filter(|s| *s != 100).collect();
        let got = got.first().copied();
        if got != *expected {
            failures.push(format!("{name}: expected {expected:?}, got {got:?}"));
        }
        // After every message the server still answers a normal call.
        let call_id = format!("after-{name}");
        h.send(&invite(
            "+14255550100",
            &call_id,
            &format!("z9hG4bK{call_id}"),
            Some(SDP_PCMU),
        ));
        let statuses = h.statuses();
        if !statuses.contains(&200) {
            failures.push(format!("after {name}: a normal call got {statuses:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
