//! `labbook export`: runs chosen by id, group, tag or condition, from a directory or a
//! server, written as a folder a data analyst can use without labbook (`./results/` by
//! default):
//!
//! ```text
//! results/
//!   runs.csv                       one row per run: id, name, state, ..., config.*, summary.*
//!   <run-id>/run_summary.json      id, name, state, tags, group, config, summary, ...
//!   <run-id>/metrics_history.csv   every history row (or .jsonl / .parquet with --format)
//!   <run-id>/system_metrics.csv    every system-metrics sample (same format)
//!   <run-id>/artifacts/<name>/     the files of each artifact the run logged
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use labbook_core::api::{Api, Query, RunInfo};
use serde_json::Value as J;

use crate::Format;
use crate::history::{Cell, Table};
use crate::index::resolve;
use crate::run_log::{ExportLog, RunLog, flatten_into};

/// What `labbook export` was asked for.
pub(crate) struct ExportArgs {
    /// Run directories or ids; with a server, `entity/project/id` or `entity/project`.
    pub runs: Vec<String>,
    pub group: Option<String>,
    pub tags: Vec<String>,
    pub conditions: Vec<String>,
    pub format: Format,
    pub out: PathBuf,
    /// Where run ids are looked up.
    pub root: PathBuf,
    pub server: Option<String>,
}

impl ExportArgs {
    fn selects(&self) -> bool {
        self.group.is_some() || !self.tags.is_empty() || !self.conditions.is_empty()
    }

    fn query(&self) -> Result<Query> {
        let mut q = Query::new();
        if let Some(g) = &self.group {
            q = q.group(g.clone());
        }
        for t in &self.tags {
            q = q.tag(t.clone());
        }
        for c in &self.conditions {
            q = q.filter(c).with_context(|| format!("--where {c:?}"))?;
        }
        Ok(q)
    }
}

/// A run chosen, and where its rows come from.
enum Chosen {
    Local(PathBuf),
    Server(Box<RunInfo>),
}

pub(crate) fn export(a: &ExportArgs) -> Result<()> {
    if a.runs.is_empty() && !a.selects() {
        bail!("name the runs to export, or choose them with --group, --tag or --where");
    }
    let query = a.query()?;
    let server = a.server.as_deref().map(crate::remote::open).transpose()?;
    let chosen = match &server {
        Some(api) => chosen_on_server(api, a, &query)?,
        None => chosen_here(a, &query)?,
    };
    if chosen.is_empty() {
        bail!("no run matches: nothing exported");
    }
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create {}", a.out.display()))?;
    let mut listed = Vec::new();
    for c in chosen {
        let (info, history, stats) = match c {
            Chosen::Local(dir) => {
                let ExportLog {
                    run,
                    history,
                    stats,
                } = RunLog::load_for_export(&dir)?;
                (local_info(&dir, run, &history), history, stats)
            }
            Chosen::Server(info) => {
                let api = server.as_ref().context("a server run without a server")?;
                let (history, stats) = crate::remote::tables(api, &info)?;
                (*info, history, stats)
            }
        };
        let dir = a.out.join(export_dir_name(&info)?);
        write_run(&dir, &info, &history, &stats, a.format)?;
        let local;
        let api = match (&server, &info.dir) {
            (Some(api), _) => api,
            (None, Some(run_dir)) => {
                local = Api::dir(run_dir)?;
                &local
            }
            (None, None) => bail!("run {} has no directory", info.id),
        };
        write_artifacts(api, &info, &dir.join("artifacts"));
        eprintln!(
            "labbook: exported {} ({} rows) to {}",
            info.id,
            history.len(),
            dir.display()
        );
        listed.push(info);
    }
    let path = a.out.join("runs.csv");
    write_runs_csv(&path, &listed)?;
    eprintln!(
        "labbook: {} runs listed in {}",
        listed.len(),
        path.display()
    );
    Ok(())
}

/// The runs named (or all, when none is) that pass the query, under `--dir`.
fn chosen_here(a: &ExportArgs, query: &Query) -> Result<Vec<Chosen>> {
    if a.runs.is_empty() {
        let runs = Api::dir(&a.root)?.runs(query)?;
        return Ok(runs
            .into_iter()
            .filter_map(|r| r.dir.map(Chosen::Local))
            .collect());
    }
    let mut out = Vec::new();
    for spec in &a.runs {
        let dir = resolve(spec, &a.root)?;
        if !a.selects() || query.matches(&Api::dir(&dir)?.run(&dir.to_string_lossy())?) {
            out.push(Chosen::Local(dir));
        }
    }
    Ok(out)
}

