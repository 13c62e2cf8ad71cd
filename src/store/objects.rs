//! Provisioned objects (numbers, users, groups, queues), agents' own state, and meta values.
//!
//! An object is stored as its id, its [`Origin`] (declared in the config file, or created
//! through the API) and its body: the object as JSON in the shape of the config file's table
//! (`max_wait`, `on_timeout = { action, to }` …), so the configuration's own validation reads it
//! back unchanged. Rows keep their insertion order (SQLite rowid; an update keeps it), which is
//! the order objects are listed and validated in.
//!
//! Every write is one transaction: [`Store::apply`] takes a whole change (a queue and the
//! opt-outs it drops, a file's objects at start-up) and commits all of it or nothing.

use std::collections::BTreeSet;

use rusqlite::{params, OptionalExtension};
use serde_json::Value;

use super::{Store, StoreError};

/// The kinds of provisioned object, one table each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Number,
    User,
    Group,
    Queue,
    /// `[[clid_policy]]`: a caller-ID policy for users' outbound calls.
    ClidPolicy,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Number,
        Kind::User,
        Kind::Group,
        Kind::Queue,
        Kind::ClidPolicy,
    ];

    fn table(self) -> &'static str {
        match self {
            Kind::Number => "numbers",
            Kind::User => "users",
            Kind::Group => "groups",
            Kind::Queue => "queues",
            Kind::ClidPolicy => "clid_policies",
        }
    }

    /// The word used in messages and in the config file's table names.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Number => "number",
            Kind::User => "user",
            Kind::Group => "group",
            Kind::Queue => "queue",
            Kind::ClidPolicy => "clid_policy",
        }
    }
}

/// Where an object was declared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// In the config file: applied at start-up, read-only through the API.
    File,
    /// Created through the API; lives only in the store.
    Api,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::File => "file",
            Origin::Api => "api",
        }
    }

    fn parse(s: &str) -> Origin {
        if s == "file" {
            Origin::File
        } else {
            Origin::Api
        }
    }
}

/// One stored object.
#[derive(Clone, Debug, PartialEq)]
pub struct ObjectRow {
    pub kind: Kind,
    pub id: String,
    pub origin: Origin,
    /// The object in the config file's shape.
    pub body: Value,
}

/// One write inside a [`Store::apply`] transaction.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// Insert or replace (keeping the row's place when it exists).
    Put(ObjectRow),
    /// Remove; agent state that refers to a removed queue or user goes with it.
    Delete { kind: Kind, id: String },
}

/// Agents' own settings: do-not-disturb and per-queue opt-outs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AgentPrefs {
    /// Users in do-not-disturb.
    pub dnd: BTreeSet<String>,
    /// (user, queue) pairs where the user opted out of the queue.
    pub opted_out: BTreeSet<(String, String)>,
}

impl AgentPrefs {
    pub fn is_dnd(&self, user: &str) -> bool {
        self.dnd.contains(user)
    }

    pub fn is_opted_out(&self, user: &str, queue: &str) -> bool {
        self.opted_out
            .contains(&(user.to_owned(), queue.to_owned()))
    }
}

/// What [`Store::sync_file`] changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// File objects that were not in the store, or whose body changed.
    pub written: usize,
    /// File objects removed because the file no longer declares them: (kind, id).
    pub removed: Vec<(Kind, String)>,
    /// API objects replaced by a file object with the same id: (kind, id).
    pub taken_over: Vec<(Kind, String)>,
}

