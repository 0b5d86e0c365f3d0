//! Reading runs back: list them with filters and an order, read a run's config, summary,
//! files and artifacts, stream its history as rows without loading it whole, and follow a
//! live run. One API over two sources:
//!
//! - a local directory of runs ([`Api::dir`]): the transaction logs themselves, written by
//!   labbook or the official client, finished, crashed or still being written;
//! - a W&B-protocol server ([`Api::server`], feature `online`): `labbook serve`, or any
//!   server that answers W&B's public read API (W&B's cloud speaks it too, but labbook's
//!   tests cannot reach it, so that path is untested).
//!
//! Both give the same values for the same run: rows are read from a local log with the
//! very rules `labbook sync` uploads them by (a row's `_step`, nested keys as objects,
//! W&B's `NaN` and `Infinity` as the strings `"NaN"` and `"Infinity"`), so a run read from
//! its directory and read from the server it was synced to compare equal.
//!
//! Calls block, like the rest of labbook's user API.
//!
//! ```
//! use labbook_core::api::{Api, Query};
//! # let dir = tempfile::tempdir()?;
//! # let run = labbook_core::init(labbook_core::Settings::new("mnist").dir(dir.path()).quiet(true).group("ablation-1"))?;
//! # for step in 0..3u32 { run.log([("val/acc", labbook_core::Value::from(0.8 + f64::from(step) / 10.0))])?; }
//! # run.finish()?;
//! let api = Api::dir(dir.path())?;
//! let runs = api.runs(&Query::new().group("ablation-1").filter("summary.val/acc>0.9")?)?;
//! for run in &runs {
//!     let accs: Vec<f64> = api
//!         .history(run, &["val/acc"])?
//!         .map(|row| row.map(|r| r.f64("val/acc").unwrap_or(f64::NAN)))
//!         .collect::<labbook_core::Result<_>>()?;
//!     println!("{} ({}): {accs:?}", run.id, run.state);
//! }
//! # assert_eq!(runs.len(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod local;
mod query;
#[cfg(feature = "online")]
mod remote;
mod row;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value as J;

pub use local::{log_file, run_dirs};
pub use query::{Condition, Field, Op, Order, OrderBy, Query};
pub use row::{Row, Rows, number_or_nonfinite};

use crate::error::{Error, Result};

/// How a run stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    /// Still being written.
    Running,
    /// Ended with exit code 0.
    Finished,
    /// Ended with a non-zero exit code.
    Failed,
    /// Its process died without ending it.
    Crashed,
}

impl RunState {
    /// The state's name, as W&B writes it.
    ///
    /// ```
    /// assert_eq!(labbook_core::api::RunState::Crashed.as_str(), "crashed");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Finished => "finished",
            RunState::Failed => "failed",
            RunState::Crashed => "crashed",
        }
    }

    /// The state a name stands for (`finished`, `failed`, `running`, `crashed`).
    ///
    /// ```
    /// use labbook_core::api::RunState;
    /// assert_eq!(RunState::parse("failed")?, RunState::Failed);
    /// assert!(RunState::parse("done").is_err());
    /// # Ok::<(), labbook_core::Error>(())
    /// ```
    pub fn parse(name: &str) -> Result<RunState> {
        Ok(match name {
            "running" => RunState::Running,
            "finished" => RunState::Finished,
            "failed" => RunState::Failed,
            "crashed" => RunState::Crashed,
            other => {
                return Err(Error::Read(format!(
                    "no run state {other:?}: expected finished, failed, running or crashed"
                )));
            }
        })
    }
}

impl std::fmt::Display for RunState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A run as read back: who it is, how it stands, its config and summary.
#[derive(Clone, Debug, PartialEq)]
pub struct RunInfo {
    /// The run id (W&B's run "name").
    pub id: String,
    /// The display name.
    pub name: String,
    /// The entity (empty for a local offline run that named none).
    pub entity: String,
    /// The project.
    pub project: String,
    /// The group (empty: none).
    pub group: String,
    /// The job type (empty: none).
    pub job_type: String,
    /// The notes.
    pub notes: String,
    /// The tags.
    pub tags: Vec<String>,
    /// How the run stands.
    pub state: RunState,
    /// When the run started, Unix seconds.
    pub created_at: Option<f64>,
    /// When the run last wrote, Unix seconds.
    pub heartbeat_at: Option<f64>,
    /// The config, plain values by key (W&B's `{"value": ...}` unwrapped; keys starting
    /// with `_`, which W&B keeps for itself, left out).
    pub config: BTreeMap<String, J>,
    /// The summary: each key's last value or its chosen aggregate, `_step` and
    /// `_runtime` included.
    pub summary: BTreeMap<String, J>,
    /// The step of the last history row (`None`: no rows).
    pub last_step: Option<i64>,
    /// The run directory, for a run read from a local directory.
    pub dir: Option<PathBuf>,
}

