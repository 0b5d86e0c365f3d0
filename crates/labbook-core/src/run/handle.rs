//! `Run`: the cheap, cloneable handle a training loop logs through.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::artifact::Stager;
use crate::engine::metric::Metric;
use crate::engine::queue::Names;
use crate::engine::queue::{Envelope, Msg, SavePolicy, Shared};
use crate::error::{Error, Result};
use crate::report::RunReport;
use crate::run::lifecycle;
use crate::settings::{Backpressure, OnError};
use crate::value::Value;
use crate::value::config;
use crate::value::key::Key;
use crate::wire::proto;

/// How often a caller waiting on the worker looks whether the worker thread is still alive.
const WORKER_CHECK: Duration = Duration::from_millis(50);

/// How loud an alert is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertLevel {
    /// For information.
    Info,
    /// Something looks wrong.
    Warn,
    /// Something is wrong.
    Error,
}

/// A run: log metrics, summary, config and alerts to it from any thread.
///
/// `Run` is `Clone + Send + Sync` and cheap to clone; every clone logs to the same run.
/// Each call is atomic: rows logged from several threads interleave, never mix.
///
/// # Call sequence
///
/// ```text
/// init(settings) -> Run
///   log / log_at / define_metric / set_summary / update_config / alert / save   (any order, any thread)
///   flush                                                                       (optional barrier)
/// finish -> RunReport         (or drop the last handle: finished for you, exit code 1 while panicking)
/// ```
///
/// ```
/// use labbook_core::{Settings, Value};
/// # let dir = tempfile::tempdir()?;
/// let run = labbook_core::init(Settings::new("demo").dir(dir.path()).quiet(true))?;
/// for step in 0..3 {
///     run.log([("loss", Value::from(1.0 / (step + 1) as f64)), ("step_time_ms", 12.into())])?;
/// }
/// let report = run.finish()?;
/// assert_eq!(report.rows, 3);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Run {
    pub(super) kind: Kind,
}

#[derive(Clone)]
pub(super) enum Kind {
    Disabled(Arc<DisabledRun>),
    Active(Arc<Inner>),
}

pub(crate) struct DisabledRun {
    config: Mutex<Vec<(String, Value)>>,
    id: String,
    pub(super) project: String,
    pub(super) names: Mutex<Names>,
}

pub(super) struct Hot {
    /// The step the next `log` commits, or the step of the open row.
    pub(super) current: u64,
    /// The thread whose `log_at` opened the row at `current`, while that row is open.
    pub(super) open_by: Option<std::thread::ThreadId>,
    pub(super) finished: bool,
}

/// The largest step W&B stores: its steps are signed 64-bit integers.
pub(crate) const MAX_STEP: u64 = i64::MAX as u64;

#[derive(Default)]
pub(super) struct Counters {
    pub(super) steps_refused: AtomicU64,
    pub(super) dropped: AtomicU64,
    pub(super) blocked_ns: AtomicU64,
}

pub(crate) struct Inner {
    pub(super) id: String,
    pub(super) dir: PathBuf,
    pub(super) files_dir: PathBuf,
    /// Name, tags and notes as last set; changes go to the worker in this order.
    pub(super) names: Mutex<Names>,
    pub(super) hot: Mutex<Hot>,
    pub(super) shared: Arc<Shared>,
    pub(super) counters: Counters,
    pub(super) config: Mutex<Vec<(String, Value)>>,
    pub(super) redact_secrets: bool,
    pub(super) scrubber: crate::value::secrets::Scrubber,
    pub(super) warnings: Mutex<Vec<String>>,
    pub(super) worker: Mutex<Option<std::thread::JoinHandle<()>>>,
    pub(super) report: OnceLock<RunReport>,
    pub(super) on_error: OnError,
    pub(super) backpressure: Backpressure,
    pub(super) finish_timeout: Duration,
    pub(super) quiet: bool,
    pub(super) started: Instant,
    pub(super) warned_failure: AtomicBool,
    pub(super) sink: crate::system::Sink,
    /// The sampler and the console capture, until `finish` stops them.
    pub(super) system: Mutex<Option<crate::system::System>>,
    /// The uploader of an online run.
    pub(super) online: Option<crate::online::Live>,
    /// Where `use_artifact` looks.
    pub(super) artifacts: crate::artifact::using::Sources,
    /// The thread hashing logged artifacts, in the order they were logged; `finish`
    /// waits for it. `None` inside once `finish` has taken it: no artifact is taken after.
    pub(super) staging: Mutex<Option<Option<Stager>>>,
    /// Tells `labbook sync` the run is still being written; released when finished.
    pub(super) lock: Mutex<Option<Arc<crate::store::RunLock>>>,
}

/// A `model` artifact of a file or a directory.
fn model_artifact<S: Into<String>>(
    path: &Path,
    name: &str,
    aliases: impl IntoIterator<Item = S>,
) -> Result<crate::artifact::Artifact> {
    let mut a = crate::artifact::Artifact::new(name, "model")?.aliases(aliases);
    if path.is_dir() {
        a.add_dir(path, None)?;
    } else {
        a.add_file(path, None)?;
    }
    Ok(a)
}

