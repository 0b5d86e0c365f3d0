//! Hyperparameter sweeps that run locally, in W&B's sweep format: the config, and the search
//! that picks each trial's parameters (grid, random, bayes) and stops trials that fall behind
//! (hyperband); the sweep's state on disk; and [`agent`], which runs trials in this
//! process. The `labbook sweep` and `labbook agent` commands drive them from the shell.

mod agent;
mod config;
mod search;
mod store;

pub use agent::agent;
pub use store::{AgentLock, Claim, Sweep, Trial, TrialStatus};

pub use config::{Hyperband, Method, Objective, Space, SweepConfig};
pub use search::{Observation, grid_size, hyperband_stops, suggest};
