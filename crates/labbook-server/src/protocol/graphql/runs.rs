//! Run operations: Viewer, ServerFeaturesQuery, UpsertBucket, CreateRunFiles,
//! NotifyScriptableRunAlert, RunResumeStatus, RunStoppedStatus,
//! OrganizationCoreWeaveOrganizationID.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::Vars;
use crate::access::urls::signed_url;
use crate::error::ApiError;
use crate::protocol::encode_path;
use crate::service::UpsertInput;
use crate::service::allow;
use crate::state::AppState;
use crate::store::{Alert, Caller, RunKey, RunPatch, RunRecord, Stream, parse_lenient};

/// The user a key belongs to, who is also the entity of their runs, and their teams.
pub(crate) fn viewer(caller: &Caller) -> Value {
    let user = &caller.user;
    let teams: Vec<Value> = caller
        .teams
        .iter()
        .map(|t| json!({"node": {"name": t}}))
        .collect();
    json!({"viewer": {
        "id": STANDARD.encode(format!("User:{user}")),
        "entity": user,
        "username": user,
        "email": format!("{user}@localhost"),
        "flags": "{}",
        "teams": {"edges": teams},
    }})
}

/// `GetViewer`: the caller as W&B's `UserFragment` has a user: their teams (their own
/// entity first, as W&B counts it) and the labels of their API keys (never the keys).
pub(crate) async fn viewer_full(state: &AppState, caller: &Caller) -> Result<Value, ApiError> {
    let user = &caller.user;
    let teams: Vec<Value> = std::iter::once(user)
        .chain(caller.teams.iter())
        .map(|t| json!({"node": {"name": t}}))
        .collect();
    let keys: Vec<Value> = state
        .service
        .key_labels(user)
        .await?
        .into_iter()
        .map(|label| json!({"node": {"id": label, "name": label, "description": null}}))
        .collect();
    Ok(json!({"viewer": {
        "id": STANDARD.encode(format!("User:{user}")),
        "name": user,
        "username": user,
        "email": format!("{user}@localhost"),
        "admin": caller.admin,
        "flags": "{}",
        "entity": user,
        "deletedAt": null,
        "apiKeys": {"edges": keys},
        "teams": {"edges": teams},
    }}))
}

