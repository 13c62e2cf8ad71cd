//! Limits and exceptions on virtual time: overflow, timeout, no agents, greeting, forwards
//! between queues and their hop cap, and run-time queue updates (DESIGN.md §1).

use std::time::Duration;

use crate::queue_support::{agents, elsewhere, q, queue, secs, spec, to_queue, Harness};
use holdline::queue::{
    Action, AgentChange, EndReason, EventKind, OnNoAgents, OnOverflow, OnTimeout, QueueError,
    QueueSpec, Routing,
};

/// `sales`, attendant, with agent a.
fn sales() -> QueueSpec<String> {
    queue("sales", Routing::Attendant, &["a"])
}

fn answers(actions: &[Action<String>]) -> usize {
    actions
        .iter()
        .filter(|a| matches!(a, Action::Answer { .. }))
        .count()
}

#[test]
fn full_queue_overflows_with_486() {
    let mut h = Harness::new([QueueSpec {
        max_calls: 2,
        ..sales()
    }]);
    let c1 = h.arrive("sales");
    let c2 = h.arrive("sales");
    h.take();
    let c3 = h.arrive("sales");
    assert_eq!(
        h.take(),
        [Action::Reject {
            call: c3,
            status: 486
        }]
    );
    assert_eq!(h.steps(c3), ["overflow", "reject"]);
    // The calls already in line are untouched.
    assert_eq!(h.engine.call_count(), 2);
    assert!(h.terminal(c1).is_empty() && h.terminal(c2).is_empty());
}

#[test]
fn max_calls_zero_overflows_every_call() {
    let mut h = Harness::new([QueueSpec {
        max_calls: 0,
        ..sales()
    }]);
    let c = h.arrive("sales");
    assert_eq!(
        h.take(),
        [Action::Reject {
            call: c,
            status: 486
        }]
    );
}

#[test]
fn overflow_forwards_to_external_number_before_answering() {
    let mut h = Harness::new([QueueSpec {
        max_calls: 0,
        on_overflow: OnOverflow::Forward(elsewhere("tel:+14255550999")),
        ..spec("sales")
    }]);
    let c = h.arrive("sales");
    let actions = h.take();
    assert!(matches!(
        &actions[..],
        [Action::Forward { call, target, answered: false }]
            if *call == c && target == "tel:+14255550999"
    ));
    assert_eq!(h.steps(c), ["overflow", "forward"]);
    assert_eq!(h.terminal(c).len(), 1);
    assert_eq!(h.engine.call_count(), 0);
}

#[test]
fn timeout_disconnects_with_bye() {
    let mut h = Harness::new([QueueSpec {
        max_wait: secs(45),
        agent_alert_time: secs(60),
        ..sales()
    }]);
    let c = h.arrive("sales");
    h.take();
    h.advance(44);
    assert!(h.take().is_empty());
    h.advance(1);
    assert_eq!(
        h.take(),
        [
            Action::CancelRing {
                call: c,
                agent: crate::queue_support::ag("a")
            },
            Action::Disconnect {
                call: c,
                reason: EndReason::Timeout
            }
        ]
    );
    assert_eq!(h.steps(c).last(), Some(&"disconnect"));
    assert_eq!(h.engine.timer_count(), 0);
}

#[test]
fn timeout_forwards_to_queue() {
    let mut h = Harness::new([
        QueueSpec {
            max_wait: secs(15),
            on_timeout: OnTimeout::Forward(to_queue("second")),
            ..queue("first", Routing::Attendant, &["a"])
        },
        queue("second", Routing::Attendant, &["b"]),
    ]);
    let c = h.arrive("first");
    h.take();
    h.advance(15);
    let actions = h.take();
    assert_eq!(answers(&actions), 0, "already answered: no new signalling");
    assert!(matches!(&actions[0], Action::CancelRing { agent, .. } if agent.0 == "a"));
    // The music of the queue the call is in now.
    assert!(matches!(
        &actions[1],
        Action::PlayMusic { queue, .. } if queue.0 == "second"
    ));
    assert!(
        matches!(&actions[2], Action::Ring { agent, queue, .. } if agent.0 == "b" && queue.0 == "second")
    );
    assert_eq!(actions.len(), 3);
    assert_eq!(h.engine.call_queue(c), Some(&q("second")));
    let steps = h.steps(c);
    assert_eq!(
        &steps[steps.len() - 5..],
        ["timeout", "ring-end", "forward", "enter", "ring"]
    );
    assert!(
        h.terminal(c).is_empty(),
        "a forward to a queue does not end the call"
    );
}

