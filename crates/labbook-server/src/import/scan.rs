//! What the importer reads of a watched directory, and only reads: which logs it holds,
//! whether a run's writer is still at work, a log's first pass, a run's files.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use labbook_wire::proto::{self, Record, RecordType};
use labbook_wire::{LogItem, LogReader, RunLog};
use prost::Message as _;

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

/// A log's first pass: its first run record (and where it ends), what the whole log leaves
/// behind (config, program), and how long it is.
pub(super) struct Scan {
    pub(super) run: proto::RunRecord,
    pub(super) run_end: u64,
    pub(super) whole: RunLog,
    pub(super) len: u64,
}

/// Reads the log once, a record at a time; `None` while it has no run record.
pub(super) fn scan(log: &Path) -> Result<Option<Scan>, ImportError> {
    let read = |e: &dyn std::fmt::Display| ImportError::Read(format!("{}: {e}", log.display()));
    // A log shorter than its header is one being created.
    let size = std::fs::metadata(log).map_err(|e| read(&e))?.len();
    if size < labbook_wire::FILE_HEADER.len() as u64 {
        return Ok(None);
    }
    let mut reader = LogReader::open(log).map_err(|e| read(&e))?;
    let mut whole = RunLog::default();
    let mut run = None;
    while let LogItem::Record(raw) = reader.next_record().map_err(|e| read(&e))? {
        // A record that does not decode ends the log, as it ends `labbook sync`.
        let Ok(decoded) = Record::decode(raw.bytes) else {
            break;
        };
        let Some(record) = decoded.record_type else {
            continue;
        };
        whole.apply(&record);
        if let (None, RecordType::Run(r)) = (&run, record) {
            run = Some((r, reader.position()));
        }
    }
    let len = reader.position();
    Ok(run.map(|(run, run_end)| Scan {
        run,
        run_end,
        whole,
        len,
    }))
}

/// Every file under a run's `files/`, as paths relative to it with forward slashes.
pub(super) fn run_files(dir: &Path) -> Result<Vec<String>, ImportError> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(ImportError::Read(format!("{}: {e}", d.display()))),
        };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let path = entry.path();
            if kind.is_dir() {
                stack.push(path);
            } else if let Ok(rel) = path.strip_prefix(dir) {
                let parts: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                out.push(parts.join("/"));
            }
        }
    }
    out.sort();
    Ok(out)
}
