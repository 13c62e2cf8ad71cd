//! The queue event log's writer: the engine's events, named by the caller's SIP Call-ID and
//! stamped with wall-clock time, appended to the store and sent to the API's live feed.
//!
//! The core task hands events over a channel and never waits for SQLite. A writer task takes
//! whatever has piled up (a burst of calls is one transaction, not one per event) and writes it
//! on a blocking thread. On shutdown the channel closes and the writer drains it before it
//! ends, so a SIGTERM loses no event; a SIGKILL may lose the events of the last moments that
//! were not committed yet (the provisioning itself is committed before the API answers).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::api::ApiState;
use crate::b2bua::LoggedEvent;
use crate::queue::event::EventKind;
use crate::queue::types::{DeclineReason, EndReason, RingOutcome};
use crate::store::events::kind;
use crate::store::QueueEvent;
use crate::time::Time;

/// The most events written in one transaction.
const BATCH: usize = 512;

/// Maps the core's time onto the wall clock: the Unix time of the core's epoch.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WallClock {
    epoch_unix: Duration,
}

impl WallClock {
    /// The wall clock now is the core's epoch (call at the moment the epoch is taken).
    pub(crate) fn starting_now() -> WallClock {
        WallClock {
            epoch_unix: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default(),
        }
    }

    pub(crate) fn unix_ms(&self, at: Time) -> i64 {
        i64::try_from((self.epoch_unix + at.since_epoch()).as_millis()).unwrap_or(i64::MAX)
    }
}

/// Starts the writer; send events on the returned channel, drop it to stop, and await the
/// handle to know every event is written.
pub(crate) fn start(api: ApiState) -> (mpsc::UnboundedSender<QueueEvent>, JoinHandle<()>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<QueueEvent>();
    let task = tokio::spawn(async move {
        let mut batch = Vec::new();
        while rx.recv_many(&mut batch, BATCH).await > 0 {
            let events = std::mem::take(&mut batch);
            let api = api.clone();
            let written = tokio::task::spawn_blocking(move || api.record_events(&events)).await;
            match written {
                Ok(Ok(_)) => {}
                Ok(Err(err)) => tracing::error!(%err, "could not write queue events to the store"),
                Err(err) => tracing::error!(%err, "the event writer failed"),
            }
        }
    });
    (tx, task)
}

/// The engine's event as a log record.
pub(crate) fn record(logged: &LoggedEvent, clock: &WallClock) -> QueueEvent {
    let e = &logged.event;
    let (kind, detail) = match &e.kind {
        EventKind::Enter { position } => (kind::OFFERED, Some(format!("position {position}"))),
        EventKind::Answer => (kind::CALLER_ANSWERED, None),
        EventKind::Ring => (kind::AGENT_RINGING, None),
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
        at_ms: clock.unix_ms(e.at),
        queue: e.queue.0.clone(),
        call_id: logged.call_id.clone(),
        agent: e.agent.as_ref().map(|a| a.0.clone()),
        kind: kind.to_owned(),
        detail,
        waited_ms: Some(i64::try_from(e.waited.as_millis()).unwrap_or(i64::MAX)),
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

    #[test]
    fn engine_events_become_log_records_in_wall_time() {
        let clock = WallClock {
            epoch_unix: Duration::from_secs(1_700_000_000),
        };
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
}
