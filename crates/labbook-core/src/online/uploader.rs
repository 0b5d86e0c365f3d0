//! The uploader: turns a run's log records into W&B requests (UpsertBucket with the run and
//! its config, file_stream lines, run files through CreateRunFiles and PUT, alerts,
//! artifacts), for a live run and for `labbook sync` alike.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::json;

use super::SyncReport;
use super::client::Client;
use super::clock::{Clock, SystemClock};
use super::graphql;
use super::position::UploadPosition;
use super::retry::RetryPolicy;
use super::server_run::resume_status;
use crate::error::{Error, Result};
use crate::wire::proto::{self, RecordType};
use crate::wire::upload::{self, Lines, SUMMARY_FILE, Steps};
use crate::wire::{LogEnd, RunLog, Tree};

/// Where and how [`sync_run`](super::sync_run) uploads. Its `Debug` never shows the API key.
#[derive(Clone)]
pub struct SyncOptions {
    /// The server, e.g. `https://api.wandb.ai`.
    pub base_url: String,
    /// The API key (see [`api_key`](super::api_key)).
    pub api_key: String,
    /// Uploads into this entity instead of the run's.
    pub entity: Option<String>,
    /// Uploads into this project instead of the run's.
    pub project: Option<String>,
    /// Retries of failed requests.
    pub retry: RetryPolicy,
    /// Most bytes of lines in one file_stream request (W&B allows 10 MiB).
    pub max_request_bytes: usize,
    /// The program the run record's UpsertBucket names (the environment record's).
    pub program: Option<String>,
    /// The clock retries and rate limits wait by (the system clock; a
    /// [`ManualClock`](super::ManualClock) in tests).
    pub clock: Arc<dyn Clock>,
    /// Which artifact files are uploaded in parts (W&B's: from 2 GiB, 100 MiB parts).
    pub multipart: super::Multipart,
    /// Upload a run that is still being written, following its log until the writer
    /// finishes (without it, such a run is [`Error::RunInProgress`]).
    pub follow: bool,
}

impl std::fmt::Debug for SyncOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncOptions")
            .field("base_url", &super::client::public_url(&self.base_url))
            .field("api_key", &super::Secret::new(String::new()))
            .field("entity", &self.entity)
            .field("project", &self.project)
            .field("retry", &self.retry)
            .field("max_request_bytes", &self.max_request_bytes)
            .field("program", &self.program)
            .field("multipart", &self.multipart)
            .field("follow", &self.follow)
            .finish_non_exhaustive()
    }
}

impl SyncOptions {
    /// Options for `base_url` and `api_key`, with the run's own entity and project.
    pub fn new(base_url: impl Into<String>, api_key: impl Into<String>) -> SyncOptions {
        SyncOptions {
            base_url: base_url.into(),
            api_key: api_key.into(),
            entity: None,
            project: None,
            retry: RetryPolicy::default(),
            max_request_bytes: 4 << 20,
            program: None,
            clock: Arc::new(SystemClock::new()),
            multipart: super::Multipart::default(),
            follow: false,
        }
    }
}

/// Progress of a sync, for a progress bar.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncProgress {
    /// History rows sent so far.
    pub rows: u64,
    /// Of this many.
    pub total_rows: u64,
    /// Bytes sent so far.
    pub bytes: u64,
}

/// The body of a file_stream request: the lines waiting, the summary, and at the end the
/// files uploaded, `complete` and the exit code.
fn stream_body(
    lines: &mut Lines,
    summary: Option<&str>,
    finish: Option<(&[String], i32)>,
) -> Vec<u8> {
    let mut files = serde_json::Map::new();
    for f in lines.take() {
        files.insert(
            f.name.to_owned(),
            json!({"offset": f.offset, "content": f.lines}),
        );
    }
    if let Some(s) = summary {
        files.insert(SUMMARY_FILE.into(), json!({"offset": 0, "content": [s]}));
    }
    let mut body = json!({"files": files});
    if let Some((uploaded, exit_code)) = finish {
        body["uploaded"] = json!(uploaded);
        body["complete"] = json!(true);
        body["exitcode"] = json!(exit_code);
    }
    // History lines hold raw JSON text (NaN included): they travel as strings.
    serde_json::to_vec(&body).unwrap_or_default()
}

