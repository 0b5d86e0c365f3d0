//! Links of logged artifact versions into registry collections (`run.link_model`), queued
//! in the run directory (`labbook-links.jsonl`) and applied by the uploader once the
//! version is on the server: live for an online run, by `labbook sync` for an offline one.
//! (`wandb sync` does not read the queue: the transaction log has no record for links.)

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

pub(crate) use crate::wire::links::Link;

/// A link of version `client_id` to `target`: `collection`, `project/collection` or
/// `entity/project/collection`; the project defaults to W&B's `model-registry`.
pub(crate) fn link_to(client_id: &str, target: &str, aliases: Vec<String>) -> Result<Link> {
    let parts: Vec<&str> = target.split('/').collect();
    let valid = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    if parts.len() > 3 || !parts.iter().all(|p| valid(p)) {
        return Err(Error::Artifact(format!(
            "{target:?} is not a registry collection: expected [entity/][project/]collection of letters, digits, '-', '_' and '.'"
        )));
    }
    let n = parts.len();
    Ok(Link {
        client_id: client_id.to_owned(),
        version: String::new(),
        entity: if n == 3 {
            parts[0].to_owned()
        } else {
            String::new()
        },
        project: if n >= 2 {
            parts[n - 2].to_owned()
        } else {
            "model-registry".to_owned()
        },
        portfolio: parts[n - 1].to_owned(),
        aliases,
    })
}

/// Checks an existing version's name: `name:alias` (`name:v3`, `name:latest`), optionally
/// after `project/` or `entity/project/`.
pub(crate) fn check_version(version: &str) -> Result<()> {
    let (path, alias) = version.rsplit_once(':').unwrap_or((version, ""));
    let parts: Vec<&str> = path.split('/').collect();
    let ok = !alias.is_empty()
        && parts.len() <= 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && !p.contains(char::is_whitespace));
    if ok {
        Ok(())
    } else {
        Err(Error::Artifact(format!(
            "{version:?} is not an artifact version: expected [entity/project/]name:alias, e.g. shapes-cnn:v3 or shapes-cnn:best"
        )))
    }
}

fn file(run_dir: &Path) -> PathBuf {
    run_dir.join(crate::wire::links::FILE)
}

/// Appends a link to the run's queue.
pub(crate) fn queue(run_dir: &Path, link: &Link) -> Result<()> {
    let path = file(run_dir);
    let mut line = serde_json::to_string(link).map_err(|e| Error::Artifact(e.to_string()))?;
    line.push('\n');
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(line.as_bytes()))
        .map_err(Error::io("could not write", &path))
}

/// The run's queued links (none when there is no queue); unreadable lines are skipped
/// with a warning.
#[cfg(feature = "online")]
pub(crate) fn queued(run_dir: &Path) -> Vec<Link> {
    let queued = crate::wire::links::queued(run_dir);
    if queued.skipped > 0 {
        tracing::warn!(target: "labbook", "skipped {} unreadable queued links in {}", queued.skipped, run_dir.display());
    }
    queued.links
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_default_to_the_model_registry() {
        let l = link_to("c", "shapes", vec![]).unwrap();
        assert_eq!(
            (l.entity.as_str(), l.project.as_str(), l.portfolio.as_str()),
            ("", "model-registry", "shapes")
        );
        let l = link_to("c", "ent/reg/shapes", vec!["prod".into()]).unwrap();
        assert_eq!((l.entity.as_str(), l.project.as_str()), ("ent", "reg"));
        for bad in ["", "a//b", "a/b/c/d", "sha pes"] {
            assert!(link_to("c", bad, vec![]).is_err(), "{bad}");
        }
    }

    #[test]
    #[cfg(feature = "online")]
    fn the_queue_keeps_links_in_order() {
        let d = tempfile::tempdir().unwrap();
        assert!(queued(d.path()).is_empty());
        let a = link_to("a", "x", vec![]).unwrap();
        let b = link_to("b", "p/y", vec!["prod".into()]).unwrap();
        queue(d.path(), &a).unwrap();
        queue(d.path(), &b).unwrap();
        assert_eq!(queued(d.path()), [a, b]);
    }
}
