//! Reports as CSV (RFC 4180): a header row, then one row per queue (or agent) and interval,
//! CRLF line ends. An empty cell is a figure with no value (an average of no call).

use std::fmt::Write as _;

use super::{AgentsReport, QueueFigures, QueuesReport, DISTRIBUTION_EDGES_SECS};

/// A cell, quoted when it holds a comma, a quote or a line break (RFC 4180 §2.6, §2.7).
fn field(out: &mut String, text: &str) {
    if text.contains([',', '"', '\r', '\n']) {
        out.push('"');
        out.push_str(&text.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(text);
    }
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn distribution_headers(prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = DISTRIBUTION_EDGES_SECS
        .iter()
        .map(|e| format!("{prefix}_le_{e}s"))
        .collect();
    let last = DISTRIBUTION_EDGES_SECS.last().copied().unwrap_or(0);
    names.push(format!("{prefix}_gt_{last}s"));
    names
}

fn row(out: &mut String, cells: &[String]) {
    for (i, c) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        field(out, c);
    }
    out.push_str("\r\n");
}

/// The queues report, one row per queue and interval.
pub fn queues(report: &QueuesReport) -> String {
    let mut header: Vec<String> = [
        "queue",
        "start",
        "end",
        "offered",
        "answered",
        "abandoned",
        "overflowed",
        "timed_out",
        "no_agents",
        "answered_within_service_level",
        "service_level_secs",
        "service_level_pct",
        "avg_wait_ms",
        "p90_wait_ms",
        "max_wait_ms",
        "avg_abandon_ms",
        "completed",
        "talk_ms",
        "avg_talk_ms",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    header.extend(distribution_headers("answered_wait"));
    header.extend(distribution_headers("abandoned_wait"));
    let mut out = String::new();
    row(&mut out, &header);
    for q in &report.queues {
        for i in &q.intervals {
            let f: &QueueFigures = &i.figures;
            let mut cells = vec![
                q.queue.clone(),
                i.start.clone(),
                i.end.clone(),
                f.offered.to_string(),
                f.answered.to_string(),
                f.abandoned.to_string(),
                f.overflowed.to_string(),
                f.timed_out.to_string(),
                f.no_agents.to_string(),
                f.answered_within_service_level.to_string(),
                q.service_level_secs.to_string(),
                opt(f.service_level_pct),
                opt(f.avg_wait_ms),
                opt(f.p90_wait_ms),
                opt(f.max_wait_ms),
                opt(f.avg_abandon_ms),
                f.completed.to_string(),
                f.talk_ms.to_string(),
                opt(f.avg_talk_ms),
            ];
            cells.extend(f.wait_distribution.iter().map(|b| b.calls.to_string()));
            cells.extend(f.abandon_distribution.iter().map(|b| b.calls.to_string()));
            row(&mut out, &cells);
        }
    }
    out
}

/// The agents report, one row per agent and interval.
pub fn agents(report: &AgentsReport) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "agent,start,end,offers,answered,missed,canceled,caller_abandoned,completed,talk_ms\r\n"
    );
    for a in &report.agents {
        for i in &a.intervals {
            let f = &i.figures;
            row(
                &mut out,
                &[
                    a.agent.clone(),
                    i.start.clone(),
                    i.end.clone(),
                    f.offers.to_string(),
                    f.answered.to_string(),
                    f.missed.to_string(),
                    f.canceled.to_string(),
                    f.caller_abandoned.to_string(),
                    f.completed.to_string(),
                    f.talk_ms.to_string(),
                ],
            );
        }
    }
    out
}
