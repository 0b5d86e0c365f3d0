//! `run.use_artifact("entity/project/name:alias")`: finds an artifact version, makes its
//! files available locally with every digest checked, and records the use in the run
//! (lineage). Online it asks the server and downloads, as the official client does;
//! offline it finds the version among the local runs, whose staged copies are its files.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde_json::{Value as Json, json};

use crate::error::{Error, Result};
use crate::online::OnlineSettings;
use crate::wire::proto::{self, RecordType};

/// An artifact version ready to use: its files are under [`dir`](UsedArtifact::dir).
///
/// ```no_run
/// # let run = labbook_core::Run::disabled();
/// let data = run.use_artifact("shapes-train:latest")?;
/// let train = std::fs::read(data.path("train.bin"))?;
/// println!("{} {} ({})", data.name(), data.version(), data.digest());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct UsedArtifact {
    name: String,
    kind: String,
    version: String,
    digest: String,
    dir: PathBuf,
    files: Vec<String>,
    id: String,
}

impl UsedArtifact {
    /// The collection name, e.g. `shapes-train`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The type, e.g. `dataset` or `model`.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The version, `v0`, `v1`, ...
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The artifact digest (hex MD5 over the manifest's entries).
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// The directory holding the files, by their paths inside the artifact.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the file `entry` (a path inside the artifact) is.
    pub fn path(&self, entry: &str) -> PathBuf {
        self.dir.join(entry)
    }

    /// The paths inside the artifact of its files (references left out), sorted.
    pub fn files(&self) -> &[String] {
        &self.files
    }

    pub(crate) fn record(&self) -> proto::UseArtifactRecord {
        proto::UseArtifactRecord {
            id: self.id.clone(),
            r#type: self.kind.clone(),
            name: format!("{}:{}", self.name, self.version),
        }
    }
}

/// `[entity/][project/]name[:alias]`, the alias `latest` when none is given.
#[derive(Debug, PartialEq)]
pub(crate) struct Spec {
    pub entity: Option<String>,
    pub project: Option<String>,
    pub name: String,
    pub alias: String,
}

impl Spec {
    pub(crate) fn parse(spec: &str) -> Result<Spec> {
        let bad = |why: &str| Error::Artifact(format!("{spec:?} is not an artifact name: {why}"));
        let (path, alias) = match spec.rsplit_once(':') {
            Some((p, a)) if !a.is_empty() => (p, a.to_owned()),
            Some(_) => return Err(bad("the alias after ':' is empty")),
            None => (spec, "latest".to_owned()),
        };
        let parts: Vec<&str> = path.split('/').collect();
        if parts.iter().any(|p| p.is_empty()) || parts.len() > 3 {
            return Err(bad("expected [entity/][project/]name[:alias]"));
        }
        let name = parts[parts.len() - 1].to_owned();
        let project = (parts.len() >= 2).then(|| parts[parts.len() - 2].to_owned());
        let entity = (parts.len() == 3).then(|| parts[0].to_owned());
        Ok(Spec {
            entity,
            project,
            name,
            alias,
        })
    }

    fn shown(&self) -> String {
        format!("{}:{}", self.name, self.alias)
    }
}

/// Where a run looks for artifacts.
pub(crate) struct Sources {
    /// The runs' directory (`<root>/wandb`), searched offline.
    pub wandb_dir: PathBuf,
    /// Downloads go under `<this>/<name>:<version>/`.
    pub download_dir: PathBuf,
    pub entity: String,
    pub project: String,
    pub online: Option<OnlineSettings>,
    /// Whether the run continues an earlier one (`Settings::resume`).
    pub resumed: bool,
}

/// Resolves `spec` and makes its files available.
pub(crate) fn resolve(src: &Sources, spec: &str) -> Result<UsedArtifact> {
    let spec = Spec::parse(spec)?;
    match &src.online {
        Some(o) => crate::online::on_own_thread(|| download(src, o, &spec)),
        None => local(src, &spec),
    }
}

/// One version of a collection seen in the local logs.
struct LocalVersion {
    record: proto::ArtifactRecord,
    /// When it was last logged (records counted across runs): `latest` is the newest.
    last_logged: usize,
}

/// Finds the version among the artifacts recorded by local runs: versions are the distinct
/// digests of a name in the order the runs logged them, as the server numbers them.
fn local(src: &Sources, spec: &Spec) -> Result<UsedArtifact> {
    let (index, a) = local_version(src, spec)?;
    let mut files = Vec::new();
    let mut dir: Option<PathBuf> = None;
    for e in a.manifest.iter().flat_map(|m| &m.contents) {
        if !e.r#ref.is_empty() {
            continue;
        }
        check_entry(&e.path, &spec.shown())?;
        let local = PathBuf::from(&e.local_path);
        verify(&local, &e.digest, &e.path, &spec.shown())?;
        // The staged copies live under `<run>/artifacts/<client id>/<entry path>`.
        let base = strip_entry(&local, &e.path).ok_or_else(|| {
            Error::Artifact(format!(
                "{}: the staged copy of {} is at an unexpected place ({})",
                spec.shown(),
                e.path,
                local.display()
            ))
        })?;
        dir.get_or_insert(base);
        files.push(e.path.clone());
    }
    files.sort();
    Ok(UsedArtifact {
        name: a.name.clone(),
        kind: a.r#type.clone(),
        version: format!("v{index}"),
        digest: a.digest.clone(),
        dir: dir.unwrap_or_default(),
        files,
        id: String::new(),
    })
}

