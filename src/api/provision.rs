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

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{json, Value};
use thiserror::Error;
use tokio::sync::watch;

use crate::audio::{DecodeOptions, PromptCache};
use crate::config::raw::{RawConfig, RawGroup, RawNumber, RawQueue, RawUser};
use crate::config::validate::validate;
use crate::config::{
    missing_files, Config, ConfigError, GroupId, Problem, QueueId, SyntaxError, UserId,
};
use crate::number::E164;
use crate::store::objects::{Change, SyncReport};
use crate::store::{
    AgentPrefs, EventFilter, Kind, ObjectRow, Origin, QueueEvent, Store, StoreError,
};

use super::error::ApiError;
use super::spec::{
    group_body, group_view, id_field, merge_patch, number_body, number_view, queue_body,
    queue_view, read_body, user_body, user_view,
};

/// How messages name the embedded default configuration.
pub const EMBEDDED_LABEL: &str = "the embedded default configuration";

/// The configuration file the server was started with (or the embedded default).
#[derive(Clone, Debug)]
pub struct FileSource {
    /// The TOML text.
    pub text: String,
    /// How messages name it: the path, or "the embedded default configuration".
    pub label: String,
    /// Relative paths in the file and in API objects resolve against this directory.
    pub base_dir: PathBuf,
}

impl FileSource {
    /// Reads the file at `path`.
    pub fn read(path: &Path) -> std::io::Result<FileSource> {
        Ok(FileSource {
            text: std::fs::read_to_string(path)?,
            label: path.display().to_string(),
            base_dir: path.parent().unwrap_or(Path::new("")).to_owned(),
        })
    }

    /// The configuration `holdline serve` runs without `--config`.
    pub fn embedded_default() -> FileSource {
        FileSource {
            text: crate::config::DEFAULT_TOML.to_owned(),
            label: EMBEDDED_LABEL.to_owned(),
            base_dir: PathBuf::new(),
        }
    }

    fn raw(&self) -> Result<RawConfig, ConfigError> {
        toml::from_str(&self.text)
            .map_err(|e| ConfigError::Syntax(SyntaxError::from_toml(&e, &self.text)))
    }
}

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

    /// Publishes the agents' settings as stored, when they differ from the last published.
    fn publish_prefs(&mut self) -> Result<(), StoreError> {
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
                .map(|q| queue_view(q, origin)),
            Kind::User => c.user(&UserId(id.to_owned())).map(|u| user_view(u, origin)),
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

/// The configuration the file and the store make with `changes` applied, validated.
fn check(
    store: &Store,
    file: &FileSource,
    changes: &[Change],
    check_files: bool,
) -> Result<Config, ApiError> {
    let raw = merged(store, file, changes)?;
    let config = validate(raw, &file.base_dir).map_err(ApiError::Invalid)?;
    if !check_files {
        return Ok(config);
    }
    // Only the changed objects' files: one that went missing elsewhere since start-up is the
    // runtime's to report, not a reason to refuse this change.
    let changed: Vec<String> = changes
        .iter()
        .filter_map(|c| match c {
            Change::Put(row) => Some(subject(row.kind, &row.id)),
            Change::Delete { .. } => None,
        })
        .collect();
    let missing: Vec<Problem> = missing_files(&config)
        .into_iter()
        .filter(|p| changed.contains(&p.subject))
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::Invalid(missing));
    }
    Ok(config)
}

/// The greeting and music files `new` names that `old` does not, decoded the way the runtime
/// will decode them: one that does not decode (corrupt, truncated, too long, unsupported) is a
/// problem naming the queue, the field, the file and the reason, so the API refuses the change
/// instead of storing a queue whose prompt would never play. Files `old` already names were
/// decoded when they came in. Decoding takes up to a second for a long file; the API runs
/// changes on a blocking thread for that reason.
fn undecodable_prompts(old: &Config, new: &Config) -> Vec<Problem> {
    let mut seen: HashSet<&Path> = old
        .queues
        .iter()
        .flat_map(|q| q.prompt_files().map(|(_, path)| path))
        .collect();
    let mut cache = PromptCache::new(DecodeOptions {
        max_duration: new.media.max_prompt,
    });
    let mut problems = Vec::new();
    for q in &new.queues {
        for (field, path) in q.prompt_files() {
            if !seen.insert(path) {
                continue;
            }
            if let Err(err) = cache.replace(&path.display().to_string(), path) {
                problems.push(Problem {
                    subject: format!("queue {:?}", q.id.as_str()),
                    field: field.to_owned(),
                    message: format!("{field}: {err}"),
                });
            }
        }
    }
    problems
}

