//! labbook's transaction log read by the official client's own code: the `wandb` package's
//! protobuf classes (`tests/compat/dump_records.py`) and wandb-core's Go reader
//! (`wandb leet inspect`).
//!
//! These need the `wandb==0.31.0` virtualenv that `scripts/test.sh` sets up and points
//! `LABBOOK_WANDB_VENV` at, so they are ignored by a plain `cargo test`; `scripts/test.sh`
//! runs them with `--include-ignored`.

use std::path::{Path, PathBuf};
use std::process::Command;

use labbook::{Goal, Metric, Summary, Value};
use labbook_testkit::wandb::venv;
use labbook_testkit::{only_run_dir, read_run, settings};
use serde_json::{Value as J, json};

fn run_tool(program: &Path, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .env("WANDB_SILENT", "true")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{} {args:?} failed: {}\n{}",
        program.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A run with a bit of everything, written by labbook.
fn write_sample_run(root: &Path) -> PathBuf {
    let run = labbook::init(
        settings(root)
            .name("compat")
            .tags(["t1", "t2"])
            .group("grp")
            .job_type("train")
            .notes("n")
            .config(&json!({"lr": 0.01, "model": {"depth": 3, "act": "gelu"}, "layers": [1, 2]})),
    )
    .unwrap();
    run.define_metric(Metric::new("val/*").step_metric("epoch"))
        .unwrap();
    run.define_metric(
        Metric::new("acc")
            .summary(Summary::Max)
            .summary(Summary::Best)
            .goal(Goal::Maximize),
    )
    .unwrap();
    for step in 0..300u64 {
        let f = step as f64;
        run.log([
            ("loss", Value::from(1.0 / (f + 1.0))),
            ("acc", Value::from((f / 300.0) as f32)),
            ("text", Value::from(format!("ünïcode {step}"))),
            ("big", Value::from(1u64 << 60)),
            ("flag", Value::from(step % 2 == 0)),
            (
                "nested",
                Value::map([("a", Value::from(step)), ("b/c", Value::from(0.5))]),
            ),
            // A large value, so some records span blocks.
            (
                "blob",
                Value::from("x".repeat(if step % 50 == 0 { 70_000 } else { 10 })),
            ),
        ])
        .unwrap();
        if step % 100 == 99 {
            run.log_at(
                step + 1,
                [
                    ("val/loss", Value::from(0.5)),
                    ("epoch", Value::from(step / 100)),
                ],
            )
            .unwrap();
        }
    }
    run.log([
        ("nan", Value::from(f64::NAN)),
        ("inf", Value::from(f64::INFINITY)),
    ])
    .unwrap();
    run.set_summary("best", 42).unwrap();
    run.update_config(&json!({"extra": "v"})).unwrap();
    run.alert("T", "txt", labbook::AlertLevel::Warn).unwrap();
    run.finish().unwrap();
    only_run_dir(root)
}

#[test]
#[ignore = "needs the wandb 0.31.0 virtualenv; scripts/test.sh runs it"]
fn the_official_protobuf_classes_decode_every_record_as_labbook_wrote_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = write_sample_run(tmp.path());
    let ours = read_run(&dir);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat/dump_records.py");
    let dump = run_tool(
        &venv().join("bin/python"),
        &[script.to_str().unwrap(), dir.to_str().unwrap()],
    );
    let theirs: Vec<J> = dump
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(theirs.len(), ours.records.len(), "same number of records");
    assert!(theirs.iter().all(|r| r.get("_torn_tail_at").is_none()));

    let kinds: Vec<&str> = theirs
        .iter()
        .map(|r| {
            r.as_object()
                .unwrap()
                .keys()
                .find(|k| *k != "num")
                .unwrap()
                .as_str()
        })
        .collect();
    assert_eq!(&kinds[..3], &["header", "run", "environment"]);
    assert_eq!(kinds.last(), Some(&"exit"));

    let histories: Vec<&J> = theirs.iter().filter_map(|r| r.get("history")).collect();
    assert_eq!(histories.len(), ours.rows.len());
    for (h, row) in histories.iter().zip(&ours.rows) {
        let items = h["item"].as_array().unwrap();
        assert_eq!(items.len(), row.len());
        for it in items {
            let key = it["key"].as_str().unwrap();
            assert_eq!(it["value_json"].as_str().unwrap(), row[key], "key {key}");
        }
        let step: u64 = row["_step"].parse().unwrap();
        // proto3 JSON leaves out zero values, as for the official client's step 0.
        let num = h["step"].get("num").and_then(J::as_str).unwrap_or("0");
        assert_eq!(num, step.to_string());
    }

    let run = theirs.iter().find_map(|r| r.get("run")).unwrap();
    assert_eq!(run["run_id"], ours.run().run_id.as_str());
    assert_eq!(run["display_name"], "compat");
    assert_eq!(run["tags"], json!(["t1", "t2"]));
    assert_eq!(
        (run["run_group"].as_str(), run["job_type"].as_str()),
        (Some("grp"), Some("train"))
    );
    assert!(run["start_time"].is_string());
    let exit = theirs.iter().find_map(|r| r.get("exit")).unwrap();
    assert_eq!(
        exit.get("exit_code"),
        None,
        "exit code 0 is the proto3 default"
    );
    let alert = theirs.iter().find_map(|r| r.get("alert")).unwrap();
    assert_eq!(alert["level"], "WARN");
    assert_eq!(alert["wait_duration"], "60000");
    let metric = theirs.iter().find_map(|r| r.get("metric")).unwrap();
    assert_eq!(metric["glob_name"], "val/*");
}

