//! W&B's artifacts as the log records them: `ArtifactRecord`s with their manifests and
//! digests (protocol §2.3, §4, §5.5), and the `run_table` artifact the official client
//! records for every logged table.
//!
//! Each entry's bytes are copied into a private directory of the run
//! (`<run dir>/artifacts/<client id>/<entry path>`), which `local_path` points at, so the
//! uploader never reads (or deletes) anything else.

use std::path::Path;

use crate::proto;

/// The length of `client_id` and `sequence_client_id`, as the official client makes them.
const CLIENT_ID_LEN: usize = 128;

/// One file of an artifact: its path inside the artifact and its bytes.
#[derive(Debug)]
pub struct Entry {
    /// The path inside the artifact.
    pub path: String,
    /// The file's bytes.
    pub bytes: Vec<u8>,
}

/// A committed artifact as recorded: the record and the ids the history value refers to.
#[derive(Debug)]
pub struct Recorded {
    /// The record to append to the log.
    pub record: proto::ArtifactRecord,
    /// The version's client id.
    pub client_id: String,
    /// The id of the artifact's sequence, as the client made it.
    pub sequence_client_id: String,
}

/// Builds the `run_table` artifact `run-<run_id>-<key>` holding `entries`, writing the
/// private copies under `run_dir`.
pub fn run_table(
    run_dir: &Path,
    run_id: &str,
    project: &str,
    key: &str,
    entries: Vec<Entry>,
) -> Result<Recorded, String> {
    let ids = Ids::new();
    let private = ids.private_dir(run_dir);
    let mut contents = Vec::with_capacity(entries.len());
    for e in entries {
        let local = private.join(&e.path);
        if let Some(parent) = local.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|err| format!("could not create {}: {err}", parent.display()))?;
        }
        std::fs::write(&local, &e.bytes)
            .map_err(|err| format!("could not write {}: {err}", local.display()))?;
        contents.push(proto::ArtifactManifestEntry {
            digest: b64_md5(&e.bytes),
            size: e.bytes.len() as i64,
            local_path: local.to_string_lossy().into_owned(),
            path: e.path,
            ..Default::default()
        });
    }
    let spec = Spec {
        kind: "run_table".into(),
        name: artifact_name(run_id, key),
        aliases: vec!["latest".to_owned()],
        ..Spec::default()
    };
    Ok(record(run_id, project, spec, contents, ids))
}

/// The random ids of one artifact version, as the official client makes them.
#[derive(Debug)]
pub struct Ids {
    /// The version's id, 128 characters of `[a-z0-9]`.
    pub client_id: String,
    /// The sequence's id, the same shape.
    pub sequence_client_id: String,
}

impl Default for Ids {
    fn default() -> Ids {
        Ids::new()
    }
}

impl Ids {
    /// Fresh random ids.
    ///
    /// ```
    /// let ids = labbook_wire::artifact::Ids::new();
    /// assert_eq!(ids.client_id.len(), 128);
    /// assert_ne!(ids.client_id, ids.sequence_client_id);
    /// ```
    pub fn new() -> Ids {
        Ids {
            client_id: random_base36(CLIENT_ID_LEN),
            sequence_client_id: random_base36(CLIENT_ID_LEN),
        }
    }

    /// Where this version's private copies live: `<run dir>/artifacts/<client id>/`.
    pub fn private_dir(&self, run_dir: &Path) -> std::path::PathBuf {
        run_dir.join("artifacts").join(&self.client_id)
    }
}

/// What describes an artifact besides its files.
#[derive(Debug, Default)]
pub struct Spec {
    /// Its type (`dataset`, `model`, `run_table`, ...).
    pub kind: String,
    /// Its name, without version or alias.
    pub name: String,
    /// Aliases of this version (`latest`, `best`, ...).
    pub aliases: Vec<String>,
    /// Free text.
    pub description: String,
    /// Metadata as a JSON object's text (empty for none).
    pub metadata: String,
    /// Tags of this version.
    pub tags: Vec<String>,
}

/// The `ArtifactRecord` of a version holding `contents`; its digest is computed here.
pub fn record(
    run_id: &str,
    project: &str,
    spec: Spec,
    mut contents: Vec<proto::ArtifactManifestEntry>,
    ids: Ids,
) -> Recorded {
    contents.sort_by(|a, b| a.path.cmp(&b.path));
    let digest = manifest_digest(
        contents
            .iter()
            .map(|c| (c.path.as_str(), c.digest.as_str())),
    );
    let record = proto::ArtifactRecord {
        run_id: run_id.to_owned(),
        project: project.to_owned(),
        r#type: spec.kind,
        name: spec.name,
        digest,
        description: spec.description,
        metadata: spec.metadata,
        aliases: spec.aliases,
        tags: spec.tags,
        manifest: Some(proto::ArtifactManifest {
            version: 1,
            storage_policy: "wandb-storage-policy-v1".to_owned(),
            storage_policy_config: vec![proto::StoragePolicyConfigItem {
                key: "storageLayout".to_owned(),
                value_json: "\"V2\"".to_owned(),
            }],
            contents,
            manifest_file_path: String::new(),
        }),
        finalize: true,
        client_id: ids.client_id.clone(),
        sequence_client_id: ids.sequence_client_id.clone(),
        digest_algorithm: "MANIFEST_MD5".to_owned(),
        ..Default::default()
    };
    Recorded {
        record,
        client_id: ids.client_id,
        sequence_client_id: ids.sequence_client_id,
    }
}

