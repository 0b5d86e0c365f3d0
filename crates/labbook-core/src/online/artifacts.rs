//! Uploading an artifact version as wandb-core does (protocol §5.5): CreateArtifact (the
//! server may answer that it already has this content), CreateArtifactManifest,
//! CreateArtifactFiles and a PUT of each file the server does not have yet, the manifest
//! itself, then CommitArtifact.

use serde_json::Value as Json;

use super::client::{Client, upload_headers as headers};
use super::graphql;
use crate::error::{Error, Result};
use crate::wire::proto;

/// Files per CreateArtifactFiles request.
const FILES_PER_REQUEST: usize = 1000;

/// When artifact files go up in parts: from `threshold` bytes on, in parts of `part_size`
/// (W&B's are 2 GiB and 100 MiB; an object store takes at most 5 GB in one PUT, and parts
/// of at least 5 MiB but the last). The part size grows so that no file needs more than
/// 10,000 parts.
///
/// ```
/// let mut opts = labbook_core::online::SyncOptions::new("https://api.wandb.ai", "key");
/// opts.multipart = labbook_core::online::Multipart { threshold: 1 << 30, part_size: 64 << 20 };
/// # let _ = opts;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Multipart {
    /// Files of at least this many bytes are uploaded in parts (W&B: 2 GiB).
    pub threshold: u64,
    /// The size of every part but the last (W&B: 100 MiB).
    pub part_size: u64,
}

/// The most parts an object store takes for one file.
const MAX_PARTS: u64 = 10_000;

impl Multipart {
    /// The part size for a file of `size` bytes: the setting, grown so the file needs at
    /// most 10,000 parts, and never 0.
    fn part_size_for(&self, size: u64) -> u64 {
        self.part_size.max(1).max(size.div_ceil(MAX_PARTS))
    }
}

impl Default for Multipart {
    fn default() -> Multipart {
        Multipart {
            threshold: 2 << 30,
            part_size: 100 << 20,
        }
    }
}

/// The hex MD5 of each `part_size` slice of a file, read in bounded memory.
fn part_md5s(path: &std::path::Path, part_size: u64) -> Result<Vec<String>> {
    use md5::Digest;
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(Error::io("could not read", path))?;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let mut hasher = md5::Md5::new();
        let mut left = part_size.max(1);
        let mut any = false;
        while left > 0 {
            let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            let n = file
                .read(&mut buf[..want])
                .map_err(Error::io("could not read", path))?;
            if n == 0 {
                break;
            }
            any = true;
            hasher.update(&buf[..n]);
            left -= n as u64;
        }
        if !any {
            break;
        }
        out.push(
            hasher
                .finalize()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
        );
        if left > 0 {
            break;
        }
    }
    Ok(out)
}

