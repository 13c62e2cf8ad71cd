//! The API subcommands of `holdline`: `queue|number|user|group new|set|get|remove` (and
//! `queue status`), `agent dnd|opt-in|opt-out|get`, `prompt upload|list|get|remove`,
//! `report queues|agents`, over [`super::client::Client`], printing
//! tables by default and the API's JSON with `--json`.
//!
//! Field values follow the config file: `holdline queue new sales name="UK Sales"
//! numbers=+14255550100 max_wait=600 on_timeout=forward:queue:support`. A value that reads as
//! JSON (`600`, `true`, `["a","b"]`, `{"action":"busy"}`) is taken as JSON; list fields take
//! commas (`agents=amos,bea`); `on_overflow`/`on_timeout`/`no_agents` take `ACTION` or
//! `forward:TARGET`; `FIELD=` with nothing after it resets the field to its default (`set`).
//!
//! What this does not do: validate fields itself. The server runs the configuration's checks
//! and every problem it reports is printed, one per line.

use clap::{Args, Subcommand, ValueEnum};
use serde_json::{json, Map, Value};

use crate::store::Kind;

use super::client::{Client, ClientError};

/// Where the API is and how to print: shared by every API subcommand.
#[derive(Args, Clone, Debug)]
pub struct ApiArgs {
    /// The API address, HOST:PORT (default: $HOLDLINE_API or 127.0.0.1:8080).
    #[arg(long, global = true)]
    pub api: Option<String>,
    /// The bearer token (default: $HOLDLINE_TOKEN).
    #[arg(long, global = true)]
    pub token: Option<String>,
    /// Print the API's JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

impl ApiArgs {
    pub fn client(&self) -> Client {
        let addr = self
            .api
            .clone()
            .or_else(|| std::env::var("HOLDLINE_API").ok())
            .unwrap_or_else(|| "127.0.0.1:8080".to_owned());
        let token = self
            .token
            .clone()
            .or_else(|| std::env::var("HOLDLINE_TOKEN").ok());
        Client::new(addr, token)
    }
}

/// `holdline queue|number|user|group …`
#[derive(Subcommand, Clone, Debug)]
pub enum ObjectCmd {
    /// Create: ID then FIELD=VALUE pairs (numbers: the number, then kind=…).
    New { id: String, fields: Vec<String> },
    /// Change some fields; FIELD= resets one to its default.
    Set { id: String, fields: Vec<String> },
    /// Show one, or list all without ID.
    Get { id: Option<String> },
    /// Remove (objects from the config file cannot be removed here).
    Remove { id: String },
    /// Queues only: calls waiting and agents' states.
    Status { id: String },
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnOff {
    On,
    Off,
}

/// `holdline agent …`
#[derive(Subcommand, Clone, Debug)]
pub enum AgentCmd {
    /// Do-not-disturb on or off.
    Dnd { id: String, state: OnOff },
    /// Take calls from QUEUE again.
    OptIn { id: String, queue: String },
    /// Stop taking calls from QUEUE (when it allows opt-out).
    OptOut { id: String, queue: String },
    /// Show do-not-disturb and the agent's queues.
    Get { id: String },
}

/// The API subcommands of `holdline`, for the binary to flatten into its own.
#[derive(Subcommand, Clone, Debug)]
pub enum ApiCommand {
    /// Queues: new | set | get | remove | status.
    #[command(subcommand)]
    Queue(ObjectCmd),
    /// Phone numbers: new | set | get | remove.
    #[command(subcommand)]
    Number(ObjectCmd),
    /// Users: new | set | get | remove | registrations.
    #[command(subcommand)]
    User(UserCmd),
    /// Groups: new | set | get | remove.
    #[command(subcommand)]
    Group(ObjectCmd),
    /// Agent self-service: dnd | opt-in | opt-out | get.
    #[command(subcommand)]
    Agent(AgentCmd),
    /// Uploaded prompts: upload | list | get | remove.
    #[command(subcommand)]
    Prompt(PromptCmd),
    /// Sources banned by admission control; `bans lift ADDR` lifts one.
    Bans {
        #[command(subcommand)]
        cmd: Option<BansCmd>,
    },
    /// Trunks: `trunk status [ID]` shows their SBCs' health.
    #[command(subcommand)]
    Trunk(TrunkCmd),
    /// Reports from the event log: queues | agents.
    #[command(subcommand)]
    Report(ReportCmd),
    /// Caller-ID policies of users' outbound calls: new | set | get | remove | grant.
    #[command(subcommand)]
    Clid(ClidCmd),
}

/// `holdline clid …`: the object commands (`new ID mode=service-number
/// service_number=+44… allow_override=true`), and granting a policy to a user.
#[derive(Subcommand, Clone, Debug)]
pub enum ClidCmd {
    #[command(flatten)]
    Object(ObjectCmd),
    /// Grant policy ID to USER (the user's clid_policy).
    Grant { id: String, user: String },
}

/// `holdline trunk …`
#[derive(Subcommand, Clone, Debug)]
pub enum TrunkCmd {
    /// Every trunk's SBCs (or trunk ID's): priority, weight, state, round-trip time.
    Status { id: Option<String> },
}

/// `holdline user …`: the object commands, and the user's registered bindings.
#[derive(Subcommand, Clone, Debug)]
pub enum UserCmd {
    #[command(flatten)]
    Object(ObjectCmd),
    /// The user's registered bindings; `--remove N` removes binding N (0 is the first).
    Registrations {
        id: String,
        #[arg(long)]
        remove: Option<usize>,
    },
}

/// `holdline bans …`
#[derive(Subcommand, Clone, Debug)]
pub enum BansCmd {
    /// Lift the ban on ADDR (an IP address).
    Lift { addr: String },
}

/// Runs an API subcommand; returns what to print on stdout.
pub fn run(cmd: &ApiCommand, args: &ApiArgs) -> Result<String, ClientError> {
    match cmd {
        ApiCommand::Queue(c) => run_object(Kind::Queue, c, args),
        ApiCommand::Number(c) => run_object(Kind::Number, c, args),
        ApiCommand::User(UserCmd::Object(c)) => run_object(Kind::User, c, args),
        ApiCommand::User(UserCmd::Registrations { id, remove }) => {
            run_registrations(id, *remove, args)
        }
        ApiCommand::Group(c) => run_object(Kind::Group, c, args),
        ApiCommand::Agent(c) => run_agent(c, args),
        ApiCommand::Bans { cmd } => run_bans(cmd.as_ref(), args),
        ApiCommand::Prompt(c) => run_prompt(c, args),
        ApiCommand::Trunk(TrunkCmd::Status { id }) => run_trunk_status(id.as_deref(), args),
        ApiCommand::Report(c) => run_report(c, args),
        ApiCommand::Clid(ClidCmd::Object(c)) => run_object(Kind::ClidPolicy, c, args),
        ApiCommand::Clid(ClidCmd::Grant { id, user }) => run_clid_grant(id, user, args),
    }
}

/// `holdline clid grant ID USER`: prints the user as `user get` does.
pub fn run_clid_grant(id: &str, user: &str, args: &ApiArgs) -> Result<String, ClientError> {
    let path = format!("/api/v1/clid-policies/{}/grant", segment(id));
    let value = args
        .client()
        .call("POST", &path, Some(&json!({ "user": user })))?;
    Ok(if args.json {
        pretty(&value)
    } else {
        record(&value)
    })
}

/// `holdline trunk status [ID]`: one row per SBC.
pub fn run_trunk_status(id: Option<&str>, args: &ApiArgs) -> Result<String, ClientError> {
    let client = args.client();
    let value = match id {
        Some(id) => client.call(
            "GET",
            &format!("/api/v1/trunks/{}/status", segment(id)),
            None,
        )?,
        None => client.call("GET", "/api/v1/trunks", None)?,
    };
    if args.json {
        return Ok(pretty(&value));
    }
    let trunks = match value {
        serde_json::Value::Array(list) => list,
        one => vec![one],
    };
    let mut rows = Vec::new();
    for t in &trunks {
        for s in t["sbcs"].as_array().into_iter().flatten() {
            let mut row = s.clone();
            row["trunk"] = t["id"].clone();
            rows.push(row);
        }
    }
    Ok(table(
        &serde_json::Value::Array(rows),
        &[
            "trunk",
            "uri",
            "priority",
            "weight",
            "state",
            "rtt_ms",
            "retry_after_secs",
        ],
    ))
}

/// `holdline report …`
#[derive(Subcommand, Clone, Debug)]
pub enum ReportCmd {
    /// Per-queue figures: offered, answered, abandoned, waits, service level, talk time.
    Queues(ReportArgs),
    /// Per-agent figures: offers, answered, missed, rings the caller abandoned, talk time.
    Agents(ReportArgs),
}

/// The span and shape of a report.
#[derive(Args, Clone, Debug)]
pub struct ReportArgs {
    /// Start, included: a date (2026-12-07), a date and time (2026-12-07T09:00:00Z) or Unix ms.
    #[arg(long)]
    pub from: String,
    /// End, excluded (same forms).
    #[arg(long)]
    pub to: String,
    /// hour or day.
    #[arg(long, default_value = "day")]
    pub interval: String,
    /// Only this queue's events.
    #[arg(long)]
    pub queue: Option<String>,
    /// Days and hours start at this UTC offset (+01:00, -05:30; default UTC).
    #[arg(long, allow_hyphen_values = true)]
    pub utc_offset: Option<String>,
    /// Print CSV (a header row, a row per queue or agent and interval).
    #[arg(long)]
    pub csv: bool,
}

/// A query parameter's value, percent-encoded (`+` too: in a query it would read as a space).
fn query_value(s: &str) -> String {
    segment(s).replace('+', "%2B")
}

/// The report route's path and query for `r`.
pub fn report_path(route: &str, r: &ReportArgs) -> String {
    let mut path = format!(
        "/api/v1/reports/{route}?from={}&to={}&interval={}",
        query_value(&r.from),
        query_value(&r.to),
        query_value(&r.interval)
    );
    if let Some(q) = &r.queue {
        path.push_str(&format!("&queue={}", query_value(q)));
    }
    if let Some(o) = &r.utc_offset {
        path.push_str(&format!("&utc_offset={}", query_value(o)));
    }
    if r.csv {
        path.push_str("&format=csv");
    }
    path
}

/// Runs a report command: a table per interval by default, CSV with `--csv`, JSON with
/// `--json`.
pub fn run_report(cmd: &ReportCmd, args: &ApiArgs) -> Result<String, ClientError> {
    let (route, r, series, columns): (&str, &ReportArgs, &str, &[&str]) = match cmd {
        ReportCmd::Queues(r) => (
            "queues",
            r,
            "queue",
            &[
                "queue",
                "start",
                "offered",
                "answered",
                "abandoned",
                "overflowed",
                "timed_out",
                "service_level_pct",
                "avg_wait_ms",
                "p90_wait_ms",
                "avg_abandon_ms",
                "talk_ms",
            ],
        ),
        ReportCmd::Agents(r) => (
            "agents",
            r,
            "agent",
            &[
                "agent",
                "start",
                "offers",
                "answered",
                "missed",
                "canceled",
                "caller_abandoned",
                "talk_ms",
            ],
        ),
    };
    let value = args.client().call("GET", &report_path(route, r), None)?;
    if r.csv {
        // A text body comes back as a JSON string.
        return Ok(value.as_str().unwrap_or_default().to_owned());
    }
    if args.json {
        return Ok(pretty(&value));
    }
    // One row per series and interval, the series' name in front.
    let rows: Vec<Value> = value[route]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| {
            let name = s[series].clone();
            s["intervals"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |mut i| {
                    i[series] = name.clone();
                    i
                })
        })
        .collect();
    Ok(table(&Value::Array(rows), columns))
}

/// `holdline prompt …`
#[derive(Subcommand, Clone, Debug)]
pub enum PromptCmd {
    /// Upload a WAV, MP3 or WMA file; prints the id a queue names as prompt:ID.
    Upload {
        file: std::path::PathBuf,
        /// The prompt's name (default: the file's name).
        #[arg(long)]
        name: Option<String>,
    },
    /// List uploaded prompts.
    List,
    /// Show a prompt's metadata and the queues using it.
    Get { id: String },
    /// Remove a prompt no queue uses.
    Remove { id: String },
}

/// Runs a prompt command; returns what to print.
pub fn run_prompt(cmd: &PromptCmd, args: &ApiArgs) -> Result<String, ClientError> {
    let client = args.client();
    let value = match cmd {
        PromptCmd::Upload { file, name } => {
            let bytes = std::fs::read(file)
                .map_err(|e| ClientError::Usage(format!("cannot read {}: {e}", file.display())))?;
            let name = name.clone().unwrap_or_else(|| {
                file.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "upload".into())
            });
            // The server tells the format by the content; the type only says "a file".
            // In a query `+` means a space, so it is encoded too.
            let path = format!(
                "/api/v1/prompts?name={}",
                segment(&name).replace('+', "%2B")
            );
            let v = client.call_bytes("POST", &path, "application/octet-stream", &bytes)?;
            if !args.json {
                return Ok(format!(
                    "uploaded {name} as {}\n{}",
                    v["reference"].as_str().unwrap_or(""),
                    record(&v)
                ));
            }
            v
        }
        PromptCmd::List => {
            let v = client.call("GET", "/api/v1/prompts", None)?;
            if !args.json {
                let mut v = v;
                if let Some(rows) = v.as_array_mut() {
                    rows.iter_mut().for_each(users_as_text);
                }
                return Ok(table(
                    &v,
                    &["id", "name", "format", "duration_ms", "size", "used_by"],
                ));
            }
            v
        }
        PromptCmd::Get { id } => {
            let mut v = client.call("GET", &format!("/api/v1/prompts/{}", segment(id)), None)?;
            if !args.json {
                users_as_text(&mut v);
                return Ok(record(&v));
            }
            v
        }
        PromptCmd::Remove { id } => {
            client.call("DELETE", &format!("/api/v1/prompts/{}", segment(id)), None)?;
            return Ok(if args.json {
                "null".into()
            } else {
                format!("removed prompt {id}")
            });
        }
    };
    Ok(pretty(&value))
}

