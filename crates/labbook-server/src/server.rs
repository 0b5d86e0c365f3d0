//! [`Server`]: binds its address, runs the router on its own thread, stops on demand.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::watch;

use crate::config::ServerConfig;
use crate::error::Error;
use crate::service::Service;
use crate::state::AppState;

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
    /// Binds `config.ip:config.port` (port 0 = any free port) and serves on a background
    /// thread until [`RunningServer::shutdown`] or drop.
    pub fn start(config: ServerConfig) -> crate::Result<RunningServer> {
        let asked = SocketAddr::new(config.ip, config.port);
        let tls = config.tls.as_ref().map(crate::tls::acceptor).transpose()?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let bind = |source| Error::Bind {
            addr: asked,
            source,
        };
        let listener = TcpListener::bind(asked).map_err(bind)?;
        listener.set_nonblocking(true).map_err(bind)?;
        let addr = listener.local_addr().map_err(bind)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(bind)?;
        let webhook_retry = config.webhook_retry;
        let watching = config.watch.clone();
        if let Some(watch) = &watching {
            for dir in &watch.dirs {
                if !dir.is_dir() {
                    return Err(Error::Setup(format!(
                        "cannot watch {}: not a directory",
                        dir.display()
                    )));
                }
            }
        }
        let fixtures = fixtures(&config)?;
        #[cfg(feature = "testing")]
        let recorder = config.recorder.clone();
        let (app, service) = runtime.block_on(app(config, format!("{scheme}://{addr}")))?;
        let outbound = (service, webhook_retry, watching, fixtures);
        let (stop_tx, stop_rx) = watch::channel(Stop::Running);
        let thread = std::thread::Builder::new()
            .name(format!("labbook-server-{}", addr.port()))
            .spawn(move || {
                runtime.block_on(serve(listener, tls, app, outbound, stop_rx));
                // Dropping the runtime aborts open connections; the listener is closed.
            })
            .map_err(Error::Thread)?;
        tracing::info!(%addr, "labbook-server listening");
        Ok(RunningServer {
            addr,
            scheme,
            #[cfg(feature = "testing")]
            recorder,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }
}

/// The test-fixture service's socket and router, when `config` asks for one: on loopback
/// only, and only beside a server that itself listens on loopback.
fn fixtures(config: &ServerConfig) -> crate::Result<Option<(TcpListener, axum::Router)>> {
    let Some(port) = config.test_fixtures else {
        return Ok(None);
    };
    if !config.ip.is_loopback() {
        return Err(Error::Setup(format!(
            "the test-fixture service manages users without a key: it is only served beside \
             a server on a loopback address, not {}",
            config.ip
        )));
    }
    let at = SocketAddr::from(([127, 0, 0, 1], port));
    let bind = |source| Error::Bind { addr: at, source };
    let listener = TcpListener::bind(at).map_err(bind)?;
    listener.set_nonblocking(true).map_err(bind)?;
    tracing::info!(%at, "test-fixture service listening");
    let router = crate::fixtures::router(config.meta.clone(), config.keys.clone());
    Ok(Some((listener, router)))
}

/// The router for `config`, answering as `base_url`, and the service behind it (the test
/// key registered, orphan blobs a crash left collected).
pub(crate) async fn app(
    config: ServerConfig,
    base_url: String,
) -> crate::Result<(axum::Router, Service)> {
    if let Some(key) = &config.api_key {
        register_key(&config, key).await?;
    }
    let state = Arc::new(AppState {
        service: Service::new(config.meta.clone(), config.blobs.clone(), config.entity),
        keys: config.keys,
        features: config.features,
        base_url,
        url_ttl: config.url_ttl,
        limits: config.limits,
        #[cfg(feature = "testing")]
        records: config.recorder.records.clone(),
    });
    // What a crash left between deleting a run and removing its files' bytes.
    if let Err(error) = state.service.collect_orphans().await {
        tracing::warn!(%error, "cannot collect orphan blobs now; the next deletion will");
    }
    let service = state.service.clone();
    let app = crate::app::router(
        state,
        config.limits.body,
        #[cfg(feature = "testing")]
        config
            .faults
            .map(|f| Arc::new(crate::testing::FaultState::new(f))),
    );
    Ok((app, service))
}

/// Serves until told to stop, and meanwhile delivers webhooks and imports watched runs; a graceful stop lets the
/// requests in flight finish, up to its bound.
async fn serve(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    app: axum::Router,
    outbound: (
        Service,
        crate::WebhookRetry,
        Option<crate::WatchOptions>,
        Option<(TcpListener, axum::Router)>,
    ),
    stop_rx: watch::Receiver<Stop>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!(%error, "cannot use the bound socket");
            return;
        }
    };
    let (service, retry, watching, fixtures) = outbound;
    if let Some((listener, router)) = fixtures {
        match tokio::net::TcpListener::from_std(listener) {
            Ok(listener) => {
                tokio::spawn(async move {
                    if let Err(error) = axum::serve(listener, router).await {
                        tracing::error!(%error, "the test-fixture service stopped");
                    }
                });
            }
            Err(error) => tracing::error!(%error, "cannot use the test-fixture socket"),
        }
    }
    if let Some(options) = watching {
        tokio::spawn(crate::import::watch(service.clone(), options));
    }
    tokio::spawn(crate::notify::deliver(service, retry));
    let mut stopping = stop_rx.clone();
    let serve = async move {
        match tls {
            Some(acceptor) => {
                let (stop_tx, stop) = watch::channel(false);
                tokio::spawn(async move {
                    let _ = stopping.wait_for(|s| *s != Stop::Running).await;
                    let _ = stop_tx.send(true);
                });
                crate::tls::serve(listener, acceptor, app, stop).await;
            }
            None => {
                let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                    let _ = stopping.wait_for(|s| *s != Stop::Running).await;
                });
                if let Err(error) = serve.await {
                    tracing::error!(%error, "server stopped");
                }
            }
        }
    };
    tokio::select! {
        () = serve => {}
        () = deadline(stop_rx) => {}
    }
}