/// What `Run::active` needs from `init`.
pub(crate) struct ActiveParts {
    pub id: String,
    pub dir: PathBuf,
    pub files_dir: PathBuf,
    pub names: Names,
    pub shared: Arc<Shared>,
    pub config: Vec<(String, Value)>,
    pub redact_secrets: bool,
    pub scrubber: crate::value::secrets::Scrubber,
    pub warnings: Vec<String>,
    pub worker: std::thread::JoinHandle<()>,
    pub on_error: OnError,
    pub backpressure: Backpressure,
    pub finish_timeout: Duration,
    pub quiet: bool,
    pub started: Instant,
    pub sink: crate::system::Sink,
    pub system: crate::system::System,
    pub online: Option<crate::online::Live>,
    /// The first step (a resumed run's next step).
    pub start_step: u64,
    /// The run directory's lock; the worker and the uploader hold it too, until they end.
    pub lock: Arc<crate::store::RunLock>,
    pub artifacts: crate::artifact::using::Sources,
}

impl Run {
    /// A run that logs nothing and costs nearly nothing: no thread, no file, no allocation
    /// per call. `config_as` still returns the config.
    pub fn disabled() -> Run {
        Run::disabled_with(Vec::new(), String::new(), String::new(), Names::default())
    }

    pub(crate) fn disabled_with(
        config: Vec<(String, Value)>,
        id: String,
        project: String,
        names: Names,
    ) -> Run {
        Run {
            kind: Kind::Disabled(Arc::new(DisabledRun {
                config: Mutex::new(config),
                id,
                project,
                names: Mutex::new(names),
            })),
        }
    }

    pub(crate) fn active(p: ActiveParts) -> Run {
        let inner = Arc::new(Inner {
            id: p.id,
            dir: p.dir,
            files_dir: p.files_dir,
            names: Mutex::new(p.names),
            hot: Mutex::new(Hot {
                current: p.start_step,
                open_by: None,
                finished: false,
            }),
            shared: p.shared,
            counters: Counters::default(),
            config: Mutex::new(p.config),
            redact_secrets: p.redact_secrets,
            scrubber: p.scrubber,
            warnings: Mutex::new(p.warnings),
            worker: Mutex::new(Some(p.worker)),
            report: OnceLock::new(),
            on_error: p.on_error,
            backpressure: p.backpressure,
            finish_timeout: p.finish_timeout,
            quiet: p.quiet,
            started: p.started,
            warned_failure: AtomicBool::new(false),
            sink: p.sink,
            system: Mutex::new(Some(p.system)),
            online: p.online,
            artifacts: p.artifacts,
            staging: Mutex::new(Some(None)),
            lock: Mutex::new(Some(p.lock)),
        });
        lifecycle::register(&inner);
        Run {
            kind: Kind::Active(inner),
        }
    }

