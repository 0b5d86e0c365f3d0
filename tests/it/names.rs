//! What a run is called: names, tags and notes changed while it runs, names made from the
//! config, and the final score added at `finish`.

use std::time::{Duration, Instant};

use labbook::{Mode, Value};
use labbook_testkit::{only_run_dir, read_run, settings};

#[test]
fn name_tags_and_notes_change_during_the_run_as_run_record_updates() {
    let tmp = tempfile::tempdir().unwrap();
    let run = labbook::init(settings(tmp.path()).name("first").tags(["a"])).unwrap();
    assert_eq!(
        (run.name(), run.tags(), run.project()),
        ("first".into(), vec!["a".to_owned()], "tests")
    );
    run.log([("x", Value::from(1))]).unwrap();
    run.set_name("second").unwrap();
    run.add_tags(["b", "a"]).unwrap();
    run.set_notes("lr too high").unwrap();
    // A change that changes nothing records nothing.
    run.add_tags(["b"]).unwrap();
    assert_eq!(run.tags(), ["a", "b"]);
    assert!(
        run.set_name("  ")
            .unwrap_err()
            .to_string()
            .contains("run name")
    );
    let long = "t".repeat(65);
    let e = run.add_tags([long.as_str()]).unwrap_err().to_string();
    assert!(e.contains("1 to 64 characters"), "{e}");
    run.set_tags(["final"]).unwrap();
    let report = run.finish().unwrap();
    assert_eq!(report.name, "second");

    let d = read_run(&only_run_dir(tmp.path()));
    let names: Vec<(&str, Vec<String>, &str)> = d
        .runs
        .iter()
        .map(|r| (r.display_name.as_str(), r.tags.clone(), r.notes.as_str()))
        .collect();
    let t = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        names,
        [
            ("first", t(&["a"]), ""),
            ("second", t(&["a"]), ""),
            ("second", t(&["a", "b"]), ""),
            ("second", t(&["a", "b"]), "lr too high"),
            ("second", t(&["final"]), "lr too high"),
        ]
    );
    assert!(d.runs.iter().all(|r| r.run_id == d.runs[0].run_id));
    let last = d.runs.last().unwrap();
    assert_eq!(
        (last.display_name.as_str(), last.notes.as_str()),
        ("second", "lr too high")
    );
    assert_eq!(last.tags, ["final"]);
    // Without score metrics, the summary has no final name.
    assert!(!d.summary.contains_key("final_run_name"));
}

#[test]
fn a_disabled_run_keeps_its_names_too() {
    let run = labbook::init(labbook::Settings::new("p").mode(Mode::Disabled).name("n")).unwrap();
    run.set_name("m").unwrap();
    run.set_notes("why").unwrap();
    assert_eq!(
        (run.name(), run.notes(), run.project()),
        ("m".into(), "why".into(), "p")
    );
}

#[test]
fn the_score_is_appended_to_a_name_without_placeholder_and_kept_in_the_summary() {
    let tmp = tempfile::tempdir().unwrap();
    let run = labbook::init(
        settings(tmp.path())
            .name("resnet")
            .score_metrics(["val/acc", "val/loss", "val/missing"])
            .score_precision(2),
    )
    .unwrap();
    run.log([
        ("val/acc", Value::from(0.9172)),
        ("val/loss", Value::from(f64::INFINITY)),
    ])
    .unwrap();
    assert_eq!(run.finish().unwrap().name, "resnet_acc0.92");
    let d = read_run(&only_run_dir(tmp.path()));
    assert_eq!(d.runs.last().unwrap().display_name, "resnet_acc0.92");
    assert_eq!(d.summary["final_run_name"], "\"resnet_acc0.92\"");
    // (The file is W&B's JSON dialect: the infinite loss is a bare `Infinity`.)
    let human =
        std::fs::read_to_string(only_run_dir(tmp.path()).join("files/wandb-summary.json")).unwrap();
    assert!(
        human.contains(r#""final_run_name":"resnet_acc0.92""#),
        "{human}"
    );

    // Without score metrics the name does not change.
    let tmp = tempfile::tempdir().unwrap();
    let run = labbook::init(settings(tmp.path()).name("plain")).unwrap();
    run.log([("val/acc", Value::from(0.5))]).unwrap();
    assert_eq!(run.finish().unwrap().name, "plain");
}

#[derive(serde::Serialize)]
struct Model {
    arch: String,
}
#[derive(serde::Serialize)]
struct Train {
    lr: f64,
    batch: u32,
}
#[derive(serde::Serialize)]
struct Cfg {
    model: Model,
    train: Train,
}

#[test]
fn a_name_template_is_filled_from_the_config_after_overrides() {
    let cfg = Cfg {
        model: Model { arch: "vit".into() },
        train: Train { lr: 0.1, batch: 64 },
    };
    let tmp = tempfile::tempdir().unwrap();
    let run = labbook::init(
        settings(tmp.path())
            .config(&cfg)
            .overrides(["train.lr=0.0003"])
            .name_template("{model.arch}_lr{train.lr}_bs{train.batch}_SCORE_PLACEHOLDER")
            .score_metrics(["val/hmean"]),
    )
    .unwrap();
    assert_eq!(run.name(), "vit_lr0.0003_bs64_SCORE_PLACEHOLDER");
    run.log([("val/hmean", Value::from(0.4567))]).unwrap();
    assert_eq!(run.finish().unwrap().name, "vit_lr0.0003_bs64_hmean0.457");

    let e = labbook::init(
        settings(tmp.path())
            .config(&cfg)
            .name_template("{model.arhc}"),
    )
    .expect_err("an unknown key fails init")
    .to_string();
    assert!(
        e.contains("\"model.arhc\"") && e.contains("did you mean \"model.arch\""),
        "{e}"
    );
}

#[test]
fn a_rename_reaches_the_server_while_the_run_is_live() {
    const KEY: &str = "nams0123456789abcdefghijklmnopqrstuvwxyz01";
    let server = labbook_server::Server::start(labbook_server::ServerConfig::new(KEY)).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let run = labbook::init(
        settings(tmp.path())
            .mode(Mode::Online)
            .base_url(server.base_url())
            .api_key(KEY)
            .upload_interval(Duration::from_millis(50))
            .name("before"),
    )
    .unwrap();
    run.set_name("after").unwrap();
    run.set_tags(["t1", "t2"]).unwrap();
    run.set_notes("noted").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let runs = server.storage().runs();
        if let Some(r) = runs.first()
            && r.display_name.as_deref() == Some("after")
            && r.tags == ["t1", "t2"]
            && r.notes.as_deref() == Some("noted")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the rename never reached the server"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    run.finish().unwrap();
}
