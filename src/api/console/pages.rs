//! The console's handlers and templates. Each handler checks the session (and, for a change,
//! the CSRF token and the origin), asks the API's router for what it shows or changes, and
//! renders a page or redirects (303, post/redirect/get).

use askama::Template;
use axum::body::{Body, Bytes};
use axum::extract::{Multipart, Path, Query, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Map, Value};

pub(crate) mod board;
pub(crate) mod reports;
pub(crate) mod trunks;

use super::session::{csrf_ok, same_origin, Role, Session};
use super::{page, see_other, source, Console, Form, Reply};

// ---------------------------------------------------------------------------------------------
// Access

/// The page chrome every template shows: who is signed in, and the sign-out form's token.
pub(crate) struct Chrome {
    pub title: String,
    pub admin: bool,
    pub who: String,
    pub csrf: String,
}

impl Chrome {
    fn new(title: impl Into<String>, s: &Session) -> Chrome {
        let (admin, who) = match &s.role {
            Role::Admin => (true, "admin".to_owned()),
            Role::Agent(id) => (false, id.clone()),
        };
        Chrome {
            title: title.into(),
            admin,
            who,
            csrf: s.csrf.clone(),
        }
    }
}

/// Why a request is not served: it goes to sign in first, or it is refused (403).
pub(crate) enum Denied {
    SignIn,
    Refused(&'static str),
}

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        match self {
            Denied::SignIn => see_other("/sign-in"),
            Denied::Refused(why) => refused(why),
        }
    }
}

/// A page only admins see: the session, or a redirect to sign in (an agent gets 403).
fn admin(c: &Console, headers: &HeaderMap) -> Result<Session, Denied> {
    match c.session(headers) {
        Some((_, s)) if s.role == Role::Admin => Ok(s),
        Some(_) => Err(Denied::Refused("this page is for admins")),
        None => Err(Denied::SignIn),
    }
}

/// A state-changing request: a live session, a form token that matches it, and an Origin /
/// Referer naming this host. Anything else is refused (403) and changes nothing.
fn guard(c: &Console, headers: &HeaderMap, form_csrf: &str) -> Result<Session, Denied> {
    if !from_console(headers) {
        return Err(Denied::Refused(
            "the request did not come from this console (Origin)",
        ));
    }
    let Some((_, s)) = c.session(headers) else {
        return Err(Denied::Refused("sign in first"));
    };
    if !csrf_ok(&s, form_csrf) {
        return Err(Denied::Refused(
            "the form's CSRF token is missing or wrong; reload the page",
        ));
    }
    Ok(s)
}

/// Whether the request's Origin (or Referer) names the host it was sent to.
fn from_console(headers: &HeaderMap) -> bool {
    let header = |h: header::HeaderName| headers.get(h).and_then(|v| v.to_str().ok());
    same_origin(
        header(header::ORIGIN),
        header(header::REFERER),
        header(header::HOST),
    )
}

fn guard_admin(c: &Console, headers: &HeaderMap, form_csrf: &str) -> Result<Session, Denied> {
    let s = guard(c, headers, form_csrf)?;
    if s.role != Role::Admin {
        return Err(Denied::Refused("this action is for admins"));
    }
    Ok(s)
}

fn refused(why: &str) -> Response {
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("refused: {why}\n"),
    )
        .into_response()
}

/// A path segment as the API's router expects it (ids are plain, but a user may type anything).
fn seg(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~+@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Sign-in

#[derive(Template)]
#[template(path = "console/sign_in.html")]
struct SignInPage {
    error: String,
}

pub(crate) async fn home(State(c): State<Console>, headers: HeaderMap) -> Response {
    match c.session(&headers) {
        Some((_, s)) if s.role == Role::Admin => see_other("/admin"),
        Some(_) => see_other("/agent"),
        None => see_other("/sign-in"),
    }
}

pub(crate) async fn sign_in_page() -> Response {
    page(&SignInPage {
        error: String::new(),
    })
}

pub(crate) async fn sign_in(State(c): State<Console>, request: Request) -> Response {
    let from = source(&request);
    let (parts, body) = request.into_parts();
    // No session yet, so no CSRF token: the origin check keeps other sites from signing a
    // browser in to an account of theirs (login CSRF).
    if !from_console(&parts.headers) {
        return refused("the request did not come from this console (Origin)");
    }
    let failed = |status: StatusCode, error: &str| {
        let mut r = page(&SignInPage {
            error: error.to_owned(),
        });
        *r.status_mut() = status;
        r
    };
    if c.sign_in_refused(from) {
        return failed(
            StatusCode::TOO_MANY_REQUESTS,
            "too many failed sign-ins from your address; try again in a few minutes",
        );
    }
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return failed(StatusCode::BAD_REQUEST, "the form is too large");
    };
    let form = Form::parse(&bytes);
    let user = form.text("user");
    let secret = form.get("secret").unwrap_or("");
    let role = if user.is_empty() {
        // An admin: the API token or `[api] admin_password_hash`. Without a token the API is
        // open (only on loopback, and `holdline serve` always has one), and so is this.
        let token_ok = match c.token() {
            Some(token) => super::super::constant_time_eq(secret.as_bytes(), token.as_bytes()),
            None => true,
        };
        (token_ok || admin_password_ok(&c, secret).await).then_some(Role::Admin)
    } else {
        agent_password_ok(&c, user, secret)
            .await
            .then(|| Role::Agent(user.to_owned()))
    };
    let Some(role) = role else {
        c.sign_in_failed(from);
        return failed(
            StatusCode::UNAUTHORIZED,
            "wrong credentials (admins: leave the user empty and give the API token or the \
             admin password; agents: your user id and SIP password)",
        );
    };
    c.sign_in_succeeded(from);
    let to = if role == Role::Admin {
        "/admin"
    } else {
        "/agent"
    };
    let cookie = c.start_session(role, &parts.headers);
    let mut r = see_other(to);
    if let Ok(v) = cookie.parse() {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// Whether `password` is the configured admin password (argon2 is slow by design: off the
/// async workers).
async fn admin_password_ok(c: &Console, password: &str) -> bool {
    // Two hashes at a time at most: each takes about 19 MiB and a blocking thread, and failed
    // sign-ins are limited per source only, so many sources at once must queue, not pile up.
    static ARGON2: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);
    let Ok(_permit) = ARGON2.acquire().await else {
        return false;
    };
    let s = c.state().clone();
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        let config = s.prov().config();
        config
            .api
            .admin_password_hash
            .as_deref()
            .is_some_and(|phc| super::password_matches(phc, &password))
    })
    .await
    .unwrap_or(false)
}

