//! Uploaded prompts through the API: checking an upload, storing it (the file in the prompt
//! directory, the metadata in the store), listing, describing, producing the 8 kHz WAV
//! holdline plays, and removing a prompt no queue uses.
//!
//! An upload is checked before anything is written: its size, then a full decode with the
//! same pipeline the runtime plays it through and the same `[media] max_prompt_seconds` limit,
//! so a prompt that is stored always plays. The file is written to a temporary name in the
//! prompt directory, flushed, and renamed into place (rename within a directory is atomic on
//! POSIX file systems), so a crash never leaves half a prompt under its id. The id is a short
//! content hash: the same audio uploaded twice is one prompt.
//!
//! What this does not do: convert the upload (the original bytes are kept; the runtime decodes
//! them at load like any file), or watch the directory (a file removed by hand is reported
//! when a queue that names it is loaded).

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::api::error::ApiError;
use crate::audio::{decode_prompt, probe_bytes, AudioError, DecodeOptions, Law, Prompt};
use crate::config::prompt_ref::{prompt_file, prompt_id_of, PROMPT_ID_LEN, PROMPT_PREFIX};
use crate::config::{Config, Problem};
use crate::store::PromptRow;

use super::Provisioning;

/// The longest prompt name kept (a file name, shown in lists).
const MAX_NAME_CHARS: usize = 200;

/// An upload that passed every check, ready to be stored.
#[derive(Clone, Debug)]
pub struct CheckedPrompt {
    pub id: String,
    pub bytes: Vec<u8>,
    /// Metadata without the upload time (the store adds it).
    pub meta: Value,
}

/// Checks an upload against `config`'s limits: not empty, not over `[media] max_upload_mb`,
/// a WAV, MP3 or WMA file that decodes in full within `[media] max_prompt_seconds`. The error
/// is a 422 naming the problem (413 for the size; 409 when there is nowhere to store it).
/// Decoding is the slow part: call this without holding the provisioning lock.
pub fn check_upload(
    name: &str,
    bytes: Vec<u8>,
    config: &Config,
) -> Result<CheckedPrompt, ApiError> {
    if config.media.prompt_dir.is_none() {
        return Err(no_prompt_dir());
    }
    if name.trim().is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::field(
            "prompt",
            "name",
            format!("name must be 1 to {MAX_NAME_CHARS} characters"),
        ));
    }
    let subject = format!("prompt {name:?}");
    let refuse = |message: String| ApiError::field(subject.clone(), "file", message);
    if bytes.is_empty() {
        return Err(refuse("the upload is empty: not an audio file".into()));
    }
    let limit = config.media.max_upload_bytes;
    if bytes.len() as u64 > limit {
        return Err(too_large(bytes.len() as u64, limit));
    }
    // The label carries no extension: the format is told by the content, as it will be when
    // the stored file (named by its id) is played.
    let label = "upload";
    let info = probe_bytes(label, &bytes).map_err(|e| refuse(audio_problem(&e, None)))?;
    let format = match info.container.split_whitespace().next().unwrap_or("") {
        "wave" => "wav",
        "mp3" => "mp3",
        "asf" => "wma",
        other => {
            return Err(refuse(format!(
                "not an audio file holdline plays (WAV, MP3 or WMA): the container is {other}"
            )))
        }
    };
    let opts = DecodeOptions {
        max_duration: config.media.max_prompt,
    };
    let prompt = decode_prompt(label, &bytes, &opts)
        .map_err(|e| refuse(audio_problem(&e, info.sample_rate)))?;
    let digest = Sha256::digest(&bytes);
    let id: String = digest
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
        .chars()
        .take(PROMPT_ID_LEN)
        .collect();
    let meta = json!({
        "name": name,
        "format": format,
        "container": info.container,
        "codec": info.codec,
        "sample_rate": info.sample_rate,
        "channels": info.channels,
        "duration_ms": prompt.duration.as_millis() as u64,
        "size": bytes.len(),
    });
    Ok(CheckedPrompt { id, bytes, meta })
}

/// 413: the upload is over `[media] max_upload_mb`.
pub fn too_large(bytes: u64, limit: u64) -> ApiError {
    ApiError::TooLarge(format!(
        "the upload ({bytes} bytes or more) is larger than the {} MB limit ([media] max_upload_mb)",
        limit / (1024 * 1024)
    ))
}

