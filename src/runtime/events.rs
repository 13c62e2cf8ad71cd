//! The queue event log's writer: the engine's events, named by the caller's SIP Call-ID and
//! stamped with wall-clock time, appended to the store and sent to the API's live feed.
//!
//! The core task hands events over a channel and never waits for SQLite. A writer task takes
//! whatever has piled up (a burst of calls is one transaction, not one per event) and writes it
//! on a blocking thread. On shutdown the channel closes and the writer drains it before it
//! ends, so a SIGTERM loses no event; a SIGKILL may lose the events of the last moments that
//! were not committed yet (the provisioning itself is committed before the API answers).

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::api::ApiState;
use crate::b2bua::access_log::AccessEvent;
use crate::b2bua::LoggedEvent;
use crate::queue::event::EventKind;
use crate::queue::types::{DeclineReason, EndReason, RingOutcome};
use crate::store::events::kind;
use crate::store::QueueEvent;

use super::clock::{self, Clock};

/// The most events written in one transaction.
const BATCH: usize = 512;

/// How often events past the retention limit are deleted (and once at start).
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Starts the writer; send events on the returned channel, drop it to stop, and await the
/// handle to know every event is written. With `keep`, it also deletes the events older than
/// that, at start and every [`PRUNE_EVERY`] (`[store] keep_events_days`).
pub(crate) fn start(
    api: ApiState,
    keep: Option<Duration>,
) -> (mpsc::UnboundedSender<QueueEvent>, JoinHandle<()>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<QueueEvent>();
    let task = tokio::spawn(async move {
        let mut batch = Vec::new();
        let mut prune = tokio::time::interval(PRUNE_EVERY);
        prune.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                n = rx.recv_many(&mut batch, BATCH) => {
                    if n == 0 {
                        break;
                    }
                    let events = std::mem::take(&mut batch);
                    let api = api.clone();
                    let written =
                        tokio::task::spawn_blocking(move || api.record_events(&events)).await;
                    match written {
                        Ok(Ok(_)) => {}
                        Ok(Err(err)) => {
                            tracing::error!(%err, "could not write queue events to the store")
                        }
                        Err(err) => tracing::error!(%err, "the event writer failed"),
                    }
                }
                _ = prune.tick(), if keep.is_some() => {
                    let Some(keep) = keep else { continue };
                    let before = clock::wall_now_ms().saturating_sub(i64::try_from(keep.as_millis()).unwrap_or(i64::MAX));
                    let api = api.clone();
                    match tokio::task::spawn_blocking(move || api.prune_events(before)).await {
                        Ok(Ok(0)) => {}
                        Ok(Ok(n)) => tracing::info!(deleted = n, keep_days = keep.as_secs() / 86_400, "old queue events deleted"),
                        Ok(Err(err)) => tracing::error!(%err, "could not delete old queue events"),
                        Err(err) => tracing::error!(%err, "the event pruner failed"),
                    }
                }
            }
        }
    });
    (tx, task)
}

/// The engine's event as a log record, stamped on the wall clock through the core's epoch.
pub(crate) fn record(logged: &LoggedEvent, clock: &Clock) -> QueueEvent {
    log_record(logged, clock.unix_ms(logged.event.at))
}

/// The engine's event as a log record stamped `at_ms` (Unix ms): what the log holds for each
/// kind of event. Pure, so scenario tests on virtual time log exactly what the server would.
pub fn log_record(logged: &LoggedEvent, at_ms: i64) -> QueueEvent {
    let e = &logged.event;
    let (kind, detail) = match &e.kind {
        EventKind::Enter { position } => (kind::OFFERED, Some(format!("position {position}"))),
        EventKind::Answer => (kind::CALLER_ANSWERED, None),
        EventKind::Ring => (kind::AGENT_RINGING, None),
        // The caller leaving withdraws the ring: the caller's abandon, not the agent's miss.
        EventKind::RingEnd {
            outcome: RingOutcome::CallerLeft,
        } => (kind::AGENT_RING_WITHDRAWN, Some("caller-abandoned".into())),
        EventKind::RingEnd { outcome } => (kind::AGENT_MISSED, Some(ring_outcome(*outcome))),
        EventKind::Connect => (kind::ANSWERED, None),
        EventKind::Abandon => (kind::ABANDONED, None),
        EventKind::Timeout => (kind::TIMED_OUT, None),
        EventKind::Overflow => (kind::OVERFLOWED, None),
        EventKind::NoAgents => (kind::NO_AGENTS, None),
        EventKind::Forward { target } => (kind::FORWARDED, Some(target.to_string())),
        EventKind::Reject { status } => (kind::REJECTED, Some(status.to_string())),
        EventKind::Disconnect { reason } => (kind::DISCONNECTED, Some(end_reason(*reason))),
        EventKind::Transfer { to } => (kind::TRANSFERRED, Some(to.clone())),
        EventKind::Complete { talked } => (
            kind::COMPLETED,
            Some(format!("talked {} ms", talked.as_millis())),
        ),
    };
    QueueEvent {
        seq: 0,
        at_ms,
        queue: e.queue.0.clone(),
        call_id: logged.call_id.clone(),
        agent: e.agent.as_ref().map(|a| a.0.clone()),
        kind: kind.to_owned(),
        detail,
        waited_ms: Some(i64::try_from(e.waited.as_millis()).unwrap_or(i64::MAX)),
    }
}

