//! Live state through the API, from a fake `LiveState` whose values each test sets: a queue's
//! status (waiting calls, agents' states with the agents' own settings on top), active calls,
//! the event log and its live SSE feed, agent self-service, and /metrics.

use std::collections::BTreeMap;

use crate::api_support::{app, call};
use axum::http::StatusCode;
use futures_util::StreamExt;
use holdline::api::live::{
    ActiveCall, AgentState, Counters, QueueCounters, QueueLive, WaitingCall,
};
use holdline::store::QueueEvent;
use serde_json::json;

fn waiting(call_id: &str, position: u32, waiting_secs: u64) -> WaitingCall {
    WaitingCall {
        call_id: call_id.into(),
        caller: format!("sip:{call_id}@caller.example"),
        position,
        waiting_secs,
    }
}

fn event(at_ms: i64, queue: &str, kind: &str) -> QueueEvent {
    QueueEvent {
        seq: 0,
        at_ms,
        queue: queue.into(),
        call_id: format!("call-{at_ms}"),
        agent: None,
        kind: kind.into(),
        detail: None,
        waited_ms: None,
    }
}

#[tokio::test]
async fn status_shows_waiting_calls_and_agents_with_their_own_settings_on_top() {
    let a = app();
    a.live.set_queue(
        "demo",
        QueueLive {
            waiting: vec![waiting("c1", 1, 95), waiting("c2", 2, 40)],
            agents: BTreeMap::from([("amos".to_string(), AgentState::OnCall)]),
        },
    );
    let (status, s) = call(&a.router, "GET", "/api/v1/queues/demo/status", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(s["calls_waiting"], 2);
    assert_eq!(s["longest_wait_secs"], 95);
    assert_eq!(
        s["waiting"][1],
        json!({ "call_id": "c2", "caller": "sip:c2@caller.example", "position": 2, "waiting_secs": 40 })
    );
    assert_eq!(
        s["agents"],
        json!([{ "id": "amos", "state": "on-call" }, { "id": "bea", "state": "offline" }])
    );
    // The agents' own settings win over what the engine reported.
    call(
        &a.router,
        "PUT",
        "/api/v1/agents/amos/dnd",
        Some(json!({ "dnd": true })),
    )
    .await;
    call(
        &a.router,
        "POST",
        "/api/v1/agents/bea/queues/demo/opt-out",
        None,
    )
    .await;
    let (_, s) = call(&a.router, "GET", "/api/v1/queues/demo/status", None).await;
    assert_eq!(
        s["agents"],
        json!([{ "id": "amos", "state": "dnd" }, { "id": "bea", "state": "opted-out" }])
    );
    let (status, _) = call(&a.router, "GET", "/api/v1/queues/nope/status", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn calls_lists_the_active_calls() {
    let a = app();
    a.live.set_calls(vec![ActiveCall {
        call_id: "c1".into(),
        queue: "demo".into(),
        caller: "sip:+14255550123@carrier.example".into(),
        state: "connected".into(),
        agent: Some("amos".into()),
        duration_secs: 61,
    }]);
    let (status, calls) = call(&a.router, "GET", "/api/v1/calls", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        calls,
        json!([{ "call_id": "c1", "queue": "demo", "caller": "sip:+14255550123@carrier.example",
                 "state": "connected", "agent": "amos", "duration_secs": 61 }])
    );
}

#[tokio::test]
async fn event_log_filters_by_queue_and_time() {
    let a = app();
    for (t, q, k) in [
        (1000, "demo", "offered"),
        (2000, "other", "offered"),
        (3000, "demo", "answered"),
        (4000, "demo", "abandoned"),
    ] {
        a.state.record_event(&event(t, q, k)).unwrap();
    }
    let (status, evs) = call(
        &a.router,
        "GET",
        "/api/v1/events?queue=demo&since=2000&until=4000",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        evs,
        json!([{ "seq": 3, "at_ms": 3000, "queue": "demo", "call_id": "call-3000", "kind": "answered" }])
    );
    let (_, evs) = call(&a.router, "GET", "/api/v1/events?limit=2", None).await;
    let kinds: Vec<&str> = evs
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["answered", "abandoned"]);
}

#[tokio::test]
async fn event_feed_streams_recorded_events_of_the_chosen_queue() {
    let a = app();
    let req = axum::http::Request::builder()
        .uri("/api/v1/events/feed?queue=demo")
        .header(
            "authorization",
            format!("Bearer {}", crate::api_support::TOKEN),
        )
        .body(axum::body::Body::empty())
        .unwrap();
    let resp = tower::ServiceExt::oneshot(a.router.clone(), req)
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut body = resp.into_body().into_data_stream();
    a.state
        .record_event(&event(1000, "other", "offered"))
        .unwrap();
    let mut e = event(2000, "demo", "answered");
    e.agent = Some("amos".into());
    a.state.record_event(&e).unwrap();
    let frame = tokio::time::timeout(std::time::Duration::from_secs(5), body.next())
        .await
        .expect("an event within 5 s")
        .unwrap()
        .unwrap();
    let text = String::from_utf8(frame.to_vec()).unwrap();
    assert!(text.contains("event: answered\n"), "{text}");
    assert!(text.contains("id: 2\n"), "{text}");
    assert!(text.contains("\"agent\":\"amos\""), "{text}");
    assert!(!text.contains("other"), "{text}");
}

#[tokio::test]
async fn agent_sets_dnd_and_opts_in_and_out() {
    let a = app();
    let mut prefs = a.state.subscribe_agent_prefs();
    let (status, ag) = call(
        &a.router,
        "PUT",
        "/api/v1/agents/amos/dnd",
        Some(json!({ "dnd": true })),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ag["dnd"], true);
    assert!(prefs.borrow_and_update().is_dnd("amos"));
    let (_, ag) = call(
        &a.router,
        "POST",
        "/api/v1/agents/amos/queues/demo/opt-out",
        None,
    )
    .await;
    assert_eq!(
        ag["queues"],
        json!([{ "queue": "demo", "opted_in": false, "allow_opt_out": true }])
    );
    assert!(prefs.borrow_and_update().is_opted_out("amos", "demo"));
    let (_, ag) = call(
        &a.router,
        "POST",
        "/api/v1/agents/amos/queues/demo/opt-in",
        None,
    )
    .await;
    assert_eq!(ag["queues"][0]["opted_in"], true);
    let (_, ag) = call(
        &a.router,
        "PUT",
        "/api/v1/agents/amos/dnd",
        Some(json!({ "dnd": false })),
    )
    .await;
    assert_eq!(ag["dnd"], false);
    let (status, got) = call(&a.router, "GET", "/api/v1/agents/amos", None).await;
    assert_eq!((status, got), (StatusCode::OK, ag));
}

#[tokio::test]
async fn removing_a_queue_drops_its_opt_outs_from_the_published_settings() {
    let a = app();
    let mut prefs = a.state.subscribe_agent_prefs();
    let (status, _) = call(
        &a.router,
        "POST",
        "/api/v1/queues",
        Some(json!({ "id": "temp", "agents": ["bea"] })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    call(
        &a.router,
        "POST",
        "/api/v1/agents/bea/queues/temp/opt-out",
        None,
    )
    .await;
    assert!(prefs.borrow_and_update().is_opted_out("bea", "temp"));
    let (status, _) = call(&a.router, "DELETE", "/api/v1/queues/temp", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(prefs.has_changed().unwrap(), "the runtime hears of it");
    assert!(!prefs.borrow_and_update().is_opted_out("bea", "temp"));
    // A queue made again with the same id starts with bea opted in.
    call(
        &a.router,
        "POST",
        "/api/v1/queues",
        Some(json!({ "id": "temp", "agents": ["bea"] })),
    )
    .await;
    let (_, bea) = call(&a.router, "GET", "/api/v1/agents/bea", None).await;
    assert_eq!(bea["queues"][1]["opted_in"], true, "{bea}");
}

#[tokio::test]
async fn opt_out_is_refused_when_the_queue_does_not_allow_it() {
    let a = app();
    let (status, _) = call(
        &a.router,
        "POST",
        "/api/v1/queues",
        Some(json!({ "id": "strict", "agents": ["bea"], "allow_opt_out": false })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, resp) = call(
        &a.router,
        "POST",
        "/api/v1/agents/bea/queues/strict/opt-out",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(resp["error"]
        .as_str()
        .unwrap()
        .contains("does not allow agents to opt out"));
    // Not an agent of the queue, unknown agent, unknown queue, malformed dnd body.
    let (status, _) = call(
        &a.router,
        "POST",
        "/api/v1/agents/amos/queues/strict/opt-out",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = call(
        &a.router,
        "POST",
        "/api/v1/agents/ghost/queues/demo/opt-out",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(
        &a.router,
        "POST",
        "/api/v1/agents/amos/queues/nope/opt-in",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, resp) = call(
        &a.router,
        "PUT",
        "/api/v1/agents/amos/dnd",
        Some(json!({ "dnd": "yes" })),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(resp["problems"][0]["field"], "dnd");
    let (status, _) = call(&a.router, "GET", "/api/v1/agents/ghost", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn metrics_export_queue_gauges_counters_agents_rtp_and_sip() {
    let a = app();
    a.live.set_queue(
        "demo",
        QueueLive {
            waiting: vec![waiting("c1", 1, 95), waiting("c2", 2, 40)],
            agents: BTreeMap::from([("bea".to_string(), AgentState::Available)]),
        },
    );
    a.live.set_counters(Counters {
        queues: BTreeMap::from([(
            "demo".to_string(),
            QueueCounters {
                offered: 10,
                answered: 6,
                abandoned: 2,
                overflowed: 1,
                timed_out: 1,
            },
        )]),
        rtp_streams_active: 3,
        sip_requests: BTreeMap::from([(("INVITE".to_string(), "2xx".to_string()), 9)]),
        rtp_dropped_foreign: 42,
        ..Counters::default()
    });
    call(
        &a.router,
        "PUT",
        "/api/v1/agents/amos/dnd",
        Some(json!({ "dnd": true })),
    )
    .await;
    let (status, text) = call(&a.router, "GET", "/metrics", None).await;
    assert_eq!(status, StatusCode::OK);
    let text = text.as_str().unwrap().to_owned();
    for line in [
        "holdline_calls_waiting{queue=\"demo\"} 2",
        "holdline_longest_wait_seconds{queue=\"demo\"} 95",
        "holdline_calls_offered_total{queue=\"demo\"} 10",
        "holdline_calls_answered_total{queue=\"demo\"} 6",
        "holdline_calls_abandoned_total{queue=\"demo\"} 2",
        "holdline_calls_overflowed_total{queue=\"demo\"} 1",
        "holdline_calls_timed_out_total{queue=\"demo\"} 1",
        "holdline_agents{state=\"available\"} 1",
        "holdline_agents{state=\"dnd\"} 1",
        "holdline_agents{state=\"offline\"} 0",
        "holdline_rtp_streams_active 3",
        "holdline_rtp_dropped_foreign_total 42",
        "holdline_sip_requests_total{method=\"INVITE\",class=\"2xx\"} 9",
        "# TYPE holdline_calls_offered_total counter",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
}

#[tokio::test]
async fn metrics_export_sip_connection_caps_refusals_and_expiries() {
    let a = app();
    a.live.set_counters(Counters {
        connections: holdline::api::live::ConnectionCounters {
            open: 70,
            max: 9487,
            opened: 1234,
            refused_full: 5,
            refused_per_source: 19936,
            closed_message_deadline: 2,
            closed_idle: 7,
            ..Default::default()
        },
        ..Counters::default()
    });
    let (status, text) = call(&a.router, "GET", "/metrics", None).await;
    assert_eq!(status, StatusCode::OK);
    let text = text.as_str().unwrap().to_owned();
    for line in [
        "holdline_sip_connections_open 70",
        "holdline_sip_connections_max 9487",
        "holdline_sip_connections_opened_total 1234",
        "holdline_sip_connections_refused_total{reason=\"max_connections\"} 5",
        "holdline_sip_connections_refused_total{reason=\"max_per_source\"} 19936",
        "holdline_sip_connections_expired_total{reason=\"message_deadline\"} 2",
        "holdline_sip_connections_expired_total{reason=\"idle_timeout\"} 7",
        "# TYPE holdline_sip_connections_refused_total counter",
        "# TYPE holdline_sip_connections_open gauge",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
}

#[tokio::test]
async fn event_feed_replays_the_log_after_last_event_id_then_goes_live() {
    let a = app();
    for t in [1000, 2000, 3000] {
        a.state.record_event(&event(t, "demo", "offered")).unwrap();
    }
    let req = axum::http::Request::builder()
        .uri("/api/v1/events/feed")
        .header(
            "authorization",
            format!("Bearer {}", crate::api_support::TOKEN),
        )
        .header("last-event-id", "1")
        .body(axum::body::Body::empty())
        .unwrap();
    let resp = tower::ServiceExt::oneshot(a.router.clone(), req)
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body().into_data_stream();
    a.state
        .record_event(&event(4000, "demo", "answered"))
        .unwrap();
    let mut ids = Vec::new();
    while ids.len() < 3 {
        let frame = tokio::time::timeout(std::time::Duration::from_secs(5), body.next())
            .await
            .expect("an event within 5 s")
            .unwrap()
            .unwrap();
        let text = String::from_utf8(frame.to_vec()).unwrap();
        ids.extend(
            text.lines()
                .filter_map(|l| l.strip_prefix("id: "))
                .map(str::to_owned),
        );
    }
    assert_eq!(ids, ["2", "3", "4"]);
}

#[tokio::test]
async fn malformed_event_query_is_422() {
    let a = app();
    let (status, resp) = call(&a.router, "GET", "/api/v1/events?since=yesterday", None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(resp["problems"][0]["field"], "query");
    assert!(
        resp["problems"][0]["message"]
            .as_str()
            .unwrap()
            .contains("since"),
        "{resp}"
    );
}

#[tokio::test]
async fn turning_allow_opt_out_off_and_on_again_leaves_every_agent_opted_in() {
    let a = app();
    let mut prefs = a.state.subscribe_agent_prefs();
    let (status, _) = call(
        &a.router,
        "POST",
        "/api/v1/queues",
        Some(json!({ "id": "temp", "agents": ["bea"] })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    call(
        &a.router,
        "POST",
        "/api/v1/agents/bea/queues/temp/opt-out",
        None,
    )
    .await;
    assert!(prefs.borrow_and_update().is_opted_out("bea", "temp"));
    for allow in [false, true] {
        let (status, q) = call(
            &a.router,
            "PATCH",
            "/api/v1/queues/temp",
            Some(json!({ "allow_opt_out": allow })),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{q}");
        assert_eq!(q["allow_opt_out"], allow);
    }
    assert!(
        !prefs.borrow_and_update().is_opted_out("bea", "temp"),
        "the runtime hears that bea is opted in again"
    );
    let (_, bea) = call(&a.router, "GET", "/api/v1/agents/bea", None).await;
    let temp = bea["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["queue"] == "temp")
        .cloned()
        .unwrap();
    assert_eq!(
        temp,
        json!({ "queue": "temp", "opted_in": true, "allow_opt_out": true })
    );
}

#[tokio::test]
async fn metrics_export_connection_reuse() {
    let a = app();
    a.live.set_counters(Counters {
        connections: holdline::api::live::ConnectionCounters {
            outbound_open: 3,
            outbound_opened: 11,
            reused: 4711,
            closed_outbound_idle: 8,
            tls: holdline::api::live::TlsCounters {
                inbound_handshakes: 5,
                inbound_failed: 2,
                outbound_failed: 1,
                reloads: 3,
                reload_failures: 1,
            },
            ..Default::default()
        },
        ..Counters::default()
    });
    let (status, text) = call(&a.router, "GET", "/metrics", None).await;
    assert_eq!(status, StatusCode::OK);
    let text = text.as_str().unwrap().to_owned();
    for line in [
        "# TYPE holdline_sip_connections_outbound_open gauge",
        "holdline_sip_connections_outbound_open 3",
        "# TYPE holdline_sip_connections_outbound_opened_total counter",
        "holdline_sip_connections_outbound_opened_total 11",
        "holdline_sip_connections_reused_total 4711",
        "holdline_sip_connections_outbound_idle_closed_total 8",
        "holdline_sip_tls_inbound_handshakes_total 5",
        "holdline_sip_tls_inbound_handshake_failures_total 2",
        "holdline_sip_tls_outbound_handshake_failures_total 1",
        "holdline_sip_tls_reloads_total 3",
        "holdline_sip_tls_reload_failures_total 1",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
    }
}