impl RunInfo {
    /// A summary value by key: the key as logged (`val/acc`), else a dotted path into a
    /// nested value (`eval.acc`).
    ///
    /// ```
    /// # let mut run = labbook_core::api::RunInfo::empty("ab12");
    /// run.summary.insert("eval".into(), serde_json::json!({"acc": 0.9}));
    /// assert_eq!(run.summary_value("eval.acc"), Some(&serde_json::json!(0.9)));
    /// ```
    pub fn summary_value(&self, key: &str) -> Option<&J> {
        value_at(&self.summary, key)
    }

    /// The run in the directory `dir`, as `log` (the replay of its transaction log, read
    /// by the caller) tells it: for a program that has read the log already.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let run = labbook_core::init(labbook_core::Settings::new("p").dir(dir.path()).quiet(true))?;
    /// # let id = run.id().to_owned();
    /// # run.finish()?;
    /// let run_dir = &labbook_core::api::run_dirs(dir.path())?[0];
    /// let log = labbook_wire::RunLog::default().read(labbook_core::api::log_file(run_dir)?)?;
    /// let info = labbook_core::api::RunInfo::from_log(run_dir, &log);
    /// assert_eq!((info.id.as_str(), info.state), (id.as_str(), labbook_core::api::RunState::Finished));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_log(dir: &Path, log: &labbook_wire::RunLog) -> RunInfo {
        local::from_log(dir, log)
    }

    /// A config value by key or dotted path, as [`RunInfo::summary_value`].
    pub fn config_value(&self, key: &str) -> Option<&J> {
        value_at(&self.config, key)
    }

    /// A run with an id and nothing else (finished, no config, no summary): for tests and
    /// examples.
    ///
    /// ```
    /// assert_eq!(labbook_core::api::RunInfo::empty("ab12").id, "ab12");
    /// ```
    pub fn empty(id: &str) -> RunInfo {
        RunInfo {
            id: id.to_owned(),
            name: String::new(),
            entity: String::new(),
            project: String::new(),
            group: String::new(),
            job_type: String::new(),
            notes: String::new(),
            tags: Vec::new(),
            state: RunState::Finished,
            created_at: None,
            heartbeat_at: None,
            config: BTreeMap::new(),
            summary: BTreeMap::new(),
            last_step: None,
            dir: None,
        }
    }
}

/// A value of a map by key as logged (`val/acc`), else by a dotted path into nested
/// objects (`eval.acc`).
///
/// ```
/// let map = [("eval".to_owned(), serde_json::json!({"acc": 0.5}))].into_iter().collect();
/// assert_eq!(labbook_core::api::value_at(&map, "eval.acc"), Some(&serde_json::json!(0.5)));
/// assert_eq!(labbook_core::api::value_at(&map, "eval.loss"), None);
/// ```
pub fn value_at<'a>(map: &'a BTreeMap<String, J>, key: &str) -> Option<&'a J> {
    if let Some(v) = map.get(key) {
        return Some(v);
    }
    let mut parts = key.split('.');
    let mut cur = map.get(parts.next()?)?;
    for p in parts {
        cur = cur.get(p)?;
    }
    Some(cur)
}

/// A number for a value: itself, W&B's `"NaN"`/`"Infinity"` strings, or an aggregate's
/// `last`, `best`, `max`, `min`, `mean` or `first`.
///
/// ```
/// use labbook_core::api::number;
/// assert_eq!(number(&serde_json::json!(2)), Some(2.0));
/// assert!(number(&serde_json::json!("NaN")).is_some_and(f64::is_nan));
/// assert_eq!(number(&serde_json::json!({"min": 0.1, "last": 0.3})), Some(0.3));
/// assert_eq!(number(&serde_json::json!("fast")), None);
/// ```
pub fn number(v: &J) -> Option<f64> {
    match v {
        J::Number(n) => n.as_f64(),
        J::String(s) if s == "NaN" => Some(f64::NAN),
        J::String(s) if s == "Infinity" => Some(f64::INFINITY),
        J::String(s) if s == "-Infinity" => Some(f64::NEG_INFINITY),
        J::Object(m) => ["last", "best", "max", "min", "mean", "first"]
            .iter()
            .find_map(|k| m.get(*k).and_then(number)),
        _ => None,
    }
}

