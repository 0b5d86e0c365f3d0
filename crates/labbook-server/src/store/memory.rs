//! [`MemoryStore`] and [`MemoryBlobs`]: everything in memory behind one lock each, the
//! lock standing in for a database transaction. For tests, and for a server that needs to
//! keep nothing.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use parking_lot::Mutex;

use super::lines::{place_overwrite, place_rows};
use super::{
    Alert, ArtifactDraft, ArtifactLink, ArtifactRecord, BlobId, BlobStore, Caller, CollectionKey,
    Created, ImportPosition, JsonLine, Mismatch, MultipartUpload, RunKey, RunPatch, RunRecord,
    StoreError, StoreResult, Stream, StreamBatch, StreamOutcome,
};
use crate::store::run_fields::order_values;
use crate::store::series::query_range;
use crate::store::{
    Bucket, Buckets, Delivery, FieldValue, MetaStore, Orphans, RunQuery, SeriesQuery, Webhook,
    config_fields, series_of, summary_fields,
};

/// A [`MetaStore`] in memory.
///
/// ```
/// use std::sync::Arc;
/// use labbook_server::store::{MemoryStore, MetaStore};
///
/// let store: Arc<dyn MetaStore> = Arc::new(MemoryStore::default());
/// # let _ = store;
/// ```
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
    ids: AtomicU64,
}

#[derive(Debug, Default)]
struct Inner {
    runs: Vec<RunEntry>,
    orphans: Vec<BlobId>,
    webhooks: Vec<Webhook>,
    /// Queued deliveries and when each is due.
    deliveries: Vec<(Delivery, i64)>,
    next_delivery: u64,
    artifacts: Vec<ArtifactEntry>,
    /// (name, admin)
    users: Vec<(String, bool)>,
    /// (team, members)
    teams: Vec<(String, Vec<String>)>,
    /// (hash, user, label)
    keys: Vec<(String, String, String)>,
    /// (hash, user, csrf, expires)
    sessions: Vec<(String, String, String, i64)>,
    imports: HashMap<String, ImportPosition>,
    /// (hash, user, expires)
    signin_tokens: Vec<(String, String, i64)>,
    /// (user, password hash)
    passwords: Vec<(String, String)>,
}

#[derive(Debug, Default)]
struct RunEntry {
    record: RunRecord,
    history: Vec<String>,
    events: Vec<String>,
    output: Vec<String>,
    others: BTreeMap<String, Vec<String>>,
    files: Vec<(String, BlobId)>,
}

impl RunEntry {
    fn stream(&mut self, stream: &Stream) -> &mut Vec<String> {
        match stream {
            Stream::History => &mut self.history,
            Stream::Events => &mut self.events,
            Stream::Output => &mut self.output,
            Stream::Other(name) => self.others.entry(name.clone()).or_default(),
        }
    }

    /// The row with its line counts filled in.
    fn row(&self) -> RunRecord {
        RunRecord {
            history_lines: self.history.len(),
            events_lines: self.events.len(),
            output_lines: self.output.len(),
            ..self.record.clone()
        }
    }
}

#[derive(Debug, Default)]
struct ArtifactEntry {
    record: ArtifactRecord,
    multipart: BTreeMap<String, MultipartUpload>,
}

impl Inner {
    /// The caller `user` is, if there is such a user.
    fn caller(&self, user: &str) -> Option<Caller> {
        let (_, admin) = self.users.iter().find(|(u, _)| u == user)?;
        let teams = self
            .teams
            .iter()
            .filter(|(_, members)| members.iter().any(|m| m == user))
            .map(|(t, _)| t.clone())
            .collect();
        Some(Caller {
            user: user.to_owned(),
            admin: *admin,
            teams,
        })
    }

    fn run_mut(&mut self, key: &RunKey) -> (&mut RunEntry, bool) {
        match self.runs.iter().position(|r| r.record.key == *key) {
            Some(index) => (&mut self.runs[index], false),
            None => {
                let now = Some(crate::store::now_ms());
                self.runs.push(RunEntry {
                    record: RunRecord {
                        key: key.clone(),
                        created_ms: now,
                        heartbeat_ms: now,
                        ..RunRecord::default()
                    },
                    ..RunEntry::default()
                });
                let last = self.runs.len() - 1;
                (&mut self.runs[last], true)
            }
        }
    }