/// The runs `entity/project/id` names, and those of each `entity/project` named, that
/// pass the query.
fn chosen_on_server(api: &Api, a: &ExportArgs, query: &Query) -> Result<Vec<Chosen>> {
    let mut out = Vec::new();
    for spec in &a.runs {
        if spec.split('/').count() == 2 {
            let q = query.clone().project(crate::remote::project(spec)?);
            out.extend(
                api.runs(&q)?
                    .into_iter()
                    .map(|r| Chosen::Server(Box::new(r))),
            );
        } else {
            let run = crate::remote::run(api, spec)?;
            if query.matches(&run) {
                out.push(Chosen::Server(Box::new(run)));
            }
        }
    }
    if a.runs.is_empty() {
        bail!("with --server, name the project (entity/project) or runs (entity/project/id)");
    }
    Ok(out)
}

/// A local run as the read API tells it, from the log export already read (its last step
/// from the rows, which export reads apart from the replay).
fn local_info(dir: &Path, mut run: RunLog, history: &Table) -> RunInfo {
    run.replay.last_step = history.last_step().or(run.replay.last_step);
    RunInfo::from_log(dir, &run.replay)
}

/// The directory a run is exported into: its id, or its run directory's name. Both come
/// from outside the program (the id from the log's bytes), so only one plain path
/// component is accepted: a crafted `../../x` or `/etc` writes nowhere.
fn export_dir_name(info: &RunInfo) -> Result<String> {
    let name = if info.id.is_empty() {
        info.dir
            .as_deref()
            .and_then(Path::file_name)
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    } else {
        info.id.clone()
    };
    if !plain_name(&name) {
        bail!(
            "{}: the run id {name:?} is not a plain directory name; the run is not exported (the name could lead outside --out)",
            info.dir
                .as_deref()
                .map_or_else(|| info.id.clone(), |d| d.display().to_string())
        );
    }
    Ok(name)
}

/// One plain path component: no separator, not `.` or `..`.
fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '+' | '=' | ':'))
}

