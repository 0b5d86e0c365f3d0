//! What `labbook ls` needs of a run, cached next to it in `labbook-index.json` so listing a
//! thousand runs reads a thousand small files, not a thousand logs. The cache is keyed by
//! the log's size and modification time, so a run still being written is read again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::{Deserialize, Serialize};
use serde_json::Value as J;

use crate::run_log::{RunLog, State, log_file, state_of};

const INDEX_FILE: &str = "labbook-index.json";
// 2: the config is kept too, for `ls --where config.KEY...`.
const INDEX_VERSION: u32 = 2;

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
    /// The config, W&B's own `_` keys left out.
    pub config: BTreeMap<String, J>,
    pub modified_unix: f64,
    #[serde(skip)]
    pub dir: PathBuf,
    #[serde(skip)]
    pub synced: bool,
    /// What the run directory takes on disk (measured at every listing: files are added
    /// beside the log).
    #[serde(skip)]
    pub bytes: u64,
    /// The state a server gave, for a run listed from one (a local run's is worked out).
    #[serde(skip)]
    pub server_state: Option<State>,
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
            config: run
                .config
                .iter()
                .filter(|(k, _)| !k.starts_with('_'))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            modified_unix: run.modified_unix,
            dir: run.dir.clone(),
            synced: run.synced(),
            bytes: 0,
            server_state: None,
        }
    }

    /// A run listed from a server.
    pub(crate) fn from_api(r: labbook_core::api::RunInfo) -> RunInfo {
        RunInfo {
            duration: r
                .summary
                .get("_runtime")
                .and_then(labbook_core::api::number)
                .unwrap_or(0.0),
            steps: r.last_step.map_or(0, |s| s.saturating_add(1).max(0) as u64),
            id: r.id,
            name: r.name,
            project: r.project,
            group: r.group,
            tags: r.tags,
            exit_code: None,
            start_unix: r.created_at.unwrap_or(0.0),
            summary: r.summary,
            config: r.config,
            modified_unix: r.heartbeat_at.unwrap_or(0.0),
            dir: PathBuf::new(),
            synced: true,
            bytes: 0,
            server_state: Some(r.state),
        }
    }

    pub(crate) fn state(&self, now_unix: f64) -> State {
        self.server_state
            .unwrap_or_else(|| state_of(self.exit_code, self.modified_unix, now_unix, &self.dir))
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
    Ok(labbook_core::api::run_dirs(root)?)
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
