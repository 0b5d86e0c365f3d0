//! Reading a run back for tests: every record, the rows, the merged summary and config.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use labbook_wire::proto::{self, RecordType};
use labbook_wire::{LogEnd, RunLog, item_path, read_log};

/// A run as read back from its transaction log. Values are kept as the JSON text written,
/// so tests compare exactly what W&B will read.
#[derive(Debug)]
pub struct RunData {
    pub dir: PathBuf,
    pub records: Vec<proto::Record>,
    pub end: LogEnd,
    /// Each history row: key -> value_json (including `_step`, `_runtime`, `_timestamp`).
    pub rows: Vec<BTreeMap<String, String>>,
    /// The summary after applying every summary record: dotted path -> value_json.
    pub summary: BTreeMap<String, String>,
    /// The config after the run record and every config record: key -> value_json.
    pub config: BTreeMap<String, String>,
    pub runs: Vec<proto::RunRecord>,
    pub exit: Option<proto::RunExitRecord>,
    pub metrics: Vec<proto::MetricRecord>,
    pub alerts: Vec<proto::AlertRecord>,
    pub files: Vec<proto::FilesItem>,
    pub preempted: bool,
    /// Every system-metrics record, in order.
    pub stats: Vec<proto::StatsRecord>,
    /// Every console record, in order.
    pub output: Vec<proto::OutputRawRecord>,
    /// Every environment record, in order.
    pub environments: Vec<proto::EnvironmentRecord>,
}

impl RunData {
    pub fn run(&self) -> &proto::RunRecord {
        &self.runs[0]
    }

    /// The value of `key` in every row that has it.
    pub fn column(&self, key: &str) -> Vec<&str> {
        self.rows
            .iter()
            .filter_map(|r| r.get(key).map(String::as_str))
            .collect()
    }

    /// The artifact versions the log records, in order.
    pub fn artifacts(&self) -> Vec<&proto::ArtifactRecord> {
        self.records
            .iter()
            .filter_map(|r| match &r.record_type {
                Some(RecordType::Artifact(a)) => Some(a),
                _ => None,
            })
            .collect()
    }

    pub fn steps(&self) -> Vec<u64> {
        self.column("_step")
            .iter()
            .map(|s| s.parse().unwrap())
            .collect()
    }
}

/// Reads the single run under `dir` (a run directory): every record, folded by
/// labbook-wire's replay (the one the CLI, resume and sync use).
pub fn read_run(dir: &Path) -> RunData {
    let log = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "wandb"))
        .unwrap_or_else(|| panic!("no .wandb file in {}", dir.display()));
    let contents = read_log(&log).unwrap();
    let mut replay = RunLog::keeping_series();
    let mut runs = Vec::new();
    for (i, r) in contents.records.iter().enumerate() {
        assert_eq!(r.num, i as i64 + 1, "records are numbered from 1");
        let Some(rt) = &r.record_type else { continue };
        replay.apply(rt);
        if let RecordType::Run(run) = rt {
            runs.push(run.clone());
        }
    }
    let rows = replay
        .history
        .iter()
        .map(|h| {
            let row: BTreeMap<String, String> = h
                .item
                .iter()
                .map(|it| {
                    (
                        item_path(&it.key, &it.nested_key).join("."),
                        it.value_json.clone(),
                    )
                })
                .collect();
            let step: i64 = row["_step"].parse().unwrap();
            assert_eq!(
                h.step.as_ref().map(|s| s.num),
                Some(step),
                "step.num matches _step"
            );
            row
        })
        .collect();
    let leaves = |tree: &labbook_wire::Tree| -> BTreeMap<String, String> {
        tree.leaves().map(|(k, v)| (k, v.to_owned())).collect()
    };
    RunData {
        dir: dir.to_owned(),
        records: contents.records,
        end: contents.end,
        rows,
        summary: leaves(&replay.summary),
        config: leaves(&replay.config),
        runs,
        exit: replay.exit,
        metrics: replay.metrics,
        alerts: replay.alerts,
        files: replay.files,
        preempted: replay.preempted,
        stats: replay.stats,
        output: replay.output,
        environments: replay.environments,
    }
}

/// The only run directory under `<root>/wandb/` (offline or online).
pub fn only_run_dir(root: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(root.join("wandb"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_str().unwrap();
            name.starts_with("offline-run-") || name.starts_with("run-")
        })
        .collect();
    assert_eq!(
        dirs.len(),
        1,
        "expected one run under {}: {dirs:?}",
        root.display()
    );
    dirs.into_iter().next().unwrap()
}
