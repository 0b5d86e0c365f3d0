//! `PUT /upload/...`: presigned-style uploads (no auth), kept per run or per artifact.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use crate::error::ApiError;
use crate::server::AppState;
use crate::storage::{JsonLine, RunKey};

/// `PUT /upload/{entity}/{project}/{run}/{*path}`: a run file.
pub(crate) async fn run_file(
    State(state): State<Arc<AppState>>,
    Path((entity, project, run, path)): Path<(String, String, String, String)>,
    body: Bytes,
) -> StatusCode {
    let key = RunKey::new(entity, project, run);
    tracing::debug!(?key, %path, bytes = body.len(), "run file uploaded");
    state.storage.update_run(&key, &mut |run| {
        run.files.insert(path.clone(), body.to_vec());
    });
    StatusCode::OK
}

/// `PUT /upload-artifact/{artifact}/{*path}`: a file of an artifact.
pub(crate) async fn artifact_file(
    State(state): State<Arc<AppState>>,
    Path((artifact, path)): Path<(String, String)>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    if state.storage.artifact(&artifact).is_none() {
        return Err(ApiError::bad(format!("no artifact with id `{artifact}`")));
    }
    state.storage.update_artifact(&artifact, &mut |a| {
        a.files.insert(path.clone(), body.to_vec());
    });
    Ok(StatusCode::OK)
}

/// `PUT /upload-manifest/{artifact}`: an artifact's `wandb_manifest.json`.
pub(crate) async fn artifact_manifest(
    State(state): State<Arc<AppState>>,
    Path(artifact): Path<String>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    if state.storage.artifact(&artifact).is_none() {
        return Err(ApiError::bad(format!("no artifact with id `{artifact}`")));
    }
    let text =
        String::from_utf8(body.to_vec()).map_err(|_| ApiError::bad("the manifest is not UTF-8"))?;
    state.storage.update_artifact(&artifact, &mut |a| {
        a.manifest = Some(JsonLine::parse(text.clone()));
    });
    Ok(StatusCode::OK)
}

/// `GET /artifact-files/{artifact}/{*path}`: a file of an artifact, or its
/// `wandb_manifest.json` (as presigned download URLs are: no auth).
pub(crate) async fn artifact_download(
    State(state): State<Arc<AppState>>,
    Path((artifact, path)): Path<(String, String)>,
) -> Result<Vec<u8>, StatusCode> {
    let a = state
        .storage
        .artifact(&artifact)
        .ok_or(StatusCode::NOT_FOUND)?;
    if path == "wandb_manifest.json" {
        return a
            .manifest
            .map(|m| m.raw.into_bytes())
            .ok_or(StatusCode::NOT_FOUND);
    }
    a.files.get(&path).cloned().ok_or(StatusCode::NOT_FOUND)
}

/// `PUT /upload-artifact-part/{artifact}/{upload}/{part}`: one part of a multipart upload.
pub(crate) async fn artifact_part(
    State(state): State<Arc<AppState>>,
    Path((artifact, upload, part)): Path<(String, String, u64)>,
    body: Bytes,
) -> Result<impl axum::response::IntoResponse, ApiError> {
    let known = state
        .storage
        .artifact(&artifact)
        .is_some_and(|a| a.multipart.contains_key(&upload));
    if !known {
        return Err(ApiError::bad(format!(
            "no multipart upload `{upload}` of artifact `{artifact}`"
        )));
    }
    state.storage.update_artifact(&artifact, &mut |a| {
        if let Some(u) = a.multipart.get_mut(&upload) {
            u.parts.insert(part, body.to_vec());
        }
    });
    // As S3 answers a part: its ETag, the quoted hex MD5.
    let etag = {
        use md5::Digest;
        let hex: String = md5::Md5::digest(&body)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("\"{hex}\"")
    };
    Ok((StatusCode::OK, [(axum::http::header::ETAG, etag)]))
}
