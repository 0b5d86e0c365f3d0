//! Artifact operations: CreateArtifact, CreateArtifactManifest, CreateArtifactFiles,
//! CommitArtifact, UseArtifact. Upload URLs point back at this server.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::{Vars, encode_path};
use crate::error::ApiError;
use crate::server::AppState;
use crate::storage::RunKey;

pub(crate) fn create(state: &AppState, vars: &Vars) -> Result<Value, ApiError> {
    let input = vars.input();
    let aliases: Vec<String> = match input.get("aliases") {
        Some(Value::Array(aliases)) => aliases
            .iter()
            .filter_map(|a| a.get("alias").and_then(Value::as_str).map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    // As W&B: the same content in the same collection is the version already there; its
    // aliases grow by the new ones, and no new version is made.
    let existing = state.storage.artifacts().into_iter().rev().find(|a| {
        a.state == "COMMITTED"
            && a.digest.is_some()
            && a.digest == input.str("digest")
            && a.collection == input.str("artifactCollectionName")
            && a.project == input.str("projectName")
            && a.entity == input.str("entityName")
    });
    if let Some(found) = existing {
        state.storage.update_artifact(&found.id, &mut |artifact| {
            for alias in &aliases {
                if !artifact.aliases.contains(alias) {
                    artifact.aliases.push(alias.clone());
                }
            }
        });
        return Ok(json!({"createArtifact": {"artifact": {
            "id": found.id,
            "state": "COMMITTED",
            "digest": found.digest,
            "artifactSequence": {"id": URL_SAFE_NO_PAD.encode("ArtifactSequence:1"), "latestArtifact": {"id": found.id}},
        }}}));
    }
    let id = URL_SAFE_NO_PAD.encode(format!("Artifact:{}", state.storage.next_id()));
    state.storage.update_artifact(&id, &mut |artifact| {
        artifact.entity = input.str("entityName");
        artifact.project = input.str("projectName");
        artifact.artifact_type = input.str("artifactTypeName");
        artifact.collection = input.str("artifactCollectionName");
        artifact.run = input.str("runName");
        artifact.digest = input.str("digest");
        artifact.metadata = input.str("metadata");
        artifact.aliases = aliases.clone();
    });
    Ok(json!({"createArtifact": {"artifact": {
        "id": id,
        "state": "PENDING",
        "digest": input.str("digest"),
        "artifactSequence": {"id": URL_SAFE_NO_PAD.encode("ArtifactSequence:1"), "latestArtifact": null},
    }}}))
}

fn known_artifact(state: &AppState, id: &str) -> Result<(), ApiError> {
    match state.storage.artifact(id) {
        Some(_) => Ok(()),
        None => Err(ApiError::bad(format!("no artifact with id `{id}`"))),
    }
}

pub(crate) fn create_manifest(state: &AppState, vars: &Vars) -> Result<Value, ApiError> {
    let input = vars.input();
    let id = input.require("artifactID")?;
    known_artifact(state, &id)?;
    let include_upload = input
        .get("includeUpload")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let upload_url =
        include_upload.then(|| format!("{}/upload-manifest/{}", state.base_url, encode_path(&id)));
    Ok(json!({"createArtifactManifest": {"artifactManifest": {
        "id": URL_SAFE_NO_PAD.encode(format!("ArtifactManifest:{id}")),
        "file": {
            "id": URL_SAFE_NO_PAD.encode(format!("File:{id}/wandb_manifest.json")),
            "name": "wandb_manifest.json",
            "displayName": "wandb_manifest.json",
            "uploadUrl": upload_url,
            "uploadHeaders": [],
        },
    }}}))
}

pub(crate) fn create_files(state: &AppState, vars: &Vars) -> Result<Value, ApiError> {
    let input = vars.input();
    let Some(Value::Array(files)) = input.get("artifactFiles") else {
        return Err(ApiError::bad(
            "CreateArtifactFiles needs a list `artifactFiles`",
        ));
    };
    let mut edges = Vec::with_capacity(files.len());
    for file in files {
        let field = |name: &str| {
            file.get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| ApiError::bad(format!("artifact file needs a string `{name}`")))
        };
        let (id, name) = (field("artifactID")?, field("name")?);
        known_artifact(state, &id)?;
        let parts: Vec<String> = match file.get("uploadPartsInput") {
            Some(Value::Array(parts)) => parts
                .iter()
                .map(|p| {
                    p.get("hexMD5")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                        .ok_or_else(|| ApiError::bad("each of `uploadPartsInput` needs `hexMD5`"))
                })
                .collect::<Result<_, _>>()?,
            _ => Vec::new(),
        };
        // A URL for the whole file always (both official clients read a null one as "the
        // server has it"), and part URLs when the client announced parts.
        let url = format!(
            "{}/upload-artifact/{}/{}",
            state.base_url,
            encode_path(&id),
            encode_path(&name)
        );
        let multipart = if parts.is_empty() {
            Value::Null
        } else {
            let upload_id = format!("upload-{}", state.storage.next_id());
            let urls: Vec<Value> = (1..=parts.len())
                .map(|n| {
                    json!({"partNumber": n, "uploadUrl": format!(
                        "{}/upload-artifact-part/{}/{upload_id}/{n}",
                        state.base_url,
                        encode_path(&id)
                    )})
                })
                .collect();
            let upload = crate::storage::MultipartUpload {
                path: name.clone(),
                md5: file.get("md5").and_then(Value::as_str).map(str::to_owned),
                part_md5s: parts,
                parts: Default::default(),
            };
            state.storage.update_artifact(&id, &mut |a| {
                a.multipart.insert(upload_id.clone(), upload.clone());
            });
            json!({"uploadID": upload_id, "uploadUrlParts": urls})
        };
        edges.push(json!({"node": {
            "id": URL_SAFE_NO_PAD.encode(format!("File:{id}/{name}")),
            "name": name,
            "displayName": name,
            "uploadUrl": url,
            "uploadHeaders": [],
            "uploadMultipartUrls": multipart,
            "storagePath": format!("wandb_artifacts/{id}/{name}"),
            "artifact": {"id": id},
        }}));
    }
    Ok(json!({"createArtifactFiles": {"files": {"edges": edges}}}))
}

/// `CompleteMultipartUploadArtifact`: the parts, each checked against the MD5 announced for
/// it and the one the client completes with, become the file.
pub(crate) fn complete_multipart(state: &AppState, vars: &Vars) -> Result<Value, ApiError> {
    let input = vars.input();
    let id = input.require("artifactID")?;
    let upload_id = input.require("uploadID")?;
    let artifact = state
        .storage
        .artifact(&id)
        .ok_or_else(|| ApiError::bad(format!("no artifact with id `{id}`")))?;
    let Some(upload) = artifact.multipart.get(&upload_id) else {
        // Completed before (a client retrying after a lost answer): the same answer.
        return match artifact.completed_uploads.get(&upload_id) {
            Some(digest) => Ok(json!({"completeMultipartUploadArtifact": {"digest": digest}})),
            None => Err(ApiError::bad(format!("no multipart upload `{upload_id}`"))),
        };
    };
    if input.str("completeMultipartAction").as_deref() == Some("Abort") {
        state.storage.update_artifact(&id, &mut |a| {
            a.multipart.remove(&upload_id);
        });
        return Ok(json!({"completeMultipartUploadArtifact": {"digest": null}}));
    }
    // The store's ETags: quoted hex MD5s, in any case.
    let etag = |s: &str| s.trim_matches('"').to_ascii_lowercase();
    let completed: Vec<String> = match input.get("completedParts") {
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("hexMD5").and_then(Value::as_str).map(etag))
            .collect(),
        _ => Vec::new(),
    };
    let announced: Vec<String> = upload.part_md5s.iter().map(|m| etag(m)).collect();
    if completed != announced {
        return Err(ApiError::bad(
            "`completedParts` differ from the parts announced",
        ));
    }
    if let Some(extra) = upload.parts.keys().find(|n| **n as usize > announced.len()) {
        return Err(ApiError::bad(format!(
            "part {extra} was uploaded but only {} were announced",
            announced.len()
        )));
    }
    let mut bytes = Vec::new();
    for (i, expected) in announced.iter().enumerate() {
        let part = upload
            .parts
            .get(&(i as u64 + 1))
            .ok_or_else(|| ApiError::bad(format!("part {} was never uploaded", i + 1)))?;
        let got = hex_md5(part);
        if &got != expected {
            return Err(ApiError::bad(format!(
                "part {} has MD5 {got}, announced {expected}",
                i + 1
            )));
        }
        bytes.extend_from_slice(part);
    }
    let digest = base64::engine::general_purpose::STANDARD.encode(md5_of(&bytes));
    if let Some(md5) = upload.md5.as_deref()
        && md5 != digest
    {
        return Err(ApiError::bad(format!(
            "the parts put together have MD5 {digest}, the file was announced as {md5}"
        )));
    }
    let path = upload.path.clone();
    state.storage.update_artifact(&id, &mut |a| {
        a.multipart.remove(&upload_id);
        a.completed_uploads
            .insert(upload_id.clone(), digest.clone());
        a.files.insert(path.clone(), bytes.clone());
    });
    Ok(json!({"completeMultipartUploadArtifact": {"digest": digest}}))
}

