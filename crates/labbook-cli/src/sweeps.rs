//! `labbook sweep CONFIG`, `labbook agent SWEEP` and `labbook sweep show SWEEP`: a local
//! sweep controller whose state is a directory (`wandb/sweep-<id>/`), so a crashed agent
//! picks up where it stopped.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use labbook_core::sweep::{Method, Observation, SweepConfig, grid_size, hyperband_stops, suggest};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as J};

use crate::index::discover;
use crate::run_log::{RunLog, scalar_of};
use crate::table;

/// What a trial came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Running,
    Finished,
    Failed,
    Stopped,
    Crashed,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Trial {
    index: u64,
    run_id: String,
    params: Map<String, J>,
    status: Status,
    metric: Option<f64>,
    /// The agent running it (its lock file under `agents/`), while it runs.
    #[serde(default)]
    agent: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct State {
    id: String,
    seed: u64,
    trials: Vec<Trial>,
}

fn sweep_dir(root: &Path, id: &str) -> PathBuf {
    let base = if root.join(".wandb").is_dir() {
        root.join(".wandb")
    } else {
        root.join("wandb")
    };
    base.join(format!("sweep-{id}"))
}

fn load(root: &Path, id: &str) -> Result<(PathBuf, SweepConfig, State)> {
    let dir = sweep_dir(root, id);
    let text = std::fs::read_to_string(dir.join("config.yaml"))
        .with_context(|| format!("no sweep {id:?} under {}", root.display()))?;
    let config = SweepConfig::parse(&text)?;
    let state: State = serde_json::from_slice(
        &std::fs::read(dir.join("state.json")).context("the sweep's state.json is missing")?,
    )
    .context("the sweep's state.json is unreadable")?;
    Ok((dir, config, state))
}

fn save(dir: &Path, state: &State) -> Result<()> {
    let tmp = dir.join(format!(".state.json.tmp{}", std::process::id()));
    std::fs::write(&tmp, serde_json::to_vec_pretty(state)?)?;
    std::fs::rename(&tmp, dir.join("state.json"))?;
    Ok(())
}

/// Reads, changes and saves the sweep's state under its lock (`<sweep dir>/.lock`, an
/// flock), so agents on one sweep never hand out one trial twice or lose each other's
/// results.
fn with_state<R>(dir: &Path, change: impl FnOnce(&mut State) -> Result<R>) -> Result<R> {
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(".lock"))
        .with_context(|| format!("cannot open the sweep's lock in {}", dir.display()))?;
    lock.lock()
        .with_context(|| format!("cannot lock the sweep in {}", dir.display()))?;
    let mut state: State = serde_json::from_slice(
        &std::fs::read(dir.join("state.json")).context("the sweep's state.json is missing")?,
    )
    .context("the sweep's state.json is unreadable")?;
    let out = change(&mut state)?;
    save(dir, &state)?;
    Ok(out)
}

/// An agent's claim on the trials it runs: a file it holds locked while it lives, so
/// another agent can tell its running trials from those of an agent that died.
struct AgentLock {
    name: String,
    _file: std::fs::File,
}

impl AgentLock {
    fn take(dir: &Path) -> Result<AgentLock> {
        let agents = dir.join("agents");
        std::fs::create_dir_all(&agents)?;
        let name = format!("{}-{}", std::process::id(), random_id());
        let file = std::fs::File::create(agents.join(&name))?;
        file.lock()?;
        Ok(AgentLock { name, _file: file })
    }

    /// Whether the agent `name` is still running (holds its lock).
    fn alive(dir: &Path, name: &str) -> bool {
        let Ok(file) = std::fs::File::open(dir.join("agents").join(name)) else {
            return false;
        };
        matches!(file.try_lock(), Err(std::fs::TryLockError::WouldBlock))
    }
}

/// A trial's run id: the sweep's first 5 characters and the trial's index, unique for any
/// number of trials (`abcde007`, ..., `abcde1234`).
fn trial_run_id(sweep_id: &str, index: u64) -> String {
    let prefix: String = sweep_id.chars().take(5).collect();
    format!("{prefix}{index:03}")
}

