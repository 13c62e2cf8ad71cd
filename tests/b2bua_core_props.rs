//! A property test over the whole `b2bua::Core` on virtual time: random orders of callers'
//! INVITE / ACK / CANCEL / BYE, agents' (and the trunk's) 100 / 180 / 200 / 486 / BYE / REFER,
//! the callers' answers to our REFER (202, 603, silence) and their NOTIFYs (sipfrag 100, 200,
//! 503), provisioning changes (`reconfigure`), agents' settings (DND, opt-outs) and time
//! passing. The world is two queues (`sales` forwards to an external number after 15 s, by
//! REFER to a caller's side that takes it; `support` rings before answering), 2–3 agents with
//! static contacts, a trunk that allows `+1425*`, and 1–3 callers; see `core_props`.
//!
//! Invariants, after every step:
//! - no in-dialog request a peer sends for a dialog still up gets 481: a caller's BYE, a
//!   caller's NOTIFY for our REFER within 64·T1 of it, an agent's BYE or REFER;
//! - every 2xx a phone sends is ACKed at once (unless holdline's INVITE transaction may be
//!   gone by the RFC: no 1xx within 64·T1, or 64·T1 after its CANCEL);
//! - a refused REFER, or a failure sipfrag, is followed at once by an INVITE through the trunk
//!   for that caller; a 2xx sipfrag by our BYE;
//! - the trunk is asked only for numbers its allow list admits; nothing goes to anyone else.
//!
//! Then everyone answers everything (as the case says: ACK; 603, 202 + sipfrag, or silence to
//! a REFER; 486, 200 or silence to an INVITE) for four minutes: every caller still up must be
//! bridged to someone (a forward ends in a bridge or a BYE). Then everyone hangs up, time runs
//! past every 64·T1 timer, and no call, transaction or RTP port may be left, before and after
//! `shutdown`. No input may panic the core.
//!
//! Cases: 256, or `PROPTEST_CASES`.

mod core_props;

use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use core_props::caller::CallState;
use core_props::phone::PState;
use core_props::{config, Mode, Sim, SERVICE, SIXTY_FOUR_T1};

/// Where an agent transfers its caller.
#[derive(Clone, Copy, Debug)]
enum Target {
    /// `support`'s service number.
    Queue,
    /// The first agent.
    User,
    /// A number the trunk allows.
    Allowed,
    /// A number nobody allowed: 403.
    Refused,
}

const TARGETS: [Target; 4] = [
    Target::Queue,
    Target::User,
    Target::Allowed,
    Target::Refused,
];

impl Target {
    fn uri(self) -> &'static str {
        match self {
            Target::Queue => "sip:+14255550101@127.0.0.1;user=phone",
            Target::User => "sip:a0@127.0.0.1",
            Target::Allowed => "tel:+14255550999",
            Target::Refused => "tel:+882345678901",
        }
    }
}

/// One thing a peer, the provisioning API or the clock does. Indices wrap around what exists.
#[derive(Clone, Debug)]
enum Step {
    Invite {
        caller: usize,
        queue: usize,
        refer: bool,
    },
    Ack(usize),
    Cancel(usize),
    Bye(usize),
    /// A phone (agents, then the trunk) answers an INVITE it got.
    Answer {
        phone: usize,
        pick: usize,
        status: u16,
    },
    /// A phone answers a CANCEL: 200, then 487.
    Cancelled {
        phone: usize,
        pick: usize,
    },
    PhoneBye {
        phone: usize,
        pick: usize,
    },
    Transfer {
        phone: usize,
        pick: usize,
        to: Target,
    },
    /// A caller answers our REFER.
    ReferAnswer {
        caller: usize,
        status: u16,
    },
    /// A caller reports on our REFER (sipfrag status).
    Notify {
        caller: usize,
        frag: u16,
    },
    Reconfigure(u8),
    /// An agent toggles DND (0) or its opt-out of `sales` (1) or `support` (2).
    Settings {
        agent: usize,
        change: u8,
    },
    Advance(u64),
}

