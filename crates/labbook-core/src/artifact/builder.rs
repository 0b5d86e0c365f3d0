//! Artifacts: versioned files (model checkpoints, datasets) recorded in the run in W&B's
//! format, so `wandb sync` uploads them with the same manifest and digest the official client
//! computes for the same files.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::wire::artifact::{self, Ids, Spec};
use crate::wire::proto;

#[derive(Clone, Debug, PartialEq)]
enum Source {
    File {
        src: PathBuf,
        path: String,
    },
    Reference {
        uri: String,
        digest: String,
        size: Option<u64>,
        path: String,
    },
}

/// A set of files to version under a name and type, as W&B's `wandb.Artifact`.
///
/// Files are copied (never hard-linked) into the run when it is logged, so changing the
/// originals afterwards changes nothing; large files are hashed while they are copied, in
/// bounded memory.
///
/// ```no_run
/// use labbook_core::artifact::Artifact;
/// # let run = labbook_core::Run::disabled();
/// let mut data = Artifact::new("shapes-train", "dataset")?.description("28x28 synthetic shapes");
/// data.add_dir("data/train", None)?;
/// data.add_reference("s3://bucket/raw.tar", "3q2+7w==", Some(1024), None)?;
/// run.log_artifact(data)?;
/// run.log_model("checkpoints/best.safetensors", "shapes-cnn", ["best"])?;
/// # Ok::<(), labbook_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Artifact {
    name: String,
    kind: String,
    description: String,
    metadata: String,
    aliases: Vec<String>,
    tags: Vec<String>,
    sources: Vec<Source>,
}

fn bad(what: String) -> Error {
    Error::InvalidSetting {
        name: "artifact".into(),
        reason: what,
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// An entry's name inside the artifact, normalised: a relative path with `/` between
/// parts and no `.`/`..` parts. Anything that could point outside the artifact (an
/// absolute path, a `..`) is an error naming it: entry names become paths in the run's
/// staging directory and in every download.
fn entry_name(name: &str) -> Result<String> {
    let refuse = |why: &str| bad(format!("the entry name {name:?} {why}"));
    if name.contains('\0') {
        return Err(refuse("contains a NUL byte"));
    }
    if name.starts_with('/') {
        return Err(refuse("is absolute; entry names are relative paths"));
    }
    let mut parts = Vec::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                return Err(refuse(
                    "contains '..'; entry names stay inside the artifact",
                ));
            }
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return Err(refuse("is empty"));
    }
    Ok(parts.join("/"))
}

impl Artifact {
    /// An empty artifact. The name may hold letters, digits, `-`, `_` and `.`; the type is
    /// e.g. `model` or `dataset`.
    pub fn new(name: impl Into<String>, kind: impl Into<String>) -> Result<Artifact> {
        let (name, kind) = (name.into(), kind.into());
        if !valid_name(&name) {
            return Err(bad(format!(
                "the name {name:?} may only hold letters, digits, '-', '_' and '.' (1 to 128)"
            )));
        }
        if kind.is_empty() || kind.contains('/') {
            return Err(bad(format!(
                "the type {kind:?} must be non-empty and contain no '/'"
            )));
        }
        Ok(Artifact {
            name,
            kind,
            description: String::new(),
            metadata: String::new(),
            aliases: Vec::new(),
            tags: Vec::new(),
            sources: Vec::new(),
        })
    }

    /// What the artifact is.
    pub fn description(mut self, text: impl Into<String>) -> Artifact {
        self.description = text.into();
        self
    }

    /// Metadata from any `Serialize` (stored as JSON).
    pub fn metadata<T: Serialize + ?Sized>(mut self, metadata: &T) -> Artifact {
        let items = crate::value::config::serialize(metadata).items;
        self.metadata = crate::value::Value::Map(items).to_json();
        self
    }

