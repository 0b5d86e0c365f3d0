//! Run operations: Viewer, ServerFeaturesQuery, UpsertBucket, CreateRunFiles,
//! NotifyScriptableRunAlert, RunResumeStatus, OrganizationCoreWeaveOrganizationID.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::{Vars, encode_path};
use crate::error::ApiError;
use crate::server::AppState;
use crate::storage::{Alert, RunKey, RunState, parse_lenient};

const ADJECTIVES: [&str; 8] = [
    "quiet", "brisk", "amber", "lucid", "steady", "bold", "gentle", "vivid",
];
const NOUNS: [&str; 8] = [
    "river", "forest", "comet", "harbor", "meadow", "summit", "canyon", "lantern",
];

pub(crate) fn viewer(state: &AppState) -> Value {
    json!({"viewer": {
        "id": STANDARD.encode("User:1"),
        "entity": state.entity,
        "username": state.entity,
        "email": format!("{}@localhost", state.entity),
        "flags": "{}",
        "teams": {"edges": []},
    }})
}

pub(crate) fn server_features(state: &AppState) -> Value {
    let features: Vec<Value> = state
        .features
        .iter()
        .map(|name| json!({"name": name, "isEnabled": true}))
        .collect();
    json!({"serverInfo": {"features": features}})
}

pub(crate) fn organization(vars: &Vars) -> Value {
    json!({"entity": {"id": STANDARD.encode("Entity:1"), "name": vars.str("entityName"),
        "organization": null}})
}

/// Creates or updates the run: only the variables that are set change what is stored.
pub(crate) fn upsert_bucket(state: &AppState, vars: &Vars) -> Result<Value, ApiError> {
    let key = RunKey::new(
        vars.str("entity").unwrap_or_else(|| state.entity.clone()),
        vars.str("project")
            .unwrap_or_else(|| "uncategorized".to_owned()),
        vars.str("name")
            .unwrap_or_else(|| format!("run{:06}", state.storage.next_id())),
    );
    let config = match vars.str("config") {
        Some(text) => Some(
            parse_lenient(&text)
                .map_err(|e| ApiError::bad(format!("UpsertBucket `config` is not JSON: {e}")))?,
        ),
        None => None,
    };
    let tags = match vars.get("tags") {
        Some(Value::Array(tags)) => Some(
            tags.iter()
                .map(|t| t.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| ApiError::bad("UpsertBucket `tags` must be strings"))?,
        ),
        Some(_) => return Err(ApiError::bad("UpsertBucket `tags` must be a list")),
        None => None,
    };
    let generated_name = {
        let n = state.storage.next_id() as usize;
        format!("{}-{}-{n}", ADJECTIVES[n % 8], NOUNS[(n / 8) % 8])
    };
    let mut answer = RunState::default();
    let inserted = state.storage.update_run(&key, &mut |run| {
        run.upserts += 1;
        if run.storage_id.is_empty() {
            run.storage_id =
                STANDARD.encode(format!("Run:{}/{}/{}", key.entity, key.project, key.run));
        }
        let set = |field: &mut Option<String>, name: &str| {
            if let Some(value) = vars.str(name) {
                *field = Some(value);
            }
        };
        set(&mut run.display_name, "displayName");
        set(&mut run.group, "groupName");
        set(&mut run.job_type, "jobType");
        set(&mut run.notes, "notes");
        set(&mut run.host, "host");
        set(&mut run.program, "program");
        set(&mut run.sweep, "sweep");
        set(&mut run.commit, "commit");
        set(&mut run.repo, "repo");
        if run.display_name.is_none() {
            run.display_name = Some(generated_name.clone());
        }
        if let Some(config) = &config {
            run.config = Some(config.clone());
        }
        if let Some(tags) = &tags {
            run.tags = tags.clone();
        }
        answer = run.clone();
    });
    Ok(json!({"upsertBucket": {"bucket": bucket(&answer), "inserted": inserted}}))
}

/// The `bucket` object W&B answers for a run.
fn bucket(run: &RunState) -> Value {
    let config = run
        .config
        .as_ref()
        .map_or_else(|| "{}".to_owned(), Value::to_string);
    json!({
        "id": run.storage_id,
        "name": run.name,
        "displayName": run.display_name,
        "description": run.notes.clone().unwrap_or_default(),
        "config": config,
        "sweepName": run.sweep,
        "project": {
            "id": STANDARD.encode(format!("Project:{}/{}", run.entity, run.project)),
            "name": run.project,
            "entity": {"id": STANDARD.encode(format!("Entity:{}", run.entity)), "name": run.entity},
        },
        "historyLineCount": run.history.len(),
    })
}

