//! `--server URL`: `ls`, `show`, `export`, `compare` and `watch` on the runs of a
//! W&B-protocol server (labbook serve, or any server speaking W&B's read API), read through
//! `labbook::api`, with the key `init` would use (`WANDB_API_KEY`, `.env`, netrc).

use anyhow::{Context, Result, bail};
use labbook_core::api::{self, Api, RunInfo, RunState};
use serde_json::Value as J;

use crate::history::Table;
use crate::run_log::{RunLog, flatten_into};

/// The server's read API, with the key `init` would use for it.
pub(crate) fn open(url: &str) -> Result<Api> {
    Api::from_settings(&crate::account::settings().base_url(url))
        .with_context(|| format!("cannot read runs from {url}"))
}

/// `entity/project`, as `ls` and `export` take a server's project.
pub(crate) fn project(spec: &str) -> Result<&str> {
    match spec.split('/').collect::<Vec<_>>().as_slice() {
        [e, p] if !e.is_empty() && !p.is_empty() => Ok(spec),
        _ => bail!("{spec:?}: with --server, give the project as entity/project"),
    }
}

/// `entity/project/run-id`, as `show`, `compare`, `watch` and `export` take a server's run.
pub(crate) fn run(api: &Api, spec: &str) -> Result<RunInfo> {
    if spec.split('/').count() != 3 {
        bail!("{spec:?}: with --server, give the run as entity/project/run-id");
    }
    Ok(api.run(spec)?)
}

/// A history or system row as `RunLog` keeps one: nested maps flattened with `.`.
pub(crate) fn flat(row: api::Row) -> std::collections::BTreeMap<String, J> {
    let mut out = std::collections::BTreeMap::new();
    for (k, v) in row.into_values() {
        flatten_into(k, v, &mut out);
    }
    out
}

/// A server's system row as a local log's: `system.*` and `_timestamp` (the server adds
/// `_runtime` and `_wandb`, which a log's samples do not hold).
pub(crate) fn flat_system(row: api::Row) -> std::collections::BTreeMap<String, J> {
    let mut m = flat(row);
    m.remove("_wandb");
    m.remove("_runtime");
    m
}

/// Which history rows a run is read with.
pub(crate) enum Rows<'a> {
    /// None (`compare`, and `watch`, which follows them).
    None,
    /// Those holding each of these keys, each row with `_step` and the key (`show`'s
    /// sparklines): a long run is not read whole for four lines. Keys are read in order
    /// until this many had rows: a summary key may have none (`run.set_summary`).
    Keys(&'a [String], usize),
}

/// `info` read from the server as `show`, `compare` and `watch` read a log: the rows asked
/// for, system metrics and files.
pub(crate) fn run_log(api: &Api, info: &RunInfo, rows: Rows<'_>) -> Result<RunLog> {
    let mut run = RunLog {
        id: info.id.clone(),
        name: info.name.clone(),
        project: info.project.clone(),
        entity: info.entity.clone(),
        group: info.group.clone(),
        job_type: info.job_type.clone(),
        notes: info.notes.clone(),
        tags: info.tags.clone(),
        start_unix: info.created_at.unwrap_or(0.0),
        exit_code: match info.state {
            RunState::Finished => Some(0),
            RunState::Failed => Some(1),
            RunState::Running | RunState::Crashed => None,
        },
        summary: info.summary.clone(),
        config: info.config.clone(),
        modified_unix: info.heartbeat_at.unwrap_or(0.0),
        state: Some(info.state),
        ..RunLog::default()
    };
    // `show` counts the run's rows as a log's replay does; a server tells its last step.
    run.replay.rows = info
        .last_step
        .map_or(0, |s| s.saturating_add(1).max(0) as u64);
    if let Rows::Keys(keys, most) = rows {
        let mut drawn = 0;
        for key in keys {
            if drawn == most {
                break;
            }
            let before = run.rows.len();
            for row in api.history(info, &[key.as_str()])? {
                run.rows.push(flat(row?));
            }
            drawn += usize::from(run.rows.len() > before);
        }
    }
    for row in api.system_metrics(info)? {
        run.stats.push(flat_system(row?));
    }
    run.files = api.files(info)?.into_iter().map(|f| f.name).collect();
    Ok(run)
}

/// A server run's history and system metrics as export tables.
pub(crate) fn tables(api: &Api, info: &RunInfo) -> Result<(Table, Table)> {
    let (mut history, mut stats) = (Table::default(), Table::default());
    for row in api.history(info, &[])? {
        history.push_map(&flat(row?));
    }
    for row in api.system_metrics(info)? {
        stats.push_map(&flat_system(row?));
    }
    Ok((history, stats))
}
