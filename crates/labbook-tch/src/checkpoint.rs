//! Saving a `VarStore` and recording the file in the run.

use std::path::Path;

use labbook_core::Run;
use tch::nn::VarStore;

use crate::error::Result;

/// Saves `store` to `path` (safetensors for a `.safetensors` name, libtorch's format
/// otherwise; the parent directory is created) and records it in `run`: the file is saved
/// with the run now (`files/`, uploaded by `wandb sync`), and the summary gets
/// `checkpoint/file`, `checkpoint/epoch` and `checkpoint/step`.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// let run = labbook_core::Run::disabled();
/// let vs = tch::nn::VarStore::new(tch::Device::Cpu);
/// let path = dir.path().join("ckpt/epoch-3.safetensors");
/// labbook_tch::save_checkpoint(&run, &vs, &path, 3, 1200)?;
/// assert!(path.exists());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn save_checkpoint(
    run: &Run,
    store: &VarStore,
    path: &Path,
    epoch: usize,
    step: u64,
) -> Result<()> {
    write(store, path)?;
    Ok(run.record_checkpoint(path, epoch, step)?)
}

/// Writes `store` to `path`, creating the parent directory.
pub(crate) fn write(store: &VarStore, path: &Path) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(tch::TchError::from)?;
    }
    Ok(store.save(path)?)
}
