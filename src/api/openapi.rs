//! The OpenAPI 3.0 document served at `/api/v1/openapi.json`, built from the route table, so
//! every route the router serves is described and nothing else is.
//!
//! What this does not do: describe every body field by schema. Provisioning bodies are the
//! config file's tables in JSON (documented in `deploy/holdline.example.toml`); the document
//! says so and describes the error shapes, which clients branch on.

use serde_json::{json, Map, Value};

use super::routes::{all, Op, Verb};

/// The whole document.
pub fn document() -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for route in all() {
        let entry = paths
            .entry(route.path.to_owned())
            .or_insert_with(|| json!({}));
        let mut op = json!({
            "summary": route.summary,
            "operationId": operation_id(route.verb, route.path),
            "responses": responses(route.op),
        });
        let params = path_params(route.path);
        if !params.is_empty() {
            op["parameters"] = Value::Array(params);
        }
        if let Some(body) = request_body(route.op) {
            op["requestBody"] = body;
        }
        if route.op == Op::Events {
            op["parameters"] = json!(["queue", "since", "until", "after_seq", "limit"]
                .iter()
                .map(|n| json!({
                    "name": n, "in": "query", "required": false,
                    "schema": { "type": if *n == "queue" { "string" } else { "integer" } },
                }))
                .collect::<Vec<_>>());
        }
        if route.op == Op::EventFeed {
            op["parameters"] = json!([
                { "name": "queue", "in": "query", "required": false, "schema": { "type": "string" } },
                { "name": "after_seq", "in": "query", "required": false, "schema": { "type": "integer" },
                  "description": "Replay logged events after this sequence number (or send Last-Event-ID)" },
            ]);
        }
        prompt_operation(route.op, &mut op);
        report_operation(route.op, &mut op);
        entry[route.verb.as_str().to_ascii_lowercase()] = op;
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "holdline admin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Provisioning bodies use the config file's field names (see deploy/holdline.example.toml). Objects declared in the config file are read-only (409).",
        },
        "security": [{ "bearer": [] }],
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": { "error": { "type": "string" } },
                },
                "ValidationError": {
                    "type": "object",
                    "required": ["error", "problems"],
                    "properties": {
                        "error": { "type": "string" },
                        "problems": { "type": "array", "items": {
                            "type": "object",
                            "properties": {
                                "subject": { "type": "string" },
                                "field": { "type": "string" },
                                "message": { "type": "string" },
                            },
                        }},
                    },
                },
            },
        },
        "paths": paths,
    })
}

/// `get_api_v1_queues_id`
fn operation_id(verb: Verb, path: &str) -> String {
    let mut id = verb.as_str().to_ascii_lowercase();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        id.push('_');
        id.extend(part.chars().filter(|c| !matches!(c, '{' | '}')).map(|c| {
            if c.is_ascii_alphanumeric() {
                c
            } else {
                '_'
            }
        }));
    }
    id
}

fn path_params(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|p| p.strip_prefix('{').and_then(|p| p.strip_suffix('}')))
        .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
        .collect()
}

fn request_body(op: Op) -> Option<Value> {
    let schema = match op {
        Op::Create(_) | Op::Update(_) => json!({ "type": "object" }),
        Op::Dnd => json!({
            "type": "object", "required": ["dnd"],
            "properties": { "dnd": { "type": "boolean" } },
        }),
        _ => return None,
    };
    Some(json!({ "required": true, "content": { "application/json": { "schema": schema } } }))
}

fn error(description: &str, schema: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } },
    })
}

fn responses(op: Op) -> Value {
    let ok_json = json!({ "description": "OK", "content": { "application/json": {} } });
    let mut r = Map::new();
    match op {
        Op::Create(_) => {
            r.insert(
                "201".into(),
                json!({ "description": "Created", "content": { "application/json": {} } }),
            );
        }
        Op::Delete(_) | Op::LiftBan | Op::RemoveRegistration => {
            r.insert("204".into(), json!({ "description": "Removed" }));
        }
        Op::EventFeed => {
            r.insert(
                "200".into(),
                json!({ "description": "Event stream", "content": { "text/event-stream": {} } }),
            );
        }
        Op::Metrics => {
            r.insert(
                "200".into(),
                json!({ "description": "Metrics", "content": { "text/plain": {} } }),
            );
        }
        _ => {
            r.insert("200".into(), ok_json);
        }
    }
    r.insert(
        "401".into(),
        error("Missing or wrong bearer token", "Error"),
    );
    if matches!(
        op,
        Op::Get(_)
            | Op::Update(_)
            | Op::Delete(_)
            | Op::QueueStatus
            | Op::Agent
            | Op::Dnd
            | Op::OptIn
            | Op::OptOut
            | Op::LiftBan
            | Op::Registrations
            | Op::RemoveRegistration
    ) {
        r.insert("404".into(), error("No such object", "Error"));
    }
    if matches!(
        op,
        Op::Create(_) | Op::Update(_) | Op::Delete(_) | Op::OptIn | Op::OptOut
    ) {
        r.insert(
            "409".into(),
            error(
                "Declared in the config file, already exists, or not allowed",
                "Error",
            ),
        );
    }
    if op == Op::LiftBan {
        r.insert("422".into(), error("Not an IP address", "ValidationError"));
    }
    if matches!(op, Op::Events | Op::EventFeed) {
        r.insert(
            "422".into(),
            error("A query parameter does not parse", "ValidationError"),
        );
    }
    if matches!(op, Op::Create(_) | Op::Update(_) | Op::Delete(_) | Op::Dnd) {
        r.insert("400".into(), error("The body is not JSON", "Error"));
        r.insert("422".into(), error("Validation failed", "ValidationError"));
    }
    Value::Object(r)
}