/// A prompt's `used_by` as `queue (field)` texts, for tables.
fn users_as_text(prompt: &mut Value) {
    if let Some(users) = prompt.get_mut("used_by").and_then(Value::as_array_mut) {
        for u in users.iter_mut() {
            let text = format!(
                "{} ({})",
                u["queue"].as_str().unwrap_or(""),
                u["field"].as_str().unwrap_or("")
            );
            *u = Value::String(text);
        }
    }
}

/// `holdline user registrations ID` (a table of the user's bindings, numbered) and
/// `… --remove N`.
pub fn run_registrations(
    id: &str,
    remove: Option<usize>,
    args: &ApiArgs,
) -> Result<String, ClientError> {
    let client = args.client();
    let path = format!("/api/v1/users/{}/registrations", segment(id));
    if let Some(n) = remove {
        client.call("DELETE", &format!("{path}/{n}"), None)?;
        return Ok(if args.json {
            "null".into()
        } else {
            format!("removed registration {n} of {id}")
        });
    }
    let value = client.call("GET", &path, None)?;
    if args.json {
        return Ok(pretty(&value));
    }
    let numbered: Vec<serde_json::Value> = value
        .as_array()
        .map(|rows| {
            rows.iter()
                .enumerate()
                .map(|(i, r)| {
                    let mut r = r.clone();
                    r["n"] = serde_json::json!(i);
                    r
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(table(
        &serde_json::Value::Array(numbered),
        &[
            "n",
            "contact",
            "source",
            "transport",
            "user_agent",
            "expires_in_secs",
        ],
    ))
}

/// `holdline bans` (a table of the bans in force) and `holdline bans lift ADDR`.
pub fn run_bans(cmd: Option<&BansCmd>, args: &ApiArgs) -> Result<String, ClientError> {
    let client = args.client();
    if let Some(BansCmd::Lift { addr }) = cmd {
        client.call("DELETE", &format!("/api/v1/bans/{}", segment(addr)), None)?;
        return Ok(if args.json {
            "null".into()
        } else {
            format!("lifted the ban on {addr}")
        });
    }
    let value = client.call("GET", "/api/v1/bans", None)?;
    if args.json {
        return Ok(pretty(&value));
    }
    Ok(table(
        &value,
        &[
            "addr",
            "reason",
            "banned_secs",
            "expires_in_secs",
            "dropped",
        ],
    ))
}

impl ClientError {
    /// The process exit code: 2 for a usage error, 1 for anything the API or network refused.
    pub fn exit_code(&self) -> u8 {
        match self {
            ClientError::Usage(_) => 2,
            _ => 1,
        }
    }
}

fn plural(kind: Kind) -> &'static str {
    match kind {
        Kind::Queue => "queues",
        Kind::Number => "numbers",
        Kind::User => "users",
        Kind::Group => "groups",
        Kind::ClidPolicy => "clid-policies",
    }
}

/// Percent-encodes a path segment (`+` stays: it is literal in a path).
fn segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~+".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Runs an object command; returns what to print.
pub fn run_object(kind: Kind, cmd: &ObjectCmd, args: &ApiArgs) -> Result<String, ClientError> {
    let client = args.client();
    let base = format!("/api/v1/{}", plural(kind));
    let (value, single) = match cmd {
        ObjectCmd::New { id, fields } => {
            let mut body = fields_body(fields, false)?;
            let id_key = if kind == Kind::Number { "e164" } else { "id" };
            body.insert(id_key.into(), json!(id));
            (
                client.call("POST", &base, Some(&Value::Object(body)))?,
                true,
            )
        }
        ObjectCmd::Set { id, fields } => {
            if fields.is_empty() {
                return Err(ClientError::Usage(
                    "set needs at least one FIELD=VALUE".into(),
                ));
            }
            let body = Value::Object(fields_body(fields, true)?);
            let path = format!("{base}/{}", segment(id));
            (client.call("PATCH", &path, Some(&body))?, true)
        }
        ObjectCmd::Get { id: Some(id) } => (
            client.call("GET", &format!("{base}/{}", segment(id)), None)?,
            true,
        ),
        ObjectCmd::Get { id: None } => (client.call("GET", &base, None)?, false),
        ObjectCmd::Remove { id } => {
            client.call("DELETE", &format!("{base}/{}", segment(id)), None)?;
            return Ok(if args.json {
                "null".into()
            } else {
                format!("removed {} {id}", kind.as_str())
            });
        }
        ObjectCmd::Status { id } => {
            if kind != Kind::Queue {
                return Err(ClientError::Usage("status is for queues".into()));
            }
            let v = client.call("GET", &format!("{base}/{}/status", segment(id)), None)?;
            return Ok(if args.json {
                pretty(&v)
            } else {
                status_table(&v)
            });
        }
    };
    if args.json {
        return Ok(pretty(&value));
    }
    Ok(if single {
        record(&value)
    } else {
        table(&value, columns(kind))
    })
}

/// Runs an agent command; returns what to print.
pub fn run_agent(cmd: &AgentCmd, args: &ApiArgs) -> Result<String, ClientError> {
    let client = args.client();
    let value = match cmd {
        AgentCmd::Dnd { id, state } => client.call(
            "PUT",
            &format!("/api/v1/agents/{}/dnd", segment(id)),
            Some(&json!({ "dnd": *state == OnOff::On })),
        )?,
        AgentCmd::OptIn { id, queue } | AgentCmd::OptOut { id, queue } => {
            let verb = if matches!(cmd, AgentCmd::OptIn { .. }) {
                "opt-in"
            } else {
                "opt-out"
            };
            let path = format!(
                "/api/v1/agents/{}/queues/{}/{verb}",
                segment(id),
                segment(queue)
            );
            client.call("POST", &path, None)?
        }
        AgentCmd::Get { id } => {
            client.call("GET", &format!("/api/v1/agents/{}", segment(id)), None)?
        }
    };
    if args.json {
        return Ok(pretty(&value));
    }
    let mut out = format!(
        "agent {}  dnd: {}\n",
        value["id"].as_str().unwrap_or(""),
        if value["dnd"].as_bool() == Some(true) {
            "on"
        } else {
            "off"
        }
    );
    out.push_str(&table(
        &value["queues"],
        &["queue", "opted_in", "allow_opt_out"],
    ));
    Ok(out)
}

const LIST_FIELDS: [&str; 7] = [
    "numbers",
    "addresses",
    "agents",
    "groups",
    "members",
    "contacts",
    "authorized_users",
];
const ACTION_FIELDS: [&str; 3] = ["on_overflow", "on_timeout", "no_agents"];

/// `FIELD=VALUE` arguments as a JSON object (see the module docs for the value forms).
pub fn fields_body(fields: &[String], patch: bool) -> Result<Map<String, Value>, ClientError> {
    let mut out = Map::new();
    for f in fields {
        let Some((key, text)) = f.split_once('=') else {
            return Err(ClientError::Usage(format!("{f:?} is not FIELD=VALUE")));
        };
        let key = key.trim();
        let value = if text.is_empty() {
            if !patch {
                return Err(ClientError::Usage(format!("{key}= has no value")));
            }
            Value::Null
        } else if ACTION_FIELDS.contains(&key) && !text.starts_with('{') {
            match text.split_once(':') {
                Some(("forward", to)) => json!({ "action": "forward", "to": to }),
                _ => json!({ "action": text }),
            }
        } else if LIST_FIELDS.contains(&key) && !text.starts_with('[') {
            Value::Array(text.split(',').map(|s| json!(s.trim())).collect())
        } else {
            match serde_json::from_str::<Value>(text) {
                // A bare word is text; JSON numbers, booleans, arrays and objects are JSON.
                Ok(v) if !v.is_string() => v,
                _ => json!(text),
            }
        };
        out.insert(key.to_owned(), value);
    }
    Ok(out)
}

fn columns(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Queue => &[
            "id",
            "name",
            "numbers",
            "routing",
            "members",
            "max_calls",
            "max_wait",
            "origin",
        ],
        Kind::Number => &["e164", "kind", "assigned_to", "origin"],
        Kind::User => &["id", "name", "numbers", "origin"],
        Kind::Group => &["id", "members", "origin"],
        Kind::ClidPolicy => &[
            "id",
            "mode",
            "service_number",
            "allow_override",
            "granted_to",
            "origin",
        ],
    }
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// A value as a table cell: lists joined by commas, actions as `forward:TARGET`.
fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(cell).collect::<Vec<_>>().join(","),
        Value::Object(o) => match (o.get("action").and_then(Value::as_str), o.get("to")) {
            (Some(a), Some(to)) => format!("{a}:{}", cell(to)),
            (Some(a), None) => a.to_owned(),
            _ => v.to_string(),
        },
        other => other.to_string(),
    }
}

/// Rows of `columns` with aligned columns.
pub fn table(rows: &Value, columns: &[&str]) -> String {
    let rows: Vec<Vec<String>> = rows
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| columns.iter().map(|c| cell(&r[*c])).collect())
                .collect()
        })
        .unwrap_or_default();
    let mut widths: Vec<usize> = columns.iter().map(|c| c.chars().count()).collect();
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  "));
            }
        }
        s.trim_end().to_owned() + "\n"
    };
    let mut out = line(columns.iter().map(|c| c.to_uppercase()).collect());
    for r in rows {
        out.push_str(&line(r));
    }
    out
}