#[test]
fn forward_to_queue_moves_call_without_signalling() {
    let mut h = Harness::new([
        QueueSpec {
            max_calls: 0,
            on_overflow: OnOverflow::Forward(to_queue("back")),
            ..spec("front")
        },
        queue("back", Routing::Attendant, &["c"]),
    ]);
    let c = h.arrive("front");
    let actions = h.take();
    // One answer, in the queue that took the call; no Forward action for the b2bua.
    assert_eq!(answers(&actions), 1);
    assert!(!actions.iter().any(|a| matches!(a, Action::Forward { .. })));
    assert!(matches!(actions.last(), Some(Action::Ring { agent, .. }) if agent.0 == "c"));
    assert_eq!(
        h.steps(c),
        ["overflow", "forward", "enter", "answer", "ring"]
    );
    let queues_of_events: Vec<&str> = h.events.iter().map(|e| e.queue.as_str()).collect();
    assert_eq!(queues_of_events, ["front", "front", "back", "back", "back"]);
}

#[test]
fn forward_loop_is_capped() {
    let mut h = Harness::new([spec("ping"), spec("pong")]);
    // Validation refuses loops in the file; provisioning can still make one at run time.
    for (from, to) in [("ping", "pong"), ("pong", "ping")] {
        let qc = QueueSpec {
            max_calls: 0,
            on_overflow: OnOverflow::Forward(to_queue(to)),
            ..spec(from)
        };
        h.engine.update_queue(h.now, qc);
    }
    let c = h.arrive("ping");
    assert_eq!(
        h.take(),
        [Action::Reject {
            call: c,
            status: 482
        }]
    );
    let forwards = h
        .events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Forward { .. }))
        .count();
    assert_eq!(forwards, 5);
    assert_eq!(h.terminal(c).len(), 1);
    assert_eq!(h.engine.call_count(), 0);
}

#[test]
fn forward_loop_after_answer_ends_with_bye() {
    let mut h = Harness::new([spec("ping"), spec("pong")]);
    for (from, to) in [("ping", "pong"), ("pong", "ping")] {
        let qc = QueueSpec {
            max_wait: secs(15),
            on_timeout: OnTimeout::Forward(to_queue(to)),
            ..spec(from)
        };
        h.engine.update_queue(h.now, qc);
    }
    let c = h.arrive("ping");
    h.advance(15 * 10);
    let actions = h.take();
    assert_eq!(answers(&actions), 1);
    assert_eq!(
        actions.last(),
        Some(&Action::Disconnect {
            call: c,
            reason: EndReason::ForwardLoop
        })
    );
    assert_eq!(h.now, holdline::time::Time::from_millis(150_000));
}

#[test]
fn max_wait_zero_runs_timeout_after_greeting() {
    let mut h = Harness::new([QueueSpec {
        has_greeting: true,
        max_wait: secs(0),
        on_timeout: OnTimeout::Forward(elsewhere("user:e")),
        ..sales()
    }]);
    let c = h.arrive("sales");
    let actions = h.take();
    assert!(matches!(
        actions[..],
        [Action::Answer { .. }, Action::PlayGreeting { .. }]
    ));
    h.advance(8);
    assert!(h.take().is_empty(), "the greeting is never cut short");
    h.greeting_done(c);
    assert!(matches!(
        &h.take()[..],
        [Action::Forward { target, answered: true, .. }] if target == "user:e"
    ));
    assert_eq!(h.steps(c), ["enter", "answer", "timeout", "forward"]);
}

