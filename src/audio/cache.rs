//! The prompt cache: each distinct file content decoded once, shared by every name that uses it.
//!
//! Prompts are keyed by name (a queue's greeting, a music-on-hold class) and, underneath, by the
//! SHA-256 of the file's bytes, so two queues using the same greeting (or a reload of an unchanged
//! file) decode it once and share the same `Arc<[u8]>` buffers. SHA-256 rather than std's
//! `DefaultHasher`: the key stands in for the content, so a 64-bit unkeyed hash that an uploaded
//! file could collide with would play the wrong audio; `sha2` is small, pure Rust and maintained by
//! RustCrypto.
//!
//! All decoding happens here, at config-load or admin time, never on the call path: the call path
//! only clones `Prompt`s out with [`PromptCache::get`]. Loading a new file that fails leaves the
//! old prompt in place: a bad upload never replaces a working greeting with silence.
//!
//! This module does not watch files or schedule reloads; the runtime calls it.

use std::collections::HashMap;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::audio::decode::DecodeOptions;
use crate::audio::error::AudioError;
use crate::audio::media::read_file;
use crate::audio::prompt::{decode_prompt, Prompt};

/// Name under which [`PromptCache::load_default_music`] stores the embedded music on hold.
pub const DEFAULT_MUSIC: &str = "default";

type ContentHash = [u8; 32];

/// Named prompts, decoded once per distinct content.
#[derive(Debug, Default)]
pub struct PromptCache {
    opts: DecodeOptions,
    by_name: HashMap<String, ContentHash>,
    by_content: HashMap<ContentHash, Prompt>,
    decodes: u64,
}

impl PromptCache {
    pub fn new(opts: DecodeOptions) -> Self {
        PromptCache {
            opts,
            ..Default::default()
        }
    }

    /// The prompt stored under `name`.
    pub fn get(&self, name: &str) -> Option<Prompt> {
        self.by_name
            .get(name)
            .and_then(|h| self.by_content.get(h))
            .cloned()
    }

    /// Decode the file at `path` and store it under `name`. On error the previous prompt for
    /// `name`, if any, stays.
    pub fn replace(&mut self, name: &str, path: &Path) -> Result<Prompt, AudioError> {
        let bytes = read_file(path)?;
        self.replace_bytes(name, &path.display().to_string(), &bytes)
    }

    /// Decode `bytes` (labelled `label` in errors, e.g. the upload's file name) and store the
    /// result under `name`. On error the previous prompt for `name`, if any, stays.
    pub fn replace_bytes(
        &mut self,
        name: &str,
        label: &str,
        bytes: &[u8],
    ) -> Result<Prompt, AudioError> {
        let hash: ContentHash = Sha256::digest(bytes).into();
        let prompt = match self.by_content.get(&hash) {
            Some(prompt) => prompt.clone(),
            None => {
                let prompt = decode_prompt(label, bytes, &self.opts)?;
                self.decodes += 1;
                self.by_content.insert(hash, prompt.clone());
                prompt
            }
        };
        self.by_name.insert(name.to_owned(), hash);
        self.prune();
        Ok(prompt)
    }

    /// Store the embedded default music on hold under [`DEFAULT_MUSIC`].
    pub fn load_default_music(&mut self) -> Result<Prompt, AudioError> {
        self.replace_bytes(
            DEFAULT_MUSIC,
            "default music on hold (embedded)",
            crate::audio::default_music(),
        )
    }

    /// Forget `name`; its audio stays alive for streams still holding it.
    pub fn remove(&mut self, name: &str) -> Option<Prompt> {
        let prompt = self.get(name);
        self.by_name.remove(name);
        self.prune();
        prompt
    }

    /// Names with a prompt.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// Distinct contents held (≤ `len()`).
    pub fn distinct(&self) -> usize {
        self.by_content.len()
    }

    /// How many files have been decoded since creation (a cache hit decodes nothing).
    pub fn decodes(&self) -> u64 {
        self.decodes
    }

    /// Drop decoded content no name refers to any more.
    fn prune(&mut self) {
        let by_name = &self.by_name;
        self.by_content
            .retain(|hash, _| by_name.values().any(|h| h == hash));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn wav(samples: &[i16]) -> Vec<u8> {
        let data_len = (samples.len() * 2) as u32;
        let mut w = Vec::new();
        w.extend_from_slice(b"RIFF");
        w.extend_from_slice(&(36 + data_len).to_le_bytes());
        w.extend_from_slice(b"WAVEfmt ");
        w.extend_from_slice(&[16, 0, 0, 0, 1, 0, 1, 0]);
        w.extend_from_slice(&8000u32.to_le_bytes());
        w.extend_from_slice(&16000u32.to_le_bytes());
        w.extend_from_slice(&[2, 0, 16, 0]);
        w.extend_from_slice(b"data");
        w.extend_from_slice(&data_len.to_le_bytes());
        samples
            .iter()
            .for_each(|s| w.extend_from_slice(&s.to_le_bytes()));
        w
    }

    #[test]
    fn same_content_is_decoded_once_and_shared() {
        let mut cache = PromptCache::default();
        let file = wav(&[1000; 800]);
        let a = cache
            .replace_bytes("sales", "a.wav", &file)
            .expect("decodes");
        let b = cache
            .replace_bytes("support", "b.wav", &file)
            .expect("decodes");
        assert_eq!(cache.decodes(), 1);
        assert_eq!(cache.distinct(), 1);
        assert!(Arc::ptr_eq(&a.ulaw, &b.ulaw) && Arc::ptr_eq(&a.alaw, &b.alaw));
    }

    #[test]
    fn failed_replace_keeps_the_old_prompt() {
        let mut cache = PromptCache::default();
        let old = cache
            .replace_bytes("greeting", "old.wav", &wav(&[500; 800]))
            .expect("decodes");
        let err = cache
            .replace_bytes("greeting", "new.wav", b"not audio")
            .unwrap_err();
        assert!(err.to_string().starts_with("new.wav: "), "{err}");
        assert_eq!(cache.get("greeting"), Some(old));
    }

    #[test]
    fn replaced_content_is_released_when_unused() {
        let mut cache = PromptCache::default();
        cache
            .replace_bytes("g", "1.wav", &wav(&[1; 800]))
            .expect("ok");
        let second = cache
            .replace_bytes("g", "2.wav", &wav(&[2; 800]))
            .expect("ok");
        assert_eq!(cache.distinct(), 1);
        assert_eq!(cache.get("g"), Some(second));
        assert!(cache.remove("g").is_some());
        assert!(cache.is_empty() && cache.distinct() == 0);
    }

    #[test]
    fn missing_file_error_names_the_path_and_keeps_state() {
        let mut cache = PromptCache::default();
        let err = cache
            .replace("g", Path::new("/nonexistent/holdline/greeting.mp3"))
            .unwrap_err();
        assert!(matches!(err, AudioError::Io { .. }), "{err}");
        assert!(err
            .to_string()
            .contains("/nonexistent/holdline/greeting.mp3"));
        assert!(cache.get("g").is_none());
    }
}
