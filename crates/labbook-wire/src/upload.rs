//! What a run's records become on a W&B server, apart from how they get there: history,
//! system-metric and console records as `file_stream` lines at their offsets, the step
//! each row goes out with, the summary line, the media a row names and an artifact
//! version's manifest.
//!
//! labbook's HTTP uploader (`labbook sync`, online runs) and the server's `--watch`
//! importer both build their requests with these rules, so a run that reaches a server
//! either way is stored the same, line for line (and a run sent both ways is stored once:
//! the same lines at the same offsets).
//!
//! ```
//! use labbook_wire::proto::{HistoryItem, HistoryRecord};
//! use labbook_wire::upload::{Lines, Steps, history_line};
//!
//! let row = HistoryRecord {
//!     item: vec![HistoryItem { key: "loss".into(), value_json: "0.5".into(), ..Default::default() }],
//!     step: None,
//! };
//! let mut steps = Steps::default();
//! let mut lines = Lines::default();
//! lines.history(history_line(&row, steps.next(&row)));
//! lines.history(history_line(&row, steps.next(&row)));
//! let files = lines.take();
//! assert_eq!(files[0].name, "wandb-history.jsonl");
//! assert_eq!(files[0].lines, [r#"{"loss":0.5,"_step":0}"#, r#"{"loss":0.5,"_step":1}"#]);
//! assert_eq!(lines.offsets, [2, 0, 0]);
//! ```

use std::path::Path;

use prost::Message as _;

use crate::log_reader::{LogItem, LogReader};
use crate::proto::{self, Record, RecordType};
use crate::run_log::RunLog;
use crate::tree::{Tree, item_path};

/// The `file_stream` files a run's lines go to, in the order of [`Lines::offsets`].
pub const STREAM_FILES: [&str; 3] = ["wandb-history.jsonl", "wandb-events.jsonl", "output.log"];

/// The file the summary travels as.
pub const SUMMARY_FILE: &str = "wandb-summary.json";

/// A history record as one `wandb-history.jsonl` line, with `_step` set to `step`. Values
/// stay the JSON text the log holds (NaN and Infinity included), so what is uploaded is
/// byte for byte what was logged.
pub fn history_line(rec: &proto::HistoryRecord, step: i64) -> String {
    let mut t = Tree::default();
    for item in &rec.item {
        t.set(&item_path(&item.key, &item.nested_key), &item.value_json);
    }
    t.set(&["_step"], &step.to_string());
    t.to_json()
}

fn seconds(ts: &Option<prost_types::Timestamp>) -> f64 {
    ts.as_ref()
        .map_or(0.0, |t| t.seconds as f64 + f64::from(t.nanos) / 1e9)
}

/// A system-metrics record as one `wandb-events.jsonl` line; `start` is the run's start
/// time ([`start_time`]), from which `_runtime` counts.
pub fn events_line(rec: &proto::StatsRecord, start: f64) -> String {
    let mut t = Tree::default();
    for item in &rec.item {
        t.set(&[&format!("system.{}", item.key)], &item.value_json);
    }
    let ts = seconds(&rec.timestamp);
    t.set(&["_wandb"], "true");
    t.set(&["_timestamp"], &json_f64(ts));
    t.set(&["_runtime"], &json_f64((ts - start).max(0.0)));
    t.to_json()
}

fn json_f64(v: f64) -> String {
    serde_json::Number::from_f64(v).map_or_else(|| "0".to_owned(), |n| n.to_string())
}

/// A console record as `output.log` lines: `<UTC timestamp> <text>`, stderr prefixed
/// `ERROR `.
pub fn output_lines(rec: &proto::OutputRawRecord) -> Vec<String> {
    let ts = rec.timestamp.as_ref().map_or_else(String::new, |t| {
        chrono::DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32)
            .map(|d| d.format("%Y-%m-%dT%H:%M:%S%.6f").to_string())
            .unwrap_or_default()
    });
    let prefix = if rec.output_type == 0 { "ERROR " } else { "" };
    rec.line
        .split('\n')
        .filter(|l| !l.is_empty())
        .map(|l| format!("{prefix}{ts} {}", l.trim_end_matches('\r')))
        .collect()
}

/// The run's start time in seconds since the epoch (0 when the record has none).
pub fn start_time(run: &proto::RunRecord) -> f64 {
    seconds(&run.start_time)
}

/// The summary as `wandb-summary.json` holds it: the folded summary with `_step` set to
/// the step the last row went out with.
pub fn summary_line(summary: &Tree, last_step: Option<i64>) -> String {
    let mut s = summary.clone();
    if let Some(step) = last_step {
        s.set(&["_step"], &step.to_string());
    }
    s.to_json()
}

