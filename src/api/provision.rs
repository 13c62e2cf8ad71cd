//! Provisioning: the effective configuration as the config file plus the store, changed only
//! through the configuration's own validation.
//!
//! Config as code: at start-up the objects the file declares (numbers, users, groups, queues) are
//! written to the store as file objects, and file objects the file no longer declares are
//! removed ([`crate::store::Store::sync_file`]). Objects created through the API live in the
//! store as API objects. File objects are read-only through the API (409, naming the file).
//!
//! Every change (create, partial update, delete) is checked by building the whole merged
//! configuration — the file's sections and trunks, every stored object, and the change — and
//! running [`crate::config::validate::validate`] over it, the same function `check-config`
//! uses, so an API queue meets exactly the checks a `[[queue]]` table does. Only a change that
//! validates is written (one transaction); the new [`Config`] is then published on a
//! `tokio::sync::watch` channel for the SIP core to use for new calls.
//!
//! A change that names a greeting or music file not in use yet has the file decoded first, as
//! the runtime will: a file that does not exist or does not decode is refused (422) with the
//! reason, and nothing is stored. It does not touch calls in progress (whoever holds the
//! receiver applies the config to new calls).
//!
//! Here: the provisioning state and its changes. Beside it: `file` (the configuration file),
//! `merge` (the merged configuration a change is checked against), `bodies` (ids and bodies
//! as the API takes them), `agents` (agents' own settings), `prompts` (uploaded prompts).

mod agents;
mod bodies;
mod file;
mod merge;
mod prompts;
mod registrar;

use std::sync::Arc;

use serde_json::Value;
use thiserror::Error;
use tokio::sync::watch;

use crate::config::validate::validate;
use crate::config::{Config, ConfigError, GroupId, Problem, QueueId, UserId};
use crate::store::objects::{Change, SyncReport};
use crate::store::{
    AgentPrefs, EventFilter, Kind, ObjectRow, Origin, QueueEvent, Store, StoreError,
};

use super::error::ApiError;
use super::spec::{group_view, id_field, merge_patch, number_view, queue_view, user_view};
use bodies::{canonical_id, drop_output_fields, identify, not_found, subject};
pub use file::{FileSource, EMBEDDED_LABEL};
use merge::{check, declared_objects, undecodable_prompts};
pub use prompts::{check_upload, playable_wav, too_large, CheckedPrompt};

