//! [`Recorder`]: a server's stores and its test records, read back from synchronous tests.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;

use super::snapshot::{ArtifactState, RunState};
use crate::store::{
    ArtifactRecord, BlobId, BlobStore, JsonLine, MemoryBlobs, MemoryStore, MetaStore, RunKey,
    Stream,
};

/// One request as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLogEntry {
    /// HTTP method.
    pub method: String,
    /// Path (no query).
    pub path: String,
    /// GraphQL `operationName` (or the name sniffed from the query).
    pub operation: Option<String>,
    /// The status answered.
    pub status: u16,
}

/// A `file_stream` offset that did not continue exactly at the stored line count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetViolation {
    /// The run.
    pub run: RunKey,
    /// The file (`wandb-history.jsonl`, ...).
    pub file: String,
    /// The offset the server expected (lines stored so far).
    pub expected: usize,
    /// The offset the client sent.
    pub received: usize,
    /// How many lines came with it.
    pub lines: usize,
}

/// What a server records only for tests: every request, every offset violation.
#[derive(Debug, Default)]
pub(crate) struct Records {
    requests: Mutex<Vec<RequestLogEntry>>,
    violations: Mutex<Vec<OffsetViolation>>,
}

impl Records {
    pub(crate) fn request(&self, entry: RequestLogEntry) {
        self.requests.lock().push(entry);
    }

    pub(crate) fn violations(&self, run: &RunKey, mismatches: Vec<crate::store::Mismatch>) {
        let mut violations = self.violations.lock();
        for m in mismatches {
            violations.push(OffsetViolation {
                run: run.clone(),
                file: m.file,
                expected: m.expected,
                received: m.received,
                lines: m.lines,
            });
        }
    }
}

/// A server's stores and records, shared: it outlives the listener, so a test can restart
/// the server on the same data ([`ServerConfig::storage`](crate::ServerConfig::storage)) and
/// read everything back after it stopped.
///
/// ```
/// use labbook_server::{Recorder, Server, ServerConfig};
///
/// let recorder = Recorder::default();
/// let server = Server::start(ServerConfig::new("k".repeat(40)).storage(recorder.clone())).unwrap();
/// server.shutdown();
/// assert!(recorder.runs().is_empty());
/// assert!(recorder.requests().is_empty());
/// ```
#[derive(Clone, Debug)]
pub struct Recorder {
    pub(crate) meta: Arc<dyn MetaStore>,
    pub(crate) blobs: Arc<dyn BlobStore>,
    pub(crate) records: Arc<Records>,
    memory: Option<Arc<MemoryStore>>,
}

impl Default for Recorder {
    /// Empty stores in memory.
    fn default() -> Recorder {
        let memory = Arc::new(MemoryStore::default());
        Recorder {
            meta: memory.clone(),
            blobs: Arc::new(MemoryBlobs::default()),
            records: Arc::default(),
            memory: Some(memory),
        }
    }
}

/// Runs a store future to its end on this thread (the stores need no reactor).
fn wait<T>(future: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime")
        .block_on(future)
}

impl Recorder {
    /// Records over these stores.
    pub fn new(meta: Arc<dyn MetaStore>, blobs: Arc<dyn BlobStore>) -> Recorder {
        Recorder {
            meta,
            blobs,
            records: Arc::default(),
            memory: None,
        }
    }

    /// Every run, in creation order, with its lines and files.
    pub fn runs(&self) -> Vec<RunState> {
        wait(async {
            let mut runs = Vec::new();
            for record in self.meta.runs().await.expect("the store answers") {
                runs.push(self.run_state(&record.key).await);
            }
            runs.into_iter().flatten().collect()
        })
    }

    /// The run, if any request named it.
    pub fn run(&self, entity: &str, project: &str, run_id: &str) -> Option<RunState> {
        wait(self.run_state(&RunKey::new(entity, project, run_id)))
    }