/// An upload in progress: records go in as the log holds them, file_stream requests go out
/// when [`flush`](Uploader::flush) is called or the buffers pass the request size, and
/// [`finish`](Uploader::finish) uploads the run files and sends `complete`. `labbook sync`
/// feeds it a whole log; an online run feeds it the log as it grows.
pub(super) struct Uploader {
    client: Client,
    pub(super) opts: SyncOptions,
    files_dir: PathBuf,
    /// Set by the run record's UpsertBucket: entity, project, run id.
    target: Option<(String, String, String)>,
    /// The run record last sent, so a later one sends only what changed.
    run: Option<proto::RunRecord>,
    /// Media files named by rows fed since the last flush, and the run files sent so far.
    media_pending: Vec<String>,
    sent_files: std::collections::HashSet<String>,
    /// The server ids of the artifact versions uploaded, by client id.
    artifact_ids: std::collections::HashMap<String, String>,
    /// What could not be uploaded (artifacts, uses, links) while the rest went on.
    warnings: Vec<String>,
    /// What the records taken so far leave behind (labbook-wire's replay): config,
    /// summary, rows, exit.
    state: RunLog,
    /// The config of the whole log, when a sync read it first: the first UpsertBucket
    /// carries it, and later config records need not be sent again.
    pub(super) whole_config: Option<Tree>,
    start: f64,
    lines: Lines,
    summary_dirty: bool,
    /// The steps history lines went out with.
    steps: Steps,
    bytes: u64,
    files: usize,
    artifacts: usize,
    total_rows: u64,
    stopped: bool,
    /// Where in the log the last record taken ends.
    at: u64,
    /// Up to where in the log everything is on the server (what the position says).
    sent_at: u64,
    /// Records ending at or before this offset were sent by an earlier upload: only the
    /// state they leave is rebuilt.
    replay_until: u64,
    /// Where the upload stopped is to be asked of the server (the position file could not
    /// be trusted).
    ask_server: bool,
    /// What the server holds (asked in `ask_server` mode): history rows up to this step,
    /// and this many lines of events and output that this log's records still have to pass.
    server_has: ServerHas,
    /// Queued registry links already applied (in order).
    links_done: u64,
    /// The log whose position is saved after each request that got through.
    log: Option<PathBuf>,
}

impl std::fmt::Debug for Uploader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Uploader")
            .field("opts", &self.opts)
            .field("target", &self.target)
            .field("files_sent", &self.sent_files.len())
            .finish_non_exhaustive()
    }
}

/// What the server already holds of a run whose upload position was lost.
#[derive(Debug, Default)]
struct ServerHas {
    history_through_step: Option<i64>,
    events: u64,
    output: u64,
}

impl Uploader {
    /// An upload to `opts`' server of the run whose files are in `files_dir`.
    pub(super) fn new(opts: &SyncOptions, files_dir: PathBuf) -> Result<Uploader> {
        Ok(Uploader {
            client: Client::new(&opts.base_url, &opts.api_key, opts.retry.clone())?
                .with_clock(opts.clock.clone()),
            opts: opts.clone(),
            files_dir,
            target: None,
            run: None,
            media_pending: Vec::new(),
            sent_files: std::collections::HashSet::new(),
            artifact_ids: std::collections::HashMap::new(),
            warnings: Vec::new(),
            state: RunLog::default(),
            whole_config: None,
            start: 0.0,
            lines: Lines::default(),
            summary_dirty: false,
            steps: Steps::default(),
            bytes: 0,
            files: 0,
            artifacts: 0,
            total_rows: 0,
            stopped: false,
            at: 0,
            sent_at: 0,
            replay_until: 0,
            ask_server: false,
            server_has: ServerHas::default(),
            links_done: 0,
            log: None,
        })
    }

