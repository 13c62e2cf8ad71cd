//! The store: holdline's SQLite database (rusqlite, SQLite bundled). It keeps everything an
//! admin or an agent sets, so nothing of it lives only in memory: provisioned phone numbers,
//! users, groups and queues (with whether each came from the config file or the API), agents'
//! do-not-disturb and per-queue opt-outs, the generated API token, and the queue event log.
//!
//! Durability: the database runs in WAL mode with `synchronous=NORMAL`, and every write is one
//! transaction, so a write that returned `Ok` survives the process being killed (SIGKILL, or a
//! `Store` dropped without any close); only a power loss may lose the last commits. The schema
//! is versioned: [`migrate`] applies, in one transaction each, the steps newer than the version
//! recorded in `schema_version`, and refuses a database written by a newer holdline.
//!
//! What this does not do: validate what it stores (the `api` module runs the configuration's
//! validation before any write), read the clock (times are given by the caller, in Unix
//! milliseconds), or talk to the network. Opening a file is its only IO besides SQLite's own.
//!
//! # Layout
//! - this file: [`Store`], opening, pragmas, migrations, [`StoreError`].
//! - [`objects`]: provisioned objects ([`Kind`], [`Origin`], [`ObjectRow`]), agent state, meta.
//! - [`events`]: the queue event log ([`QueueEvent`], [`EventFilter`]), and [`Store::scan_events`]
//!   streaming its rows ([`EventRow`]) to the reports.
//! - [`prompts`]: uploaded prompts' metadata ([`PromptRow`]).
//! - [`registrations`]: registered bindings ([`StoredBinding`]), kept across restarts.

pub mod events;
pub mod objects;
pub mod prompts;
pub mod registrations;

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension};
use thiserror::Error;

pub use events::{EventFilter, EventRow, QueueEvent, Scan};
pub use objects::{AgentPrefs, Kind, ObjectRow, Origin};
pub use prompts::PromptRow;
pub use registrations::StoredBinding;

/// Why a store operation failed.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("cannot open the store {}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("the store was written by a newer holdline (schema version {found}; this one knows up to {known})")]
    TooNew { found: i64, known: i64 },
    #[error("store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("store: the stored {kind} {id:?} is not valid JSON: {source}")]
    Corrupt {
        kind: &'static str,
        id: String,
        #[source]
        source: serde_json::Error,
    },
}

/// The schema, one step per version. Step `i` takes the database from version `i` to `i + 1`.
/// Never edit a released step: add a new one.
const MIGRATIONS: &[&str] = &[
    // 1: provisioning, agent state, event log, meta.
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
     CREATE TABLE numbers (id TEXT PRIMARY KEY, origin TEXT NOT NULL, body TEXT NOT NULL);
     CREATE TABLE users   (id TEXT PRIMARY KEY, origin TEXT NOT NULL, body TEXT NOT NULL);
     CREATE TABLE groups  (id TEXT PRIMARY KEY, origin TEXT NOT NULL, body TEXT NOT NULL);
     CREATE TABLE queues  (id TEXT PRIMARY KEY, origin TEXT NOT NULL, body TEXT NOT NULL);
     CREATE TABLE agent_dnd (user_id TEXT PRIMARY KEY);
     CREATE TABLE agent_opt_out (user_id TEXT NOT NULL, queue_id TEXT NOT NULL,
                                 PRIMARY KEY (user_id, queue_id));
     CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, at_ms INTEGER NOT NULL,
                          queue TEXT NOT NULL, call_id TEXT NOT NULL, agent TEXT,
                          kind TEXT NOT NULL, detail TEXT);
     CREATE INDEX events_queue_time ON events (queue, at_ms);
     CREATE INDEX events_time ON events (at_ms);",
    // 2: how long the call had waited in the queue when the event happened.
    "ALTER TABLE events ADD COLUMN waited_ms INTEGER;",
    // 3: uploaded prompts' metadata (the audio is a file in the prompt directory).
    "CREATE TABLE prompts (id TEXT PRIMARY KEY, meta TEXT NOT NULL);",
    // 4: registered bindings (the registrar's), so they survive a restart.
    "CREATE TABLE registrations (user_id TEXT NOT NULL, seq INTEGER NOT NULL,
                                 body TEXT NOT NULL, PRIMARY KEY (user_id, seq));",
    // 5: caller-ID policies for users' outbound calls, provisioned like users.
    "CREATE TABLE clid_policies (id TEXT PRIMARY KEY, origin TEXT NOT NULL, body TEXT NOT NULL);",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// An open database. Not `Sync`: the API keeps it behind a mutex.
pub struct Store {
    conn: Connection,
}

