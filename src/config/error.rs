//! Configuration errors: what failed, where, and why, worded for the person editing the file.
//!
//! Three kinds: the file could not be read; TOML could not be read into the model (a syntax
//! error, a type mismatch or an unknown key: reported as `line N: key.path: reason`, the line
//! found from the span toml gives); or the model is inconsistent, in which case every
//! [`Problem`] is reported at once, one per line, each naming the object and the field.

use std::fmt;
use std::io;
use std::ops::Range;
use std::path::PathBuf;

use thiserror::Error;

/// Why a configuration was refused.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// TOML syntax, a value of the wrong type, or an unknown key.
    #[error("{0}")]
    Syntax(SyntaxError),
    /// The file parsed but is not a valid configuration; every problem found.
    #[error("{}", list(.0))]
    Invalid(Vec<Problem>),
}

impl ConfigError {
    /// The validation problems, when that is what failed.
    pub fn problems(&self) -> &[Problem] {
        match self {
            ConfigError::Invalid(p) => p,
            _ => &[],
        }
    }
}

fn list(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(Problem::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// A TOML-level error located in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    /// 1-based line of the offending text, when toml gave a position.
    pub line: Option<usize>,
    /// Dotted key path (`queue.max_wiat`, `sip.listen`), when it could be worked out.
    pub key: Option<String>,
    /// toml's reason (`unknown field `max_wiat`, expected one of …`).
    pub message: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl SyntaxError {
    /// Locates a toml error in `text`: the line of its span and the key path there.
    pub fn from_toml(err: &toml::de::Error, text: &str) -> SyntaxError {
        // serde speaks Rust; the reader of the message wrote TOML.
        let message = err
            .message()
            .trim()
            .replace("expected i64", "expected an integer")
            .replace("expected a sequence", "expected an array");
        let Some(span) = err.span() else {
            return SyntaxError {
                line: None,
                key: None,
                message,
            };
        };
        let (line, key) = locate(text, span);
        SyntaxError {
            line: Some(line),
            key,
            message,
        }
    }
}

/// The 1-based line of `span.start` and the dotted key path of the text there: the enclosing
/// `[table]` / `[[array]]` header and the `key =` that starts the line (for an unknown key,
/// the span is the key itself).
fn locate(text: &str, span: Range<usize>) -> (usize, Option<String>) {
    let mut start = span.start.min(text.len());
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let before = text.get(..start).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line_text = text[line_start..].lines().next().unwrap_or("");

    // The last table header at or above this line.
    let mut table: Option<String> = None;
    for l in text[..line_start].lines().chain(std::iter::once(line_text)) {
        let t = l.trim();
        if let Some(h) = t.strip_prefix("[[").and_then(|r| r.split("]]").next()) {
            table = Some(h.trim().to_owned());
        } else if let Some(h) = t.strip_prefix('[').and_then(|r| r.split(']').next()) {
            table = Some(h.trim().to_owned());
        }
    }
    let trimmed = line_text.trim();
    if trimmed.starts_with('[') {
        // The error is about the header itself (an unknown table, say).
        return (line, table);
    }
    let key = trimmed
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"').to_owned())
        .filter(|k| !k.is_empty() && !k.contains(char::is_whitespace));
    let path = match (table, key) {
        (Some(t), Some(k)) => Some(format!("{t}.{k}")),
        (Some(t), None) => Some(t),
        (None, k) => k,
    };
    (line, path)
}

/// One thing wrong with a configuration: `queue "sales": max_wait 50 is not a multiple of 15`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The object: `queue "sales"`, `number "+14255550199"`, `[sip]`.
    pub subject: String,
    /// The field the problem is in (`max_wait`), empty when it is the object as a whole.
    pub field: String,
    /// The whole reason after the subject, naming the field and the value.
    pub message: String,
}

impl fmt::Display for Problem {
    /// `subject: message`, or the message alone when it already opens with the subject
    /// (`number "+14255550199" is of kind user and cannot be assigned to queue "sales"`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.starts_with(&self.subject) {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.subject, self.message)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_finds_line_table_and_key() {
        let text = "[sip]\nlisten = []\n\n[[queue]]\nid = \"a\"\nmax_wiat = 3\n";
        let at = text.find("max_wiat").unwrap();
        assert_eq!(
            locate(text, at..at + 8),
            (6, Some("queue.max_wiat".to_owned()))
        );
        assert_eq!(locate(text, 0..5), (1, Some("sip".to_owned())));
    }

    #[test]
    fn invalid_lists_every_problem_one_per_line() {
        let p = |m: &str| Problem {
            subject: "queue \"a\"".into(),
            field: "x".into(),
            message: m.into(),
        };
        let e = ConfigError::Invalid(vec![p("one"), p("two")]);
        assert_eq!(e.to_string(), "queue \"a\": one\nqueue \"a\": two");
    }
}
