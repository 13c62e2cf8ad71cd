//! Caller-ID policies through the API (`/api/v1/clid-policies`, Teams' `New-` / `Set-` /
//! `Get-` / `Remove-CsCallingLineIdentity` and `Grant-CsCallingLineIdentity`), and users'
//! outbound fields: validated as the file is, stored, granted, references kept valid.

use crate::api_support::{app, call, problems};
use axum::http::StatusCode;
use serde_json::json;

#[tokio::test]
async fn a_policy_is_created_granted_shown_and_kept_valid() {
    let a = app();
    let (status, p) = call(
        &a.router,
        "POST",
        "/api/v1/clid-policies",
        Some(json!({ "id": "demo-cid", "mode": "service-number", "service_number": "+1 425 555 0100", "allow_override": true })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    assert_eq!(
        p,
        json!({ "id": "demo-cid", "mode": "service-number", "service_number": "+14255550100",
                "allow_override": true, "granted_to": [], "origin": "api" })
    );
    // A user made through the API with an outbound grant of their own.
    let (status, u) = call(
        &a.router,
        "POST",
        "/api/v1/users",
        Some(json!({ "id": "cy", "password": "c", "outbound": "international" })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{u}");
    assert_eq!(
        (
            u["outbound"].clone(),
            u["clid_policy"].clone(),
            u["identify_by_source"].clone()
        ),
        (json!("international"), json!(null), json!(false))
    );
    // Granted: the user's clid_policy, and the policy lists the user.
    let (status, u) = call(
        &a.router,
        "POST",
        "/api/v1/clid-policies/demo-cid/grant",
        Some(json!({ "user": "cy" })),
    )
    .await;
    assert_eq!(
        (status, u["clid_policy"].clone()),
        (StatusCode::OK, json!("demo-cid")),
        "{u}"
    );
    let (_, p) = call(&a.router, "GET", "/api/v1/clid-policies/demo-cid", None).await;
    assert_eq!(p["granted_to"], json!(["cy"]));
    // The running configuration has it.
    let config = a.state.prov().config();
    let policy = config
        .outbound
        .policy_for(&holdline::config::UserId("cy".into()))
        .expect("granted");
    assert_eq!(policy.id, "demo-cid");

    // A granted policy cannot go while a user names it; a file user is read-only; an unknown
    // policy is 404.
    let (status, resp) = call(&a.router, "DELETE", "/api/v1/clid-policies/demo-cid", None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{resp}");
    assert!(
        problems(&resp)
            .iter()
            .any(|(f, m)| f == "clid_policy" && m.contains("demo-cid")),
        "{resp}"
    );
    let (status, _) = call(
        &a.router,
        "POST",
        "/api/v1/clid-policies/demo-cid/grant",
        Some(json!({ "user": "amos" })),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = call(
        &a.router,
        "POST",
        "/api/v1/clid-policies/nope/grant",
        Some(json!({ "user": "cy" })),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Revoked through the user, then the policy can be changed and removed.
    let (status, u) = call(
        &a.router,
        "PATCH",
        "/api/v1/users/cy",
        Some(json!({ "clid_policy": null })),
    )
    .await;
    assert_eq!(
        (status, u["clid_policy"].clone()),
        (StatusCode::OK, json!(null))
    );
    let (status, p) = call(
        &a.router,
        "PATCH",
        "/api/v1/clid-policies/demo-cid",
        Some(json!({ "mode": "anonymous", "service_number": null })),
    )
    .await;
    assert_eq!(
        (status, p["mode"].clone()),
        (StatusCode::OK, json!("anonymous")),
        "{p}"
    );
    let (status, _) = call(&a.router, "DELETE", "/api/v1/clid-policies/demo-cid", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn invalid_policies_and_outbound_fields_are_422_naming_the_field() {
    let a = app();
    for (body, field, needle) in [
        (
            json!({ "id": "x", "mode": "service-number", "service_number": "+14255550199" }),
            "service_number",
            "declared as user",
        ),
        (
            json!({ "id": "x", "mode": "service-number", "service_number": "+14255550777" }),
            "service_number",
            "is not a [[number]]",
        ),
        (json!({ "id": "x", "mode": "hidden" }), "mode", "not one of"),
    ] {
        let (status, resp) = call(
            &a.router,
            "POST",
            "/api/v1/clid-policies",
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let ps = problems(&resp);
        assert!(
            ps.iter().any(|(f, m)| f == field && m.contains(needle)),
            "{body}: {ps:?}"
        );
    }
    let (status, resp) = call(
        &a.router,
        "POST",
        "/api/v1/users",
        Some(json!({ "id": "dee", "outbound": "everywhere" })),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        problems(&resp)
            .iter()
            .any(|(f, m)| f == "outbound" && m.contains("everywhere")),
        "{resp}"
    );
}

#[tokio::test]
async fn metrics_count_outbound_calls_placed_and_refused() {
    use holdline::api::live::{Counters, OutboundCounters};
    let a = app();
    a.live.set_counters(Counters {
        outbound: OutboundCounters {
            placed: 12,
            refused: 3,
        },
        ..Counters::default()
    });
    let (status, body) = call(&a.router, "GET", "/metrics", None).await;
    assert_eq!(status, StatusCode::OK);
    let text = body.as_str().unwrap();
    for line in [
        "# TYPE holdline_outbound_calls_total counter",
        "holdline_outbound_calls_total{result=\"placed\"} 12",
        "holdline_outbound_calls_total{result=\"refused\"} 3",
    ] {
        assert!(text.lines().any(|l| l == line), "{line:?} missing:\n{text}");
    }
}
