//! The engine end to end: what is logged is what the transaction log holds, row by row.

use std::collections::BTreeMap;
use std::sync::Arc;

use labbook::{AlertLevel, Error, Goal, Metric, OnError, SavePolicy, Summary, Value};
use labbook_testkit::{only_run_dir, read_run, settings};
use labbook_wire::LogEnd;
use serde::Serialize;

#[derive(Serialize)]
enum Act {
    #[allow(dead_code)] // only one variant is logged
    Relu,
    LeakyRelu {
        slope: f32,
    },
}

#[derive(Serialize)]
struct Model {
    depth: u32,
    act: Act,
    widths: Vec<u32>,
}

#[derive(Serialize)]
struct Cfg {
    lr: f64,
    model: Model,
    api_key: String,
    max_tokens: u32,
    by_layer: BTreeMap<u32, f32>,
}

fn cfg() -> Cfg {
    Cfg {
        lr: 0.01,
        model: Model {
            depth: 3,
            act: Act::LeakyRelu { slope: 0.1 },
            widths: vec![8, 16],
        },
        api_key: "sk-secret".into(),
        max_tokens: 128,
        by_layer: BTreeMap::from([(0, 0.5), (1, 0.25)]),
    }
}

#[test]
fn every_value_logged_reads_back_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let run = labbook::init(
        settings(tmp.path())
            .name("roundtrip")
            .tags(["a", "b"])
            .group("g1")
            .job_type("train")
            .notes("why")
            .entity("team")
            .config(&cfg()),
    )
    .unwrap();
    let values: Vec<(&str, Value)> = vec![
        ("f32", Value::from(0.41f32)),
        ("f64", Value::from(0.1f64)),
        ("nan", Value::from(f64::NAN)),
        ("inf", Value::from(f32::INFINITY)),
        ("ninf", Value::from(f64::NEG_INFINITY)),
        ("big", Value::from(1u64 << 62)),
        ("neg", Value::from(-7i32)),
        ("flag", Value::from(true)),
        ("text", Value::from("héllo ✓ \"quoted\"")),
        ("list", Value::from(vec![1, 2, 3])),
        (
            "nested",
            Value::map([("a", Value::map([("b", Value::from(1))]))]),
        ),
        ("a/b", Value::from(2)),
        ("a.b", Value::from(3)),
        ("ключ/損失", Value::from(4)),
    ];
    run.log(values.clone()).unwrap();
    run.log_at(5, [("x", Value::from(1.0))]).unwrap();
    run.log_at(5, [("y", Value::from(2.0)), ("x", Value::from(3.0))])
        .unwrap();
    run.log_at(7, [("z", Value::from(3))]).unwrap();
    run.log([("w", Value::from(1))]).unwrap(); // joins step 7 and commits it
    run.log([("after", Value::from(1))]).unwrap();
    run.set_summary("best", 42).unwrap();
    run.update_config(&serde_json::json!({"extra": "v", "token": "t"}))
        .unwrap();
    run.alert("T", "txt", AlertLevel::Warn).unwrap();
    let report = run.finish().unwrap();

    assert_eq!(report.rows, 4);
    assert_eq!(report.steps_refused, 0);
    let d = read_run(&only_run_dir(tmp.path()));
    assert_eq!(d.end, LogEnd::Clean);
    assert_eq!(d.steps(), vec![0, 5, 7, 8]);
    for (k, v) in &values {
        assert_eq!(d.rows[0][*k], v.to_json(), "{k}");
    }
    assert_eq!(d.rows[0]["f32"], "0.41");
    assert_eq!(d.rows[0]["nan"], "NaN");
    assert_eq!(d.rows[0]["ninf"], "-Infinity");
    assert_eq!(
        (d.rows[1]["x"].as_str(), d.rows[1]["y"].as_str()),
        ("3.0", "2.0")
    );
    assert_eq!(
        (d.rows[2]["z"].as_str(), d.rows[2]["w"].as_str()),
        ("3", "1")
    );
    for row in &d.rows {
        let runtime: f64 = row["_runtime"].parse().unwrap();
        let ts: f64 = row["_timestamp"].parse().unwrap();
        assert!((0.0..60.0).contains(&runtime), "{runtime}");
        assert!(ts > 1.7e9, "{ts}");
    }

    let run_record = d.run();
    assert_eq!(run_record.run_id, report.run_id);
    assert_eq!(
        (
            run_record.project.as_str(),
            run_record.entity.as_str(),
            run_record.display_name.as_str()
        ),
        ("tests", "team", "roundtrip")
    );
    assert_eq!(run_record.tags, vec!["a", "b"]);
    assert_eq!(
        (
            run_record.run_group.as_str(),
            run_record.job_type.as_str(),
            run_record.notes.as_str()
        ),
        ("g1", "train", "why")
    );
    assert!(run_record.start_time.is_some());
    assert!(!run_record.host.is_empty());
    assert_eq!(d.exit.as_ref().map(|e| e.exit_code), Some(0));

    assert_eq!(d.config["lr"], "0.01");
    assert_eq!(
        d.config["model"],
        r#"{"depth":3,"act":{"LeakyRelu":{"slope":0.1}},"widths":[8,16]}"#
    );
    assert_eq!(d.config["api_key"], r#""<redacted>""#);
    assert_eq!(d.config["max_tokens"], "128");
    assert_eq!(d.config["by_layer"], r#"{"0":0.5,"1":0.25}"#);
    assert_eq!(d.config["extra"], r#""v""#);
    assert_eq!(d.config["token"], r#""<redacted>""#);
    assert!(d.config["_wandb"].contains("labbook"));

    assert_eq!(d.summary["best"], "42");
    assert_eq!(d.summary["f32"], "0.41");
    assert_eq!(d.summary["after"], "1");
    assert_eq!(d.summary["_step"], "8");
    assert!(d.summary.contains_key("_wandb.runtime"));
    assert_eq!(d.alerts.len(), 1);
    assert_eq!(
        (
            d.alerts[0].title.as_str(),
            d.alerts[0].level.as_str(),
            d.alerts[0].wait_duration
        ),
        ("T", "WARN", 60_000)
    );

    let files = d.dir.join("files");
    for f in ["config.yaml", "wandb-summary.json", "wandb-metadata.json"] {
        assert!(files.join(f).is_file(), "{f}");
    }
    let yaml = std::fs::read_to_string(files.join("config.yaml")).unwrap();
    assert!(yaml.contains("lr:\n  value: 0.01"), "{yaml}");
    assert!(d.dir.join("logs").is_dir());
}

#[test]
fn a_backward_step_is_a_typed_error_counted_in_the_report_and_later_data_is_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let run = labbook::init(settings(tmp.path())).unwrap();
    run.log_at(10, [("a", Value::from(1))]).unwrap();
    match run.log_at(5, [("a", Value::from(2))]) {
        Err(Error::StepBackwards {
            step: 5,
            current: 10,
        }) => {}
        other => panic!("expected StepBackwards, got {other:?}"),
    }
    run.log_at(11, [("a", Value::from(3))]).unwrap();
    run.log([("a", Value::from(4))]).unwrap();
    let report = run.finish().unwrap();
    assert_eq!(report.steps_refused, 1);
    let d = read_run(&only_run_dir(tmp.path()));
    assert_eq!(d.steps(), vec![10, 11]);
    assert_eq!(d.column("a"), vec!["1", "4"]);
}

#[test]
fn bad_keys_are_refused_whole_and_name_the_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let run = labbook::init(settings(tmp.path())).unwrap();
    let e = run
        .log([("ok", Value::from(1)), ("", Value::from(2))])
        .unwrap_err();
    assert!(matches!(e, Error::InvalidKey { .. }), "{e}");
    let long = "k".repeat(300);
    let e = run.log([(long, Value::from(1))]).unwrap_err();
    assert!(e.to_string().contains("256 bytes"), "{e}");
    run.log([("ok", Value::from(3))]).unwrap();
    run.finish().unwrap();
    let d = read_run(&only_run_dir(tmp.path()));
    assert_eq!(d.column("ok"), vec!["3"], "the refused call logged nothing");
}

#[test]
fn logging_after_finish_is_an_error_and_finish_is_idempotent() {
    let tmp = tempfile::tempdir().unwrap();
    let run = labbook::init(settings(tmp.path())).unwrap();
    run.log([("a", Value::from(1))]).unwrap();
    let first = run.finish().unwrap();
    assert!(matches!(
        run.log([("a", Value::from(2))]),
        Err(Error::Finished { .. })
    ));
    let second = run.finish().unwrap();
    assert_eq!(first, second);
}

#[test]
fn rows_from_many_threads_arrive_exactly_once_and_whole() {
    const THREADS: u64 = 8;
    const ROWS: u64 = 2_000;
    let tmp = tempfile::tempdir().unwrap();
    let run = labbook::init(settings(tmp.path())).unwrap();
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let run = run.clone();
            s.spawn(move || {
                for i in 0..ROWS {
                    run.log([
                        ("thread", Value::from(t)),
                        ("seq", Value::from(i)),
                        ("check", Value::from(t * 1_000_000 + i)),
                    ])
                    .unwrap();
                }
            });
        }
    });
    let report = run.finish().unwrap();
    assert_eq!(report.rows, THREADS * ROWS);
    let d = read_run(&only_run_dir(tmp.path()));
    let mut seen = std::collections::HashSet::new();
    let mut last_seq = vec![None::<u64>; THREADS as usize];
    for (i, row) in d.rows.iter().enumerate() {
        let t: u64 = row["thread"].parse().unwrap();
        let seq: u64 = row["seq"].parse().unwrap();
        assert_eq!(
            row["check"],
            (t * 1_000_000 + seq).to_string(),
            "row {i} mixes two calls"
        );
        assert!(seen.insert((t, seq)), "row ({t},{seq}) twice");
        assert!(
            last_seq[t as usize].is_none_or(|p| p < seq),
            "thread {t} out of order"
        );
        last_seq[t as usize] = Some(seq);
        assert_eq!(row["_step"], i.to_string());
    }
    assert_eq!(seen.len() as u64, THREADS * ROWS);
}

