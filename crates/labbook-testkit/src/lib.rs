//! What labbook's tests share, so no test includes another's files: reading a run
//! directory back ([`read_run`]), quiet settings for a test run ([`settings`]), running the
//! test binary again as a child ([`child_command`]), hand-made transaction logs
//! ([`hand_log`]), the official client's virtualenv and `wandb sync` into a labbook-server
//! with its offset checks ([`wandb`]), and what an adapter's training loop must leave
//! in its run ([`loop_run`]).
//!
//! ```no_run
//! let dir = tempfile::tempdir()?;
//! let run = labbook_core::init(labbook_testkit::settings(dir.path()))?;
//! run.log([("loss", 0.5.into())])?;
//! run.finish()?;
//! let data = labbook_testkit::read_run(&labbook_testkit::only_run_dir(dir.path()));
//! assert_eq!(data.column("loss"), ["0.5"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

// Test helpers fail loudly: a panic names what was missing.
#![allow(clippy::missing_panics_doc)]

pub mod hand_log;
pub mod loop_run;
mod run_data;
pub mod wandb;

use std::path::Path;

pub use run_data::{RunData, only_run_dir, read_run};

/// Settings for a test run in `dir` (project `tests`): quiet, no signal handling, no
/// process environment or `.env` files, no system metrics, no console capture and no git
/// diff (tests that want them turn them on).
pub fn settings(dir: &Path) -> labbook_core::Settings {
    project_settings(dir, "tests")
}

/// [`settings`] for project `project`.
pub fn project_settings(dir: &Path, project: &str) -> labbook_core::Settings {
    labbook_core::Settings::new(project)
        .dir(dir)
        .quiet(true)
        .handle_signals(false)
        .system_metrics(false)
        .console(labbook_core::Console::Off)
        .env_vars(Vec::<(String, String)>::new())
        .dotenv_dir(dir)
        // Tests run inside this repository's checkout: a developer's uncommitted changes
        // are no part of a test run (and may hold any text a test looks for).
        .git_diff(false)
}

/// This test binary run again as a child that runs only the test `test` (its full name,
/// e.g. `crash::child_main`), which reads `LABBOOK_CHILD` (set to `what`) and
/// `LABBOOK_CHILD_DIR` (set to `dir`). With `shell_prefix`, the child starts under
/// `sh -c '<prefix> exec ...'`, so the prefix can set limits or ignore signals that the
/// exec keeps. Stdout and stderr are piped.
pub fn child_command(
    test: &str,
    what: &str,
    dir: &Path,
    shell_prefix: Option<&str>,
) -> std::process::Command {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = match shell_prefix {
        Some(prefix) => {
            let mut c = std::process::Command::new("sh");
            c.arg("-c")
                .arg(format!("{prefix} exec \"$0\" \"$@\""))
                .arg(exe);
            c
        }
        None => std::process::Command::new(exe),
    };
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env("LABBOOK_CHILD", what)
        .env("LABBOOK_CHILD_DIR", dir)
        .env("RUST_BACKTRACE", "0")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    cmd
}

/// Copies the directory `from` to `to`, with everything under it (a run directory to sync
/// elsewhere, leaving the original as it was).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        let kind = e.file_type().unwrap();
        if kind.is_dir() {
            copy_dir(&e.path(), &target);
        } else if kind.is_file() {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// Every file below `dir`, at any depth.
pub fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out
}
