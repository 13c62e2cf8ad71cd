//! Hand-made event sequences with known waits, answers, abandons, timeouts, overflows and
//! withdrawn rings, and the figures they must give.

use super::time::{DAY_MS, HOUR_MS};
use super::*;

/// 2026-12-07T00:00:00Z.
const DAY0: i64 = 20_794 * DAY_MS;

struct Ev {
    at_ms: i64,
    queue: &'static str,
    call: String,
    agent: Option<&'static str>,
    kind: &'static str,
    detail: Option<String>,
    waited_ms: Option<i64>,
}

fn ev(at_ms: i64, call: &str, kind: &'static str) -> Ev {
    Ev {
        at_ms,
        queue: "sales",
        call: call.into(),
        agent: None,
        kind,
        detail: None,
        waited_ms: Some(0),
    }
}

impl Ev {
    fn waited(mut self, ms: i64) -> Ev {
        self.waited_ms = Some(ms);
        self
    }
    fn agent(mut self, a: &'static str) -> Ev {
        self.agent = Some(a);
        self
    }
    fn detail(mut self, d: &str) -> Ev {
        self.detail = Some(d.into());
        self
    }
    fn queue(mut self, q: &'static str) -> Ev {
        self.queue = q;
        self
    }
    fn row(&self) -> EventRow<'_> {
        EventRow {
            seq: 0,
            at_ms: self.at_ms,
            queue: self.queue,
            call_id: &self.call,
            agent: self.agent,
            kind: self.kind,
            detail: self.detail.as_deref(),
            waited_ms: self.waited_ms,
        }
    }
}

fn day_span(days: i64, interval: Interval) -> Span {
    Span::new(DAY0, DAY0 + days * DAY_MS, interval, 0).unwrap()
}

fn queues(span: Span, events: &[Ev]) -> QueuesReport {
    let mut r = QueueReport::new(span, [("sales".to_owned(), 20)], 30);
    for e in events {
        r.feed(&e.row());
    }
    r.figures()
}

fn agents(span: Span, events: &[Ev]) -> AgentsReport {
    let mut r = AgentReport::new(span, ["amos".to_owned()]);
    for e in events {
        r.feed(&e.row());
    }
    r.figures()
}

/// A call answered by `agent` after `wait` ms, talking `talk` ms, starting at `t`.
fn answered_call(t: i64, call: &str, agent: &'static str, wait: i64, talk: i64) -> Vec<Ev> {
    vec![
        ev(t, call, kind::OFFERED),
        ev(t, call, kind::AGENT_RINGING).agent(agent),
        ev(t + wait, call, kind::ANSWERED).agent(agent).waited(wait),
        ev(t + wait + talk, call, kind::COMPLETED)
            .agent(agent)
            .waited(wait + talk)
            .detail(&format!("talked {talk} ms")),
    ]
}

#[test]
fn known_waits_answers_abandons_timeouts_and_overflows_add_up() {
    let t = DAY0 + 9 * HOUR_MS;
    let mut events = Vec::new();
    events.extend(answered_call(t, "a1", "amos", 5_000, 60_000));
    events.extend(answered_call(t + 100_000, "a2", "amos", 20_000, 30_000)); // exactly at the threshold
    events.extend(answered_call(t + 200_000, "a3", "bea", 25_000, 90_000)); // over it
    events.push(ev(t + 300_000, "x1", kind::OFFERED));
    events.push(ev(t + 308_000, "x1", kind::ABANDONED).waited(8_000));
    events.push(ev(t + 400_000, "x2", kind::OFFERED));
    events.push(ev(t + 445_000, "x2", kind::ABANDONED).waited(45_000));
    events.push(ev(t + 500_000, "t1", kind::OFFERED));
    events.push(ev(t + 530_000, "t1", kind::TIMED_OUT).waited(30_000));
    events.push(ev(t + 530_000, "t1", kind::DISCONNECTED).waited(30_000));
    events.push(ev(t + 600_000, "o1", kind::OVERFLOWED));
    events.push(ev(t + 600_000, "o1", kind::REJECTED).detail("486"));
    events.push(ev(t + 700_000, "n1", kind::NO_AGENTS));
    let r = queues(day_span(1, Interval::Day), &events);
    assert_eq!(r.queues.len(), 1);
    let q = &r.queues[0];
    assert_eq!(q.service_level_secs, 20);
    let f = &q.totals;
    assert_eq!(
        (
            f.offered,
            f.answered,
            f.abandoned,
            f.timed_out,
            f.overflowed,
            f.no_agents
        ),
        (8, 3, 2, 1, 1, 1)
    );
    // 5 s and 20 s are within 20 s; 25 s is not.
    assert_eq!(f.answered_within_service_level, 2);
    assert_eq!(f.service_level_pct, Some(66.67));
    assert_eq!(f.avg_wait_ms, Some(16_667));
    assert_eq!(f.p90_wait_ms, Some(25_000));
    assert_eq!(f.max_wait_ms, Some(25_000));
    assert_eq!(f.avg_abandon_ms, Some(26_500));
    assert_eq!(
        (f.completed, f.talk_ms, f.avg_talk_ms),
        (3, 180_000, Some(60_000))
    );
    let calls = |d: &[DistributionBucket]| d.iter().map(|b| b.calls).collect::<Vec<_>>();
    // Edges 10, 20, 30, 60, 120, 300 s: 5 s, 20 s, 25 s; abandons 8 s and 45 s.
    assert_eq!(calls(&f.wait_distribution), [1, 1, 1, 0, 0, 0, 0]);
    assert_eq!(calls(&f.abandon_distribution), [1, 0, 0, 1, 0, 0, 0]);
    assert_eq!(f.wait_distribution[6].up_to_secs, None);
    // One day: the interval equals the totals.
    assert_eq!(q.intervals.len(), 1);
    assert_eq!(&q.intervals[0].figures, f);
    assert_eq!(q.intervals[0].start, "2026-12-07T00:00:00Z");
    assert_eq!(q.intervals[0].end, "2026-12-08T00:00:00Z");
}

