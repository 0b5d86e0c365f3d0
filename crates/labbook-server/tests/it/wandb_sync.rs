//! `wandb sync` (the official client, 0.31.0) uploads an offline run written by labbook
//! into the server: history, summary, config, run metadata and the exit code arrive, and
//! the run is marked synced.
//!
//! Needs the virtualenv that `scripts/test.sh` sets up (`LABBOOK_WANDB_VENV`).

use std::process::Command;

use labbook::{Settings, Value};
use labbook_server::{Server, ServerConfig};
use serde_json::json;

const KEY: &str = "labbook0123456789abcdefghijklmnopqrstuvwxyz";

#[test]
#[ignore = "needs the wandb 0.31.0 virtualenv; scripts/test.sh runs it"]
fn wandb_sync_uploads_a_labbook_offline_run() {
    let venv = labbook_testkit::wandb::venv();
    let tmp = tempfile::tempdir().unwrap();
    let run = labbook::init(
        Settings::new("proj-sync")
            .dir(tmp.path())
            .quiet(true)
            .handle_signals(false)
            .env_vars(Vec::<(String, String)>::new())
            .dotenv_dir(tmp.path())
            .name("synced-run")
            .tags(["t1", "t2"])
            .group("grp")
            .job_type("train")
            .notes("some notes")
            .config(&json!({"lr": 0.01, "model": {"depth": 3}})),
    )
    .unwrap();
    for step in 0..4u64 {
        let f = step as f64;
        run.log([
            ("loss", Value::from(1.0 / (f + 1.0))),
            ("step_x2", Value::from(step * 2)),
        ])
        .unwrap();
    }
    run.set_summary("best", 0.75).unwrap();
    run.update_config(&json!({"batch_size": 16})).unwrap();
    let run_id = run.id().to_owned();
    let run_dir = run.dir().unwrap().to_owned();
    run.finish().unwrap();

    let server = Server::start(ServerConfig::new(KEY).entity("ent1")).unwrap();
    let out = Command::new(venv.join("bin/wandb"))
        .arg("sync")
        .arg(&run_dir)
        .env("WANDB_BASE_URL", server.base_url())
        .env("WANDB_API_KEY", KEY)
        .env("WANDB_MODE", "online")
        .env("HOME", tmp.path())
        .env("WANDB_DIR", tmp.path())
        .current_dir(tmp.path())
        .env_remove("WANDB_ENTITY")
        .env_remove("WANDB_PROJECT")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "wandb sync failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let synced = run_dir.join(format!("run-{run_id}.wandb.synced"));
    assert!(synced.exists(), "{} is missing", synced.display());

    let storage = server.storage();
    let stored = storage
        .run("ent1", "proj-sync", &run_id)
        .unwrap_or_else(|| panic!("no run {run_id}; have {:?}", storage.runs()));
    assert!(
        storage.violations().is_empty(),
        "{:?}",
        storage.violations()
    );

    let steps: Vec<_> = stored
        .history_values("_step")
        .into_iter()
        .cloned()
        .collect();
    assert_eq!(steps, (0..4).map(|s| json!(s)).collect::<Vec<_>>());
    let losses: Vec<f64> = stored
        .history_values("loss")
        .iter()
        .filter_map(|v| v.as_f64())
        .collect();
    assert_eq!(losses, [1.0, 0.5, 1.0 / 3.0, 0.25]);
    let doubled: Vec<_> = stored
        .history_values("step_x2")
        .into_iter()
        .cloned()
        .collect();
    assert_eq!(doubled, [0, 2, 4, 6].map(|v| json!(v)));

    let summary = stored.summary_json().expect("summary");
    assert_eq!(summary["best"], 0.75);
    assert_eq!(summary["loss"], 0.25);

    assert_eq!(stored.config_value("lr"), Some(&json!(0.01)));
    assert_eq!(stored.config_value("model"), Some(&json!({"depth": 3})));
    assert_eq!(stored.config_value("batch_size"), Some(&json!(16)));

    assert_eq!(stored.display_name.as_deref(), Some("synced-run"));
    assert_eq!(stored.tags, ["t1", "t2"]);
    assert_eq!(stored.group.as_deref(), Some("grp"));
    assert_eq!(stored.job_type.as_deref(), Some("train"));
    assert_eq!(stored.notes.as_deref(), Some("some notes"));
    assert!(stored.complete);
    assert_eq!(stored.exit_code, Some(0));
}
