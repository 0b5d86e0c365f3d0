//! Run rules: defaults for what a request leaves out, generated names, server ids, and
//! `file_stream` requests split into streams.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use bytes::Bytes;

use super::{Service, ServiceResult};
use crate::store::{Chunk, RunKey, RunPatch, RunRecord, Stream, StreamBatch, StreamOutcome};

const ADJECTIVES: [&str; 8] = [
    "quiet", "brisk", "amber", "lucid", "steady", "bold", "gentle", "vivid",
];
const NOUNS: [&str; 8] = [
    "river", "forest", "comet", "harbor", "meadow", "summit", "canyon", "lantern",
];

/// The project of a run whose request names none, as W&B's.
pub(crate) const DEFAULT_PROJECT: &str = "uncategorized";

/// An `UpsertBucket`: the run's key as far as the request gives it, and the changes.
#[derive(Debug, Default)]
pub(crate) struct UpsertInput {
    pub(crate) entity: Option<String>,
    pub(crate) project: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) patch: RunPatch,
}

/// What a `file_stream` request says of the run besides its lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct StreamFlags {
    pub(crate) preempting: bool,
    pub(crate) complete: bool,
    pub(crate) exit_code: Option<i64>,
    /// With `complete`: the run's log ended without an exit record (an import says so).
    pub(crate) crashed: bool,
}

/// The server's id for a run, stable for its key.
fn storage_id(key: &RunKey) -> String {
    STANDARD.encode(format!("Run:{}/{}/{}", key.entity, key.project, key.run))
}

impl Service {
    /// The key a request means: its entity or the viewer's, its project or
    /// `uncategorized`.
    pub(crate) fn run_key(
        &self,
        entity: Option<String>,
        project: Option<String>,
        run: String,
    ) -> RunKey {
        RunKey::new(
            entity.unwrap_or_else(|| self.entity.clone()),
            project.unwrap_or_else(|| DEFAULT_PROJECT.to_owned()),
            run,
        )
    }

    /// Creates or updates a run: only the fields given change. A run without a name gets
    /// `run000042`, one without a display name a generated one.
    pub(crate) async fn upsert_run(&self, input: UpsertInput) -> ServiceResult<(RunRecord, bool)> {
        let name = match input.name {
            Some(name) => name,
            None => format!("run{:06}", self.meta.next_id().await?),
        };
        let key = self.run_key(input.entity, input.project, name);
        super::names::check_key(&key)?;
        let n = self.meta.next_id().await? as usize;
        let patch = RunPatch {
            storage_id: storage_id(&key),
            default_display_name: Some(format!("{}-{}-{n}", ADJECTIVES[n % 8], NOUNS[(n / 8) % 8])),
            counts_as_upsert: true,
            ..input.patch
        };
        Ok(self.meta.upsert_run(&key, patch).await?)
    }

    /// The run, created empty if no request named it yet (a file upload may come first).
    pub(crate) async fn touch_run(&self, key: &RunKey) -> ServiceResult<RunRecord> {
        super::names::check_key(key)?;
        let patch = RunPatch {
            storage_id: storage_id(key),
            ..RunPatch::default()
        };
        Ok(self.meta.upsert_run(key, patch).await?.0)
    }

    pub(crate) async fn run(&self, key: &RunKey) -> ServiceResult<Option<RunRecord>> {
        Ok(self.meta.run(key).await?)
    }

    /// Stores a `file_stream` request: its files become streams and the summary.
    pub(crate) async fn stream(
        &self,
        key: &RunKey,
        files: Vec<(String, usize, Vec<String>)>,
        uploaded: Vec<String>,
        flags: StreamFlags,
    ) -> ServiceResult<StreamOutcome> {
        super::names::check_key(key)?;
        for (file, _, _) in &files {
            super::names::check_path(file)?;
        }
        let mut batch = StreamBatch {
            uploaded,
            preempting: flags.preempting,
            complete: flags.complete,
            exit_code: flags.exit_code,
            crashed: flags.crashed,
            ..StreamBatch::default()
        };
        for (file, offset, mut lines) in files {
            match Stream::from_file(&file) {
                Some(stream) => batch.chunks.push((stream, Chunk { offset, lines })),
                None => {
                    if let Some(last) = lines.pop() {
                        batch.summary = Some((last, offset));
                    }
                }
            }
        }
        Ok(self.meta.append_stream(key, batch).await?)
    }

