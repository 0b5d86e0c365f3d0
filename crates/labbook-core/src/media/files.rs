//! Media file names and writes: `media/<type>/<key>_<step>_<sha256[:20]>.<ext>`.

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::value::Value;

/// A written media file: its path relative to `files/`, digest and size.
pub(crate) struct Written {
    pub path: String,
    pub sha256: String,
    pub size: u64,
}

impl Written {
    /// The fields every file-backed media value starts with: `_type`, `path`, `sha256`,
    /// `size`.
    pub(crate) fn fields(self, kind: &str) -> Vec<(String, Value)> {
        vec![
            ("_type".to_owned(), Value::from(kind)),
            ("path".to_owned(), Value::from(self.path)),
            ("sha256".to_owned(), Value::from(self.sha256)),
            ("size".to_owned(), Value::from(self.size)),
        ]
    }
}

/// The key as the official client makes it safe for a path: no leading `/`, and `.` or
/// `..` components replaced by `_`. A `/` inside the key makes subdirectories.
pub(crate) fn safe_key(key: &str) -> String {
    key.trim_start_matches('/')
        .split('/')
        .map(|c| {
            if c == "." || c == ".." || c.is_empty() {
                "_"
            } else {
                c
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// Writes `bytes` under `files/<subdir>/<key>_<step>_<sha20>.<ext>`, or finds it there.
pub(crate) fn write_media(
    files_dir: &Path,
    subdir: &str,
    key: &str,
    step: Option<u64>,
    ext: &str,
    bytes: &[u8],
) -> Result<Written, String> {
    let sha256 = sha256_hex(bytes);
    let step = step.map_or_else(|| "summary".to_owned(), |s| s.to_string());
    let rel = format!("{subdir}/{}_{step}_{}.{ext}", safe_key(key), &sha256[..20]);
    let path = files_dir.join(&rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("could not create {}: {e}", parent.display()))?;
    }
    let same = std::fs::metadata(&path).is_ok_and(|m| m.len() == bytes.len() as u64);
    if !same {
        // Through a temporary name: encoders run side by side, and an uploader may read
        // the file the moment its row is written; neither may see it half written.
        crate::store::write_atomically(&path, bytes).map_err(|e| e.to_string())?;
    }
    Ok(Written {
        path: rel,
        sha256,
        size: bytes.len() as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_become_safe_paths() {
        assert_eq!(safe_key("val/img"), "val/img");
        assert_eq!(safe_key("/abs/../x/./y"), "abs/_/x/_/y");
    }

    #[test]
    fn files_are_named_by_key_step_and_digest() {
        let d = tempfile::tempdir().unwrap();
        let w = write_media(d.path(), "media/images", "a/b", Some(7), "png", b"abc").unwrap();
        assert_eq!(
            w.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(w.path, "media/images/a/b_7_ba7816bf8f01cfea4141.png");
        assert_eq!(std::fs::read(d.path().join(&w.path)).unwrap(), b"abc");
        assert_eq!(w.size, 3);
    }
}