/// What was wrong with the audio, in words an admin acts on (the decoder's own reason kept;
/// where decoding stopped, in seconds when the sample rate is known).
fn audio_problem(e: &AudioError, rate: Option<u32>) -> String {
    match e {
        AudioError::Truncated {
            decoded, expected, ..
        } => {
            let at = match rate.filter(|&r| r > 0) {
                Some(r) => format!(
                    " at {:.3} s of {:.3} s",
                    *decoded as f64 / f64::from(r),
                    *expected as f64 / f64::from(r)
                ),
                None => String::new(),
            };
            format!(
                "corrupt or truncated audio: decoding stops{at} ({decoded} of {expected} \
                 sample frames)"
            )
        }
        AudioError::Unsupported { reason, .. } => {
            format!("not an audio file holdline plays (WAV, MP3 or WMA): {reason}")
        }
        AudioError::TooLong { limit_secs, .. } => {
            format!("longer than {limit_secs} s (the [media] max_prompt_seconds limit)")
        }
        AudioError::Corrupt { reason, .. } => format!("corrupt audio: {reason}"),
        AudioError::Empty { .. } => "contains no audio samples".into(),
        other => other.to_string().trim_start_matches("upload: ").to_owned(),
    }
}

/// The prompt as the 8 kHz mono 16-bit PCM WAV holdline plays: the G.711 audio the media plane
/// sends, decoded back to linear samples (frame padding included).
pub fn playable_wav(prompt: &Prompt) -> Vec<u8> {
    let samples: Vec<i16> = prompt.ulaw.iter().map(|&c| Law::Ulaw.decode(c)).collect();
    crate::audio::wav::pcm16_wav(&samples)
}

impl Provisioning {
    /// Where uploads go; refused with the reason when there is no prompt directory.
    fn prompt_dir(&self) -> Result<PathBuf, ApiError> {
        self.config
            .media
            .prompt_dir
            .clone()
            .ok_or_else(no_prompt_dir)
    }

    /// Stores a checked upload: the file first (temporary name, flushed, renamed), then its
    /// metadata. Returns the prompt's view.
    pub fn add_prompt(&mut self, checked: CheckedPrompt) -> Result<Value, ApiError> {
        let dir = self.prompt_dir()?;
        let final_path = prompt_file(&dir, &checked.id);
        write_atomically(&dir, &final_path, &checked.id, &checked.bytes).map_err(|e| {
            ApiError::Internal(format!("cannot store the prompt in {}: {e}", dir.display()))
        })?;
        let mut meta = checked.meta;
        meta["uploaded_at_ms"] = json!((self.wall_clock)());
        self.store.put_prompt(&PromptRow {
            id: checked.id.clone(),
            meta,
        })?;
        self.prompt(&checked.id)
    }

    /// Every uploaded prompt's view, oldest first.
    pub fn prompts(&self) -> Result<Vec<Value>, ApiError> {
        Ok(self
            .store
            .prompts()?
            .into_iter()
            .map(|row| self.prompt_view(row))
            .collect())
    }

    /// One prompt's view: its metadata, the reference queues use, and the queues using it.
    pub fn prompt(&self, id: &str) -> Result<Value, ApiError> {
        let row = self.store.prompt(id)?.ok_or_else(|| prompt_not_found(id))?;
        Ok(self.prompt_view(row))
    }

    /// The stored file of a prompt that exists.
    pub fn prompt_path(&self, id: &str) -> Result<PathBuf, ApiError> {
        self.store.prompt(id)?.ok_or_else(|| prompt_not_found(id))?;
        Ok(prompt_file(&self.prompt_dir()?, id))
    }

    /// Removes a prompt no queue uses (409 naming the queues that do).
    pub fn remove_prompt(&mut self, id: &str) -> Result<(), ApiError> {
        self.store.prompt(id)?.ok_or_else(|| prompt_not_found(id))?;
        let users = self.prompt_users(id);
        if !users.is_empty() {
            let queues: Vec<String> = users.iter().map(|(q, f)| format!("{q} ({f})")).collect();
            return Err(ApiError::Conflict(format!(
                "prompt {id} is used by queue {}; change those queues first",
                queues.join(", ")
            )));
        }
        // The row goes first: a listed prompt always has its file.
        self.store.delete_prompt(id)?;
        if let Ok(dir) = self.prompt_dir() {
            match std::fs::remove_file(prompt_file(&dir, id)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!(%id, error = %e, "removed prompt's file left behind"),
            }
        }
        Ok(())
    }

