//! `/admin/trunks`: every trunk with its SBCs' health (state, round-trip time, Retry-After hold,
//! the last change) from `GET /api/v1/trunks` and the event log's `trunk-sbc-up` /
//! `trunk-sbc-down` records, and the trunk's settings. Trunks come only from the configuration
//! file, so the page is read-only and says so, as the other pages do for file objects.

use std::collections::HashMap;

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::{admin, str_of, utc, Chrome, Items};
use crate::api::console::{page, Console};
use crate::config::{AllowPattern, Trunk};

#[derive(Template)]
#[template(path = "console/trunks.html")]
struct TrunksPage {
    chrome: Chrome,
    trunks: Vec<TrunkRow>,
    error: String,
}

pub(crate) struct TrunkRow {
    id: String,
    health_checks: bool,
    sbcs: Vec<SbcRow>,
    /// (setting, value) in the file's key names; empty when the configuration has no such
    /// trunk any more (it changed between the two reads).
    settings: Vec<(&'static str, String)>,
}

pub(crate) struct SbcRow {
    uri: String,
    priority: String,
    weight: String,
    /// `up`, `down` or `unknown`.
    state: &'static str,
    /// Why the state is unknown, or "".
    state_note: &'static str,
    rtt: String,
    retry_after: String,
    failures: String,
    last_change: String,
}

/// The health state as the page shows it: `probing` (no verdict yet) and `unchecked` (no
/// health checks) are both unknown, with the reason beside it.
fn shown_state(api_state: &str) -> (&'static str, &'static str) {
    match api_state {
        "up" => ("up", ""),
        "down" => ("down", ""),
        "probing" => ("unknown", "first probes under way"),
        "unchecked" => ("unknown", "no health checks (health_interval)"),
        _ => ("unknown", ""),
    }
}

/// The latest `trunk-sbc-up` / `trunk-sbc-down` event of each (trunk, SBC URI), Unix ms and
/// the state it went to, from the event log's records (`detail` = `trunk ID sbc URI`).
pub(crate) fn last_changes(events: &[&Value]) -> HashMap<(String, String), (i64, &'static str)> {
    let mut out: HashMap<(String, String), (i64, &'static str)> = HashMap::new();
    for e in events {
        let state = match e["kind"].as_str() {
            Some("trunk-sbc-up") => "up",
            Some("trunk-sbc-down") => "down",
            _ => continue,
        };
        let Some(rest) = e["detail"].as_str().and_then(|d| d.strip_prefix("trunk ")) else {
            continue;
        };
        let Some((trunk, uri)) = rest.split_once(" sbc ") else {
            continue;
        };
        let at = e["at_ms"].as_i64().unwrap_or(0);
        let key = (trunk.to_owned(), uri.to_owned());
        if out.get(&key).is_none_or(|(seen, _)| at >= *seen) {
            out.insert(key, (at, state));
        }
    }
    out
}

/// A trunk's settings in the configuration file's key names; secrets (the auth password,
/// key files' contents) are never shown.
pub(crate) fn settings(t: &Trunk) -> Vec<(&'static str, String)> {
    let mut out = vec![
        ("proxy", t.proxy.to_string()),
        (
            "first_response_timeout",
            format!("{} s", t.first_response_timeout.as_secs_f64()),
        ),
    ];
    match &t.health {
        Some(h) => {
            out.push(("health_interval", format!("{} s", h.interval.as_secs())));
            out.push(("down_after", h.down_after.to_string()));
            out.push(("up_after", h.up_after.to_string()));
        }
        None => out.push(("health_interval", "0 (off)".to_owned())),
    }
    let allow = t
        .allow
        .iter()
        .map(|p| match p {
            AllowPattern::NumberPrefix(prefix) => format!("{prefix}*"),
            AllowPattern::Number(n) => n.to_string(),
            AllowPattern::SipHost(h) => format!("sip:{h}"),
        })
        .collect::<Vec<_>>();
    out.push((
        "allow",
        if allow.is_empty() {
            "nothing (no external target may use it)".to_owned()
        } else {
            allow.join(", ")
        },
    ));
    out.push((
        "auth",
        match &t.auth {
            Some(a) => format!(
                "username {}{}",
                a.username,
                a.realm
                    .as_deref()
                    .map(|r| format!(", realm {r}"))
                    .unwrap_or_default()
            ),
            None => "none".to_owned(),
        },
    ));
    let d = &t.dialling;
    for (key, value) in [
        ("country_code", &d.country_code),
        ("national_prefix", &d.national_prefix),
        ("international_prefix", &d.international_prefix),
    ] {
        if let Some(v) = value {
            out.push((key, v.clone()));
        }
    }
    if let Some(tls) = &t.tls {
        out.push((
            "tls_name",
            tls.name
                .clone()
                .unwrap_or_else(|| "the proxy's host".to_owned()),
        ));
        out.push((
            "tls_ca",
            tls.ca
                .as_ref()
                .map_or("the system's".to_owned(), |p| p.display().to_string()),
        ));
        out.push((
            "tls_cert",
            tls.client
                .as_ref()
                .map_or("none".to_owned(), |(cert, _)| cert.display().to_string()),
        ));
    }
    out
}

pub(crate) async fn trunks_page(State(c): State<Console>, headers: HeaderMap) -> Response {
    let s = match admin(&c, &headers) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let list = c.api(Method::GET, "/api/v1/trunks", None).await;
    let error = if list.ok() {
        String::new()
    } else {
        list.problems()
            .into_iter()
            .map(|(_, m)| m)
            .collect::<Vec<_>>()
            .join("; ")
    };
    // The latest changes: the log keeps them as events of no queue; one query per kind so that
    // a busy log's calls do not push them out of the answer's limit.
    let mut logged = Vec::new();
    for kind in ["trunk-sbc-up", "trunk-sbc-down"] {
        let reply = c
            .api(
                Method::GET,
                &format!("/api/v1/events?kind={kind}&limit=1000"),
                None,
            )
            .await;
        logged.push(reply.body);
    }
    let events: Vec<&Value> = logged.iter().flat_map(|l| l.items()).collect();
    let changes = last_changes(&events);
    let config = {
        let state = c.state().clone();
        tokio::task::spawn_blocking(move || state.prov().config())
            .await
            .ok()
    };
    let trunks = list
        .body
        .items()
        .map(|t| {
            let id = str_of(&t["id"]);
            let sbcs = t["sbcs"]
                .items()
                .map(|sbc| {
                    let uri = str_of(&sbc["uri"]);
                    let (state, state_note) = shown_state(sbc["state"].as_str().unwrap_or(""));
                    SbcRow {
                        priority: str_of(&sbc["priority"]),
                        weight: str_of(&sbc["weight"]),
                        state,
                        state_note,
                        rtt: sbc["rtt_ms"]
                            .as_u64()
                            .map_or("–".to_owned(), |ms| format!("{ms} ms")),
                        retry_after: sbc["retry_after_secs"]
                            .as_u64()
                            .map_or("–".to_owned(), |s| format!("{s} s left")),
                        failures: str_of(&sbc["failures_in_a_row"]),
                        last_change: changes
                            .get(&(id.clone(), uri.clone()))
                            .map_or("–".to_owned(), |(at, to)| {
                                format!("{} UTC ({to})", utc(*at))
                            }),
                        uri,
                    }
                })
                .collect();
            let settings = config
                .as_ref()
                .and_then(|cfg| cfg.trunks.iter().find(|tr| tr.id.0 == id))
                .map(settings)
                .unwrap_or_default();
            TrunkRow {
                health_checks: t["health_checks"].as_bool().unwrap_or(false),
                id,
                sbcs,
                settings,
            }
        })
        .collect();
    page(&TrunksPage {
        chrome: Chrome::new("Trunks", &s),
        trunks,
        error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_latest_change_of_each_sbc_wins() {
        let events = [
            json!({ "kind": "trunk-sbc-down", "at_ms": 1_000,
                    "detail": "trunk carrier sbc sip:192.0.2.10:5060" }),
            json!({ "kind": "trunk-sbc-up", "at_ms": 5_000,
                    "detail": "trunk carrier sbc sip:192.0.2.10:5060" }),
            json!({ "kind": "trunk-sbc-down", "at_ms": 3_000,
                    "detail": "trunk carrier sbc sip:192.0.2.11:5060" }),
            json!({ "kind": "answered", "at_ms": 9_000, "detail": "trunk x sbc y" }),
            json!({ "kind": "trunk-sbc-up", "at_ms": 9_000, "detail": "garbled" }),
        ];
        let refs: Vec<&Value> = events.iter().collect();
        let changes = last_changes(&refs);
        assert_eq!(changes.len(), 2, "{changes:?}");
        assert_eq!(
            changes[&("carrier".to_owned(), "sip:192.0.2.10:5060".to_owned())],
            (5_000, "up")
        );
        assert_eq!(
            changes[&("carrier".to_owned(), "sip:192.0.2.11:5060".to_owned())],
            (3_000, "down")
        );
    }

    #[test]
    fn probing_and_unchecked_are_unknown_with_the_reason() {
        assert_eq!(shown_state("up"), ("up", ""));
        assert_eq!(shown_state("down"), ("down", ""));
        assert_eq!(shown_state("probing").0, "unknown");
        assert_eq!(shown_state("unchecked").0, "unknown");
        assert!(shown_state("unchecked").1.contains("health_interval"));
    }
}