fn md5_of(bytes: &[u8]) -> [u8; 16] {
    use md5::Digest;
    md5::Md5::digest(bytes).into()
}

fn hex_md5(bytes: &[u8]) -> String {
    md5_of(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn commit(state: &AppState, vars: &Vars) -> Result<Value, ApiError> {
    let id = vars.input().require("artifactID")?;
    known_artifact(state, &id)?;
    let mut digest = None;
    state.storage.update_artifact(&id, &mut |artifact| {
        artifact.state = "COMMITTED".to_owned();
        digest = artifact.digest.clone();
    });
    Ok(json!({"commitArtifact": {"artifact": {"id": id, "digest": digest, "state": "COMMITTED"}}}))
}

pub(crate) fn use_artifact(state: &AppState, vars: &Vars) -> Result<Value, ApiError> {
    let input = vars.input();
    let id = input.require("artifactID")?;
    known_artifact(state, &id)?;
    if let (Some(entity), Some(project), Some(run)) = (
        input.str("entityName"),
        input.str("projectName"),
        input.str("runName"),
    ) {
        let key = RunKey::new(entity, project, run);
        state
            .storage
            .update_run(&key, &mut |run| run.used_artifacts.push(id.clone()));
    }
    Ok(json!({"useArtifact": {"artifact": {"id": id}}}))
}

/// `ArtifactType`: the type of the artifact `name` (`collection[:version]`) in a project,
/// or a null artifact when there is none.
pub(crate) fn artifact_type(state: &AppState, vars: &Vars) -> Result<Value, ApiError> {
    let name = vars.require("name")?;
    let collection = name.split(':').next().unwrap_or_default();
    let (entity, project) = (vars.str("entity"), vars.str("project"));
    let artifact_type = state
        .storage
        .artifacts()
        .into_iter()
        .rev()
        .find(|a| {
            a.collection.as_deref() == Some(collection)
                && (project.is_none() || a.project == project)
                && (entity.is_none() || a.entity == entity)
        })
        .and_then(|a| a.artifact_type);
    let artifact = artifact_type.map(|name| json!({"artifactType": {"name": name}}));
    Ok(json!({"project": {"artifact": artifact}}))
}
