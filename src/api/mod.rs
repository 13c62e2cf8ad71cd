//! The admin API: JSON over HTTP/1.1 (axum) under `/api/v1`, plus `/metrics`.
//!
//! Provisioning (queues, numbers, users, groups: list, get, create, partial update, delete),
//! live state (a queue's status, active calls, the event log and a live Server-Sent Events feed),
//! agent self-service (do-not-disturb, opt in / out of a queue), the OpenAPI document of the
//! routes, and Prometheus metrics. Every request needs `Authorization: Bearer TOKEN` (compared
//! in constant time); the token comes from `[api] token` or is generated on first start and kept
//! in the store.
//!
//! The routes are one table ([`routes::ROUTES`]): the router and the OpenAPI document are both
//! built from it, so they cannot disagree. Handlers are thin; the logic lives in
//! [`provision::Provisioning`] (plain, tested on an in-memory store) and the state is injected
//! ([`ApiState`]), so tests drive the whole router with `tower::ServiceExt::oneshot`.
//!
//! What this does not do: TLS (listen on loopback, or put a proxy in front), or own live state:
//! calls and agents come from the runtime through [`live::LiveState`]. Handlers run their
//! (short, admin-rate) SQLite transactions on the async worker under one mutex; the runtime
//! calls [`ApiState::record_events`], a synchronous SQLite write, off its hot path (a writer
//! task that batches events and writes on a blocking thread). A change to the configuration
//! is answered once the runtime reports it applied ([`ApiState::report_applied`]), so the
//! next call sees what the API just confirmed.
//!
//! # Layout
//! - this file: [`ApiState`], [`router`], [`serve`], bearer-token check. [`boot`]: start-up.
//! - [`routes`]: the route table and the handlers. [`openapi`]: the document.
//! - [`provision`]: file + store → validated [`crate::config::Config`]. [`spec`]: bodies, views.
//! - [`live`]: [`live::LiveState`]. [`metrics`]: `/metrics`. [`error`]: [`ApiError`].
//! - `bans`: admission control's bans (list, lift), answered by the runtime.
//! - `prompts`: uploaded prompts (upload, list, get, download, delete) over HTTP.
//! - [`reports`]: the reports (JSON, CSV) and wallboard figures over HTTP.
//! - [`client`]: a small HTTP/1.1 client. [`cli`]: the CLI subcommands over it.
//! - `console`: the web console (pages under `/`, session sign-in), beside the API.

mod bans;
pub mod boot;
pub mod cli;
pub mod client;
pub mod console;
pub mod error;
pub mod live;
pub mod metrics;
pub mod openapi;
mod prompts;
pub mod provision;
mod registrations;
pub mod reports;
pub mod routes;
pub mod spec;

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};

use crate::config::Config;
use crate::store::{AgentPrefs, QueueEvent, StoreError};

pub use error::ApiError;
pub use live::{LiveSnapshot, LiveState, MemoryLive};
pub use provision::{FileSource, ProvisionError, Provisioning, Published};

/// How many events the live feed buffers for a slow subscriber before it skips ahead.
const FEED_BUFFER: usize = 1024;

/// How long a change waits for the runtime to apply it before the API answers anyway (the
/// change is stored either way; the runtime is only slow, e.g. decoding a long new prompt).
const APPLY_WAIT: Duration = Duration::from_secs(10);

/// Everything the handlers share. Cheap to clone.
#[derive(Clone)]
pub struct ApiState {
    inner: Arc<Inner>,
}

struct Inner {
    prov: Mutex<Provisioning>,
    live: Arc<dyn LiveState>,
    feed: broadcast::Sender<QueueEvent>,
    /// The configuration generation the runtime has applied; `None` while no runtime is
    /// attached (tests of the API alone), when changes do not wait.
    applied: watch::Sender<Option<u64>>,
    /// `None`: no token is required (only when the caller decided so; `holdline serve` always
    /// has one).
    token: Option<String>,
    /// The wallboard's running tally of today's events.
    wallboard: reports::WallboardCache,
}

impl ApiState {
    pub fn new(prov: Provisioning, live: Arc<dyn LiveState>, token: Option<String>) -> ApiState {
        let (feed, _) = broadcast::channel(FEED_BUFFER);
        let (applied, _) = watch::channel(None);
        ApiState {
            inner: Arc::new(Inner {
                prov: Mutex::new(prov),
                live,
                feed,
                applied,
                token,
                wallboard: reports::WallboardCache::default(),
            }),
        }
    }

