//! One log found in a watched directory, imported into one run: its records replayed with
//! labbook-wire's [`RunLog`] and turned into lines by [`labbook_wire::upload`] (the rules
//! `labbook sync` sends by), stored through the service under the same offset rules as
//! `file_stream`, and its position kept in the server's database.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use labbook_wire::proto::{self, RecordType};
use labbook_wire::upload::{self, FirstPass, Lines, SUMMARY_FILE, Steps};
use labbook_wire::{LogFollower, RunLog, Tree};

use super::ImportError;
use super::scan;
use crate::service::{Content, Service, ServiceError, StreamFlags, UpsertInput};
use crate::store::{Alert, ImportPosition, RunKey, RunPatch};

/// Lines past this many bytes go in a request of their own (as the uploader's default).
const REQUEST_BYTES: usize = 4 << 20;

/// The import of one log.
#[derive(Debug)]
pub(super) struct RunImport {
    log: PathBuf,
    /// The log's path as the database names it.
    name: String,
    follower: Option<LogFollower>,
    /// Set once the log's run record was found and the run upserted.
    key: Option<RunKey>,
    /// Where the first run record ends (it is fed before every other record).
    run_end: u64,
    state: RunLog,
    steps: Steps,
    lines: Lines,
    start: f64,
    /// The run record last sent, so a later one sends only what changed.
    run: Option<proto::RunRecord>,
    /// The whole log's config, when the log was finished when first read.
    whole_config: Option<Tree>,
    summary_dirty: bool,
    media_pending: Vec<String>,
    sent_files: BTreeSet<String>,
    /// The server ids of the artifact versions the run logged, by client id (for links).
    artifact_ids: HashMap<String, String>,
    /// Where the last record taken ends, and up to where an earlier import stored all.
    at: u64,
    replay_until: u64,
    /// The writer was seen holding the run's lock: its release is the end of the run.
    seen_locked: bool,
    done: bool,
}

impl RunImport {
    pub(super) fn new(log: PathBuf) -> RunImport {
        RunImport {
            name: log.to_string_lossy().into_owned(),
            log,
            follower: None,
            key: None,
            run_end: 0,
            state: RunLog::default(),
            steps: Steps::default(),
            lines: Lines::default(),
            start: 0.0,
            run: None,
            whole_config: None,
            summary_dirty: false,
            media_pending: Vec::new(),
            sent_files: BTreeSet::new(),
            artifact_ids: HashMap::new(),
            at: 0,
            replay_until: 0,
            seen_locked: false,
            done: false,
        }
    }

    pub(super) fn log(&self) -> &Path {
        &self.log
    }

    /// Stops importing this log for as long as the server runs (it names a run or a file
    /// the server refuses).
    pub(super) fn give_up(&mut self) {
        self.done = true;
    }

    fn run_dir(&self) -> &Path {
        self.log.parent().unwrap_or(Path::new("."))
    }

    fn files_dir(&self) -> PathBuf {
        self.run_dir().join("files")
    }

    /// Takes what the log gained since the last call; finishes the run once its writer is
    /// gone and every record is in (a log without an exit record is stored as crashed
    /// once it has not grown for `idle`, or at once when its writer held the run's lock).
    pub(super) async fn step(
        &mut self,
        service: &Service,
        idle: Duration,
    ) -> Result<(), ImportError> {
        if self.done {
            return Ok(());
        }
        if self.key.is_none() && !self.begin(service).await? {
            return Ok(());
        }
        loop {
            // Looked at before reading, so nothing the writer added before letting go is
            // missed.
            let live = scan::is_live(self.run_dir());
            self.seen_locked |= live;
            let records = self.poll().await?;
            let caught_up = records.is_empty();
            for (record, end) in records {
                if end == self.run_end {
                    continue;
                }
                if let Some(r) = record.record_type {
                    self.feed(service, &r, end).await?;
                }
            }
            if !caught_up {
                continue;
            }
            let ended = self.state.exit.is_some()
                || self.seen_locked
                || scan::unchanged_for(&self.log, idle);
            if !live && ended {
                return self.finish(service).await;
            }
            return self.flush(service).await;
        }
    }

