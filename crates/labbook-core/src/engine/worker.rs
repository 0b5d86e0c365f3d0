//! The background thread: takes queue entries, builds records, and writes them to the
//! transaction log in whole-record batches, at least once per flush interval.

use std::collections::VecDeque;
use std::fs::File;
use std::io::Write as _;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use prost::Message as _;

use super::environment;
use super::history::{Emit, History, Stamp};
use super::output_log::OutputLog;
use super::queue::{Envelope, Msg, SavePolicy, Shared, SysMsg, WorkerReport};
use super::row_encoder::RowEncoder;
use super::run_files::{HumanFiles, final_name};
use super::save;
use super::summary::SummaryState;
use crate::media::{self, EncodePool, Ticket};
use crate::store::{RunDir, write_atomically};
use crate::value::Value;
use crate::value::key::Key;
use crate::wire::Framer;
use crate::wire::proto::{self, Record, RecordType};

/// What the worker writes about the run (its record, config and name) and how often it
/// writes; built from the resolved settings.
#[derive(Clone, Debug)]
pub(crate) struct WriterSettings {
    pub project: String,
    pub entity: String,
    pub run_id: String,
    pub name: String,
    pub notes: String,
    pub tags: Vec<String>,
    pub group: String,
    pub job_type: String,
    /// Who runs it: `WANDB_USERNAME`, `WANDB_USER`, else `USER`.
    pub username: String,
    pub sweep_id: String,
    pub disable_git: bool,
    /// The config: builder, overrides and sweep values, in their nested places.
    pub config: Vec<(String, Value)>,
    /// Dotted sweep parameters (`model.layers`), logged under those names as well.
    pub sweep_names: Vec<(String, Value)>,
    /// Removes the API key and secret arguments from what the run records.
    pub scrubber: crate::value::secrets::Scrubber,
    pub score_metrics: Vec<String>,
    /// Digits after the point of a score in the final name.
    pub score_precision: usize,
    pub flush_interval: Duration,
    pub features: Vec<String>,
    /// Where alerts go and which rules raise them.
    pub notify: crate::notify::NotifySettings,
    /// The files a loaded config came from, saved with the run at its start.
    pub config_sources: Vec<std::path::PathBuf>,
    /// The config keys whose interpolations stayed text.
    pub config_unresolved: Vec<String>,
    /// Whether `diff.patch` is saved (when git is not disabled).
    pub git_diff: bool,
    /// The home directory recorded paths hide (none: they keep it).
    pub home: crate::engine::private_paths::Home,
}

/// Everything the worker needs to start a run.
pub(crate) struct Start {
    pub settings: WriterSettings,
    pub dir: RunDir,
    pub file: File,
    pub started: Instant,
    pub started_unix: f64,
    /// Where a resumed run goes on.
    pub resume: Option<crate::wire::ResumeFrom>,
    /// The clock of the flush deadline.
    pub now: Now,
    /// The run directory's lock, held while the worker writes.
    pub lock: Option<Arc<crate::store::RunLock>>,
}

/// How often an idle worker looks at the queue. Senders never wake it for rows.
const IDLE_POLL: Duration = Duration::from_millis(5);

/// The worker thread's body. A panic (a bug) marks the run failed with the panic's
/// message, so `log` stops queueing and `flush`/`finish` return that error at once.
pub(crate) fn run(start: Start, shared: Arc<Shared>) {
    let watch = shared.clone();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        Worker::new(start, shared).run()
    }));
    if let Err(panic) = result {
        let why = crate::error::panic_message(&*panic);
        let why = format!(
            "the labbook worker thread panicked ({why}); the log keeps every record written before"
        );
        tracing::error!(target: "labbook", "{why}");
        watch.fail(why);
        watch.panicked.store(true, Ordering::Release);
    }
}

/// Pending bytes above this are written without waiting for the flush interval.
const WRITE_THRESHOLD: usize = 4 << 20;

/// Entries moved from the queue, or handled, before the worker looks at the other side.
const INTAKE_BATCH: usize = 1024;

/// Entries handled between two looks at the clock while the queue is being drained.
const DEADLINE_CHECK_EVERY: usize = 64;

