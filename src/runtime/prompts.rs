//! Loading each queue's greeting and music on hold at start-up (and, later, on provisioning
//! changes) into the [`PromptCache`]: decoding happens here, never on the call path.
//!
//! A file that fails to decode is reported with its queue, field, path and reason. At start-up
//! that stops the server (there is no older prompt to keep); a later reload keeps the prompt
//! that was playing (the cache never swaps in a bad file).

use std::collections::HashMap;
use std::path::Path;

use crate::audio::{DecodeOptions, Prompt, PromptCache};
use crate::config::{Config, Music, QueueId};

/// What a queue plays to its waiting callers.
#[derive(Clone, Debug)]
pub struct QueuePrompts {
    pub greeting: Option<Prompt>,
    pub music: Prompt,
}

/// Decodes every queue's prompts. Errors name the queue, the field, the file and the reason;
/// all of them are reported, not only the first.
pub fn load(config: &Config) -> Result<HashMap<QueueId, QueuePrompts>, Vec<String>> {
    let mut cache = PromptCache::new(DecodeOptions {
        max_duration: config.media.max_prompt,
    });
    let mut errors = Vec::new();
    let default_music = match cache.load_default_music() {
        Ok(p) => Some(p),
        Err(err) => {
            errors.push(format!("the embedded default music on hold: {err}"));
            None
        }
    };
    let mut out = HashMap::new();
    for queue in &config.queues {
        let mut load = |field: &str, path: &Path| {
            let name = format!("queue:{}:{field}", queue.id);
            cache
                .replace(&name, path)
                .map_err(|err| errors.push(format!("queue \"{}\": {field}: {err}", queue.id)))
                .ok()
        };
        let greeting = queue.greeting.as_deref().and_then(|p| load("greeting", p));
        let music = match &queue.music_on_hold {
            Music::Default => default_music.clone(),
            Music::File(path) => load("music_on_hold", path),
        };
        if let Some(music) = music {
            out.insert(queue.id.clone(), QueuePrompts { greeting, music });
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}
