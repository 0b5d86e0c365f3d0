//! What `finish` returns: where the run is and what happened to everything logged.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The outcome of a finished run.
///
/// ```no_run
/// # let run = labbook_core::init(labbook_core::Settings::new("p"))?;
/// let report = run.finish()?;
/// println!("{} rows in {}", report.rows, report.dir().display());
/// println!("upload it with: {}", report.sync_command());
/// # Ok::<(), labbook_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct RunReport {
    /// The run id.
    pub run_id: String,
    /// The display name, after any final-score rename (empty when none was given).
    pub name: String,
    pub(crate) dir: PathBuf,
    /// History rows written.
    pub rows: u64,
    /// Bytes in the transaction log.
    pub bytes: u64,
    /// `log_at` calls refused because their step went backwards.
    pub steps_refused: u64,
    /// Calls dropped because the queue was full (lossy mode) or the writer had failed
    /// (degrade mode).
    pub dropped: u64,
    /// Total time `log` calls waited for room in the queue.
    pub blocked: Duration,
    /// The exit code recorded (0 success, 1 panic, 128+N for signal N).
    pub exit_code: i32,
    /// Whether the run was ended by a signal (a preempting record was written).
    pub preempted: bool,
    /// Warnings: config fields left out, files not saved, ...
    pub warnings: Vec<String>,
    /// Errors: what could not be written, and why.
    pub errors: Vec<String>,
    /// From `init` to the end of `finish`.
    pub duration: Duration,
}

impl RunReport {
    /// The run directory (`.../wandb/offline-run-YYYYMMDD_HHMMSS-<id>`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The transaction log (`run-<id>.wandb`) inside [`RunReport::dir`].
    pub fn log_path(&self) -> PathBuf {
        self.dir.join(format!("run-{}.wandb", self.run_id))
    }

    /// The command that uploads this run with the official client.
    pub fn sync_command(&self) -> String {
        format!("wandb sync {}", self.dir.display())
    }
}
