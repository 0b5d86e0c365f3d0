//! Candle adapter for labbook: tracking for hand-written candle training loops, written in
//! W&B's own offline format.
//!
//! Candle has no training-loop framework, so this crate gives a loop the few calls it needs:
//!
//! - [`Tracker`]: one call per training step ([`Tracker::step`]: loss, learning rate from the
//!   `Optimizer`, step time, samples/s, epoch, global step) and one per validation pass
//!   ([`Tracker::validate`]: every batch scored from the model's real outputs, the
//!   problematic ones logged with their images through labbook's
//!   [`EvalHook`](labbook_core::train::EvalHook), the epoch's validation metrics).
//! - [`Watch`]: parameter and gradient histograms and norms of a `VarMap` every N steps,
//!   like `wandb.watch`; a counter increment otherwise.
//! - [`scalar`], [`histogram`], [`image`] and [`images`]: tensors to labbook values, with
//!   errors that name the shape or dtype at fault.
//! - [`save_checkpoint`]: a `VarMap` saved as safetensors and recorded in the run.
//!
//! ```no_run
//! # fn docs() -> Result<(), Box<dyn std::error::Error>> {
//! use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarMap};
//! let run = labbook_core::init(labbook_core::Settings::new("my-project"))?;
//! let varmap = VarMap::new();
//! let mut opt = AdamW::new(varmap.all_vars(), ParamsAdamW::default())?;
//! let mut track = labbook_candle::Tracker::new(&run)?.watch(&varmap, 100);
//! # let loss = candle_core::Tensor::new(0.5f32, &candle_core::Device::Cpu)?;
//! // in the loop, after `let grads = loss.backward()?`:
//! # let grads = loss.backward()?;
//! track.watch_grads(&grads)?;
//! opt.step(&grads)?;
//! track.step(&loss, &opt, 64)?;
//! # Ok(()) }
//! ```
//!
//! # Devices
//!
//! Every helper works on tensors of any device and copies to the host only what it logs
//! (`images` narrows a batch on the device first; a watch step copies the variables it
//! histograms). The `cuda` feature turns on candle's CUDA backend (it needs the CUDA
//! toolkit); without it, candle runs on the CPU.
//!
//! *Requires Rust 1.95 or newer and candle 0.11.*

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
pub use media::{Candle, histogram, image, images, scalar, video};
pub use tracker::{EvalBatch, Tracker};
pub use watch::Watch;

/// The candle crates this adapter is built against (candle 0.11), re-exported so a user can
/// name the same versions of their types.
pub use candle_core;
/// See [`candle_core`].
pub use candle_nn;
