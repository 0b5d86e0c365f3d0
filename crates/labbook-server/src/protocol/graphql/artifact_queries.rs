//! Reading artifacts back, as the official client's public API and `run.use_artifact` do:
//! ArtifactMembershipByName (`collection:alias` or `collection:vN`, in a sequence or a
//! linked portfolio), ArtifactByID, FetchArtifactManifest, GetArtifactMembershipFileUrls,
//! and LinkArtifact. Download URLs point at `GET /artifact-files/{id}/{path}` here.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::{Vars, encode_path};
use crate::error::ApiError;
use crate::server::AppState;
use crate::storage::{ArtifactLink, ArtifactState};

/// A version found by name: the artifact, its index and aliases in the collection it was
/// asked through, and whether that collection is a portfolio.
struct Membership {
    artifact: ArtifactState,
    version_index: usize,
    aliases: Vec<String>,
    collection: String,
    portfolio: bool,
    entity: String,
    project: String,
}

fn committed_versions(
    state: &AppState,
    entity: &str,
    project: &str,
    collection: &str,
) -> Vec<ArtifactState> {
    state
        .storage
        .artifacts()
        .into_iter()
        .filter(|a| {
            a.state == "COMMITTED"
                && a.collection.as_deref() == Some(collection)
                && a.project.as_deref() == Some(project)
                && a.entity.as_deref().unwrap_or(&state.entity) == entity
        })
        .collect()
}

/// `alias` names version `N` when it is `vN`.
fn version_number(alias: &str) -> Option<usize> {
    alias.strip_prefix('v').and_then(|n| n.parse().ok())
}