#[test]
fn define_metric_drives_the_summary_and_step_metric_values() {
    let tmp = tempfile::tempdir().unwrap();
    let run = labbook::init(settings(tmp.path())).unwrap();
    run.define_metric(Metric::new("val/*").step_metric("epoch"))
        .unwrap();
    run.define_metric(
        Metric::new("loss")
            .summary(Summary::Min)
            .summary(Summary::Max)
            .summary(Summary::Mean),
    )
    .unwrap();
    run.define_metric(
        Metric::new("acc")
            .summary(Summary::Best)
            .goal(Goal::Maximize),
    )
    .unwrap();
    run.define_metric(Metric::new("hidden").summary(Summary::None))
        .unwrap();
    assert!(
        run.define_metric(Metric::new("x").summary(Summary::Best))
            .is_err()
    );
    run.log([
        ("loss", Value::from(2.0)),
        ("acc", Value::from(0.5)),
        ("epoch", Value::from(1)),
        ("hidden", Value::from(1)),
    ])
    .unwrap();
    run.log([
        ("loss", Value::from(f64::NAN)),
        ("val/loss", Value::from(0.7)),
    ])
    .unwrap();
    run.log([("loss", Value::from(1.0)), ("acc", Value::from(0.9))])
        .unwrap();
    run.log([
        ("acc", Value::from(0.6)),
        ("epoch", Value::from(2)),
        ("val/loss", Value::from(0.6)),
    ])
    .unwrap();
    run.finish().unwrap();
    let d = read_run(&only_run_dir(tmp.path()));
    assert_eq!(
        d.rows[1]["epoch"], "1",
        "step metric copied into a val/* row"
    );
    assert!(
        !d.rows[2].contains_key("epoch"),
        "rows without val/* keys get no epoch"
    );
    let loss: serde_json::Value = serde_json::from_str(&d.summary["loss"]).unwrap();
    assert_eq!(
        loss,
        serde_json::json!({"min": 1.0, "max": 2.0, "mean": 1.5})
    );
    assert_eq!(d.summary["acc"], r#"{"best":0.9}"#);
    assert!(!d.summary.contains_key("hidden"));
    let expanded: Vec<&str> = d
        .metrics
        .iter()
        .filter(|m| m.expanded_from_glob)
        .map(|m| m.name.as_str())
        .collect();
    assert_eq!(expanded, vec!["val/loss"]);
}

#[test]
fn a_score_placeholder_in_the_name_becomes_the_final_score() {
    let tmp = tempfile::tempdir().unwrap();
    let run = labbook::init(
        settings(tmp.path())
            .name("resnet_SCORE_PLACEHOLDER")
            .score_metrics(["val/hmean", "val/nan"]),
    )
    .unwrap();
    run.log([
        ("val/hmean", Value::from(0.8123)),
        ("val/nan", Value::from(f64::NAN)),
    ])
    .unwrap();
    let report = run.finish().unwrap();
    assert_eq!(report.name, "resnet_hmean0.812");
    let d = read_run(&only_run_dir(tmp.path()));
    assert_eq!(d.runs.len(), 2, "the rename is a second run record");
    assert_eq!(d.runs[1].display_name, "resnet_hmean0.812");
    assert_eq!(d.runs[1].run_id, d.runs[0].run_id);

    // A metric name ending in a digit keeps the number readable.
    let tmp = tempfile::tempdir().unwrap();
    let run = labbook::init(
        settings(tmp.path())
            .name("m_SCORE_PLACEHOLDER")
            .score_metrics(["val/f1"]),
    )
    .unwrap();
    run.log([("val/f1", Value::from(0.9021))]).unwrap();
    assert_eq!(run.finish().unwrap().name, "m_f1-0.902");
}

#[test]
fn an_unserializable_config_field_is_a_warning_and_init_succeeds() {
    struct Handle;
    impl Serialize for Handle {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom(
                "a file handle has no config form",
            ))
        }
    }
    #[derive(Serialize)]
    struct C {
        lr: f64,
        log_file: Handle,
    }
    let tmp = tempfile::tempdir().unwrap();
    let run = labbook::init(settings(tmp.path()).config(&C {
        lr: 0.5,
        log_file: Handle,
    }))
    .unwrap();
    let report = run.finish().unwrap();
    assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
    assert!(report.warnings[0].contains("log_file"));
    let d = read_run(&only_run_dir(tmp.path()));
    assert_eq!(d.config["lr"], "0.5");
    assert!(!d.config.contains_key("log_file"));
}

