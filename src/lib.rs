//! labbook: experiment tracking for Rust ML, compatible with Weights & Biases.
//!
//! Every run is written locally first, in W&B's own transaction-log format, so the official
//! `wandb sync` uploads it unchanged. Logging a row costs the training thread a few hundred
//! nanoseconds to a couple of microseconds, and never waits for disk or network.
//!
//! ```
//! use labbook::{Settings, Value};
//! # let dir = tempfile::tempdir()?;
//! let run = labbook::init(Settings::new("my-project").dir(dir.path()).quiet(true))?;
//! run.log([("train/loss", 0.41.into()), ("train/acc", Value::from(0.87))])?;
//! labbook::log!(run, "val/loss" => 0.5)?;
//! let report = run.finish()?;
//! println!("wrote {} rows to {}", report.rows, report.dir().display());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Crate features
//!
//! On by default: `online` (streaming to a W&B server, `use_artifact` and `resume` from one;
//! without it, asking for online mode is [`Error::NotBuiltWith`]) and `system` (CPU,
//! memory, disk, network and NVIDIA GPU metrics; without it a run records none).
//!
//! `burn` re-exports the Burn adapter ([labbook-burn]) as `labbook::burn`: a `MetricLogger`,
//! an evaluation metric for the validation loop, parameter/gradient watch, checkpoint
//! recording and tensor -> media. `candle` re-exports the Candle adapter ([labbook-candle])
//! as `labbook::candle`: a `Tracker` for hand-written loops (step metrics, validation with
//! the evaluation hook), `Watch` for a `VarMap`, tensor -> media and recorded safetensors
//! checkpoints. `tch` re-exports the tch adapter ([labbook-tch]) as `labbook::tch`, the same
//! for tch-rs and a `VarStore` (it needs libtorch, found the way tch finds it).
//!
//! [labbook-burn]: https://docs.rs/labbook-burn
//! [labbook-candle]: https://docs.rs/labbook-candle
//! [labbook-tch]: https://docs.rs/labbook-tch

#![warn(missing_docs)]

pub use labbook_core::*;

/// The Burn adapter (feature `burn`): see the labbook-burn crate.
#[cfg(feature = "burn")]
pub use labbook_burn as burn;

/// The Candle adapter (feature `candle`): see the labbook-candle crate.
#[cfg(feature = "candle")]
pub use labbook_candle as candle;

/// The tch adapter (feature `tch`): see the labbook-tch crate.
#[cfg(feature = "tch")]
pub use labbook_tch as tch;

/// The labbook features this program was built with, recorded in every run.
const FEATURES: &[&str] = &[
    #[cfg(feature = "burn")]
    "burn",
    #[cfg(feature = "candle")]
    "candle",
    #[cfg(feature = "tch")]
    "tch",
];

/// Starts a run; see [`labbook_core::init`]. Records the enabled labbook features.
pub fn init(settings: Settings) -> Result<Run> {
    labbook_core::init(settings.features(FEATURES.iter().copied()))
}

// The README's Rust blocks are doc tests (compiled, not run: they write runs), so the README
// cannot drift from the API. The framework sections compile with their feature on
// (scripts/test.sh runs the doc tests with every feature).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
