//! Queue invariants under random event orders (proptest), and a scale check.
//!
//! Invariants, checked after every input and once everything is driven to its end:
//! - no agent rings for two calls at once, nor while on a call;
//! - the engine's idea of who rings matches the actions it handed out (every ring is canceled
//!   or has an outcome);
//! - FIFO: in a head-offer queue an agent is rung only for the first call in line past its
//!   greeting;
//! - every call ends in exactly one terminal event, and nothing follows it;
//! - at the end no call, ring, reservation or timer is left.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use proptest::prelude::*;

use crate::queue_support::{ag, options, q, queue, secs, to_queue};
use holdline::queue::{
    Action, Activity, AgentChange, CallId, CallerInfo, DeclineReason, Engine, OfferMode,
    OnNoAgents, OnOverflow, OnTimeout, QueueId, QueueSpec, Routing, WaitState,
};
use holdline::time::Time;

const AGENTS: [&str; 4] = ["a", "b", "c", "d"];

#[derive(Clone, Debug)]
enum Op {
    Arrive(usize),
    HangUp(usize),
    Answer(usize),
    Decline(usize, u16),
    Unreachable(usize),
    AgentEnds(usize),
    Change(usize, u8),
    Greeting(usize),
    Advance(u64),
    StaleAnswer(usize, usize),
    /// Provisioning changes queue one's routing and offer mode.
    Update(usize, bool),
    /// Provisioning removes queue two, or adds it back.
    ToggleTwo,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..2usize).prop_map(Op::Arrive),
        1 => any::<usize>().prop_map(Op::HangUp),
        3 => any::<usize>().prop_map(Op::Answer),
        2 => (any::<usize>(), prop::sample::select(vec![603u16, 486, 480, 500])).prop_map(|(i, s)| Op::Decline(i, s)),
        1 => any::<usize>().prop_map(Op::Unreachable),
        2 => (0..4usize).prop_map(Op::AgentEnds),
        2 => (0..4usize, 0..8u8).prop_map(|(a, c)| Op::Change(a, c)),
        2 => any::<usize>().prop_map(Op::Greeting),
        3 => (0..40u64).prop_map(Op::Advance),
        1 => (any::<usize>(), 0..4usize).prop_map(|(c, a)| Op::StaleAnswer(c, a)),
        1 => (0..4usize, any::<bool>()).prop_map(|(r, h)| Op::Update(r, h)),
        1 => Just(Op::ToggleTwo),
    ]
}

/// Queue one forwards its overflow and timeouts to queue two, which has a greeting and turns
/// calls away when nobody serves it.
fn queues(
    r1: Routing,
    o1: OfferMode,
    r2: Routing,
    o2: OfferMode,
    wrap: u64,
) -> [QueueSpec<String>; 2] {
    [
        QueueSpec {
            offer: o1,
            max_calls: 3,
            max_wait: secs(60),
            agent_alert_time: secs(15),
            wrap_up: secs(wrap),
            on_timeout: OnTimeout::Forward(to_queue("two")),
            on_overflow: OnOverflow::Forward(to_queue("two")),
            ..queue("one", r1, &["a", "b", "c"])
        },
        QueueSpec {
            offer: o2,
            max_calls: 4,
            max_wait: secs(45),
            agent_alert_time: secs(20),
            has_greeting: true,
            no_agents: OnNoAgents::Disconnect,
            ..queue("two", r2, &["b", "c", "d"])
        },
    ]
}

struct Model {
    specs: [QueueSpec<String>; 2],
    two_removed: bool,
    engine: Engine<String>,
    now: Time,
    head: BTreeSet<QueueId>,
    ringing: BTreeMap<String, CallId>,
    connected: BTreeMap<String, CallId>,
    calls: Vec<CallId>,
    terminal: BTreeMap<CallId, usize>,
    after_terminal: Vec<String>,
}

impl Model {
    fn live(&self) -> Vec<CallId> {
        self.calls
            .iter()
            .copied()
            .filter(|c| !self.terminal.contains_key(c))
            .collect()
    }

    fn pick_ring(&self, i: usize) -> Option<(String, CallId)> {
        if self.ringing.is_empty() {
            return None;
        }
        let (a, c) = self.ringing.iter().nth(i % self.ringing.len())?;
        Some((a.clone(), *c))
    }

