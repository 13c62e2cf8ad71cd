//! The web console: server-rendered pages on the admin listener, beside `/api/v1`.
//!
//! - `/sign-in`: admins with the API token, agents with their user id and SIP password. A
//!   session cookie (`hl_session`: random id, HttpOnly, SameSite=Strict, Secure behind HTTPS)
//!   names a server-side session ([`session`]) that expires when idle.
//! - `/admin…` (admins): queues with live counts, create / edit a queue (every field of a
//!   `[[queue]]` table, the validator's errors next to their fields), prompts (upload, play),
//!   numbers, users and groups, the event log, reports (tables, SVG charts, CSV downloads),
//!   trunks (each SBC's health, the trunk's settings; read-only).
//! - `/agent` (agents): their own DND, opt-outs and registrations, and the queues they are an
//!   authorized user of (`[[queue]] authorized_users`, delegated admins), whose forms
//!   (`/admin/queues/{id}`) they may open and save; no other admin route.
//! - `/wallboard`, `/wallboard/{id}`: large-type live boards, updated over Server-Sent Events.
//!
//! Every read and every change is a request to the API's own router, made in-process
//! ([`Console::api`]): the console has no second implementation of anything, only forms and
//! pages around the routes the CLI uses. The API routes themselves keep requiring the bearer
//! token; the cookie opens console routes only, and each state-changing console route checks
//! the form's CSRF token and the request's Origin / Referer.
//!
//! Pages are askama templates (`templates/console/` at the crate root, askama's default
//! place; checked at compile time); the stylesheet and the
//! scripts (`assets/`) are embedded with `include_bytes!`. Forms work without JavaScript; only
//! the live updates of the wallboard and of the queue list's counts use it.

mod pages;
pub mod session;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use askama::Template;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use rand::RngCore;
use serde_json::Value;
use tower::ServiceExt;

use crate::time::Time;

use super::ApiState;
use session::{Role, Session, Sessions, SignInLimit};

/// The session cookie's name.
const COOKIE: &str = "hl_session";
/// Console uploads (a prompt) may be this large; the API route applies the configured limit.
const UPLOAD_BODY_MAX: usize = 256 * 1024 * 1024;

const CSS: &[u8] = include_bytes!("assets/console.css");
const WALLBOARD_JS: &[u8] = include_bytes!("assets/wallboard.js");
const QUEUES_JS: &[u8] = include_bytes!("assets/queues.js");

/// The console's state: the API it calls, sessions and the sign-in limit.
#[derive(Clone)]
pub(crate) struct Console {
    inner: Arc<Inner>,
}

struct Inner {
    state: ApiState,
    /// The API's routes with their state and without the bearer check: the console has
    /// already checked its session when it calls them.
    api: Router,
    sessions: Mutex<Sessions>,
    limit: Mutex<SignInLimit>,
    /// The wallboards' figures, shared by every screen (see `pages::board`).
    boards: tokio::sync::Mutex<pages::board::Boards>,
    /// The wallboards' shared ticker, started by the first screen (see `pages::board`).
    ticks: std::sync::OnceLock<tokio::sync::watch::Receiver<pages::board::Tick>>,
    /// Unix ms (the runtime's wall clock, set at start-up).
    clock: fn() -> i64,
}

