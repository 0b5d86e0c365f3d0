//! `POST /files/{entity}/{project}/{run}/file_stream`: history, events, summary and console
//! lines at line offsets, plus `uploaded`, `preempting`, `complete` and `exitcode`.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, header};
use flate2::read::GzDecoder;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::access::AuthedUser;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::RunKey;

/// A `file_stream` request body; every key is optional.
#[derive(Debug, Default, Deserialize)]
struct FileStreamRequest {
    #[serde(default)]
    files: BTreeMap<String, Chunk>,
    #[serde(default)]
    uploaded: Vec<String>,
    #[serde(default)]
    preempting: Option<bool>,
    #[serde(default)]
    complete: Option<bool>,
    #[serde(default)]
    exitcode: Option<i64>,
}

/// Lines of one file starting at line `offset`.
#[derive(Debug, Default, Deserialize)]
struct Chunk {
    #[serde(default)]
    offset: usize,
    #[serde(default)]
    content: Vec<String>,
}

/// Handles one `file_stream` request; answers `{}`, or `{"stopped": true}` for a run asked
/// to stop.
pub(crate) async fn handle(
    State(state): State<Arc<AppState>>,
    Path((entity, project, run)): Path<(String, String, String)>,
    Extension(AuthedUser(caller)): Extension<AuthedUser>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    crate::service::allow(&caller, &entity)?;
    let body = decode_body(&headers, &body, state.limits.decompressed)?;
    let request: FileStreamRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad(format!("file_stream body is not a valid request: {e}")))?;
    let key = RunKey::new(entity, project, run);
    let files = request
        .files
        .into_iter()
        .map(|(file, chunk)| (file, chunk.offset, chunk.content))
        .collect();
    let flags = crate::service::StreamFlags {
        preempting: request.preempting == Some(true),
        complete: request.complete == Some(true),
        exit_code: request.exitcode,
        crashed: false,
    };
    let outcome = state
        .service
        .stream(&key, files, request.uploaded, flags)
        .await?;
    for mismatch in &outcome.mismatches {
        tracing::warn!(?key, file = %mismatch.file, expected = mismatch.expected,
            received = mismatch.received, "file_stream offset skipped or repeated lines");
    }
    #[cfg(feature = "testing")]
    state.records.violations(&key, outcome.mismatches);
    Ok(Json(if outcome.stop_requested {
        json!({"stopped": true})
    } else {
        json!({})
    }))
}

/// The body, gunzipped when `Content-Encoding: gzip`, refused past `limit` bytes once
/// decompressed (reading stops there: a gzip bomb never inflates whole).
fn decode_body(headers: &HeaderMap, body: &Bytes, limit: usize) -> Result<Vec<u8>, ApiError> {
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    if !gzip {
        return Ok(body.to_vec());
    }
    let mut out = Vec::new();
    GzDecoder::new(&body[..])
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| ApiError::bad(format!("bad gzip body: {e}")))?;
    if out.len() > limit {
        return Err(ApiError::TooLarge(format!(
            "the file_stream body inflates past the limit of {limit} bytes"
        )));
    }
    Ok(out)
}
