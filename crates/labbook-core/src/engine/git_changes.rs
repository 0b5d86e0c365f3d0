//! The checkout's uncommitted changes: whether it is dirty, and `diff.patch` (what `git
//! diff HEAD --submodule=diff` prints, as the official client saves it), bounded in size.
//! These need the `git` program; without it the run records neither.

use std::io::Read as _;
use std::path::Path;
use std::process::{Command, Stdio};

/// The largest `diff.patch` saved; a larger one is left out with a warning (a cut patch
/// would not apply).
pub(crate) const MAX_DIFF: u64 = 10 << 20;

/// What `git` says of the checkout at `root`.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    /// Whether tracked files differ from HEAD (`None`: git could not tell).
    pub dirty: Option<bool>,
    /// The patch, when there is one within the bound.
    pub diff: Option<Vec<u8>>,
    pub warnings: Vec<String>,
}

fn git(root: &Path) -> Command {
    let mut c = Command::new("git");
    // No index refresh: a run must not take the repository's lock from the user's git.
    c.arg("--no-optional-locks")
        .arg("-C")
        .arg(root)
        .stdin(Stdio::null())
        .stderr(Stdio::null());
    c
}

/// Asks `git` about the checkout at `root`; `want_diff` also reads the patch.
pub(crate) fn changes(root: &Path, want_diff: bool) -> Changes {
    let mut out = Changes::default();
    let Ok(status) = git(root)
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
    else {
        return out;
    };
    if !status.status.success() {
        return out;
    }
    let dirty = !status.stdout.is_empty();
    out.dirty = Some(dirty);
    if !dirty || !want_diff {
        return out;
    }
    let Ok(mut child) = git(root)
        .args(["diff", "HEAD", "--submodule=diff"])
        .stdout(Stdio::piped())
        .spawn()
    else {
        return out;
    };
    let mut patch = Vec::new();
    let read = child
        .stdout
        .take()
        .map(|s| s.take(MAX_DIFF + 1).read_to_end(&mut patch));
    if patch.len() as u64 > MAX_DIFF {
        let _ = child.kill();
        let _ = child.wait();
        out.warnings.push(format!(
            "diff.patch not saved: the uncommitted changes are over {} MiB",
            MAX_DIFF >> 20
        ));
        return out;
    }
    let ok = matches!(read, Some(Ok(_))) && child.wait().is_ok_and(|s| s.success());
    if ok && !patch.is_empty() {
        out.diff = Some(patch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(dir: &Path, cmd: &str) {
        let ok = Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .current_dir(dir)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@t")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@t")
            .status()
            .unwrap()
            .success();
        assert!(ok, "{cmd}");
    }

    #[test]
    fn a_clean_checkout_is_clean_and_a_change_is_its_patch() {
        let d = tempfile::tempdir().unwrap();
        sh(
            d.path(),
            "git init -q && echo a > f.txt && git add f.txt && git commit -qm one",
        );
        let c = changes(d.path(), true);
        assert_eq!((c.dirty, c.diff.is_none()), (Some(false), true));
        sh(d.path(), "echo b >> f.txt && echo new > untracked.txt");
        let c = changes(d.path(), true);
        assert_eq!(c.dirty, Some(true));
        let patch = String::from_utf8(c.diff.unwrap()).unwrap();
        assert!(
            patch.contains("+b") && !patch.contains("untracked"),
            "{patch}"
        );
        assert!(changes(d.path(), false).diff.is_none());
        // Not a checkout: git cannot tell.
        let none = tempfile::tempdir().unwrap();
        assert_eq!(changes(none.path(), true).dirty, None);
    }
}
