//! Uploaded prompts' metadata: one row per prompt, its id and what the upload said about it
//! (name, format, codec, sample rate, channels, duration, size, when), kept as JSON so the
//! API can add fields without a schema change.
//!
//! The audio itself is a file in the prompt directory (see `config::prompt_ref`); the store
//! does not touch it. A row is written only after its file is in place, and removed before its
//! file is, so a listed prompt always has its audio.

use rusqlite::{params, OptionalExtension};
use serde_json::Value;

use super::{Store, StoreError};

/// One uploaded prompt's metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct PromptRow {
    pub id: String,
    /// A JSON object: `name`, `format`, `codec`, `sample_rate`, `channels`, `duration_ms`,
    /// `size`, `uploaded_at_ms`.
    pub meta: Value,
}

impl Store {
    /// Records a prompt (replacing the row of the same id: the same content uploaded again).
    pub fn put_prompt(&mut self, row: &PromptRow) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO prompts (id, meta) VALUES (?1, ?2)
             ON CONFLICT (id) DO UPDATE SET meta = excluded.meta",
            params![row.id, row.meta.to_string()],
        )?;
        Ok(())
    }

    pub fn prompt(&self, id: &str) -> Result<Option<PromptRow>, StoreError> {
        let meta: Option<String> = self
            .conn()
            .query_row("SELECT meta FROM prompts WHERE id = ?1", [id], |r| r.get(0))
            .optional()?;
        meta.map(|m| decode(id.to_owned(), &m)).transpose()
    }

    /// Every prompt, oldest upload first.
    pub fn prompts(&self) -> Result<Vec<PromptRow>, StoreError> {
        let mut stmt = self
            .conn()
            .prepare("SELECT id, meta FROM prompts ORDER BY rowid")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, meta) = row?;
            out.push(decode(id, &meta)?);
        }
        Ok(out)
    }

    /// Removes a prompt's row; whether there was one.
    pub fn delete_prompt(&mut self, id: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn()
            .execute("DELETE FROM prompts WHERE id = ?1", [id])?
            > 0)
    }
}

fn decode(id: String, meta: &str) -> Result<PromptRow, StoreError> {
    let meta = serde_json::from_str(meta).map_err(|source| StoreError::Corrupt {
        kind: "prompt",
        id: id.clone(),
        source,
    })?;
    Ok(PromptRow { id, meta })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prompts_are_stored_listed_and_removed() {
        let mut s = Store::open_in_memory().unwrap();
        let row = |id: &str, name: &str| PromptRow {
            id: id.into(),
            meta: json!({ "name": name }),
        };
        s.put_prompt(&row("b", "second")).unwrap();
        s.put_prompt(&row("a", "first")).unwrap();
        s.put_prompt(&row("b", "renamed")).unwrap();
        let ids: Vec<String> = s.prompts().unwrap().into_iter().map(|r| r.id).collect();
        assert_eq!(ids, ["b", "a"]);
        assert_eq!(s.prompt("b").unwrap().unwrap().meta["name"], "renamed");
        assert!(s.delete_prompt("b").unwrap());
        assert!(!s.delete_prompt("b").unwrap());
        assert_eq!(s.prompt("b").unwrap(), None);
    }
}
