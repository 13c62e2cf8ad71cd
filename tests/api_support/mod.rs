//! Shared by the api_* tests: a provisioned API over an in-memory store and a fake live state,
//! and a one-request helper that drives the router with `oneshot`.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use holdline::api::{router, ApiState, FileSource, MemoryLive, Provisioning};
use holdline::store::Store;
use serde_json::Value;
use tower::ServiceExt;

pub const TOKEN: &str = "test-token-0123456789";

/// The config file the tests start from: two users, a group, a file queue on a file number,
/// a free service number and a user number.
pub const FILE: &str = r#"
[api]
listen = "127.0.0.1:0"

[[number]]
e164 = "+14255550100"
kind = "service-toll"

[[number]]
e164 = "+14255550101"
kind = "service-toll-free"

[[number]]
e164 = "+14255550199"
kind = "user"

[[user]]
id = "amos"
name = "Amos Marble"
numbers = ["+14255550199"]

[[user]]
id = "bea"

[[group]]
id = "sales-team"
members = ["amos", "bea"]

[[queue]]
id = "demo"
name = "Demo Queue"
numbers = ["+14255550100"]
agents = ["amos"]
groups = ["sales-team"]
"#;

pub fn file_source() -> FileSource {
    FileSource {
        text: FILE.to_owned(),
        label: "/etc/holdline/holdline.toml".to_owned(),
        base_dir: PathBuf::from("/etc/holdline"),
    }
}

pub struct App {
    pub router: Router,
    pub state: ApiState,
    pub live: Arc<MemoryLive>,
}

pub fn app() -> App {
    let (mut prov, _) =
        Provisioning::open(Store::open_in_memory().unwrap(), file_source()).unwrap();
    prov.set_check_files(false);
    let live = Arc::new(MemoryLive::default());
    let state = ApiState::new(prov, live.clone(), Some(TOKEN.to_owned()));
    App {
        router: router(state.clone()),
        state,
        live,
    }
}

/// Sends one authorised request; returns the status and the body as JSON (a JSON string for
/// a text body, null when empty).
pub async fn call(
    router: &Router,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    call_with(router, method, path, body, Some(TOKEN)).await
}

pub async fn call_with(
    router: &Router,
    method: &str,
    path: &str,
    body: Option<Value>,
    token: Option<&str>,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let req = match body {
        Some(b) => req
            .header("content-type", "application/json")
            .body(Body::from(b.to_string()))
            .unwrap(),
        None => req.body(Body::empty()).unwrap(),
    };
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    (status, value)
}

/// The (field, message) pairs of a 422 body.
pub fn problems(body: &Value) -> Vec<(String, String)> {
    body["problems"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .map(|p| {
                    (
                        p["field"].as_str().unwrap_or("").to_owned(),
                        p["message"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}
