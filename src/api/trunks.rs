//! `GET /api/v1/trunks` and `GET /api/v1/trunks/{id}/status`: every trunk's SBCs as the
//! configuration lists them (priority, weight) with what OPTIONS health checks know of each
//! (state, round-trip time, Retry-After). The configuration comes from the provisioning
//! state, the health from the runtime through [`super::live::LiveState`].

use axum::extract::{Path, State};
use axum::Json;
use serde::Serialize;

use crate::config::{Config, Trunk};

use super::error::ApiError;
use super::live::{LiveSnapshot, SbcHealthInfo};
use super::ApiState;

/// One trunk and its SBCs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TrunkStatus {
    pub id: String,
    /// Whether its SBCs are health-checked (`health_interval`).
    pub health_checks: bool,
    pub sbcs: Vec<SbcStatus>,
}

/// One SBC of a trunk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SbcStatus {
    pub uri: String,
    pub priority: u16,
    pub weight: u16,
    /// `up`, `down`, `probing` (no verdict yet), or `unchecked` (no health checks).
    pub state: String,
    pub rtt_ms: Option<u64>,
    pub retry_after_secs: Option<u64>,
    pub failures_in_a_row: u32,
}

/// Every trunk with the health of its SBCs.
pub fn statuses(config: &Config, live: &LiveSnapshot) -> Vec<TrunkStatus> {
    config.trunks.iter().map(|t| status(t, live)).collect()
}

fn status(t: &Trunk, live: &LiveSnapshot) -> TrunkStatus {
    let sbcs = t
        .sbcs
        .iter()
        .map(|s| {
            let uri = s.uri.to_string();
            let known: Option<&SbcHealthInfo> =
                live.sbcs.iter().find(|h| h.trunk == t.id.0 && h.uri == uri);
            SbcStatus {
                state: known.map_or_else(|| "unchecked".to_owned(), |h| h.state.clone()),
                rtt_ms: known.and_then(|h| h.rtt_ms),
                retry_after_secs: known.and_then(|h| h.retry_after_secs),
                failures_in_a_row: known.map_or(0, |h| h.failures_in_a_row),
                uri,
                priority: s.priority,
                weight: s.weight,
            }
        })
        .collect();
    TrunkStatus {
        id: t.id.0.clone(),
        health_checks: t.health.is_some(),
        sbcs,
    }
}

pub(super) async fn list(State(s): State<ApiState>) -> Result<Json<Vec<TrunkStatus>>, ApiError> {
    let config = super::routes::current_config(&s).await?;
    let live = s.live().snapshot().await;
    Ok(Json(statuses(&config, &live)))
}

pub(super) async fn one(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<TrunkStatus>, ApiError> {
    let config = super::routes::current_config(&s).await?;
    let Some(trunk) = config.trunks.iter().find(|t| t.id.0 == id) else {
        return Err(ApiError::NotFound {
            what: format!("trunk {id:?}"),
        });
    };
    let live = s.live().snapshot().await;
    Ok(Json(status(trunk, &live)))
}
