//! Queue events (one per step, with call, queue, agent and times) and status queries.

use std::time::Duration;

use crate::queue_support::{ag, agents, q, queue, spec, Harness};
use holdline::queue::{
    Activity, AgentChange, DeclineReason, EventKind, QueueEvent, QueueSpec, RingOutcome, Routing,
    WaitState,
};
use holdline::time::Time;

fn secs(s: u64) -> Time {
    Time::from_millis(s * 1000)
}

#[test]
fn events_for_every_step() {
    let mut h = Harness::new([queue("sales", Routing::Attendant, &["a", "b"])]);
    let call = h.arrive("sales");
    h.advance(3);
    h.decline(call, "a");
    h.advance(2);
    h.answer(call, "b");
    h.advance(60);
    h.agent_hangs_up("b");
    let ev = |at: u64, agent: Option<&str>, waited: u64, kind: EventKind| QueueEvent {
        at: secs(at),
        call,
        queue: q("sales"),
        agent: agent.map(ag),
        waited: Duration::from_secs(waited),
        kind,
    };
    assert_eq!(
        h.events,
        [
            ev(0, None, 0, EventKind::Enter { position: 1 }),
            ev(0, None, 0, EventKind::Answer),
            ev(0, Some("a"), 0, EventKind::Ring),
            ev(0, Some("b"), 0, EventKind::Ring),
            ev(
                3,
                Some("a"),
                3,
                EventKind::RingEnd {
                    outcome: RingOutcome::Declined(DeclineReason::Declined)
                }
            ),
            ev(5, Some("b"), 5, EventKind::Connect),
            ev(
                65,
                Some("b"),
                65,
                EventKind::Complete {
                    talked: Duration::from_secs(60)
                }
            ),
        ]
    );
    assert_eq!(
        h.events[5].to_string(),
        "connect call-1 queue=sales waited=5000ms agent=b"
    );
}

#[test]
fn abandon_and_transfer_are_terminal_events() {
    let mut h = Harness::new([QueueSpec {
        wrap_up: Duration::from_secs(10),
        ..queue("sales", Routing::Attendant, &["a"])
    }]);
    let first = h.arrive("sales");
    h.answer(first, "a");
    h.engine
        .call_transferred(h.now, first, "sip:expert@example.com")
        .unwrap();
    h.pump();
    assert!(matches!(
        h.terminal(first)[..],
        [EventKind::Transfer { to }] if to == "sip:expert@example.com"
    ));
    assert!(matches!(
        h.engine.agent_status(&ag("a")).unwrap().activity,
        Activity::WrapUp(_)
    ));
    let second = h.arrive("sales");
    h.advance(4);
    h.hang_up(second);
    assert_eq!(h.steps(second), ["enter", "answer", "abandon"]);
    let abandon = h.events.last().unwrap();
    assert_eq!(abandon.waited, Duration::from_secs(4));
    assert!(abandon.kind.is_terminal());
}

#[test]
fn caller_hanging_up_while_agents_ring_withdraws_the_rings_as_an_abandon() {
    let mut h = Harness::new([queue("sales", Routing::Attendant, &["a", "b"])]);
    let call = h.arrive("sales");
    h.advance(2);
    h.decline(call, "a");
    h.advance(3);
    h.take();
    h.hang_up(call);
    // b's ring was still going: it is withdrawn because the caller left, not b's miss; a's
    // earlier decline stays a decline.
    let ends: Vec<(Option<String>, RingOutcome)> = h
        .events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::RingEnd { outcome } => {
                Some((e.agent.as_ref().map(|a| a.as_str().to_owned()), outcome))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        ends,
        [
            (
                Some("a".to_owned()),
                RingOutcome::Declined(DeclineReason::Declined)
            ),
            (Some("b".to_owned()), RingOutcome::CallerLeft),
        ]
    );
    assert_eq!(h.terminal(call), [&EventKind::Abandon]);
    // The withdrawn ring is still canceled toward b's phone.
    let canceled: Vec<String> = h
        .take()
        .into_iter()
        .filter_map(|a| match a {
            holdline::queue::Action::CancelRing { agent, .. } => Some(agent.as_str().to_owned()),
            _ => None,
        })
        .collect();
    assert_eq!(canceled, ["b"]);
    assert_eq!(
        h.engine.agent_status(&ag("b")).unwrap().activity,
        Activity::Idle
    );
}

#[test]
fn every_call_ends_in_exactly_one_terminal_event() {
    let mut h = Harness::new([QueueSpec {
        max_calls: 2,
        max_wait: Duration::from_secs(30),
        ..queue("sales", Routing::Attendant, &["a"])
    }]);
    let answered = h.arrive("sales");
    let waits = h.arrive("sales");
    let overflows = h.arrive("sales");
    h.answer(answered, "a");
    h.advance(30);
    h.agent_hangs_up("a");
    for call in [answered, waits, overflows] {
        assert_eq!(h.terminal(call).len(), 1, "{call}: {:?}", h.steps(call));
    }
    assert_eq!(h.engine.call_count(), 0);
}

#[test]
fn queue_status_lists_waiting_calls_with_position_and_wait() {
    let mut h = Harness::new([QueueSpec {
        name: "UK Sales".into(),
        has_greeting: true,
        ..queue("sales", Routing::Serial, &["a", "b"])
    }]);
    let first = h.arrive("sales");
    h.advance(10);
    let second = h.arrive("sales");
    h.greeting_done(first);
    h.advance(5);
    let s = h.engine.queue_status(h.now, &q("sales")).unwrap();
    assert_eq!(s.name, "UK Sales");
    let rows: Vec<_> = s
        .waiting
        .iter()
        .map(|w| (w.call, w.position, w.waited, w.state.clone()))
        .collect();
    assert_eq!(
        rows,
        [
            (
                first,
                1,
                Duration::from_secs(15),
                WaitState::Ringing(vec![ag("a")])
            ),
            (second, 2, Duration::from_secs(5), WaitState::Greeting),
        ]
    );
    let agents: Vec<_> = s
        .agents
        .iter()
        .map(|a| (a.status.agent.0.as_str(), a.serves, a.free))
        .collect();
    assert_eq!(agents, [("a", true, false), ("b", true, true)]);
}

#[test]
fn agent_status_reports_state() {
    let mut h = Harness::new([
        QueueSpec {
            members: agents(&["a"]),
            ..spec("one")
        },
        QueueSpec {
            members: agents(&["a"]),
            ..spec("two")
        },
    ]);
    h.set("a", AgentChange::Dnd(true));
    h.set(
        "a",
        AgentChange::OptOut {
            queue: q("two"),
            opted_out: true,
        },
    );
    let s = h.engine.agent_status(&ag("a")).unwrap();
    assert!(s.online && s.dnd && !s.busy_elsewhere);
    assert_eq!(s.activity, Activity::Idle);
    assert_eq!(s.queues, [q("one"), q("two")]);
    assert_eq!(s.opted_out, [q("two")]);
    assert!(h.engine.agent_status(&ag("nobody")).is_none());
}
