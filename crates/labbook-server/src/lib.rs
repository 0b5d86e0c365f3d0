//! A W&B-protocol server: the official `wandb` client and labbook's online mode both
//! write to it and read back from it.
//!
//! Its parts, each calling only the ones below it:
//!
//! - `protocol`: W&B's wire protocol (GraphQL, `file_stream`, upload and download URLs);
//! - `api`: labbook's own JSON API for the dashboard;
//! - `access`: API keys, kept as keyed hashes, and the user each request acts for;
//! - `service`: the rules (run defaults and names, streams, artifact versions, aliases,
//!   links, multipart uploads), with no HTTP and no SQL;
//! - [`store`]: the [`MetaStore`](store::MetaStore) and [`BlobStore`](store::BlobStore)
//!   traits, one method per intent, and their implementations;
//! - `import`: `serve --watch`, offline runs under watched directories replayed into the
//!   service;
//! - `testing` (cargo feature `testing`): injected faults, the request log, offset
//!   violation records, strict GraphQL field selection, and a [`Recorder`] to read the
//!   stores back from tests.
//!
//! ```
//! use labbook_server::{Server, ServerConfig};
//!
//! let server = Server::start(ServerConfig::new("k".repeat(40))).unwrap();
//! let base_url = server.base_url(); // e.g. http://127.0.0.1:41234
//! assert!(base_url.starts_with("http://127.0.0.1:"));
//! // ... point WANDB_BASE_URL at it, run a client ...
//! server.shutdown();
//! ```

// A function over 80 lines (clippy.toml) is a conductor that knows too much; an exception
// says why with `#[expect(clippy::too_many_lines, reason = "...")]`.
#![warn(clippy::too_many_lines)]

mod access;
mod api;
mod app;
mod config;
mod data_dir;
mod error;
mod fixtures;
mod import;
mod notify;
mod protocol;
mod server;
mod service;
mod state;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;
mod tls;
mod web;

pub use access::KeyHasher;
pub use access::passwords::{MIN_PASSWORD, hash_password, verify_password};
pub use app::{Access, Route};
pub use config::{Limits, ServerConfig};
pub use data_dir::{Backup, DataDir, FIRST_USER, FirstStart};
pub use error::Error;
pub use import::WatchOptions;
pub use server::{RunningServer, Server};
pub use service::WebhookRetry;
pub use store::{JsonLine, RunKey};
#[cfg(feature = "testing")]
pub use testing::{
    ArtifactState, Faults, OffsetViolation, Outage, Recorder, RequestLogEntry, RunState,
};
pub use tls::TlsFiles;

/// Every route the server answers and who may call it (anything else is 404).
///
/// ```
/// use labbook_server::{Access, routes};
/// let open: Vec<&str> = routes().iter().filter(|r| r.access == Access::Open).map(|r| r.path).collect();
/// assert_eq!(open, ["/healthz", "/ready", "/", "/static/{file}", "/login"]);
/// ```
pub fn routes() -> &'static [Route] {
    app::ROUTES
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
