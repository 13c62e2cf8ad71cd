//! The OpenAPI document against the router, and bearer-token authorisation on every route.

use std::collections::BTreeSet;

use crate::api_support::{app, call, call_with};
use axum::http::StatusCode;
use holdline::api::routes;
use serde_json::Value;

/// A concrete path for a templated one.
fn concrete(path: &str) -> String {
    path.replace("{id}", "demo").replace("{queue}", "demo")
}

#[tokio::test]
async fn openapi_document_lists_exactly_the_routes_of_the_router() {
    let a = app();
    let (status, doc) = call(&a.router, "GET", "/api/v1/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.0.3");
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.to_uppercase(), path.clone()))
        })
        .collect();
    let table: BTreeSet<(String, String)> = routes::all()
        .iter()
        .map(|r| (r.verb.as_str().to_owned(), r.path.to_owned()))
        .collect();
    assert_eq!(documented, table);
    assert_eq!(table.len(), routes::all().len(), "a route is listed twice");
    // Every path parameter is declared.
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for op in ops.as_object().unwrap().values() {
            let declared: BTreeSet<&str> = op["parameters"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .filter(|p| p["in"] == "path")
                        .map(|p| p["name"].as_str().unwrap())
                        .collect()
                })
                .unwrap_or_default();
            let wanted: BTreeSet<&str> = path
                .split('/')
                .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                .collect();
            assert_eq!(declared, wanted, "{path}");
        }
    }
}

#[tokio::test]
async fn every_documented_route_is_served_and_other_methods_are_405() {
    let a = app();
    for r in routes::all() {
        if r.path.ends_with("/feed") {
            continue; // a stream that never ends: covered in api_live.rs
        }
        let body = match r.verb {
            routes::Verb::Post | routes::Verb::Patch | routes::Verb::Put => {
                Some(Value::Object(Default::default()))
            }
            _ => None,
        };
        let (status, resp) = call(&a.router, r.verb.as_str(), &concrete(r.path), body).await;
        // A handler's 404 ("no such object") has a JSON error; the router's has no body.
        assert!(
            status != StatusCode::NOT_FOUND || resp["error"].is_string(),
            "{} {} is not routed",
            r.verb.as_str(),
            r.path
        );
        assert_ne!(
            status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{} {}",
            r.verb.as_str(),
            r.path
        );
    }
    let (status, _) = call(&a.router, "PUT", "/api/v1/queues/demo", None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let (status, body) = call(&a.router, "GET", "/api/v1/nothing-here", None).await;
    assert_eq!((status, body), (StatusCode::NOT_FOUND, Value::Null));
}

#[tokio::test]
async fn every_route_requires_the_bearer_token() {
    let a = app();
    for r in routes::all() {
        for token in [None, Some("wrong-token-0123456789"), Some("")] {
            let (status, body) =
                call_with(&a.router, r.verb.as_str(), &concrete(r.path), None, token).await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{} {} with {token:?}",
                r.verb.as_str(),
                r.path
            );
            assert!(body["error"].as_str().unwrap().contains("bearer token"));
        }
    }
}
