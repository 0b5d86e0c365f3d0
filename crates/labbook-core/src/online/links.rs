//! Links of logged artifact versions into registry collections (`run.link_model`), queued
//! in the run directory (`labbook-links.jsonl`) and applied by the uploader once the
//! version is on the server: live for an online run, by `labbook sync` for an offline one.
//! (`wandb sync` does not read the queue: the transaction log has no record for links.)

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The queue file in a run directory.
const FILE: &str = "labbook-links.jsonl";

/// One queued link: the version (by the client id it was logged with) and the collection.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Link {
    /// The version logged in this run, by its client id (empty for an existing version).
    pub client_id: String,
    /// An existing version, `name:alias` or `entity/project/name:alias` (empty for one
    /// logged in this run).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// Empty: the run's entity.
    pub entity: String,
    pub project: String,
    pub portfolio: String,
    pub aliases: Vec<String>,
}

impl Link {
    /// A link of version `client_id` to `target`: `collection`, `project/collection` or
    /// `entity/project/collection`; the project defaults to W&B's `model-registry`.
    pub(crate) fn new(client_id: &str, target: &str, aliases: Vec<String>) -> Result<Link> {
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
    run_dir.join(FILE)
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
    let Ok(text) = std::fs::read_to_string(file(run_dir)) else {
        return Vec::new();
    };
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| match serde_json::from_str(l) {
            Ok(link) => Some(link),
            Err(e) => {
                tracing::warn!(target: "labbook", "skipped a queued link in {}: {e}", run_dir.display());
                None
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_default_to_the_model_registry() {
        let l = Link::new("c", "shapes", vec![]).unwrap();
        assert_eq!(
            (l.entity.as_str(), l.project.as_str(), l.portfolio.as_str()),
            ("", "model-registry", "shapes")
        );
        let l = Link::new("c", "ent/reg/shapes", vec!["prod".into()]).unwrap();
        assert_eq!((l.entity.as_str(), l.project.as_str()), ("ent", "reg"));
        for bad in ["", "a//b", "a/b/c/d", "sha pes"] {
            assert!(Link::new("c", bad, vec![]).is_err(), "{bad}");
        }
    }

    #[test]
    #[cfg(feature = "online")]
    fn the_queue_keeps_links_in_order() {
        let d = tempfile::tempdir().unwrap();
        assert!(queued(d.path()).is_empty());
        let a = Link::new("a", "x", vec![]).unwrap();
        let b = Link::new("b", "p/y", vec!["prod".into()]).unwrap();
        queue(d.path(), &a).unwrap();
        queue(d.path(), &b).unwrap();
        assert_eq!(queued(d.path()), [a, b]);
    }
}