/// One object as `field: value` lines.
pub fn record(v: &Value) -> String {
    let Some(o) = v.as_object() else {
        return cell(v) + "\n";
    };
    let width = o.keys().map(|k| k.len()).max().unwrap_or(0);
    o.iter()
        .map(|(k, v)| format!("{k:<width$}  {}\n", cell(v)))
        .collect()
}

fn status_table(v: &Value) -> String {
    let mut out = format!(
        "queue {}  waiting: {}  longest wait: {} s\n",
        cell(&v["queue"]),
        cell(&v["calls_waiting"]),
        cell(&v["longest_wait_secs"])
    );
    out.push_str(&table(
        &v["waiting"],
        &["position", "call_id", "caller", "waiting_secs"],
    ));
    out.push_str(&table(&v["agents"], &["id", "state"]));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_follow_the_config_forms() {
        let args: Vec<String> = [
            "name=UK Sales",
            "max_wait=600",
            "allow_opt_out=false",
            "agents=amos, bea",
            "on_timeout=forward:queue:support",
            "on_overflow=busy",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let body = fields_body(&args, false).unwrap();
        assert_eq!(
            Value::Object(body),
            json!({
                "name": "UK Sales", "max_wait": 600, "allow_opt_out": false,
                "agents": ["amos", "bea"],
                "on_timeout": { "action": "forward", "to": "queue:support" },
                "on_overflow": { "action": "busy" },
            })
        );
        let reset = fields_body(&["max_wait=".to_string()], true).unwrap();
        assert_eq!(reset["max_wait"], Value::Null);
        assert!(fields_body(&["max_wait".to_string()], false).is_err());
    }

    #[test]
    fn commands_parse_with_global_api_flags() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            api: ApiArgs,
            #[command(subcommand)]
            cmd: ApiCommand,
        }
        let cli = Cli::try_parse_from([
            "holdline",
            "queue",
            "new",
            "sales",
            "max_wait=600",
            "--json",
            "--api",
            "127.0.0.1:9",
        ])
        .unwrap();
        assert!(cli.api.json);
        assert_eq!(cli.api.api.as_deref(), Some("127.0.0.1:9"));
        match cli.cmd {
            ApiCommand::Queue(ObjectCmd::New { id, fields }) => {
                assert_eq!(
                    (id.as_str(), fields),
                    ("sales", vec!["max_wait=600".to_string()])
                )
            }
            _ => panic!("wrong command"),
        }
        let cli = Cli::try_parse_from(["holdline", "agent", "opt-out", "amos", "sales"]).unwrap();
        assert!(matches!(
            cli.cmd,
            ApiCommand::Agent(AgentCmd::OptOut { .. })
        ));
        let cli = Cli::try_parse_from(["holdline", "agent", "dnd", "amos", "on"]).unwrap();
        assert!(matches!(
            cli.cmd,
            ApiCommand::Agent(AgentCmd::Dnd {
                state: OnOff::On,
                ..
            })
        ));
    }

    #[test]
    fn table_aligns_columns_and_joins_lists() {
        let rows =
            json!([{ "id": "a", "numbers": ["+1", "+2"] }, { "id": "long-id", "numbers": [] }]);
        assert_eq!(
            table(&rows, &["id", "numbers"]),
            "ID       NUMBERS\na        +1,+2\nlong-id\n"
        );
    }
}