    /// Sets the wall clock that stamps uploads (Unix ms). The runtime gives its own; without
    /// one, uploads are stamped 0.
    pub fn set_wall_clock(&mut self, clock: fn() -> i64) {
        self.wall_clock = clock;
    }

    /// The wall clock (Unix ms) the runtime set; the console's sessions expire by it.
    pub fn wall_clock(&self) -> fn() -> i64 {
        self.wall_clock
    }

    /// (queue, field) pairs whose greeting or music is prompt `id`.
    fn prompt_users(&self, id: &str) -> Vec<(String, &'static str)> {
        let dir = self.config.media.prompt_dir.as_deref();
        self.config
            .queues
            .iter()
            .flat_map(|q| {
                q.prompt_files()
                    .filter(|(_, path)| prompt_id_of(dir, path) == Some(id))
                    .map(|(field, _)| (q.id.as_str().to_owned(), field))
            })
            .collect()
    }

    fn prompt_view(&self, row: PromptRow) -> Value {
        let mut v = row.meta;
        v["id"] = json!(row.id);
        v["reference"] = json!(format!("{PROMPT_PREFIX}{}", row.id));
        v["used_by"] = self
            .prompt_users(&row.id)
            .into_iter()
            .map(|(queue, field)| json!({ "queue": queue, "field": field }))
            .collect();
        v
    }

    /// Problems for the `prompt:ID`s `new` names that `old` did not and that were never
    /// uploaded (checked against the store, before the files are decoded).
    pub(super) fn unknown_prompts(
        &self,
        old: &Config,
        new: &Config,
    ) -> Result<Vec<Problem>, ApiError> {
        let dir = new.media.prompt_dir.as_deref();
        let known: Vec<&Path> = old
            .queues
            .iter()
            .flat_map(|q| q.prompt_files().map(|(_, p)| p))
            .collect();
        let mut problems = Vec::new();
        for q in &new.queues {
            for (field, path) in q.prompt_files() {
                let Some(id) = prompt_id_of(dir, path) else {
                    continue;
                };
                if known.contains(&path) || self.store.prompt(id)?.is_some() {
                    continue;
                }
                problems.push(Problem {
                    subject: format!("queue {:?}", q.id.as_str()),
                    field: field.to_owned(),
                    message: format!(
                        "{field} \"{PROMPT_PREFIX}{id}\": no uploaded prompt has this id \
                         (GET /api/v1/prompts lists them)"
                    ),
                });
            }
        }
        Ok(problems)
    }

    /// A queue view with greeting and music that are uploaded prompts shown as `prompt:ID`,
    /// as they were given, rather than as the file they resolve to.
    pub(super) fn with_prompt_refs(&self, mut view: Value) -> Value {
        let dir = self.config.media.prompt_dir.as_deref();
        for field in ["greeting", "music_on_hold"] {
            let Some(text) = view.get(field).and_then(Value::as_str) else {
                continue;
            };
            if let Some(id) = prompt_id_of(dir, Path::new(text)) {
                view[field] = json!(format!("{PROMPT_PREFIX}{id}"));
            }
        }
        view
    }
}

/// 409: the store is in memory and no `[media] dir` is set.
fn no_prompt_dir() -> ApiError {
    ApiError::Conflict(
        "prompt uploads are off: the store is kept in memory and [media] dir is not set, so an \
         upload would not outlive the server"
            .into(),
    )
}

fn prompt_not_found(id: &str) -> ApiError {
    ApiError::NotFound {
        what: format!("prompt {id:?}"),
    }
}

/// Writes `bytes` to `path` through a temporary file in `dir`, flushed before the rename and
/// the directory flushed after it, so the name appears whole or not at all.
fn write_atomically(dir: &Path, path: &Path, id: &str, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{id}.part"));
    let written = std::fs::File::create(&tmp).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()
    });
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
        // A full disk must not leave a partial file behind either.
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    // The rename is durable once the directory is; not every platform can open a directory.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}
