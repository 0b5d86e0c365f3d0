//! The router, built from one table of routes that says who may call each: the table is
//! what the access test walks, so a route added later is tested without anyone
//! remembering to.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post, put};

use crate::access::AuthedUser;
use crate::error::ApiError;
use crate::protocol::{file_stream, graphql, uploads};
use crate::state::{AppState, Operation};

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone: liveness, readiness, the sign-in page and the dashboard's static files.
    Open,
    /// Anyone, whose request body holds a credential it checks (`POST /login`).
    SignIn,
    /// A request carrying a known API key.
    Key,
    /// A browser session (its cookie, and for a state change its CSRF token) or a key.
    Session,
    /// A URL the server signed for that method and path (uploads and downloads).
    Signed,
}

/// One route: method, path pattern (axum's), who may call it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    /// `GET`, `POST`, `PUT`.
    pub method: &'static str,
    /// The pattern, e.g. `/files/{entity}/{project}/{run}/file_stream`.
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
}

const fn route(method: &'static str, path: &'static str, access: Access) -> Route {
    Route {
        method,
        path,
        access,
    }
}

/// Every route the server answers (anything else is 404).
pub(crate) const ROUTES: &[Route] = &[
    route("GET", "/healthz", Access::Open),
    route("GET", "/ready", Access::Open),
    route("GET", "/", Access::Open),
    route("GET", "/static/{file}", Access::Open),
    route("GET", "/login", Access::Open),
    route("POST", "/login", Access::SignIn),
    route("POST", "/logout", Access::Session),
    route("GET", "/api/v1/me", Access::Session),
    route("GET", "/api/v1/runs/{entity}/{project}", Access::Session),
    route(
        "POST",
        "/api/v1/runs/{entity}/{project}/{run}/stop",
        Access::Session,
    ),
    route("POST", "/graphql", Access::Key),
    route(
        "POST",
        "/files/{entity}/{project}/{run}/file_stream",
        Access::Key,
    ),
    route(
        "PUT",
        "/upload/{entity}/{project}/{run}/{*path}",
        Access::Signed,
    ),
    route(
        "GET",
        "/run-files/{entity}/{project}/{run}/{*path}",
        Access::Signed,
    ),
    route("PUT", "/upload-artifact/{artifact}/{*path}", Access::Signed),
    route("PUT", "/upload-manifest/{artifact}", Access::Signed),
    route("GET", "/artifact-files/{artifact}/{*path}", Access::Signed),
    route(
        "PUT",
        "/upload-artifact-part/{artifact}/{upload}/{part}",
        Access::Signed,
    ),
];

/// The handler of a route in [`ROUTES`].
fn handler(route: &Route) -> MethodRouter<Arc<AppState>> {
    match route.path {
        "/healthz" => get(healthz),
        "/ready" => get(ready),
        "/" => get(crate::web::index),
        "/static/{file}" => get(crate::web::asset),
        "/login" if route.method == "GET" => get(crate::web::login_page),
        "/login" => post(crate::web::sign_in),
        "/logout" => post(crate::web::sign_out),
        "/api/v1/me" => get(crate::api::me),
        "/api/v1/runs/{entity}/{project}" => get(crate::api::runs),
        "/api/v1/runs/{entity}/{project}/{run}/stop" => post(crate::api::stop),
        "/graphql" => post(graphql::handle),
        "/files/{entity}/{project}/{run}/file_stream" => post(file_stream::handle),
        "/upload/{entity}/{project}/{run}/{*path}" => put(uploads::run_file),
        "/run-files/{entity}/{project}/{run}/{*path}" => get(uploads::run_file_download),
        "/upload-artifact/{artifact}/{*path}" => put(uploads::artifact_file),
        "/upload-manifest/{artifact}" => put(uploads::artifact_manifest),
        "/artifact-files/{artifact}/{*path}" => get(uploads::artifact_download),
        "/upload-artifact-part/{artifact}/{upload}/{part}" => put(uploads::artifact_part),
        other => unreachable!("route {other} has no handler"),
    }
}

/// Every route with the check its access asks for, and the request log around them.
pub(crate) fn router(
    state: Arc<AppState>,
    body_limit: usize,
    #[cfg(feature = "testing")] faults: Option<Arc<crate::testing::FaultState>>,
) -> Router {
    let mut routes = Router::new();
    for r in ROUTES {
        let h = handler(r);
        let h = match r.access {
            Access::Open | Access::SignIn => h,
            Access::Session => h.route_layer(middleware::from_fn_with_state(
                state.clone(),
                crate::web::require_session,
            )),
            Access::Key => h.route_layer(middleware::from_fn_with_state(
                state.clone(),
                crate::access::require_key,
            )),
            Access::Signed => h.route_layer(middleware::from_fn_with_state(
                state.clone(),
                crate::access::urls::check,
            )),
        };
        routes = routes.route(r.path, h);
    }
    let routes = routes.fallback(unknown);
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

/// `GET /healthz`: the process is up.
async fn healthz() -> &'static str {
    "ok"
}

/// `GET /ready`: the store answers; 503 while it does not.
async fn ready(State(state): State<Arc<AppState>>) -> Response {
    match state.service.meta.users().await {
        Ok(_) => (StatusCode::OK, "ready").into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {e}")).into_response(),
    }
}

/// Anything else.
async fn unknown() -> Response {
    ApiError::NotFound("no such route".into()).into_response()
}

/// One line per request: method, route pattern (never the URL, whose query may hold a
/// signature), status, latency and user (never a key).
#[cfg_attr(
    not(feature = "testing"),
    expect(
        unused_variables,
        reason = "the state holds the request log under testing"
    )
)]
async fn log_request(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "(none)".to_owned(), |m| m.as_str().to_owned());
    #[cfg(feature = "testing")]
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let operation = response
        .extensions()
        .get::<Operation>()
        .map(|o| o.0.clone());
    let user = response
        .extensions()
        .get::<AuthedUser>()
        .map(|u| u.0.user.clone());
    let status = response.status().as_u16();
    tracing::info!(
        target: "labbook_server::request",
        %method,
        %route,
        operation = operation.as_deref().unwrap_or(""),
        status,
        ms = started.elapsed().as_secs_f64() * 1e3,
        user = user.as_deref().unwrap_or(""),
        "request"
    );
    #[cfg(feature = "testing")]
    state.records.request(crate::testing::RequestLogEntry {
        method,
        path,
        operation,
        status,
    });
    response
}
