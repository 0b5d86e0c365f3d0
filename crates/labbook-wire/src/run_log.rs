//! The one replay of a run's log: records folded into what they leave behind (the run's
//! identity, config, summary, steps, files, artifacts, alerts and how it ended). The CLI's
//! reader, resume, `labbook sync` and the tests all fold logs through it, so a rule of the
//! format (a later run record names the run, a summary removal, a nested key) is kept in
//! one place.

use std::io::Read;
use std::path::Path;

use prost::Message as _;

use crate::error::{Error, Result};
use crate::log_reader::{LogEnd, LogItem, LogReader};
use crate::proto::{self, RecordType};
use crate::resume::ResumeFrom;
use crate::tree::{Node, Tree};

/// A run as its log tells it, folded record by record with [`RunLog::apply`].
///
/// What repeats with the length of a run (rows, system samples, console output, and the
/// alerts, files, artifacts, uses and metric definitions) is kept only when asked
/// ([`RunLog::keeping_series`]); rows are always counted. A replay that needs the state
/// alone (resume, an upload, which takes a live run's every record) holds little however
/// long the run.
///
/// ```
/// use labbook_wire::proto::{HistoryItem, HistoryRecord, RecordType, RunRecord};
/// use labbook_wire::RunLog;
///
/// let item = |key: &str, v: &str| HistoryItem { key: key.into(), value_json: v.into(), ..Default::default() };
/// let mut log = RunLog::default();
/// log.apply(&RecordType::Run(RunRecord { run_id: "ab12".into(), display_name: "first".into(), ..Default::default() }));
/// log.apply(&RecordType::History(HistoryRecord { item: vec![item("_step", "4"), item("loss", "0.5")], step: None }));
/// log.apply(&RecordType::Run(RunRecord { run_id: "ab12".into(), display_name: "renamed".into(), ..Default::default() }));
/// assert_eq!(log.run.as_ref().map(|r| r.display_name.as_str()), Some("renamed"));
/// assert_eq!((log.rows, log.last_step, log.next_step), (1, Some(4), 5));
/// assert!(log.history.is_empty(), "rows are only counted unless asked for");
/// ```
#[derive(Clone, Debug, Default)]
pub struct RunLog {
    /// The first run record, with the non-empty fields of later ones over it (a resumed
    /// run's, or a name set during the run). Its config is folded into
    /// [`RunLog::config`].
    pub run: Option<proto::RunRecord>,
    /// The config: the run record's, then every config record's updates and removals.
    pub config: Tree,
    /// The summary after every summary record.
    pub summary: Tree,
    /// How many history rows the log holds.
    pub rows: u64,
    /// The `_step` of the last row that had one.
    pub last_step: Option<i64>,
    /// One past the largest `_step` (where a resumed run goes on).
    pub next_step: u64,
    /// The largest `_runtime` of a row or the exit record's runtime, in seconds.
    pub runtime: f64,
    /// Every history record, in order (kept with [`RunLog::keeping_series`]).
    pub history: Vec<proto::HistoryRecord>,
    /// Every system-metrics record, in order (kept with [`RunLog::keeping_series`]).
    pub stats: Vec<proto::StatsRecord>,
    /// Every console record, in order (kept with [`RunLog::keeping_series`]).
    pub output: Vec<proto::OutputRawRecord>,
    /// Every metric definition, in order (kept with [`RunLog::keeping_series`]).
    pub metrics: Vec<proto::MetricRecord>,
    /// Every alert, in order (kept with [`RunLog::keeping_series`]).
    pub alerts: Vec<proto::AlertRecord>,
    /// Every file the run saved, in order (kept with [`RunLog::keeping_series`]).
    pub files: Vec<proto::FilesItem>,
    /// Every artifact version the run logged, in order (kept with
    /// [`RunLog::keeping_series`]).
    pub artifacts: Vec<proto::ArtifactRecord>,
    /// Every artifact the run used, in order (kept with [`RunLog::keeping_series`]).
    pub used_artifacts: Vec<proto::UseArtifactRecord>,
    /// Every environment record (one per process that wrote to the log).
    pub environments: Vec<proto::EnvironmentRecord>,
    /// The exit record, if the run finished.
    pub exit: Option<proto::RunExitRecord>,
    /// Whether the run said it was being preempted.
    pub preempted: bool,
    /// How the log ended, once [`RunLog::read`] read it to its end.
    pub end: Option<LogEnd>,
    keep_series: bool,
}

