//! The route table and its handlers.
//!
//! [`ROUTES`] lists every route once (method, path, summary, operation); [`routes`] builds the
//! axum router from it and [`super::openapi`] the OpenAPI document, so the two always match.
//! Handlers parse the request, take the provisioning lock for one synchronous step and answer
//! JSON; errors are [`ApiError`]s.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::{Json, Router};
use futures_util::{Stream, StreamExt};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;

use crate::config::{Config, QueueId, UserId};
use crate::store::{AgentPrefs, EventFilter, Kind, QueueEvent};

use super::error::ApiError;
use super::live::AgentState;
use super::provision::Provisioning;
use super::ApiState;

/// An HTTP method used by the API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Post => "POST",
            Verb::Put => "PUT",
            Verb::Patch => "PATCH",
            Verb::Delete => "DELETE",
        }
    }

    fn filter(self) -> MethodFilter {
        match self {
            Verb::Get => MethodFilter::GET,
            Verb::Post => MethodFilter::POST,
            Verb::Put => MethodFilter::PUT,
            Verb::Patch => MethodFilter::PATCH,
            Verb::Delete => MethodFilter::DELETE,
        }
    }
}

/// What a route does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    List(Kind),
    Get(Kind),
    Create(Kind),
    Update(Kind),
    Delete(Kind),
    QueueStatus,
    Calls,
    Events,
    EventFeed,
    Agent,
    Dnd,
    OptIn,
    OptOut,
    OpenApi,
    Metrics,
    Bans,
    LiftBan,
    Prompts,
    UploadPrompt,
    Prompt,
    PromptAudio,
    DeletePrompt,
    Registrations,
    RemoveRegistration,
    Trunks,
    TrunkStatus,
    ReportQueues,
    ReportAgents,
    Wallboard,
    WallboardQueue,
    /// Grants a caller-ID policy to a user.
    GrantClid,
}

/// One route.
#[derive(Clone, Copy, Debug)]
pub struct Route {
    pub verb: Verb,
    /// axum's and OpenAPI's path syntax (`/api/v1/queues/{id}`).
    pub path: &'static str,
    pub summary: &'static str,
    pub op: Op,
}

macro_rules! crud {
    ($kind:expr, $plural:literal, $one:literal) => {
        [
            Route {
                verb: Verb::Get,
                path: concat!("/api/v1/", $plural),
                summary: concat!("List ", $plural),
                op: Op::List($kind),
            },
            Route {
                verb: Verb::Post,
                path: concat!("/api/v1/", $plural),
                summary: concat!("Create a ", $one),
                op: Op::Create($kind),
            },
            Route {
                verb: Verb::Get,
                path: concat!("/api/v1/", $plural, "/{id}"),
                summary: concat!("Get a ", $one),
                op: Op::Get($kind),
            },
            Route {
                verb: Verb::Patch,
                path: concat!("/api/v1/", $plural, "/{id}"),
                summary: concat!(
                    "Update a ",
                    $one,
                    " (JSON merge patch; null resets a field)"
                ),
                op: Op::Update($kind),
            },
            Route {
                verb: Verb::Delete,
                path: concat!("/api/v1/", $plural, "/{id}"),
                summary: concat!("Remove a ", $one),
                op: Op::Delete($kind),
            },
        ]
    };
}

