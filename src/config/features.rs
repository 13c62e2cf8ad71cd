//! `[features]`: what agents dial from their own phones (feature codes), how long a call from
//! one user to another rings, and the short `extension` numbers of queues and users.
//!
//! Feature codes are the star codes PBXs have taught phone users for decades (`*78` do not
//! disturb, `*79` off again). A code must start with `*` or `#`, so it can never be mistaken
//! for a number or a user id, and no code may be a prefix of another: `*45` takes the queue's
//! extension after it, so `*4` or `*451` beside it would make a dial string ambiguous. Besides
//! the toggle (`*45<ext>`), `*46<ext>` opts out and `*47<ext>` back in whatever the state was:
//! the confirmation sounds the same either way, so an agent who is not sure dials those.
//!
//! Extensions (`[[queue]] extension`, `[[user]] extension`) are short digit strings: a queue's
//! names it in `*45<ext>`; a user's is dialled to call them (`sip:201@pbx`). Both share one
//! number space, so `201` never names a queue and a user at once.
//!
//! What this does not do: dial plans (`[[trunk]]`), or codes that change anything but the
//! dialling agent's own state.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::model::{QueueId, UserId};
use super::raw::RawConfig;
use super::validate::{in_range, seconds, subject, Problems};

/// `[features]` as the file gives it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table ([features])")]
pub struct RawFeatures {
    pub dnd_on: Option<String>,
    pub dnd_off: Option<String>,
    pub sign_in: Option<String>,
    pub sign_out: Option<String>,
    pub queue_toggle: Option<String>,
    pub queue_out: Option<String>,
    pub queue_in: Option<String>,
    pub ring_time: Option<i64>,
    /// Dialled before an external number: show the user's own number (`config::outbound`).
    pub clid_override: Option<String>,
}

/// `[features]`, validated, with the extensions of queues and users.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeaturesConfig {
    /// Do-not-disturb on (`*78`).
    pub dnd_on: String,
    /// Do-not-disturb off (`*79`).
    pub dnd_off: String,
    /// Opt back in to every queue of the agent (`*40`).
    pub sign_in: String,
    /// Opt out of every queue of the agent that allows opting out (`*41`).
    pub sign_out: String,
    /// Followed by a queue's extension: opt out of that queue, or back in (`*45`).
    pub queue_toggle: String,
    /// Followed by a queue's extension: opt out of that queue (`*46`), whatever it was.
    pub queue_out: String,
    /// Followed by a queue's extension: back into that queue (`*47`), whatever it was.
    pub queue_in: String,
    /// How long a call from one user to another rings before it gets 408 (15–180 s).
    pub ring_time: Duration,
    /// Dialled before an external number (`*82`): the call shows the user's own number where
    /// the user's caller-ID policy allows an override.
    pub clid_override: String,
    /// `[[queue]] extension` → queue.
    pub queue_extensions: BTreeMap<String, QueueId>,
    /// `[[user]] extension` → user.
    pub user_extensions: BTreeMap<String, UserId>,
}

impl Default for FeaturesConfig {
    fn default() -> FeaturesConfig {
        features(&RawConfig::default(), &mut Problems::default())
    }
}

/// A feature code dialled, as [`FeaturesConfig::code`] reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FeatureCode {
    Dnd(bool),
    /// `true`: sign in (opt back in everywhere).
    SignIn(bool),
    /// `*45<ext>`, `*46<ext>`, `*47<ext>`: the opt-out of the queue with this extension
    /// (`queue` `None`: no queue has it): toggled (`out` `None`), set or cleared.
    Queue {
        queue: Option<QueueId>,
        out: Option<bool>,
    },
}

