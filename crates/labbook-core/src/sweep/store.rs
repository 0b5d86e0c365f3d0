//! A local sweep's state: a directory (`<root>/wandb/sweep-<id>/`) with its config, the
//! trials handed out and what they came to, changed only under the sweep's lock, so
//! several agents (processes, or [`agent`](super::agent) in one) never hand out one trial
//! twice, and a crashed agent's trials are settled by the next.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as J};

use super::{Observation, SweepConfig, suggest};
use crate::error::{Error, Result};

/// What a trial came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrialStatus {
    /// Handed out; its run is going (or its agent died and nobody settled it yet).
    Running,
    /// Its run finished with exit code 0.
    Finished,
    /// Its run failed.
    Failed,
    /// Stopped early by hyperband.
    Stopped,
    /// Its run ended without an exit record.
    Crashed,
}

/// One trial of a sweep.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Trial {
    /// Its place in the sweep, from 0.
    pub index: u64,
    /// The id of its run.
    pub run_id: String,
    /// Its parameters, by name.
    pub params: Map<String, J>,
    /// What it came to.
    pub status: TrialStatus,
    /// The sweep's metric, from the run's summary.
    pub metric: Option<f64>,
    /// The agent running it (its lock file under `agents/`), while it runs.
    #[serde(default)]
    pub agent: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct State {
    id: String,
    seed: u64,
    trials: Vec<Trial>,
}

/// A local sweep, as `labbook sweep CONFIG` creates it.
///
/// ```
/// # let root = tempfile::tempdir()?;
/// use labbook_core::sweep::Sweep;
/// let sweep = Sweep::create(root.path(), "method: grid\nmetric: {name: acc, goal: maximize}\nparameters:\n  lr: {values: [0.1, 0.01]}\n", None)?;
/// assert_eq!(Sweep::open(root.path(), sweep.id())?.trials()?.len(), 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Sweep {
    id: String,
    root: PathBuf,
    dir: PathBuf,
    config: SweepConfig,
}

/// What asking for the next trial gave.
#[derive(Debug)]
pub enum Claim {
    /// A trial to run, now marked running by the claiming agent.
    Trial(Trial),
    /// Every grid point has been handed out.
    GridDone,
    /// The sweep's `run_cap` is reached.
    CapReached,
}

fn io(context: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    Error::io(context, path)
}

fn sweep_dir(root: &Path, id: &str) -> PathBuf {
    let base = if root.join(".wandb").is_dir() {
        root.join(".wandb")
    } else {
        root.join("wandb")
    };
    base.join(format!("sweep-{id}"))
}

fn bad_state(dir: &Path, why: impl std::fmt::Display) -> Error {
    Error::InvalidSetting {
        name: format!("sweep state {}", dir.join("state.json").display()),
        reason: why.to_string(),
    }
}

impl Sweep {
    /// Creates a sweep under `root` from a W&B sweep config (YAML or JSON text); `seed`
    /// fixes random and bayes choices (default: from the sweep's id).
    pub fn create(root: impl AsRef<Path>, config_text: &str, seed: Option<u64>) -> Result<Sweep> {
        let root = root.as_ref();
        let config = SweepConfig::parse(config_text)?;
        let id = crate::store::random_run_id();
        let dir = sweep_dir(root, &id);
        std::fs::create_dir_all(&dir).map_err(io("could not create", &dir))?;
        let config_file = dir.join("config.yaml");
        std::fs::write(&config_file, config_text).map_err(io("could not write", &config_file))?;
        let seed = seed.unwrap_or_else(|| {
            id.bytes()
                .take(8)
                .fold(0u64, |acc, b| (acc << 4) | u64::from(b % 16))
                .max(1)
        });
        let sweep = Sweep {
            id: id.clone(),
            root: root.to_owned(),
            dir,
            config,
        };
        sweep.save(&State {
            id,
            seed,
            trials: Vec::new(),
        })?;
        Ok(sweep)
    }

    /// The sweep `id` under `root`.
    pub fn open(root: impl AsRef<Path>, id: &str) -> Result<Sweep> {
        let root = root.as_ref();
        let dir = sweep_dir(root, id);
        let config_file = dir.join("config.yaml");
        let text = std::fs::read_to_string(&config_file).map_err(|e| Error::InvalidSetting {
            name: format!("sweep {id:?}"),
            reason: format!("not found under {} ({e})", root.display()),
        })?;
        Ok(Sweep {
            id: id.to_owned(),
            root: root.to_owned(),
            dir,
            config: SweepConfig::parse(&text)?,
        })
    }

    /// The sweep's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The root its runs are written under.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Its directory (`<root>/wandb/sweep-<id>`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Its config.
    pub fn config(&self) -> &SweepConfig {
        &self.config
    }

    /// The trials so far, in the order they were handed out.
    pub fn trials(&self) -> Result<Vec<Trial>> {
        Ok(self.read_state()?.trials)
    }

    fn read_state(&self) -> Result<State> {
        let path = self.dir.join("state.json");
        let bytes = std::fs::read(&path).map_err(io("could not read", &path))?;
        serde_json::from_slice(&bytes).map_err(|e| bad_state(&self.dir, e))
    }

