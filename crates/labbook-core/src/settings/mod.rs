//! Run settings: the builder, then W&B's environment variables (and `.env` files and the
//! `wandb/settings` file), then defaults.

mod alerts;
pub(crate) mod distributed;
mod env;
mod explain;
mod name_template;
mod resolve;

pub use distributed::Rank;
pub use explain::{Explained, KeyInfo, Sourced};

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::engine::worker::WriterSettings;
use crate::online::OnlineSettings;
pub use crate::system::Console;
use crate::system::SystemSettings;
use crate::value::config::{self, Serialized};
use env::MIN_STATS_INTERVAL;

/// Where a run goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Write locally and stream the log to a W&B server (`WANDB_BASE_URL`, key from
    /// `WANDB_API_KEY`, `.env` or netrc) from an uploader thread; what it could not send,
    /// `labbook sync` sends later.
    Online,
    /// Write the run locally, for `wandb sync` later. The default.
    Offline,
    /// Log nothing: no thread, no file, no allocation per call.
    Disabled,
}

/// What `init` and the worker do when something fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OnError {
    /// Return the error (the default).
    #[default]
    Fail,
    /// Warn once and go on with a disabled run, so training continues.
    Degrade,
}

/// What `log` does when the worker has fallen a whole queue behind, or a call with images
/// (or other media encoded into files) finds every encoder slot taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Backpressure {
    /// Wait for room; nothing is lost and the wait is counted (the default).
    #[default]
    Block,
    /// Drop the call's values and count them.
    Drop,
}

/// Whether a run continues an earlier run with the same id, as `WANDB_RESUME`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resume {
    /// Continue the run if it exists (locally, or on the server when online), else start it.
    Allow,
    /// Continue the run; it is an error if it does not exist.
    Must,
    /// Start the run; it is an error if one with this id exists.
    Never,
}

/// The builder for [`init`](crate::init).
///
/// Every value set here wins over the environment; anything not set comes from W&B's
/// variables (`WANDB_PROJECT`, `WANDB_DIR`, `WANDB_MODE`, ...), then `.env.local`/`.env` in
/// the working directory, then the `wandb/settings` files, then defaults.
///
/// ```
/// use labbook_core::{Mode, Settings};
/// let s = Settings::new("my-project")
///     .dir("runs")
///     .name("baseline")
///     .tags(["cnn", "synthetic"])
///     .group("ablation-1")
///     .job_type("train")
///     .mode(Mode::Offline);
/// # let _ = s;
/// ```
#[derive(Clone, Debug)]
pub struct Settings {
    project: Option<String>,
    entity: Option<String>,
    dir: Option<PathBuf>,
    name: Option<String>,
    name_template: Option<String>,
    notes: Option<String>,
    tags: Option<Vec<String>>,
    group: Option<String>,
    job_type: Option<String>,
    run_id: Option<String>,
    mode: Option<Mode>,
    config: Serialized,
    overrides: Vec<String>,
    quiet: Option<bool>,
    console: Option<Console>,
    disable_git: Option<bool>,
    pub(crate) on_error: OnError,
    backpressure: Backpressure,
    queue_bytes: usize,
    redact_secrets: bool,
    score_metrics: Vec<String>,
    score_precision: usize,
    handle_signals: bool,
    flush_interval: Duration,
    finish_timeout: Duration,
    features: Vec<String>,
    env_vars: Option<HashMap<String, String>>,
    dotenv_dir: Option<PathBuf>,
    system_metrics: Option<bool>,
    stats_interval: Option<Duration>,
    gpu_source: Option<crate::system::GpuFactory>,
    api_key: Option<crate::online::Secret>,
    base_url: Option<String>,
    upload_interval: Duration,
    upload_retry: crate::online::RetryPolicy,
    upload_clock: Option<std::sync::Arc<dyn crate::online::Clock>>,
    rank_zero_only: Option<bool>,
    resume: Option<Resume>,
    /// A trial of an in-process sweep agent: the sweep's id and the trial's parameter file
    /// (what `WANDB_SWEEP_ID` and `WANDB_SWEEP_PARAM_PATH` say for an agent's child).
    sweep_trial: Option<(String, PathBuf)>,
    alerts: alerts::AlertChoices,
    /// The files a loaded config came from, saved with the run.
    config_sources: Vec<PathBuf>,
    /// The config keys whose interpolations stayed text.
    config_unresolved: Vec<String>,
    git_diff: Option<bool>,
    private_paths: Option<bool>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            project: None,
            entity: None,
            dir: None,
            name: None,
            name_template: None,
            notes: None,
            tags: None,
            group: None,
            job_type: None,
            run_id: None,
            mode: None,
            config: Serialized::default(),
            overrides: Vec::new(),
            quiet: None,
            console: None,
            disable_git: None,
            on_error: OnError::Fail,
            backpressure: Backpressure::Block,
            queue_bytes: 32 << 20,
            redact_secrets: true,
            score_metrics: Vec::new(),
            score_precision: 3,
            handle_signals: true,
            flush_interval: Duration::from_secs(1),
            finish_timeout: Duration::from_secs(60),
            features: Vec::new(),
            env_vars: None,
            dotenv_dir: None,
            system_metrics: None,
            stats_interval: None,
            gpu_source: None,
            api_key: None,
            base_url: None,
            upload_interval: Duration::from_secs(5),
            upload_retry: crate::online::RetryPolicy::file_stream(),
            upload_clock: None,
            rank_zero_only: None,
            resume: None,
            sweep_trial: None,
            alerts: alerts::AlertChoices::default(),
            config_sources: Vec::new(),
            config_unresolved: Vec::new(),
            git_diff: None,
            private_paths: None,
        }
    }
}

