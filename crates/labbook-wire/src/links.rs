//! Links of logged artifact versions into registry collections (`run.link_model`),
//! queued in the run directory as JSON lines (`labbook-links.jsonl`): the transaction log
//! has no record for links, so whoever uploads a run (labbook's uploader, `labbook sync`,
//! `labbook serve --watch`) applies the queue once the versions are on the server.
//!
//! ```
//! let dir = tempfile::tempdir()?;
//! std::fs::write(
//!     dir.path().join(labbook_wire::links::FILE),
//!     "{\"client_id\":\"c1\",\"entity\":\"\",\"project\":\"model-registry\",\"portfolio\":\"shapes\",\"aliases\":[\"prod\"]}\n",
//! )?;
//! let links = labbook_wire::links::queued(dir.path());
//! assert_eq!(links.links[0].portfolio, "shapes");
//! assert_eq!(links.skipped, 0);
//! # Ok::<(), std::io::Error>(())
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};

/// The queue file in a run directory.
pub const FILE: &str = "labbook-links.jsonl";

/// One queued link: the version (by the client id it was logged with, or by name) and the
/// registry collection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// The version logged in this run, by its client id (empty for an existing version).
    pub client_id: String,
    /// An existing version, `name:alias` or `entity/project/name:alias` (empty for one
    /// logged in this run).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// The collection's entity; empty: the run's.
    pub entity: String,
    /// The collection's project.
    pub project: String,
    /// The collection.
    pub portfolio: String,
    /// Aliases the version gets there.
    pub aliases: Vec<String>,
}

/// A run's queued links, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Queued {
    /// The links that could be read.
    pub links: Vec<Link>,
    /// Lines that could not (a torn last line, a hand edit).
    pub skipped: usize,
}

/// The queue of the run in `run_dir` (empty when it has none).
pub fn queued(run_dir: &Path) -> Queued {
    let Ok(text) = std::fs::read_to_string(run_dir.join(FILE)) else {
        return Queued::default();
    };
    let mut out = Queued::default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str(line) {
            Ok(link) => out.links.push(link),
            Err(_) => out.skipped += 1,
        }
    }
    out
}