    fn run(&self, key: &RunKey) -> Option<&RunEntry> {
        self.runs.iter().find(|r| r.record.key == *key)
    }

    fn artifact_mut(&mut self, id: &str) -> StoreResult<&mut ArtifactEntry> {
        self.artifacts
            .iter_mut()
            .find(|a| a.record.id == id)
            .ok_or_else(|| StoreError::NotFound(format!("no artifact with id `{id}`")))
    }
}

fn same_hook(a: &Webhook, b: &Webhook) -> bool {
    (&a.entity, &a.project, &a.url) == (&b.entity, &b.project, &b.url)
}

fn in_collection(a: &ArtifactRecord, c: &CollectionKey) -> bool {
    a.is_committed()
        && a.collection.as_deref() == Some(&c.name)
        && a.project.as_deref() == Some(&c.project)
        && a.entity.as_deref() == Some(&c.entity)
}

fn in_portfolio(l: &ArtifactLink, p: &CollectionKey) -> bool {
    l.portfolio == p.name && l.project == p.project && l.entity == p.entity
}

fn add_aliases(to: &mut Vec<String>, aliases: &[String]) {
    for alias in aliases {
        if !to.contains(alias) {
            to.push(alias.clone());
        }
    }
}

fn apply_patch(run: &mut RunRecord, patch: RunPatch) {
    if run.storage_id.is_empty() {
        run.storage_id = patch.storage_id;
    }
    if patch.counts_as_upsert {
        run.upserts += 1;
    }
    let set = |field: &mut Option<String>, value: Option<String>| {
        if value.is_some() {
            *field = value;
        }
    };
    set(&mut run.display_name, patch.display_name);
    set(&mut run.group, patch.group);
    set(&mut run.job_type, patch.job_type);
    set(&mut run.notes, patch.notes);
    set(&mut run.host, patch.host);
    set(&mut run.program, patch.program);
    set(&mut run.sweep, patch.sweep);
    set(&mut run.commit, patch.commit);
    set(&mut run.repo, patch.repo);
    if run.display_name.is_none() {
        run.display_name = patch.default_display_name;
    }
    if patch.config.is_some() {
        run.config = patch.config;
    }
    if let Some(tags) = patch.tags {
        run.tags = tags;
    }
}

fn apply_batch(entry: &mut RunEntry, batch: StreamBatch) -> Vec<Mismatch> {
    let mut mismatches = Vec::new();
    for (stream, chunk) in batch.chunks {
        let (offset, lines) = (chunk.offset, chunk.lines.len());
        let rows = stream.is_rows();
        let target = entry.stream(&stream);
        let expected = if rows {
            place_rows(target, offset, chunk.lines)
        } else {
            place_overwrite(target, offset, chunk.lines)
        };
        if let Some(expected) = expected {
            mismatches.push(Mismatch {
                file: stream.file_name().to_owned(),
                expected,
                received: offset,
                lines,
            });
        }
    }
    if let Some((summary, offset)) = batch.summary {
        entry.record.summary = Some(JsonLine::parse(summary));
        if offset != 0 {
            mismatches.push(Mismatch {
                file: "wandb-summary.json".to_owned(),
                expected: 0,
                received: offset,
                lines: 1,
            });
        }
    }
    let run = &mut entry.record;
    run.uploaded.extend(batch.uploaded);
    run.preempting |= batch.preempting;
    run.complete |= batch.complete;
    if batch.exit_code.is_some() {
        run.exit_code = batch.exit_code;
    }
    if batch.complete {
        run.crashed = batch.crashed;
    }
    run.heartbeat_ms = Some(crate::store::now_ms());
    mismatches
}

#[async_trait]
impl MetaStore for MemoryStore {
    async fn next_id(&self) -> StoreResult<u64> {
        Ok(self.ids.fetch_add(1, Ordering::Relaxed) + 1)
    }

    async fn upsert_run(&self, key: &RunKey, patch: RunPatch) -> StoreResult<(RunRecord, bool)> {
        let mut inner = self.inner.lock();
        let (entry, created) = inner.run_mut(key);
        apply_patch(&mut entry.record, patch);
        Ok((entry.row(), created))
    }

