//! Restart safety of the store on a real database file: what the API provisioned is still there
//! after the process goes away, file objects follow the file, and a write that was acknowledged
//! survives SIGKILL.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use holdline::api::{ApiError, FileSource, Provisioning};
use holdline::store::objects::Change;
use holdline::store::{EventFilter, Kind, ObjectRow, Origin, QueueEvent, Store};
use serde_json::json;

const FILE: &str = r#"
[[number]]
e164 = "+14255550100"
kind = "service-toll"

[[number]]
e164 = "+14255550101"
kind = "service-toll"

[[user]]
id = "amos"

[[queue]]
id = "demo"
numbers = ["+14255550100"]
agents = ["amos"]
"#;

fn source(dir: &Path, text: &str) -> FileSource {
    FileSource {
        text: text.to_owned(),
        label: dir.join("holdline.toml").display().to_string(),
        base_dir: dir.to_owned(),
    }
}

fn open(db: &Path, dir: &Path, text: &str) -> Provisioning {
    Provisioning::open(Store::open(db).unwrap(), source(dir, text))
        .unwrap()
        .0
}

#[test]
fn provisioned_objects_and_agent_settings_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("holdline.db");
    {
        let mut p = open(&db, dir.path(), FILE);
        p.create(
            Kind::Number,
            json!({ "e164": "+14255550102", "kind": "service-toll-free" }),
        )
        .unwrap();
        p.create(Kind::User, json!({ "id": "bea" })).unwrap();
        p.create(Kind::Queue, json!({ "id": "sales", "numbers": ["+14255550102"], "agents": ["amos", "bea"], "max_wait": 600 }))
            .unwrap();
        p.set_dnd("bea", true).unwrap();
        p.set_opt_out("amos", "sales", true).unwrap();
        p.record_event(&QueueEvent {
            seq: 0,
            at_ms: 1_700_000_000_000,
            queue: "sales".into(),
            call_id: "c1".into(),
            agent: None,
            kind: "offered".into(),
            detail: None,
            waited_ms: None,
        })
        .unwrap();
        // Dropped here: no shutdown step of any kind.
    }
    let mut p = open(&db, dir.path(), FILE);
    let q = p.get(Kind::Queue, "sales").unwrap();
    assert_eq!(
        (q["max_wait"].clone(), q["origin"].clone()),
        (json!(600), json!("api"))
    );
    assert_eq!(
        p.get(Kind::Number, "+14255550102").unwrap()["assigned_to"],
        "queue:sales"
    );
    let prefs = p.agent_prefs();
    assert!(prefs.is_dnd("bea") && prefs.is_opted_out("amos", "sales"));
    assert_eq!(p.events(&EventFilter::default()).unwrap().len(), 1);
    assert!(p
        .config()
        .queue(&holdline::config::QueueId("sales".into()))
        .is_some());
    // The file's objects are still the file's.
    match p.update(Kind::Queue, "demo", &json!({ "max_calls": 1 })) {
        Err(ApiError::ReadOnly { file, .. }) => assert!(file.ends_with("holdline.toml")),
        other => panic!("expected read-only, got {other:?}"),
    }
}

#[test]
fn a_queue_that_stopped_allowing_opt_outs_keeps_everyone_opted_in_after_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("holdline.db");
    let file = |allow: bool| format!("{FILE}allow_opt_out = {allow}\n");
    {
        let mut p = open(&db, dir.path(), &file(true));
        p.set_opt_out("amos", "demo", true).unwrap();
        assert!(p.agent_prefs().is_opted_out("amos", "demo"));
    }
    // The file turns it off, then on again, each with a restart.
    drop(open(&db, dir.path(), &file(false)));
    let p = open(&db, dir.path(), &file(true));
    assert!(!p.agent_prefs().is_opted_out("amos", "demo"));
    drop(p);
    // An opt-out left in a store written before the rule (the queue's row unchanged since)
    // is dropped at start-up too.
    drop(open(&db, dir.path(), &file(false)));
    Store::open(&db)
        .unwrap()
        .set_opt_out("amos", "demo", true)
        .unwrap();
    drop(open(&db, dir.path(), &file(false)));
    let p = open(&db, dir.path(), &file(true));
    assert!(!p.agent_prefs().is_opted_out("amos", "demo"));
}

