//! [`Switch`]: what happens to calls. It owns the queue engine, the agent legs rung for each
//! offer, the forwards and transfers in flight and the call timers. It consumes the legs'
//! [`LegEvent`]s, tells the legs what to do through their commands (answer, ring, hang up,
//! ring an agent, cancel, REFER, NOTIFY, redirect) and emits media commands ([`Event`]); it
//! never reads or writes a dialog's fields.
//!
//! # Layout
//! - this file: the leg events in, the engine pumped, timers, the queue event log.
//! - `queueing`: the engine's actions carried out; agent legs per (call, agent).
//! - `transfer`: forwards of answered calls and agents' REFERs.
//! - `attended`: agents' attended transfers (REFER with Replaces).
//! - `direct`: users' calls to users, feature-code calls, and who is busy on any call.
//! - `outbound`: users' calls to external numbers through a trunk.

mod attended;
mod direct;
mod outbound;
mod queueing;
mod transfer;
mod view;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::Duration;

use std::path::PathBuf;

use crate::config::{Config, Music, QueueId, Target};
use crate::queue::types::{AgentId, CallId as QueueCallId};
use crate::queue::{Engine, EngineOptions, QueueSpec};
use crate::time::Time;

use super::core::Event;
use super::legs::call::CallHandle;
use super::legs::{LegEvent, Legs};
use super::locations::Locations;
use super::provisioning::LoggedEvent;
use super::settings::Settings;

pub(crate) use self::direct::Caller;
pub(crate) use self::outbound::ShownIdentity;
use self::queueing::Rings;
use self::transfer::Transfers;

/// What a switch step works with: the time, the legs it commands, the configuration, and
/// where its media commands go.
pub(crate) struct Ctx<'a> {
    pub now: Time,
    pub legs: &'a mut Legs,
    pub settings: &'a Settings,
    pub locations: &'a Locations,
    pub media: &'a mut VecDeque<Event>,
    /// Trunk SBCs' health: down ones are skipped by failover.
    pub health: &'a super::sbc_health::Health,
    /// What DNS gave for trunk SBCs named by host (`sbc_dns`).
    pub addresses: &'a super::sbc_dns::SbcAddresses,
}

impl Ctx<'_> {
    /// Sends a media command, after what the legs told the media plane so far: a caller is
    /// answered before its music starts, an agent leg before its bridge.
    pub fn emit(&mut self, event: Event) {
        self.flush_media();
        self.media.push_back(event);
    }

    /// Moves what the legs told the media plane into the output.
    pub fn flush_media(&mut self) {
        while let Some(event) = self.legs.poll_media() {
            self.media.push_back(event);
        }
    }
}

/// Timers the switch keeps for calls (the transaction layer keeps its own).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum CallTimer {
    /// End of the ring-before-answer delay.
    Answer,
    /// No final NOTIFY for our REFER to the caller's side in time: place the leg ourselves.
    Refer,
    /// The caller's greeting has played to its end: music, and offers to agents.
    GreetingEnd,
    /// A feature code's confirmation has played: hang up.
    FeatureDone,
    /// A user's call to a user rang out unanswered.
    UserNoAnswer,
    /// An external forward's SBC sent no provisional response in time: the next one.
    FirstResponse,
    /// A user's outbound call: its SBC sent no provisional response in time.
    OutboundFirstResponse,
}

/// The engine's calls and ours, both ways, and where each caller sits.
#[derive(Debug, Default)]
struct Seats {
    calls: HashMap<QueueCallId, CallHandle>,
    queue_call_of: HashMap<CallHandle, QueueCallId>,
    seat: HashMap<CallHandle, Seat>,
}

/// The queue a caller is in (or was last, while forwarded) and the prompts it entered with: a
/// configuration change reaches new calls, never the greeting or music of one in line.
#[derive(Debug)]
struct Seat {
    queue: QueueId,
    greeting: Option<PathBuf>,
    music: Music,
}

impl Seat {
    fn new(queue: QueueId, settings: &Settings) -> Seat {
        Seat {
            greeting: settings.greeting(&queue),
            music: settings.music(&queue),
            queue,
        }
    }
}

