//! The official client (wandb 0.31.0) runs online against the server: `init` -> `log`
//! (scalars, an image, a table) -> summary -> config update -> alert -> `finish`, and the
//! server must hold exactly what was logged, with no offset violations. The first run goes
//! into a SQLite data directory, as `labbook serve` keeps it, and is read back after a
//! restart; the stop-button run into memory stores.
//!
//! Needs the virtualenv that `scripts/test.sh` sets up (`LABBOOK_WANDB_VENV`).

use std::path::PathBuf;
use std::process::Command;

use labbook_server::{Server, ServerConfig};
use serde_json::json;

const KEY: &str = "labbook0123456789abcdefghijklmnopqrstuvwxyz";

#[test]
#[ignore = "needs the wandb 0.31.0 virtualenv; scripts/test.sh runs it"]
fn official_client_online_run_is_stored_exactly() {
    let venv = labbook_testkit::wandb::venv();
    let data = tempfile::tempdir().unwrap();
    let open = || {
        let meta = std::sync::Arc::new(
            labbook_server::store::SqliteStore::open(&data.path().join("labbook.sqlite")).unwrap(),
        );
        let blobs = std::sync::Arc::new(
            labbook_server::store::FsBlobs::open(&data.path().join("blobs")).unwrap(),
        );
        labbook_server::Recorder::new(meta, blobs)
    };
    let first = Server::start(ServerConfig::new(KEY).entity("ent1").storage(open())).unwrap();
    let server = &first;
    let home = tempfile::tempdir().unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/scripts/online_run.py");
    let out = Command::new(venv.join("bin/python"))
        .arg(&script)
        .arg("proj-online")
        .env("WANDB_BASE_URL", server.base_url())
        .env("WANDB_API_KEY", KEY)
        .env("WANDB_MODE", "online")
        .env("HOME", home.path())
        .env("WANDB_DIR", home.path())
        .env_remove("WANDB_ENTITY")
        .env_remove("WANDB_PROJECT")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the script failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run_id = stdout.lines().last().unwrap().trim().to_owned();
    let storage = server.storage();
    let run = storage
        .run("ent1", "proj-online", &run_id)
        .unwrap_or_else(|| panic!("no run {run_id}; have {:?}", storage.runs()));

    assert!(
        storage.violations().is_empty(),
        "{:?}",
        storage.violations()
    );
    // History: 5 scalar rows, then the image row and the table row.
    assert_eq!(run.history.len(), 7, "{:#?}", run.history);
    let steps: Vec<_> = run.history_values("_step").into_iter().cloned().collect();
    assert_eq!(steps, (0..7).map(|s| json!(s)).collect::<Vec<_>>());
    let losses: Vec<f64> = run
        .history_values("loss")
        .iter()
        .filter_map(|v| v.as_f64())
        .collect();
    assert_eq!(losses, [1.0, 0.5, 1.0 / 3.0, 0.25, 0.2]);
    let accs: Vec<f64> = run
        .history_values("acc")
        .iter()
        .filter_map(|v| v.as_f64())
        .collect();
    assert_eq!(accs, [0.0, 0.1, 0.2, 0.3, 0.4]);
    let image = run.history[5].get("sample").expect("image row");
    assert_eq!(image["_type"], "image-file");
    let image_path = image["path"].as_str().unwrap();
    assert!(image_path.starts_with("media/images/"), "{image_path}");
    let table = run.history[6].get("preds").expect("table row");
    assert_eq!(table["_type"], "table-file");
    let table_path = table["path"].as_str().unwrap();

    // Files: the image and the table uploaded to the paths history names.
    let png = run.files.get(image_path).expect("image uploaded");
    assert!(png.starts_with(b"\x89PNG"));
    let table_json: serde_json::Value =
        serde_json::from_slice(run.files.get(table_path).expect("table uploaded")).unwrap();
    assert_eq!(table_json["columns"], json!(["a", "b"]));
    assert_eq!(table_json["data"], json!([[1, "x"], [2, "y"]]));
    for file in ["config.yaml", "wandb-summary.json", "wandb-metadata.json"] {
        assert!(
            run.files.contains_key(file),
            "{file} not uploaded: {:?}",
            run.files.keys()
        );
    }
    assert!(
        run.uploaded.iter().any(|p| p == image_path),
        "{:?}",
        run.uploaded
    );

    // Summary and config, including the update.
    let summary = run.summary_json().expect("summary");
    assert_eq!(summary["best_acc"], 0.9);
    assert_eq!(summary["loss"], 0.2);
    assert_eq!(summary["sample"]["path"], image_path);
    assert_eq!(run.config_value("lr"), Some(&json!(0.01)));
    assert_eq!(run.config_value("layers"), Some(&json!([1, 2])));
    assert_eq!(run.config_value("model"), Some(&json!({"depth": 3})));
    assert_eq!(run.config_value("batch_size"), Some(&json!(32)));

    assert_eq!(run.alerts.len(), 1);
    assert_eq!(
        (run.alerts[0].title.as_str(), run.alerts[0].text.as_str()),
        ("T", "done soon")
    );
    assert_eq!(run.alerts[0].severity.as_deref(), Some("WARN"));
    assert!(run.display_name.is_some());
    assert!(run.complete);
    assert_eq!(run.exit_code, Some(0));
    // Restarted on the same data directory: everything reads back equal.
    let before = first.storage().runs();
    first.shutdown();
    let second = Server::start(ServerConfig::new(KEY).entity("ent1").storage(open())).unwrap();
    assert_eq!(second.storage().runs(), before);
}

/// The server's Stop button, seen by the official client both ways it asks: wandb-core
/// learns of it from the `"stopped": true` a file_stream answer carries and interrupts the
/// script, and the launch agent's `RunStoppedStatus` query reads it.
#[test]
#[ignore = "needs the wandb 0.31.0 virtualenv; scripts/test.sh runs it"]
fn official_client_obeys_the_stop_button() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::Stdio;

    let venv = labbook_testkit::wandb::venv();
    let server = Server::start(ServerConfig::new(KEY).entity("ent1")).unwrap();
    let home = tempfile::tempdir().unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/scripts/stop_run.py");
    let mut child = Command::new(venv.join("bin/python"))
        .arg(&script)
        .arg("proj-stop")
        .env("WANDB_BASE_URL", server.base_url())
        .env("WANDB_API_KEY", KEY)
        .env("WANDB_MODE", "online")
        .env("WANDB_SILENT", "true")
        .env("HOME", home.path())
        .env("WANDB_DIR", home.path())
        .env_remove("WANDB_ENTITY")
        .env_remove("WANDB_PROJECT")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // Read stderr meanwhile, so a chatty child never blocks on a full pipe.
    let mut stderr = child.stderr.take().unwrap();
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut text).ok();
        text
    });
    let mut lines = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(id) = line.strip_prefix("RUN ") {
            let key = labbook_server::RunKey::new("ent1", "proj-stop", id);
            server.storage().request_stop(&key);
            writeln!(stdin).unwrap();
        }
        lines.push(line);
    }
    child.wait().unwrap();
    let errors = errors.join().unwrap();
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    assert_eq!(
        [lines.first(), lines.get(2), lines.last()],
        [
            Some(&"BEFORE False"),
            Some(&"AFTER True"),
            Some(&"INTERRUPTED")
        ],
        "{lines:?}\n{errors}"
    );
    let ops: Vec<String> = server
        .storage()
        .requests()
        .into_iter()
        .filter_map(|r| r.operation)
        .collect();
    assert!(ops.iter().any(|o| o == "RunStoppedStatus"), "{ops:?}");
}
