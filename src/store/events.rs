//! The queue event log: what happened to each call in each queue, appended as it happens and
//! read back filtered by queue and time.
//!
//! [`QueueEvent`] is a plain record the queue engine's events map onto (offered, answered,
//! abandoned, overflowed, timed out, forwarded, agent ringing …); its `kind` is free text so the
//! engine can add kinds without a schema change. Times are Unix milliseconds given by the caller:
//! the store never reads the clock.

use rusqlite::params;
use serde::{Deserialize, Serialize};

use super::{Store, StoreError};

/// The event kinds the queue engine reports, as spelled in the log and the live feed. Other
/// kinds may be logged; these are the ones clients and the metrics rely on.
pub mod kind {
    /// A call arrived at the queue.
    pub const OFFERED: &str = "offered";
    /// An agent answered; the call is bridged.
    pub const ANSWERED: &str = "answered";
    /// The caller hung up while waiting.
    pub const ABANDONED: &str = "abandoned";
    /// `max_calls` were waiting: the call got `on_overflow`.
    pub const OVERFLOWED: &str = "overflowed";
    /// The call waited `max_wait`: it got `on_timeout`.
    pub const TIMED_OUT: &str = "timed-out";
    /// The call was forwarded (`detail`: the target).
    pub const FORWARDED: &str = "forwarded";
    /// An agent is being offered the call.
    pub const AGENT_RINGING: &str = "agent-ringing";
    /// An offer to an agent ended unanswered (`detail`: declined, busy, no-answer,
    /// unreachable or canceled).
    pub const AGENT_MISSED: &str = "agent-missed";
    /// An offer to an agent was withdrawn because the caller hung up while it rang
    /// (`detail`: `caller-abandoned`). The call's own `abandoned` event follows; this ring is
    /// not the agent's miss. (Older logs recorded it as `agent-missed`, `canceled`.)
    pub const AGENT_RING_WITHDRAWN: &str = "agent-ring-withdrawn";
    /// holdline answered the caller (greeting or music follows).
    pub const CALLER_ANSWERED: &str = "caller-answered";
    /// Nobody could take the queue's calls: `no_agents` ran.
    pub const NO_AGENTS: &str = "no-agents";
    /// Refused before answering (`detail`: the SIP status).
    pub const REJECTED: &str = "rejected";
    /// holdline hung up (`detail`: why).
    pub const DISCONNECTED: &str = "disconnected";
    /// The agent transferred the call (`detail`: the target).
    pub const TRANSFERRED: &str = "transferred";
    /// A connected call ended (`detail`: talk time in ms).
    pub const COMPLETED: &str = "completed";
}

/// One logged event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueEvent {
    /// Assigned by the store on append (increasing); 0 before.
    #[serde(default)]
    pub seq: i64,
    /// When it happened, Unix milliseconds.
    pub at_ms: i64,
    pub queue: String,
    /// The caller's call (the SIP Call-ID, or the engine's call id).
    pub call_id: String,
    /// The agent involved, when one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// One of [`kind`] (`offered`, `answered`, …), or another kind the engine adds.
    pub kind: String,
    /// Free text: the forward target, the SIP status, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// How long the call had waited in the queue, in ms (none for events logged without it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waited_ms: Option<i64>,
}

/// Which events to read. Every field narrows; the default reads the latest `limit` events.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct EventFilter {
    pub queue: Option<String>,
    /// At or after, Unix ms.
    pub since: Option<i64>,
    /// Before, Unix ms.
    pub until: Option<i64>,
    /// Events with a sequence number above this one (resuming a feed).
    pub after_seq: Option<i64>,
    /// At most this many (default and maximum [`MAX_EVENTS`]), the latest ones, oldest first.
    pub limit: Option<u32>,
    /// Only this kind (`answered`, `registered`, `banned` …).
    pub kind: Option<String>,
    /// Only events naming this agent (for registration events, the user).
    pub agent: Option<String>,
}

/// The most events one query returns.
pub const MAX_EVENTS: u32 = 1000;

impl Store {
    /// Appends `event` in its own transaction; returns it with its sequence number.
    pub fn append_event(&mut self, event: &QueueEvent) -> Result<QueueEvent, StoreError> {
        let mut stored = self.append_events(std::slice::from_ref(event))?;
        Ok(stored.pop().unwrap_or_else(|| event.clone()))
    }