impl Settings {
    /// The text in a run name that `finish` replaces with the final score.
    pub const SCORE_PLACEHOLDER: &str = crate::engine::run_files::SCORE_PLACEHOLDER;

    /// Settings for a run in `project`.
    pub fn new(project: impl Into<String>) -> Settings {
        Settings {
            project: Some(project.into()),
            ..Settings::default()
        }
    }

    /// The W&B entity (user or team) the run belongs to once synced.
    pub fn entity(mut self, entity: impl Into<String>) -> Settings {
        self.entity = Some(entity.into());
        self
    }

    /// The root directory: runs go to `<dir>/wandb/`. Default: `WANDB_DIR`, else the
    /// working directory.
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Settings {
        self.dir = Some(dir.into());
        self
    }

    /// The run's display name. A name containing [`SCORE_PLACEHOLDER`](Settings::SCORE_PLACEHOLDER) is completed at
    /// `finish` from [`Settings::score_metrics`].
    pub fn name(mut self, name: impl Into<String>) -> Settings {
        self.name = Some(name.into());
        self
    }

    /// Why this run exists.
    pub fn notes(mut self, notes: impl Into<String>) -> Settings {
        self.notes = Some(notes.into());
        self
    }

    /// Tags (at most 64 characters each).
    pub fn tags<T: Into<String>>(mut self, tags: impl IntoIterator<Item = T>) -> Settings {
        self.tags = Some(tags.into_iter().map(Into::into).collect());
        self
    }

    /// The group the run belongs to (e.g. one ablation).
    pub fn group(mut self, group: impl Into<String>) -> Settings {
        self.group = Some(group.into());
        self
    }

    /// The kind of job (`train`, `eval`, ...).
    pub fn job_type(mut self, job_type: impl Into<String>) -> Settings {
        self.job_type = Some(job_type.into());
        self
    }

    /// A run id of your own instead of a random 8-character one.
    pub fn run_id(mut self, id: impl Into<String>) -> Settings {
        self.run_id = Some(id.into());
        self
    }

    /// Offline (the default), disabled, or online.
    pub fn mode(mut self, mode: Mode) -> Settings {
        self.mode = Some(mode);
        self
    }

    /// The run config, from any `Serialize`: nested structs, enums, maps. A field serde
    /// cannot serialize is left out with a warning (in the run report); `init` still
    /// succeeds.
    pub fn config<T: Serialize + ?Sized>(mut self, config: &T) -> Settings {
        self.config = config::serialize(config);
        self
    }

