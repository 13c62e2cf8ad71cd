//! The prompt routes: upload (`POST /api/v1/prompts`, a raw audio body or multipart/form-data
//! with one file part), list, get, download as the 8 kHz WAV holdline plays, and delete.
//!
//! The body is read up to `[media] max_upload_mb` (plus room for multipart framing) and no
//! further: a larger upload is refused with 413 before it is all read. Checking (a full decode)
//! runs on a blocking thread without the provisioning lock; only storing takes it. The logic is
//! in [`super::provision`]; this file is HTTP.

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::Json;
use serde::Deserialize;

use crate::audio::media::read_file;
use crate::audio::{decode_prompt, DecodeOptions};

use super::error::ApiError;
use super::provision::{check_upload, playable_wav, too_large};
use super::ApiState;

/// Multipart framing around the file (boundaries, part headers, a name field), allowed beyond
/// the size limit so a file just under it still fits.
const MULTIPART_SLACK: u64 = 64 * 1024;

#[derive(Deserialize)]
pub(crate) struct UploadQuery {
    /// The prompt's display name for a raw upload (a multipart part's file name is used
    /// otherwise).
    name: Option<String>,
}

/// The upload route's handler. Its body limit is ours (the configured one), not axum's default.
pub(crate) fn upload_route(filter: MethodFilter) -> MethodRouter<ApiState> {
    on(filter, upload).layer(DefaultBodyLimit::disable())
}

async fn upload(
    State(s): State<ApiState>,
    query: Query<UploadQuery>,
    request: Request,
) -> Result<Response, ApiError> {
    // The lock may be held by a change decoding a prompt: wait for it off the async worker.
    let s2 = s.clone();
    let config = tokio::task::spawn_blocking(move || s2.prov().config())
        .await
        .map_err(|e| ApiError::Internal(format!("the request did not complete: {e}")))?;
    let limit = config.media.max_upload_bytes;
    let (parts, body) = request.into_parts();
    let multipart = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        });
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let room = if multipart {
        limit + MULTIPART_SLACK
    } else {
        limit
    };
    if let Some(n) = declared.filter(|&n| n > room) {
        return Err(too_large(n, limit));
    }
    let room_usize = usize::try_from(room).unwrap_or(usize::MAX);
    let bytes = axum::body::to_bytes(body, room_usize)
        .await
        .map_err(|_| too_large(room + 1, limit))?;
    let (name, audio) = if multipart {
        let request = Request::from_parts(parts, Body::from(bytes));
        file_part(request, &s).await?
    } else {
        let name = query.0.name.clone().unwrap_or_else(|| "upload".to_owned());
        (name, bytes)
    };
    let name = query.0.name.clone().unwrap_or(name);
    let checked = tokio::task::spawn_blocking(move || check_upload(&name, audio.to_vec(), &config))
        .await
        .map_err(|e| ApiError::Internal(format!("checking the upload did not complete: {e}")))??;
    let s2 = s.clone();
    let view = tokio::task::spawn_blocking(move || s2.prov().add_prompt(checked))
        .await
        .map_err(|e| ApiError::Internal(format!("storing the upload did not complete: {e}")))??;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// The one file part (a part with a file name) of a multipart/form-data body: its file name
/// and bytes. Plain form fields are skipped.
async fn file_part(request: Request, s: &ApiState) -> Result<(String, Bytes), ApiError> {
    let bad = |why: String| ApiError::field("prompt", "file", why);
    let mut form = Multipart::from_request(request, s).await.map_err(|e| {
        bad(format!(
            "the multipart body cannot be read: {}",
            e.body_text()
        ))
    })?;
    let mut found = None;
    while let Some(field) = form.next_field().await.map_err(|e| {
        bad(format!(
            "the multipart body cannot be read: {}",
            e.body_text()
        ))
    })? {
        let Some(file_name) = field.file_name().map(str::to_owned) else {
            // A plain form field (no file): nothing to keep.
            continue;
        };
        if found.is_some() {
            return Err(bad(
                "the form has more than one file part; upload one prompt at a time".into(),
            ));
        }
        let bytes = field
            .bytes()
            .await
            .map_err(|e| bad(format!("the file part cannot be read: {}", e.body_text())))?;
        found = Some((file_name, bytes));
    }
    found.ok_or_else(|| bad("the form has no file part (a part with a filename)".into()))
}

pub(crate) async fn list(State(s): State<ApiState>) -> Result<Json<serde_json::Value>, ApiError> {
    let all = tokio::task::spawn_blocking(move || s.prov().prompts())
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    Ok(Json(serde_json::Value::Array(all)))
}

pub(crate) async fn get(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let view = tokio::task::spawn_blocking(move || s.prov().prompt(&id))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    Ok(Json(view))
}

/// The prompt as holdline plays it: 8 kHz mono 16-bit PCM WAV.
pub(crate) async fn audio(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let wav = tokio::task::spawn_blocking(move || {
        let (path, max) = {
            let p = s.prov();
            (p.prompt_path(&id)?, p.config().media.max_prompt)
        };
        let bytes = read_file(&path).map_err(|e| ApiError::Internal(e.to_string()))?;
        let prompt = decode_prompt(&id, &bytes, &DecodeOptions { max_duration: max })
            .map_err(|e| ApiError::Internal(format!("the stored prompt no longer decodes: {e}")))?;
        Ok::<_, ApiError>((id, playable_wav(&prompt)))
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))??;
    let (id, bytes) = wav;
    Ok((
        [
            (header::CONTENT_TYPE, "audio/wav".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{id}.wav\""),
            ),
        ],
        bytes,
    )
        .into_response())
}

pub(crate) async fn delete(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    tokio::task::spawn_blocking(move || s.prov().remove_prompt(&id))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    Ok(StatusCode::NO_CONTENT)
}