    /// A `tracing` layer that copies events into the run's console log (as stderr lines), so
    /// they are part of `output.log` and the synced run's Logs tab. Events from labbook's own
    /// targets (`labbook...`) are left out.
    ///
    /// ```
    /// use tracing_subscriber::layer::SubscriberExt as _;
    /// # let dir = tempfile::tempdir()?;
    /// let run = labbook_core::init(labbook_core::Settings::new("p").dir(dir.path()).quiet(true))?;
    /// let subscriber = tracing_subscriber::registry().with(run.tracing_layer());
    /// tracing::subscriber::with_default(subscriber, || tracing::info!(epoch = 3, "validation done"));
    /// run.finish()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn tracing_layer(&self) -> crate::system::RunLayer {
        crate::system::RunLayer::new(self.sink())
    }

    /// Where the tracing layer sends console lines (`None` for a disabled run).
    pub(crate) fn sink(&self) -> Option<crate::system::Sink> {
        match &self.kind {
            Kind::Disabled(_) => None,
            Kind::Active(i) => Some(i.sink.clone()),
        }
    }

    /// For an online run, whether the server asked it to stop (the Stop button of the
    /// W&B UI); a training loop may check it now and then and end early. Always `false`
    /// offline.
    ///
    /// ```
    /// assert!(!labbook_core::Run::disabled().should_stop());
    /// ```
    pub fn should_stop(&self) -> bool {
        match &self.kind {
            Kind::Active(i) => i.online.as_ref().is_some_and(|o| o.should_stop()),
            Kind::Disabled(_) => false,
        }
    }

    /// For an online run, its page on the W&B server, once the server has answered (`init`
    /// does not wait for it). `None` offline.
    pub fn url(&self) -> Option<String> {
        match &self.kind {
            Kind::Active(i) => i.online.as_ref().and_then(|o| o.url()),
            Kind::Disabled(_) => None,
        }
    }

    /// Whether this run logs nothing.
    pub fn is_disabled(&self) -> bool {
        matches!(self.kind, Kind::Disabled(_))
    }

    /// The run id (empty for [`Run::disabled`]).
    pub fn id(&self) -> &str {
        match &self.kind {
            Kind::Disabled(d) => &d.id,
            Kind::Active(i) => &i.id,
        }
    }

    /// The run directory, if the run writes one.
    pub fn dir(&self) -> Option<&Path> {
        match &self.kind {
            Kind::Disabled(_) => None,
            Kind::Active(i) => Some(&i.dir),
        }
    }

    /// The run's `files/` directory: files put there are part of the run (W&B's `run.dir`).
    pub fn files_dir(&self) -> Option<&Path> {
        match &self.kind {
            Kind::Disabled(_) => None,
            Kind::Active(i) => Some(&i.files_dir),
        }
    }

    /// Logs one row and commits it: the row gets the current step, and the next row the
    /// step after it.
    ///
    /// ```
    /// # let run = labbook_core::Run::disabled();
    /// use labbook_core::Value;
    /// run.log([("train/loss", 0.41.into()), ("train/acc", Value::from(0.87))])?;
    /// # Ok::<(), labbook_core::Error>(())
    /// ```
    #[inline]
    pub fn log<K, I>(&self, items: I) -> Result<()>
    where
        K: Into<Key>,
        I: IntoIterator<Item = (K, Value)>,
    {
        match &self.kind {
            Kind::Disabled(_) => Ok(()),
            Kind::Active(inner) => inner.log(None, items),
        }
    }

    /// Adds values to the row at `step`. Calls at the same step merge; a higher step commits
    /// the open row first. A step lower than the current one is refused with
    /// [`Error::StepBackwards`] (and counted in the report) and nothing is logged.
    ///
    /// ```
    /// # let run = labbook_core::Run::disabled();
    /// use labbook_core::{Error, Value};
    /// run.log_at(120, [("val/loss", Value::from(0.5))])?;
    /// run.log_at(120, [("val/acc", Value::from(0.9))])?; // same row
    /// if let Err(Error::StepBackwards { step, current }) = run.log_at(100, [("x", 1.into())]) {
    ///     eprintln!("step {step} < {current}: skipped");
    /// }
    /// # Ok::<(), labbook_core::Error>(())
    /// ```
    #[inline]
    pub fn log_at<K, I>(&self, step: u64, items: I) -> Result<()>
    where
        K: Into<Key>,
        I: IntoIterator<Item = (K, Value)>,
    {
        match &self.kind {
            Kind::Disabled(_) => Ok(()),
            Kind::Active(inner) => inner.log(Some(step), items),
        }
    }

    /// The step the next `log` will commit (or the step of the row `log_at` opened).
    pub fn step(&self) -> u64 {
        match &self.kind {
            Kind::Disabled(_) => 0,
            Kind::Active(i) => i.hot.lock().current,
        }
    }

    /// Defines how a metric is summarized and plotted (W&B's `define_metric`).
    ///
    /// ```
    /// # let run = labbook_core::Run::disabled();
    /// use labbook_core::{Metric, Summary};
    /// run.define_metric(Metric::new("val/*").step_metric("epoch").summary(Summary::Min))?;
    /// # Ok::<(), labbook_core::Error>(())
    /// ```
    pub fn define_metric(&self, metric: Metric) -> Result<()> {
        metric.validate()?;
        match &self.kind {
            Kind::Disabled(_) => Ok(()),
            Kind::Active(i) => i.send(Msg::Metric(metric), 256),
        }
    }

    /// Sets a summary value directly; it stands until the key is logged again.
    ///
    /// ```
    /// # let run = labbook_core::Run::disabled();
    /// run.set_summary("best/acc", 0.91)?;
    /// # Ok::<(), labbook_core::Error>(())
    /// ```
    pub fn set_summary(&self, key: impl Into<Key>, value: impl Into<Value>) -> Result<()> {
        let key = key.into();
        key.validate()?;
        let value = value.into();
        check_media(&key, &value)?;
        match &self.kind {
            Kind::Disabled(_) => Ok(()),
            Kind::Active(i) => {
                let bytes = 64 + key.as_str().len() + value.approx_bytes();
                i.send(Msg::Summary(vec![(key, value)]), bytes)
            }
        }
    }

    /// Adds to (or changes) the config mid-run. Unserializable fields are left out with a
    /// warning in the report.
    pub fn update_config<T: Serialize + ?Sized>(&self, extra: &T) -> Result<()> {
        let s = config::serialize(extra);
        let mut items = s.items;
        match &self.kind {
            Kind::Disabled(_) => config::redact(&mut items),
            Kind::Active(i) => i.scrubber.config(&mut items, i.redact_secrets),
        }
        for w in &s.warnings {
            tracing::warn!(target: "labbook", "{w}");
        }
        match &self.kind {
            Kind::Disabled(d) => {
                config::merge_top_level(&mut d.config.lock(), items);
                Ok(())
            }
            Kind::Active(i) => {
                i.warnings.lock().extend(s.warnings);
                let bytes = 64
                    + items
                        .iter()
                        .map(|(k, v)| k.len() + v.approx_bytes())
                        .sum::<usize>();
                // Merged and queued under the run's lock, so concurrent updates reach the
                // log in the order they changed what `config_as` returns.
                let hot = i.hot.lock();
                if hot.finished {
                    drop(hot);
                    return Err(i.finished_error());
                }
                i.enqueue(Envelope::new(Msg::Config(items.clone()), bytes))?;
                config::merge_top_level(&mut i.config.lock(), items);
                Ok(())
            }
        }
    }

    /// The config as the run sees it (builder config, overrides, sweep values), as `T`.
    ///
    /// ```
    /// # use labbook_core::{Settings, Mode};
    /// #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    /// struct Cfg { lr: f64, layers: u32 }
    /// let run = labbook_core::init(
    ///     Settings::new("p").mode(Mode::Disabled).config(&Cfg { lr: 0.1, layers: 2 }).overrides(["layers=4"]),
    /// )?;
    /// assert_eq!(run.config_as::<Cfg>()?, Cfg { lr: 0.1, layers: 4 });
    /// # Ok::<(), labbook_core::Error>(())
    /// ```
    pub fn config_as<T: DeserializeOwned>(&self) -> Result<T> {
        let items = match &self.kind {
            Kind::Disabled(d) => d.config.lock().clone(),
            Kind::Active(i) => i.config.lock().clone(),
        };
        serde_json::from_value(Value::Map(items).to_serde_json()).map_err(Error::ConfigType)
    }

    /// Sends an alert (W&B emails or Slacks it once the run is synced).
    pub fn alert(&self, title: &str, text: &str, level: AlertLevel) -> Result<()> {
        self.alert_with_wait(title, text, level, Duration::from_secs(60))
    }

    /// [`Run::alert`] with the minimum time between two alerts of the same title.
    pub fn alert_with_wait(
        &self,
        title: &str,
        text: &str,
        level: AlertLevel,
        wait: Duration,
    ) -> Result<()> {
        if title.is_empty() {
            return Err(Error::InvalidKey {
                key: String::new(),
                reason: "an alert needs a title",
            });
        }
        let Kind::Active(i) = &self.kind else {
            return Ok(());
        };
        let level = match level {
            AlertLevel::Info => "INFO",
            AlertLevel::Warn => "WARN",
            AlertLevel::Error => "ERROR",
        };
        let record = proto::AlertRecord {
            title: title.to_owned(),
            text: text.to_owned(),
            level: level.to_owned(),
            wait_duration: wait.as_millis().min(i64::MAX as u128) as i64,
        };
        i.send(Msg::Alert(record), 64 + title.len() + text.len())
    }

    /// Keeps files matching a glob (relative to the working directory) with the run: they
    /// are copied into `files/` and uploaded by `wandb sync`.
    ///
    /// ```
    /// # let run = labbook_core::Run::disabled();
    /// use labbook_core::SavePolicy;
    /// run.save("checkpoints/*.safetensors", SavePolicy::End)?;
    /// # Ok::<(), labbook_core::Error>(())
    /// ```
    pub fn save(&self, pattern: &str, policy: SavePolicy) -> Result<()> {
        glob::Pattern::new(pattern).map_err(|e| Error::InvalidSetting {
            name: format!("save pattern {pattern:?}"),
            reason: e.to_string(),
        })?;
        let Kind::Active(i) = &self.kind else {
            return Ok(());
        };
        i.send(
            Msg::Save {
                pattern: pattern.to_owned(),
                policy,
            },
            64 + pattern.len(),
        )
    }

    /// Records an artifact version in the run: its files are copied into the run before
    /// this returns (a reflink where the filesystem can clone, else the kernel's copy), so
    /// changing or deleting the originals afterwards changes nothing; they are hashed on a
    /// thread of their own, and `wandb sync` / `labbook sync` (or an online run) upload them
    /// with W&B's manifest and digests. A missing file, or one that changes while it is
    /// copied, is an error naming it.
    ///
    /// ```no_run
    /// # let run = labbook_core::Run::disabled();
    /// let mut a = labbook_core::artifact::Artifact::new("shapes-train", "dataset")?;
    /// a.add_dir("data/train", None)?;
    /// run.log_artifact(a)?;
    /// # Ok::<(), labbook_core::Error>(())
    /// ```
    pub fn log_artifact(&self, artifact: crate::artifact::Artifact) -> Result<()> {
        self.log_artifact_with_id(artifact).map(|_| ())
    }

    /// [`log_artifact`](Run::log_artifact), returning the version's client id (none for a
    /// disabled run).
    fn log_artifact_with_id(&self, artifact: crate::artifact::Artifact) -> Result<Option<String>> {
        artifact.validate()?;
        match &self.kind {
            Kind::Disabled(_) => Ok(None),
            Kind::Active(i) => {
                // The files are copied now (a reflink or the kernel's copy: what is logged is
                // what they hold at this call); hashing a checkpoint of gigabytes takes
                // seconds, so a thread of its own does it and neither the caller nor the
                // worker's writing of rows waits. The worker records the result; `finish`
                // waits for it.
                if i.hot.lock().finished {
                    return Err(i.finished_error());
                }
                let snapshot = artifact.snapshot(&i.dir)?;
                let client_id = snapshot.client_id().to_owned();
                let mut staging = i.staging.lock();
                // `finish` took the hashing thread while the files were copied: too late.
                let Some(stager) = staging.as_mut() else {
                    return Err(i.finished_error());
                };
                if stager.is_none() {
                    *stager = Some(Stager::start(
                        i.shared.clone(),
                        i.id.clone(),
                        i.artifacts.project.clone(),
                    )?);
                }
                let sent = stager.as_ref().is_some_and(|s| s.stage(snapshot));
                if !sent {
                    return Err(Error::WorkerFailed(
                        "the artifact hashing thread is gone".into(),
                    ));
                }
                Ok(Some(client_id))
            }
        }
    }

    /// Records a checkpoint file the program just saved: the file is saved with the run now
    /// (`files/`), and the summary gets `checkpoint/file`, `checkpoint/epoch` and
    /// `checkpoint/step`. The framework adapters' `save_checkpoint` call this.
    ///
    /// ```no_run
    /// # let run = labbook_core::Run::disabled();
    /// run.record_checkpoint("ckpt/epoch-3.safetensors", 3, 1200)?;
    /// # Ok::<(), labbook_core::Error>(())
    /// ```
    pub fn record_checkpoint(&self, path: impl AsRef<Path>, epoch: usize, step: u64) -> Result<()> {
        let path = path.as_ref();
        self.save(
            &glob::Pattern::escape(&path.to_string_lossy()),
            SavePolicy::Now,
        )?;
        self.set_summary("checkpoint/file", path.display().to_string())?;
        self.set_summary("checkpoint/epoch", epoch)?;
        self.set_summary("checkpoint/step", step)
    }

    /// Uses an artifact version: `[entity/][project/]name[:alias]`, the alias `latest`
    /// unless given (`best`, `v3`, ...). An online run asks the server and downloads the
    /// files under `<dir>/artifacts/<name>:<version>/` (files already there with the right
    /// digest are kept); an offline run finds the version among the local runs. Every file
    /// is checked against its digest, and the use is recorded in the run (lineage, sent to
    /// the server). A missing name or alias, or a file that does not match its digest, is an
    /// error naming it; the run goes on.
    ///
    /// ```no_run
    /// # let run = labbook_core::Run::disabled();
    /// let model = run.use_artifact("shapes-cnn:best")?;
    /// let weights = model.path("model.safetensors");
    /// # let _ = weights;
    /// # Ok::<(), labbook_core::Error>(())
    /// ```
    pub fn use_artifact(&self, name: &str) -> Result<crate::artifact::using::UsedArtifact> {
        match &self.kind {
            Kind::Disabled(_) => Err(Error::Artifact(format!(
                "cannot use {name:?}: a disabled run has no runs or server to find it in"
            ))),
            Kind::Active(i) => {
                let used = crate::artifact::using::resolve(&i.artifacts, name)?;
                i.send(Msg::UseArtifact(used.record()), 256)?;
                Ok(used)
            }
        }
    }

    /// For a resumed run, the metadata of an earlier version (`name:alias`), so state such
    /// as the best score so far carries over; `None` for a fresh run or when there is none.
    pub(crate) fn resumed_artifact_metadata(&self, spec: &str) -> Option<serde_json::Value> {
        let Kind::Active(i) = &self.kind else {
            return None;
        };
        if !i.artifacts.resumed {
            return None;
        }
        match crate::artifact::using::metadata(&i.artifacts, spec) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(target: "labbook", "could not read {spec} of the earlier run: {e}");
                None
            }
        }
    }

    /// Logs a model file or directory as a `model` artifact named `name`, with `aliases`
    /// besides `latest` (e.g. `best`).
    ///
    /// ```no_run
    /// # let run = labbook_core::Run::disabled();
    /// run.log_model("checkpoints/epoch-7.safetensors", "resnet-shapes", ["best"])?;
    /// # Ok::<(), labbook_core::Error>(())
    /// ```
    pub fn log_model<S: Into<String>>(
        &self,
        path: impl AsRef<Path>,
        name: &str,
        aliases: impl IntoIterator<Item = S>,
    ) -> Result<()> {
        self.log_artifact(model_artifact(path.as_ref(), name, aliases)?)
    }

    /// Logs a model file or directory as a `model` artifact named `name` and links that
    /// version into the registry collection `registered_model` (`collection`,
    /// `project/collection` or `entity/project/collection`; the project defaults to W&B's
    /// `model-registry`) with `aliases` there. The link is queued in the run and applied
    /// once the version is on the server: by the uploader of an online run, by
    /// `labbook sync` for an offline one (`wandb sync` does not apply it).
    ///
    /// ```no_run
    /// # let run = labbook_core::Run::disabled();
    /// run.link_model("checkpoints/best.safetensors", "shapes-cnn", "shapes-classifier", ["staging"])?;
    /// # Ok::<(), labbook_core::Error>(())
    /// ```
    pub fn link_model<S: Into<String>>(
        &self,
        path: impl AsRef<Path>,
        name: &str,
        registered_model: &str,
        aliases: impl IntoIterator<Item = S>,
    ) -> Result<()> {
        let aliases: Vec<String> = aliases.into_iter().map(Into::into).collect();
        // The target is checked before anything is logged.
        crate::online::links::link_to("", registered_model, aliases.clone())?;
        let artifact = model_artifact(path.as_ref(), name, Vec::<String>::new())?;
        let Some(client_id) = self.log_artifact_with_id(artifact)? else {
            return Ok(());
        };
        let link = crate::online::links::link_to(&client_id, registered_model, aliases)?;
        match &self.kind {
            Kind::Active(i) => crate::online::links::queue(&i.dir, &link),
            Kind::Disabled(_) => Ok(()),
        }
    }

    /// Links an artifact version already on the server (logged by this run or any other)
    /// into the registry collection `registered_model`, as [`link_model`](Run::link_model)
    /// links a version it logs: `version` is `name:alias` in the run's project (`shapes-cnn:v3`,
    /// `shapes-cnn:best`) or `[entity/]project/name:alias`. The link is queued in the run
    /// and applied by the uploader of an online run, or by `labbook sync`; a version the
    /// server does not have is a warning then.
    ///
    /// ```no_run
    /// # let run = labbook_core::Run::disabled();
    /// run.link_artifact("shapes-cnn:v3", "shapes-classifier", ["production"])?;
    /// # Ok::<(), labbook_core::Error>(())
    /// ```
    pub fn link_artifact<S: Into<String>>(
        &self,
        version: &str,
        registered_model: &str,
        aliases: impl IntoIterator<Item = S>,
    ) -> Result<()> {
        crate::online::links::check_version(version)?;
        let mut link = crate::online::links::link_to(
            "",
            registered_model,
            aliases.into_iter().map(Into::into).collect(),
        )?;
        link.version = version.to_owned();
        match &self.kind {
            Kind::Active(i) => crate::online::links::queue(&i.dir, &link),
            Kind::Disabled(_) => Ok(()),
        }
    }

    /// Waits until everything logged so far (every committed row) is written to the OS.
    /// Artifacts logged before it are hashed and recorded first.
    pub fn flush(&self) -> Result<()> {
        match &self.kind {
            Kind::Disabled(_) => Ok(()),
            Kind::Active(i) => {
                // The lock only to reach the hashing thread: logging artifacts or finishing
                // from other threads must not wait on this flush.
                let staged = i
                    .staging
                    .lock()
                    .as_ref()
                    .and_then(Option::as_ref)
                    .map(Stager::staged);
                if let Some(staged) = staged
                    && !staged.wait(i.finish_timeout)
                {
                    tracing::warn!(target: "labbook", "flush: artifacts were still being hashed after {:?}; they are recorded when done", i.finish_timeout);
                }
                i.flush(i.finish_timeout)
            }
        }
    }

    /// Finishes the run: commits the open row, writes the summary and the exit record,
    /// syncs the log to disk, and reports. Later calls return the same report; logging
    /// after it is an error.
    pub fn finish(&self) -> Result<RunReport> {
        self.finish_with_exit_code(0)
    }

    /// [`finish`](Run::finish) with an exit code (W&B's `run.finish(exit_code=...)`): not 0
    /// marks the run failed.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let run = labbook_core::init(labbook_core::Settings::new("p").dir(dir.path()).quiet(true))?;
    /// assert_eq!(run.finish_with_exit_code(3)?.exit_code, 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn finish_with_exit_code(&self, exit_code: i32) -> Result<RunReport> {
        match &self.kind {
            Kind::Disabled(d) => Ok(RunReport {
                exit_code,
                ..disabled_report(&d.id)
            }),
            Kind::Active(i) => i.finish_checked(exit_code, false),
        }
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Run")
            .field("id", &self.id())
            .field("dir", &self.dir())
            .field("disabled", &self.is_disabled())
            .finish_non_exhaustive()
    }
}

