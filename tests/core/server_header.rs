//! The Server header on our responses and the User-Agent on our requests (RFC 3261 §20.35,
//! §20.41): by default the product without its version (a version tells a scanner which flaws
//! to try), `[sip] server_header` when set, neither header when it is empty, and the older
//! `user_agent` key still honoured.

use holdline::sip::header::HeaderName;
use holdline::sip::message::Response;
use holdline_testkit::harness::*;

const AMOS: &str = "198.51.100.20:5070";

fn config(sip_extra: &str) -> String {
    format!(
        r#"
[sip]
listen = ["udp:192.0.2.1:5060"]
{sip_extra}
[rtp]
ports = "20000-29999"
[[number]]
e164 = "+14255550100"
kind = "service-toll"
[[user]]
id = "amos"
contacts = ["sip:amos@{AMOS}"]
[[queue]]
id = "sales"
numbers = ["+14255550100"]
agents = ["amos"]
"#
    )
}

/// The 200 to an OPTIONS, and the INVITE amos is rung with once a caller arrives: their
/// Server and User-Agent values.
fn presented(sip_extra: &str) -> (Option<String>, Option<String>) {
    let mut h = Harness::with_config(&config(sip_extra));
    let options = invite("+14255550100", "opt1", "z9hG4bKopt1", None)
        .replacen("INVITE sip", "OPTIONS sip", 1)
        .replace("CSeq: 1 INVITE", "CSeq: 1 OPTIONS");
    h.send(&options);
    let ok: Response = h.last_response(200).expect("200 to OPTIONS");
    let server = ok.headers.get(&HeaderName::Server).map(str::to_owned);
    h.sent.clear();
    caller_arrives(&mut h, "c1");
    let ring = requests_to(&mut h, AMOS).remove(0);
    let agent = ring.headers.get(&HeaderName::UserAgent).map(str::to_owned);
    (server, agent)
}

#[test]
fn server_and_user_agent_carry_no_version_by_default() {
    let (server, agent) = presented("");
    assert_eq!(server.as_deref(), Some("holdline"));
    assert_eq!(agent.as_deref(), Some("holdline"));
}

#[test]
fn configured_server_header_is_used_and_empty_sends_none() {
    assert_eq!(
        presented("server_header = \"Acme Voice\""),
        (Some("Acme Voice".into()), Some("Acme Voice".into()))
    );
    assert_eq!(presented("server_header = \"\""), (None, None));
    // The older key keeps working.
    assert_eq!(
        presented("user_agent = \"pbx-1\""),
        (Some("pbx-1".into()), Some("pbx-1".into()))
    );
}
