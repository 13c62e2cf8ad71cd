//! Reports: call figures per queue and per agent, per hour or per day, computed from the
//! queue event log. Pure: events go in one at a time ([`QueueReport::feed`],
//! [`AgentReport::feed`]), figures come out; no IO and no clock (the caller reads the store
//! and says what "today" is).
//!
//! # What each figure means
//!
//! Every figure counts in the interval of the event that records it: a call offered at 10:59
//! and answered at 11:01 is offered in the 10:00 hour and answered in the 11:00 hour. The
//! intervals are aligned to whole hours / days at the report's UTC offset (a fixed offset:
//! no daylight-saving rules).
//!
//! Per queue:
//! - `offered`: calls that arrived in the queue: `offered` events, plus `overflowed` and
//!   `no-agents` ones (a call refused on arrival never gets an `offered` event), as
//!   `holdline_queue_calls_offered_total` counts them.
//! - `answered`, `abandoned`, `overflowed`, `timed_out`, `no_agents`: the events of those kinds.
//! - waits (`avg_wait_ms`, `p90_wait_ms`, `max_wait_ms`, `wait_distribution`): of answered
//!   calls, from the `answered` event's `waited_ms` (time from entering the queue to the agent
//!   answering: the "average speed of answer"). The 90th percentile is the nearest-rank one:
//!   the smallest wait at least 90 % of the answered calls did not exceed (of n waits sorted
//!   ascending, the ⌈0.9·n⌉-th).
//! - abandons (`avg_abandon_ms`, `abandon_distribution`): how long abandoning callers had
//!   waited, from the `abandoned` event's `waited_ms`.
//! - service level (`service_level_pct`): the share of answered calls answered within the
//!   queue's `service_level` threshold, `answered_within_service_level / answered × 100`,
//!   where a call counts when its wait ≤ the threshold. This is Asterisk's `ServicelevelPerf`
//!   (calls completed within the service level over calls completed); abandoned calls are
//!   left out of it, and reported on their own. `null` when no call was answered.
//! - talk time (`talk_ms`, `completed`): from `completed` events (a transferred call has
//!   none, so its talk time is not counted).
//!
//! Per agent: `offers` (rings: `agent-ringing`), `answered`, `missed` (the agent's phone
//! refused, did not answer in time, or could not be reached), `canceled` (holdline withdrew
//! the ring: another agent answered, the call timed out or moved, the agent became
//! unavailable), `caller_abandoned` (the caller hung up while it rang: the caller's abandon,
//! never the agent's miss), `completed` and `talk_ms`. Older logs recorded a ring withdrawn
//! by the caller as `agent-missed` / `canceled` followed by the call's `abandoned` at the same
//! moment; such a ring is counted as `caller_abandoned` too.
//!
//! Events without `waited_ms` (logs from before it was recorded) count in `answered` /
//! `abandoned` but not in the waits or the service level, which would have to guess.

pub mod csv;
pub mod time;

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::store::events::{kind, EventRow};

use time::{format_offset, format_rfc3339, DAY_MS, HOUR_MS};

/// The most intervals one report spans (an hourly report covers up to 41 days).
pub const MAX_INTERVALS: i64 = 1000;

/// The times a report may name: from a day before the Unix epoch (a date at a positive UTC
/// offset) to the end of 9999-12-31, so aligning them to an interval cannot overflow.
pub const MIN_TIME_MS: i64 = -86_400_000;
pub const MAX_TIME_MS: i64 = 253_402_300_800_000;

/// Upper edges (seconds, inclusive) of the wait and abandon distributions; a last bucket
/// holds everything above the last edge.
pub const DISTRIBUTION_EDGES_SECS: [u64; 6] = [10, 20, 30, 60, 120, 300];

const BUCKETS: usize = DISTRIBUTION_EDGES_SECS.len() + 1;

/// How long each interval is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Interval {
    Hour,
    Day,
}