impl FeaturesConfig {
    /// The feature code `dialled` is (the user part of a Request-URI), if any.
    pub fn code(&self, dialled: &str) -> Option<FeatureCode> {
        let fixed = [
            (&self.dnd_on, FeatureCode::Dnd(true)),
            (&self.dnd_off, FeatureCode::Dnd(false)),
            (&self.sign_in, FeatureCode::SignIn(true)),
            (&self.sign_out, FeatureCode::SignIn(false)),
        ];
        if let Some((_, code)) = fixed.into_iter().find(|(c, _)| c.as_str() == dialled) {
            return Some(code);
        }
        let per_queue = [
            (&self.queue_toggle, None),
            (&self.queue_out, Some(true)),
            (&self.queue_in, Some(false)),
        ];
        per_queue.into_iter().find_map(|(prefix, out)| {
            let ext = dialled.strip_prefix(prefix.as_str())?;
            if ext.is_empty() || !ext.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            Some(FeatureCode::Queue {
                queue: self.queue_extensions.get(ext).cloned(),
                out,
            })
        })
    }
}

pub const DEFAULT_RING_TIME_SECONDS: i64 = 30;

/// Checks `[features]` and the `extension` of every queue and user; each problem names its
/// field.
pub(super) fn features(raw: &RawConfig, p: &mut Problems) -> FeaturesConfig {
    const S: &str = "[features]";
    let f = &raw.features;
    let codes = [
        ("dnd_on", &f.dnd_on, "*78"),
        ("dnd_off", &f.dnd_off, "*79"),
        ("sign_in", &f.sign_in, "*40"),
        ("sign_out", &f.sign_out, "*41"),
        ("queue_toggle", &f.queue_toggle, "*45"),
        ("queue_out", &f.queue_out, "*46"),
        ("queue_in", &f.queue_in, "*47"),
        ("clid_override", &f.clid_override, "*82"),
    ];
    let mut checked: Vec<(&str, String)> = Vec::new();
    for (field, value, default) in codes {
        let code = value.clone().unwrap_or_else(|| default.to_owned());
        let well_formed = code.len() >= 2
            && code.len() <= 16
            && code.starts_with(['*', '#'])
            && code
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b'*' || b == b'#');
        if !well_formed {
            p.add(
                S,
                field,
                format!(
                    "{field} {code:?} must start with * or # and be 2–16 of the keys 0–9, * and #"
                ),
            );
        }
        for (other, taken) in &checked {
            if *taken == code {
                p.add(S, field, format!("{field} {code:?} is also {other}"));
            } else if taken.starts_with(&code) || code.starts_with(taken.as_str()) {
                p.add(
                    S,
                    field,
                    format!("{field} {code:?} and {other} {taken:?} are prefixes of one another; a dial string would be ambiguous"),
                );
            }
        }
        checked.push((field, code));
    }
    let ring_time = in_range(
        S,
        "ring_time",
        f.ring_time,
        DEFAULT_RING_TIME_SECONDS,
        15..=180,
        " s",
        p,
    );
    let mut owner: BTreeMap<String, String> = BTreeMap::new();
    let mut user_extensions = BTreeMap::new();
    for (i, u) in raw.user.iter().enumerate() {
        let subj = subject("user", &u.id, i);
        let Some(ext) = extension(&subj, u.extension.as_deref(), &mut owner, p) else {
            continue;
        };
        // `sip:201@…` names a user by id first: another user's extension must not be an id.
        if raw.user.iter().any(|o| o.id == ext && o.id != u.id) {
            p.add(
                &subj,
                "extension",
                format!("extension {ext:?} is the id of another user"),
            );
            continue;
        }
        user_extensions.insert(ext, UserId(u.id.clone()));
    }
    let mut queue_extensions = BTreeMap::new();
    for (i, q) in raw.queue.iter().enumerate() {
        let subj = subject("queue", &q.id, i);
        if let Some(ext) = extension(&subj, q.extension.as_deref(), &mut owner, p) {
            queue_extensions.insert(ext, QueueId(q.id.clone()));
        }
    }
    let code = |i: usize| checked.get(i).map(|(_, c)| c.clone()).unwrap_or_default();
    FeaturesConfig {
        dnd_on: code(0),
        dnd_off: code(1),
        sign_in: code(2),
        sign_out: code(3),
        queue_toggle: code(4),
        queue_out: code(5),
        queue_in: code(6),
        ring_time: seconds(ring_time),
        clid_override: code(7),
        queue_extensions,
        user_extensions,
    }
}

