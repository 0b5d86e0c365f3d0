//! The subcommands: ls, show, export, compare.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::Value as J;

use crate::Format;
use crate::filter::Condition;
use crate::history::{Cell, Table};
use crate::index::{RunInfo, discover, resolve};
use crate::run_log::{ExportLog, RunLog, State, scalar_of, summary_get};
use crate::table;

pub(crate) fn now_unix() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn fmt_time(unix: f64) -> String {
    chrono::DateTime::from_timestamp(unix as i64, 0)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_default()
}

fn fmt_duration(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    match s {
        0..60 => format!("{secs:.1}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

fn fmt_value(v: &J) -> String {
    match scalar_of(v) {
        Some(x) if x.fract() == 0.0 && x.abs() < 1e15 => format!("{x:.0}"),
        Some(x) => format!("{x:.4}"),
        None => match v {
            J::String(s) => s.clone(),
            J::Object(m) if m.contains_key("_type") => {
                format!("<{}>", m["_type"].as_str().unwrap_or("media"))
            }
            other => other.to_string(),
        },
    }
}

/// Options of `labbook ls`.
pub(crate) struct LsOptions {
    pub tags: Vec<String>,
    pub group: Option<String>,
    pub state: Option<String>,
    pub conditions: Vec<String>,
    pub sort: Option<String>,
    pub metrics: Vec<String>,
    pub json: bool,
}

pub(crate) fn ls(root: &Path, o: &LsOptions) -> Result<()> {
    let conditions: Vec<Condition> = o
        .conditions
        .iter()
        .map(|c| Condition::parse(c))
        .collect::<Result<_>>()?;
    let want_state = match o.state.as_deref() {
        None => None,
        Some(s) => Some(match s {
            "finished" => State::Finished,
            "failed" => State::Failed,
            "running" => State::Running,
            "crashed" => State::Crashed,
            other => bail!("--state {other:?}: expected finished, failed, running or crashed"),
        }),
    };
    let now = now_unix();
    let mut runs = Vec::new();
    for dir in discover(root)? {
        match RunInfo::load(&dir) {
            Ok(info) => runs.push(info),
            Err(e) => eprintln!("labbook: skipping {}: {e:#}", dir.display()),
        }
    }
    let known: BTreeSet<String> = runs
        .iter()
        .flat_map(|r| r.summary.keys().cloned())
        .collect();
    for c in &conditions {
        let top = c.key.split('.').next().unwrap_or_default();
        if !known.contains(&c.key) && !known.iter().any(|k| k == top) && !runs.is_empty() {
            bail!("--where: no run has a summary metric {:?}", c.key);
        }
    }
    runs.retain(|r| {
        o.tags.iter().all(|t| r.tags.contains(t))
            && o.group.as_ref().is_none_or(|g| r.group == *g)
            && want_state.is_none_or(|s| r.state(now) == s)
            && conditions
                .iter()
                .all(|c| c.matches(summary_get(&r.summary, &c.key)))
    });
    if let Some(col) = &o.sort {
        sort_runs(&mut runs, col, now)?;
    }
    let metrics: Vec<String> = if o.metrics.is_empty() {
        let mut m: Vec<String> = known
            .iter()
            .filter(|k| {
                !k.starts_with('_')
                    && runs
                        .iter()
                        .any(|r| r.summary.get(k.as_str()).and_then(scalar_of).is_some())
            })
            .cloned()
            .collect();
        m.truncate(3);
        m
    } else {
        o.metrics.clone()
    };
    let mut out = std::io::stdout().lock();
    if o.json {
        let list: Vec<J> = runs
            .iter()
            .map(|r| {
                serde_json::json!({
                    "id": r.id, "name": r.name, "project": r.project, "state": r.state(now).to_string(),
                    "start": r.start_unix, "duration": r.duration, "steps": r.steps, "tags": r.tags,
                    "group": r.group, "synced": r.synced, "bytes": r.bytes, "dir": r.dir, "summary": r.summary,
                })
            })
            .collect();
        serde_json::to_writer_pretty(&mut out, &list)?;
        writeln!(out)?;
        return Ok(());
    }
    let mut header: Vec<String> = ["id", "name", "state", "start", "duration", "steps"]
        .map(String::from)
        .to_vec();
    header.extend(metrics.iter().cloned());
    header.extend(["tags", "group", "size", "synced"].map(String::from));
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            let mut row = vec![
                r.id.clone(),
                r.name.clone(),
                r.state(now).to_string(),
                fmt_time(r.start_unix),
                fmt_duration(r.duration),
                r.steps.to_string(),
            ];
            row.extend(metrics.iter().map(|m| {
                summary_get(&r.summary, m)
                    .map(fmt_value)
                    .unwrap_or_default()
            }));
            row.extend([
                r.tags.join(","),
                r.group.clone(),
                crate::disk::human_bytes(r.bytes),
                if r.synced { "yes".into() } else { "no".into() },
            ]);
            row
        })
        .collect();
    table::print(&mut out, &header, &rows)?;
    Ok(())
}

fn sort_runs(runs: &mut [RunInfo], col: &str, now: f64) -> Result<()> {
    let key = |r: &RunInfo| -> (Option<f64>, String) {
        match col {
            "id" => (None, r.id.clone()),
            "name" => (None, r.name.clone()),
            "state" => (None, r.state(now).to_string()),
            "start" => (Some(r.start_unix), String::new()),
            "duration" => (Some(r.duration), String::new()),
            "steps" => (Some(r.steps as f64), String::new()),
            metric => (
                summary_get(&r.summary, metric).and_then(scalar_of),
                String::new(),
            ),
        }
    };
    let builtin = ["id", "name", "state", "start", "duration", "steps"].contains(&col);
    if !builtin && !runs.iter().any(|r| summary_get(&r.summary, col).is_some()) && !runs.is_empty()
    {
        bail!(
            "--sort {col:?}: not a column (id, name, state, start, duration, steps) nor a summary metric of any run"
        );
    }
    runs.sort_by(|a, b| {
        let (ka, kb) = (key(a), key(b));
        match (ka.0, kb.0) {
            (Some(x), Some(y)) => x.total_cmp(&y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => ka.1.cmp(&kb.1),
        }
    });
    Ok(())
}

pub(crate) fn show(spec: &str, root: &Path, metrics: &[String]) -> Result<()> {
    let run = RunLog::load(&resolve(spec, root)?)?;
    let now = now_unix();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "run       {} ({})",
        run.id,
        if run.name.is_empty() {
            "no name"
        } else {
            &run.name
        }
    )?;
    writeln!(out, "project   {}", run.project)?;
    writeln!(
        out,
        "state     {}{}",
        run.state(now),
        run.exit_code
            .map(|c| format!(" (exit code {c})"))
            .unwrap_or_default()
    )?;
    writeln!(
        out,
        "started   {}   duration {}",
        fmt_time(run.start_unix),
        fmt_duration(run.duration())
    )?;
    writeln!(out, "steps     {}", run.rows.len())?;
    for (label, v) in [
        ("group", &run.group),
        ("job type", &run.job_type),
        ("notes", &run.notes),
    ] {
        if !v.is_empty() {
            writeln!(out, "{label:<9} {v}")?;
        }
    }
    if !run.tags.is_empty() {
        writeln!(out, "tags      {}", run.tags.join(", "))?;
    }
    writeln!(out, "dir       {}", run.dir.display())?;
    if let Some(end) = &run.end
        && *end != labbook_wire::LogEnd::Clean
    {
        writeln!(out, "log end   {end:?}")?;
    }
    writeln!(out, "\nconfig")?;
    for (k, v) in run.config.iter().filter(|(k, _)| !k.starts_with('_')) {
        writeln!(out, "  {k} = {}", v)?;
    }
    let labbook = run
        .config
        .get("_wandb")
        .map(|w| w.get("value").unwrap_or(w))
        .and_then(|w| w.get("labbook"));
    let listed = |key: &str| -> Vec<String> {
        labbook
            .and_then(|l| l.get(key))
            .and_then(J::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let sources = listed("config_sources");
    if !sources.is_empty() {
        writeln!(out, "  (from {})", sources.join(", "))?;
    }
    let unresolved = listed("config_unresolved");
    if !unresolved.is_empty() {
        writeln!(out, "  unresolved, kept as text: {}", unresolved.join(", "))?;
    }
    writeln!(out, "\nsummary")?;
    for (k, v) in run.summary.iter().filter(|(k, _)| !k.starts_with('_')) {
        writeln!(out, "  {k} = {}", fmt_value(v))?;
    }
    let chosen = run.numeric_keys(metrics, 4);
    if !chosen.is_empty() {
        writeln!(out, "\nhistory")?;
        for m in &chosen {
            let values: Vec<f64> = run
                .rows
                .iter()
                .filter_map(|r| r.get(m))
                .filter_map(scalar_of)
                .collect();
            if values.is_empty() {
                bail!(
                    "no history values for {m:?}; keys are: {}",
                    run.columns().join(", ")
                );
            }
            let last = values.last().copied().unwrap_or(f64::NAN);
            writeln!(
                out,
                "  {m:<20} {}  last {last:.4}",
                table::sparkline(&values, 40)
            )?;
        }
    }
    if !run.stats.is_empty() {
        writeln!(out, "\nsystem ({} samples)", run.stats.len())?;
        for key in [
            "system.cpu",
            "system.memory_percent",
            "system.proc.memory.rssMB",
            "system.gpu.0.gpu",
        ] {
            let values: Vec<f64> = run
                .stats
                .iter()
                .filter_map(|r| r.get(key))
                .filter_map(J::as_f64)
                .collect();
            if !values.is_empty() {
                writeln!(out, "  {key:<26} {}", table::sparkline(&values, 40))?;
            }
        }
    }
    if !run.files.is_empty() {
        writeln!(out, "\nfiles ({})", run.files.len())?;
        for f in run.files.iter().take(20) {
            writeln!(out, "  {f}")?;
        }
        if run.files.len() > 20 {
            writeln!(out, "  ... and {} more", run.files.len() - 20)?;
        }
    }
    if !run.alerts.is_empty() {
        writeln!(out, "\nalerts")?;
        for (level, title, text) in &run.alerts {
            writeln!(out, "  [{level}] {title}: {text}")?;
        }
    }
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

/// The directory a run is exported into, under `--out`: its id, or the run directory's
/// name. Both come from outside the program (the id from the log's bytes), so only one
/// plain path component is accepted: a crafted `../../x` or `/etc` writes nowhere.
fn export_dir_name(id: &str, run_dir: &Path) -> Result<String> {
    let dir_name = run_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = if id.is_empty() {
        dir_name
    } else {
        id.to_owned()
    };
    let plain = !name.is_empty()
        && name.len() <= 255
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '+' | '='));
    if !plain {
        bail!(
            "{}: the run id {name:?} is not a plain directory name; the run is not exported (the name could lead outside --out)",
            run_dir.display()
        );
    }
    Ok(name)
}

pub(crate) fn export(specs: &[String], root: &Path, format: Format, out: &Path) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    for spec in specs {
        // A spinner while a long log is read and written (shown only on a terminal).
        let progress =
            indicatif::ProgressBar::new_spinner().with_message(format!("reading {spec}"));
        progress.enable_steady_tick(std::time::Duration::from_millis(120));
        let ExportLog {
            run,
            history,
            stats,
        } = RunLog::load_for_export(&resolve(spec, root)?)?;
        progress.set_message(format!("writing {} rows of {spec}", history.len()));
        let run_dir = resolve(spec, root)?;
        let dir = out.join(export_dir_name(&run.id, &run_dir)?);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        match format {
            Format::Csv => {
                write_csv(&dir.join("history.csv"), &history)?;
                if !stats.is_empty() {
                    write_csv(&dir.join("system.csv"), &stats)?;
                }
            }
            Format::Json => {
                write_jsonl(&dir.join("history.jsonl"), &history)?;
                if !stats.is_empty() {
                    write_jsonl(&dir.join("system.jsonl"), &stats)?;
                }
            }
            Format::Parquet => {
                crate::parquet_export::write(&dir.join("history.parquet"), &history)?;
                if !stats.is_empty() {
                    crate::parquet_export::write(&dir.join("system.parquet"), &stats)?;
                }
            }
        }
        let meta = serde_json::json!({
            "id": run.id, "name": run.name, "project": run.project, "entity": run.entity, "group": run.group,
            "job_type": run.job_type, "notes": run.notes, "tags": run.tags, "start": run.start_unix,
            "exit_code": run.exit_code, "steps": history.len(),
        });
        for (name, value) in [
            ("summary.json", serde_json::to_value(&run.summary)?),
            ("config.json", serde_json::to_value(&run.config)?),
            ("run.json", meta),
        ] {
            let path = dir.join(name);
            std::fs::write(&path, serde_json::to_vec_pretty(&value)?)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        progress.finish_and_clear();
        eprintln!(
            "labbook: exported {} ({} rows) to {}",
            run.id,
            history.len(),
            dir.display()
        );
    }
    Ok(())
}

/// Flattens nested config maps into dotted keys, skipping `_wandb`.
fn flat_config(config: &BTreeMap<String, J>) -> BTreeMap<String, String> {
    fn walk(prefix: &str, v: &J, out: &mut BTreeMap<String, String>) {
        match v {
            J::Object(m) if !m.is_empty() => {
                for (k, v) in m {
                    walk(&format!("{prefix}.{k}"), v, out);
                }
            }
            other => {
                out.insert(prefix.to_owned(), other.to_string());
            }
        }
    }
    let mut out = BTreeMap::new();
    for (k, v) in config.iter().filter(|(k, _)| !k.starts_with('_')) {
        walk(k, v, &mut out);
    }
    out
}

pub(crate) fn compare(specs: &[String], root: &Path) -> Result<()> {
    let runs: Vec<RunLog> = specs
        .iter()
        .map(|s| resolve(s, root).and_then(|d| RunLog::load(&d)))
        .collect::<Result<_>>()?;
    let mut out = std::io::stdout().lock();
    let mut header = vec!["".to_owned()];
    header.extend(runs.iter().map(|r| {
        if r.name.is_empty() {
            r.id.clone()
        } else {
            format!("{} ({})", r.name, r.id)
        }
    }));

    let configs: Vec<BTreeMap<String, String>> =
        runs.iter().map(|r| flat_config(&r.config)).collect();
    let keys: BTreeSet<&String> = configs.iter().flat_map(|c| c.keys()).collect();
    let differing: Vec<Vec<String>> = keys
        .into_iter()
        .filter(|k| {
            configs
                .iter()
                .map(|c| c.get(*k))
                .collect::<BTreeSet<_>>()
                .len()
                > 1
        })
        .map(|k| {
            let mut row = vec![(*k).clone()];
            row.extend(
                configs
                    .iter()
                    .map(|c| c.get(k).cloned().unwrap_or_else(|| "-".into())),
            );
            row
        })
        .collect();
    writeln!(out, "config differences ({})", differing.len())?;
    if !differing.is_empty() {
        table::print(&mut out, &header, &differing)?;
    }

    let keys: BTreeSet<&String> = runs
        .iter()
        .flat_map(|r| r.summary.keys())
        .filter(|k| !k.starts_with('_'))
        .collect();
    let metrics: Vec<Vec<String>> = keys
        .into_iter()
        .map(|k| {
            let mut row = vec![k.clone()];
            row.extend(runs.iter().map(|r| {
                r.summary
                    .get(k)
                    .map(fmt_value)
                    .unwrap_or_else(|| "-".into())
            }));
            row
        })
        .collect();
    writeln!(out, "\nsummary")?;
    table::print(&mut out, &header, &metrics)?;
    Ok(())
}