impl Store {
    /// Every object of `kind`, in insertion order.
    pub fn list(&self, kind: Kind) -> Result<Vec<ObjectRow>, StoreError> {
        let sql = format!(
            "SELECT id, origin, body FROM {} ORDER BY rowid",
            kind.table()
        );
        let mut stmt = self.conn().prepare(&sql)?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, origin, body) = row?;
            out.push(decode(kind, id, &origin, &body)?);
        }
        Ok(out)
    }

    /// The object of `kind` with `id`.
    pub fn get(&self, kind: Kind, id: &str) -> Result<Option<ObjectRow>, StoreError> {
        let sql = format!("SELECT origin, body FROM {} WHERE id = ?1", kind.table());
        let found = self
            .conn()
            .query_row(&sql, [id], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .optional()?;
        match found {
            Some((origin, body)) => Ok(Some(decode(kind, id.to_owned(), &origin, &body)?)),
            None => Ok(None),
        }
    }

    /// Applies `changes` in one transaction: all of them or none.
    pub fn apply(&mut self, changes: &[Change]) -> Result<(), StoreError> {
        let tx = self.conn_mut().transaction()?;
        for change in changes {
            write(&tx, change)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Makes the stored file objects exactly `declared` (config as code): file objects the file
    /// no longer declares are removed, declared ones are written (an API object with the same
    /// id becomes the file's), API objects are kept. One transaction.
    pub fn sync_file(&mut self, declared: &[ObjectRow]) -> Result<SyncReport, StoreError> {
        let (changes, report) = self.file_sync_plan(declared)?;
        self.apply(&changes)?;
        Ok(report)
    }

    /// The changes [`Store::sync_file`] would make, without making them (so the caller can
    /// validate the result first).
    pub fn file_sync_plan(
        &self,
        declared: &[ObjectRow],
    ) -> Result<(Vec<Change>, SyncReport), StoreError> {
        let mut report = SyncReport::default();
        let mut changes = Vec::new();
        for kind in Kind::ALL {
            let stored = self.list(kind)?;
            for row in stored.iter().filter(|r| r.origin == Origin::File) {
                if !declared.iter().any(|d| d.kind == kind && d.id == row.id) {
                    report.removed.push((kind, row.id.clone()));
                    changes.push(Change::Delete {
                        kind,
                        id: row.id.clone(),
                    });
                }
            }
            for d in declared.iter().filter(|d| d.kind == kind) {
                let mut row = d.clone();
                row.origin = Origin::File;
                match stored.iter().find(|s| s.id == d.id) {
                    Some(s) if s == &row => continue,
                    Some(s) if s.origin == Origin::Api => {
                        report.taken_over.push((kind, d.id.clone()))
                    }
                    _ => {}
                }
                report.written += 1;
                changes.push(Change::Put(row));
            }
        }
        Ok((changes, report))
    }

    /// Agents' do-not-disturb and opt-outs.
    pub fn agent_prefs(&self) -> Result<AgentPrefs, StoreError> {
        let mut prefs = AgentPrefs::default();
        let mut stmt = self.conn().prepare("SELECT user_id FROM agent_dnd")?;
        for id in stmt.query_map([], |r| r.get::<_, String>(0))? {
            prefs.dnd.insert(id?);
        }
        let mut stmt = self
            .conn()
            .prepare("SELECT user_id, queue_id FROM agent_opt_out")?;
        for pair in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))? {
            prefs.opted_out.insert(pair?);
        }
        Ok(prefs)
    }

    /// Sets or clears `user`'s do-not-disturb.
    pub fn set_dnd(&mut self, user: &str, on: bool) -> Result<(), StoreError> {
        let tx = self.conn_mut().transaction()?;
        if on {
            tx.execute(
                "INSERT OR IGNORE INTO agent_dnd (user_id) VALUES (?1)",
                [user],
            )?;
        } else {
            tx.execute("DELETE FROM agent_dnd WHERE user_id = ?1", [user])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Opts every agent of `queue` in again (its `allow_opt_out` is off); how many opt-outs
    /// were dropped.
    pub fn clear_opt_outs(&mut self, queue: &str) -> Result<usize, StoreError> {
        Ok(self
            .conn()
            .execute("DELETE FROM agent_opt_out WHERE queue_id = ?1", [queue])?)
    }

    /// Opts `user` out of `queue` (`out = true`) or back in.
    pub fn set_opt_out(&mut self, user: &str, queue: &str, out: bool) -> Result<(), StoreError> {
        let tx = self.conn_mut().transaction()?;
        if out {
            tx.execute(
                "INSERT OR IGNORE INTO agent_opt_out (user_id, queue_id) VALUES (?1, ?2)",
                [user, queue],
            )?;
        } else {
            tx.execute(
                "DELETE FROM agent_opt_out WHERE user_id = ?1 AND queue_id = ?2",
                [user, queue],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The meta value under `key`.
    pub fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn()
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    /// The value under `key`, storing `make()` first when there is none. Returns the value and
    /// whether it was just created (the API token is printed once, when generated).
    pub fn meta_or_insert(
        &mut self,
        key: &str,
        make: impl FnOnce() -> String,
    ) -> Result<(String, bool), StoreError> {
        let tx = self.conn_mut().transaction()?;
        let found: Option<String> = tx
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?;
        let out = match found {
            Some(v) => (v, false),
            None => {
                let v = make();
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES (?1, ?2)",
                    params![key, v],
                )?;
                (v, true)
            }
        };
        tx.commit()?;
        Ok(out)
    }
}

/// A stored queue's `allow_opt_out`, as the file's shape gives it (absent: the default, true).
fn allows_opt_out(body: &Value) -> bool {
    body.get("allow_opt_out")
        .and_then(Value::as_bool)
        .unwrap_or(true)
}

fn decode(kind: Kind, id: String, origin: &str, body: &str) -> Result<ObjectRow, StoreError> {
    let body = serde_json::from_str(body).map_err(|source| StoreError::Corrupt {
        kind: kind.as_str(),
        id: id.clone(),
        source,
    })?;
    Ok(ObjectRow {
        kind,
        id,
        origin: Origin::parse(origin),
        body,
    })
}

fn write(tx: &rusqlite::Transaction<'_>, change: &Change) -> Result<(), StoreError> {
    match change {
        Change::Put(row) => {
            let sql = format!(
                "INSERT INTO {} (id, origin, body) VALUES (?1, ?2, ?3)
                 ON CONFLICT (id) DO UPDATE SET origin = excluded.origin, body = excluded.body",
                row.kind.table()
            );
            tx.execute(
                &sql,
                params![row.id, row.origin.as_str(), row.body.to_string()],
            )?;
            if row.kind == Kind::Queue && !allows_opt_out(&row.body) {
                // A queue that does not allow opting out opts every agent in again, for good:
                // turning allow_opt_out on later must not bring the old opt-outs back.
                tx.execute("DELETE FROM agent_opt_out WHERE queue_id = ?1", [&row.id])?;
            }
        }
        Change::Delete { kind, id } => {
            let sql = format!("DELETE FROM {} WHERE id = ?1", kind.table());
            tx.execute(&sql, [id])?;
            // Agent state about something that no longer exists would come back to life if
            // an object with the same id were created later.
            match kind {
                Kind::Queue => {
                    tx.execute("DELETE FROM agent_opt_out WHERE queue_id = ?1", [id])?;
                }
                Kind::User => {
                    tx.execute("DELETE FROM agent_opt_out WHERE user_id = ?1", [id])?;
                    tx.execute("DELETE FROM agent_dnd WHERE user_id = ?1", [id])?;
                }
                Kind::Number | Kind::Group | Kind::ClidPolicy => {}
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(kind: Kind, id: &str, origin: Origin, body: Value) -> ObjectRow {
        ObjectRow {
            kind,
            id: id.into(),
            origin,
            body,
        }
    }

    #[test]
    fn update_keeps_the_row_in_its_place() {
        let mut s = Store::open_in_memory().unwrap();
        for id in ["a", "b"] {
            let r = row(Kind::Queue, id, Origin::Api, json!({ "id": id }));
            s.apply(&[Change::Put(r)]).unwrap();
        }
        let r = row(
            Kind::Queue,
            "a",
            Origin::Api,
            json!({ "id": "a", "max_calls": 3 }),
        );
        s.apply(&[Change::Put(r)]).unwrap();
        let ids: Vec<String> = s
            .list(Kind::Queue)
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(
            s.get(Kind::Queue, "a").unwrap().unwrap().body["max_calls"],
            3
        );
    }

    #[test]
    fn failed_apply_writes_nothing() {
        let mut s = Store::open_in_memory().unwrap();
        s.conn()
            .execute_batch("CREATE TRIGGER no_b BEFORE INSERT ON queues WHEN NEW.id = 'b' BEGIN SELECT RAISE(ABORT, 'no'); END;")
            .unwrap();
        let changes = [
            Change::Put(row(Kind::Queue, "a", Origin::Api, json!({}))),
            Change::Put(row(Kind::Queue, "b", Origin::Api, json!({}))),
        ];
        assert!(s.apply(&changes).is_err());
        assert!(s.list(Kind::Queue).unwrap().is_empty());
    }

    #[test]
    fn sync_file_removes_undeclared_file_objects_and_keeps_api_ones() {
        let mut s = Store::open_in_memory().unwrap();
        s.apply(&[
            Change::Put(row(
                Kind::Queue,
                "old",
                Origin::File,
                json!({ "id": "old" }),
            )),
            Change::Put(row(
                Kind::Queue,
                "mine",
                Origin::Api,
                json!({ "id": "mine" }),
            )),
            Change::Put(row(
                Kind::Queue,
                "both",
                Origin::Api,
                json!({ "id": "both" }),
            )),
        ])
        .unwrap();
        let declared = [
            row(Kind::Queue, "new", Origin::File, json!({ "id": "new" })),
            row(
                Kind::Queue,
                "both",
                Origin::File,
                json!({ "id": "both", "max_calls": 1 }),
            ),
        ];
        let report = s.sync_file(&declared).unwrap();
        assert_eq!(report.removed, [(Kind::Queue, "old".to_string())]);
        assert_eq!(report.taken_over, [(Kind::Queue, "both".to_string())]);
        assert_eq!(report.written, 2);
        let rows = s.list(Kind::Queue).unwrap();
        let ids: Vec<(&str, Origin)> = rows.iter().map(|r| (r.id.as_str(), r.origin)).collect();
        assert_eq!(
            ids,
            [
                ("mine", Origin::Api),
                ("both", Origin::File),
                ("new", Origin::File)
            ]
        );
        // A second sync of the same file changes nothing.
        assert_eq!(s.sync_file(&declared).unwrap(), SyncReport::default());
    }

    #[test]
    fn turning_allow_opt_out_off_opts_everyone_in_for_good() {
        let mut s = Store::open_in_memory().unwrap();
        let queue = |allow: Option<bool>| {
            let body = match allow {
                Some(a) => json!({ "id": "sales", "allow_opt_out": a }),
                None => json!({ "id": "sales" }),
            };
            Change::Put(row(Kind::Queue, "sales", Origin::Api, body))
        };
        s.apply(&[queue(Some(true))]).unwrap();
        s.set_opt_out("amos", "sales", true).unwrap();
        s.set_opt_out("amos", "support", true).unwrap();
        // Another change that keeps opting out allowed keeps the opt-out.
        s.apply(&[queue(None)]).unwrap();
        assert!(s.agent_prefs().unwrap().is_opted_out("amos", "sales"));
        s.apply(&[queue(Some(false))]).unwrap();
        s.apply(&[queue(Some(true))]).unwrap();
        let p = s.agent_prefs().unwrap();
        assert!(!p.is_opted_out("amos", "sales"));
        assert!(
            p.is_opted_out("amos", "support"),
            "other queues keep theirs"
        );
        // The same through the file sync (config as code).
        s.set_opt_out("bea", "sales", true).unwrap();
        let file = |allow: bool| {
            row(
                Kind::Queue,
                "sales",
                Origin::File,
                json!({ "id": "sales", "allow_opt_out": allow }),
            )
        };
        s.sync_file(&[file(false)]).unwrap();
        s.sync_file(&[file(true)]).unwrap();
        assert!(!s.agent_prefs().unwrap().is_opted_out("bea", "sales"));
        // And the sweep for a store written before this rule.
        s.set_opt_out("cy", "sales", true).unwrap();
        assert_eq!(s.clear_opt_outs("sales").unwrap(), 1);
        assert!(!s.agent_prefs().unwrap().is_opted_out("cy", "sales"));
    }

    #[test]
    fn deleting_a_queue_drops_its_opt_outs_and_a_user_its_dnd() {
        let mut s = Store::open_in_memory().unwrap();
        s.set_opt_out("amos", "sales", true).unwrap();
        s.set_opt_out("amos", "support", true).unwrap();
        s.set_dnd("amos", true).unwrap();
        s.set_dnd("bea", true).unwrap();
        s.apply(&[Change::Delete {
            kind: Kind::Queue,
            id: "sales".into(),
        }])
        .unwrap();
        let p = s.agent_prefs().unwrap();
        assert!(!p.is_opted_out("amos", "sales"));
        assert!(p.is_opted_out("amos", "support"));
        s.apply(&[Change::Delete {
            kind: Kind::User,
            id: "amos".into(),
        }])
        .unwrap();
        let p = s.agent_prefs().unwrap();
        assert!(!p.is_dnd("amos") && p.is_dnd("bea"));
        assert!(p.opted_out.is_empty());
    }

    #[test]
    fn meta_or_insert_creates_once() {
        let mut s = Store::open_in_memory().unwrap();
        assert_eq!(
            s.meta_or_insert("api_token", || "t1".into()).unwrap(),
            ("t1".to_string(), true)
        );
        assert_eq!(
            s.meta_or_insert("api_token", || "t2".into()).unwrap(),
            ("t1".to_string(), false)
        );
        assert_eq!(s.meta("api_token").unwrap().as_deref(), Some("t1"));
    }
}