impl Interval {
    pub fn parse(text: &str) -> Option<Interval> {
        match text {
            "hour" => Some(Interval::Hour),
            "day" => Some(Interval::Day),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Interval::Hour => "hour",
            Interval::Day => "day",
        }
    }

    fn ms(self) -> i64 {
        match self {
            Interval::Hour => HOUR_MS,
            Interval::Day => DAY_MS,
        }
    }
}

/// A report's span: `[from_ms, to_ms)` cut into intervals aligned at `offset_minutes` from UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub from_ms: i64,
    pub to_ms: i64,
    pub interval: Interval,
    pub offset_minutes: i32,
}

/// Why a span cannot be reported on; `param` names the query parameter at fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpanError {
    pub param: &'static str,
    pub message: String,
}

impl Span {
    /// Checks that `from` is before `to` and the span has at most [`MAX_INTERVALS`] intervals.
    pub fn new(
        from_ms: i64,
        to_ms: i64,
        interval: Interval,
        offset_minutes: i32,
    ) -> Result<Span, SpanError> {
        for (param, t) in [("from", from_ms), ("to", to_ms)] {
            if !(MIN_TIME_MS..=MAX_TIME_MS).contains(&t) {
                return Err(SpanError {
                    param,
                    message: format!("{param} must be between 1970-01-01 and 9999-12-31"),
                });
            }
        }
        if to_ms <= from_ms {
            return Err(SpanError {
                param: "to",
                message: "to must be after from".into(),
            });
        }
        let span = Span {
            from_ms,
            to_ms,
            interval,
            offset_minutes,
        };
        let count = span.count();
        if count > MAX_INTERVALS {
            return Err(SpanError {
                param: "to",
                message: format!(
                    "the range spans {count} intervals of an {}; at most {MAX_INTERVALS} are \
                     reported at once (use interval=day or a shorter range)",
                    interval.as_str()
                ),
            });
        }
        Ok(span)
    }

    fn offset_ms(&self) -> i64 {
        i64::from(self.offset_minutes) * 60_000
    }

    /// The start of the interval holding `at` (aligned at the offset).
    fn align(&self, at: i64) -> i64 {
        let len = self.interval.ms();
        (at + self.offset_ms()).div_euclid(len) * len - self.offset_ms()
    }

    fn count(&self) -> i64 {
        (self.align(self.to_ms - 1) - self.align(self.from_ms)) / self.interval.ms() + 1
    }

    /// The interval `at_ms` falls in, if it is in the span.
    pub fn index(&self, at_ms: i64) -> Option<usize> {
        if at_ms < self.from_ms || at_ms >= self.to_ms {
            return None;
        }
        usize::try_from((self.align(at_ms) - self.align(self.from_ms)) / self.interval.ms()).ok()
    }

    /// Interval `i`'s `[start, end)`, clipped to the span.
    pub fn bounds(&self, i: usize) -> (i64, i64) {
        let start = self.align(self.from_ms) + i as i64 * self.interval.ms();
        (
            start.max(self.from_ms),
            (start + self.interval.ms()).min(self.to_ms),
        )
    }

    fn len(&self) -> usize {
        usize::try_from(self.count()).unwrap_or(0)
    }

    fn header(&self) -> SpanView {
        SpanView {
            from: format_rfc3339(self.from_ms, self.offset_minutes),
            to: format_rfc3339(self.to_ms, self.offset_minutes),
            from_ms: self.from_ms,
            to_ms: self.to_ms,
            interval: self.interval,
            utc_offset: format_offset(self.offset_minutes),
        }
    }
}

/// A report's span as JSON shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SpanView {
    pub from: String,
    pub to: String,
    pub from_ms: i64,
    pub to_ms: i64,
    pub interval: Interval,
    pub utc_offset: String,
}

/// The talk time a `completed` event's detail gives (`talked 1234 ms`).
fn talked_ms(detail: Option<&str>) -> Option<u64> {
    detail?
        .strip_prefix("talked ")?
        .strip_suffix(" ms")?
        .parse()
        .ok()
}