fn step() -> impl Strategy<Value = Step> {
    let idx = 0..3usize;
    prop_oneof![
        4 => (idx.clone(), 0..2usize, any::<bool>())
            .prop_map(|(caller, queue, refer)| Step::Invite { caller, queue, refer }),
        4 => idx.clone().prop_map(Step::Ack),
        1 => idx.clone().prop_map(Step::Cancel),
        1 => idx.clone().prop_map(Step::Bye),
        5 => (0..4usize, 0..4usize, prop::sample::select(vec![100u16, 180, 200, 200, 486]))
            .prop_map(|(phone, pick, status)| Step::Answer { phone, pick, status }),
        1 => (0..4usize, 0..4usize).prop_map(|(phone, pick)| Step::Cancelled { phone, pick }),
        1 => (0..4usize, 0..4usize).prop_map(|(phone, pick)| Step::PhoneBye { phone, pick }),
        3 => (0..4usize, 0..4usize, prop::sample::select(TARGETS.to_vec()))
            .prop_map(|(phone, pick, to)| Step::Transfer { phone, pick, to }),
        2 => (idx.clone(), prop::sample::select(vec![202u16, 603]))
            .prop_map(|(caller, status)| Step::ReferAnswer { caller, status }),
        2 => (idx.clone(), prop::sample::select(vec![100u16, 200, 503]))
            .prop_map(|(caller, frag)| Step::Notify { caller, frag }),
        2 => (0..6u8).prop_map(Step::Reconfigure),
        1 => (idx, 0..3u8).prop_map(|(agent, change)| Step::Settings { agent, change }),
        4 => prop_oneof![3 => 0..3_000u64, 2 => 3_000..20_000u64].prop_map(Step::Advance),
    ]
}

/// The size of the world and how the peers behave once the steps are over.
#[derive(Clone, Debug)]
struct World {
    agents: usize,
    callers: usize,
    settle_refer: u8,
    settle_phone: u8,
}

fn world() -> impl Strategy<Value = World> {
    (2..=3usize, 1..=3usize, 0..4u8, 0..3u8).prop_map(
        |(agents, callers, settle_refer, settle_phone)| World {
            agents,
            callers,
            settle_refer,
            settle_phone,
        },
    )
}

fn apply(sim: &mut Sim, step: &Step) {
    let now = sim.now;
    let callers = sim.callers.len();
    let phones = sim.phones.len();
    match *step {
        Step::Invite {
            caller,
            queue,
            refer,
        } => sim.callers[caller % callers].invite(SERVICE[queue % 2], refer),
        Step::Ack(c) => sim.callers[c % callers].ack(),
        Step::Cancel(c) => sim.callers[c % callers].cancel(),
        Step::Bye(c) => sim.callers[c % callers].bye(),
        Step::Answer {
            phone,
            pick,
            status,
        } => {
            let phone = phone % phones;
            if let Some(call_id) = sim.phones[phone].respond(now, pick, status) {
                sim.pump();
                if sim.phones[phone].state_of(&call_id) == Some(PState::Answered) {
                    sim.fail(format!("the 200 of {call_id} was not ACKed"));
                }
            }
        }
        Step::Cancelled { phone, pick } => sim.phones[phone % phones].answer_cancel(pick),
        Step::PhoneBye { phone, pick } => sim.phones[phone % phones].bye(pick),
        Step::Transfer { phone, pick, to } => sim.phones[phone % phones].refer(pick, to.uri()),
        Step::ReferAnswer { caller, status } => {
            let c = caller % callers;
            let before = sim.trunk_invites_for(c);
            if let Some(at) = sim.callers[c].answer_refer(status) {
                sim.pump();
                if status >= 300 && now < at + SIXTY_FOUR_T1 {
                    expect_fallback(sim, c, before, "a refused REFER");
                }
            }
        }
        Step::Notify { caller, frag } => {
            let c = caller % callers;
            let before = sim.trunk_invites_for(c);
            if let Some(true) = sim.callers[c].notify(now, frag) {
                sim.pump();
                match frag {
                    200 if sim.callers[c].live().is_some() => sim.fail(format!(
                        "{}: a 2xx sipfrag was not followed by our BYE",
                        sim.callers[c].name
                    )),
                    503 => expect_fallback(sim, c, before, "a failure sipfrag"),
                    _ => {}
                }
            }
        }
        Step::Reconfigure(which) => {
            sim.knobs.flip(which);
            let config = config(sim.agents, &sim.knobs);
            sim.core.reconfigure(now, &config);
        }
        Step::Settings { agent, change } => {
            let agent = format!("a{}", agent % sim.agents);
            let s = &mut sim.settings;
            match change % 3 {
                0 => toggle(&mut s.dnd, agent),
                1 => toggle(&mut s.opted_out, (agent, "sales".to_owned())),
                _ => toggle(&mut s.opted_out, (agent, "support".to_owned())),
            }
            let settings = sim.settings.clone();
            sim.core.set_agent_settings(now, &settings);
        }
        Step::Advance(ms) => sim.advance(Duration::from_millis(ms)),
    }
    sim.pump();
}