impl RunLog {
    /// A replay that keeps every record that repeats with the run's length (history,
    /// stats, console, metric definitions, alerts, files, artifacts, uses) besides the
    /// state.
    ///
    /// ```
    /// let log = labbook_wire::RunLog::keeping_series();
    /// assert!(log.history.is_empty());
    /// ```
    pub fn keeping_series() -> RunLog {
        RunLog {
            keep_series: true,
            ..RunLog::default()
        }
    }

    /// Reads the whole log at `path` into `self`, streaming (a block at a time). A torn or
    /// corrupt tail, or a record that does not decode, ends the read as
    /// [`read_log`](crate::read_log) ends it and is recorded in [`RunLog::end`]; only a
    /// missing or unreadable file, or one that is not a W&B log, is an `Err`.
    ///
    /// ```no_run
    /// let log = labbook_wire::RunLog::default().read("wandb/latest-run/run-ab12.wandb")?;
    /// println!("{} rows, summary {}", log.rows, log.summary.to_json());
    /// # Ok::<(), labbook_wire::Error>(())
    /// ```
    pub fn read(self, path: impl AsRef<Path>) -> Result<RunLog> {
        let path = path.as_ref();
        let reader = LogReader::open(path)?;
        self.read_from(reader)
            .map_err(Error::io("could not read", path))
    }

    /// As [`RunLog::read`], from a reader already past the file header.
    pub fn read_from<R: Read>(mut self, mut reader: LogReader<R>) -> std::io::Result<RunLog> {
        let end = loop {
            match reader.next_record()? {
                LogItem::Record(raw) => match proto::Record::decode(raw.bytes) {
                    Ok(r) => {
                        if let Some(rt) = &r.record_type {
                            self.apply(rt);
                        }
                    }
                    Err(e) => {
                        break LogEnd::Corrupt {
                            offset: raw.offset,
                            reason: format!("record does not decode: {e}"),
                        };
                    }
                },
                LogItem::End(end) => break end,
            }
        };
        self.end = Some(end);
        Ok(self)
    }

    /// Folds one record in.
    pub fn apply(&mut self, record: &RecordType) {
        match record {
            RecordType::Run(run) => self.apply_run(run),
            RecordType::Config(c) => self.config.apply_config(c),
            RecordType::Summary(s) => self.summary.apply_summary(s),
            RecordType::History(h) => {
                self.rows += 1;
                self.see_row(h);
                if self.keep_series {
                    self.history.push(h.clone());
                }
            }
            RecordType::Environment(e) => self.environments.push(e.clone()),
            RecordType::Exit(e) => {
                self.runtime = self.runtime.max(f64::from(e.runtime));
                self.exit = Some(e.clone());
            }
            RecordType::Preempting(_) => self.preempted = true,
            // Below: what repeats with the run's length.
            _ if !self.keep_series => {}
            RecordType::Stats(s) => self.stats.push(s.clone()),
            RecordType::OutputRaw(o) => self.output.push(o.clone()),
            RecordType::Metric(m) => self.metrics.push(m.clone()),
            RecordType::Alert(a) => self.alerts.push(a.clone()),
            RecordType::Files(f) => self.files.extend(f.files.iter().cloned()),
            RecordType::Artifact(a) => self.artifacts.push(a.clone()),
            RecordType::UseArtifact(u) => self.used_artifacts.push(u.clone()),
            _ => {}
        }
    }

