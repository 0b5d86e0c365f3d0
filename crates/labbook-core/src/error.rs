//! The one error type of the engine.

use std::path::PathBuf;
use std::time::Duration;

use crate::report::RunReport;

/// Everything that can go wrong in labbook-core.
///
/// Each variant names the key, value, step or file at fault, so a long training job can
/// match on it, warn and go on.
///
/// ```
/// # use labbook_core::{Error, Settings, Value};
/// # let run = labbook_core::init(Settings::new("p").mode(labbook_core::Mode::Disabled))?;
/// match run.log_at(3, [("loss", Value::from(0.5))]) {
///     Err(Error::StepBackwards { step, current }) => eprintln!("skipped step {step} < {current}"),
///     other => other?,
/// }
/// # Ok::<(), labbook_core::Error>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `log_at` was given a step lower than the run's current step. Nothing was logged.
    #[error(
        "step {step} is lower than the current step {current}: steps must not go backwards, so these values were not logged"
    )]
    StepBackwards {
        /// The step that was asked for.
        step: u64,
        /// The run's current step.
        current: u64,
    },
    /// A step above `i64::MAX` (W&B stores steps as signed 64-bit integers). Nothing was
    /// logged.
    #[error(
        "step {step} is above the largest step W&B stores ({}); these values were not logged",
        i64::MAX
    )]
    StepTooLarge {
        /// The step that was asked for (or the one `log` would have used).
        step: u64,
    },
    /// A key was empty, too long, or otherwise unusable.
    #[error("invalid key {key:?}: {reason}")]
    InvalidKey {
        /// The offending key (cut to 300 bytes).
        key: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A value logged under a key cannot be logged (an image of the wrong size, a NaN in a
    /// histogram, ...). Nothing of that call was logged.
    #[error("the value of {key:?} cannot be logged: {reason}")]
    InvalidValue {
        /// The key the value was logged under.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A media value (image, histogram, ...) could not be built from what was given.
    #[error("invalid media: {0}")]
    InvalidMedia(String),
    /// A setting or environment variable had a value labbook cannot use.
    #[error("invalid setting {name}: {reason}")]
    InvalidSetting {
        /// The setting or variable name, e.g. `WANDB_MODE`.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The program was built without a labbook cargo feature that what it asked for needs.
    #[error(
        "{needed_for} needs labbook's `{feature}` cargo feature, which this program was built without (it is on by default: keep default features, or add it to `features`)"
    )]
    NotBuiltWith {
        /// The feature, e.g. `online`.
        feature: &'static str,
        /// What was asked for.
        needed_for: &'static str,
    },
    /// A file or directory could not be read or written.
    #[error("{context} {path}: {source}")]
    Io {
        /// What labbook was doing.
        context: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The config could not be turned into the requested type.
    #[error("the run config does not match the requested type: {0}")]
    ConfigType(#[source] serde_json::Error),
    /// The run was already finished (or is finishing) when this call came.
    #[error("the run {run_id} is already finished; nothing more can be logged to it")]
    Finished {
        /// The run's id.
        run_id: String,
    },
    /// The background worker stopped after an error; what was written before it is intact.
    #[error("the run's writer failed and stopped: {0}")]
    WorkerFailed(String),
    /// `flush` gave up waiting: the worker is behind (a slow disk, a large backlog), not
    /// failed. Nothing was dropped; what was logged is still written.
    #[error(
        "flush waited {waited:?} and the writer is still behind; nothing was dropped, and it goes on writing"
    )]
    FlushTimedOut {
        /// How long `flush` waited.
        waited: Duration,
    },
    /// The lossy queue was full and this call's values were dropped (and counted).
    #[error("the logging queue is full; this call's values were dropped (lossy mode)")]
    Dropped,
    /// `finish` completed, but the run hit errors on the way; the report says what was kept.
    #[error("run {} finished with errors: {}", .report.run_id, .report.errors.join("; "))]
    FinishedWithErrors {
        /// What was written, where, and the errors.
        report: Box<RunReport>,
    },
    /// A transaction-log file is not a W&B log or is corrupt.
    #[error("{path}: {reason}")]
    CorruptLog {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the byte offset.
        reason: String,
    },
    /// No usable W&B API key, or the server refused it. The key itself is never part of
    /// the message.
    #[error("W&B authentication: {0}")]
    Auth(String),
    /// An artifact could not be found, read or verified.
    #[error("{0}")]
    Artifact(String),
    /// A read through [`api`](crate::api) could not be answered: no such run, a filter
    /// or order that does not parse, a server answer without the fields asked for.
    #[error("{0}")]
    Read(String),
    /// The run is still being written by a live process (it holds the run directory's
    /// lock), so it is not uploaded as if it were complete.
    #[error(
        "{path} is still being written by a running process; sync it when that run has finished, or follow it (`labbook sync --follow`)"
    )]
    RunInProgress {
        /// The run directory.
        path: PathBuf,
    },
    /// The server could not be reached, or kept failing (5xx, 429, timeouts), through every
    /// retry the policy allows. Nothing is lost: what was not sent stays in the local log,
    /// and a later `labbook sync` goes on from where this stopped.
    #[error("W&B server {url} unavailable: {reason}")]
    ServerUnavailable {
        /// The endpoint (never with credentials or a signature).
        url: String,
        /// The last failure.
        reason: String,
    },
    /// The W&B server refused a request for good (a 4xx answer), or its answer made no
    /// sense.
    #[error("W&B upload to {url}: {reason}")]
    Upload {
        /// The endpoint (never with credentials).
        url: String,
        /// What went wrong: the HTTP status and the server's answer, or the connection error.
        reason: String,
    },
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(
        context: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io {
            context,
            path,
            source,
        }
    }
}

/// A log read through `labbook-wire` failed: the same variants, the same messages, as if
/// the engine had read it itself.
impl From<labbook_wire::Error> for Error {
    fn from(e: labbook_wire::Error) -> Error {
        match e {
            labbook_wire::Error::Io {
                context,
                path,
                source,
            } => Error::Io {
                context,
                path,
                source,
            },
            labbook_wire::Error::CorruptLog { path, reason } => Error::CorruptLog { path, reason },
            other => Error::CorruptLog {
                path: PathBuf::new(),
                reason: other.to_string(),
            },
        }
    }
}

/// The message of a caught panic (`panic!("...")` carries a `&str` or a `String`).
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("no message")
}