    /// Appends `events` in one transaction (all or none); returns them with their sequence
    /// numbers. The runtime writes a batch per burst of queue events, so a busy queue costs
    /// one commit per batch rather than one per event.
    pub fn append_events(&mut self, events: &[QueueEvent]) -> Result<Vec<QueueEvent>, StoreError> {
        let tx = self.conn_mut().transaction()?;
        let mut out = Vec::with_capacity(events.len());
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO events (at_ms, queue, call_id, agent, kind, detail, waited_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for event in events {
                insert.execute(params![
                    event.at_ms,
                    event.queue,
                    event.call_id,
                    event.agent,
                    event.kind,
                    event.detail,
                    event.waited_ms
                ])?;
                out.push(QueueEvent {
                    seq: tx.last_insert_rowid(),
                    ..event.clone()
                });
            }
        }
        tx.commit()?;
        Ok(out)
    }

    /// The events `filter` selects, oldest first.
    pub fn events(&self, filter: &EventFilter) -> Result<Vec<QueueEvent>, StoreError> {
        let limit = filter.limit.unwrap_or(MAX_EVENTS).min(MAX_EVENTS);
        // NULL parameters switch a condition off, so one statement serves every filter.
        let mut stmt = self.conn().prepare(
            "SELECT seq, at_ms, queue, call_id, agent, kind, detail, waited_ms FROM events
             WHERE (?1 IS NULL OR queue = ?1) AND (?2 IS NULL OR at_ms >= ?2)
               AND (?3 IS NULL OR at_ms < ?3) AND (?4 IS NULL OR seq > ?4)
               AND (?6 IS NULL OR kind = ?6) AND (?7 IS NULL OR agent = ?7)
             ORDER BY seq DESC LIMIT ?5",
        )?;
        let rows = stmt.query_map(
            params![
                filter.queue,
                filter.since,
                filter.until,
                filter.after_seq,
                limit,
                filter.kind,
                filter.agent
            ],
            |r| {
                Ok(QueueEvent {
                    seq: r.get(0)?,
                    at_ms: r.get(1)?,
                    queue: r.get(2)?,
                    call_id: r.get(3)?,
                    agent: r.get(4)?,
                    kind: r.get(5)?,
                    detail: r.get(6)?,
                    waited_ms: r.get(7)?,
                })
            },
        )?;
        let mut out = rows.collect::<Result<Vec<_>, _>>()?;
        out.reverse();
        Ok(out)
    }

    /// Deletes up to [`PRUNE_BATCH`] of the events that happened before `before_ms` (the
    /// retention limit), oldest first, in one transaction; returns how many. Fewer than a
    /// batch means none is left. Callers loop, letting others at the store between batches,
    /// so nobody waits for a year's worth of rows at once.
    pub fn prune_events(&mut self, before_ms: i64) -> Result<usize, StoreError> {
        Ok(self.conn_mut().execute(
            "DELETE FROM events WHERE seq IN
               (SELECT seq FROM events WHERE at_ms < ?1 ORDER BY at_ms LIMIT ?2)",
            params![before_ms, PRUNE_BATCH],
        )?)
    }
}

/// The share of the log's time span above which an all-queues [`Scan::Range`] reads the
/// whole table rather than the `at_ms` index.
pub const WHOLE_LOG_SHARE: f64 = 0.3;

/// The most events one pruning transaction deletes.
pub const PRUNE_BATCH: usize = 5_000;

/// One logged event, borrowed from the row being read: what [`Store::scan_events`] hands
/// out, so reading a million events allocates nothing per event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventRow<'a> {
    pub seq: i64,
    pub at_ms: i64,
    pub queue: &'a str,
    pub call_id: &'a str,
    pub agent: Option<&'a str>,
    pub kind: &'a str,
    pub detail: Option<&'a str>,
    pub waited_ms: Option<i64>,
}