/// Adds the config's key for a user named as its entity (a test server's one key).
async fn register_key(config: &ServerConfig, key: &str) -> crate::Result<()> {
    let hash = config.keys.hash(key);
    let setup = |e: crate::store::StoreError| Error::Setup(e.to_string());
    // The test server's one user may use every entity, as tests name many.
    config
        .meta
        .add_user(&config.entity, true)
        .await
        .map_err(setup)?;
    // A restart on the same stores finds the key there already.
    if config.meta.key_user(&hash).await.map_err(setup)?.is_none() {
        let label = &hash[..12];
        config
            .meta
            .add_key(&config.entity, &hash, label)
            .await
            .map_err(setup)?;
    }
    Ok(())
}

/// A server that is listening. Stops on [`shutdown`](RunningServer::shutdown) or drop; its
/// stores live on in the config's `meta` and `blobs`.
///
/// ```
/// use labbook_server::{Server, ServerConfig};
///
/// let server = Server::start(ServerConfig::new("k".repeat(40))).unwrap();
/// assert!(server.base_url().starts_with("http://127.0.0.1:"));
/// server.shutdown();
/// ```
#[derive(Debug)]
pub struct RunningServer {
    addr: SocketAddr,
    scheme: &'static str,
    #[cfg(feature = "testing")]
    recorder: crate::testing::Recorder,
    stop: Option<watch::Sender<Stop>>,
    thread: Option<JoinHandle<()>>,
}

impl RunningServer {
    /// The bound address (with the actual port).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://HOST:PORT` (`https://` when serving TLS), the value for `WANDB_BASE_URL`.
    pub fn base_url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// Everything the server received, and its records (requests, offset violations).
    #[cfg(feature = "testing")]
    pub fn storage(&self) -> &crate::testing::Recorder {
        &self.recorder
    }

    /// Stops listening and waits for the server thread to end; requests in flight are cut
    /// off.
    pub fn shutdown(mut self) {
        self.stop(Stop::Now);
    }

    /// Stops accepting connections, lets the requests in flight finish for at most
    /// `bound`, then stops.
    pub fn shutdown_gracefully(mut self, bound: std::time::Duration) {
        self.stop(Stop::Graceful(bound));
    }

    fn stop(&mut self, how: Stop) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(how);
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
        self.stop(Stop::Now);
    }
}

/// How a server is asked to stop.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Stop {
    Running,
    Now,
    Graceful(std::time::Duration),
}

/// Ends when the server must stop whether or not requests are still in flight: at once,
/// or `bound` after a graceful stop began.
async fn deadline(mut stop: watch::Receiver<Stop>) {
    let how = match stop.wait_for(|s| *s != Stop::Running).await {
        Ok(how) => *how,
        Err(_) => Stop::Now,
    };
    if let Stop::Graceful(bound) = how {
        tokio::time::sleep(bound).await;
    }
}
