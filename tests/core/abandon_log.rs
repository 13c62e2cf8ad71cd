//! A caller who hangs up while an agent's phone rings: the ring is withdrawn (CANCEL to the
//! agent) and the log has it as the caller's abandon, never as the agent's miss.

use holdline::queue::event::EventKind;
use holdline::queue::RingOutcome;
use holdline::sip::Method;
use holdline_testkit::harness::*;

const AMOS: &str = "198.51.100.20:5070";

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

#[test]
fn caller_hanging_up_during_a_ring_is_an_abandon_not_the_agents_miss() {
    let mut h = Harness::with_config(&config());
    let tag = caller_arrives(&mut h, "left-1");
    let invite = requests_to(&mut h, AMOS);
    assert_eq!(methods(&invite), [Method::Invite], "amos is rung");
    h.send_from(AMOS, &reply(&invite[0], 180, "a1"));
    h.send(&in_dialog("BYE", "left-1", &tag, 2, "z9hG4bKbye", None));
    assert!(
        methods(&requests_to(&mut h, AMOS)).contains(&Method::Cancel),
        "the ring is canceled toward amos"
    );
    let mut ends = Vec::new();
    let mut kinds = Vec::new();
    while let Some(e) = h.core.poll_queue_event() {
        assert_eq!(e.call_id, "left-1");
        if let EventKind::RingEnd { outcome } = e.event.kind {
            ends.push((e.event.agent.clone().map(|a| a.to_string()), outcome));
        }
        kinds.push(e.event.kind.name());
    }
    assert_eq!(ends, [(Some("amos".to_owned()), RingOutcome::CallerLeft)]);
    assert_eq!(kinds.last(), Some(&"abandon"), "{kinds:?}");
}