/// Copies `src` to `dest` and returns the size: a copy-on-write clone where the
/// filesystem has them (btrfs, XFS), else the kernel's copy (`copy_file_range`), and never
/// a hard link, which would share the bytes with the original. A file whose size changes
/// while it is copied is an error.
pub fn copy_file(src: &Path, dest: &Path) -> Result<u64, String> {
    let before = std::fs::metadata(src)
        .map_err(|e| format!("{} cannot be read: {e}", src.display()))?
        .len();
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("could not create {}: {e}", parent.display()))?;
    }
    let copied = match reflink_copy::reflink(src, dest) {
        Ok(()) => std::fs::metadata(dest).map(|m| m.len()),
        Err(_) => std::fs::copy(src, dest),
    }
    .map_err(|e| {
        format!(
            "could not copy {} to {}: {e}",
            src.display(),
            dest.display()
        )
    })?;
    if copied != before {
        return Err(format!(
            "{} changed while it was being added ({before} then {copied} bytes)",
            src.display()
        ));
    }
    Ok(copied)
}

/// An entry path must stay inside the artifact's directory: relative, no `..`, not empty
/// (a server's file list decides where downloads are written). The error names the entry.
///
/// ```
/// use labbook_wire::artifact::check_entry;
/// assert!(check_entry("weights/model.bin").is_ok());
/// assert!(check_entry("../../etc/passwd").unwrap_err().contains("../../etc/passwd"));
/// ```
pub fn check_entry(entry: &str) -> Result<(), String> {
    let inside = !entry.is_empty()
        && Path::new(entry)
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
    if inside {
        Ok(())
    } else {
        Err(format!(
            "refused the file name {entry:?}, which would be written outside the artifact's directory"
        ))
    }
}

/// The base64 MD5 and size of a file, read in bounded memory.
pub fn hash_file(path: &Path) -> Result<(String, u64), String> {
    use md5::Digest;
    use std::io::Read;
    let mut input =
        std::fs::File::open(path).map_err(|e| format!("could not read {}: {e}", path.display()))?;
    let mut hasher = md5::Md5::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = input
            .read(&mut buf)
            .map_err(|e| format!("could not read {}: {e}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    use base64::Engine;
    Ok((
        base64::engine::general_purpose::STANDARD.encode(hasher.finalize()),
        size,
    ))
}

/// `run-<run_id>-<key>`, with characters an artifact name may not hold (anything but
/// ASCII letters, digits, `-`, `_` and `.`) replaced by `_`.
///
/// ```
/// assert_eq!(labbook_wire::artifact::artifact_name("ab12", "val/preds"), "run-ab12-val_preds");
/// ```
pub fn artifact_name(run_id: &str, key: &str) -> String {
    let key: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("run-{run_id}-{key}")
}

/// The artifact digest: hex MD5 of `"wandb-artifact-manifest-v1\n"` and
/// `"<path>:<entry digest>\n"` per entry, sorted by path.
///
/// ```
/// use labbook_wire::artifact::manifest_digest;
/// let one = manifest_digest([("a.txt", "X1"), ("b.txt", "Y2")].into_iter());
/// assert_eq!(one, manifest_digest([("b.txt", "Y2"), ("a.txt", "X1")].into_iter()));
/// assert_eq!(one.len(), 32);
/// ```
pub fn manifest_digest<'a>(entries: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut sorted: Vec<_> = entries.collect();
    sorted.sort();
    let mut text = String::from("wandb-artifact-manifest-v1\n");
    for (path, digest) in sorted {
        text.push_str(path);
        text.push(':');
        text.push_str(digest);
        text.push('\n');
    }
    md5(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Base64 of the MD5 of `bytes`: a manifest entry's digest.
pub fn b64_md5(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(md5(bytes))
}

/// A random string of `[a-z0-9]`, as the official client's `generate_fast_id`.
pub fn random_base36(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = fastrand::Rng::new();
    (0..len)
        .map(|_| ALPHABET[rng.usize(..ALPHABET.len())] as char)
        .collect()
}

/// MD5, which W&B defines its content digests with (not used for security).
pub fn md5(data: &[u8]) -> [u8; 16] {
    use md5::Digest;
    md5::Md5::digest(data).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: [u8; 16]) -> String {
        b.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn md5_matches_rfc_1321_vectors() {
        assert_eq!(hex(md5(b"")), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(hex(md5(b"abc")), "900150983cd24fb0d6963f7d28e17f72");
        let long =
            b"12345678901234567890123456789012345678901234567890123456789012345678901234567890";
        assert_eq!(hex(md5(long)), "57edf4a22be3c955ac49da2e2107b67a");
    }

    #[test]
    fn digests_are_the_protocol_examples() {
        assert_eq!(b64_md5(b"data123"), "HK4CJ8rCl5qXNfB/L4kWMw==");
        let d = b64_md5(b"data123");
        assert_eq!(
            manifest_digest([("data.txt", d.as_str())].into_iter()),
            "5275007a21a3764205d74eba708543cf"
        );
    }

    #[test]
    fn ids_are_128_base36_chars() {
        let id = random_base36(CLIENT_ID_LEN);
        assert_eq!(id.len(), 128);
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        );
    }

    #[test]
    fn run_table_records_a_finalized_artifact_with_private_copies() {
        let d = tempfile::tempdir().unwrap();
        let r = run_table(
            d.path(),
            "abc",
            "p",
            "tbl",
            vec![Entry {
                path: "tbl.table.json".into(),
                bytes: b"{}".to_vec(),
            }],
        )
        .unwrap();
        assert_eq!(r.record.name, "run-abc-tbl");
        assert_eq!(r.record.r#type, "run_table");
        assert!(r.record.finalize);
        let m = r.record.manifest.unwrap();
        assert_eq!(m.contents[0].size, 2);
        assert_eq!(std::fs::read(&m.contents[0].local_path).unwrap(), b"{}");
        assert!(
            m.contents[0]
                .local_path
                .starts_with(&*d.path().to_string_lossy())
        );
    }
}