const QUEUES: [Route; 5] = crud!(Kind::Queue, "queues", "queue");
const NUMBERS: [Route; 5] = crud!(Kind::Number, "numbers", "number");
const USERS: [Route; 5] = crud!(Kind::User, "users", "user");
const GROUPS: [Route; 5] = crud!(Kind::Group, "groups", "group");
const CLID_POLICIES: [Route; 5] = crud!(Kind::ClidPolicy, "clid-policies", "caller-ID policy");
/// Teams' `Grant-CsCallingLineIdentity`: a policy to a user (their `clid_policy`).
const CLID_GRANT: Route = Route {
    verb: Verb::Post,
    path: "/api/v1/clid-policies/{id}/grant",
    summary: "Grant a caller-ID policy to a user ({\"user\": ID}; the user's clid_policy)",
    op: Op::GrantClid,
};
const OTHERS: [Route; 9] = [
    Route {
        verb: Verb::Get,
        path: "/api/v1/queues/{id}/status",
        summary: "Calls waiting (position, wait) and agents' states",
        op: Op::QueueStatus,
    },
    Route {
        verb: Verb::Get,
        path: "/api/v1/calls",
        summary: "Active calls",
        op: Op::Calls,
    },
    Route {
        verb: Verb::Get,
        path: "/api/v1/events",
        summary: "The event log, filtered by queue and time (Unix ms)",
        op: Op::Events,
    },
    Route {
        verb: Verb::Get,
        path: "/api/v1/events/feed",
        summary: "Live events (Server-Sent Events)",
        op: Op::EventFeed,
    },
    Route {
        verb: Verb::Get,
        path: "/api/v1/agents/{id}",
        summary: "An agent's do-not-disturb and queues",
        op: Op::Agent,
    },
    Route {
        verb: Verb::Put,
        path: "/api/v1/agents/{id}/dnd",
        summary: "Set or clear do-not-disturb ({\"dnd\": true})",
        op: Op::Dnd,
    },
    Route {
        verb: Verb::Post,
        path: "/api/v1/agents/{id}/queues/{queue}/opt-in",
        summary: "Opt back in to a queue",
        op: Op::OptIn,
    },
    Route {
        verb: Verb::Post,
        path: "/api/v1/agents/{id}/queues/{queue}/opt-out",
        summary: "Opt out of a queue (when it allows opt-out)",
        op: Op::OptOut,
    },
    Route {
        verb: Verb::Get,
        path: "/api/v1/openapi.json",
        summary: "This document",
        op: Op::OpenApi,
    },
];
/// Admission control's bans (see `super::bans`).
const BANS: [Route; 2] = [
    Route {
        verb: Verb::Get,
        path: "/api/v1/bans",
        summary: "Sources banned by admission control (reason, time left, datagrams dropped)",
        op: Op::Bans,
    },
    Route {
        verb: Verb::Delete,
        path: "/api/v1/bans/{addr}",
        summary: "Lift the ban on a source address",
        op: Op::LiftBan,
    },
];
/// Trunks' SBCs and their health (see `super::trunks`).
const TRUNKS: [Route; 2] = [
    Route {
        verb: Verb::Get,
        path: "/api/v1/trunks",
        summary:
            "Trunks and their SBCs: priority, weight, health (up, down, probing), round-trip time",
        op: Op::Trunks,
    },
    Route {
        verb: Verb::Get,
        path: "/api/v1/trunks/{id}/status",
        summary: "One trunk's SBCs and their health",
        op: Op::TrunkStatus,
    },
];
/// Uploaded prompts (see `super::prompts`).
const PROMPTS: [Route; 5] = [
    Route {
        verb: Verb::Get,
        path: "/api/v1/prompts",
        summary: "List uploaded prompts",
        op: Op::Prompts,
    },
    Route {
        verb: Verb::Post,
        path: "/api/v1/prompts",
        summary: "Upload a prompt (WAV, MP3 or WMA; raw body with ?name=, or multipart/form-data \
                  with one file part); a queue names it as prompt:ID",
        op: Op::UploadPrompt,
    },
    Route {
        verb: Verb::Get,
        path: "/api/v1/prompts/{id}",
        summary: "A prompt's metadata and the queues using it",
        op: Op::Prompt,
    },
    Route {
        verb: Verb::Get,
        path: "/api/v1/prompts/{id}/audio",
        summary: "A prompt as holdline plays it (8 kHz mono 16-bit WAV)",
        op: Op::PromptAudio,
    },
    Route {
        verb: Verb::Delete,
        path: "/api/v1/prompts/{id}",
        summary: "Remove a prompt (409 while a queue uses it)",
        op: Op::DeletePrompt,
    },
];
/// The registrar's bindings (see `super::registrations`).
const REGISTRATIONS: [Route; 2] = [
    Route {
        verb: Verb::Get,
        path: "/api/v1/users/{id}/registrations",
        summary: "A user's registered bindings (contact, source, transport, user agent, time left)",
        op: Op::Registrations,
    },
    Route {
        verb: Verb::Delete,
        path: "/api/v1/users/{id}/registrations/{n}",
        summary: "Remove a user's registered binding (by its place in the list)",
        op: Op::RemoveRegistration,
    },
];
/// Reports and wallboard figures (see `super::reports`).
const REPORTS: [Route; 4] = [
    Route {
        verb: Verb::Get,
        path: "/api/v1/reports/queues",
        summary: "Per-queue figures by hour or day from the event log (from, to, interval, \
                  queue, utc_offset; JSON, or CSV with format=csv or Accept: text/csv)",
        op: Op::ReportQueues,
    },
    Route {
        verb: Verb::Get,
        path: "/api/v1/reports/agents",
        summary: "Per-agent figures by hour or day from the event log (same parameters)",
        op: Op::ReportAgents,
    },
    Route {
        verb: Verb::Get,
        path: "/api/v1/wallboard",
        summary: "Wallboard figures of every queue and their totals: waiting, longest wait, \
                  agents by state, today's offered / answered / abandoned, wait, service level",
        op: Op::Wallboard,
    },
    Route {
        verb: Verb::Get,
        path: "/api/v1/wallboard/{queue}",
        summary: "Wallboard figures of one queue",
        op: Op::WallboardQueue,
    },
];
const METRICS: Route = Route {
    verb: Verb::Get,
    path: "/metrics",
    summary: "Prometheus metrics",
    op: Op::Metrics,
};