/// Media (and nesting) are checked on the caller's thread, so a bad value is an error
/// naming its key.
#[inline]
/// Checks what can be checked of a value's media on the caller's thread; returns whether
/// it holds media encoded into files (which take one of the queue's media slots).
fn check_media(key: &Key, value: &Value) -> Result<bool> {
    match value {
        Value::Media(_) | Value::List(_) | Value::Map(_) => {
            if value.deeper_than(crate::value::MAX_DEPTH) {
                return Err(Error::InvalidValue {
                    key: key.as_str().to_owned(),
                    reason: format!(
                        "lists and maps nest more than {} levels deep",
                        crate::value::MAX_DEPTH
                    ),
                });
            }
            crate::media::validate(value).map_err(|reason| Error::InvalidValue {
                key: key.as_str().to_owned(),
                reason,
            })?;
            Ok(crate::media::value_encodes_files(value))
        }
        _ => Ok(false),
    }
}

fn disabled_report(id: &str) -> RunReport {
    RunReport {
        run_id: id.to_owned(),
        name: String::new(),
        dir: PathBuf::new(),
        rows: 0,
        bytes: 0,
        steps_refused: 0,
        dropped: 0,
        blocked: Duration::ZERO,
        exit_code: 0,
        preempted: false,
        warnings: Vec::new(),
        errors: Vec::new(),
        duration: Duration::ZERO,
    }
}

