//! Uploading an artifact version as wandb-core does (protocol §5.5): CreateArtifact (the
//! server may answer that it already has this content), CreateArtifactManifest,
//! CreateArtifactFiles and a PUT of each file the server does not have yet, the manifest
//! itself, then CommitArtifact.

use serde_json::{Value as Json, json};

use super::client::{Client, upload_headers as headers};
use crate::error::{Error, Result};
use crate::wire::proto;

const CREATE_ARTIFACT: &str = "mutation CreateArtifact($input: CreateArtifactInput!) { createArtifact(input: $input) { artifact { id state artifactSequence { latestArtifact { id } } } } }";
const CREATE_ARTIFACT_MANIFEST: &str = "mutation CreateArtifactManifest($artifactID: ID!, $baseArtifactID: ID, $name: String!, $digest: String!, $entityName: String!, $projectName: String!, $runName: String!, $manifestType: ArtifactManifestType!, $includeUpload: Boolean!) { createArtifactManifest(input: {artifactID: $artifactID, baseArtifactID: $baseArtifactID, name: $name, digest: $digest, entityName: $entityName, projectName: $projectName, runName: $runName, type: $manifestType}) { artifactManifest { id file { id uploadUrl @include(if: $includeUpload) uploadHeaders @include(if: $includeUpload) } } } }";
const CREATE_ARTIFACT_FILES: &str = "mutation CreateArtifactFiles($input: CreateArtifactFilesInput!) { createArtifactFiles(input: $input) { files { edges { node { storagePath uploadUrl uploadHeaders artifact { id } } } } } }";
const COMMIT_ARTIFACT: &str = "mutation CommitArtifact($artifactID: ID!) { commitArtifact(input: {artifactID: $artifactID}) { artifact { id digest } } }";
const USE_ARTIFACT: &str = "mutation UseArtifact($input: UseArtifactInput!) { useArtifact(input: $input) { artifact { id } } }";

/// Files per CreateArtifactFiles request.
const FILES_PER_REQUEST: usize = 1000;

/// Where an artifact goes: entity, project and the run that logs it, and the run's
/// directory (where the staged copies are when the log's absolute paths no longer lead to
/// them: a run directory copied from another machine).
pub(crate) struct Target<'a> {
    pub entity: &'a str,
    pub project: &'a str,
    pub run: &'a str,
    pub run_dir: Option<&'a std::path::Path>,
}

/// What an upload did.
#[derive(Debug, PartialEq)]
pub(crate) struct Uploaded {
    /// The server's id of the version.
    pub id: String,
    /// Whether the server already had this content (no new version).
    pub existing: bool,
    /// Bytes of files sent.
    pub bytes: u64,
}

fn nonempty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