    /// Aliases of this version besides `latest` (e.g. `best`).
    pub fn aliases<S: Into<String>>(mut self, aliases: impl IntoIterator<Item = S>) -> Artifact {
        self.aliases.extend(aliases.into_iter().map(Into::into));
        self
    }

    /// Tags of this version.
    pub fn tags<S: Into<String>>(mut self, tags: impl IntoIterator<Item = S>) -> Artifact {
        self.tags.extend(tags.into_iter().map(Into::into));
        self
    }

    fn check_unique(&self, path: &str) -> Result<()> {
        let taken = self.sources.iter().any(|s| match s {
            Source::File { path: p, .. } | Source::Reference { path: p, .. } => p == path,
        });
        if taken {
            return Err(bad(format!("the artifact already has an entry {path:?}")));
        }
        Ok(())
    }

    /// Adds one file, under `name` inside the artifact (default: its file name).
    pub fn add_file(
        &mut self,
        path: impl AsRef<Path>,
        name: Option<&str>,
    ) -> Result<&mut Artifact> {
        let path = path.as_ref();
        if !path.is_file() {
            return Err(bad(format!("{} is not a file", path.display())));
        }
        let entry = entry_name(&match name {
            Some(n) => n.to_owned(),
            None => path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        })?;
        self.check_unique(&entry)?;
        self.sources.push(Source::File {
            src: path.to_owned(),
            path: entry,
        });
        Ok(self)
    }

    /// Adds every file under `dir`, recursively, with paths relative to it (under `prefix`).
    pub fn add_dir(
        &mut self,
        dir: impl AsRef<Path>,
        prefix: Option<&str>,
    ) -> Result<&mut Artifact> {
        let dir = dir.as_ref();
        if !dir.is_dir() {
            return Err(bad(format!("{} is not a directory", dir.display())));
        }
        if let Some(p) = prefix {
            entry_name(p)?;
        }
        let mut files = Vec::new();
        walk(dir, &mut files).map_err(|e| Error::io("could not read", dir)(e))?;
        files.sort();
        for f in files {
            let rel = f.strip_prefix(dir).unwrap_or(&f);
            let rel = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            let entry = entry_name(&match prefix {
                Some(p) => format!("{p}/{rel}"),
                None => rel,
            })?;
            self.check_unique(&entry)?;
            self.sources.push(Source::File {
                src: f,
                path: entry,
            });
        }
        Ok(self)
    }

    /// Adds a reference: a URI with its digest (and size), tracked but not uploaded.
    pub fn add_reference(
        &mut self,
        uri: &str,
        digest: &str,
        size: Option<u64>,
        name: Option<&str>,
    ) -> Result<&mut Artifact> {
        if uri.is_empty() || digest.is_empty() {
            return Err(bad("a reference needs a URI and a digest".into()));
        }
        let entry = entry_name(
            &name
                .map(str::to_owned)
                .unwrap_or_else(|| uri.rsplit('/').next().unwrap_or(uri).to_owned()),
        )?;
        self.check_unique(&entry)?;
        self.sources.push(Source::Reference {
            uri: uri.to_owned(),
            digest: digest.to_owned(),
            size,
            path: entry,
        });
        Ok(self)
    }

    /// The entries' paths inside the artifact.
    pub fn paths(&self) -> Vec<&str> {
        self.sources
            .iter()
            .map(|s| match s {
                Source::File { path, .. } | Source::Reference { path, .. } => path.as_str(),
            })
            .collect()
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.sources.is_empty() {
            return Err(bad(format!("the artifact {:?} has no files", self.name)));
        }
        for s in &self.sources {
            if let Source::File { src, .. } = s
                && !src.is_file()
            {
                return Err(bad(format!("{} no longer exists", src.display())));
            }
        }
        Ok(())
    }