    fn save(&self, state: &State) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(state).map_err(|e| bad_state(&self.dir, e))?;
        crate::store::write_atomically(&self.dir.join("state.json"), &bytes)
    }

    /// Reads, changes and saves the state under the sweep's lock (`.lock`, an flock).
    fn with_state<R>(&self, change: impl FnOnce(&mut State) -> Result<R>) -> Result<R> {
        let path = self.dir.join(".lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io("could not open the sweep's lock", &path))?;
        lock.lock().map_err(io("could not lock the sweep", &path))?;
        let mut state = self.read_state()?;
        let out = change(&mut state)?;
        self.save(&state)?;
        Ok(out)
    }

    /// Picks the next trial's parameters and hands it to `agent`, under the sweep's lock;
    /// its parameter file (`config-<run id>.yaml`, the agent's `WANDB_SWEEP_PARAM_PATH`) is
    /// written before this returns.
    pub fn claim(&self, agent: &AgentLock) -> Result<Claim> {
        let claim = self.with_state(|state| {
            if self
                .config
                .run_cap
                .is_some_and(|cap| state.trials.len() as u64 >= cap)
            {
                return Ok(Claim::CapReached);
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
            let Some(params) = suggest(&self.config, &seen, index, state.seed) else {
                return Ok(Claim::GridDone);
            };
            let trial = Trial {
                index,
                run_id: trial_run_id(&state.id, index),
                params,
                status: TrialStatus::Running,
                metric: None,
                agent: Some(agent.name.clone()),
            };
            state.trials.push(trial.clone());
            Ok(Claim::Trial(trial))
        })?;
        if let Claim::Trial(t) = &claim {
            let mut doc = Map::new();
            doc.insert("wandb_version".into(), J::from(1));
            for (k, v) in &t.params {
                doc.insert(k.clone(), serde_json::json!({ "value": v }));
            }
            let path = self.param_file(&t.run_id);
            let text =
                serde_yaml_ng::to_string(&J::Object(doc)).map_err(|e| bad_state(&self.dir, e))?;
            std::fs::write(&path, text).map_err(io("could not write", &path))?;
        }
        Ok(claim)
    }

    /// The parameter file of a trial, in the format the official agent writes.
    pub fn param_file(&self, run_id: &str) -> PathBuf {
        self.dir.join(format!("config-{run_id}.yaml"))
    }

    /// Records what trial `run_id` came to.
    pub fn settle(&self, run_id: &str, status: TrialStatus, metric: Option<f64>) -> Result<()> {
        self.with_state(|state| {
            if let Some(t) = state.trials.iter_mut().find(|t| t.run_id == run_id) {
                t.status = status;
                t.metric = metric;
                t.agent = None;
            }
            Ok(())
        })
    }

    /// Settles the trials left running by agents that are gone, with what `outcome` reads
    /// of their runs (`None`: still being written, left alone).
    pub fn settle_orphans(
        &self,
        mut outcome: impl FnMut(&Trial) -> Option<(TrialStatus, Option<f64>)>,
    ) -> Result<()> {
        self.with_state(|state| {
            for t in state.trials.iter_mut().filter(|t| {
                t.status == TrialStatus::Running
                    && t.agent
                        .as_ref()
                        .is_none_or(|a| !AgentLock::alive(&self.dir, a))
            }) {
                if let Some((status, metric)) = outcome(t) {
                    t.status = status;
                    t.metric = metric;
                    t.agent = None;
                }
            }
            Ok(())
        })
    }
}

/// A trial's run id: the sweep's first 5 characters and the trial's index, unique for any
/// number of trials (`abcde007`, ..., `abcde1234`).
fn trial_run_id(sweep_id: &str, index: u64) -> String {
    let prefix: String = sweep_id.chars().take(5).collect();
    format!("{prefix}{index:03}")
}

/// An agent's claim on the trials it runs: a file it holds locked while it lives, so
/// another agent can tell its running trials from those of an agent that died.
#[derive(Debug)]
pub struct AgentLock {
    name: String,
    _file: std::fs::File,
}

impl AgentLock {
    /// Registers an agent of `sweep`.
    pub fn take(sweep: &Sweep) -> Result<AgentLock> {
        let agents = sweep.dir.join("agents");
        std::fs::create_dir_all(&agents).map_err(io("could not create", &agents))?;
        let name = format!("{}-{}", std::process::id(), crate::store::random_run_id());
        let path = agents.join(&name);
        let file = std::fs::File::create(&path).map_err(io("could not create", &path))?;
        file.lock().map_err(io("could not lock", &path))?;
        Ok(AgentLock { name, _file: file })
    }

    /// Whether the agent `name` of the sweep in `dir` is still running (holds its lock).
    fn alive(dir: &Path, name: &str) -> bool {
        let Ok(file) = std::fs::File::open(dir.join("agents").join(name)) else {
            return false;
        };
        matches!(file.try_lock(), Err(std::fs::TryLockError::WouldBlock))
    }
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

    #[test]
    fn a_grid_is_handed_out_once_and_then_done() {
        let root = tempfile::tempdir().unwrap();
        let sweep = Sweep::create(
            root.path(),
            "method: grid\nmetric: {name: acc}\nparameters:\n  lr: {values: [1, 2]}\n",
            Some(1),
        )
        .unwrap();
        let me = AgentLock::take(&sweep).unwrap();
        let mut ids = Vec::new();
        while let Claim::Trial(t) = sweep.claim(&me).unwrap() {
            assert!(sweep.param_file(&t.run_id).is_file());
            ids.push(t.run_id);
        }
        assert_eq!(ids.len(), 2);
        sweep
            .settle(&ids[0], TrialStatus::Finished, Some(0.5))
            .unwrap();
        let trials = Sweep::open(root.path(), sweep.id())
            .unwrap()
            .trials()
            .unwrap();
        assert_eq!(
            (trials[0].status, trials[0].metric),
            (TrialStatus::Finished, Some(0.5))
        );
        assert_eq!(trials[1].status, TrialStatus::Running);
        assert!(matches!(sweep.claim(&me).unwrap(), Claim::GridDone));
        assert!(
            Sweep::open(root.path(), "nope")
                .unwrap_err()
                .to_string()
                .contains("not found")
        );
    }
}