/// Whether `user` exists, has a SIP password, and it is `password` (constant time).
async fn agent_password_ok(c: &Console, user: &str, password: &str) -> bool {
    let s = c.state().clone();
    let user = user.to_owned();
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        let config = s.prov().config();
        config
            .users
            .iter()
            .find(|u| u.id.as_str() == user)
            .and_then(|u| u.password.as_deref())
            // Digests of both, compared in constant time: the comparison returns early on a
            // length difference, and a password's length is a secret too.
            .is_some_and(|p| {
                use sha2::Digest as _;
                super::super::constant_time_eq(
                    &sha2::Sha256::digest(p.as_bytes()),
                    &sha2::Sha256::digest(password.as_bytes()),
                )
            })
    })
    .await
    .unwrap_or(false)
}

pub(crate) async fn sign_out(
    State(c): State<Console>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = Form::parse(&body);
    if let Err(r) = guard(&c, &headers, form.text("csrf")) {
        return r.into_response();
    }
    if let Some((id, _)) = c.session(&headers) {
        c.end_session(&id);
    }
    let mut r = see_other("/sign-in");
    r.headers_mut().insert(
        header::SET_COOKIE,
        header::HeaderValue::from_static(
            "hl_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0",
        ),
    );
    r
}

// ---------------------------------------------------------------------------------------------
// The agent's page

#[derive(Template)]
#[template(path = "console/agent.html")]
struct AgentPage {
    chrome: Chrome,
    dnd: bool,
    queues: Vec<AgentQueue>,
    registrations: Vec<Registration>,
    recent: Vec<EventRow>,
    error: String,
    /// (id, name) of the queues they are an authorized user of (may edit).
    managed: Vec<(String, String)>,
}

/// How many of an agent's latest calls their page lists.
const RECENT_CALLS: usize = 10;

struct AgentQueue {
    id: String,
    name: String,
    opted_in: bool,
    allow_opt_out: bool,
}

pub(crate) struct Registration {
    contact: String,
    source: String,
    transport: String,
    user_agent: String,
    expires_in: u64,
}

