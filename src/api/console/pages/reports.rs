//! `/admin/reports`: the reports API's per-queue and per-agent figures as tables and as two
//! server-rendered SVG bar charts (calls per interval, wait distribution), with CSV downloads.
//! The form is a plain GET form: it works without JavaScript, and a report is a link.

use askama::Template;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;

use super::{admin, queue_names, str_of, utc, Chrome, Items};
use crate::api::console::{page, Console};

/// The report form's fields, passed to the API as they are (it checks them and names a bad
/// one); `from` and `to` default to today (UTC) when both are empty.
#[derive(Deserialize, Default, Clone)]
pub(crate) struct ReportForm {
    #[serde(default)]
    queue: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    interval: String,
    #[serde(default)]
    utc_offset: String,
}

impl ReportForm {
    /// The form with the defaults filled in: today in UTC, by hour.
    fn completed(mut self, now_ms: i64) -> ReportForm {
        if self.from.trim().is_empty() && self.to.trim().is_empty() {
            let day = now_ms.div_euclid(86_400_000) * 86_400_000;
            self.from = utc(day)[..10].to_owned();
            self.to = utc(day + 86_400_000)[..10].to_owned();
        }
        if self.interval.is_empty() {
            self.interval = "hour".to_owned();
        }
        self
    }