/// Every route the API serves.
pub fn all() -> Vec<Route> {
    let mut v = Vec::new();
    for group in [QUEUES, NUMBERS, USERS, GROUPS, CLID_POLICIES] {
        v.extend(group);
    }
    v.push(CLID_GRANT);
    v.extend(OTHERS);
    v.extend(BANS);
    v.extend(PROMPTS);
    v.extend(REGISTRATIONS);
    v.extend(TRUNKS);
    v.extend(REPORTS);
    v.push(METRICS);
    v
}

/// The router for [`all`] routes (state still to be given).
pub fn routes() -> Router<ApiState> {
    all().into_iter().fold(Router::new(), |r, route| {
        r.route(route.path, handler(route))
    })
}

/// Runs `f` on the provisioning state on a blocking thread. Every handler goes through here:
/// a change may decode a new prompt file while it holds the state's lock, and a runtime worker
/// (which also carries SIP) must never wait for that lock.
async fn blocking<T: Send + 'static>(
    s: &ApiState,
    f: impl FnOnce(&mut Provisioning) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let s = s.clone();
    tokio::task::spawn_blocking(move || f(&mut s.prov()))
        .await
        .map_err(|e| ApiError::Internal(format!("the request did not complete: {e}")))?
}

/// The effective configuration and agents' settings now.
/// The configuration in force.
pub(super) async fn current_config(s: &ApiState) -> Result<Arc<Config>, ApiError> {
    blocking(s, |p| Ok(p.config())).await
}

async fn config_and_prefs(s: &ApiState) -> Result<(Arc<Config>, Arc<AgentPrefs>), ApiError> {
    blocking(s, |p| Ok((p.config(), p.agent_prefs()))).await
}

