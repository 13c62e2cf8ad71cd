//! Uploaded prompts named from a queue: `greeting = "prompt:ID"` or `music_on_hold =
//! "prompt:ID"`, beside plain file paths.
//!
//! An uploaded prompt is stored as one file, `<prompt dir>/<ID>`, the upload's bytes unchanged
//! (the decoder recognises WAV, MP3 and WMA by their content). The prompt directory is
//! `[media] dir`, or `prompts/` next to the store file; a store kept in memory has none, so
//! uploads are refused with that reason. A `prompt:ID` reference resolves to that file's path,
//! so everything after validation (the runtime's prompt cache, the b2bua's settings) plays it
//! exactly as it plays a file path.
//!
//! What this does not do: look at the file system. Whether the prompt exists is checked where
//! the prompts are known: by `missing_files` for a config file, by the admin API (its store)
//! for a change.

use std::path::{Path, PathBuf};

/// How a queue field names an uploaded prompt.
pub const PROMPT_PREFIX: &str = "prompt:";

/// Length of a prompt id: hex digits of the content's SHA-256 (64 bits: collisions among an
/// installation's prompts are not a concern, and the id stays short enough to type).
pub const PROMPT_ID_LEN: usize = 16;

/// Whether `id` has the form of a prompt id (16 lowercase hex digits). Only such ids reach a
/// path, so a reference can never name a file outside the prompt directory.
pub fn is_prompt_id(id: &str) -> bool {
    id.len() == PROMPT_ID_LEN && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Where uploaded prompts live: `[media] dir` (relative to the config file's directory), else
/// `prompts/` beside the store file; `None` when the store is kept in memory and no directory
/// is configured.
pub fn prompt_dir(
    media_dir: Option<&str>,
    store_path: Option<&str>,
    base_dir: &Path,
) -> Option<PathBuf> {
    if let Some(dir) = media_dir.filter(|d| !d.trim().is_empty()) {
        return Some(base_dir.join(dir));
    }
    let store = store_path.unwrap_or("holdline.db");
    if store.ends_with(":memory:") {
        return None;
    }
    let store = base_dir.join(store);
    Some(store.parent().unwrap_or(Path::new("")).join("prompts"))
}

/// The file an uploaded prompt is stored in.
pub fn prompt_file(dir: &Path, id: &str) -> PathBuf {
    dir.join(id)
}

/// The prompt id of `path` when it is an uploaded prompt's file in `dir`.
pub fn prompt_id_of<'a>(dir: Option<&Path>, path: &'a Path) -> Option<&'a str> {
    let dir = dir?;
    if path.parent()? != dir {
        return None;
    }
    path.file_name()?.to_str().filter(|id| is_prompt_id(id))
}

/// A queue's `greeting` / `music_on_hold` value as a path: `prompt:ID` becomes the prompt's
/// file, anything else is a file path relative to `base_dir`. The error completes
/// "`<field>` …".
pub(crate) fn resolve_media(
    value: &str,
    base_dir: &Path,
    prompt_dir: Option<&Path>,
) -> Result<PathBuf, String> {
    let Some(id) = value.strip_prefix(PROMPT_PREFIX) else {
        return Ok(base_dir.join(value));
    };
    let id = id.trim();
    if !is_prompt_id(id) {
        return Err(format!(
            "{value:?} is not a prompt id (prompt: followed by the {PROMPT_ID_LEN} hex digits \
             an upload returned)"
        ));
    }
    match prompt_dir {
        Some(dir) => Ok(prompt_file(dir, id)),
        None => Err(format!(
            "{value:?} names an uploaded prompt, but there is no prompt directory: the store is \
             kept in memory and [media] dir is not set"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_ids_are_sixteen_lowercase_hex_digits() {
        assert!(is_prompt_id("0123456789abcdef"));
        assert!(!is_prompt_id("0123456789ABCDEF"));
        assert!(!is_prompt_id("../../etc/passwd"));
        assert!(!is_prompt_id("0123456789abcde"));
    }

    #[test]
    fn the_prompt_directory_follows_the_store_unless_configured() {
        let base = Path::new("/etc/holdline");
        assert_eq!(
            prompt_dir(None, Some("/var/lib/holdline/h.db"), base),
            Some(PathBuf::from("/var/lib/holdline/prompts"))
        );
        assert_eq!(
            prompt_dir(None, None, base),
            Some(PathBuf::from("/etc/holdline/prompts"))
        );
        assert_eq!(prompt_dir(None, Some(":memory:"), base), None);
        assert_eq!(
            prompt_dir(Some("media/up"), Some(":memory:"), base),
            Some(PathBuf::from("/etc/holdline/media/up"))
        );
    }

    #[test]
    fn references_resolve_to_the_prompt_file_or_say_why_not() {
        let base = Path::new("/etc/holdline");
        let dir = Path::new("/var/prompts");
        let path = resolve_media("prompt:0123456789abcdef", base, Some(dir)).unwrap();
        assert_eq!(path, Path::new("/var/prompts/0123456789abcdef"));
        assert_eq!(prompt_id_of(Some(dir), &path), Some("0123456789abcdef"));
        assert_eq!(
            resolve_media("hello.wav", base, Some(dir)).unwrap(),
            Path::new("/etc/holdline/hello.wav")
        );
        let bad = resolve_media("prompt:../x", base, Some(dir)).unwrap_err();
        assert!(bad.contains("is not a prompt id"), "{bad}");
        let none = resolve_media("prompt:0123456789abcdef", base, None).unwrap_err();
        assert!(none.contains("store is kept in memory"), "{none}");
    }
}