#[test]
fn max_wait_zero_without_greeting_times_out_before_answering() {
    let mut h = Harness::new([QueueSpec {
        max_wait: secs(0),
        ..sales()
    }]);
    let c = h.arrive("sales");
    assert_eq!(
        h.take(),
        [Action::Reject {
            call: c,
            status: 480
        }]
    );
    assert_eq!(h.steps(c), ["enter", "timeout", "reject"]);
}

#[test]
fn timeout_waits_for_greeting_to_end() {
    let mut h = Harness::new([QueueSpec {
        has_greeting: true,
        max_wait: secs(15),
        ..sales()
    }]);
    let c = h.arrive("sales");
    h.take();
    h.advance(20);
    assert!(h.take().is_empty());
    h.greeting_done(c);
    assert_eq!(
        h.take(),
        [Action::Disconnect {
            call: c,
            reason: EndReason::Timeout
        }]
    );
}

#[test]
fn greeting_delays_offers_until_finished() {
    let mut h = Harness::new([QueueSpec {
        has_greeting: true,
        ..sales()
    }]);
    let c = h.arrive("sales");
    let actions = h.take();
    assert!(matches!(&actions[1], Action::PlayGreeting { queue, .. } if queue.0 == "sales"));
    assert_eq!(actions.len(), 2, "no ring during the greeting");
    h.advance(4);
    h.greeting_done(c);
    let actions = h.take();
    assert!(matches!(
        actions[..],
        [Action::PlayMusic { .. }, Action::Ring { .. }]
    ));
    // A second report is harmless.
    h.greeting_done(c);
    assert!(h.take().is_empty());
}

#[test]
fn greeting_guard_moves_on_when_media_never_reports() {
    let mut h = Harness::with_options(
        [QueueSpec {
            has_greeting: true,
            ..sales()
        }],
        |o| o.greeting_guard = Duration::from_secs(10),
    );
    h.arrive("sales");
    h.take();
    h.advance(10);
    assert!(matches!(
        h.take()[..],
        [Action::PlayMusic { .. }, Action::Ring { .. }]
    ));
}

#[test]
fn no_agents_disconnect() {
    let mut h = Harness::new([QueueSpec {
        no_agents: OnNoAgents::Disconnect,
        ..queue("sales", Routing::Attendant, &["a", "b"])
    }]);
    h.set("a", AgentChange::Offline);
    h.set("b", AgentChange::Dnd(true));
    let c = h.arrive("sales");
    assert_eq!(
        h.take(),
        [Action::Reject {
            call: c,
            status: 480
        }]
    );
    assert_eq!(h.steps(c), ["no-agents", "reject"]);
}

#[test]
fn no_agents_forward() {
    let mut h = Harness::new([QueueSpec {
        allow_opt_out: true,
        no_agents: OnNoAgents::Forward(elsewhere("tel:+14255550777")),
        ..sales()
    }]);
    h.set(
        "a",
        AgentChange::OptOut {
            queue: q("sales"),
            opted_out: true,
        },
    );
    let c = h.arrive("sales");
    assert!(matches!(
        &h.take()[..],
        [Action::Forward { call, target, answered: false }]
            if *call == c && target == "tel:+14255550777"
    ));
}

#[test]
fn no_agents_queue() {
    let mut h = Harness::new([sales()]);
    h.set("a", AgentChange::Offline);
    let c = h.arrive("sales");
    let actions = h.take();
    assert!(matches!(
        actions[..],
        [Action::Answer { .. }, Action::PlayMusic { .. }]
    ));
    h.set("a", AgentChange::Online);
    assert_eq!(h.rings(), [(c, "a".to_owned())]);
}

