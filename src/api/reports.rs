//! Reports and wallboard figures over HTTP.
//!
//! - `GET /api/v1/reports/queues` and `/api/v1/reports/agents`: [`crate::reports`] over the
//!   event log, `from` / `to` / `interval` (`hour` | `day`, default `day`) / `queue` /
//!   `utc_offset`, as JSON or as CSV (`?format=csv`, or `Accept: text/csv`). The log is read
//!   row by row on a blocking thread, never collected, on a connection of the report's own
//!   (a file store), so a long report does not hold up the API or the event writer.
//! - `GET /api/v1/wallboard` and `/api/v1/wallboard/{queue}`: what a wall screen shows, built
//!   to be asked every second by every screen: calls waiting, longest wait and agents by state
//!   from the live snapshot, and today's offered / answered / abandoned, average wait and
//!   service level from a running tally of today's events ([`Today`]). The tally reads the day
//!   once, then only the events logged since the last request (by sequence number, the
//!   primary key), so a request costs the new events, not the day's.
//!
//! "Now" is the wall clock the runtime gives the provisioning state (the API reads no clock).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::config::{Config, Queue, DEFAULT_SERVICE_LEVEL_SECS};
use crate::reports::time::{format_offset, format_rfc3339, parse_offset, parse_time, DAY_MS};
use crate::reports::{csv, AgentReport, Interval, QueueReport, Span};
use crate::store::{AgentPrefs, Scan};

use super::error::ApiError;
use super::live::{AgentState, LiveSnapshot};
use super::provision::Provisioning;
use super::ApiState;

/// The query of both report routes. Unknown parameters are refused, so a misspelt one is
/// reported rather than silently ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ReportQuery {
    from: Option<String>,
    to: Option<String>,
    interval: Option<String>,
    queue: Option<String>,
    utc_offset: Option<String>,
    format: Option<String>,
}

const SUBJECT: &str = "report";

fn param(name: &str, message: impl Into<String>) -> ApiError {
    ApiError::field(SUBJECT, name, message)
}

fn query_error(e: QueryRejection) -> ApiError {
    let text = e.body_text();
    // serde names the offending parameter: "unknown field `fromm`", "… `to`: …".
    let name = text
        .split('`')
        .nth(1)
        .filter(|n| !n.is_empty() && n.len() <= 32)
        .unwrap_or("query");
    param(name, text.clone())
}

/// A checked report request.
struct Request {
    span: Span,
    queue: Option<String>,
    csv: bool,
}

fn offset(q: &ReportQuery) -> Result<i32, ApiError> {
    match q.utc_offset.as_deref() {
        None | Some("") => Ok(0),
        Some(text) => parse_offset(text).map_err(|m| param("utc_offset", m)),
    }
}

fn request(q: ReportQuery, headers: &HeaderMap) -> Result<Request, ApiError> {
    let offset = offset(&q)?;
    let interval = match q.interval.as_deref() {
        None | Some("") => Interval::Day,
        Some(text) => Interval::parse(text).ok_or_else(|| {
            param(
                "interval",
                format!("interval {text:?} is not one of hour, day"),
            )
        })?,
    };
    let time = |name: &'static str, v: Option<String>| -> Result<i64, ApiError> {
        let text = v.filter(|t| !t.trim().is_empty()).ok_or_else(|| {
            param(
                name,
                format!("{name} is required (a date such as 2026-12-07, a time, or Unix ms)"),
            )
        })?;
        parse_time(&text, offset).map_err(|m| param(name, format!("{name}: {m}")))
    };
    let from = time("from", q.from)?;
    let to = time("to", q.to)?;
    let span = Span::new(from, to, interval, offset).map_err(|e| param(e.param, e.message))?;
    let accepts_csv = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/csv"));
    let csv = match q.format.as_deref() {
        Some("csv") => true,
        Some("json") => false,
        None | Some("") => accepts_csv,
        Some(other) => {
            return Err(param(
                "format",
                format!("format {other:?} is not one of json, csv"),
            ))
        }
    };
    Ok(Request {
        span,
        queue: q.queue.filter(|q| !q.is_empty()),
        csv,
    })
}

