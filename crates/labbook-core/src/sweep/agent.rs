//! [`agent`]: a local sweep's trials run in the calling process, one run each, as Python
//! users call `wandb.agent(sweep_id, function=train, count=50)`.

use std::path::Path;

use super::store::{AgentLock, Claim, Sweep, Trial, TrialStatus};
use crate::error::Result;
use crate::run::Run;
use crate::settings::Settings;

/// Runs up to `count` trials of `sweep` in this process, one after another: each is a run
/// (started from `settings` with the trial's parameters merged into the config, in the
/// sweep's root, under the trial's run id) that `train` logs to. The run is finished after
/// `train` returns (exit code 0 on `Ok`, 1 on `Err` or a panic, which is caught and
/// reported: the next trial goes on, as `wandb.agent` goes on after an exception) and the
/// sweep's metric is read from its summary. Returns the trials it ran, settled.
///
/// Several agents (this function in several processes, or `labbook agent`) can work on one
/// sweep. Hyperband's early stopping is applied by `labbook agent` only.
///
/// ```
/// use labbook_core::sweep::{Sweep, TrialStatus, agent};
/// use labbook_core::{Settings, Value};
/// # let root = tempfile::tempdir()?;
/// let sweep = Sweep::create(
///     root.path(),
///     "method: grid\nmetric: {name: score, goal: maximize}\nparameters:\n  lr: {values: [0.1, 0.01]}\n",
///     None,
/// )?;
/// let base = Settings::new("sweeps").quiet(true).system_metrics(false);
/// let trials = agent(&sweep, &base, 10, |run| {
///     let lr: f64 = run.config_as::<serde_json::Value>()?["lr"].as_f64().unwrap_or(0.0);
///     run.log([("score", Value::from(1.0 - lr))])
/// })?;
/// assert_eq!(trials.len(), 2);
/// assert!(trials.iter().all(|t| t.status == TrialStatus::Finished && t.metric.is_some()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn agent<E: std::fmt::Display>(
    sweep: &Sweep,
    settings: &Settings,
    count: u64,
    mut train: impl FnMut(&Run) -> std::result::Result<(), E>,
) -> Result<Vec<Trial>> {
    let me = AgentLock::take(sweep)?;
    let mut ran = Vec::new();
    while (ran.len() as u64) < count {
        let mut trial = match sweep.claim(&me)? {
            Claim::Trial(t) => t,
            Claim::GridDone | Claim::CapReached => break,
        };
        let s = settings
            .clone()
            .dir(sweep.root())
            .run_id(trial.run_id.clone())
            .sweep_trial(sweep.id(), sweep.param_file(&trial.run_id));
        let run = match crate::init(s) {
            Ok(run) => run,
            Err(e) => {
                sweep.settle(&trial.run_id, TrialStatus::Failed, None)?;
                return Err(e);
            }
        };
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| train(&run)));
        let exit_code = match outcome {
            Ok(Ok(())) => 0,
            Ok(Err(e)) => {
                tracing::warn!(target: "labbook", "sweep trial {} ({}) failed: {e}", trial.index, trial.run_id);
                1
            }
            Err(panic) => {
                let why = crate::error::panic_message(&*panic);
                tracing::warn!(target: "labbook", "sweep trial {} ({}) panicked: {why}", trial.index, trial.run_id);
                1
            }
        };
        let report = run.finish_with_exit_code(exit_code);
        let dir = run.dir().map(Path::to_path_buf);
        drop(run);
        let failed = report.as_ref().map_or(true, |r| r.exit_code != 0);
        trial.status = if failed {
            TrialStatus::Failed
        } else {
            TrialStatus::Finished
        };
        trial.metric = dir.and_then(|d| summary_metric(&d, &sweep.config().metric));
        trial.agent = None;
        sweep.settle(&trial.run_id, trial.status, trial.metric)?;
        ran.push(trial);
        report?;
    }
    Ok(ran)
}

/// The number at `metric` in the summary of the run in `dir`: a flat key (`val/acc`) or
/// a dotted path into nested values (`val.acc`).
pub(crate) fn summary_metric(dir: &Path, metric: &str) -> Option<f64> {
    let log = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "wandb"))?;
    let run = crate::wire::RunLog::default().read(&log).ok()?;
    let dotted: Vec<&str> = metric.split('.').collect();
    let raw = run
        .summary
        .get(&[metric])
        .or_else(|| run.summary.get(&dotted))?;
    raw.trim().parse::<f64>().ok().filter(|x| x.is_finite())
}