/// The worker's clock: `Instant::now`, or a clock a test moves by hand.
pub(crate) type Now = Arc<dyn Fn() -> Instant + Send + Sync>;

/// An entry taken from the queue, waiting for its turn to be written.
enum Staged {
    Plain(Envelope),
    /// Its media are with the encoders.
    Media {
        ticket: Ticket,
        kind: MediaMsg,
        bytes: usize,
        /// It holds a media slot.
        slot: bool,
    },
}

enum MediaMsg {
    Log {
        step: u64,
        commit: bool,
        at: Instant,
    },
    Summary,
}

/// Waits for an encoder that has not finished yet (only at the end of a run).
fn wait_for(ticket: &Ticket) -> media::Materialized {
    loop {
        if let Some(m) = ticket.take() {
            return m;
        }
        std::thread::park_timeout(IDLE_POLL);
    }
}

pub(crate) struct Worker {
    shared: Arc<Shared>,
    s: WriterSettings,
    dir: RunDir,
    file: File,
    framer: Framer,
    scratch: Vec<u8>,
    written: u64,
    num: i64,
    history: History,
    summary: SummaryState,
    out: Vec<Emit>,
    rows: RowEncoder,
    run_record: proto::RunRecord,
    env_record: Option<proto::EnvironmentRecord>,
    at_end: Vec<(String, SavePolicy)>,
    errors: Vec<String>,
    warnings: Vec<String>,
    started: Instant,
    started_unix: f64,
    dirty: bool,
    /// `files/output.log`.
    output_log: OutputLog,
    /// A resumed run's runtime before this process: `_runtime` goes on from it.
    runtime_offset: f64,
    /// Where media files go.
    place: Arc<media::Place>,
    /// The media encoders, started with the first media value.
    pool: Option<EncodePool>,
    /// Entries taken from the queue, in order, not yet written.
    staged: VecDeque<Staged>,
    /// How many of them wait for the encoders.
    encoding: usize,
    /// A running average of one entry's encoding time, which sizes the queue's media slots.
    encode_avg: Option<Duration>,
    now: Now,
    /// When the pending records and the summary are written next.
    deadline: Instant,
    /// Alert rules and delivery, when the settings ask for any.
    notify: Option<crate::notify::Notifier>,
    /// Whether the checkout has uncommitted changes (`None`: no checkout, or no git).
    git_dirty: Option<bool>,
    /// Metrics logged in percent (burn's accuracy): divided by 100 in a final-score name.
    percent: std::collections::HashSet<String>,
    /// Kept until the worker ends.
    _lock: Option<Arc<crate::store::RunLock>>,
}

