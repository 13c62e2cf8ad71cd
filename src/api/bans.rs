//! `GET /api/v1/bans` and `DELETE /api/v1/bans/{addr}`: the sources admission control has
//! banned, and lifting a ban. The bans live in the call core; both routes ask the runtime
//! through [`super::live::LiveState`], like the live status routes.

use std::net::IpAddr;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;

use super::error::ApiError;
use super::live::BanInfo;
use super::ApiState;

/// Every ban in force, by address.
pub(super) async fn list(State(s): State<ApiState>) -> Json<Vec<BanInfo>> {
    Json(s.live().snapshot().await.bans)
}

/// Lifts the ban on `addr` (204), 404 when it is not banned, 422 when it is no IP address.
pub(super) async fn lift(
    State(s): State<ApiState>,
    Path(addr): Path<String>,
) -> Result<StatusCode, ApiError> {
    let ip: IpAddr = addr
        .trim_matches(['[', ']'])
        .parse()
        .map_err(|_| ApiError::field("ban", "addr", format!("{addr:?} is not an IP address")))?;
    if s.live().lift_ban(ip).await {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound {
            what: format!("a ban on {ip}"),
        })
    }
}