    /// The API's query string (empty fields left out, so the API's defaults apply).
    fn query(&self, csv: bool) -> String {
        let mut params: Vec<(&str, &str)> = [
            ("from", self.from.trim()),
            ("to", self.to.trim()),
            ("interval", self.interval.trim()),
            ("queue", self.queue.trim()),
            ("utc_offset", self.utc_offset.trim()),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .collect();
        if csv {
            params.push(("format", "csv"));
        }
        serde_urlencoded::to_string(params).unwrap_or_default()
    }
}

#[derive(Template)]
#[template(path = "console/reports.html")]
struct ReportsPage {
    chrome: Chrome,
    form: ReportForm,
    queues: Vec<(String, String)>,
    /// The form's query, for the CSV links.
    query: String,
    error: String,
    series: Vec<QueueView>,
    agents: Vec<AgentRow>,
}

pub(crate) struct QueueView {
    queue: String,
    service_level_secs: String,
    rows: Vec<FigureRow>,
    total: FigureRow,
    /// Calls per interval (answered / abandoned), SVG.
    calls_chart: String,
    /// Answered calls' waits by bucket, SVG.
    wait_chart: String,
}

pub(crate) struct FigureRow {
    label: String,
    /// `{queue}-{label}` for the cells' `data-k`.
    key: String,
    cells: Vec<(&'static str, String)>,
}

pub(crate) struct AgentRow {
    agent: String,
    cells: Vec<(&'static str, String)>,
}

/// The queue table's columns: (name in `data-k`, heading).
const QUEUE_COLUMNS: [(&str, &str); 10] = [
    ("offered", "Offered"),
    ("answered", "Answered"),
    ("abandoned", "Abandoned"),
    ("overflowed", "Overflowed"),
    ("timed_out", "Timed out"),
    ("avg_wait", "Avg wait"),
    ("p90_wait", "90% wait"),
    ("avg_abandon", "Abandoned after"),
    ("service_level", "Service level"),
    ("talk", "Talk time"),
];

const AGENT_COLUMNS: [(&str, &str); 7] = [
    ("offers", "Offered"),
    ("answered", "Answered"),
    ("missed", "Missed"),
    ("canceled", "Canceled"),
    ("caller_abandoned", "Caller hung up"),
    ("completed", "Completed"),
    ("talk", "Talk time"),
];

/// Milliseconds as `m:ss` (or `h:mm:ss`); "–" for no figure.
fn duration(ms: &Value) -> String {
    let Some(ms) = ms.as_f64() else {
        return "–".to_owned();
    };
    let secs = (ms / 1000.0).round() as u64;
    if secs >= 3600 {
        format!("{}:{:02}:{:02}", secs / 3600, secs % 3600 / 60, secs % 60)
    } else {
        format!("{}:{:02}", secs / 60, secs % 60)
    }
}

fn count(v: &Value) -> String {
    v.as_u64().map_or("–".to_owned(), |n| n.to_string())
}

fn queue_cells(f: &Value) -> Vec<(&'static str, String)> {
    let pct = f["service_level_pct"]
        .as_f64()
        .map_or("–".to_owned(), |p| format!("{p}%"));
    let values = [
        count(&f["offered"]),
        count(&f["answered"]),
        count(&f["abandoned"]),
        count(&f["overflowed"]),
        count(&f["timed_out"]),
        duration(&f["avg_wait_ms"]),
        duration(&f["p90_wait_ms"]),
        duration(&f["avg_abandon_ms"]),
        pct,
        duration(&f["talk_ms"]),
    ];
    QUEUE_COLUMNS.iter().map(|c| c.0).zip(values).collect()
}

fn agent_cells(f: &Value) -> Vec<(&'static str, String)> {
    let values = [
        count(&f["offers"]),
        count(&f["answered"]),
        count(&f["missed"]),
        count(&f["canceled"]),
        count(&f["caller_abandoned"]),
        count(&f["completed"]),
        duration(&f["talk_ms"]),
    ];
    AGENT_COLUMNS.iter().map(|c| c.0).zip(values).collect()
}

/// XML text: `&`, `<`, `>` and quotes escaped (a queue id may hold anything the API allows).
fn xml(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One bar group of a chart: its label and its stacked values (bottom first).
pub(crate) struct Group {
    label: String,
    values: Vec<u64>,
}

const CHART_W: f64 = 640.0;
const CHART_H: f64 = 160.0;
/// Room under the bars for the labels.
const LABEL_H: f64 = 18.0;

/// A stacked bar chart as inline SVG: one bar per group, each value a `<rect>` of its series'
/// class (the stylesheet colours them) with a `<title>` tooltip giving the figure. Bars are
/// scaled to the tallest; labels under the first, the middle and the last bar (or every bar
/// when there are few).
pub(crate) fn bar_chart(title: &str, series: &[&str], groups: &[Group]) -> String {
    let max = groups
        .iter()
        .map(|g| g.values.iter().sum::<u64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let n = groups.len().max(1) as f64;
    let slot = CHART_W / n;
    let bar = (slot * 0.8).max(1.0);
    let plot_h = CHART_H - LABEL_H;
    let mut svg = format!(
        "<svg class=\"chart\" role=\"img\" viewBox=\"0 0 {CHART_W} {CHART_H}\" \
         xmlns=\"http://www.w3.org/2000/svg\"><title>{}</title>",
        xml(title)
    );
    svg.push_str(&format!(
        "<text class=\"axis\" x=\"2\" y=\"10\">{max}</text>\
         <line class=\"axis\" x1=\"0\" y1=\"{plot_h}\" x2=\"{CHART_W}\" y2=\"{plot_h}\"/>"
    ));
    let labelled =
        |i: usize| groups.len() <= 12 || i == 0 || i == groups.len() / 2 || i + 1 == groups.len();
    for (i, g) in groups.iter().enumerate() {
        let x = i as f64 * slot + (slot - bar) / 2.0;
        let mut y = plot_h;
        for (value, name) in g.values.iter().zip(series) {
            if *value == 0 {
                continue;
            }
            let h = *value as f64 / max as f64 * (plot_h - 12.0);
            y -= h;
            svg.push_str(&format!(
                "<rect class=\"bar {name}\" data-label=\"{}\" data-value=\"{value}\" \
                 x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bar:.1}\" height=\"{h:.1}\">\
                 <title>{}: {value} {name}</title></rect>",
                xml(&g.label),
                xml(&g.label)
            ));
        }
        if labelled(i) {
            // The outer labels hang inwards, so they stay inside the picture.
            let (at, anchor) = if groups.len() > 12 && i == 0 {
                (x, "start")
            } else if groups.len() > 12 && i + 1 == groups.len() {
                (x + bar, "end")
            } else {
                (x + bar / 2.0, "middle")
            };
            svg.push_str(&format!(
                "<text class=\"axis\" x=\"{at:.1}\" y=\"{}\" text-anchor=\"{anchor}\">{}</text>",
                CHART_H - 4.0,
                xml(&g.label)
            ));
        }
    }
    svg.push_str("</svg>");
    svg
}

/// An interval's label: the hour (`09:00`) for hourly reports over one day, else the start as
/// the API gives it, shortened to the day or the minute.
fn interval_label(start: &str, interval: &str) -> String {
    // "2026-12-07T09:00:00Z" / "2026-12-07T09:00:00+01:00"
    if interval == "hour" {
        start.get(5..16).unwrap_or(start).replace('T', " ")
    } else {
        start.get(..10).unwrap_or(start).to_owned()
    }
}

fn wait_label(bucket: &Value, previous: Option<u64>) -> String {
    match bucket["up_to_secs"].as_u64() {
        Some(s) => format!("≤{s} s"),
        None => format!(">{} s", previous.unwrap_or(0)),
    }
}

fn queue_view(s: &Value, interval: &str) -> QueueView {
    let queue = str_of(&s["queue"]);
    let intervals = s["intervals"].as_array().cloned().unwrap_or_default();
    let rows = intervals
        .iter()
        .map(|i| {
            let label = interval_label(i["start"].as_str().unwrap_or(""), interval);
            FigureRow {
                key: format!("{queue}-{label}"),
                label,
                cells: queue_cells(i),
            }
        })
        .collect();
    let totals = &s["totals"];
    let calls: Vec<Group> = intervals
        .iter()
        .map(|i| Group {
            label: interval_label(i["start"].as_str().unwrap_or(""), interval),
            values: vec![
                i["answered"].as_u64().unwrap_or(0),
                i["abandoned"].as_u64().unwrap_or(0),
            ],
        })
        .collect();
    let mut previous = None;
    let waits: Vec<Group> = totals["wait_distribution"]
        .items()
        .map(|b| {
            let g = Group {
                label: wait_label(b, previous),
                values: vec![b["calls"].as_u64().unwrap_or(0)],
            };
            previous = b["up_to_secs"].as_u64();
            g
        })
        .collect();
    QueueView {
        calls_chart: bar_chart(
            &format!("{queue}: answered and abandoned calls per {interval}"),
            &["answered", "abandoned"],
            &calls,
        ),
        wait_chart: bar_chart(
            &format!("{queue}: answered calls by wait"),
            &["answered"],
            &waits,
        ),
        service_level_secs: count(&s["service_level_secs"]),
        total: FigureRow {
            key: format!("{queue}-total"),
            label: "total".to_owned(),
            cells: queue_cells(totals),
        },
        rows,
        queue,
    }
}

fn problems_text(reply: &crate::api::console::Reply) -> String {
    reply
        .problems()
        .into_iter()
        .map(|(_, m)| m)
        .collect::<Vec<_>>()
        .join("; ")
}

pub(crate) async fn reports_page(
    State(c): State<Console>,
    headers: HeaderMap,
    query: Result<Query<ReportForm>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let s = match admin(&c, &headers) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let form = query
        .map(|Query(f)| f)
        .unwrap_or_default()
        .completed((c.inner.clock)());
    let q = form.query(false);
    let queues_reply = c
        .api(Method::GET, &format!("/api/v1/reports/queues?{q}"), None)
        .await;
    let agents_reply = c
        .api(Method::GET, &format!("/api/v1/reports/agents?{q}"), None)
        .await;
    let (mut series, mut agents, mut error) = (Vec::new(), Vec::new(), String::new());
    if queues_reply.ok() && agents_reply.ok() {
        series = queues_reply.body["queues"]
            .items()
            .map(|s| queue_view(s, &form.interval))
            .collect();
        agents = agents_reply.body["agents"]
            .items()
            .map(|a| AgentRow {
                agent: str_of(&a["agent"]),
                cells: agent_cells(&a["totals"]),
            })
            .collect();
    } else {
        error = problems_text(if queues_reply.ok() {
            &agents_reply
        } else {
            &queues_reply
        });
    }
    page(&ReportsPage {
        chrome: Chrome::new("Reports", &s),
        queues: queue_names(&c).await,
        query: q,
        form,
        error,
        series,
        agents,
    })
}

/// `/admin/reports/{queues,agents}.csv`: the API's CSV (with its `Content-Disposition`) behind
/// the session, for the page's download links.
pub(crate) async fn report_csv(
    State(c): State<Console>,
    Path(file): Path<String>,
    headers: HeaderMap,
    query: Result<Query<ReportForm>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(r) = admin(&c, &headers) {
        return r.into_response();
    }
    let which = match file.as_str() {
        "queues.csv" => "queues",
        "agents.csv" => "agents",
        _ => return axum::http::StatusCode::NOT_FOUND.into_response(),
    };
    let form = query
        .map(|Query(f)| f)
        .unwrap_or_default()
        .completed((c.inner.clock)());
    let path = format!("/api/v1/reports/{which}?{}", form.query(true));
    c.api_raw(Method::GET, &path, "application/json", Body::empty())
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bars_are_scaled_to_the_tallest_and_carry_their_figures() {
        let svg = bar_chart(
            "t",
            &["answered", "abandoned"],
            &[
                Group {
                    label: "09:00".into(),
                    values: vec![1, 1],
                },
                Group {
                    label: "10:00".into(),
                    values: vec![0, 0],
                },
                Group {
                    label: "<b>".into(),
                    values: vec![4, 0],
                },
            ],
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"), "{svg}");
        assert_eq!(svg.matches("<rect").count(), 3, "no rect for a zero: {svg}");
        // The tallest bar (4) fills the plot (160 - 18 - 12 = 130); 1 is a quarter of it.
        assert!(
            svg.contains(
                "data-value=\"4\" x=\"448.0\" y=\"12.0\" width=\"170.7\" height=\"130.0\""
            ),
            "{svg}"
        );
        assert!(
            svg.contains("class=\"bar abandoned\" data-label=\"09:00\" data-value=\"1\""),
            "{svg}"
        );
        assert!(svg.contains("height=\"32.5\""), "{svg}");
        assert!(
            svg.contains("&lt;b&gt;") && !svg.contains("<b>"),
            "escaped: {svg}"
        );
    }

    #[test]
    fn empty_fields_default_to_today_by_hour_and_are_left_out_of_the_query() {
        let f = ReportForm::default().completed(1_796_644_800_000);
        assert_eq!(
            (f.from.as_str(), f.to.as_str()),
            ("2026-12-07", "2026-12-08")
        );
        assert_eq!(
            f.query(true),
            "from=2026-12-07&to=2026-12-08&interval=hour&format=csv"
        );
    }

    #[test]
    fn durations_and_missing_figures() {
        assert_eq!(duration(&json!(21_000)), "0:21");
        assert_eq!(duration(&json!(3_723_000)), "1:02:03");
        assert_eq!(duration(&Value::Null), "–");
        assert_eq!(
            queue_cells(&json!({"service_level_pct": 66.67}))[8].1,
            "66.67%"
        );
    }
}
