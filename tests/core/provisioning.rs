//! Provisioning changes applied to the running core on virtual time: a queue added, changed
//! or removed takes effect for the next call without disturbing calls in progress; agents'
//! do-not-disturb and opt-outs reach the engine; and what the admin API reads (queue events
//! named by SIP Call-ID, calls in progress, answers by method and class) is right.

use std::path::Path;
use std::time::Duration;

use holdline::b2bua::{AgentSettings, Event};
use holdline::config::{from_toml_str, Config};
use holdline::queue::event::EventKind;
use holdline::sip::Method;
use holdline_testkit::harness::*;

const AMOS: &str = "198.51.100.20:5070";
const BEA: &str = "198.51.100.21:5070";

/// Two users with phones, a queue `sales` on +14255550100, a spare number +14255550122, and
/// `extra`.
fn toml(extra: &str) -> String {
    format!(
        r#"
[sip]
listen = ["udp:192.0.2.1:5060"]
[rtp]
ports = "20000-29999"
[[number]]
e164 = "+14255550100"
kind = "service-toll"
[[number]]
e164 = "+14255550122"
kind = "service-toll"
[[user]]
id = "amos"
contacts = ["sip:amos@{AMOS}"]
[[user]]
id = "bea"
contacts = ["sip:bea@{BEA}"]
{extra}
"#
    )
}

const SALES: &str = r#"
[[queue]]
id = "sales"
name = "UK Sales"
numbers = ["+14255550100"]
routing = "serial"
agents = ["amos", "bea"]
"#;

const LATE: &str = r#"
[[queue]]
id = "late"
name = "Late Shift"
numbers = ["+14255550122"]
agents = ["bea"]
"#;

fn config(extra: &str) -> Config {
    from_toml_str(&toml(extra), Path::new(".")).unwrap_or_else(|e| panic!("{e}"))
}

fn reconfigure(h: &mut Harness, extra: &str) {
    let now = h.now;
    h.core.reconfigure(now, &config(extra));
    h.collect();
}

fn dial(h: &mut Harness, number: &str, call_id: &str) {
    h.send(&invite(
        number,
        call_id,
        &format!("z9hG4bK{call_id}"),
        Some(SDP_PCMU),
    ));
}

