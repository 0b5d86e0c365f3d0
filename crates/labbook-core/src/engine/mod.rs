//! The engine: the queue a run's calls go into, the worker thread that turns them into
//! records and writes them, and what the worker keeps while it writes (history rows, the
//! summary, metric definitions, the run directory, the environment record).
//!
//! The engine never talks to a server: the log it writes is the only thing the uploader
//! reads (`online`).

pub(crate) mod environment;
pub(crate) mod git;
pub(crate) mod git_changes;
pub(crate) mod history;
pub(crate) mod metric;
pub(crate) mod output_log;
pub(crate) mod private_paths;
pub(crate) mod queue;
pub(crate) mod row_encoder;
pub(crate) mod run_files;
pub(crate) mod save;
pub(crate) mod summary;
pub(crate) mod worker;