    fn apply_run(&mut self, run: &proto::RunRecord) {
        if let Some(c) = &run.config {
            self.config.apply_config(c);
        }
        let Some(held) = &mut self.run else {
            let mut first = run.clone();
            first.config = None;
            self.run = Some(first);
            return;
        };
        for (field, v) in [
            (&mut held.run_id, &run.run_id),
            (&mut held.display_name, &run.display_name),
            (&mut held.project, &run.project),
            (&mut held.entity, &run.entity),
            (&mut held.run_group, &run.run_group),
            (&mut held.job_type, &run.job_type),
            (&mut held.notes, &run.notes),
        ] {
            if !v.is_empty() {
                field.clone_from(v);
            }
        }
        if !run.tags.is_empty() {
            held.tags.clone_from(&run.tags);
        }
        if run.start_time.is_some() {
            held.start_time = run.start_time;
        }
        held.resumed |= run.resumed;
    }

    fn see_row(&mut self, h: &proto::HistoryRecord) {
        if let Some(s) = history_step(h) {
            self.last_step = Some(s);
            if let Ok(s) = u64::try_from(s) {
                self.next_step = self.next_step.max(s.saturating_add(1));
            }
        }
        let runtime = h
            .item
            .iter()
            .find(|i| i.key == "_runtime" && i.nested_key.is_empty())
            .and_then(|i| i.value_json.trim().parse::<f64>().ok());
        if let Some(t) = runtime {
            self.runtime = self.runtime.max(t);
        }
    }

    /// The program the run's first environment record names (what `wandb sync` reports as
    /// the run's program), if any.
    pub fn program(&self) -> Option<&str> {
        self.environments
            .iter()
            .map(|e| e.program.as_str())
            .find(|p| !p.is_empty())
    }

    /// The exit code, if the run finished.
    pub fn exit_code(&self) -> Option<i32> {
        self.exit.as_ref().map(|e| e.exit_code)
    }

    /// Where a run resuming this one goes on: the step after the last row, the runtime
    /// spent, and the summary (but the keys every run computes itself: `_step`,
    /// `_runtime`, `_timestamp`, `_wandb`).
    ///
    /// ```
    /// use labbook_wire::proto::{RecordType, RunExitRecord};
    /// let mut log = labbook_wire::RunLog::default();
    /// log.apply(&RecordType::Exit(RunExitRecord { runtime: 42, ..Default::default() }));
    /// assert_eq!(log.resume_from().runtime, 42.0);
    /// ```
    pub fn resume_from(&self) -> ResumeFrom {
        let mut from = ResumeFrom {
            step: self.next_step,
            runtime: self.runtime,
            summary: Vec::new(),
        };
        for (key, node) in self.summary.entries() {
            match node {
                Node::Raw(raw) => from.seed_summary(key, raw),
                Node::Obj(_) => from.seed_summary(key, &node.to_json()),
            }
        }
        from
    }
}

