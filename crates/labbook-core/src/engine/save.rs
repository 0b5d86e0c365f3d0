//! `run.save`: copying the files a pattern matches into the run's `files/`, under a safe
//! relative name, so the uploader sends them.

use std::path::{Path, PathBuf};

use super::queue::SavePolicy;
use crate::wire::proto;

/// The files `pattern` matches, copied into `files`, as the items of a files record; and
/// what went wrong (an invalid pattern, nothing matched, a file that could not be copied).
pub(crate) fn save_matches(
    pattern: &str,
    policy: SavePolicy,
    files: &Path,
) -> (Vec<proto::FilesItem>, Vec<String>) {
    let cwd = std::env::current_dir().unwrap_or_default();
    let mut warnings = Vec::new();
    let paths = match glob::glob(pattern) {
        Ok(p) => p,
        Err(e) => {
            warnings.push(format!("save pattern {pattern:?} is invalid: {e}"));
            return (Vec::new(), warnings);
        }
    };
    let mut items = Vec::new();
    for path in paths.flatten().filter(|p| p.is_file()) {
        match copy_into_files(&path, &cwd, files) {
            Ok(rel) => items.push(proto::FilesItem {
                path: rel,
                policy: policy.proto(),
                r#type: 0,
            }),
            Err(e) => warnings.push(e),
        }
    }
    if items.is_empty() {
        warnings.push(format!("save pattern {pattern:?} matched no files"));
    }
    (items, warnings)
}

/// Copies a file into `files/` (a copy, so changing the original later changes nothing)
/// and returns its path relative to `files/`: its path below the working directory,
/// else its file name. The name is worked out from the resolved directory (no `..`, no
/// symlink detour), so it always lands inside `files/`, and a file that already is the
/// destination is never copied onto itself.
fn copy_into_files(path: &Path, cwd: &Path, files: &Path) -> Result<String, String> {
    let cant = |e: std::io::Error| format!("could not save {}: {e}", path.display());
    // The directory resolved, the name kept: a saved link (`latest.pt`) keeps its own
    // name, not its target's.
    let abs = match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => {
            let parent = if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            };
            parent.canonicalize().map_err(cant)?.join(name)
        }
        _ => path.canonicalize().map_err(cant)?,
    };
    let files = files.canonicalize().map_err(cant)?;
    if let Ok(rel) = abs.strip_prefix(&files) {
        return Ok(slash_path(rel));
    }
    let below_cwd = cwd
        .canonicalize()
        .ok()
        .and_then(|c| abs.strip_prefix(c).ok().map(Path::to_path_buf));
    let rel: PathBuf = match below_cwd {
        Some(r) if !r.as_os_str().is_empty() => r,
        _ => PathBuf::from(abs.file_name().unwrap_or_default()),
    };
    if rel.as_os_str().is_empty()
        || !rel
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
    {
        return Err(format!(
            "could not save {}: it has no name to keep it under",
            path.display()
        ));
    }
    let dest = files.join(&rel);
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).map_err(cant)?;
    }
    if !same_file(&abs, &dest) {
        std::fs::copy(&abs, &dest).map_err(cant)?;
    }
    Ok(slash_path(&rel))
}

/// Whether two paths are one file (a hard link, or the same path by another route).
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

pub(crate) fn slash_path(p: &Path) -> String {
    p.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}