impl Inner {
    fn log<K, I>(&self, step: Option<u64>, items: I) -> Result<()>
    where
        K: Into<Key>,
        I: IntoIterator<Item = (K, Value)>,
    {
        let at = Instant::now();
        let items: Vec<(Key, Value)> = items.into_iter().map(|(k, v)| (k.into(), v)).collect();
        let mut bytes = 64;
        let mut media = false;
        for (k, v) in &items {
            k.validate()?;
            media |= check_media(k, v)?;
            bytes += k.as_str().len() + v.approx_bytes();
        }
        let mut hot = self.hot.lock();
        if hot.finished {
            drop(hot);
            return Err(self.finished_error());
        }
        let (step, commit) = match step {
            // A row another thread opened with `log_at` is that thread's: it is committed
            // as it stands, and this call becomes the next row.
            None if hot
                .open_by
                .is_some_and(|t| t != std::thread::current().id()) =>
            {
                (hot.current.saturating_add(1), true)
            }
            None => (hot.current, true),
            Some(s) if s < hot.current => {
                self.counters.steps_refused.fetch_add(1, Ordering::Relaxed);
                return Err(Error::StepBackwards {
                    step: s,
                    current: hot.current,
                });
            }
            Some(s) => (s, false),
        };
        if step > MAX_STEP {
            self.counters.steps_refused.fetch_add(1, Ordering::Relaxed);
            return Err(Error::StepTooLarge { step });
        }
        let row = Msg::Log {
            step,
            commit,
            items,
            at,
        };
        self.enqueue(Envelope::checked(row, bytes, media))?;
        if commit {
            // At most MAX_STEP + 1: the next `log` is refused, nothing overflows.
            hot.current = step + 1;
            hot.open_by = None;
        } else {
            if hot.open_by.is_none() || step != hot.current {
                hot.open_by = Some(std::thread::current().id());
            }
            hot.current = step;
        }
        Ok(())
    }

