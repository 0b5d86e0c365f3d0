//! Hostile and careless input to the engine: huge and tiny numbers, steps at the edge of
//! W&B's int64, values nested thousands deep, empty images, threads racing on one run,
//! saved-file patterns that point outside the run, secrets in config and arguments. Each
//! test is one defect that once broke a promise of the README.

use std::path::Path;
use std::time::{Duration, Instant};

use labbook::media::{Histogram, Image};
use labbook::{Error, SavePolicy, Value};
use labbook_testkit::{only_run_dir, read_run, settings};

#[test]
fn steps_stop_at_i64_max_and_no_step_arithmetic_overflows() {
    // Failed before: `log_at(u64::MAX)` was taken and the next `log` overflowed the step.
    let tmp = tempfile::tempdir().unwrap();
    let run = labbook::init(settings(tmp.path())).unwrap();
    let e = run.log_at(u64::MAX, [("x", Value::from(1))]).unwrap_err();
    assert!(e.to_string().contains("above the largest step"), "{e}");
    let last = i64::MAX as u64;
    run.log_at(last, [("x", Value::from(2))]).unwrap();
    run.log([("y", Value::from(3))]).unwrap(); // completes row i64::MAX
    let e = run.log([("z", Value::from(4))]).unwrap_err();
    assert!(e.to_string().contains("above the largest step"), "{e}");
    let report = run.finish().unwrap();
    assert_eq!(report.steps_refused, 2);
    let d = read_run(&only_run_dir(tmp.path()));
    assert_eq!(d.steps(), vec![last]);
    assert_eq!(
        (d.rows[0]["x"].as_str(), d.rows[0]["y"].as_str()),
        ("2", "3")
    );
}

#[test]
fn a_log_never_adds_to_a_row_another_thread_opened_with_log_at() {
    // Failed before: thread B's `log` landed in the row thread A had opened at step 5.
    let tmp = tempfile::tempdir().unwrap();
    let run = labbook::init(settings(tmp.path())).unwrap();
    run.log_at(5, [("val/loss", Value::from(0.5))]).unwrap();
    let other = run.clone();
    std::thread::spawn(move || other.log([("train/loss", Value::from(0.9))]).unwrap())
        .join()
        .unwrap();
    // On one thread the README's rule stands: a `log` completes its own `log_at` row.
    run.log_at(7, [("a", Value::from(1))]).unwrap();
    run.log([("b", Value::from(2))]).unwrap();
    run.finish().unwrap();
    let d = read_run(&only_run_dir(tmp.path()));
    assert_eq!(d.steps(), vec![5, 6, 7]);
    assert!(d.rows[0].contains_key("val/loss") && !d.rows[0].contains_key("train/loss"));
    assert!(d.rows[1].contains_key("train/loss"));
    assert!(d.rows[2].contains_key("a") && d.rows[2].contains_key("b"));
}

#[test]
fn concurrent_config_updates_leave_config_as_and_the_log_agreeing() {
    // Failed before (a race, so not on every run): each update merged into `config_as`
    // and queued for the log under two separate locks, so two threads could leave them
    // disagreeing. Checked after every round of four racing updates.
    #[derive(serde::Deserialize)]
    struct Owner {
        owner: i64,
    }
    let tmp = tempfile::tempdir().unwrap();
    let run = labbook::init(settings(tmp.path())).unwrap();
    let log = run.dir().unwrap().join(format!("run-{}.wandb", run.id()));
    for round in 0..150i64 {
        let start = std::sync::Barrier::new(4);
        std::thread::scope(|s| {
            for t in 0..4 {
                let (run, start) = (run.clone(), &start);
                s.spawn(move || {
                    start.wait();
                    run.update_config(&serde_json::json!({ "owner": round * 10 + t }))
                        .unwrap();
                });
            }
        });
        run.flush().unwrap();
        let typed: Owner = run.config_as().unwrap();
        let logged = labbook_wire::read_log(&log)
            .unwrap()
            .records
            .into_iter()
            .filter_map(|r| match r.record_type {
                Some(labbook_wire::proto::RecordType::Config(c)) => c
                    .update
                    .into_iter()
                    .find(|i| i.key == "owner")
                    .map(|i| i.value_json),
                _ => None,
            })
            .next_back()
            .unwrap();
        assert_eq!(logged, typed.owner.to_string(), "round {round}");
    }
    run.finish().unwrap();
}

/// A run with a 20 ms finish_timeout and 24 rows of 512x512 images queued: its worker is
/// behind for a good while.
fn behind_on_images(dir: &Path) -> labbook::Run {
    let run = labbook::init(
        settings(dir)
            .finish_timeout(Duration::from_millis(20))
            .queue_bytes(256 << 20),
    )
    .unwrap();
    let noise: Vec<u8> = (0..512 * 512 * 3u64)
        .map(|i| (i * 7919 % 251) as u8)
        .collect();
    for step in 0..24 {
        let img = Image::rgb(512, 512, noise.clone()).unwrap();
        run.log([("img", Value::from(img)), ("step", Value::from(step))])
            .unwrap();
    }
    run
}