/// A file a run saved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunFile {
    /// Its path inside the run (`media/images/x.png`, `config.yaml`).
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
}

/// An artifact version a run logged or used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArtifactInfo {
    /// The collection's name.
    pub name: String,
    /// The version (`v0`; empty for a local run's version, which a server numbers).
    pub version: String,
    /// Its type (`dataset`, `model`).
    pub kind: String,
    /// The digest of its manifest.
    pub digest: String,
}

/// Where runs are read from.
#[derive(Debug)]
enum Source {
    Dir(PathBuf),
    #[cfg(feature = "online")]
    Server(remote::Server),
}

/// The read API: runs from a local directory or a server.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// # labbook_core::init(labbook_core::Settings::new("p").dir(dir.path()).quiet(true))?.finish()?;
/// let api = labbook_core::api::Api::dir(dir.path())?;
/// assert_eq!(api.runs(&labbook_core::api::Query::new())?.len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Api {
    source: Source,
}

impl Api {
    /// Reads the runs under `root`: a run directory, a `wandb/` directory, or a folder
    /// holding one.
    pub fn dir(root: impl AsRef<Path>) -> Result<Api> {
        let root = root.as_ref();
        if !root.is_dir() {
            return Err(Error::Read(format!(
                "{} is not a directory of runs",
                root.display()
            )));
        }
        Ok(Api {
            source: Source::Dir(root.to_owned()),
        })
    }

    /// Reads runs from the server and with the key a run started with `settings` would
    /// use, found as `init` finds them: the settings themselves, `WANDB_BASE_URL` and
    /// `WANDB_API_KEY`, `.env.local` and `.env`, W&B's settings files, netrc.
    ///
    /// ```no_run
    /// let settings = labbook_core::Settings::default().base_url("http://127.0.0.1:8080");
    /// let api = labbook_core::api::Api::from_settings(&settings)?;
    /// # let _ = api;
    /// # Ok::<(), labbook_core::Error>(())
    /// ```
    #[cfg(feature = "online")]
    pub fn from_settings(settings: &crate::Settings) -> Result<Api> {
        let e = settings.explain()?;
        let key = e.api_key.map_err(Error::Auth)?;
        Api::server(&e.base_url.value, Some(key.key.expose()))
    }

    /// Reads runs from the W&B-protocol server at `base_url` with `api_key`, else
    /// `WANDB_API_KEY`, else the netrc entry for the server's host
    /// ([`Api::from_settings`] looks where `init` looks).
    #[cfg(feature = "online")]
    pub fn server(base_url: &str, api_key: Option<&str>) -> Result<Api> {
        let key = crate::online::api_key(api_key, base_url, |n| std::env::var(n).ok())?;
        Ok(Api {
            source: Source::Server(remote::Server::new(base_url, &key)?),
        })
    }

    /// Runs that pass `query`, in its order (by start time when it gives none). A server
    /// needs the project (`Query::project("entity/project")`).
    pub fn runs(&self, query: &Query) -> Result<Vec<RunInfo>> {
        match &self.source {
            Source::Dir(root) => local::runs(root, query),
            #[cfg(feature = "online")]
            Source::Server(s) => s.runs(query),
        }
    }

    /// One run: from a directory, its id or its run directory; from a server,
    /// `entity/project/id`.
    pub fn run(&self, path: &str) -> Result<RunInfo> {
        match &self.source {
            Source::Dir(root) => local::run(root, path),
            #[cfg(feature = "online")]
            Source::Server(s) => s.run(path),
        }
    }

    /// The run's history, row by row in step order, read as it is consumed. With `keys`,
    /// only the rows that hold every one of them, each with `_step` and those keys.
    pub fn history(&self, run: &RunInfo, keys: &[&str]) -> Result<Rows> {
        match &self.source {
            Source::Dir(_) => local::history(run, keys),
            #[cfg(feature = "online")]
            Source::Server(s) => s.history(run, keys),
        }
    }

    /// The run's system metrics (`system.*` keys, `_timestamp`, `_runtime`), in order.
    pub fn system_metrics(&self, run: &RunInfo) -> Result<Rows> {
        match &self.source {
            Source::Dir(_) => local::system_metrics(run),
            #[cfg(feature = "online")]
            Source::Server(s) => s.system_metrics(run),
        }
    }

