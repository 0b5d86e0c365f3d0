//! tch (libtorch) adapter for labbook: tracking for hand-written tch training loops, written
//! in W&B's own offline format.
//!
//! - [`Tracker`]: one call per training step ([`Tracker::step`]: loss, learning rate, step
//!   time, samples/s, epoch, global step) and one per validation pass
//!   ([`Tracker::validate`]: every batch scored from the model's real outputs, the
//!   problematic ones logged with their images, the epoch's validation metrics).
//! - [`Watch`]: parameter and gradient histograms and norms of a `VarStore` every N steps,
//!   like `wandb.watch`; a counter increment otherwise.
//! - [`scalar`], [`histogram`], [`image`] and [`images`]: tensors to labbook values, with
//!   errors that name the shape or kind at fault.
//! - [`save_checkpoint`]: a `VarStore` saved and recorded in the run.
//!
//! The keys are the same as labbook-candle's: both wrap [`labbook_core::train::LoopTracker`].
//!
//! ```no_run
//! # fn docs() -> Result<(), Box<dyn std::error::Error>> {
//! use tch::nn::{self, OptimizerConfig};
//! let run = labbook_core::init(labbook_core::Settings::new("my-project"))?;
//! let vs = nn::VarStore::new(tch::Device::Cpu);
//! let mut opt = nn::Adam::default().build(&vs, 1e-3)?;
//! let mut track = labbook_tch::Tracker::new(&run)?.watch(&vs, 100);
//! # let loss = tch::Tensor::from(0.5f32);
//! opt.backward_step(&loss);
//! track.watch_step()?;
//! track.step(&loss, 1e-3, 64)?;
//! # Ok(()) }
//! ```
//!
//! # Versions and devices
//!
//! Works with tch 0.22 (PyTorch 2.9) through 0.26 (PyTorch 2.13); libtorch is found the way
//! tch finds it (`LIBTORCH`, or `LIBTORCH_USE_PYTORCH=1` with a Python torch). Helpers
//! work on tensors of any device and copy to the host only what they log. The `cuda-tests`
//! feature runs the tests that put tensors on `Device::Cuda(0)`.
//!
//! *Requires Rust 1.95 or newer.*

#![warn(missing_docs)]

mod checkpoint;
mod error;
mod media;
mod tracker;
mod watch;

pub use checkpoint::save_checkpoint;
pub use error::{Error, Result};
pub use labbook_core::media::Layout;
pub use labbook_core::train::Validation;
pub use media::{Tch, histogram, image, images, scalar, video};
pub use tracker::{EvalBatch, Tracker};
pub use watch::Watch;

/// The tch crate this adapter is built with, re-exported so a user can name the same
/// versions of its types.
pub use tch;
