//! The read API on a local directory: runs read from their transaction logs, rows made by
//! the rules `labbook sync` uploads them by (labbook-wire's `upload`), so a run reads the
//! same here as from the server it was synced to.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Component, Path, PathBuf};

use prost::Message as _;
use serde_json::Value as J;

use super::{ArtifactInfo, Query, Row, Rows, RunFile, RunInfo, RunState};
use crate::error::{Error, Result};
use crate::wire::proto::{Record, RecordType};
use crate::wire::upload::{Steps, events_line, history_line, run_files, start_time, summary_line};
use crate::wire::{LogFollower, LogItem, LogReader, RunLog};

/// A run without an exit record whose log was written this recently (seconds) is taken as
/// running even when no lock says so (the official client holds none).
const QUIET_SECS: f64 = 60.0;

/// The `.wandb` log of a run directory (the first by name, if there are several).
///
/// ```
/// let dir = tempfile::tempdir()?;
/// assert!(labbook_core::api::log_file(dir.path()).is_err());
/// std::fs::write(dir.path().join("run-ab12.wandb"), b"")?;
/// assert!(labbook_core::api::log_file(dir.path())?.ends_with("run-ab12.wandb"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn log_file(dir: &Path) -> Result<PathBuf> {
    let entries = std::fs::read_dir(dir).map_err(Error::io("could not read", dir))?;
    let mut logs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wandb"))
        .collect();
    logs.sort();
    logs.into_iter().next().ok_or_else(|| {
        Error::Read(format!(
            "{} is not a run directory: it has no run-*.wandb file",
            dir.display()
        ))
    })
}

/// The run directories under `root`: `root` itself if it is one, else the runs in its
/// `wandb/` (or `.wandb/`) folder, else the runs directly inside it; sorted by name.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// assert!(labbook_core::api::run_dirs(dir.path())?.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn run_dirs(root: &Path) -> Result<Vec<PathBuf>> {
    if log_file(root).is_ok() {
        return Ok(vec![root.to_owned()]);
    }
    let base = ["wandb", ".wandb"]
        .iter()
        .map(|d| root.join(d))
        .find(|d| d.is_dir())
        .unwrap_or_else(|| root.to_owned());
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&base)
        .map_err(Error::io("could not read", &base))?
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

fn unix(t: std::io::Result<std::time::SystemTime>) -> Option<f64> {
    t.ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs_f64())
}

fn parse_object(text: &str) -> BTreeMap<String, J> {
    match crate::wire::json::parse(text) {
        Ok(J::Object(m)) => m.into_iter().collect(),
        _ => BTreeMap::new(),
    }
}

/// A config as users read it: W&B's `{"value": v, "desc": d}` unwrapped, W&B's own `_`
/// keys (and `wandb_version`) left out.
pub(crate) fn plain_config(config: BTreeMap<String, J>) -> BTreeMap<String, J> {
    config
        .into_iter()
        .filter(|(k, _)| !k.starts_with('_') && k != "wandb_version")
        .map(|(k, v)| match v {
            J::Object(mut m)
                if m.contains_key("value") && m.keys().all(|k| k == "value" || k == "desc") =>
            {
                (k, m.remove("value").unwrap_or(J::Null))
            }
            other => (k, other),
        })
        .collect()
}

/// Reads the run in `dir` (its state, config and summary; not its rows).
pub(crate) fn load(dir: &Path) -> Result<RunInfo> {
    let path = log_file(dir)?;
    let log = RunLog::default()
        .read(&path)
        .map_err(|e| Error::Read(format!("could not read the run in {}: {e}", dir.display())))?;
    Ok(from_log(dir, &log))
}

