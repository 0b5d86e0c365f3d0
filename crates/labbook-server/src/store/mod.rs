//! Where the server keeps what it receives: a [`MetaStore`] for rows (runs, their line
//! streams, artifacts) and a [`BlobStore`] for bytes (run files, artifact files, parts).
//!
//! Each method is one intent, done atomically by the store: the rules that must hold
//! across concurrent requests (a stream's line offsets, an artifact's version index, the
//! one committed version per digest) are enforced inside the store's own transaction, never
//! by a lock in the server's memory, so a store shared by several servers keeps them too.

mod blobs_fs;
#[cfg(test)]
mod conformance;
mod lenient_json;
mod lines;
mod memory;
mod records;
mod run_fields;
mod series;
mod sqlite;

use async_trait::async_trait;
use bytes::Bytes;

pub use blobs_fs::FsBlobs;
pub use lenient_json::parse_lenient;
pub use lines::{place_overwrite, place_rows};
pub use memory::{MemoryBlobs, MemoryStore};
pub use records::{
    Alert, ArtifactDraft, ArtifactLink, ArtifactRecord, BlobId, Caller, Chunk, CollectionKey,
    Created, Delivery, HookFormat, ImportPosition, JsonLine, Mismatch, MultipartUpload, RunKey,
    RunPatch, RunRecord, Stream, StreamBatch, StreamOutcome, Webhook,
};
pub use run_fields::{Compare, FieldValue, RunQuery, config_fields, summary_fields};
pub use series::{Bucket, Buckets, Points, SeriesQuery, numeric_fields, series_of};
pub use sqlite::{SCHEMA_VERSION, SqliteStore};

/// Why a store could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The thing named does not exist (an artifact id, an upload id).
    #[error("{0}")]
    NotFound(String),
    /// The request contradicts what is stored (e.g. completing an unknown upload).
    #[error("{0}")]
    Conflict(String),
    /// The store cannot be reached or written (disk full, database gone): retry later.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
}

/// Milliseconds since the epoch: when queued deliveries are due.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The result of a store operation.
pub type StoreResult<T> = Result<T, StoreError>;