    /// The config [`config::load`](crate::config::load) assembled: its resolved values are
    /// the run's config, its files are saved with the run (under `files/`), and the keys it
    /// could not resolve are recorded (`_wandb.labbook.config_unresolved`, shown by
    /// `labbook show`).
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # std::fs::write(dir.path().join("train.yaml"), "lr: 0.1\n")?;
    /// #[derive(serde::Serialize, serde::Deserialize, Default)]
    /// struct Train { lr: f64 }
    /// let cfg = labbook_core::config::load::<Train>(dir.path().join("train.yaml"), ["lr=0.2"])?;
    /// let run = labbook_core::init(
    ///     labbook_core::Settings::new("p").dir(dir.path()).quiet(true).config_loaded(&cfg),
    /// )?;
    /// assert_eq!(run.config_as::<Train>()?.lr, 0.2);
    /// run.finish()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn config_loaded<T>(mut self, loaded: &crate::config::Loaded<T>) -> Settings {
        self.config = config::serialize(&loaded.tree);
        self.config_sources.clone_from(&loaded.files);
        self.config_unresolved.clone_from(&loaded.unresolved);
        self
    }

    /// `a.b=value` overrides applied over the config (the value is JSON if it parses as
    /// JSON, else text). Sweep values still win over them.
    pub fn overrides<T: Into<String>>(
        mut self,
        overrides: impl IntoIterator<Item = T>,
    ) -> Settings {
        self.overrides.extend(overrides.into_iter().map(Into::into));
        self
    }

    /// Silences the start and finish banner (also `WANDB_SILENT=true`).
    pub fn quiet(mut self, quiet: bool) -> Settings {
        self.quiet = Some(quiet);
        self
    }

    /// Console capture mode (also `WANDB_CONSOLE`).
    pub fn console(mut self, console: Console) -> Settings {
        self.console = Some(console);
        self
    }

    /// Whether to skip reading the git commit and remote (also `WANDB_DISABLE_GIT`).
    pub fn disable_git(mut self, disable: bool) -> Settings {
        self.disable_git = Some(disable);
        self
    }

    /// What to do when the run cannot start or its writer fails.
    pub fn on_error(mut self, on_error: OnError) -> Settings {
        self.on_error = on_error;
        self
    }

    /// What `log` does when the queue is full, or a call's media find no encoder slot.
    pub fn backpressure(mut self, backpressure: Backpressure) -> Settings {
        self.backpressure = backpressure;
        self
    }

    /// The queue's bound in bytes (default 32 MiB).
    pub fn queue_bytes(mut self, bytes: usize) -> Settings {
        self.queue_bytes = bytes.max(1);
        self
    }

    /// Whether config values under secret-looking keys (`api_key`, `token`, `password`,
    /// ...) are written as `"<redacted>"` (default: yes).
    pub fn redact_secrets(mut self, redact: bool) -> Settings {
        self.redact_secrets = redact;
        self
    }

    /// Summary metrics that complete the run's name at `finish`: they replace
    /// [`SCORE_PLACEHOLDER`](Settings::SCORE_PLACEHOLDER), or are appended after a `_` to a
    /// name without one, e.g. `["val/hmean"]` turns `resnet_SCORE_PLACEHOLDER` (or `resnet`)
    /// into `resnet_hmean0.812`. Metrics that are missing or not finite are left out. The
    /// final name is also the summary's `final_run_name`. Without score metrics, names do
    /// not change (a placeholder is dropped).
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// use labbook_core::{Settings, Value};
    /// let run = labbook_core::init(
    ///     Settings::new("p").dir(dir.path()).quiet(true).name("resnet").score_metrics(["val/hmean"]),
    /// )?;
    /// run.log([("val/hmean", Value::from(0.8123))])?;
    /// assert_eq!(run.finish()?.name, "resnet_hmean0.812");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn score_metrics<T: Into<String>>(mut self, keys: impl IntoIterator<Item = T>) -> Settings {
        self.score_metrics = keys.into_iter().map(Into::into).collect();
        self
    }

    /// How many digits after the point a score in the name has (default 3).
    pub fn score_precision(mut self, digits: usize) -> Settings {
        self.score_precision = digits.min(17);
        self
    }

    /// The run's name made from its config: each `{dotted.key}` is that key's value once
    /// overrides and sweep parameters are applied (`{{` and `}}` are literal braces). A key
    /// the config lacks makes `init` fail with the closest key it has. [`Settings::name`]
    /// wins over a template; a template wins over `WANDB_NAME`.
    ///
    /// ```
    /// use labbook_core::{Mode, Settings};
    /// #[derive(serde::Serialize)]
    /// struct Model { arch: &'static str }
    /// #[derive(serde::Serialize)]
    /// struct Cfg { model: Model, lr: f64 }
    /// let run = labbook_core::init(
    ///     Settings::new("p")
    ///         .mode(Mode::Disabled)
    ///         .config(&Cfg { model: Model { arch: "resnet18" }, lr: 0.01 })
    ///         .overrides(["lr=0.001"])
    ///         .name_template("{model.arch}_lr{lr}_SCORE_PLACEHOLDER"),
    /// )?;
    /// assert_eq!(run.name(), "resnet18_lr0.001_SCORE_PLACEHOLDER");
    /// # Ok::<(), labbook_core::Error>(())
    /// ```
    pub fn name_template(mut self, template: impl Into<String>) -> Settings {
        self.name_template = Some(template.into());
        self
    }

    /// Whether the run saves `diff.patch`, the checkout's uncommitted changes (`git diff
    /// HEAD`, up to 10 MiB), as the official client does (default: yes; needs `git`).
    /// `disable_git` (or `WANDB_DISABLE_GIT`, the official client's switch) turns this off
    /// with the rest of the git state. Whether the checkout is dirty is recorded as
    /// `_wandb.labbook.git_dirty` either way.
    pub fn git_diff(mut self, save: bool) -> Settings {
        self.git_diff = Some(save);
        self
    }

    /// Whether the home directory in recorded paths and arguments (the program, the
    /// working directory, the config's files) is written `~` (default: yes, else
    /// `LABBOOK_PRIVATE_PATHS`). The official client records them as they are.
    pub fn private_paths(mut self, private: bool) -> Settings {
        self.private_paths = Some(private);
        self
    }

    /// Makes this run a trial of sweep `id` with the parameters in `param_file`.
    pub(crate) fn sweep_trial(mut self, id: &str, param_file: PathBuf) -> Settings {
        self.sweep_trial = Some((id.to_owned(), param_file));
        self
    }

    /// Whether SIGINT/SIGTERM finish the run (preempted, exit code 128+signal) before the
    /// process dies as it would have (default: yes). Turn off if your program handles these
    /// signals itself, and call `finish` from your handler.
    pub fn handle_signals(mut self, handle: bool) -> Settings {
        self.handle_signals = handle;
        self
    }

    /// How often the worker hands written records to the OS (default 1 s).
    pub fn flush_interval(mut self, every: Duration) -> Settings {
        self.flush_interval = every.max(Duration::from_millis(1));
        self
    }

    /// How long `finish` (and `flush`) wait for the worker (default 60 s).
    pub fn finish_timeout(mut self, timeout: Duration) -> Settings {
        self.finish_timeout = timeout;
        self
    }

    /// The W&B API key for online mode (else `WANDB_API_KEY`, else netrc for the base
    /// URL's host). It is never written to disk, the config or any message.
    ///
    /// ```
    /// let s = labbook_core::Settings::new("p").api_key("local-0123456789abcdefghijklmnopqrstuvwxyz0123");
    /// assert!(!format!("{s:?}").contains("0123456789"));
    /// ```
    pub fn api_key(mut self, key: impl Into<String>) -> Settings {
        self.api_key = Some(crate::online::Secret::new(key.into()));
        self
    }

    /// The W&B server for online mode (else `WANDB_BASE_URL`, else `https://api.wandb.ai`).
    pub fn base_url(mut self, url: impl Into<String>) -> Settings {
        self.base_url = Some(url.into());
        self
    }

    /// In a multi-process job (torchrun's `RANK`/`WORLD_SIZE`, or SLURM's), log only from
    /// rank 0: the other ranks get disabled runs. Else (the default, or
    /// `LABBOOK_RANK_ZERO_ONLY=false`) every rank logs its own run in a shared group.
    ///
    /// ```
    /// let s = labbook_core::Settings::new("ddp").rank_zero_only(true);
    /// # let _ = s;
    /// ```
    pub fn rank_zero_only(mut self, on: bool) -> Settings {
        self.rank_zero_only = Some(on);
        self
    }

    /// Continue an earlier run with the same id (`run_id` or `WANDB_RUN_ID`): its steps and
    /// runtime go on where they stopped (else `WANDB_RESUME`: allow, must, never; `auto`
    /// counts as allow). Offline, the earlier run is found under the same `wandb` directory;
    /// online, on the server too (then `init` waits for that one request).
    ///
    /// ```
    /// use labbook_core::{Resume, Settings};
    /// let s = Settings::new("p").run_id("abc12345").resume(Resume::Allow);
    /// # let _ = s;
    /// ```
    pub fn resume(mut self, resume: Resume) -> Settings {
        self.resume = Some(resume);
        self
    }

    /// How an online run retries failed requests (default: W&B's file_stream policy,
    /// [`RetryPolicy::file_stream`](crate::online::RetryPolicy::file_stream): 2-60 s apart
    /// for about a week, a server's `Retry-After` honoured).
    pub fn upload_retry(mut self, retry: crate::online::RetryPolicy) -> Settings {
        self.upload_retry = retry;
        self
    }

    /// The clock an online run's uploader waits by: retries, rate limits and the upload
    /// interval. Tests pass a [`ManualClock`](crate::online::ManualClock) to play hours of
    /// server outage in a second.
    ///
    /// ```
    /// let clock = labbook_core::online::ManualClock::new();
    /// let s = labbook_core::Settings::new("p").upload_clock(clock.clone());
    /// # let _ = s;
    /// ```
    pub fn upload_clock(mut self, clock: std::sync::Arc<dyn crate::online::Clock>) -> Settings {
        self.upload_clock = Some(clock);
        self
    }

    /// How often an online run sends what it has logged (default 5 s; the official client
    /// sends every 15 s).
    pub fn upload_interval(mut self, every: Duration) -> Settings {
        self.upload_interval = every;
        self
    }

    /// Resolves settings from these variables instead of the process environment (tests,
    /// or a launcher that passes its own environment).
    pub fn env_vars<K: Into<String>, V: Into<String>>(
        mut self,
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Settings {
        self.env_vars = Some(
            vars.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        );
        self
    }

    /// Where `.env.local` and `.env` are looked for (default: the working directory).
    pub fn dotenv_dir(mut self, dir: impl Into<PathBuf>) -> Settings {
        self.dotenv_dir = Some(dir.into());
        self
    }

    /// Whether a `labbook-sampler` thread records system metrics (CPU, memory, disk,
    /// network, process, NVIDIA GPUs) every [`Settings::stats_interval`]. Default on;
    /// `WANDB_X_DISABLE_STATS=true` (or `WANDB__DISABLE_STATS`) turns it off.
    ///
    /// ```
    /// let s = labbook_core::Settings::new("p").system_metrics(false);
    /// # let _ = s;
    /// ```
    pub fn system_metrics(mut self, on: bool) -> Settings {
        self.system_metrics = Some(on);
        self
    }

    /// How often system metrics are sampled (default 15 s as the official client, at
    /// least 100 ms). Also `WANDB_X_STATS_SAMPLING_INTERVAL` / `WANDB__STATS_SAMPLING_INTERVAL`
    /// in seconds.
    ///
    /// ```
    /// use std::time::Duration;
    /// let s = labbook_core::Settings::new("p").stats_interval(Duration::from_secs(5));
    /// # let _ = s;
    /// ```
    pub fn stats_interval(mut self, every: Duration) -> Settings {
        self.stats_interval = Some(every.max(MIN_STATS_INTERVAL));
        self
    }

    /// Reads GPU figures from `source` instead of NVML (tests, or another vendor). Each
    /// run started from these settings samples its own clone.
    pub fn gpu_source<G>(mut self, source: G) -> Settings
    where
        G: crate::system::GpuSource + Clone + Sync + 'static,
    {
        self.gpu_source = Some(crate::system::GpuFactory(std::sync::Arc::new(
            move || -> Box<dyn crate::system::GpuSource> { Box::new(source.clone()) },
        )));
        self
    }

    /// Records enabled cargo features of the program in the run metadata (the `labbook`
    /// facade does this for its own features).
    #[doc(hidden)]
    pub fn features<T: Into<String>>(mut self, features: impl IntoIterator<Item = T>) -> Settings {
        self.features.extend(features.into_iter().map(Into::into));
        self
    }
}