    /// Gives up retrying once `flag` is set (a flag made before the uploader).
    pub(crate) fn with_cancel_flag(mut self, flag: Arc<std::sync::atomic::AtomicBool>) -> Uploader {
        self.client = self.client.with_cancel_flag(flag);
        self
    }

    /// Saves the position after every request that gets through, so an interrupted
    /// upload can be finished later (`labbook sync`).
    pub(super) fn save_position_to(&mut self, log: &Path) {
        self.log = Some(log.to_owned());
    }

    /// Continues an earlier upload: records ending at or before `pos.log_offset` only
    /// rebuild state (step numbering, summary, config), lines continue at the saved
    /// offsets, and links already applied are not applied again.
    pub(super) fn resume_from(&mut self, pos: UploadPosition) {
        self.replay_until = pos.log_offset;
        self.sent_at = pos.log_offset;
        self.lines.offsets = pos.offsets;
        self.links_done = pos.links;
    }

    /// Continues an earlier upload whose position was lost: the server is asked what it
    /// holds (its line counts and last step), and only what it lacks is sent.
    pub(super) fn resume_from_server(&mut self) {
        self.ask_server = true;
    }

    /// Saves how far the upload got; losing it costs a question to the server later,
    /// never data, so a failure is a warning.
    fn save_position(&self) {
        let Some(log) = &self.log else {
            return;
        };
        let pos = UploadPosition {
            log_offset: self.sent_at,
            offsets: self.lines.offsets,
            links: self.links_done,
        };
        if let Err(e) = pos.save(log) {
            tracing::warn!(target: "labbook", "could not save the upload position: {e}");
        }
    }

    /// How many history rows the progress reports count towards.
    pub(super) fn set_total_rows(&mut self, n: u64) {
        self.total_rows = n;
    }

    /// The run's page, once the server has answered: `{app}/{entity}/{project}/runs/{id}`.
    pub(super) fn url(&self) -> Option<String> {
        let (entity, project, run) = self.target.as_ref()?;
        Some(format!(
            "{}/{entity}/{project}/runs/{run}",
            app_url(self.client.base_url())
        ))
    }

    /// How many requests the server answered 429 so far.
    pub(super) fn rate_limited(&self) -> u64 {
        self.client.rate_limited()
    }

    /// Whether the server asked the run to stop (the UI's Stop button).
    pub(super) fn stopped(&self) -> bool {
        self.stopped
    }

    /// Whether the log's exit record has been seen.
    pub(super) fn saw_exit(&self) -> bool {
        self.state.exit.is_some()
    }

