//! Routing on virtual time: which agents ring for which call, in what order, and who is
//! skipped (DESIGN.md §1 routing methods, offer modes and eligibility).

use crate::queue_support::{ag, q, queue, secs, Harness};
use holdline::queue::{
    Action, Activity, AgentChange, DeclineReason, OfferMode, QueueError, QueueSpec, RingOutcome,
    Routing,
};

fn sales(routing: Routing, agents: &[&str]) -> QueueSpec<String> {
    queue("sales", routing, agents)
}

#[test]
fn attendant_rings_all_eligible_agents_at_once() {
    let mut h = Harness::new([sales(Routing::Attendant, &["a", "b", "c"])]);
    let call = h.arrive("sales");
    let rings: Vec<String> = h.rings().into_iter().map(|(_, a)| a).collect();
    assert_eq!(rings, ["a", "b", "c"]);
    assert_eq!(h.ringing(call), ["a", "b", "c"]);
}

#[test]
fn attendant_cancels_losers_on_answer() {
    let mut h = Harness::new([sales(Routing::Attendant, &["a", "b", "c"])]);
    let call = h.arrive("sales");
    h.take();
    h.answer(call, "b");
    let actions = h.take();
    assert_eq!(
        actions[0],
        Action::Bridge {
            call,
            agent: ag("b")
        }
    );
    let mut canceled: Vec<String> = actions
        .iter()
        .filter_map(|a| match a {
            Action::CancelRing { agent, .. } => Some(agent.0.clone()),
            _ => None,
        })
        .collect();
    canceled.sort();
    assert_eq!(canceled, ["a", "c"]);
    assert_eq!(
        h.engine.agent_status(&ag("b")).map(|s| s.activity),
        Some(Activity::OnCall(call))
    );
    assert_eq!(
        h.engine.agent_status(&ag("a")).map(|s| s.activity),
        Some(Activity::Idle)
    );
    // A loser's 200 OK that crossed the CANCEL is refused: the b2bua hangs that leg up.
    assert!(matches!(
        h.engine.agent_answered(h.now, call, &ag("a")),
        Err(QueueError::NotRinging { .. })
    ));
}

#[test]
fn serial_moves_to_next_agent_on_decline() {
    let mut h = Harness::new([sales(Routing::Serial, &["a", "b", "c", "d"])]);
    let call = h.arrive("sales");
    assert_eq!(h.rings(), [(call, "a".to_owned())]);
    h.decline(call, "a");
    assert_eq!(h.rings(), [(call, "b".to_owned())]);
    h.engine.agent_busy(h.now, call, &ag("b")).unwrap();
    assert_eq!(h.rings(), [(call, "c".to_owned())]);
    h.engine
        .agent_declined(h.now, call, &ag("c"), DeclineReason::from_status(480))
        .unwrap();
    assert_eq!(h.rings(), [(call, "d".to_owned())]);
    // Nothing moved time: each step was at once.
    assert_eq!(h.now, holdline::time::Time::ZERO);
}

#[test]
fn alert_time_expiry_counts_as_no_answer() {
    let mut h = Harness::new([QueueSpec {
        agent_alert_time: secs(20),
        ..sales(Routing::Serial, &["a", "b"])
    }]);
    let call = h.arrive("sales");
    h.take();
    h.advance(19);
    assert!(h.take().is_empty(), "nothing happens before the alert time");
    h.advance(1);
    let actions = h.take();
    assert_eq!(
        actions,
        [
            Action::CancelRing {
                call,
                agent: ag("a")
            },
            ring_action(&h, call, "b", 20),
        ]
    );
    let ends: Vec<_> = h
        .events
        .iter()
        .filter_map(|e| match e.kind {
            holdline::queue::EventKind::RingEnd { outcome } => Some(outcome),
            _ => None,
        })
        .collect();
    assert_eq!(ends, [RingOutcome::NoAnswer]);
}

fn ring_action(
    _h: &Harness,
    call: holdline::queue::CallId,
    agent: &str,
    alert: u64,
) -> Action<String> {
    Action::Ring {
        call,
        agent: ag(agent),
        alert_for: secs(alert),
        queue: q("sales"),
        queue_name: "sales".into(),
    }
}

#[test]
fn serial_cycles_until_timeout() {
    let mut h = Harness::new([QueueSpec {
        agent_alert_time: secs(30),
        max_wait: secs(150),
        ..sales(Routing::Serial, &["a", "b"])
    }]);
    let call = h.arrive("sales");
    let mut order = Vec::new();
    for _ in 0..5 {
        order.extend(h.rings().into_iter().map(|(_, a)| a));
        h.advance(30);
    }
    order.extend(h.rings().into_iter().map(|(_, a)| a));
    assert_eq!(order, ["a", "b", "a", "b", "a"]);
    assert_eq!(h.terminal(call).len(), 1);
    assert!(h.steps(call).contains(&"timeout"));
    assert_eq!(h.engine.call_count(), 0);
}