fn toggle<T: Ord>(set: &mut std::collections::BTreeSet<T>, value: T) {
    if !set.remove(&value) {
        set.insert(value);
    }
}

/// Caller `c`, still up, must have been dialled through the trunk on its behalf just now.
fn expect_fallback(sim: &mut Sim, c: usize, before: usize, what: &str) {
    let up = matches!(
        sim.callers[c].live().map(|call| call.state),
        Some(CallState::Up { .. })
    );
    if up && sim.trunk_invites_for(c) == before {
        let name = sim.callers[c].name.clone();
        sim.fail(format!(
            "{name}: {what} was not followed by an INVITE through the trunk"
        ));
    }
}

fn check(sim: &mut Sim, when: &str) -> Result<(), TestCaseError> {
    match sim.failure.take() {
        Some(why) => Err(TestCaseError::fail(format!("{when}: {why}"))),
        None => Ok(()),
    }
}

fn run(world: &World, steps: &[Step]) -> Result<(), TestCaseError> {
    let mut sim = Sim::new(world.agents, world.callers);
    for (n, step) in steps.iter().enumerate() {
        apply(&mut sim, step);
        check(&mut sim, &format!("step {n} ({step:?})"))?;
    }

    // Everyone answers everything; every forward reaches an end.
    sim.mode = Mode::Settle {
        refer: world.settle_refer,
        phone: world.settle_phone,
    };
    sim.act();
    let settle = Duration::from_secs(240);
    for _ in 0..settle.as_secs() {
        sim.advance(Duration::from_secs(1));
    }
    sim.check_nobody_stranded(settle);
    check(&mut sim, "after the peers answered everything")?;

    // Everyone hangs up; time runs past every transaction timer.
    sim.mode = Mode::WindDown;
    sim.act();
    for _ in 0..200 {
        sim.advance(Duration::from_secs(1));
    }
    sim.check_released("200 s after everyone hung up");
    check(&mut sim, "wind-down")?;
    let now = sim.now;
    sim.core.shutdown(now);
    sim.pump();
    sim.advance(Duration::from_secs(100));
    sim.check_released("after shutdown");
    check(&mut sim, "shutdown")
}

/// The flows of our REFER to a caller's side across a provisioning change, written out: each
/// answer (603, 202 and NOTIFY, silence) must keep the invariants.
#[test]
fn refer_flows_across_a_reconfigure_keep_the_invariants() {
    let world = World {
        agents: 2,
        callers: 1,
        settle_refer: 2,
        settle_phone: 1,
    };
    let referred = [
        Step::Invite {
            caller: 0,
            queue: 0,
            refer: true,
        },
        Step::Ack(0),
        Step::Advance(15_100),
    ];
    let answers: [&[Step]; 4] = [
        &[Step::ReferAnswer {
            caller: 0,
            status: 603,
        }],
        &[
            Step::ReferAnswer {
                caller: 0,
                status: 202,
            },
            Step::Notify {
                caller: 0,
                frag: 100,
            },
            Step::Notify {
                caller: 0,
                frag: 200,
            },
        ],
        &[
            Step::ReferAnswer {
                caller: 0,
                status: 202,
            },
            Step::Notify {
                caller: 0,
                frag: 503,
            },
        ],
        // Silence: the peers' settle policy leaves the REFER unanswered.
        &[],
    ];
    let mut failed = Vec::new();
    for answer in answers {
        let mut steps = referred.to_vec();
        steps.push(Step::Reconfigure(0));
        steps.extend_from_slice(answer);
        if let Err(e) = run(&world, &steps) {
            failed.push(format!("{steps:?}:\n  {e}"));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

fn cases() -> ProptestConfig {
    // `ProptestConfig::default()` reads PROPTEST_CASES; without it, 256 cases.
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 256;
    }
    config
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn core_invariants_hold_under_random_call_flows(
        world in world(),
        steps in prop::collection::vec(step(), 1..60),
    ) {
        run(&world, &steps)?;
    }
}