    async fn run(&self, key: &RunKey) -> StoreResult<Option<RunRecord>> {
        Ok(self.inner.lock().run(key).map(RunEntry::row))
    }

    async fn runs(&self) -> StoreResult<Vec<RunRecord>> {
        Ok(self.inner.lock().runs.iter().map(RunEntry::row).collect())
    }

    async fn append_stream(&self, key: &RunKey, batch: StreamBatch) -> StoreResult<StreamOutcome> {
        let mut inner = self.inner.lock();
        let (entry, _) = inner.run_mut(key);
        let mismatches = apply_batch(entry, batch);
        Ok(StreamOutcome {
            mismatches,
            stop_requested: entry.record.stop_requested,
        })
    }

    async fn lines(
        &self,
        key: &RunKey,
        stream: &Stream,
        from: usize,
        limit: usize,
    ) -> StoreResult<Vec<String>> {
        let inner = self.inner.lock();
        let Some(entry) = inner.run(key) else {
            return Ok(Vec::new());
        };
        let lines = match stream {
            Stream::History => &entry.history,
            Stream::Events => &entry.events,
            Stream::Output => &entry.output,
            Stream::Other(name) => match entry.others.get(name) {
                Some(lines) => lines,
                None => return Ok(Vec::new()),
            },
        };
        Ok(lines.iter().skip(from).take(limit).cloned().collect())
    }

    async fn other_streams(&self, key: &RunKey) -> StoreResult<Vec<String>> {
        let inner = self.inner.lock();
        Ok(inner
            .run(key)
            .map(|e| e.others.keys().cloned().collect())
            .unwrap_or_default())
    }

    async fn series(&self, key: &RunKey, query: &SeriesQuery) -> StoreResult<Vec<Bucket>> {
        let lines = self.lines(key, &query.stream, 0, usize::MAX).await?;
        let Some((_, points)) = series_of(&lines, 0)
            .into_iter()
            .find(|(k, _)| *k == query.key)
        else {
            return Ok(Vec::new());
        };
        let (Some(&lo), Some(&hi)) = (points.steps.iter().min(), points.steps.iter().max()) else {
            return Ok(Vec::new());
        };
        let mut buckets = Buckets::new(query_range(query, lo, hi), query.buckets);
        for (step, value) in points.steps.into_iter().zip(points.values) {
            buckets.add(step, value);
        }
        Ok(buckets.finish())
    }

    async fn series_keys(&self, key: &RunKey, stream: &Stream) -> StoreResult<Vec<String>> {
        let lines = self.lines(key, stream, 0, usize::MAX).await?;
        let mut keys: Vec<String> = series_of(&lines, 0).into_iter().map(|(k, _)| k).collect();
        keys.sort();
        Ok(keys)
    }

    async fn find_runs(&self, query: &RunQuery) -> StoreResult<Vec<String>> {
        let inner = self.inner.lock();
        let mut found: Vec<(String, Option<FieldValue>)> = Vec::new();
        for entry in &inner.runs {
            let run = &entry.record;
            if run.key.entity != query.entity || run.key.project != query.project {
                continue;
            }
            let mut fields = run.config.as_ref().map(config_fields).unwrap_or_default();
            if let Some(summary) = run.summary.as_ref().and_then(|s| s.json.as_ref()) {
                fields.extend(summary_fields(summary));
            }
            let value = |name: &str| fields.iter().find(|(f, _)| f == name).map(|(_, v)| v);
            let passes = query
                .filters
                .iter()
                .all(|(field, op, wanted)| value(field).is_some_and(|v| op.holds(v, wanted)));
            if passes {
                let sort = query.order.as_ref().and_then(|(f, _)| value(f).cloned());
                found.push((run.key.run.clone(), sort));
            }
        }
        if let Some((_, descending)) = &query.order {
            found.sort_by(|a, b| order_values(a.1.as_ref(), b.1.as_ref(), *descending));
        }
        let limit = query.limit.unwrap_or(usize::MAX);
        Ok(found
            .into_iter()
            .take(limit)
            .map(|(name, _)| name)
            .collect())
    }

