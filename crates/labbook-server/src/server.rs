//! [`Server`]: binds 127.0.0.1, runs the router on its own thread, stops on demand.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::Arc;
use std::thread::JoinHandle;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use tokio::sync::oneshot;

use crate::config::ServerConfig;
use crate::error::Error;
use crate::storage::{RequestLogEntry, Storage};
use crate::{file_stream, graphql, uploads};

/// What every handler shares.
pub(crate) struct AppState {
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) api_key: String,
    pub(crate) entity: String,
    pub(crate) features: Vec<String>,
    /// `http://127.0.0.1:PORT`, for the upload URLs handed out.
    pub(crate) base_url: String,
}

/// The GraphQL operation a response answered, for the request log.
#[derive(Debug, Clone)]
pub(crate) struct Operation(pub(crate) String);

/// Starts W&B-protocol servers.
///
/// ```
/// use labbook_server::{Server, ServerConfig};
///
/// let server = Server::start(ServerConfig::new("k".repeat(40))).unwrap();
/// assert_eq!(server.addr().ip().to_string(), "127.0.0.1");
/// ```
#[derive(Debug)]
pub struct Server;

impl Server {
    /// Binds `127.0.0.1:config.port` (0 = any free port) and serves on a background
    /// thread until [`RunningServer::shutdown`] or drop.
    pub fn start(config: ServerConfig) -> crate::Result<RunningServer> {
        let port = config.port;
        let bind = |source| Error::Bind { port, source };
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).map_err(bind)?;
        listener.set_nonblocking(true).map_err(bind)?;
        let addr = listener.local_addr().map_err(bind)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .map_err(bind)?;
        let state = Arc::new(AppState {
            storage: config.storage.clone(),
            api_key: config.api_key,
            entity: config.entity,
            features: config.features,
            base_url: format!("http://{addr}"),
        });
        let faults = config
            .faults
            .map(|f| Arc::new(crate::faults::FaultState::new(f)));
        let app = router(state, config.body_limit, faults);
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("labbook-server-{}", addr.port()))
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => listener,
                        Err(error) => {
                            tracing::error!(%error, "cannot use the bound socket");
                            return;
                        }
                    };
                    tokio::select! {
                        result = axum::serve(listener, app) => {
                            if let Err(error) = result {
                                tracing::error!(%error, "server stopped");
                            }
                        }
                        _ = stop_rx => {}
                    }
                });
                // Dropping the runtime aborts open connections; the listener is closed.
            })
            .map_err(Error::Thread)?;
        tracing::info!(%addr, "labbook-server listening");
        Ok(RunningServer {
            addr,
            storage: config.storage,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }
}

/// A server that is listening. Stops on [`shutdown`](RunningServer::shutdown) or drop; its
/// storage lives on in any clone of [`storage`](RunningServer::storage).
///
/// ```
/// use labbook_server::{Server, ServerConfig};
///
/// let first = Server::start(ServerConfig::new("k".repeat(40))).unwrap();
/// let storage = first.storage().clone();
/// first.shutdown();
/// let second = Server::start(ServerConfig::new("k".repeat(40)).storage(storage)).unwrap();
/// drop(second);
/// ```
#[derive(Debug)]
pub struct RunningServer {
    addr: SocketAddr,
    storage: Arc<dyn Storage>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl RunningServer {
    /// The bound address (127.0.0.1 and the actual port).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, the value for `WANDB_BASE_URL`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Everything the server received.
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    /// Stops listening and waits for the server thread to end.
    pub fn shutdown(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the server thread panicked");
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.stop_now();
    }
}

fn router(
    state: Arc<AppState>,
    body_limit: usize,
    faults: Option<Arc<crate::faults::FaultState>>,
) -> Router {
    let routes = Router::new()
        .route("/graphql", post(graphql::handle))
        .route(
            "/files/{entity}/{project}/{run}/file_stream",
            post(file_stream::handle),
        )
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
        .fallback(unknown);
    // Injected faults sit inside the request log, so the log shows them.
    let routes = match faults {
        Some(f) => routes.layer(middleware::from_fn_with_state(f, crate::faults::inject)),
        None => routes,
    };
    routes
        .layer(middleware::from_fn_with_state(state.clone(), log_request))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

/// Anything else: answered like an empty GraphQL result, and logged.
async fn unknown() -> Response {
    (StatusCode::OK, axum::Json(serde_json::json!({"data": {}}))).into_response()
}

/// Records method, path, operation and status of every request.
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
    state.storage.log_request(RequestLogEntry {
        method,
        path,
        operation,
        status,
    });
    response
}