#[test]
fn config_as_returns_the_typed_config_with_overrides_and_sweep_values() {
    #[derive(Serialize, serde::Deserialize, Debug, PartialEq)]
    struct C {
        lr: f64,
        depth: u32,
        name: String,
    }
    let tmp = tempfile::tempdir().unwrap();
    let params = tmp.path().join("sweep.yaml");
    std::fs::write(&params, "lr:\n  value: 0.003\n").unwrap();
    let run = labbook::init(
        settings(tmp.path())
            .env_vars([
                ("WANDB_SWEEP_PARAM_PATH", params.to_str().unwrap()),
                ("WANDB_SWEEP_ID", "sw9"),
            ])
            .config(&C {
                lr: 0.1,
                depth: 2,
                name: "n".into(),
            })
            .overrides(["depth=5"]),
    )
    .unwrap();
    assert_eq!(
        run.config_as::<C>().unwrap(),
        C {
            lr: 0.003,
            depth: 5,
            name: "n".into()
        }
    );
    run.update_config(&serde_json::json!({"depth": 6})).unwrap();
    assert_eq!(run.config_as::<C>().unwrap().depth, 6);
    assert!(matches!(
        run.config_as::<Vec<u8>>(),
        Err(Error::ConfigType(_))
    ));
    run.finish().unwrap();
    let d = read_run(&only_run_dir(tmp.path()));
    assert_eq!(d.run().sweep_id, "sw9");
    assert_eq!(d.config["lr"], "0.003");
}

