//! [`FsBlobs`]: bytes in files under one directory, named by their SHA-256.
//!
//! A put is durable before it is answered: the bytes go to a temporary file, which is
//! fsynced, renamed to its final name, and the directory holding it fsynced (so the rename
//! survives a power cut). A name is the hash of the content, so a file already there is
//! the same bytes and is not written again.

use std::fs::{self, File};
use std::io::{Read as _, Write};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;

use super::{BlobId, BlobStore, StoreError, StoreResult};

/// A [`BlobStore`] on the filesystem: `ROOT/<scope as hex>/<2 hex>/<sha256 hex>`.
///
/// ```
/// use labbook_server::store::{BlobStore, FsBlobs};
///
/// let dir = tempfile::tempdir().unwrap();
/// let blobs = FsBlobs::open(dir.path()).unwrap();
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let id = blobs.put("ent", b"abc".to_vec().into()).await.unwrap();
/// assert_eq!(blobs.get(&id).await.unwrap().unwrap(), &b"abc"[..]);
/// # });
/// ```
#[derive(Debug)]
pub struct FsBlobs {
    root: PathBuf,
}

fn io(what: &str, path: &Path, error: std::io::Error) -> StoreError {
    StoreError::Unavailable(format!("cannot {what} {}: {error}", path.display()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The directory of a scope: its name in hex, or for a name too long for a directory
/// name, `s` and the SHA-256 of it (not hex of a short name, which has no `s`).
fn scope_dir(scope: &str) -> String {
    if scope.len() <= 100 {
        hex(scope.as_bytes())
    } else {
        use sha2::Digest as _;
        format!("s{}", hex(&sha2::Sha256::digest(scope.as_bytes())))
    }
}

/// fsyncs a directory, so the names created in it survive a power cut.
fn sync_dir(dir: &Path) -> StoreResult<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io("fsync", dir, e))
}

impl FsBlobs {
    /// Blobs under `root` (created if needed).
    pub fn open(root: &Path) -> StoreResult<FsBlobs> {
        fs::create_dir_all(root.join("tmp")).map_err(|e| io("create", root, e))?;
        Ok(FsBlobs {
            root: root.to_owned(),
        })
    }

    /// Copies every blob to `to` (a new blob directory), each file fsynced and every
    /// directory after its files, and answers how many files and bytes. Temporary files (a
    /// put in progress) are left out: a blob is only named once it is whole.
    pub fn copy_to(&self, to: &Path) -> StoreResult<(u64, u64)> {
        fs::create_dir_all(to.join("tmp")).map_err(|e| io("create", to, e))?;
        let mut copied = (0, 0);
        copy_tree(&self.root, to, true, &mut copied)?;
        sync_dir(&to.join("tmp"))?;
        Ok(copied)
    }

    /// Where the blob `id` lives. The scope (an entity name a client chose) is hex-encoded
    /// and the hash must be 64 hex digits, so no id names a path outside the root.
    fn path(&self, id: &BlobId) -> StoreResult<PathBuf> {
        let sha = id.sha256();
        if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(StoreError::NotFound(format!(
                "`{}` is not a blob id",
                id.as_str()
            )));
        }
        Ok(self
            .root
            .join(scope_dir(id.scope()))
            .join(&sha[..2])
            .join(sha))
    }

    /// A temporary file's name, unique per write: two puts of the same bytes at once must
    /// not share a file.
    fn temporary(&self) -> PathBuf {
        static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.root
            .join("tmp")
            .join(format!("put-{}-{n}", std::process::id()))
    }

    fn put_blocking(&self, scope: &str, bytes: &[u8]) -> StoreResult<BlobId> {
        let id = BlobId::of(scope, bytes);
        if self.path(&id)?.exists() {
            return Ok(id);
        }
        let tmp = self.temporary();
        let written = File::create(&tmp)
            .map_err(|e| io("create", &tmp, e))
            .and_then(|mut file| {
                file.write_all(bytes).map_err(|e| io("write", &tmp, e))?;
                file.sync_all().map_err(|e| io("fsync", &tmp, e))
            });
        self.settle(&tmp, written.map(|()| id))
    }

    /// Copies the file at `source` into a temporary file, hashing as it goes (a megabyte
    /// at a time), then names it by its hash.
    fn put_file_blocking(&self, scope: &str, source: &Path) -> StoreResult<BlobId> {
        use sha2::Digest as _;
        let mut from = File::open(source).map_err(|e| super::unreadable(source, &e))?;
        let tmp = self.temporary();
        let copied = File::create(&tmp)
            .map_err(|e| io("create", &tmp, e))
            .and_then(|mut file| {
                let mut hasher = sha2::Sha256::new();
                let mut buf = vec![0u8; 1 << 20];
                loop {
                    let n = from
                        .read(&mut buf)
                        .map_err(|e| super::unreadable(source, &e))?;
                    if n == 0 {
                        break;
                    }
                    hasher.update(&buf[..n]);
                    file.write_all(&buf[..n])
                        .map_err(|e| io("write", &tmp, e))?;
                }
                file.sync_all().map_err(|e| io("fsync", &tmp, e))?;
                Ok(BlobId::from_sha256(scope, &hex(&hasher.finalize())))
            });
        self.settle(&tmp, copied)
    }

    /// Names the fsynced temporary file `tmp` as blob `written` (or removes it, when the
    /// blob is there already or the write failed: a half-written file, the disk full, must
    /// not keep the space it took), then fsyncs the directories that gained a name.
    fn settle(&self, tmp: &Path, written: StoreResult<BlobId>) -> StoreResult<BlobId> {
        let placed = written.and_then(|id| {
            let path = self.path(&id)?;
            if path.exists() {
                let _ = fs::remove_file(tmp);
                return Ok((id, None));
            }
            let dir = path.parent().unwrap_or(&self.root).to_owned();
            let created = !dir.exists();
            fs::create_dir_all(&dir).map_err(|e| io("create", &dir, e))?;
            fs::rename(tmp, &path).map_err(|e| io("rename", tmp, e))?;
            Ok((id, Some((dir, created))))
        });
        let (id, named) = match placed {
            Ok(placed) => placed,
            Err(error) => {
                let _ = fs::remove_file(tmp);
                return Err(error);
            }
        };
        if let Some((dir, created)) = named {
            sync_dir(&dir)?;
            if created {
                // The new directories' own names live in their parents.
                for parent in dir.ancestors().skip(1).take(2) {
                    sync_dir(parent)?;
                }
            }
        }
        Ok(id)
    }
}