    /// Appends `event` to the log and sends it to live-feed subscribers; returns it with its
    /// sequence number. The runtime calls this for every queue event.
    pub fn record_event(&self, event: &QueueEvent) -> Result<QueueEvent, StoreError> {
        let stored = self.prov().record_event(event)?;
        // No subscriber is not an error.
        let _ = self.inner.feed.send(stored.clone());
        Ok(stored)
    }

    /// Appends `events` to the log in one transaction and sends them to live-feed
    /// subscribers. The runtime's event writer calls this off the call path.
    pub fn record_events(&self, events: &[QueueEvent]) -> Result<Vec<QueueEvent>, StoreError> {
        let stored = self.prov().record_events(events)?;
        for e in &stored {
            let _ = self.inner.feed.send(e.clone());
        }
        Ok(stored)
    }

    /// Deletes the logged events older than `before_ms` (Unix ms), the retention limit;
    /// returns how many. Batch by batch, taking the lock for each one only, so the API and the
    /// event writer get their turn between batches. Blocking: the runtime calls it on a
    /// blocking thread.
    pub fn prune_events(&self, before_ms: i64) -> Result<usize, StoreError> {
        let mut total = 0;
        loop {
            let n = self.prov().prune_events(before_ms)?;
            total += n;
            if n < crate::store::events::PRUNE_BATCH {
                return Ok(total);
            }
            std::thread::yield_now();
        }
    }

    /// Every new effective configuration, for new calls.
    pub fn subscribe_config(&self) -> watch::Receiver<Arc<Config>> {
        self.prov().subscribe_config()
    }

    /// Every new effective configuration with its generation: what the runtime follows. It
    /// reports each one it has applied with [`ApiState::report_applied`].
    pub fn subscribe_published(&self) -> watch::Receiver<Published> {
        self.prov().subscribe_published()
    }

    /// The runtime has applied configuration `generation` (new calls see it). From the first
    /// report on, API changes answer only once the runtime has applied them.
    pub fn report_applied(&self, generation: u64) {
        self.inner.applied.send_replace(Some(generation));
    }

    /// Waits until the runtime has applied `generation`, when a runtime is attached; gives up
    /// (with a warning) after a few seconds, since the change is stored either way.
    pub async fn applied(&self, generation: u64) {
        let mut rx = self.inner.applied.subscribe();
        if rx.borrow().is_none() {
            return;
        }
        let done = rx.wait_for(|g| g.is_some_and(|g| g >= generation));
        if tokio::time::timeout(APPLY_WAIT, done).await.is_err() {
            tracing::warn!(
                generation,
                "the runtime has not applied a configuration change yet; answering anyway"
            );
        }
    }

    /// Agents' do-not-disturb and opt-outs, whenever they change.
    pub fn subscribe_agent_prefs(&self) -> watch::Receiver<Arc<AgentPrefs>> {
        self.prov().subscribe_agent_prefs()
    }

    /// The provisioning state, locked. Held only for the duration of one synchronous step.
    pub fn prov(&self) -> MutexGuard<'_, Provisioning> {
        // A handler that panicked mid-change left the store consistent (transactions) and the
        // in-memory config at its last published value, so the lock is still usable.
        self.inner.prov.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn live(&self) -> &dyn LiveState {
        self.inner.live.as_ref()
    }

    pub(crate) fn feed(&self) -> broadcast::Receiver<QueueEvent> {
        self.inner.feed.subscribe()
    }
}

/// The whole API as a router, every route behind the bearer-token check, and beside it the web
/// console's pages (their own session sign-in; see `console`).
pub fn router(state: ApiState) -> Router {
    routes::routes()
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            authorize,
        ))
        .with_state(state.clone())
        .merge(console::router(state))
}

/// Serves the API on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    state: ApiState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // The peer address reaches the console's sign-in rate limit as `ConnectInfo`.
    let app = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

async fn authorize(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    if let Some(expected) = &state.inner.token {
        let given = request
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer)
            .unwrap_or("");
        if !constant_time_eq(given.trim().as_bytes(), expected.as_bytes()) {
            return ApiError::Unauthorized.into_response();
        }
    }
    next.run(request).await
}

/// The credentials of an `Authorization: Bearer …` value; the scheme name is case-insensitive
/// (RFC 7235 §2.1, RFC 6750 §2.1).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token)
}

/// Compares without an early exit, so the time taken does not tell how much of a guess was
/// right. (The length is not secret: tokens have a fixed length.)
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // black_box keeps the optimiser from turning the fold back into an early-exit compare.
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer abc"), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer"), None);
    }

    #[test]
    fn constant_time_eq_compares_whole_values() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
    }
}
