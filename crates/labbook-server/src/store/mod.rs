//! What the server keeps: runs, artifacts, the request log and offset violations, behind
//! the [`Storage`] trait so the data can outlive a listener.

mod lenient_json;
mod memory;
mod types;

pub use lenient_json::parse_lenient;
pub use memory::MemoryStorage;
pub use types::{
    Alert, ArtifactLink, ArtifactState, JsonLine, MultipartUpload, OffsetViolation,
    RequestLogEntry, RunKey, RunState,
};

/// Where a server keeps what it receives. Shared as `Arc<dyn Storage>`; it outlives the
/// listener, so a test can restart the server on the same data.
///
/// Updates go through closures so each one is atomic for the implementation.
///
/// ```
/// use labbook_server::{MemoryStorage, RunKey, Storage};
///
/// let storage = MemoryStorage::new();
/// let key = RunKey::new("ent", "proj", "abc123");
/// storage.update_run(&key, &mut |run| run.notes = Some("hi".into()));
/// assert_eq!(storage.run("ent", "proj", "abc123").unwrap().notes.as_deref(), Some("hi"));
/// ```
pub trait Storage: Send + Sync {
    /// Applies `update` to the run `key`, creating it (empty) first if needed. Returns
    /// whether it was created.
    fn update_run(&self, key: &RunKey, update: &mut dyn FnMut(&mut RunState)) -> bool;

    /// A copy of the run, if any request named it.
    fn run(&self, entity: &str, project: &str, run_id: &str) -> Option<RunState>;

    /// Copies of every run, in creation order.
    fn runs(&self) -> Vec<RunState>;

    /// Applies `update` to the artifact `id`, creating it first if needed.
    fn update_artifact(&self, id: &str, update: &mut dyn FnMut(&mut ArtifactState));

    /// A copy of the artifact `id`.
    fn artifact(&self, id: &str) -> Option<ArtifactState>;

    /// Copies of every artifact, in creation order.
    fn artifacts(&self) -> Vec<ArtifactState>;

    /// A new number, unique for this storage (ids, generated names).
    fn next_id(&self) -> u64;

    /// Appends to the request log.
    fn log_request(&self, entry: RequestLogEntry);

    /// Every request received so far, in order.
    fn requests(&self) -> Vec<RequestLogEntry>;

    /// Records a `file_stream` offset that skipped or repeated lines.
    fn record_violation(&self, violation: OffsetViolation);

    /// Every offset violation so far.
    fn violations(&self) -> Vec<OffsetViolation>;
}

impl std::fmt::Debug for dyn Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Storage")
    }
}