/// Rows: runs and their streams, artifacts and their versions.
///
/// ```
/// use labbook_server::store::{MemoryStore, MetaStore, RunKey, RunPatch};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryStore::default();
/// let key = RunKey::new("ent", "proj", "abc123");
/// let patch = RunPatch { notes: Some("hi".into()), ..RunPatch::default() };
/// let (run, inserted) = store.upsert_run(&key, patch).await.unwrap();
/// assert!(inserted);
/// assert_eq!(run.notes.as_deref(), Some("hi"));
/// # });
/// ```
#[async_trait]
pub trait MetaStore: Send + Sync + 'static {
    /// A new number, unique for this store (ids, generated names).
    async fn next_id(&self) -> StoreResult<u64>;

    /// Creates the run (empty) if needed and applies `patch`; returns the run and whether
    /// it was created.
    async fn upsert_run(&self, key: &RunKey, patch: RunPatch) -> StoreResult<(RunRecord, bool)>;

    /// The run's row, if any request named it.
    async fn run(&self, key: &RunKey) -> StoreResult<Option<RunRecord>>;

    /// Every run, in creation order.
    async fn runs(&self) -> StoreResult<Vec<RunRecord>>;

    /// Stores one `file_stream` request: each chunk placed by its stream's offset rule,
    /// the summary replaced, the flags set, all at once.
    async fn append_stream(&self, key: &RunKey, batch: StreamBatch) -> StoreResult<StreamOutcome>;

    /// Lines `from..` of a stream (at most `limit`).
    async fn lines(
        &self,
        key: &RunKey,
        stream: &Stream,
        from: usize,
        limit: usize,
    ) -> StoreResult<Vec<String>>;

    /// The names of the run's other streams (files other than history, events, output).
    async fn other_streams(&self, key: &RunKey) -> StoreResult<Vec<String>>;

    /// A metric of the run folded into buckets (a chart's points): each bucket's count,
    /// min, max, mean and last value. Empty if the run or key has no points.
    async fn series(&self, key: &RunKey, query: &SeriesQuery) -> StoreResult<Vec<Bucket>>;

    /// The keys the run's `stream` (history or events) has numbers for, sorted.
    async fn series_keys(&self, key: &RunKey, stream: &Stream) -> StoreResult<Vec<String>>;

    /// The names of the runs of a project whose config and summary fields pass the query's
    /// filters, in its order.
    async fn find_runs(&self, query: &RunQuery) -> StoreResult<Vec<String>>;

    /// Deletes the run and all it holds (streams, series, fields, alerts, files); the blobs
    /// its files named become orphan candidates, in the same transaction, so a crash never
    /// leaks them. Whether there was such a run.
    async fn delete_run(&self, key: &RunKey) -> StoreResult<bool>;

    /// Deletes artifact versions by id, with their files, links and uploads; the blobs
    /// their files named become orphan candidates in the same transaction. How many of
    /// them there were.
    async fn delete_artifacts(&self, ids: &[String]) -> StoreResult<usize>;

    /// The orphan candidates: those no row names any more, and those named again since.
    async fn orphan_blobs(&self) -> StoreResult<Orphans>;

    /// Forgets orphan candidates (collected, or named again).
    async fn forget_orphans(&self, blobs: &[BlobId]) -> StoreResult<()>;

    /// Adds an alert to the run (creating it if needed) and queues its deliveries to the
    /// project's webhooks, in one transaction: an alert stored is an alert delivered.
    async fn add_alert(
        &self,
        key: &RunKey,
        alert: Alert,
        deliveries: Vec<Delivery>,
    ) -> StoreResult<()>;

    /// Adds a webhook; whether it was new.
    async fn add_webhook(&self, hook: &Webhook) -> StoreResult<bool>;

    /// Removes a webhook (by project and URL); whether there was one.
    async fn remove_webhook(&self, hook: &Webhook) -> StoreResult<bool>;

    /// Every webhook, by project then URL.
    async fn webhooks(&self) -> StoreResult<Vec<Webhook>>;

    /// Deliveries due at `now_ms` (milliseconds since the epoch), oldest first, at most
    /// `limit`.
    async fn due_deliveries(&self, now_ms: i64, limit: usize) -> StoreResult<Vec<Delivery>>;

    /// When the next queued delivery is due, if any.
    async fn next_delivery_at(&self) -> StoreResult<Option<i64>>;

    /// Ends an attempt: delivered or given up (`None`: forgotten), or to be tried again at
    /// a time, with what went wrong.
    async fn finish_delivery(&self, id: u64, retry: Option<(i64, String)>) -> StoreResult<()>;

    /// Asks the run to stop: `file_stream` answers `stopped` from now on. Returns whether
    /// the run exists.
    async fn request_stop(&self, key: &RunKey) -> StoreResult<bool>;

    /// Records a run file (creating the run if needed); a later one at `path` replaces it.
    async fn put_run_file(&self, key: &RunKey, path: &str, blob: BlobId) -> StoreResult<()>;

    /// The run's files, by path.
    async fn run_files(&self, key: &RunKey) -> StoreResult<Vec<(String, BlobId)>>;

    /// Records that the run used an artifact version.
    async fn use_artifact(&self, key: &RunKey, artifact: &str) -> StoreResult<()>;

    /// Creates a pending version, unless the collection has a committed version with the
    /// same digest: then that one's aliases grow by the draft's and it is answered.
    async fn create_artifact(&self, draft: ArtifactDraft) -> StoreResult<Created>;

    /// The version `id`.
    async fn artifact(&self, id: &str) -> StoreResult<Option<ArtifactRecord>>;

    /// Every version, in creation order.
    async fn artifacts(&self) -> StoreResult<Vec<ArtifactRecord>>;

    /// The committed versions of a collection, oldest first (index = version number).
    async fn versions(&self, collection: &CollectionKey) -> StoreResult<Vec<ArtifactRecord>>;

    /// The versions linked into a portfolio, by their index in it.
    async fn linked(
        &self,
        portfolio: &CollectionKey,
    ) -> StoreResult<Vec<(ArtifactLink, ArtifactRecord)>>;

    /// The type of the newest version of `collection` (in a project and entity if given).
    async fn artifact_type(
        &self,
        entity: Option<&str>,
        project: Option<&str>,
        collection: &str,
    ) -> StoreResult<Option<String>>;

    /// Records the version's manifest.
    async fn set_manifest(&self, id: &str, manifest: JsonLine) -> StoreResult<()>;

    /// Records a file of the version; a later one at `path` replaces it.
    async fn put_artifact_file(&self, id: &str, path: &str, blob: BlobId) -> StoreResult<()>;

    /// Starts a multipart upload of a file of the version.
    async fn start_multipart(
        &self,
        id: &str,
        upload_id: &str,
        upload: MultipartUpload,
    ) -> StoreResult<()>;

    /// The upload `upload_id` of the version, completed or not.
    async fn multipart(&self, id: &str, upload_id: &str) -> StoreResult<Option<MultipartUpload>>;

    /// Every multipart upload of the version, completed or not, by upload id.
    async fn multiparts(&self, id: &str) -> StoreResult<Vec<(String, MultipartUpload)>>;

    /// Records part `part` of an upload in progress; `false` if there is none.
    async fn put_part(
        &self,
        id: &str,
        upload_id: &str,
        part: u64,
        blob: BlobId,
    ) -> StoreResult<bool>;

    /// Ends an upload: the parts became the file `blob` with MD5 `md5` (`Some`), or it was
    /// aborted (`None`: the upload is forgotten).
    async fn finish_multipart(
        &self,
        id: &str,
        upload_id: &str,
        done: Option<(String, BlobId)>,
    ) -> StoreResult<()>;

    /// Commits the version; `None` if there is none.
    async fn commit_artifact(&self, id: &str) -> StoreResult<Option<ArtifactRecord>>;

    /// Creates the user `name` (an administrator of the server if `admin`) if there is
    /// none; whether it was created. A team of that name is a conflict.
    async fn add_user(&self, name: &str, admin: bool) -> StoreResult<bool>;

    /// Creates the team `name` if there is none; whether it was created. A user of that
    /// name is a conflict (users and teams are both entities).
    async fn add_team(&self, name: &str) -> StoreResult<bool>;

    /// Makes `user` a member of `team`.
    async fn add_member(&self, team: &str, user: &str) -> StoreResult<()>;

    /// Every user, by name.
    async fn users(&self) -> StoreResult<Vec<String>>;

    /// The members of team `team`, by name; `None` if there is no such team.
    async fn team_members(&self, team: &str) -> StoreResult<Option<Vec<String>>>;

    /// Records an API key of `user` by its keyed hash (never the key), with a public
    /// `label` to name it by (`key revoke LABEL`).
    async fn add_key(&self, user: &str, key_hash: &str, label: &str) -> StoreResult<()>;

    /// Who the key with this hash belongs to.
    async fn key_user(&self, key_hash: &str) -> StoreResult<Option<Caller>>;

    /// Records a browser session: the keyed hash of its token, its user, its CSRF token
    /// and when it ends (ms since the epoch).
    async fn add_session(
        &self,
        hash: &str,
        user: &str,
        csrf: &str,
        expires_ms: i64,
    ) -> StoreResult<()>;

    /// The user and CSRF token of the session with this hash, unless it ended by `now_ms`.
    async fn session(&self, hash: &str, now_ms: i64) -> StoreResult<Option<(Caller, String)>>;

    /// Ends a session.
    async fn remove_session(&self, hash: &str) -> StoreResult<()>;

    /// Records a one-time sign-in token (by keyed hash) for `user`, valid until
    /// `expires_ms`.
    async fn add_signin_token(&self, hash: &str, user: &str, expires_ms: i64) -> StoreResult<()>;

    /// Uses up the sign-in token with this hash: its user if it was valid at `now_ms`.
    /// A token works once, whatever the answer.
    async fn take_signin_token(&self, hash: &str, now_ms: i64) -> StoreResult<Option<String>>;

    /// Sets a user's password hash (a PHC string); whether the user exists.
    async fn set_password(&self, user: &str, phc: &str) -> StoreResult<bool>;

    /// A user's password hash, if they have one.
    async fn password(&self, user: &str) -> StoreResult<Option<String>>;

    /// How far the log at `log` (a path, as the watcher names it) is imported, if at all.
    async fn import_position(&self, log: &str) -> StoreResult<Option<ImportPosition>>;

    /// Records how far the log at `log` is imported.
    async fn save_import_position(&self, log: &str, position: &ImportPosition) -> StoreResult<()>;

    /// The labels of `user`'s keys, sorted (never the keys).
    async fn key_labels(&self, user: &str) -> StoreResult<Vec<String>>;

    /// Forgets the key labelled `label`; whether there was one.
    async fn revoke_key(&self, label: &str) -> StoreResult<bool>;

    /// Links the version into a portfolio with `aliases` and answers its index there: a
    /// version already linked keeps its index and gains the aliases; a new one gets the
    /// next index, assigned in the same transaction.
    async fn link_artifact(
        &self,
        id: &str,
        portfolio: &CollectionKey,
        aliases: &[String],
    ) -> StoreResult<usize>;
}

