//! The API's errors and how each becomes an HTTP response.
//!
//! Every error body is JSON `{"error": "<one sentence>"}`; validation failures (422) add
//! `"problems": [{"subject", "field", "message"}]`, the same [`Problem`]s `check-config` prints,
//! so a client shows exactly what the file's author would see. Status codes: 400 for a body that
//! is not JSON, 401 without the right bearer token, 404 for an unknown object, 409 for an object
//! the config file owns or an id already taken (or a prompt a queue uses), 413 for an upload
//! over its size limit, 422 for anything that fails validation.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use thiserror::Error;

use crate::config::Problem;
use crate::store::StoreError;

/// Why an API request failed.
#[derive(Debug, Error)]
pub enum ApiError {
    #[error("the request body is not JSON: {reason}")]
    NotJson { reason: String },
    #[error("a valid bearer token is required (Authorization: Bearer TOKEN)")]
    Unauthorized,
    #[error("{what} does not exist")]
    NotFound { what: String },
    /// The object is declared in the config file: change it there. The embedded default has
    /// no file to edit, so its message says how to run with one.
    #[error("{what} is declared in {file}; {}", read_only_hint(.file))]
    ReadOnly { what: String, file: String },
    #[error("{0}")]
    Conflict(String),
    /// The change would make the configuration invalid; every problem found.
    #[error("the change is not valid: {}", .0.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<Problem>),
    /// The request body is over a configured size limit (413).
    #[error("{0}")]
    TooLarge(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A bug on our side (a change's thread panicked); logged, answered 500.
    #[error("internal error: {0}")]
    Internal(String),
}

/// What an admin can do about an object the config file declares.
fn read_only_hint(file: &str) -> &'static str {
    if file == super::provision::EMBEDDED_LABEL {
        "it cannot be changed through the API: start holdline with your own configuration \
         (holdline serve --config FILE), which may declare it or leave it out"
    } else {
        "change it there (objects from the config file are read-only through the API)"
    }
}

impl ApiError {
    /// A 422 about one field.
    pub fn field(subject: impl Into<String>, field: &str, message: impl Into<String>) -> ApiError {
        ApiError::Invalid(vec![Problem {
            subject: subject.into(),
            field: field.to_owned(),
            message: message.into(),
        }])
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::NotJson { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::ReadOnly { .. } | ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Store(_) | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self {
            ApiError::Store(e) => tracing::error!(error = %e, "store failure in the API"),
            ApiError::Internal(e) => tracing::error!(error = %e, "internal failure in the API"),
            _ => {}
        }
        let body = match &self {
            ApiError::Invalid(problems) => json!({
                "error": "validation failed",
                "problems": problems.iter().map(|p| json!({
                    "subject": p.subject,
                    "field": p.field,
                    "message": p.to_string(),
                })).collect::<Vec<_>>(),
            }),
            other => json!({ "error": other.to_string() }),
        };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}