fn registrations(v: &Value) -> Vec<Registration> {
    v.as_array()
        .map(|list| {
            list.iter()
                .map(|r| Registration {
                    contact: str_of(&r["contact"]),
                    source: str_of(&r["source"]),
                    transport: str_of(&r["transport"]),
                    user_agent: str_of(&r["user_agent"]),
                    expires_in: r["expires_in_secs"].as_u64().unwrap_or(0),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A JSON array's items, none for anything else: the API's lists, read leniently (a page shows
/// what came back rather than failing on a shape it did not expect).
pub(super) trait Items {
    fn items(&self) -> std::slice::Iter<'_, Value>;
}

impl Items for Value {
    fn items(&self) -> std::slice::Iter<'_, Value> {
        self.as_array().map_or([].iter(), |a| a.iter())
    }
}

fn str_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn agent_of(s: &Session) -> Option<String> {
    match &s.role {
        Role::Agent(id) => Some(id.clone()),
        Role::Admin => None,
    }
}

pub(crate) async fn agent_page(State(c): State<Console>, headers: HeaderMap) -> Response {
    let Some((_, s)) = c.session(&headers) else {
        return see_other("/sign-in");
    };
    let Some(id) = agent_of(&s) else {
        return see_other("/admin");
    };
    render_agent(&c, &s, &id, String::new()).await
}

async fn render_agent(c: &Console, s: &Session, id: &str, error: String) -> Response {
    let agent = c
        .api(Method::GET, &format!("/api/v1/agents/{}", seg(id)), None)
        .await;
    let regs = c
        .api(
            Method::GET,
            &format!("/api/v1/users/{}/registrations", seg(id)),
            None,
        )
        .await;
    let names = queue_names(c).await;
    let queues = agent.body["queues"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|q| {
                    let qid = str_of(&q["queue"]);
                    AgentQueue {
                        name: names
                            .iter()
                            .find(|(i, _)| *i == qid)
                            .map(|(_, n)| n.clone())
                            .unwrap_or_else(|| qid.clone()),
                        id: qid,
                        opted_in: q["opted_in"].as_bool().unwrap_or(true),
                        allow_opt_out: q["allow_opt_out"].as_bool().unwrap_or(false),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    // Their latest answered and missed offers, from the event log (the API's newest events).
    let log = c.api(Method::GET, "/api/v1/events?limit=1000", None).await;
    let recent = log
        .body
        .items()
        .rev()
        .filter(|e| e["agent"] == id && (e["kind"] == "answered" || e["kind"] == "agent-missed"))
        .take(RECENT_CALLS)
        .map(event_row)
        .collect();
    page(&AgentPage {
        chrome: Chrome::new("My settings", s),
        dnd: agent.body["dnd"].as_bool().unwrap_or(false),
        queues,
        registrations: registrations(&regs.body),
        recent,
        error,
        managed: managed_queues(c, id).await,
    })
}

/// (id, name) of every queue.
async fn queue_names(c: &Console) -> Vec<(String, String)> {
    let list = c.api(Method::GET, "/api/v1/queues", None).await;
    list.body
        .as_array()
        .map(|l| {
            l.iter()
                .map(|q| (str_of(&q["id"]), str_of(&q["name"])))
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) async fn agent_dnd(
    State(c): State<Console>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = Form::parse(&body);
    let s = match guard(&c, &headers, form.text("csrf")) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    // The agent is who signed in, never a field of the form.
    let Some(id) = agent_of(&s) else {
        return refused("this action is for agents");
    };
    let on = form.text("dnd") == "on";
    let reply = c
        .api(
            Method::PUT,
            &format!("/api/v1/agents/{}/dnd", seg(&id)),
            Some(&json!({ "dnd": on })),
        )
        .await;
    after_agent_change(&c, &s, &id, reply).await
}

pub(crate) async fn agent_opt(
    State(c): State<Console>,
    Path(queue): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = Form::parse(&body);
    let s = match guard(&c, &headers, form.text("csrf")) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let Some(id) = agent_of(&s) else {
        return refused("this action is for agents");
    };
    let action = match form.text("action") {
        "opt-out" => "opt-out",
        _ => "opt-in",
    };
    let reply = c
        .api(
            Method::POST,
            &format!(
                "/api/v1/agents/{}/queues/{}/{action}",
                seg(&id),
                seg(&queue)
            ),
            None,
        )
        .await;
    after_agent_change(&c, &s, &id, reply).await
}

async fn after_agent_change(c: &Console, s: &Session, id: &str, reply: Reply) -> Response {
    if reply.ok() {
        return see_other("/agent");
    }
    let error = reply
        .problems()
        .into_iter()
        .map(|(_, m)| m)
        .collect::<Vec<_>>()
        .join("; ");
    let mut r = render_agent(c, s, id, error).await;
    *r.status_mut() = reply.status;
    r
}

// ---------------------------------------------------------------------------------------------
// Admin: queues

#[derive(Template)]
#[template(path = "console/queues.html")]
struct QueuesPage {
    chrome: Chrome,
    queues: Vec<QueueRow>,
}

struct QueueRow {
    id: String,
    name: String,
    numbers: String,
    waiting: u64,
    longest_wait: u64,
    available: usize,
    agents: usize,
    origin: String,
}

pub(crate) async fn admin_queues(State(c): State<Console>, headers: HeaderMap) -> Response {
    let s = match admin(&c, &headers) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let list = c.api(Method::GET, "/api/v1/queues", None).await;
    let mut queues = Vec::new();
    for q in list.body.items() {
        let id = str_of(&q["id"]);
        let status = c
            .api(
                Method::GET,
                &format!("/api/v1/queues/{}/status", seg(&id)),
                None,
            )
            .await
            .body;
        let agents = status["agents"].as_array().cloned().unwrap_or_default();
        queues.push(QueueRow {
            name: str_of(&q["name"]),
            numbers: join(&q["numbers"]),
            waiting: status["calls_waiting"].as_u64().unwrap_or(0),
            longest_wait: status["longest_wait_secs"].as_u64().unwrap_or(0),
            available: agents.iter().filter(|a| a["state"] == "available").count(),
            agents: agents.len(),
            origin: str_of(&q["origin"]),
            id,
        });
    }
    page(&QueuesPage {
        chrome: Chrome::new("Queues", &s),
        queues,
    })
}

fn join(v: &Value) -> String {
    v.as_array()
        .map(|l| l.iter().map(str_of).collect::<Vec<_>>().join(", "))
        .unwrap_or_default()
}

/// One input of the queue form.
pub(crate) struct Field {
    name: &'static str,
    label: &'static str,
    /// `text`, `number`, `select` or `checkbox`.
    kind: &'static str,
    value: String,
    options: Vec<Choice>,
    help: &'static str,
    error: String,
}

pub(crate) struct Choice {
    value: String,
    label: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "console/queue_form.html")]
struct QueueFormPage {
    chrome: Chrome,
    /// `None`: a new queue.
    id: Option<String>,
    fields: Vec<Field>,
    /// Problems no field claims.
    errors: Vec<String>,
    /// Why the queue cannot be changed here (declared in the config file), or empty.
    read_only: String,
    prompts: Vec<PromptRow>,
}

/// The fields of the queue form (the names are the `[[queue]]` table's), filled from a queue
/// as the API shows it.
fn queue_fields(view: &Value, prompts: &[PromptRow], creating: bool) -> Vec<Field> {
    let text = |name: &'static str, label: &'static str, help: &'static str| Field {
        name,
        label,
        kind: "text",
        value: if view[name].is_array() {
            join(&view[name])
        } else {
            str_of(&view[name])
        },
        options: vec![],
        help,
        error: String::new(),
    };
    let number = |name: &'static str, label: &'static str, help: &'static str| Field {
        kind: "number",
        ..text(name, label, help)
    };
    let select = |name: &'static str,
                  label: &'static str,
                  current: String,
                  options: Vec<(String, String)>,
                  help: &'static str| {
        let mut options: Vec<Choice> = options
            .into_iter()
            .map(|(value, label)| Choice {
                selected: value == current,
                value,
                label,
            })
            .collect();
        if !current.is_empty() && !options.iter().any(|o| o.selected) {
            options.push(Choice {
                value: current.clone(),
                label: current.clone(),
                selected: true,
            });
        }
        Field {
            name,
            label,
            kind: "select",
            value: current,
            options,
            help,
            error: String::new(),
        }
    };
    let plain = |list: &[&str]| -> Vec<(String, String)> {
        list.iter()
            .map(|s| (s.to_string(), s.to_string()))
            .collect()
    };
    let action = |name: &str| str_of(&view[name]["action"]);
    let to = |name: &str| str_of(&view[name]["to"]);
    // A queue's prompt shows as the stored file's path; the select names it by reference.
    let prompt_choice = |field: &str| -> String {
        let id = str_of(&view["id"]);
        prompts
            .iter()
            .find(|p| p.used_by.iter().any(|(q, f)| *q == id && f == field))
            .map(|p| p.reference.clone())
            .unwrap_or_else(|| str_of(&view[field]))
    };
    let prompt_options = |first: (&str, &str)| -> Vec<(String, String)> {
        std::iter::once((first.0.to_owned(), first.1.to_owned()))
            .chain(
                prompts
                    .iter()
                    .map(|p| (p.reference.clone(), format!("{} ({})", p.name, p.reference))),
            )
            .collect()
    };
    let mut music = prompt_choice("music_on_hold");
    if music.is_empty() {
        music = "default".into();
    }
    let mut fields = Vec::new();
    if creating {
        fields.push(text(
            "id",
            "Id",
            "letters, digits, - and _; cannot change later",
        ));
    }
    fields.extend([
        text("name", "Name", "up to 64 characters; shown to agents"),
        text("numbers", "Service numbers", "E.164, separated by commas"),
        text(
            "addresses",
            "SIP addresses",
            "sip:sales@example.com, separated by commas",
        ),
        select(
            "greeting",
            "Greeting",
            prompt_choice("greeting"),
            prompt_options(("", "none")),
            "played once before music on hold",
        ),
        select(
            "music_on_hold",
            "Music on hold",
            music,
            prompt_options(("default", "default")),
            "",
        ),
        select(
            "routing",
            "Routing",
            str_of(&view["routing"]),
            plain(&["attendant", "serial", "round-robin", "longest-idle"]),
            "",
        ),
        select(
            "offer",
            "Offer",
            str_of(&view["offer"]),
            plain(&["head", "parallel"]),
            "head: only the first caller rings agents",
        ),
        text("agents", "Agents", "user ids, separated by commas"),
        text("groups", "Groups", "group ids, separated by commas"),
        Field {
            kind: "checkbox",
            value: if view["allow_opt_out"].as_bool().unwrap_or(creating) {
                "on".into()
            } else {
                String::new()
            },
            ..text("allow_opt_out", "Agents may opt out", "")
        },
        number(
            "agent_alert_time",
            "Agent alert time (s)",
            "15–180, default 30",
        ),
        number("wrap_up", "Wrap-up (s)", "pause after an agent's call"),
        number(
            "answer_delay_ms",
            "Answer delay (ms)",
            "ring before answering, 0–30000",
        ),
        number("max_calls", "Max calls", "0–200, default 50"),
        select(
            "on_overflow",
            "On overflow",
            action("on_overflow"),
            plain(&["busy", "forward"]),
            "",
        ),
        text(
            "on_overflow_to",
            "Overflow forwards to",
            "queue:ID, user:ID, +E164, sip:…",
        ),
        number(
            "max_wait",
            "Max wait (s)",
            "0–2700 in steps of 15, default 1200",
        ),
        select(
            "on_timeout",
            "On timeout",
            action("on_timeout"),
            plain(&["disconnect", "forward"]),
            "",
        ),
        text("on_timeout_to", "Timeout forwards to", ""),
        select(
            "no_agents",
            "With no agents",
            action("no_agents"),
            plain(&["queue", "disconnect", "forward"]),
            "",
        ),
        text("no_agents_to", "No-agents forwards to", ""),
    ]);
    for f in &mut fields {
        if let Some(action) = f.name.strip_suffix("_to") {
            f.value = to(action);
        }
    }
    fields
}

/// The form as the API's queue body. Fields left empty are left out (creating: the defaults
/// apply) or null (updating: reset to the default). Local errors: values that are not numbers.
fn queue_body(form: &Form, creating: bool) -> (Value, Vec<(String, String)>) {
    let mut body = Map::new();
    let mut errors = Vec::new();
    let empty = |body: &mut Map<String, Value>, name: &str| {
        if !creating {
            body.insert(name.to_owned(), Value::Null);
        }
    };
    for name in [
        "id",
        "name",
        "greeting",
        "music_on_hold",
        "routing",
        "offer",
    ] {
        if name == "id" && !creating {
            continue;
        }
        match form.text(name) {
            "" => empty(&mut body, name),
            v => {
                body.insert(name.to_owned(), json!(v));
            }
        }
    }
    for name in ["numbers", "addresses", "agents", "groups"] {
        let list: Vec<&str> = form
            .text(name)
            .split([',', ' ', '\n', '\r', '\t'])
            .filter(|s| !s.is_empty())
            .collect();
        if !list.is_empty() || !creating {
            body.insert(name.to_owned(), json!(list));
        }
    }
    body.insert(
        "allow_opt_out".into(),
        json!(form.get("allow_opt_out").is_some()),
    );
    for name in [
        "agent_alert_time",
        "wrap_up",
        "answer_delay_ms",
        "max_calls",
        "max_wait",
    ] {
        match form.text(name) {
            "" => empty(&mut body, name),
            v => match v.parse::<i64>() {
                Ok(n) => {
                    body.insert(name.to_owned(), json!(n));
                }
                Err(_) => errors.push((name.to_owned(), format!("{name} must be a whole number"))),
            },
        }
    }
    for name in ["on_overflow", "on_timeout", "no_agents"] {
        let action = form.text(name);
        let to = form.text(&format!("{name}_to"));
        match (action, to) {
            ("", _) => empty(&mut body, name),
            (a, "") => {
                body.insert(name.to_owned(), json!({ "action": a }));
            }
            (a, t) => {
                body.insert(name.to_owned(), json!({ "action": a, "to": t }));
            }
        }
    }
    (Value::Object(body), errors)
}

/// Puts each problem next to its field (`on_overflow.to` → `on_overflow`); the rest are
/// returned for the top of the form.
fn place_errors(fields: &mut [Field], problems: Vec<(String, String)>) -> Vec<String> {
    let mut rest = Vec::new();
    for (field, message) in problems {
        let base = field.split(['.', '[']).next().unwrap_or("");
        match fields
            .iter_mut()
            .find(|f| !base.is_empty() && f.name == base)
        {
            Some(f) => {
                if !f.error.is_empty() {
                    f.error.push_str("; ");
                }
                f.error.push_str(&message);
            }
            None => rest.push(message),
        }
    }
    rest
}

/// Keeps what the admin typed when the form comes back with errors.
fn refill(fields: &mut [Field], form: &Form) {
    for f in fields {
        if f.kind == "checkbox" {
            f.value = if form.get(f.name).is_some() {
                "on".into()
            } else {
                String::new()
            };
            continue;
        }
        let v = form.text(f.name).to_owned();
        if f.kind == "select" {
            for o in &mut f.options {
                o.selected = o.value == v;
            }
        }
        f.value = v;
    }
}

pub(crate) async fn new_queue_page(State(c): State<Console>, headers: HeaderMap) -> Response {
    let s = match admin(&c, &headers) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let prompts = prompt_rows(&c).await;
    let mut fields = queue_fields(&json!({}), &prompts, true);
    fields.push(authorized_users_field(&json!({})));
    page(&QueueFormPage {
        chrome: Chrome::new("New queue", &s),
        id: None,
        fields,
        errors: vec![],
        read_only: String::new(),
        prompts,
    })
}

pub(crate) async fn edit_queue_page(
    State(c): State<Console>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some((_, s)) = c.session(&headers) else {
        return Denied::SignIn.into_response();
    };
    if let Err(r) = may_edit_queue(&c, &s, &id).await {
        return r.into_response();
    }
    let reply = c
        .api(Method::GET, &format!("/api/v1/queues/{}", seg(&id)), None)
        .await;
    if !reply.ok() {
        return (
            reply.status,
            format!("queue {id:?}: {}", reply.body["error"]),
        )
            .into_response();
    }
    let prompts = prompt_rows(&c).await;
    let mut fields = queue_fields(&reply.body, &prompts, false);
    if s.role == Role::Admin {
        fields.push(authorized_users_field(&reply.body));
    }
    page(&QueueFormPage {
        chrome: Chrome::new(format!("Queue {id}"), &s),
        read_only: read_only_reason(&reply.body),
        fields,
        id: Some(id),
        errors: vec![],
        prompts,
    })
}

/// Why an object cannot be edited here, or "".
fn read_only_reason(view: &Value) -> String {
    if view["origin"] == "file" {
        "This queue is declared in the configuration file and is read-only here: change it in \
         the file (objects from the file are read-only through the API)."
            .into()
    } else {
        String::new()
    }
}

pub(crate) async fn create_queue(
    State(c): State<Console>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = Form::parse(&body);
    let s = match guard_admin(&c, &headers, form.text("csrf")) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let (mut json_body, local) = queue_body(&form, true);
    put_authorized_users(&mut json_body, &form, true);
    if local.is_empty() {
        let reply = c
            .api(Method::POST, "/api/v1/queues", Some(&json_body))
            .await;
        if reply.ok() {
            return see_other("/admin");
        }
        return queue_form_with_errors(&c, &s, None, &form, reply.problems(), reply.status).await;
    }
    queue_form_with_errors(&c, &s, None, &form, local, StatusCode::UNPROCESSABLE_ENTITY).await
}

pub(crate) async fn update_queue(
    State(c): State<Console>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = Form::parse(&body);
    let s = match guard(&c, &headers, form.text("csrf")) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    if let Err(r) = may_edit_queue(&c, &s, &id).await {
        return r.into_response();
    }
    let admin = s.role == Role::Admin;
    // Removing (and creating) queues stays with admins: a delegated admin edits.
    if form.text("delete") == "yes" && !admin {
        return refused("only admins remove queues");
    }
    if form.text("delete") == "yes" {
        let reply = c
            .api(
                Method::DELETE,
                &format!("/api/v1/queues/{}", seg(&id)),
                None,
            )
            .await;
        if reply.ok() {
            return see_other("/admin");
        }
        return queue_form_with_errors(&c, &s, Some(id), &form, reply.problems(), reply.status)
            .await;
    }
    let (mut json_body, local) = queue_body(&form, false);
    // Only an admin names who else may edit; a delegated admin's form cannot (the field is
    // neither shown to them nor read from what they post).
    if admin {
        put_authorized_users(&mut json_body, &form, false);
    } else {
        // A delegated admin tunes how their queue answers (name, prompts, routing, timers,
        // limits); who is in it, which numbers reach it and where its calls are forwarded stay
        // with admins: a forward to `tel:` that a trunk allows would let them send every call
        // of the queue to a number of their choosing (toll fraud), and `numbers`/`agents`
        // would take other queues' numbers or people.
        if let Some(body) = json_body.as_object_mut() {
            for key in DELEGATED_KEEPS {
                body.remove(*key);
            }
        }
    }
    if local.is_empty() {
        let reply = c
            .api(
                Method::PATCH,
                &format!("/api/v1/queues/{}", seg(&id)),
                Some(&json_body),
            )
            .await;
        if reply.ok() {
            return see_other(if admin { "/admin" } else { "/agent" });
        }
        return queue_form_with_errors(&c, &s, Some(id), &form, reply.problems(), reply.status)
            .await;
    }
    queue_form_with_errors(
        &c,
        &s,
        Some(id),
        &form,
        local,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
}

/// Queue fields only admins change; a delegated admin's form leaves them as stored.
const DELEGATED_KEEPS: &[&str] = &[
    "numbers",
    "addresses",
    "agents",
    "groups",
    "on_overflow",
    "on_timeout",
    "no_agents",
];

async fn queue_form_with_errors(
    c: &Console,
    s: &Session,
    id: Option<String>,
    form: &Form,
    problems: Vec<(String, String)>,
    status: StatusCode,
) -> Response {
    let prompts = prompt_rows(c).await;
    let mut fields = queue_fields(&json!({}), &prompts, id.is_none());
    if s.role == Role::Admin {
        fields.push(authorized_users_field(&json!({})));
    }
    refill(&mut fields, form);
    let errors = place_errors(&mut fields, problems);
    let mut r = page(&QueueFormPage {
        chrome: Chrome::new(
            id.as_deref()
                .map_or("New queue".to_owned(), |i| format!("Queue {i}")),
            s,
        ),
        id,
        fields,
        errors,
        read_only: String::new(),
        prompts,
    });
    *r.status_mut() = status;
    r
}

// ---------------------------------------------------------------------------------------------
// Delegated queue admins (`[[queue]] authorized_users`)

/// Whether the session may open and edit queue `id`: an admin may edit every queue; a user
/// only the queues whose `authorized_users` name them, looked up at each request so that a
/// change to the list applies at once. Anything else is refused (403), an unknown queue too
/// (a delegated admin learns nothing of other queues).
async fn may_edit_queue(c: &Console, s: &Session, id: &str) -> Result<(), Denied> {
    let Role::Agent(user) = &s.role else {
        return Ok(());
    };
    let reply = c
        .api(Method::GET, &format!("/api/v1/queues/{}", seg(id)), None)
        .await;
    if reply.ok() && authorized(&reply.body, user) {
        Ok(())
    } else {
        Err(Denied::Refused(
            "you may edit only the queues you are an authorized user of",
        ))
    }
}

/// Whether the queue (as the API shows it) lists `user` in `authorized_users`.
pub(crate) fn authorized(queue: &Value, user: &str) -> bool {
    queue["authorized_users"].items().any(|u| u == user)
}

/// (id, name) of the queues `user` may edit.
async fn managed_queues(c: &Console, user: &str) -> Vec<(String, String)> {
    let list = c.api(Method::GET, "/api/v1/queues", None).await;
    list.body
        .items()
        .filter(|q| authorized(q, user))
        .map(|q| (str_of(&q["id"]), str_of(&q["name"])))
        .collect()
}

/// The queue form's `authorized_users` field, shown to admins only.
fn authorized_users_field(view: &Value) -> Field {
    Field {
        name: "authorized_users",
        label: "Authorized users",
        kind: "text",
        value: join(&view["authorized_users"]),
        options: vec![],
        help: "user ids who may edit this queue in the console, separated by commas",
        error: String::new(),
    }
}

/// The form's `authorized_users` into the API body: creating, only when some are given;
/// updating, always (an emptied field clears the list).
fn put_authorized_users(body: &mut Value, form: &Form, creating: bool) {
    let list: Vec<&str> = form
        .text("authorized_users")
        .split([',', ' ', '\n', '\r', '\t'])
        .filter(|s| !s.is_empty())
        .collect();
    if let Some(map) = body.as_object_mut() {
        if !list.is_empty() || !creating {
            map.insert("authorized_users".to_owned(), json!(list));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Admin: prompts

pub(crate) struct PromptRow {
    id: String,
    reference: String,
    name: String,
    format: String,
    seconds: String,
    /// (queue, field)
    used_by: Vec<(String, String)>,
}

impl PromptRow {
    fn used(&self) -> String {
        self.used_by
            .iter()
            .map(|(q, f)| format!("{q} ({f})"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

async fn prompt_rows(c: &Console) -> Vec<PromptRow> {
    let reply = c.api(Method::GET, "/api/v1/prompts", None).await;
    reply
        .body
        .items()
        .map(|p| PromptRow {
            id: str_of(&p["id"]),
            reference: str_of(&p["reference"]),
            name: str_of(&p["name"]),
            format: str_of(&p["format"]),
            seconds: format!("{:.1}", p["duration_ms"].as_f64().unwrap_or(0.0) / 1000.0),
            used_by: p["used_by"]
                .items()
                .map(|u| (str_of(&u["queue"]), str_of(&u["field"])))
                .collect(),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "console/prompts.html")]
struct PromptsPage {
    chrome: Chrome,
    prompts: Vec<PromptRow>,
    error: String,
}

pub(crate) async fn prompts_page(State(c): State<Console>, headers: HeaderMap) -> Response {
    let s = match admin(&c, &headers) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    page(&PromptsPage {
        chrome: Chrome::new("Prompts", &s),
        prompts: prompt_rows(&c).await,
        error: String::new(),
    })
}

/// A multipart form: `csrf`, then one `file`. The file goes to `POST /api/v1/prompts` as a
/// raw body named after the file.
pub(crate) async fn upload_prompt(
    State(c): State<Console>,
    headers: HeaderMap,
    mut multipart: Multipart,
) -> Response {
    // The CSRF token is inside the body: before reading a large body, the request must at
    // least come from this console with an admin's session.
    if !from_console(&headers) {
        return refused("the request did not come from this console (Origin)");
    }
    match c.session(&headers) {
        Some((_, s)) if s.role == Role::Admin => {}
        _ => return refused("sign in as an admin first"),
    }
    let mut csrf = String::new();
    let mut file: Option<(String, Bytes)> = None;
    let mut back = String::new();
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or("").to_owned();
                let file_name = field.file_name().unwrap_or("upload").to_owned();
                let Ok(bytes) = field.bytes().await else {
                    return (StatusCode::BAD_REQUEST, "the upload was cut short").into_response();
                };
                match name.as_str() {
                    "csrf" => csrf = String::from_utf8_lossy(&bytes).into_owned(),
                    "back" => back = String::from_utf8_lossy(&bytes).into_owned(),
                    "file" => file = Some((file_name, bytes)),
                    _ => {}
                }
            }
            Ok(None) => break,
            Err(e) => return (StatusCode::BAD_REQUEST, e.body_text()).into_response(),
        }
    }
    let s = match guard_admin(&c, &headers, csrf.trim()) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let error = match file {
        Some((name, bytes)) if !bytes.is_empty() => {
            let path = format!(
                "/api/v1/prompts?{}",
                serde_urlencoded::to_string([("name", name.as_str())]).unwrap_or_default()
            );
            let response = c
                .api_raw(
                    Method::POST,
                    &path,
                    "application/octet-stream",
                    Body::from(bytes),
                )
                .await;
            let status = response.status();
            let bytes = axum::body::to_bytes(response.into_body(), 1024 * 1024)
                .await
                .unwrap_or_default();
            let reply = Reply {
                status,
                body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            };
            if reply.ok() {
                // Back to the queue form the upload was made from, when it was one.
                let to = if back.starts_with("/admin/queues/") {
                    back
                } else {
                    "/admin/prompts".to_owned()
                };
                return see_other(&to);
            }
            reply
                .problems()
                .into_iter()
                .map(|(_, m)| m)
                .collect::<Vec<_>>()
                .join("; ")
        }
        _ => "choose a file to upload".to_owned(),
    };
    let mut r = page(&PromptsPage {
        chrome: Chrome::new("Prompts", &s),
        prompts: prompt_rows(&c).await,
        error,
    });
    *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    r
}

/// The prompt as holdline plays it, for the page's `<audio>` player.
pub(crate) async fn prompt_audio(
    State(c): State<Console>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = admin(&c, &headers) {
        return r.into_response();
    }
    c.api_raw(
        Method::GET,
        &format!("/api/v1/prompts/{}/audio", seg(&id)),
        "application/json",
        Body::empty(),
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// Admin: numbers, users and groups, events

#[derive(Template)]
#[template(path = "console/numbers.html")]
struct NumbersPage {
    chrome: Chrome,
    numbers: Vec<NumberRow>,
    error: String,
}

struct NumberRow {
    e164: String,
    kind: String,
    assigned_to: String,
    origin: String,
}

pub(crate) async fn numbers_page(State(c): State<Console>, headers: HeaderMap) -> Response {
    let s = match admin(&c, &headers) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    render_numbers(&c, &s, String::new()).await
}

async fn render_numbers(c: &Console, s: &Session, error: String) -> Response {
    let list = c.api(Method::GET, "/api/v1/numbers", None).await;
    let numbers = list
        .body
        .items()
        .map(|n| NumberRow {
            e164: str_of(&n["e164"]),
            kind: str_of(&n["kind"]),
            assigned_to: str_of(&n["assigned_to"]),
            origin: str_of(&n["origin"]),
        })
        .collect();
    page(&NumbersPage {
        chrome: Chrome::new("Numbers", s),
        numbers,
        error,
    })
}

#[derive(Template)]
#[template(path = "console/users.html")]
struct UsersPage {
    chrome: Chrome,
    users: Vec<UserRow>,
    groups: Vec<GroupRow>,
    error: String,
}

struct UserRow {
    id: String,
    name: String,
    numbers: String,
    contacts: String,
    dnd: bool,
    opted_out: String,
    registrations: Vec<Registration>,
    origin: String,
}

struct GroupRow {
    id: String,
    members: String,
    origin: String,
}

pub(crate) async fn users_page(State(c): State<Console>, headers: HeaderMap) -> Response {
    let s = match admin(&c, &headers) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    render_users(&c, &s, String::new()).await
}

async fn render_users(c: &Console, s: &Session, error: String) -> Response {
    let list = c.api(Method::GET, "/api/v1/users", None).await;
    let mut users = Vec::new();
    for u in list.body.items() {
        let id = str_of(&u["id"]);
        let agent = c
            .api(Method::GET, &format!("/api/v1/agents/{}", seg(&id)), None)
            .await
            .body;
        let regs = c
            .api(
                Method::GET,
                &format!("/api/v1/users/{}/registrations", seg(&id)),
                None,
            )
            .await
            .body;
        users.push(UserRow {
            name: str_of(&u["name"]),
            numbers: join(&u["numbers"]),
            contacts: join(&u["contacts"]),
            dnd: agent["dnd"].as_bool().unwrap_or(false),
            opted_out: agent["queues"]
                .items()
                .filter(|q| q["opted_in"] == false)
                .map(|q| str_of(&q["queue"]))
                .collect::<Vec<_>>()
                .join(", "),
            registrations: registrations(&regs),
            origin: str_of(&u["origin"]),
            id,
        });
    }
    let groups = c
        .api(Method::GET, "/api/v1/groups", None)
        .await
        .body
        .items()
        .map(|g| GroupRow {
            id: str_of(&g["id"]),
            members: join(&g["members"]),
            origin: str_of(&g["origin"]),
        })
        .collect();
    page(&UsersPage {
        chrome: Chrome::new("Users and groups", s),
        users,
        groups,
        error,
    })
}

/// Creates or removes a number, user or group (`kind` is the API's collection) from the
/// inventory pages' forms, through the API's routes; back to the page, or the page with the
/// API's reason.
pub(crate) async fn change_object(
    State(c): State<Console>,
    Path(kind): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = Form::parse(&body);
    let s = match guard_admin(&c, &headers, form.text("csrf")) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let list = |name: &str| -> Vec<String> {
        form.text(name)
            .split([',', ' ', '\n', '\r', '\t'])
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let (kind, back) = match kind.as_str() {
        "numbers" => ("numbers", "/admin/numbers"),
        "users" => ("users", "/admin/users"),
        "groups" => ("groups", "/admin/users"),
        _ => return (StatusCode::NOT_FOUND, "no such kind").into_response(),
    };
    let reply = if form.text("op") == "remove" {
        let id = form.text("id");
        c.api(Method::DELETE, &format!("/api/v1/{kind}/{}", seg(id)), None)
            .await
    } else {
        let mut body = Map::new();
        let mut put = |k: &str, v: Value| {
            body.insert(k.to_owned(), v);
        };
        match kind {
            "numbers" => {
                put("e164", json!(form.text("e164")));
                put("kind", json!(form.text("kind")));
            }
            "users" => {
                put("id", json!(form.text("id")));
                for k in ["name", "password"] {
                    if !form.text(k).is_empty() {
                        put(k, json!(form.text(k)));
                    }
                }
                put("contacts", json!(list("contacts")));
                put("numbers", json!(list("numbers")));
            }
            _ => {
                put("id", json!(form.text("id")));
                put("members", json!(list("members")));
            }
        }
        c.api(
            Method::POST,
            &format!("/api/v1/{kind}"),
            Some(&Value::Object(body)),
        )
        .await
    };
    if reply.ok() {
        return see_other(back);
    }
    let error = reply
        .problems()
        .into_iter()
        .map(|(_, m)| m)
        .collect::<Vec<_>>()
        .join("; ");
    let mut r = if back == "/admin/numbers" {
        render_numbers(&c, &s, error).await
    } else {
        render_users(&c, &s, error).await
    };
    *r.status_mut() = reply.status;
    r
}

#[derive(Template)]
#[template(path = "console/events.html")]
struct EventsPage {
    chrome: Chrome,
    queue: String,
    kind: String,
    agent: String,
    since: String,
    until: String,
    queues: Vec<(String, String)>,
    events: Vec<EventRow>,
    error: String,
}

struct EventRow {
    at: String,
    queue: String,
    call_id: String,
    agent: String,
    kind: String,
    detail: String,
    waited: String,
}

#[derive(Deserialize, Default)]
pub(crate) struct EventsQuery {
    #[serde(default)]
    queue: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    agent: String,
    /// From this day on (UTC, `YYYY-MM-DD`).
    #[serde(default)]
    since: String,
    /// Up to and including this day (UTC).
    #[serde(default)]
    until: String,
}

pub(crate) async fn events_page(
    State(c): State<Console>,
    headers: HeaderMap,
    query: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let s = match admin(&c, &headers) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let Query(q) = query.unwrap_or_default();
    let mut params = vec![("limit", "500".to_owned())];
    if !q.queue.is_empty() {
        params.push(("queue", q.queue.clone()));
    }
    let mut bad_dates = Vec::new();
    for (name, text, extra_day) in [("since", &q.since, 0), ("until", &q.until, 1)] {
        if text.trim().is_empty() {
            continue;
        }
        match day_start_ms(text.trim()) {
            Some(ms) => params.push((name, (ms + extra_day * 86_400_000).to_string())),
            None => bad_dates.push(format!("{name} {text:?} is not a date (YYYY-MM-DD)")),
        }
    }
    let path = format!(
        "/api/v1/events?{}",
        serde_urlencoded::to_string(&params).unwrap_or_default()
    );
    let reply = c.api(Method::GET, &path, None).await;
    let error = if !bad_dates.is_empty() {
        bad_dates.join("; ")
    } else if reply.ok() {
        String::new()
    } else {
        reply
            .problems()
            .into_iter()
            .map(|(_, m)| m)
            .collect::<Vec<_>>()
            .join("; ")
    };
    // Newest first; the kind and agent filters are the page's own.
    let events = reply
        .body
        .items()
        .rev()
        .filter(|e| q.kind.is_empty() || e["kind"] == q.kind.as_str())
        .filter(|e| q.agent.is_empty() || e["agent"] == q.agent.as_str())
        .map(event_row)
        .collect();
    page(&EventsPage {
        chrome: Chrome::new("Event log", &s),
        queues: queue_names(&c).await,
        queue: q.queue,
        kind: q.kind,
        agent: q.agent,
        since: q.since,
        until: q.until,
        events,
        error,
    })
}

fn event_row(e: &Value) -> EventRow {
    EventRow {
        at: utc(e["at_ms"].as_i64().unwrap_or(0)),
        queue: str_of(&e["queue"]),
        call_id: str_of(&e["call_id"]),
        agent: str_of(&e["agent"]),
        kind: str_of(&e["kind"]),
        detail: str_of(&e["detail"]),
        waited: e["waited_ms"]
            .as_i64()
            .map(|ms| format!("{:.1} s", ms as f64 / 1000.0))
            .unwrap_or_default(),
    }
}

/// Unix ms at 00:00 UTC of a `YYYY-MM-DD` day (days-from-civil, H. Hinnant); `None` when it is
/// not such a date.
pub(crate) fn day_start_ms(text: &str) -> Option<i64> {
    let mut parts = text.splitn(3, '-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let d: i64 = parts.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || !(1970..=9999).contains(&y) {
        return None;
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some((era * 146_097 + doe - 719_468) * 86_400_000)
}

/// Unix ms as `YYYY-MM-DD HH:MM:SS` UTC (the civil-from-days algorithm, H. Hinnant).
pub(crate) fn utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

// ---------------------------------------------------------------------------------------------
// Wallboard

#[derive(Template)]
#[template(path = "console/wallboard.html")]
struct WallboardPage {
    chrome: Chrome,
    /// Empty: every queue.
    queue: String,
}

pub(crate) async fn wallboard_all(State(c): State<Console>, headers: HeaderMap) -> Response {
    let s = match admin(&c, &headers) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    page(&WallboardPage {
        chrome: Chrome::new("Wallboard", &s),
        queue: String::new(),
    })
}

pub(crate) async fn wallboard_one(
    State(c): State<Console>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let s = match admin(&c, &headers) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    page(&WallboardPage {
        chrome: Chrome::new(format!("Wallboard: {id}"), &s),
        queue: id,
    })
}

#[derive(Deserialize, Default)]
pub(crate) struct BoardQuery {
    #[serde(default)]
    queue: String,
}

/// What the wallboard shows, as JSON: each queue's `GET /api/v1/queues/{id}/status` (one
/// queue, or all, when `queue` is empty), for the board's script to draw. Served, shared by
/// every screen, by [`board::wallboard_status`].
pub(crate) async fn board_status(c: &Console, queue: &str) -> Value {
    let q = BoardQuery {
        queue: queue.to_owned(),
    };
    let ids: Vec<String> = if q.queue.is_empty() {
        queue_names(c).await.into_iter().map(|(id, _)| id).collect()
    } else {
        vec![q.queue.clone()]
    };
    let today = board_today(c, &q.queue).await;
    let mut out = Vec::new();
    for id in ids {
        let reply = c
            .api(
                Method::GET,
                &format!("/api/v1/queues/{}/status", seg(&id)),
                None,
            )
            .await;
        if reply.ok() {
            let mut body = reply.body;
            if let Some(figures) = today.get(&id) {
                body["today"] = figures.clone();
                body["today_shown"] = today_shown(figures);
            }
            out.push(body);
        }
    }
    Value::Array(out)
}

/// Today's figures per queue id, from `GET /api/v1/wallboard[/{queue}]` (`today`); empty when
/// the API does not answer (the board then keeps its "–").
async fn board_today(c: &Console, queue: &str) -> Map<String, Value> {
    let path = if queue.is_empty() {
        "/api/v1/wallboard".to_owned()
    } else {
        format!("/api/v1/wallboard/{}", seg(queue))
    };
    let reply = c.api(Method::GET, &path, None).await;
    let mut out = Map::new();
    if !reply.ok() {
        return out;
    }
    let boards = match reply.body.get("queues").and_then(Value::as_array) {
        Some(list) => list.clone(),
        None => vec![reply.body],
    };
    for b in boards {
        if let Some(id) = b["queue"].as_str() {
            out.insert(id.to_owned(), b["today"].clone());
        }
    }
    out
}

/// The "today" row as the board shows it, label and text in order, so the page shows what the
/// server computed (and a test can read it): counts as they are, the average wait as m:ss
/// like the longest wait, the service level as a whole per cent; "–" where there is no figure
/// yet (no call answered today).
pub(crate) fn today_shown(today: &Value) -> Value {
    let count = |k: &str| today[k].as_u64().map_or("–".to_owned(), |n| n.to_string());
    let wait = today["avg_wait_ms"]
        .as_f64()
        .map_or("–".to_owned(), |ms| mmss((ms / 1000.0).round() as u64));
    let level = today["service_level_pct"]
        .as_f64()
        .map_or("–".to_owned(), |p| format!("{}%", p.round() as u64));
    json!([
        ["offered", count("offered")],
        ["answered", count("answered")],
        ["abandoned", count("abandoned")],
        ["average wait", wait],
        ["service level", level],
    ])
}

/// Seconds as `m:ss`, as the board's script shows the longest wait.
fn mmss(secs: u64) -> String {
    format!("{}:{:02}", secs / 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formats_unix_ms() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00");
        assert_eq!(utc(1_796_687_999_000), "2026-12-07 23:59:59");
    }

    #[test]
    fn days_become_unix_ms() {
        assert_eq!(day_start_ms("1970-01-01"), Some(0));
        assert_eq!(day_start_ms("2000-02-29"), Some(951_782_400_000));
        assert_eq!(
            utc(day_start_ms("2026-12-07").unwrap()),
            "2026-12-07 00:00:00"
        );
        assert_eq!(day_start_ms("2026-13-01"), None);
        assert_eq!(day_start_ms("yesterday"), None);
    }

    #[test]
    fn today_is_shown_as_counts_m_ss_and_whole_per_cent() {
        let shown = today_shown(&json!({
            "offered": 4, "answered": 3, "abandoned": 1,
            "avg_wait_ms": 75_500, "service_level_pct": 66.67,
        }));
        assert_eq!(
            shown,
            json!([
                ["offered", "4"],
                ["answered", "3"],
                ["abandoned", "1"],
                ["average wait", "1:16"],
                ["service level", "67%"],
            ])
        );
        let empty = today_shown(&json!({
            "offered": 0, "answered": 0, "abandoned": 0,
            "avg_wait_ms": null, "service_level_pct": null,
        }));
        assert_eq!(empty[3][1], "–");
        assert_eq!(empty[4][1], "–");
        assert_eq!(empty[0][1], "0");
    }

    #[test]
    fn segments_are_escaped() {
        assert_eq!(seg("sales"), "sales");
        assert_eq!(seg("a/b?c"), "a%2Fb%3Fc");
    }

    #[test]
    fn queue_form_becomes_the_api_body() {
        let form = Form::parse(&Bytes::from_static(
            b"id=q1&name=Sales&numbers=%2B14255550100%2C+%2B14255550101&agents=alice&\
              max_calls=7&on_overflow=forward&on_overflow_to=queue%3Ax&greeting=prompt%3Aab&\
              music_on_hold=default&routing=serial&offer=head&on_timeout=disconnect&no_agents=",
        ));
        let (body, errors) = queue_body(&form, true);
        assert!(errors.is_empty());
        assert_eq!(body["id"], "q1");
        assert_eq!(body["numbers"], json!(["+14255550100", "+14255550101"]));
        assert_eq!(body["agents"], json!(["alice"]));
        assert_eq!(body["max_calls"], 7);
        assert_eq!(
            body["on_overflow"],
            json!({ "action": "forward", "to": "queue:x" })
        );
        assert_eq!(body["on_timeout"], json!({ "action": "disconnect" }));
        assert_eq!(body["allow_opt_out"], false);
        assert!(body.get("no_agents").is_none(), "empty: the default");
        assert!(body.get("groups").is_none());
        // Updating: an emptied field resets to its default.
        let (patch, _) = queue_body(&form, false);
        assert!(patch.get("id").is_none());
        assert_eq!(patch["no_agents"], Value::Null);
        assert_eq!(patch["groups"], json!([]));
    }

    #[test]
    fn a_field_that_is_not_a_number_is_named() {
        let form = Form::parse(&Bytes::from_static(b"id=q&max_wait=soon"));
        let (_, errors) = queue_body(&form, true);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].0, "max_wait");
    }

    #[test]
    fn problems_go_next_to_their_fields() {
        let mut fields = queue_fields(&json!({}), &[], true);
        let rest = place_errors(
            &mut fields,
            vec![
                ("max_calls".into(), "max_calls must be 0 to 200".into()),
                ("on_overflow.to".into(), "bad target".into()),
                ("".into(), "the queue as a whole".into()),
            ],
        );
        let err = |name: &str| {
            fields
                .iter()
                .find(|f| f.name == name)
                .unwrap()
                .error
                .clone()
        };
        assert_eq!(err("max_calls"), "max_calls must be 0 to 200");
        assert_eq!(err("on_overflow"), "bad target");
        assert_eq!(err("name"), "");
        assert_eq!(rest, vec!["the queue as a whole".to_owned()]);
    }
}
