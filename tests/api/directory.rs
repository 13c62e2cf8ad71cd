//! Numbers, users and groups through the API: the same verbs as queues, the number inventory
//! rules (E.164, kinds, one owner, user numbers never on a queue), and references kept valid.

use crate::api_support::{app, call, problems};
use axum::http::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn numbers_are_listed_with_kind_owner_and_origin() {
    let a = app();
    let (status, list) = call(&a.router, "GET", "/api/v1/numbers", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        list,
        json!([
            { "e164": "+14255550100", "kind": "service-toll", "assigned_to": "queue:demo", "origin": "file" },
            { "e164": "+14255550101", "kind": "service-toll-free", "assigned_to": null, "origin": "file" },
            { "e164": "+14255550199", "kind": "user", "assigned_to": "user:amos", "origin": "file" },
        ])
    );
}

#[tokio::test]
async fn number_is_created_in_canonical_form_and_found_by_any_form() {
    let a = app();
    let (status, n) = call(
        &a.router,
        "POST",
        "/api/v1/numbers",
        Some(json!({ "e164": "tel:+1-425-555-0102", "kind": "service-toll" })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{n}");
    assert_eq!(n["e164"], "+14255550102");
    let (status, got) = call(&a.router, "GET", "/api/v1/numbers/14255550102", None).await;
    assert_eq!(
        (status, got["e164"].clone()),
        (StatusCode::OK, json!("+14255550102"))
    );
    let (status, n) = call(
        &a.router,
        "PATCH",
        "/api/v1/numbers/+14255550102",
        Some(json!({ "kind": "user" })),
    )
    .await;
    assert_eq!((status, n["kind"].clone()), (StatusCode::OK, json!("user")));
    let (status, _) = call(&a.router, "DELETE", "/api/v1/numbers/+14255550102", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn invalid_numbers_are_422_naming_the_field() {
    let a = app();
    for (body, field, needle) in [
        (json!({ "e164": "+1234", "kind": "user" }), "e164", "digits"),
        (
            json!({ "e164": "+0255550100", "kind": "user" }),
            "e164",
            "starts with 0",
        ),
        (
            json!({ "e164": "+14255550102", "kind": "premium" }),
            "kind",
            "not one of",
        ),
        (json!({ "e164": "+14255550102" }), "kind", "missing field"),
    ] {
        let (status, resp) = call(&a.router, "POST", "/api/v1/numbers", Some(body.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let ps = problems(&resp);
        assert!(
            ps.iter().any(|(f, m)| f == field && m.contains(needle)),
            "{body}: {ps:?}"
        );
    }
}

#[tokio::test]
async fn number_used_by_a_queue_cannot_become_a_user_number_or_be_removed() {
    let a = app();
    call(
        &a.router,
        "POST",
        "/api/v1/numbers",
        Some(json!({ "e164": "+14255550102", "kind": "service-toll" })),
    )
    .await;
    call(
        &a.router,
        "POST",
        "/api/v1/queues",
        Some(json!({ "id": "sales", "numbers": ["+14255550102"] })),
    )
    .await;
    let (status, resp) = call(
        &a.router,
        "PATCH",
        "/api/v1/numbers/+14255550102",
        Some(json!({ "kind": "user" })),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        problems(&resp)
            .iter()
            .any(|(_, m)| m.contains("cannot be assigned to queue \"sales\"")),
        "{resp}"
    );
    let (status, resp) = call(&a.router, "DELETE", "/api/v1/numbers/+14255550102", None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        problems(&resp)
            .iter()
            .any(|(f, m)| f == "numbers" && m.contains("not declared")),
        "{resp}"
    );
}

#[tokio::test]
async fn users_are_shown_without_their_password() {
    let a = app();
    let (status, u) = call(
        &a.router,
        "POST",
        "/api/v1/users",
        Some(json!({ "id": "cy", "name": "Cy", "password": "s3cret", "contacts": ["sip:cy@192.0.2.7:5062"] })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{u}");
    assert_eq!(u["has_password"], true);
    assert!(u.get("password").is_none());
    assert!(!u.to_string().contains("s3cret"));
    let (_, u) = call(
        &a.router,
        "PATCH",
        "/api/v1/users/cy",
        Some(json!({ "name": "Cy Young" })),
    )
    .await;
    assert_eq!(
        (u["name"].clone(), u["has_password"].clone()),
        (json!("Cy Young"), json!(true))
    );
}

#[tokio::test]
async fn user_validation_names_the_field() {
    let a = app();
    for (body, field, needle) in [
        (json!({ "id": "cy", "password": "" }), "password", "empty"),
        (
            json!({ "id": "cy", "contacts": ["mailto:x"] }),
            "contacts",
            "mailto:x",
        ),
        (
            json!({ "id": "cy", "numbers": ["+14255550100"] }),
            "numbers",
            "must be of kind user",
        ),
        (
            json!({ "id": "cy", "numbers": ["+14255550199"] }),
            "numbers",
            "already assigned to user \"amos\"",
        ),
    ] {
        let (status, resp) = call(&a.router, "POST", "/api/v1/users", Some(body.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {resp}");
        let ps = problems(&resp);
        assert!(
            ps.iter().any(|(f, m)| f == field && m.contains(needle)),
            "{body}: {ps:?}"
        );
    }
}

#[tokio::test]
async fn user_who_is_an_agent_cannot_be_removed_until_the_queue_lets_go() {
    let a = app();
    call(
        &a.router,
        "POST",
        "/api/v1/users",
        Some(json!({ "id": "cy" })),
    )
    .await;
    call(
        &a.router,
        "POST",
        "/api/v1/queues",
        Some(json!({ "id": "sales", "agents": ["cy"] })),
    )
    .await;
    let (status, resp) = call(&a.router, "DELETE", "/api/v1/users/cy", None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(problems(&resp)
        .iter()
        .any(|(f, m)| f == "agents" && m.contains("\"cy\" is not a [[user]]")));
    call(
        &a.router,
        "PATCH",
        "/api/v1/queues/sales",
        Some(json!({ "agents": [] })),
    )
    .await;
    let (status, _) = call(&a.router, "DELETE", "/api/v1/users/cy", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn groups_have_the_same_verbs_and_checks() {
    let a = app();
    let (status, g) = call(
        &a.router,
        "POST",
        "/api/v1/groups",
        Some(json!({ "id": "night", "members": ["bea"] })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        g,
        json!({ "id": "night", "members": ["bea"], "origin": "api" })
    );
    let (status, resp) = call(
        &a.router,
        "PATCH",
        "/api/v1/groups/night",
        Some(json!({ "members": ["ghost"] })),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problems(&resp)[0].0, "members");
    let (_, list) = call(&a.router, "GET", "/api/v1/groups", None).await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    let (status, _) = call(&a.router, "DELETE", "/api/v1/groups/sales-team", None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, body) = call(&a.router, "DELETE", "/api/v1/groups/night", None).await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
}

#[tokio::test]
async fn users_and_groups_are_listed_and_fetched() {
    let a = app();
    let (status, users) = call(&a.router, "GET", "/api/v1/users", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        users,
        json!([
            { "id": "amos", "name": "Amos Marble", "has_password": false, "contacts": [], "numbers": ["+14255550199"], "origin": "file",
              "outbound": "none", "clid_policy": null, "identify_by_source": false },
            { "id": "bea", "name": "bea", "has_password": false, "contacts": [], "numbers": [], "origin": "file",
              "outbound": "none", "clid_policy": null, "identify_by_source": false },
        ])
    );
    let (status, u) = call(&a.router, "GET", "/api/v1/users/bea", None).await;
    assert_eq!((status, u), (StatusCode::OK, users[1].clone()));
    let (status, g) = call(&a.router, "GET", "/api/v1/groups/sales-team", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        g,
        json!({ "id": "sales-team", "members": ["amos", "bea"], "origin": "file" })
    );
    for path in ["/api/v1/users/ghost", "/api/v1/groups/ghost"] {
        let (status, _) = call(&a.router, "GET", path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
}

#[tokio::test]
async fn user_and_group_shape_errors_name_the_field() {
    let a = app();
    for (path, body, field, needle) in [
        (
            "/api/v1/users",
            json!({ "id": "cy", "name": "a\nb" }),
            "name",
            "one line",
        ),
        (
            "/api/v1/users",
            json!({ "id": "cy", "contacts": "sip:x@y" }),
            "contacts",
            "invalid type",
        ),
        (
            "/api/v1/groups",
            json!({ "id": "g", "members": ["bea", "bea"] }),
            "members",
            "listed twice",
        ),
        (
            "/api/v1/groups",
            json!({ "id": "g", "owner": "bea" }),
            "owner",
            "unknown field",
        ),
        ("/api/v1/groups", json!({ "id": "" }), "id", "is empty"),
    ] {
        let (status, resp) = call(&a.router, "POST", path, Some(body.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {resp}");
        let ps = problems(&resp);
        assert!(
            ps.iter().any(|(f, m)| f == field && m.contains(needle)),
            "{body}: {ps:?}"
        );
    }
}

#[tokio::test]
async fn a_tls_contact_is_refused_with_the_reason() {
    let a = app();
    for contact in ["sips:cy@192.0.2.7", "sip:cy@192.0.2.7:5061;transport=tls"] {
        let body = json!({ "id": "cy", "contacts": [contact] });
        let (status, resp) = call(&a.router, "POST", "/api/v1/users", Some(body.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {resp}");
        let ps = problems(&resp);
        assert!(
            ps.iter()
                .any(|(f, m)| f == "contacts" && m.contains("no tls: listener is configured")),
            "{body}: {ps:?}"
        );
    }
    // Not stored: the user does not exist.
    let (status, _) = call(&a.router, "GET", "/api/v1/users/cy", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
