//! [`AppState`]: what every handler shares.

use crate::service::Service;

/// What every handler shares.
pub(crate) struct AppState {
    pub(crate) service: Service,
    /// Hashes the keys requests carry, to look them up.
    pub(crate) keys: crate::access::KeyHasher,
    /// Names answered as enabled by `ServerFeaturesQuery`.
    pub(crate) features: Vec<String>,
    /// `http://HOST:PORT`, for the upload and download URLs handed out.
    pub(crate) base_url: String,
    /// How long a URL handed out stays valid.
    pub(crate) url_ttl: std::time::Duration,
    /// Sizes beyond which requests are refused.
    pub(crate) limits: crate::config::Limits,
    #[cfg(feature = "testing")]
    pub(crate) records: std::sync::Arc<crate::testing::Records>,
}

/// The GraphQL operation a response answered, for the request log.
#[derive(Debug, Clone)]
pub(crate) struct Operation(pub(crate) String);
