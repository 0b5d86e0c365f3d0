//! [`ServerConfig`]: address, API key, default entity, server features, stores.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use crate::store::{BlobStore, MetaStore};

/// Sizes beyond which a request is refused with 413 and a message, never read whole.
///
/// ```
/// use labbook_server::Limits;
/// let limits = Limits { graphql_document: 64 << 10, ..Limits::default() };
/// assert_eq!(limits.body, 256 << 20);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// A request body as sent (a file upload, a compressed `file_stream` body).
    pub body: usize,
    /// A `file_stream` body once decompressed (a gzip bomb stops here).
    pub decompressed: usize,
    /// A GraphQL document (the `query` text).
    pub graphql_document: usize,
}

impl Default for Limits {
    /// 256 MiB bodies, 64 MiB decompressed, 1 MiB GraphQL documents.
    fn default() -> Limits {
        Limits {
            body: 256 << 20,
            decompressed: 64 << 20,
            graphql_document: 1 << 20,
        }
    }
}

/// How to start a [`Server`](crate::Server).
///
/// ```
/// use std::sync::Arc;
/// use labbook_server::ServerConfig;
/// use labbook_server::store::{MemoryBlobs, MemoryStore};
///
/// let config = ServerConfig::new("k".repeat(40))
///     .port(0) // any free port
///     .entity("team")
///     .features(["FILESTREAM_GZIP"])
///     .stores(Arc::new(MemoryStore::default()), Arc::new(MemoryBlobs::default()));
/// assert_eq!(config.entity, "team");
/// ```
#[derive(Clone)]
pub struct ServerConfig {
    /// The address to listen on (127.0.0.1 unless set).
    pub ip: IpAddr,
    /// The port; 0 picks a free one.
    pub port: u16,
    /// A key registered at start for a user named as the entity (what a test server needs);
    /// `None` for a server whose keys are in its data directory.
    pub api_key: Option<String>,
    /// Hashes API keys: the data directory's secret, or a random one.
    pub keys: crate::access::KeyHasher,
    /// The viewer's entity, used for runs whose UpsertBucket gives none.
    pub entity: String,
    /// Names answered as enabled by `ServerFeaturesQuery` (e.g. `FILESTREAM_GZIP`).
    pub features: Vec<String>,
    /// Where rows are kept; it outlives the listener.
    pub meta: Arc<dyn MetaStore>,
    /// Where file bytes are kept.
    pub blobs: Arc<dyn BlobStore>,
    /// Sizes beyond which requests are refused with 413.
    pub limits: Limits,
    /// How long an upload or download URL handed out stays valid (a day by default).
    pub url_ttl: std::time::Duration,
    /// How webhook deliveries are retried.
    pub webhook_retry: crate::WebhookRetry,
    /// Serve HTTPS with this certificate and key (plain HTTP when `None`).
    pub tls: Option<crate::TlsFiles>,
    /// Import the offline runs under these directories (`serve --watch`); none by default.
    pub watch: Option<crate::WatchOptions>,
    /// Serve W&B's test-fixture service (user management without a key) on this loopback
    /// port (`serve --test-fixtures PORT`); never by default, refused unless the server
    /// itself listens on loopback.
    pub test_fixtures: Option<u16>,
    #[cfg(feature = "testing")]
    pub(crate) faults: Option<crate::testing::Faults>,
    #[cfg(feature = "testing")]
    pub(crate) recorder: crate::testing::Recorder,
}