    /// Takes the engine's outputs and checks the invariants.
    fn settle(&mut self) -> Result<(), TestCaseError> {
        let mut rung = Vec::new();
        while let Some(a) = self.engine.poll_action() {
            match a {
                Action::Ring {
                    call, agent, queue, ..
                } => {
                    prop_assert!(
                        !self.ringing.contains_key(&agent.0),
                        "{agent} rung for {call} while ringing for {:?}",
                        self.ringing.get(&agent.0)
                    );
                    prop_assert!(
                        !self.connected.contains_key(&agent.0),
                        "{agent} rung while on a call"
                    );
                    self.ringing.insert(agent.0.clone(), call);
                    rung.push((call, queue));
                }
                Action::CancelRing { call, agent } => {
                    prop_assert_eq!(self.ringing.remove(&agent.0), Some(call));
                }
                Action::Bridge { call, agent } => {
                    self.connected.insert(agent.0, call);
                }
                _ => {}
            }
        }
        while let Some(e) = self.engine.poll_event() {
            if self.terminal.contains_key(&e.call) {
                self.after_terminal.push(format!("{e}"));
            }
            if e.kind.is_terminal() {
                *self.terminal.entry(e.call).or_insert(0) += 1;
            }
        }
        prop_assert!(self.after_terminal.is_empty(), "{:?}", self.after_terminal);
        // FIFO in head-offer queues: a ring goes to the first call in line past its greeting.
        for (call, queue) in rung {
            if !self.head.contains(&queue) || !self.ringing.values().any(|c| *c == call) {
                continue;
            }
            let Some(status) = self.engine.queue_status(self.now, &queue) else {
                continue;
            };
            for w in status.waiting.iter().take_while(|w| w.call != call) {
                prop_assert_eq!(
                    &w.state,
                    &WaitState::Greeting,
                    "{} ahead of {} in {} is not in its greeting",
                    w.call,
                    call,
                    queue
                );
            }
        }
        // The engine agrees with the actions about who rings.
        for a in AGENTS {
            let s = self.engine.agent_status(&ag(a)).unwrap();
            let expect = match (self.ringing.get(a), self.connected.get(a)) {
                (Some(c), _) => Some(Activity::Ringing(*c)),
                (None, Some(c)) => Some(Activity::OnCall(*c)),
                _ => None,
            };
            match expect {
                Some(act) => prop_assert_eq!(s.activity, act),
                None => prop_assert!(matches!(s.activity, Activity::Idle | Activity::WrapUp(_))),
            }
        }
        Ok(())
    }

    fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        let now = self.now;
        match op {
            Op::Arrive(i) => {
                let queue = q(["one", "two"][*i]);
                match self
                    .engine
                    .call_arrived(now, &queue, CallerInfo::new("tel:+14255550123"))
                {
                    Ok(c) => self.calls.push(c),
                    Err(e) => prop_assert!(*i == 1 && self.two_removed, "{e}"),
                }
            }
            Op::HangUp(i) => {
                let live = self.live();
                if let Some(&c) = live.get(i % live.len().max(1)) {
                    self.engine.call_hung_up(now, c).expect("live call");
                    self.connected.retain(|_, x| *x != c);
                }
            }
            Op::Answer(i) => {
                if let Some((a, c)) = self.pick_ring(*i) {
                    self.engine
                        .agent_answered(now, c, &ag(&a))
                        .expect("ringing");
                    self.ringing.remove(&a);
                }
            }
            Op::Decline(i, status) => {
                if let Some((a, c)) = self.pick_ring(*i) {
                    let r = DeclineReason::from_status(*status);
                    self.engine
                        .agent_declined(now, c, &ag(&a), r)
                        .expect("ringing");
                    self.ringing.remove(&a);
                }
            }
            Op::Unreachable(i) => {
                if let Some((a, c)) = self.pick_ring(*i) {
                    self.engine
                        .agent_unreachable(now, c, &ag(&a))
                        .expect("ringing");
                    self.ringing.remove(&a);
                }
            }
            Op::AgentEnds(i) => {
                let a = AGENTS[*i];
                let r = self.engine.agent_call_ended(now, &ag(a));
                prop_assert_eq!(r.is_ok(), self.connected.remove(a).is_some());
            }
            Op::Change(i, k) => {
                let change = match k {
                    0 => AgentChange::Dnd(true),
                    1 => AgentChange::Dnd(false),
                    2 => AgentChange::Offline,
                    3 => AgentChange::Online,
                    4 => AgentChange::OptOut {
                        queue: q("one"),
                        opted_out: true,
                    },
                    5 => AgentChange::OptOut {
                        queue: q("one"),
                        opted_out: false,
                    },
                    6 => AgentChange::Busy(true),
                    _ => AgentChange::Busy(false),
                };
                self.engine
                    .set_agent_state(now, &ag(AGENTS[*i]), change)
                    .expect("agent");
            }
            Op::Greeting(i) => {
                let live = self.live();
                if let Some(&c) = live.get(i % live.len().max(1)) {
                    self.engine.greeting_finished(now, c).expect("live call");
                }
            }
            Op::Advance(s) => self.advance(Duration::from_secs(*s))?,
            Op::Update(r, head) => {
                let mut one = self.specs[0].clone();
                one.routing = [
                    Routing::Attendant,
                    Routing::Serial,
                    Routing::RoundRobin,
                    Routing::LongestIdle,
                ][*r];
                one.offer = if *head {
                    OfferMode::Head
                } else {
                    OfferMode::Parallel
                };
                if *head {
                    self.head.insert(q("one"));
                } else {
                    self.head.remove(&q("one"));
                }
                self.engine.update_queue(now, one);
            }
            Op::ToggleTwo => {
                if self.two_removed {
                    let two = self.specs[1].clone();
                    self.engine.update_queue(now, two);
                } else {
                    self.engine.remove_queue(now, &q("two")).expect("queue two");
                }
                self.two_removed = !self.two_removed;
            }
            Op::StaleAnswer(c, a) => {
                if !self.calls.is_empty() {
                    let call = self.calls[c % self.calls.len()];
                    let agent = AGENTS[*a];
                    let was_ringing = self.ringing.get(agent) == Some(&call);
                    let r = self.engine.agent_answered(now, call, &ag(agent));
                    prop_assert_eq!(r.is_ok(), was_ringing);
                    if was_ringing {
                        self.ringing.remove(agent);
                    }
                }
            }
        }
        self.settle()
    }

    fn advance(&mut self, d: Duration) -> Result<(), TestCaseError> {
        let target = self.now + d;
        while let Some(at) = self.engine.poll_timeout() {
            if at > target {
                break;
            }
            self.now = self.now.max(at);
            self.engine.handle_timeout(self.now);
            self.settle()?;
        }
        self.now = target;
        Ok(())
    }

    /// Ends everything: agents hang up, callers hang up, time runs out wrap-ups.
    fn finish(&mut self) -> Result<(), TestCaseError> {
        for a in AGENTS {
            if self.connected.remove(a).is_some() {
                self.engine
                    .agent_call_ended(self.now, &ag(a))
                    .expect("on call");
            }
        }
        self.settle()?;
        for c in self.live() {
            self.engine.call_hung_up(self.now, c).expect("live call");
            self.connected.retain(|_, x| *x != c);
            self.settle()?;
        }
        self.advance(Duration::from_secs(3600))?;
        prop_assert_eq!(self.engine.call_count(), 0);
        prop_assert_eq!(self.engine.timer_count(), 0);
        prop_assert!(self.ringing.is_empty(), "left ringing: {:?}", self.ringing);
        for a in AGENTS {
            prop_assert_eq!(
                self.engine.agent_status(&ag(a)).unwrap().activity,
                Activity::Idle
            );
        }
        for c in &self.calls {
            prop_assert_eq!(self.terminal.get(c).copied(), Some(1), "{}", c);
        }
        Ok(())
    }
}

fn routing() -> impl Strategy<Value = Routing> {
    prop::sample::select(vec![
        Routing::Attendant,
        Routing::Serial,
        Routing::RoundRobin,
        Routing::LongestIdle,
    ])
}