/// Engine events for the runtime's log, named by the caller's SIP Call-ID.
#[derive(Debug, Default)]
struct Log {
    events: VecDeque<LoggedEvent>,
    /// The SIP Call-ID of each engine call seen in an event, until its terminal event.
    call_ids: HashMap<QueueCallId, String>,
}

/// The call switch (see the module doc).
pub(crate) struct Switch {
    engine: Engine<Target>,
    seats: Seats,
    rings: Rings,
    transfers: Transfers,
    timers: BTreeSet<(Time, CallHandle, CallTimer)>,
    /// Users' calls to users, feature-code calls, who is busy.
    direct: direct::Direct,
    /// Users' calls to external numbers.
    outbound: outbound::Outbound,
    /// How long our REFER to a caller's side may go without an outcome (64·T1).
    refer_timeout: Duration,
    log: Log,
}

impl Switch {
    pub fn new(config: &Config, locations: &Locations, refer_timeout: Duration) -> Switch {
        let agents = locations
            .users()
            .map(|(u, online)| (AgentId::from(u), online));
        Switch {
            engine: Engine::new(
                EngineOptions::for_longest_prompt(config.media.max_prompt),
                agents,
                config.queues.iter().map(QueueSpec::from),
            ),
            seats: Seats::default(),
            rings: Rings::default(),
            transfers: Transfers::default(),
            timers: BTreeSet::new(),
            direct: direct::Direct::default(),
            outbound: outbound::Outbound::default(),
            refer_timeout,
            log: Log::default(),
        }
    }

    pub fn engine(&self) -> &Engine<Target> {
        &self.engine
    }

    pub fn engine_mut(&mut self) -> &mut Engine<Target> {
        &mut self.engine
    }

    pub fn poll_logged(&mut self) -> Option<LoggedEvent> {
        self.log.events.pop_front()
    }