/// Why provisioning could not start.
#[derive(Debug, Error)]
pub enum ProvisionError {
    #[error("{label}: {source}")]
    File {
        label: String,
        #[source]
        source: ConfigError,
    },
    /// The file is valid alone, but not together with the objects created through the API.
    #[error("{label} together with the objects created through the API is not valid:\n{}",
        .problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n"))]
    Merged {
        label: String,
        problems: Vec<Problem>,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An effective configuration as published, with its generation: 1 at start-up, one more for
/// every change. The runtime reports the generation it has applied, so the API can answer a
/// change only once new calls see it.
#[derive(Clone, Debug)]
pub struct Published {
    pub generation: u64,
    pub config: Arc<Config>,
}

/// The provisioning state: the store, the file, and the effective configuration.
pub struct Provisioning {
    store: Store,
    file: FileSource,
    config: Arc<Config>,
    config_tx: watch::Sender<Arc<Config>>,
    published_tx: watch::Sender<Published>,
    prefs_tx: watch::Sender<Arc<AgentPrefs>>,
    /// Check that greeting / music files exist (off in tests that have none).
    check_files: bool,
    /// Stamps uploaded prompts (Unix ms); the runtime sets its clock.
    wall_clock: fn() -> i64,
}

/// Drops the opt-outs of every queue that does not allow opting out: a store written before
/// turning `allow_opt_out` off cleared them (see `store::objects`) may still hold some, and
/// they must not come back if it is turned on again.
fn sweep_opt_outs(store: &mut Store, config: &Config) -> Result<(), StoreError> {
    for q in config.queues.iter().filter(|q| !q.allow_opt_out) {
        let dropped = store.clear_opt_outs(q.id.as_str())?;
        if dropped > 0 {
            tracing::info!(queue = %q.id, dropped, "opt-outs of a queue that allows none dropped");
        }
    }
    Ok(())
}

impl Provisioning {
    /// Applies the file's objects to `store` and builds the effective configuration. Nothing
    /// is written unless the file, together with the objects created through the API, is valid.
    pub fn open(
        mut store: Store,
        file: FileSource,
    ) -> Result<(Provisioning, SyncReport), ProvisionError> {
        let file_error = |source| ProvisionError::File {
            label: file.label.clone(),
            source,
        };
        let raw = file.raw().map_err(file_error)?;
        let declared = declared_objects(&raw);
        // The file alone first, so its own mistakes are reported as the file's.
        validate(raw, &file.base_dir).map_err(|p| file_error(ConfigError::Invalid(p)))?;
        let (changes, report) = store.file_sync_plan(&declared)?;
        // Media files are not checked here: the runtime loads them and reports what is missing,
        // and a file that went away must not keep the server (and so the API) from starting.
        let config = check(&store, &file, &changes, false).map_err(|e| match e {
            ApiError::Store(s) => ProvisionError::Store(s),
            ApiError::Invalid(problems) => ProvisionError::Merged {
                label: file.label.clone(),
                problems,
            },
            other => ProvisionError::Merged {
                label: file.label.clone(),
                problems: vec![Problem {
                    subject: "store".into(),
                    field: String::new(),
                    message: other.to_string(),
                }],
            },
        })?;
        store.apply(&changes)?;
        sweep_opt_outs(&mut store, &config)?;
        let config = Arc::new(config);
        let (config_tx, _) = watch::channel(config.clone());
        let (published_tx, _) = watch::channel(Published {
            generation: 1,
            config: config.clone(),
        });
        let (prefs_tx, _) = watch::channel(Arc::new(store.agent_prefs()?));
        let p = Provisioning {
            store,
            file,
            config,
            config_tx,
            published_tx,
            prefs_tx,
            check_files: true,
            wall_clock: || 0,
        };
        Ok((p, report))
    }

    /// Whether changes must name media files that exist (default true).
    pub fn set_check_files(&mut self, on: bool) {
        self.check_files = on;
    }

    /// The effective configuration now.
    pub fn config(&self) -> Arc<Config> {
        self.config.clone()
    }

    /// Receives every new effective configuration (for new calls).
    pub fn subscribe_config(&self) -> watch::Receiver<Arc<Config>> {
        self.config_tx.subscribe()
    }

    /// Receives every new effective configuration with its generation (the runtime's feed).
    pub fn subscribe_published(&self) -> watch::Receiver<Published> {
        self.published_tx.subscribe()
    }

    /// The generation of the effective configuration now (1 at start-up).
    pub fn generation(&self) -> u64 {
        self.published_tx.borrow().generation
    }

    /// Receives agents' do-not-disturb and opt-out settings whenever they change.
    pub fn subscribe_agent_prefs(&self) -> watch::Receiver<Arc<AgentPrefs>> {
        self.prefs_tx.subscribe()
    }

    pub fn agent_prefs(&self) -> Arc<AgentPrefs> {
        self.prefs_tx.borrow().clone()
    }

    /// How messages name the config file.
    pub fn file_label(&self) -> &str {
        &self.file.label
    }

    /// The API token: `configured` when the file sets one, else the one stored, generated with
    /// `generate` on first start. The flag says it was just generated (print it once).
    pub fn api_token(
        &mut self,
        configured: Option<&str>,
        generate: impl FnOnce() -> String,
    ) -> Result<(String, bool), StoreError> {
        match configured {
            Some(t) => Ok((t.to_owned(), false)),
            None => self.store.meta_or_insert("api_token", generate),
        }
    }

    /// Every object of `kind` as its view, in order.
    pub fn list(&self, kind: Kind) -> Result<Vec<Value>, ApiError> {
        let rows = self.store.list(kind)?;
        Ok(rows
            .iter()
            .filter_map(|r| self.view(kind, &r.id, r.origin))
            .collect())
    }

    /// The view of one object.
    pub fn get(&self, kind: Kind, id: &str) -> Result<Value, ApiError> {
        let id = canonical_id(kind, id);
        let row = self.row(kind, &id)?;
        self.view(kind, &id, row.origin)
            .ok_or_else(|| not_found(kind, &id))
    }

    /// Creates an object from a body in the config file's shape.
    pub fn create(&mut self, kind: Kind, mut body: Value) -> Result<Value, ApiError> {
        drop_output_fields(kind, &mut body);
        let (id, body) = identify(kind, body)?;
        if let Some(existing) = self.store.get(kind, &id)? {
            return Err(match existing.origin {
                Origin::File => ApiError::ReadOnly {
                    what: subject(kind, &id),
                    file: self.file.label.clone(),
                },
                Origin::Api => ApiError::Conflict(format!("{} already exists", subject(kind, &id))),
            });
        }
        self.change(Change::Put(ObjectRow {
            kind,
            id: id.clone(),
            origin: Origin::Api,
            body,
        }))?;
        self.get(kind, &id)
    }

    /// Partially updates an API object: `patch` is an RFC 7396 merge patch over its body
    /// (`null` resets a field to its default).
    pub fn update(&mut self, kind: Kind, id: &str, patch: &Value) -> Result<Value, ApiError> {
        if !patch.is_object() {
            return Err(ApiError::field(
                subject(kind, id),
                ".",
                "the body must be a JSON object",
            ));
        }
        let id = canonical_id(kind, id);
        let row = self.writable(kind, &id)?;
        let mut patch = patch.clone();
        drop_output_fields(kind, &mut patch);
        let mut body = row.body.clone();
        merge_patch(&mut body, &patch);
        let (new_id, body) = identify(kind, body)?;
        if new_id != id {
            return Err(ApiError::field(
                subject(kind, &id),
                id_field(kind),
                format!(
                    "{} cannot be changed; create a new {} instead",
                    id_field(kind),
                    kind.as_str()
                ),
            ));
        }
        self.change(Change::Put(ObjectRow { body, ..row }))?;
        self.get(kind, &id)
    }

    /// Removes an API object. Removing a queue frees its numbers (they were assigned only by
    /// being listed in it).
    pub fn delete(&mut self, kind: Kind, id: &str) -> Result<(), ApiError> {
        let id = canonical_id(kind, id);
        self.writable(kind, &id)?;
        self.change(Change::Delete { kind, id })
    }

    /// Appends an event to the log; returns it with its sequence number.
    pub fn record_event(&mut self, event: &QueueEvent) -> Result<QueueEvent, StoreError> {
        self.store.append_event(event)
    }

    /// Appends events in one transaction; returns them with their sequence numbers.
    pub fn record_events(&mut self, events: &[QueueEvent]) -> Result<Vec<QueueEvent>, StoreError> {
        self.store.append_events(events)
    }

    pub fn events(&self, filter: &EventFilter) -> Result<Vec<QueueEvent>, StoreError> {
        self.store.events(filter)
    }

    /// Deletes one batch of the logged events older than `before_ms` (Unix ms); returns how
    /// many (fewer than [`crate::store::events::PRUNE_BATCH`]: none left).
    pub fn prune_events(&mut self, before_ms: i64) -> Result<usize, StoreError> {
        self.store.prune_events(before_ms)
    }

    /// Streams the logged events `scan` selects to `f` (see [`crate::store::Store::scan_events`]);
    /// returns the log's highest sequence number.
    pub fn scan_events(
        &self,
        scan: crate::store::Scan<'_>,
        f: &mut dyn FnMut(&crate::store::EventRow<'_>),
    ) -> Result<i64, StoreError> {
        self.store.scan_events(scan, f)
    }

    /// A connection of its own for a long read of the event log (see
    /// [`crate::store::Store::reader`]); `None` for an in-memory store.
    pub fn event_reader(&self) -> Result<Option<Store>, StoreError> {
        self.store.reader()
    }

    /// The wall clock the runtime gave ([`Self::set_wall_clock`]), Unix ms; 0 without one.
    pub fn wall_now_ms(&self) -> i64 {
        (self.wall_clock)()
    }

    fn row(&self, kind: Kind, id: &str) -> Result<ObjectRow, ApiError> {
        self.store.get(kind, id)?.ok_or_else(|| not_found(kind, id))
    }

    /// The row, when it exists and the API may change it.
    fn writable(&self, kind: Kind, id: &str) -> Result<ObjectRow, ApiError> {
        let row = self.row(kind, id)?;
        if row.origin == Origin::File {
            return Err(ApiError::ReadOnly {
                what: subject(kind, id),
                file: self.file.label.clone(),
            });
        }
        Ok(row)
    }

    /// Validates the configuration with `change` applied, then writes and publishes it.
    fn change(&mut self, change: Change) -> Result<(), ApiError> {
        let config = check(
            &self.store,
            &self.file,
            std::slice::from_ref(&change),
            self.check_files,
        )?;
        let unknown = self.unknown_prompts(&self.config, &config)?;
        if !unknown.is_empty() {
            return Err(ApiError::Invalid(unknown));
        }
        if self.check_files {
            let bad = undecodable_prompts(&self.config, &config);
            if !bad.is_empty() {
                return Err(ApiError::Invalid(bad));
            }
        }
        self.store.apply(std::slice::from_ref(&change))?;
        self.config = Arc::new(config);
        self.config_tx.send_replace(self.config.clone());
        let generation = self.generation() + 1;
        self.published_tx.send_replace(Published {
            generation,
            config: self.config.clone(),
        });
        // Removing a queue or user drops the opt-outs and DND that named it.
        self.publish_prefs()?;
        Ok(())
    }

    fn view(&self, kind: Kind, id: &str, origin: Origin) -> Option<Value> {
        let c = &self.config;
        match kind {
            Kind::Queue => c
                .queue(&QueueId(id.to_owned()))
                .map(|q| self.with_prompt_refs(queue_view(q, origin))),
            Kind::User => c.user(&UserId(id.to_owned())).map(|u| {
                let outbound = c.outbound.user(&u.id);
                crate::api::spec::with_user_outbound(user_view(u, origin), &outbound)
            }),
            Kind::ClidPolicy => {
                let p = c.outbound.policies.iter().find(|p| p.id == id)?;
                let granted = c
                    .outbound
                    .users
                    .iter()
                    .filter(|(_, o)| o.clid_policy.as_deref() == Some(id))
                    .map(|(u, _)| u.to_string())
                    .collect();
                Some(crate::api::spec::clid_policy_view(p, granted, origin))
            }
            Kind::Group => c
                .group(&GroupId(id.to_owned()))
                .map(|g| group_view(g, origin)),
            Kind::Number => {
                let n = c.numbers.iter().find(|n| n.e164.as_str() == id)?;
                let assigned = c
                    .queues
                    .iter()
                    .find(|q| q.numbers.contains(&n.e164))
                    .map(|q| format!("queue:{}", q.id))
                    .or_else(|| {
                        c.users
                            .iter()
                            .find(|u| u.numbers.contains(&n.e164))
                            .map(|u| format!("user:{}", u.id))
                    });
                Some(number_view(n, assigned, origin))
            }
        }
    }
}