fn write_run(
    dir: &Path,
    info: &RunInfo,
    history: &Table,
    stats: &Table,
    format: Format,
) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (name, table) in [("metrics_history", history), ("system_metrics", stats)] {
        match format {
            Format::Csv => write_csv(&dir.join(format!("{name}.csv")), table)?,
            Format::Json => write_jsonl(&dir.join(format!("{name}.jsonl")), table)?,
            Format::Parquet => {
                crate::parquet_export::write(&dir.join(format!("{name}.parquet")), table)?;
            }
        }
    }
    let summary = serde_json::json!({
        "id": info.id, "name": info.name, "state": info.state, "entity": info.entity,
        "project": info.project, "group": info.group, "job_type": info.job_type,
        "notes": info.notes, "tags": info.tags, "created_at": info.created_at,
        "last_step": info.last_step, "config": info.config, "summary": info.summary,
    });
    let path = dir.join("run_summary.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&summary)?)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Each artifact the run logged under `dir/<name>/`. One that cannot be read (a local
/// run's staged files deleted, a server that refuses) is named on stderr and the export
/// goes on: the run's own files are already written.
fn write_artifacts(api: &Api, info: &RunInfo, dir: &Path) {
    let artifacts = match api.logged_artifacts(info) {
        Ok(a) => a,
        Err(e) => {
            eprintln!(
                "labbook: run {}: its artifacts are not exported: {e}",
                info.id
            );
            return;
        }
    };
    let mut used = BTreeSet::new();
    for (i, art) in artifacts.iter().enumerate() {
        let mut name = art.name.clone();
        if !used.insert(name.clone()) {
            // A second version of the same artifact, beside the first.
            name = if art.version.is_empty() {
                format!("{}:{i}", art.name)
            } else {
                format!("{}:{}", art.name, art.version)
            };
        }
        if !plain_name(&name) {
            eprintln!(
                "labbook: run {}: the artifact name {name:?} is not a plain directory name; not exported",
                info.id
            );
            continue;
        }
        if let Err(e) = api.download_artifact(info, art, &dir.join(&name)) {
            eprintln!(
                "labbook: run {}: artifact {name} not exported: {e}",
                info.id
            );
        }
    }
}

/// A value as a runs.csv cell: text as itself, anything else as JSON.
fn csv_cell(v: &J) -> String {
    match v {
        J::Null => String::new(),
        J::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `prefix.key` columns of a map, nested maps flattened (media objects and lists whole),
/// W&B's own `_` keys left out but `_step` and `_runtime`.
fn flat_columns(prefix: &str, map: &BTreeMap<String, J>) -> BTreeMap<String, J> {
    let mut out = BTreeMap::new();
    for (k, v) in map {
        if k.starts_with('_') && k != "_step" && k != "_runtime" {
            continue;
        }
        flatten_into(format!("{prefix}.{k}"), v.clone(), &mut out);
    }
    out
}

fn write_runs_csv(path: &Path, runs: &[RunInfo]) -> Result<()> {
    let flat: Vec<BTreeMap<String, J>> = runs
        .iter()
        .map(|r| {
            let mut m = flat_columns("config", &r.config);
            m.extend(flat_columns("summary", &r.summary));
            m
        })
        .collect();
    let columns: BTreeSet<&String> = flat.iter().flat_map(BTreeMap::keys).collect();
    // Config columns before summary ones (the names sort that way), each set by name.
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
    let mut w = csv::Writer::from_writer(file);
    let fixed = [
        "id",
        "name",
        "state",
        "entity",
        "project",
        "group",
        "job_type",
        "tags",
        "created_at",
    ];
    w.write_record(
        fixed
            .iter()
            .copied()
            .chain(columns.iter().map(|c| c.as_str())),
    )?;
    for (r, values) in runs.iter().zip(&flat) {
        let created = r
            .created_at
            .and_then(|t| chrono::DateTime::from_timestamp_millis((t * 1000.0) as i64))
            .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
            .unwrap_or_default();
        let mut row = vec![
            r.id.clone(),
            r.name.clone(),
            r.state.to_string(),
            r.entity.clone(),
            r.project.clone(),
            r.group.clone(),
            r.job_type.clone(),
            r.tags.join(","),
            created,
        ];
        row.extend(
            columns
                .iter()
                .map(|c| values.get(*c).map(csv_cell).unwrap_or_default()),
        );
        w.write_record(&row)?;
    }
    w.flush()?;
    Ok(())
}

/// Appends a history cell as text: media become their file path, lists and maps JSON.
fn write_cell(v: &J, out: &mut String) {
    use std::fmt::Write as _;
    let _ = match v {
        J::Null => Ok(()),
        J::String(s) => out.write_str(s),
        J::Number(n) => write!(out, "{n}"),
        J::Bool(b) => write!(out, "{b}"),
        J::Object(m) if m.contains_key("path") => {
            out.write_str(m["path"].as_str().unwrap_or_default())
        }
        J::Object(m) if m.contains_key("filenames") => write!(out, "{}", m["filenames"]),
        other => write!(out, "{other}"),
    };
}

fn write_csv(path: &Path, table: &Table) -> Result<()> {
    let order = table.export_order();
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
    // A bigger buffer than csv's default 8 KiB: fewer write calls for a long history.
    let mut w = csv::WriterBuilder::new()
        .buffer_capacity(1 << 16)
        .from_writer(file);
    w.write_record(order.iter().map(|&c| &table.names()[c as usize]))?;
    // Where each column's cell is in the current row, by column id (usize::MAX: none).
    let mut at = vec![usize::MAX; table.names().len()];
    let (mut buf, mut text) = (Vec::new(), String::new());
    for (cols, cells) in table.rows() {
        for (i, &c) in cols.iter().enumerate() {
            at[c as usize] = i;
        }
        for &c in &order {
            buf.clear();
            if let Some(&cell) = cells.get(at[c as usize])
                && !Table::write_plain(cell, &mut buf)?
                && let Cell::Json(j) = cell
            {
                text.clear();
                write_cell(table.json(j), &mut text);
                buf.extend_from_slice(text.as_bytes());
            }
            w.write_field(&buf)?;
        }
        w.write_record(None::<&[u8]>)?;
        for &c in cols {
            at[c as usize] = usize::MAX;
        }
    }
    w.flush()?;
    Ok(())
}

/// One JSON object per row, keys in name order (as serializing a map of the row would).
fn write_jsonl(path: &Path, table: &Table) -> Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 16, file);
    let names = table.names();
    let keys: Vec<Vec<u8>> = names
        .iter()
        .map(serde_json::to_vec)
        .collect::<Result<_, _>>()?;
    // Each column's place in name order, so a row's keys sort by a number.
    let mut by_name: Vec<usize> = (0..names.len()).collect();
    by_name.sort_by_key(|&c| names[c].as_str());
    let mut rank = vec![0; names.len()];
    for (r, &c) in by_name.iter().enumerate() {
        rank[c] = r;
    }
    let (mut order, mut line) = (Vec::new(), Vec::new());
    for (cols, cells) in table.rows() {
        order.clear();
        order.extend(cols.iter().enumerate().map(|(i, &c)| (rank[c as usize], i)));
        order.sort_unstable();
        line.clear();
        line.push(b'{');
        for (n, &(_, i)) in order.iter().enumerate() {
            if n > 0 {
                line.push(b',');
            }
            line.extend_from_slice(&keys[cols[i] as usize]);
            line.push(b':');
            table.write_json(cells[i], &mut line)?;
        }
        line.extend_from_slice(b"}\n");
        w.write_all(&line)?;
    }
    w.flush()?;
    Ok(())
}
