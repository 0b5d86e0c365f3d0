//! The commit and remote of the program's git checkout, read from `.git` without spawning
//! `git`.

use std::path::{Path, PathBuf};

/// What a run records about its checkout.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct GitInfo {
    pub commit: String,
    pub remote: String,
    pub root: PathBuf,
}

/// Looks for a checkout at `start` or above it.
pub(crate) fn discover(start: &Path) -> Option<GitInfo> {
    let mut dir = Some(start);
    while let Some(d) = dir {
        let dot_git = d.join(".git");
        if let Some(git_dir) = git_dir_of(&dot_git) {
            let common = common_dir(&git_dir);
            return Some(GitInfo {
                commit: head_commit(&git_dir, &common).unwrap_or_default(),
                remote: origin_url(&common)
                    .map(|u| strip_credentials(&u))
                    .unwrap_or_default(),
                root: d.to_owned(),
            });
        }
        dir = d.parent();
    }
    None
}

/// `.git` is a directory, or (worktrees, submodules) a file saying `gitdir: <path>`.
fn git_dir_of(dot_git: &Path) -> Option<PathBuf> {
    if dot_git.is_dir() {
        return Some(dot_git.to_owned());
    }
    let text = std::fs::read_to_string(dot_git).ok()?;
    let target = text.strip_prefix("gitdir:")?.trim();
    let base = dot_git.parent()?;
    Some(base.join(target))
}

/// A worktree's refs and config live in the main repository's git dir.
fn common_dir(git_dir: &Path) -> PathBuf {
    match std::fs::read_to_string(git_dir.join("commondir")) {
        Ok(rel) => git_dir.join(rel.trim()),
        Err(_) => git_dir.to_owned(),
    }
}

fn head_commit(git_dir: &Path, common: &Path) -> Option<String> {
    let head = std::fs::read_to_string(git_dir.join("HEAD")).ok()?;
    let head = head.trim();
    let Some(reference) = head.strip_prefix("ref:").map(str::trim) else {
        return is_hash(head).then(|| head.to_owned());
    };
    for dir in [git_dir, common] {
        if let Ok(h) = std::fs::read_to_string(dir.join(reference)) {
            let h = h.trim();
            if is_hash(h) {
                return Some(h.to_owned());
            }
        }
    }
    let packed = std::fs::read_to_string(common.join("packed-refs")).ok()?;
    packed.lines().find_map(|line| {
        let (hash, name) = line.split_once(' ')?;
        (name.trim() == reference && is_hash(hash)).then(|| hash.to_owned())
    })
}

fn is_hash(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The `url` of `[remote "origin"]` in the repository config.
fn origin_url(common: &Path) -> Option<String> {
    let text = std::fs::read_to_string(common.join("config")).ok()?;
    let mut in_origin = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            let section: String = line.chars().filter(|c| !c.is_whitespace()).collect();
            in_origin = section == "[remote\"origin\"]";
            continue;
        }
        if in_origin
            && let Some((k, v)) = line.split_once('=')
            && k.trim() == "url"
        {
            return Some(v.trim().to_owned());
        }
    }
    None
}

/// Removes `user:password@` from URLs so a token in a remote never reaches a run.
fn strip_credentials(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let host_end = rest.find('/').unwrap_or(rest.len());
    match rest[..host_end].rfind('@') {
        Some(at) => format!("{}{}", &url[..scheme_end + 3], &rest[at + 1..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "0123456789abcdef0123456789abcdef01234567";

    fn repo() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let g = d.path().join(".git");
        std::fs::create_dir_all(g.join("refs/heads")).unwrap();
        std::fs::write(g.join("HEAD"), "ref: refs/heads/main\n").unwrap();
        std::fs::write(
            g.join("config"),
            "[core]\n\tbare = false\n[remote \"origin\"]\n\turl = https://user:tok@example.com/a/b.git\n\tfetch = x\n",
        )
        .unwrap();
        d
    }

    #[test]
    fn reads_a_loose_ref_and_strips_credentials_from_the_remote() {
        let d = repo();
        std::fs::write(d.path().join(".git/refs/heads/main"), format!("{HASH}\n")).unwrap();
        let sub = d.path().join("src/deep");
        std::fs::create_dir_all(&sub).unwrap();
        let info = discover(&sub).unwrap();
        assert_eq!(info.commit, HASH);
        assert_eq!(info.remote, "https://example.com/a/b.git");
        assert_eq!(info.root, d.path());
    }

    #[test]
    fn reads_packed_refs_and_detached_heads() {
        let d = repo();
        std::fs::write(
            d.path().join(".git/packed-refs"),
            format!("# pack-refs\n{HASH} refs/heads/main\n"),
        )
        .unwrap();
        assert_eq!(discover(d.path()).unwrap().commit, HASH);
        std::fs::write(d.path().join(".git/HEAD"), format!("{HASH}\n")).unwrap();
        assert_eq!(discover(d.path()).unwrap().commit, HASH);
    }

    #[test]
    fn no_checkout_means_no_info() {
        let d = tempfile::tempdir().unwrap();
        assert!(discover(d.path()).is_none() || discover(d.path()).unwrap().root != d.path());
    }

    #[test]
    fn ssh_remotes_are_kept() {
        assert_eq!(
            strip_credentials("git@github.com:a/b.git"),
            "git@github.com:a/b.git"
        );
        assert_eq!(strip_credentials("ssh://git@host/x"), "ssh://host/x");
    }
}