    /// Takes one record of the log, which ends at byte `end` of it. A run record creates or
    /// updates the run on the server (UpsertBucket); a config record after it sends the
    /// merged config again.
    pub(super) fn feed(
        &mut self,
        record: &RecordType,
        end: u64,
        progress: &mut dyn FnMut(SyncProgress),
    ) -> Result<()> {
        self.state.apply(record);
        if end <= self.replay_until {
            self.at = self.at.max(end);
            return self.replay(record);
        }
        match record {
            // Notifications and lineage go out once: the lines before them first, then the
            // request, then the position past them, so a resumed upload cannot repeat them
            // (but for the one in flight when the process died).
            RecordType::Alert(_) | RecordType::UseArtifact(_) => {
                self.flush(progress)?;
                if !self.server_has_later_rows() {
                    self.send_event(record)?;
                }
                // The flush left nothing pending: everything up to here is on the server.
                self.at = self.at.max(end);
                self.sent_at = self.at;
                if self.target.is_some() {
                    self.save_position();
                }
                return Ok(());
            }
            _ => self.at = self.at.max(end),
        }
        match record {
            RecordType::Run(run) if self.target.is_none() => self.upsert(run)?,
            RecordType::Run(run) => self.update_run(run)?,
            RecordType::Config(_) if self.whole_config.is_none() && self.target.is_some() => {
                self.upsert_config()?;
            }
            RecordType::History(h) => {
                if self.server_has_row(h) {
                    self.replay(record)?;
                } else {
                    for item in &h.item {
                        upload::media_paths(&item.value_json, &mut self.media_pending);
                    }
                    let step = self.steps.next(h);
                    self.lines.history(upload::history_line(h, step));
                }
            }
            RecordType::Stats(st) => {
                if self.server_has.events > 0 {
                    self.server_has.events -= 1;
                } else {
                    let line = upload::events_line(st, self.start);
                    self.lines.events(line);
                }
            }
            RecordType::OutputRaw(o) => {
                for line in upload::output_lines(o) {
                    if self.server_has.output > 0 {
                        self.server_has.output -= 1;
                        continue;
                    }
                    self.lines.output(line);
                }
            }
            RecordType::Summary(_) => self.summary_dirty = true,
            RecordType::Artifact(a) => self.upload_artifact(a)?,
            _ => {}
        }
        if self.lines.bytes() >= self.opts.max_request_bytes {
            self.flush(progress)?;
        }
        Ok(())
    }

