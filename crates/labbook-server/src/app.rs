//! The router: W&B's protocol routes, labbook's API, and the layers around them.

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};

use crate::protocol::{file_stream, graphql, uploads};
use crate::state::{AppState, Operation};

/// Every route, with the request log around them.
pub(crate) fn router(
    state: Arc<AppState>,
    body_limit: usize,
    #[cfg(feature = "testing")] faults: Option<Arc<crate::testing::FaultState>>,
) -> Router {
    // Upload and download URLs carry their own credential: a signature for one method and
    // path, checked before the handler runs.
    let signed = Router::new()
        .route(
            "/upload/{entity}/{project}/{run}/{*path}",
            put(uploads::run_file),
        )
        .route(
            "/upload-artifact/{artifact}/{*path}",
            put(uploads::artifact_file),
        )
        .route(
            "/upload-manifest/{artifact}",
            put(uploads::artifact_manifest),
        )
        .route(
            "/artifact-files/{artifact}/{*path}",
            get(uploads::artifact_download),
        )
        .route(
            "/upload-artifact-part/{artifact}/{upload}/{part}",
            put(uploads::artifact_part),
        )
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            crate::access::urls::check,
        ));
    let routes = Router::new()
        .route("/healthz", get(healthz))
        .route("/ready", get(ready))
        .route("/graphql", post(graphql::handle))
        .route(
            "/files/{entity}/{project}/{run}/file_stream",
            post(file_stream::handle),
        )
        .merge(signed)
        .nest("/api/v1", crate::api::routes())
        .fallback(unknown);
    // Injected faults sit inside the request log, so the log shows them.
    #[cfg(feature = "testing")]
    let routes = match faults {
        Some(f) => routes.layer(middleware::from_fn_with_state(f, crate::testing::inject)),
        None => routes,
    };
    routes
        .layer(middleware::from_fn_with_state(state.clone(), log_request))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

/// `GET /healthz`: the process is up (no key needed).
async fn healthz() -> &'static str {
    "ok"
}

/// `GET /ready`: the store answers (no key needed); 503 while it does not.
async fn ready(State(state): State<Arc<AppState>>) -> Response {
    match state.service.meta.users().await {
        Ok(_) => (StatusCode::OK, "ready").into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {e}")).into_response(),
    }
}

/// Anything else: answered like an empty GraphQL result, and logged.
async fn unknown() -> Response {
    (StatusCode::OK, axum::Json(serde_json::json!({"data": {}}))).into_response()
}

/// One line per request: method, path, operation and status.
#[cfg_attr(
    not(feature = "testing"),
    expect(
        unused_variables,
        reason = "the state holds the request log under testing"
    )
)]
async fn log_request(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let operation = response
        .extensions()
        .get::<Operation>()
        .map(|o| o.0.clone());
    let status = response.status().as_u16();
    tracing::debug!(%method, %path, ?operation, status, "request");
    #[cfg(feature = "testing")]
    state.records.request(crate::testing::RequestLogEntry {
        method,
        path,
        operation,
        status,
    });
    response
}
