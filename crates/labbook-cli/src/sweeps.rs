//! `labbook sweep CONFIG`, `labbook agent SWEEP` and `labbook sweep show SWEEP`: a local
//! sweep controller whose state is a directory (`wandb/sweep-<id>/`), so a crashed agent
//! picks up where it stopped.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use labbook_core::sweep::{
    AgentLock, Claim, Method, Sweep, SweepConfig, Trial, TrialStatus, grid_size, hyperband_stops,
};
use serde_json::{Map, Value as J};

use crate::index::discover;
use crate::run_log::{RunLog, scalar_of};
use crate::table;

/// `labbook sweep CONFIG`: validates the config and creates the sweep's directory.
pub(crate) fn create(config_path: &Path, root: &Path, seed: Option<u64>) -> Result<()> {
    let text = std::fs::read_to_string(config_path)
        .with_context(|| format!("cannot read {}", config_path.display()))?;
    let sweep = Sweep::create(root, &text, seed)?;
    let size = grid_size(sweep.config())
        .map(|n| format!(", {n} grid points"))
        .unwrap_or_default();
    eprintln!(
        "labbook: created sweep {} ({:?}{size}) in {}",
        sweep.id(),
        sweep.config().method,
        sweep.dir().display()
    );
    eprintln!("labbook: run trials with: labbook agent {}", sweep.id());
    println!("{}", sweep.id());
    Ok(())
}

/// The run directory of a trial, once its run exists.
fn trial_run_dir(root: &Path, run_id: &str) -> Option<PathBuf> {
    discover(root).ok()?.into_iter().find(|d| {
        d.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(&format!("-{run_id}")))
    })
}

/// The metric's values a run logged, in order (hyperband's iterations), and its summary value.
fn metric_of(root: &Path, run_id: &str, metric: &str) -> (Vec<f64>, Option<f64>, Option<i32>) {
    let Some(run) = trial_run_dir(root, run_id).and_then(|d| RunLog::load(&d).ok()) else {
        return (Vec::new(), None, None);
    };
    let values = run
        .rows
        .iter()
        .filter_map(|r| r.get(metric))
        .filter_map(scalar_of)
        .collect();
    let summary = crate::run_log::summary_get(&run.summary, metric).and_then(scalar_of);
    (values, summary, run.exit_code)
}