/// The console's routes, ready to merge beside the API's.
pub(crate) fn router(state: ApiState) -> Router {
    let clock = state.prov().wall_clock();
    let console = Console {
        inner: Arc::new(Inner {
            api: super::routes::routes().with_state(state.clone()),
            state,
            sessions: Mutex::new(Sessions::default()),
            limit: Mutex::new(SignInLimit::default()),
            boards: tokio::sync::Mutex::new(pages::board::Boards::default()),
            ticks: std::sync::OnceLock::new(),
            clock,
        }),
    };
    Router::new()
        .route("/", get(pages::home))
        .route("/sign-in", get(pages::sign_in_page).post(pages::sign_in))
        .route("/sign-out", post(pages::sign_out))
        .route(
            "/assets/console.css",
            get(|| async { asset(CSS, "text/css") }),
        )
        .route(
            "/assets/wallboard.js",
            get(|| async { asset(WALLBOARD_JS, "text/javascript") }),
        )
        .route(
            "/assets/queues.js",
            get(|| async { asset(QUEUES_JS, "text/javascript") }),
        )
        .route("/agent", get(pages::agent_page))
        .route("/agent/dnd", post(pages::agent_dnd))
        .route("/agent/queues/{queue}", post(pages::agent_opt))
        .route("/admin", get(pages::admin_queues))
        .route("/admin/queues", post(pages::create_queue))
        .route("/admin/queues/new", get(pages::new_queue_page))
        .route(
            "/admin/queues/{id}",
            get(pages::edit_queue_page).post(pages::update_queue),
        )
        .route(
            "/admin/prompts",
            get(pages::prompts_page)
                .post(pages::upload_prompt)
                .layer(DefaultBodyLimit::max(UPLOAD_BODY_MAX)),
        )
        .route("/admin/prompts/{id}/audio", get(pages::prompt_audio))
        .route("/admin/numbers", get(pages::numbers_page))
        .route("/admin/objects/{kind}", post(pages::change_object))
        .route("/admin/users", get(pages::users_page))
        .route("/admin/events", get(pages::events_page))
        .route("/admin/trunks", get(pages::trunks::trunks_page))
        .route("/admin/reports", get(pages::reports::reports_page))
        .route("/admin/reports/{file}", get(pages::reports::report_csv))
        .route("/wallboard", get(pages::wallboard_all))
        .route("/wallboard/{id}", get(pages::wallboard_one))
        .route(
            "/wallboard-data/status",
            get(pages::board::wallboard_status),
        )
        .route("/wallboard-data/feed", get(pages::board::wallboard_feed))
        .with_state(console)
}

fn asset(bytes: &'static [u8], content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        bytes,
    )
        .into_response()
}

/// An API answer, as the console reads it.
pub(crate) struct Reply {
    pub status: StatusCode,
    pub body: Value,
}

impl Reply {
    pub fn ok(&self) -> bool {
        self.status.is_success()
    }