fn bucket_of(ms: u64) -> usize {
    DISTRIBUTION_EDGES_SECS
        .iter()
        .position(|edge| ms <= edge * 1000)
        .unwrap_or(BUCKETS - 1)
}

/// What one queue's events added up to in one interval (or the whole span).
#[derive(Clone, Debug, Default)]
struct QueueTally {
    offered: u64,
    answered: u64,
    abandoned: u64,
    overflowed: u64,
    timed_out: u64,
    no_agents: u64,
    within: u64,
    /// Waits of answered calls (ms), for the average and the 90th percentile.
    waits: Vec<u64>,
    abandon_waits: u64,
    abandon_ms: u64,
    wait_dist: [u64; BUCKETS],
    abandon_dist: [u64; BUCKETS],
    completed: u64,
    talk_ms: u64,
}

impl QueueTally {
    fn add(&mut self, e: &EventRow<'_>, threshold_ms: u64) {
        let waited = e.waited_ms.and_then(|w| u64::try_from(w).ok());
        match e.kind {
            kind::OFFERED => self.offered += 1,
            kind::OVERFLOWED => {
                self.offered += 1;
                self.overflowed += 1;
            }
            kind::NO_AGENTS => {
                self.offered += 1;
                self.no_agents += 1;
            }
            kind::ANSWERED => {
                self.answered += 1;
                if let Some(w) = waited {
                    self.waits.push(w);
                    self.wait_dist[bucket_of(w)] += 1;
                    if w <= threshold_ms {
                        self.within += 1;
                    }
                }
            }
            kind::ABANDONED => {
                self.abandoned += 1;
                if let Some(w) = waited {
                    self.abandon_waits += 1;
                    self.abandon_ms += w;
                    self.abandon_dist[bucket_of(w)] += 1;
                }
            }
            kind::TIMED_OUT => self.timed_out += 1,
            kind::COMPLETED => {
                self.completed += 1;
                self.talk_ms += talked_ms(e.detail).unwrap_or(0);
            }
            _ => {}
        }
    }

    fn merge(&mut self, o: &QueueTally) {
        self.offered += o.offered;
        self.answered += o.answered;
        self.abandoned += o.abandoned;
        self.overflowed += o.overflowed;
        self.timed_out += o.timed_out;
        self.no_agents += o.no_agents;
        self.within += o.within;
        self.waits.extend_from_slice(&o.waits);
        self.abandon_waits += o.abandon_waits;
        self.abandon_ms += o.abandon_ms;
        for (a, b) in self.wait_dist.iter_mut().zip(o.wait_dist) {
            *a += b;
        }
        for (a, b) in self.abandon_dist.iter_mut().zip(o.abandon_dist) {
            *a += b;
        }
        self.completed += o.completed;
        self.talk_ms += o.talk_ms;
    }

    fn figures(&self) -> QueueFigures {
        let mut waits = self.waits.clone();
        waits.sort_unstable();
        let n = waits.len() as u64;
        // Nearest rank: the ⌈0.9·n⌉-th smallest, 1-based.
        let p90 = (n > 0).then(|| waits[((9 * n).div_ceil(10) - 1) as usize]);
        QueueFigures {
            offered: self.offered,
            answered: self.answered,
            abandoned: self.abandoned,
            overflowed: self.overflowed,
            timed_out: self.timed_out,
            no_agents: self.no_agents,
            answered_within_service_level: self.within,
            service_level_pct: percent(self.within, n),
            avg_wait_ms: average(waits.iter().sum(), n),
            p90_wait_ms: p90,
            max_wait_ms: waits.last().copied(),
            avg_abandon_ms: average(self.abandon_ms, self.abandon_waits),
            wait_distribution: distribution(&self.wait_dist),
            abandon_distribution: distribution(&self.abandon_dist),
            completed: self.completed,
            talk_ms: self.talk_ms,
            avg_talk_ms: average(self.talk_ms, self.completed),
        }
    }
}