#[test]
fn a_flush_that_times_out_is_not_a_failure_and_drops_nothing() {
    // Failed before: the timeout read as "the writer stopped" and counted a drop.
    let tmp = tempfile::tempdir().unwrap();
    let run = behind_on_images(tmp.path());
    let mut timeouts = 0;
    loop {
        match run.flush() {
            Ok(()) => break,
            Err(Error::FlushTimedOut { .. }) => timeouts += 1,
            Err(e) => panic!("a slow flush is not {e}"),
        }
    }
    assert!(timeouts > 0, "24 images were written within 20 ms");
    run.log([("after", Value::from(1))]).unwrap();
    let report = run.finish().unwrap();
    assert_eq!((report.dropped, report.rows), (0, 25));
    assert!(report.errors.is_empty(), "{:?}", report.errors);
}

#[test]
fn an_empty_image_is_an_error_at_the_call() {
    // Failed before: accepted by `log`, refused only on the worker (a null and a warning).
    let tmp = tempfile::tempdir().unwrap();
    let run = labbook::init(settings(tmp.path())).unwrap();
    let empty = Image::from_dynamic(image::DynamicImage::new_rgb8(0, 0));
    let e = run.log([("img", Value::from(empty))]).unwrap_err();
    assert!(
        matches!(&e, Error::InvalidValue { key, .. } if key == "img"),
        "{e}"
    );
    assert!(e.to_string().contains("0x0"), "{e}");
    assert!(run.finish().unwrap().warnings.is_empty());
}

/// A value nested `depth` lists deep, built without recursion.
fn nested(depth: usize) -> Value {
    let mut v = Value::from(1);
    for _ in 0..depth {
        v = Value::List(vec![v]);
    }
    v
}

#[test]
fn values_nested_ten_thousand_deep_are_refused_at_the_call() {
    // Failed before: taken by `log`, then the worker's JSON encoder overflowed its stack
    // and took the process with it. The test's own drop of the value needs stack too.
    std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(|| {
            let tmp = tempfile::tempdir().unwrap();
            let run = labbook::init(settings(tmp.path())).unwrap();
            let e = run.log([("deep", nested(10_000))]).unwrap_err();
            assert!(e.to_string().contains("nest more than 64 levels"), "{e}");
            assert!(run.set_summary("deep", nested(10_000)).is_err());
            let mut deep_json = serde_json::json!(1);
            for _ in 0..10_000 {
                deep_json = serde_json::Value::Array(vec![deep_json]);
            }
            let deep_json =
                serde_json::Value::Object([("deep".to_owned(), deep_json)].into_iter().collect());
            run.update_config(&deep_json).unwrap();
            run.log([("ok", nested(64))]).unwrap();
            let report = run.finish().unwrap();
            assert!(
                report.warnings.iter().any(|w| w.contains("deeper than 64")),
                "{:?}",
                report.warnings
            );
            let d = read_run(&only_run_dir(tmp.path()));
            assert_eq!(d.rows.len(), 1);
            // What was kept of the config is at most 64 levels deep.
            assert!(
                d.config["deep"].matches('[').count() <= 64,
                "{}",
                d.config["deep"]
            );
            std::mem::forget(deep_json);
        })
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn a_histogram_of_a_tiny_range_is_logged_and_finish_is_prompt() {
    // Failed before: the bin scale overflowed, the worker panicked, and `finish` waited the
    // whole finish_timeout for it.
    let tmp = tempfile::tempdir().unwrap();
    let run = labbook::init(settings(tmp.path()).finish_timeout(Duration::from_secs(30))).unwrap();
    for values in [
        vec![0.0, 1e-307],
        vec![0.0, f64::from_bits(1)],
        vec![-f64::MAX, f64::MAX],
        vec![1e300; 3],
    ] {
        run.log([("h", Value::from(Histogram::from_f64(values)))])
            .unwrap();
    }
    let t = Instant::now();
    let report = run.finish().unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "finish took {:?}",
        t.elapsed()
    );
    assert_eq!(report.rows, 4);
    let d = read_run(&only_run_dir(tmp.path()));
    assert!(d.column("h").iter().all(|h| h.contains("\"histogram\"")));
}

