//! The `labbook` command on real runs: ls (filters, sorting, JSON), show, export, compare,
//! and clear errors with a non-zero exit for bad input.

use std::path::Path;
use std::process::Command;

use crate::support::{first_run, labbook, stdout};

use labbook_core::Value;

/// Two finished runs and one crashed (no exit record, old enough to count as crashed).
fn make_runs(root: &Path) -> Vec<String> {
    let mut ids = Vec::new();
    for (name, acc, tag, lr) in [("alpha", 0.95, "best", 0.1), ("beta", 0.7, "base", 0.01)] {
        let run = labbook_core::init(
            labbook_testkit::project_settings(root, "cli")
                .name(name)
                .tags([tag])
                .group("g1")
                .config(&serde_json::json!({"lr": lr, "model": {"depth": 3}})),
        )
        .unwrap();
        for i in 0..20u32 {
            run.log([
                ("loss", Value::from(1.0 / f64::from(i + 1))),
                ("val/acc", Value::from(acc * f64::from(i + 1) / 20.0)),
            ])
            .unwrap();
        }
        ids.push(run.finish().unwrap().run_id);
    }
    ids
}

#[test]
fn ls_lists_filters_sorts_and_prints_json() {
    let tmp = tempfile::tempdir().unwrap();
    let ids = make_runs(tmp.path());
    let out = stdout(&labbook(&["ls"], tmp.path()));
    assert!(out.lines().next().unwrap().starts_with("id"), "{out}");
    for id in &ids {
        assert!(out.contains(id.as_str()), "{out}");
    }
    assert!(out.contains("finished"));
    let best = stdout(&labbook(&["ls", "--where", "val/acc>0.9"], tmp.path()));
    assert!(best.contains("alpha") && !best.contains("beta"), "{best}");
    let tagged = stdout(&labbook(&["ls", "--tag", "base"], tmp.path()));
    assert!(
        tagged.contains("beta") && !tagged.contains("alpha"),
        "{tagged}"
    );
    let sorted = stdout(&labbook(&["ls", "--sort", "val/acc"], tmp.path()));
    assert!(
        sorted.find("beta").unwrap() < sorted.find("alpha").unwrap(),
        "{sorted}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&labbook(&["ls", "--json"], tmp.path()))).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2);
    assert_eq!(json[0]["steps"], 20);
    // The second listing came from the index files.
    assert!(
        std::fs::read_dir(tmp.path().join("wandb"))
            .unwrap()
            .flatten()
            .any(|e| e.path().join("labbook-index.json").is_file())
    );
}

#[test]
fn show_export_and_compare() {
    let tmp = tempfile::tempdir().unwrap();
    let ids = make_runs(tmp.path());
    let show = stdout(&labbook(&["show", &ids[0]], tmp.path()));
    assert!(
        show.contains("alpha") && show.contains("lr = 0.1") && show.contains("val/acc"),
        "{show}"
    );
    assert!(show.contains('█'), "a sparkline: {show}");

    let out = tmp.path().join("export");
    stdout(&labbook(
        &[
            "export",
            &ids[0],
            &ids[1],
            "--format",
            "csv",
            "--out",
            out.to_str().unwrap(),
        ],
        tmp.path(),
    ));
    let csv = std::fs::read_to_string(out.join(&ids[0]).join("metrics_history.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "_step,loss,val/acc,_runtime,_timestamp"
    );
    assert!(lines.next().unwrap().starts_with("0,1.0,"), "{csv}");
    assert_eq!(csv.lines().count(), 21);
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join(&ids[0]).join("run_summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(summary["summary"]["val/acc"], 0.95);
    assert_eq!(summary["state"], "finished");
    stdout(&labbook(
        &[
            "export",
            &ids[1],
            "--format",
            "json",
            "--out",
            out.to_str().unwrap(),
        ],
        tmp.path(),
    ));
    let first: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(out.join(&ids[1]).join("metrics_history.jsonl"))
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(first["loss"], 1.0);

    stdout(&labbook(
        &[
            "export",
            &ids[0],
            "--format",
            "parquet",
            "--out",
            out.to_str().unwrap(),
        ],
        tmp.path(),
    ));
    assert!(
        std::fs::metadata(out.join(&ids[0]).join("metrics_history.parquet"))
            .unwrap()
            .len()
            > 100
    );

    let cmp = stdout(&labbook(&["compare", &ids[0], &ids[1]], tmp.path()));
    assert!(
        cmp.contains("config differences (1)") && cmp.contains("lr"),
        "{cmp}"
    );
    assert!(
        !cmp.contains("model.depth"),
        "equal config is not a difference: {cmp}"
    );
}

#[test]
fn bad_input_gives_a_clear_message_and_a_non_zero_exit() {
    let tmp = tempfile::tempdir().unwrap();
    make_runs(tmp.path());
    let o = labbook(&["show", "nosuchrun"], tmp.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no run \"nosuchrun\""));
    let o = labbook(&["ls", "--where", "nonexistent>1"], tmp.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no run has a summary metric \"nonexistent\"")
    );
    let o = labbook(&["ls", "--where", "acc>>"], tmp.path());
    assert_eq!(o.status.code(), Some(2));
    let not_run = tmp.path().join("empty");
    std::fs::create_dir_all(&not_run).unwrap();
    let o = labbook(&["show", not_run.to_str().unwrap()], tmp.path());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("not a run directory"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // A corrupt log is reported, not a crash.
    let (dir, log) = first_run(tmp.path());
    std::fs::write(&log, b"garbage").unwrap();
    let o = labbook(&["show", dir.to_str().unwrap()], tmp.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("not a W&B transaction log"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn a_crashed_run_with_a_torn_tail_is_listed_as_crashed() {
    let tmp = tempfile::tempdir().unwrap();
    make_runs(tmp.path());
    let (dir, log) = first_run(tmp.path());
    let bytes = std::fs::read(&log).unwrap();
    // Cut the exit record and a bit more, and make the file look a minute old.
    std::fs::write(&log, &bytes[..bytes.len() - 40]).unwrap();
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(120);
    std::fs::File::options()
        .write(true)
        .open(&log)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&labbook(&["ls", "--json"], tmp.path()))).unwrap();
    let states: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["state"].as_str().unwrap())
        .collect();
    assert!(states.contains(&"crashed"), "{states:?}");
    let show = stdout(&labbook(&["show", dir.to_str().unwrap()], tmp.path()));
    assert!(show.contains("crashed") && show.contains("Torn"), "{show}");
}

#[test]
#[ignore = "needs the wandb 0.31.0 virtualenv; scripts/test.sh runs it"]
fn runs_written_by_the_official_client_are_listed_shown_and_exported() {
    let venv = labbook_testkit::wandb::venv();
    let tmp = tempfile::tempdir().unwrap();
    let script = "import wandb\nrun = wandb.init(project='p', name='official', tags=['py'])\nfor i in range(30):\n    run.log({'loss': 1.0/(i+1), 'nested': {'a': i}})\nrun.summary['best'] = 7\nrun.finish()\n";
    let o = Command::new(venv.join("bin/python"))
        .args(["-c", script])
        .env("WANDB_MODE", "offline")
        .env("WANDB_DIR", tmp.path())
        .env("HOME", tmp.path())
        .env("WANDB_SILENT", "true")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let ls = stdout(&labbook(&["ls", "--where", "best==7"], tmp.path()));
    assert!(
        ls.contains("official") && ls.contains("finished") && ls.contains("30"),
        "{ls}"
    );
    let (dir, _) = first_run(tmp.path());
    let out = tmp.path().join("x");
    stdout(&labbook(
        &[
            "export",
            dir.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        tmp.path(),
    ));
    let csv = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .find(|e| e.path().is_dir())
        .unwrap()
        .path()
        .join("metrics_history.csv");
    let text = std::fs::read_to_string(csv).unwrap();
    assert!(text.lines().next().unwrap().contains("nested.a"), "{text}");
    assert_eq!(text.lines().count(), 31);
}

#[test]
fn show_names_a_loaded_configs_files_and_the_keys_left_unresolved() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("train.yaml");
    std::fs::write(&file, "lr: 0.1\nout: ${hydra:runtime.cwd}/x\n").unwrap();
    let cfg = labbook_core::config::load::<serde_json::Value>(&file, ["lr=0.2"]).unwrap();
    let run =
        labbook_core::init(labbook_testkit::settings(tmp.path()).config_loaded(&cfg)).unwrap();
    let id = run.id().to_owned();
    run.finish().unwrap();
    let show = stdout(&labbook(&["show", &id], tmp.path()));
    assert!(show.contains("lr = 0.2"), "{show}");
    assert!(
        show.contains("(from ") && show.contains("train.yaml"),
        "{show}"
    );
    assert!(show.contains("unresolved, kept as text: out"), "{show}");
}
