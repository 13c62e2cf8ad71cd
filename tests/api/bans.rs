//! Admission control's bans through the API, from a fake live state: listing, lifting (204,
//! then 404), an address that is no IP (422), and the counters in /metrics.

use crate::api_support::{app, call};
use axum::http::StatusCode;
use holdline::api::live::{AdmissionCounters, BanInfo, Counters};
use serde_json::json;

fn ban(addr: &str) -> BanInfo {
    BanInfo {
        addr: addr.into(),
        reason: "request-rate".into(),
        banned_secs: 3,
        expires_in_secs: 57,
        dropped: 1200,
    }
}

#[tokio::test]
async fn bans_are_listed_and_lifted() {
    let a = app();
    a.live.set_bans(vec![ban("192.0.2.9"), ban("2001:db8::9")]);
    let (status, body) = call(&a.router, "GET", "/api/v1/bans", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body[0],
        json!({ "addr": "192.0.2.9", "reason": "request-rate", "banned_secs": 3,
                "expires_in_secs": 57, "dropped": 1200 })
    );
    assert_eq!(body.as_array().map(Vec::len), Some(2));

    let (status, _) = call(&a.router, "DELETE", "/api/v1/bans/192.0.2.9", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // An IPv6 address, percent-encoded as the CLI sends it.
    let (status, _) = call(&a.router, "DELETE", "/api/v1/bans/2001%3Adb8%3A%3A9", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, body) = call(&a.router, "GET", "/api/v1/bans", None).await;
    assert_eq!(body, json!([]));

    let (status, body) = call(&a.router, "DELETE", "/api/v1/bans/192.0.2.9", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = call(&a.router, "DELETE", "/api/v1/bans/nobody", None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        body["problems"][0],
        json!({ "subject": "ban", "field": "addr", "message": "ban: \"nobody\" is not an IP address" })
    );
}

#[tokio::test]
async fn metrics_count_bans_and_dropped_datagrams() {
    let a = app();
    a.live.set_counters(Counters {
        admission: AdmissionCounters {
            bans_active: 2,
            bans_total: 5,
            dropped_total: 12_345,
            inbound_refused_total: 7,
        },
        ..Counters::default()
    });
    let (status, body) = call(&a.router, "GET", "/metrics", None).await;
    assert_eq!(status, StatusCode::OK);
    let text = body.as_str().unwrap();
    for line in [
        "# TYPE holdline_bans_active gauge",
        "holdline_bans_active 2",
        "# TYPE holdline_bans_total counter",
        "holdline_bans_total 5",
        "holdline_admission_dropped_total 12345",
        "# TYPE holdline_inbound_refused_total counter",
        "holdline_inbound_refused_total 7",
    ] {
        assert!(text.lines().any(|l| l == line), "{line:?} missing:\n{text}");
    }
}