impl Store {
    /// Opens (creating when missing) the database file at `path`, in WAL mode, migrated to
    /// [`SCHEMA_VERSION`].
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let conn = Connection::open(path).map_err(|source| StoreError::Open {
            path: path.to_owned(),
            source,
        })?;
        Store::init(conn)
    }

    /// A private in-memory database (tests, or a server run without persistence).
    pub fn open_in_memory() -> Result<Store, StoreError> {
        Store::init(Connection::open_in_memory()?)
    }

    fn init(mut conn: Connection) -> Result<Store, StoreError> {
        // Another process (the CLI reading, a second server by mistake) waits instead of
        // failing at once.
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // WAL: a commit is one append to the log, readers never block the writer, and a killed
        // process leaves the log to be replayed on the next open. `journal_mode` answers with
        // a row, so it is read rather than executed. (In-memory databases stay "memory".)
        let _mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        // NORMAL in WAL mode: commits survive a process crash; fsync happens at checkpoints.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        migrate(&mut conn)?;
        Ok(Store { conn })
    }

    /// Another connection to the same database file, for a long read (a report) that should
    /// not hold up whoever holds this one: in WAL mode a reader sees the last commit and never
    /// blocks the writer. `None` for an in-memory database, which no other connection can see.
    pub fn reader(&self) -> Result<Option<Store>, StoreError> {
        match self.conn.path() {
            Some(path) if !path.is_empty() => Store::open(Path::new(path)).map(Some),
            _ => Ok(None),
        }
    }

    /// The schema version recorded in the database.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        version(&self.conn)
    }

    /// The journal mode SQLite reports (`wal` for a file database).
    pub fn journal_mode(&self) -> Result<String, StoreError> {
        Ok(self
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))?)
    }

    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    pub(crate) fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

fn version(conn: &Connection) -> Result<i64, StoreError> {
    let exists: Option<String> = conn
        .query_row(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    if exists.is_none() {
        return Ok(0);
    }
    Ok(conn
        .query_row("SELECT MAX(version) FROM schema_version", [], |r| {
            r.get::<_, Option<i64>>(0)
        })?
        .unwrap_or(0))
}

/// Brings the schema up to [`SCHEMA_VERSION`], one transaction per step, so a crash between
/// steps leaves a database at a known version.
fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let mut current = version(conn)?;
    if current > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            found: current,
            known: SCHEMA_VERSION,
        });
    }
    while current < SCHEMA_VERSION {
        let tx = conn.transaction()?;
        tx.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")?;
        // `current` < MIGRATIONS.len() by the loop condition.
        let step = MIGRATIONS.get(current as usize).copied().unwrap_or("");
        tx.execute_batch(step)?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES (?1)",
            [current + 1],
        )?;
        tx.commit()?;
        current += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_database_is_migrated_to_the_current_version() {
        let s = Store::open_in_memory().unwrap();
        assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
    }

    #[test]
    fn migrating_twice_changes_nothing() {
        let mut s = Store::open_in_memory().unwrap();
        migrate(s.conn_mut()).unwrap();
        let rows: i64 = s
            .conn()
            .query_row("SELECT COUNT(*) FROM schema_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, SCHEMA_VERSION);
    }

    #[test]
    fn database_from_a_newer_version_is_refused() {
        let mut s = Store::open_in_memory().unwrap();
        s.conn()
            .execute("INSERT INTO schema_version (version) VALUES (99)", [])
            .unwrap();
        match migrate(s.conn_mut()) {
            Err(StoreError::TooNew { found: 99, .. }) => {}
            other => panic!("expected TooNew, got {other:?}"),
        }
    }

    #[test]
    fn a_reader_sees_what_the_writer_commits_and_memory_has_none() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("r.db")).unwrap();
        let reader = s.reader().unwrap().expect("a file database has readers");
        let event = QueueEvent {
            seq: 0,
            at_ms: 5,
            queue: "q".into(),
            call_id: "c".into(),
            agent: None,
            kind: "offered".into(),
            detail: None,
            waited_ms: None,
        };
        s.append_event(&event).unwrap();
        let mut seen = Vec::new();
        reader
            .scan_events(Scan::After(0), &mut |e| seen.push(e.call_id.to_owned()))
            .unwrap();
        assert_eq!(seen, ["c"]);
        assert!(Store::open_in_memory().unwrap().reader().unwrap().is_none());
    }

    #[test]
    fn a_version_1_database_gains_the_waited_column_and_keeps_its_events() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.db");
        {
            let mut conn = Connection::open(&path).unwrap();
            let tx = conn.transaction().unwrap();
            tx.execute_batch("CREATE TABLE schema_version (version INTEGER NOT NULL)")
                .unwrap();
            tx.execute_batch(MIGRATIONS[0]).unwrap();
            tx.execute("INSERT INTO schema_version (version) VALUES (1)", [])
                .unwrap();
            tx.execute(
                "INSERT INTO events (at_ms, queue, call_id, kind) VALUES (1, 'q', 'c', 'offered')",
                [],
            )
            .unwrap();
            tx.commit().unwrap();
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
        let events = s.events(&EventFilter::default()).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].waited_ms, None);
    }
}