/// `0cc1…` (hex) as base64, the form of a Content-MD5 header.
fn hex_to_b64(hex: &str) -> String {
    use base64::Engine;
    let bytes: Vec<u8> = (0..hex.len() / 2)
        .filter_map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
        .collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// PUTs each part to the URL the server gave for it, then completes the upload.
fn upload_parts(
    client: &Client,
    artifact_id: &str,
    node: &Json,
    path: &std::path::Path,
    parts: &[String],
    part_size: u64,
) -> Result<()> {
    let multipart = &node["uploadMultipartUrls"];
    let upload_id = text(client, multipart, "uploadID", "CreateArtifactFiles")?;
    let urls = multipart["uploadUrlParts"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    // Each part carries its own Content-MD5; of the file's headers only its type applies.
    let content_type: Vec<String> = headers(&node["uploadHeaders"])
        .into_iter()
        .filter(|h| h.to_ascii_lowercase().starts_with("content-type:"))
        .collect();
    let mut completed = Vec::with_capacity(parts.len());
    for (i, md5_hex) in parts.iter().enumerate() {
        let number = i as u64 + 1;
        let url = urls
            .iter()
            .find(|u| u["partNumber"].as_u64() == Some(number))
            .and_then(|u| u["uploadUrl"].as_str())
            .ok_or_else(|| Error::Upload {
                url: super::public_url(client.base_url()),
                reason: format!(
                    "CreateArtifactFiles gave no URL for part {number} of {}",
                    path.display()
                ),
            })?;
        let mut part_headers = content_type.clone();
        part_headers.push(format!("Content-MD5:{}", hex_to_b64(md5_hex)));
        let etag =
            client.put_file_range(url, &part_headers, path, i as u64 * part_size, part_size)?;
        // The store's ETag where it gives one (it is not always the MD5), else the MD5.
        completed.push(etag.unwrap_or_else(|| md5_hex.clone()));
    }
    client.call(&graphql::CompleteMultipartUploadArtifact {
        complete_multipart_action: "Complete",
        completed_parts: graphql::Part::numbered(&completed),
        artifact_id,
        storage_path: &text(client, node, "storagePath", "CreateArtifactFiles")?,
        upload_id: &upload_id,
    })?;
    Ok(())
}

/// Where an artifact goes: entity, project and the run that logs it, and the run's
/// directory (where the staged copies are when the log's absolute paths no longer lead to
/// them: a run directory copied from another machine).
pub(crate) struct Target<'a> {
    pub entity: &'a str,
    pub project: &'a str,
    pub run: &'a str,
    pub run_dir: Option<&'a std::path::Path>,
    pub multipart: Multipart,
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

/// Uploads one artifact version and commits it: create (the server may have the content
/// already), an empty manifest to attach files to, the files the server lacks, the
/// manifest itself, commit.
pub(crate) fn upload(
    client: &Client,
    to: &Target<'_>,
    a: &proto::ArtifactRecord,
) -> Result<Uploaded> {
    let data = client.call(&graphql::CreateArtifact {
        input: artifact_input(to, a),
    })?;
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
    let data = client.call(&manifest(to, &id, "", false))?;
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
        bytes += upload_files(client, to, a, &id, &manifest_id, chunk)?;
    }
    let manifest_text = crate::wire::upload::manifest_json(a, &id);
    let digest = crate::wire::artifact::b64_md5(manifest_text.as_bytes());
    let data = client.call(&manifest(to, &id, &digest, true))?;
    let file = &data["createArtifactManifest"]["artifactManifest"]["file"];
    if let Some(url) = file["uploadUrl"].as_str() {
        client.put(
            url,
            &headers(&file["uploadHeaders"]),
            manifest_text.into_bytes(),
        )?;
    }
    if a.finalize {
        client.call(&graphql::CommitArtifact { artifact_id: &id })?;
    }
    use_after_commit(client, to, a, &id)?;
    Ok(Uploaded {
        id,
        existing: false,
        bytes,
    })
}

/// CreateArtifact's input for version `a`.
fn artifact_input<'a>(to: &Target<'a>, a: &'a proto::ArtifactRecord) -> graphql::ArtifactInput<'a> {
    graphql::ArtifactInput {
        entity_name: to.entity,
        project_name: to.project,
        artifact_type_name: &a.r#type,
        artifact_collection_name: &a.name,
        run_name: (!a.user_created).then_some(to.run),
        digest: &a.digest,
        digest_algorithm: nonempty(&a.digest_algorithm).unwrap_or("MANIFEST_MD5"),
        description: nonempty(&a.description),
        metadata: nonempty(&a.metadata),
        aliases: a
            .aliases
            .iter()
            .map(|alias| graphql::AliasInput {
                artifact_collection_name: &a.name,
                alias,
            })
            .collect(),
        tags: a
            .tags
            .iter()
            .map(|t| graphql::TagInput { tag_name: t })
            .collect(),
        enable_digest_deduplication: true,
        client_id: &a.client_id,
        sequence_client_id: &a.sequence_client_id,
        distributed_id: nonempty(&a.distributed_id),
        ttl_duration_seconds: (a.ttl_duration_seconds > 0).then_some(a.ttl_duration_seconds),
    }
}

/// The manifest of version `id`: empty (to attach files to) or with its digest and
/// asking where to upload it.
fn manifest<'a>(
    to: &Target<'a>,
    id: &'a str,
    digest: &'a str,
    include_upload: bool,
) -> graphql::CreateArtifactManifest<'a> {
    graphql::CreateArtifactManifest {
        artifact_id: id,
        base_artifact_id: None,
        name: "wandb_manifest.json",
        digest,
        entity_name: to.entity,
        project_name: to.project,
        run_name: to.run,
        manifest_type: "FULL",
        include_upload,
    }
}