impl EventRow<'_> {
    /// The row as an owned event.
    pub fn to_owned_event(&self) -> QueueEvent {
        QueueEvent {
            seq: self.seq,
            at_ms: self.at_ms,
            queue: self.queue.to_owned(),
            call_id: self.call_id.to_owned(),
            agent: self.agent.map(str::to_owned),
            kind: self.kind.to_owned(),
            detail: self.detail.map(str::to_owned),
            waited_ms: self.waited_ms,
        }
    }
}

/// Which events [`Store::scan_events`] reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scan<'a> {
    /// At or after `since`, before `until` (Unix ms), of one queue or all. One queue's are read
    /// over the `(queue, at_ms)` index, in time order. All queues': over the `at_ms` index in
    /// time order when the range is a small part of the log; when it covers more than
    /// [`WHOLE_LOG_SHARE`] of the log's time span, the table is read straight through in
    /// sequence order (the order the events were logged in), skipping rows outside the range,
    /// which reads each page once instead of looking every row up from the index (about half
    /// the work for a month's report over a month's log).
    Range {
        queue: Option<&'a str>,
        since: i64,
        until: i64,
    },
    /// Every event with a sequence number above this one, in sequence order (the primary key).
    After(i64),
}

impl Store {
    /// Hands every event `scan` selects to `f`, one row at a time (rows are streamed, not
    /// collected); returns the highest sequence number in the log when the scan ran (0 for an
    /// empty log), so a caller can follow on with [`Scan::After`] and miss nothing.
    pub fn scan_events(
        &self,
        scan: Scan<'_>,
        f: &mut dyn FnMut(&EventRow<'_>),
    ) -> Result<i64, StoreError> {
        const COLUMNS: &str = "SELECT seq, at_ms, queue, call_id, agent, kind, detail, waited_ms";
        let conn = self.conn();
        let last: i64 =
            conn.query_row("SELECT COALESCE(MAX(seq), 0) FROM events", [], |r| r.get(0))?;
        // One statement per shape, so each is planned onto its index (an `?1 IS NULL OR`
        // condition would hide the index from the planner).
        let mut rows_read = |stmt: &mut rusqlite::CachedStatement<'_>,
                             args: &[&dyn rusqlite::ToSql]|
         -> Result<(), StoreError> {
            let mut rows = stmt.query(args)?;
            while let Some(r) = rows.next()? {
                let text = |i: usize| -> Result<&str, rusqlite::Error> {
                    r.get_ref(i)?.as_str().map_err(|e| {
                        rusqlite::Error::FromSqlConversionFailure(
                            i,
                            rusqlite::types::Type::Text,
                            Box::new(e),
                        )
                    })
                };
                let opt_text = |i: usize| -> Result<Option<&str>, rusqlite::Error> {
                    r.get_ref(i)?.as_str_or_null().map_err(|e| {
                        rusqlite::Error::FromSqlConversionFailure(
                            i,
                            rusqlite::types::Type::Text,
                            Box::new(e),
                        )
                    })
                };
                f(&EventRow {
                    seq: r.get(0)?,
                    at_ms: r.get(1)?,
                    queue: text(2)?,
                    call_id: text(3)?,
                    agent: opt_text(4)?,
                    kind: text(5)?,
                    detail: opt_text(6)?,
                    waited_ms: r.get(7)?,
                });
            }
            Ok(())
        };
        match scan {
            Scan::Range {
                queue: Some(queue),
                since,
                until,
            } => rows_read(
                &mut conn.prepare_cached(&format!(
                    "{COLUMNS} FROM events WHERE queue = ?1 AND at_ms >= ?2 AND at_ms < ?3
                     ORDER BY at_ms, seq"
                ))?,
                params![queue, since, until],
            )?,
            Scan::Range {
                queue: None,
                since,
                until,
            } => {
                // The log's first and last times: both ends of the `at_ms` index.
                let (first, last_at): (Option<i64>, Option<i64>) =
                    conn.query_row("SELECT MIN(at_ms), MAX(at_ms) FROM events", [], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })?;
                let (first, last_at) = (first.unwrap_or(0), last_at.unwrap_or(0));
                let span = (last_at - first + 1).max(1) as f64;
                let covered = (until.min(last_at + 1) - since.max(first)).max(0) as f64;
                let sql = if covered / span > WHOLE_LOG_SHARE {
                    format!(
                        "{COLUMNS} FROM events NOT INDEXED WHERE at_ms >= ?1 AND at_ms < ?2
                         ORDER BY seq"
                    )
                } else {
                    format!(
                        "{COLUMNS} FROM events WHERE at_ms >= ?1 AND at_ms < ?2
                         ORDER BY at_ms, seq"
                    )
                };
                rows_read(&mut conn.prepare_cached(&sql)?, params![since, until])?
            }
            Scan::After(seq) => rows_read(
                &mut conn.prepare_cached(&format!(
                    "{COLUMNS} FROM events WHERE seq > ?1 ORDER BY seq"
                ))?,
                params![seq],
            )?,
        }
        Ok(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(at_ms: i64, queue: &str, kind: &str) -> QueueEvent {
        QueueEvent {
            seq: 0,
            at_ms,
            queue: queue.into(),
            call_id: format!("c{at_ms}"),
            agent: None,
            kind: kind.into(),
            detail: None,
            waited_ms: None,
        }
    }

    #[test]
    fn pruning_deletes_what_is_older_than_the_limit_and_keeps_the_rest() {
        let mut s = Store::open_in_memory().unwrap();
        let old = PRUNE_BATCH as i64 * 2 + 7; // more than one batch
        let events: Vec<QueueEvent> = (0..old).map(|t| ev(t, "a", "offered")).collect();
        s.append_events(&events).unwrap();
        s.append_event(&ev(1_000_000, "a", "answered")).unwrap();
        assert_eq!(s.prune_events(old).unwrap(), PRUNE_BATCH);
        assert_eq!(s.prune_events(old).unwrap(), PRUNE_BATCH);
        assert_eq!(s.prune_events(old).unwrap(), 7);
        let left = s.events(&EventFilter::default()).unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].at_ms, 1_000_000);
        assert_eq!(s.prune_events(old).unwrap(), 0);
    }

