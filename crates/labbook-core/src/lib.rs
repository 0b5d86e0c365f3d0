//! The tracking engine of labbook: experiment tracking for Rust ML, written in W&B's own
//! offline format.
//!
//! # Overview
//!
//! [`init`] starts a [`Run`] from [`Settings`]. The run writes
//! `<dir>/wandb/offline-run-YYYYMMDD_HHMMSS-<id>/run-<id>.wandb`, a transaction log in the
//! format of the official W&B client, so `wandb sync <run dir>` uploads it unchanged.
//!
//! [`Run::log`] costs a few hundred nanoseconds to a couple of microseconds (README: "What it
//! costs"): it moves the values into a queue bounded in bytes, and a worker thread encodes
//! and writes them. When the worker falls a whole queue
//! behind, `log` waits (nothing is lost) and the wait is counted in the [`RunReport`].
//!
//! ```
//! use labbook_core::{Metric, Settings, Summary, Value};
//! # let dir = tempfile::tempdir()?;
//! let run = labbook_core::init(Settings::new("quickstart").dir(dir.path()).quiet(true))?;
//! run.define_metric(Metric::new("val/loss").summary(Summary::Min))?;
//! for step in 0..10 {
//!     let loss = 1.0 / (step + 1) as f64;
//!     labbook_core::log!(run, "train/loss" => loss, "lr" => 0.01)?;
//! }
//! run.set_summary("best/epoch", 3)?;
//! let report = run.finish()?;
//! assert_eq!(report.rows, 10);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Modes
//!
//! Offline is the default. `WANDB_MODE=disabled` (or [`Mode::Disabled`]) gives a run that
//! costs nearly nothing. `WANDB_MODE=online` (or [`Mode::Online`]) writes the same local
//! log and streams it to a W&B server (`WANDB_BASE_URL`, key from `WANDB_API_KEY` or netrc)
//! from an uploader thread: `init` and `log` never wait for the network, and a run whose
//! upload could not finish is completed later by `labbook sync` (see [`online`]).
//!
//! *Requires Rust 1.95 or newer; Linux is the supported platform.*

#![warn(missing_docs)]

mod artifact;
mod artifact_link;
mod artifact_record;
mod artifact_use;
mod banner;
mod config;
mod distributed;
mod environment;
mod error;
mod eval;
mod git;
mod history;
mod key;
mod lifecycle;
mod macros;
mod media;
mod metric;
mod model_checkpoints;
pub mod online;
mod report;
mod resume;
mod run;
mod secrets;
mod settings;
mod store;
mod summary;
pub mod sweep;
mod system;
#[cfg(test)]
mod testing;
mod train_loop;
pub mod wandb_json;
mod watch_stats;
pub mod wire;
mod worker;

use std::sync::Arc;
use std::time::Instant;

pub use artifact::Artifact;
pub use artifact_use::UsedArtifact;
pub use distributed::Rank;
pub use error::{Error, Result};
pub use eval::{ClassScores, EpochFindings, EvalHook, EvalMode, EvalSettings, Worse};
pub use key::{Key, MAX_KEY_BYTES};
pub use media::{
    Audio, BatchPixels, BoundingBox, Boxes, Histogram, Html, Image, Layout, Mask, Media, Table,
    Video, plot,
};
pub use metric::{Goal, Metric, Summary};
pub use model_checkpoints::ModelCheckpoints;
pub use report::RunReport;
pub use run::{AlertLevel, Run};
pub use secrets::{REDACTED, is_secret_name};
pub use settings::{Backpressure, Console, Mode, OnError, Resume, SCORE_PLACEHOLDER, Settings};
pub use store::run_is_live;
pub use system::{GpuInfo, GpuSample, GpuSource, NvmlSource, RunLayer, tracing_layer};
pub use train_loop::{LoopTracker, Validation, ValidationPass};
pub use value::Value;
pub use watch_stats::{WatchCadence, WatchStats};
pub use worker::SavePolicy;

mod value;