impl ServerConfig {
    /// A config with `api_key` (for user `labbook`, or the entity set), 127.0.0.1 on any
    /// free port, entity `labbook`, no features and fresh stores in memory.
    pub fn new(api_key: impl Into<String>) -> ServerConfig {
        #[cfg(feature = "testing")]
        let recorder = crate::testing::Recorder::default();
        #[cfg(feature = "testing")]
        let (meta, blobs) = (recorder.meta.clone(), recorder.blobs.clone());
        #[cfg(not(feature = "testing"))]
        let (meta, blobs): (Arc<dyn MetaStore>, Arc<dyn BlobStore>) = (
            Arc::new(crate::store::MemoryStore::default()),
            Arc::new(crate::store::MemoryBlobs::default()),
        );
        ServerConfig {
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            api_key: Some(api_key.into()),
            keys: crate::access::KeyHasher::random(),
            entity: "labbook".to_owned(),
            features: Vec::new(),
            #[cfg(feature = "testing")]
            recorder,
            meta,
            blobs,
            limits: Limits::default(),
            url_ttl: crate::access::urls::DEFAULT_TTL,
            webhook_retry: crate::WebhookRetry::default(),
            tls: None,
            watch: None,
            test_fixtures: None,
            #[cfg(feature = "testing")]
            faults: None,
        }
    }

    /// Imports the offline runs under `watch`'s directories while serving.
    pub fn watch(mut self, watch: crate::WatchOptions) -> ServerConfig {
        self.watch = Some(watch);
        self
    }

    /// Serves a data directory on `listen`: its stores and its keys.
    ///
    /// ```
    /// use labbook_server::{DataDir, ServerConfig};
    ///
    /// let tmp = tempfile::tempdir().unwrap();
    /// let (data, _first) = DataDir::open(tmp.path()).unwrap();
    /// let config = ServerConfig::from_data_dir(&data, "127.0.0.1:0".parse().unwrap());
    /// assert!(config.api_key.is_none());
    /// ```
    pub fn from_data_dir(data: &crate::DataDir, listen: std::net::SocketAddr) -> ServerConfig {
        let mut config = ServerConfig::new(String::new())
            .stores(data.meta.clone(), data.blobs.clone())
            .entity(crate::FIRST_USER);
        config.keys = data.keys.clone();
        config.api_key = None;
        config.ip = listen.ip();
        config.port = listen.port();
        config
    }

    /// Listens on this port (0 = any free port).
    pub fn port(mut self, port: u16) -> ServerConfig {
        self.port = port;
        self
    }

    /// The entity of the viewer and of runs that name none.
    pub fn entity(mut self, entity: impl Into<String>) -> ServerConfig {
        self.entity = entity.into();
        self
    }

    /// Server features reported as enabled.
    pub fn features<T: Into<String>>(
        mut self,
        features: impl IntoIterator<Item = T>,
    ) -> ServerConfig {
        self.features = features.into_iter().map(Into::into).collect();
        self
    }

    /// Keeps rows in `meta` and bytes in `blobs` (share them with a later server to keep
    /// data over a restart).
    pub fn stores(mut self, meta: Arc<dyn MetaStore>, blobs: Arc<dyn BlobStore>) -> ServerConfig {
        #[cfg(feature = "testing")]
        {
            self.recorder = crate::testing::Recorder::new(meta.clone(), blobs.clone());
        }
        self.meta = meta;
        self.blobs = blobs;
        self
    }
}

#[cfg(feature = "testing")]
impl ServerConfig {
    /// Answers some requests with failures instead of handling them (see
    /// [`Faults`](crate::Faults)).
    pub fn faults(mut self, faults: crate::testing::Faults) -> ServerConfig {
        self.faults = Some(faults);
        self
    }

    /// Keeps data and records in `recorder` (share it with a later server to keep data
    /// over a restart, and to read it back after the server stopped).
    pub fn storage(mut self, recorder: crate::testing::Recorder) -> ServerConfig {
        self.meta = recorder.meta.clone();
        self.blobs = recorder.blobs.clone();
        self.recorder = recorder;
        self
    }
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("ip", &self.ip)
            .field("port", &self.port)
            .field("api_key", &"<redacted>")
            .field("entity", &self.entity)
            .field("features", &self.features)
            .field("limits", &self.limits)
            .field("url_ttl", &self.url_ttl)
            .finish_non_exhaustive()
    }
}