    #[test]
    fn events_filter_by_queue_and_time_oldest_first() {
        let mut s = Store::open_in_memory().unwrap();
        for (t, q) in [(100, "a"), (200, "b"), (300, "a"), (400, "a")] {
            s.append_event(&ev(t, q, "offered")).unwrap();
        }
        let f = EventFilter {
            queue: Some("a".into()),
            since: Some(200),
            until: Some(400),
            ..Default::default()
        };
        let got: Vec<i64> = s.events(&f).unwrap().iter().map(|e| e.at_ms).collect();
        assert_eq!(got, [300]);
        let all: Vec<i64> = s
            .events(&EventFilter::default())
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(all, [1, 2, 3, 4]);
    }

    #[test]
    fn events_filter_by_kind_and_agent() {
        let mut s = Store::open_in_memory().unwrap();
        let mut reg = ev(1, "", "registered");
        reg.agent = Some("amos".into());
        let mut other = ev(2, "", "registered");
        other.agent = Some("bea".into());
        let mut answered = ev(3, "a", "answered");
        answered.agent = Some("amos".into());
        for e in [&reg, &other, &answered] {
            s.append_event(e).unwrap();
        }
        let at = |f: EventFilter| -> Vec<i64> {
            s.events(&f).unwrap().iter().map(|e| e.at_ms).collect()
        };
        let by_kind = EventFilter {
            kind: Some("registered".into()),
            ..Default::default()
        };
        assert_eq!(at(by_kind), [1, 2]);
        let by_agent = EventFilter {
            agent: Some("amos".into()),
            ..Default::default()
        };
        assert_eq!(at(by_agent), [1, 3]);
        let both = EventFilter {
            kind: Some("registered".into()),
            agent: Some("amos".into()),
            ..Default::default()
        };
        assert_eq!(at(both), [1]);
    }

    #[test]
    fn limit_keeps_the_latest_events() {
        let mut s = Store::open_in_memory().unwrap();
        for t in 0..10 {
            s.append_event(&ev(t, "a", "offered")).unwrap();
        }
        let f = EventFilter {
            limit: Some(3),
            ..Default::default()
        };
        let got: Vec<i64> = s.events(&f).unwrap().iter().map(|e| e.at_ms).collect();
        assert_eq!(got, [7, 8, 9]);
        let f = EventFilter {
            after_seq: Some(8),
            ..Default::default()
        };
        assert_eq!(s.events(&f).unwrap().len(), 2);
    }