    async fn delete_run(&self, key: &RunKey) -> StoreResult<bool> {
        let mut inner = self.inner.lock();
        let Some(index) = inner.runs.iter().position(|r| r.record.key == *key) else {
            return Ok(false);
        };
        let entry = inner.runs.remove(index);
        for (_, blob) in entry.files {
            if !inner.orphans.contains(&blob) {
                inner.orphans.push(blob);
            }
        }
        Ok(true)
    }

    async fn delete_artifacts(&self, ids: &[String]) -> StoreResult<usize> {
        let mut inner = self.inner.lock();
        let (gone, kept): (Vec<ArtifactEntry>, Vec<ArtifactEntry>) =
            std::mem::take(&mut inner.artifacts)
                .into_iter()
                .partition(|a| ids.contains(&a.record.id));
        inner.artifacts = kept;
        for a in &gone {
            let parts = a
                .multipart
                .values()
                .flat_map(|u| u.parts.iter().map(|(_, b)| b));
            for blob in a.record.files.iter().map(|(_, b)| b).chain(parts) {
                if !inner.orphans.contains(blob) {
                    inner.orphans.push(blob.clone());
                }
            }
        }
        Ok(gone.len())
    }

    async fn orphan_blobs(&self) -> StoreResult<Orphans> {
        let inner = self.inner.lock();
        let named = |blob: &BlobId| {
            inner
                .runs
                .iter()
                .any(|r| r.files.iter().any(|(_, b)| b == blob))
                || inner.artifacts.iter().any(|a| {
                    a.record.files.iter().any(|(_, b)| b == blob)
                        || a.multipart
                            .values()
                            .any(|u| u.parts.iter().any(|(_, b)| b == blob))
                })
        };
        let (named_again, unreferenced) = inner.orphans.iter().cloned().partition(named);
        Ok(Orphans {
            unreferenced,
            named_again,
        })
    }

    async fn forget_orphans(&self, blobs: &[BlobId]) -> StoreResult<()> {
        self.inner.lock().orphans.retain(|b| !blobs.contains(b));
        Ok(())
    }

    async fn add_alert(
        &self,
        key: &RunKey,
        alert: Alert,
        deliveries: Vec<Delivery>,
    ) -> StoreResult<()> {
        let mut inner = self.inner.lock();
        inner.run_mut(key).0.record.alerts.push(alert);
        let now = crate::store::now_ms();
        for mut delivery in deliveries {
            inner.next_delivery += 1;
            delivery.id = inner.next_delivery;
            inner.deliveries.push((delivery, now));
        }
        Ok(())
    }

    async fn add_webhook(&self, hook: &Webhook) -> StoreResult<bool> {
        let mut inner = self.inner.lock();
        let known = inner.webhooks.iter().any(|h| same_hook(h, hook));
        if !known {
            inner.webhooks.push(hook.clone());
            inner.webhooks.sort_by(|a, b| {
                (&a.entity, &a.project, &a.url).cmp(&(&b.entity, &b.project, &b.url))
            });
        }
        Ok(!known)
    }

    async fn remove_webhook(&self, hook: &Webhook) -> StoreResult<bool> {
        let mut inner = self.inner.lock();
        let before = inner.webhooks.len();
        inner.webhooks.retain(|h| !same_hook(h, hook));
        Ok(inner.webhooks.len() < before)
    }

    async fn webhooks(&self) -> StoreResult<Vec<Webhook>> {
        Ok(self.inner.lock().webhooks.clone())
    }

    async fn due_deliveries(&self, now_ms: i64, limit: usize) -> StoreResult<Vec<Delivery>> {
        let inner = self.inner.lock();
        let mut due: Vec<&(Delivery, i64)> = inner
            .deliveries
            .iter()
            .filter(|(_, at)| *at <= now_ms)
            .collect();
        due.sort_by_key(|(d, at)| (*at, d.id));
        Ok(due
            .into_iter()
            .take(limit)
            .map(|(d, _)| d.clone())
            .collect())
    }

    async fn next_delivery_at(&self) -> StoreResult<Option<i64>> {
        Ok(self.inner.lock().deliveries.iter().map(|(_, at)| *at).min())
    }

