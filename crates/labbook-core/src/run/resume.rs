//! Resuming a run: where an earlier run with the same id stopped (its last step and
//! runtime), found in the local run directories or, online, on the server.

use std::path::Path;

use crate::error::{Error, Result};
use crate::settings::Resume;
use crate::wire::{ResumeFrom, RunLog};

/// The end of every local run with this id under `root`'s wandb directory.
pub(crate) fn local(root: &Path, id: &str) -> Result<Option<ResumeFrom>> {
    let mut found: Option<ResumeFrom> = None;
    let suffix = format!("-{id}");
    for wandb in [root.join("wandb"), root.join(".wandb")] {
        let Ok(entries) = std::fs::read_dir(&wandb) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let log = e.path().join(format!("run-{id}.wandb"));
            if !name.ends_with(&suffix) || name == "latest-run" || !log.is_file() {
                continue;
            }
            let end = end_of(&log)?;
            found = Some(match found.take() {
                Some(f) => f.max(end),
                None => end,
            });
        }
    }
    Ok(found)
}

/// Where one log stopped: the step after its last row, its largest runtime, its summary.
fn end_of(log: &Path) -> Result<ResumeFrom> {
    Ok(RunLog::default().read(log)?.resume_from())
}

/// Applies the resume policy to what was found.
pub(crate) fn decide(
    resume: Resume,
    found: Option<ResumeFrom>,
    id: &str,
) -> Result<Option<ResumeFrom>> {
    match (resume, found) {
        (Resume::Never, Some(_)) => Err(Error::InvalidSetting {
            name: "resume".into(),
            reason: format!("resume=never, but a run with id {id} exists; pick another id"),
        }),
        (Resume::Must, None) => Err(Error::InvalidSetting {
            name: "resume".into(),
            reason: format!("resume=must, but no run with id {id} was found to continue"),
        }),
        (Resume::Never, None) => Ok(None),
        (_, found) => Ok(found),
    }
}
