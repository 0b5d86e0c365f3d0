//! A W&B-protocol server on 127.0.0.1 that records everything it receives.
//!
//! It speaks enough of the W&B online protocol (GraphQL, `file_stream`, presigned-style
//! uploads) for the official `wandb` client and labbook's online mode to run against it,
//! and it keeps every run, file, alert and artifact in a [`Storage`] that tests query
//! from Rust. It also records what a real server would reject silently: a
//! `file_stream` line offset that skips or repeats lines is an [`OffsetViolation`].
//!
//! ```
//! use labbook_server::{Server, ServerConfig};
//!
//! let server = Server::start(ServerConfig::new("k".repeat(40))).unwrap();
//! let base_url = server.base_url(); // e.g. http://127.0.0.1:41234
//! assert!(base_url.starts_with("http://127.0.0.1:"));
//! // ... point WANDB_BASE_URL at it, run a client ...
//! let storage = server.storage().clone();
//! server.shutdown();
//! assert!(storage.runs().is_empty());
//! ```

// A function over 80 lines (clippy.toml) is a conductor that knows too much; an exception
// says why with `#[expect(clippy::too_many_lines, reason = "...")]`.
#![warn(clippy::too_many_lines)]

mod auth;
mod config;
mod error;
mod faults;
mod file_stream;
mod graphql;
mod server;
pub mod storage;
mod uploads;

pub use config::ServerConfig;
pub use error::Error;
pub use faults::{Faults, Outage};
pub use server::{RunningServer, Server};
pub use storage::{
    Alert, ArtifactLink, ArtifactState, JsonLine, MemoryStorage, MultipartUpload, OffsetViolation,
    RequestLogEntry, RunKey, RunState, Storage,
};

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