    /// Follows a live run: each [`Follow::poll`] returns the history rows written since
    /// the last one (the first, every row so far).
    pub fn follow(&self, run: &RunInfo) -> Result<Follow<'_>> {
        self.follow_from(run, 0)
    }

    /// As [`Api::follow`], from the row whose step is `step` on ([`Follow::cursor`] of an
    /// earlier follow).
    pub fn follow_from(&self, run: &RunInfo, step: i64) -> Result<Follow<'_>> {
        let inner = match &self.source {
            Source::Dir(_) => FollowSource::Dir(local::Tail::new(run)?),
            #[cfg(feature = "online")]
            Source::Server(s) => FollowSource::Server(s, Box::new(run.clone())),
        };
        Ok(Follow { inner, next: step })
    }

    /// The files the run saved.
    pub fn files(&self, run: &RunInfo) -> Result<Vec<RunFile>> {
        match &self.source {
            Source::Dir(_) => local::files(run),
            #[cfg(feature = "online")]
            Source::Server(s) => s.files(run),
        }
    }

    /// Copies (or downloads) the run's file `name` to `dest`, a file path.
    pub fn download_file(&self, run: &RunInfo, name: &str, dest: &Path) -> Result<()> {
        match &self.source {
            Source::Dir(_) => local::download_file(run, name, dest),
            #[cfg(feature = "online")]
            Source::Server(s) => s.download_file(run, name, dest),
        }
    }

    /// The artifact versions the run logged.
    pub fn logged_artifacts(&self, run: &RunInfo) -> Result<Vec<ArtifactInfo>> {
        match &self.source {
            Source::Dir(_) => local::logged_artifacts(run),
            #[cfg(feature = "online")]
            Source::Server(s) => s.artifacts(run, true),
        }
    }

    /// The artifact versions the run used.
    pub fn used_artifacts(&self, run: &RunInfo) -> Result<Vec<ArtifactInfo>> {
        match &self.source {
            Source::Dir(_) => local::used_artifacts(run),
            #[cfg(feature = "online")]
            Source::Server(s) => s.artifacts(run, false),
        }
    }

    /// Writes the files of the run's logged artifact `artifact` under `dest` (as its
    /// manifest lays them out), each checked against the manifest's MD5 digest; returns
    /// the paths written, sorted. A file whose bytes do not match is an error and is not
    /// left behind.
    pub fn download_artifact(
        &self,
        run: &RunInfo,
        artifact: &ArtifactInfo,
        dest: &Path,
    ) -> Result<Vec<PathBuf>> {
        match &self.source {
            Source::Dir(_) => local::download_artifact(run, artifact, dest),
            #[cfg(feature = "online")]
            Source::Server(s) => s.download_artifact(run, artifact, dest),
        }
    }
}

/// A live run followed: new rows since the last poll.
#[derive(Debug)]
pub struct Follow<'a> {
    inner: FollowSource<'a>,
    next: i64,
}

#[derive(Debug)]
enum FollowSource<'a> {
    Dir(local::Tail),
    #[cfg(feature = "online")]
    Server(&'a remote::Server, Box<RunInfo>),
    #[cfg(not(feature = "online"))]
    #[allow(
        dead_code,
        reason = "the lifetime is the server's, built with `online`"
    )]
    Never(std::marker::PhantomData<&'a ()>),
}

impl Follow<'_> {
    /// The rows written since the last poll (none: nothing new yet).
    pub fn poll(&mut self) -> Result<Vec<Row>> {
        let rows = match &mut self.inner {
            FollowSource::Dir(tail) => tail.poll()?,
            #[cfg(feature = "online")]
            FollowSource::Server(s, run) => s.rows_from(run, self.next)?,
            #[cfg(not(feature = "online"))]
            FollowSource::Never(_) => Vec::new(),
        };
        let rows: Vec<Row> = rows
            .into_iter()
            .filter(|r| r.step().is_none_or(|s| s >= self.next))
            .collect();
        if let Some(s) = rows.iter().filter_map(Row::step).max() {
            self.next = s.saturating_add(1);
        }
        Ok(rows)
    }

    /// The step the next new row will have at least: give it to [`Api::follow_from`] to go
    /// on later.
    pub fn cursor(&self) -> i64 {
        self.next
    }
}
