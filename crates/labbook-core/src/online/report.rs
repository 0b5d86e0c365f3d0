//! What a sync (or an online run's uploader) reports when it ends.

use crate::wire::LogEnd;

/// What one sync uploaded.
#[derive(Clone, Debug, PartialEq)]
pub struct SyncReport {
    /// The run id.
    pub run_id: String,
    /// The entity and project the server put it in.
    pub entity: String,
    /// See `entity`.
    pub project: String,
    /// History rows sent.
    pub rows: u64,
    /// Bytes of file_stream lines and files sent.
    pub bytes: u64,
    /// Run files uploaded.
    pub files: usize,
    /// Artifact versions uploaded (or found on the server already).
    pub artifacts: usize,
    /// What could not be uploaded while the rest went on (an artifact whose files are
    /// gone, a link the server refused, ...).
    pub warnings: Vec<String>,
    /// The exit code sent (1 when the log has no exit record: a crashed run).
    pub exit_code: i32,
    /// How the log ended (a torn or corrupt tail is uploaded up to the last whole record).
    pub log_end: LogEnd,
}