    /// The validation problems of a 422 as (field, message), or the error sentence under "".
    pub fn problems(&self) -> Vec<(String, String)> {
        if let Some(list) = self.body.get("problems").and_then(Value::as_array) {
            return list
                .iter()
                .map(|p| {
                    (
                        p["field"].as_str().unwrap_or("").to_owned(),
                        p["message"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect();
        }
        let sentence = self.body["error"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("the server answered {}", self.status));
        vec![(String::new(), sentence)]
    }
}

impl Console {
    fn now(&self) -> Time {
        Time::from_millis(u64::try_from((self.inner.clock)()).unwrap_or(0))
    }

    pub(crate) fn state(&self) -> &ApiState {
        &self.inner.state
    }

    /// One request to the API's own router, in-process; the full response.
    pub(crate) async fn api_raw(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: Body,
    ) -> Response {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::CONTENT_TYPE, content_type)
            .body(body);
        let request = match request {
            Ok(r) => r,
            Err(e) => {
                return (StatusCode::BAD_REQUEST, format!("bad request path: {e}")).into_response()
            }
        };
        match self.inner.api.clone().oneshot(request).await {
            Ok(r) => r,
            Err(never) => match never {},
        }
    }

    /// One JSON request to the API; the status and the JSON body (null when none).
    pub(crate) async fn api(&self, method: Method, path: &str, body: Option<&Value>) -> Reply {
        let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
        let response = self.api_raw(method, path, "application/json", body).await;
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024 * 1024)
            .await
            .unwrap_or_default();
        Reply {
            status,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    /// The session the request's cookie names, if it is alive.
    pub(crate) fn session(&self, headers: &HeaderMap) -> Option<(String, Session)> {
        let id = cookie(headers, COOKIE)?;
        let now = self.now();
        let s = lock(&self.inner.sessions).touch(&id, now)?;
        Some((id, s))
    }

    /// Starts a session for `role`; the `Set-Cookie` value.
    pub(crate) fn start_session(&self, role: Role, headers: &HeaderMap) -> String {
        let id = random_hex();
        let csrf = random_hex();
        let now = self.now();
        lock(&self.inner.sessions).create(id.clone(), csrf, role, now);
        let secure = if over_https(headers) { "; Secure" } else { "" };
        format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict{secure}")
    }

    pub(crate) fn end_session(&self, id: &str) {
        lock(&self.inner.sessions).remove(id);
    }

    /// Whether sign-ins from `source` are refused now.
    pub(crate) fn sign_in_refused(&self, source: IpAddr) -> bool {
        lock(&self.inner.limit).refused(source, self.now())
    }

    pub(crate) fn sign_in_failed(&self, source: IpAddr) {
        let now = self.now();
        if lock(&self.inner.limit).failed(source, now) {
            tracing::warn!(%source, "console sign-ins from this source refused for a while");
        }
    }

    pub(crate) fn sign_in_succeeded(&self, source: IpAddr) {
        lock(&self.inner.limit).succeeded(source);
    }

    /// The API token an admin signs in with (none: the API needs none, nor does the console).
    pub(crate) fn token(&self) -> Option<&str> {
        self.inner.state.inner.token.as_deref()
    }
}

/// An argon2id PHC string of `password` with a fresh random salt: what `[api]
/// admin_password_hash` takes (`holdline admin-password` prints it).
pub fn hash_password(password: &str) -> Result<String, String> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash the password: {e}"))
}

/// Whether `password` is the one `phc` (an argon2 PHC string) was made from. A string that does
/// not parse matches nothing (the configuration's validation already refused it).
pub fn password_matches(phc: &str, password: &str) -> bool {
    use argon2::password_hash::PasswordVerifier;
    argon2::PasswordHash::new(phc.trim()).is_ok_and(|hash| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Plain maps updated in single steps: a panic elsewhere leaves them usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// 32 bytes of OS randomness, hex: a session id or a CSRF token.
fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    session::hex(&bytes)
}

/// A cookie's value from the request's `Cookie` headers.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// Whether the browser reached us over HTTPS (through a proxy that says so): the cookie then
/// gets `Secure`. The listener itself is plain HTTP; trusting the header can only add the flag.
fn over_https(headers: &HeaderMap) -> bool {
    let forwarded_proto = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"));
    let forwarded = headers
        .get(header::FORWARDED)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("proto=https"));
    forwarded_proto || forwarded
}

/// The connection's source address (unspecified when the router runs without one, in tests).
fn source(request: &Request) -> IpAddr {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

/// A rendered page with the console's headers: no caching, no framing, scripts and styles
/// from this server only.
fn page(t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => {
            let mut r = Html(html).into_response();
            let h = r.headers_mut();
            h.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "default-src 'self'; frame-ancestors 'none'; form-action 'self'; \
                     base-uri 'none'",
                ),
            );
            h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            h.insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("same-origin"),
            );
            r
        }
        Err(e) => {
            tracing::error!(error = %e, "console page failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page failed to render",
            )
                .into_response()
        }
    }
}

fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// The parsed fields of an `application/x-www-form-urlencoded` body.
pub(crate) struct Form(Vec<(String, String)>);

impl Form {
    pub fn parse(body: &Bytes) -> Form {
        Form(serde_urlencoded::from_bytes(body).unwrap_or_default())
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The field, trimmed; empty when absent.
    pub fn text(&self, name: &str) -> &str {
        self.get(name).map(str::trim).unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; hl_session=abc; b=2"),
        );
        assert_eq!(cookie(&h, COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&h, "c"), None);
    }

    #[test]
    fn random_ids_differ_and_are_64_hex_digits() {
        let a = random_hex();
        let b = random_hex();
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn a_password_matches_its_own_hash_only() {
        let phc = hash_password("correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(password_matches(&phc, "correct horse"));
        assert!(!password_matches(&phc, "correct horsE"));
        assert!(!password_matches("not a hash", "correct horse"));
        assert_ne!(phc, hash_password("correct horse").unwrap(), "salted");
    }

    #[test]
    fn secure_only_behind_https() {
        let mut h = HeaderMap::new();
        assert!(!over_https(&h));
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert!(over_https(&h));
    }
}
