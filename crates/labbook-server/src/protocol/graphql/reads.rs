//! What `wandb.Api()` reads: `Runs` (a project's runs, filtered, ordered, by pages), `Run`
//! (one run's fields), `RunFullHistory` and
//! `RunSampledHistory` (`run.history()`), and `scan_history`'s `RunHistoryKeys`,
//! `RunParquetHistory`, `HistoryPage` and `SampledHistoryPage`. Every answer about one run
//! is `{"project": {"internalId": ..., "run": ...}}`, with a null run for one the server
//! does not have: [`about_run`] looks the run up once for all of them (and for `RunFiles`,
//! `RunOutputArtifacts` and `RunInputArtifacts`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use sha2::Digest as _;

use super::Vars;
use crate::error::ApiError;
use crate::service::{HistorySpec, RunFilter, RunOrder, allow, run_state};
use crate::state::AppState;
use crate::store::{Caller, RunRecord, Stream};

/// A project's number, as W&B's `projectId`/`internalId` (clients convert it to an int):
/// stable for the project's name.
pub(crate) fn project_number(entity: &str, project: &str) -> String {
    let hash = sha2::Sha256::digest(format!("{entity}/{project}").as_bytes());
    let n = u32::from_be_bytes([hash[0], hash[1], hash[2], hash[3]]) & 0x7fff_ffff;
    n.to_string()
}

