//! The TOML configuration: reading, validation with errors that name the field and the reason,
//! the embedded default, and the service directory that routes Request-URIs to queues.
//!
//! Reading happens in two steps. TOML is read into the file's shape ([`raw`]), where unknown
//! keys and wrong types are errors located by line and key path. Then [`validate`] checks every
//! value, reference and limit, collects *all* problems, and builds the typed [`Config`] the rest
//! of holdline consumes. `deploy/holdline.example.toml` documents every field.
//!
//! What this does not do: watch the file, merge several files, or read the environment. Apart
//! from [`load`] and [`check_config`], which read the file and check that the media and TLS
//! files it names exist, nothing here touches the file system.
//!
//! # Layout
//! - [`model`]: the validated types (`Config`, `Queue`, `Target`, ids); the queue engine's
//!   `QueueId`, `Routing` and `OfferMode` are re-exported from it.
//! - `queue_spec`: a queue in the engine's vocabulary (`QueueSpec`), users as agents.
//! - [`raw`]: the serde model of the file. [`validate`], `validate_queue`, `validate_trunk`: the checks.
//! - [`targets`]: forward targets and the forwarding-loop check.
//! - [`dial`]: dial strings of external targets, normalised and checked against the trunks.
//! - [`directory`]: [`ServiceDirectory`], Request-URI → queue.
//! - [`limits`]: `[limits]`, per-source admission control.
//! - [`probe`]: `[probe]`, OPTIONS probing of static contacts.
//! - [`prompt_ref`]: `prompt:ID`, an uploaded prompt named from a queue, and where prompts live.
//! - [`registrar`]: `[registrar]`, REGISTER and digest authentication.
//! - [`features`]: `[features]`, feature codes and the extensions of queues and users.
//! - [`outbound`]: `[outbound]`, `[[clid_policy]]`, users' outbound calls and caller ID.
//! - [`error`]: [`ConfigError`], [`Problem`]. [`uri`]: SIP URIs as written in the file.

pub mod dial;
pub mod directory;
pub mod error;
pub mod features;
pub mod limits;
pub mod model;
pub mod outbound;
pub mod probe;
pub mod prompt_ref;
mod queue_spec;
pub mod raw;
pub mod registrar;
pub mod targets;
pub mod uri;
pub mod validate;
mod validate_queue;
mod validate_srtp;
mod validate_tls;
mod validate_trunk;

use std::path::Path;

pub use directory::ServiceDirectory;
pub use error::{ConfigError, Problem, SyntaxError};
pub use limits::{ClassLimits, LimitsConfig};
pub use model::*;

/// The configuration `holdline serve` runs without `--config`.
pub const DEFAULT_TOML: &str = include_str!("default.toml");

/// Reads, checks and builds the configuration in `path`. Relative paths in the file (greeting,
/// music, store, TLS files) resolve against the file's directory; the media and TLS files must
/// exist.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let base_dir = path.parent().unwrap_or(Path::new(""));
    let config = from_toml_str(&text, base_dir)?;
    let missing = missing_files(&config);
    if missing.is_empty() {
        Ok(config)
    } else {
        Err(ConfigError::Invalid(missing))
    }
}

/// Reads and checks a configuration from text; relative paths resolve against `base_dir`.
/// Does not look at the file system.
pub fn from_toml_str(text: &str, base_dir: &Path) -> Result<Config, ConfigError> {
    let raw: raw::RawConfig =
        toml::from_str(text).map_err(|e| ConfigError::Syntax(SyntaxError::from_toml(&e, text)))?;
    validate::validate(raw, base_dir).map_err(ConfigError::Invalid)
}

/// The embedded default configuration (`src/config/default.toml`); its store is `holdline.db`
/// in the working directory.
pub fn embedded_default() -> Config {
    match from_toml_str(DEFAULT_TOML, Path::new("")) {
        Ok(config) => config,
        // The file is part of the binary and a test checks it validates.
        Err(e) => panic!("the embedded default configuration is invalid:\n{e}"),
    }
}

/// What `holdline check-config FILE` prints: `ok: 1 queue, 1 number, 0 users`, or the error
/// listing every problem, one per line.
pub fn check_config(path: &Path) -> Result<String, ConfigError> {
    load(path).map(|c| format!("ok: {}", c.summary()))
}

/// The files the configuration names that are not there: greetings, music, TLS certificate and
/// key, and the directory the store lives in.
pub fn missing_files(config: &Config) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut unknown_prompts = Vec::new();
    let mut need = |subject: String, field: &str, path: &Path, what: &str| {
        if !path.is_file() {
            out.push(Problem {
                subject,
                field: field.to_owned(),
                message: format!(
                    "{field} {:?}: {what} does not exist",
                    path.display().to_string()
                ),
            });
        }
    };
    if let Some(tls) = &config.sip.tls {
        need("[sip]".into(), "tls_cert", &tls.cert, "the file");
        need("[sip]".into(), "tls_key", &tls.key, "the file");
        if let Some(ca) = &tls.client_ca {
            need("[sip]".into(), "tls_client_ca", ca, "the file");
        }
        if let Some(ca) = &tls.peer_ca {
            need("[sip]".into(), "tls_ca", ca, "the file");
        }
    }
    for t in &config.trunks {
        let Some(tls) = &t.tls else { continue };
        let subject = format!("trunk {:?}", t.id.as_str());
        if let Some(ca) = &tls.ca {
            need(subject.clone(), "tls_ca", ca, "the file");
        }
        if let Some((cert, key)) = &tls.client {
            need(subject.clone(), "tls_cert", cert, "the file");
            need(subject, "tls_key", key, "the file");
        }
    }
    for q in &config.queues {
        for (field, path) in q.prompt_files() {
            if let Some(id) = prompt_ref::prompt_id_of(config.media.prompt_dir.as_deref(), path) {
                if !path.is_file() {
                    unknown_prompts.push(Problem {
                        subject: format!("queue {:?}", q.id.as_str()),
                        field: field.to_owned(),
                        message: format!(
                            "{field} \"prompt:{id}\": no uploaded prompt has this id \
                             (upload one with POST /api/v1/prompts or holdline prompt upload)"
                        ),
                    });
                }
                continue;
            }
            need(
                format!("queue {:?}", q.id.as_str()),
                field,
                path,
                "the file",
            );
        }
    }
    if let Some(dir) = config.store.path.parent() {
        if !dir.as_os_str().is_empty() && !dir.is_dir() {
            out.push(Problem {
                subject: "[store]".into(),
                field: "path".into(),
                message: format!(
                    "path {:?}: the directory {:?} does not exist",
                    config.store.path.display().to_string(),
                    dir.display().to_string()
                ),
            });
        }
    }
    out.extend(unknown_prompts);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_has_one_demo_queue_on_a_service_number() {
        let c = embedded_default();
        assert_eq!(c.queues.len(), 1);
        let q = &c.queues[0];
        assert_eq!(q.id.as_str(), "demo");
        assert_eq!(q.name, "Demo Queue");
        assert_eq!(q.music_on_hold, Music::Default);
        assert_eq!(q.no_agents, NoAgentsAction::Queue);
        assert_eq!(c.numbers[0].kind, NumberKind::ServiceToll);
        assert_eq!(c.store.path, Path::new("holdline.db"));
        assert_eq!(c.summary(), "1 queue, 1 number, 0 users");
    }
}