/// A registration or ban event as a log record: no queue (`""`), the user as `agent`, the
/// REGISTER's Call-ID as `call_id` (empty for bans), `contact=… source=… reason=…` as
/// `detail`. `GET /api/v1/events?kind=registered` or `?agent=amos` finds them.
pub(crate) fn access_record(e: &AccessEvent, clock: &Clock) -> QueueEvent {
    QueueEvent {
        seq: 0,
        at_ms: clock.unix_ms(e.at),
        queue: String::new(),
        call_id: e.call_id.clone().unwrap_or_default(),
        agent: e.user.as_ref().map(|u| u.as_str().to_owned()),
        kind: e.kind.to_owned(),
        detail: Some(e.detail()),
        waited_ms: None,
    }
}

fn ring_outcome(o: RingOutcome) -> String {
    match o {
        RingOutcome::Declined(DeclineReason::Declined) => "declined".into(),
        RingOutcome::Declined(DeclineReason::Busy) => "busy".into(),
        RingOutcome::Declined(DeclineReason::Unavailable) => "unavailable".into(),
        RingOutcome::Declined(DeclineReason::Other(status)) => format!("refused {status}"),
        RingOutcome::NoAnswer => "no-answer".into(),
        RingOutcome::Unreachable => "unreachable".into(),
        RingOutcome::Canceled => "canceled".into(),
        RingOutcome::CallerLeft => "caller-abandoned".into(),
    }
}

fn end_reason(r: EndReason) -> String {
    match r {
        EndReason::Timeout => "max-wait",
        EndReason::Overflow => "overflow",
        EndReason::NoAgents => "no-agents",
        EndReason::ForwardLoop => "forward-loop",
        EndReason::ForwardFailed => "forward-failed",
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::QueueId;
    use crate::queue::types::{AgentId, CallId};
    use crate::time::Time;

    #[tokio::test]
    async fn the_writer_deletes_events_past_the_retention_limit_at_start() {
        use crate::api::{FileSource, MemoryLive, Provisioning};
        use crate::store::{EventFilter, Store};
        let (prov, _) = Provisioning::open(
            Store::open_in_memory().unwrap(),
            FileSource::embedded_default(),
        )
        .unwrap();
        let api = ApiState::new(prov, std::sync::Arc::new(MemoryLive::default()), None);
        let event = |at_ms, call_id: &str| QueueEvent {
            seq: 0,
            at_ms,
            queue: "q".into(),
            call_id: call_id.into(),
            agent: None,
            kind: kind::OFFERED.into(),
            detail: None,
            waited_ms: None,
        };
        let day_ms = 86_400_000;
        let now = clock::wall_now_ms();
        api.record_events(&[
            event(now - 40 * day_ms, "old"),
            event(now - 20 * day_ms, "recent"),
        ])
        .unwrap();
        let (tx, task) = start(api.clone(), Some(Duration::from_secs(30 * 86_400)));
        let left = || -> Vec<String> {
            let all = api.prov().events(&EventFilter::default()).unwrap();
            all.into_iter().map(|e| e.call_id).collect()
        };
        // Up to 5 s for the writer's first pruning pass.
        for _ in 0..250 {
            if left() == ["recent"] {
                break;
            }
            clock::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(left(), ["recent"], "not pruned");
        drop(tx);
        task.await.unwrap();
    }

    #[test]
    fn engine_events_become_log_records_in_wall_time() {
        let clock = Clock::with_unix_epoch(Duration::from_secs(1_700_000_000));
        let logged = LoggedEvent {
            event: crate::queue::event::QueueEvent {
                at: Time::from_millis(2_500),
                call: CallId(7),
                queue: QueueId("sales".into()),
                agent: Some(AgentId::from("amos")),
                waited: Duration::from_millis(1_200),
                kind: EventKind::RingEnd {
                    outcome: RingOutcome::Declined(DeclineReason::Busy),
                },
            },
            call_id: "abc@host".into(),
        };
        let r = record(&logged, &clock);
        assert_eq!(r.at_ms, 1_700_000_002_500);
        assert_eq!(
            (r.kind.as_str(), r.detail.as_deref()),
            ("agent-missed", Some("busy"))
        );
        assert_eq!(
            (r.call_id.as_str(), r.agent.as_deref()),
            ("abc@host", Some("amos"))
        );
        assert_eq!(r.waited_ms, Some(1_200));
    }

    #[test]
    fn a_ring_withdrawn_by_the_caller_hanging_up_is_not_the_agents_miss() {
        let clock = Clock::with_unix_epoch(Duration::from_secs(1_700_000_000));
        let logged = LoggedEvent {
            event: crate::queue::event::QueueEvent {
                at: Time::from_millis(4_000),
                call: CallId(7),
                queue: QueueId("sales".into()),
                agent: Some(AgentId::from("amos")),
                waited: Duration::from_millis(4_000),
                kind: EventKind::RingEnd {
                    outcome: RingOutcome::CallerLeft,
                },
            },
            call_id: "abc@host".into(),
        };
        let r = record(&logged, &clock);
        assert_eq!(
            (r.kind.as_str(), r.detail.as_deref()),
            ("agent-ring-withdrawn", Some("caller-abandoned"))
        );
        assert_eq!(r.agent.as_deref(), Some("amos"));
    }
}