    #[test]
    fn appended_event_comes_back_with_agent_and_detail() {
        let mut s = Store::open_in_memory().unwrap();
        let mut e = ev(5, "a", "forwarded");
        e.agent = Some("amos".into());
        e.detail = Some("queue:b".into());
        e.waited_ms = Some(1500);
        let stored = s.append_event(&e).unwrap();
        assert_eq!(stored.seq, 1);
        assert_eq!(s.events(&EventFilter::default()).unwrap(), [stored]);
    }

    #[test]
    fn scans_stream_a_range_of_one_queue_or_all_in_time_order_and_follow_on_by_seq() {
        let mut s = Store::open_in_memory().unwrap();
        // Appended out of time order: the scan still gives time order.
        for (t, q) in [(300, "a"), (100, "a"), (200, "b"), (400, "a"), (50, "a")] {
            s.append_event(&ev(t, q, "offered")).unwrap();
        }
        let mut got = Vec::new();
        let range = Scan::Range {
            queue: Some("a"),
            since: 100,
            until: 400,
        };
        let last = s
            .scan_events(range, &mut |e| got.push((e.at_ms, e.queue.to_owned())))
            .unwrap();
        assert_eq!(got, [(100, "a".to_owned()), (300, "a".to_owned())]);
        assert_eq!(last, 5);
        // The whole log: read straight through, in the order it was logged.
        let mut all = Vec::new();
        let range = Scan::Range {
            queue: None,
            since: 0,
            until: 1000,
        };
        s.scan_events(range, &mut |e| all.push(e.at_ms)).unwrap();
        assert_eq!(all, [300, 100, 200, 400, 50]);
        // A small part of a longer log: over the time index, in time order.
        s.append_event(&ev(1_000_000, "b", "offered")).unwrap();
        let mut part = Vec::new();
        let range = Scan::Range {
            queue: None,
            since: 100,
            until: 350,
        };
        let last = s.scan_events(range, &mut |e| part.push(e.at_ms)).unwrap();
        assert_eq!(part, [100, 200, 300]);
        s.append_event(&ev(10, "b", "answered")).unwrap();
        let mut after = Vec::new();
        s.scan_events(Scan::After(last), &mut |e| after.push(e.to_owned_event()))
            .unwrap();
        assert_eq!(after.len(), 1);
        assert_eq!((after[0].seq, after[0].kind.as_str()), (7, "answered"));
    }

    #[test]
    fn range_scans_use_an_index_not_the_whole_table() {
        let s = Store::open_in_memory().unwrap();
        for (sql, index) in [
            (
                "SELECT seq FROM events WHERE queue = 'a' AND at_ms >= 1 AND at_ms < 2 ORDER BY at_ms, seq",
                "events_queue_time",
            ),
            (
                "SELECT seq FROM events WHERE at_ms >= 1 AND at_ms < 2 ORDER BY at_ms, seq",
                "events_time",
            ),
            (
                "SELECT seq FROM events NOT INDEXED WHERE at_ms >= 1 AND at_ms < 2 ORDER BY seq",
                "SCAN events",
            ),
        ] {
            let mut stmt = s.conn().prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let plan: Vec<String> = stmt
                .query_map([], |r| r.get::<_, String>(3))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            let plan = plan.join("; ");
            assert!(plan.contains(index), "{sql}: {plan}");
            assert!(!plan.contains("TEMP B-TREE"), "{sql} sorts: {plan}");
        }
    }

    #[test]
    fn a_batch_is_appended_in_order_with_increasing_sequence_numbers() {
        let mut s = Store::open_in_memory().unwrap();
        s.append_event(&ev(1, "a", "offered")).unwrap();
        let batch = [ev(2, "a", "caller-answered"), ev(3, "a", "abandoned")];
        let stored = s.append_events(&batch).unwrap();
        let seqs: Vec<i64> = stored.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [2, 3]);
        assert_eq!(s.events(&EventFilter::default()).unwrap().len(), 3);
        assert!(s.append_events(&[]).unwrap().is_empty());
    }
}