    /// Reads the log whole once (its run record, config and program, as `labbook sync`
    /// does), and creates the run. False while the log has no run record yet, or when an
    /// earlier import finished it.
    async fn begin(&mut self, service: &Service) -> Result<bool, ImportError> {
        let saved = service.meta.import_position(&self.name).await?;
        let log = self.log.clone();
        let live = scan::is_live(self.run_dir());
        let first = tokio::task::spawn_blocking(move || scan::first_pass(&log))
            .await
            .map_err(|e| ImportError::Read(e.to_string()))??;
        let Some(FirstPass {
            run,
            run_end,
            whole,
            len,
        }) = first
        else {
            return Ok(false);
        };
        if let Some(pos) = &saved {
            if pos.done && pos.log_offset >= len {
                self.done = true;
                return Ok(false);
            }
            self.replay_until = pos.log_offset;
            self.lines.offsets = pos.offsets;
        }
        if !live {
            self.whole_config = Some(whole.config.clone());
        }
        self.run_end = run_end;
        let key = service.run_key(
            nonempty(&run.entity).map(str::to_owned),
            nonempty(&run.project).map(str::to_owned),
            run.run_id.clone(),
        );
        if saved.is_none() && run.resumed {
            self.continue_stored(service, &key).await?;
        }
        self.start = upload::start_time(&run);
        self.state.apply(&RecordType::Run(run.clone()));
        self.upsert(service, key, &run, whole.program()).await?;
        self.follower = Some(LogFollower::new(&self.log).batch_bytes(1 << 20));
        Ok(true)
    }