/// `GetTeamEntity` (`api.team(name)`): a team and its members, or a user as a team of one;
/// `null` for an entity the caller may not use (or that does not exist).
pub(crate) async fn team_entity(
    state: &AppState,
    caller: &Caller,
    vars: &Vars,
) -> Result<Value, ApiError> {
    let name: String = vars.require("name")?;
    if !caller.may_use(&name) {
        return Ok(json!({"entity": null}));
    }
    let (is_team, members) = match state.service.team_members(&name).await? {
        Some(members) => (true, members),
        None if state.service.users().await?.contains(&name) => (false, vec![name.clone()]),
        None => return Ok(json!({"entity": null})),
    };
    let members: Vec<Value> = members
        .iter()
        .map(|m| {
            json!({"id": STANDARD.encode(format!("User:{m}")), "admin": false, "pending": false,
                "email": format!("{m}@localhost"), "username": m, "name": m, "photoUrl": null,
                "accountType": "USER", "apiKey": null})
        })
        .collect();
    Ok(json!({"entity": {
        "id": STANDARD.encode(format!("Entity:{name}")),
        "name": name,
        "available": false,
        "photoUrl": null,
        "readOnly": false,
        "readOnlyAdmin": false,
        "isTeam": is_team,
        "entityType": if is_team { "team" } else { "user" },
        "privateOnly": false,
        "storageBytes": 0,
        "codeSavingEnabled": true,
        "defaultAccess": "MEMBERS",
        "isPaid": false,
        "members": members,
    }}))
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
pub(crate) async fn upsert_bucket(
    state: &AppState,
    caller: &Caller,
    vars: &Vars,
) -> Result<Value, ApiError> {
    let config = match vars.str("config") {
        Some(text) => Some(
            parse_lenient(&text)
                .map_err(|e| ApiError::bad(format!("UpsertBucket `config` is not JSON: {e}")))?,
        ),
        None => None,
    };
    let patch = RunPatch {
        // The public API's `run.update()` names its variables `display_name` and
        // `description`.
        display_name: vars.str("displayName").or_else(|| vars.str("display_name")),
        config,
        tags: vars.strings("tags", "UpsertBucket")?,
        group: vars.str("groupName"),
        job_type: vars.str("jobType"),
        notes: vars.str("notes").or_else(|| vars.str("description")),
        host: vars.str("host"),
        program: vars.str("program"),
        sweep: vars.str("sweep"),
        commit: vars.str("commit"),
        repo: vars.str("repo"),
        ..RunPatch::default()
    };
    // The public API's updates name the run by its server id alone (`run.update()`).
    let by_id = vars
        .str("id")
        .map(|id| {
            crate::service::Service::key_of_storage_id(&id)
                .ok_or_else(|| ApiError::bad(format!("UpsertBucket `id` {id:?} names no run")))
        })
        .transpose()?;
    let input = match by_id {
        Some(key) => {
            allow(caller, &key.entity)?;
            UpsertInput {
                entity: Some(key.entity),
                project: Some(key.project),
                name: Some(key.run),
                patch,
            }
        }
        None => UpsertInput {
            entity: Some(vars.entity("entity", caller)?),
            project: vars.str("project"),
            name: vars.str("name"),
            patch,
        },
    };
    let (mut run, inserted) = state.service.upsert_run(input).await?;
    // `summaryMetrics` is the whole summary (a key left out is gone), as a file_stream
    // summary is.
    if let Some(summary) = vars.str("summaryMetrics") {
        parse_lenient(&summary).map_err(|e| {
            ApiError::bad(format!("UpsertBucket `summaryMetrics` is not JSON: {e}"))
        })?;
        let files = vec![("wandb-summary.json".to_owned(), 0, vec![summary])];
        let flags = crate::service::StreamFlags::default();
        state
            .service
            .stream(&run.key, files, Vec::new(), flags)
            .await?;
        run = state.service.run(&run.key).await?.unwrap_or(run);
    }
    Ok(json!({"upsertBucket": {"bucket": bucket(&run), "inserted": inserted}}))
}

/// The `bucket` object W&B answers for a run.
fn bucket(run: &RunRecord) -> Value {
    let key = &run.key;
    json!({
        "id": run.storage_id,
        "name": key.run,
        "displayName": run.display_name,
        "description": run.notes.clone().unwrap_or_default(),
        "config": config_text(run),
        "sweepName": run.sweep,
        "project": {
            "id": STANDARD.encode(format!("Project:{}/{}", key.entity, key.project)),
            "name": key.project,
            "entity": {"id": STANDARD.encode(format!("Entity:{}", key.entity)), "name": key.entity},
        },
        "historyLineCount": run.history_lines,
    })
}

fn config_text(run: &RunRecord) -> String {
    run.config
        .as_ref()
        .map_or_else(|| "{}".to_owned(), Value::to_string)
}

/// Upload URLs pointing back at this server, one per requested file.
pub(crate) async fn create_run_files(
    state: &AppState,
    caller: &Caller,
    vars: &Vars,
) -> Result<Value, ApiError> {
    let key = RunKey::new(
        vars.require("entity")?,
        vars.require("project")?,
        vars.require("run")?,
    );
    let files = vars
        .strings("files", "CreateRunFiles")?
        .ok_or_else(|| ApiError::bad("CreateRunFiles `files` must be a list"))?;
    allow(caller, &key.entity)?;
    let run = state.service.touch_run(&key).await?;
    let prefix = format!(
        "/upload/{}/{}/{}",
        encode_path(&key.entity),
        encode_path(&key.project),
        encode_path(&key.run)
    );
    // Presigned: the signature in the query is the only credential for the upload, so a
    // client must never show it in its errors or logs.
    let files: Vec<Value> = files
        .iter()
        .map(|name| {
            let path = format!("{prefix}/{}", encode_path(name));
            let url = signed_url(state, "PUT", &path);
            json!({"name": name, "uploadUrl": url})
        })
        .collect();
    Ok(json!({"createRunFiles": {"runID": run.storage_id, "uploadHeaders": [], "files": files}}))
}

pub(crate) async fn alert(
    state: &AppState,
    caller: &Caller,
    vars: &Vars,
) -> Result<Value, ApiError> {
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
    allow(caller, &key.entity)?;
    state.service.alert(&key, alert).await?;
    Ok(json!({"notifyScriptableRunAlert": {"success": true}}))
}

/// `RunStoppedStatus`: whether the UI's Stop was pressed for a run (`project.run.stopped`);
/// a run the server does not have is `run: null`.
pub(crate) async fn stopped_status(
    state: &AppState,
    caller: &Caller,
    vars: &Vars,
) -> Result<Value, ApiError> {
    let key = state.service.run_key(
        Some(
            vars.str("entityName")
                .unwrap_or_else(|| caller.user.clone()),
        ),
        vars.str("projectName"),
        vars.require("runId")?,
    );
    allow(caller, &key.entity)?;
    let run = state
        .service
        .run(&key)
        .await?
        .map(|run| json!({"id": run.storage_id, "stopped": run.stop_requested}));
    Ok(json!({"project": {
        "id": STANDARD.encode(format!("Project:{}/{}", key.entity, key.project)),
        "run": run,
    }}))
}

/// `DeleteRun` (the public API's `run.delete()`): the run named by its server id goes,
/// with all it holds and the bytes of its files that nothing else names; with
/// `deleteArtifacts`, so do the artifact versions it logged and their files.
pub(crate) async fn delete_run(
    state: &AppState,
    caller: &Caller,
    vars: &Vars,
) -> Result<Value, ApiError> {
    let vars = vars.input();
    let id: String = vars.require("id")?;
    let with_artifacts = vars.0.get("deleteArtifacts").and_then(Value::as_bool) == Some(true);
    let key = crate::service::Service::key_of_storage_id(&id)
        .ok_or_else(|| ApiError::bad(format!("id `{id}` names no run")))?;
    allow(caller, &key.entity)?;
    // Deleting a run that is gone already is done, as on W&B's servers (the public API's
    // `run.delete()` may be called twice).
    state.service.delete_run(&key, with_artifacts).await?;
    Ok(json!({"deleteRun": {"clientMutationId": null}}))
}

/// `RunResumeStatus`: the stored run for resuming, or a null bucket when there is none.
pub(crate) async fn resume_status(
    state: &AppState,
    caller: &Caller,
    vars: &Vars,
) -> Result<Value, ApiError> {
    let key = state.service.run_key(
        Some(vars.str("entity").unwrap_or_else(|| caller.user.clone())),
        vars.str("project"),
        vars.require("name")?,
    );
    allow(caller, &key.entity)?;
    let bucket = match state.service.run(&key).await? {
        Some(run) => {
            let history = state.service.tail(&run, Stream::History, 10).await?;
            let events = state.service.tail(&run, Stream::Events, 10).await?;
            Some(json!({
                "id": run.storage_id,
                "name": key.run,
                "displayName": run.display_name,
                "summaryMetrics": run.summary.as_ref().map_or("{}", |s| s.raw.as_str()),
                "logLineCount": run.output_lines,
                "historyLineCount": run.history_lines,
                "eventsLineCount": run.events_lines,
                "historyTail": Value::from(history).to_string(),
                "eventsTail": Value::from(events).to_string(),
                "config": config_text(&run),
                "tags": run.tags,
                "notes": run.notes,
                "wandbConfig": run.config.as_ref()
                    .and_then(|c| c.get("_wandb"))
                    .map_or_else(|| "{}".to_owned(), |w| json!({"t": w.get("value").and_then(|v| v.get("t"))}).to_string()),
            }))
        }
        None => None,
    };
    Ok(json!({"model": {
        "id": STANDARD.encode(format!("Project:{}/{}", key.entity, key.project)),
        "name": key.project,
        "entity": {"id": STANDARD.encode(format!("Entity:{}", key.entity)), "name": key.entity},
        "bucket": bucket,
    }}))
}