#[test]
fn all_agents_declining_waits_round_pause_before_ringing_again() {
    let mut h = Harness::new([sales(Routing::Attendant, &["a", "b"])]);
    let call = h.arrive("sales");
    h.take();
    h.decline(call, "a");
    h.decline(call, "b");
    assert!(h.rings().is_empty(), "no tight loop of rings");
    h.advance(4);
    assert!(h.rings().is_empty());
    h.advance(1);
    assert_eq!(h.rings().len(), 2, "the next round rings everyone again");
}

#[test]
fn round_robin_starts_after_last_answering_agent() {
    let mut h = Harness::new([sales(Routing::RoundRobin, &["a", "b", "c", "d"])]);
    let first = h.arrive("sales");
    assert_eq!(h.rings(), [(first, "a".to_owned())]);
    h.decline(first, "a");
    assert_eq!(h.rings(), [(first, "b".to_owned())]);
    h.answer(first, "b");
    h.take();
    let second = h.arrive("sales");
    assert_eq!(h.rings(), [(second, "c".to_owned())]);
    h.decline(second, "c");
    // d, then wrap to a (b is on a call).
    assert_eq!(h.rings(), [(second, "d".to_owned())]);
    h.decline(second, "d");
    assert_eq!(h.rings(), [(second, "a".to_owned())]);
    h.answer(second, "a");
    h.agent_hangs_up("b");
    let third = h.arrive("sales");
    assert_eq!(
        h.rings(),
        [(third, "b".to_owned())],
        "after a, the last to answer"
    );
}

#[test]
fn longest_idle_rings_idle_longest_first() {
    let mut h = Harness::new([sales(Routing::LongestIdle, &["a", "b", "c"])]);
    // Give each agent a call that ends at a different time: c first, then a, then b.
    for (agent, ends_at) in [("c", 10), ("a", 20), ("b", 30)] {
        let call = h.arrive("sales");
        let rung: Vec<String> = h.rings().into_iter().map(|(_, a)| a).collect();
        // Decline until the wanted agent rings, then answer.
        let mut current = rung[0].clone();
        while current != agent {
            h.decline(call, &current);
            current = h.rings()[0].1.clone();
        }
        h.answer(call, agent);
        let _ = ends_at;
    }
    h.advance(10);
    h.agent_hangs_up("c");
    h.advance(10);
    h.agent_hangs_up("a");
    h.advance(10);
    h.agent_hangs_up("b");
    h.take();
    let call = h.arrive("sales");
    assert_eq!(h.rings(), [(call, "c".to_owned())]);
    h.decline(call, "c");
    assert_eq!(h.rings(), [(call, "a".to_owned())]);
    h.decline(call, "a");
    assert_eq!(h.rings(), [(call, "b".to_owned())]);
}

#[test]
fn head_of_queue_only_rings_one_call() {
    let mut h = Harness::new([sales(Routing::Serial, &["a", "b", "c"])]);
    let first = h.arrive("sales");
    let second = h.arrive("sales");
    let rings = h.rings();
    assert_eq!(rings, [(first, "a".to_owned())]);
    assert!(
        h.ringing(second).is_empty(),
        "b and c are idle but the second call waits"
    );
    // After an agent accepts, the next call starts ringing.
    h.answer(first, "a");
    assert_eq!(h.rings(), [(second, "b".to_owned())]);
}

#[test]
fn parallel_offer_rings_distinct_agents_fifo() {
    let mut h = Harness::new([QueueSpec {
        offer: OfferMode::Parallel,
        ..sales(Routing::Serial, &["a", "b", "c"])
    }]);
    let c1 = h.arrive("sales");
    let c2 = h.arrive("sales");
    let c3 = h.arrive("sales");
    let c4 = h.arrive("sales");
    let rings = h.rings();
    assert_eq!(
        rings,
        [
            (c1, "a".to_owned()),
            (c2, "b".to_owned()),
            (c3, "c".to_owned())
        ]
    );
    assert!(h.ringing(c4).is_empty());
    // A freed agent goes to the earliest call that has not tried them yet.
    h.decline(c2, "b");
    let rings = h.rings();
    assert_eq!(
        rings,
        [(c4, "b".to_owned())],
        "c2 already tried b this round"
    );
    h.answer(c1, "a");
    h.agent_hangs_up("a");
    // a is free again: c2 is the earliest call not ringing anyone.
    assert_eq!(h.rings(), [(c2, "a".to_owned())]);
}

