//! What the framework adapters (labbook-burn, labbook-candle, labbook-tch) share: the
//! framework-free halves of a training loop's tracking ([`LoopTracker`]), of per-batch
//! evaluation hooks ([`EvalHook`]) and of `wandb.watch` ([`WatchStats`]), so every adapter
//! logs the same keys; and a loop's checkpoints as versions of a model artifact
//! ([`ModelCheckpoints`]).

mod checkpoints;
mod eval;
mod loop_tracker;
mod watch;

pub use checkpoints::ModelCheckpoints;
pub use eval::{ClassScores, EpochFindings, EvalHook, EvalMode, EvalSettings, Worse};
pub use loop_tracker::{LoopTracker, Validation, ValidationPass};
pub use watch::{WatchCadence, WatchStats};