    async fn finish_delivery(&self, id: u64, retry: Option<(i64, String)>) -> StoreResult<()> {
        let mut inner = self.inner.lock();
        match retry {
            None => inner.deliveries.retain(|(d, _)| d.id != id),
            Some((at, _)) => {
                if let Some((d, next)) = inner.deliveries.iter_mut().find(|(d, _)| d.id == id) {
                    d.attempts += 1;
                    *next = at;
                }
            }
        }
        Ok(())
    }

    async fn request_stop(&self, key: &RunKey) -> StoreResult<bool> {
        let mut inner = self.inner.lock();
        let found = inner.runs.iter_mut().find(|r| r.record.key == *key);
        Ok(found.map(|r| r.record.stop_requested = true).is_some())
    }

    async fn put_run_file(&self, key: &RunKey, path: &str, blob: BlobId) -> StoreResult<()> {
        let mut inner = self.inner.lock();
        let files = &mut inner.run_mut(key).0.files;
        match files.iter_mut().find(|(p, _)| p == path) {
            Some(slot) => slot.1 = blob,
            None => files.push((path.to_owned(), blob)),
        }
        Ok(())
    }

    async fn run_files(&self, key: &RunKey) -> StoreResult<Vec<(String, BlobId)>> {
        let inner = self.inner.lock();
        Ok(inner.run(key).map(|e| e.files.clone()).unwrap_or_default())
    }

    async fn use_artifact(&self, key: &RunKey, artifact: &str) -> StoreResult<()> {
        let mut inner = self.inner.lock();
        let run = &mut inner.run_mut(key).0.record;
        run.used_artifacts.push(artifact.to_owned());
        Ok(())
    }

    async fn create_artifact(&self, draft: ArtifactDraft) -> StoreResult<Created> {
        let mut inner = self.inner.lock();
        let existing = inner.artifacts.iter_mut().rev().find(|a| {
            let a = &a.record;
            a.is_committed()
                && a.digest.is_some()
                && a.digest == draft.digest
                && a.collection == draft.collection
                && a.project == draft.project
                && a.entity == draft.entity
        });
        if let Some(found) = existing {
            add_aliases(&mut found.record.aliases, &draft.aliases);
            return Ok(Created::Existing(found.record.clone()));
        }
        let record = ArtifactRecord {
            id: draft.id,
            entity: draft.entity,
            project: draft.project,
            artifact_type: draft.artifact_type,
            collection: draft.collection,
            run: draft.run,
            digest: draft.digest,
            aliases: draft.aliases,
            metadata: draft.metadata,
            state: "PENDING".to_owned(),
            ..ArtifactRecord::default()
        };
        inner.artifacts.push(ArtifactEntry {
            record: record.clone(),
            multipart: BTreeMap::new(),
        });
        Ok(Created::New(record))
    }

    async fn artifact(&self, id: &str) -> StoreResult<Option<ArtifactRecord>> {
        let inner = self.inner.lock();
        Ok(inner
            .artifacts
            .iter()
            .find(|a| a.record.id == id)
            .map(|a| a.record.clone()))
    }

    async fn artifacts(&self) -> StoreResult<Vec<ArtifactRecord>> {
        let inner = self.inner.lock();
        Ok(inner.artifacts.iter().map(|a| a.record.clone()).collect())
    }

    async fn versions(&self, collection: &CollectionKey) -> StoreResult<Vec<ArtifactRecord>> {
        let inner = self.inner.lock();
        Ok(inner
            .artifacts
            .iter()
            .filter(|a| in_collection(&a.record, collection))
            .map(|a| a.record.clone())
            .collect())
    }

    async fn linked(
        &self,
        portfolio: &CollectionKey,
    ) -> StoreResult<Vec<(ArtifactLink, ArtifactRecord)>> {
        let inner = self.inner.lock();
        let mut linked: Vec<(ArtifactLink, ArtifactRecord)> = inner
            .artifacts
            .iter()
            .flat_map(|a| {
                a.record
                    .links
                    .iter()
                    .filter(|l| in_portfolio(l, portfolio))
                    .map(|l| (l.clone(), a.record.clone()))
            })
            .collect();
        linked.sort_by_key(|(l, _)| l.version_index);
        Ok(linked)
    }