/// The `_step` a history record gives, if any.
///
/// ```
/// use labbook_wire::proto::{HistoryItem, HistoryRecord};
/// let row = HistoryRecord { item: vec![HistoryItem { key: "_step".into(), value_json: "7".into(), ..Default::default() }], step: None };
/// assert_eq!(labbook_wire::history_step(&row), Some(7));
/// ```
pub fn history_step(rec: &proto::HistoryRecord) -> Option<i64> {
    rec.item
        .iter()
        .find(|i| i.key == "_step" && i.nested_key.is_empty())
        .and_then(|i| i.value_json.trim().parse::<i64>().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{HistoryItem, HistoryRecord, RunRecord, SummaryItem, SummaryRecord};

    fn row(items: &[(&str, &str)]) -> RecordType {
        RecordType::History(HistoryRecord {
            item: items
                .iter()
                .map(|(k, v)| HistoryItem {
                    key: (*k).into(),
                    value_json: (*v).into(),
                    ..Default::default()
                })
                .collect(),
            step: None,
        })
    }

    fn summary(update: &[(&[&str], &str)], remove: &[&[&str]]) -> RecordType {
        let item = |path: &[&str], v: &str| SummaryItem {
            key: if path.len() == 1 {
                path[0].to_owned()
            } else {
                String::new()
            },
            nested_key: if path.len() == 1 {
                vec![]
            } else {
                path.iter().map(|s| (*s).to_owned()).collect()
            },
            value_json: v.to_owned(),
        };
        RecordType::Summary(SummaryRecord {
            update: update.iter().map(|(p, v)| item(p, v)).collect(),
            remove: remove.iter().map(|p| item(p, "")).collect(),
        })
    }

    #[test]
    fn steps_and_runtime_are_the_largest_seen_and_the_last_step_the_last() {
        let mut log = RunLog::keeping_series();
        log.apply(&row(&[("_step", "5"), ("_runtime", "2.5")]));
        log.apply(&row(&[("_step", "3"), ("_runtime", "1.0")]));
        log.apply(&row(&[("loss", "1")]));
        assert_eq!(log.rows, 3);
        assert_eq!(log.history.len(), 3);
        assert_eq!(
            (log.last_step, log.next_step, log.runtime),
            (Some(3), 6, 2.5)
        );
    }

    #[test]
    fn a_state_only_replay_keeps_the_end_but_nothing_that_grows_with_the_run() {
        let mut log = RunLog::default();
        for _ in 0..3 {
            log.apply(&RecordType::Artifact(Default::default()));
            log.apply(&RecordType::Alert(Default::default()));
            log.apply(&row(&[("_step", "1")]));
        }
        log.apply(&RecordType::Preempting(Default::default()));
        log.apply(&RecordType::Exit(proto::RunExitRecord {
            exit_code: 3,
            ..Default::default()
        }));
        assert_eq!(
            (log.rows, log.exit_code(), log.preempted),
            (3, Some(3), true)
        );
        assert!(log.artifacts.is_empty() && log.alerts.is_empty() && log.history.is_empty());
        let mut kept = RunLog::keeping_series();
        kept.apply(&RecordType::Artifact(Default::default()));
        assert_eq!(kept.artifacts.len(), 1);
    }

    #[test]
    fn a_negative_or_huge_step_does_not_overflow() {
        let mut log = RunLog::default();
        log.apply(&row(&[("_step", "-4")]));
        assert_eq!((log.last_step, log.next_step), (Some(-4), 0));
        log.apply(&row(&[("_step", &i64::MAX.to_string())]));
        assert_eq!(log.next_step, i64::MAX as u64 + 1);
    }

    #[test]
    fn the_summary_folds_nested_updates_and_removals_and_seeds_a_resume() {
        let mut log = RunLog::default();
        log.apply(&summary(
            &[
                (&["loss"], "0.5"),
                (&["_runtime"], "9"),
                (&["acc", "max"], "0.9"),
            ],
            &[],
        ));
        log.apply(&summary(&[(&["acc", "last"], "0.8")], &[&["loss"]]));
        assert_eq!(
            log.summary.to_json(),
            r#"{"_runtime":9,"acc":{"max":0.9,"last":0.8}}"#
        );
        let from = log.resume_from();
        assert_eq!(
            from.summary,
            [(
                "acc".to_owned(),
                serde_json::json!({"max": 0.9, "last": 0.8})
            )]
        );
    }

    #[test]
    fn a_later_run_record_overrides_only_what_it_sets() {
        let mut log = RunLog::default();
        let first = RunRecord {
            run_id: "ab12".into(),
            display_name: "first".into(),
            project: "p".into(),
            tags: vec!["a".into()],
            ..Default::default()
        };
        log.apply(&RecordType::Run(first));
        log.apply(&RecordType::Run(RunRecord {
            notes: "later".into(),
            resumed: true,
            ..Default::default()
        }));
        let run = log.run.as_ref().unwrap();
        assert_eq!(
            (
                run.run_id.as_str(),
                run.display_name.as_str(),
                run.project.as_str()
            ),
            ("ab12", "first", "p")
        );
        assert_eq!(
            (run.notes.as_str(), run.tags.len(), run.resumed),
            ("later", 1, true)
        );
    }
}