/// One `extension`: 1–8 digits, not taken by another queue or user.
fn extension(
    subj: &str,
    ext: Option<&str>,
    owner: &mut BTreeMap<String, String>,
    p: &mut Problems,
) -> Option<String> {
    let ext = ext?;
    if ext.is_empty() || ext.len() > 8 || !ext.bytes().all(|b| b.is_ascii_digit()) {
        p.add(
            subj,
            "extension",
            format!("extension {ext:?} must be 1–8 digits"),
        );
        return None;
    }
    if let Some(other) = owner.get(ext) {
        p.add(
            subj,
            "extension",
            format!("extension {ext:?} is already the extension of {other}"),
        );
        return None;
    }
    owner.insert(ext.to_owned(), subj.to_owned());
    Some(ext.to_owned())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn problems(toml: &str) -> String {
        match crate::config::from_toml_str(toml, Path::new("")) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn defaults_are_the_familiar_codes() {
        let c = crate::config::from_toml_str("", Path::new("")).expect("config");
        let f = &c.features;
        assert_eq!(
            (
                f.dnd_on.as_str(),
                f.dnd_off.as_str(),
                f.sign_in.as_str(),
                f.sign_out.as_str(),
                f.queue_toggle.as_str()
            ),
            ("*78", "*79", "*40", "*41", "*45")
        );
        assert_eq!(f.ring_time, Duration::from_secs(30));
        assert_eq!(f.code("*78"), Some(FeatureCode::Dnd(true)));
        assert_eq!(f.code("*41"), Some(FeatureCode::SignIn(false)));
        let queue = |out| Some(FeatureCode::Queue { queue: None, out });
        assert_eq!(f.code("*457"), queue(None));
        assert_eq!(f.code("*467"), queue(Some(true)));
        assert_eq!(f.code("*477"), queue(Some(false)));
        assert_eq!(f.code("*45"), None);
        assert_eq!(f.code("*45x"), None);
        assert_eq!(f.code("78"), None);
    }

    #[test]
    fn codes_must_be_distinct_star_codes_and_no_prefix_of_another() {
        let e = problems("[features]\ndnd_on = \"78\"\n");
        assert!(e.contains("[features]") && e.contains("dnd_on"), "{e}");
        let e = problems("[features]\ndnd_on = \"*79\"\n");
        assert!(e.contains("dnd_off") && e.contains("also dnd_on"), "{e}");
        let e = problems("[features]\nsign_in = \"*4\"\n");
        assert!(e.contains("prefixes of one another"), "{e}");
        let e = problems("[features]\nring_time = 5\n");
        assert!(e.contains("ring_time"), "{e}");
    }

    #[test]
    fn extensions_are_digits_and_unique_across_queues_and_users() {
        let base = "[[user]]\nid = \"amos\"\nextension = \"201\"\n";
        let e = problems(&format!(
            "{base}[[queue]]\nid = \"sales\"\nextension = \"201\"\n"
        ));
        assert!(
            e.contains("queue \"sales\"") && e.contains("extension") && e.contains("user \"amos\""),
            "{e}"
        );
        let e = problems("[[user]]\nid = \"201\"\n[[user]]\nid = \"bea\"\nextension = \"201\"\n");
        assert!(
            e.contains("user \"bea\"") && e.contains("id of another user"),
            "{e}"
        );
        let e = problems("[[queue]]\nid = \"sales\"\nextension = \"7a\"\n");
        assert!(e.contains("extension \"7a\" must be 1–8 digits"), "{e}");
        let c = crate::config::from_toml_str(
            &format!("{base}[[queue]]\nid = \"sales\"\nextension = \"7\"\n"),
            Path::new(""),
        )
        .expect("config");
        assert_eq!(
            c.features.code("*457"),
            Some(FeatureCode::Queue {
                queue: Some(QueueId("sales".into())),
                out: None
            })
        );
        assert_eq!(
            c.features.user_extensions.get("201"),
            Some(&UserId("amos".into()))
        );
    }
}