/// The version `spec` names among the local runs' artifacts, and its index.
#[expect(
    clippy::too_many_lines,
    reason = "the network half of use_artifact moves to online/ (issue 21, item 3, not yet done)"
)]
fn local_version(src: &Sources, spec: &Spec) -> Result<(usize, proto::ArtifactRecord)> {
    let dirs: Vec<PathBuf> = std::fs::read_dir(&src.wandb_dir)
        .map_err(Error::io("could not read", &src.wandb_dir))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                (n.starts_with("offline-run-") || n.starts_with("run-")) && p.is_dir()
            })
        })
        .collect();
    // Each run's artifact records, in the order the runs started (their run records' start
    // times: directory names only tell the second).
    let mut runs: Vec<(f64, Vec<proto::ArtifactRecord>)> = Vec::new();
    for run in dirs {
        let Some(log) = std::fs::read_dir(&run)
            .ok()
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "wandb"))
        else {
            continue;
        };
        let Ok(contents) = crate::wire::read_log(&log) else {
            tracing::warn!(target: "labbook", "skipped {} while looking for artifacts: unreadable", log.display());
            continue;
        };
        let mut start = f64::MAX;
        let mut artifacts = Vec::new();
        for r in contents.records {
            match r.record_type {
                Some(RecordType::Run(run)) if start == f64::MAX => {
                    start = run
                        .start_time
                        .map_or(f64::MAX, |t| t.seconds as f64 + f64::from(t.nanos) / 1e9);
                }
                Some(RecordType::Artifact(a)) => artifacts.push(a),
                _ => {}
            }
        }
        runs.push((start, artifacts));
    }
    runs.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Names are per project: the run's own unless the name says which.
    let project = spec.project.as_deref().unwrap_or(&src.project);
    let mut versions: Vec<LocalVersion> = Vec::new();
    let mut seen = 0;
    for (_, artifacts) in runs {
        for a in artifacts {
            if a.name != spec.name || (!a.project.is_empty() && a.project != project) {
                continue;
            }
            seen += 1;
            match versions.iter_mut().find(|v| v.record.digest == a.digest) {
                // The same content again: the same version, with the new aliases too.
                Some(v) => {
                    v.last_logged = seen;
                    for alias in a.aliases {
                        if !v.record.aliases.contains(&alias) {
                            v.record.aliases.push(alias);
                        }
                    }
                }
                None => versions.push(LocalVersion {
                    record: a,
                    last_logged: seen,
                }),
            }
        }
    }
    let candidates: Vec<(&[String], usize)> = versions
        .iter()
        .map(|v| (v.record.aliases.as_slice(), v.last_logged))
        .collect();
    let index = pick(&candidates, &spec.alias).ok_or_else(|| {
        Error::Artifact(if versions.is_empty() {
            format!(
                "no local run under {} logged an artifact named {:?}",
                src.wandb_dir.display(),
                spec.name
            )
        } else {
            format!(
                "{} has {} local version(s), none with the alias {:?}",
                spec.name,
                versions.len(),
                spec.alias
            )
        })
    })?;
    Ok((index, versions.swap_remove(index).record))
}