/// The run in `dir` as its log's replay `log` tells it.
pub(crate) fn from_log(dir: &Path, log: &RunLog) -> RunInfo {
    let modified = log_file(dir)
        .ok()
        .and_then(|p| unix(std::fs::metadata(p).and_then(|m| m.modified())));
    let now = unix(Ok(std::time::SystemTime::now()));
    let state = match log.exit_code() {
        Some(0) => RunState::Finished,
        Some(_) => RunState::Failed,
        None if crate::store::run_is_live(dir) => RunState::Running,
        None if modified
            .zip(now)
            .is_some_and(|(m, now)| now - m < QUIET_SECS) =>
        {
            RunState::Running
        }
        None => RunState::Crashed,
    };
    let record = log.run.clone().unwrap_or_default();
    let start = start_time(&record);
    RunInfo {
        id: record.run_id,
        name: record.display_name,
        entity: record.entity,
        project: record.project,
        group: record.run_group,
        job_type: record.job_type,
        notes: record.notes,
        tags: record.tags,
        state,
        created_at: (start > 0.0).then_some(start),
        heartbeat_at: modified,
        config: plain_config(parse_object(&log.config.to_json())),
        summary: parse_object(&summary_line(&log.summary, log.last_step)),
        last_step: log.last_step,
        dir: Some(dir.to_owned()),
    }
}

/// Whether a run is in the project `path` asks for (`entity/project` or `project`).
fn in_project(run: &RunInfo, path: Option<&str>) -> bool {
    match path.map(|p| p.split_once('/')) {
        None => true,
        Some(Some((e, p))) => run.project == p && (run.entity.is_empty() || run.entity == e),
        Some(None) => path.is_some_and(|p| run.project == p),
    }
}

pub(super) fn runs(root: &Path, q: &Query) -> Result<Vec<RunInfo>> {
    let mut out = Vec::new();
    for dir in run_dirs(root)? {
        match load(&dir) {
            Ok(run) if in_project(&run, q.project_path()) && q.matches(&run) => out.push(run),
            Ok(_) => {}
            Err(e) => tracing::warn!("skipping {}: {e}", dir.display()),
        }
    }
    q.sort(&mut out);
    Ok(out)
}

pub(super) fn run(root: &Path, spec: &str) -> Result<RunInfo> {
    let p = Path::new(spec);
    if log_file(p).is_ok() {
        return load(p);
    }
    let id = spec.rsplit('/').next().unwrap_or(spec);
    let suffix = format!("-{id}");
    let matches: Vec<PathBuf> = run_dirs(root)?
        .into_iter()
        .filter(|d| {
            d.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(&suffix))
        })
        .collect();
    match matches.as_slice() {
        [one] => load(one),
        [] => Err(Error::Read(format!(
            "no run {spec:?}: not a run directory, and no run with that id under {}",
            root.display()
        ))),
        many => Err(Error::Read(format!(
            "{} runs have the id {id:?} under {}; give the run directory",
            many.len(),
            root.display()
        ))),
    }
}

fn run_dir(run: &RunInfo) -> Result<&Path> {
    run.dir.as_deref().ok_or_else(|| {
        Error::Read(format!(
            "run {} was not read from a directory; read it with the Api that found it",
            run.id
        ))
    })
}

/// Which records a stream of rows is made of.
#[derive(Clone, Copy)]
enum Stream {
    History,
    System,
}

/// A log read record by record into rows.
struct LogRows {
    reader: Option<LogReader<File>>,
    path: PathBuf,
    stream: Stream,
    keys: Vec<String>,
    steps: Steps,
    start: f64,
}

impl LogRows {
    fn open(run: &RunInfo, stream: Stream, keys: &[&str]) -> Result<LogRows> {
        let path = log_file(run_dir(run)?)?;
        let reader = LogReader::open(&path)
            .map_err(|e| Error::Read(format!("could not read {}: {e}", path.display())))?;
        Ok(LogRows {
            reader: Some(reader),
            path,
            stream,
            keys: keys.iter().map(|k| (*k).to_owned()).collect(),
            steps: Steps::default(),
            start: run.created_at.unwrap_or(0.0),
        })
    }

