//! Saving a `VarMap` as safetensors and recording the file in the run.

use std::path::Path;

use candle_nn::VarMap;
use labbook_core::Run;

use crate::error::Result;

/// Saves `varmap` to `path` (safetensors; the parent directory is created) and records it
/// in `run`: the file is saved with the run now (`files/`, uploaded by `wandb sync`), and
/// the summary gets `checkpoint/file`, `checkpoint/epoch` and `checkpoint/step`.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// let run = labbook_core::Run::disabled();
/// let varmap = candle_nn::VarMap::new();
/// let path = dir.path().join("ckpt/epoch-3.safetensors");
/// labbook_candle::save_checkpoint(&run, &varmap, &path, 3, 1200)?;
/// assert!(path.exists());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn save_checkpoint(
    run: &Run,
    varmap: &VarMap,
    path: &Path,
    epoch: usize,
    step: u64,
) -> Result<()> {
    write(varmap, path)?;
    Ok(run.record_checkpoint(path, epoch, step)?)
}

/// Writes `varmap` to `path` as safetensors, creating the parent directory.
pub(crate) fn write(varmap: &VarMap, path: &Path) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| {
            candle_core::Error::Msg(format!("cannot create {}: {e}", parent.display()))
        })?;
    }
    Ok(varmap.save(path)?)
}
