//! What the importer reads of a watched directory, and only reads: which logs it holds,
//! whether a run's writer is still at work, a log's first pass, a run's files.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use labbook_wire::upload::FirstPass;

use super::ImportError;

/// How deep under a watched directory run directories are looked for: `DIR/wandb/
/// offline-run-*/run-*.wandb` is three levels down.
const DEPTH: usize = 3;

/// The offline runs' logs under `dir`: `*.wandb` files in `offline-run-*` directories
/// (the official client's and labbook's layout), up to [`DEPTH`] levels down. Links are
/// not followed (`latest-run` names a run found anyway). A `dir` that is a run
/// directory itself counts.
pub(super) fn find_logs(dir: &Path, out: &mut Vec<PathBuf>) {
    if is_run_dir(dir) {
        logs_in(dir, out);
        return;
    }
    walk(dir, 0, out);
}

fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if !kind.is_dir() {
            continue;
        }
        let path = entry.path();
        if is_run_dir(&path) {
            logs_in(&path, out);
        } else if depth + 1 < DEPTH {
            walk(&path, depth + 1, out);
        }
    }
}

fn is_run_dir(dir: &Path) -> bool {
    dir.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("offline-run-"))
}

fn logs_in(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let is_file = entry.file_type().is_ok_and(|k| k.is_file());
        if is_file && path.extension().is_some_and(|e| e == "wandb") {
            out.push(path);
        }
    }
}

/// Whether a process still writes the run in `run_dir`: labbook's writer holds a lock on
/// the directory while it writes (the official client holds none; its runs end with their
/// exit record, or by going quiet).
pub(super) fn is_live(run_dir: &Path) -> bool {
    let Ok(dir) = File::open(run_dir) else {
        return false;
    };
    // A shared lock taken here is let go at once (the file closes); it never blocks the
    // writer, which locks the directory before its log exists.
    matches!(
        dir.try_lock_shared(),
        Err(std::fs::TryLockError::WouldBlock)
    )
}

/// Whether the log has not changed for `idle`.
pub(super) fn unchanged_for(log: &Path, idle: Duration) -> bool {
    std::fs::metadata(log)
        .and_then(|m| m.modified())
        .is_ok_and(|t| t.elapsed().is_ok_and(|age| age >= idle))
}

/// A log's first pass (`None` while it has no run record): what `labbook sync` reads
/// first, with a log shorter than its header taken for one being created.
pub(super) fn first_pass(log: &Path) -> Result<Option<FirstPass>, ImportError> {
    let read = |e: &dyn std::fmt::Display| ImportError::Read(format!("{}: {e}", log.display()));
    let size = std::fs::metadata(log).map_err(|e| read(&e))?.len();
    if size < labbook_wire::FILE_HEADER.len() as u64 {
        return Ok(None);
    }
    labbook_wire::upload::first_pass(log).map_err(|e| read(&e))
}

/// Every file under a run's `files/`.
pub(super) fn run_files(dir: &Path) -> Result<Vec<String>, ImportError> {
    labbook_wire::upload::run_files(dir)
        .map_err(|e| ImportError::Read(format!("{}: {e}", dir.display())))
}

/// `path` resolved (links followed), if it exists and lies inside `dir`: what a log or a
/// link in a watched directory names is read only there, so whoever can write a watched
/// directory cannot make the server read its own files. A path that is gone is `None`.
pub(super) fn inside(path: &Path, dir: &Path) -> Option<PathBuf> {
    let (Ok(path), Ok(dir)) = (path.canonicalize(), dir.canonicalize()) else {
        return None;
    };
    path.starts_with(&dir).then_some(path)
}
