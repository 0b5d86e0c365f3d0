//! Who may do what: API keys (HTTP Basic, user `api`, as W&B's clients send them), kept
//! only as keyed hashes, and signed, expiring URLs for uploads and downloads.

mod auth;
mod keys;
pub(crate) mod passwords;
pub(crate) mod urls;

pub(crate) use auth::{AuthedUser, require_key, user};
pub use keys::KeyHasher;
pub(crate) use keys::random_bytes;