#[test]
#[ignore = "needs the wandb 0.31.0 virtualenv; scripts/test.sh runs it"]
fn wandb_core_reads_the_run_as_finished_with_its_summary_and_config() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = write_sample_run(tmp.path());
    let out = run_tool(
        &venv().join("bin/wandb"),
        &[
            "leet",
            "inspect",
            "--summary",
            "--json",
            dir.to_str().unwrap(),
        ],
    );
    // wandb-core prints NaN/Infinity as bare tokens, which JSON proper has no room for.
    let text = out
        .replace(": NaN", ": \"NaN\"")
        .replace(": Infinity", ": \"Infinity\"");
    let s: J = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(s["state"], "finished");
    assert_eq!(s["exit_code"], 0);
    assert_eq!(s["step"], 300);
    assert_eq!(s["name"], "compat");
    assert_eq!(s["config"]["lr"], 0.01);
    assert_eq!(s["config"]["model"], json!({"depth": 3, "act": "gelu"}));
    assert_eq!(s["config"]["extra"], "v");
    let summary = &s["summary"];
    assert_eq!(summary["best"], 42);
    assert_eq!(summary["loss"], 1.0 / 300.0);
    // The f32 keeps its shortest form (0.99666667), not 0.996666669845581.
    let acc_max: f64 = Value::from((299.0f64 / 300.0) as f32)
        .to_json()
        .parse()
        .unwrap();
    assert_eq!(summary["acc"]["max"], acc_max);
    assert_eq!(summary["acc"]["best"], acc_max);
    assert_eq!(summary["nan"], "NaN");
    assert_eq!(summary["inf"], "Infinity");
    assert_eq!(summary["nested"], json!({"a": 299, "b/c": 0.5}));
    assert_eq!(summary["_step"], 300);

    // Every record, through the official Go reader.
    let all = run_tool(
        &venv().join("bin/wandb"),
        &["leet", "inspect", "--json", dir.to_str().unwrap()],
    );
    let ours = read_run(&dir);
    assert_eq!(all.lines().count(), ours.records.len());
}

#[test]
#[ignore = "needs the wandb 0.31.0 virtualenv; scripts/test.sh runs it"]
fn labbooks_reader_reads_a_run_written_by_the_official_client() {
    let tmp = tempfile::tempdir().unwrap();
    let script = r#"
import wandb
run = wandb.init(project="p", name="official", config={"lr": 0.1})
for i in range(50):
    run.log({"loss": 1.0 / (i + 1), "nested": {"a": i}, "blob": "x" * (70000 if i == 10 else 1)})
run.summary["best"] = 42
run.finish()
"#;
    let out = Command::new(venv().join("bin/python"))
        .args(["-c", script])
        .env("WANDB_MODE", "offline")
        .env("WANDB_DIR", tmp.path())
        .env("HOME", tmp.path())
        .env("WANDB_SILENT", "true")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let d = read_run(&only_run_dir(tmp.path()));
    assert_eq!(d.end, labbook_wire::LogEnd::Clean);
    assert_eq!(d.rows.len(), 50);
    assert_eq!(d.steps(), (0..50).collect::<Vec<u64>>());
    // The official client writes every item in nested_key form: `nested` arrives as `nested.a`.
    assert_eq!(d.rows[49]["nested.a"], "49");
    assert_eq!(d.rows[10]["blob"].len(), 70_002);
    assert_eq!(d.run().display_name, "official");
    assert_eq!(d.config["lr"], "0.1");
    assert_eq!(d.summary["best"], "42");
    assert_eq!(d.exit.as_ref().map(|e| e.exit_code), Some(0));
}
