//! `labbook sweep` / `agent` / `sweep show` end to end, with this test binary as the trial
//! program (it trains nothing: its "loss" is a known function of the parameters).

use std::path::Path;

use crate::support::{labbook, stdout as ok};

use labbook_core::{Settings, Value};

#[derive(serde::Deserialize)]
struct Params {
    x: f64,
    #[serde(default)]
    slow: bool,
}

/// The trial: when run by the agent (WANDB_SWEEP_PARAM_PATH set), log `loss` falling towards
/// (x - 3)^2 over 8 steps; `slow` trials sleep between steps so hyperband can catch them.
#[test]
fn trial_main() {
    if std::env::var_os("WANDB_SWEEP_PARAM_PATH").is_none() {
        return;
    }
    let run = labbook_core::init(Settings::new("sweep-test").quiet(true)).unwrap();
    let p: Params = run.config_as().unwrap();
    let target = (p.x - 3.0).powi(2);
    for step in 0..8 {
        run.log([("loss", Value::from(target + 1.0 / f64::from(step + 1)))])
            .unwrap();
        run.flush().unwrap();
        if p.slow {
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
    }
    run.set_summary("loss", target).unwrap();
    run.finish().unwrap();
}

fn write_config(dir: &Path, body: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let text = format!(
        "program: {}\ncommand: [\"${{program}}\", sweep::trial_main, --exact, --nocapture, --test-threads=1]\nmetric: {{name: loss, goal: minimize}}\n{body}",
        exe.display()
    );
    let path = dir.join("sweep.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_grid_sweep_runs_every_point_and_ranks_them() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_config(
        tmp.path(),
        "method: grid\nparameters:\n  x: {values: [1.0, 2.5, 4.0]}\n",
    );
    let id = ok(&labbook(&["sweep", cfg.to_str().unwrap()], tmp.path()))
        .trim()
        .to_owned();
    ok(&labbook(&["agent", &id, "--parallel", "2"], tmp.path()));
    let show = ok(&labbook(&["sweep", "show", &id], tmp.path()));
    let lines: Vec<&str> = show.lines().collect();
    assert!(lines[0].contains("3 trials"), "{show}");
    // Ranked by loss: x=2.5 (0.25), then 4.0 (1.0), then 1.0 (4.0).
    assert!(
        lines[2].contains("0.25000") && lines[2].contains("2.5"),
        "{show}"
    );
    assert!(lines[4].contains("4.00000"), "{show}");
    assert!(show.contains("best: trial 1"), "{show}");
    // The trials are real labbook runs with the sweep's values in their config.
    let ls = ok(&labbook(&["ls", "--json"], tmp.path()));
    let runs: serde_json::Value = serde_json::from_str(&ls).unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 3);
    // A second agent has nothing left to do on a finished grid.
    let again = labbook(&["agent", &id], tmp.path());
    assert!(String::from_utf8_lossy(&again.stderr).contains("the grid is complete"));
}

#[test]
fn a_crashed_agent_resumes_and_respects_the_run_cap() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_config(
        tmp.path(),
        "method: random\nrun_cap: 3\nparameters:\n  x: {min: 0.0, max: 6.0}\n",
    );
    let id = ok(&labbook(
        &["sweep", cfg.to_str().unwrap(), "--seed", "5"],
        tmp.path(),
    ))
    .trim()
    .to_owned();
    ok(&labbook(&["agent", &id, "--count", "1"], tmp.path()));
    // Pretend the agent died while its first trial was running.
    let state_path = tmp.path().join(format!("wandb/sweep-{id}/state.json"));
    let mut state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state_path).unwrap()).unwrap();
    state["trials"][0]["status"] = "running".into();
    state["trials"][0]["metric"] = serde_json::Value::Null;
    std::fs::write(&state_path, serde_json::to_vec(&state).unwrap()).unwrap();
    ok(&labbook(&["agent", &id], tmp.path()));
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state_path).unwrap()).unwrap();
    let trials = state["trials"].as_array().unwrap();
    assert_eq!(trials.len(), 3, "run_cap");
    assert_eq!(
        trials[0]["status"], "finished",
        "settled from its run's log"
    );
    assert!(trials[0]["metric"].is_number());
    assert!(trials.iter().all(|t| t["status"] == "finished"));
}

#[test]
fn hyperband_stops_a_trial_that_falls_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_config(
        tmp.path(),
        "method: grid\nearly_terminate: {type: hyperband, min_iter: 2, eta: 2, s: 2}\nparameters:\n  x: {values: [3.0, 9.0]}\n  slow: {value: true}\n",
    );
    let id = ok(&labbook(&["sweep", cfg.to_str().unwrap()], tmp.path()))
        .trim()
        .to_owned();
    let out = labbook(&["agent", &id], tmp.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let state: serde_json::Value = serde_json::from_slice(
        &std::fs::read(tmp.path().join(format!("wandb/sweep-{id}/state.json"))).unwrap(),
    )
    .unwrap();
    let trials = state["trials"].as_array().unwrap();
    assert_eq!(trials[0]["status"], "finished");
    assert_eq!(
        trials[1]["status"], "stopped",
        "x=9 is far behind x=3 at rung 2: {trials:?}"
    );
}

#[test]
fn a_bad_config_names_the_field() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_config(
        tmp.path(),
        "method: grid\nparameters:\n  x: {distribution: uniform, min: 0, max: 1}\n",
    );
    let o = labbook(&["sweep", cfg.to_str().unwrap()], tmp.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("sweep config parameters.x"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn two_agents_on_one_sweep_hand_out_each_trial_once() {
    // Failed before: each agent read state.json once, so both ran trial 0, 1, ... under
    // the same run ids and the later save lost the other's trials.
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_config(
        tmp.path(),
        "method: grid\nparameters:\n  x: {values: [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]}\n",
    );
    let id = ok(&labbook(&["sweep", cfg.to_str().unwrap()], tmp.path()))
        .trim()
        .to_owned();
    let agents: Vec<_> = (0..2)
        .map(|_| {
            let (id, root) = (id.clone(), tmp.path().to_owned());
            std::thread::spawn(move || labbook(&["agent", &id, "--parallel", "2"], &root))
        })
        .collect();
    for a in agents {
        let o = a.join().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let state: serde_json::Value = serde_json::from_slice(
        &std::fs::read(tmp.path().join(format!("wandb/sweep-{id}/state.json"))).unwrap(),
    )
    .unwrap();
    let trials = state["trials"].as_array().unwrap();
    assert_eq!(trials.len(), 6, "{trials:?}");
    let mut xs: Vec<f64> = trials
        .iter()
        .map(|t| t["params"]["x"].as_f64().unwrap())
        .collect();
    xs.sort_by(f64::total_cmp);
    assert_eq!(xs, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let ids: std::collections::BTreeSet<&str> = trials
        .iter()
        .map(|t| t["run_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 6, "run ids are unique");
    assert!(
        trials.iter().all(|t| t["status"] == "finished"),
        "{trials:?}"
    );
}