    /// Copies the files into the run (`<run dir>/artifacts/<client id>/...`) now, so
    /// that what is logged is what the files hold at this call, whatever happens to them
    /// next. The copy is a reflink where the filesystem can clone, else a kernel-side copy;
    /// hashing, the slow part, is left to [`Snapshot::record`].
    pub(crate) fn snapshot(self, run_dir: &Path) -> Result<Snapshot> {
        let ids = Ids::new();
        let private = ids.private_dir(run_dir);
        let mut entries = Vec::with_capacity(self.sources.len());
        for s in self.sources {
            match s {
                Source::File { src, path } => {
                    let local = private.join(&path);
                    let size = artifact::copy_file(&src, &local).map_err(bad)?;
                    entries.push(Staged::File { path, local, size });
                }
                Source::Reference {
                    uri,
                    digest,
                    size,
                    path,
                } => entries.push(Staged::Reference {
                    uri,
                    digest,
                    size,
                    path,
                }),
            }
        }
        let mut aliases = vec!["latest".to_owned()];
        aliases.extend(self.aliases.into_iter().filter(|a| a != "latest"));
        Ok(Snapshot {
            spec: Spec {
                kind: self.kind,
                name: self.name,
                aliases,
                description: self.description,
                metadata: self.metadata,
                tags: self.tags,
            },
            ids,
            entries,
        })
    }
}

/// An artifact whose files are copied into the run, waiting to be hashed.
pub(crate) struct Snapshot {
    spec: Spec,
    ids: Ids,
    entries: Vec<Staged>,
}

enum Staged {
    File {
        path: String,
        local: PathBuf,
        size: u64,
    },
    Reference {
        uri: String,
        digest: String,
        size: Option<u64>,
        path: String,
    },
}

impl Snapshot {
    /// The client id the version is logged with (links refer to it).
    pub(crate) fn client_id(&self) -> &str {
        &self.ids.client_id
    }

