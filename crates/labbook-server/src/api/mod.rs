//! labbook's own JSON API under `/api/v1`, for the dashboard: empty until the dashboard
//! asks for its first series. It calls the same service as W&B's protocol does.

use std::sync::Arc;

use axum::Router;

use crate::state::AppState;

/// The routes of the API, to be nested under `/api/v1`.
pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
}
