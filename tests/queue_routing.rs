//! Routing on virtual time: which agents ring for which call, in what order, and who is
//! skipped (DESIGN.md §1 routing methods, offer modes and eligibility).

mod queue_support;

use holdline::queue::{Action, Activity, AgentChange, DeclineReason, QueueError, RingOutcome};
use queue_support::{ag, q, Harness};

fn queue(routing: &str, agents: &str, extra: &str) -> String {
    format!("[[queue]]\nid = \"sales\"\nrouting = \"{routing}\"\nagents = [{agents}]\n{extra}\n")
}

#[test]
fn attendant_rings_all_eligible_agents_at_once() {
    let mut h = Harness::new(&queue("attendant", r#""a", "b", "c""#, ""));
    let call = h.arrive("sales");
    let rings: Vec<String> = h.rings().into_iter().map(|(_, a)| a).collect();
    assert_eq!(rings, ["a", "b", "c"]);
    assert_eq!(h.ringing(call), ["a", "b", "c"]);
}

#[test]
fn attendant_cancels_losers_on_answer() {
    let mut h = Harness::new(&queue("attendant", r#""a", "b", "c""#, ""));
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
    let mut h = Harness::new(&queue("serial", r#""a", "b", "c", "d""#, ""));
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
    let mut h = Harness::new(&queue("serial", r#""a", "b""#, "agent_alert_time = 20"));
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

fn ring_action(_h: &Harness, call: holdline::queue::CallId, agent: &str, secs: u64) -> Action {
    let host = match agent {
        "a" => "192.0.2.1",
        "b" => "192.0.2.2",
        "c" => "192.0.2.3",
        _ => "192.0.2.4",
    };
    Action::Ring {
        call,
        agent: ag(agent),
        contacts: vec![holdline::sip::parse::parse_uri(&format!("sip:{agent}@{host}")).unwrap()],
        alert_for: std::time::Duration::from_secs(secs),
        queue: q("sales"),
        queue_name: "sales".into(),
    }
}

#[test]
fn serial_cycles_until_timeout() {
    let mut h = Harness::new(&queue(
        "serial",
        r#""a", "b""#,
        "agent_alert_time = 30\nmax_wait = 150",
    ));
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
    let mut h = Harness::new(&queue("attendant", r#""a", "b""#, ""));
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
    let mut h = Harness::new(&queue("round-robin", r#""a", "b", "c", "d""#, ""));
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
    let mut h = Harness::new(&queue("longest-idle", r#""a", "b", "c""#, ""));
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
    let mut h = Harness::new(&queue("serial", r#""a", "b", "c""#, ""));
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
    let mut h = Harness::new(&queue("serial", r#""a", "b", "c""#, "offer = \"parallel\""));
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
    let mut h = Harness::new(&queue("attendant", r#""a", "b""#, "offer = \"parallel\""));
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
    let mut h = Harness::new(&queue("serial", r#""a", "b""#, ""));
    h.set("a", AgentChange::Dnd(true));
    let call = h.arrive("sales");
    assert_eq!(h.rings(), [(call, "b".to_owned())]);
    h.set("a", AgentChange::Dnd(false));
    h.decline(call, "b");
    assert_eq!(h.rings(), [(call, "a".to_owned())]);
}

#[test]
fn offline_agent_is_skipped() {
    let mut h = Harness::new(&queue("attendant", r#""a", "b""#, ""));
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
    let mut h = Harness::new(&queue("serial", r#""a", "b""#, ""));
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
    let queues = r#"
[[queue]]
id = "strict"
routing = "attendant"
agents = ["a", "b"]
allow_opt_out = false

[[queue]]
id = "relaxed"
routing = "attendant"
agents = ["c", "d"]
allow_opt_out = true
"#;
    let mut h = Harness::new(queues);
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
    let mut h = Harness::new(&queue(
        "attendant",
        r#""a", "b""#,
        "wrap_up = 60\nagent_alert_time = 25",
    ));
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
    let queues = r#"
[[queue]]
id = "one"
routing = "attendant"
agents = ["a"]

[[queue]]
id = "two"
routing = "attendant"
agents = ["a", "b"]
"#;
    let mut h = Harness::new(queues);
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
    let queues = r#"
[[queue]]
id = "one"
routing = "attendant"
agents = ["a", "b"]

[[queue]]
id = "two"
routing = "attendant"
agents = ["a", "c"]
"#;
    let mut h = Harness::new(queues);
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
    let queues = r#"
[[queue]]
id = "one"
routing = "serial"
agents = ["a"]

[[queue]]
id = "two"
routing = "serial"
agents = ["a"]
"#;
    let mut h = Harness::new(queues);
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
    let mut h = Harness::new(&queue("attendant", r#""a", "b""#, ""));
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
    let mut h = Harness::new(&queue("serial", r#""a", "b""#, ""));
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
fn agent_without_contacts_is_offline_until_contacts_are_set() {
    let queues = "[[user]]\nid = \"phoneless\"\n\
                  [[queue]]\nid = \"sales\"\nrouting = \"attendant\"\nagents = [\"phoneless\"]\n";
    let mut h = Harness::new(queues);
    assert!(!h.engine.agent_status(&ag("phoneless")).unwrap().online);
    let call = h.arrive("sales");
    assert!(h.rings().is_empty());
    let contact = holdline::sip::parse::parse_uri("sip:phoneless@192.0.2.9").unwrap();
    h.engine
        .set_agent_contacts(h.now, &ag("phoneless"), vec![contact.clone()]);
    let actions = h.take();
    assert!(matches!(
        &actions[..],
        [Action::Ring { call: c, contacts, .. }] if *c == call && contacts == &vec![contact]
    ));
    // Losing the last contact takes the agent offline and ends the ring.
    h.engine
        .set_agent_contacts(h.now, &ag("phoneless"), Vec::new());
    assert!(matches!(&h.take()[..], [Action::CancelRing { .. }]));
    assert!(!h.engine.agent_status(&ag("phoneless")).unwrap().online);
}

#[test]
fn unknown_agent_and_stale_inputs_are_errors_that_change_nothing() {
    let mut h = Harness::new(&queue("serial", r#""a", "b""#, ""));
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