#[test]
fn p90_is_the_nearest_rank_of_the_answered_waits() {
    let p90 = |waits: &[i64]| {
        let events: Vec<Ev> = waits
            .iter()
            .enumerate()
            .map(|(i, w)| ev(DAY0 + i as i64, &format!("c{i}"), kind::ANSWERED).waited(*w))
            .collect();
        queues(day_span(1, Interval::Day), &events).queues[0]
            .totals
            .p90_wait_ms
    };
    assert_eq!(p90(&[]), None);
    assert_eq!(p90(&[7]), Some(7));
    // n = 10: the 9th smallest.
    assert_eq!(p90(&[10, 1, 9, 2, 8, 3, 7, 4, 6, 5]), Some(9));
    // n = 11: ⌈9.9⌉ = 10th smallest.
    assert_eq!(p90(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]), Some(10));
    // n = 3: ⌈2.7⌉ = 3rd, the largest.
    assert_eq!(p90(&[300, 100, 200]), Some(300));
}

#[test]
fn hours_split_at_the_boundary_and_empty_hours_are_listed() {
    let span = Span::new(DAY0 + 9 * HOUR_MS, DAY0 + 12 * HOUR_MS, Interval::Hour, 0).unwrap();
    let events = [
        ev(DAY0 + 9 * HOUR_MS, "a", kind::OFFERED), // first millisecond of 09:00
        ev(DAY0 + 10 * HOUR_MS - 1, "b", kind::OFFERED), // last millisecond of 09:00
        ev(DAY0 + 10 * HOUR_MS, "c", kind::OFFERED), // first of 10:00
        ev(DAY0 + 12 * HOUR_MS, "d", kind::OFFERED), // `to` is excluded
        ev(DAY0 + 9 * HOUR_MS - 1, "e", kind::OFFERED), // before `from`
    ];
    let r = queues(span, &events);
    let q = &r.queues[0];
    let offered: Vec<u64> = q.intervals.iter().map(|i| i.figures.offered).collect();
    assert_eq!(offered, [2, 1, 0]);
    assert_eq!(q.totals.offered, 3);
    assert_eq!(q.intervals[2].start, "2026-12-07T11:00:00Z");
    assert_eq!(q.intervals[2].end_ms, DAY0 + 12 * HOUR_MS);
}

#[test]
fn days_are_cut_at_midnight_of_the_reports_offset() {
    // Days at +01:00: 2026-12-07T00:00+01:00 is 2026-12-06T23:00Z.
    let from = DAY0 - HOUR_MS;
    let span = Span::new(from, from + 2 * DAY_MS, Interval::Day, 60).unwrap();
    let events = [
        ev(DAY0 - HOUR_MS, "a", kind::OFFERED), // 00:00 local, day 1
        ev(DAY0 + 23 * HOUR_MS - 1, "b", kind::OFFERED), // 23:59:59.999 local, day 1
        ev(DAY0 + 23 * HOUR_MS, "c", kind::OFFERED), // 00:00 local, day 2
    ];
    let q = &queues(span, &events).queues[0];
    let offered: Vec<u64> = q.intervals.iter().map(|i| i.figures.offered).collect();
    assert_eq!(offered, [2, 1]);
    assert_eq!(q.intervals[1].start, "2026-12-08T00:00:00+01:00");
}