#[test]
fn settings_come_from_wandb_variables() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let run = labbook::init(
        labbook::Settings::default()
            .quiet(true)
            .handle_signals(false)
            .dotenv_dir(tmp.path())
            .env_vars([
                ("WANDB_DIR", root.to_str().unwrap()),
                ("WANDB_PROJECT", "envproj"),
                ("WANDB_RUN_ID", "envid123"),
                ("WANDB_NAME", "envname"),
                ("WANDB_TAGS", "x,y"),
                ("WANDB_RUN_GROUP", "grp"),
                ("WANDB_JOB_TYPE", "eval"),
                ("WANDB_NOTES", "notes"),
                ("WANDB_CONSOLE", "off"),
                ("WANDB_X_DISABLE_STATS", "true"),
            ]),
    )
    .unwrap();
    assert_eq!(run.id(), "envid123");
    run.finish().unwrap();
    let d = read_run(&only_run_dir(&root));
    let r = d.run();
    assert_eq!(
        (
            r.project.as_str(),
            r.run_id.as_str(),
            r.display_name.as_str(),
            r.run_group.as_str(),
            r.job_type.as_str()
        ),
        ("envproj", "envid123", "envname", "grp", "eval")
    );
    assert_eq!(r.tags, vec!["x", "y"]);
}