fn offer() -> impl Strategy<Value = OfferMode> {
    prop::sample::select(vec![OfferMode::Head, OfferMode::Parallel])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn queue_invariants_hold_under_random_event_orders(
        r1 in routing(), o1 in offer(), r2 in routing(), o2 in offer(),
        wrap in prop::sample::select(vec![0u64, 10]),
        ops in prop::collection::vec(op(), 1..80),
    ) {
        let specs = queues(r1, o1, r2, o2, wrap);
        let mut head = BTreeSet::new();
        for (id, o) in [("one", o1), ("two", o2)] {
            if o == OfferMode::Head {
                head.insert(q(id));
            }
        }
        let online = AGENTS.iter().map(|a| (ag(a), true));
        let mut m = Model {
            engine: Engine::new(options(), online, specs.clone()),
            specs,
            two_removed: false,
            now: Time::ZERO,
            head,
            ringing: BTreeMap::new(),
            connected: BTreeMap::new(),
            calls: Vec::new(),
            terminal: BTreeMap::new(),
            after_terminal: Vec::new(),
        };
        for op in &ops {
            m.apply(op)?;
        }
        m.finish()?;
    }
}

/// 1,000 waiting calls over five queues of 50 agents drawn from 200, and a few thousand
/// events: the engine must not blow up quadratically (no timing asserts; the test would
/// simply take minutes if it did).
#[test]
fn thousand_waiting_calls_and_two_hundred_agents() {
    let users: Vec<String> = (0..200).map(|i| format!("u{i}")).collect();
    let routings = [
        Routing::Attendant,
        Routing::Serial,
        Routing::RoundRobin,
        Routing::LongestIdle,
        Routing::Serial,
    ];
    let specs = routings.iter().enumerate().map(|(k, &routing)| {
        let agents: Vec<&str> = (0..50)
            .map(|j| users[(k * 40 + j) % 200].as_str())
            .collect();
        let offer = if k % 2 == 0 {
            OfferMode::Parallel
        } else {
            OfferMode::Head
        };
        QueueSpec {
            offer,
            max_calls: 200,
            max_wait: secs(2700),
            wrap_up: secs(5),
            ..queue(&format!("q{k}"), routing, &agents)
        }
    });
    let online = users.iter().map(|u| (ag(u), true));
    let mut engine: Engine<String> = Engine::new(options(), online, specs);
    let mut now = Time::ZERO;
    let mut calls = Vec::new();
    for i in 0..1000 {
        let queue = QueueId(format!("q{}", i % 5));
        calls.push(
            engine
                .call_arrived(now, &queue, CallerInfo::default())
                .unwrap(),
        );
    }
    let mut ringing: Vec<(CallId, holdline::queue::AgentId)> = Vec::new();
    let mut on_call = Vec::new();
    let mut events = 0usize;
    for step in 0..4000u64 {
        while let Some(a) = engine.poll_action() {
            match a {
                Action::Ring { call, agent, .. } => ringing.push((call, agent)),
                Action::CancelRing { call, agent } => {
                    ringing.retain(|r| *r != (call, agent.clone()))
                }
                _ => {}
            }
        }
        while engine.poll_event().is_some() {
            events += 1;
        }
        match step % 5 {
            0..=2 if !ringing.is_empty() => {
                let (call, agent) = ringing.swap_remove((step as usize * 7) % ringing.len());
                if step % 5 == 0 {
                    engine.agent_answered(now, call, &agent).unwrap();
                    on_call.push(agent);
                } else {
                    let reason = DeclineReason::Declined;
                    engine.agent_declined(now, call, &agent, reason).unwrap();
                }
            }
            3 if !on_call.is_empty() => {
                let agent = on_call.swap_remove(0);
                engine.agent_call_ended(now, &agent).unwrap();
            }
            _ => {
                now += Duration::from_secs(1);
                engine.handle_timeout(now);
            }
        }
    }
    assert!(events > 4000);
    let waiting: usize = (0..5)
        .map(|k| {
            engine
                .queue_status(now, &QueueId(format!("q{k}")))
                .unwrap()
                .waiting
                .len()
        })
        .sum();
    assert!(
        waiting > 0 && waiting < 1000,
        "calls were served: {waiting} still wait"
    );
    assert_eq!(engine.call_count(), waiting + on_call.len());
}
