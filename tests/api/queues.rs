//! Queue provisioning through the API (axum oneshot): create, get, list, partial update,
//! delete, every validation error as a 422 naming the field, and file objects being read-only.

use crate::api_support::{app, call, problems};
use axum::http::StatusCode;
use serde_json::{json, Value};

/// Creates `body` as a queue and expects a 422 with a problem on `field` whose message
/// contains `needle`.
async fn rejects(body: Value, field: &str, needle: &str) {
    let a = app();
    let (status, resp) = call(&a.router, "POST", "/api/v1/queues", Some(body.clone())).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {resp}");
    let ps = problems(&resp);
    assert!(
        ps.iter().any(|(f, m)| f == field && m.contains(needle)),
        "{body}: expected a problem on {field} containing {needle:?}, got {ps:?}"
    );
    // Nothing was written.
    let (_, list) = call(&a.router, "GET", "/api/v1/queues", None).await;
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
}

#[tokio::test]
async fn created_queue_is_listed_with_its_defaults() {
    let a = app();
    let (status, q) = call(
        &a.router,
        "POST",
        "/api/v1/queues",
        Some(json!({ "id": "sales", "name": "UK Sales", "numbers": ["+1 425 555 0101"], "agents": ["bea"] })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{q}");
    assert_eq!(q["numbers"], json!(["+14255550101"]));
    assert_eq!(q["max_wait"], 1200);
    assert_eq!(q["max_calls"], 50);
    assert_eq!(q["agent_alert_time"], 30);
    assert_eq!(q["routing"], "attendant");
    assert_eq!(q["on_overflow"], json!({ "action": "busy" }));
    assert_eq!(q["origin"], "api");
    let (status, got) = call(&a.router, "GET", "/api/v1/queues/sales", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got, q);
    let (_, list) = call(&a.router, "GET", "/api/v1/queues", None).await;
    let ids: Vec<(&str, &str)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|q| (q["id"].as_str().unwrap(), q["origin"].as_str().unwrap()))
        .collect();
    assert_eq!(ids, [("demo", "file"), ("sales", "api")]);
}

#[tokio::test]
async fn new_queue_is_published_to_the_config_watch_at_once() {
    let a = app();
    let mut rx = a.state.subscribe_config();
    assert!(rx
        .borrow_and_update()
        .queues
        .iter()
        .all(|q| q.id.as_str() != "sales"));
    let body = json!({ "id": "sales", "numbers": ["+14255550101"] });
    let (status, _) = call(&a.router, "POST", "/api/v1/queues", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(rx.has_changed().unwrap());
    let config = rx.borrow_and_update().clone();
    let dir = holdline::config::ServiceDirectory::new(&config);
    let n = holdline::number::E164::parse("+14255550101").unwrap();
    assert_eq!(dir.lookup_number(&n).map(|q| q.as_str()), Some("sales"));
}

#[tokio::test]
async fn partial_update_changes_only_the_given_fields_and_null_resets() {
    let a = app();
    let body = json!({ "id": "sales", "name": "Sales", "max_wait": 600, "max_calls": 10 });
    call(&a.router, "POST", "/api/v1/queues", Some(body)).await;
    let (status, q) = call(
        &a.router,
        "PATCH",
        "/api/v1/queues/sales",
        Some(json!({ "max_calls": 20 })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{q}");
    assert_eq!(
        (
            q["max_calls"].clone(),
            q["max_wait"].clone(),
            q["name"].clone()
        ),
        (json!(20), json!(600), json!("Sales"))
    );
    let (_, q) = call(
        &a.router,
        "PATCH",
        "/api/v1/queues/sales",
        Some(json!({ "max_wait": null })),
    )
    .await;
    assert_eq!(q["max_wait"], 1200);
    // An invalid patch changes nothing.
    let (status, _) = call(
        &a.router,
        "PATCH",
        "/api/v1/queues/sales",
        Some(json!({ "max_calls": 500 })),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, q) = call(&a.router, "GET", "/api/v1/queues/sales", None).await;
    assert_eq!(q["max_calls"], 20);
    let (status, resp) = call(
        &a.router,
        "PATCH",
        "/api/v1/queues/sales",
        Some(json!({ "id": "other" })),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problems(&resp)[0].0, "id");
}

#[tokio::test]
async fn delete_removes_the_queue_and_frees_its_numbers() {
    let a = app();
    call(
        &a.router,
        "POST",
        "/api/v1/queues",
        Some(json!({ "id": "sales", "numbers": ["+14255550101"] })),
    )
    .await;
    let (_, n) = call(&a.router, "GET", "/api/v1/numbers/+14255550101", None).await;
    assert_eq!(n["assigned_to"], "queue:sales");
    let (status, body) = call(&a.router, "DELETE", "/api/v1/queues/sales", None).await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
    let (status, _) = call(&a.router, "GET", "/api/v1/queues/sales", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, n) = call(&a.router, "GET", "/api/v1/numbers/+14255550101", None).await;
    assert_eq!(n["assigned_to"], Value::Null);
    // The number can be given to another queue now.
    let (status, _) = call(
        &a.router,
        "POST",
        "/api/v1/queues",
        Some(json!({ "id": "other", "numbers": ["+14255550101"] })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn file_queue_is_read_only_and_names_the_file() {
    let a = app();
    for (method, path, body) in [
        (
            "PATCH",
            "/api/v1/queues/demo",
            Some(json!({ "max_calls": 3 })),
        ),
        ("DELETE", "/api/v1/queues/demo", None),
        ("POST", "/api/v1/queues", Some(json!({ "id": "demo" }))),
    ] {
        let (status, resp) = call(&a.router, method, path, body).await;
        assert_eq!(status, StatusCode::CONFLICT, "{method} {path}");
        let msg = resp["error"].as_str().unwrap();
        assert!(
            msg.contains("/etc/holdline/holdline.toml") && msg.contains("queue \"demo\""),
            "{msg}"
        );
    }
}

#[tokio::test]
async fn second_queue_with_the_same_id_is_a_conflict() {
    let a = app();
    call(
        &a.router,
        "POST",
        "/api/v1/queues",
        Some(json!({ "id": "sales" })),
    )
    .await;
    let (status, resp) = call(
        &a.router,
        "POST",
        "/api/v1/queues",
        Some(json!({ "id": "sales" })),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(resp["error"].as_str().unwrap().contains("already exists"));
}

#[tokio::test]
async fn unknown_queue_is_404() {
    let a = app();
    for (method, body) in [("GET", None), ("PATCH", Some(json!({}))), ("DELETE", None)] {
        let (status, resp) = call(&a.router, method, "/api/v1/queues/nope", body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method}");
        assert_eq!(resp["error"], "queue \"nope\" does not exist");
    }
}

#[tokio::test]
async fn body_that_is_not_json_is_400() {
    let a = app();
    let req = axum::http::Request::builder()
        .method("POST")
        .uri("/api/v1/queues")
        .header(
            "authorization",
            format!("Bearer {}", crate::api_support::TOKEN),
        )
        .body(axum::body::Body::from("{not json"))
        .unwrap();
    let resp = tower::ServiceExt::oneshot(a.router.clone(), req)
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn name_longer_than_64_characters_is_refused() {
    rejects(
        json!({ "id": "q", "name": "x".repeat(65) }),
        "name",
        "the limit is 64",
    )
    .await;
}

#[tokio::test]
async fn max_calls_outside_0_to_200_is_refused() {
    rejects(json!({ "id": "q", "max_calls": 201 }), "max_calls", "0–200").await;
    rejects(json!({ "id": "q", "max_calls": -1 }), "max_calls", "0–200").await;
}

#[tokio::test]
async fn max_wait_must_be_0_to_2700_in_steps_of_15() {
    rejects(
        json!({ "id": "q", "max_wait": 50 }),
        "max_wait",
        "not a multiple of 15",
    )
    .await;
    rejects(json!({ "id": "q", "max_wait": 2715 }), "max_wait", "0–2700").await;
}

#[tokio::test]
async fn alert_time_outside_15_to_180_is_refused() {
    rejects(
        json!({ "id": "q", "agent_alert_time": 14 }),
        "agent_alert_time",
        "15–180",
    )
    .await;
    rejects(
        json!({ "id": "q", "agent_alert_time": 181 }),
        "agent_alert_time",
        "15–180",
    )
    .await;
}

#[tokio::test]
async fn targets_must_exist() {
    rejects(
        json!({ "id": "q", "agents": ["nobody"] }),
        "agents",
        "\"nobody\" is not a [[user]]",
    )
    .await;
    rejects(
        json!({ "id": "q", "groups": ["nogroup"] }),
        "groups",
        "is not a [[group]]",
    )
    .await;
    rejects(
        json!({ "id": "q", "on_timeout": { "action": "forward", "to": "queue:nope" } }),
        "on_timeout",
        "does not exist",
    )
    .await;
    rejects(
        json!({ "id": "q", "on_overflow": { "action": "forward", "to": "user:nope" } }),
        "on_overflow",
        "does not exist",
    )
    .await;
    rejects(
        json!({ "id": "q", "on_timeout": { "action": "forward", "to": "tel:+33123456789" } }),
        "on_timeout",
        "no [[trunk]]",
    )
    .await;
}

#[tokio::test]
async fn auto_attendant_targets_are_refused_with_the_reason() {
    // There are no auto attendants yet: accepted, every such forward would end in 480.
    for field in ["on_overflow", "on_timeout", "no_agents"] {
        rejects(
            json!({ "id": "q", field: { "action": "forward", "to": "aa:main" } }),
            field,
            "forwards to aa:main, an auto attendant, but auto attendants are not available yet",
        )
        .await;
    }
}

#[tokio::test]
async fn forwarding_loop_is_refused() {
    let a = app();
    call(
        &a.router,
        "POST",
        "/api/v1/queues",
        Some(json!({ "id": "b" })),
    )
    .await;
    let (status, _) = call(
        &a.router,
        "POST",
        "/api/v1/queues",
        Some(json!({ "id": "a", "on_timeout": { "action": "forward", "to": "queue:b" } })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, resp) = call(
        &a.router,
        "PATCH",
        "/api/v1/queues/b",
        Some(json!({ "on_overflow": { "action": "forward", "to": "queue:a" } })),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        problems(&resp)
            .iter()
            .any(|(_, m)| m.contains("forwarding loop")),
        "{resp}"
    );
    // A self-forward is a loop too.
    let (status, _) = call(
        &a.router,
        "POST",
        "/api/v1/queues",
        Some(json!({ "id": "c", "no_agents": { "action": "forward", "to": "queue:c" } })),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn numbers_must_be_free_declared_service_numbers() {
    rejects(
        json!({ "id": "q", "numbers": ["+14255550199"] }),
        "numbers",
        "cannot be assigned to queue",
    )
    .await;
    rejects(
        json!({ "id": "q", "numbers": ["+14255550100"] }),
        "numbers",
        "assigned to both queue \"demo\"",
    )
    .await;
    rejects(
        json!({ "id": "q", "numbers": ["+14255550177"] }),
        "numbers",
        "not declared",
    )
    .await;
    rejects(
        json!({ "id": "q", "numbers": ["12ab"] }),
        "numbers",
        "\"12ab\"",
    )
    .await;
}

#[tokio::test]
async fn enumerations_and_actions_are_checked() {
    rejects(
        json!({ "id": "q", "routing": "random" }),
        "routing",
        "not one of",
    )
    .await;
    rejects(json!({ "id": "q", "offer": "all" }), "offer", "not one of").await;
    rejects(
        json!({ "id": "q", "on_overflow": { "action": "explode" } }),
        "on_overflow",
        "not one of",
    )
    .await;
    rejects(
        json!({ "id": "q", "on_timeout": { "action": "forward" } }),
        "on_timeout",
        "needs to = TARGET",
    )
    .await;
    rejects(
        json!({ "id": "q", "answer_delay_ms": 40000 }),
        "answer_delay_ms",
        "0–30000",
    )
    .await;
    rejects(json!({ "id": "q", "wrap_up": 4000 }), "wrap_up", "0–3600").await;
    rejects(json!({ "id": "bad id!" }), "id", "may contain only").await;
}

#[tokio::test]
async fn wrong_shapes_name_the_field() {
    rejects(
        json!({ "id": "q", "max_wiat": 60 }),
        "max_wiat",
        "unknown field",
    )
    .await;
    rejects(
        json!({ "id": "q", "max_wait": "long" }),
        "max_wait",
        "invalid type",
    )
    .await;
    rejects(json!({ "name": "no id" }), "id", "missing field").await;
    rejects(
        json!({ "id": "q", "on_timeout": { "action": 3 } }),
        "on_timeout.action",
        "invalid type",
    )
    .await;
    rejects(json!(["not", "an", "object"]), ".", "").await;
}

/// Half a second of a 440 Hz tone as 8 kHz 16-bit mono PCM WAV.
fn wav_440hz() -> Vec<u8> {
    let samples: Vec<i16> = (0..4000)
        .map(|i| ((i as f64 * 440.0 * std::f64::consts::TAU / 8000.0).sin() * 8000.0) as i16)
        .collect();
    let data_len = (samples.len() * 2) as u32;
    let mut w = b"RIFF".to_vec();
    w.extend_from_slice(&(36 + data_len).to_le_bytes());
    w.extend_from_slice(b"WAVEfmt ");
    w.extend_from_slice(&16u32.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes()); // PCM
    w.extend_from_slice(&1u16.to_le_bytes()); // mono
    w.extend_from_slice(&8000u32.to_le_bytes());
    w.extend_from_slice(&16000u32.to_le_bytes()); // byte rate
    w.extend_from_slice(&2u16.to_le_bytes()); // block align
    w.extend_from_slice(&16u16.to_le_bytes());
    w.extend_from_slice(b"data");
    w.extend_from_slice(&data_len.to_le_bytes());
    samples
        .iter()
        .for_each(|s| w.extend_from_slice(&s.to_le_bytes()));
    w
}

#[tokio::test]
async fn greeting_file_must_exist_and_decode_relative_to_the_config_directory() {
    let dir = tempfile::tempdir().unwrap();
    let mut source = crate::api_support::file_source();
    source.base_dir = dir.path().to_owned();
    let store = holdline::store::Store::open_in_memory().unwrap();
    let (mut p, _) = holdline::api::Provisioning::open(store, source).unwrap();
    match p.create(
        holdline::store::Kind::Queue,
        json!({ "id": "q", "greeting": "hello.wav" }),
    ) {
        Err(holdline::api::ApiError::Invalid(ps)) => {
            assert_eq!(ps[0].field, "greeting");
            assert!(ps[0].message.contains("hello.wav"), "{}", ps[0].message);
        }
        other => panic!("expected 422, got {other:?}"),
    }
    // A file that exists but does not decode is refused with the reason; nothing is stored.
    std::fs::write(dir.path().join("hello.wav"), b"RIFF").unwrap();
    match p.create(
        holdline::store::Kind::Queue,
        json!({ "id": "q", "greeting": "hello.wav" }),
    ) {
        Err(holdline::api::ApiError::Invalid(ps)) => {
            assert_eq!((ps.len(), ps[0].field.as_str()), (1, "greeting"), "{ps:?}");
            assert!(ps[0].message.contains("hello.wav"), "{}", ps[0].message);
        }
        other => panic!("expected 422 for a corrupt file, got {other:?}"),
    }
    assert!(p.get(holdline::store::Kind::Queue, "q").is_err());
    std::fs::write(dir.path().join("hello.wav"), wav_440hz()).unwrap();
    let q = p
        .create(
            holdline::store::Kind::Queue,
            json!({ "id": "q", "greeting": "hello.wav" }),
        )
        .unwrap();
    assert_eq!(
        q["greeting"],
        dir.path().join("hello.wav").display().to_string()
    );
}

#[tokio::test]
async fn a_view_sent_back_with_a_change_is_a_valid_update() {
    let a = app();
    let body = json!({ "id": "sales", "agents": ["bea"], "numbers": ["+14255550101"] });
    let (_, mut q) = call(&a.router, "POST", "/api/v1/queues", Some(body)).await;
    q["max_calls"] = json!(9);
    let (status, got) = call(&a.router, "PATCH", "/api/v1/queues/sales", Some(q.clone())).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got, q);
}

#[tokio::test]
async fn names_addresses_media_and_duplicates_are_checked() {
    rejects(
        json!({ "id": "q", "name": "two\nlines" }),
        "name",
        "one line",
    )
    .await;
    rejects(json!({ "id": "q", "name": " " }), "name", "non-empty").await;
    rejects(
        json!({ "id": "q", "addresses": ["sales"] }),
        "addresses",
        "\"sales\"",
    )
    .await;
    rejects(
        json!({ "id": "q", "addresses": ["sip:example.com"] }),
        "addresses",
        "no user part",
    )
    .await;
    rejects(json!({ "id": "q", "greeting": "" }), "greeting", "empty").await;
    rejects(
        json!({ "id": "q", "music_on_hold": "" }),
        "music_on_hold",
        "empty",
    )
    .await;
    rejects(
        json!({ "id": "q", "agents": ["amos", "amos"] }),
        "agents",
        "listed twice",
    )
    .await;
    rejects(
        json!({ "id": "q", "numbers": ["+14255550101", "+14255550101"] }),
        "numbers",
        "listed twice",
    )
    .await;
}

#[tokio::test]
async fn more_than_50_agents_is_refused() {
    let a = app();
    let mut agents = Vec::new();
    for i in 0..51 {
        let id = format!("agent{i}");
        let (status, _) = call(
            &a.router,
            "POST",
            "/api/v1/users",
            Some(json!({ "id": id })),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
        agents.push(id);
    }
    let (status, _) = call(
        &a.router,
        "POST",
        "/api/v1/queues",
        Some(json!({ "id": "q", "agents": agents[..50] })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, resp) = call(
        &a.router,
        "PATCH",
        "/api/v1/queues/q",
        Some(json!({ "agents": agents })),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        problems(&resp)
            .iter()
            .any(|(f, m)| f == "agents" && m.contains("has 51 agents")),
        "{resp}"
    );
}

#[tokio::test]
async fn queue_address_routes_like_the_file_ones() {
    let a = app();
    let (status, q) = call(
        &a.router,
        "POST",
        "/api/v1/queues",
        Some(json!({ "id": "q", "addresses": ["sip:sales@example.com"] })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{q}");
    assert_eq!(q["addresses"], json!(["sip:sales@example.com"]));
    let (status, resp) = call(
        &a.router,
        "POST",
        "/api/v1/queues",
        Some(json!({ "id": "r", "addresses": ["sip:sales@example.com"] })),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        problems(&resp)
            .iter()
            .any(|(f, m)| f == "addresses" && m.contains("both queue \"q\"")),
        "{resp}"
    );
}

#[tokio::test]
async fn embedded_default_objects_say_how_to_change_them() {
    let store = holdline::store::Store::open_in_memory().unwrap();
    let (mut p, _) =
        holdline::api::Provisioning::open(store, holdline::api::FileSource::embedded_default())
            .unwrap();
    let err = p
        .update(
            holdline::store::Kind::Queue,
            "demo",
            &json!({ "max_calls": 3 }),
        )
        .unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, holdline::api::ApiError::ReadOnly { .. }),
        "{err:?}"
    );
    assert!(
        text.contains("embedded default") && text.contains("holdline serve --config FILE"),
        "{text}"
    );
    assert!(!text.contains("change it there"), "{text}");
}

#[tokio::test]
async fn service_level_is_shown_set_and_checked() {
    rejects(
        json!({ "id": "q", "service_level": 2401 }),
        "service_level",
        "0–2400",
    )
    .await;
    rejects(
        json!({ "id": "q", "service_level": -5 }),
        "service_level",
        "0–2400",
    )
    .await;
    let a = app();
    let (status, q) = call(
        &a.router,
        "POST",
        "/api/v1/queues",
        Some(json!({ "id": "sl" })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{q}");
    assert_eq!(q["service_level"], 20, "the default");
    let (status, q) = call(
        &a.router,
        "PATCH",
        "/api/v1/queues/sl",
        Some(json!({ "service_level": 45 })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{q}");
    assert_eq!(q["service_level"], 45);
}