/// The metadata (JSON) of the version `spec` names, without its files: for picking up
/// state from an earlier run's versions. `None` when there is no such version.
pub(crate) fn metadata(src: &Sources, spec: &str) -> Result<Option<Json>> {
    let spec = Spec::parse(spec)?;
    let from_server = match &src.online {
        Some(o) => {
            let entity = spec.entity.clone().or_else(|| nonempty(&src.entity));
            let project = spec.project.clone().unwrap_or_else(|| src.project.clone());
            let vars = json!({"entity": entity, "project": project, "name": spec.shown()});
            let answer = crate::online::on_own_thread(|| {
                o.interactive_client()?
                    .graphql("ArtifactMembershipByName", METADATA, vars)
            });
            match answer {
                Ok(data) => data["project"]["artifactCollectionMembership"]["artifact"]["metadata"]
                    .as_str()
                    .map(str::to_owned),
                Err(e) => {
                    tracing::debug!(target: "labbook", "{}: {e}; looking in the local runs", spec.shown());
                    None
                }
            }
        }
        None => None,
    };
    // An earlier part whose upload never finished (the usual reason to resume) has its
    // versions only in the local runs.
    let text = from_server.or_else(|| local_version(src, &spec).ok().map(|(_, a)| a.metadata));
    Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
}

/// The version an alias names: `vN`, or the version carrying the alias that was logged
/// last (every version carries `latest`). `versions`: each one's aliases and when it was
/// last logged.
fn pick(versions: &[(&[String], usize)], alias: &str) -> Option<usize> {
    if let Some(i) = alias
        .strip_prefix('v')
        .and_then(|i| i.parse::<usize>().ok())
    {
        return (i < versions.len()).then_some(i);
    }
    versions
        .iter()
        .enumerate()
        .filter(|(_, (aliases, _))| aliases.iter().any(|x| x == alias))
        .max_by_key(|(_, (_, last))| *last)
        .map(|(i, _)| i)
}

/// An entry path must stay inside the artifact's directory: relative, no `..`, not empty
/// (a server's file list decides where downloads are written).
fn check_entry(entry: &str, shown: &str) -> Result<()> {
    let path = Path::new(entry);
    let inside = !entry.is_empty()
        && path
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
    if inside {
        Ok(())
    } else {
        Err(Error::Artifact(format!(
            "{shown}: refused the file name {entry:?}, which would be written outside the artifact's directory"
        )))
    }
}

/// `/x/artifacts/abc/sub/b.bin` less `sub/b.bin` is `/x/artifacts/abc`.
fn strip_entry(local: &Path, entry: &str) -> Option<PathBuf> {
    let mut base = local.to_path_buf();
    for _ in entry.split('/') {
        if !base.pop() {
            return None;
        }
    }
    (base.join(entry) == local).then_some(base)
}

/// Checks a file's base64 MD5 against the manifest's.
fn verify(path: &Path, digest: &str, entry: &str, shown: &str) -> Result<()> {
    let (got, _) = crate::wire::artifact::hash_file(path)
        .map_err(|e| Error::Artifact(format!("{shown}: {entry}: {e}")))?;
    if got != digest {
        return Err(Error::Artifact(format!(
            "{shown}: {entry} does not match its digest (the manifest says {digest}, the file is {got}); it was changed or corrupted"
        )));
    }
    Ok(())
}

const MEMBERSHIP_BY_NAME: &str = "query ArtifactMembershipByName($entity: String!, $project: String!, $name: String!) { project(name: $project, entityName: $entity) { artifactCollectionMembership(name: $name) { versionIndex aliases { alias } artifactCollection { name project { name entity { name } } } artifact { id digest state artifactType { name } } } } }";
const FETCH_MANIFEST: &str = "query FetchArtifactManifest($id: ID!) { artifact(id: $id) { currentManifest { file { directUrl } } } }";
const FILE_URLS: &str = "query GetArtifactMembershipFileUrls($entity: String!, $project: String!, $collection: String!, $alias: String!, $cursor: String, $perPage: Int) { project(name: $project, entityName: $entity) { artifactCollection(name: $collection) { artifactMembership(aliasName: $alias) { files(after: $cursor, first: $perPage) { pageInfo { endCursor hasNextPage } edges { node { name directUrl } } } } } } }";
const VIEWER: &str = "query Viewer { viewer { id entity } }";
const METADATA: &str = "query ArtifactMembershipByName($entity: String, $project: String!, $name: String!) { project(name: $project, entityName: $entity) { artifactCollectionMembership(name: $name) { artifact { id metadata } } } }";

