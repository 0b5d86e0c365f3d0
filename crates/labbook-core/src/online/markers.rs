//! The files beside a log that say how far its upload went: `.synced` (as `wandb sync`
//! writes it) and `.syncstate` (where a resumed run's upload starts). The upload position
//! itself is `position.rs`.

use std::path::{Path, PathBuf};

use super::position::position_file;
use crate::error::{Error, Result};

/// The `.synced` marker of a log, as `wandb sync` writes it: `<file>.wandb.synced`.
pub fn synced_marker(log: &Path) -> PathBuf {
    let mut name = log.as_os_str().to_owned();
    name.push(".synced");
    PathBuf::from(name)
}

/// Writes `<log>.syncstate` as wandb-core does when it first uploads a log,
/// `{"starting_step":N}`, so a later `wandb sync` of a resumed run keeps its step offset.
/// An existing file is the first upload's and is kept.
pub(crate) fn write_syncstate(log: &Path, starting_step: i64) {
    let mut name = log.as_os_str().to_owned();
    name.push(".syncstate");
    let path = PathBuf::from(name);
    if path.exists() {
        return;
    }
    let text = format!("{{\"starting_step\":{starting_step}}}");
    if let Err(e) = std::fs::write(&path, text) {
        tracing::warn!(target: "labbook", "could not write {}: {e}", path.display());
    }
}

/// Marks `log` uploaded for both tools: the `.synced` marker, and no saved position.
pub(crate) fn mark_synced(log: &Path) -> Result<()> {
    let marker = synced_marker(log);
    std::fs::write(&marker, b"").map_err(Error::io("could not write", &marker))?;
    match std::fs::remove_file(position_file(log)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::Io {
            context: "could not remove",
            path: position_file(log),
            source: e,
        }),
        _ => Ok(()),
    }
}