    fn row(&mut self, record: RecordType) -> Option<Result<Row>> {
        let line = match (self.stream, record) {
            (Stream::History, RecordType::History(h)) => history_line(&h, self.steps.next(&h)),
            (Stream::System, RecordType::Stats(s)) => events_line(&s, self.start),
            (_, RecordType::Run(r)) => {
                // The start time `_runtime` counts from is the first run record's.
                if self.start == 0.0 {
                    self.start = start_time(&r);
                }
                return None;
            }
            _ => return None,
        };
        let keys: Vec<&str> = self.keys.iter().map(String::as_str).collect();
        match Row::parse(&line) {
            Ok(row) => row.keep(&keys).map(Ok),
            Err(e) => Some(Err(e)),
        }
    }
}

impl Iterator for LogRows {
    type Item = Result<Row>;

    fn next(&mut self) -> Option<Result<Row>> {
        loop {
            let reader = self.reader.as_mut()?;
            let item = match reader.next_record() {
                Ok(item) => item,
                Err(e) => {
                    self.reader = None;
                    return Some(Err(Error::io("could not read", &self.path)(e)));
                }
            };
            let decoded = match item {
                LogItem::Record(raw) => Record::decode(raw.bytes).ok(),
                // A torn or corrupt tail ends the rows, as it ends an upload.
                LogItem::End(_) => None,
            };
            let Some(record) = decoded else {
                self.reader = None;
                return None;
            };
            if let Some(rt) = record.record_type
                && let Some(row) = self.row(rt)
            {
                return Some(row);
            }
        }
    }
}

pub(super) fn history(run: &RunInfo, keys: &[&str]) -> Result<Rows> {
    Ok(Rows::new(LogRows::open(run, Stream::History, keys)?))
}

pub(super) fn system_metrics(run: &RunInfo) -> Result<Rows> {
    Ok(Rows::new(LogRows::open(run, Stream::System, &[])?))
}

/// A local run's log followed as it grows.
#[derive(Debug)]
pub(super) struct Tail {
    follower: LogFollower,
    steps: Steps,
}

impl Tail {
    pub(super) fn new(run: &RunInfo) -> Result<Tail> {
        Ok(Tail {
            follower: LogFollower::new(log_file(run_dir(run)?)?),
            steps: Steps::default(),
        })
    }

    pub(super) fn poll(&mut self) -> Result<Vec<Row>> {
        let mut rows = Vec::new();
        for record in self.follower.poll()? {
            if let Some(RecordType::History(h)) = record.record_type {
                rows.push(Row::parse(&history_line(&h, self.steps.next(&h)))?);
            }
        }
        Ok(rows)
    }
}

pub(super) fn files(run: &RunInfo) -> Result<Vec<RunFile>> {
    let dir = run_dir(run)?.join("files");
    let names = run_files(&dir).map_err(Error::io("could not read", &dir))?;
    Ok(names
        .into_iter()
        .map(|name| {
            let size = std::fs::metadata(dir.join(&name)).map_or(0, |m| m.len());
            RunFile { name, size }
        })
        .collect())
}

/// `name` as a relative path with plain parts only: nothing outside the directory it is
/// joined to.
fn plain_relative(name: &str) -> Result<&Path> {
    let p = Path::new(name);
    if name.is_empty() || !p.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(Error::Read(format!(
            "{name:?} is not a plain relative path; nothing is read or written for it"
        )));
    }
    Ok(p)
}

pub(super) fn download_file(run: &RunInfo, name: &str, dest: &Path) -> Result<()> {
    let src = run_dir(run)?.join("files").join(plain_relative(name)?);
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).map_err(Error::io("could not create", parent))?;
    }
    std::fs::copy(&src, dest).map_err(Error::io("could not copy", &src))?;
    Ok(())
}

fn series(run: &RunInfo) -> Result<RunLog> {
    let path = log_file(run_dir(run)?)?;
    RunLog::keeping_series()
        .read(&path)
        .map_err(|e| Error::Read(format!("could not read {}: {e}", path.display())))
}