#[test]
fn online_mode_without_a_key_is_a_clear_error_at_init() {
    let tmp = tempfile::tempdir().unwrap();
    let e = labbook::init(settings(tmp.path()).env_vars([("WANDB_MODE", "online")])).unwrap_err();
    assert!(matches!(e, Error::Auth(_)), "{e}");
    assert!(e.to_string().contains("WANDB_API_KEY"), "{e}");
    assert!(!tmp.path().join("wandb").exists());
    let e = labbook::init(settings(tmp.path()).env_vars([
        ("WANDB_MODE", "online"),
        ("WANDB_API_KEY", "too-short-secret"),
    ]))
    .unwrap_err();
    assert!(
        !e.to_string().contains("too-short-secret"),
        "the key leaked: {e}"
    );
}

#[test]
fn an_unwritable_directory_fails_init_or_degrades_to_a_disabled_run() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let e = labbook::init(settings(&file)).unwrap_err();
    assert!(matches!(e, Error::Io { .. }), "{e}");
    assert!(e.to_string().contains("not-a-dir"), "{e}");
    let run = labbook::init(settings(&file).on_error(OnError::Degrade)).unwrap();
    assert!(run.is_disabled());
    run.log([("a", Value::from(1))]).unwrap();
}

#[test]
fn dropping_the_last_handle_finishes_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let run = labbook::init(settings(tmp.path())).unwrap();
        let clone = run.clone();
        run.log([("a", Value::from(1))]).unwrap();
        drop(run);
        clone.log_at(3, [("b", Value::from(2))]).unwrap();
    }
    let d = read_run(&only_run_dir(tmp.path()));
    assert_eq!(d.steps(), vec![0, 3]);
    assert_eq!(d.exit.map(|e| e.exit_code), Some(0));
}

#[test]
fn saved_files_are_copied_into_the_run_at_the_end() {
    let tmp = tempfile::tempdir().unwrap();
    let run = labbook::init(settings(tmp.path())).unwrap();
    let ckpt = tmp.path().join("ckpt");
    std::fs::create_dir_all(&ckpt).unwrap();
    let pattern = format!("{}/*.bin", ckpt.display());
    run.save(&pattern, SavePolicy::End).unwrap();
    std::fs::write(ckpt.join("model.bin"), b"weights").unwrap();
    assert!(
        run.save("[", SavePolicy::Now).is_err(),
        "an invalid glob is refused"
    );
    run.finish().unwrap();
    let d = read_run(&only_run_dir(tmp.path()));
    let saved: Vec<&str> = d
        .files
        .iter()
        .filter(|f| f.policy == 1)
        .map(|f| f.path.as_str())
        .collect();
    assert_eq!(saved, vec!["model.bin"]);
    assert_eq!(
        std::fs::read(d.dir.join("files/model.bin")).unwrap(),
        b"weights"
    );
}

#[test]
fn a_full_queue_blocks_and_counts_instead_of_losing_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let run = labbook::init(settings(tmp.path()).queue_bytes(2048)).unwrap();
    let run = Arc::new(run);
    for i in 0..20_000u64 {
        run.log([("i", Value::from(i)), ("pad", Value::from("x".repeat(64)))])
            .unwrap();
    }
    let report = run.finish().unwrap();
    assert_eq!(report.rows, 20_000);
    assert_eq!(report.dropped, 0);
}

#[test]
fn lossy_mode_drops_and_counts_every_drop() {
    let tmp = tempfile::tempdir().unwrap();
    let run = labbook::init(
        settings(tmp.path())
            .queue_bytes(512)
            .backpressure(labbook::Backpressure::Drop),
    )
    .unwrap();
    let mut dropped = 0u64;
    for i in 0..20_000u64 {
        match run.log([("i", Value::from(i)), ("pad", Value::from("x".repeat(200)))]) {
            Ok(()) => {}
            Err(Error::Dropped) => dropped += 1,
            Err(e) => panic!("{e}"),
        }
    }
    let report = run.finish().unwrap();
    assert_eq!(report.dropped, dropped);
    assert_eq!(report.rows + dropped, 20_000);
}