/// Bytes, by [`BlobId`]. Putting the same bytes twice in one scope stores them once.
///
/// ```
/// use labbook_server::store::{BlobStore, MemoryBlobs};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let blobs = MemoryBlobs::default();
/// let id = blobs.put("ent", b"abc".to_vec().into()).await.unwrap();
/// assert_eq!(blobs.get(&id).await.unwrap().unwrap(), &b"abc"[..]);
/// # });
/// ```
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Stores `bytes` in `scope` and answers their id once they are kept.
    async fn put(&self, scope: &str, bytes: Bytes) -> StoreResult<BlobId>;

    /// Stores the content of the file at `source` in `scope`, as [`put`](Self::put) stores
    /// bytes; a store that can streams it, so a file of gigabytes never sits in memory. A
    /// `source` that cannot be read is [`StoreError::NotFound`].
    async fn put_file(&self, scope: &str, source: &std::path::Path) -> StoreResult<BlobId> {
        let path = source.to_owned();
        let read = tokio::task::spawn_blocking(move || std::fs::read(path))
            .await
            .map_err(|e| StoreError::Unavailable(format!("a file read stopped: {e}")))?;
        let bytes = read.map_err(|e| unreadable(source, &e))?;
        self.put(scope, Bytes::from(bytes)).await
    }

    /// The bytes of `id`, if kept.
    async fn get(&self, id: &BlobId) -> StoreResult<Option<Bytes>>;

    /// How many bytes `id` holds, if kept (a store that can tells without reading them).
    async fn size(&self, id: &BlobId) -> StoreResult<Option<u64>> {
        Ok(self.get(id).await?.map(|b| b.len() as u64))
    }

    /// Removes the bytes of `id` (nothing if they are gone already).
    async fn delete(&self, id: &BlobId) -> StoreResult<()>;
}

/// A source file that cannot be read: not the store's fault, not worth a retry.
pub(crate) fn unreadable(source: &std::path::Path, error: &std::io::Error) -> StoreError {
    StoreError::NotFound(format!("cannot read {}: {error}", source.display()))
}

/// What [`MetaStore::orphan_blobs`] found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Orphans {
    /// Candidates no row names: their bytes can go.
    pub unreferenced: Vec<BlobId>,
    /// Candidates a row names again (the same bytes uploaded since): they stay.
    pub named_again: Vec<BlobId>,
}

impl std::fmt::Debug for dyn MetaStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetaStore")
    }
}

impl std::fmt::Debug for dyn BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlobStore")
    }
}