/// Copies `from` into `to`; at the top (`top`), without the temporary directory.
fn copy_tree(from: &Path, to: &Path, top: bool, copied: &mut (u64, u64)) -> StoreResult<()> {
    for entry in fs::read_dir(from).map_err(|e| io("read", from, e))? {
        let entry = entry.map_err(|e| io("read", from, e))?;
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type().map_err(|e| io("read", &source, e))?;
        if kind.is_dir() {
            if top && entry.file_name() == "tmp" {
                continue;
            }
            fs::create_dir_all(&target).map_err(|e| io("create", &target, e))?;
            copy_tree(&source, &target, false, copied)?;
        } else if kind.is_file() {
            let bytes = fs::copy(&source, &target).map_err(|e| io("copy", &source, e))?;
            File::open(&target)
                .and_then(|f| f.sync_all())
                .map_err(|e| io("fsync", &target, e))?;
            copied.0 += 1;
            copied.1 += bytes;
        }
    }
    sync_dir(to)
}

#[async_trait]
impl BlobStore for FsBlobs {
    async fn put(&self, scope: &str, bytes: Bytes) -> StoreResult<BlobId> {
        let store = FsBlobs {
            root: self.root.clone(),
        };
        let scope = scope.to_owned();
        tokio::task::spawn_blocking(move || store.put_blocking(&scope, &bytes))
            .await
            .map_err(|e| StoreError::Unavailable(format!("a blob write stopped: {e}")))?
    }

