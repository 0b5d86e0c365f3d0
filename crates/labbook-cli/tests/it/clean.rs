//! `labbook clean` and `labbook ls`'s sizes: synced runs go, a run being written and a run
//! not synced stay (the second unless `--force`), and `--dry-run` deletes nothing.

use std::path::{Path, PathBuf};

use crate::support::{labbook, stdout};
use labbook_core::Value;

/// A finished run of `rows` rows; its directory.
fn finished_run(root: &Path, rows: u32, synced: bool) -> PathBuf {
    let run = labbook_core::init(labbook_testkit::settings(root)).unwrap();
    for i in 0..rows {
        run.log([("x", Value::from(i))]).unwrap();
    }
    let dir = run.dir().unwrap().to_owned();
    run.finish().unwrap();
    if synced {
        let log = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "wandb"))
            .unwrap();
        std::fs::write(labbook_core::online::synced_marker(&log), "").unwrap();
    }
    dir
}

/// `./wandb/<run directory name>`, as `clean` names runs under the working directory.
fn shown(dir: &Path) -> String {
    format!("./wandb/{}", dir.file_name().unwrap().to_string_lossy())
}

fn run_clean(root: &Path, args: &[&str]) -> String {
    let mut all = vec!["clean"];
    all.extend_from_slice(args);
    let o = labbook(&all, root);
    format!("{}{}", stdout(&o), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn clean_deletes_synced_runs_keeps_live_and_unsynced_ones_and_dry_run_deletes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let synced = finished_run(root, 3, true);
    let unsynced = finished_run(root, 3, false);
    let live = labbook_core::init(labbook_testkit::settings(root)).unwrap();
    live.log([("x", Value::from(1))]).unwrap();
    live.flush().unwrap();
    let live_dir = live.dir().unwrap().to_owned();

    let out = run_clean(root, &["--older-than", "0s", "--dry-run"]);
    assert!(
        out.contains(&format!("would delete {}", shown(&synced))),
        "{out}"
    );
    assert!(
        out.contains(&format!("kept {}: not synced", shown(&unsynced))),
        "{out}"
    );
    assert!(
        out.contains(&format!("kept {}: still being written", shown(&live_dir))),
        "{out}"
    );
    assert!(synced.exists() && unsynced.exists() && live_dir.exists());

    let out = run_clean(root, &["--older-than", "0s"]);
    assert!(
        out.contains(&format!("deleted {}", shown(&synced))),
        "{out}"
    );
    assert!(!synced.exists() && unsynced.exists() && live_dir.exists());

    let out = run_clean(root, &["--older-than", "0s", "--force"]);
    assert!(
        out.contains(&format!("deleted {}", shown(&unsynced))),
        "{out}"
    );
    assert!(
        !unsynced.exists() && live_dir.exists(),
        "a live run stays even with --force"
    );
    live.finish().unwrap();
    assert!(live_dir.exists());

    // Nothing asked, nothing done.
    let o = labbook(&["clean"], root);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--older-than"));
    let o = labbook(&["clean", "--older-than", "7y"], root);
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown unit"));
}

#[test]
fn a_size_budget_deletes_the_oldest_synced_runs_first_and_ls_shows_sizes() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let oldest = finished_run(root, 50, true);
    std::thread::sleep(std::time::Duration::from_millis(20));
    let newest = finished_run(root, 50, true);

    let listed: serde_json::Value =
        serde_json::from_str(&stdout(&labbook(&["ls", "--json"], root))).unwrap();
    let bytes: Vec<u64> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["bytes"].as_u64().unwrap())
        .collect();
    assert!(bytes.iter().all(|b| *b > 0), "{listed}");
    let table = stdout(&labbook(&["ls"], root));
    assert!(table.contains("size") && table.contains("KiB"), "{table}");

    // A budget that holds one run: the older one goes.
    let budget = bytes.iter().max().unwrap().to_string();
    let out = run_clean(root, &["--max-size", &budget]);
    assert!(
        out.contains(&format!("deleted {}", shown(&oldest))),
        "{out}"
    );
    assert!(!oldest.exists() && newest.exists(), "{out}");
}
