//! Hyperparameter sweeps that run locally, in W&B's sweep format: the config, and the search
//! that picks each trial's parameters (grid, random, bayes) and stops trials that fall behind
//! (hyperband). The `labbook sweep` and `labbook agent` commands drive them.

mod config;
mod search;

pub use config::{Hyperband, Method, Objective, Space, SweepConfig};
pub use search::{Observation, grid_size, hyperband_stops, suggest};
