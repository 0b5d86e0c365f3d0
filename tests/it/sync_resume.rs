//! `labbook sync` cut off at every request of an upload and run again: each row, alert,
//! artifact use and registry link reaches the server exactly once, whether the saved upload
//! position was kept, lost, or left by an older release.

use std::path::{Path, PathBuf};

use labbook::media::{BoundingBox, Boxes, Image, plot};
use labbook::online::{RetryPolicy, SyncOptions, position_file, sync_run, synced_marker};
use labbook::{AlertLevel, Value};
use labbook_server::{Faults, Recorder, Server, ServerConfig};
use labbook_testkit::read_run;

const KEY: &str = "sync0123456789abcdefghijklmnopqrstuvwxyz01";

/// A run with everything a resumed sync must not send twice: config updates between rows,
/// boxes with class labels and a chart (config and artifact records), alerts, a model
/// version and its registry link.
fn make_run(root: &Path) -> PathBuf {
    let run = labbook::init(
        labbook_testkit::settings(root)
            .name("resumable")
            .config(&serde_json::json!({"lr": 0.1})),
    )
    .unwrap();
    let model = root.join("model.bin");
    std::fs::write(&model, vec![7u8; 2048]).unwrap();
    for i in 0..40u32 {
        run.log([("loss", Value::from(1.0 / f64::from(i + 1)))])
            .unwrap();
        match i {
            10 | 25 => run
                .update_config(&serde_json::json!({ "phase": i }))
                .unwrap(),
            12 | 27 => run
                .alert(&format!("check {i}"), "loss is flat", AlertLevel::Warn)
                .unwrap(),
            15 => {
                let boxes = Boxes::new(vec![BoundingBox::min_max(0.1, 0.1, 0.5, 0.5).class_id(1)])
                    .class_labels([(1, "cat")]);
                let img = Image::gray(8, 8, vec![100; 64])
                    .unwrap()
                    .boxes("predictions", boxes)
                    .unwrap();
                run.log([("example", Value::from(img))]).unwrap();
            }
            20 => {
                let chart =
                    plot::line_xy(&[0.0, 1.0, 2.0], &[1.0, 0.5, 0.2], "x", "y", "curve").unwrap();
                run.log([("curve", chart)]).unwrap();
            }
            30 => run
                .link_model(&model, "resumable-model", "registry-models", ["staging"])
                .unwrap(),
            _ => {}
        }
    }
    run.set_summary("best", 0.9).unwrap();
    let report = run.finish().unwrap();
    report.log_path()
}

fn opts(base_url: &str) -> SyncOptions {
    let mut o = SyncOptions::new(base_url, KEY);
    // A few rows a request, so an upload has many points to be cut off at.
    o.max_request_bytes = 600;
    o.retry = RetryPolicy {
        max_retries: 0,
        wait_min: std::time::Duration::from_millis(1),
        wait_max: std::time::Duration::from_millis(1),
        timeout: std::time::Duration::from_secs(10),
    };
    o
}

/// Removes what a sync leaves beside the log, so the next attempt starts afresh.
fn forget_uploads(log: &Path) {
    let mut syncstate = log.as_os_str().to_owned();
    syncstate.push(".syncstate");
    for f in [
        position_file(log),
        synced_marker(log),
        PathBuf::from(syncstate),
    ] {
        let _ = std::fs::remove_file(f);
    }
}

/// Successful requests of one GraphQL operation.
fn answered(storage: &Recorder, operation: &str) -> usize {
    storage
        .requests()
        .iter()
        .filter(|r| r.status == 200 && r.operation.as_deref() == Some(operation))
        .count()
}

/// How the position file is left between the cut-off sync and the next one.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Position {
    Kept,
    Torn,
    /// As labbook 0.1.0 wrote it: a record count.
    OldRelease,
}