#[test]
fn a_range_not_on_interval_edges_clips_its_first_and_last_intervals() {
    let span = Span::new(
        DAY0 + 9 * HOUR_MS + 30 * 60_000,
        DAY0 + 11 * HOUR_MS + 15 * 60_000,
        Interval::Hour,
        0,
    )
    .unwrap();
    let r = queues(span, &[]);
    let q = &r.queues[0];
    let bounds: Vec<(&str, &str)> = q
        .intervals
        .iter()
        .map(|i| (i.start.as_str(), i.end.as_str()))
        .collect();
    assert_eq!(
        bounds,
        [
            ("2026-12-07T09:30:00Z", "2026-12-07T10:00:00Z"),
            ("2026-12-07T10:00:00Z", "2026-12-07T11:00:00Z"),
            ("2026-12-07T11:00:00Z", "2026-12-07T11:15:00Z"),
        ]
    );
    assert_eq!(
        q.totals.service_level_pct, None,
        "no call: no service level"
    );
    assert_eq!(q.totals.avg_wait_ms, None);
}

#[test]
fn spans_are_checked() {
    assert_eq!(
        Span::new(DAY0, DAY0, Interval::Day, 0).unwrap_err().param,
        "to"
    );
    // 1000 hours fit, 1001 do not.
    assert!(Span::new(DAY0, DAY0 + 1000 * HOUR_MS, Interval::Hour, 0).is_ok());
    let e = Span::new(DAY0, DAY0 + 1001 * HOUR_MS, Interval::Hour, 0).unwrap_err();
    assert_eq!(e.param, "to");
    assert!(e.message.contains("1001 intervals"), "{}", e.message);
    // Times beyond any calendar are refused, not overflowed.
    let e = Span::new(0, i64::MAX, Interval::Day, 840).unwrap_err();
    assert_eq!(e.param, "to");
    let e = Span::new(i64::MIN, 0, Interval::Hour, -840).unwrap_err();
    assert_eq!(e.param, "from");
}

#[test]
fn a_ring_withdrawn_because_the_caller_hung_up_is_not_the_agents_miss() {
    let t = DAY0 + HOUR_MS;
    let events = [
        ev(t, "w", kind::OFFERED),
        ev(t, "w", kind::AGENT_RINGING).agent("amos"),
        ev(t + 4_000, "w", kind::AGENT_RING_WITHDRAWN)
            .agent("amos")
            .detail("caller-abandoned"),
        ev(t + 4_000, "w", kind::ABANDONED).waited(4_000),
        // A real miss: amos lets it ring out, then declines the next one.
        ev(t + 10_000, "m", kind::OFFERED),
        ev(t + 10_000, "m", kind::AGENT_RINGING).agent("amos"),
        ev(t + 40_000, "m", kind::AGENT_MISSED)
            .agent("amos")
            .detail("no-answer"),
        ev(t + 40_000, "m", kind::AGENT_RINGING).agent("amos"),
        ev(t + 41_000, "m", kind::AGENT_MISSED)
            .agent("amos")
            .detail("busy"),
        ev(t + 41_000, "m", kind::TIMED_OUT).waited(31_000),
    ];
    let a = agents(day_span(1, Interval::Day), &events);
    assert_eq!(a.agents.len(), 1);
    let f = &a.agents[0].totals;
    assert_eq!(
        (f.offers, f.missed, f.caller_abandoned, f.canceled),
        (3, 2, 1, 0)
    );
    let q = &queues(day_span(1, Interval::Day), &events).queues[0].totals;
    assert_eq!((q.abandoned, q.timed_out), (1, 1));
}

#[test]
fn an_old_logs_canceled_ring_followed_by_the_abandon_is_the_callers_abandon() {
    let t = DAY0 + HOUR_MS;
    let events = [
        // Old log: the withdrawn ring was `agent-missed` / `canceled`, then `abandoned`.
        ev(t, "old", kind::OFFERED),
        ev(t, "old", kind::AGENT_RINGING).agent("amos"),
        ev(t, "old", kind::AGENT_RINGING).agent("bea"),
        ev(t + 3_000, "old", kind::AGENT_MISSED)
            .agent("amos")
            .detail("canceled"),
        ev(t + 3_000, "old", kind::AGENT_MISSED)
            .agent("bea")
            .detail("canceled"),
        ev(t + 3_000, "old", kind::ABANDONED).waited(3_000),
        // Parallel ring: bea answers, amos's ring is canceled by holdline: neither a miss nor
        // an abandon.
        ev(t + 10_000, "par", kind::OFFERED),
        ev(t + 10_000, "par", kind::AGENT_RINGING).agent("amos"),
        ev(t + 10_000, "par", kind::AGENT_RINGING).agent("bea"),
        ev(t + 12_000, "par", kind::AGENT_MISSED)
            .agent("amos")
            .detail("canceled"),
        ev(t + 12_000, "par", kind::ANSWERED)
            .agent("bea")
            .waited(2_000),
        // A canceled ring whose call has no later event in the span: canceled.
        ev(t + 20_000, "open", kind::AGENT_RINGING).agent("amos"),
        ev(t + 21_000, "open", kind::AGENT_MISSED)
            .agent("amos")
            .detail("canceled"),
    ];
    let a = agents(day_span(1, Interval::Day), &events);
    let by: BTreeMap<&str, &AgentFigures> = a
        .agents
        .iter()
        .map(|s| (s.agent.as_str(), &s.totals))
        .collect();
    let amos = by["amos"];
    assert_eq!(
        (
            amos.offers,
            amos.missed,
            amos.caller_abandoned,
            amos.canceled
        ),
        (3, 0, 1, 2)
    );
    let bea = by["bea"];
    assert_eq!(
        (bea.offers, bea.answered, bea.missed, bea.caller_abandoned),
        (2, 1, 0, 1)
    );
}

