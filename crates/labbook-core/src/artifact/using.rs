//! `run.use_artifact("entity/project/name:alias")`: finds an artifact version, makes its
//! files available locally with every digest checked, and records the use in the run
//! (lineage). Online it asks the server and downloads, as the official client does;
//! offline it finds the version among the local runs, whose staged copies are its files.

use std::path::{Path, PathBuf};

use serde_json::Value as Json;

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
        Some(o) => download(src, o, &spec),
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
        crate::wire::artifact::check_entry(&e.path)
            .map_err(|e| Error::Artifact(format!("{}: {e}", spec.shown())))?;
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
fn local_version(src: &Sources, spec: &Spec) -> Result<(usize, proto::ArtifactRecord)> {
    // Names are per project: the run's own unless the name says which.
    let project = spec.project.as_deref().unwrap_or(&src.project);
    let mut versions = versions_of(logged_artifacts(&src.wandb_dir)?, &spec.name, project);
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

/// Each local run's artifact records, in the order the runs started (their run records'
/// start times: directory names only tell the second).
fn logged_artifacts(wandb_dir: &Path) -> Result<Vec<Vec<proto::ArtifactRecord>>> {
    let dirs: Vec<PathBuf> = std::fs::read_dir(wandb_dir)
        .map_err(Error::io("could not read", wandb_dir))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                (n.starts_with("offline-run-") || n.starts_with("run-")) && p.is_dir()
            })
        })
        .collect();
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
    Ok(runs.into_iter().map(|(_, artifacts)| artifacts).collect())
}

/// The versions of collection `name` in `project`: the distinct digests in the order they
/// were logged, each with every alias it was given.
fn versions_of(
    runs: Vec<Vec<proto::ArtifactRecord>>,
    name: &str,
    project: &str,
) -> Vec<LocalVersion> {
    let mut versions: Vec<LocalVersion> = Vec::new();
    let mut seen = 0;
    for artifacts in runs {
        for a in artifacts {
            if a.name != name || (!a.project.is_empty() && a.project != project) {
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
    versions
}

/// The metadata (JSON) of the version `spec` names, without its files: for picking up
/// state from an earlier run's versions. `None` when there is no such version.
pub(crate) fn metadata(src: &Sources, spec: &str) -> Result<Option<Json>> {
    let spec = Spec::parse(spec)?;
    let from_server = match &src.online {
        Some(o) => match crate::online::download::metadata(o, &wanted(src, &spec, &spec.shown())) {
            Ok(text) => text,
            Err(e) => {
                tracing::debug!(target: "labbook", "{}: {e}; looking in the local runs", spec.shown());
                None
            }
        },
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

/// What the server is asked for: the spec's entity and project, else the run's.
fn wanted<'a>(
    src: &'a Sources,
    spec: &'a Spec,
    shown: &'a str,
) -> crate::online::download::Wanted<'a> {
    crate::online::download::Wanted {
        entity: spec
            .entity
            .as_deref()
            .or_else(|| (!src.entity.is_empty()).then_some(src.entity.as_str())),
        project: spec.project.as_deref().unwrap_or(&src.project),
        name: &spec.name,
        shown,
    }
}

/// Downloads the version from the server.
fn download(src: &Sources, o: &OnlineSettings, spec: &Spec) -> Result<UsedArtifact> {
    let shown = spec.shown();
    let d = crate::online::download::download(o, &wanted(src, spec, &shown), &src.download_dir)?;
    Ok(UsedArtifact {
        name: spec.name.clone(),
        kind: d.kind,
        version: d.version,
        digest: d.digest,
        dir: d.dir,
        files: d.files,
        id: d.id,
    })
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
