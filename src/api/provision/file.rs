//! The configuration file provisioning starts from: its text, how messages name it, and the
//! directory its relative paths resolve against (or the embedded default).

use std::path::{Path, PathBuf};

use crate::config::raw::RawConfig;
use crate::config::{ConfigError, SyntaxError};

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

    pub(super) fn raw(&self) -> Result<RawConfig, ConfigError> {
        toml::from_str(&self.text)
            .map_err(|e| ConfigError::Syntax(SyntaxError::from_toml(&e, &self.text)))
    }
}