#[test]
fn agents_get_talk_time_per_interval_and_listed_agents_appear_without_calls() {
    let mut events = answered_call(DAY0 + HOUR_MS, "a", "bea", 1_000, 120_000);
    events.extend(answered_call(
        DAY0 + DAY_MS + HOUR_MS,
        "b",
        "bea",
        2_000,
        30_000,
    ));
    let a = agents(day_span(2, Interval::Day), &events);
    let names: Vec<&str> = a.agents.iter().map(|s| s.agent.as_str()).collect();
    assert_eq!(names, ["amos", "bea"]);
    assert_eq!(a.agents[0].totals, AgentFigures::default());
    let bea = &a.agents[1];
    let talk: Vec<u64> = bea.intervals.iter().map(|i| i.figures.talk_ms).collect();
    assert_eq!(talk, [120_000, 30_000]);
    assert_eq!((bea.totals.answered, bea.totals.completed), (2, 2));
}

#[test]
fn queues_have_their_own_thresholds_and_removed_queues_the_default() {
    let events = [
        ev(DAY0, "a", kind::ANSWERED).waited(25_000),
        ev(DAY0, "b", kind::ANSWERED).queue("gone").waited(25_000),
    ];
    let r = queues(day_span(1, Interval::Day), &events);
    let sl: Vec<(&str, u64, Option<f64>)> = r
        .queues
        .iter()
        .map(|q| {
            (
                q.queue.as_str(),
                q.service_level_secs,
                q.totals.service_level_pct,
            )
        })
        .collect();
    // sales: 20 s (25 s is over); gone: the default 30 s (25 s is within).
    assert_eq!(sl, [("gone", 30, Some(100.0)), ("sales", 20, Some(0.0))]);
}

#[test]
fn events_without_a_wait_count_but_do_not_make_one_up() {
    let mut e = ev(DAY0, "old", kind::ANSWERED);
    e.waited_ms = None;
    let f = &queues(day_span(1, Interval::Day), &[e]).queues[0].totals;
    assert_eq!(f.answered, 1);
    assert_eq!((f.avg_wait_ms, f.service_level_pct), (None, None));
}

#[test]
fn csv_has_a_header_and_a_row_per_queue_and_interval() {
    let events = answered_call(DAY0 + HOUR_MS, "a", "amos", 4_000, 10_000);
    let r = queues(day_span(2, Interval::Day), &events);
    let text = csv::queues(&r);
    let lines: Vec<&str> = text.split("\r\n").collect();
    assert_eq!(lines.len(), 4, "{text}"); // header, two days, the empty string after the last CRLF
    assert!(lines[0].starts_with("queue,start,end,offered,answered,abandoned,"));
    assert!(lines[0].ends_with(",abandoned_wait_le_300s,abandoned_wait_gt_300s"));
    let cells: Vec<&str> = lines[1].split(',').collect();
    let header: Vec<&str> = lines[0].split(',').collect();
    assert_eq!(cells.len(), header.len());
    let cell = |name: &str| cells[header.iter().position(|h| *h == name).unwrap()];
    assert_eq!(cell("queue"), "sales");
    assert_eq!(cell("start"), "2026-12-07T00:00:00Z");
    assert_eq!(cell("answered"), "1");
    assert_eq!(cell("service_level_pct"), "100");
    assert_eq!(cell("avg_wait_ms"), "4000");
    assert_eq!(cell("talk_ms"), "10000");
    let day2: Vec<&str> = lines[2].split(',').collect();
    assert_eq!(
        day2[header.iter().position(|h| *h == "avg_wait_ms").unwrap()],
        ""
    );
    let a = csv::agents(&agents(day_span(1, Interval::Day), &events));
    assert_eq!(
        a,
        "agent,start,end,offers,answered,missed,canceled,caller_abandoned,completed,talk_ms\r\n\
         amos,2026-12-07T00:00:00Z,2026-12-08T00:00:00Z,1,1,0,0,0,1,10000\r\n"
    );
}
