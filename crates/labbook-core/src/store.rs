//! The run directory, laid out as the official client lays it out (protocol §3):
//! `<root>/wandb/offline-run-YYYYMMDD_HHMMSS-<id>/{run-<id>.wandb, files/, logs/, tmp/}`.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Local};

use crate::error::{Error, Result};

/// The paths of one run.
#[derive(Clone, Debug)]
pub(crate) struct RunDir {
    /// `<root>/wandb/offline-run-...`.
    pub dir: PathBuf,
    /// `files/`: everything uploaded is relative to it.
    pub files: PathBuf,
    /// `run-<id>.wandb`.
    pub log: PathBuf,
}

/// The writer's advisory lock on its run directory (flock): held while the run is written
/// and its upload goes on, released by the kernel when the process dies, however it dies.
/// `labbook sync` uses it to tell a run still being written from a finished or crashed one,
/// without looking at file times.
#[derive(Debug)]
pub(crate) struct RunLock(File);

impl Drop for RunLock {
    /// Unlocks before the descriptor closes: an flock belongs to the open file, which a
    /// child process shares from fork until exec (the program spawning a data loader, a
    /// test harness starting Python), and closing our descriptor alone would leave the
    /// run locked, and `labbook sync` refusing it, until that child let go.
    fn drop(&mut self) {
        if let Err(e) = self.0.unlock() {
            tracing::debug!(target: "labbook", "could not unlock the run directory: {e}");
        }
    }
}

/// Whether a process is still writing the run in `run_dir` (it holds the run's lock). A
/// directory that cannot be opened, or a run written without a lock (by the official
/// client), is not live.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// assert!(!labbook_core::run_is_live(dir.path()));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn run_is_live(run_dir: &Path) -> bool {
    let Ok(dir) = File::open(run_dir) else {
        return false;
    };
    matches!(
        dir.try_lock_shared(),
        Err(std::fs::TryLockError::WouldBlock)
    )
}

impl RunDir {
    /// Creates the run directory and its transaction log (never overwriting one), and points
    /// `latest-run` at it.
    pub(crate) fn create(
        root: &Path,
        run_id: &str,
        started: DateTime<Local>,
        online: bool,
    ) -> Result<(RunDir, File, RunLock)> {
        let wandb = if root.join(".wandb").is_dir() {
            root.join(".wandb")
        } else {
            root.join("wandb")
        };
        // As the official client: `run-…` for online runs, which `wandb sync` skips unless
        // asked, `offline-run-…` for the rest.
        let prefix = if online { "run" } else { "offline-run" };
        let name = format!("{prefix}-{}-{run_id}", started.format("%Y%m%d_%H%M%S"));
        let dir = wandb.join(&name);
        let files = dir.join("files");
        for d in [&files, &dir.join("logs"), &dir.join("tmp").join("code")] {
            std::fs::create_dir_all(d)
                .map_err(Error::io("could not create the run directory", d.clone()))?;
        }
        // Locked before the log exists, so a log is never seen unlocked while its writer
        // starts.
        let lock = File::open(&dir)
            .and_then(|d| d.try_lock().map_err(std::io::Error::from).map(|()| d))
            .map_err(Error::io("could not lock the run directory", dir.clone()))?;
        let log = dir.join(format!("run-{run_id}.wandb"));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&log)
            .map_err(Error::io(
                "could not create the transaction log",
                log.clone(),
            ))?;
        if let Err(e) = point_latest_run(&wandb, &name) {
            tracing::warn!(target: "labbook", "could not update {}/latest-run: {e}", wandb.display());
        }
        Ok((RunDir { dir, files, log }, file, RunLock(lock)))
    }
}

/// Replaces the `latest-run` link atomically: a new link under a temporary name, renamed
/// over the old one.
fn point_latest_run(wandb: &Path, name: &str) -> std::io::Result<()> {
    let tmp = wandb.join(format!(".latest-run.{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(name, &tmp)?;
    std::fs::rename(&tmp, wandb.join("latest-run"))
}

/// Writes `bytes` to `path` through a temporary file and a rename, so a reader never sees
/// half a file.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    // Unique per call: two threads may write the same file at once.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp{}-{n}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(Error::io("could not write", tmp.clone()))?;
    std::fs::rename(&tmp, path).map_err(Error::io("could not write", path))
}

/// 8 characters from `[a-z0-9]`, as the official client makes them.
pub(crate) fn random_run_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = fastrand::Rng::new();
    (0..8)
        .map(|_| ALPHABET[rng.usize(..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_matches_the_official_client() {
        let root = tempfile::tempdir().unwrap();
        let t = Local::now();
        let (rd, _f, lock) = RunDir::create(root.path(), "abc12345", t, false).unwrap();
        assert!(run_is_live(&rd.dir), "the writer holds the lock");
        // A copy of the descriptor, as a child has between fork and exec.
        let copy = lock.0.try_clone().unwrap();
        drop(lock);
        assert!(
            !run_is_live(&rd.dir),
            "released with the run, whoever else holds a copy of the descriptor"
        );
        drop(copy);
        let name = rd.dir.file_name().unwrap().to_str().unwrap().to_owned();
        assert!(
            name.starts_with("offline-run-") && name.ends_with("-abc12345"),
            "{name}"
        );
        assert_eq!(name.len(), "offline-run-YYYYMMDD_HHMMSS-abc12345".len());
        assert!(rd.files.is_dir() && rd.dir.join("logs").is_dir());
        assert_eq!(rd.log.file_name().unwrap(), "run-abc12345.wandb");
        let latest = std::fs::read_link(root.path().join("wandb/latest-run")).unwrap();
        assert_eq!(latest, PathBuf::from(&name));
        // A second run moves the link; the first run's log is never reopened.
        let (rd2, _f2, _l2) = RunDir::create(root.path(), "zzz99999", t, false).unwrap();
        let latest = std::fs::read_link(root.path().join("wandb/latest-run")).unwrap();
        assert_eq!(latest, PathBuf::from(rd2.dir.file_name().unwrap()));
        assert!(RunDir::create(root.path(), "abc12345", t, false).is_err());
    }

    #[test]
    fn an_unwritable_root_is_an_error_naming_the_path() {
        let root = tempfile::tempdir().unwrap();
        let blocker = root.path().join("file");
        std::fs::write(&blocker, b"x").unwrap();
        let e = RunDir::create(&blocker, "abc", Local::now(), false).unwrap_err();
        assert!(
            e.to_string().contains("could not create the run directory"),
            "{e}"
        );
        assert!(e.to_string().contains("file"), "{e}");
    }
}