/// The methods of the requests sent to AMOS and to BEA since the last look.
fn sent_to_agents(h: &mut Harness) -> (Vec<Method>, Vec<Method>) {
    let sent: Vec<_> = h.sent.drain(..).collect();
    let to = |peer: &str| {
        sent.iter()
            .filter(|(p, _)| p.addr.to_string() == peer)
            .filter_map(|(_, m)| match m {
                holdline::sip::message::Message::Request(r) => Some(r.method.clone()),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    (to(AMOS), to(BEA))
}

#[test]
fn queue_added_at_run_time_takes_the_next_call_on_its_number() {
    let mut h = Harness::with_config(&toml(SALES));
    dial(&mut h, "+14255550122", "before");
    assert_eq!(h.statuses(), vec![100, 404], "no queue on the number yet");

    reconfigure(&mut h, &format!("{SALES}{LATE}"));
    dial(&mut h, "+14255550122", "after");
    assert!(h.last_response(200).is_some(), "answered by the new queue");
    assert_eq!(
        sent_to_agents(&mut h).1,
        vec![Method::Invite],
        "its agent rings"
    );
}

#[test]
fn removed_queue_refuses_new_calls_but_serves_the_caller_in_line() {
    let mut h = Harness::with_config(&toml(SALES));
    caller_arrives(&mut h, "c1");
    let ring = requests_to(&mut h, AMOS);
    assert_eq!(methods(&ring), vec![Method::Invite], "amos rings for c1");

    reconfigure(&mut h, "");
    assert!(requests_to(&mut h, AMOS).is_empty(), "the ring goes on");
    dial(&mut h, "+14255550100", "c2");
    assert_eq!(h.statuses(), vec![100, 404], "no new calls");

    h.send_from(AMOS, &reply(&ring[0], 200, "amos1"));
    assert!(
        h.events.iter().any(|e| matches!(e, Event::Bridge { .. })),
        "c1 is still answered by its agent"
    );
}

#[test]
fn changed_queue_routes_new_calls_its_new_way() {
    let mut h = Harness::with_config(&toml(SALES));
    // Only bea now.
    reconfigure(&mut h, &SALES.replace(r#"["amos", "bea"]"#, r#"["bea"]"#));
    caller_arrives(&mut h, "c1");
    assert_eq!(sent_to_agents(&mut h), (vec![], vec![Method::Invite]));
}

#[test]
fn dnd_stops_the_agent_ringing_and_keeps_them_from_new_calls() {
    let mut h = Harness::with_config(&toml(SALES));
    caller_arrives(&mut h, "c1");
    let ring = requests_to(&mut h, AMOS);
    assert_eq!(methods(&ring), vec![Method::Invite]);
    // §9.1: a CANCEL waits for a provisional response.
    h.send_from(AMOS, &reply(&ring[0], 180, "amos1"));

    let now = h.now;
    let settings = AgentSettings {
        dnd: ["amos".to_owned()].into(),
        ..Default::default()
    };
    h.core.set_agent_settings(now, &settings);
    h.collect();
    assert_eq!(
        sent_to_agents(&mut h),
        (vec![Method::Cancel], vec![Method::Invite]),
        "amos's ring stops and the call moves on to bea"
    );
    let status = h
        .core
        .engine()
        .agent_status(&"amos".into())
        .expect("amos is an agent");
    assert!(status.dnd);
}

#[test]
fn settings_survive_a_reconfiguration_and_reach_new_agents() {
    let mut h = Harness::with_config(&toml(""));
    let now = h.now;
    let settings = AgentSettings {
        dnd: ["bea".to_owned()].into(),
        opted_out: [("amos".to_owned(), "sales".to_owned())].into(),
    };
    h.core.set_agent_settings(now, &settings);
    // A queue created afterwards: amos opted out of it already, bea is in DND.
    reconfigure(&mut h, SALES);
    dial(&mut h, "+14255550100", "c1");
    h.advance(Duration::from_secs(1));
    assert_eq!(
        sent_to_agents(&mut h),
        (vec![], vec![]),
        "amos opted out, bea in DND"
    );
}

#[test]
fn queue_events_are_named_by_the_sip_call_id_to_the_end() {
    // max_calls = 0: the call overflows and is refused with 486 within the same input.
    let full = SALES.replace("routing = \"serial\"", "max_calls = 0");
    let mut h = Harness::with_config(&toml(&full));
    dial(&mut h, "+14255550100", "overflow-1");
    assert!(h.statuses().contains(&486));
    let mut events = Vec::new();
    while let Some(e) = h.core.poll_queue_event() {
        events.push(e);
    }
    assert!(
        events
            .iter()
            .any(|e| matches!(e.event.kind, EventKind::Overflow)),
        "{events:?}"
    );
    assert!(
        events.iter().all(|e| e.call_id == "overflow-1"),
        "{events:?}"
    );
}

#[test]
fn abandoned_call_keeps_its_call_id_in_the_log() {
    let mut h = Harness::with_config(&toml(SALES));
    let tag = caller_arrives(&mut h, "gone-1");
    h.send(&in_dialog("BYE", "gone-1", &tag, 2, "z9hG4bKbye", None));
    let mut kinds = Vec::new();
    while let Some(e) = h.core.poll_queue_event() {
        assert_eq!(e.call_id, "gone-1", "{e:?}");
        kinds.push(e.event.kind.name());
    }
    assert_eq!(kinds.first(), Some(&"enter"));
    assert_eq!(kinds.last(), Some(&"abandon"));
}

#[test]
fn calls_view_and_answers_describe_the_calls() {
    let mut h = Harness::with_config(&toml(SALES));
    caller_arrives(&mut h, "c1");
    dial(&mut h, "+14255550122", "nowhere");
    let ring = requests_to(&mut h, AMOS);
    let view = h.core.calls_view(h.now);
    assert_eq!(view.len(), 1);
    assert_eq!(
        (
            view[0].call_id.as_str(),
            view[0].state,
            view[0].agent.as_deref()
        ),
        ("c1", "offered", Some("amos"))
    );
    h.send_from(AMOS, &reply(&ring[0], 200, "amos1"));
    let view = h.core.calls_view(h.now);
    assert_eq!(
        (view[0].state, view[0].agent.as_deref()),
        ("connected", Some("amos"))
    );
    let answers = h.core.answers();
    assert_eq!(
        answers.get(&("INVITE".to_owned(), "2xx".to_owned())),
        Some(&1)
    );
    assert_eq!(
        answers.get(&("INVITE".to_owned(), "4xx".to_owned())),
        Some(&1)
    );
}