#[test]
fn attendant_parallel_gives_every_free_agent_to_the_earliest_call() {
    let mut h = Harness::new([QueueSpec {
        offer: OfferMode::Parallel,
        ..sales(Routing::Attendant, &["a", "b"])
    }]);
    let c1 = h.arrive("sales");
    let c2 = h.arrive("sales");
    h.take();
    assert_eq!(h.ringing(c1), ["a", "b"]);
    h.answer(c1, "a");
    assert_eq!(
        h.ringing(c2),
        ["b"],
        "the loser goes to the next call at once"
    );
}

#[test]
fn dnd_agent_is_skipped() {
    let mut h = Harness::new([sales(Routing::Serial, &["a", "b"])]);
    h.set("a", AgentChange::Dnd(true));
    let call = h.arrive("sales");
    assert_eq!(h.rings(), [(call, "b".to_owned())]);
    h.set("a", AgentChange::Dnd(false));
    h.decline(call, "b");
    assert_eq!(h.rings(), [(call, "a".to_owned())]);
}

#[test]
fn offline_agent_is_skipped() {
    let mut h = Harness::new([sales(Routing::Attendant, &["a", "b"])]);
    h.set("b", AgentChange::Offline);
    let call = h.arrive("sales");
    assert_eq!(h.rings(), [(call, "a".to_owned())]);
    h.set("b", AgentChange::Online);
    assert_eq!(
        h.rings(),
        [(call, "b".to_owned())],
        "attendant adds agents who come online"
    );
}

#[test]
fn agent_going_dnd_while_ringing_moves_call_on() {
    let mut h = Harness::new([sales(Routing::Serial, &["a", "b"])]);
    let call = h.arrive("sales");
    h.take();
    h.set("a", AgentChange::Dnd(true));
    let actions = h.take();
    assert_eq!(
        actions[0],
        Action::CancelRing {
            call,
            agent: ag("a")
        }
    );
    assert!(matches!(&actions[1], Action::Ring { agent, .. } if agent.0 == "b"));
}

#[test]
fn opted_out_agent_is_skipped_only_when_queue_allows_opt_out() {
    let mut h = Harness::new([
        QueueSpec {
            allow_opt_out: false,
            ..queue("strict", Routing::Attendant, &["a", "b"])
        },
        QueueSpec {
            allow_opt_out: true,
            ..queue("relaxed", Routing::Attendant, &["c", "d"])
        },
    ]);
    for (agent, queue) in [("a", "strict"), ("c", "relaxed")] {
        h.set(
            agent,
            AgentChange::OptOut {
                queue: q(queue),
                opted_out: true,
            },
        );
    }
    let strict = h.arrive("strict");
    assert_eq!(
        h.ringing(strict),
        ["a", "b"],
        "opt-out not allowed: a still rings"
    );
    let relaxed = h.arrive("relaxed");
    assert_eq!(h.ringing(relaxed), ["d"], "c opted out");
    h.set(
        "c",
        AgentChange::OptOut {
            queue: q("relaxed"),
            opted_out: false,
        },
    );
    assert_eq!(h.ringing(relaxed), ["c", "d"]);
}

#[test]
fn agent_in_wrap_up_is_skipped_until_it_ends() {
    let mut h = Harness::new([QueueSpec {
        wrap_up: secs(60),
        agent_alert_time: secs(25),
        ..sales(Routing::Attendant, &["a", "b"])
    }]);
    let first = h.arrive("sales");
    h.answer(first, "a");
    h.advance(5);
    h.agent_hangs_up("a");
    assert_eq!(
        h.engine.agent_status(&ag("a")).map(|s| s.activity),
        Some(Activity::WrapUp(holdline::time::Time::from_millis(65_000)))
    );
    let second = h.arrive("sales");
    assert_eq!(h.ringing(second), ["b"]);
    h.advance(59);
    assert_eq!(h.ringing(second), ["b"], "a is still wrapping up");
    h.advance(1);
    assert_eq!(h.ringing(second), ["a", "b"], "wrap-up over: a rings too");
}

#[test]
fn busy_agent_is_not_rung_for_second_queue() {
    let mut h = Harness::new([
        queue("one", Routing::Attendant, &["a"]),
        queue("two", Routing::Attendant, &["a", "b"]),
    ]);
    let c1 = h.arrive("one");
    h.answer(c1, "a");
    h.take();
    let c2 = h.arrive("two");
    assert_eq!(
        h.rings(),
        [(c2, "b".to_owned())],
        "a is on a call from queue one"
    );
    h.set("b", AgentChange::Busy(true));
    assert!(h.ringing(c2).is_empty(), "b is on a direct call");
    h.agent_hangs_up("a");
    assert_eq!(h.ringing(c2), ["a"]);
}

