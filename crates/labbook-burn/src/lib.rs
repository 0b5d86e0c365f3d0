//! Burn adapter for labbook: burn's metric updates, validation batches, parameters and
//! checkpoints become a labbook run, written in W&B's own offline format.
//!
//! # Overview
//!
//! - [`RunLogger`] implements burn's [`MetricLogger`](burn::train::logger::MetricLogger): register
//!   it with `SupervisedTraining::with_metric_logger`. Per-iteration values land under
//!   `train/<metric>` and `valid/<metric>`, epoch values under `epoch/<split>/<metric>` with
//!   `epoch` as their x-axis, and burn's best-checkpoint and early-stopping strategies read
//!   the numeric history back from it ([`read_numeric`](RunLogger#method.read_numeric)).
//! - [`EvalMetric`] is a burn `Metric` for `metric_valid`: it sees each validation batch and
//!   logs the problematic ones, with their images, through labbook's
//!   [`EvalHook`](labbook_core::train::EvalHook).
//! - [`Watch`] is called from your `TrainStep::step`: parameter and gradient histograms and
//!   norms every N steps (like `wandb.watch`), an atomic increment otherwise.
//! - [`RecordedCheckpointer`] records each checkpoint burn saves (file and epoch) in the run.
//! - [`images`], [`image`] and [`histogram`] turn tensors into labbook media;
//!   [`config_as`] reads a burn `Config` back from the run, sweep values merged.
//!
//! ```no_run
//! # fn docs() -> Result<(), Box<dyn std::error::Error>> {
//! use labbook_burn::RunLogger;
//! let run = labbook_core::init(labbook_core::Settings::new("my-project"))?;
//! let logger = RunLogger::new(&run)?;
//! // SupervisedTraining::new(dir, train, valid)
//! //     .with_metric_logger(logger)
//! //     .metric_train_numeric(LossMetric::new())
//! //     .metric_valid_numeric(LossMetric::new())
//! //     .launch(learner);
//! # let _ = logger; Ok(()) }
//! ```
//!
//! # Burn features and system metrics
//!
//! This crate depends on burn 0.22 with `default-features = false` and only `std` and
//! `train`. Cargo unifies features: if your own `burn` dependency keeps its defaults, burn's
//! `tui` renderer and `sys-metrics` (`metrics` in the `burn` crate) come back, and that is
//! fine. The two kinds of system metrics are independent: labbook's sampler thread records
//! CPU, memory, disk, network and NVIDIA GPUs under W&B's `system/…` keys (the System
//! panels); burn's `CpuUse`/`CudaMetric`-style metrics, if you register them, are ordinary
//! burn metrics and arrive through the logger as `train/<metric>`. Registering both costs
//! two samplers; labbook's alone is enough for the W&B dashboard.
//!
//! *Requires Rust 1.95 or newer and burn 0.22.*

#![warn(missing_docs)]

mod checkpoint;
mod config;
mod error;
mod eval;
mod logger;
mod media;
mod watch;

pub use checkpoint::RecordedCheckpointer;
pub use config::{config_as, settings_with_config};
pub use error::{Error, Result};
pub use eval::{EvalBatch, EvalImages, EvalMetric};
pub use labbook_core::media::Layout;
pub use logger::{EpochScores, RunLogger, metric_key};
pub use media::{histogram, image, images, images_u8, video};
pub use watch::Watch;

/// The burn crate this adapter is built against (burn 0.22), re-exported so a user can
/// name the same versions of its types.
pub use burn;