/// Streams the events `scan` selects to `f` on a connection of the report's own when the
/// store is a file, so the provisioning lock (the API's other requests, the event writer) is
/// held only to open it; an in-memory store is read under the lock.
fn scan_for_report(
    s: &ApiState,
    scan: Scan<'_>,
    f: &mut dyn FnMut(&crate::store::EventRow<'_>),
) -> Result<(), ApiError> {
    let reader = s.prov().event_reader()?;
    match reader {
        Some(reader) => reader.scan_events(scan, f)?,
        None => s.prov().scan_events(scan, f)?,
    };
    Ok(())
}

async fn off_thread<T: Send + 'static>(
    s: &ApiState,
    f: impl FnOnce(&ApiState) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let s = s.clone();
    tokio::task::spawn_blocking(move || f(&s))
        .await
        .map_err(|e| ApiError::Internal(format!("the report did not complete: {e}")))?
}

async fn on_store<T: Send + 'static>(
    s: &ApiState,
    f: impl FnOnce(&mut Provisioning) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let s = s.clone();
    tokio::task::spawn_blocking(move || f(&mut s.prov()))
        .await
        .map_err(|e| ApiError::Internal(format!("the report did not complete: {e}")))?
}

fn csv_response(body: String, name: &str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}.csv\""),
            ),
        ],
        body,
    )
        .into_response()
}

/// `GET /api/v1/reports/queues`.
pub(super) async fn queues(
    State(s): State<ApiState>,
    headers: HeaderMap,
    query: Result<Query<ReportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(query_error)?;
    let req = request(q, &headers)?;
    let (span, queue) = (req.span, req.queue);
    let report = off_thread(&s, move |s| {
        let config = s.prov().config();
        let listed = config
            .queues
            .iter()
            .filter(|q| queue.as_deref().is_none_or(|f| f == q.id.as_str()))
            .map(|q| (q.id.0.clone(), q.service_level.as_secs()));
        let mut report = QueueReport::new(span, listed, DEFAULT_SERVICE_LEVEL_SECS);
        let scan = Scan::Range {
            queue: queue.as_deref(),
            since: span.from_ms,
            until: span.to_ms,
        };
        scan_for_report(s, scan, &mut |e| report.feed(e))?;
        Ok(report.figures())
    })
    .await?;
    if req.csv {
        return Ok(csv_response(csv::queues(&report), "queues"));
    }
    Ok(Json(report).into_response())
}

/// `GET /api/v1/reports/agents`.
pub(super) async fn agents(
    State(s): State<ApiState>,
    headers: HeaderMap,
    query: Result<Query<ReportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(query_error)?;
    let req = request(q, &headers)?;
    let (span, queue) = (req.span, req.queue);
    let report = off_thread(&s, move |s| {
        let config = s.prov().config();
        // The members of the queues reported on are listed even without a call.
        let mut members: Vec<String> = config
            .queues
            .iter()
            .filter(|q| queue.as_deref().is_none_or(|f| f == q.id.as_str()))
            .flat_map(|q| q.members.iter().map(|m| m.0.clone()))
            .collect();
        members.sort();
        members.dedup();
        let mut report = AgentReport::new(span, members);
        let scan = Scan::Range {
            queue: queue.as_deref(),
            since: span.from_ms,
            until: span.to_ms,
        };
        scan_for_report(s, scan, &mut |e| report.feed(e))?;
        Ok(report.figures())
    })
    .await?;
    if req.csv {
        return Ok(csv_response(csv::agents(&report), "agents"));
    }
    Ok(Json(report).into_response())
}

/// The running tally of one day's events for the wallboard, at one UTC offset.
pub struct Today {
    /// The configuration it was built for (thresholds and queues): a new one starts over.
    config: Arc<Config>,
    report: QueueReport,
    /// The highest sequence number fed so far.
    last_seq: i64,
}

/// The most UTC offsets the wallboard keeps a tally for at once.
const MAX_OFFSETS: usize = 8;