    async fn put_file(&self, scope: &str, source: &Path) -> StoreResult<BlobId> {
        let store = FsBlobs {
            root: self.root.clone(),
        };
        let (scope, source) = (scope.to_owned(), source.to_owned());
        tokio::task::spawn_blocking(move || store.put_file_blocking(&scope, &source))
            .await
            .map_err(|e| StoreError::Unavailable(format!("a blob write stopped: {e}")))?
    }

    async fn get(&self, id: &BlobId) -> StoreResult<Option<Bytes>> {
        let path = self.path(id)?;
        let read = tokio::task::spawn_blocking(move || match fs::read(&path) {
            Ok(bytes) => Ok(Some(Bytes::from(bytes))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io("read", &path, e)),
        });
        read.await
            .map_err(|e| StoreError::Unavailable(format!("a blob read stopped: {e}")))?
    }

    async fn size(&self, id: &BlobId) -> StoreResult<Option<u64>> {
        match fs::metadata(self.path(id)?) {
            Ok(meta) => Ok(Some(meta.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io("read", &self.path(id)?, e)),
        }
    }

    async fn delete(&self, id: &BlobId) -> StoreResult<()> {
        let path = self.path(id)?;
        let removed = tokio::task::spawn_blocking(move || match fs::remove_file(&path) {
            Ok(()) => sync_dir(path.parent().unwrap_or(&path)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io("remove", &path, e)),
        });
        removed
            .await
            .map_err(|e| StoreError::Unavailable(format!("a blob removal stopped: {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    }

    #[test]
    fn the_same_bytes_are_kept_once_per_scope_and_hostile_scopes_stay_inside() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = FsBlobs::open(dir.path()).unwrap();
        let (a, b, c) = rt().block_on(async {
            let a = blobs
                .put("../../etc", Bytes::from_static(b"x"))
                .await
                .unwrap();
            let b = blobs
                .put("../../etc", Bytes::from_static(b"x"))
                .await
                .unwrap();
            let c = blobs.put("other", Bytes::from_static(b"x")).await.unwrap();
            (a, b, c)
        });
        assert_eq!(a, b);
        assert_ne!(a, c);
        // A scope too long for a directory name is kept under its hash.
        let long = "x".repeat(5_000);
        let d = rt()
            .block_on(blobs.put(&long, Bytes::from_static(b"y")))
            .unwrap();
        assert_eq!(rt().block_on(blobs.get(&d)).unwrap().unwrap(), &b"y"[..]);
        let files: Vec<PathBuf> = walk(dir.path());
        assert_eq!(files.len(), 3, "{files:?}");
        assert!(files.iter().all(|f| f.starts_with(dir.path())));
        let forged = BlobId::from_stored("x/../../../etc/passwd".into());
        assert!(rt().block_on(blobs.get(&forged)).is_err());
        assert_eq!(rt().block_on(blobs.get(&a)).unwrap().unwrap(), &b"x"[..]);
    }

    #[test]
    fn a_file_is_streamed_in_and_named_as_its_bytes_would_be() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = FsBlobs::open(&dir.path().join("blobs")).unwrap();
        let source = dir.path().join("big.bin");
        let content: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        fs::write(&source, &content).unwrap();
        let (streamed, again, put) = rt().block_on(async {
            let streamed = blobs.put_file("ent", &source).await.unwrap();
            let again = blobs.put_file("ent", &source).await.unwrap();
            let put = blobs
                .put("ent", Bytes::from(content.clone()))
                .await
                .unwrap();
            (streamed, again, put)
        });
        assert_eq!(streamed, BlobId::of("ent", &content));
        assert_eq!((&again, &put), (&streamed, &streamed));
        assert_eq!(
            rt().block_on(blobs.get(&streamed)).unwrap().unwrap(),
            content
        );
        assert_eq!(
            walk(&dir.path().join("blobs")).len(),
            1,
            "kept once, no temporary left"
        );
        let missing = rt().block_on(blobs.put_file("ent", &dir.path().join("gone")));
        assert!(
            matches!(missing, Err(StoreError::NotFound(_))),
            "{missing:?}"
        );
    }

    fn walk(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
        out
    }
}
