//! An object's id and body as the API takes them: the id checked and made canonical, the
//! view-only fields dropped, and how messages name the object.

use serde_json::{json, Value};

use crate::api::error::ApiError;
use crate::api::spec::{id_field, read_body, ShapeError};
use crate::config::outbound::RawClidPolicy;
use crate::config::raw::{RawGroup, RawNumber, RawQueue, RawUser};
use crate::number::E164;
use crate::store::Kind;

/// Removes the fields a view has but a body does not (`origin`, `members` …), so a client can
/// send back what it read with some fields changed.
pub(super) fn drop_output_fields(kind: Kind, body: &mut Value) {
    let output_only: &[&str] = match kind {
        Kind::Queue => &["origin", "members"],
        Kind::Number => &["origin", "assigned_to"],
        Kind::User => &["origin", "has_password"],
        Kind::Group => &["origin"],
        Kind::ClidPolicy => &["origin", "granted_to"],
    };
    if let Value::Object(m) = body {
        for k in output_only {
            m.remove(*k);
        }
    }
}

/// `+14255550100` for any way of writing a number; other ids as given.
pub(super) fn canonical_id(kind: Kind, id: &str) -> String {
    match kind {
        Kind::Number => E164::parse(id).map_or_else(|_| id.to_owned(), |n| n.to_string()),
        _ => id.to_owned(),
    }
}

/// Checks the body's JSON shape and returns its id (canonical for numbers) and the body.
pub(super) fn identify(kind: Kind, mut body: Value) -> Result<(String, Value), ApiError> {
    let field = id_field(kind);
    let text = body
        .get(field)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let shape_subject = if text.is_empty() {
        format!("new {}", kind.as_str())
    } else {
        subject(kind, &text)
    };
    if !body.is_object() {
        return Err(ApiError::field(
            shape_subject,
            ".",
            "the body must be a JSON object",
        ));
    }
    let shape = |e: ShapeError| ApiError::field(shape_subject.clone(), &e.field, e.reason);
    match kind {
        Kind::Number => read_body::<RawNumber>(&body).map(drop),
        Kind::User => read_body::<RawUser>(&body).map(drop),
        Kind::Group => read_body::<RawGroup>(&body).map(drop),
        Kind::Queue => read_body::<RawQueue>(&body).map(drop),
        Kind::ClidPolicy => read_body::<RawClidPolicy>(&body).map(drop),
    }
    .map_err(shape)?;
    let id = canonical_id(kind, &text);
    if kind == Kind::Number {
        body[field] = json!(id);
    }
    Ok((id, body))
}

pub(super) fn subject(kind: Kind, id: &str) -> String {
    format!("{} {id:?}", kind.as_str())
}

pub(super) fn not_found(kind: Kind, id: &str) -> ApiError {
    ApiError::NotFound {
        what: subject(kind, id),
    }
}