/// Settings after the builder, environment and defaults were combined.
#[derive(Clone, Debug)]
pub(crate) struct Resolved {
    pub resume: Option<Resume>,
    pub online: Option<OnlineSettings>,
    pub mode: Mode,
    pub root: PathBuf,
    /// What the worker writes about the run (identity, config, scrubbing) and how often.
    pub writer: WriterSettings,
    /// What the sampler and the console capture are asked to do.
    pub system: SystemSettings,
    pub quiet: bool,
    pub config_warnings: Vec<String>,
    pub redact_secrets: bool,
    pub on_error: OnError,
    pub backpressure: Backpressure,
    pub queue_bytes: usize,
    pub handle_signals: bool,
    pub finish_timeout: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_env(vars: &[(&str, &str)]) -> Settings {
        let dir = tempfile::tempdir().unwrap().keep();
        Settings::default()
            .env_vars(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())))
            .dotenv_dir(dir)
    }

    #[test]
    fn wandb_variables_fill_what_the_builder_left_open() {
        let s = with_env(&[
            ("WANDB_PROJECT", "envproj"),
            ("WANDB_ENTITY", "team"),
            ("WANDB_RUN_ID", "abc123"),
            ("WANDB_NAME", "envname"),
            ("WANDB_NOTES", "n"),
            ("WANDB_TAGS", "a, b,,c"),
            ("WANDB_RUN_GROUP", "g"),
            ("WANDB_JOB_TYPE", "eval"),
            ("WANDB_SILENT", "true"),
            ("WANDB_DISABLE_GIT", "1"),
            ("WANDB_DIR", "/tmp/somewhere"),
            ("WANDB_SWEEP_ID", "sw1"),
        ]);
        let r = s.clone().name("builder").resolve().unwrap();
        assert_eq!(r.writer.project, "envproj");
        assert_eq!(r.writer.entity, "team");
        assert_eq!(r.writer.run_id, "abc123");
        assert_eq!(r.writer.name, "builder");
        assert_eq!(r.writer.tags, vec!["a", "b", "c"]);
        assert_eq!(
            (
                r.writer.group.as_str(),
                r.writer.job_type.as_str(),
                r.writer.notes.as_str()
            ),
            ("g", "eval", "n")
        );
        assert!(r.quiet && r.writer.disable_git);
        assert_eq!(r.root, PathBuf::from("/tmp/somewhere"));
        assert_eq!(r.writer.sweep_id, "sw1");
        assert_eq!(r.mode, Mode::Offline);
    }

    /// Built without `online`, asking for online mode (here through `WANDB_MODE`) is an
    /// error that names the feature, when the run starts rather than when it uploads.
    #[test]
    #[cfg(not(feature = "online"))]
    fn online_mode_without_the_online_feature_is_an_error_naming_it() {
        let err = with_env(&[("WANDB_MODE", "online")]).resolve().unwrap_err();
        assert!(
            matches!(
                err,
                crate::Error::NotBuiltWith {
                    feature: "online",
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("`online` cargo feature"), "{err}");
        let offline = with_env(&[("WANDB_MODE", "offline")]).resolve().unwrap();
        assert!(offline.online.is_none());
    }

    #[test]
    #[cfg(feature = "online")]
    fn online_settings_come_from_the_environment_and_never_show_the_key() {
        let key = "0123456789abcdefghijklmnopqrstuvwxyz0123";
        let env = [
            ("WANDB_MODE", "online"),
            ("WANDB_API_KEY", key),
            ("WANDB_BASE_URL", "http://127.0.0.1:9"),
            ("WANDB_HTTP_TIMEOUT", "2.5"),
        ];
        let r = with_env(&env).resolve().unwrap();
        let o = r.online.as_ref().unwrap();
        assert_eq!(o.base_url, "http://127.0.0.1:9");
        assert_eq!(o.retry.timeout, Duration::from_millis(2500));
        // What init and use_artifact wait on gives up within about a minute.
        let interactive = o.interactive_retry();
        assert_eq!(interactive.max_retries, 5);
        assert_eq!(interactive.wait_max, Duration::from_secs(30));
        assert_eq!(interactive.timeout, Duration::from_millis(2500));
        assert_eq!(o.retry.max_retries, 10085, "uploads retry for days");
        assert!(!format!("{r:?}").contains(key), "the key leaked into Debug");
        let bad = [
            ("WANDB_MODE", "online"),
            ("WANDB_API_KEY", key),
            ("WANDB_HTTP_TIMEOUT", "soon"),
        ];
        assert!(
            with_env(&bad)
                .resolve()
                .unwrap_err()
                .to_string()
                .contains("WANDB_HTTP_TIMEOUT")
        );
    }

    #[test]
    fn numeric_variables_out_of_range_are_errors_naming_the_variable() {
        // `1e20` panicked in `init` before (Duration overflow).
        let key = "0123456789abcdefghijklmnopqrstuvwxyz0123";
        for (var, v) in [
            ("WANDB_HTTP_TIMEOUT", "1e20"),
            ("WANDB_HTTP_TIMEOUT", "inf"),
            ("WANDB_HTTP_TIMEOUT", "NaN"),
            ("WANDB_HTTP_TIMEOUT", "-1"),
            ("WANDB_HTTP_TIMEOUT", "0"),
            ("WANDB_X_STATS_SAMPLING_INTERVAL", "1e20"),
            ("WANDB__STATS_SAMPLING_INTERVAL", "1e308"),
            ("WANDB_X_STATS_SAMPLING_INTERVAL", "nan"),
            ("WANDB_X_STATS_SAMPLING_INTERVAL", "86401"),
        ] {
            // The HTTP timeout is read for online runs only (and checked before the `online`
            // feature is); the sampling interval for every run.
            let mode = if var == "WANDB_HTTP_TIMEOUT" {
                "online"
            } else {
                "offline"
            };
            let env = [
                ("WANDB_MODE", mode),
                ("WANDB_API_KEY", key),
                ("WANDB_BASE_URL", "http://127.0.0.1:9"),
                (var, v),
            ];
            let e = with_env(&env).resolve().unwrap_err().to_string();
            assert!(e.contains(var) && e.contains(v), "{var}={v}: {e}");
        }
        let env = [("WANDB_X_STATS_SAMPLING_INTERVAL", "86400")];
        assert_eq!(
            with_env(&env).resolve().unwrap().system.interval,
            Duration::from_secs(86_400)
        );
    }

    #[test]
    fn modes_parse_as_wandb_spells_them() {
        for (v, m) in [
            ("offline", Mode::Offline),
            ("dryrun", Mode::Offline),
            ("disabled", Mode::Disabled),
            ("online", Mode::Online),
            ("run", Mode::Online),
        ] {
            let key = "0123456789abcdefghijklmnopqrstuvwxyz0123";
            let env = [("WANDB_MODE", v), ("WANDB_API_KEY", key)];
            match with_env(&env).resolve() {
                // Built without `online`, an online spelling is understood and refused.
                Err(crate::Error::NotBuiltWith {
                    feature: "online", ..
                }) if !cfg!(feature = "online") && m == Mode::Online => {}
                r => assert_eq!(r.unwrap().mode, m, "{v}"),
            }
        }
        assert_eq!(
            with_env(&[("WANDB_DISABLED", "true"), ("WANDB_MODE", "offline")])
                .resolve()
                .unwrap()
                .mode,
            Mode::Disabled
        );
        let e = with_env(&[("WANDB_MODE", "sometimes")])
            .resolve()
            .unwrap_err();
        assert!(e.to_string().contains("WANDB_MODE"), "{e}");
        let e = with_env(&[("WANDB_DISABLED", "maybe")])
            .resolve()
            .unwrap_err();
        assert!(e.to_string().contains("WANDB_DISABLED"), "{e}");
        assert_eq!(with_env(&[]).resolve().unwrap().mode, Mode::Offline);
    }

    #[test]
    fn dotenv_files_fill_in_but_the_real_environment_wins() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(".env"),
            "WANDB_PROJECT=fromdotenv\nWANDB_NOTES=dotenv\nWANDB_JOB_TYPE=dotenv\n",
        )
        .unwrap();
        std::fs::write(dir.path().join(".env.local"), "WANDB_NOTES=local\n").unwrap();
        let r = Settings::default()
            .env_vars([("WANDB_JOB_TYPE", "real")])
            .dotenv_dir(dir.path())
            .resolve()
            .unwrap();
        assert_eq!(
            (
                r.writer.project.as_str(),
                r.writer.notes.as_str(),
                r.writer.job_type.as_str()
            ),
            ("fromdotenv", "local", "real")
        );
    }

    #[test]
    fn the_settings_file_written_by_wandb_offline_is_read() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("wandb")).unwrap();
        std::fs::write(
            root.path().join("wandb/settings"),
            "[default]\nmode = disabled\nproject = fromfile\n",
        )
        .unwrap();
        let cfg = tempfile::tempdir().unwrap();
        let s = Settings::default()
            .env_vars([("WANDB_CONFIG_DIR", cfg.path().to_str().unwrap())])
            .dotenv_dir(cfg.path())
            .dir(root.path());
        assert_eq!(s.resolve().unwrap().mode, Mode::Disabled);
        assert_eq!(s.resolve().unwrap().writer.project, "fromfile");
    }

    #[test]
    fn bad_run_ids_and_tags_are_refused_with_the_reason() {
        let e = with_env(&[("WANDB_RUN_ID", "a/b")]).resolve().unwrap_err();
        assert!(e.to_string().contains("must not contain"), "{e}");
        let e = with_env(&[]).tags(["x".repeat(65)]).resolve().unwrap_err();
        assert!(e.to_string().contains("64 characters"), "{e}");
        let id = crate::store::random_run_id();
        assert_eq!(id.len(), 8);
        assert!(
            id.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        );
    }

    #[test]
    fn sweep_parameters_win_over_builder_config_and_overrides() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config-abc.yaml");
        std::fs::write(
            &p,
            "wandb_version: 1\nlr:\n  value: 0.05\nlayers:\n  value: [8, 16]\n",
        )
        .unwrap();
        let r = with_env(&[("WANDB_SWEEP_PARAM_PATH", p.to_str().unwrap())])
            .config(&serde_json::json!({"lr": 0.1, "batch": 32, "api_key": "k"}))
            .overrides(["lr=0.2", "batch=64"])
            .resolve()
            .unwrap();
        assert_eq!(
            crate::value::Value::Map(r.writer.config).to_serde_json(),
            serde_json::json!({"lr": 0.05, "batch": 64, "api_key": "<redacted>", "layers": [8, 16]})
        );
        let e = with_env(&[("WANDB_SWEEP_PARAM_PATH", "/nonexistent/x.yaml")])
            .resolve()
            .unwrap_err();
        assert!(e.to_string().contains("sweep parameter file"), "{e}");
    }

    #[test]
    fn a_malformed_override_names_itself() {
        let e = with_env(&[]).overrides(["nonsense"]).resolve().unwrap_err();
        assert!(e.to_string().contains("nonsense"), "{e}");
    }
}