pub(super) fn logged_artifacts(run: &RunInfo) -> Result<Vec<ArtifactInfo>> {
    Ok(series(run)?
        .artifacts
        .into_iter()
        .map(|a| ArtifactInfo {
            name: a.name,
            version: String::new(),
            kind: a.r#type,
            digest: a.digest,
        })
        .collect())
}

pub(super) fn used_artifacts(run: &RunInfo) -> Result<Vec<ArtifactInfo>> {
    Ok(series(run)?
        .used_artifacts
        .into_iter()
        .map(|u| {
            let (name, version) = u
                .name
                .rsplit_once(':')
                .map_or((u.name.clone(), String::new()), |(n, v)| {
                    (n.to_owned(), v.to_owned())
                });
            ArtifactInfo {
                name,
                version,
                kind: u.r#type,
                digest: String::new(),
            }
        })
        .collect())
}

/// Copies `src` to `dest` through a file beside it, renamed into place only when its MD5
/// is `digest` (base64, as manifests write it).
fn copy_checked(src: &Path, dest: &Path, digest: &str, shown: &str) -> Result<()> {
    let bytes = std::fs::read(src).map_err(Error::io("could not read", src))?;
    let got = crate::wire::artifact::b64_md5(&bytes);
    if got != digest {
        return Err(Error::Artifact(format!(
            "{shown}: {} does not match its digest (the manifest says {digest}, the bytes are {got})",
            src.display()
        )));
    }
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).map_err(Error::io("could not create", parent))?;
    }
    let tmp = dest.with_extension(format!("labbook-{}.part", std::process::id()));
    std::fs::write(&tmp, &bytes).map_err(Error::io("could not write", &tmp))?;
    std::fs::rename(&tmp, dest).map_err(Error::io("could not write", dest))
}

pub(super) fn download_artifact(
    run: &RunInfo,
    artifact: &ArtifactInfo,
    dest: &Path,
) -> Result<Vec<PathBuf>> {
    let log = series(run)?;
    let record = log
        .artifacts
        .iter()
        .rev()
        .find(|a| {
            a.name == artifact.name && (artifact.digest.is_empty() || a.digest == artifact.digest)
        })
        .ok_or_else(|| {
            Error::Artifact(format!(
                "run {} logged no artifact {} with digest {:?}",
                run.id, artifact.name, artifact.digest
            ))
        })?;
    let mut written = Vec::new();
    for entry in record.manifest.iter().flat_map(|m| &m.contents) {
        if !entry.r#ref.is_empty() {
            continue;
        }
        let to = dest.join(plain_relative(&entry.path)?);
        copy_checked(
            Path::new(&entry.local_path),
            &to,
            &entry.digest,
            &artifact.name,
        )?;
        written.push(to);
    }
    written.sort();
    Ok(written)
}

/// A folded tree as JSON values (for tests that build one by hand).
#[cfg(test)]
fn tree_values(t: &crate::wire::Tree) -> BTreeMap<String, J> {
    parse_object(&t.to_json())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Tree;

    #[test]
    fn config_is_unwrapped_and_w_and_b_keys_left_out() {
        let mut t = Tree::default();
        t.set(&["lr"], r#"{"value": 0.1, "desc": null}"#);
        t.set(&["layers"], "[1,2]");
        t.set(&["_wandb"], r#"{"value": {"x": 1}}"#);
        t.set(&["opt"], r#"{"value": "adam", "kind": "x"}"#);
        let c = plain_config(tree_values(&t));
        assert_eq!(c["lr"], serde_json::json!(0.1));
        assert_eq!(c["layers"], serde_json::json!([1, 2]));
        assert_eq!(c["opt"], serde_json::json!({"value": "adam", "kind": "x"}));
        assert!(!c.contains_key("_wandb"));
    }

    #[test]
    fn a_file_name_leading_outside_is_refused() {
        for bad in ["../x", "/etc/passwd", "a/../../b", ""] {
            assert!(plain_relative(bad).is_err(), "{bad}");
        }
        assert!(plain_relative("media/images/a.png").is_ok());
    }
}
