//! The merged configuration a change is checked against: the file's sections and trunks, every
//! stored object and the change, validated as a whole by `config::validate` (the same checks as
//! `check-config`), plus the media files a change names, decoded first.

use std::collections::HashSet;
use std::path::Path;

use serde_json::json;

use crate::api::error::ApiError;
use crate::api::spec::{group_body, number_body, queue_body, read_body, user_body, ShapeError};
use crate::audio::{DecodeOptions, PromptCache};
use crate::config::outbound::RawClidPolicy;
use crate::config::raw::{RawConfig, RawGroup, RawNumber, RawQueue, RawUser};
use crate::config::validate::validate;
use crate::config::{missing_files, Config, Problem};
use crate::store::objects::Change;
use crate::store::{Kind, ObjectRow, Origin, Store};

use super::bodies::{canonical_id, subject};
use super::file::FileSource;

/// The configuration the file and the store make with `changes` applied, validated.
pub(super) fn check(
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
pub(super) fn undecodable_prompts(old: &Config, new: &Config) -> Vec<Problem> {
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
    raw.clid_policy.clear();
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
            let shape = |e: ShapeError| ApiError::field(subject(kind, &row.id), &e.field, e.reason);
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
                Kind::ClidPolicy => raw
                    .clid_policy
                    .push(read_body::<RawClidPolicy>(&row.body).map_err(shape)?),
            }
        }
    }
    Ok(raw)
}

/// The file's objects as store rows.
pub(super) fn declared_objects(raw: &RawConfig) -> Vec<ObjectRow> {
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
    out.extend(raw.clid_policy.iter().map(|c| {
        let body = crate::api::spec::clid_policy_body(c);
        row(Kind::ClidPolicy, c.id.clone(), body)
    }));
    out
}
