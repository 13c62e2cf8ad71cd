//! Loading every greeting and music-on-hold file the configuration names into the
//! [`PromptCache`] at start-up (and, later, on provisioning changes): decoding happens here,
//! never on the call path.
//!
//! A file that fails to decode is reported with its queue, field, path and reason. At start-up
//! that stops the server (there is no older prompt to keep); a later reload keeps the prompt
//! that was playing (the cache never swaps in a bad file).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::audio::{DecodeOptions, Prompt, PromptCache};
use crate::config::{Config, Music};

/// Every decoded prompt, by the path the configuration names it with.
#[derive(Clone, Debug)]
pub struct PromptSet {
    pub default_music: Prompt,
    pub files: HashMap<PathBuf, Prompt>,
}

impl PromptSet {
    /// The music for `music`; the default when a file is unknown (it was reported at load).
    pub fn music(&self, music: &Music) -> &Prompt {
        match music {
            Music::Default => &self.default_music,
            Music::File(path) => self.files.get(path).unwrap_or(&self.default_music),
        }
    }

    pub fn file(&self, path: &Path) -> Option<&Prompt> {
        self.files.get(path)
    }
}

/// Decodes the default music and every queue's greeting and music file. Errors name the queue,
/// the field, the file and the reason; all of them are reported, not only the first.
pub fn load(config: &Config) -> Result<PromptSet, Vec<String>> {
    let default_music = PromptCache::new(DecodeOptions {
        max_duration: config.media.max_prompt,
    })
    .load_default_music();
    let (files, mut errors) = load_new(config, &HashSet::new());
    match default_music {
        Ok(default_music) if errors.is_empty() => Ok(PromptSet {
            default_music,
            files,
        }),
        Ok(_) => Err(errors),
        Err(err) => {
            errors.push(format!("the embedded default music on hold: {err}"));
            Err(errors)
        }
    }
}

/// Decodes the greeting and music files `config` names that are not in `known`: the prompts a
/// provisioning change brings (all of them with `known` empty). A file that fails is left out
/// and reported with its queue, field, path and reason. Runs off the core task.
pub fn load_new(
    config: &Config,
    known: &HashSet<PathBuf>,
) -> (HashMap<PathBuf, Prompt>, Vec<String>) {
    let mut cache = PromptCache::new(DecodeOptions {
        max_duration: config.media.max_prompt,
    });
    let mut files = HashMap::new();
    let mut errors = Vec::new();
    for queue in &config.queues {
        for (field, path) in queue.prompt_files() {
            if known.contains(path) || files.contains_key(path) {
                continue;
            }
            match cache.replace(&path.display().to_string(), path) {
                Ok(prompt) => {
                    files.insert(path.to_owned(), prompt);
                }
                Err(err) => errors.push(format!("queue \"{}\": {field}: {err}", queue.id)),
            }
        }
    }
    (files, errors)
}