    /// Hashes the private copies (in bounded memory) and returns the artifact's record.
    pub(crate) fn record(
        self,
        run_id: &str,
        project: &str,
    ) -> std::result::Result<proto::ArtifactRecord, String> {
        let mut contents = Vec::with_capacity(self.entries.len());
        for e in self.entries {
            contents.push(match e {
                Staged::File { path, local, size } => {
                    let (digest, hashed) = artifact::hash_file(&local)?;
                    if hashed != size {
                        return Err(format!(
                            "the copy of {path} changed before it was hashed ({size} then {hashed} bytes)"
                        ));
                    }
                    proto::ArtifactManifestEntry {
                        path,
                        digest,
                        size: size as i64,
                        local_path: local.to_string_lossy().into_owned(),
                        ..Default::default()
                    }
                }
                Staged::Reference {
                    uri,
                    digest,
                    size,
                    path,
                } => proto::ArtifactManifestEntry {
                    path,
                    digest,
                    r#ref: uri,
                    size: size.map_or(0, |s| s as i64),
                    ..Default::default()
                },
            });
        }
        Ok(artifact::record(run_id, project, self.spec, contents, self.ids).record)
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let t = e.file_type()?;
        if t.is_dir() {
            walk(&e.path(), out)?;
        } else if t.is_file() {
            out.push(e.path());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_names_missing_files_and_duplicates_are_refused() {
        assert!(Artifact::new("a b", "model").is_err());
        assert!(Artifact::new("ok", "").is_err());
        let mut a = Artifact::new("ok", "dataset").unwrap();
        assert!(
            a.add_file("/nonexistent/file", None)
                .unwrap_err()
                .to_string()
                .contains("is not a file")
        );
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("x.txt"), "x").unwrap();
        a.add_file(d.path().join("x.txt"), None).unwrap();
        assert!(
            a.add_file(d.path().join("x.txt"), None)
                .unwrap_err()
                .to_string()
                .contains("already has an entry")
        );
        assert!(Artifact::new("empty", "model").unwrap().validate().is_err());
    }

    #[test]
    fn entry_names_cannot_leave_the_artifact() {
        // Failed before: an absolute name overwrote the named file when the run staged it.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("w.bin");
        std::fs::write(&file, b"w").unwrap();
        let sub = dir.path().join("d");
        std::fs::create_dir(&sub).unwrap();
        std::fs::write(sub.join("x"), b"x").unwrap();
        let mut a = Artifact::new("a", "model").unwrap();
        for name in ["/home/u/.bashrc", "../x", "a/../../x", "", "./", "a\0b"] {
            let e = a.add_file(&file, Some(name)).unwrap_err().to_string();
            assert!(e.contains("entry name"), "{name:?}: {e}");
        }
        for prefix in ["../../..", "/abs", "ok/../.."] {
            let e = a.add_dir(&sub, Some(prefix)).unwrap_err().to_string();
            assert!(e.contains("entry name"), "{prefix:?}: {e}");
        }
        let e = a
            .add_reference("s3://b/k", "abc==", None, Some("/etc/passwd"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("entry name"), "{e}");
        assert!(a.paths().is_empty(), "nothing was added: {:?}", a.paths());
        // Harmless spellings are normalised.
        a.add_file(&file, Some("./models//w.bin")).unwrap();
        a.add_dir(&sub, Some("data/")).unwrap();
        assert_eq!(a.paths(), ["models/w.bin", "data/x"]);
    }

    #[test]
    fn directories_are_added_recursively_and_staged_by_copy_with_w_and_b_digests() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("data");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::write(src.join("data123.txt"), "data123").unwrap();
        std::fs::write(src.join("sub/b.bin"), [1u8, 2, 3]).unwrap();
        let mut a = Artifact::new("ds", "dataset").unwrap().aliases(["v-test"]);
        a.add_dir(&src, Some("train")).unwrap();
        assert_eq!(a.paths(), vec!["train/data123.txt", "train/sub/b.bin"]);
        let run_dir = d.path().join("run");
        let r = a.snapshot(&run_dir).unwrap().record("abc", "p").unwrap();
        let m = r.manifest.unwrap();
        // The protocol's example: `data123` -> HK4CJ8rCl5qXNfB/L4kWMw==.
        assert_eq!(m.contents[0].digest, "HK4CJ8rCl5qXNfB/L4kWMw==");
        assert_eq!(m.contents[0].size, 7);
        let staged = std::path::Path::new(&m.contents[0].local_path);
        assert!(staged.starts_with(run_dir.join("artifacts")));
        std::fs::write(src.join("data123.txt"), "changed").unwrap();
        assert_eq!(
            std::fs::read(staged).unwrap(),
            b"data123",
            "a copy, not a link"
        );
        assert_eq!(r.aliases, vec!["latest", "v-test"]);
        assert!(r.finalize && r.digest.len() == 32);
    }

    #[test]
    fn a_directory_that_changed_since_it_was_added_is_an_error_naming_the_file() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("data");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join("a.txt"), "a").unwrap();
        std::fs::write(src.join("b.txt"), "b").unwrap();
        let mut a = Artifact::new("ds", "dataset").unwrap();
        a.add_dir(&src, None).unwrap();
        std::fs::remove_file(src.join("b.txt")).unwrap();
        let e = a.validate().unwrap_err().to_string();
        assert!(e.contains("b.txt") && e.contains("no longer exists"), "{e}");
        let e = a.snapshot(&d.path().join("run")).err().unwrap().to_string();
        assert!(e.contains("b.txt"), "{e}");
    }

    #[test]
    fn a_single_data_txt_gives_the_protocols_artifact_digest() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("data.txt"), "data123").unwrap();
        let mut a = Artifact::new("x", "dataset").unwrap();
        a.add_file(d.path().join("data.txt"), None).unwrap();
        let r = a
            .snapshot(&d.path().join("run"))
            .unwrap()
            .record("abc", "p")
            .unwrap();
        assert_eq!(r.digest, "5275007a21a3764205d74eba708543cf");
    }
}