impl Worker {
    pub(crate) fn new(mut start: Start, shared: Arc<Shared>) -> Worker {
        let s = start.settings;
        let place = Arc::new(media::Place {
            files_dir: start.dir.files.clone(),
            run_id: s.run_id.clone(),
            project: s.project.clone(),
        });
        Worker {
            shared,
            run_record: proto::RunRecord {
                run_id: s.run_id.clone(),
                entity: s.entity.clone(),
                project: s.project.clone(),
                run_group: s.group.clone(),
                job_type: s.job_type.clone(),
                display_name: s.name.clone(),
                notes: s.notes.clone(),
                tags: s.tags.clone(),
                sweep_id: s.sweep_id.clone(),
                start_time: Some(proto::timestamp(start.started_unix)),
                resumed: start.resume.is_some(),
                starting_step: start.resume.as_ref().map_or(0, |r| r.step as i64),
                ..Default::default()
            },
            notify: crate::notify::Notifier::new(s.notify.clone()),
            git_dirty: None,
            percent: std::collections::HashSet::new(),
            s,
            output_log: OutputLog::new(start.dir.files.join("output.log")),
            dir: start.dir,
            file: start.file,
            framer: Framer::new_file(),
            scratch: Vec::with_capacity(4096),
            written: 0,
            num: 0,
            history: History::default(),
            summary: SummaryState::resumed(
                start
                    .resume
                    .as_mut()
                    .map(|r| std::mem::take(&mut r.summary))
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, Value::from(v)))
                    .collect(),
            ),
            out: Vec::new(),
            rows: RowEncoder::default(),
            env_record: None,
            at_end: Vec::new(),
            errors: Vec::new(),
            warnings: Vec::new(),
            started: start.started,
            started_unix: start.started_unix,
            dirty: true,
            runtime_offset: start.resume.as_ref().map_or(0.0, |r| r.runtime),
            place,
            pool: None,
            staged: VecDeque::new(),
            encoding: 0,
            encode_avg: None,
            deadline: (start.now)(),
            now: start.now,
            _lock: start.lock,
        }
    }

    /// The thread's body. Returns when the run is finished.
    ///
    /// Entries are taken from the queue in order; those holding media go to the encoder
    /// pool at once, and every entry is handled (written) in queue order, as soon as the
    /// media of the entries before it are encoded. The flush deadline is checked while the
    /// queue is being drained too, so a queue that never empties still reaches the disk
    /// at least once per flush interval.
    pub(crate) fn run(mut self) {
        let _ = self.shared.worker.set(std::thread::current());
        self.write_preamble();
        self.deadline = (self.now)() + self.s.flush_interval;
        loop {
            let took = self.take_in();
            let (handled, done) = self.drain();
            if done {
                return;
            }
            if self.framer.pending().len() >= WRITE_THRESHOLD {
                self.write_out();
            }
            let now = self.tick_if_due();
            if let Some(n) = &mut self.notify
                && let Some(a) = n.tick(&self.run_record)
            {
                self.emit(RecordType::Alert(a));
            }
            if took == 0 && handled == 0 {
                std::thread::park_timeout(
                    self.deadline.saturating_duration_since(now).min(IDLE_POLL),
                );
            }
        }
    }

    /// Moves entries from the queue into the staging line, handing media to the encoders;
    /// stops when the encoders have enough work ahead or after a batch, so the line is
    /// drained regularly.
    fn take_in(&mut self) -> usize {
        let mut taken = 0;
        while taken < INTAKE_BATCH {
            if self.encoding >= self.pool.as_ref().map_or(1, EncodePool::lookahead) {
                break;
            }
            let Some(env) = self.shared.queue.pop() else {
                break;
            };
            taken += 1;
            let staged = self.stage(env);
            self.staged.push_back(staged);
        }
        taken
    }

    /// An entry whose values hold media goes to the encoders; the rest waits as it is.
    fn stage(&mut self, env: Envelope) -> Staged {
        let Envelope { msg, bytes, media } = env;
        let (step, items, kind) = match msg {
            Msg::Log {
                step,
                commit,
                items,
                at,
            } if media::any_media(&items) => {
                (Some(step), items, MediaMsg::Log { step, commit, at })
            }
            Msg::Summary(items) if media::any_media(&items) => (None, items, MediaMsg::Summary),
            msg => return Staged::Plain(Envelope { msg, bytes, media }),
        };
        let pool = self.pool.get_or_insert_with(EncodePool::start);
        let ticket = pool.submit(&self.place, step, items, std::thread::current());
        self.encoding += 1;
        Staged::Media {
            ticket,
            kind,
            bytes,
            slot: media,
        }
    }

    /// Handles staged entries in order while the one in front is ready. Returns how many
    /// were handled and whether the run is finished.
    fn drain(&mut self) -> (usize, bool) {
        let mut handled = 0;
        while let Some(front) = self.staged.front() {
            if let Staged::Media { ticket, .. } = front
                && !ticket.is_done()
            {
                break;
            }
            let Some(staged) = self.staged.pop_front() else {
                break;
            };
            if self.handle_staged(staged) {
                return (handled + 1, true);
            }
            handled += 1;
            if handled % DEADLINE_CHECK_EVERY == 0 {
                if self.framer.pending().len() >= WRITE_THRESHOLD {
                    self.write_out();
                }
                self.tick_if_due();
                // Back to the queue now and then, so the encoders stay fed.
                if handled >= INTAKE_BATCH {
                    break;
                }
            }
        }
        (handled, false)
    }

    /// Writes the summary and pending records when the flush deadline has passed; returns
    /// the time it read.
    fn tick_if_due(&mut self) -> Instant {
        let now = (self.now)();
        if now >= self.deadline {
            self.tick();
            self.deadline = now + self.s.flush_interval;
        }
        now
    }

    fn handle_staged(&mut self, staged: Staged) -> bool {
        match staged {
            Staged::Plain(env) => self.handle(env),
            Staged::Media {
                ticket,
                kind,
                bytes,
                slot,
            } => {
                self.encoding -= 1;
                let m = match ticket.take() {
                    Some(m) => m,
                    None => wait_for(&ticket),
                };
                if slot {
                    self.learn_encode_time(m.took);
                }
                let items = self.emit_media_records(m);
                match kind {
                    MediaMsg::Log { step, commit, at } => self.log_row(step, commit, items, at),
                    MediaMsg::Summary => self.set_summary(items),
                }
                self.shared.release(bytes, slot);
                // A media row took milliseconds to encode; one write for it costs
                // microseconds, and keeps what reaches the disk close behind what was
                // logged under media load.
                self.write_out();
                false
            }
        }
    }

    fn log_row(&mut self, step: u64, commit: bool, items: Vec<(Key, Value)>, at: Instant) {
        if let Some(n) = &mut self.notify {
            for a in n.row(step, &items, &self.run_record) {
                self.emit(RecordType::Alert(a));
            }
        }
        let stamp = self.stamp(at);
        self.history
            .log(step, commit, items, stamp, &mut self.summary, &mut self.out);
        self.emit_out();
    }

    fn set_summary(&mut self, items: Vec<(Key, Value)>) {
        for (k, v) in items {
            self.summary.set(k.as_str(), v);
        }
    }

    /// Handles one entry; `true` when the run is finished.
    #[expect(
        clippy::too_many_lines,
        reason = "one dispatch match over the queue entries, an arm each"
    )]
    fn handle(&mut self, env: Envelope) -> bool {
        let Envelope { msg, bytes, media } = env;
        let done = match msg {
            Msg::Log {
                step,
                commit,
                items,
                at,
            } => {
                let items = self.materialize_inline(Some(step), items);
                self.log_row(step, commit, items, at);
                false
            }
            Msg::Summary(items) => {
                let items = self.materialize_inline(None, items);
                self.set_summary(items);
                false
            }
            Msg::Config(items) => {
                let update = items.iter().map(|(k, v)| item(k, v)).collect();
                self.emit(RecordType::Config(proto::ConfigRecord {
                    update,
                    remove: vec![],
                }));
                false
            }
            Msg::Metric(m) => {
                self.history.define(m, &mut self.summary, &mut self.out);
                self.emit_out();
                false
            }
            Msg::ArtifactStaged(staged) => {
                match *staged {
                    Ok(record) => self.emit(RecordType::Artifact(record)),
                    Err(e) => self.warnings.push(format!("artifact not logged: {e}")),
                }
                false
            }
            Msg::UseArtifact(u) => {
                self.emit(RecordType::UseArtifact(u));
                false
            }
            Msg::Alert(a) => {
                if let Some(n) = &mut self.notify {
                    n.program_alert(&a, &self.run_record);
                }
                self.emit(RecordType::Alert(a));
                false
            }
            Msg::Percent(key) => {
                self.percent.insert(key);
                false
            }
            Msg::Names(n) => {
                self.run_record.display_name = n.name;
                self.run_record.tags = n.tags;
                self.run_record.notes = n.notes;
                self.emit(RecordType::Run(self.run_record.clone()));
                false
            }
            Msg::Save { pattern, policy } => {
                if policy != SavePolicy::End {
                    self.save_matches(&pattern, policy);
                }
                if policy != SavePolicy::Now {
                    self.at_end.push((pattern, policy));
                }
                false
            }
            Msg::Flush(reply) => {
                self.write_summary();
                self.write_out();
                let _ = reply.send(());
                false
            }
            Msg::System(m) => {
                if let Some(r) = self.system_record(m) {
                    self.emit(r);
                }
                false
            }
            #[cfg(test)]
            Msg::Crash => panic!("a crash a test asked for"),
            Msg::Finish {
                exit_code,
                preempted,
                reply,
            } => {
                self.drain_after_finish();
                let report = self.finish(exit_code, preempted);
                let _ = reply.send(report);
                true
            }
        };
        self.shared.release(bytes, media);
        done
    }

    /// Encodes media on this thread: only for entries that were not staged (those the
    /// sampler or a finish sends after the run's last staged entry).
    fn materialize_inline(
        &mut self,
        step: Option<u64>,
        items: Vec<(Key, Value)>,
    ) -> Vec<(Key, Value)> {
        if !media::any_media(&items) {
            return items;
        }
        let m = media::materialize_items(&self.place, step, items);
        self.emit_media_records(m)
    }

    /// Writes what media need before the row that shows them (class labels and chart
    /// panels in the config, a table's artifact, the files), and returns the row's items.
    fn emit_media_records(&mut self, m: media::Materialized) -> Vec<(Key, Value)> {
        self.warnings.extend(m.warnings);
        if !m.config.is_empty() {
            let update = m
                .config
                .iter()
                .map(|(path, v)| proto::ConfigItem {
                    key: String::new(),
                    nested_key: path.clone(),
                    value_json: v.to_json(),
                })
                .collect();
            self.emit(RecordType::Config(proto::ConfigRecord {
                update,
                remove: vec![],
            }));
        }
        for artifact in m.artifacts {
            self.emit(RecordType::Artifact(artifact));
        }
        if !m.written.is_empty() {
            let files = m
                .written
                .into_iter()
                .map(|path| proto::FilesItem {
                    path,
                    policy: 0,
                    r#type: 0,
                })
                .collect();
            self.emit(RecordType::Files(proto::FilesRecord { files }));
        }
        m.items
    }

    /// Folds one encoding time into the average (a quarter weight: a few items adapt it,
    /// one outlier does not), and resizes the queue's media slots from it.
    fn learn_encode_time(&mut self, took: Duration) {
        let avg = match self.encode_avg {
            None => took,
            Some(a) => (a * 3 + took) / 4,
        };
        self.encode_avg = Some(avg);
        self.shared.set_media_slots(EncodePool::media_slots(avg));
    }

    /// Writes what was queued behind the finish entry (the run stops the sampler and the
    /// console before queueing it, so only a late artifact can be there).
    fn drain_after_finish(&mut self) {
        while let Some(staged) = self.staged.pop_front() {
            self.handle_staged(staged);
        }
        while let Some(env) = self.shared.queue.pop() {
            self.handle(env);
        }
        // The encoders have nothing left to do.
        self.pool.take();
    }

    /// The record for a message of the sampler, the console readers or the tracing layer;
    /// console text also goes to `output.log`.
    fn system_record(&mut self, msg: SysMsg) -> Option<RecordType> {
        match msg {
            SysMsg::Stats(s) => Some(RecordType::Stats(s)),
            SysMsg::Hardware(facts) => {
                let env = self.env_record.as_mut()?;
                env.gpu_type = facts.gpu_type;
                env.gpu_count = facts.gpu_count;
                env.gpu_nvidia = facts.gpu_nvidia;
                env.cuda_version = facts.cuda_version;
                Some(RecordType::Environment(env.clone()))
            }
            SysMsg::Output { stderr, line, unix } => {
                self.output_log.append(&line);
                Some(RecordType::OutputRaw(proto::OutputRawRecord {
                    output_type: if stderr { 0 } else { 1 },
                    timestamp: Some(proto::timestamp(unix)),
                    line,
                }))
            }
        }
    }

    fn stamp(&self, at: Instant) -> Stamp {
        let elapsed = at.saturating_duration_since(self.started).as_secs_f64();
        Stamp {
            runtime: self.runtime_offset + elapsed,
            unix: self.started_unix + elapsed,
        }
    }

    fn write_preamble(&mut self) {
        self.emit(RecordType::Header(proto::HeaderRecord {
            version_info: Some(proto::VersionInfo {
                producer: format!("labbook {}", env!("CARGO_PKG_VERSION")),
                min_consumer: String::new(),
            }),
        }));
        let host = environment::hostname();
        let git = environment::git_info(self.s.disable_git);
        let changes = git
            .as_ref()
            .map(|g| crate::engine::git_changes::changes(&g.root, self.s.git_diff))
            .unwrap_or_default();
        self.warnings.extend(changes.warnings);
        self.git_dirty = changes.dirty;
        let mut config: Vec<proto::ConfigItem> = self
            .s
            .config
            .iter()
            .chain(&self.s.sweep_names)
            .map(|(k, v)| item(k, v))
            .collect();
        config.push(item(
            "_wandb",
            &Value::map([("labbook", self.labbook_info())]),
        ));
        self.run_record.host = host.clone();
        self.run_record.git = git.as_ref().map(environment::git_record);
        let mut run = self.run_record.clone();
        run.config = Some(proto::ConfigRecord {
            update: config,
            remove: vec![],
        });
        self.emit(RecordType::Run(run));
        let writer_id = crate::store::random_run_id();
        let env = environment::environment_record(
            self.started_unix,
            &host,
            git.as_ref(),
            &writer_id,
            &environment::Recorder {
                username: &self.s.username,
                home: &self.s.home,
            },
            &self.s.scrubber,
        );
        self.emit(RecordType::Environment(env.clone()));
        self.env_record = Some(env);
        self.save_start_files(changes.diff);
        if let Some(lock) = environment::find_cargo_lock()
            && let Some(req) = environment::requirements_from_lock(&lock)
        {
            let path = self.dir.files.join("requirements.txt");
            match std::fs::write(&path, req) {
                Ok(()) => self.emit(RecordType::Files(proto::FilesRecord {
                    files: vec![proto::FilesItem {
                        path: "requirements.txt".into(),
                        policy: 0,
                        r#type: 1,
                    }],
                })),
                Err(e) => self
                    .warnings
                    .push(format!("could not write {}: {e}", path.display())),
            }
        }
        self.write_out();
    }

    fn emit_out(&mut self) {
        let mut out = std::mem::take(&mut self.out);
        for e in out.drain(..) {
            match e {
                Emit::Record(r) => self.emit(*r),
                Emit::Row(row) => {
                    self.num += 1;
                    let bytes = self.rows.encode(
                        self.num,
                        row.step,
                        &row.items,
                        row.stamp.runtime,
                        row.stamp.unix,
                    );
                    self.framer.append(bytes);
                    self.dirty = true;
                }
            }
        }
        self.out = out;
    }

    fn emit(&mut self, record: RecordType) {
        self.num += 1;
        let r = Record {
            num: self.num,
            record_type: Some(record),
        };
        self.scratch.clear();
        // Encoding into a Vec cannot fail: it grows as needed.
        let _ = r.encode(&mut self.scratch);
        self.framer.append(&self.scratch);
        self.dirty = true;
    }

    /// Hands pending bytes to the OS. On failure the file is cut back to the last whole
    /// batch, so everything written before stays readable, and the worker stops writing.
    fn write_out(&mut self) {
        if self.framer.pending().is_empty() {
            return;
        }
        if self.shared.has_failed() {
            self.framer.clear_pending();
            return;
        }
        let pending = self.framer.pending();
        let mut done = 0;
        let result = loop {
            if done == pending.len() {
                break Ok(());
            }
            match self.file.write(&pending[done..]) {
                Ok(0) => {
                    break Err(std::io::Error::new(
                        std::io::ErrorKind::WriteZero,
                        "the file took no more bytes",
                    ));
                }
                Ok(n) => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        match result {
            Ok(()) => {
                self.written += done as u64;
                self.framer.clear_pending();
            }
            Err(e) => {
                // Keep every record that reached the file whole; cut the partial one.
                let keep = self.framer.whole_records_within(done);
                self.written += keep as u64;
                let _ = self.file.set_len(self.written);
                let why = format!("could not write {}: {e}", self.dir.log.display());
                tracing::error!(target: "labbook", "{why}; the run keeps the {} bytes written before", self.written);
                self.errors.push(why.clone());
                self.shared.fail(why);
                self.framer.clear_pending();
            }
        }
    }

    fn tick(&mut self) {
        self.write_summary();
        if self.dirty {
            self.write_out();
            self.dirty = false;
            tracing::debug!(target: "labbook", rows = self.history.rows(), bytes = self.written, waiting = self.staged.len(), "log written");
        }
    }

    /// Writes the summary keys that changed since the last summary record.
    fn write_summary(&mut self) {
        if !self.summary.is_dirty() {
            return;
        }
        let metrics = &self.history.metrics;
        let delta = self.summary.take_delta(|k| metrics.get(k));
        let mut update: Vec<proto::SummaryItem> =
            delta.update.iter().map(|(k, v)| item(k, v)).collect();
        let runtime = self.started.elapsed().as_secs();
        update.push(proto::SummaryItem {
            key: String::new(),
            nested_key: vec!["_wandb".into(), "runtime".into()],
            value_json: runtime.to_string(),
        });
        let remove = delta
            .remove
            .into_iter()
            .map(|k| proto::SummaryItem {
                key: k,
                nested_key: vec![],
                value_json: String::new(),
            })
            .collect();
        self.emit(RecordType::Summary(proto::SummaryRecord { update, remove }));
    }

    fn save_matches(&mut self, pattern: &str, policy: SavePolicy) {
        let (files, warnings) = save::save_matches(pattern, policy, &self.dir.files);
        self.warnings.extend(warnings);
        if !files.is_empty() {
            self.emit(RecordType::Files(proto::FilesRecord { files }));
        }
    }

    fn finish(&mut self, exit_code: i32, preempted: bool) -> WorkerReport {
        self.history.commit(&mut self.summary, &mut self.out);
        self.emit_out();
        for (pattern, policy) in std::mem::take(&mut self.at_end) {
            self.save_matches(&pattern, policy);
        }
        let metrics = &self.history.metrics;
        let name = final_name(
            &self.run_record.display_name,
            &self.s.score_metrics,
            self.s.score_precision,
            &self.percent,
            &self.summary.snapshot(|k| metrics.get(k)),
        );
        if !self.s.score_metrics.is_empty() && !name.is_empty() {
            self.summary.set("final_run_name", Value::Str(name.clone()));
        }
        self.write_summary();
        let metrics = &self.history.metrics;
        let summary = self.summary.snapshot(|k| metrics.get(k));
        if name != self.run_record.display_name {
            let mut update = self.run_record.clone();
            update.display_name = name.clone();
            self.emit(RecordType::Run(update));
        }
        if let Some(n) = &mut self.notify
            && let Some(a) = n.end(exit_code, preempted, &self.run_record)
        {
            self.emit(RecordType::Alert(a));
        }
        if preempted {
            self.emit(RecordType::Preempting(proto::RunPreemptingRecord {}));
        }
        let runtime = self.started.elapsed().as_secs().min(i32::MAX as u64) as i32;
        self.emit(RecordType::Exit(proto::RunExitRecord {
            exit_code,
            runtime,
        }));
        self.write_out();
        if !self.shared.has_failed()
            && let Err(e) = self.file.sync_all()
        {
            self.errors.push(format!(
                "could not sync {} to disk: {e}",
                self.dir.log.display()
            ));
        }
        self.write_human_files(&summary);
        // The log is on disk: now the alerts in flight get their bounded wait.
        if let Some(n) = self.notify.take() {
            self.warnings.extend(n.finish());
        }
        WorkerReport {
            rows: self.history.rows(),
            bytes: self.written,
            name,
            errors: std::mem::take(&mut self.errors),
            warnings: std::mem::take(&mut self.warnings),
        }
    }

    /// The files a run saves as it starts: the checkout's `diff.patch` and a loaded
    /// config's sources.
    fn save_start_files(&mut self, diff: Option<Vec<u8>>) {
        if let Some(patch) = diff {
            let path = self.dir.files.join("diff.patch");
            match std::fs::write(&path, patch) {
                Ok(()) => self.emit(RecordType::Files(proto::FilesRecord {
                    files: vec![proto::FilesItem {
                        path: "diff.patch".into(),
                        policy: SavePolicy::Now.proto(),
                        // WANDB: a file the client wrote, as the official client marks it.
                        r#type: 1,
                    }],
                })),
                Err(e) => self
                    .warnings
                    .push(format!("could not write {}: {e}", path.display())),
            }
        }
        for source in self.s.config_sources.clone() {
            let pattern = glob::Pattern::escape(&source.display().to_string());
            self.save_matches(&pattern, SavePolicy::Now);
        }
    }

    /// The `_wandb.labbook` entry of the config: the build, and where a loaded config
    /// came from.
    fn labbook_info(&self) -> Value {
        let mut info = environment::labbook_info(&self.s.features);
        if let Value::Map(items) = &mut info {
            if let Some(dirty) = self.git_dirty {
                items.push(("git_dirty".into(), Value::Bool(dirty)));
            }
            if !self.s.config_sources.is_empty() {
                let files: Vec<String> = self
                    .s
                    .config_sources
                    .iter()
                    .map(|p| self.s.home.tilde(&p.display().to_string()))
                    .collect();
                items.push(("config_sources".into(), Value::from(files)));
            }
            if !self.s.config_unresolved.is_empty() {
                items.push((
                    "config_unresolved".into(),
                    Value::from(self.s.config_unresolved.clone()),
                ));
            }
        }
        info
    }

    fn write_human_files(&mut self, summary: &[(String, Value)]) {
        let files = HumanFiles {
            config: &self.s.config,
            sweep_names: &self.s.sweep_names,
            labbook: self.labbook_info(),
            summary,
            runtime_secs: self.started.elapsed().as_secs(),
            environment: self.env_record.as_ref(),
        };
        for (name, bytes) in files.render() {
            if let Err(e) = write_atomically(&self.dir.files.join(name), &bytes) {
                self.warnings.push(e.to_string());
            }
        }
    }
}

fn item(key: &str, value: &Value) -> proto::SummaryItem {
    proto::SummaryItem {
        key: key.to_owned(),
        nested_key: vec![],
        value_json: value.to_json(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    /// A worker over a fresh run directory, with the clock `now`.
    fn worker_start(dir: &std::path::Path, now: Now) -> (Start, std::path::PathBuf) {
        let s = crate::Settings::new("t")
            .dir(dir)
            .quiet(true)
            .console(crate::Console::Off)
            .system_metrics(false)
            .env_vars(Vec::<(String, String)>::new())
            .dotenv_dir(dir)
            .resolve()
            .unwrap();
        let (rd, file, _lock) =
            RunDir::create(&s.root, &s.writer.run_id, chrono::Local::now(), false).unwrap();
        let log = rd.log.clone();
        let start = Start {
            settings: s.writer,
            dir: rd,
            file,
            started: Instant::now(),
            started_unix: 1.7e9,
            resume: None,
            now,
            lock: None,
        };
        (start, log)
    }

    fn log_msg(step: u64) -> Envelope {
        Envelope::new(
            Msg::Log {
                step,
                commit: true,
                items: vec![(Key::from("x"), Value::from(step))],
                at: Instant::now(),
            },
            80,
        )
    }

    /// Failed before: the deadline was looked at only when the queue was empty, so a
    /// backlog that kept it full went to disk as rows only, with no summary until the end.
    #[test]
    fn the_flush_deadline_holds_while_the_queue_never_empties() {
        let dir = tempfile::tempdir().unwrap();
        // A clock that moves 10 ms every time the worker looks at it.
        let looks = Arc::new(AtomicU64::new(0));
        let base = Instant::now();
        let counter = looks.clone();
        let now: Now = Arc::new(move || {
            base + Duration::from_millis(10 * counter.fetch_add(1, Ordering::SeqCst))
        });
        let (start, log) = worker_start(dir.path(), now);
        let shared = Arc::new(Shared::new(usize::MAX));
        // The whole backlog is queued before the worker starts: the queue is never empty
        // until the last row.
        for step in 0..20_000 {
            shared.push(log_msg(step), false);
        }
        let (tx, rx) = crossbeam_channel::bounded(1);
        let finish = Msg::Finish {
            exit_code: 0,
            preempted: false,
            reply: tx,
        };
        shared.push(Envelope::new(finish, 0), false);
        run(start, shared);
        assert_eq!(rx.recv().unwrap().rows, 20_000);
        let records = crate::wire::read_log(&log).unwrap().records;
        let mut rows = 0;
        let mut summaries_mid_backlog = 0;
        for r in &records {
            match &r.record_type {
                Some(RecordType::History(_)) => rows += 1,
                Some(RecordType::Summary(_)) if rows > 0 && rows < 20_000 => {
                    summaries_mid_backlog += 1
                }
                _ => {}
            }
        }
        // 20,000 rows at a look per 64 take 3 s of this clock: a summary each second.
        assert!(
            summaries_mid_backlog >= 2,
            "{summaries_mid_backlog} summaries written while the backlog drained ({} looks)",
            looks.load(Ordering::SeqCst)
        );
    }
}
