//! What a name may be. Entity, project and run names appear in URLs and paths, and file
//! names are paths inside a run: a name that could climb out of a directory, hide a NUL or
//! control character, or run on for pages is refused with a 400 that says why, before
//! anything is stored.

use super::{ServiceError, ServiceResult};
use crate::store::RunKey;

/// The longest entity, project or run name, in bytes.
pub(crate) const MAX_NAME: usize = 128;
/// The longest file name (a path inside the run), in bytes.
pub(crate) const MAX_PATH: usize = 1024;

fn refuse(what: &str, name: &str, why: &str) -> ServiceError {
    let shown: String = name.chars().take(40).collect();
    let more = if name.chars().count() > 40 { "…" } else { "" };
    ServiceError::invalid(format!("{what} {shown:?}{more}: {why}"))
}

fn plain(what: &str, name: &str, max: usize) -> ServiceResult<()> {
    if name.is_empty() {
        return Err(refuse(what, name, "empty"));
    }
    if name.len() > max {
        return Err(refuse(what, name, &format!("longer than {max} bytes")));
    }
    if name.chars().any(char::is_control) {
        return Err(refuse(what, name, "holds a control character"));
    }
    Ok(())
}

/// An entity, project or run name: 1 to 128 bytes, no control characters, no `/` or `\`,
/// not `.` or `..`.
pub(crate) fn check_name(what: &str, name: &str) -> ServiceResult<()> {
    plain(what, name, MAX_NAME)?;
    if name.contains(['/', '\\']) {
        return Err(refuse(what, name, "holds a slash"));
    }
    if name == "." || name == ".." {
        return Err(refuse(what, name, "is a directory name"));
    }
    Ok(())
}

/// A run's key, part by part.
pub(crate) fn check_key(key: &RunKey) -> ServiceResult<()> {
    check_name("entity", &key.entity)?;
    check_name("project", &key.project)?;
    check_name("run", &key.run)
}

/// A file name inside a run (`media/images/x.png`): relative, no `.` or `..` part, no
/// backslash, no control characters, at most 1024 bytes.
pub(crate) fn check_path(path: &str) -> ServiceResult<()> {
    plain("file", path, MAX_PATH)?;
    if path.starts_with('/') || path.contains('\\') {
        return Err(refuse("file", path, "is not a relative path"));
    }
    if path
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
    {
        return Err(refuse("file", path, "has an empty, `.` or `..` part"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_escape_or_hide_are_refused() {
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "a\\b",
            "a\0b",
            "tab\there",
            &"x".repeat(129),
        ] {
            assert!(check_name("run", bad).is_err(), "{bad:?}");
        }
        for good in ["run-1", "my project", "é", ".hidden", &"x".repeat(128)] {
            assert!(check_name("run", good).is_ok(), "{good:?}");
        }
        for bad in [
            "/etc/passwd",
            "../x",
            "a/../b",
            "a//b",
            "a/./b",
            "a\\b",
            "x\0",
            "",
        ] {
            assert!(check_path(bad).is_err(), "{bad:?}");
        }
        for good in ["media/images/x_0.png", "config.yaml", "a.b/c"] {
            assert!(check_path(good).is_ok(), "{good:?}");
        }
    }
}