/// The file's sections and trunks with every stored object, `changes` applied, as its
/// numbers, users, groups and queues.
fn merged(store: &Store, file: &FileSource, changes: &[Change]) -> Result<RawConfig, ApiError> {
    let mut raw = file
        .raw()
        .map_err(|e| ApiError::Conflict(format!("{} can no longer be read: {e}", file.label)))?;
    raw.number.clear();
    raw.user.clear();
    raw.group.clear();
    raw.queue.clear();
    for kind in Kind::ALL {
        let mut rows = store.list(kind)?;
        for change in changes {
            match change {
                Change::Put(new) if new.kind == kind => {
                    match rows.iter_mut().find(|r| r.id == new.id) {
                        Some(r) => *r = new.clone(),
                        None => rows.push(new.clone()),
                    }
                }
                Change::Delete { kind: k, id } if *k == kind => rows.retain(|r| &r.id != id),
                _ => {}
            }
        }
        for row in &rows {
            let shape = |e: super::spec::ShapeError| {
                ApiError::field(subject(kind, &row.id), &e.field, e.reason)
            };
            match kind {
                Kind::Number => raw
                    .number
                    .push(read_body::<RawNumber>(&row.body).map_err(shape)?),
                Kind::User => raw
                    .user
                    .push(read_body::<RawUser>(&row.body).map_err(shape)?),
                Kind::Group => raw
                    .group
                    .push(read_body::<RawGroup>(&row.body).map_err(shape)?),
                Kind::Queue => raw
                    .queue
                    .push(read_body::<RawQueue>(&row.body).map_err(shape)?),
            }
        }
    }
    Ok(raw)
}

/// The file's objects as store rows.
fn declared_objects(raw: &RawConfig) -> Vec<ObjectRow> {
    let row = |kind, id: String, body| ObjectRow {
        kind,
        id,
        origin: Origin::File,
        body,
    };
    let mut out = Vec::new();
    for n in &raw.number {
        let mut body = number_body(n);
        let id = canonical_id(Kind::Number, &n.e164);
        body["e164"] = json!(id);
        out.push(row(Kind::Number, id, body));
    }
    out.extend(
        raw.user
            .iter()
            .map(|u| row(Kind::User, u.id.clone(), user_body(u))),
    );
    out.extend(
        raw.group
            .iter()
            .map(|g| row(Kind::Group, g.id.clone(), group_body(g))),
    );
    out.extend(
        raw.queue
            .iter()
            .map(|q| row(Kind::Queue, q.id.clone(), queue_body(q))),
    );
    out
}

/// Removes the fields a view has but a body does not (`origin`, `members` …), so a client can
/// send back what it read with some fields changed.
fn drop_output_fields(kind: Kind, body: &mut Value) {
    let output_only: &[&str] = match kind {
        Kind::Queue => &["origin", "members"],
        Kind::Number => &["origin", "assigned_to"],
        Kind::User => &["origin", "has_password"],
        Kind::Group => &["origin"],
    };
    if let Value::Object(m) = body {
        for k in output_only {
            m.remove(*k);
        }
    }
}

/// `+14255550100` for any way of writing a number; other ids as given.
fn canonical_id(kind: Kind, id: &str) -> String {
    match kind {
        Kind::Number => E164::parse(id).map_or_else(|_| id.to_owned(), |n| n.to_string()),
        _ => id.to_owned(),
    }
}

/// Checks the body's JSON shape and returns its id (canonical for numbers) and the body.
fn identify(kind: Kind, mut body: Value) -> Result<(String, Value), ApiError> {
    let field = id_field(kind);
    let text = body
        .get(field)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let shape_subject = if text.is_empty() {
        format!("new {}", kind.as_str())
    } else {
        subject(kind, &text)
    };
    if !body.is_object() {
        return Err(ApiError::field(
            shape_subject,
            ".",
            "the body must be a JSON object",
        ));
    }
    let shape =
        |e: super::spec::ShapeError| ApiError::field(shape_subject.clone(), &e.field, e.reason);
    match kind {
        Kind::Number => read_body::<RawNumber>(&body).map(drop),
        Kind::User => read_body::<RawUser>(&body).map(drop),
        Kind::Group => read_body::<RawGroup>(&body).map(drop),
        Kind::Queue => read_body::<RawQueue>(&body).map(drop),
    }
    .map_err(shape)?;
    let id = canonical_id(kind, &text);
    if kind == Kind::Number {
        body[field] = json!(id);
    }
    Ok((id, body))
}

fn subject(kind: Kind, id: &str) -> String {
    format!("{} {id:?}", kind.as_str())
}

fn not_found(kind: Kind, id: &str) -> ApiError {
    ApiError::NotFound {
        what: subject(kind, id),
    }
}
