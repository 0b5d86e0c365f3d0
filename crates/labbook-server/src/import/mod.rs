//! `labbook serve --watch DIR`: the offline runs under watched directories, imported
//! into the server as they are written, with no HTTP and no labbook-core in between.
//!
//! Each log is replayed with labbook-wire's [`RunLog`](labbook_wire::RunLog) and turned
//! into lines by the same rules `labbook sync` sends by ([`labbook_wire::upload`]), then
//! stored through the service under `file_stream`'s offset rules: a run imported here and
//! also uploaded by a sync is stored once. The server never writes into a watched
//! directory (not even a marker): how far each log is imported is kept in its database,
//! so a later `wandb sync` or `labbook sync` of the same run to another server still
//! uploads it whole.

mod artifacts;
mod run;
mod scan;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::service::{Service, ServiceError};
use crate::store::StoreError;

/// Which directories `serve --watch` imports offline runs from, and how it watches them.
///
/// ```
/// use labbook_server::WatchOptions;
/// let watch = WatchOptions::new(["runs"]);
/// assert_eq!(watch.dirs.len(), 1);
/// assert!(watch.idle > watch.poll);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchOptions {
    /// Each looked through for `offline-run-*` directories, up to three levels down.
    pub dirs: Vec<PathBuf>,
    /// How often the directories and the logs being written are looked at.
    pub poll: Duration,
    /// A log with no exit record, whose writer holds no lock (the official client's runs),
    /// is taken for crashed once it has not grown for this long. labbook's own runs end
    /// when their writer lets go of the run's lock.
    pub idle: Duration,
}

impl WatchOptions {
    /// Watches `dirs`, looking every second; a quiet official run is crashed after 5
    /// minutes.
    pub fn new<P: Into<PathBuf>>(dirs: impl IntoIterator<Item = P>) -> WatchOptions {
        WatchOptions {
            dirs: dirs.into_iter().map(Into::into).collect(),
            poll: Duration::from_secs(1),
            idle: Duration::from_secs(300),
        }
    }
}

/// Why a log could not be imported (this time: the next look tries again).
#[derive(Debug, thiserror::Error)]
pub(crate) enum ImportError {
    #[error("{0}")]
    Read(String),
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<StoreError> for ImportError {
    fn from(error: StoreError) -> ImportError {
        ImportError::Service(error.into())
    }
}

/// Imports the logs under `options.dirs`, new ones as they appear, until the server stops.
pub(crate) async fn watch(service: Service, options: WatchOptions) {
    let mut runs: BTreeMap<PathBuf, (run::RunImport, Option<String>)> = BTreeMap::new();
    loop {
        let dirs = options.dirs.clone();
        let found = tokio::task::spawn_blocking(move || {
            let mut logs = Vec::new();
            for dir in &dirs {
                scan::find_logs(dir, &mut logs);
            }
            logs
        })
        .await
        .unwrap_or_default();
        for log in found {
            runs.entry(log.clone())
                .or_insert_with(|| (run::RunImport::new(log), None));
        }
        for (import, last_error) in runs.values_mut() {
            match import.step(&service, options.idle).await {
                Ok(()) => *last_error = None,
                // A run name the server refuses (`..`, a slash): looking again cannot help.
                Err(ImportError::Service(
                    error @ (ServiceError::Invalid(_) | ServiceError::Forbidden(_)),
                )) => {
                    tracing::warn!(log = %import.log().display(), %error,
                        "not importing this run");
                    import.give_up();
                }
                Err(error) => {
                    // Said once, not at every look, while the same thing stays wrong.
                    let said = error.to_string();
                    if last_error.as_deref() != Some(said.as_str()) {
                        tracing::warn!(log = %import.log().display(), %error,
                            "cannot import the run now; trying again");
                        *last_error = Some(said);
                    }
                }
            }
        }
        tokio::time::sleep(options.poll).await;
    }
}
