//! `GET /api/v1/users/{id}/registrations` and `DELETE /api/v1/users/{id}/registrations/{n}`:
//! a user's registered bindings (contact, source, transport, user agent, time left), and
//! removing one. The bindings live in the call core; both routes ask the runtime through
//! [`super::live::LiveState`], like the bans.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;

use super::error::ApiError;
use super::live::RegistrationInfo;
use super::ApiState;

/// 404 unless `id` is a configured user.
async fn known_user(s: &ApiState, id: &str) -> Result<(), ApiError> {
    let s2 = s.clone();
    let id2 = id.to_owned();
    let known = tokio::task::spawn_blocking(move || {
        s2.prov()
            .config()
            .users
            .iter()
            .any(|u| u.id.as_str() == id2)
    })
    .await
    .map_err(|e| ApiError::Internal(format!("the request did not complete: {e}")))?;
    if known {
        Ok(())
    } else {
        Err(ApiError::NotFound {
            what: format!("user {id:?}"),
        })
    }
}

/// The user's bindings, in order (the index is what `DELETE …/registrations/{n}` takes).
pub(super) async fn list(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<Vec<RegistrationInfo>>, ApiError> {
    known_user(&s, &id).await?;
    Ok(Json(s.live().registrations(id).await))
}

/// Removes binding `n` (204); 404 when the user or the binding does not exist.
pub(super) async fn remove(
    State(s): State<ApiState>,
    Path((id, n)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    known_user(&s, &id).await?;
    let index: usize = n.parse().map_err(|_| {
        ApiError::field(
            "registration",
            "n",
            format!("{n:?} is not a binding number"),
        )
    })?;
    if s.live().remove_registration(id.clone(), index).await {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound {
            what: format!("registration {index} of user {id:?}"),
        })
    }
}
