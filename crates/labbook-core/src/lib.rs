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
// A function over 80 lines (clippy.toml) is a conductor that knows too much; an exception
// says why with `#[expect(clippy::too_many_lines, reason = "...")]`.
#![warn(clippy::too_many_lines)]
// A build without `online` or `system` leaves what only they use (the uploader's settings,
// the sampler's messages) unread; the full build is the one checked for dead code.
#![cfg_attr(not(all(feature = "online", feature = "system")), allow(dead_code))]

// The parts, each a folder with a map at the top of its `mod.rs`:
//
// - `run`: the handle a training loop logs through; start, finish, panics and signals;
// - `settings`: what a run is told (builder, `WANDB_*` variables, settings files, rank);
// - `value`: values, keys, config capture, secrets kept out;
// - `engine`: the queue, the worker thread and what it writes (history, summary, metrics,
//   the run directory, the environment record);
// - `media`: images, boxes, masks, histograms, tables, plots, video, audio, HTML, and the
//   encoder threads;
// - `artifact`: artifacts, their staging, records, links, use, and model checkpoints;
// - `train`: what the framework adapters share (loop tracking, evaluation hooks, watch);
// - `system`: the system-metrics sampler, GPUs, console capture, the tracing layer;
// - `online`: the uploader (live and `labbook sync`), the W&B client, resume from a server;
// - `sweep`: sweep configs and the local search.
// - `api`: reading runs back, from a directory of logs or a W&B-protocol server.
//
// W&B's transaction-log format (records, framing, readers, W&B's JSON dialect, the replay
// of a run's log) is the `labbook-wire` crate, known inside as `crate::wire`.
//
// `tests/architecture.rs` fails on any circle of imports between them (but `value` and
// `media`, one recursive data type).
//
// The root holds what a training loop uses; `media`, `artifact`, `train`, `system`, `online`,
// `sweep` and `api` are public modules with their own maps.

pub mod api;
pub mod artifact;
pub mod config;
mod engine;
mod error;
pub mod media;
pub mod notify;
pub mod online;
mod report;
mod run;
mod settings;
mod store;
pub mod sweep;
pub mod system;
#[cfg(test)]
mod testing;
pub mod train;
mod value;
use labbook_wire as wire;

pub use engine::metric::{Goal, Metric, Summary};
pub use engine::queue::SavePolicy;
pub use error::{Error, Result};
pub use report::RunReport;
pub use run::{AlertLevel, Run};
pub use settings::{
    Backpressure, Console, Explained, KeyInfo, Mode, OnError, Rank, Resume, Settings, Sourced,
};
pub use value::{Key, Value};

/// Whether the process that writes the run directory `run_dir` is still running (it holds
/// the directory's lock). For labbook's own CLI until the read API owns it; not a promise.
#[doc(hidden)]
pub use store::run_is_live;

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
    match run::start(settings) {
        Err(e) if degrade => {
            tracing::warn!(target: "labbook", "labbook could not start the run ({e}); logging is disabled for this run");
            Ok(Run::disabled())
        }
        other => other,
    }
}