#[test]
fn file_objects_follow_the_file_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("holdline.db");
    {
        let mut p = open(&db, dir.path(), FILE);
        p.create(Kind::Queue, json!({ "id": "sales" })).unwrap();
    }
    // The file drops number 101, changes demo, and declares a new user.
    let edited = FILE
        .replace(
            "[[number]]\ne164 = \"+14255550101\"\nkind = \"service-toll\"\n",
            "",
        )
        .replace("agents = [\"amos\"]", "agents = [\"amos\"]\nmax_calls = 7")
        + "\n[[user]]\nid = \"cy\"\n";
    let p = open(&db, dir.path(), &edited);
    assert!(matches!(
        p.get(Kind::Number, "+14255550101"),
        Err(ApiError::NotFound { .. })
    ));
    assert_eq!(p.get(Kind::Queue, "demo").unwrap()["max_calls"], 7);
    assert_eq!(p.get(Kind::User, "cy").unwrap()["origin"], "file");
    assert_eq!(p.get(Kind::Queue, "sales").unwrap()["origin"], "api");
}

#[test]
fn file_database_runs_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&dir.path().join("x.db")).unwrap();
    assert_eq!(s.journal_mode().unwrap(), "wal");
}

const CHILD_ENV: &str = "HOLDLINE_STORE_KILL_TEST_DB";

/// Run as a child process by `acknowledged_writes_survive_sigkill`: writes queues and events
/// as fast as it can and prints `acked N` after each commit returns.
#[test]
#[ignore = "a helper process for acknowledged_writes_survive_sigkill"]
fn kill_test_child_writer() {
    let Some(db) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let mut store = Store::open(&PathBuf::from(db)).unwrap();
    let mut out = std::io::stdout().lock();
    for i in 0..1_000_000 {
        let id = format!("q{i}");
        store
            .apply(&[Change::Put(ObjectRow {
                kind: Kind::Queue,
                id: id.clone(),
                origin: Origin::Api,
                body: json!({ "id": id }),
            })])
            .unwrap();
        store
            .append_event(&QueueEvent {
                seq: 0,
                at_ms: i,
                queue: id,
                call_id: "c".into(),
                agent: None,
                kind: "offered".into(),
                detail: None,
                waited_ms: None,
            })
            .unwrap();
        writeln!(out, "acked {i}").unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("holdline.db");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "kill_test_child_writer",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &db)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut last: Option<i64> = None;
    // Kill it in the middle of its writes.
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("acked ") {
            let n: i64 = n.parse().unwrap();
            last = Some(n);
            if n >= 300 {
                break;
            }
        }
    }
    child.kill().unwrap(); // SIGKILL
                           // Lines the child wrote before it died were acknowledged too.
    for line in lines {
        let Ok(line) = line else { break };
        if let Some(n) = line.strip_prefix("acked ") {
            last = Some(n.parse().unwrap());
        }
    }
    let status = child.wait().unwrap();
    // It died of the signal, in the middle of its writes (it would have gone on to 1,000,000).
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );
    let last = last.expect("the child acknowledged writes");
    let store = Store::open(&db).unwrap();
    let queues = store.list(Kind::Queue).unwrap();
    assert!(
        queues.len() as i64 > last,
        "acked up to {last}, found {} queues",
        queues.len()
    );
    for i in 0..=last {
        assert_eq!(queues[i as usize].id, format!("q{i}"));
    }
    let events = store
        .events(&EventFilter {
            since: Some(0),
            until: Some(last + 1),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(events.len() as i64, last + 1);
}

#[test]
fn start_up_is_refused_and_nothing_written_when_the_file_breaks_an_api_object() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("holdline.db");
    {
        let mut p = open(&db, dir.path(), FILE);
        p.create(Kind::Queue, json!({ "id": "sales", "agents": ["amos"] }))
            .unwrap();
    }
    // The file no longer declares amos, whom the API queue "sales" names as its agent.
    let edited = FILE
        .replace("[[user]]\nid = \"amos\"\n", "")
        .replace("agents = [\"amos\"]\n", "");
    let err = match Provisioning::open(Store::open(&db).unwrap(), source(dir.path(), &edited)) {
        Err(e) => e,
        Ok(_) => panic!("start-up must be refused"),
    };
    let text = err.to_string();
    assert!(
        text.contains("together with the objects created through the API"),
        "{text}"
    );
    assert!(
        text.contains("queue \"sales\": agent \"amos\" is not a [[user]]"),
        "{text}"
    );
    // Nothing of the edited file was applied: the old file still starts.
    let p = open(&db, dir.path(), FILE);
    assert_eq!(p.get(Kind::User, "amos").unwrap()["origin"], "file");
}
