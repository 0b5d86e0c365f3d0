//! `ls`, `show`, `compare` and `export` with `--server`: the runs of a directory, synced
//! to a server, read back from it give what was logged, and what they give from the
//! directory.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use labbook_core::Value;
use labbook_server::{Server, ServerConfig};

use crate::support::stdout;

const KEY: &str = "expo0123456789abcdefghijklmnopqrstuvwxyz01";

/// `labbook ARGS` in `cwd` with the server's key in the environment.
fn labbook(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_labbook"))
        .args(args)
        .current_dir(cwd)
        .env_remove("WANDB_DIR")
        .env("WANDB_API_KEY", KEY)
        .env("HOME", cwd)
        .output()
        .unwrap()
}

/// What run `i` logs at `step`.
fn logged(i: usize, step: usize) -> f64 {
    (i * 100 + step) as f64 / 8.0
}

/// 50 runs in group `ablation-1` and 3 in `other`; every tenth run logs an artifact.
fn write_runs(root: &Path) -> Vec<String> {
    let data = root.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let mut ids = Vec::new();
    for i in 0..53usize {
        let run = labbook_core::init(
            labbook_testkit::project_settings(root, "abl")
                .entity("ent1")
                .name(format!("trial-{i}"))
                .group(if i < 50 { "ablation-1" } else { "other" })
                .tags([format!("seed{}", i % 3)])
                .config(&serde_json::json!({"lr": i as f64 / 1000.0, "net": {"depth": i % 4}})),
        )
        .unwrap();
        for step in 0..12 {
            run.log([
                ("x", Value::from(logged(i, step))),
                ("eval/loss", Value::from(1.0 / (step + 1) as f64)),
            ])
            .unwrap();
        }
        if i == 3 {
            // Summary-only numbers, sorted before the logged keys: `show` draws logged
            // keys, not these.
            for k in 0..4 {
                run.set_summary(format!("a/best{k}"), 0.5).unwrap();
            }
        }
        if i % 10 == 0 {
            // Each run's own weights: an artifact logged again with the same bytes is the
            // version already there, which a server lists under the run that made it.
            std::fs::write(data.join("weights.bin"), [i as u8; 64]).unwrap();
            let mut a = labbook_core::artifact::Artifact::new("weights", "model").unwrap();
            a.add_file(data.join("weights.bin"), None).unwrap();
            run.log_artifact(a).unwrap();
        }
        ids.push(run.finish().unwrap().run_id);
    }
    ids
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn export_ls_show_and_compare_read_a_server_as_they_read_a_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let ids = write_runs(tmp.path());
    let server = Server::start(ServerConfig::new(KEY).entity("ent1")).unwrap();
    let url = server.base_url();
    let o = Command::new(env!("CARGO_BIN_EXE_labbook"))
        .args(["sync", "wandb"])
        .current_dir(tmp.path())
        .env("WANDB_BASE_URL", &url)
        .env("WANDB_API_KEY", KEY)
        .env("HOME", tmp.path())
        .env_remove("WANDB_DIR")
        .output()
        .unwrap();
    stdout(&o);

    let remote = tmp.path().join("remote");
    stdout(&labbook(
        &[
            "export",
            "--server",
            &url,
            "ent1/abl",
            "--group",
            "ablation-1",
            "--out",
            remote.to_str().unwrap(),
        ],
        tmp.path(),
    ));
    let mut runs = csv::Reader::from_path(remote.join("runs.csv")).unwrap();
    let header: Vec<String> = runs.headers().unwrap().iter().map(str::to_owned).collect();
    for col in [
        "id",
        "state",
        "group",
        "config.lr",
        "config.net.depth",
        "summary.x",
        "summary._step",
    ] {
        assert!(header.contains(&col.to_owned()), "{col}: {header:?}");
    }
    let rows: Vec<BTreeMap<String, String>> = runs.deserialize().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 50, "the group's runs, not the others");
    for row in &rows {
        let i = ids
            .iter()
            .position(|id| *id == row["id"])
            .expect("a logged run");
        assert!(i < 50);
        assert_eq!(row["state"], "finished");
        assert_eq!(row["group"], "ablation-1");
        assert_eq!(row["config.lr"].parse::<f64>().unwrap(), i as f64 / 1000.0);
        assert_eq!(row["summary.x"].parse::<f64>().unwrap(), logged(i, 11));
        let dir = remote.join(&row["id"]);
        let summary = read_json(&dir.join("run_summary.json"));
        assert_eq!(summary["name"], format!("trial-{i}"));
        assert_eq!(
            summary["tags"],
            serde_json::json!([format!("seed{}", i % 3)])
        );
        assert_eq!(summary["config"]["net"]["depth"], i % 4);
        assert_eq!(summary["summary"]["eval/loss"], 1.0 / 12.0);
        let mut history = csv::Reader::from_path(dir.join("metrics_history.csv")).unwrap();
        let steps: Vec<BTreeMap<String, String>> =
            history.deserialize().map(Result::unwrap).collect();
        assert_eq!(steps.len(), 12);
        for (step, r) in steps.iter().enumerate() {
            assert_eq!(r["_step"], step.to_string());
            assert_eq!(r["x"].parse::<f64>().unwrap(), logged(i, step));
        }
        assert!(dir.join("system_metrics.csv").is_file());
        let weights = dir.join("artifacts/weights/weights.bin");
        assert_eq!(weights.is_file(), i % 10 == 0, "{}", weights.display());
        if i % 10 == 0 {
            assert_eq!(std::fs::read(&weights).unwrap(), [i as u8; 64]);
        }
    }

    // The same export from the directory: the same files but for when each run was
    // created (on the server: when it first saw the run).
    let here = tmp.path().join("here");
    stdout(&labbook(
        &[
            "export",
            "--group",
            "ablation-1",
            "--out",
            here.to_str().unwrap(),
        ],
        tmp.path(),
    ));
    for id in &ids[..50] {
        for file in [
            "metrics_history.csv",
            "system_metrics.csv",
            "artifacts/weights/weights.bin",
        ] {
            let (a, b) = (here.join(id).join(file), remote.join(id).join(file));
            assert_eq!(
                std::fs::read(&a).ok(),
                std::fs::read(&b).ok(),
                "{}",
                a.display()
            );
        }
        let drop_created = |mut v: serde_json::Value| {
            v["created_at"] = serde_json::Value::Null;
            v
        };
        assert_eq!(
            drop_created(read_json(&here.join(id).join("run_summary.json"))),
            drop_created(read_json(&remote.join(id).join("run_summary.json"))),
            "{id}"
        );
    }

    // JSON lines and Parquet too: the same bytes from both.
    for format in ["jsonl", "parquet"] {
        let (a, b) = (
            tmp.path().join(format!("a-{format}")),
            tmp.path().join(format!("b-{format}")),
        );
        let one = format!("ent1/abl/{}", ids[7]);
        stdout(&labbook(
            &[
                "export",
                "--server",
                &url,
                &one,
                "--format",
                format,
                "--out",
                a.to_str().unwrap(),
            ],
            tmp.path(),
        ));
        stdout(&labbook(
            &[
                "export",
                &ids[7],
                "--format",
                format,
                "--out",
                b.to_str().unwrap(),
            ],
            tmp.path(),
        ));
        let file = format!("{}/metrics_history.{format}", ids[7]);
        let bytes = std::fs::read(a.join(&file)).unwrap();
        assert!(!bytes.is_empty());
        assert_eq!(bytes, std::fs::read(b.join(&file)).unwrap(), "{file}");
    }

    // ls: the same runs, steps and summaries.
    let listed = |args: &[&str]| -> BTreeMap<String, (String, u64, serde_json::Value)> {
        let text = stdout(&labbook(args, tmp.path()));
        let runs: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
        runs.into_iter()
            .map(|r| {
                let key = r["id"].as_str().unwrap().to_owned();
                let state = r["state"].as_str().unwrap().to_owned();
                (
                    key,
                    (state, r["steps"].as_u64().unwrap(), r["summary"].clone()),
                )
            })
            .collect()
    };
    let filter = ["--group", "other", "--where", "config.lr>0.0505", "--json"];
    let from_dir = listed(&[&["ls"][..], &filter].concat());
    let from_server = listed(&[&["ls", "--server", &url, "ent1/abl"][..], &filter].concat());
    assert_eq!(from_dir.len(), 2, "runs 51 and 52");
    assert_eq!(from_dir, from_server);

    let show = stdout(&labbook(
        &["show", "--server", &url, &format!("ent1/abl/{}", ids[3])],
        tmp.path(),
    ));
    assert!(
        show.contains("trial-3") && show.contains("finished") && show.contains('█'),
        "{show}"
    );
    assert!(show.contains(&format!("server    {url}")), "{show}");
    let here_show = stdout(&labbook(&["show", &ids[3]], tmp.path()));
    for line in ["steps     12", "x ", "eval/loss"] {
        assert!(
            show.contains(line) && here_show.contains(line),
            "{line:?}: {show}\n{here_show}"
        );
    }
    let history = |text: &str| {
        let start = text.find("\nhistory\n").expect(text);
        let end = text[start + 1..]
            .find("\n\n")
            .map_or(text.len(), |e| start + 1 + e);
        text[start..end].to_owned()
    };
    assert_eq!(
        history(&show),
        history(&here_show),
        "the same metrics drawn"
    );
    assert!(history(&show).contains("eval/loss") && history(&show).contains("  x "));
    let compare = stdout(&labbook(
        &[
            "compare",
            "--server",
            &url,
            &format!("ent1/abl/{}", ids[1]),
            &format!("ent1/abl/{}", ids[2]),
        ],
        tmp.path(),
    ));
    assert_eq!(
        compare,
        stdout(&labbook(&["compare", &ids[1], &ids[2]], tmp.path())),
        "compare reads the same from both"
    );

    let bad = labbook(&["ls", "--server", &url, "abl"], tmp.path());
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("entity/project"));
    let none = labbook(&["export", "--group", "nope", "--out", "x"], tmp.path());
    assert!(String::from_utf8_lossy(&none.stderr).contains("no run matches"));
}