fn handler(route: Route) -> MethodRouter<ApiState> {
    let f = route.verb.filter();
    match route.op {
        Op::List(kind) => on(f, move |State(s): State<ApiState>| async move {
            blocking(&s, move |p| p.list(kind)).await.map(Json)
        }),
        Op::Get(kind) => on(
            f,
            move |State(s): State<ApiState>, Path(id): Path<String>| async move {
                blocking(&s, move |p| p.get(kind, &id)).await.map(Json)
            },
        ),
        Op::Create(kind) => on(
            f,
            move |State(s): State<ApiState>, body: Bytes| async move {
                let body = json_body(&body)?;
                let (created, generation) = blocking(&s, move |p| {
                    let created = p.create(kind, body)?;
                    Ok((created, p.generation()))
                })
                .await?;
                s.applied(generation).await;
                Ok::<_, ApiError>((StatusCode::CREATED, Json(created)))
            },
        ),
        Op::Update(kind) => on(
            f,
            move |State(s): State<ApiState>, Path(id): Path<String>, body: Bytes| async move {
                let patch = json_body(&body)?;
                let (updated, generation) = blocking(&s, move |p| {
                    let updated = p.update(kind, &id, &patch)?;
                    Ok((updated, p.generation()))
                })
                .await?;
                s.applied(generation).await;
                Ok::<_, ApiError>(Json(updated))
            },
        ),
        Op::Delete(kind) => on(
            f,
            move |State(s): State<ApiState>, Path(id): Path<String>| async move {
                let generation = blocking(&s, move |p| {
                    p.delete(kind, &id)?;
                    Ok(p.generation())
                })
                .await?;
                s.applied(generation).await;
                Ok::<_, ApiError>(StatusCode::NO_CONTENT)
            },
        ),
        Op::QueueStatus => on(f, queue_status),
        Op::Calls => on(f, |State(s): State<ApiState>| async move {
            Json(s.live().snapshot().await.calls)
        }),
        Op::Events => on(f, events),
        Op::EventFeed => on(f, event_feed),
        Op::Agent => on(
            f,
            |State(s): State<ApiState>, Path(id): Path<String>| async move {
                blocking(&s, move |p| p.agent(&id)).await.map(Json)
            },
        ),
        Op::Dnd => on(f, set_dnd),
        Op::OptIn => on(f, |s: State<ApiState>, p: Path<(String, String)>| {
            opt(s, p, false)
        }),
        Op::OptOut => on(f, |s: State<ApiState>, p: Path<(String, String)>| {
            opt(s, p, true)
        }),
        Op::OpenApi => on(f, || async { Json(super::openapi::document()) }),
        Op::Metrics => on(f, metrics),
        Op::Bans => on(f, super::bans::list),
        Op::LiftBan => on(f, super::bans::lift),
        Op::Prompts => on(f, super::prompts::list),
        Op::UploadPrompt => super::prompts::upload_route(f),
        Op::Prompt => on(f, super::prompts::get),
        Op::PromptAudio => on(f, super::prompts::audio),
        Op::DeletePrompt => on(f, super::prompts::delete),
        Op::Trunks => on(f, super::trunks::list),
        Op::TrunkStatus => on(f, super::trunks::one),
        Op::Registrations => on(f, super::registrations::list),
        Op::RemoveRegistration => on(f, super::registrations::remove),
        Op::ReportQueues => on(f, super::reports::queues),
        Op::ReportAgents => on(f, super::reports::agents),
        Op::Wallboard => on(f, super::reports::all),
        Op::WallboardQueue => on(f, super::reports::one),
        Op::GrantClid => on(f, grant_clid),
    }
}

/// `POST /api/v1/clid-policies/{id}/grant` with `{"user": ID}`: sets the user's
/// `clid_policy` (a user from the config file is read-only here, 409, as for any change).
/// Answers the user as `GET /api/v1/users/{id}` shows them.
async fn grant_clid(
    State(s): State<ApiState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body = json_body(&body)?;
    let Some(user) = body.get("user").and_then(Value::as_str).map(str::to_owned) else {
        return Err(ApiError::field(
            format!("clid_policy {id:?}"),
            "user",
            "the body must name the user: {\"user\": \"ID\"}",
        ));
    };
    let (updated, generation) = blocking(&s, move |p| {
        // The policy first: granting one that does not exist is a 404, not a user's 422.
        p.get(Kind::ClidPolicy, &id)?;
        let updated = p.update(Kind::User, &user, &json!({ "clid_policy": id }))?;
        Ok((updated, p.generation()))
    })
    .await?;
    s.applied(generation).await;
    Ok(Json(updated))
}

fn json_body(bytes: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| ApiError::NotJson {
        reason: e.to_string(),
    })
}

