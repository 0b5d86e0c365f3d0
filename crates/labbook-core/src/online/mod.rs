//! Talking to a W&B server: the API key, an HTTP client with W&B's retry rules, and
//! [`sync_run`], which uploads a run's transaction log as `wandb sync` does (`labbook sync`
//! is built on it).

mod auth;
mod client;
mod lines;
mod sync;

pub use auth::api_key;
pub use client::{Client, RetryPolicy};
pub use sync::{SyncOptions, SyncProgress, SyncReport, sync_run, synced_marker};

/// The public W&B API, the default base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.wandb.ai";