#[test]
fn ringing_agent_is_not_rung_for_another_queue_and_stops_on_answer() {
    let mut h = Harness::new([
        queue("one", Routing::Attendant, &["a", "b"]),
        queue("two", Routing::Attendant, &["a", "c"]),
    ]);
    let c1 = h.arrive("one");
    let c2 = h.arrive("two");
    assert_eq!(h.ringing(c1), ["a", "b"]);
    assert_eq!(h.ringing(c2), ["c"], "a rings for one call only");
    h.answer(c1, "b");
    // a lost call one and is free: the waiting call of queue two takes them.
    assert_eq!(h.ringing(c2), ["a", "c"]);
    h.answer(c2, "a");
    assert!(h.ringing(c2).is_empty());
}

#[test]
fn longest_waiting_call_gets_a_shared_agent_first() {
    let mut h = Harness::new([
        queue("one", Routing::Serial, &["a"]),
        queue("two", Routing::Serial, &["a"]),
    ]);
    let c1 = h.arrive("one");
    h.answer(c1, "a");
    h.advance(1);
    let c2 = h.arrive("two");
    h.advance(1);
    let c3 = h.arrive("one");
    h.take();
    h.agent_hangs_up("a");
    assert_eq!(h.rings(), [(c2, "a".to_owned())]);
    assert!(h.ringing(c3).is_empty());
}

#[test]
fn caller_hangup_cancels_ringing_agents() {
    let mut h = Harness::new([sales(Routing::Attendant, &["a", "b"])]);
    let call = h.arrive("sales");
    h.take();
    h.hang_up(call);
    let mut canceled: Vec<String> = h
        .take()
        .into_iter()
        .filter_map(|a| match a {
            Action::CancelRing { agent, .. } => Some(agent.0),
            _ => None,
        })
        .collect();
    canceled.sort();
    assert_eq!(canceled, ["a", "b"]);
    assert_eq!(h.steps(call).last(), Some(&"abandon"));
    assert_eq!(h.engine.call_count(), 0);
    assert_eq!(h.engine.timer_count(), 0, "no alert or max_wait timer left");
    // The ring's outcome arriving after the CANCEL is ignored.
    assert!(h.engine.agent_busy(h.now, call, &ag("a")).is_err());
}

#[test]
fn unreachable_agent_moves_call_on() {
    let mut h = Harness::new([sales(Routing::Serial, &["a", "b"])]);
    let call = h.arrive("sales");
    h.take();
    h.engine.agent_unreachable(h.now, call, &ag("a")).unwrap();
    // The phone ended the ring itself: no CANCEL, just the next agent.
    assert_eq!(h.take().len(), 1);
    assert_eq!(h.ringing(call), ["b"]);
    let outcome = h.events.iter().find_map(|e| match e.kind {
        holdline::queue::EventKind::RingEnd { outcome } => Some(outcome),
        _ => None,
    });
    assert_eq!(outcome, Some(RingOutcome::Unreachable));
}

#[test]
fn member_not_known_as_an_agent_is_offline_until_set_online() {
    let mut h = Harness::new([sales(Routing::Attendant, &["phoneless"])]);
    assert!(!h.engine.agent_status(&ag("phoneless")).unwrap().online);
    let call = h.arrive("sales");
    assert!(h.rings().is_empty());
    // The driver found somewhere to ring them (a contact, a registration).
    h.engine.set_agent_online(h.now, &ag("phoneless"), true);
    let actions = h.take();
    assert!(matches!(
        &actions[..],
        [Action::Ring { call: c, agent, .. }] if *c == call && agent.0 == "phoneless"
    ));
    // Nowhere left to ring: offline, and the ring ends.
    h.engine.set_agent_online(h.now, &ag("phoneless"), false);
    assert!(matches!(&h.take()[..], [Action::CancelRing { .. }]));
    assert!(!h.engine.agent_status(&ag("phoneless")).unwrap().online);
    // An agent the engine never heard of is created by it.
    h.engine.set_agent_online(h.now, &ag("newcomer"), true);
    assert!(h.engine.agent_status(&ag("newcomer")).unwrap().online);
}

#[test]
fn unknown_agent_and_stale_inputs_are_errors_that_change_nothing() {
    let mut h = Harness::new([sales(Routing::Serial, &["a", "b"])]);
    let call = h.arrive("sales");
    h.take();
    assert!(matches!(
        h.engine
            .set_agent_state(h.now, &ag("zed"), AgentChange::Online),
        Err(QueueError::UnknownAgent { .. })
    ));
    assert!(matches!(
        h.engine
            .agent_declined(h.now, call, &ag("b"), DeclineReason::Declined),
        Err(QueueError::NotRinging { .. })
    ));
    assert!(matches!(
        h.engine.agent_call_ended(h.now, &ag("b")),
        Err(QueueError::NotOnCall { .. })
    ));
    assert!(matches!(
        h.engine.call_transferred(h.now, call, "sip:x@example.com"),
        Err(QueueError::NotConnected { .. })
    ));
    assert!(h.take().is_empty());
    assert_eq!(h.ringing(call), ["a"]);
}
