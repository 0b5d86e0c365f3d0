//! Talking to a W&B server: the API key, an HTTP client with W&B's retry rules, and
//! [`sync_run`], which uploads a run's transaction log as `wandb sync` does (`labbook sync`
//! is built on it).

mod artifacts;
mod auth;
mod client;
mod clock;
pub(crate) mod download;
mod graphql;
mod lines;
pub(crate) mod links;
mod live;
mod markers;
mod position;
mod server_run;
mod settings;
mod sync;
mod uploader;

pub(crate) use live::Live;
pub(crate) use settings::{OnlineChoices, OnlineSettings};

pub use artifacts::Multipart;
pub use auth::api_key;
pub(crate) use auth::known_keys;
pub use client::{Client, RetryPolicy, public_url};
pub use clock::{Clock, ManualClock, SystemClock};
pub use markers::synced_marker;
pub use position::{SavedPosition, UploadPosition, position_file};
pub use sync::sync_run;
pub use uploader::{SyncOptions, SyncProgress, SyncReport, Uploader};

/// A secret (an API key) that prints as `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: String) -> Secret {
        Secret(s)
    }

    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where the server's copy of run `id` stopped, for resuming it online.
pub(crate) fn remote_resume(
    o: &OnlineSettings,
    entity: &str,
    project: &str,
    id: &str,
) -> crate::error::Result<Option<crate::wire::ResumeFrom>> {
    fn nonempty(s: &str) -> Option<&str> {
        (!s.is_empty()).then_some(s)
    }
    on_own_thread(|| {
        let client = o.interactive_client()?;
        Ok(
            server_run::resume_status(&client, nonempty(entity), nonempty(project), id)?
                .map(|r| r.from),
        )
    })
}

/// Runs network work the caller waits for on a thread of its own. The blocking HTTP
/// client starts and drops an async runtime of its own, which panics on a thread that
/// already runs one (inside a `#[tokio::main]` program); on a plain thread it cannot.
pub(crate) fn on_own_thread<T: Send>(
    work: impl FnOnce() -> crate::error::Result<T> + Send,
) -> crate::error::Result<T> {
    let failed = |reason: String| crate::error::Error::Upload {
        url: String::new(),
        reason,
    };
    std::thread::scope(|s| {
        let handle = std::thread::Builder::new()
            .name("labbook-net".into())
            .spawn_scoped(s, work)
            .map_err(|e| failed(format!("could not start a network thread: {e}")))?;
        handle.join().map_err(|p| {
            failed(format!(
                "the network thread panicked: {}",
                crate::error::panic_message(&*p)
            ))
        })?
    })
}

/// The public W&B API, the default base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.wandb.ai";
