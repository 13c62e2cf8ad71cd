//! The registrar's bindings through the API, from a fake live state: listing a user's
//! bindings, removing one (204, then 404), an unknown user (404), a binding number that is no
//! number (422), the registrar's gauges and counters in /metrics, and `holdline user
//! registrations` against the API on loopback.

use crate::api_support::{app, call};
use axum::http::StatusCode;
use holdline::api::live::{Counters, RegistrarCounters, RegistrationInfo};
use serde_json::json;

fn binding(contact: &str) -> RegistrationInfo {
    RegistrationInfo {
        contact: contact.into(),
        source: "203.0.113.9:40000".into(),
        transport: "udp".into(),
        user_agent: Some("TestPhone 1.0".into()),
        instance: None,
        path: vec![],
        expires_in_secs: 3599,
    }
}

#[tokio::test]
async fn registrations_are_listed_and_removed() {
    let a = app();
    a.live.set_registrations(
        "amos",
        vec![
            binding("<sip:amos@10.0.0.5:5060>"),
            binding("<sip:amos@10.0.0.6:5060>"),
        ],
    );
    let (status, body) = call(&a.router, "GET", "/api/v1/users/amos/registrations", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body[0],
        json!({ "contact": "<sip:amos@10.0.0.5:5060>", "source": "203.0.113.9:40000",
                "transport": "udp", "user_agent": "TestPhone 1.0", "expires_in_secs": 3599 })
    );
    assert_eq!(body.as_array().map(Vec::len), Some(2));
    // bea is a user without bindings: an empty list, not 404.
    let (status, body) = call(&a.router, "GET", "/api/v1/users/bea/registrations", None).await;
    assert_eq!((status, body), (StatusCode::OK, json!([])));
    let (status, _) = call(&a.router, "GET", "/api/v1/users/nobody/registrations", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, _) = call(
        &a.router,
        "DELETE",
        "/api/v1/users/amos/registrations/0",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, body) = call(&a.router, "GET", "/api/v1/users/amos/registrations", None).await;
    assert_eq!(body[0]["contact"], "<sip:amos@10.0.0.6:5060>");
    assert_eq!(body.as_array().map(Vec::len), Some(1));
    let (status, _) = call(
        &a.router,
        "DELETE",
        "/api/v1/users/amos/registrations/5",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(
        &a.router,
        "DELETE",
        "/api/v1/users/amos/registrations/x",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn metrics_show_registered_users_bindings_and_auth_failures() {
    let a = app();
    a.live.set_counters(Counters {
        registrar: RegistrarCounters {
            users: 2,
            bindings: 3,
            registrations_total: 40,
            auth_failures_total: 17,
            auth_bans_total: 1,
        },
        ..Counters::default()
    });
    let (status, body) = call(&a.router, "GET", "/metrics", None).await;
    assert_eq!(status, StatusCode::OK);
    let text = body.as_str().unwrap();
    for line in [
        "# TYPE holdline_registered_users gauge",
        "holdline_registered_users 2",
        "# TYPE holdline_registered_bindings gauge",
        "holdline_registered_bindings 3",
        "holdline_registrations_total 40",
        "# TYPE holdline_auth_failures_total counter",
        "holdline_auth_failures_total 17",
        "holdline_auth_failure_bans_total 1",
    ] {
        assert!(text.lines().any(|l| l == line), "{line:?} missing:\n{text}");
    }
}

/// The API on 127.0.0.1:0 over `live`, in a background runtime; returns its address.
fn server(live: std::sync::Arc<holdline::api::MemoryLive>) -> String {
    use holdline::api::{serve, ApiState, Provisioning};
    use holdline::store::Store;
    let (mut prov, _) = Provisioning::open(
        Store::open_in_memory().unwrap(),
        crate::api_support::file_source(),
    )
    .unwrap();
    prov.set_check_files(false);
    let state = ApiState::new(prov, live, Some(crate::api_support::TOKEN.to_owned()));
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
            serve(listener, state, std::future::pending())
                .await
                .unwrap();
        });
    });
    addr
}

#[test]
fn cli_lists_numbered_bindings_and_removes_one() {
    use holdline::api::cli::{run_registrations, ApiArgs};
    let live = std::sync::Arc::new(holdline::api::MemoryLive::default());
    live.set_registrations(
        "amos",
        vec![
            binding("<sip:amos@10.0.0.5:5060>"),
            binding("<sip:amos@10.0.0.6:5060>"),
        ],
    );
    let addr = server(live);
    let args = |json| ApiArgs {
        api: Some(addr.clone()),
        token: Some(crate::api_support::TOKEN.to_owned()),
        json,
    };
    let table = run_registrations("amos", None, &args(false)).unwrap();
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("N  CONTACT"), "{table}");
    assert!(
        lines[1].starts_with("0  <sip:amos@10.0.0.5:5060>"),
        "{table}"
    );
    assert!(
        lines[2].starts_with("1  <sip:amos@10.0.0.6:5060>"),
        "{table}"
    );
    assert!(
        lines[1].contains("203.0.113.9:40000") && lines[1].contains("udp"),
        "{table}"
    );
    assert_eq!(
        run_registrations("amos", Some(0), &args(false)).unwrap(),
        "removed registration 0 of amos"
    );
    let json: serde_json::Value =
        serde_json::from_str(&run_registrations("amos", None, &args(true)).unwrap()).unwrap();
    assert_eq!(json.as_array().map(Vec::len), Some(1));
    assert_eq!(json[0]["contact"], "<sip:amos@10.0.0.6:5060>");
    let err = run_registrations("nobody", None, &args(false)).unwrap_err();
    assert_eq!(err.exit_code(), 1, "{err}");
}
