//! Agents' own settings through the API: do-not-disturb and opting in or out of a queue,
//! stored and published to the runtime on their own channel (they change no configuration).

use std::sync::Arc;

use serde_json::{json, Value};

use crate::api::error::ApiError;
use crate::config::{QueueId, UserId};
use crate::store::{Kind, StoreError};

use super::bodies::not_found;
use super::Provisioning;

impl Provisioning {
    /// An agent's own settings: do-not-disturb and, per queue they belong to, opted in or out.
    pub fn agent(&self, user: &str) -> Result<Value, ApiError> {
        let id = UserId(user.to_owned());
        if self.config.user(&id).is_none() {
            return Err(not_found(Kind::User, user));
        }
        let prefs = self.agent_prefs();
        let queues: Vec<Value> = self
            .config
            .queues
            .iter()
            .filter(|q| q.members.contains(&id))
            .map(|q| {
                json!({
                    "queue": q.id.as_str(),
                    "opted_in": !prefs.is_opted_out(user, q.id.as_str()),
                    "allow_opt_out": q.allow_opt_out,
                })
            })
            .collect();
        Ok(json!({ "id": user, "dnd": prefs.is_dnd(user), "queues": queues }))
    }

    /// Sets or clears an agent's do-not-disturb.
    pub fn set_dnd(&mut self, user: &str, on: bool) -> Result<Value, ApiError> {
        if self.config.user(&UserId(user.to_owned())).is_none() {
            return Err(not_found(Kind::User, user));
        }
        self.store.set_dnd(user, on)?;
        self.publish_prefs()?;
        self.agent(user)
    }

    /// Opts an agent out of a queue (refused when the queue does not allow it) or back in.
    pub fn set_opt_out(&mut self, user: &str, queue: &str, out: bool) -> Result<Value, ApiError> {
        let uid = UserId(user.to_owned());
        if self.config.user(&uid).is_none() {
            return Err(not_found(Kind::User, user));
        }
        let Some(q) = self.config.queue(&QueueId(queue.to_owned())) else {
            return Err(not_found(Kind::Queue, queue));
        };
        if !q.members.contains(&uid) {
            return Err(ApiError::Conflict(format!(
                "user {user:?} is not an agent of queue {queue:?}"
            )));
        }
        if out && !q.allow_opt_out {
            return Err(ApiError::Conflict(format!(
                "queue {queue:?} does not allow agents to opt out (allow_opt_out = false)"
            )));
        }
        self.store.set_opt_out(user, queue, out)?;
        self.publish_prefs()?;
        self.agent(user)
    }

    /// Publishes the agents' settings as stored, when they differ from the last published.
    pub(super) fn publish_prefs(&mut self) -> Result<(), StoreError> {
        let prefs = self.store.agent_prefs()?;
        self.prefs_tx.send_if_modified(|current| {
            let changed = **current != prefs;
            if changed {
                *current = Arc::new(prefs);
            }
            changed
        });
        Ok(())
    }
}