/// The step each history row goes out with. As `wandb sync`: a row's own `_step`, but one
/// that does not advance becomes the previous + 1, and a row without one the previous + 1
/// (0 for the first).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Steps {
    /// The step the last row went out with.
    pub last: Option<i64>,
}

impl Steps {
    /// The step `row` goes out with (and now the last).
    pub fn next(&mut self, row: &proto::HistoryRecord) -> i64 {
        // Saturating: a crafted log's step of i64::MAX must not overflow.
        let step = match (crate::history_step(row), self.last) {
            (Some(s), Some(prev)) if s <= prev => prev.saturating_add(1),
            (Some(s), _) => s,
            (None, prev) => prev.map_or(0, |p| p.saturating_add(1)),
        };
        self.last = Some(step);
        step
    }
}

/// Lines waiting to go to the server, by file, and the offset each file's next line has.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lines {
    waiting: [Vec<String>; 3],
    bytes: usize,
    /// The offset of the next line of each of [`STREAM_FILES`]: lines already taken.
    pub offsets: [u64; 3],
}

/// One file's lines of a `file_stream` request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileLines {
    /// One of [`STREAM_FILES`].
    pub name: &'static str,
    /// The offset of the first line.
    pub offset: u64,
    /// The lines.
    pub lines: Vec<String>,
}

impl Lines {
    /// Adds a `wandb-history.jsonl` line.
    pub fn history(&mut self, line: String) {
        self.push(0, line);
    }

    /// Adds a `wandb-events.jsonl` line.
    pub fn events(&mut self, line: String) {
        self.push(1, line);
    }

    /// Adds an `output.log` line.
    pub fn output(&mut self, line: String) {
        self.push(2, line);
    }

    fn push(&mut self, file: usize, line: String) {
        self.bytes += line.len();
        self.waiting[file].push(line);
    }

    /// Whether no line waits.
    pub fn is_empty(&self) -> bool {
        self.waiting.iter().all(Vec::is_empty)
    }

    /// Bytes of the lines waiting.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Takes the lines waiting, each file's with its offset (files with none left out),
    /// and moves the offsets past them.
    pub fn take(&mut self) -> Vec<FileLines> {
        self.bytes = 0;
        let mut out = Vec::new();
        for ((name, buf), offset) in STREAM_FILES
            .iter()
            .zip(&mut self.waiting)
            .zip(self.offsets.iter_mut())
        {
            if buf.is_empty() {
                continue;
            }
            let lines = std::mem::take(buf);
            let start = *offset;
            *offset += lines.len() as u64;
            out.push(FileLines {
                name,
                offset: start,
                lines,
            });
        }
        out
    }
}

/// A log's first pass, what an upload's first request needs: the first run record (and
/// where it ends: it goes first, and is skipped when met again), what the whole log
/// leaves (its config, program, number of rows) and how far the log could be read.
#[derive(Clone, Debug)]
pub struct FirstPass {
    /// The first run record.
    pub run: proto::RunRecord,
    /// The byte where that record ends.
    pub run_end: u64,
    /// The whole log folded (state only, nothing that grows with the run).
    pub whole: RunLog,
    /// Where the readable part of the log ends.
    pub len: u64,
}

/// Reads the log at `path` once, a record at a time (never all of it at once); `None` when
/// it has no run record (yet). A record that does not decode ends the log, as it ends an
/// upload.
///
/// ```no_run
/// let first = labbook_wire::upload::first_pass("run-ab12.wandb".as_ref())?.expect("a run record");
/// println!("{} rows, config {}", first.whole.rows, first.whole.config.to_json());
/// # Ok::<(), labbook_wire::Error>(())
/// ```
pub fn first_pass(path: &Path) -> crate::Result<Option<FirstPass>> {
    let mut reader = LogReader::open(path)?;
    let mut whole = RunLog::default();
    let mut run = None;
    loop {
        let item = reader
            .next_record()
            .map_err(crate::Error::io("could not read", path))?;
        let LogItem::Record(raw) = item else {
            break;
        };
        let Ok(decoded) = Record::decode(raw.bytes) else {
            break;
        };
        let Some(record) = decoded.record_type else {
            continue;
        };
        whole.apply(&record);
        if let (None, RecordType::Run(r)) = (&run, record) {
            run = Some((r, reader.position()));
        }
    }
    let len = reader.position();
    Ok(run.map(|(run, run_end)| FirstPass {
        run,
        run_end,
        whole,
        len,
    }))
}