    async fn artifact_type(
        &self,
        entity: Option<&str>,
        project: Option<&str>,
        collection: &str,
    ) -> StoreResult<Option<String>> {
        let inner = self.inner.lock();
        Ok(inner
            .artifacts
            .iter()
            .rev()
            .map(|a| &a.record)
            .find(|a| {
                a.collection.as_deref() == Some(collection)
                    && (project.is_none() || a.project.as_deref() == project)
                    && (entity.is_none() || a.entity.as_deref() == entity)
            })
            .and_then(|a| a.artifact_type.clone()))
    }

    async fn set_manifest(&self, id: &str, manifest: JsonLine) -> StoreResult<()> {
        self.inner.lock().artifact_mut(id)?.record.manifest = Some(manifest);
        Ok(())
    }

    async fn put_artifact_file(&self, id: &str, path: &str, blob: BlobId) -> StoreResult<()> {
        let mut inner = self.inner.lock();
        let files = &mut inner.artifact_mut(id)?.record.files;
        match files.iter_mut().find(|(p, _)| p == path) {
            Some(slot) => slot.1 = blob,
            None => files.push((path.to_owned(), blob)),
        }
        Ok(())
    }

    async fn start_multipart(
        &self,
        id: &str,
        upload_id: &str,
        upload: MultipartUpload,
    ) -> StoreResult<()> {
        let mut inner = self.inner.lock();
        let artifact = inner.artifact_mut(id)?;
        artifact.multipart.insert(upload_id.to_owned(), upload);
        Ok(())
    }

    async fn multipart(&self, id: &str, upload_id: &str) -> StoreResult<Option<MultipartUpload>> {
        let mut inner = self.inner.lock();
        Ok(inner.artifact_mut(id)?.multipart.get(upload_id).cloned())
    }

    async fn multiparts(&self, id: &str) -> StoreResult<Vec<(String, MultipartUpload)>> {
        let mut inner = self.inner.lock();
        let uploads = &inner.artifact_mut(id)?.multipart;
        Ok(uploads
            .iter()
            .map(|(k, u)| (k.clone(), u.clone()))
            .collect())
    }

    async fn put_part(
        &self,
        id: &str,
        upload_id: &str,
        part: u64,
        blob: BlobId,
    ) -> StoreResult<bool> {
        let mut inner = self.inner.lock();
        let artifact = inner.artifact_mut(id)?;
        let Some(upload) = artifact
            .multipart
            .get_mut(upload_id)
            .filter(|u| u.completed.is_none())
        else {
            return Ok(false);
        };
        upload.parts.retain(|(n, _)| *n != part);
        upload.parts.push((part, blob));
        upload.parts.sort_by_key(|(n, _)| *n);
        Ok(true)
    }

    async fn finish_multipart(
        &self,
        id: &str,
        upload_id: &str,
        done: Option<(String, BlobId)>,
    ) -> StoreResult<()> {
        let mut inner = self.inner.lock();
        let artifact = inner.artifact_mut(id)?;
        let Some((md5, blob)) = done else {
            artifact.multipart.remove(upload_id);
            return Ok(());
        };
        let upload = artifact
            .multipart
            .get_mut(upload_id)
            .ok_or_else(|| StoreError::Conflict(format!("no multipart upload `{upload_id}`")))?;
        upload.completed = Some(md5);
        upload.parts.clear();
        let path = upload.path.clone();
        let files = &mut artifact.record.files;
        match files.iter_mut().find(|(p, _)| *p == path) {
            Some(slot) => slot.1 = blob,
            None => files.push((path, blob)),
        }
        Ok(())
    }

    async fn commit_artifact(&self, id: &str) -> StoreResult<Option<ArtifactRecord>> {
        let mut inner = self.inner.lock();
        let Ok(artifact) = inner.artifact_mut(id) else {
            return Ok(None);
        };
        artifact.record.state = "COMMITTED".to_owned();
        Ok(Some(artifact.record.clone()))
    }

    async fn add_user(&self, name: &str, admin: bool) -> StoreResult<bool> {
        let mut inner = self.inner.lock();
        if inner.teams.iter().any(|(t, _)| t == name) {
            return Err(StoreError::Conflict(format!("`{name}` is a team")));
        }
        if inner.users.iter().any(|(u, _)| u == name) {
            return Ok(false);
        }
        inner.users.push((name.to_owned(), admin));
        Ok(true)
    }