/// `part / whole` in percent, to two decimals; `None` for nothing to divide by.
fn percent(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| (part as f64 * 10_000.0 / whole as f64).round() / 100.0)
}

/// `sum / n`, rounded to the nearest whole (half up); `None` for no values.
fn average(sum: u64, n: u64) -> Option<u64> {
    (n > 0).then(|| (sum + n / 2) / n)
}

fn distribution(counts: &[u64; BUCKETS]) -> Vec<DistributionBucket> {
    counts
        .iter()
        .enumerate()
        .map(|(i, &calls)| DistributionBucket {
            up_to_secs: DISTRIBUTION_EDGES_SECS.get(i).copied(),
            calls,
        })
        .collect()
}

/// One bar of a distribution: calls that waited more than the previous bar's edge and at most
/// `up_to_secs` (`None`: above the last edge).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DistributionBucket {
    pub up_to_secs: Option<u64>,
    pub calls: u64,
}

/// One queue's figures over one interval or the whole span (see the module's documentation).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QueueFigures {
    pub offered: u64,
    pub answered: u64,
    pub abandoned: u64,
    pub overflowed: u64,
    pub timed_out: u64,
    pub no_agents: u64,
    pub answered_within_service_level: u64,
    pub service_level_pct: Option<f64>,
    pub avg_wait_ms: Option<u64>,
    pub p90_wait_ms: Option<u64>,
    pub max_wait_ms: Option<u64>,
    pub avg_abandon_ms: Option<u64>,
    pub wait_distribution: Vec<DistributionBucket>,
    pub abandon_distribution: Vec<DistributionBucket>,
    pub completed: u64,
    pub talk_ms: u64,
    pub avg_talk_ms: Option<u64>,
}

/// Figures over one interval.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IntervalFigures<F> {
    pub start: String,
    pub end: String,
    pub start_ms: i64,
    pub end_ms: i64,
    #[serde(flatten)]
    pub figures: F,
}

/// One queue's report: its threshold, its totals over the span, and each interval.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QueueSeries {
    pub queue: String,
    pub service_level_secs: u64,
    pub totals: QueueFigures,
    pub intervals: Vec<IntervalFigures<QueueFigures>>,
}

/// `GET /api/v1/reports/queues`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QueuesReport {
    #[serde(flatten)]
    pub span: SpanView,
    pub queues: Vec<QueueSeries>,
}

struct QueueAcc {
    threshold_ms: u64,
    intervals: Vec<QueueTally>,
    total: QueueTally,
}

/// Adds up events into per-queue figures over a [`Span`].
pub struct QueueReport {
    span: Span,
    /// Each queue's service-level threshold (ms); queues not listed get the default.
    thresholds: HashMap<String, u64>,
    default_threshold_ms: u64,
    queues: BTreeMap<String, QueueAcc>,
}

impl QueueReport {
    /// A report over `span`; `queues` (with their service-level thresholds, in seconds) are
    /// listed even when they had no call. Queues met only in the log (since removed) get
    /// `default_threshold_secs`.
    pub fn new(
        span: Span,
        queues: impl IntoIterator<Item = (String, u64)>,
        default_threshold_secs: u64,
    ) -> QueueReport {
        let mut report = QueueReport {
            span,
            thresholds: HashMap::new(),
            default_threshold_ms: default_threshold_secs * 1000,
            queues: BTreeMap::new(),
        };
        for (queue, secs) in queues {
            report.thresholds.insert(queue.clone(), secs * 1000);
            report.entry(&queue);
        }
        report
    }

    pub fn span(&self) -> Span {
        self.span
    }

