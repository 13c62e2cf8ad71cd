//! Provisioned objects as JSON: the bodies the API accepts and stores, and the views it returns.
//!
//! A body is an object in the config file's shape (`{"id": "sales", "max_wait": 600,
//! "on_timeout": {"action": "forward", "to": "queue:support"}}`): the same field names, the same
//! defaults, read into the same [`crate::config::raw`] types with unknown fields refused, so a
//! queue created through the API passes exactly the checks a `[[queue]]` table does. A view is
//! the validated object with every default filled in, plus where it was declared.
//!
//! What this does not do: validate. Reading a body only checks its JSON shape (types, unknown
//! fields) and names the field that is wrong; the values are checked by
//! [`crate::config::validate::validate`] over the whole merged configuration.

use serde::de::DeserializeOwned;
use serde_json::{json, Map, Value};

use crate::config::raw::{RawAction, RawGroup, RawNumber, RawQueue, RawUser};
use crate::config::{
    Group, Music, NoAgentsAction, Number, OfferMode, OverflowAction, Queue, Routing, TimeoutAction,
    User,
};
use crate::store::{Kind, Origin};

/// A body whose JSON shape is wrong: the field (dotted path, `.` for the whole body) and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShapeError {
    pub field: String,
    pub reason: String,
}

/// Reads `body` as `T` (a raw config type), naming the offending field on error.
pub fn read_body<T: DeserializeOwned>(body: &Value) -> Result<T, ShapeError> {
    serde_path_to_error::deserialize::<_, T>(body).map_err(|e| {
        let reason = e.inner().to_string();
        let mut field = e.path().to_string();
        // A missing field is reported at its parent; the message names it.
        if let Some(name) = reason
            .strip_prefix("missing field `")
            .and_then(|r| r.split('`').next())
        {
            field = if field == "." {
                name.to_owned()
            } else {
                format!("{field}.{name}")
            };
        }
        ShapeError { field, reason }
    })
}

/// The field that identifies an object of `kind` in a body (`e164` for numbers, else `id`).
pub fn id_field(kind: Kind) -> &'static str {
    match kind {
        Kind::Number => "e164",
        _ => "id",
    }
}

/// Adds `key` to `map` when `value` is present.
fn put<T: Into<Value>>(map: &mut Map<String, Value>, key: &str, value: Option<T>) {
    if let Some(v) = value {
        map.insert(key.to_owned(), v.into());
    }
}

fn put_list(map: &mut Map<String, Value>, key: &str, list: &[String]) {
    if !list.is_empty() {
        map.insert(key.to_owned(), json!(list));
    }
}

fn action_body(a: &RawAction) -> Value {
    let mut m = Map::new();
    m.insert("action".into(), json!(a.action));
    put(&mut m, "to", a.to.clone());
    Value::Object(m)
}

/// A `[[number]]` table as a stored body.
pub fn number_body(n: &RawNumber) -> Value {
    json!({ "e164": n.e164, "kind": n.kind })
}

/// A `[[user]]` table as a stored body.
pub fn user_body(u: &RawUser) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(u.id));
    put(&mut m, "name", u.name.clone());
    put(&mut m, "password", u.password.clone());
    put_list(&mut m, "contacts", &u.contacts);
    put_list(&mut m, "numbers", &u.numbers);
    put(&mut m, "extension", u.extension.clone());
    put(&mut m, "outbound", u.outbound.clone());
    put(&mut m, "clid_policy", u.clid_policy.clone());
    put(&mut m, "identify_by_source", u.identify_by_source);
    Value::Object(m)
}

/// A `[[clid_policy]]` table as a stored body.
pub fn clid_policy_body(c: &crate::config::outbound::RawClidPolicy) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(c.id));
    m.insert("mode".into(), json!(c.mode));
    put(&mut m, "service_number", c.service_number.clone());
    put(&mut m, "allow_override", c.allow_override);
    Value::Object(m)
}