/// Starts a run.
///
/// Returns within milliseconds: the run directory and its log are created here (so an
/// unwritable directory is an error now, not later), and everything slower (git, the
/// environment record, `Cargo.lock`) happens on the worker, which still writes the run
/// record first.
///
/// With [`OnError::Degrade`], a failure to start gives a disabled run and one warning.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// let run = labbook_core::init(labbook_core::Settings::new("my-project").dir(dir.path()).quiet(true))?;
/// # run.finish()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn init(settings: Settings) -> Result<Run> {
    let degrade = settings.on_error == OnError::Degrade;
    match start(settings) {
        Err(e) if degrade => {
            tracing::warn!(target: "labbook", "labbook could not start the run ({e}); logging is disabled for this run");
            Ok(Run::disabled())
        }
        other => other,
    }
}

fn start(settings: Settings) -> Result<Run> {
    let s = settings.resolve()?;
    match s.mode {
        Mode::Disabled => return Ok(Run::disabled_with(s.config, s.run_id)),
        Mode::Online | Mode::Offline => {}
    }
    let started = Instant::now();
    let now = chrono::Local::now();
    let started_unix = now.timestamp_micros() as f64 / 1e6;
    let resume_from = match s.resume {
        None => None,
        Some(policy) => {
            let mut found = resume::local(&s.root, &s.run_id)?;
            if found.is_none()
                && let Some(o) = &s.online
            {
                found = online::remote_resume(o, &s.entity, &s.project, &s.run_id)?;
            }
            resume::decide(policy, found, &s.run_id)?
        }
    };
    let (dir, file, lock) = store::RunDir::create(&s.root, &s.run_id, now, s.online.is_some())?;
    // Held by the run, the worker and the uploader: released when the last of them ends, so
    // a finish that timed out does not let `labbook sync` take a run still being written.
    let lock = Arc::new(lock);
    let online = match &s.online {
        Some(o) => Some(online::Live::start(
            o,
            dir.log.clone(),
            dir.files.clone(),
            lock.clone(),
        )?),
        None => None,
    };
    for w in &s.config_warnings {
        tracing::warn!(target: "labbook", "{w}");
    }
    let shared = Arc::new(worker::Shared::new(s.queue_bytes));
    let parts_dir = dir.clone();
    let sink = system::Sink::new(&shared);
    let system = system::System::start(&s, sink.clone(), dir.files.clone());
    let start_step = resume_from.as_ref().map_or(0, |r| r.step);
    let resumed = resume_from.is_some();
    let start = worker::Start {
        settings: s.clone(),
        dir,
        file,
        started,
        started_unix,
        system: Some(system),
        resume: resume_from,
        now: Arc::new(Instant::now),
        lock: Some(lock.clone()),
    };
    let worker_shared = shared.clone();
    let handle = std::thread::Builder::new()
        .name("labbook-worker".into())
        .spawn(move || worker::run(start, worker_shared))
        .map_err(Error::io(
            "could not start the worker thread for",
            parts_dir.dir.clone(),
        ))?;
    if !s.quiet {
        let server = s.online.as_ref().map(|o| o.base_url.as_str());
        banner::started(&s.run_id, &s.name, &parts_dir.dir, server);
    }
    if s.handle_signals {
        lifecycle::handle_signals();
    }
    let wandb_dir = parts_dir
        .dir
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    Ok(Run::active(run::ActiveParts {
        id: s.run_id,
        dir: parts_dir.dir,
        files_dir: parts_dir.files,
        name: s.name,
        shared,
        config: s.config,
        redact_secrets: s.redact_secrets,
        scrubber: s.scrubber,
        warnings: s.config_warnings,
        worker: handle,
        on_error: s.on_error,
        backpressure: s.backpressure,
        finish_timeout: s.finish_timeout,
        quiet: s.quiet,
        started,
        sink,
        online,
        start_step,
        lock,
        artifacts: artifact_use::Sources {
            wandb_dir,
            download_dir: s.root.join("artifacts"),
            entity: s.entity,
            project: s.project,
            online: s.online,
            resumed,
        },
    }))
}