    fn entry(&mut self, queue: &str) -> &mut QueueAcc {
        if !self.queues.contains_key(queue) {
            let threshold_ms = self
                .thresholds
                .get(queue)
                .copied()
                .unwrap_or(self.default_threshold_ms);
            self.queues.insert(
                queue.to_owned(),
                QueueAcc {
                    threshold_ms,
                    intervals: vec![QueueTally::default(); self.span.len()],
                    total: QueueTally::default(),
                },
            );
        }
        // Inserted just above when missing.
        self.queues
            .get_mut(queue)
            .expect("the queue's entry exists")
    }

    /// Adds one event (events outside the span, and kinds no figure uses, are skipped).
    pub fn feed(&mut self, e: &EventRow<'_>) {
        let Some(i) = self.span.index(e.at_ms) else {
            return;
        };
        if !matches!(
            e.kind,
            kind::OFFERED
                | kind::OVERFLOWED
                | kind::NO_AGENTS
                | kind::ANSWERED
                | kind::ABANDONED
                | kind::TIMED_OUT
                | kind::COMPLETED
        ) {
            return;
        }
        let acc = self.entry(e.queue);
        let threshold = acc.threshold_ms;
        if let Some(t) = acc.intervals.get_mut(i) {
            t.add(e, threshold);
        }
        acc.total.add(e, threshold);
    }

    /// The figures so far (the report can go on being fed).
    pub fn figures(&self) -> QueuesReport {
        let span = self.span;
        QueuesReport {
            span: span.header(),
            queues: self
                .queues
                .iter()
                .map(|(queue, acc)| QueueSeries {
                    queue: queue.clone(),
                    service_level_secs: acc.threshold_ms / 1000,
                    totals: acc.total.figures(),
                    intervals: acc
                        .intervals
                        .iter()
                        .enumerate()
                        .map(|(i, t)| interval(span, i, t.figures()))
                        .collect(),
                })
                .collect(),
        }
    }

    /// One queue's totals over the span so far (the wallboard's "today"), without building
    /// every interval.
    pub fn totals(&self, queue: &str) -> Option<QueueFigures> {
        self.queues.get(queue).map(|acc| acc.total.figures())
    }

    /// The totals of the queues `include` picks, added up as one: each call counts toward the
    /// service level by its own queue's threshold.
    pub fn combined_totals(&self, include: impl Fn(&str) -> bool) -> QueueFigures {
        let mut sum = QueueTally::default();
        for (queue, acc) in &self.queues {
            if include(queue) {
                sum.merge(&acc.total);
            }
        }
        sum.figures()
    }
}

fn interval<F>(span: Span, i: usize, figures: F) -> IntervalFigures<F> {
    let (start_ms, end_ms) = span.bounds(i);
    IntervalFigures {
        start: format_rfc3339(start_ms, span.offset_minutes),
        end: format_rfc3339(end_ms, span.offset_minutes),
        start_ms,
        end_ms,
        figures,
    }
}

/// One agent's figures over one interval or the whole span.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AgentFigures {
    pub offers: u64,
    pub answered: u64,
    pub missed: u64,
    pub canceled: u64,
    pub caller_abandoned: u64,
    pub completed: u64,
    pub talk_ms: u64,
}

/// One agent's report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AgentSeries {
    pub agent: String,
    pub totals: AgentFigures,
    pub intervals: Vec<IntervalFigures<AgentFigures>>,
}

/// `GET /api/v1/reports/agents`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AgentsReport {
    #[serde(flatten)]
    pub span: SpanView,
    pub agents: Vec<AgentSeries>,
}

struct AgentAcc {
    intervals: Vec<AgentFigures>,
    total: AgentFigures,
}

/// Adds up events into per-agent figures over a [`Span`].
pub struct AgentReport {
    span: Span,
    agents: BTreeMap<String, AgentAcc>,
    /// Old logs: rings ended `agent-missed` / `canceled`, by call, not yet known to be the
    /// caller's abandon (the call's next event tells).
    pending: HashMap<String, Vec<(String, usize)>>,
}