/// A caller-ID policy as the API shows it, with the users it is granted to (`granted_to`,
/// output only; the `global` policy applies to users without a grant of their own too).
pub fn clid_policy_view(
    p: &crate::config::outbound::ClidPolicy,
    granted_to: Vec<String>,
    origin: Origin,
) -> Value {
    use crate::config::outbound::ClidMode;
    let (mode, number) = match &p.mode {
        ClidMode::ServiceNumber(n) => ("service-number", Some(n.to_string())),
        ClidMode::Anonymous => ("anonymous", None),
        ClidMode::User => ("user", None),
    };
    json!({
        "id": p.id,
        "mode": mode,
        "service_number": number,
        "allow_override": p.allow_override,
        "granted_to": granted_to,
        "origin": origin.as_str(),
    })
}

/// A user's view with their outbound settings (`outbound`, `clid_policy`,
/// `identify_by_source`), as `[[user]]` spells them.
pub fn with_user_outbound(mut view: Value, o: &crate::config::outbound::UserOutbound) -> Value {
    if let Value::Object(m) = &mut view {
        m.insert("outbound".into(), json!(o.class.as_str()));
        m.insert("clid_policy".into(), json!(o.clid_policy));
        m.insert("identify_by_source".into(), json!(o.identify_by_source));
    }
    view
}

/// A `[[group]]` table as a stored body.
pub fn group_body(g: &RawGroup) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(g.id));
    put_list(&mut m, "members", &g.members);
    Value::Object(m)
}

/// A `[[queue]]` table as a stored body: only what the file sets, so defaults stay defaults.
pub fn queue_body(q: &RawQueue) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(q.id));
    put(&mut m, "name", q.name.clone());
    put_list(&mut m, "numbers", &q.numbers);
    put_list(&mut m, "addresses", &q.addresses);
    put(&mut m, "greeting", q.greeting.clone());
    put(&mut m, "music_on_hold", q.music_on_hold.clone());
    put(&mut m, "routing", q.routing.clone());
    put(&mut m, "offer", q.offer.clone());
    put_list(&mut m, "agents", &q.agents);
    put_list(&mut m, "groups", &q.groups);
    put(&mut m, "allow_opt_out", q.allow_opt_out);
    put(&mut m, "agent_alert_time", q.agent_alert_time);
    put(&mut m, "wrap_up", q.wrap_up);
    put(&mut m, "answer_delay_ms", q.answer_delay_ms);
    put(&mut m, "max_calls", q.max_calls);
    put(
        &mut m,
        "on_overflow",
        q.on_overflow.as_ref().map(action_body),
    );
    put(&mut m, "max_wait", q.max_wait);
    put(&mut m, "on_timeout", q.on_timeout.as_ref().map(action_body));
    put(&mut m, "no_agents", q.no_agents.as_ref().map(action_body));
    put(&mut m, "service_level", q.service_level);
    put(&mut m, "extension", q.extension.clone());
    put_list(&mut m, "authorized_users", &q.authorized_users);
    Value::Object(m)
}

/// RFC 7396 JSON merge patch: `patch`'s members replace `target`'s, `null` removes one (the
/// field goes back to its default). Non-object patches replace the whole value.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(t) = target {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

fn routing_str(r: Routing) -> &'static str {
    match r {
        Routing::Attendant => "attendant",
        Routing::Serial => "serial",
        Routing::RoundRobin => "round-robin",
        Routing::LongestIdle => "longest-idle",
    }
}

fn action_view(name: &str, target: Option<String>) -> Value {
    match target {
        Some(to) => json!({ "action": "forward", "to": to }),
        None => json!({ "action": name }),
    }
}

