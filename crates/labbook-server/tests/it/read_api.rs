//! `wandb.Api()` (the official client, 0.31.0) reads a run back from the server: its
//! fields, its history whole, by key and sampled, its system metrics, and `scan_history`
//! by pages, with and without keys and within step bounds, value for value as logged.
//!
//! Needs the virtualenv that `scripts/test.sh` sets up (`LABBOOK_WANDB_VENV`).

use std::process::Command;

use labbook::{Settings, Value};
use serde_json::{Value as Json, json};

/// Rows of the run: `loss` on every step, `acc` on every third (a key some rows lack).
const STEPS: u64 = 40;

#[test]
#[ignore = "needs the wandb 0.31.0 virtualenv; scripts/test.sh runs it"]
fn the_official_public_api_reads_a_run_back_as_it_was_logged() {
    let venv = labbook_testkit::wandb::venv();
    let tmp = tempfile::tempdir().unwrap();
    let (data, key, server) = super::data_server(&tmp.path().join("data"));
    let run = labbook::init(
        Settings::new("reads")
            .dir(tmp.path())
            .quiet(true)
            .handle_signals(false)
            .env_vars(Vec::<(String, String)>::new())
            .dotenv_dir(tmp.path())
            .name("read-back")
            .tags(["a", "b"])
            .group("grp")
            .job_type("train")
            .notes("some notes")
            .system_metrics(true)
            .stats_interval(std::time::Duration::from_millis(50))
            .config(&json!({"lr": 0.01, "model": {"depth": 3}})),
    )
    .unwrap();
    for step in 0..STEPS {
        let loss = 1.0 / (step as f64 + 1.0);
        if step % 3 == 0 {
            run.log([("loss", Value::from(loss)), ("acc", Value::from(step))])
                .unwrap();
        } else {
            run.log([("loss", Value::from(loss))]).unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    run.set_summary("best", 0.75).unwrap();
    let run_id = run.id().to_owned();
    let run_dir = run.dir().unwrap().to_owned();
    run.finish().unwrap();
    let log = run_dir.join(format!("run-{run_id}.wandb"));
    let opts = labbook::online::SyncOptions::new(server.base_url(), &key);
    labbook::online::sync_run(&log, &opts, &mut |_| {}).unwrap();

    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat/read_run.py");
    let out = Command::new(venv.join("bin/python"))
        .arg(&script)
        .arg(format!("admin/reads/{run_id}"))
        .arg("acc")
        .env("WANDB_BASE_URL", server.base_url())
        .env("WANDB_API_KEY", &key)
        .env("HOME", tmp.path())
        .env("WANDB_DIR", tmp.path())
        .env("WANDB_CACHE_DIR", tmp.path().join("cache"))
        .env_remove("WANDB_ENTITY")
        .env_remove("WANDB_PROJECT")
        .current_dir(tmp.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "read_run.py failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("READ "))
        .unwrap_or_else(|| panic!("no READ line in {stdout}"));
    let read: Json = serde_json::from_str(line).unwrap();

    assert_eq!(read["id"], run_id.as_str());
    assert_eq!(
        read["name"], "read-back",
        "the public API's name is the display name"
    );
    assert_eq!(read["state"], "finished");
    assert_eq!(read["tags"], json!(["a", "b"]));
    assert_eq!(
        (&read["group"], &read["job_type"]),
        (&json!("grp"), &json!("train"))
    );
    assert_eq!(read["notes"], "some notes");
    assert_eq!(read["config"]["lr"], 0.01);
    assert_eq!(read["config"]["model"], json!({"depth": 3}));
    assert_eq!(read["summary"]["best"], 0.75);
    assert_eq!(read["summary"]["loss"], 1.0 / STEPS as f64);
    assert!(
        read["created_at"]
            .as_str()
            .is_some_and(|t| t.starts_with("20")),
        "{read}"
    );
    assert_eq!(read["last_step"], STEPS - 1);

    let steps = |rows: &Json| -> Vec<u64> {
        rows.as_array()
            .unwrap()
            .iter()
            .map(|r| r["_step"].as_u64().unwrap())
            .collect()
    };
    let all: Vec<u64> = (0..STEPS).collect();
    let thirds: Vec<u64> = (0..STEPS).filter(|s| s % 3 == 0).collect();
    // history(): every row, every column, values as logged.
    assert_eq!(steps(&read["history"]), all);
    for row in read["history"].as_array().unwrap() {
        let step = row["_step"].as_u64().unwrap();
        assert_eq!(row["loss"], 1.0 / (step as f64 + 1.0));
    }
    // history(keys=[acc]): only the rows that have it, with only `_step` and it.
    assert_eq!(steps(&read["history_keys"]), thirds);
    for row in read["history_keys"].as_array().unwrap() {
        let fields: Vec<&String> = row.as_object().unwrap().keys().collect();
        assert_eq!(fields.len(), 2, "{row}");
        assert_eq!(row["acc"], row["_step"]);
    }
    // Sampled: at most as many as asked, the first and last rows kept.
    let sampled = steps(&read["history_sampled"]);
    assert!(
        sampled.len() <= 10 && sampled.first() == Some(&0) && sampled.last() == Some(&(STEPS - 1)),
        "{sampled:?}"
    );
    let sampled = steps(&read["history_keys_sampled"]);
    assert!(
        sampled.len() <= 12 && sampled.first() == Some(&0) && sampled.last() == thirds.last(),
        "{sampled:?}"
    );
    // System metrics: what the run sampled.
    assert!(
        !read["system"].as_array().unwrap().is_empty(),
        "{}",
        read["system"]
    );
    // scan_history in pages of 7: every row once, in order; by key; within bounds.
    assert_eq!(steps(&read["scan"]), all);
    // The same rows as history() (wandb-core writes the float 1.0 back as 1: compared as
    // numbers).
    let numbers = |rows: &Json| -> Vec<Vec<(String, f64)>> {
        rows.as_array()
            .unwrap()
            .iter()
            .map(|row| {
                row.as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_f64().unwrap()))
                    .collect()
            })
            .collect()
    };
    assert_eq!(numbers(&read["scan"]), numbers(&read["history"]));
    assert_eq!(steps(&read["scan_keys"]), thirds);
    assert_eq!(read["scan_range"], json!([5, 6, 7, 8]));
    drop((server, data));
}