/// The wallboard's tallies, one per UTC offset asked for.
#[derive(Default)]
pub struct WallboardCache {
    days: Mutex<HashMap<i32, Today>>,
}

/// Brings the tally for the day holding `now` (at `offset`) up to date and hands it to `f`.
fn with_today<T>(
    cache: &WallboardCache,
    p: &Provisioning,
    now: i64,
    offset: i32,
    f: impl FnOnce(&QueueReport) -> T,
) -> Result<T, ApiError> {
    let config = p.config();
    let offset_ms = i64::from(offset) * 60_000;
    let day_start = (now + offset_ms).div_euclid(DAY_MS) * DAY_MS - offset_ms;
    let mut days = cache.days.lock().unwrap_or_else(|e| e.into_inner());
    // Screens use one or two offsets; a client trying every offset must not keep a tally each.
    if days.len() >= MAX_OFFSETS && !days.contains_key(&offset) {
        days.clear();
    }
    let fresh = days
        .get(&offset)
        .is_some_and(|t| t.report.span().from_ms == day_start && Arc::ptr_eq(&t.config, &config));
    if !fresh {
        // A new day, a new configuration, or the first screen: read the day once.
        let span = Span::new(day_start, day_start + DAY_MS, Interval::Day, offset)
            .map_err(|e| ApiError::Internal(e.message))?;
        let listed = config
            .queues
            .iter()
            .map(|q| (q.id.0.clone(), q.service_level.as_secs()));
        let mut report = QueueReport::new(span, listed, DEFAULT_SERVICE_LEVEL_SECS);
        let scan = Scan::Range {
            queue: None,
            since: day_start,
            until: day_start + DAY_MS,
        };
        let last_seq = p.scan_events(scan, &mut |e| report.feed(e))?;
        days.insert(
            offset,
            Today {
                config: config.clone(),
                report,
                last_seq,
            },
        );
    } else if let Some(today) = days.get_mut(&offset) {
        let report = &mut today.report;
        let mut last = today.last_seq;
        p.scan_events(Scan::After(today.last_seq), &mut |e| {
            last = last.max(e.seq);
            report.feed(e);
        })?;
        today.last_seq = last;
    }
    let today = days
        .get(&offset)
        .ok_or_else(|| ApiError::Internal("the wallboard tally is missing".into()))?;
    Ok(f(&today.report))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WallboardQuery {
    utc_offset: Option<String>,
}

/// A member's state in one queue: the agent's own settings win over what the engine last
/// reported (as in the queue status route).
fn member_state(q: &Queue, prefs: &AgentPrefs, live: &LiveSnapshot, member: &str) -> AgentState {
    if prefs.is_dnd(member) {
        AgentState::Dnd
    } else if q.allow_opt_out && prefs.is_opted_out(member, q.id.as_str()) {
        AgentState::OptedOut
    } else {
        live.queue(q.id.as_str())
            .agents
            .get(member)
            .copied()
            .unwrap_or(AgentState::Offline)
    }
}

const STATES: [AgentState; 7] = [
    AgentState::Available,
    AgentState::Ringing,
    AgentState::OnCall,
    AgentState::WrapUp,
    AgentState::Dnd,
    AgentState::OptedOut,
    AgentState::Offline,
];

fn by_state(states: impl Iterator<Item = AgentState>) -> BTreeMap<&'static str, u64> {
    let mut counts: BTreeMap<&'static str, u64> = STATES.iter().map(|s| (s.as_str(), 0)).collect();
    for s in states {
        *counts.entry(s.as_str()).or_default() += 1;
    }
    counts
}

fn today_view(f: &crate::reports::QueueFigures, threshold_secs: Option<u64>) -> Value {
    let mut v = json!({
        "offered": f.offered,
        "answered": f.answered,
        "abandoned": f.abandoned,
        "overflowed": f.overflowed,
        "timed_out": f.timed_out,
        "avg_wait_ms": f.avg_wait_ms,
        "answered_within_service_level": f.answered_within_service_level,
        "service_level_pct": f.service_level_pct,
    });
    if let Some(secs) = threshold_secs {
        v["service_level_secs"] = json!(secs);
    }
    v
}

