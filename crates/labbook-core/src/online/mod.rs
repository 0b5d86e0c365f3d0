//! Talking to a W&B server: the API key, an HTTP client with W&B's retry rules, and
//! `sync_run`, which uploads a run's transaction log as `wandb sync` does (`labbook sync`
//! is built on it). The network half needs the `online` cargo feature (on by default);
//! without it, asking for online mode is an error ([`Error::NotBuiltWith`](crate::Error::NotBuiltWith)).

// Always built: what settings and an offline run need (the key and where it comes from,
// the retry policy and clock a program may choose, registry links queued for a later sync).
mod auth;
mod clock;
pub(crate) mod download;
pub(crate) mod links;
mod netrc;
mod report;
mod retry;
mod settings;

// The network: built with the `online` feature (reqwest).
#[cfg(feature = "online")]
mod account;
#[cfg(feature = "online")]
mod artifacts;
#[cfg(feature = "online")]
mod client;
#[cfg(feature = "online")]
mod fetch;
#[cfg(feature = "online")]
mod graphql;
#[cfg(feature = "online")]
#[cfg(feature = "online")]
mod live;
#[cfg(feature = "online")]
mod markers;
#[cfg(feature = "online")]
mod position;
#[cfg(feature = "online")]
mod server_run;
#[cfg(feature = "online")]
mod sync;
#[cfg(feature = "online")]
mod uploader;
// Without it, online mode is refused when settings are resolved; what the run calls on the
// network half is there as functions the compiler proves are never reached.
#[cfg(not(feature = "online"))]
mod unbuilt;

pub use auth::{api_key, check_key_shape};
pub(crate) use auth::{api_key_and_source, known_keys};
pub use clock::{Clock, ManualClock, SystemClock};
pub use netrc::{netrc_file, netrc_machine, remove_netrc_key, store_netrc_key};
pub use report::SyncReport;
pub use retry::RetryPolicy;
pub(crate) use settings::{OnlineChoices, OnlineSettings};

#[cfg(feature = "online")]
pub use account::{Account, viewer};
#[cfg(feature = "online")]
pub use artifacts::Multipart;
#[doc(hidden)]
#[cfg(feature = "online")]
pub use client::Client;
#[cfg(feature = "online")]
pub use client::public_url;
#[cfg(feature = "online")]
pub(crate) use live::Live;
#[cfg(feature = "online")]
pub use markers::synced_marker;
#[cfg(feature = "online")]
pub use position::{SavedPosition, UploadPosition, position_file};
#[cfg(feature = "online")]
pub use sync::sync_run;
#[cfg(not(feature = "online"))]
pub(crate) use unbuilt::{Live, remote_resume};
#[cfg(feature = "online")]
pub use uploader::{SyncOptions, SyncProgress};

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
#[cfg(feature = "online")]
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
#[cfg(feature = "online")]
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
