//! The subcommands: ls, show, compare (each on a directory or, with `--server`, a server).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::Value as J;

use labbook_core::api::{Condition, Field, Query};

use crate::index::{RunInfo, discover, resolve};
use crate::run_log::{RunLog, State, scalar_of, summary_get};
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
    /// A server to list from (`root` is then `entity/project`).
    pub server: Option<String>,
    pub tags: Vec<String>,
    pub group: Option<String>,
    pub state: Option<String>,
    pub conditions: Vec<String>,
    pub sort: Option<String>,
    pub metrics: Vec<String>,
    pub json: bool,
}

/// The runs `ls` lists: a server's that pass the query (filtered there), or those under
/// `root` that pass it.
fn listed(root: &Path, o: &LsOptions, query: Query, now: f64) -> Result<Vec<RunInfo>> {
    if let Some(url) = &o.server {
        let project = crate::remote::project(root.to_str().unwrap_or_default())?;
        let api = crate::remote::open(url)?;
        let runs = api.runs(&query.project(project))?;
        return Ok(runs.into_iter().map(RunInfo::from_api).collect());
    }
    let mut runs = Vec::new();
    for dir in discover(root)? {
        match RunInfo::load(&dir) {
            Ok(info) => runs.push(info),
            Err(e) => eprintln!("labbook: skipping {}: {e:#}", dir.display()),
        }
    }
    let (summary, config): (BTreeSet<&String>, BTreeSet<&String>) = (
        runs.iter().flat_map(|r| r.summary.keys()).collect(),
        runs.iter().flat_map(|r| r.config.keys()).collect(),
    );
    for c in query.conditions() {
        let (known, key, what) = match &c.field {
            Field::Summary(k) => (&summary, k, "summary metric"),
            Field::Config(k) => (&config, k, "config key"),
        };
        let top = key.split('.').next().unwrap_or_default();
        if !known.iter().any(|k| *k == key || *k == top) && !runs.is_empty() {
            bail!("--where: no run has a {what} {key:?}");
        }
    }
    let value = |r: &RunInfo, c: &Condition| -> bool {
        c.test(match &c.field {
            Field::Summary(k) => summary_get(&r.summary, k),
            Field::Config(k) => summary_get(&r.config, k),
        })
    };
    runs.retain(|r| {
        o.tags.iter().all(|t| r.tags.contains(t))
            && o.group.as_ref().is_none_or(|g| r.group == *g)
            && o.state
                .as_deref()
                .is_none_or(|s| r.state(now).as_str() == s)
            && query.conditions().iter().all(|c| value(r, c))
    });
    Ok(runs)
}

pub(crate) fn ls(root: &Path, o: &LsOptions) -> Result<()> {
    let mut query = Query::new();
    for c in &o.conditions {
        query = query.filter(c).with_context(|| format!("--where {c:?}"))?;
    }
    if let Some(g) = &o.group {
        query = query.group(g.clone());
    }
    for t in &o.tags {
        query = query.tag(t.clone());
    }
    if let Some(s) = &o.state {
        query = query.state(State::parse(s).context("--state")?);
    }
    let now = now_unix();
    let mut runs = listed(root, o, query, now)?;
    let known: BTreeSet<String> = runs
        .iter()
        .flat_map(|r| r.summary.keys().cloned())
        .collect();
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
            let (size, synced) = match (r.server_state, r.synced) {
                (Some(_), _) => ("-".into(), "-".into()),
                (None, synced) => (
                    crate::disk::human_bytes(r.bytes),
                    if synced { "yes".into() } else { "no".into() },
                ),
            };
            row.extend([r.tags.join(","), r.group.clone(), size, synced]);
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

/// A run as `show` and `compare` read it: from its directory, or (`server`) from a server
/// by `entity/project/id`, with the rows of `metrics` (none given: of the first four
/// numeric summary keys that have rows; `None`: no rows).
fn load(
    spec: &str,
    root: &Path,
    server: Option<&labbook_core::api::Api>,
    metrics: Option<&[String]>,
) -> Result<RunLog> {
    let Some(api) = server else {
        return RunLog::load(&resolve(spec, root)?);
    };
    let info = crate::remote::run(api, spec)?;
    let Some(metrics) = metrics else {
        return crate::remote::run_log(api, &info, crate::remote::Rows::None);
    };
    // As a log's `show` draws the first four numeric columns: the summary's numbers in
    // key order, skipping those never logged as rows.
    let (keys, most): (Vec<String>, usize) = if metrics.is_empty() {
        let numeric = info
            .summary
            .iter()
            .filter(|(k, v)| !k.starts_with('_') && scalar_of(v).is_some())
            .map(|(k, _)| k.clone());
        (numeric.collect(), 4)
    } else {
        (metrics.to_vec(), metrics.len())
    };
    crate::remote::run_log(api, &info, crate::remote::Rows::Keys(&keys, most))
}

pub(crate) fn show(
    spec: &str,
    root: &Path,
    server: Option<&str>,
    metrics: &[String],
) -> Result<()> {
    let api = server.map(crate::remote::open).transpose()?;
    let run = load(spec, root, api.as_ref(), Some(metrics))?;
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
    writeln!(out, "steps     {}", run.replay.rows)?;
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
    if let Some(url) = server {
        writeln!(out, "server    {url}")?;
    } else {
        writeln!(out, "dir       {}", run.dir.display())?;
    }
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

pub(crate) fn compare(specs: &[String], root: &Path, server: Option<&str>) -> Result<()> {
    let api = server.map(crate::remote::open).transpose()?;
    let runs: Vec<RunLog> = specs
        .iter()
        .map(|s| load(s, root, api.as_ref(), None))
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
