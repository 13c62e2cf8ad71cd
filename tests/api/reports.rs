//! The reports and wallboard routes: JSON and CSV shapes, figures from logged events, bad
//! parameters refused naming the parameter, and the wallboard's live and today figures.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use holdline::api::live::{AgentState, QueueLive, WaitingCall};
use holdline::store::QueueEvent;
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::api_support::{app, call, problems, App, TOKEN};

/// 2026-12-07T00:00:00Z in Unix ms.
const DAY0: i64 = 1_796_601_600_000;
const HOUR: i64 = 3_600_000;

fn event(at_ms: i64, call: &str, kind: &str, agent: Option<&str>, waited_ms: i64) -> QueueEvent {
    QueueEvent {
        seq: 0,
        at_ms,
        queue: "demo".into(),
        call_id: call.into(),
        agent: agent.map(str::to_owned),
        kind: kind.into(),
        detail: None,
        waited_ms: Some(waited_ms),
    }
}

/// Two calls in the 09:00 hour (one answered by amos after 12 s, talking 50 s; one abandoned
/// after 40 s while bea's phone rang) and one in the 14:00 hour (answered by bea after 30 s).
fn seed(a: &App) {
    let t9 = DAY0 + 9 * HOUR;
    let t14 = DAY0 + 14 * HOUR;
    let mut completed = event(t9 + 62_000, "c1", "completed", Some("amos"), 62_000);
    completed.detail = Some("talked 50000 ms".into());
    let mut withdrawn = event(
        t9 + 640_000,
        "c2",
        "agent-ring-withdrawn",
        Some("bea"),
        40_000,
    );
    withdrawn.detail = Some("caller-abandoned".into());
    a.state
        .record_events(&[
            event(t9, "c1", "offered", None, 0),
            event(t9, "c1", "agent-ringing", Some("amos"), 0),
            event(t9 + 12_000, "c1", "answered", Some("amos"), 12_000),
            completed,
            event(t9 + 600_000, "c2", "offered", None, 0),
            event(t9 + 610_000, "c2", "agent-ringing", Some("bea"), 10_000),
            withdrawn,
            event(t9 + 640_000, "c2", "abandoned", None, 40_000),
            event(t14, "c3", "offered", None, 0),
            event(t14 + 30_000, "c3", "answered", Some("bea"), 30_000),
        ])
        .unwrap();
}

