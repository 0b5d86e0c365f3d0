//! [`ServerConfig`]: port, API key, default entity, server features, storage.

use std::sync::Arc;

use crate::storage::{MemoryStorage, Storage};

/// How to start a [`Server`](crate::Server).
///
/// ```
/// use std::sync::Arc;
/// use labbook_server::{MemoryStorage, ServerConfig};
///
/// let storage = Arc::new(MemoryStorage::new());
/// let config = ServerConfig::new("k".repeat(40))
///     .port(0) // any free port
///     .entity("team")
///     .features(["FILESTREAM_GZIP"])
///     .storage(storage);
/// assert_eq!(config.entity, "team");
/// ```
#[derive(Clone)]
pub struct ServerConfig {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// The API key clients must send (HTTP Basic, user `api`).
    pub api_key: String,
    /// The viewer's entity, used for runs whose UpsertBucket gives none.
    pub entity: String,
    /// Names answered as enabled by `ServerFeaturesQuery` (e.g. `FILESTREAM_GZIP`).
    pub features: Vec<String>,
    /// Where everything received is kept; it outlives the listener.
    pub storage: Arc<dyn Storage>,
    /// The largest request body accepted, in bytes.
    pub body_limit: usize,
    /// Failures to inject (none by default).
    pub faults: Option<crate::Faults>,
}

impl ServerConfig {
    /// A config with `api_key`, any free port, entity `labbook`, no features and a fresh
    /// [`MemoryStorage`].
    pub fn new(api_key: impl Into<String>) -> ServerConfig {
        ServerConfig {
            port: 0,
            api_key: api_key.into(),
            entity: "labbook".to_owned(),
            features: Vec::new(),
            storage: Arc::new(MemoryStorage::new()),
            body_limit: 256 << 20,
            faults: None,
        }
    }

    /// Answers some requests with failures instead of handling them (see [`Faults`](crate::Faults)).
    pub fn faults(mut self, faults: crate::Faults) -> ServerConfig {
        self.faults = Some(faults);
        self
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

    /// Keeps data in `storage` (share it with a later server to keep data over a restart).
    pub fn storage(mut self, storage: Arc<dyn Storage>) -> ServerConfig {
        self.storage = storage;
        self
    }
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("port", &self.port)
            .field("api_key", &"<redacted>")
            .field("entity", &self.entity)
            .field("features", &self.features)
            .field("body_limit", &self.body_limit)
            .finish_non_exhaustive()
    }
}