    /// The earliest time [`Switch::handle_timeout`] must run.
    pub fn poll_timeout(&self) -> Option<Time> {
        let timer = self.timers.first().map(|(at, _, _)| *at);
        [timer, self.engine.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    /// The caller behind an engine call, while the switch knows it.
    pub fn call_of(&self, call: QueueCallId) -> Option<CallHandle> {
        self.seats.calls.get(&call).copied()
    }

    /// Fires the call timers due at `cx.now` (the engine's run in [`Switch::pump`]).
    pub fn handle_timeout(&mut self, cx: &mut Ctx) {
        while let Some(&(at, call, timer)) = self.timers.first() {
            if at > cx.now {
                break;
            }
            self.timers.pop_first();
            match timer {
                CallTimer::Answer => cx.legs.answer_now(cx.now, call),
                CallTimer::Refer => self.refer_timed_out(cx, call),
                CallTimer::GreetingEnd => self.greeting_finished(cx.now, call),
                CallTimer::FeatureDone => self.feature_done(cx, call),
                CallTimer::UserNoAnswer => self.user_no_answer(cx, call),
                CallTimer::FirstResponse => self.first_response_timed_out(cx, call),
                CallTimer::OutboundFirstResponse => {
                    self.outbound_first_response_timed_out(cx, call)
                }
            }
        }
    }

    /// Acts on what a leg reported.
    pub fn on_leg_event(&mut self, cx: &mut Ctx, event: LegEvent) {
        match event {
            LegEvent::CallerArrived {
                call,
                queue,
                caller,
            } => self.caller_arrived(cx, call, queue, caller),
            LegEvent::CallerGone { call } => {
                self.timers.retain(|(_, h, _)| *h != call);
                self.direct_caller_gone(cx, call);
                self.outbound_caller_gone(cx, call);
                self.caller_gone(cx, call);
            }
            LegEvent::CallerReplaces { call, replaced } => self.caller_replaced(cx, call, replaced),
            LegEvent::CallerNotify { tx, call, req } => self.on_caller_notify(cx, tx, call, &req),
            LegEvent::ReferAnswered { call, status } => {
                self.on_caller_refer_response(cx, call, status)
            }
            LegEvent::LegAnswered { leg } => {
                if !self.outbound_leg_answered(cx, leg) && !self.direct_leg_answered(cx, leg) {
                    self.on_leg_answered(cx, leg)
                }
            }
            LegEvent::LegEarlyMedia { leg } => self.forward_early_media(cx, leg),
            LegEvent::LegEnded { leg, outcome } => {
                if !self.outbound_leg_ended(cx, leg, outcome)
                    && !self.direct_leg_ended(cx, leg, outcome)
                {
                    self.on_leg_ended(cx, leg, outcome)
                }
            }
            LegEvent::LegRefer { tx, leg, req } => self.on_refer(cx, tx, leg, req),
        }
    }

    /// A caller's INVITE reached `queue`: the engine decides (answer, 486, forward, 480).
    fn caller_arrived(
        &mut self,
        cx: &mut Ctx,
        call: CallHandle,
        queue: QueueId,
        caller: crate::queue::types::CallerInfo,
    ) {
        match self.engine.call_arrived(cx.now, &queue, caller) {
            Ok(qcall) => {
                self.seats.calls.insert(qcall, call);
                self.seats.queue_call_of.insert(call, qcall);
                let seat = Seat::new(queue, cx.settings);
                self.seats.seat.insert(call, seat);
            }
            Err(err) => {
                tracing::warn!(%err, "the queue engine refused the call");
                cx.legs.hang_up(cx.now, call, 503, "queue unavailable");
            }
        }
    }

    /// Runs the engine until it has nothing more to say, carrying out its actions. Returns
    /// whether it did anything.
    pub fn pump(&mut self, cx: &mut Ctx) -> bool {
        let mut busy = false;
        self.engine.handle_timeout(cx.now);
        // Events first, while every call they name is still mapped to its dialog (carrying
        // out an action may forget it), then those the actions caused.
        self.drain_queue_events(cx.legs);
        while let Some(action) = self.engine.poll_action() {
            busy = true;
            self.carry_out(cx, action);
        }
        self.drain_queue_events(cx.legs);
        busy
    }

    /// The media plane started playing a call's greeting, `length` long (zero: it skipped it).
    pub fn greeting_started(&mut self, now: Time, call: CallHandle, length: Duration) {
        if length.is_zero() {
            return self.greeting_finished(now, call);
        }
        self.timers
            .insert((now + length, call, CallTimer::GreetingEnd));
    }

    /// The call's greeting has played to its end (its timer, or a greeting of no length).
    fn greeting_finished(&mut self, now: Time, call: CallHandle) {
        if let Some(&qcall) = self.seats.queue_call_of.get(&call) {
            let _ = self.engine.greeting_finished(now, qcall);
        }
    }

    /// Moves the engine's events out, naming each call by its SIP Call-ID. Called before the
    /// engine's actions are carried out (they may forget the call) and after.
    fn drain_queue_events(&mut self, legs: &Legs) {
        while let Some(event) = self.engine.poll_event() {
            tracing::info!(
                target: "holdline::queue_events",
                call = %event.call,
                queue = %event.queue,
                agent = ?event.agent.as_ref().map(|a| a.as_str()),
                waited_ms = event.waited.as_millis() as u64,
                kind = event.kind.name(),
                "queue event"
            );
            let known = self
                .seats
                .calls
                .get(&event.call)
                .and_then(|h| legs.call_id(*h))
                .map(str::to_owned);
            let call_id = match known {
                Some(id) => {
                    self.log.call_ids.insert(event.call, id.clone());
                    id
                }
                None => self
                    .log
                    .call_ids
                    .get(&event.call)
                    .cloned()
                    .unwrap_or_else(|| event.call.to_string()),
            };
            if event.kind.is_terminal() {
                self.log.call_ids.remove(&event.call);
            }
            self.log.events.push_back(LoggedEvent { event, call_id });
        }
    }

    /// The engine has already forgotten this call (it rejected, forwarded or disconnected it).
    fn forget_queue_call(&mut self, handle: CallHandle) {
        if let Some(qcall) = self.seats.queue_call_of.remove(&handle) {
            self.seats.calls.remove(&qcall);
        }
    }
}
