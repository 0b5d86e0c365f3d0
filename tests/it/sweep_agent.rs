//! `sweep::agent`: a local sweep's trials in this process, as `wandb.agent(function=...)`
//! runs them. The resource check runs in a child process of its own, where no other test's
//! threads come and go.

use std::path::Path;

use labbook::sweep::{Sweep, TrialStatus, agent};
use labbook::{Console, Value};
use labbook_testkit::read_run;

const TRIALS: u64 = 50;

fn count_entries(dir: &str) -> usize {
    std::fs::read_dir(dir).unwrap().count()
}

/// The child: 50 trials, each with system metrics sampled and console capture on, so a
/// thread or descriptor a run leaves behind shows.
#[test]
fn child_main() {
    let Ok(what) = std::env::var("LABBOOK_CHILD") else {
        return;
    };
    assert_eq!(what, "agent");
    let root = std::env::var("LABBOOK_CHILD_DIR").unwrap();
    let sweep = Sweep::create(
        &root,
        "method: random\nmetric: {name: val/score, goal: maximize}\nparameters:\n  lr: {min: 0.0001, max: 0.1, distribution: log_uniform_values}\n  depth: {values: [1, 2, 3]}\n",
        Some(7),
    )
    .unwrap();
    let base = labbook_testkit::settings(Path::new(&root))
        .system_metrics(true)
        .stats_interval(std::time::Duration::from_millis(100))
        .console(Console::Wrap)
        .config(&serde_json::json!({"lr": 1.0, "depth": 0, "epochs": 2}));
    let mut after_first = None;
    for i in 0..TRIALS {
        let trials = agent(&sweep, &base, 1, |run| {
            let cfg: serde_json::Value = run.config_as()?;
            let lr = cfg["lr"].as_f64().unwrap();
            assert!(
                lr < 0.2,
                "the trial's lr is the sweep's, not the default: {cfg}"
            );
            assert_eq!(cfg["epochs"], 2, "defaults the sweep does not set stay");
            for e in 0..3 {
                run.log([("val/score", Value::from(lr * f64::from(e)))])?;
            }
            println!("trial output");
            Ok::<(), labbook::Error>(())
        })
        .unwrap();
        assert_eq!(trials.len(), 1);
        assert_eq!(trials[0].status, TrialStatus::Finished);
        if i == 0 {
            after_first = Some((
                count_entries("/proc/self/task"),
                count_entries("/proc/self/fd"),
            ));
        }
    }
    let now = (
        count_entries("/proc/self/task"),
        count_entries("/proc/self/fd"),
    );
    println!("threads and fds after the first trial {after_first:?}, after {TRIALS}: {now:?}");
    assert_eq!(
        Some(now),
        after_first,
        "(threads, open fds) grew over {TRIALS} trials"
    );
    let trials = sweep.trials().unwrap();
    assert_eq!(trials.len() as u64, TRIALS);
    assert!(
        trials
            .iter()
            .all(|t| t.status == TrialStatus::Finished && t.metric.is_some())
    );
    println!("child done");
}

#[test]
fn fifty_trials_in_one_process_leave_no_thread_or_descriptor_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let out = labbook_testkit::child_command("sweep_agent::child_main", "agent", tmp.path(), None)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.contains("child done"),
        "{text}"
    );
    // Each trial's run is finished and readable.
    let runs: Vec<_> = std::fs::read_dir(tmp.path().join("wandb"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("offline-run-"))
        .collect();
    assert_eq!(runs.len() as u64, TRIALS);
    for r in runs {
        let d = read_run(&r.path());
        assert_eq!(d.exit.as_ref().map(|e| e.exit_code), Some(0));
        assert_eq!(d.column("val/score").len(), 3);
        assert!(!d.run().sweep_id.is_empty());
    }
}

#[test]
fn a_failing_or_panicking_trial_is_recorded_and_the_next_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let sweep = Sweep::create(
        tmp.path(),
        "method: grid\nmetric: {name: m}\nparameters:\n  k: {values: [0, 1, 2]}\n",
        None,
    )
    .unwrap();
    let trials = agent(&sweep, &labbook_testkit::settings(tmp.path()), 10, |run| {
        let k = run.config_as::<serde_json::Value>()?["k"].as_i64().unwrap();
        match k {
            0 => Err(labbook::Error::Artifact("the data went missing".into())),
            1 => panic!("the loss went NaN"),
            _ => run.log([("m", Value::from(k))]),
        }
    })
    .unwrap();
    let status: Vec<(TrialStatus, Option<f64>)> =
        trials.iter().map(|t| (t.status, t.metric)).collect();
    assert_eq!(
        status,
        [
            (TrialStatus::Failed, None),
            (TrialStatus::Failed, None),
            (TrialStatus::Finished, Some(2.0))
        ]
    );
    let saved: Vec<TrialStatus> = sweep.trials().unwrap().iter().map(|t| t.status).collect();
    assert_eq!(
        saved,
        [
            TrialStatus::Failed,
            TrialStatus::Failed,
            TrialStatus::Finished
        ]
    );
}