    /// The error for a call after `finish`. A finish from another thread (a signal, say)
    /// may still be writing: wait for it, so a loop that stops on this error cannot end the
    /// process under the worker.
    fn finished_error(&self) -> Error {
        self.wait_report();
        Error::Finished {
            run_id: self.id.clone(),
        }
    }

    /// Sends a non-history entry, holding the lock so it is ordered with rows.
    pub(super) fn send(&self, msg: Msg, bytes: usize) -> Result<()> {
        let hot = self.hot.lock();
        if hot.finished {
            drop(hot);
            return Err(self.finished_error());
        }
        self.enqueue(Envelope::new(msg, bytes))
    }

    /// Puts an entry on the queue; the caller holds `hot`. Waits (counted) when the queue
    /// is full, or drops (counted) in lossy mode.
    fn enqueue(&self, env: Envelope) -> Result<()> {
        if self.shared.has_failed() {
            return self.writer_failed();
        }
        let bytes = env.bytes;
        if !self.shared.has_room(bytes, env.media) {
            if self.backpressure == Backpressure::Drop {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                return Err(Error::Dropped);
            }
            let t = Instant::now();
            self.shared.wait_for_room(bytes, env.media);
            self.counters
                .blocked_ns
                .fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
            if self.shared.has_failed() {
                return self.writer_failed();
            }
        }
        let urgent = matches!(env.msg, Msg::Flush(_));
        self.shared.push(env, urgent);
        Ok(())
    }