/// The report and wallboard routes' query parameters and answers.
fn report_operation(op: Op, doc: &mut Value) {
    let string = |name: &str, required: bool, description: &str| {
        json!({ "name": name, "in": "query", "required": required,
                "schema": { "type": "string" }, "description": description })
    };
    let offset = string(
        "utc_offset",
        false,
        "Days and hours start at this UTC offset (Z, +01:00, -05:30; default Z)",
    );
    match op {
        Op::ReportQueues | Op::ReportAgents => {
            let params = vec![
                string(
                    "from",
                    true,
                    "Start, included: 2026-12-07, 2026-12-07T09:00:00Z or Unix ms",
                ),
                string("to", true, "End, excluded (same forms)"),
                json!({ "name": "interval", "in": "query", "required": false,
                        "schema": { "type": "string", "enum": ["day", "hour"], "default": "day" } }),
                string("queue", false, "Only this queue's events"),
                offset,
                json!({ "name": "format", "in": "query", "required": false,
                        "schema": { "type": "string", "enum": ["json", "csv"] },
                        "description": "csv: a header row and a row per queue (agent) and interval; also chosen by Accept: text/csv" }),
            ];
            doc["parameters"] = Value::Array(params);
            doc["responses"]["200"] = json!({ "description": "The report",
                "content": { "application/json": {}, "text/csv": {} } });
            doc["responses"]["422"] = error(
                "A parameter is missing or does not parse (named in problems[].field)",
                "ValidationError",
            );
        }
        Op::Wallboard | Op::WallboardQueue => {
            let mut params = vec![offset];
            if op == Op::WallboardQueue {
                params.extend(path_params("/{queue}"));
                doc["responses"]["404"] = error("No such queue", "Error");
            }
            doc["parameters"] = Value::Array(params);
            doc["responses"]["422"] = error("utc_offset does not parse", "ValidationError");
        }
        _ => {}
    }
}

/// The prompt routes' bodies and answers: an audio upload in, a WAV out.
fn prompt_operation(op: Op, doc: &mut Value) {
    match op {
        Op::UploadPrompt => {
            let file = json!({ "type": "string", "format": "binary" });
            doc["parameters"] = json!([{
                "name": "name", "in": "query", "required": false, "schema": { "type": "string" },
                "description": "The prompt's name for a raw upload (default: the multipart file name)",
            }]);
            doc["requestBody"] = json!({ "required": true, "content": {
                "audio/*": { "schema": file },
                "application/octet-stream": { "schema": file },
                "multipart/form-data": { "schema": {
                    "type": "object", "properties": { "file": file }, "required": ["file"],
                }},
            }});
            if let Some(r) = doc["responses"].as_object_mut() {
                r.remove("200");
                r.insert(
                    "201".into(),
                    json!({ "description": "Stored; the prompt's metadata and its prompt:ID reference",
                            "content": { "application/json": {} } }),
                );
            }
            doc["responses"]["413"] = error("Larger than [media] max_upload_mb", "Error");
            doc["responses"]["409"] = error("No prompt directory (store in memory)", "Error");
            doc["responses"]["422"] = error(
                "Not WAV, MP3 or WMA, corrupt, or longer than [media] max_prompt_seconds",
                "ValidationError",
            );
        }
        Op::PromptAudio => {
            doc["responses"]["200"] = json!({ "description": "8 kHz mono 16-bit PCM WAV", "content": { "audio/wav": {} } });
            doc["responses"]["404"] = error("No such prompt", "Error");
        }
        Op::Prompt => doc["responses"]["404"] = error("No such prompt", "Error"),
        Op::DeletePrompt => {
            doc["responses"] = json!({
                "204": { "description": "Removed" },
                "401": error("Missing or wrong bearer token", "Error"),
                "404": error("No such prompt", "Error"),
                "409": error("A queue uses the prompt (the queues are named)", "Error"),
            });
        }
        _ => {}
    }
}
