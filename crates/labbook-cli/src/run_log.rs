//! A run as its transaction log tells it: metadata, history rows, summary, config, system
//! metrics, alerts and files. Works on runs written by labbook or by the official client,
//! finished, crashed (no exit record, maybe a torn tail) or still being written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use labbook_wire::json as wandb_json;
use labbook_wire::proto::{Record, RecordType};
use labbook_wire::{LogEnd, LogItem, LogReader, Node, Tree, read_log};
use prost::Message as _;
use serde_json::Value as J;

use crate::history::Table;

/// How a run stands (labbook's read API's states).
pub(crate) use labbook_core::api::RunState as State;

/// How a local run stands: its exit record's code if it has one; else running while its
/// writer holds the run's lock or the log was written in the last minute (the official
/// client holds no lock), crashed after that.
pub(crate) fn state_of(
    exit_code: Option<i32>,
    modified_unix: f64,
    now_unix: f64,
    dir: &Path,
) -> State {
    match exit_code {
        Some(0) => State::Finished,
        Some(_) => State::Failed,
        None if now_unix - modified_unix < 60.0 || labbook_core::run_is_live(dir) => State::Running,
        None => State::Crashed,
    }
}

/// Everything a run's log holds, decoded.
#[derive(Debug, Default)]
pub(crate) struct RunLog {
    pub dir: PathBuf,
    pub id: String,
    pub name: String,
    pub project: String,
    pub entity: String,
    pub group: String,
    pub job_type: String,
    pub notes: String,
    pub tags: Vec<String>,
    pub start_unix: f64,
    pub exit_code: Option<i32>,
    pub preempted: bool,
    /// History rows, keys flattened with `.` for nested maps (a media value stays an object).
    pub rows: Vec<BTreeMap<String, J>>,
    pub summary: BTreeMap<String, J>,
    pub config: BTreeMap<String, J>,
    /// System metric samples: `system.<key>` -> value, plus `_timestamp`.
    pub stats: Vec<BTreeMap<String, J>>,
    pub alerts: Vec<(String, String, String)>,
    pub files: Vec<String>,
    /// How the log ended (a torn tail after a crash is normal).
    pub end: Option<LogEnd>,
    /// When the log was last written, Unix seconds.
    pub modified_unix: f64,
    /// The state a server gave (a local run's is worked out from its log).
    pub state: Option<State>,
    /// What the records leave behind, as labbook-wire's replay folds them: the fields
    /// above are read from it.
    pub replay: labbook_wire::RunLog,
}

/// The `.wandb` file of a run directory.
pub(crate) fn log_file(dir: &Path) -> Result<PathBuf> {
    Ok(labbook_core::api::log_file(dir)?)
}

pub(crate) fn parse(text: &str) -> J {
    // Most values are plain numbers: skip the JSON parser for them.
    if let Ok(i) = text.parse::<i64>() {
        return J::from(i);
    }
    if text
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'e' | b'E' | b'+'))
        && let Ok(f) = text.parse::<f64>()
    {
        return J::from(f);
    }
    wandb_json::parse(text).unwrap_or_else(|_| J::String(text.to_owned()))
}

/// Sets `path` in a nested map, creating objects on the way.
pub(crate) fn set_nested(map: &mut BTreeMap<String, J>, path: &[String], value: J) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if rest.is_empty() {
        map.insert(first.clone(), value);
        return;
    }
    let slot = map
        .entry(first.clone())
        .or_insert_with(|| J::Object(Default::default()));
    if !slot.is_object() {
        *slot = J::Object(Default::default());
    }
    if let J::Object(m) = slot {
        let mut inner: BTreeMap<String, J> = std::mem::take(m).into_iter().collect();
        set_nested(&mut inner, rest, value);
        *m = inner.into_iter().collect();
    }
}

/// A folded summary or config as JSON, leaves parsed as [`parse`] does.
fn tree_json(tree: &Tree) -> BTreeMap<String, J> {
    tree.entries()
        .map(|(k, node)| (k.to_owned(), node_json(node)))
        .collect()
}