    fn writer_failed(&self) -> Result<()> {
        self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        if self.on_error == OnError::Degrade {
            if !self.warned_failure.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    target: "labbook",
                    "run {}: {}; logging goes on without recording (degrade mode)",
                    self.id,
                    self.shared.failure()
                );
            }
            return Ok(());
        }
        Err(Error::WorkerFailed(self.shared.failure()))
    }

    pub(crate) fn flush(&self, timeout: Duration) -> Result<()> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.send(Msg::Flush(tx), 64)?;
        match self.await_worker(&rx, timeout) {
            Some(()) if !self.shared.has_failed() => Ok(()),
            Some(()) => self.writer_failed(),
            None if self.worker_gone() => self.writer_failed(),
            // Slow, not failed: nothing is lost, and the caller may wait again.
            None if self.on_error == OnError::Degrade => {
                tracing::warn!(target: "labbook", "run {}: flush still waiting after {timeout:?}; the worker goes on writing", self.id);
                Ok(())
            }
            None => Err(Error::FlushTimedOut { waited: timeout }),
        }
    }

    /// Waits up to `timeout` for the worker's answer on `rx`, and no longer than it takes
    /// to see that the worker thread is gone (it died: it will never answer).
    pub(super) fn await_worker<T>(
        &self,
        rx: &crossbeam_channel::Receiver<T>,
        timeout: Duration,
    ) -> Option<T> {
        let deadline = Instant::now() + timeout;
        loop {
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            match rx.recv_timeout((deadline - now).min(WORKER_CHECK)) {
                Ok(v) => return Some(v),
                // The worker dropped the request unanswered: it is unwinding from a panic.
                // Give it a moment to record why, so the caller reports that.
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                    let until = Instant::now() + Duration::from_secs(1);
                    while !self.worker_gone() && Instant::now() < until {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    return None;
                }
                Err(crossbeam_channel::RecvTimeoutError::Timeout) if self.worker_gone() => {
                    return rx.try_recv().ok();
                }
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            }
        }
    }

    /// Whether the worker has died before the run finished (it panicked): its thread has
    /// ended, or it has recorded the panic and is ending.
    pub(super) fn worker_gone(&self) -> bool {
        self.shared.has_panicked()
            || self
                .worker
                .lock()
                .as_ref()
                .is_some_and(std::thread::JoinHandle::is_finished)
    }

    fn finish_checked(&self, exit_code: i32, preempted: bool) -> Result<RunReport> {
        let report = self.finish(exit_code, preempted);
        if !report.errors.is_empty() && self.on_error == OnError::Fail {
            return Err(Error::FinishedWithErrors {
                report: Box::new(report),
            });
        }
        Ok(report)
    }

    pub(super) fn wait_report(&self) -> RunReport {
        let deadline = Instant::now() + self.finish_timeout + Duration::from_secs(1);
        loop {
            if let Some(r) = self.report.get() {
                return r.clone();
            }
            if Instant::now() > deadline {
                let mut r = disabled_report(&self.id);
                r.dir = self.dir.clone();
                r.errors
                    .push("another thread is still finishing this run".into());
                return r;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// [`Inner::flush`] from a panic hook: skipped when this thread holds the run's lock
    /// (the panic came from inside labbook), which would otherwise deadlock.
    pub(crate) fn flush_from_hook(&self, wait: Duration) -> Result<()> {
        if self.hot.try_lock_for(Duration::from_millis(100)).is_none() {
            return Ok(());
        }
        self.flush(wait)
    }

    /// [`Inner::finish`] from a panic hook, with the same guard as `flush_from_hook`.
    pub(crate) fn finish_from_hook(&self, exit_code: i32, wait: Duration) {
        if self
            .hot
            .try_lock_for(wait.min(Duration::from_millis(100)))
            .is_none()
        {
            return;
        }
        self.finish(exit_code, false);
    }

    pub(crate) fn is_finished(&self) -> bool {
        self.hot.lock().finished
    }

    /// Whether `finish` has completed (its report is there).
    pub(crate) fn has_report(&self) -> bool {
        self.report.get().is_some()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if !self.hot.get_mut().finished {
            let code = if std::thread::panicking() { 1 } else { 0 };
            self.finish(code, false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A quiet run in `dir`: no signals, sampler, console capture or process environment.
    fn quiet(dir: &Path) -> crate::Settings {
        crate::Settings::new("t")
            .dir(dir)
            .quiet(true)
            .handle_signals(false)
            .system_metrics(false)
            .console(crate::Console::Off)
            .env_vars(Vec::<(String, String)>::new())
            .dotenv_dir(dir)
    }

    /// Failed before: `flush` and `finish` waited the whole `finish_timeout` (a minute) for
    /// a worker that was gone, and then said only that "the writer stopped".
    #[test]
    fn a_worker_that_dies_is_reported_at_once_with_its_panic() {
        let dir = tempfile::tempdir().unwrap();
        // Far below the minute of `finish_timeout`, far above what a loaded machine takes to
        // print the worker's panic with its backtrace (about a second in a debug build).
        let run = crate::init(quiet(dir.path()).finish_timeout(Duration::from_secs(60))).unwrap();
        run.log([("x", Value::from(1))]).unwrap();
        run.flush().unwrap();
        let Kind::Active(inner) = &run.kind else {
            panic!("an active run")
        };
        inner.send(Msg::Crash, 64).unwrap();
        let t = Instant::now();
        let e = run.flush().unwrap_err().to_string();
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "flush took {:?}",
            t.elapsed()
        );
        assert!(e.contains("a crash a test asked for"), "{e}");
        let e = run.log([("x", Value::from(2))]).unwrap_err();
        assert!(e.to_string().contains("a crash a test asked for"), "{e}");
        let t = Instant::now();
        let e = run.finish().unwrap_err();
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "finish took {:?}",
            t.elapsed()
        );
        let Error::FinishedWithErrors { report } = e else {
            panic!("{e}")
        };
        assert!(
            report
                .errors
                .iter()
                .any(|e| e.contains("a crash a test asked for")),
            "{:?}",
            report.errors
        );
        // What was written before the crash is intact.
        let log = crate::wire::read_log(report.log_path()).unwrap();
        assert_eq!(log.end, crate::wire::LogEnd::Clean);
    }

    /// Failed before: images logged flat out filled the 32 MiB queue (ten 1-megapixel
    /// images ahead of the encoders), so the newest row reached the disk a dozen encodings
    /// after it was logged, and several seconds on a busy machine.
    #[test]
    fn images_logged_flat_out_wait_for_a_media_slot_not_a_full_queue() {
        let dir = tempfile::tempdir().unwrap();
        let run = crate::init(quiet(dir.path())).unwrap();
        let Kind::Active(inner) = &run.kind else {
            panic!("an active run")
        };
        let px: Vec<u8> = (0..512 * 512 * 3u32)
            .map(|i| (i.wrapping_mul(7919) >> 5) as u8)
            .collect();
        let (mut most_pending, mut most_slots) = (0, 0);
        for _ in 0..40 {
            let img = crate::media::Image::rgb(512, 512, px.clone()).unwrap();
            // Histograms take no slot: they are not encoded into files.
            let h = crate::media::Histogram::from_f64(vec![1.0, 2.0, 3.0]);
            run.log([("img", Value::from(img)), ("h", Value::from(h))])
                .unwrap();
            for _ in 0..4 {
                let h = crate::media::Histogram::from_f64(vec![1.0]);
                run.log([("h", Value::from(h))]).unwrap();
            }
            most_pending = most_pending.max(inner.shared.media_pending());
            most_slots = most_slots.max(inner.shared.media_slots());
        }
        assert!(
            (1..=most_slots).contains(&most_pending),
            "{most_pending} media entries pending, at most {most_slots} slots"
        );
        run.flush().unwrap();
        assert_eq!(inner.shared.media_pending(), 0, "every slot given back");
        // The slots follow the encoders: what they get through in about half a second.
        let slots = inner.shared.media_slots();
        assert!(slots < 4096, "{slots} slots after 40 encodings");
        assert_eq!(run.finish().unwrap().rows, 200);
    }

    #[test]
    fn media_slots_hold_about_half_a_second_of_encoding() {
        use crate::media::EncodePool;
        let floor = EncodePool::lookahead_on_this_machine();
        let threads = floor / 2;
        // 1-megapixel images on a busy machine: only enough to keep the encoders busy.
        assert_eq!(EncodePool::media_slots(Duration::from_millis(400)), floor);
        // 20 ms images: 25 per encoder.
        assert_eq!(
            EncodePool::media_slots(Duration::from_millis(20)),
            (threads * 25).max(floor)
        );
        // Thumbnails never make a burst wait, up to the cap.
        assert_eq!(EncodePool::media_slots(Duration::from_micros(10)), 4096);
        assert_eq!(EncodePool::media_slots(Duration::ZERO), 4096);
    }
}
