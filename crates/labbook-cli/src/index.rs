//! What `labbook ls` needs of a run, cached next to it in `labbook-index.json` so listing a
//! thousand runs reads a thousand small files, not a thousand logs. The cache is keyed by
//! the log's size and modification time, so a run still being written is read again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::{Deserialize, Serialize};
use serde_json::Value as J;

use crate::run_log::{RunLog, State, log_file};

const INDEX_FILE: &str = "labbook-index.json";
const INDEX_VERSION: u32 = 1;

/// One run, as listed.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct RunInfo {
    pub id: String,
    pub name: String,
    pub project: String,
    pub group: String,
    pub tags: Vec<String>,
    pub exit_code: Option<i32>,
    pub start_unix: f64,
    pub duration: f64,
    pub steps: u64,
    pub summary: BTreeMap<String, J>,
    pub modified_unix: f64,
    #[serde(skip)]
    pub dir: PathBuf,
    #[serde(skip)]
    pub synced: bool,
    /// What the run directory takes on disk (measured at every listing: files are added
    /// beside the log).
    #[serde(skip)]
    pub bytes: u64,
}

#[derive(Serialize, Deserialize)]
struct Cached {
    version: u32,
    log_len: u64,
    log_mtime_ns: u128,
    info: RunInfo,
}

impl RunInfo {
    fn from_log(run: &RunLog) -> RunInfo {
        let steps = run
            .rows
            .last()
            .and_then(|r| r.get("_step"))
            .and_then(J::as_u64)
            .map_or(run.rows.len() as u64, |s| s.saturating_add(1));
        RunInfo {
            id: run.id.clone(),
            name: run.name.clone(),
            project: run.project.clone(),
            group: run.group.clone(),
            tags: run.tags.clone(),
            exit_code: run.exit_code,
            start_unix: run.start_unix,
            duration: run.duration(),
            steps,
            summary: run.summary.clone(),
            modified_unix: run.modified_unix,
            dir: run.dir.clone(),
            synced: run.synced(),
            bytes: 0,
        }
    }

    pub(crate) fn state(&self, now_unix: f64) -> State {
        State::of(self.exit_code, self.modified_unix, now_unix)
    }

    /// The run's info, from the cache when the log has not changed since.
    pub(crate) fn load(dir: &Path) -> Result<RunInfo> {
        let log = log_file(dir)?;
        let meta = std::fs::metadata(&log)?;
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        let cache = dir.join(INDEX_FILE);
        if let Ok(text) = std::fs::read(&cache)
            && let Ok(c) = serde_json::from_slice::<Cached>(&text)
            && c.version == INDEX_VERSION
            && c.log_len == meta.len()
            && c.log_mtime_ns == mtime_ns
        {
            let mut info = c.info;
            info.dir = dir.to_owned();
            info.synced = log.with_extension("wandb.synced").exists();
            info.bytes = crate::disk::dir_bytes(dir);
            return Ok(info);
        }
        let run = RunLog::load(dir)?;
        let mut info = RunInfo::from_log(&run);
        let cached = Cached {
            version: INDEX_VERSION,
            log_len: meta.len(),
            log_mtime_ns: mtime_ns,
            info: info.clone(),
        };
        // A read-only run directory just means no cache.
        if let Ok(bytes) = serde_json::to_vec(&cached) {
            let tmp = dir.join(format!(".{INDEX_FILE}.{}", std::process::id()));
            if std::fs::write(&tmp, bytes).is_ok() {
                let _ = std::fs::rename(&tmp, &cache);
            }
        }
        info.bytes = crate::disk::dir_bytes(dir);
        Ok(info)
    }
}

/// Run directories under `root`: `root` itself if it is one, else its `wandb/` (or
/// `.wandb/`) folder's runs, else runs directly inside it.
pub(crate) fn discover(root: &Path) -> Result<Vec<PathBuf>> {
    if log_file(root).is_ok() {
        return Ok(vec![root.to_owned()]);
    }
    let base = ["wandb", ".wandb"]
        .iter()
        .map(|d| root.join(d))
        .find(|d| d.is_dir())
        .unwrap_or_else(|| root.to_owned());
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&base)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", base.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .filter(|p| {
            let n = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            (n.starts_with("offline-run-") || n.starts_with("run-")) && log_file(p).is_ok()
        })
        .collect();
    dirs.sort();
    Ok(dirs)
}

/// A run given on the command line: a run directory, or a run id found under `root`.
pub(crate) fn resolve(spec: &str, root: &Path) -> Result<PathBuf> {
    let p = Path::new(spec);
    if p.is_dir() {
        return Ok(p.to_owned());
    }
    let matches: Vec<PathBuf> = discover(root)?
        .into_iter()
        .filter(|d| {
            d.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(&format!("-{spec}")))
        })
        .collect();
    match matches.len() {
        0 => anyhow::bail!(
            "no run {spec:?}: not a run directory, and no run with that id under {}",
            root.display()
        ),
        1 => Ok(matches.into_iter().next().unwrap_or_default()),
        n => anyhow::bail!(
            "{n} runs have the id {spec:?} under {}; give the run directory",
            root.display()
        ),
    }
}

/// The given run, or the newest run (`latest-run`, else the last by name) under `root`.
pub(crate) fn latest_or(spec: Option<&str>, root: &Path) -> Result<PathBuf> {
    if let Some(spec) = spec {
        return resolve(spec, root);
    }
    for base in ["wandb", ".wandb"] {
        let latest = root.join(base).join("latest-run");
        if log_file(&latest).is_ok() {
            return Ok(latest);
        }
    }
    discover(root)?
        .pop()
        .ok_or_else(|| anyhow::anyhow!("no runs under {}", root.display()))
}
