//! Reading artifacts back, as the official client's public API and `run.use_artifact` do:
//! ArtifactMembershipByName (`collection:alias` or `collection:vN`, in a sequence or a
//! linked portfolio), ArtifactByID, FetchArtifactManifest, GetArtifactMembershipFileUrls,
//! and LinkArtifact. Download URLs point at `GET /artifact-files/{id}/{path}` here.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::Vars;
use crate::access::urls::signed_url;
use crate::error::ApiError;
use crate::protocol::encode_path;
use crate::service::Membership;
use crate::service::allow;
use crate::state::AppState;
use crate::store::{ArtifactRecord, Caller, CollectionKey, RunRecord};

fn project_info(entity: &str, project: &str) -> Value {
    json!({
        "id": STANDARD.encode(format!("Project:{entity}/{project}")),
        "internalId": super::reads::project_number(entity, project),
        "name": project,
        "entity": {"name": entity},
    })
}

fn alias_list(aliases: &[String]) -> Vec<Value> {
    aliases
        .iter()
        .map(|a| json!({"__typename": "ArtifactAlias", "id": STANDARD.encode(format!("ArtifactAlias:{a}")), "alias": a}))
        .collect()
}

/// The `ArtifactFragment` of a version, as the official client validates it.
async fn artifact_json(state: &AppState, a: &ArtifactRecord) -> Result<Value, ApiError> {
    let CollectionKey {
        entity,
        project,
        name: collection,
    } = state.service.collection_of(a);
    let index = state.service.version_index(a).await?;
    let contents = manifest_contents(a);
    let size: i64 = contents.values().filter_map(|e| e["size"].as_i64()).sum();
    let collection_info = json!({
        "__typename": "ArtifactSequence",
        "name": collection,
        "project": project_info(&entity, &project),
    });
    let aliases: Vec<Value> = alias_list(&a.aliases)
        .into_iter()
        .map(|mut v| {
            v["artifactCollection"] = collection_info.clone();
            v
        })
        .collect();
    Ok(json!({
        "__typename": "Artifact",
        "id": a.id,
        "artifactSequence": collection_info,
        "versionIndex": index,
        "artifactType": {"name": a.artifact_type},
        "description": null,
        "metadata": a.metadata.clone().unwrap_or_else(|| "{}".to_owned()),
        "ttlDurationSeconds": -2,
        "ttlIsInherited": true,
        "tags": [],
        "historyStep": null,
        "state": a.state,
        "size": size,
        "digest": a.digest,
        "digestAlgorithm": "MANIFEST_MD5",
        "commitHash": null,
        "fileCount": contents.len(),
        "createdAt": "2026-01-01T00:00:00",
        "updatedAt": null,
        "aliases": aliases,
    }))
}

/// The manifest's `contents`: path to entry.
fn manifest_contents(a: &ArtifactRecord) -> serde_json::Map<String, Value> {
    a.manifest
        .as_ref()
        .and_then(|m| m.json.as_ref())
        .and_then(|m| m["contents"].as_object().cloned())
        .unwrap_or_default()
}

fn collection_kind(m: &Membership) -> &'static str {
    if m.portfolio {
        "ArtifactPortfolio"
    } else {
        "ArtifactSequence"
    }
}

async fn membership_json(state: &AppState, m: &Membership) -> Result<Value, ApiError> {
    let c = &m.collection;
    Ok(json!({
        "__typename": "ArtifactCollectionMembership",
        "id": STANDARD.encode(format!("ArtifactCollectionMembership:{}/{}", m.artifact.id, c.name)),
        "versionIndex": m.version_index,
        "createdAt": "2026-01-01T00:00:00",
        "aliases": alias_list(&m.aliases),
        "artifactCollection": {
            "__typename": collection_kind(m),
            "name": c.name,
            "project": project_info(&c.entity, &c.project),
        },
        "artifact": artifact_json(state, &m.artifact).await?,
    }))
}

/// The membership `name` resolves to in a project, as JSON, or null.
async fn resolved_json(
    state: &AppState,
    entity: &str,
    project: &str,
    name: &str,
) -> Result<Value, ApiError> {
    match state.service.resolve(entity, project, name).await? {
        Some(m) => membership_json(state, &m).await,
        None => Ok(Value::Null),
    }
}

/// `ArtifactMembershipByName(entity, project, name)`: `project: null` never happens here;
/// an unknown name is `artifactCollectionMembership: null`.
pub(crate) async fn membership_by_name(
    state: &AppState,
    caller: &Caller,
    vars: &Vars,
) -> Result<Value, ApiError> {
    let entity = vars.entity("entity", caller)?;
    let project = vars.require("project")?;
    let name = vars.require("name")?;
    let membership = resolved_json(state, &entity, &project, &name).await?;
    Ok(json!({"project": {
        "id": STANDARD.encode(format!("Project:{entity}/{project}")),
        "artifactCollectionMembership": membership,
    }}))
}

/// `ArtifactByID(id)`.
pub(crate) async fn by_id(
    state: &AppState,
    caller: &Caller,
    vars: &Vars,
) -> Result<Value, ApiError> {
    let id = vars.require("id")?;
    let artifact = match state.service.artifact(&id).await? {
        Some(a) => {
            allow(caller, &state.service.collection_of(&a).entity)?;
            artifact_json(state, &a).await?
        }
        None => Value::Null,
    };
    Ok(json!({"artifact": artifact}))
}

