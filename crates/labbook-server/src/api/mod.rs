//! labbook's own JSON API under `/api/v1`, for the dashboard, on a session (or a key). It
//! calls the same service as W&B's protocol does.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, Path, State};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::service::allow;
use crate::state::AppState;
use crate::store::{RunKey, RunQuery};
use crate::web::SessionCaller;

/// `GET /api/v1/me`: who is signed in, and the CSRF token state changes must carry.
pub(crate) async fn me(Extension(found): Extension<SessionCaller>) -> Json<Value> {
    Json(json!({
        "user": found.caller.user,
        "admin": found.caller.admin,
        "teams": found.caller.teams,
        "csrf": found.csrf,
    }))
}

/// `GET /api/v1/runs/{entity}/{project}`: the project's runs, newest last.
pub(crate) async fn runs(
    State(state): State<Arc<AppState>>,
    Extension(found): Extension<SessionCaller>,
    Path((entity, project)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    allow(&found.caller, &entity)?;
    let names = state
        .service
        .meta
        .find_runs(&RunQuery::new(entity, project))
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    Ok(Json(json!({ "runs": names })))
}

/// `POST /api/v1/runs/{entity}/{project}/{run}/stop`: the Stop button.
pub(crate) async fn stop(
    State(state): State<Arc<AppState>>,
    Extension(found): Extension<SessionCaller>,
    Path((entity, project, run)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    allow(&found.caller, &entity)?;
    let key = RunKey::new(entity, project, run);
    let stopped = state
        .service
        .meta
        .request_stop(&key)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    if !stopped {
        return Err(ApiError::NotFound(format!(
            "no run {}/{}/{}",
            key.entity, key.project, key.run
        )));
    }
    Ok(Json(json!({ "stopped": true })))
}
