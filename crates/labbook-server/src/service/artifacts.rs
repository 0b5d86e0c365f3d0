//! Artifact rules: versions and the names that resolve to them (`collection:alias`,
//! `collection:vN`, in a sequence or a linked portfolio), files and their multipart
//! uploads, commits and links.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use md5::Digest as _;

use super::{Service, ServiceError, ServiceResult};
use crate::store::{
    ArtifactDraft, ArtifactRecord, CollectionKey, Created, JsonLine, MultipartUpload,
};

/// A version found by name: the artifact, its index and aliases in the collection it was
/// asked through, and whether that collection is a portfolio.
#[derive(Debug)]
pub(crate) struct Membership {
    pub(crate) artifact: ArtifactRecord,
    pub(crate) version_index: usize,
    pub(crate) aliases: Vec<String>,
    pub(crate) collection: CollectionKey,
    pub(crate) portfolio: bool,
}

/// How a client ends a multipart upload.
#[derive(Debug)]
pub(crate) enum MultipartEnd {
    /// Forget the upload.
    Abort,
    /// The parts, by the hex MD5s the client has for them, make the file.
    Complete(Vec<String>),
}

/// `alias` names version `N` when it is `vN`.
fn version_number(alias: &str) -> Option<usize> {
    alias.strip_prefix('v').and_then(|n| n.parse().ok())
}

fn md5_of(bytes: &[u8]) -> [u8; 16] {
    md5::Md5::digest(bytes).into()
}

