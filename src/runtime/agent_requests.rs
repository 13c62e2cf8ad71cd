//! Feature codes' changes to agents' own settings, written to the store by one writer task
//! through the admin API's provisioning (the same checks, the same store rows, the same
//! published settings as `PUT /api/v1/agents/{id}/dnd` and `POST …/opt-out`), so they survive
//! a restart. One task, in order: DND on then off never lands as on.

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::api::ApiState;
use crate::b2bua::AgentRequest;

/// Starts the writer: send requests on the returned channel, drop it to stop, await the handle
/// to know every request is written.
pub(crate) fn start(api: ApiState) -> (mpsc::UnboundedSender<AgentRequest>, JoinHandle<()>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<AgentRequest>();
    let task = tokio::spawn(async move {
        while let Some(request) = rx.recv().await {
            let api = api.clone();
            let done = tokio::task::spawn_blocking(move || {
                let mut prov = api.prov();
                let stored = match &request {
                    AgentRequest::Dnd { user, on } => prov.set_dnd(user.as_str(), *on).map(drop),
                    AgentRequest::OptOut { user, queue, out } => prov
                        .set_opt_out(user.as_str(), queue.as_str(), *out)
                        .map(drop),
                };
                if let Err(err) = stored {
                    tracing::warn!(?request, %err, "could not store a feature code's change");
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
