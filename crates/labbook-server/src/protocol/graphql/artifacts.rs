//! Artifact operations: CreateArtifact, CreateArtifactManifest, CreateArtifactFiles,
//! CompleteMultipartUploadArtifact, CommitArtifact, UseArtifact, ArtifactType. Upload URLs
//! point back at this server.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::Vars;
use crate::access::urls::signed_url;
use crate::error::ApiError;
use crate::protocol::encode_path;
use crate::service::MultipartEnd;
use crate::service::allow;
use crate::state::AppState;
use crate::store::{ArtifactDraft, Caller, Created, RunKey};

pub(crate) async fn create(
    state: &AppState,
    caller: &Caller,
    vars: &Vars,
) -> Result<Value, ApiError> {
    let input = vars.input();
    let entity = input.entity("entityName", caller)?;
    let draft = ArtifactDraft {
        entity: Some(entity),
        project: input.str("projectName"),
        artifact_type: input.str("artifactTypeName"),
        collection: input.str("artifactCollectionName"),
        run: input.str("runName"),
        digest: input.str("digest"),
        metadata: input.str("metadata"),
        aliases: input.aliases("aliases"),
        ..ArtifactDraft::default()
    };
    let (artifact, latest) = match state.service.create_artifact(draft).await? {
        Created::Existing(found) => {
            let latest = json!({"id": found.id});
            (found, latest)
        }
        Created::New(new) => (new, Value::Null),
    };
    Ok(json!({"createArtifact": {"artifact": {
        "id": artifact.id,
        "state": artifact.state,
        "digest": artifact.digest,
        "artifactSequence": {"id": URL_SAFE_NO_PAD.encode("ArtifactSequence:1"), "latestArtifact": latest},
    }}}))
}

pub(crate) async fn create_manifest(
    state: &AppState,
    caller: &Caller,
    vars: &Vars,
) -> Result<Value, ApiError> {
    let input = vars.input();
    let id = input.require("artifactID")?;
    state.service.artifact_for(caller, &id).await?;
    let include_upload = input
        .get("includeUpload")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let upload_url = include_upload.then(|| {
        signed_url(
            state,
            "PUT",
            &format!("/upload-manifest/{}", encode_path(&id)),
        )
    });
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

/// The hex MD5 announced for each part of a file, if it is uploaded in parts.
fn announced_parts(file: &Value) -> Result<Vec<String>, ApiError> {
    match file.get("uploadPartsInput") {
        Some(Value::Array(parts)) => parts
            .iter()
            .map(|p| {
                p.get("hexMD5")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| ApiError::bad("each of `uploadPartsInput` needs `hexMD5`"))
            })
            .collect(),
        _ => Ok(Vec::new()),
    }
}

pub(crate) async fn create_files(
    state: &AppState,
    caller: &Caller,
    vars: &Vars,
) -> Result<Value, ApiError> {
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
        state.service.artifact_for(caller, &id).await?;
        let parts = announced_parts(file)?;
        // A URL for the whole file always (both official clients read a null one as "the
        // server has it"), and part URLs when the client announced parts.
        let path = format!(
            "/upload-artifact/{}/{}",
            encode_path(&id),
            encode_path(&name)
        );
        let url = signed_url(state, "PUT", &path);
        let multipart = if parts.is_empty() {
            Value::Null
        } else {
            let count = parts.len();
            let md5 = file.get("md5").and_then(Value::as_str).map(str::to_owned);
            let upload_id = state
                .service
                .start_multipart(&id, name.clone(), md5, parts)
                .await?;
            let urls: Vec<Value> = (1..=count)
                .map(|n| {
                    let path = format!(
                        "/upload-artifact-part/{}/{}/{n}",
                        encode_path(&id),
                        encode_path(&upload_id)
                    );
                    json!({"partNumber": n, "uploadUrl": signed_url(state, "PUT", &path)})
                })
                .collect();
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

/// `CompleteMultipartUploadArtifact`: the parts become the file, or the upload is aborted.
pub(crate) async fn complete_multipart(
    state: &AppState,
    caller: &Caller,
    vars: &Vars,
) -> Result<Value, ApiError> {
    let input = vars.input();
    let id = input.require("artifactID")?;
    let upload_id = input.require("uploadID")?;
    state.service.artifact_for(caller, &id).await?;
    let end = if input.str("completeMultipartAction").as_deref() == Some("Abort") {
        MultipartEnd::Abort
    } else {
        let parts = match input.get("completedParts") {
            Some(Value::Array(parts)) => parts
                .iter()
                .filter_map(|p| p.get("hexMD5").and_then(Value::as_str).map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        MultipartEnd::Complete(parts)
    };
    let digest = state.service.end_multipart(&id, &upload_id, end).await?;
    Ok(json!({"completeMultipartUploadArtifact": {"digest": digest}}))
}

pub(crate) async fn commit(
    state: &AppState,
    caller: &Caller,
    vars: &Vars,
) -> Result<Value, ApiError> {
    let id = vars.input().require("artifactID")?;
    state.service.artifact_for(caller, &id).await?;
    let artifact = state.service.commit_artifact(&id).await?;
    Ok(
        json!({"commitArtifact": {"artifact": {"id": id, "digest": artifact.digest, "state": artifact.state}}}),
    )
}

pub(crate) async fn use_artifact(
    state: &AppState,
    caller: &Caller,
    vars: &Vars,
) -> Result<Value, ApiError> {
    let input = vars.input();
    let id = input.require("artifactID")?;
    let run = match (
        input.str("entityName"),
        input.str("projectName"),
        input.str("runName"),
    ) {
        (Some(entity), Some(project), Some(run)) => Some(RunKey::new(entity, project, run)),
        _ => None,
    };
    state.service.artifact_for(caller, &id).await?;
    if let Some(key) = &run {
        allow(caller, &key.entity)?;
    }
    state.service.use_artifact(&id, run).await?;
    Ok(json!({"useArtifact": {"artifact": {"id": id}}}))
}

/// `ArtifactType`: the type of the artifact `name` (`collection[:version]`) in a project,
/// or a null artifact when there is none.
pub(crate) async fn artifact_type(
    state: &AppState,
    caller: &Caller,
    vars: &Vars,
) -> Result<Value, ApiError> {
    let name = vars.require("name")?;
    let collection = name.split(':').next().unwrap_or_default();
    let (entity, project) = (vars.str("entity"), vars.str("project"));
    if let Some(entity) = &entity {
        allow(caller, entity)?;
    }
    let artifact_type = state
        .service
        .artifact_type(entity.as_deref(), project.as_deref(), collection)
        .await?;
    let artifact = artifact_type.map(|name| json!({"artifactType": {"name": name}}));
    Ok(json!({"project": {"artifact": artifact}}))
}