fn random_id() -> String {
    let mut x = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(7, |d| d.as_nanos() as u64)
        ^ (u64::from(std::process::id()) << 32);
    (0..8)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b"abcdefghijklmnopqrstuvwxyz0123456789"[(x % 36) as usize] as char
        })
        .collect()
}

/// `labbook sweep CONFIG`: validates the config and creates the sweep's directory.
pub(crate) fn create(config_path: &Path, root: &Path, seed: Option<u64>) -> Result<()> {
    let text = std::fs::read_to_string(config_path)
        .with_context(|| format!("cannot read {}", config_path.display()))?;
    let config = SweepConfig::parse(&text)?;
    let id = random_id();
    let dir = sweep_dir(root, &id);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::write(dir.join("config.yaml"), text)?;
    let seed = seed.unwrap_or_else(|| {
        u64::from_str_radix(
            &id.bytes()
                .map(|b| format!("{:02x}", b % 16))
                .collect::<String>()[..8],
            16,
        )
        .unwrap_or(1)
    });
    save(
        &dir,
        &State {
            id: id.clone(),
            seed,
            trials: Vec::new(),
        },
    )?;
    let size = grid_size(&config)
        .map(|n| format!(", {n} grid points"))
        .unwrap_or_default();
    eprintln!(
        "labbook: created sweep {id} ({:?}{size}) in {}",
        config.method,
        dir.display()
    );
    eprintln!("labbook: run trials with: labbook agent {id}");
    println!("{id}");
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
    let (dir, config, _) = load(root, id)?;
    let me = AgentLock::take(&dir)?;
    // An agent that died mid-trial left its trials running: settle what their runs say.
    // Those of agents still alive are theirs, and so is a trial whose process still writes
    // its run (an agent killed alone leaves its trials running).
    with_state(&dir, |state| {
        for t in state.trials.iter_mut().filter(|t| {
            t.status == Status::Running
                && t.agent.as_ref().is_none_or(|a| !AgentLock::alive(&dir, a))
                && !trial_run_dir(root, &t.run_id).is_some_and(|d| labbook_core::run_is_live(&d))
        }) {
            let (_, metric, exit) = metric_of(root, &t.run_id, &config.metric);
            t.metric = metric;
            t.agent = None;
            t.status = match exit {
                Some(0) => Status::Finished,
                Some(_) => Status::Failed,
                None => Status::Crashed,
            };
        }
        Ok(())
    })?;
    let mut started = 0u64;
    // Each running trial: its process, run id, and whether hyperband stopped it.
    let mut running: Vec<(Child, String, bool)> = Vec::new();
    let mut exhausted = false;
    loop {
        while !exhausted && running.len() < parallel.max(1) && count.is_none_or(|c| started < c) {
            match start_trial(root, &dir, &config, &me.name)? {
                Next::Started(child, run_id) => {
                    running.push((child, run_id, false));
                    started += 1;
                }
                Next::GridDone => {
                    eprintln!("labbook: the grid is complete");
                    exhausted = true;
                }
                Next::CapReached => exhausted = true,
            }
        }
        if running.is_empty() {
            break;
        }
        // Hyperband compares each running trial with every other trial's values so far.
        if config.early_terminate.is_some() {
            let trials: Vec<String> = load(root, id)?
                .2
                .trials
                .into_iter()
                .map(|t| t.run_id)
                .collect();
            let values: Vec<(String, Vec<f64>)> = trials
                .into_iter()
                .map(|r| {
                    let v = metric_of(root, &r, &config.metric).0;
                    (r, v)
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
                if hyperband_stops(&config, &mine, &others) {
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
                with_state(&dir, |state| {
                    let Some(trial) = state.trials.iter_mut().find(|t| t.run_id == run_id) else {
                        return Ok(());
                    };
                    trial.metric = metric;
                    trial.agent = None;
                    trial.status = if stopped {
                        Status::Stopped
                    } else if status.success() && exit == Some(0) {
                        Status::Finished
                    } else {
                        Status::Failed
                    };
                    eprintln!(
                        "labbook: trial {} {:?}, {} = {}",
                        trial.index,
                        trial.status,
                        config.metric,
                        metric.map_or("-".into(), |m| format!("{m:.5}"))
                    );
                    Ok(())
                })?;
            } else {
                i += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}

/// What asking for the next trial gave.
enum Next {
    Started(Child, String),
    GridDone,
    CapReached,
}

/// Picks the next trial's parameters and claims its index under the sweep's lock, then
/// writes its parameter files and starts it.
fn start_trial(root: &Path, dir: &Path, config: &SweepConfig, agent: &str) -> Result<Next> {
    let claimed = with_state(dir, |state| {
        if config
            .run_cap
            .is_some_and(|cap| state.trials.len() as u64 >= cap)
        {
            return Ok(None);
        }
        let seen: Vec<Observation> = state
            .trials
            .iter()
            .map(|t| Observation {
                params: t.params.clone(),
                metric: t.metric,
            })
            .collect();
        let index = state.trials.len() as u64;
        let Some(params) = suggest(config, &seen, index, state.seed) else {
            return Ok(Some(None));
        };
        let run_id = trial_run_id(&state.id, index);
        state.trials.push(Trial {
            index,
            run_id: run_id.clone(),
            params: params.clone(),
            status: Status::Running,
            metric: None,
            agent: Some(agent.to_owned()),
        });
        Ok(Some(Some((index, run_id, params, state.id.clone()))))
    })?;
    let (index, run_id, params, sweep_id) = match claimed {
        None => return Ok(Next::CapReached),
        Some(None) => return Ok(Next::GridDone),
        Some(Some(c)) => c,
    };
    let param_file = dir.join(format!("config-{run_id}.yaml"));
    let mut doc = Map::new();
    doc.insert("wandb_version".into(), J::from(1));
    for (k, v) in &params {
        doc.insert(k.clone(), serde_json::json!({ "value": v }));
    }
    std::fs::write(&param_file, serde_yaml_ng::to_string(&J::Object(doc))?)?;
    let json_file = dir.join(format!("args-{run_id}.json"));
    std::fs::write(&json_file, serde_json::to_vec(&params)?)?;
    let argv = expand(config, &params, &json_file)?;
    eprintln!("labbook: trial {index} ({run_id}): {}", argv.join(" "));
    let child = Command::new(&argv[0])
        .args(&argv[1..])
        .env("WANDB_SWEEP_ID", &sweep_id)
        .env("WANDB_SWEEP_PARAM_PATH", &param_file)
        .env("WANDB_RUN_ID", &run_id)
        .env("WANDB_DIR", root)
        .spawn()
        .with_context(|| format!("cannot start {:?}", argv[0]))?;
    Ok(Next::Started(child, run_id))
}

/// `labbook sweep show SWEEP`: trials ranked by the metric, the best config, and (for bayes)
/// how the search converged.
pub(crate) fn show(id: &str, root: &Path) -> Result<()> {
    let (_, config, state) = load(root, id)?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "sweep {} ({:?}, {} {:?}), {} trials",
        state.id,
        config.method,
        config.metric,
        config.goal,
        state.trials.len()
    )?;
    let mut ranked: Vec<&Trial> = state.trials.iter().collect();
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
        let curve: Vec<f64> = state
            .trials
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trial_run_ids_never_repeat() {
        // Failed before: `index % 1000` made trial 1000 reuse trial 0's id.
        let ids: std::collections::HashSet<String> =
            (0..5000).map(|i| trial_run_id("abcdefgh", i)).collect();
        assert_eq!(ids.len(), 5000);
        assert_eq!(trial_run_id("abcdefgh", 7), "abcde007");
        assert_eq!(trial_run_id("abcdefgh", 1234), "abcde1234");
        // A sweep id of non-ASCII characters is cut by characters, not bytes.
        assert_eq!(trial_run_id("ééééééé", 1), "ééééé001");
    }
}
