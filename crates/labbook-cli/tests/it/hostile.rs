//! The CLI on hostile runs and in careless hands: a crafted log that would export outside
//! `--out` or nest its keys ten thousand deep, a run still being written, a failing sync
//! traced at full verbosity, two agents on one sweep.

use std::path::Path;
use std::process::{Command, Output};

use crate::support::{labbook, stdout};
use labbook_core::Value;
use labbook_server::{Faults, Server, ServerConfig};
use labbook_testkit::hand_log as log;
use labbook_wire::proto::{Record, RecordType, RunRecord, SummaryItem, SummaryRecord};
use prost::Message as _;

const KEY: &str = "hstl0123456789abcdefghijklmnopqrstuvwxyz01";

fn run_record(id: &str) -> Vec<u8> {
    Record {
        num: 1,
        record_type: Some(RecordType::Run(RunRecord {
            run_id: id.into(),
            project: "p".into(),
            ..Default::default()
        })),
    }
    .encode_to_vec()
}

fn export_csv(run: &Path, out: &Path, cwd: &Path) -> Output {
    let (run, out) = (run.to_str().unwrap(), out.to_str().unwrap());
    labbook(&["export", run, "--format", "csv", "--out", out], cwd)
}

#[test]
fn export_never_writes_where_a_crafted_run_id_points() {
    // Failed before: the run id read from the log was joined onto --out unchecked.
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("crafted");
    for (i, id) in ["../../escaped", "/abs/escaped", "..", "a/b"]
        .iter()
        .enumerate()
    {
        let dir = run.join(format!("r{i}"));
        log::write_log(
            &dir,
            &[
                run_record(id),
                log::history(2, 0, vec![log::item("x", "1")]),
            ],
        );
        let out = tmp.path().join("deep/out");
        let o = export_csv(&dir, &out, tmp.path());
        assert!(!o.status.success(), "{id:?} was exported");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("not a plain directory name"), "{id:?}: {err}");
    }
    assert!(!tmp.path().join("escaped").exists() && !Path::new("/abs/escaped").exists());
    // A plain id still exports where it should.
    let dir = run.join("ok");
    log::write_log(
        &dir,
        &[
            run_record("plain1"),
            log::history(2, 0, vec![log::item("x", "1")]),
        ],
    );
    let out = tmp.path().join("out");
    stdout(&export_csv(&dir, &out, tmp.path()));
    assert!(out.join("plain1/metrics_history.csv").is_file());
}

#[test]
fn a_log_nesting_its_keys_ten_thousand_deep_is_read_without_overflowing() {
    // Failed before: show, export and sync built the nesting as a tree and overflowed the
    // stack (SIGSEGV).
    let tmp = tempfile::tempdir().unwrap();
    let deep: Vec<String> = (0..10_000).map(|i| format!("k{i}")).collect();
    let deep_refs: Vec<&str> = deep.iter().map(String::as_str).collect();
    let summary = Record {
        num: 3,
        record_type: Some(RecordType::Summary(SummaryRecord {
            update: vec![SummaryItem {
                key: String::new(),
                nested_key: deep.clone(),
                value_json: "1".into(),
            }],
            remove: vec![],
        })),
    }
    .encode_to_vec();
    let dir = tmp.path().join("wandb/offline-run-20260101_000000-deep1");
    log::write_log(
        &dir,
        &[
            run_record("deep1"),
            log::history(
                2,
                0,
                vec![log::nested(&deep_refs, "1"), log::item("x", "2")],
            ),
            summary,
        ],
    );
    for args in [
        vec!["show", dir.to_str().unwrap()],
        vec!["ls"],
        vec![
            "export",
            dir.to_str().unwrap(),
            "--format",
            "json",
            "--out",
            "out",
        ],
    ] {
        let o = labbook(&args, tmp.path());
        assert!(
            o.status.success(),
            "{args:?}: {:?}\n{}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let server = Server::start(ServerConfig::new(KEY)).unwrap();
    let o = sync(
        &[dir.to_str().unwrap()],
        tmp.path(),
        &server.base_url(),
        &[],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let runs = server.storage().runs();
    assert_eq!(
        runs[0].history_values("x").len(),
        1,
        "the row's other values arrive"
    );
}

fn sync(args: &[&str], cwd: &Path, base_url: &str, env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_labbook"));
    c.arg("sync")
        .args(args)
        .current_dir(cwd)
        .env("WANDB_BASE_URL", base_url)
        .env("WANDB_API_KEY", KEY)
        .env_remove("WANDB_DIR")
        .env("HOME", cwd);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn quiet(root: &Path) -> labbook_core::Settings {
    labbook_testkit::project_settings(root, "hostile")
}

#[test]
fn sync_skips_a_run_still_being_written_or_follows_it_to_the_end() {
    // Failed before: the live run was uploaded as crashed (exit code 1), marked synced,
    // and its later rows never went up.
    let tmp = tempfile::tempdir().unwrap();
    let run = labbook_core::init(quiet(tmp.path())).unwrap();
    for i in 0..10u32 {
        run.log([("x", Value::from(i))]).unwrap();
    }
    run.flush().unwrap();
    let dir = run.dir().unwrap().to_owned();
    assert!(labbook_core::run_is_live(&dir));
    let server = Server::start(ServerConfig::new(KEY)).unwrap();
    let o = sync(
        &[dir.to_str().unwrap()],
        tmp.path(),
        &server.base_url(),
        &[],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("still being written"), "{err}");
    assert!(server.storage().runs().is_empty(), "nothing uploaded");
    // --follow uploads it as it grows, to the end.
    let follow = {
        let (dir, cwd, url) = (dir.clone(), tmp.path().to_owned(), server.base_url());
        std::thread::spawn(move || sync(&["--follow", dir.to_str().unwrap()], &cwd, &url, &[]))
    };
    for i in 10..40u32 {
        run.log([("x", Value::from(i))]).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    run.finish().unwrap();
    assert!(!labbook_core::run_is_live(&dir));
    let o = follow.join().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let up = &server.storage().runs()[0];
    assert_eq!(up.history_values("x").len(), 40);
    assert!(up.complete && up.exit_code == Some(0));
    assert!(server.storage().violations().is_empty());
}

#[test]
fn a_failing_sync_traced_at_full_verbosity_shows_neither_key_nor_signature() {
    // Failed before: SyncOptions' Debug showed the key, and upload errors the presigned URL.
    let tmp = tempfile::tempdir().unwrap();
    let run = labbook_core::init(quiet(tmp.path())).unwrap();
    run.log([("x", Value::from(1))]).unwrap();
    let dir = run.dir().unwrap().to_owned();
    run.finish().unwrap();
    let server =
        Server::start(ServerConfig::new(KEY).faults(Faults::new(1).refuse("/upload/", 400)))
            .unwrap();
    let o = sync(
        &[dir.to_str().unwrap()],
        tmp.path(),
        &server.base_url(),
        &[("RUST_LOG", "trace")],
    );
    assert!(!o.status.success(), "the uploads were refused");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        printed.contains("/upload/"),
        "the failing URL is named: {printed}"
    );
    let mut everything = printed.clone();
    for e in labbook_testkit::files_under(&dir) {
        everything.push_str(&String::from_utf8_lossy(&std::fs::read(e).unwrap()));
    }
    assert!(!everything.contains(KEY), "the key was printed or written");
    assert!(
        !everything.contains("X-Amz-Signature"),
        "a signed URL's query was printed: {printed}"
    );
    let opts = labbook_core::online::SyncOptions::new(server.base_url(), KEY);
    assert!(!format!("{opts:?}").contains(KEY));
}