    async fn run_state(&self, key: &RunKey) -> Option<RunState> {
        let record = self.meta.run(key).await.expect("the store answers")?;
        let mut run = RunState::from_record(record);
        let lines = |stream: Stream| async move {
            self.meta
                .lines(key, &stream, 0, usize::MAX)
                .await
                .expect("the store answers")
        };
        run.history = lines(Stream::History)
            .await
            .into_iter()
            .map(JsonLine::parse)
            .collect();
        run.events = lines(Stream::Events)
            .await
            .into_iter()
            .map(JsonLine::parse)
            .collect();
        run.output = lines(Stream::Output).await;
        for name in self
            .meta
            .other_streams(key)
            .await
            .expect("the store answers")
        {
            let content = lines(Stream::Other(name.clone())).await;
            run.other_streams.insert(name, content);
        }
        for (path, blob) in self.meta.run_files(key).await.expect("the store answers") {
            run.files.insert(path, self.bytes(&blob).await);
        }
        Some(run)
    }

    async fn bytes(&self, blob: &BlobId) -> Vec<u8> {
        let bytes = self.blobs.get(blob).await.expect("the blob store answers");
        bytes.map(|b| b.to_vec()).unwrap_or_default()
    }

    /// Every artifact version, in creation order, with its files.
    pub fn artifacts(&self) -> Vec<ArtifactState> {
        wait(async {
            let mut all = Vec::new();
            for record in self.meta.artifacts().await.expect("the store answers") {
                all.push(self.artifact_state(record).await);
            }
            all
        })
    }

    /// The artifact version `id`.
    pub fn artifact(&self, id: &str) -> Option<ArtifactState> {
        wait(async {
            let record = self.meta.artifact(id).await.expect("the store answers")?;
            Some(self.artifact_state(record).await)
        })
    }

    async fn artifact_state(&self, a: ArtifactRecord) -> ArtifactState {
        let mut files = BTreeMap::new();
        for (path, blob) in &a.files {
            files.insert(path.clone(), self.bytes(blob).await);
        }
        let multipart = self
            .meta
            .multiparts(&a.id)
            .await
            .expect("the store answers")
            .into_iter()
            .filter(|(_, u)| u.completed.is_none())
            .collect();
        ArtifactState {
            id: a.id,
            entity: a.entity,
            project: a.project,
            artifact_type: a.artifact_type,
            collection: a.collection,
            run: a.run,
            digest: a.digest,
            aliases: a.aliases,
            metadata: a.metadata,
            state: a.state,
            manifest: a.manifest,
            files,
            links: a.links,
            multipart,
        }
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RequestLogEntry> {
        self.records.requests.lock().clone()
    }

    /// Every `file_stream` offset that skipped or repeated lines.
    pub fn violations(&self) -> Vec<OffsetViolation> {
        self.records.violations.lock().clone()
    }

    /// Presses the run's Stop button.
    pub fn request_stop(&self, key: &RunKey) {
        let found = wait(self.meta.request_stop(key)).expect("the store answers");
        assert!(found, "no run {key:?} to stop");
    }

    /// Replaces (or adds) a file of an artifact version, as a server whose copy went bad.
    pub fn put_artifact_file(&self, id: &str, path: &str, bytes: Vec<u8>) {
        wait(async {
            let scope = self
                .meta
                .artifact(id)
                .await
                .expect("the store answers")
                .and_then(|a| a.entity)
                .unwrap_or_default();
            let blob = self
                .blobs
                .put(&scope, Bytes::from(bytes))
                .await
                .expect("kept");
            self.meta
                .put_artifact_file(id, path, blob)
                .await
                .expect("the store answers");
        });
    }

    /// Changes a stored version's row behind the protocol's back (its manifest, its
    /// digest). Memory stores only.
    pub fn edit_artifact(&self, id: &str, edit: impl FnOnce(&mut ArtifactRecord)) {
        self.memory
            .as_ref()
            .expect("edit_artifact needs the memory store")
            .edit_artifact(id, edit);
    }
}