async fn queue_status(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (config, prefs) = config_and_prefs(&s).await?;
    let Some(q) = config.queue(&QueueId(id.clone())) else {
        return Err(ApiError::NotFound {
            what: format!("queue {id:?}"),
        });
    };
    let live = s.live().snapshot().await.queue(&id);
    let agents: Vec<Value> = q
        .members
        .iter()
        .map(|m: &UserId| {
            // The agent's own settings win over what the engine last reported.
            let state = if prefs.is_dnd(m.as_str()) {
                AgentState::Dnd
            } else if q.allow_opt_out && prefs.is_opted_out(m.as_str(), &id) {
                AgentState::OptedOut
            } else {
                live.agents
                    .get(m.as_str())
                    .copied()
                    .unwrap_or(AgentState::Offline)
            };
            json!({ "id": m.as_str(), "state": state })
        })
        .collect();
    Ok(Json(json!({
        "queue": id,
        "name": q.name,
        "calls_waiting": live.waiting.len(),
        "longest_wait_secs": live.waiting.iter().map(|c| c.waiting_secs).max().unwrap_or(0),
        "waiting": live.waiting,
        "agents": agents,
    })))
}

async fn events(
    State(s): State<ApiState>,
    query: Result<Query<EventFilter>, QueryRejection>,
) -> Result<Json<Vec<QueueEvent>>, ApiError> {
    let Query(filter) = query.map_err(query_error)?;
    Ok(Json(blocking(&s, move |p| Ok(p.events(&filter)?)).await?))
}

#[derive(Deserialize)]
struct FeedQuery {
    queue: Option<String>,
    /// Replay logged events after this sequence number first (as does a `Last-Event-ID`).
    after_seq: Option<i64>,
}

async fn event_feed(
    State(s): State<ApiState>,
    headers: HeaderMap,
    query: Result<Query<FeedQuery>, QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let Query(q) = query.map_err(query_error)?;
    // Subscribe before reading the log, so nothing falls between the two; duplicates are
    // dropped by sequence number.
    let rx = s.feed();
    // RFC-less but universal: EventSource sends the last id it saw when it reconnects.
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
        .or(q.after_seq);
    let backlog = match resume {
        Some(after) => {
            let filter = EventFilter {
                queue: q.queue.clone(),
                after_seq: Some(after),
                ..Default::default()
            };
            blocking(&s, move |p| Ok(p.events(&filter)?)).await?
        }
        None => Vec::new(),
    };
    let mut last_seq = resume.unwrap_or(0);
    let queue = q.queue;
    let live = futures_util::stream::unfold(rx, move |mut rx| {
        let queue = queue.clone();
        async move {
            loop {
                match rx.recv().await {
                    Ok(e) if queue.as_ref().is_none_or(|q| *q == e.queue) => {
                        return Some((e, rx));
                    }
                    Ok(_) => continue,
                    // A slow reader skips what it missed; the log has it.
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return None,
                }
            }
        }
    });
    let stream = futures_util::stream::iter(backlog)
        .chain(live)
        .filter(move |e| {
            let fresh = e.seq > last_seq;
            if fresh {
                last_seq = e.seq;
            }
            std::future::ready(fresh)
        })
        .map(|e| {
            let data = serde_json::to_string(&e).unwrap_or_default();
            Ok(Event::default()
                .id(e.seq.to_string())
                .event(e.kind.clone())
                .data(data))
        });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// A query string that does not parse: 422 naming the parameters.
fn query_error(e: QueryRejection) -> ApiError {
    ApiError::field("query", "query", e.body_text())
}

async fn set_dnd(
    State(s): State<ApiState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body = json_body(&body)?;
    let Some(on) = body.get("dnd").and_then(Value::as_bool) else {
        return Err(ApiError::field(
            format!("agent {id:?}"),
            "dnd",
            "dnd must be true or false",
        ));
    };
    Ok(Json(blocking(&s, move |p| p.set_dnd(&id, on)).await?))
}

async fn opt(
    State(s): State<ApiState>,
    Path((id, queue)): Path<(String, String)>,
    out: bool,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        blocking(&s, move |p| p.set_opt_out(&id, &queue, out)).await?,
    ))
}

async fn metrics(State(s): State<ApiState>) -> Response {
    let (config, prefs) = match config_and_prefs(&s).await {
        Ok(both) => both,
        Err(e) => return e.into_response(),
    };
    let live = s.live().snapshot().await;
    let body = super::metrics::render(&config, &live, &prefs);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}