fn expand(config: &SweepConfig, params: &Map<String, J>, json_file: &Path) -> Result<Vec<String>> {
    let value_text = |v: &J| match v {
        J::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut out = Vec::new();
    for part in &config.command {
        match part.as_str() {
            "${env}" | "${interpreter}" => {}
            "${program}" => out.push(
                config
                    .program
                    .clone()
                    .context("the command uses ${program} but the config has no program")?,
            ),
            "${args}" => out.extend(
                params
                    .iter()
                    .map(|(k, v)| format!("--{k}={}", value_text(v))),
            ),
            "${args_no_hyphens}" => {
                out.extend(params.iter().map(|(k, v)| format!("{k}={}", value_text(v))))
            }
            "${args_json_file}" => out.push(json_file.display().to_string()),
            other if other.starts_with("${") => bail!(
                "the command macro {other} is not one of ${{env}}, ${{interpreter}}, ${{program}}, ${{args}}, ${{args_no_hyphens}}, ${{args_json_file}}"
            ),
            other => out.push(other.to_owned()),
        }
    }
    if out.is_empty() {
        bail!("the sweep's command is empty");
    }
    Ok(out)
}

/// `labbook agent SWEEP`: runs trials, `parallel` at a time, until `count`, the run cap, or
/// the end of a grid. Several agents may work on one sweep at once: each trial is handed
/// out once, under the sweep's lock.
pub(crate) fn agent(id: &str, root: &Path, count: Option<u64>, parallel: usize) -> Result<()> {
    let sweep = Sweep::open(root, id)?;
    let config = sweep.config();
    let me = AgentLock::take(&sweep)?;
    // An agent that died mid-trial left its trials running: settle what their runs say.
    // Those of agents still alive are theirs, and so is a trial whose process still writes
    // its run (an agent killed alone leaves its trials running).
    sweep.settle_orphans(|t| {
        if trial_run_dir(root, &t.run_id).is_some_and(|d| labbook_core::run_is_live(&d)) {
            return None;
        }
        let (_, metric, exit) = metric_of(root, &t.run_id, &config.metric);
        let status = match exit {
            Some(0) => TrialStatus::Finished,
            Some(_) => TrialStatus::Failed,
            None => TrialStatus::Crashed,
        };
        Some((status, metric))
    })?;
    let mut started = 0u64;
    // Each running trial: its process, run id, and whether hyperband stopped it.
    let mut running: Vec<(Child, String, bool)> = Vec::new();
    let mut exhausted = false;
    loop {
        while !exhausted && running.len() < parallel.max(1) && count.is_none_or(|c| started < c) {
            match sweep.claim(&me)? {
                Claim::Trial(t) => {
                    let child = start_trial(root, &sweep, &t)?;
                    running.push((child, t.run_id, false));
                    started += 1;
                }
                Claim::GridDone => {
                    eprintln!("labbook: the grid is complete");
                    exhausted = true;
                }
                Claim::CapReached => exhausted = true,
            }
        }
        if running.is_empty() {
            break;
        }
        // Hyperband compares each running trial with every other trial's values so far.
        if config.early_terminate.is_some() {
            let values: Vec<(String, Vec<f64>)> = sweep
                .trials()?
                .into_iter()
                .map(|t| {
                    let v = metric_of(root, &t.run_id, &config.metric).0;
                    (t.run_id, v)
                })
                .collect();
            for (child, run_id, stopped) in running.iter_mut().filter(|r| !r.2) {
                let mine = values
                    .iter()
                    .find(|(r, _)| r == run_id)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                let others: Vec<Vec<f64>> = values
                    .iter()
                    .filter(|(r, _)| r != run_id)
                    .map(|(_, v)| v.clone())
                    .collect();
                if hyperband_stops(config, &mine, &others) {
                    let _ = Command::new("kill")
                        .args(["-s", "TERM", &child.id().to_string()])
                        .status();
                    eprintln!(
                        "labbook: hyperband stops {run_id} after {} iterations",
                        mine.len()
                    );
                    *stopped = true;
                }
            }
        }
        let mut i = 0;
        while i < running.len() {
            if let Some(status) = running[i].0.try_wait()? {
                let (_, run_id, stopped) = running.swap_remove(i);
                let (_, metric, exit) = metric_of(root, &run_id, &config.metric);
                let status = if stopped {
                    TrialStatus::Stopped
                } else if status.success() && exit == Some(0) {
                    TrialStatus::Finished
                } else {
                    TrialStatus::Failed
                };
                sweep.settle(&run_id, status, metric)?;
                eprintln!(
                    "labbook: trial {run_id} {status:?}, {} = {}",
                    config.metric,
                    metric.map_or("-".into(), |m| format!("{m:.5}"))
                );
            } else {
                i += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}

/// Starts a claimed trial's process, with its parameter files.
fn start_trial(root: &Path, sweep: &Sweep, t: &Trial) -> Result<Child> {
    let json_file = sweep.dir().join(format!("args-{}.json", t.run_id));
    std::fs::write(&json_file, serde_json::to_vec(&t.params)?)?;
    let argv = expand(sweep.config(), &t.params, &json_file)?;
    eprintln!(
        "labbook: trial {} ({}): {}",
        t.index,
        t.run_id,
        argv.join(" ")
    );
    Command::new(&argv[0])
        .args(&argv[1..])
        .env("WANDB_SWEEP_ID", sweep.id())
        .env("WANDB_SWEEP_PARAM_PATH", sweep.param_file(&t.run_id))
        .env("WANDB_RUN_ID", &t.run_id)
        .env("WANDB_DIR", root)
        .spawn()
        .with_context(|| format!("cannot start {:?}", argv[0]))
}

/// `labbook sweep show SWEEP`: trials ranked by the metric, the best config, and (for bayes)
/// how the search converged.
pub(crate) fn show(id: &str, root: &Path) -> Result<()> {
    let sweep = Sweep::open(root, id)?;
    let config = sweep.config();
    let trials = sweep.trials()?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "sweep {} ({:?}, {} {:?}), {} trials",
        sweep.id(),
        config.method,
        config.metric,
        config.goal,
        trials.len()
    )?;
    let mut ranked: Vec<&Trial> = trials.iter().collect();
    ranked.sort_by(|a, b| match (a.metric, b.metric) {
        (Some(x), Some(y)) if config.better(x, y) => std::cmp::Ordering::Less,
        (Some(x), Some(y)) if config.better(y, x) => std::cmp::Ordering::Greater,
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        _ => a.index.cmp(&b.index),
    });
    let header: Vec<String> = ["rank", "trial", "run", "status", &config.metric, "params"]
        .map(String::from)
        .to_vec();
    let rows: Vec<Vec<String>> = ranked
        .iter()
        .enumerate()
        .map(|(i, t)| {
            vec![
                (i + 1).to_string(),
                t.index.to_string(),
                t.run_id.clone(),
                format!("{:?}", t.status).to_lowercase(),
                t.metric.map_or("-".into(), |m| format!("{m:.5}")),
                J::Object(t.params.clone()).to_string(),
            ]
        })
        .collect();
    table::print(&mut out, &header, &rows)?;
    if let Some(best) = ranked.first().filter(|t| t.metric.is_some()) {
        writeln!(
            out,
            "\nbest: trial {} ({}) {} = {:.5}",
            best.index,
            best.run_id,
            config.metric,
            best.metric.unwrap_or(f64::NAN)
        )?;
        writeln!(out, "{}", serde_json::to_string_pretty(&best.params)?)?;
    }
    if config.method == Method::Bayes {
        let mut best = None::<f64>;
        let curve: Vec<f64> = trials
            .iter()
            .filter_map(|t| {
                if let Some(m) = t.metric
                    && best.is_none_or(|b| config.better(m, b))
                {
                    best = Some(m);
                }
                best
            })
            .collect();
        writeln!(
            out,
            "\nbest so far by trial: {}",
            table::sparkline(&curve, 60)
        )?;
        writeln!(
            out,
            "{}",
            curve
                .iter()
                .map(|v| format!("{v:.4}"))
                .collect::<Vec<_>>()
                .join(" ")
        )?;
    }
    Ok(())
}