#[test]
fn a_sync_cut_off_at_any_request_uploads_everything_exactly_once() {
    let tmp = tempfile::tempdir().unwrap();
    let log = make_run(tmp.path());
    let dir = log.parent().unwrap().to_owned();
    let logged = read_run(&dir);
    let want_steps: Vec<String> = logged.rows.iter().map(|r| r["_step"].clone()).collect();

    // A whole upload, to count its requests.
    let clean = Server::start(ServerConfig::new(KEY)).unwrap();
    sync_run(&log, &opts(&clean.base_url()), &mut |_| {}).unwrap();
    let total = clean.storage().requests().len() as u64;
    assert!(total > 10, "{total} requests");
    drop(clean);

    for n in 1..total {
        let position = [Position::Kept, Position::Torn, Position::OldRelease][n as usize % 3];
        forget_uploads(&log);
        let storage: Recorder = Recorder::default();
        let failing = Server::start(
            ServerConfig::new(KEY)
                .storage(storage.clone())
                .faults(Faults::new(1).fail_after(n)),
        )
        .unwrap();
        let cut = sync_run(&log, &opts(&failing.base_url()), &mut |_| {});
        assert!(
            cut.is_err(),
            "request {n} of {total}: the sync was not cut off"
        );
        drop(failing);
        match position {
            Position::Kept => {}
            Position::Torn => {
                if position_file(&log).exists() {
                    std::fs::write(position_file(&log), b"{\"version\":2,\"log_of").unwrap();
                }
            }
            Position::OldRelease => {
                if position_file(&log).exists() {
                    std::fs::write(position_file(&log), br#"{"records":3,"offsets":[1,0,0]}"#)
                        .unwrap();
                }
            }
        }
        let healthy = Server::start(ServerConfig::new(KEY).storage(storage.clone())).unwrap();
        let report = sync_run(&log, &opts(&healthy.base_url()), &mut |_| {})
            .unwrap_or_else(|e| panic!("request {n} of {total} ({position:?}): {e}"));
        let at = format!("cut at request {n} of {total}, position {position:?}");
        assert!(
            storage.violations().is_empty(),
            "{at}: offsets {:?}",
            storage.violations()
        );
        let runs = storage.runs();
        assert_eq!(runs.len(), 1, "{at}");
        let up = &runs[0];
        let steps: Vec<String> = up
            .history
            .iter()
            .map(|l| l.json.as_ref().unwrap()["_step"].to_string())
            .collect();
        assert_eq!(steps, want_steps, "{at}: every row once, in order");
        assert_eq!(report.rows as usize, want_steps.len(), "{at}");
        assert!(up.complete && up.exit_code == Some(0), "{at}");
        assert_eq!(up.summary_json().unwrap()["best"], 0.9, "{at}");
        assert_eq!(up.config.as_ref().unwrap()["phase"]["value"], 25, "{at}");
        // With the position kept, each alert went out once. With it lost, the server is
        // asked: an alert with a row after it on the server is known to be sent; the last
        // alert before the cut, with none after it, may go out again (as a request in
        // flight may).
        let alerts = answered(&storage, "NotifyScriptableRunAlert");
        match position {
            Position::Kept => assert_eq!(alerts, 2, "{at}: alerts"),
            _ => assert!((2..=3).contains(&alerts), "{at}: {alerts} alerts"),
        }
        let linked: usize = storage.artifacts().iter().map(|a| a.links.len()).sum();
        assert_eq!(linked, 1, "{at}: links");
        if position == Position::Kept {
            assert_eq!(answered(&storage, "LinkArtifact"), 1, "{at}: link requests");
        }
        assert!(
            synced_marker(&log).exists() && !position_file(&log).exists(),
            "{at}"
        );
    }
}

/// A sync reads the whole log's config first and sends it with the run. A key the run
/// changed after it started went out with its first value (the run record's config was
/// applied again over the whole log's), and a chart's `_wandb.visualize` entry took the
/// place of the `_wandb` object the run record set; both are now what the log says last.
#[test]
fn a_synced_config_has_the_last_value_of_each_key_and_keeps_the_run_records_wandb_object() {
    let tmp = tempfile::tempdir().unwrap();
    let run = labbook::init(
        labbook_testkit::settings(tmp.path()).config(&serde_json::json!({"lr": 0.1, "bs": 8})),
    )
    .unwrap();
    run.log([("loss", Value::from(1.0))]).unwrap();
    run.update_config(&serde_json::json!({"lr": 0.2})).unwrap();
    let chart = plot::line_xy(&[0.0, 1.0], &[1.0, 0.5], "x", "y", "curve").unwrap();
    run.log([("curve", chart)]).unwrap();
    let log = run.finish().unwrap().log_path();

    let server = Server::start(ServerConfig::new(KEY)).unwrap();
    sync_run(&log, &opts(&server.base_url()), &mut |_| {}).unwrap();
    let runs = server.storage().runs();
    let config = runs[0].config.as_ref().unwrap();
    assert_eq!(config["lr"]["value"], 0.2, "{config}");
    assert_eq!(config["bs"]["value"], 8, "{config}");
    let wandb = &config["_wandb"]["value"];
    assert!(wandb["labbook"].is_object(), "{config}");
    assert!(wandb["visualize"]["curve"].is_object(), "{config}");
}