/// Asks the server for the version and downloads its files (skipping those already
/// downloaded with the right digest), checking each against the manifest.
#[expect(
    clippy::too_many_lines,
    reason = "the network half of use_artifact moves to online/ (issue 21, item 3, not yet done)"
)]
fn download(src: &Sources, o: &OnlineSettings, spec: &Spec) -> Result<UsedArtifact> {
    let client = o.interactive_client()?;
    let entity = match spec.entity.clone().or_else(|| nonempty(&src.entity)) {
        Some(e) => e,
        None => client.graphql("Viewer", VIEWER, json!({}))?["viewer"]["entity"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| Error::Artifact("the server did not say which entity to use".into()))?,
    };
    let project = spec.project.clone().unwrap_or_else(|| src.project.clone());
    let data = client.graphql(
        "ArtifactMembershipByName",
        MEMBERSHIP_BY_NAME,
        json!({"entity": entity, "project": project, "name": spec.shown()}),
    )?;
    let membership = &data["project"]["artifactCollectionMembership"];
    if membership.is_null() {
        return Err(Error::Artifact(format!(
            "{entity}/{project} has no artifact {}",
            spec.shown()
        )));
    }
    let artifact = &membership["artifact"];
    let text = |v: &Json, what: &str| {
        v.as_str().map(str::to_owned).ok_or_else(|| {
            Error::Artifact(format!(
                "the server's answer for {} lacks {what}",
                spec.shown()
            ))
        })
    };
    let id = text(&artifact["id"], "the artifact id")?;
    if artifact["state"].as_str() != Some("COMMITTED") {
        return Err(Error::Artifact(format!(
            "{} is not committed yet (state {})",
            spec.shown(),
            artifact["state"]
        )));
    }
    let version = format!("v{}", membership["versionIndex"].as_u64().unwrap_or(0));
    let collection = &membership["artifactCollection"];
    let (coll_entity, coll_project) = (
        text(&collection["project"]["entity"]["name"], "the entity")?,
        text(&collection["project"]["name"], "the project")?,
    );
    let manifest_url = text(
        &client.graphql("FetchArtifactManifest", FETCH_MANIFEST, json!({"id": id}))?["artifact"]["currentManifest"]
            ["file"]["directUrl"],
        "the manifest URL",
    )?;
    let manifest: Json = client
        .get(&manifest_url, None)?
        .json()
        .map_err(|e| Error::Artifact(format!("{}: the manifest is not JSON: {e}", spec.shown())))?;
    let contents = manifest["contents"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    check_manifest_digest(&contents, artifact["digest"].as_str(), &spec.shown())?;
    let dir = src.download_dir.join(format!("{}:{version}", spec.name));
    let mut files = Vec::new();
    let mut cursor: Option<String> = None;
    let mut cursors = std::collections::HashSet::new();
    loop {
        let vars = json!({"entity": coll_entity, "project": coll_project,
            "collection": spec.name, "alias": version, "cursor": cursor, "perPage": 1000});
        let data = client.graphql("GetArtifactMembershipFileUrls", FILE_URLS, vars)?;
        let page = &data["project"]["artifactCollection"]["artifactMembership"]["files"];
        for edge in page["edges"].as_array().into_iter().flatten() {
            let name = text(&edge["node"]["name"], "a file name")?;
            check_entry(&name, &spec.shown())?;
            let url = text(&edge["node"]["directUrl"], "a download URL")?;
            let entry = contents.get(&name).ok_or_else(|| {
                Error::Artifact(format!("{}: {name} is not in its manifest", spec.shown()))
            })?;
            let digest = entry["digest"].as_str().unwrap_or_default();
            let size = entry["size"].as_u64();
            fetch(&client, &url, &dir, &name, digest, size, &spec.shown())?;
            files.push(name);
        }
        let next = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
        // A server that never ends its pages, or repeats one, is not followed round.
        if page["pageInfo"]["hasNextPage"].as_bool() != Some(true)
            || next.as_ref().is_none_or(|c| !cursors.insert(c.clone()))
        {
            break;
        }
        cursor = next;
    }
    files.sort();
    let missing: Vec<&String> = contents
        .iter()
        .filter(|(path, e)| e.get("ref").is_none() && files.binary_search(path).is_err())
        .map(|(path, _)| path)
        .collect();
    if !missing.is_empty() {
        return Err(Error::Artifact(format!(
            "{}: the server listed no download for {missing:?}, which its manifest holds",
            spec.shown()
        )));
    }
    Ok(UsedArtifact {
        name: spec.name.clone(),
        kind: artifact["artifactType"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        version,
        digest: artifact["digest"].as_str().unwrap_or_default().to_owned(),
        dir,
        files,
        id,
    })
}

/// The version's digest is the MD5 over its manifest's entries: a manifest that does not
/// give the digest the server named for the version (replaced, or for another version) is
/// refused before any file is trusted because of it.
fn check_manifest_digest(
    contents: &serde_json::Map<String, Json>,
    want: Option<&str>,
    shown: &str,
) -> Result<()> {
    let Some(want) = want.filter(|d| !d.is_empty()) else {
        return Err(Error::Artifact(format!(
            "{shown}: the server did not give the version's digest, so its manifest cannot be checked"
        )));
    };
    let mut entries = Vec::with_capacity(contents.len());
    for (path, entry) in contents {
        let Some(digest) = entry["digest"].as_str() else {
            return Err(Error::Artifact(format!(
                "{shown}: the manifest entry {path:?} has no digest"
            )));
        };
        entries.push((path.as_str(), digest));
    }
    let got = crate::wire::artifact::manifest_digest(entries.into_iter());
    if got != want {
        return Err(Error::Artifact(format!(
            "{shown}: the manifest does not match the version (its entries give digest {got}, the version is {want}); it was replaced or corrupted, and nothing was downloaded"
        )));
    }
    Ok(())
}

fn nonempty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

/// Downloads one file into `dir` unless it is there with the right digest, hashing while
/// writing to a temporary file that is renamed into place only when it matches.
fn fetch(
    client: &crate::online::Client,
    url: &str,
    dir: &Path,
    entry: &str,
    digest: &str,
    size: Option<u64>,
    shown: &str,
) -> Result<()> {
    let dest = dir.join(entry);
    if crate::wire::artifact::hash_file(&dest).is_ok_and(|(d, _)| d == digest) {
        return Ok(());
    }
    let parent = dest.parent().unwrap_or(dir);
    std::fs::create_dir_all(parent).map_err(Error::io("could not create", parent))?;
    // A name of this process's own: two processes downloading the same artifact never
    // write into each other's file.
    let tmp = parent.join(format!(
        ".{}.{}-{}.part",
        dest.file_name()
            .map_or_else(Default::default, |n| n.to_string_lossy()),
        std::process::id(),
        crate::wire::artifact::random_base36(8)
    ));
    let mut resp = client.get(url, size)?;
    let mut out = std::fs::File::create(&tmp).map_err(Error::io("could not write", &tmp))?;
    let mut hasher = <md5::Md5 as md5::Digest>::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = resp.read(&mut buf).map_err(|e| Error::Upload {
            url: crate::online::public_url(url),
            reason: format!("the download broke off: {e}"),
        })?;
        if n == 0 {
            break;
        }
        md5::Digest::update(&mut hasher, &buf[..n]);
        out.write_all(&buf[..n])
            .map_err(Error::io("could not write", &tmp))?;
    }
    drop(out);
    use base64::Engine;
    let got = base64::engine::general_purpose::STANDARD.encode(md5::Digest::finalize(hasher));
    if got != digest {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::Artifact(format!(
            "{shown}: the download of {entry} does not match its digest (the manifest says {digest}, the bytes are {got})"
        )));
    }
    std::fs::rename(&tmp, &dest).map_err(Error::io("could not write", &dest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_name_entity_project_and_alias() {
        let s = Spec::parse("ent/proj/shapes:v3").unwrap();
        assert_eq!(
            s,
            Spec {
                entity: Some("ent".into()),
                project: Some("proj".into()),
                name: "shapes".into(),
                alias: "v3".into()
            }
        );
        let s = Spec::parse("shapes").unwrap();
        assert_eq!((s.project, s.alias.as_str()), (None, "latest"));
        assert_eq!(
            Spec::parse("p/shapes:best").unwrap().project.as_deref(),
            Some("p")
        );
        for bad in ["", "a//b", "a/b/c/d", "shapes:"] {
            assert!(Spec::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn aliases_pick_a_version() {
        let (best, plain) = (
            vec!["latest".to_owned(), "best".to_owned()],
            vec!["latest".to_owned()],
        );
        let versions = [(best.as_slice(), 1), (plain.as_slice(), 2)];
        assert_eq!(pick(&versions, "latest"), Some(1));
        assert_eq!(pick(&versions, "best"), Some(0));
        assert_eq!(pick(&versions, "v0"), Some(0));
        assert_eq!(pick(&versions, "v2"), None);
        assert_eq!(pick(&versions, "prod"), None);
        // v0's content logged again after v1: it is the latest again.
        let again = [(best.as_slice(), 3), (plain.as_slice(), 2)];
        assert_eq!(pick(&again, "latest"), Some(0));
    }

    #[test]
    fn the_entry_path_is_stripped_from_a_staged_copy() {
        let base = strip_entry(Path::new("/x/artifacts/abc/sub/b.bin"), "sub/b.bin");
        assert_eq!(base, Some(PathBuf::from("/x/artifacts/abc")));
        assert_eq!(strip_entry(Path::new("/x/y.bin"), "sub/y.bin"), None);
    }
}