    async fn add_team(&self, name: &str) -> StoreResult<bool> {
        let mut inner = self.inner.lock();
        if inner.users.iter().any(|(u, _)| u == name) {
            return Err(StoreError::Conflict(format!("`{name}` is a user")));
        }
        if inner.teams.iter().any(|(t, _)| t == name) {
            return Ok(false);
        }
        inner.teams.push((name.to_owned(), Vec::new()));
        Ok(true)
    }

    async fn add_member(&self, team: &str, user: &str) -> StoreResult<()> {
        let mut inner = self.inner.lock();
        if !inner.users.iter().any(|(u, _)| u == user) {
            return Err(StoreError::NotFound(format!("no user `{user}`")));
        }
        let Some((_, members)) = inner.teams.iter_mut().find(|(t, _)| t == team) else {
            return Err(StoreError::NotFound(format!("no team `{team}`")));
        };
        if !members.iter().any(|m| m == user) {
            members.push(user.to_owned());
        }
        Ok(())
    }

    async fn users(&self) -> StoreResult<Vec<String>> {
        let mut users: Vec<String> = self
            .inner
            .lock()
            .users
            .iter()
            .map(|(u, _)| u.clone())
            .collect();
        users.sort();
        Ok(users)
    }

    async fn team_members(&self, team: &str) -> StoreResult<Option<Vec<String>>> {
        let inner = self.inner.lock();
        Ok(inner
            .teams
            .iter()
            .find(|(t, _)| t == team)
            .map(|(_, members)| {
                let mut members = members.clone();
                members.sort();
                members
            }))
    }

    async fn add_key(&self, user: &str, key_hash: &str, label: &str) -> StoreResult<()> {
        let mut inner = self.inner.lock();
        if !inner.users.iter().any(|(u, _)| u == user) {
            return Err(StoreError::NotFound(format!("no user `{user}`")));
        }
        if inner
            .keys
            .iter()
            .any(|(h, _, l)| h == key_hash || l == label)
        {
            return Err(StoreError::Conflict(format!(
                "a key labelled `{label}` exists"
            )));
        }
        inner
            .keys
            .push((key_hash.to_owned(), user.to_owned(), label.to_owned()));
        Ok(())
    }

    async fn key_labels(&self, user: &str) -> StoreResult<Vec<String>> {
        let mut labels: Vec<String> = self
            .inner
            .lock()
            .keys
            .iter()
            .filter(|(_, u, _)| u == user)
            .map(|(_, _, l)| l.clone())
            .collect();
        labels.sort();
        Ok(labels)
    }

    async fn key_user(&self, key_hash: &str) -> StoreResult<Option<Caller>> {
        let inner = self.inner.lock();
        Ok(inner
            .keys
            .iter()
            .find(|(h, _, _)| h == key_hash)
            .and_then(|(_, user, _)| inner.caller(user)))
    }

    async fn add_session(
        &self,
        hash: &str,
        user: &str,
        csrf: &str,
        expires_ms: i64,
    ) -> StoreResult<()> {
        let mut inner = self.inner.lock();
        let now = crate::store::now_ms();
        inner.sessions.retain(|(_, _, _, expires)| *expires > now);
        inner.sessions.push((
            hash.to_owned(),
            user.to_owned(),
            csrf.to_owned(),
            expires_ms,
        ));
        Ok(())
    }

    async fn session(&self, hash: &str, now_ms: i64) -> StoreResult<Option<(Caller, String)>> {
        let inner = self.inner.lock();
        Ok(inner
            .sessions
            .iter()
            .find(|(h, _, _, expires)| h == hash && *expires > now_ms)
            .and_then(|(_, user, csrf, _)| Some((inner.caller(user)?, csrf.clone()))))
    }

    async fn remove_session(&self, hash: &str) -> StoreResult<()> {
        self.inner.lock().sessions.retain(|(h, _, _, _)| h != hash);
        Ok(())
    }

    async fn add_signin_token(&self, hash: &str, user: &str, expires_ms: i64) -> StoreResult<()> {
        let mut inner = self.inner.lock();
        inner
            .signin_tokens
            .push((hash.to_owned(), user.to_owned(), expires_ms));
        Ok(())
    }