    /// The last `n` lines of a stream (what a resuming client continues from).
    pub(crate) async fn tail(
        &self,
        run: &RunRecord,
        stream: Stream,
        n: usize,
    ) -> ServiceResult<Vec<String>> {
        let count = match stream {
            Stream::History => run.history_lines,
            Stream::Events => run.events_lines,
            Stream::Output => run.output_lines,
            Stream::Other(_) => 0,
        };
        let from = count.saturating_sub(n);
        Ok(self.meta.lines(&run.key, &stream, from, n).await?)
    }

    /// Keeps a run file: its bytes in the run's entity, then its row.
    pub(crate) async fn put_run_file(
        &self,
        key: &RunKey,
        path: &str,
        content: impl Into<super::Content>,
    ) -> ServiceResult<()> {
        super::names::check_key(key)?;
        super::names::check_path(path)?;
        let _putting = self.putting().await;
        let blob = self.put_blob(&key.entity, content.into()).await?;
        self.touch_run(key).await?;
        Ok(self.meta.put_run_file(key, path, blob).await?)
    }

    /// The labels of `user`'s API keys.
    pub(crate) async fn key_labels(&self, user: &str) -> ServiceResult<Vec<String>> {
        Ok(self.meta.key_labels(user).await?)
    }

    /// The members of team `team` (`None`: no such team).
    pub(crate) async fn team_members(&self, team: &str) -> ServiceResult<Option<Vec<String>>> {
        Ok(self.meta.team_members(team).await?)
    }

    /// Every user, by name.
    pub(crate) async fn users(&self) -> ServiceResult<Vec<String>> {
        Ok(self.meta.users().await?)
    }

    /// A run file's bytes.
    pub(crate) async fn run_file(&self, key: &RunKey, path: &str) -> ServiceResult<Option<Bytes>> {
        let files = self.meta.run_files(key).await?;
        let Some((_, blob)) = files.into_iter().find(|(p, _)| p == path) else {
            return Ok(None);
        };
        Ok(self.blobs.get(&blob).await?)
    }

    /// A run's files with their sizes, by path.
    pub(crate) async fn run_files(&self, key: &RunKey) -> ServiceResult<Vec<(String, u64)>> {
        let mut out = Vec::new();
        for (path, blob) in self.meta.run_files(key).await? {
            out.push((path, self.blobs.size(&blob).await?.unwrap_or(0)));
        }
        Ok(out)
    }

    /// Deletes a run with all it holds, then the bytes of its files that nothing else
    /// names. Whether there was such a run.
    pub(crate) async fn delete_run(
        &self,
        key: &RunKey,
        with_artifacts: bool,
    ) -> ServiceResult<bool> {
        if with_artifacts {
            let ids: Vec<String> = self
                .logged_by(key)
                .await?
                .into_iter()
                .map(|a| a.id)
                .collect();
            let n = self.meta.delete_artifacts(&ids).await?;
            tracing::info!(entity = %key.entity, project = %key.project, run = %key.run,
                versions = n, "deleted the artifact versions a run logged");
        }
        if !self.meta.delete_run(key).await? {
            if with_artifacts {
                self.collect_orphans().await?;
            }
            return Ok(false);
        }
        let removed = self.collect_orphans().await?;
        tracing::info!(entity = %key.entity, project = %key.project, run = %key.run,
            blobs = removed, "deleted a run");
        Ok(true)
    }

    /// The run a server id (`storage_id`) names.
    pub(crate) fn key_of_storage_id(id: &str) -> Option<RunKey> {
        let text = String::from_utf8(STANDARD.decode(id).ok()?).ok()?;
        let path = text.strip_prefix("Run:")?;
        let mut parts = path.splitn(3, '/');
        let (entity, project, run) = (parts.next()?, parts.next()?, parts.next()?);
        Some(RunKey::new(entity, project, run))
    }
}