/// Every file under a run's `files/` directory `dir`, as paths relative to it with forward
/// slashes, sorted (none when there is no such directory). Links are not followed.
pub fn run_files(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let path = entry.path();
            if kind.is_dir() {
                stack.push(path);
            } else if let Ok(rel) = path.strip_prefix(dir) {
                let parts: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                out.push(parts.join("/"));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// What a later run record (a rename at finish, new tags or notes) changes of the one
/// sent before, as an update sends it: each text field that differs and is not empty, the
/// tags when they differ.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunChanges {
    /// The display name.
    pub display_name: Option<String>,
    /// The notes.
    pub notes: Option<String>,
    /// The group.
    pub group: Option<String>,
    /// The job type.
    pub job_type: Option<String>,
    /// The tags.
    pub tags: Option<Vec<String>>,
}

impl RunChanges {
    /// What `now` changes of `before` (everything it sets, when there was none).
    ///
    /// ```
    /// use labbook_wire::proto::RunRecord;
    /// use labbook_wire::upload::RunChanges;
    /// let before = RunRecord { display_name: "a".into(), notes: "n".into(), ..Default::default() };
    /// let now = RunRecord { display_name: "b".into(), notes: "n".into(), ..Default::default() };
    /// let changes = RunChanges::between(Some(&before), &now);
    /// assert_eq!((changes.display_name.as_deref(), changes.notes), (Some("b"), None));
    /// ```
    pub fn between(before: Option<&proto::RunRecord>, now: &proto::RunRecord) -> RunChanges {
        let changed = |f: fn(&proto::RunRecord) -> &str| {
            let value = f(now);
            (before.is_none_or(|b| f(b) != value) && !value.is_empty()).then(|| value.to_owned())
        };
        RunChanges {
            display_name: changed(|r| &r.display_name),
            notes: changed(|r| &r.notes),
            group: changed(|r| &r.run_group),
            job_type: changed(|r| &r.job_type),
            tags: before
                .is_none_or(|b| b.tags != now.tags)
                .then(|| now.tags.clone()),
        }
    }
}

/// `wandb_manifest.json` of artifact version `a` as the Python client writes it: compact,
/// no trailing newline, each uploaded entry's `birthArtifactID` the server's id of the
/// version being created (`id`), references kept as references.
///
/// ```
/// use labbook_wire::proto::{ArtifactManifest, ArtifactManifestEntry, ArtifactRecord};
/// let entry = ArtifactManifestEntry { path: "w.bin".into(), digest: "abc=".into(), size: 3, ..Default::default() };
/// let a = ArtifactRecord { manifest: Some(ArtifactManifest { contents: vec![entry], ..Default::default() }), ..Default::default() };
/// let text = labbook_wire::upload::manifest_json(&a, "QXJ0aWZhY3Q6MQ");
/// let manifest: serde_json::Value = serde_json::from_str(&text)?;
/// assert_eq!(manifest["contents"]["w.bin"]["birthArtifactID"], "QXJ0aWZhY3Q6MQ");
/// assert_eq!(manifest["storagePolicyConfig"]["storageLayout"], "V2");
/// # Ok::<(), serde_json::Error>(())
/// ```
pub fn manifest_json(a: &proto::ArtifactRecord, id: &str) -> String {
    use serde_json::{Value, json};
    let mut contents = serde_json::Map::new();
    for e in a.manifest.iter().flat_map(|m| &m.contents) {
        let mut entry = serde_json::Map::new();
        entry.insert("digest".into(), json!(e.digest));
        if e.r#ref.is_empty() {
            entry.insert("birthArtifactID".into(), json!(id));
        } else {
            entry.insert("ref".into(), json!(e.r#ref));
        }
        entry.insert("size".into(), json!(e.size));
        contents.insert(e.path.clone(), Value::Object(entry));
    }
    json!({
        "version": 1,
        "storagePolicy": "wandb-storage-policy-v1",
        "storagePolicyConfig": {"storageLayout": "V2"},
        "contents": contents,
    })
    .to_string()
}

/// The media files (`media/...` paths under the run's `files/`) a history or summary value
/// refers to, added to `out`; they were written before the record that names them, so
/// they are whole when it is read.
///
/// ```
/// let mut media = Vec::new();
/// labbook_wire::upload::media_paths(r#"{"_type":"image-file","path":"media/images/a.png"}"#, &mut media);
/// assert_eq!(media, ["media/images/a.png"]);
/// ```
pub fn media_paths(value_json: &str, out: &mut Vec<String>) {
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    match v {
                        serde_json::Value::String(p) if k == "path" && p.starts_with("media/") => {
                            out.push(p.clone());
                        }
                        _ => walk(v, out),
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    if value_json.contains("\"media/")
        && let Ok(v) = serde_json::from_str::<serde_json::Value>(value_json)
    {
        walk(&v, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(items: &[(&str, &str)]) -> proto::HistoryRecord {
        proto::HistoryRecord {
            item: items
                .iter()
                .map(|(k, v)| proto::HistoryItem {
                    key: (*k).into(),
                    value_json: (*v).into(),
                    ..Default::default()
                })
                .collect(),
            step: None,
        }
    }

    #[test]
    fn history_lines_carry_the_given_step() {
        let mut rec = row(&[("_step", "3"), ("loss", "0.5")]);
        rec.item.push(proto::HistoryItem {
            nested_key: vec!["val".into(), "acc".into()],
            value_json: "Infinity".into(),
            ..Default::default()
        });
        assert_eq!(crate::history_step(&rec), Some(3));
        assert_eq!(
            history_line(&rec, 4),
            r#"{"_step":4,"loss":0.5,"val":{"acc":Infinity}}"#
        );
    }

    #[test]
    fn steps_that_do_not_advance_become_the_previous_plus_one() {
        let mut steps = Steps::default();
        let got: Vec<i64> = [
            row(&[("x", "1")]),
            row(&[("_step", "5")]),
            row(&[("_step", "5")]),
            row(&[("_step", "2")]),
            row(&[("x", "1")]),
            row(&[("_step", &i64::MAX.to_string())]),
            row(&[("_step", "1")]),
        ]
        .iter()
        .map(|r| steps.next(r))
        .collect();
        assert_eq!(got, [0, 5, 6, 7, 8, i64::MAX, i64::MAX]);
    }

    #[test]
    fn lines_are_taken_with_their_offsets_and_the_offsets_move_on() {
        let mut lines = Lines {
            offsets: [10, 0, 3],
            ..Lines::default()
        };
        lines.history("{}".into());
        lines.output("a".into());
        lines.output("b".into());
        assert_eq!(lines.bytes(), 4);
        let files = lines.take();
        assert_eq!(
            files
                .iter()
                .map(|f| (f.name, f.offset, f.lines.len()))
                .collect::<Vec<_>>(),
            [("wandb-history.jsonl", 10, 1), ("output.log", 3, 2)]
        );
        assert_eq!(lines.offsets, [11, 0, 5]);
        assert!(lines.is_empty() && lines.take().is_empty());
    }

    #[test]
    fn events_count_runtime_from_the_start_and_output_lines_are_stamped() {
        let ts = |seconds| Some(prost_types::Timestamp { seconds, nanos: 0 });
        let stats = proto::StatsRecord {
            timestamp: ts(110),
            item: vec![proto::StatsItem {
                key: "cpu".into(),
                value_json: "12.5".into(),
            }],
            ..Default::default()
        };
        assert_eq!(
            events_line(&stats, 100.0),
            r#"{"system.cpu":12.5,"_wandb":true,"_timestamp":110.0,"_runtime":10.0}"#
        );
        let out = proto::OutputRawRecord {
            output_type: 0,
            timestamp: ts(0),
            line: "oops\r\n\nagain".into(),
        };
        assert_eq!(
            output_lines(&out),
            [
                "ERROR 1970-01-01T00:00:00.000000 oops",
                "ERROR 1970-01-01T00:00:00.000000 again"
            ]
        );
    }

    #[test]
    fn the_summary_line_carries_the_last_step() {
        let mut summary = Tree::default();
        summary.set(&["loss"], "0.25");
        assert_eq!(
            summary_line(&summary, Some(9)),
            r#"{"loss":0.25,"_step":9}"#
        );
        assert_eq!(summary_line(&summary, None), r#"{"loss":0.25}"#);
    }
}

#[cfg(test)]
mod props {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Items at any nesting (up to 10,000 deep) become a line that parses, or are
        /// skipped when deeper than a reader follows.
        #[test]
        fn nested_keys_of_any_depth_make_lines_that_parse(
            depth in prop_oneof![0usize..80, Just(10_000usize)],
            value in prop::sample::select(vec!["1", "NaN", "\"s\"", "[1,2]", "{\"a\":1}"]),
        ) {
            let nested: Vec<String> = (0..depth).map(|i| format!("k{i}")).collect();
            let rec = proto::HistoryRecord {
                item: vec![
                    proto::HistoryItem { key: "x".into(), nested_key: nested, value_json: value.into() },
                    proto::HistoryItem { key: "_step".into(), nested_key: vec![], value_json: "3".into() },
                ],
                step: None,
            };
            let line = history_line(&rec, 3);
            let parsed = crate::json::parse(&line)
                .map_err(|e| TestCaseError::fail(format!("{e}: {line}")))?;
            prop_assert_eq!(&parsed["_step"], &serde_json::json!(3));
        }
    }
}
