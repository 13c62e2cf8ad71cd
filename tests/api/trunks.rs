//! Trunks' SBCs and their health through the API, from a fake live state:
//! `GET /api/v1/trunks`, `GET /api/v1/trunks/{id}/status` (404 for an unknown trunk), and
//! the per-SBC gauges in /metrics.

use std::path::PathBuf;
use std::sync::Arc;

use crate::api_support::{call, file_source, FILE};
use axum::http::StatusCode;
use holdline::api::live::SbcHealthInfo;
use holdline::api::{router, ApiState, FileSource, MemoryLive, Provisioning};
use holdline::store::Store;
use serde_json::json;

const TRUNKS: &str = r#"
[[trunk]]
id = "carrier"
sbcs = [{ uri = "sip:192.0.2.10:5060", priority = 1, weight = 50 },
        { uri = "sip:192.0.2.11:5060", priority = 2 }]
health_interval = 30
allow = ["+1*"]

[[trunk]]
id = "backup"
proxy = "sip:198.51.100.10"
allow = ["+1*"]
"#;

fn app() -> (axum::Router, Arc<MemoryLive>) {
    let source = FileSource {
        text: format!("{FILE}{TRUNKS}"),
        base_dir: PathBuf::from("/etc/holdline"),
        ..file_source()
    };
    let (mut prov, _) = Provisioning::open(Store::open_in_memory().unwrap(), source).unwrap();
    prov.set_check_files(false);
    let live = Arc::new(MemoryLive::default());
    let state = ApiState::new(
        prov,
        live.clone(),
        Some(crate::api_support::TOKEN.to_owned()),
    );
    live.set_sbcs(vec![
        SbcHealthInfo {
            trunk: "carrier".into(),
            uri: "sip:192.0.2.10:5060".into(),
            state: "up".into(),
            rtt_ms: Some(42),
            retry_after_secs: None,
            failures_in_a_row: 0,
        },
        SbcHealthInfo {
            trunk: "carrier".into(),
            uri: "sip:192.0.2.11:5060".into(),
            state: "down".into(),
            rtt_ms: None,
            retry_after_secs: Some(20),
            failures_in_a_row: 3,
        },
    ]);
    (router(state), live)
}

#[tokio::test]
async fn trunks_list_their_sbcs_with_health() {
    let (router, _) = app();
    let (status, body) = call(&router, "GET", "/api/v1/trunks", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body[0],
        json!({ "id": "carrier", "health_checks": true, "sbcs": [
            { "uri": "sip:192.0.2.10:5060", "priority": 1, "weight": 50, "state": "up",
              "rtt_ms": 42, "retry_after_secs": null, "failures_in_a_row": 0 },
            { "uri": "sip:192.0.2.11:5060", "priority": 2, "weight": 1, "state": "down",
              "rtt_ms": null, "retry_after_secs": 20, "failures_in_a_row": 3 },
        ]})
    );
    assert_eq!(body[1]["health_checks"], json!(false));
    assert_eq!(body[1]["sbcs"][0]["state"], json!("unchecked"));

    let (status, body) = call(&router, "GET", "/api/v1/trunks/backup/status", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["sbcs"][0]["uri"], json!("sip:198.51.100.10"));
    let (status, _) = call(&router, "GET", "/api/v1/trunks/nobody/status", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn metrics_have_a_gauge_per_sbc() {
    let (router, _) = app();
    let (_, body) = call(&router, "GET", "/metrics", None).await;
    let text = body.as_str().unwrap();
    for line in [
        "# TYPE holdline_trunk_sbc_up gauge",
        "holdline_trunk_sbc_up{trunk=\"carrier\",sbc=\"sip:192.0.2.10:5060\"} 1",
        "holdline_trunk_sbc_up{trunk=\"carrier\",sbc=\"sip:192.0.2.11:5060\"} 0",
        "holdline_trunk_sbc_rtt_seconds{trunk=\"carrier\",sbc=\"sip:192.0.2.10:5060\"} 0.042",
    ] {
        assert!(text.lines().any(|l| l == line), "{line:?} missing:\n{text}");
    }
}
