//! The admin API's view of the running server: [`RuntimeLive`] answers the API's
//! [`LiveState`] requests from the core task, where the calls, the engine and the media plane
//! live, and [`Tally`] keeps the per-queue counters `/metrics` exports.
//!
//! A snapshot is built only when asked (a status request, a metrics scrape): the request
//! travels to the core task on a channel and the answer comes back on a oneshot, so the call
//! path never pays for the API.

use std::collections::BTreeMap;

use tokio::sync::{mpsc, oneshot};

use crate::api::live::ConnectionCounters;
use crate::api::live::{
    ActiveCall, AgentState, Counters, LiveSnapshot, LiveState, QueueCounters, QueueLive,
    SnapshotFuture, WaitingCall,
};
use crate::b2bua::Core;
use crate::queue::event::{EventKind, QueueEvent};
use crate::queue::status::AgentStatus;
use crate::queue::types::Activity;
use crate::time::Time;

/// How many snapshot requests may wait for the core task.
const PENDING: usize = 64;

/// A request for a snapshot: where to send it.
pub(crate) type LiveRequest = oneshot::Sender<LiveSnapshot>;

/// The API's handle on the core task's live state.
pub struct RuntimeLive {
    requests: mpsc::Sender<LiveRequest>,
}

/// Where the core task receives snapshot requests.
pub struct LiveRequests(pub(crate) mpsc::Receiver<LiveRequest>);

impl RuntimeLive {
    /// The API's side and the core task's side of the snapshot channel.
    pub fn channel() -> (RuntimeLive, LiveRequests) {
        let (requests, rx) = mpsc::channel(PENDING);
        (RuntimeLive { requests }, LiveRequests(rx))
    }
}

impl LiveState for RuntimeLive {
    fn snapshot(&self) -> SnapshotFuture {
        let requests = self.requests.clone();
        Box::pin(async move {
            let (reply, answer) = oneshot::channel();
            // The core task has stopped (shutting down): nothing is live any more.
            if requests.send(reply).await.is_err() {
                return LiveSnapshot::default();
            }
            answer.await.unwrap_or_default()
        })
    }
}

/// Per-queue call counters since start, from the engine's events.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    queues: BTreeMap<String, QueueCounters>,
}

impl Tally {
    pub(crate) fn count(&mut self, event: &QueueEvent) {
        let c = self.queues.entry(event.queue.0.clone()).or_default();
        match event.kind {
            // Every arrival in a queue is exactly one of these three.
            EventKind::Enter { .. } | EventKind::NoAgents => c.offered += 1,
            EventKind::Overflow => {
                c.offered += 1;
                c.overflowed += 1;
            }
            EventKind::Connect => c.answered += 1,
            EventKind::Abandon => c.abandoned += 1,
            EventKind::Timeout => c.timed_out += 1,
            _ => {}
        }
    }
}

/// Everything live now, read from the core task's state.
pub(crate) fn snapshot(core: &Core, now: Time, tally: &Tally, rtp_streams: usize) -> LiveSnapshot {
    let engine = core.engine();
    let mut queues = BTreeMap::new();
    for id in engine.queue_ids() {
        let Some(status) = engine.queue_status(now, &id) else {
            continue;
        };
        let waiting = status
            .waiting
            .iter()
            .map(|w| WaitingCall {
                call_id: core
                    .queue_call_id(w.call)
                    .map_or_else(|| w.call.to_string(), str::to_owned),
                caller: match &w.caller.display {
                    Some(name) => format!("\"{name}\" <{}>", w.caller.from),
                    None => w.caller.from.clone(),
                },
                position: u32::try_from(w.position).unwrap_or(u32::MAX),
                waiting_secs: w.waited.as_secs(),
            })
            .collect();
        let agents = status
            .agents
            .iter()
            .map(|a| (a.status.agent.0.clone(), agent_state(&a.status, a.serves)))
            .collect();
        queues.insert(id.0.clone(), QueueLive { waiting, agents });
    }
    let calls = core
        .calls_view(now)
        .into_iter()
        .map(|c| ActiveCall {
            call_id: c.call_id,
            queue: c.queue.0,
            caller: c.caller,
            state: c.state.to_owned(),
            agent: c.agent,
            duration_secs: now.saturating_since(c.started).as_secs(),
        })
        .collect();
    LiveSnapshot {
        queues,
        calls,
        counters: Counters {
            queues: tally.queues.clone(),
            rtp_streams_active: rtp_streams as u64,
            sip_requests: core.answers().clone(),
            // The media plane's, set by the core task that owns it.
            rtp_dropped_foreign: 0,
            connections: ConnectionCounters::default(),
        },
    }
}

/// An agent's state as the API shows it. `serves`: the agent takes this queue's calls at all
/// (online, not DND, not opted out where the queue allows it).
fn agent_state(s: &AgentStatus, serves: bool) -> AgentState {
    if !s.online {
        return AgentState::Offline;
    }
    if s.dnd {
        return AgentState::Dnd;
    }
    match s.activity {
        Activity::Ringing(_) => AgentState::Ringing,
        Activity::OnCall(_) => AgentState::OnCall,
        Activity::WrapUp(_) => AgentState::WrapUp,
        Activity::Idle if s.busy_elsewhere => AgentState::OnCall,
        Activity::Idle if !serves => AgentState::OptedOut,
        Activity::Idle => AgentState::Available,
    }
}

/// The SIP connection counters, as `/metrics` exports them.
pub(crate) fn connection_counters(stats: &super::stream::StreamStats) -> ConnectionCounters {
    ConnectionCounters {
        open: stats.limits.open,
        max: stats.max_connections,
        opened: stats.limits.opened,
        refused_full: stats.limits.refused_full,
        refused_per_source: stats.limits.refused_source,
        closed_message_deadline: stats.closed_deadline,
        closed_idle: stats.closed_idle,
    }
}