#[test]
fn saved_files_always_land_inside_files_and_never_overwrite_themselves() {
    // Failed before: a `../` pattern was copied outside `files/` under a `../` name, and a
    // file reached through a symlink was copied onto itself (truncated to nothing).
    let cwd = std::env::current_dir().unwrap();
    let scratch = tempfile::tempdir_in(&cwd).unwrap();
    let out = scratch.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("a.pt"), b"weights-a").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let run = labbook::init(settings(tmp.path())).unwrap();
    let dir = run.dir().unwrap().to_owned();
    let files = run.files_dir().unwrap().to_owned();
    // `../<this dir>/<scratch>/out/*.pt`: relative to the working directory, through `..`.
    let rel = format!(
        "../{}/{}/out/*.pt",
        cwd.file_name().unwrap().to_string_lossy(),
        scratch.path().file_name().unwrap().to_string_lossy()
    );
    run.save(&rel, SavePolicy::Now).unwrap();
    // A file already in `files/`, named through a symlink to it.
    std::fs::write(files.join("kept.bin"), b"keep me").unwrap();
    let link = tmp.path().join("link");
    std::os::unix::fs::symlink(&files, &link).unwrap();
    run.save(&link.join("kept.bin").to_string_lossy(), SavePolicy::Now)
        .unwrap();
    // A saved link keeps its own name, not its target's.
    let ckpt = tmp.path().join("ckpt");
    std::fs::create_dir_all(&ckpt).unwrap();
    std::fs::write(ckpt.join("epoch-3.pt"), b"epoch 3").unwrap();
    std::os::unix::fs::symlink("epoch-3.pt", ckpt.join("latest.pt")).unwrap();
    run.save(&ckpt.join("latest.pt").to_string_lossy(), SavePolicy::Now)
        .unwrap();
    run.finish().unwrap();
    let d = read_run(&dir);
    for f in &d.files {
        assert!(
            !f.path.contains("..") && !f.path.starts_with('/'),
            "{}",
            f.path
        );
        let on_disk = files.join(&f.path).canonicalize().unwrap();
        assert!(
            on_disk.starts_with(files.canonicalize().unwrap()),
            "{}",
            f.path
        );
    }
    let a = d.files.iter().find(|f| f.path.ends_with("a.pt")).unwrap();
    assert_eq!(std::fs::read(files.join(&a.path)).unwrap(), b"weights-a");
    assert_eq!(std::fs::read(files.join("kept.bin")).unwrap(), b"keep me");
    assert_eq!(std::fs::read(files.join("latest.pt")).unwrap(), b"epoch 3");
    assert!(d.files.iter().any(|f| f.path == "latest.pt"));
    assert!(
        !dir.join(cwd.file_name().unwrap()).exists(),
        "nothing beside files/"
    );
}

#[test]
fn secrets_never_reach_the_run_directory() {
    // Failed before: `db_password` and the API key's value inside another field reached
    // config.yaml and the log.
    let key = "local-0123456789abcdefghijklmnopqrstuvwxyz0123";
    let tmp = tempfile::tempdir().unwrap();
    let run = labbook::init(
        settings(tmp.path())
            .env_vars([("WANDB_API_KEY".to_owned(), key.to_owned())])
            .config(&serde_json::json!({
                "db_password": "hunter2-db",
                "hf_token": "hf_abcdefgh",
                "x-api-key": "xkey-123456",
                "openai_api_key": "sk-openai-1",
                "note": format!("run with key {key}"),
                "max_tokens": 512,
                "pad_token_id": 0,
                "tokenizer": "bpe",
                "commit": "4f1c0a9e8b7d6c5b4a39281706f5e4d3c2b1a098",
            })),
    )
    .unwrap();
    run.update_config(&serde_json::json!({"aws_secret_access_key": "aws-secret-9", "client_secret": "cs-1234567"}))
        .unwrap();
    run.log([("x", Value::from(1))]).unwrap();
    let dir = run.dir().unwrap().to_owned();
    run.finish().unwrap();
    let everything = read_all(&dir);
    for secret in [
        key,
        "hunter2-db",
        "hf_abcdefgh",
        "xkey-123456",
        "sk-openai-1",
        "aws-secret-9",
        "cs-1234567",
    ] {
        assert!(
            !everything.contains(secret),
            "{secret} reached {}",
            dir.display()
        );
    }
    let d = read_run(&dir);
    assert_eq!(
        (
            d.config["max_tokens"].as_str(),
            d.config["pad_token_id"].as_str()
        ),
        ("512", "0")
    );
    assert!(everything.contains("4f1c0a9e8b7d6c5b4a39281706f5e4d3c2b1a098"));
    assert_eq!(d.config["tokenizer"], "\"bpe\"");
}

/// Every byte of every file under `dir`, lossily as text.
fn read_all(dir: &Path) -> String {
    let mut out = String::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push_str(&String::from_utf8_lossy(&std::fs::read(&p).unwrap()));
            }
        }
    }
    out
}

#[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
struct Model {
    layers: u32,
    width: u32,
}

#[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
struct Optim {
    beta: f64,
    eps: f64,
}