    /// A resumed run goes on after the lines its earlier logs left on the server.
    async fn continue_stored(
        &mut self,
        service: &Service,
        key: &RunKey,
    ) -> Result<(), ImportError> {
        let Some(stored) = service.run(key).await? else {
            return Ok(());
        };
        self.lines.offsets = [
            stored.history_lines as u64,
            stored.events_lines as u64,
            stored.output_lines as u64,
        ];
        let last = service
            .tail(&stored, crate::store::Stream::History, 1)
            .await?;
        self.steps.last = last
            .first()
            .and_then(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .and_then(|row| row["_step"].as_i64());
        Ok(())
    }

    async fn upsert(
        &mut self,
        service: &Service,
        key: RunKey,
        run: &proto::RunRecord,
        program: Option<&str>,
    ) -> Result<(), ImportError> {
        let text = |s: &str| nonempty(s).map(str::to_owned);
        let patch = RunPatch {
            display_name: text(&run.display_name),
            config: Some(self.config_json()?),
            tags: Some(run.tags.clone()),
            group: text(&run.run_group),
            job_type: text(&run.job_type),
            notes: text(&run.notes),
            host: text(&run.host),
            program: program.map(str::to_owned),
            sweep: text(&run.sweep_id),
            ..RunPatch::default()
        };
        self.upsert_patch(service, &key, patch).await?;
        self.run = Some(run.clone());
        self.key = Some(key);
        Ok(())
    }

    async fn upsert_patch(
        &self,
        service: &Service,
        key: &RunKey,
        patch: RunPatch,
    ) -> Result<(), ImportError> {
        let input = UpsertInput {
            entity: Some(key.entity.clone()),
            project: Some(key.project.clone()),
            name: Some(key.run.clone()),
            patch,
        };
        service.upsert_run(input).await?;
        Ok(())
    }

    /// The config to store: the whole log's when it was read first, else what the
    /// records so far set; W&B's `{"key": {"value": v}}` shape.
    fn config_json(&self) -> Result<serde_json::Value, ImportError> {
        let tree = self.whole_config.as_ref().unwrap_or(&self.state.config);
        crate::store::parse_lenient(&tree.as_config().to_json())
            .map_err(|e| ImportError::Read(format!("the config is not JSON: {e}")))
    }

    async fn poll(&mut self) -> Result<Vec<(proto::Record, u64)>, ImportError> {
        let Some(mut follower) = self.follower.take() else {
            return Ok(Vec::new());
        };
        let (follower, records) = tokio::task::spawn_blocking(move || {
            let records = follower.poll_with_ends();
            (follower, records)
        })
        .await
        .map_err(|e| ImportError::Read(e.to_string()))?;
        self.follower = Some(follower);
        records.map_err(|e| ImportError::Read(e.to_string()))
    }

    /// Takes one record, which ends at byte `end` of the log. Records an earlier import
    /// stored (ending at or before its position) only rebuild the state.
    async fn feed(
        &mut self,
        service: &Service,
        record: &RecordType,
        end: u64,
    ) -> Result<(), ImportError> {
        self.state.apply(record);
        let replaying = end <= self.replay_until;
        self.at = self.at.max(end);
        match record {
            RecordType::History(h) => {
                let step = self.steps.next(h);
                if !replaying {
                    for item in &h.item {
                        upload::media_paths(&item.value_json, &mut self.media_pending);
                    }
                    self.lines.history(upload::history_line(h, step));
                }
            }
            RecordType::Summary(_) => self.summary_dirty = true,
            RecordType::Artifact(a) => self.artifact(service, a, replaying).await?,
            _ if replaying => {}
            RecordType::Stats(st) => self.lines.events(upload::events_line(st, self.start)),
            RecordType::OutputRaw(o) => {
                for line in upload::output_lines(o) {
                    self.lines.output(line);
                }
            }
            RecordType::Run(run) => self.update_run(service, run).await?,
            RecordType::Config(_) if self.whole_config.is_none() => {
                let key = self.key()?;
                let patch = RunPatch {
                    config: Some(self.config_json()?),
                    ..RunPatch::default()
                };
                self.upsert_patch(service, &key, patch).await?;
            }
            // An alert goes out once: the lines before it first, then the alert, then the
            // position past it.
            RecordType::Alert(a) => {
                self.flush(service).await?;
                service.alert(&self.key()?, alert(a)).await?;
                self.save(service, false).await?;
            }
            RecordType::UseArtifact(u) => {
                self.flush(service).await?;
                let used = super::artifacts::record_use(service, &self.key()?, u).await;
                given_up(used, &format!("the use of {}", u.name))?;
                self.save(service, false).await?;
            }
            _ => {}
        }
        if self.lines.bytes() >= REQUEST_BYTES {
            self.flush(service).await?;
        }
        Ok(())
    }

    /// Stores an artifact version and keeps its id. One that cannot be stored (a staged
    /// file gone) is given up with a warning, as `labbook sync` does, and the run goes on.
    async fn artifact(
        &mut self,
        service: &Service,
        a: &proto::ArtifactRecord,
        replaying: bool,
    ) -> Result<(), ImportError> {
        let key = self.key()?;
        let run_dir = self.run_dir().to_owned();
        let stored = super::artifacts::import(service, &key, &run_dir, a, replaying).await;
        if let Some(id) = given_up(stored, &format!("artifact {}", a.name))? {
            self.artifact_ids.insert(a.client_id.clone(), id);
        }
        Ok(())
    }

    /// A later run record (a rename at finish, new tags or notes): stores what changed.
    async fn update_run(
        &mut self,
        service: &Service,
        run: &proto::RunRecord,
    ) -> Result<(), ImportError> {
        let key = self.key()?;
        let before = self.run.replace(run.clone());
        let changes = upload::RunChanges::between(before.as_ref(), run);
        let patch = RunPatch {
            display_name: changes.display_name,
            notes: changes.notes,
            group: changes.group,
            job_type: changes.job_type,
            tags: changes.tags,
            ..RunPatch::default()
        };
        self.upsert_patch(service, &key, patch).await
    }

    /// Stores the lines waiting (and the summary if it changed) in one batch, with the
    /// media their rows name, then the position.
    async fn flush(&mut self, service: &Service) -> Result<(), ImportError> {
        if self.lines.is_empty() && !self.summary_dirty {
            return Ok(());
        }
        let media: Vec<String> = std::mem::take(&mut self.media_pending);
        self.put_files(service, media).await?;
        let summary = self.summary_dirty.then(|| self.summary_line());
        self.send(service, summary, Vec::new(), StreamFlags::default())
            .await?;
        self.save(service, false).await
    }

    fn summary_line(&self) -> String {
        upload::summary_line(&self.state.summary, self.steps.last)
    }

    async fn send(
        &mut self,
        service: &Service,
        summary: Option<String>,
        uploaded: Vec<String>,
        flags: StreamFlags,
    ) -> Result<(), ImportError> {
        let key = self.key()?;
        let mut files: Vec<(String, usize, Vec<String>)> = self
            .lines
            .take()
            .into_iter()
            .map(|f| (f.name.to_owned(), f.offset as usize, f.lines))
            .collect();
        if let Some(summary) = summary {
            files.push((SUMMARY_FILE.to_owned(), 0, vec![summary]));
        }
        self.summary_dirty = false;
        service.stream(&key, files, uploaded, flags).await?;
        Ok(())
    }

    async fn save(&self, service: &Service, done: bool) -> Result<(), ImportError> {
        let position = ImportPosition {
            key: self.key()?,
            log_offset: self.at.max(self.replay_until),
            offsets: self.lines.offsets,
            done,
        };
        service
            .meta
            .save_import_position(&self.name, &position)
            .await?;
        Ok(())
    }

    /// Ends the run as `labbook sync` does: the final summary as `wandb-summary.json`
    /// (kept from memory: nothing is written into the watched directory), every run file,
    /// then the last lines with `complete` and the exit code (1, and crashed, when the
    /// log has no exit record).
    async fn finish(&mut self, service: &Service) -> Result<(), ImportError> {
        let summary = self.summary_line();
        let dir = self.files_dir();
        let names = tokio::task::spawn_blocking(move || scan::run_files(&dir))
            .await
            .map_err(|e| ImportError::Read(e.to_string()))??;
        let names = names.into_iter().filter(|n| n != SUMMARY_FILE).collect();
        let key = self.key()?;
        let run_dir = self.run_dir().to_owned();
        let links =
            super::artifacts::apply_links(service, &key, &run_dir, &self.artifact_ids).await;
        given_up(links, "the queued links")?;
        self.put_files(service, names).await?;
        service
            .put_run_file(&key, SUMMARY_FILE, Bytes::from(summary.clone()))
            .await?;
        self.sent_files.insert(SUMMARY_FILE.to_owned());
        let uploaded = self.sent_files.iter().cloned().collect();
        let flags = StreamFlags {
            complete: true,
            exit_code: Some(i64::from(self.state.exit_code().unwrap_or(1))),
            crashed: self.state.exit.is_none(),
            ..StreamFlags::default()
        };
        self.send(service, Some(summary), uploaded, flags).await?;
        self.save(service, true).await?;
        self.done = true;
        tracing::info!(log = %self.log.display(), entity = %key.entity, project = %key.project,
            run = %key.run, rows = self.state.rows, crashed = flags.crashed, "imported a run");
        Ok(())
    }

    /// Stores run files (paths under `files/`) not stored yet, each streamed from disk.
    async fn put_files(
        &mut self,
        service: &Service,
        names: Vec<String>,
    ) -> Result<(), ImportError> {
        let key = self.key()?;
        for name in names {
            if self.sent_files.contains(&name) {
                continue;
            }
            let path = self.files_dir().join(&name);
            if std::fs::symlink_metadata(&path).is_err() {
                continue; // a temporary file renamed since the listing: nothing to store
            }
            let Some(path) = scan::inside(&path, self.run_dir()) else {
                tracing::warn!(log = %self.log.display(), file = %name,
                    "a run file that leads outside the run directory is not imported");
                continue;
            };
            if !path.is_file() {
                continue;
            }
            let put = service.put_run_file(&key, &name, Content::File(path)).await;
            // A name the server refuses, or a file gone since: skipped, the run goes on.
            if given_up(put.map_err(ImportError::from), &format!("run file {name}"))?.is_some() {
                self.sent_files.insert(name);
            }
        }
        Ok(())
    }

    fn key(&self) -> Result<RunKey, ImportError> {
        self.key
            .clone()
            .ok_or_else(|| ImportError::Read("the log has data before its run record".into()))
    }
}

/// What could not be stored for good (a file gone, a version refused) is a warning and
/// the import goes on; a store that cannot answer now is an error: the next look retries.
fn given_up<T>(result: Result<T, ImportError>, what: &str) -> Result<Option<T>, ImportError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(ImportError::Service(ServiceError::Unavailable(e))) => {
            Err(ImportError::Service(ServiceError::Unavailable(e)))
        }
        Err(error) => {
            tracing::warn!(%error, "{what} was not imported");
            Ok(None)
        }
    }
}

fn nonempty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

/// An alert record as the server keeps one (as `labbook sync` sends it).
fn alert(a: &proto::AlertRecord) -> Alert {
    Alert {
        title: a.title.clone(),
        text: a.text.clone(),
        severity: Some(if a.level.is_empty() {
            "INFO".to_owned()
        } else {
            a.level.clone()
        }),
        wait_duration: Some(serde_json::json!(a.wait_duration)),
    }
}