/// A queue with every default filled in, in the file's field names.
pub fn queue_view(q: &Queue, origin: Origin) -> Value {
    let strings = |v: &mut dyn Iterator<Item = String>| v.collect::<Vec<_>>();
    json!({
        "id": q.id.as_str(),
        "name": q.name,
        "numbers": strings(&mut q.numbers.iter().map(|n| n.to_string())),
        "addresses": strings(&mut q.addresses.iter().map(|a| a.to_string())),
        "greeting": q.greeting.as_ref().map(|p| p.display().to_string()),
        "music_on_hold": match &q.music_on_hold {
            Music::Default => "default".to_owned(),
            Music::File(p) => p.display().to_string(),
        },
        "routing": routing_str(q.routing),
        "offer": match q.offer { OfferMode::Head => "head", OfferMode::Parallel => "parallel" },
        "agents": strings(&mut q.agents.iter().map(|a| a.to_string())),
        "groups": strings(&mut q.groups.iter().map(|g| g.to_string())),
        "members": strings(&mut q.members.iter().map(|m| m.to_string())),
        "allow_opt_out": q.allow_opt_out,
        "agent_alert_time": q.agent_alert_time.as_secs(),
        "wrap_up": q.wrap_up.as_secs(),
        "answer_delay_ms": q.answer_delay.as_millis() as u64,
        "max_calls": q.max_calls,
        "on_overflow": match &q.on_overflow {
            OverflowAction::Busy => action_view("busy", None),
            OverflowAction::Forward(t) => action_view("forward", Some(t.to_string())),
        },
        "max_wait": q.max_wait.as_secs(),
        "on_timeout": match &q.on_timeout {
            TimeoutAction::Disconnect => action_view("disconnect", None),
            TimeoutAction::Forward(t) => action_view("forward", Some(t.to_string())),
        },
        "no_agents": match &q.no_agents {
            NoAgentsAction::Queue => action_view("queue", None),
            NoAgentsAction::Disconnect => action_view("disconnect", None),
            NoAgentsAction::Forward(t) => action_view("forward", Some(t.to_string())),
        },
        "service_level": q.service_level.as_secs(),
        "authorized_users": strings(&mut q.authorized_users.iter().map(|u| u.to_string())),
        "origin": origin.as_str(),
    })
}

/// A user; the password is never shown, only whether one is set.
pub fn user_view(u: &User, origin: Origin) -> Value {
    json!({
        "id": u.id.as_str(),
        "name": u.name,
        "has_password": u.password.is_some(),
        "contacts": u.contacts.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
        "numbers": u.numbers.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
        "origin": origin.as_str(),
    })
}

pub fn group_view(g: &Group, origin: Origin) -> Value {
    json!({
        "id": g.id.as_str(),
        "members": g.members.iter().map(|m| m.to_string()).collect::<Vec<_>>(),
        "origin": origin.as_str(),
    })
}

/// A number, with what it is assigned to (`queue:ID`, `user:ID`, or null).
pub fn number_view(n: &Number, assigned_to: Option<String>, origin: Origin) -> Value {
    json!({
        "e164": n.e164.to_string(),
        "kind": n.kind.as_str(),
        "assigned_to": assigned_to,
        "origin": origin.as_str(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_patch_replaces_adds_and_removes() {
        let mut t = json!({ "id": "a", "max_wait": 60, "on_timeout": { "action": "forward", "to": "user:x" } });
        merge_patch(
            &mut t,
            &json!({ "max_wait": null, "max_calls": 3, "on_timeout": { "to": null, "action": "disconnect" } }),
        );
        assert_eq!(
            t,
            json!({ "id": "a", "max_calls": 3, "on_timeout": { "action": "disconnect" } })
        );
    }

    #[test]
    fn read_body_names_the_wrong_field() {
        let e = read_body::<RawQueue>(&json!({ "id": "a", "max_wait": "long" })).unwrap_err();
        assert_eq!(e.field, "max_wait");
        let e = read_body::<RawQueue>(&json!({ "id": "a", "max_wiat": 60 })).unwrap_err();
        assert_eq!(e.field, "max_wiat");
        assert!(e.reason.starts_with("unknown field"), "{}", e.reason);
        let e = read_body::<RawQueue>(&json!({ "name": "x" })).unwrap_err();
        assert_eq!(e.field, "id");
        let e = read_body::<RawQueue>(&json!({ "id": "a", "on_timeout": { "action": 1 } }))
            .unwrap_err();
        assert_eq!(e.field, "on_timeout.action");
    }

    #[test]
    fn queue_body_keeps_only_what_the_file_sets() {
        let raw: RawQueue =
            read_body(&json!({ "id": "a", "max_calls": 5, "on_overflow": { "action": "busy" } }))
                .unwrap();
        assert_eq!(
            queue_body(&raw),
            json!({ "id": "a", "max_calls": 5, "on_overflow": { "action": "busy" } })
        );
    }
}
