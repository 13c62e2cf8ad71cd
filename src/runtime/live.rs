//! The admin API's view of the running server: [`RuntimeLive`] answers the API's
//! [`LiveState`] requests from the core task, where the calls, the engine and the media plane
//! live, and [`Tally`] keeps the per-queue counters `/metrics` exports.
//!
//! A snapshot is built only when asked (a status request, a metrics scrape): the request
//! travels to the core task on a channel and the answer comes back on a oneshot, so the call
//! path never pays for the API.

use std::collections::BTreeMap;
use std::net::IpAddr;

use tokio::sync::{mpsc, oneshot};

use crate::api::live::ConnectionCounters;
use crate::api::live::SbcHealthInfo;
use crate::api::live::{
    ActiveCall, AdmissionCounters, AgentState, BanInfo, Counters, LiftFuture, LiveSnapshot,
    LiveState, QueueCounters, QueueLive, RegistrarCounters, RegistrationInfo, RegistrationsFuture,
    SnapshotFuture, WaitingCall,
};
use crate::b2bua::Core;
use crate::queue::event::{EventKind, QueueEvent};
use crate::queue::status::AgentStatus;
use crate::queue::types::Activity;
use crate::time::Time;

/// How many snapshot requests may wait for the core task.
const PENDING: usize = 64;

/// What the API asks of the core task: a snapshot, or a ban lifted (each with where to send
/// the answer).
pub(crate) enum LiveRequest {
    Snapshot(oneshot::Sender<LiveSnapshot>),
    LiftBan(IpAddr, oneshot::Sender<bool>),
    Registrations(String, oneshot::Sender<Vec<RegistrationInfo>>),
    RemoveRegistration(String, usize, oneshot::Sender<bool>),
}

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
            if requests.send(LiveRequest::Snapshot(reply)).await.is_err() {
                return LiveSnapshot::default();
            }
            answer.await.unwrap_or_default()
        })
    }

    fn lift_ban(&self, addr: IpAddr) -> LiftFuture {
        let requests = self.requests.clone();
        Box::pin(async move {
            let (reply, answer) = oneshot::channel();
            if requests
                .send(LiveRequest::LiftBan(addr, reply))
                .await
                .is_err()
            {
                return false;
            }
            answer.await.unwrap_or(false)
        })
    }

    fn registrations(&self, user: String) -> RegistrationsFuture {
        let requests = self.requests.clone();
        Box::pin(async move {
            let (reply, answer) = oneshot::channel();
            if requests
                .send(LiveRequest::Registrations(user, reply))
                .await
                .is_err()
            {
                return Vec::new();
            }
            answer.await.unwrap_or_default()
        })
    }

    fn remove_registration(&self, user: String, index: usize) -> LiftFuture {
        let requests = self.requests.clone();
        Box::pin(async move {
            let (reply, answer) = oneshot::channel();
            if requests
                .send(LiveRequest::RemoveRegistration(user, index, reply))
                .await
                .is_err()
            {
                return false;
            }
            answer.await.unwrap_or(false)
        })
    }
}

/// Answers one of the API's requests on the core task.
pub(crate) fn answer(
    request: LiveRequest,
    core: &mut Core,
    now: Time,
    tally: &Tally,
    rtp_streams: usize,
    runtime_counters: impl FnOnce(&mut Counters),
) {
    match request {
        LiveRequest::Snapshot(reply) => {
            let mut live = snapshot(core, now, tally, rtp_streams);
            // The media plane's and the transport's counters: the core task owns those.
            runtime_counters(&mut live.counters);
            let _ = reply.send(live);
        }
        LiveRequest::LiftBan(addr, reply) => {
            let _ = reply.send(core.lift_ban(now, addr));
        }
        LiveRequest::Registrations(user, reply) => {
            let _ = reply.send(registrations(core, now, user));
        }
        LiveRequest::RemoveRegistration(user, index, reply) => {
            let user = crate::config::UserId(user);
            let _ = reply.send(core.remove_registration(now, &user, index));
        }
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
    let bans: Vec<BanInfo> = core
        .bans(now)
        .into_iter()
        .map(|b| BanInfo {
            addr: b.addr.to_string(),
            reason: b.reason.as_str().to_owned(),
            banned_secs: now.saturating_since(b.since).as_secs(),
            expires_in_secs: b.until.saturating_since(now).as_secs(),
            dropped: b.dropped,
        })
        .collect();
    let stats = core.admission_stats();
    let sbcs = core
        .trunk_health(now)
        .into_iter()
        .map(|s| SbcHealthInfo {
            trunk: s.trunk.0,
            uri: s.uri,
            state: s.state.as_str().to_owned(),
            rtt_ms: s
                .rtt
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            retry_after_secs: s
                .retry_after_until
                .map(|t| t.saturating_since(now).as_secs()),
            failures_in_a_row: s.failures_in_a_row,
        })
        .collect();
    LiveSnapshot {
        queues,
        calls,
        counters: Counters {
            queues: tally.queues.clone(),
            rtp_streams_active: rtp_streams as u64,
            sip_requests: core.answers().clone(),
            // The media plane's and the transport's: filled in by `answer`.
            rtp_dropped_foreign: 0,
            srtp_refused: 0,
            connections: ConnectionCounters::default(),
            admission: AdmissionCounters {
                bans_active: bans.len() as u64,
                bans_total: stats.bans_total,
                dropped_total: stats.dropped_total,
            },
            registrar: registrar_counters(core),
            outbound: {
                let s = core.outbound_stats();
                crate::api::live::OutboundCounters {
                    placed: s.placed,
                    refused: s.refused,
                }
            },
        },
        bans,
        sbcs,
    }
}

/// The registrar's gauges and counters.
fn registrar_counters(core: &Core) -> RegistrarCounters {
    let (users, bindings, stats) = core.registrar_stats();
    RegistrarCounters {
        users: users as u64,
        bindings: bindings as u64,
        registrations_total: stats.registrations_total,
        auth_failures_total: stats.auth_failures_total,
        auth_bans_total: stats.auth_bans_total,
    }
}

/// `user`'s registered bindings as the API lists them.
fn registrations(core: &Core, now: Time, user: String) -> Vec<RegistrationInfo> {
    core.registrations(now, &crate::config::UserId(user))
        .into_iter()
        .map(|b| RegistrationInfo {
            contact: b.contact.to_string(),
            source: b.source.addr.to_string(),
            transport: b.source.transport.as_via_str().to_ascii_lowercase(),
            user_agent: b.user_agent,
            instance: b.instance,
            path: b.path,
            expires_in_secs: b.expires.saturating_since(now).as_secs(),
        })
        .collect()
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
        ..ConnectionCounters::default()
    }
}

/// The connection table's counters, added to the connection counters `/metrics` exports.
pub(crate) fn reuse_counters(
    counters: &mut ConnectionCounters,
    stats: &crate::sip::conn_table::ReuseStats,
) {
    counters.outbound_open = stats.outbound_open;
    counters.outbound_opened = stats.outbound_opened;
    counters.reused = stats.reused;
    counters.closed_outbound_idle = stats.closed_idle;
}