fn node_json(node: &Node) -> J {
    match node {
        Node::Raw(raw) => parse(raw),
        Node::Obj(t) => J::Object(
            t.entries()
                .map(|(k, n)| (k.to_owned(), node_json(n)))
                .collect(),
        ),
    }
}

/// Flattens nested maps with `.`; media objects and lists stay whole.
pub(crate) fn flatten_into(prefix: String, v: J, out: &mut BTreeMap<String, J>) {
    match v {
        J::Object(m) if !m.contains_key("_type") && !m.is_empty() => {
            for (k, v) in m {
                flatten_into(format!("{prefix}.{k}"), v, out);
            }
        }
        other => {
            out.insert(prefix, other);
        }
    }
}

/// When a file was last written, Unix seconds (0 if unknown).
fn modified_unix(path: &Path) -> f64 {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A run read for export: history rows and system metrics as compact tables (`rows` and
/// `stats` of `run` stay empty), the rest as [`RunLog::load`] reads it.
#[derive(Debug)]
pub(crate) struct ExportLog {
    pub run: RunLog,
    pub history: Table,
    pub stats: Table,
}

impl RunLog {
    /// Reads the run in `dir`.
    pub(crate) fn load(dir: &Path) -> Result<RunLog> {
        let path = log_file(dir)?;
        let log = read_log(&path)
            .with_context(|| format!("could not read the run in {}", dir.display()))?;
        let mut run = RunLog {
            dir: dir.to_owned(),
            modified_unix: modified_unix(&path),
            ..RunLog::default()
        };
        run.apply_all(log.records);
        run.end = Some(log.end);
        Ok(run)
    }

    /// Reads the run in `dir` for export. The same records as [`RunLog::load`] reads, but
    /// the log is streamed record by record (labbook-core's [`LogReader`]) and history
    /// records are read from their bytes into a [`Table`] rather than decoded into a map
    /// per row: the difference between a few seconds and well under one for a million
    /// rows.
    pub(crate) fn load_for_export(dir: &Path) -> Result<ExportLog> {
        let path = log_file(dir)?;
        let context = || format!("could not read the run in {}", dir.display());
        let mut run = RunLog {
            dir: dir.to_owned(),
            ..RunLog::default()
        };
        let (mut history, mut stats) = (Table::default(), Table::default());
        let mut reader = LogReader::open(&path).with_context(context)?;
        let end = loop {
            let item = reader
                .next_record()
                .with_context(|| format!("could not read {}", path.display()))
                .with_context(context)?;
            let raw = match item {
                LogItem::Record(raw) => raw,
                LogItem::End(end) => break end,
            };
            if history.push_history_bytes(raw.bytes) {
                continue;
            }
            match Record::decode(raw.bytes) {
                Ok(r) => match r.record_type {
                    Some(RecordType::History(h)) => history.push_history(&h),
                    Some(RecordType::Stats(s)) => stats.push_stats(&s),
                    _ => run.apply(r),
                },
                // What labbook-core's `read_log` does and says, so `show` and `export` agree.
                Err(e) => {
                    break LogEnd::Corrupt {
                        offset: raw.offset,
                        reason: format!("record does not decode: {e}"),
                    };
                }
            }
        };
        run.settle();
        run.modified_unix = modified_unix(&path);
        run.end = Some(end);
        Ok(ExportLog {
            run,
            history,
            stats,
        })
    }

    /// Adds records (as [`RunLog::load`] does, and `watch` as they arrive).
    pub(crate) fn apply_all(&mut self, records: impl IntoIterator<Item = Record>) {
        for r in records {
            self.apply(r);
        }
        self.settle();
    }

    /// Adds one record; the summary and config are brought up to date by
    /// [`RunLog::settle`] (once, not after every summary record of a long run).
    fn apply(&mut self, r: Record) {
        let Some(rt) = r.record_type else { return };
        self.replay.apply(&rt);
        match rt {
            RecordType::History(h) => {
                let mut row = BTreeMap::new();
                let mut nested = BTreeMap::new();
                for mut it in h.item {
                    let value = parse(&it.value_json);
                    match it.nested_key.len() {
                        // The common case, a flat key: moved, no intermediate map.
                        0 => flatten_into(it.key, value, &mut row),
                        1 => flatten_into(it.nested_key.remove(0), value, &mut row),
                        n if n > labbook_wire::MAX_NESTED_KEY => {}
                        _ => set_nested(&mut nested, &it.nested_key, value),
                    }
                }
                for (k, v) in nested {
                    flatten_into(k, v, &mut row);
                }
                self.rows.push(row);
            }
            RecordType::Stats(s) => {
                let mut row = BTreeMap::new();
                if let Some(t) = s.timestamp {
                    row.insert(
                        "_timestamp".to_owned(),
                        J::from(t.seconds as f64 + f64::from(t.nanos) / 1e9),
                    );
                }
                for it in s.item {
                    row.insert(format!("system.{}", it.key), parse(&it.value_json));
                }
                self.stats.push(row);
            }
            RecordType::Alert(a) => self.alerts.push((a.level, a.title, a.text)),
            RecordType::Files(f) => self.files.extend(f.files.into_iter().map(|f| f.path)),
            _ => {}
        }
    }

    /// Reads the run's identity, config, summary and end from the replay.
    fn settle(&mut self) {
        let r = &self.replay;
        if let Some(run) = &r.run {
            self.id.clone_from(&run.run_id);
            self.name.clone_from(&run.display_name);
            self.project.clone_from(&run.project);
            self.entity.clone_from(&run.entity);
            self.group.clone_from(&run.run_group);
            self.job_type.clone_from(&run.job_type);
            self.notes.clone_from(&run.notes);
            self.tags.clone_from(&run.tags);
            if let Some(t) = run.start_time {
                self.start_unix = t.seconds as f64 + f64::from(t.nanos) / 1e9;
            }
        }
        self.config = tree_json(&r.config);
        self.summary = tree_json(&r.summary);
        self.exit_code = r.exit_code();
        self.preempted = r.preempted;
    }

    pub(crate) fn state(&self, now_unix: f64) -> State {
        self.state
            .unwrap_or_else(|| state_of(self.exit_code, self.modified_unix, now_unix, &self.dir))
    }

    /// The numeric history keys worth a chart: the chosen ones, else up to `n` of them.
    pub(crate) fn numeric_keys(&self, chosen: &[String], n: usize) -> Vec<String> {
        if !chosen.is_empty() {
            return chosen.to_vec();
        }
        self.columns()
            .into_iter()
            .filter(|c| {
                !c.starts_with('_')
                    && self
                        .rows
                        .iter()
                        .filter_map(|r| r.get(c))
                        .any(|v| v.as_f64().is_some())
            })
            .take(n)
            .collect()
    }

    /// Seconds from start to the last thing logged.
    pub(crate) fn duration(&self) -> f64 {
        let from_rows = self
            .rows
            .last()
            .and_then(|r| r.get("_runtime"))
            .and_then(J::as_f64);
        let from_summary = self.summary.get("_runtime").and_then(J::as_f64);
        from_rows
            .into_iter()
            .chain(from_summary)
            .fold(0.0, f64::max)
    }

    /// Whether `wandb sync` (or `labbook sync`) uploaded it.
    pub(crate) fn synced(&self) -> bool {
        log_file(&self.dir).is_ok_and(|p| p.with_extension("wandb.synced").exists())
    }

    /// Every history key, in order of first appearance, internal keys last.
    pub(crate) fn columns(&self) -> Vec<String> {
        let mut seen = std::collections::HashSet::new();
        let mut cols: Vec<String> = Vec::new();
        for row in &self.rows {
            for k in row.keys() {
                if !seen.contains(k) {
                    seen.insert(k.clone());
                    cols.push(k.clone());
                }
            }
        }
        cols.sort_by_key(|k| (k.starts_with('_'), k.clone()));
        cols
    }
}

/// A summary value by key (a flat key like `val/acc` first, then a dotted path), and a
/// number to show for one (itself, or the `last`/`max`/... of an aggregate): as the read
/// API reads them.
pub(crate) use labbook_core::api::{number as scalar_of, value_at as summary_get};

#[cfg(test)]
mod tests {
    use super::*;

    /// Both loaders on the run in `dir`: the same rows, metrics, summary, config and end.
    fn assert_loaders_agree(dir: &Path) {
        let full = RunLog::load(dir).unwrap();
        let export = RunLog::load_for_export(dir).unwrap();
        assert_eq!(export.history.to_maps(), full.rows);
        assert_eq!(export.stats.to_maps(), full.stats);
        assert_eq!(export.run.summary, full.summary);
        assert_eq!(export.run.config, full.config);
        assert_eq!(export.run.id, full.id);
        assert_eq!(export.run.end, full.end);
    }

    #[test]
    fn export_reads_what_load_reads() {
        let tmp = tempfile::tempdir().unwrap();
        let records = labbook_testkit::hand_log::odd_records();
        labbook_testkit::hand_log::write_log(tmp.path(), &records);
        let export = RunLog::load_for_export(tmp.path()).unwrap();
        assert_eq!(export.history.len(), 5);
        assert_eq!(export.stats.len(), 2);
        assert_loaders_agree(tmp.path());
    }

    #[test]
    fn export_reads_a_torn_or_corrupt_log_as_load_does() {
        let tmp = tempfile::tempdir().unwrap();
        // Long rows so that records span blocks and chunk types.
        let mut records = labbook_testkit::hand_log::odd_records();
        for i in 0..40 {
            let items = (0..200)
                .map(|k| {
                    labbook_testkit::hand_log::item(&format!("metric_{k}"), &format!("{}.5", i * k))
                })
                .collect();
            records.push(labbook_testkit::hand_log::history(100 + i, 10 + i, items));
        }
        let path = labbook_testkit::hand_log::write_log(tmp.path(), &records);
        let bytes = std::fs::read(&path).unwrap();
        assert!(bytes.len() > 3 * 32 * 1024);
        let cuts = (0..bytes.len())
            .step_by(997)
            .chain([6, 7, 8, bytes.len() - 1]);
        for cut in cuts {
            std::fs::write(&path, &bytes[..cut]).unwrap();
            if cut < 7 {
                assert!(RunLog::load_for_export(tmp.path()).is_err(), "cut {cut}");
                continue;
            }
            assert_loaders_agree(tmp.path());
        }
        for flip in (7..bytes.len()).step_by(1499) {
            let mut bad = bytes.clone();
            bad[flip] ^= 0x10;
            std::fs::write(&path, &bad).unwrap();
            assert_loaders_agree(tmp.path());
        }
    }

    #[test]
    fn a_record_that_does_not_decode_ends_the_read_as_in_load() {
        let tmp = tempfile::tempdir().unwrap();
        let mut records = labbook_testkit::hand_log::odd_records();
        // A value that is not UTF-8: prost rejects the record, and so must the export.
        let mut bad = labbook_testkit::hand_log::history(
            50,
            50,
            vec![labbook_testkit::hand_log::item("loss", "0.5")],
        );
        let at = bad.len() - 1;
        bad[at] = 0xFF;
        records.insert(2, bad);
        records.push(labbook_testkit::hand_log::history(
            51,
            51,
            vec![labbook_testkit::hand_log::item("loss", "1")],
        ));
        labbook_testkit::hand_log::write_log(tmp.path(), &records);
        let export = RunLog::load_for_export(tmp.path()).unwrap();
        assert_eq!(export.history.len(), 1);
        assert!(
            matches!(&export.run.end, Some(LogEnd::Corrupt { reason, .. }) if reason.contains("does not decode")),
            "{:?}",
            export.run.end
        );
        assert_loaders_agree(tmp.path());
    }

    #[test]
    fn a_wrong_header_is_an_error_naming_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("run-x.wandb"), b"garbage").unwrap();
        let e = format!("{:#}", RunLog::load_for_export(tmp.path()).unwrap_err());
        assert!(e.contains("not a W&B transaction log"), "{e}");
        assert_eq!(e, format!("{:#}", RunLog::load(tmp.path()).unwrap_err()));
    }
}