/// A time (ms since the epoch) as W&B writes one: `2026-12-03T18:07:11Z`.
pub(super) fn iso(ms: Option<i64>) -> Value {
    ms.and_then(chrono::DateTime::from_timestamp_millis)
        .map_or(Value::Null, |t| {
            Value::from(t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        })
}

/// The run the variables name (`entity`, `project` and `name`, or `runName`/`run` as the
/// history queries call it), if the caller may read its entity.
pub(super) async fn named_run(
    state: &AppState,
    caller: &Caller,
    vars: &Vars,
) -> Result<Option<RunRecord>, ApiError> {
    let name = vars
        .str("name")
        .or_else(|| vars.str("runName"))
        .or_else(|| vars.str("run"))
        .ok_or_else(|| ApiError::bad("the query names no run (`name`)"))?;
    let key = state.service.run_key(
        Some(vars.str("entity").unwrap_or_else(|| caller.user.clone())),
        vars.str("project"),
        name,
    );
    allow(caller, &key.entity)?;
    Ok(state.service.run(&key).await?)
}

/// Answers an operation about the run the variables name: `{"project": {"run": null}}`
/// when there is no such run, else the run's part of `op`'s answer.
pub(crate) async fn about_run(
    state: &AppState,
    caller: &Caller,
    vars: &Vars,
    op: &str,
) -> Result<Value, ApiError> {
    let Some(run) = named_run(state, caller, vars).await? else {
        return Ok(json!({"project": {"run": null}}));
    };
    let value = match op {
        "Run" => fragment(state, &run).await?,
        "RunFullHistory" => full_history(state, &run, vars).await?,
        "RunSampledHistory" => {
            let Some(Value::Array(specs)) = vars.get("specs") else {
                return Err(ApiError::bad("RunSampledHistory needs a list `specs`"));
            };
            json!({"sampledHistory": sampled(state, &run, specs).await?})
        }
        "SampledHistoryPage" => {
            let spec = vars
                .get("spec")
                .cloned()
                .ok_or_else(|| ApiError::bad("SampledHistoryPage needs `spec`"))?;
            json!({"sampledHistory": sampled(state, &run, &[spec]).await?})
        }
        "RunHistoryKeys" => {
            let last = state.service.last_step(&run).await?;
            json!({"historyKeys": {"lastStep": last.unwrap_or(-1), "keys": {}}})
        }
        // No parquet exports here, so every page is read live.
        "RunParquetHistory" => json!({"parquetHistory": {"parquetUrls": [], "liveData": []}}),
        "HistoryPage" => history_page(state, &run, vars).await?,
        "RunFiles" => super::run_files::run_files(state, &run, vars).await?,
        "RunOutputArtifacts" => {
            super::artifact_queries::run_artifacts(state, &run, vars, true).await?
        }
        "RunInputArtifacts" => {
            super::artifact_queries::run_artifacts(state, &run, vars, false).await?
        }
        other => {
            return Err(ApiError::bad(format!(
                "{other} is not a question about one run"
            )));
        }
    };
    let key = &run.key;
    Ok(json!({"project": {"internalId": project_number(&key.entity, &key.project), "run": value}}))
}

/// A run as W&B's `RunFragment` has it (with `projectId`).
async fn fragment(state: &AppState, run: &RunRecord) -> Result<Value, ApiError> {
    let key = &run.key;
    let system = state.service.tail(run, Stream::Events, 1).await?;
    let last_step = state.service.last_step(run).await?;
    Ok(json!({
        "id": run.storage_id,
        "projectId": project_number(&key.entity, &key.project),
        "name": key.run,
        "displayName": run.display_name,
        "tags": run.tags,
        "sweepName": run.sweep,
        "state": run_state(run),
        "config": run.config.as_ref().map_or_else(|| "{}".to_owned(), Value::to_string),
        "group": run.group,
        "jobType": run.job_type,
        "commit": run.commit,
        "readOnly": false,
        "createdAt": iso(run.created_ms),
        "heartbeatAt": iso(run.heartbeat_ms.or(run.created_ms)),
        "description": run.notes.clone().unwrap_or_default(),
        "notes": run.notes,
        "systemMetrics": system.first().cloned().unwrap_or_else(|| "{}".to_owned()),
        "summaryMetrics": run.summary.as_ref().map_or("{}", |s| s.raw.as_str()),
        "historyLineCount": run.history_lines,
        "user": {"name": key.entity, "username": key.entity},
        "historyKeys": {"lastStep": last_step.unwrap_or(-1), "keys": {}},
    }))
}

/// A file's id (W&B's global id form).
pub(super) fn file_id(run_storage_id: &str, name: &str) -> String {
    STANDARD.encode(format!("File:{run_storage_id}/{name}"))
}

/// A page's cursor: how many `what`s come before the next one, opaque to the client.
pub(super) fn cursor(what: &str, after: usize) -> String {
    STANDARD.encode(format!("{what}:{after}"))
}

/// Where the page after `cursor` starts (0 without one).
pub(super) fn offset_of(what: &str, cursor: Option<String>) -> Result<usize, ApiError> {
    let Some(cursor) = cursor else {
        return Ok(0);
    };
    STANDARD
        .decode(&cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|t| t.strip_prefix(what)?.strip_prefix(':')?.parse().ok())
        .ok_or_else(|| ApiError::bad(format!("cursor {cursor:?} is not one this server gave")))
}

/// A page size variable, `default` when absent, within 1..=1000.
pub(super) fn page_size(vars: &Vars, name: &str, default: usize) -> usize {
    vars.get(name)
        .and_then(Value::as_u64)
        .map_or(default, |n| usize::try_from(n).unwrap_or(usize::MAX))
        .clamp(1, 1000)
}

/// `Runs`: a page of a project's runs (`perPage`, after `cursor`) that pass `filters`, in
/// `order`, and how many pass.
pub(crate) async fn runs(
    state: &AppState,
    caller: &Caller,
    vars: &Vars,
) -> Result<Value, ApiError> {
    let entity = vars.entity("entity", caller)?;
    let project = vars.require("project")?;
    let filter = RunFilter::parse(&vars.str("filters").unwrap_or_else(|| "{}".to_owned()))
        .map_err(ApiError::bad)?;
    let order = RunOrder::parse(&vars.str("order").unwrap_or_default());
    let per_page = page_size(vars, "perPage", 50);
    let from = offset_of("runs", vars.str("cursor"))?;
    let page = state
        .service
        .runs_page(&entity, &project, &filter, &order, (from, per_page))
        .await?;
    let mut edges = Vec::new();
    for (i, run) in page.runs.iter().enumerate() {
        edges.push(
            json!({"node": fragment(state, run).await?, "cursor": cursor("runs", from + i + 1)}),
        );
    }
    let end = from + edges.len();
    let number = project_number(&entity, &project);
    Ok(json!({"project": {
        "id": STANDARD.encode(format!("Project:{entity}/{project}")),
        "internalId": number,
        "name": project,
        "runCount": page.total,
        "readOnly": false,
        "runs": {
            "edges": edges,
            "pageInfo": {"endCursor": cursor("runs", end), "hasNextPage": end < page.total},
        },
    }}))
}

/// `GetProjects` (`api.projects()`): an entity's projects, by pages (Relay: the next page
/// starts at `pageInfo.endCursor`).
pub(crate) async fn projects(
    state: &AppState,
    caller: &Caller,
    vars: &Vars,
) -> Result<Value, ApiError> {
    let entity = vars.entity("entity", caller)?;
    let projects = state.service.projects(&entity).await?;
    let per_page = page_size(vars, "perPage", 50);
    let from = offset_of("projects", vars.str("cursor"))?;
    let edges: Vec<Value> = projects
        .iter()
        .skip(from)
        .take(per_page)
        .map(|(name, created)| {
            json!({"node": {
                "__typename": "Project",
                "id": STANDARD.encode(format!("Project:{entity}/{name}")),
                "name": name,
                "entityName": entity,
                "createdAt": iso(created.or(Some(0))),
                "isBenchmark": false,
                "user": null,
            }})
        })
        .collect();
    let end = from + edges.len();
    Ok(json!({"models": {
        "pageInfo": {
            "__typename": "PageInfo",
            "endCursor": cursor("projects", end),
            "hasNextPage": end < projects.len(),
        },
        "edges": edges,
    }}))
}

/// The `samples` variable (W&B's default 500).
fn samples(vars: &Vars, name: &str) -> usize {
    vars.get(name)
        .and_then(Value::as_u64)
        .map_or(500, |n| usize::try_from(n).unwrap_or(usize::MAX))
}

/// `RunFullHistory`: `history(samples)` and `events(samples)`, rows as JSON strings.
async fn full_history(state: &AppState, run: &RunRecord, vars: &Vars) -> Result<Value, ApiError> {
    let n = samples(vars, "samples");
    let history = state
        .service
        .sampled_lines(run, &Stream::History, n)
        .await?;
    let events = state.service.sampled_lines(run, &Stream::Events, n).await?;
    Ok(json!({"history": history, "events": events}))
}

/// The specs of `sampledHistory` (JSON strings), each answered as a list of row objects.
async fn sampled(state: &AppState, run: &RunRecord, specs: &[Value]) -> Result<Value, ApiError> {
    let mut out = Vec::with_capacity(specs.len());
    for spec in specs {
        let text = spec
            .as_str()
            .ok_or_else(|| ApiError::bad("a history spec must be a JSON string"))?;
        let spec = HistorySpec::parse(text).map_err(ApiError::bad)?;
        out.push(Value::from(
            state.service.sampled_history(run, &spec).await?,
        ));
    }
    Ok(Value::from(out))
}

/// `HistoryPage`: rows with `minStep <= _step < maxStep`, at most `pageSize`, as JSON
/// strings.
async fn history_page(state: &AppState, run: &RunRecord, vars: &Vars) -> Result<Value, ApiError> {
    let step = |name: &str| {
        vars.get(name)
            .and_then(Value::as_i64)
            .ok_or_else(|| ApiError::bad(format!("HistoryPage needs a whole number `{name}`")))
    };
    let (min, max) = (step("minStep")?, step("maxStep")?);
    let limit = vars
        .get("pageSize")
        .and_then(Value::as_u64)
        .map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX));
    let rows = state.service.history_page(run, min, max, limit).await?;
    Ok(json!({"history": rows}))
}