/// Uploads one CreateArtifactFiles batch of version `id`'s files: those the server lacks,
/// big ones in parts. Returns the bytes sent.
fn upload_files(
    client: &Client,
    to: &Target<'_>,
    a: &proto::ArtifactRecord,
    id: &str,
    manifest_id: &str,
    chunk: &[&proto::ArtifactManifestEntry],
) -> Result<u64> {
    // Where each file's bytes are, and for a big one its parts' MD5s (W&B uploads files
    // from 2 GiB on in parts: one PUT may not exceed the object store's limit).
    let mut planned = Vec::with_capacity(chunk.len());
    for e in chunk {
        let recorded = std::path::PathBuf::from(&e.local_path);
        let path = match to.run_dir {
            Some(dir) if !recorded.exists() => {
                dir.join("artifacts").join(&a.client_id).join(&e.path)
            }
            _ => recorded,
        };
        let size = e.size.max(0) as u64;
        let parts = if size >= to.multipart.threshold {
            let part_size = to.multipart.part_size_for(size);
            Some((part_md5s(&path, part_size)?, part_size))
        } else {
            None
        };
        planned.push((path, parts));
    }
    let files = chunk
        .iter()
        .zip(&planned)
        .map(|(e, (_, parts))| graphql::ArtifactFile {
            artifact_id: id,
            artifact_manifest_id: manifest_id,
            name: &e.path,
            md5: &e.digest,
            mimetype: None,
            upload_parts_input: parts
                .as_ref()
                .map(|(md5s, _)| graphql::Part::numbered(md5s)),
        })
        .collect();
    let data = client.call(&graphql::CreateArtifactFiles {
        input: graphql::ArtifactFilesInput {
            artifact_files: files,
            storage_layout: "V2",
        },
    })?;
    let edges = data["createArtifactFiles"]["files"]["edges"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if edges.len() != chunk.len() {
        return Err(Error::Upload {
            url: super::public_url(client.base_url()),
            reason: format!(
                "CreateArtifactFiles answered {} files for {} asked",
                edges.len(),
                chunk.len()
            ),
        });
    }
    let mut bytes = 0;
    for ((edge, entry), (path, parts)) in edges.iter().zip(chunk).zip(&planned) {
        let node = &edge["node"];
        // No URL: the server has these bytes already (as wandb-core reads it, first).
        let Some(url) = node["uploadUrl"].as_str() else {
            continue;
        };
        match parts {
            Some((parts, part_size)) if !node["uploadMultipartUrls"].is_null() => {
                upload_parts(client, id, node, path, parts, *part_size)?
            }
            _ => client.put_file(url, &headers(&node["uploadHeaders"]), path)?,
        }
        bytes += entry.size.max(0) as u64;
    }
    Ok(bytes)
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

/// Records a use the run's log holds (lineage). An offline run recorded `name:vN` without
/// the server's id: it is looked up in the run's project; a version the server does not
/// have is skipped with a warning (the log keeps the use).
pub(crate) fn record_use(
    client: &Client,
    to: &Target<'_>,
    u: &proto::UseArtifactRecord,
) -> Result<()> {
    let id = if u.id.is_empty() {
        let data = client.call(&graphql::FindArtifact {
            entity: to.entity,
            project: to.project,
            name: &u.name,
        })?;
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

/// The server's id of an existing version, `name:alias` in the run's project or
/// `[entity/]project/name:alias`.
pub(crate) fn find_version(client: &Client, to: &Target<'_>, version: &str) -> Result<String> {
    let parts: Vec<&str> = version.split('/').collect();
    let (entity, project, name) = match parts.as_slice() {
        [name] => (to.entity, to.project, *name),
        [project, name] => (to.entity, *project, *name),
        [entity, project, name] => (*entity, *project, *name),
        _ => {
            return Err(Error::Artifact(format!(
                "{version:?} is not an artifact version"
            )));
        }
    };
    let data = client.call(&graphql::FindArtifact {
        entity,
        project,
        name,
    })?;
    data["project"]["artifactCollectionMembership"]["artifact"]["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| {
            Error::Artifact(format!("{entity}/{project} has no artifact version {name}"))
        })
}

/// Links version `id` into a registry collection.
pub(crate) fn link(
    client: &Client,
    to: &Target<'_>,
    id: &str,
    link: &crate::online::links::Link,
) -> Result<()> {
    let aliases = link
        .aliases
        .iter()
        .map(|alias| graphql::AliasInput {
            artifact_collection_name: &link.portfolio,
            alias,
        })
        .collect();
    client.call(&graphql::LinkArtifact {
        input: graphql::LinkArtifactInput {
            artifact_portfolio_name: &link.portfolio,
            entity_name: nonempty(&link.entity).unwrap_or(to.entity),
            project_name: &link.project,
            aliases,
            artifact_id: id,
        },
    })?;
    Ok(())
}

/// Records that the run used the version `id` (lineage).
pub(crate) fn use_artifact(client: &Client, to: &Target<'_>, id: &str) -> Result<()> {
    client.call(&graphql::UseArtifact {
        input: graphql::UseArtifactInput {
            artifact_id: id,
            entity_name: to.entity,
            project_name: to.project,
            run_name: to.run,
        },
    })?;
    Ok(())
}

fn text(client: &Client, v: &Json, field: &str, operation: &str) -> Result<String> {
    v[field]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| Error::Upload {
            url: super::public_url(client.base_url()),
            reason: format!("{operation} answered without `{field}`: {v}"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_sizes_stay_within_the_stores_limits() {
        let m = Multipart::default();
        assert_eq!(m.part_size_for(3 << 30), 100 << 20);
        // 2 TB in 100 MiB parts would be 20,000 parts.
        assert_eq!(m.part_size_for(2_000_000_000_000), 200_000_000);
        let zero = Multipart {
            threshold: 0,
            part_size: 0,
        };
        assert_eq!(zero.part_size_for(10), 1);
        assert_eq!(
            hex_to_b64("0cc175b9c0f1b6a831c399e269772661"),
            "DMF1ucDxtqgxw5niaXcmYQ=="
        );
    }

    #[test]
    fn parts_cover_the_file_exactly() {
        let d = tempfile::tempdir().unwrap();
        let count = |len: usize| {
            let p = d.path().join(format!("f{len}"));
            std::fs::write(&p, vec![1u8; len]).unwrap();
            part_md5s(&p, 1000).unwrap()
        };
        assert_eq!(count(3000).len(), 3);
        assert_eq!(count(2500).len(), 3);
        assert!(count(0).is_empty());
        let one = count(1000);
        // The MD5 of 1000 bytes of 0x01, as any tool computes it.
        assert_eq!(
            one,
            [crate::wire::artifact::md5(&[1u8; 1000])
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()]
        );
    }
}