    /// Sends an alert or an artifact use.
    fn send_event(&mut self, record: &RecordType) -> Result<()> {
        let (entity, project, run) = self.target()?;
        match record {
            RecordType::Alert(al) => {
                self.client.call(&graphql::NotifyScriptableRunAlert {
                    entity_name: &entity,
                    project_name: &project,
                    run_name: &run,
                    title: &al.title,
                    text: &al.text,
                    severity: if al.level.is_empty() {
                        "INFO"
                    } else {
                        &al.level
                    },
                    wait_duration: al.wait_duration,
                })?;
            }
            RecordType::UseArtifact(u) => {
                let to = super::artifacts::Target {
                    entity: &entity,
                    project: &project,
                    run: &run,
                    run_dir: None,
                    multipart: self.opts.multipart,
                };
                if let Err(e) = super::artifacts::record_use(&self.client, &to, u) {
                    self.warn(e, &format!("the use of {} was not recorded", u.name))?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The config to send: the whole log's when a sync read it first, else what the records
    /// so far set.
    fn config(&self) -> &Tree {
        self.whole_config.as_ref().unwrap_or(&self.state.config)
    }

    /// Whether the server (asked after a lost position) holds this history row already.
    fn server_has_row(&self, h: &proto::HistoryRecord) -> bool {
        match (
            self.server_has.history_through_step,
            crate::wire::history_step(h),
        ) {
            (Some(through), Some(step)) => step <= through,
            _ => false,
        }
    }

    /// Whether the server (asked after a lost position) holds rows logged after this
    /// point: then an alert or use here went out before them.
    fn server_has_later_rows(&self) -> bool {
        match (self.server_has.history_through_step, self.steps.last) {
            (Some(through), Some(last)) => through > last,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }

    /// A record an earlier upload sent: the state it leaves behind is `self.state`'s; what
    /// is left is the run on the server, artifact ids and the step its rows went out with.
    fn replay(&mut self, record: &RecordType) -> Result<()> {
        match record {
            RecordType::Run(run) if self.target.is_none() => self.upsert(run)?,
            RecordType::Run(run) => self.run = Some(run.clone()),
            // Sent again: the server answers with the version it has (so its id is known
            // for links), or completes one whose upload was cut off.
            RecordType::Artifact(a) => self.upload_artifact(a)?,
            RecordType::History(h) => {
                self.steps.next(h);
            }
            RecordType::Summary(_) => self.summary_dirty = true,
            _ => {}
        }
        Ok(())
    }

    fn target(&self) -> Result<(String, String, String)> {
        self.target.clone().ok_or_else(|| Error::Upload {
            url: super::public_url(self.client.base_url()),
            reason: "the log has data before its run record".into(),
        })
    }

    fn upsert(&mut self, run: &proto::RunRecord) -> Result<()> {
        // A resumed run continues the server's lines (unless a saved position already
        // says where this log's upload stopped); so does an upload whose position was lost.
        if (run.resumed && self.replay_until == 0) || self.ask_server {
            let nonempty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
            let entity = self.opts.entity.clone().or_else(|| nonempty(&run.entity));
            let project = self.opts.project.clone().or_else(|| nonempty(&run.project));
            if let Some(prior) = resume_status(
                &self.client,
                entity.as_deref(),
                project.as_deref(),
                &run.run_id,
            )? {
                self.lines.offsets = prior.lines;
                let through = (prior.from.step > 0).then(|| (prior.from.step - 1) as i64);
                if self.ask_server {
                    // This log's rows up to the server's last step are there; its lines
                    // of events and output are counted from zero unless it continues an
                    // earlier run's (whose lines the server's counts include).
                    self.server_has = ServerHas {
                        history_through_step: through,
                        events: if run.resumed { 0 } else { prior.lines[1] },
                        output: if run.resumed { 0 } else { prior.lines[2] },
                    };
                } else {
                    self.steps.last = through;
                }
            }
        }
        self.start = upload::start_time(run);
        self.run = Some(run.clone());
        fn nonempty(s: &str) -> Option<&str> {
            (!s.is_empty()).then_some(s)
        }
        let data = self.client.call(&graphql::UpsertBucket {
            name: &run.run_id,
            project: self
                .opts
                .project
                .as_deref()
                .or_else(|| nonempty(&run.project)),
            entity: self
                .opts
                .entity
                .as_deref()
                .or_else(|| nonempty(&run.entity)),
            group_name: nonempty(&run.run_group),
            display_name: nonempty(&run.display_name),
            notes: nonempty(&run.notes),
            job_type: nonempty(&run.job_type),
            host: nonempty(&run.host),
            sweep: nonempty(&run.sweep_id),
            program: self.opts.program.as_deref(),
            tags: Some(&run.tags),
            config: Some(self.config().as_config().to_json()),
        })?;
        let bucket = &data["upsertBucket"]["bucket"];
        let entity = bucket["project"]["entity"]["name"]
            .as_str()
            .map(str::to_owned)
            .or_else(|| self.opts.entity.clone())
            .unwrap_or_else(|| run.entity.clone());
        let project = bucket["project"]["name"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| run.project.clone());
        let id = bucket["name"].as_str().unwrap_or(&run.run_id).to_owned();
        self.target = Some((entity, project, id));
        Ok(())
    }

    /// Uploads and commits an artifact version (nothing new when the server has its
    /// digest). A version that cannot be uploaded is a warning, not the end of the run's
    /// upload; a refused key still is.
    fn upload_artifact(&mut self, a: &proto::ArtifactRecord) -> Result<()> {
        let (entity, project, run) = self.target()?;
        let to = super::artifacts::Target {
            entity: &entity,
            project: &project,
            run: &run,
            run_dir: self.files_dir.parent(),
            multipart: self.opts.multipart,
        };
        match super::artifacts::upload(&self.client, &to, a) {
            Ok(up) => {
                self.bytes += up.bytes;
                self.artifacts += 1;
                self.artifact_ids.insert(a.client_id.clone(), up.id);
                Ok(())
            }
            Err(e) => self.warn(e, &format!("artifact {} was not uploaded", a.name)),
        }
    }

    /// Keeps a failure of an artifact, a use or a link as a warning.
    fn warn(&mut self, e: Error, what: &str) -> Result<()> {
        // A refused key, or a server that is gone, ends this upload: a later sync goes on
        // from its position and tries again. Only what the server refuses for good is a
        // warning.
        if matches!(e, Error::Auth(_) | Error::ServerUnavailable { .. }) {
            return Err(e);
        }
        tracing::warn!(target: "labbook", "{what}: {e}");
        self.warnings.push(format!("{what}: {e}"));
        Ok(())
    }

    /// Applies the links `run.link_model` queued in the run directory, to the versions
    /// this upload created (by their client ids).
    fn apply_links(&mut self) -> Result<()> {
        let Some(links) = self.files_dir.parent().map(crate::online::links::queued) else {
            return Ok(());
        };
        let (entity, project, run) = self.target()?;
        let done = usize::try_from(self.links_done).unwrap_or(usize::MAX);
        for (i, link) in links.into_iter().enumerate().skip(done) {
            let to = super::artifacts::Target {
                entity: &entity,
                project: &project,
                run: &run,
                run_dir: None,
                multipart: self.opts.multipart,
            };
            let id = if link.version.is_empty() {
                self.artifact_ids
                    .get(&link.client_id)
                    .cloned()
                    .ok_or_else(|| Error::Artifact("its artifact version was not uploaded".into()))
            } else {
                super::artifacts::find_version(&self.client, &to, &link.version)
            };
            let done = id.and_then(|id| super::artifacts::link(&self.client, &to, &id, &link));
            if let Err(e) = done {
                self.warn(
                    e,
                    &format!("not linked to {}/{}", link.project, link.portfolio),
                )?;
            }
            // Applied (or given up with a warning): a later upload does not apply it again.
            self.links_done = i as u64 + 1;
            self.save_position();
        }
        Ok(())
    }

    /// A later run record (a rename at finish, new tags or notes): sends what changed.
    fn update_run(&mut self, run: &proto::RunRecord) -> Result<()> {
        let (entity, project, id) = self.target()?;
        let before = self.run.replace(run.clone());
        let changes = upload::RunChanges::between(before.as_ref(), run);
        self.client.call(&graphql::UpsertBucket {
            name: &id,
            project: Some(&project),
            entity: Some(&entity),
            display_name: changes.display_name.as_deref(),
            notes: changes.notes.as_deref(),
            group_name: changes.group.as_deref(),
            job_type: changes.job_type.as_deref(),
            tags: changes.tags.as_deref(),
            ..graphql::UpsertBucket::default()
        })?;
        Ok(())
    }

    /// Sends the config again (a config record arrived after the run started).
    fn upsert_config(&mut self) -> Result<()> {
        let (entity, project, run) = self.target()?;
        self.client.call(&graphql::UpsertBucket {
            name: &run,
            project: Some(&project),
            entity: Some(&entity),
            config: Some(self.config().as_config().to_json()),
            ..graphql::UpsertBucket::default()
        })?;
        Ok(())
    }

    /// Sends what the buffers hold (and the summary if it changed) in one file_stream
    /// request; nothing when there is nothing new.
    pub(super) fn flush(&mut self, progress: &mut dyn FnMut(SyncProgress)) -> Result<()> {
        let nothing = self.lines.is_empty() && !self.summary_dirty;
        if nothing || self.target.is_none() {
            return Ok(());
        }
        // Media go up with the rows that show them, not only at the end of the run.
        let media: Vec<String> = std::mem::take(&mut self.media_pending)
            .into_iter()
            .filter(|p| !self.sent_files.contains(p))
            .collect();
        self.upload_named(media)?;
        let summary = self.summary_dirty.then(|| self.summary_line());
        self.summary_dirty = false;
        let body = stream_body(&mut self.lines, summary.as_deref(), None);
        self.post(body, progress)
    }

    fn summary_line(&self) -> String {
        upload::summary_line(&self.state.summary, self.steps.last)
    }

    fn post(&mut self, body: Vec<u8>, progress: &mut dyn FnMut(SyncProgress)) -> Result<()> {
        let (entity, project, run) = self.target()?;
        self.bytes += body.len() as u64;
        let answer = self.client.file_stream(&entity, &project, &run, body)?;
        if answer.get("stopped").and_then(|v| v.as_bool()) == Some(true) {
            self.stopped = true;
        }
        // The request held every line buffered: the records up to here are all sent.
        self.sent_at = self.at;
        self.save_position();
        progress(SyncProgress {
            rows: self.state.rows,
            total_rows: self.total_rows,
            bytes: self.bytes,
        });
        Ok(())
    }

    /// Ends the upload: writes the final summary into the run files (as wandb sync does),
    /// uploads every run file, and sends the rest with `complete` and the exit code (1 when
    /// the log had no exit record: a crashed run).
    pub(super) fn finish(
        mut self,
        log_end: LogEnd,
        progress: &mut dyn FnMut(SyncProgress),
    ) -> Result<SyncReport> {
        let (entity, project, run_id) = self.target()?;
        let exit_code = self.state.exit_code().unwrap_or(1);
        let summary = self.summary_line();
        if self.files_dir.is_dir() {
            let path = self.files_dir.join(SUMMARY_FILE);
            std::fs::write(&path, &summary).map_err(Error::io("could not write", &path))?;
        }
        self.apply_links()?;
        let uploaded = self.upload_files()?;
        let body = stream_body(
            &mut self.lines,
            Some(&summary),
            Some((&uploaded, exit_code)),
        );
        self.post(body, progress)?;
        Ok(SyncReport {
            run_id,
            entity,
            project,
            rows: self.state.rows,
            bytes: self.bytes,
            files: self.files,
            artifacts: self.artifacts,
            warnings: std::mem::take(&mut self.warnings),
            exit_code,
            log_end,
        })
    }

    /// Uploads every run file (those already sent during the run aside) and returns the
    /// names of all files sent.
    fn upload_files(&mut self) -> Result<Vec<String>> {
        let files: Vec<String> = upload::run_files(&self.files_dir)
            .map_err(Error::io("could not list", &self.files_dir))?
            .into_iter()
            .filter(|f| !self.sent_files.contains(f))
            .collect();
        self.upload_named(files)?;
        let mut all: Vec<String> = self.sent_files.iter().cloned().collect();
        all.sort();
        Ok(all)
    }

    /// CreateRunFiles for `names` (paths under `files/`), then a PUT of each.
    fn upload_named(&mut self, names: Vec<String>) -> Result<()> {
        if names.is_empty() {
            return Ok(());
        }
        let (entity, project, run_id) = self.target()?;
        let data = self.client.call(&graphql::CreateRunFiles {
            entity: &entity,
            project: &project,
            run: &run_id,
            files: &names,
        })?;
        let answer = &data["createRunFiles"];
        let headers = super::client::upload_headers(&answer["uploadHeaders"]);
        for f in answer["files"].as_array().into_iter().flatten() {
            let (Some(name), Some(url)) = (f["name"].as_str(), f["uploadUrl"].as_str()) else {
                continue; // no URL: the server does not want this file
            };
            let path = self.files_dir.join(name);
            let size = match std::fs::metadata(&path) {
                Ok(m) if m.is_file() => m.len(),
                // A temporary file renamed into place after the listing: nothing to send.
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io("could not read", &path)(e)),
            };
            // Streamed from disk, read again by each retry: a saved checkpoint of
            // gigabytes never sits in memory.
            self.client.put_file(url, &headers, &path)?;
            self.bytes += size;
            self.sent_files.insert(name.to_owned());
            self.files += 1;
        }
        Ok(())
    }
}

/// The UI's address for an API address: `api.x` becomes `x` for wandb.ai hosts and
/// `app.x` otherwise; anything else is unchanged.
fn app_url(base: &str) -> String {
    if let Some((scheme, rest)) = base.split_once("://")
        && let Some(host) = rest.strip_prefix("api.")
    {
        return if host.starts_with("wandb.") {
            format!("{scheme}://{host}")
        } else {
            format!("{scheme}://app.{host}")
        };
    }
    base.to_owned()
}