/// Upload URLs pointing back at this server, one per requested file.
pub(crate) fn create_run_files(state: &AppState, vars: &Vars) -> Result<Value, ApiError> {
    let key = RunKey::new(
        vars.require("entity")?,
        vars.require("project")?,
        vars.require("run")?,
    );
    let files = match vars.get("files") {
        Some(Value::Array(files)) => files
            .iter()
            .map(|f| f.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| ApiError::bad("CreateRunFiles `files` must be strings"))?,
        _ => return Err(ApiError::bad("CreateRunFiles `files` must be a list")),
    };
    let mut run_id = String::new();
    state.storage.update_run(&key, &mut |run| {
        if run.storage_id.is_empty() {
            run.storage_id =
                STANDARD.encode(format!("Run:{}/{}/{}", key.entity, key.project, key.run));
        }
        run_id = run.storage_id.clone();
    });
    let prefix = format!(
        "{}/upload/{}/{}/{}",
        state.base_url,
        encode_path(&key.entity),
        encode_path(&key.project),
        encode_path(&key.run)
    );
    // Shaped like a presigned URL: a signature in the query, which a client must never
    // show in its errors or logs (the routes do not check it yet).
    let files: Vec<Value> = files
        .iter()
        .map(|name| {
            let url = format!(
                "{prefix}/{}?X-Amz-Signature={}",
                encode_path(name),
                signature(&state.api_key, name)
            );
            json!({"name": name, "uploadUrl": url})
        })
        .collect();
    Ok(json!({"createRunFiles": {"runID": run_id, "uploadHeaders": [], "files": files}}))
}

/// A stand-in for a presigned URL's signature: hex of a hash of the key and the file.
fn signature(key: &str, name: &str) -> String {
    use std::hash::{Hash as _, Hasher as _};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (key, name).hash(&mut h);
    format!("{:016x}{:016x}", h.finish(), h.finish().rotate_left(17))
}

pub(crate) fn alert(state: &AppState, vars: &Vars) -> Result<Value, ApiError> {
    let key = RunKey::new(
        vars.require("entityName")?,
        vars.require("projectName")?,
        vars.require("runName")?,
    );
    let alert = Alert {
        title: vars.require("title")?,
        text: vars.require("text")?,
        severity: vars.str("severity"),
        wait_duration: vars.get("waitDuration").cloned(),
    };
    state
        .storage
        .update_run(&key, &mut |run| run.alerts.push(alert.clone()));
    Ok(json!({"notifyScriptableRunAlert": {"success": true}}))
}

/// The stored run for resuming, or a null bucket when there is none.
/// `RunStoppedStatus`: whether the UI's Stop was pressed for a run (`project.run.stopped`);
/// a run the server does not have is `run: null`.
pub(crate) fn stopped_status(state: &AppState, vars: &Vars) -> Result<Value, ApiError> {
    let entity = vars
        .str("entityName")
        .unwrap_or_else(|| state.entity.clone());
    let project = vars
        .str("projectName")
        .unwrap_or_else(|| "uncategorized".to_owned());
    let name = vars.require("runId")?;
    let run = state
        .storage
        .run(&entity, &project, &name)
        .map(|run| json!({"id": run.storage_id, "stopped": run.stop_requested}));
    Ok(json!({"project": {
        "id": STANDARD.encode(format!("Project:{entity}/{project}")),
        "run": run,
    }}))
}

pub(crate) fn resume_status(state: &AppState, vars: &Vars) -> Result<Value, ApiError> {
    let entity = vars.str("entity").unwrap_or_else(|| state.entity.clone());
    let project = vars
        .str("project")
        .unwrap_or_else(|| "uncategorized".to_owned());
    let name = vars.require("name")?;
    let bucket = state.storage.run(&entity, &project, &name).map(|run| {
        let tail = |lines: &[crate::JsonLine]| {
            let start = lines.len().saturating_sub(10);
            let raw: Vec<&str> = lines[start..].iter().map(|l| l.raw.as_str()).collect();
            Value::from(raw).to_string()
        };
        json!({
            "id": run.storage_id,
            "name": run.name,
            "displayName": run.display_name,
            "summaryMetrics": run.summary.as_ref().map_or("{}", |s| s.raw.as_str()),
            "logLineCount": run.output.len(),
            "historyLineCount": run.history.len(),
            "eventsLineCount": run.events.len(),
            "historyTail": tail(&run.history),
            "eventsTail": tail(&run.events),
            "config": run.config.as_ref().map_or_else(|| "{}".to_owned(), Value::to_string),
            "tags": run.tags,
            "notes": run.notes,
            "wandbConfig": run.config.as_ref()
                .and_then(|c| c.get("_wandb"))
                .map_or_else(|| "{}".to_owned(), |w| json!({"t": w.get("value").and_then(|v| v.get("t"))}).to_string()),
        })
    });
    Ok(json!({"model": {
        "id": STANDARD.encode(format!("Project:{entity}/{project}")),
        "name": project,
        "entity": {"id": STANDARD.encode(format!("Entity:{entity}")), "name": entity},
        "bucket": bucket,
    }}))
}
