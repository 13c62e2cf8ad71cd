//! Feature codes' changes to agents' own settings, written to the store by one writer task
//! through the admin API's provisioning (the same checks, the same store rows, the same
//! published settings as `PUT /api/v1/agents/{id}/dnd` and `POST …/opt-out`), so they survive
//! a restart, and logged in the event log. One task, in order: DND on then off never lands as
//! on.
//!
//! The event log's entries, one per queue the change concerns (for DND, every queue the user
//! is an agent of), `call_id` the feature code's INVITE, `detail` the code dialled:
//! `agent-dnd-on`, `agent-dnd-off`, `agent-opted-out`, `agent-opted-in`.

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::api::ApiState;
use crate::b2bua::{AgentRequest, SettingChange};
use crate::store::QueueEvent;

/// A feature code's change with the wall-clock time (Unix ms) it was made at.
pub(crate) type Request = (AgentRequest, i64);

/// Starts the writer: send requests on the returned channel, drop it to stop, await the handle
/// to know every request is written.
pub(crate) fn start(api: ApiState) -> (mpsc::UnboundedSender<Request>, JoinHandle<()>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<Request>();
    let task = tokio::spawn(async move {
        while let Some((request, at_ms)) = rx.recv().await {
            let api = api.clone();
            let done = tokio::task::spawn_blocking(move || {
                let user = request.user.as_str();
                let stored = match &request.change {
                    SettingChange::Dnd(on) => api.prov().set_dnd(user, *on).map(drop),
                    SettingChange::OptOut { queue, out } => {
                        api.prov().set_opt_out(user, queue.as_str(), *out).map(drop)
                    }
                };
                if let Err(err) = stored {
                    tracing::warn!(?request, %err, "could not store a feature code's change");
                    return;
                }
                let events: Vec<QueueEvent> = request
                    .queues
                    .iter()
                    .map(|queue| QueueEvent {
                        seq: 0,
                        at_ms,
                        queue: queue.as_str().to_owned(),
                        call_id: request.call_id.clone(),
                        agent: Some(user.to_owned()),
                        kind: kind(&request.change).to_owned(),
                        detail: Some(request.code.clone()),
                        waited_ms: None,
                    })
                    .collect();
                if let Err(err) = api.record_events(&events) {
                    tracing::warn!(%err, "could not log a feature code's change");
                }
            })
            .await;
            if let Err(err) = done {
                tracing::warn!(%err, "the feature code writer failed");
            }
        }
    });
    (tx, task)
}

/// The event log's kind for `change`.
fn kind(change: &SettingChange) -> &'static str {
    match change {
        SettingChange::Dnd(true) => "agent-dnd-on",
        SettingChange::Dnd(false) => "agent-dnd-off",
        SettingChange::OptOut { out: true, .. } => "agent-opted-out",
        SettingChange::OptOut { out: false, .. } => "agent-opted-in",
    }
}