#[test]
fn busy_agents_still_count_as_serving_for_no_agents() {
    let mut h = Harness::new([QueueSpec {
        no_agents: OnNoAgents::Disconnect,
        ..sales()
    }]);
    let first = h.arrive("sales");
    h.answer(first, "a");
    h.take();
    let second = h.arrive("sales");
    assert!(matches!(
        h.take()[..],
        [Action::Answer { .. }, Action::PlayMusic { .. }]
    ));
    h.agent_hangs_up("a");
    assert_eq!(h.rings(), [(second, "a".to_owned())]);
}

#[test]
fn config_update_affects_new_calls_only() {
    let before = QueueSpec {
        max_wait: secs(60),
        ..queue("sales", Routing::Serial, &["a"])
    };
    let mut h = Harness::new([before.clone()]);
    let old = h.arrive("sales");
    h.take();
    let updated = QueueSpec {
        max_wait: secs(300),
        has_greeting: true,
        members: agents(&["b"]),
        ..before
    };
    h.engine.update_queue(h.now, updated);
    // The ring in progress goes on.
    assert!(h.take().is_empty());
    assert_eq!(h.ringing(old), ["a"]);
    let new = h.arrive("sales");
    assert!(matches!(
        &h.take()[..],
        [Action::Answer { .. }, Action::PlayGreeting { .. }]
    ));
    h.greeting_done(new);
    // The old call rings the new members once a's ring ends.
    h.decline(old, "a");
    assert_eq!(h.rings(), [(old, "b".to_owned())]);
    h.advance(60);
    assert!(
        h.steps(old).contains(&"timeout"),
        "old call keeps its max_wait"
    );
    assert!(!h.steps(new).contains(&"timeout"));
    h.advance(240);
    assert!(
        h.steps(new).contains(&"timeout"),
        "new call has the new max_wait"
    );
}

#[test]
fn removed_queue_serves_its_waiting_calls_then_goes() {
    let mut h = Harness::new([sales()]);
    let c = h.arrive("sales");
    h.take();
    h.engine.remove_queue(h.now, &q("sales")).unwrap();
    assert_eq!(
        h.engine
            .call_arrived(h.now, &q("sales"), Default::default()),
        Err(QueueError::UnknownQueue { queue: q("sales") })
    );
    assert_eq!(h.ringing(c), ["a"], "the waiting call is not disturbed");
    assert!(h.engine.queue_status(h.now, &q("sales")).unwrap().removed);
    h.answer(c, "a");
    assert!(
        h.engine.queue_ids().is_empty(),
        "gone once its line is empty"
    );
    h.agent_hangs_up("a");
    assert!(matches!(h.terminal(c)[..], [EventKind::Complete { .. }]));
}

#[test]
fn unknown_queue_is_refused() {
    let mut h = Harness::new([spec("sales")]);
    assert!(matches!(
        h.engine.call_arrived(h.now, &q("nope"), Default::default()),
        Err(QueueError::UnknownQueue { .. })
    ));
    assert_eq!(h.engine.call_count(), 0);
}

#[test]
fn forward_to_removed_queue_ends_the_call() {
    let mut h = Harness::new([
        QueueSpec {
            max_wait: secs(15),
            on_timeout: OnTimeout::Forward(to_queue("back")),
            ..queue("front", Routing::Attendant, &["a"])
        },
        queue("back", Routing::Attendant, &["b"]),
    ]);
    let c = h.arrive("front");
    h.engine.remove_queue(h.now, &q("back")).unwrap();
    h.take();
    h.advance(15);
    let actions = h.take();
    assert_eq!(
        actions.last(),
        Some(&Action::Disconnect {
            call: c,
            reason: EndReason::ForwardFailed
        })
    );
    let steps = h.steps(c);
    assert_eq!(
        steps[steps.len() - 4..],
        ["timeout", "ring-end", "forward", "disconnect"]
    );
    assert_eq!(h.terminal(c).len(), 1);
}
