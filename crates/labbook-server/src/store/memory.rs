//! [`MemoryStorage`]: everything in memory behind one lock.

use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use super::{ArtifactState, OffsetViolation, RequestLogEntry, RunKey, RunState, Storage};

/// A [`Storage`] that keeps everything in memory.
///
/// ```
/// use std::sync::Arc;
/// use labbook_server::{MemoryStorage, Storage};
///
/// let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
/// assert!(storage.runs().is_empty());
/// ```
#[derive(Debug, Default)]
pub struct MemoryStorage {
    inner: Mutex<Inner>,
    ids: AtomicU64,
}

#[derive(Debug, Default)]
struct Inner {
    runs: Vec<RunState>,
    artifacts: Vec<ArtifactState>,
    requests: Vec<RequestLogEntry>,
    violations: Vec<OffsetViolation>,
}

impl MemoryStorage {
    /// An empty storage.
    pub fn new() -> MemoryStorage {
        MemoryStorage::default()
    }
}

impl Storage for MemoryStorage {
    fn update_run(&self, key: &RunKey, update: &mut dyn FnMut(&mut RunState)) -> bool {
        let mut inner = self.inner.lock();
        let position = inner.runs.iter().position(|r| r.key() == *key);
        let (index, created) = match position {
            Some(index) => (index, false),
            None => {
                inner.runs.push(RunState::new(key.clone()));
                (inner.runs.len() - 1, true)
            }
        };
        update(&mut inner.runs[index]);
        created
    }

    fn run(&self, entity: &str, project: &str, run_id: &str) -> Option<RunState> {
        let inner = self.inner.lock();
        inner
            .runs
            .iter()
            .find(|r| r.entity == entity && r.project == project && r.name == run_id)
            .cloned()
    }

    fn runs(&self) -> Vec<RunState> {
        self.inner.lock().runs.clone()
    }

    fn update_artifact(&self, id: &str, update: &mut dyn FnMut(&mut ArtifactState)) {
        let mut inner = self.inner.lock();
        let index = match inner.artifacts.iter().position(|a| a.id == id) {
            Some(index) => index,
            None => {
                inner.artifacts.push(ArtifactState::new(id));
                inner.artifacts.len() - 1
            }
        };
        update(&mut inner.artifacts[index]);
    }

    fn artifact(&self, id: &str) -> Option<ArtifactState> {
        self.inner
            .lock()
            .artifacts
            .iter()
            .find(|a| a.id == id)
            .cloned()
    }

    fn artifacts(&self) -> Vec<ArtifactState> {
        self.inner.lock().artifacts.clone()
    }

    fn next_id(&self) -> u64 {
        self.ids.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn log_request(&self, entry: RequestLogEntry) {
        self.inner.lock().requests.push(entry);
    }

    fn requests(&self) -> Vec<RequestLogEntry> {
        self.inner.lock().requests.clone()
    }

    fn record_violation(&self, violation: OffsetViolation) {
        self.inner.lock().violations.push(violation);
    }

    fn violations(&self) -> Vec<OffsetViolation> {
        self.inner.lock().violations.clone()
    }
}