    async fn take_signin_token(&self, hash: &str, now_ms: i64) -> StoreResult<Option<String>> {
        let mut inner = self.inner.lock();
        let found = inner
            .signin_tokens
            .iter()
            .find(|(h, _, _)| h == hash)
            .and_then(|(_, user, expires)| (*expires > now_ms).then(|| user.clone()));
        inner
            .signin_tokens
            .retain(|(h, _, expires)| h != hash && *expires > now_ms);
        Ok(found)
    }

    async fn set_password(&self, user: &str, phc: &str) -> StoreResult<bool> {
        let mut inner = self.inner.lock();
        if !inner.users.iter().any(|(u, _)| u == user) {
            return Ok(false);
        }
        inner.passwords.retain(|(u, _)| u != user);
        inner.passwords.push((user.to_owned(), phc.to_owned()));
        Ok(true)
    }

    async fn password(&self, user: &str) -> StoreResult<Option<String>> {
        let inner = self.inner.lock();
        Ok(inner
            .passwords
            .iter()
            .find(|(u, _)| u == user)
            .map(|(_, p)| p.clone()))
    }

    async fn import_position(&self, log: &str) -> StoreResult<Option<ImportPosition>> {
        Ok(self.inner.lock().imports.get(log).cloned())
    }

    async fn save_import_position(&self, log: &str, position: &ImportPosition) -> StoreResult<()> {
        self.inner
            .lock()
            .imports
            .insert(log.to_owned(), position.clone());
        Ok(())
    }

    async fn revoke_key(&self, label: &str) -> StoreResult<bool> {
        let mut inner = self.inner.lock();
        let before = inner.keys.len();
        inner.keys.retain(|(_, _, l)| l != label);
        Ok(inner.keys.len() < before)
    }

    async fn link_artifact(
        &self,
        id: &str,
        portfolio: &CollectionKey,
        aliases: &[String],
    ) -> StoreResult<usize> {
        let mut inner = self.inner.lock();
        let next = inner
            .artifacts
            .iter()
            .flat_map(|a| &a.record.links)
            .filter(|l| in_portfolio(l, portfolio))
            .count();
        let artifact = inner.artifact_mut(id)?;
        // A version is in a portfolio once: linking it again adds the aliases and keeps its
        // index (W&B's rule), so a client that repeats a link changes nothing else.
        if let Some(link) = artifact
            .record
            .links
            .iter_mut()
            .find(|l| in_portfolio(l, portfolio))
        {
            add_aliases(&mut link.aliases, aliases);
            return Ok(link.version_index);
        }
        artifact.record.links.push(ArtifactLink {
            entity: portfolio.entity.clone(),
            project: portfolio.project.clone(),
            portfolio: portfolio.name.clone(),
            aliases: aliases.to_vec(),
            version_index: next,
        });
        Ok(next)
    }
}

#[cfg(feature = "testing")]
impl MemoryStore {
    /// Changes a stored version behind the protocol's back, as a server whose data went
    /// bad would serve it (tests of what a client refuses).
    pub fn edit_artifact(&self, id: &str, edit: impl FnOnce(&mut ArtifactRecord)) {
        if let Ok(artifact) = self.inner.lock().artifact_mut(id) {
            edit(&mut artifact.record);
        }
    }
}

/// A [`BlobStore`] in memory.
///
/// ```
/// use labbook_server::store::MemoryBlobs;
/// let blobs = MemoryBlobs::default();
/// # let _ = blobs;
/// ```
#[derive(Debug, Default)]
pub struct MemoryBlobs {
    blobs: Mutex<HashMap<BlobId, Bytes>>,
}

#[async_trait]
impl BlobStore for MemoryBlobs {
    async fn put(&self, scope: &str, bytes: Bytes) -> StoreResult<BlobId> {
        let id = BlobId::of(scope, &bytes);
        self.blobs.lock().entry(id.clone()).or_insert(bytes);
        Ok(id)
    }

    async fn get(&self, id: &BlobId) -> StoreResult<Option<Bytes>> {
        Ok(self.blobs.lock().get(id).cloned())
    }

    async fn delete(&self, id: &BlobId) -> StoreResult<()> {
        self.blobs.lock().remove(id);
        Ok(())
    }
}