/// One authorised GET with extra headers: status, content type, body text.
async fn get(a: &App, path: &str, headers: &[(&str, &str)]) -> (StatusCode, String, String) {
    let mut req = Request::builder()
        .method("GET")
        .uri(path)
        .header("authorization", format!("Bearer {TOKEN}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = a
        .router
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let ctype = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 22)
        .await
        .unwrap();
    (status, ctype, String::from_utf8(bytes.to_vec()).unwrap())
}

#[tokio::test]
async fn queue_report_by_hour_gives_each_hours_figures_and_the_totals() {
    let a = app();
    seed(&a);
    let (status, r) = call(
        &a.router,
        "GET",
        "/api/v1/reports/queues?from=2026-12-07&to=2026-12-08&interval=hour",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["from"], "2026-12-07T00:00:00Z");
    assert_eq!(r["to_ms"], DAY0 + 24 * HOUR);
    assert_eq!(r["interval"], "hour");
    let queues = r["queues"].as_array().unwrap();
    assert_eq!(queues.len(), 1, "{r}");
    let q = &queues[0];
    assert_eq!(q["queue"], "demo");
    assert_eq!(q["service_level_secs"], 20);
    let intervals = q["intervals"].as_array().unwrap();
    assert_eq!(intervals.len(), 24);
    let nine = &intervals[9];
    assert_eq!(nine["start"], "2026-12-07T09:00:00Z");
    assert_eq!(
        (
            nine["offered"].as_u64(),
            nine["answered"].as_u64(),
            nine["abandoned"].as_u64()
        ),
        (Some(2), Some(1), Some(1))
    );
    assert_eq!(nine["avg_wait_ms"], 12_000);
    assert_eq!(nine["avg_abandon_ms"], 40_000);
    assert_eq!(nine["service_level_pct"], 100.0);
    assert_eq!(nine["talk_ms"], 50_000);
    assert_eq!(intervals[14]["answered"], 1);
    assert_eq!(intervals[14]["service_level_pct"], 0.0, "30 s is over 20 s");
    assert_eq!(intervals[10]["offered"], 0);
    assert_eq!(intervals[10]["avg_wait_ms"], Value::Null);
    let t = &q["totals"];
    assert_eq!(
        (t["offered"].as_u64(), t["answered"].as_u64()),
        (Some(3), Some(2))
    );
    assert_eq!(t["avg_wait_ms"], 21_000);
    assert_eq!(t["p90_wait_ms"], 30_000);
    assert_eq!(t["service_level_pct"], 50.0);
    assert_eq!(
        t["wait_distribution"][1],
        json!({ "up_to_secs": 20, "calls": 1 })
    );
}

#[tokio::test]
async fn agent_report_counts_offers_answers_and_withdrawn_rings_apart_from_misses() {
    let a = app();
    seed(&a);
    let (status, r) = call(
        &a.router,
        "GET",
        "/api/v1/reports/agents?from=2026-12-07&to=2026-12-08",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["interval"], "day");
    let by: BTreeMap<String, Value> = r["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["agent"].as_str().unwrap().to_owned(), s["totals"].clone()))
        .collect();
    assert_eq!(by.keys().collect::<Vec<_>>(), ["amos", "bea"]);
    assert_eq!(
        by["amos"],
        json!({ "offers": 1, "answered": 1, "missed": 0, "canceled": 0,
                "caller_abandoned": 0, "completed": 1, "talk_ms": 50000 })
    );
    assert_eq!(
        by["bea"],
        json!({ "offers": 1, "answered": 1, "missed": 0, "canceled": 0,
                "caller_abandoned": 1, "completed": 0, "talk_ms": 0 })
    );
}

#[tokio::test]
async fn csv_comes_with_format_csv_or_accept_text_csv_with_a_header_row() {
    let a = app();
    seed(&a);
    let path = "/api/v1/reports/queues?from=2026-12-07&to=2026-12-09";
    let (status, ctype, by_param) = get(&a, &format!("{path}&format=csv"), &[]).await;
    assert_eq!(status, StatusCode::OK, "{by_param}");
    assert!(ctype.starts_with("text/csv"), "{ctype}");
    let (_, ctype, by_accept) = get(&a, path, &[("accept", "text/csv")]).await;
    assert!(ctype.starts_with("text/csv"), "{ctype}");
    assert_eq!(by_param, by_accept);
    let lines: Vec<&str> = by_param.trim_end().split("\r\n").collect();
    assert_eq!(lines.len(), 3, "a header and two days: {by_param}");
    let header: Vec<&str> = lines[0].split(',').collect();
    assert_eq!(
        &header[..5],
        ["queue", "start", "end", "offered", "answered"]
    );
    let day1: Vec<&str> = lines[1].split(',').collect();
    assert_eq!(day1.len(), header.len());
    assert_eq!(
        &day1[..5],
        [
            "demo",
            "2026-12-07T00:00:00Z",
            "2026-12-08T00:00:00Z",
            "3",
            "2"
        ]
    );
    let (_, ctype, json_body) = get(&a, path, &[("accept", "application/json")]).await;
    assert!(ctype.starts_with("application/json"), "{ctype}");
    assert!(json_body.starts_with('{'));

    let (status, _, agents) = get(
        &a,
        "/api/v1/reports/agents?from=2026-12-07&to=2026-12-08&format=csv",
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        agents,
        "agent,start,end,offers,answered,missed,canceled,caller_abandoned,completed,talk_ms\r\n\
         amos,2026-12-07T00:00:00Z,2026-12-08T00:00:00Z,1,1,0,0,0,1,50000\r\n\
         bea,2026-12-07T00:00:00Z,2026-12-08T00:00:00Z,1,1,0,0,1,0,0\r\n"
    );
}

#[tokio::test]
async fn reports_at_a_utc_offset_cut_days_at_local_midnight() {
    let a = app();
    seed(&a);
    // At -10:00, 09:00Z is 23:00 on the 6th and 14:00Z is 04:00 on the 7th.
    let (status, r) = call(
        &a.router,
        "GET",
        "/api/v1/reports/queues?from=2026-12-06&to=2026-12-08&utc_offset=-10:00",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let days = r["queues"][0]["intervals"].as_array().unwrap();
    assert_eq!(days[0]["start"], "2026-12-06T00:00:00-10:00");
    assert_eq!(
        (days[0]["offered"].as_u64(), days[1]["offered"].as_u64()),
        (Some(2), Some(1))
    );
}

#[tokio::test]
async fn bad_parameters_are_refused_naming_the_parameter() {
    let a = app();
    for (query, field) in [
        ("to=2026-12-08", "from"),
        ("from=2026-12-07", "to"),
        ("from=yesterday&to=2026-12-08", "from"),
        ("from=2026-12-07&to=2026-02-30", "to"),
        ("from=2026-12-08&to=2026-12-07", "to"),
        ("from=2026-12-07&to=2026-12-08&interval=week", "interval"),
        (
            "from=2026-12-07&to=2026-12-08&utc_offset=%2B25:00",
            "utc_offset",
        ),
        ("from=2026-12-07&to=2026-12-08&format=xml", "format"),
        ("from=2026-01-01&to=2026-12-31&interval=hour", "to"),
        ("from=2026-12-07&to=2026-12-08&intreval=hour", "intreval"),
        ("from=0&to=9223372036854775807&utc_offset=%2B14:00", "to"),
        ("from=0&to=99999999999999999999", "to"),
    ] {
        for route in ["queues", "agents"] {
            let (status, body) = call(
                &a.router,
                "GET",
                &format!("/api/v1/reports/{route}?{query}"),
                None,
            )
            .await;
            assert_eq!(
                status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{route}?{query}: {body}"
            );
            let ps = problems(&body);
            assert!(
                ps.iter().any(|(f, _)| f == field),
                "{route}?{query}: expected a problem on {field}, got {ps:?}"
            );
        }
    }
    let (status, _) = call(&a.router, "GET", "/api/v1/wallboard?utc_offset=noon", None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

fn waiting(call_id: &str, secs: u64, position: u32) -> WaitingCall {
    WaitingCall {
        call_id: call_id.into(),
        caller: "sip:caller@example.com".into(),
        position,
        waiting_secs: secs,
    }
}

#[tokio::test]
async fn wallboard_shows_live_calls_and_agents_and_todays_figures_as_events_arrive() {
    let a = app();
    fn noon() -> i64 {
        DAY0 + 12 * HOUR
    }
    a.state.prov().set_wall_clock(noon);
    seed(&a);
    // Yesterday's call is not today's.
    a.state
        .record_events(&[event(DAY0 - HOUR, "old", "offered", None, 0)])
        .unwrap();
    a.live.set_queue(
        "demo",
        QueueLive {
            waiting: vec![waiting("w1", 75, 1), waiting("w2", 8, 2)],
            agents: [("amos".to_owned(), AgentState::OnCall)]
                .into_iter()
                .collect(),
        },
    );
    let (status, one) = call(&a.router, "GET", "/api/v1/wallboard/demo", None).await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(one["queue"], "demo");
    assert_eq!(one["name"], "Demo Queue");
    assert_eq!(one["calls_waiting"], 2);
    assert_eq!(one["longest_wait_secs"], 75);
    assert_eq!(one["agents"]["on-call"], 1);
    assert_eq!(one["agents"]["offline"], 1, "bea: no state from the engine");
    assert_eq!(one["agents"]["available"], 0);
    assert_eq!(one["day_start"], "2026-12-07T00:00:00Z");
    let today = &one["today"];
    assert_eq!(
        (
            today["offered"].as_u64(),
            today["answered"].as_u64(),
            today["abandoned"].as_u64()
        ),
        (Some(3), Some(2), Some(1))
    );
    assert_eq!(today["avg_wait_ms"], 21_000);
    assert_eq!(today["service_level_pct"], 50.0);
    assert_eq!(today["service_level_secs"], 20);

    // A new call answered within the threshold: the next request counts it.
    a.state
        .record_events(&[
            event(noon() - 5_000, "c4", "offered", None, 0),
            event(noon(), "c4", "answered", Some("amos"), 5_000),
        ])
        .unwrap();
    let (_, all) = call(&a.router, "GET", "/api/v1/wallboard", None).await;
    let t = &all["totals"];
    assert_eq!(t["calls_waiting"], 2);
    assert_eq!(t["longest_wait_secs"], 75);
    assert_eq!(t["today"]["offered"], 4);
    assert_eq!(t["today"]["answered"], 3);
    assert_eq!(t["today"]["service_level_pct"], 66.67);
    assert_eq!(all["queues"][0]["today"]["answered"], 3);

    // bea opts out: the board says so.
    let (status, _) = call(
        &a.router,
        "POST",
        "/api/v1/agents/bea/queues/demo/opt-out",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, one) = call(&a.router, "GET", "/api/v1/wallboard/demo", None).await;
    assert_eq!(one["agents"]["opted-out"], 1);
    assert_eq!(one["today"]["answered"], 3, "the day is not counted twice");

    let (status, body) = call(&a.router, "GET", "/api/v1/wallboard/nope", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

/// The API on 127.0.0.1:0 in a background runtime, seeded; returns its address.
fn cli_server() -> String {
    let a = app();
    seed(&a);
    let state = a.state.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            holdline::api::serve(listener, state, std::future::pending())
                .await
                .unwrap();
        });
    });
    addr
}

#[test]
fn cli_report_prints_a_table_csv_or_json_and_names_a_bad_parameter() {
    use holdline::api::cli::{run_report, ApiArgs, ReportArgs, ReportCmd};
    use holdline::api::client::ClientError;
    let addr = cli_server();
    let args = |json| ApiArgs {
        api: Some(addr.clone()),
        token: Some(TOKEN.to_owned()),
        json,
    };
    let report = |interval: &str, csv| ReportArgs {
        from: "2026-12-07T09:00:00Z".into(),
        to: "2026-12-07T11:00:00+01:00".into(), // 10:00Z: only the 09:00 hour
        interval: interval.into(),
        queue: Some("demo".into()),
        utc_offset: Some("+00:00".into()),
        csv,
    };
    let table = run_report(&ReportCmd::Queues(report("hour", false)), &args(false)).unwrap();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{table}");
    assert!(lines[0].starts_with("QUEUE"), "{table}");
    let cells: Vec<&str> = lines[1].split_whitespace().collect();
    // queue, start, offered, answered, abandoned, overflowed, timed_out, service level, …
    assert_eq!(
        &cells[..5],
        ["demo", "2026-12-07T09:00:00Z", "2", "1", "1"],
        "{table}"
    );

    let csv = run_report(&ReportCmd::Agents(report("hour", true)), &args(false)).unwrap();
    assert_eq!(
        csv,
        "agent,start,end,offers,answered,missed,canceled,caller_abandoned,completed,talk_ms\r\n\
         amos,2026-12-07T09:00:00Z,2026-12-07T10:00:00Z,1,1,0,0,0,1,50000\r\n\
         bea,2026-12-07T09:00:00Z,2026-12-07T10:00:00Z,1,0,0,0,1,0,0\r\n"
    );

    let json = run_report(&ReportCmd::Queues(report("hour", false)), &args(true)).unwrap();
    let v: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["queues"][0]["totals"]["offered"], 2);

    match run_report(&ReportCmd::Queues(report("week", false)), &args(false)) {
        Err(ClientError::Api {
            status: 422,
            problems,
            ..
        }) => assert!(
            problems.iter().any(|p| p.contains("interval")),
            "{problems:?}"
        ),
        other => panic!("expected a 422 naming interval, got {other:?}"),
    }
}

#[tokio::test]
async fn a_file_store_is_reported_on_its_own_connection_and_sees_every_commit() {
    let dir = tempfile::tempdir().unwrap();
    let store = holdline::store::Store::open(&dir.path().join("holdline.db")).unwrap();
    let (mut prov, _) =
        holdline::api::Provisioning::open(store, crate::api_support::file_source()).unwrap();
    prov.set_check_files(false);
    let state = holdline::api::ApiState::new(
        prov,
        std::sync::Arc::new(holdline::api::MemoryLive::default()),
        Some(TOKEN.to_owned()),
    );
    let a = App {
        router: holdline::api::router(state.clone()),
        state,
        live: Default::default(),
    };
    assert!(a.state.prov().event_reader().unwrap().is_some());
    seed(&a);
    let path = "/api/v1/reports/queues?from=2026-12-07&to=2026-12-08";
    let (status, r) = call(&a.router, "GET", path, None).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["queues"][0]["totals"]["offered"], 3);
    a.state
        .record_events(&[event(DAY0 + 20 * HOUR, "c5", "offered", None, 0)])
        .unwrap();
    let (_, r) = call(&a.router, "GET", path, None).await;
    assert_eq!(
        r["queues"][0]["totals"]["offered"], 4,
        "the last commit is seen"
    );
}
