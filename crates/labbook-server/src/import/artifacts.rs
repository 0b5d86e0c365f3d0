//! A watched run's artifact versions and uses, stored as `labbook sync` has the server
//! store them: the version created (or the committed one with its digest found), its
//! files, its manifest, the commit; a use recorded against the version it names.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use labbook_wire::proto;

use super::ImportError;
use crate::service::{Content, Service};
use crate::store::{ArtifactDraft, CollectionKey, Created, RunKey};

fn nonempty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

/// Stores version `a`, logged by the run `key` whose directory is `run_dir`, and answers
/// its server id; with `replaying` (an earlier import stored it) only its id is learnt,
/// or its storing finished, and no use is recorded again. Files are read only from inside the run directory (where labbook stages
/// them), never from wherever else a log's path points: a log someone could write must not
/// make the server read its own files.
pub(super) async fn import(
    service: &Service,
    key: &RunKey,
    run_dir: &Path,
    a: &proto::ArtifactRecord,
    replaying: bool,
) -> Result<String, ImportError> {
    let draft = ArtifactDraft {
        entity: Some(key.entity.clone()),
        project: Some(key.project.clone()),
        artifact_type: Some(a.r#type.clone()),
        collection: Some(a.name.clone()),
        run: (!a.user_created).then(|| key.run.clone()),
        digest: Some(a.digest.clone()),
        metadata: nonempty(&a.metadata),
        aliases: a.aliases.clone(),
        ..ArtifactDraft::default()
    };
    let id = match service.create_artifact(draft).await? {
        Created::Existing(found) => found.id,
        Created::New(new) => {
            let entries = a
                .manifest
                .iter()
                .flat_map(|m| &m.contents)
                .filter(|e| e.r#ref.is_empty());
            for entry in entries {
                let path = staged(run_dir, a, entry)?;
                service
                    .put_artifact_file(&new.id, &entry.path, Content::File(path))
                    .await?;
            }
            let manifest = labbook_wire::upload::manifest_json(a, &new.id);
            service.put_manifest(&new.id, manifest).await?;
            if a.finalize {
                service.commit_artifact(&new.id).await?;
            }
            new.id
        }
    };
    if a.use_after_commit && !replaying {
        service.use_artifact(&id, Some(key.clone())).await?;
    }
    Ok(id)
}

/// Where an entry's bytes are: the path the log names if it is inside the run directory,
/// else labbook's staged copy (`artifacts/<client id>/<path>` in the run directory).
fn staged(
    run_dir: &Path,
    a: &proto::ArtifactRecord,
    entry: &proto::ArtifactManifestEntry,
) -> Result<PathBuf, ImportError> {
    let named = Path::new(&entry.local_path);
    let copy = run_dir
        .join("artifacts")
        .join(&a.client_id)
        .join(&entry.path);
    let inside = |path: &Path| super::scan::inside(path, run_dir);
    inside(named).or_else(|| inside(&copy)).ok_or_else(|| {
        ImportError::Read(format!(
            "artifact {}: no copy of {} inside the run directory",
            a.name, entry.path
        ))
    })
}

/// Records a use the log holds. An offline run recorded `name:vN` without the server's
/// id: it is looked up in the run's project; a version the server does not have is
/// skipped with a warning (as `labbook sync` does).
pub(super) async fn record_use(
    service: &Service,
    key: &RunKey,
    u: &proto::UseArtifactRecord,
) -> Result<(), ImportError> {
    let id = if u.id.is_empty() {
        match service.resolve(&key.entity, &key.project, &u.name).await? {
            Some(found) => found.artifact.id,
            None => {
                tracing::warn!(run = %key.run, artifact = %u.name,
                    "the run used an artifact this server does not have: the use is not recorded");
                return Ok(());
            }
        }
    } else {
        u.id.clone()
    };
    service.use_artifact(&id, Some(key.clone())).await?;
    Ok(())
}

/// Applies the run's queued registry links (`run.link_model`): a version logged in this
/// run by the id it was stored under (`ids`, by client id), an existing one by name.
/// Linking again is harmless (a linked version keeps its place), so the whole queue is
/// applied once the run is in.
pub(super) async fn apply_links(
    service: &Service,
    key: &RunKey,
    run_dir: &Path,
    ids: &HashMap<String, String>,
) -> Result<(), ImportError> {
    let dir = run_dir.to_owned();
    let queued = tokio::task::spawn_blocking(move || labbook_wire::links::queued(&dir))
        .await
        .map_err(|e| ImportError::Read(e.to_string()))?;
    if queued.skipped > 0 {
        tracing::warn!(run = %key.run, skipped = queued.skipped, "unreadable queued links skipped");
    }
    for link in queued.links {
        let id = if link.version.is_empty() {
            ids.get(&link.client_id).cloned()
        } else {
            find_version(service, key, &link.version).await?
        };
        let Some(id) = id else {
            tracing::warn!(run = %key.run, portfolio = %link.portfolio,
                "a queued link names a version this server does not have: not linked");
            continue;
        };
        let portfolio = CollectionKey {
            entity: nonempty(&link.entity).unwrap_or_else(|| key.entity.clone()),
            project: link.project,
            name: link.portfolio,
        };
        service.link_artifact(&id, &portfolio, link.aliases).await?;
    }
    Ok(())
}

/// The server's id of `[[entity/]project/]name:alias`, looked up from the run's project.
async fn find_version(
    service: &Service,
    key: &RunKey,
    version: &str,
) -> Result<Option<String>, ImportError> {
    let parts: Vec<&str> = version.split('/').collect();
    let (entity, project, name) = match parts.as_slice() {
        [name] => (key.entity.as_str(), key.project.as_str(), *name),
        [project, name] => (key.entity.as_str(), *project, *name),
        [entity, project, name] => (*entity, *project, *name),
        _ => return Ok(None),
    };
    Ok(service
        .resolve(entity, project, name)
        .await?
        .map(|found| found.artifact.id))
}
