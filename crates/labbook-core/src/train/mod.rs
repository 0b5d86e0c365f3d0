//! What the framework adapters (labbook-burn, labbook-candle, labbook-tch) share: the
//! framework-free halves of a training loop's tracking ([`LoopTracker`]), of per-batch
//! evaluation hooks ([`EvalHook`]) and of `wandb.watch` ([`WatchStats`]), so every adapter
//! logs the same keys; a loop's checkpoints as versions of a model artifact
//! ([`ModelCheckpoints`]); and tensors to values ([`TensorBackend`] and the helpers over it:
//! [`scalar`], [`histogram`], [`image()`], [`images`]), so every adapter checks shapes and
//! element types alike.

mod batch;
mod checkpoints;
mod eval;
mod loop_tracker;
mod tensor;
mod watch;

pub use batch::EvalBatch;
pub use checkpoints::ModelCheckpoints;
pub use eval::{ClassScores, EpochFindings, EvalHook, EvalMode, EvalSettings, Worse};
pub use loop_tracker::{LoopTracker, Validation, ValidationPass};
pub use tensor::{
    Element, TensorBackend, TensorError, class_indices, f32_values, histogram, image, images,
    scalar, scalar_f64, video,
};
pub use watch::{Watch, WatchBackend, WatchCadence, WatchStats};