/// A signed URL to GET a file of a version (or its manifest).
fn download_url(state: &AppState, id: &str, path: &str) -> String {
    let path = format!("/artifact-files/{}/{}", encode_path(id), encode_path(path));
    signed_url(state, "GET", &path)
}

/// `FetchArtifactManifest(id)`: where to GET `wandb_manifest.json`.
pub(crate) async fn manifest(
    state: &AppState,
    caller: &Caller,
    vars: &Vars,
) -> Result<Value, ApiError> {
    let id = vars.require("id")?;
    let artifact = match state.service.artifact(&id).await? {
        Some(a) => {
            allow(caller, &state.service.collection_of(&a).entity)?;
            json!({"currentManifest": {"file": {
                "directUrl": download_url(state, &id, "wandb_manifest.json"),
            }}})
        }
        None => Value::Null,
    };
    Ok(json!({"artifact": artifact}))
}

/// `GetArtifactMembershipFileUrls(entity, project, collection, alias, cursor, perPage)`:
/// every uploaded file of the version, a page at a time (the cursor is an index).
pub(crate) async fn file_urls(
    state: &AppState,
    caller: &Caller,
    vars: &Vars,
) -> Result<Value, ApiError> {
    let entity = vars.entity("entity", caller)?;
    let project = vars.require("project")?;
    let collection = vars.require("collection")?;
    let alias = vars.require("alias")?;
    let name = format!("{collection}:{alias}");
    let Some(m) = state.service.resolve(&entity, &project, &name).await? else {
        return Ok(json!({"project": {"artifactCollection": null}}));
    };
    let files: Vec<(String, String)> = manifest_contents(&m.artifact)
        .iter()
        .filter(|(_, e)| e.get("ref").is_none())
        .map(|(path, e)| {
            let birth = e["birthArtifactID"].as_str().unwrap_or(&m.artifact.id);
            (path.clone(), download_url(state, birth, path))
        })
        .collect();
    let start: usize = vars.str("cursor").and_then(|c| c.parse().ok()).unwrap_or(0);
    let per_page = vars
        .get("perPage")
        .and_then(Value::as_u64)
        .map_or(usize::MAX, |n| n.max(1) as usize);
    let end = start.saturating_add(per_page).min(files.len());
    let edges: Vec<Value> = files[start.min(end)..end]
        .iter()
        .map(|(name, url)| json!({"node": {"__typename": "File", "name": name, "directUrl": url}}))
        .collect();
    Ok(json!({"project": {"artifactCollection": {
        "__typename": collection_kind(&m),
        "artifactMembership": {"files": {
            "pageInfo": {"__typename": "PageInfo", "endCursor": (end < files.len()).then(|| end.to_string()), "hasNextPage": end < files.len()},
            "edges": edges,
        }},
    }}}))
}

/// `LinkArtifact(input: {artifactPortfolioName, entityName, projectName, aliases,
/// artifactID | clientID})`: the version joins the portfolio as its next version.
pub(crate) async fn link(
    state: &AppState,
    caller: &Caller,
    vars: &Vars,
) -> Result<Value, ApiError> {
    let input = vars.input();
    let portfolio = CollectionKey {
        entity: input
            .str("entityName")
            .unwrap_or_else(|| caller.user.clone()),
        project: input.require("projectName")?,
        name: input.require("artifactPortfolioName")?,
    };
    // The public API sends `artifactID` in `input`; wandb-core `artifactId` beside it.
    let id = input
        .str("artifactID")
        .or_else(|| input.str("artifactId"))
        .ok_or_else(|| ApiError::bad("LinkArtifact needs the `artifactID` of a stored artifact"))?;
    allow(caller, &portfolio.entity)?;
    state.service.artifact_for(caller, &id).await?;
    let index = state
        .service
        .link_artifact(&id, &portfolio, input.aliases("aliases"))
        .await?;
    let name = format!("{}:v{index}", portfolio.name);
    let membership = resolved_json(state, &portfolio.entity, &portfolio.project, &name).await?;
    Ok(json!({"result": {"versionIndex": index, "artifactMembership": membership}}))
}

/// `RunOutputArtifacts` (`logged`) and `RunInputArtifacts`: the versions a run logged or
/// used, by pages of `perPage` after `cursor`.
pub(crate) async fn run_artifacts(
    state: &AppState,
    run: &RunRecord,
    vars: &Vars,
    logged: bool,
) -> Result<Value, ApiError> {
    let versions = if logged {
        state.service.logged_by(&run.key).await?
    } else {
        state.service.used_by(run).await?
    };
    let per_page = super::reads::page_size(vars, "perPage", 100);
    let from = super::reads::offset_of("artifacts", vars.str("cursor"))?;
    let mut edges = Vec::new();
    for a in versions.iter().skip(from).take(per_page) {
        edges.push(json!({"node": artifact_json(state, a).await?}));
    }
    let end = from + edges.len();
    Ok(json!({"artifacts": {
        "totalCount": versions.len(),
        "pageInfo": {
            "__typename": "PageInfo",
            "endCursor": super::reads::cursor("artifacts", end),
            "hasNextPage": end < versions.len(),
        },
        "edges": edges,
    }}))
}
