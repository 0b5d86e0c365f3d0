//! Running the `labbook` binary and finding runs, for the CLI's integration tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `labbook ARGS` in `cwd`, isolated from the caller's `WANDB_DIR`.
pub(crate) fn labbook(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_labbook"))
        .args(args)
        .current_dir(cwd)
        .env_remove("WANDB_DIR")
        .output()
        .unwrap()
}

/// The stdout of a command that must have succeeded.
pub(crate) fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// The first offline run directory under `<root>/wandb` and its `.wandb` log.
pub(crate) fn first_run(root: &Path) -> (PathBuf, PathBuf) {
    let dir = std::fs::read_dir(root.join("wandb"))
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("offline-run-"))
        .unwrap()
        .path();
    let log = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .find(|e| e.path().extension().is_some_and(|x| x == "wandb"))
        .unwrap()
        .path();
    (dir, log)
}
