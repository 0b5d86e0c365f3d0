//! The URLs GraphQL answers hand out: `PUT` for run files, artifact files, manifests and
//! parts, `GET` for run and artifact files (presigned-style: no key).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

use crate::error::ApiError;
use crate::state::AppState;
use crate::store::RunKey;

/// `PUT /upload/{entity}/{project}/{run}/{*path}`: a run file.
pub(crate) async fn run_file(
    State(state): State<Arc<AppState>>,
    Path((entity, project, run, path)): Path<(String, String, String, String)>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let key = RunKey::new(entity, project, run);
    tracing::debug!(?key, %path, bytes = body.len(), "run file uploaded");
    state.service.put_run_file(&key, &path, body).await?;
    Ok(StatusCode::OK)
}

/// `GET /run-files/{entity}/{project}/{run}/{*path}`: a run file (what `run.files()`'s
/// `download()` fetches).
pub(crate) async fn run_file_download(
    State(state): State<Arc<AppState>>,
    Path((entity, project, run, path)): Path<(String, String, String, String)>,
) -> Result<Bytes, ApiError> {
    let key = RunKey::new(entity, project, run);
    state
        .service
        .run_file(&key, &path)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("the run has no file `{path}`")))
}

/// `PUT /upload-artifact/{artifact}/{*path}`: a file of an artifact.
pub(crate) async fn artifact_file(
    State(state): State<Arc<AppState>>,
    Path((artifact, path)): Path<(String, String)>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    state
        .service
        .put_artifact_file(&artifact, &path, body)
        .await?;
    Ok(StatusCode::OK)
}

/// `PUT /upload-manifest/{artifact}`: an artifact's `wandb_manifest.json`.
pub(crate) async fn artifact_manifest(
    State(state): State<Arc<AppState>>,
    Path(artifact): Path<String>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let text =
        String::from_utf8(body.to_vec()).map_err(|_| ApiError::bad("the manifest is not UTF-8"))?;
    state.service.put_manifest(&artifact, text).await?;
    Ok(StatusCode::OK)
}

/// `GET /artifact-files/{artifact}/{*path}`: a file of an artifact, or its
/// `wandb_manifest.json` (as presigned download URLs are: no auth).
pub(crate) async fn artifact_download(
    State(state): State<Arc<AppState>>,
    Path((artifact, path)): Path<(String, String)>,
) -> Result<Bytes, ApiError> {
    state
        .service
        .artifact_file(&artifact, &path)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("artifact `{artifact}` has no file `{path}`")))
}

/// `PUT /upload-artifact-part/{artifact}/{upload}/{part}`: one part of a multipart upload,
/// answered with its ETag as S3 answers.
pub(crate) async fn artifact_part(
    State(state): State<Arc<AppState>>,
    Path((artifact, upload, part)): Path<(String, String, u64)>,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let etag = state
        .service
        .put_part(&artifact, &upload, part, body)
        .await?;
    Ok((StatusCode::OK, [(header::ETAG, etag)]))
}
