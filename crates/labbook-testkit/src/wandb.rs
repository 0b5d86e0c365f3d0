//! The official client: its virtualenv, and `wandb sync` of a run directory into a
//! labbook-server, with the server's offset checks.

use std::path::{Path, PathBuf};

/// The virtualenv with the official client (`wandb==0.31.0`) that `scripts/test.sh` sets
/// up and names in `LABBOOK_WANDB_VENV`; tests that need it are `#[ignore]`d in a plain
/// `cargo test`.
pub fn venv() -> PathBuf {
    PathBuf::from(std::env::var("LABBOOK_WANDB_VENV").expect(
        "LABBOOK_WANDB_VENV must point at a virtualenv with wandb==0.31.0 (scripts/test.sh sets it up)",
    ))
}

/// A labbook-server on 127.0.0.1 that accepts API key `key`.
pub fn start_server(key: &str) -> labbook_server::RunningServer {
    labbook_server::Server::start(labbook_server::ServerConfig::new(key)).unwrap()
}

/// Runs `wandb sync` (from `LABBOOK_WANDB_VENV`) on `run_dir` against a fresh
/// labbook-server and checks it succeeded, broke no protocol rule and made one run; returns
/// the server to inspect.
pub fn wandb_sync(run_dir: &Path) -> labbook_server::RunningServer {
    let key = "sync0123456789abcdefghijklmnopqrstuvwxyz01";
    let server = start_server(key);
    wandb_sync_into(&server, key, run_dir);
    let storage = server.storage();
    assert_offsets_continuous(storage);
    assert_eq!(storage.runs().len(), 1);
    server
}

/// Asserts every file_stream request continued its files at the line counts the server
/// held (no offset gap or overlap).
pub fn assert_offsets_continuous(storage: &labbook_server::Recorder) {
    assert!(
        storage.violations().is_empty(),
        "file_stream offsets: {:?}",
        storage.violations()
    );
}

/// Runs `wandb sync` on `run_dir` into `server` (API key `key`) and checks it succeeded.
pub fn wandb_sync_into(server: &labbook_server::RunningServer, key: &str, run_dir: &Path) {
    let venv = venv();
    let home = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(venv.join("bin/wandb"))
        .arg("sync")
        .arg(run_dir)
        .env("WANDB_BASE_URL", server.base_url())
        .env("WANDB_API_KEY", key)
        .env("HOME", home.path())
        // wandb sync writes its debug logs under ./wandb: not into the source tree.
        .current_dir(home.path())
        .env_remove("WANDB_MODE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