#[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
struct Train {
    lr: f64,
    model: Model,
    optim: Optim,
}

#[test]
fn nested_sweep_parameters_reach_nested_fields_of_the_typed_config() {
    // Failed before: `model.layers` became a top-level key the typed config never saw, and
    // a nested `parameters:` block replaced `optim` whole, dropping `eps`.
    let tmp = tempfile::tempdir().unwrap();
    let params = tmp.path().join("config-abc.yaml");
    std::fs::write(
        &params,
        "wandb_version: 1\nmodel.layers: {value: 4}\noptim: {value: {beta: 0.5}}\n",
    )
    .unwrap();
    let cfg = Train {
        lr: 0.1,
        model: Model {
            layers: 2,
            width: 64,
        },
        optim: Optim {
            beta: 0.9,
            eps: 1e-8,
        },
    };
    let run = labbook::init(
        settings(tmp.path())
            .env_vars([
                ("WANDB_SWEEP_ID".to_owned(), "sw1".to_owned()),
                (
                    "WANDB_SWEEP_PARAM_PATH".to_owned(),
                    params.display().to_string(),
                ),
            ])
            .config(&cfg),
    )
    .unwrap();
    let typed: Train = run.config_as().unwrap();
    assert_eq!(
        typed,
        Train {
            lr: 0.1,
            model: Model {
                layers: 4,
                width: 64
            },
            optim: Optim {
                beta: 0.5,
                eps: 1e-8
            },
        }
    );
    let dir = run.dir().unwrap().to_owned();
    run.finish().unwrap();
    let d = read_run(&dir);
    // The controller's names as the agent wrote them, and the nested fields in place.
    assert_eq!(d.config["model.layers"], "4");
    assert_eq!(d.config["model"], r#"{"layers":4,"width":64}"#);
    assert_eq!(d.config["optim"], r#"{"beta":0.5,"eps":1e-8}"#);
}

mod step_props {
    use proptest::prelude::*;

    use super::*;

    #[derive(Clone, Debug)]
    enum Op {
        Log,
        LogAt(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        let edge = prop::sample::select(vec![
            0,
            1,
            i64::MAX as u64 - 1,
            i64::MAX as u64,
            i64::MAX as u64 + 1,
            u64::MAX,
        ]);
        prop_oneof![
            3 => Just(Op::Log),
            2 => (0u64..50).prop_map(Op::LogAt),
            1 => edge.prop_map(Op::LogAt),
        ]
    }

    proptest! {
        // Each case starts and finishes a run: few cases, fixed.
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Any sequence of `log` and `log_at` at any step: no panic, every refusal counted,
        /// and the steps on disk strictly increasing and within W&B's int64.
        #[test]
        fn any_steps_leave_increasing_steps_within_int64(ops in prop::collection::vec(op(), 1..40)) {
            let tmp = tempfile::tempdir().unwrap();
            let run = labbook::init(settings(tmp.path())).unwrap();
            let mut refused = 0;
            for (i, op) in ops.iter().enumerate() {
                let r = match op {
                    Op::Log => run.log([("i", Value::from(i))]),
                    Op::LogAt(s) => run.log_at(*s, [("i", Value::from(i))]),
                };
                match r {
                    Ok(()) => {}
                    Err(Error::StepBackwards { .. } | Error::StepTooLarge { .. }) => refused += 1,
                    Err(e) => prop_assert!(false, "{e}"),
                }
            }
            let report = run.finish().unwrap();
            prop_assert_eq!(report.steps_refused, refused);
            let steps = read_run(report.dir()).steps();
            prop_assert!(steps.windows(2).all(|w| w[0] < w[1]), "{:?}", steps);
            prop_assert!(steps.iter().all(|&s| s <= i64::MAX as u64), "{:?}", steps);
            prop_assert_eq!(steps.len() as u64, report.rows);
        }
    }
}

#[test]
fn a_finish_that_times_out_keeps_the_run_locked_until_the_writer_is_done() {
    // Failed before: the lock went with `finish`, so `labbook sync` could take the run
    // (as crashed) while the worker was still writing its rows.
    let tmp = tempfile::tempdir().unwrap();
    let run = behind_on_images(tmp.path());
    let dir = run.dir().unwrap().to_owned();
    let e = run.finish().unwrap_err().to_string();
    assert!(e.contains("finish timed out"), "{e}");
    assert!(
        labbook::run_is_live(&dir),
        "unlocked while the worker writes"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while labbook::run_is_live(&dir) {
        assert!(Instant::now() < deadline, "the worker never let go");
        std::thread::sleep(Duration::from_millis(20));
    }
    let d = read_run(&dir);
    assert_eq!(d.rows.len(), 24, "every row written before the lock went");
    assert!(d.exit.is_some());
}