fn queue_board(q: &Queue, prefs: &AgentPrefs, live: &LiveSnapshot, today: &QueueReport) -> Value {
    let waiting = live.queue(q.id.as_str()).waiting;
    let figures = today
        .totals(q.id.as_str())
        .unwrap_or_else(|| today.combined_totals(|_| false));
    json!({
        "queue": q.id.as_str(),
        "name": q.name,
        "calls_waiting": waiting.len(),
        "longest_wait_secs": waiting.iter().map(|c| c.waiting_secs).max().unwrap_or(0),
        "agents": by_state(q.members.iter().map(|m| member_state(q, prefs, live, m.as_str()))),
        "today": today_view(&figures, Some(q.service_level.as_secs())),
    })
}

async fn board(
    s: &ApiState,
    query: Result<Query<WallboardQuery>, QueryRejection>,
    only: Option<String>,
) -> Result<Value, ApiError> {
    let Query(q) = query.map_err(query_error)?;
    let offset = match q.utc_offset.as_deref() {
        None | Some("") => 0,
        Some(text) => parse_offset(text).map_err(|m| param("utc_offset", m))?,
    };
    // The live part first (from the core task), then the day's tally (from the store).
    let live = s.live().snapshot().await;
    let state = s.clone();
    on_store(s, move |p| {
        let config = p.config();
        let prefs = p.agent_prefs();
        let now = p.wall_now_ms();
        if let Some(id) = &only {
            if !config.queues.iter().any(|q| q.id.as_str() == id) {
                return Err(ApiError::NotFound {
                    what: format!("queue {id:?}"),
                });
            }
        }
        with_today(&state.inner.wallboard, p, now, offset, |today| {
            let head = json!({
                "at": format_rfc3339(now, offset),
                "at_ms": now,
                "day_start": format_rfc3339(today.span().from_ms, offset),
                "utc_offset": format_offset(offset),
            });
            if let Some(id) = &only {
                let q = config.queues.iter().find(|q| q.id.as_str() == id);
                let mut v = q.map_or(Value::Null, |q| queue_board(q, &prefs, &live, today));
                if let (Value::Object(v), Value::Object(h)) = (&mut v, head) {
                    v.extend(h);
                }
                return v;
            }
            let queues: Vec<Value> = config
                .queues
                .iter()
                .map(|q| queue_board(q, &prefs, &live, today))
                .collect();
            // Each agent once: their state in the first of their queues they have not opted
            // out of (opted out of all: opted out).
            let mut agents: BTreeMap<&str, AgentState> = BTreeMap::new();
            for q in &config.queues {
                for m in &q.members {
                    let st = member_state(q, &prefs, &live, m.as_str());
                    let e = agents.entry(m.as_str()).or_insert(st);
                    if *e == AgentState::OptedOut {
                        *e = st;
                    }
                }
            }
            let waiting: Vec<u64> = config
                .queues
                .iter()
                .flat_map(|q| live.queue(q.id.as_str()).waiting)
                .map(|c| c.waiting_secs)
                .collect();
            let configured = |id: &str| config.queues.iter().any(|q| q.id.as_str() == id);
            let mut v = head;
            v["totals"] = json!({
                "calls_waiting": waiting.len(),
                "longest_wait_secs": waiting.iter().max().copied().unwrap_or(0),
                "agents": by_state(agents.into_values()),
                "today": today_view(&today.combined_totals(configured), None),
            });
            v["queues"] = Value::Array(queues);
            v
        })
    })
    .await
}

/// `GET /api/v1/wallboard`: every queue, and the totals.
pub(super) async fn all(
    State(s): State<ApiState>,
    query: Result<Query<WallboardQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    board(&s, query, None).await.map(Json)
}

/// `GET /api/v1/wallboard/{queue}`.
pub(super) async fn one(
    State(s): State<ApiState>,
    Path(id): Path<String>,
    query: Result<Query<WallboardQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    board(&s, query, Some(id)).await.map(Json)
}