/// The hex MD5 of `bytes`, as S3 answers a part's ETag (without the quotes).
pub(crate) fn hex_md5(bytes: &[u8]) -> String {
    md5_of(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

impl Service {
    /// A new pending version, or the committed one with the same digest in the same
    /// collection (whose aliases grow by the new ones: W&B makes no new version then).
    pub(crate) async fn create_artifact(&self, mut draft: ArtifactDraft) -> ServiceResult<Created> {
        draft.id = URL_SAFE_NO_PAD.encode(format!("Artifact:{}", self.meta.next_id().await?));
        // A version always has an entity, so its collection is found by entity.
        draft.entity.get_or_insert_with(|| self.entity.clone());
        Ok(self.meta.create_artifact(draft).await?)
    }

    pub(crate) async fn artifact(&self, id: &str) -> ServiceResult<Option<ArtifactRecord>> {
        Ok(self.meta.artifact(id).await?)
    }

    /// The version `id`, or an error naming it.
    pub(crate) async fn require_artifact(&self, id: &str) -> ServiceResult<ArtifactRecord> {
        self.artifact(id)
            .await?
            .ok_or_else(|| ServiceError::invalid(format!("no artifact with id `{id}`")))
    }

    /// The version `id`, if `caller` may use its entity (403 otherwise).
    pub(crate) async fn artifact_for(
        &self,
        caller: &crate::store::Caller,
        id: &str,
    ) -> ServiceResult<ArtifactRecord> {
        let artifact = self.require_artifact(id).await?;
        super::allow(caller, &self.collection_of(&artifact).entity)?;
        Ok(artifact)
    }

    /// The collection (sequence) of a version, with the viewer's entity when none was sent.
    pub(crate) fn collection_of(&self, a: &ArtifactRecord) -> CollectionKey {
        CollectionKey {
            entity: a.entity.clone().unwrap_or_else(|| self.entity.clone()),
            project: a.project.clone().unwrap_or_default(),
            name: a.collection.clone().unwrap_or_default(),
        }
    }

    /// The version's index among the committed versions of its collection.
    pub(crate) async fn version_index(&self, a: &ArtifactRecord) -> ServiceResult<Option<usize>> {
        let versions = self.meta.versions(&self.collection_of(a)).await?;
        Ok(versions.iter().position(|v| v.id == a.id))
    }

    /// Resolves `collection:alias` (the alias defaults to `latest`) in a project: first
    /// among the collection's own versions, then among versions linked into a portfolio
    /// of that name.
    pub(crate) async fn resolve(
        &self,
        entity: &str,
        project: &str,
        name: &str,
    ) -> ServiceResult<Option<Membership>> {
        let (collection, alias) = name.rsplit_once(':').unwrap_or((name, "latest"));
        let key = CollectionKey {
            entity: entity.to_owned(),
            project: project.to_owned(),
            name: collection.to_owned(),
        };
        let versions = self.meta.versions(&key).await?;
        let pick = match version_number(alias) {
            Some(n) => versions.get(n).map(|a| (n, a)),
            None => versions
                .iter()
                .enumerate()
                .rev()
                .find(|(_, a)| a.aliases.iter().any(|x| x == alias)),
        };
        if let Some((index, artifact)) = pick {
            return Ok(Some(Membership {
                aliases: artifact.aliases.clone(),
                artifact: artifact.clone(),
                version_index: index,
                collection: key,
                portfolio: false,
            }));
        }
        let mut linked = self.meta.linked(&key).await?;
        let found = match version_number(alias) {
            Some(n) => linked.into_iter().find(|(l, _)| l.version_index == n),
            None if alias == "latest" => linked.pop(),
            None => linked
                .into_iter()
                .rev()
                .find(|(l, _)| l.aliases.iter().any(|x| x == alias)),
        };
        Ok(found.map(|(link, artifact)| Membership {
            aliases: link.aliases,
            artifact,
            version_index: link.version_index,
            collection: key,
            portfolio: true,
        }))
    }

    /// The type of the newest version of `collection`.
    pub(crate) async fn artifact_type(
        &self,
        entity: Option<&str>,
        project: Option<&str>,
        collection: &str,
    ) -> ServiceResult<Option<String>> {
        Ok(self.meta.artifact_type(entity, project, collection).await?)
    }

    pub(crate) async fn put_manifest(&self, id: &str, text: String) -> ServiceResult<()> {
        self.require_artifact(id).await?;
        Ok(self.meta.set_manifest(id, JsonLine::parse(text)).await?)
    }

    /// Keeps a file of a version: its bytes in the version's entity, then its row.
    pub(crate) async fn put_artifact_file(
        &self,
        id: &str,
        path: &str,
        content: impl Into<super::Content>,
    ) -> ServiceResult<()> {
        let artifact = self.require_artifact(id).await?;
        let _putting = self.putting().await;
        let blob = self
            .put_blob(&self.collection_of(&artifact).entity, content.into())
            .await?;
        Ok(self.meta.put_artifact_file(id, path, blob).await?)
    }

    /// A file of a version, or its `wandb_manifest.json`.
    pub(crate) async fn artifact_file(&self, id: &str, path: &str) -> ServiceResult<Option<Bytes>> {
        let Some(artifact) = self.artifact(id).await? else {
            return Ok(None);
        };
        if path == "wandb_manifest.json" {
            return Ok(artifact.manifest.map(|m| Bytes::from(m.raw)));
        }
        match artifact.file(path) {
            Some(blob) => Ok(self.blobs.get(blob).await?),
            None => Ok(None),
        }
    }

    /// Starts a multipart upload of `path` and answers its id.
    pub(crate) async fn start_multipart(
        &self,
        id: &str,
        path: String,
        md5: Option<String>,
        part_md5s: Vec<String>,
    ) -> ServiceResult<String> {
        let upload_id = format!("upload-{}", self.meta.next_id().await?);
        let upload = MultipartUpload {
            path,
            md5,
            part_md5s,
            ..MultipartUpload::default()
        };
        self.meta.start_multipart(id, &upload_id, upload).await?;
        Ok(upload_id)
    }

    /// Keeps one part and answers its ETag (the quoted hex MD5, as S3 does).
    pub(crate) async fn put_part(
        &self,
        id: &str,
        upload_id: &str,
        part: u64,
        bytes: Bytes,
    ) -> ServiceResult<String> {
        let artifact = self.require_artifact(id).await?;
        let unknown = || {
            ServiceError::invalid(format!(
                "no multipart upload `{upload_id}` of artifact `{id}`"
            ))
        };
        let open = self.meta.multipart(id, upload_id).await?;
        if open.is_none_or(|u| u.completed.is_some()) {
            return Err(unknown());
        }
        let etag = format!("\"{}\"", hex_md5(&bytes));
        let _putting = self.putting().await;
        let blob = self
            .blobs
            .put(&self.collection_of(&artifact).entity, bytes)
            .await?;
        if !self.meta.put_part(id, upload_id, part, blob).await? {
            return Err(unknown());
        }
        Ok(etag)
    }

    /// Ends a multipart upload. On completion each part is checked against the MD5
    /// announced for it and the one the client completes with; the file's base64 MD5 is
    /// answered (again, for a client retrying after a lost answer).
    pub(crate) async fn end_multipart(
        &self,
        id: &str,
        upload_id: &str,
        end: MultipartEnd,
    ) -> ServiceResult<Option<String>> {
        let artifact = self.require_artifact(id).await?;
        let upload =
            self.meta.multipart(id, upload_id).await?.ok_or_else(|| {
                ServiceError::invalid(format!("no multipart upload `{upload_id}`"))
            })?;
        if let Some(digest) = upload.completed {
            return Ok(Some(digest));
        }
        let completed = match end {
            MultipartEnd::Abort => {
                self.meta.finish_multipart(id, upload_id, None).await?;
                return Ok(None);
            }
            MultipartEnd::Complete(parts) => parts,
        };
        // The store's ETags: quoted hex MD5s, in any case.
        let etag = |s: &str| s.trim_matches('"').to_ascii_lowercase();
        let completed: Vec<String> = completed.iter().map(|p| etag(p)).collect();
        let announced: Vec<String> = upload.part_md5s.iter().map(|m| etag(m)).collect();
        if completed != announced {
            return Err(ServiceError::invalid(
                "`completedParts` differ from the parts announced",
            ));
        }
        if let Some((extra, _)) = upload
            .parts
            .iter()
            .find(|(n, _)| *n as usize > announced.len())
        {
            return Err(ServiceError::invalid(format!(
                "part {extra} was uploaded but only {} were announced",
                announced.len()
            )));
        }
        let mut bytes = Vec::new();
        for (i, expected) in announced.iter().enumerate() {
            let number = i as u64 + 1;
            let missing = || ServiceError::invalid(format!("part {number} was never uploaded"));
            let blob = upload
                .parts
                .iter()
                .find(|(n, _)| *n == number)
                .map(|(_, b)| b)
                .ok_or_else(missing)?;
            let part = self.blobs.get(blob).await?.ok_or_else(missing)?;
            let got = hex_md5(&part);
            if &got != expected {
                return Err(ServiceError::invalid(format!(
                    "part {number} has MD5 {got}, announced {expected}"
                )));
            }
            bytes.extend_from_slice(&part);
        }
        let digest = STANDARD.encode(md5_of(&bytes));
        if let Some(md5) = upload.md5.as_deref()
            && md5 != digest
        {
            return Err(ServiceError::invalid(format!(
                "the parts put together have MD5 {digest}, the file was announced as {md5}"
            )));
        }
        let _putting = self.putting().await;
        let blob = self
            .blobs
            .put(&self.collection_of(&artifact).entity, Bytes::from(bytes))
            .await?;
        self.meta
            .finish_multipart(id, upload_id, Some((digest.clone(), blob)))
            .await?;
        Ok(Some(digest))
    }

    pub(crate) async fn commit_artifact(&self, id: &str) -> ServiceResult<ArtifactRecord> {
        self.meta
            .commit_artifact(id)
            .await?
            .ok_or_else(|| ServiceError::invalid(format!("no artifact with id `{id}`")))
    }

    /// The versions the run `key` logged, in the order they were created.
    pub(crate) async fn logged_by(
        &self,
        key: &crate::store::RunKey,
    ) -> ServiceResult<Vec<ArtifactRecord>> {
        let all = self.meta.artifacts().await?;
        Ok(all
            .into_iter()
            .filter(|a| {
                let at = self.collection_of(a);
                a.run.as_deref() == Some(key.run.as_str())
                    && at.entity == key.entity
                    && at.project == key.project
            })
            .collect())
    }

    /// The versions `run` used (that the server has), in the order it used them.
    pub(crate) async fn used_by(
        &self,
        run: &crate::store::RunRecord,
    ) -> ServiceResult<Vec<ArtifactRecord>> {
        let mut used = Vec::new();
        for id in &run.used_artifacts {
            if let Some(a) = self.artifact(id).await? {
                used.push(a);
            }
        }
        Ok(used)
    }

    /// Records that a run used a version.
    pub(crate) async fn use_artifact(
        &self,
        id: &str,
        run: Option<crate::store::RunKey>,
    ) -> ServiceResult<()> {
        self.require_artifact(id).await?;
        if let Some(key) = run {
            self.meta.use_artifact(&key, id).await?;
        }
        Ok(())
    }

    /// Links a version into a portfolio: it is there as `latest` and with `aliases`, and
    /// answers its index in the portfolio.
    pub(crate) async fn link_artifact(
        &self,
        id: &str,
        portfolio: &CollectionKey,
        aliases: Vec<String>,
    ) -> ServiceResult<usize> {
        self.require_artifact(id).await?;
        let mut all = vec!["latest".to_owned()];
        all.extend(aliases.into_iter().filter(|a| a != "latest"));
        Ok(self.meta.link_artifact(id, portfolio, &all).await?)
    }
}