/// Uploads one artifact version and commits it.
pub(crate) fn upload(
    client: &Client,
    to: &Target<'_>,
    a: &proto::ArtifactRecord,
) -> Result<Uploaded> {
    let aliases: Vec<Json> = a
        .aliases
        .iter()
        .map(|alias| json!({"artifactCollectionName": a.name, "alias": alias}))
        .collect();
    let tags: Vec<Json> = a.tags.iter().map(|t| json!({"tagName": t})).collect();
    let input = json!({
        "entityName": to.entity,
        "projectName": to.project,
        "artifactTypeName": a.r#type,
        "artifactCollectionName": a.name,
        "runName": (!a.user_created).then_some(to.run),
        "digest": a.digest,
        "digestAlgorithm": nonempty(&a.digest_algorithm).unwrap_or("MANIFEST_MD5"),
        "description": nonempty(&a.description),
        "metadata": nonempty(&a.metadata),
        "aliases": aliases,
        "tags": tags,
        "enableDigestDeduplication": true,
        "clientID": a.client_id,
        "sequenceClientID": a.sequence_client_id,
        "distributedID": nonempty(&a.distributed_id),
        "ttlDurationSeconds": (a.ttl_duration_seconds > 0).then_some(a.ttl_duration_seconds),
    });
    let data = client.graphql("CreateArtifact", CREATE_ARTIFACT, json!({"input": input}))?;
    let created = &data["createArtifact"]["artifact"];
    let id = text(client, created, "id", "CreateArtifact")?;
    if created["state"].as_str() == Some("COMMITTED") {
        // The same digest in this collection: the server keeps the version it has.
        use_after_commit(client, to, a, &id)?;
        return Ok(Uploaded {
            id,
            existing: true,
            bytes: 0,
        });
    }
    let manifest_vars = |digest: &str, include_upload: bool| {
        json!({
            "artifactID": id, "baseArtifactID": null, "name": "wandb_manifest.json",
            "digest": digest, "entityName": to.entity, "projectName": to.project,
            "runName": to.run, "manifestType": "FULL", "includeUpload": include_upload,
        })
    };
    let data = client.graphql(
        "CreateArtifactManifest",
        CREATE_ARTIFACT_MANIFEST,
        manifest_vars("", false),
    )?;
    let manifest_id = text(
        client,
        &data["createArtifactManifest"]["artifactManifest"],
        "id",
        "CreateArtifactManifest",
    )?;
    let entries: Vec<&proto::ArtifactManifestEntry> = a
        .manifest
        .iter()
        .flat_map(|m| &m.contents)
        .filter(|e| e.r#ref.is_empty())
        .collect();
    let mut bytes = 0;
    for chunk in entries.chunks(FILES_PER_REQUEST) {
        let files: Vec<Json> = chunk
            .iter()
            .map(|e| {
                json!({"artifactID": id, "artifactManifestID": manifest_id, "name": e.path,
                       "md5": e.digest, "mimetype": null})
            })
            .collect();
        let input = json!({"artifactFiles": files, "storageLayout": "V2"});
        let data = client.graphql(
            "CreateArtifactFiles",
            CREATE_ARTIFACT_FILES,
            json!({"input": input}),
        )?;
        let edges = data["createArtifactFiles"]["files"]["edges"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if edges.len() != chunk.len() {
            return Err(Error::Upload {
                url: client.base_url().to_owned(),
                reason: format!(
                    "CreateArtifactFiles answered {} files for {} asked",
                    edges.len(),
                    chunk.len()
                ),
            });
        }
        for (edge, entry) in edges.iter().zip(chunk) {
            let node = &edge["node"];
            // No URL: the server has these bytes already.
            let Some(url) = node["uploadUrl"].as_str() else {
                continue;
            };
            let recorded = std::path::PathBuf::from(&entry.local_path);
            let path = match to.run_dir {
                Some(dir) if !recorded.exists() => {
                    dir.join("artifacts").join(&a.client_id).join(&entry.path)
                }
                _ => recorded,
            };
            client.put_file(url, &headers(&node["uploadHeaders"]), &path)?;
            bytes += entry.size.max(0) as u64;
        }
    }
    let manifest = manifest_json(a, &id);
    let digest = crate::artifact_record::b64_md5(manifest.as_bytes());
    let data = client.graphql(
        "CreateArtifactManifest",
        CREATE_ARTIFACT_MANIFEST,
        manifest_vars(&digest, true),
    )?;
    let file = &data["createArtifactManifest"]["artifactManifest"]["file"];
    if let Some(url) = file["uploadUrl"].as_str() {
        client.put(url, &headers(&file["uploadHeaders"]), manifest.into_bytes())?;
    }
    if a.finalize {
        client.graphql("CommitArtifact", COMMIT_ARTIFACT, json!({"artifactID": id}))?;
    }
    use_after_commit(client, to, a, &id)?;
    Ok(Uploaded {
        id,
        existing: false,
        bytes,
    })
}

fn use_after_commit(
    client: &Client,
    to: &Target<'_>,
    a: &proto::ArtifactRecord,
    id: &str,
) -> Result<()> {
    if a.use_after_commit {
        use_artifact(client, to, id)?;
    }
    Ok(())
}

const FIND_ARTIFACT: &str = "query ArtifactMembershipByName($entity: String!, $project: String!, $name: String!) { project(name: $project, entityName: $entity) { artifactCollectionMembership(name: $name) { artifact { id } } } }";

/// Records a use the run's log holds (lineage). An offline run recorded `name:vN` without
/// the server's id: it is looked up in the run's project; a version the server does not
/// have is skipped with a warning (the log keeps the use).
pub(crate) fn record_use(
    client: &Client,
    to: &Target<'_>,
    u: &proto::UseArtifactRecord,
) -> Result<()> {
    let id = if u.id.is_empty() {
        let vars = json!({"entity": to.entity, "project": to.project, "name": u.name});
        let data = client.graphql("ArtifactMembershipByName", FIND_ARTIFACT, vars)?;
        match data["project"]["artifactCollectionMembership"]["artifact"]["id"].as_str() {
            Some(id) => id.to_owned(),
            None => {
                tracing::warn!(target: "labbook", "the run used {} but {}/{} has no such artifact: the use is not recorded on the server", u.name, to.entity, to.project);
                return Ok(());
            }
        }
    } else {
        u.id.clone()
    };
    use_artifact(client, to, &id)
}

const LINK_ARTIFACT: &str = "mutation LinkArtifact($input: LinkArtifactInput!) { result: linkArtifact(input: $input) { versionIndex } }";

/// Links version `id` into a registry collection.
pub(crate) fn link(
    client: &Client,
    to: &Target<'_>,
    id: &str,
    link: &crate::artifact_link::Link,
) -> Result<()> {
    let aliases: Vec<Json> = link
        .aliases
        .iter()
        .map(|a| json!({"artifactCollectionName": link.portfolio, "alias": a}))
        .collect();
    let entity = nonempty(&link.entity).unwrap_or(to.entity);
    let input = json!({"artifactPortfolioName": link.portfolio, "entityName": entity,
                       "projectName": link.project, "aliases": aliases, "artifactID": id});
    client.graphql("LinkArtifact", LINK_ARTIFACT, json!({"input": input}))?;
    Ok(())
}

/// Records that the run used the version `id` (lineage).
pub(crate) fn use_artifact(client: &Client, to: &Target<'_>, id: &str) -> Result<()> {
    let input = json!({"artifactID": id, "entityName": to.entity, "projectName": to.project,
                       "runName": to.run});
    client.graphql("UseArtifact", USE_ARTIFACT, json!({"input": input}))?;
    Ok(())
}

fn text(client: &Client, v: &Json, field: &str, operation: &str) -> Result<String> {
    v[field]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| Error::Upload {
            url: client.base_url().to_owned(),
            reason: format!("{operation} answered without `{field}`: {v}"),
        })
}

/// `wandb_manifest.json` as the Python client writes it: compact, no trailing newline,
/// each uploaded entry's `birthArtifactID` the version being created.
pub(crate) fn manifest_json(a: &proto::ArtifactRecord, id: &str) -> String {
    let mut contents = serde_json::Map::new();
    for e in a.manifest.iter().flat_map(|m| &m.contents) {
        let mut entry = serde_json::Map::new();
        entry.insert("digest".into(), json!(e.digest));
        if e.r#ref.is_empty() {
            entry.insert("birthArtifactID".into(), json!(id));
        } else {
            entry.insert("ref".into(), json!(e.r#ref));
        }
        entry.insert("size".into(), json!(e.size));
        contents.insert(e.path.clone(), Json::Object(entry));
    }
    json!({
        "version": 1,
        "storagePolicy": "wandb-storage-policy-v1",
        "storagePolicyConfig": {"storageLayout": "V2"},
        "contents": contents,
    })
    .to_string()
}