impl AgentReport {
    /// A report over `span`; `agents` are listed even when they had no call.
    pub fn new(span: Span, agents: impl IntoIterator<Item = String>) -> AgentReport {
        let mut report = AgentReport {
            span,
            agents: BTreeMap::new(),
            pending: HashMap::new(),
        };
        for a in agents {
            report.entry(&a);
        }
        report
    }

    fn entry(&mut self, agent: &str) -> &mut AgentAcc {
        if !self.agents.contains_key(agent) {
            self.agents.insert(
                agent.to_owned(),
                AgentAcc {
                    intervals: vec![AgentFigures::default(); self.span.len()],
                    total: AgentFigures::default(),
                },
            );
        }
        // Inserted just above when missing.
        self.agents
            .get_mut(agent)
            .expect("the agent's entry exists")
    }

    fn count(&mut self, agent: &str, i: usize, f: impl Fn(&mut AgentFigures)) {
        let acc = self.entry(agent);
        if let Some(t) = acc.intervals.get_mut(i) {
            f(t);
        }
        f(&mut acc.total);
    }

    /// Adds one event (events outside the span, and kinds no figure uses, are skipped).
    pub fn feed(&mut self, e: &EventRow<'_>) {
        // An old log's canceled ring is settled by the call's next event: `abandoned` makes it
        // the caller's abandon, anything else holdline's cancel.
        let another_cancel = e.kind == kind::AGENT_MISSED && e.detail == Some("canceled");
        if !self.pending.is_empty() && !another_cancel {
            if let Some(rings) = self.pending.remove(e.call_id) {
                let abandoned = e.kind == kind::ABANDONED;
                for (agent, i) in rings {
                    if abandoned {
                        self.count(&agent, i, |f| f.caller_abandoned += 1);
                    } else {
                        self.count(&agent, i, |f| f.canceled += 1);
                    }
                }
            }
        }
        let Some(agent) = e.agent else {
            return;
        };
        let Some(i) = self.span.index(e.at_ms) else {
            return;
        };
        match e.kind {
            kind::AGENT_RINGING => self.count(agent, i, |f| f.offers += 1),
            kind::ANSWERED => self.count(agent, i, |f| f.answered += 1),
            kind::AGENT_RING_WITHDRAWN => self.count(agent, i, |f| f.caller_abandoned += 1),
            kind::AGENT_MISSED if e.detail == Some("canceled") => {
                self.entry(agent);
                self.pending
                    .entry(e.call_id.to_owned())
                    .or_default()
                    .push((agent.to_owned(), i));
            }
            kind::AGENT_MISSED => self.count(agent, i, |f| f.missed += 1),
            kind::COMPLETED => {
                let talked = talked_ms(e.detail).unwrap_or(0);
                self.count(agent, i, |f| {
                    f.completed += 1;
                    f.talk_ms += talked;
                });
            }
            _ => {}
        }
    }

    /// The figures: rings still waiting for their call's next event count as canceled.
    pub fn figures(&self) -> AgentsReport {
        let span = self.span;
        let mut agents: BTreeMap<&str, (AgentFigures, Vec<AgentFigures>)> = self
            .agents
            .iter()
            .map(|(a, acc)| (a.as_str(), (acc.total.clone(), acc.intervals.clone())))
            .collect();
        for (agent, i) in self.pending.values().flatten() {
            if let Some((total, intervals)) = agents.get_mut(agent.as_str()) {
                total.canceled += 1;
                if let Some(t) = intervals.get_mut(*i) {
                    t.canceled += 1;
                }
            }
        }
        AgentsReport {
            span: span.header(),
            agents: agents
                .into_iter()
                .map(|(agent, (totals, intervals))| AgentSeries {
                    agent: agent.to_owned(),
                    totals,
                    intervals: intervals
                        .into_iter()
                        .enumerate()
                        .map(|(i, f)| interval(span, i, f))
                        .collect(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests;