/// Resolves `collection:alias` (the alias defaults to `latest`) in a project.
fn resolve(state: &AppState, entity: &str, project: &str, name: &str) -> Option<Membership> {
    let (collection, alias) = name.rsplit_once(':').unwrap_or((name, "latest"));
    let versions = committed_versions(state, entity, project, collection);
    let pick = match version_number(alias) {
        Some(n) => versions.get(n).map(|a| (n, a)),
        None => versions
            .iter()
            .enumerate()
            .rev()
            .find(|(_, a)| a.aliases.iter().any(|x| x == alias)),
    };
    if let Some((index, artifact)) = pick {
        return Some(Membership {
            aliases: artifact.aliases.clone(),
            artifact: artifact.clone(),
            version_index: index,
            collection: collection.to_owned(),
            portfolio: false,
            entity: entity.to_owned(),
            project: project.to_owned(),
        });
    }
    // A portfolio: versions linked into it.
    let mut linked: Vec<(ArtifactLink, ArtifactState)> = state
        .storage
        .artifacts()
        .into_iter()
        .flat_map(|a| {
            a.links
                .iter()
                .filter(|l| l.portfolio == collection && l.project == project && l.entity == entity)
                .map(|l| (l.clone(), a.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    linked.sort_by_key(|(l, _)| l.version_index);
    let found = match version_number(alias) {
        Some(n) => linked.into_iter().find(|(l, _)| l.version_index == n),
        None if alias == "latest" => linked.pop(),
        None => linked
            .into_iter()
            .rev()
            .find(|(l, _)| l.aliases.iter().any(|x| x == alias)),
    }?;
    let (link, artifact) = found;
    Some(Membership {
        aliases: link.aliases,
        artifact,
        version_index: link.version_index,
        collection: collection.to_owned(),
        portfolio: true,
        entity: entity.to_owned(),
        project: project.to_owned(),
    })
}

fn project_info(entity: &str, project: &str) -> Value {
    json!({
        "id": STANDARD.encode(format!("Project:{entity}/{project}")),
        "internalId": "1",
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
fn artifact_json(state: &AppState, a: &ArtifactState) -> Value {
    let entity = a.entity.clone().unwrap_or_else(|| state.entity.clone());
    let project = a.project.clone().unwrap_or_default();
    let collection = a.collection.clone().unwrap_or_default();
    let index = committed_versions(state, &entity, &project, &collection)
        .iter()
        .position(|v| v.id == a.id);
    let contents = a
        .manifest
        .as_ref()
        .and_then(|m| m.json.as_ref())
        .and_then(|m| m["contents"].as_object().cloned())
        .unwrap_or_default();
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
    json!({
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
    })
}

fn membership_json(state: &AppState, m: &Membership) -> Value {
    let kind = if m.portfolio {
        "ArtifactPortfolio"
    } else {
        "ArtifactSequence"
    };
    json!({
        "__typename": "ArtifactCollectionMembership",
        "id": STANDARD.encode(format!("ArtifactCollectionMembership:{}/{}", m.artifact.id, m.collection)),
        "versionIndex": m.version_index,
        "createdAt": "2026-01-01T00:00:00",
        "aliases": alias_list(&m.aliases),
        "artifactCollection": {
            "__typename": kind,
            "name": m.collection,
            "project": project_info(&m.entity, &m.project),
        },
        "artifact": artifact_json(state, &m.artifact),
    })
}

/// `ArtifactMembershipByName(entity, project, name)`: `project: null` never happens here;
/// an unknown name is `artifactCollectionMembership: null`.
pub(crate) fn membership_by_name(state: &AppState, vars: &Vars) -> Result<Value, ApiError> {
    let entity = vars.str("entity").unwrap_or_else(|| state.entity.clone());
    let project = vars.require("project")?;
    let name = vars.require("name")?;
    let membership = resolve(state, &entity, &project, &name).map(|m| membership_json(state, &m));
    Ok(json!({"project": {
        "id": STANDARD.encode(format!("Project:{entity}/{project}")),
        "artifactCollectionMembership": membership,
    }}))
}

/// `ArtifactByID(id)`.
pub(crate) fn by_id(state: &AppState, vars: &Vars) -> Result<Value, ApiError> {
    let id = vars.require("id")?;
    let artifact = state
        .storage
        .artifact(&id)
        .map(|a| artifact_json(state, &a));
    Ok(json!({"artifact": artifact}))
}

fn download_url(state: &AppState, id: &str, path: &str) -> String {
    format!(
        "{}/artifact-files/{}/{}",
        state.base_url,
        encode_path(id),
        encode_path(path)
    )
}

/// `FetchArtifactManifest(id)`: where to GET `wandb_manifest.json`.
pub(crate) fn manifest(state: &AppState, vars: &Vars) -> Result<Value, ApiError> {
    let id = vars.require("id")?;
    let artifact = state.storage.artifact(&id).map(|_| {
        json!({"currentManifest": {"file": {
            "directUrl": download_url(state, &id, "wandb_manifest.json"),
        }}})
    });
    Ok(json!({"artifact": artifact}))
}

/// `GetArtifactMembershipFileUrls(entity, project, collection, alias, cursor, perPage)`:
/// every uploaded file of the version, a page at a time (the cursor is an index).
pub(crate) fn file_urls(state: &AppState, vars: &Vars) -> Result<Value, ApiError> {
    let entity = vars.str("entity").unwrap_or_else(|| state.entity.clone());
    let project = vars.require("project")?;
    let collection = vars.require("collection")?;
    let alias = vars.require("alias")?;
    let Some(m) = resolve(state, &entity, &project, &format!("{collection}:{alias}")) else {
        return Ok(json!({"project": {"artifactCollection": null}}));
    };
    let contents = m
        .artifact
        .manifest
        .as_ref()
        .and_then(|man| man.json.as_ref())
        .and_then(|man| man["contents"].as_object().cloned())
        .unwrap_or_default();
    let files: Vec<(String, String)> = contents
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
    let kind = if m.portfolio {
        "ArtifactPortfolio"
    } else {
        "ArtifactSequence"
    };
    Ok(json!({"project": {"artifactCollection": {
        "__typename": kind,
        "artifactMembership": {"files": {
            "pageInfo": {"__typename": "PageInfo", "endCursor": (end < files.len()).then(|| end.to_string()), "hasNextPage": end < files.len()},
            "edges": edges,
        }},
    }}}))
}

/// `LinkArtifact(input: {artifactPortfolioName, entityName, projectName, aliases,
/// artifactID | clientID})`: the version joins the portfolio as its next version.
pub(crate) fn link(state: &AppState, vars: &Vars) -> Result<Value, ApiError> {
    let input = vars.input();
    let portfolio = input.require("artifactPortfolioName")?;
    let project = input.require("projectName")?;
    let entity = input
        .str("entityName")
        .unwrap_or_else(|| state.entity.clone());
    // The public API sends `artifactID` in `input`; wandb-core `artifactId` beside it.
    let artifact = match input.str("artifactID").or_else(|| input.str("artifactId")) {
        Some(id) => state.storage.artifact(&id),
        None => None,
    }
    .ok_or_else(|| ApiError::bad("LinkArtifact needs the `artifactID` of a stored artifact"))?;
    let aliases: Vec<String> = match input.get("aliases") {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.get("alias").and_then(Value::as_str).map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    let mut all_aliases = vec!["latest".to_owned()];
    all_aliases.extend(aliases.into_iter().filter(|a| a != "latest"));
    let same =
        |l: &ArtifactLink| l.portfolio == portfolio && l.project == project && l.entity == entity;
    // A version is in a portfolio once: linking it again moves the aliases given to it and
    // keeps its version (W&B's rule), so a client that repeats a link changes nothing else.
    if let Some(existing) = artifact.links.iter().find(|l| same(l)) {
        let index = existing.version_index;
        state.storage.update_artifact(&artifact.id, &mut |a| {
            if let Some(l) = a.links.iter_mut().find(|l| same(l)) {
                for alias in &all_aliases {
                    if !l.aliases.contains(alias) {
                        l.aliases.push(alias.clone());
                    }
                }
            }
        });
        let membership = resolve(state, &entity, &project, &format!("{portfolio}:v{index}"))
            .map(|m| membership_json(state, &m));
        return Ok(json!({"result": {"versionIndex": index, "artifactMembership": membership}}));
    }
    let next = state
        .storage
        .artifacts()
        .iter()
        .flat_map(|a| &a.links)
        .filter(|l| same(l))
        .count();
    let link = ArtifactLink {
        entity: entity.clone(),
        project: project.clone(),
        portfolio: portfolio.clone(),
        aliases: all_aliases,
        version_index: next,
    };
    state
        .storage
        .update_artifact(&artifact.id, &mut |a| a.links.push(link.clone()));
    let membership = resolve(state, &entity, &project, &format!("{portfolio}:v{next}"))
        .map(|m| membership_json(state, &m));
    Ok(json!({"result": {"versionIndex": next, "artifactMembership": membership}}))
}
