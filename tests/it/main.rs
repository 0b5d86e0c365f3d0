//! labbook's integration tests, one binary (one link, one process to start) for all that
//! can share a process. Apart, each in its own binary: `disabled` (counts allocations
//! with its own global allocator), `sync_memory` (measures the process's memory),
//! `crash_media` (SIGKILLs under media load need the CPU to themselves), `system`
//! (console capture takes the process's stdout and stderr) and `compat_suite` (the
//! official client's reading of every kind of record).

mod alerts;
mod architecture;
mod artifacts;
mod compat_wandb;
mod config_files;
mod crash;
mod engine;
mod eval_hook;
mod git_and_paths;
mod hostile;
mod media;
mod multiprocess;
mod names;
mod online;
mod read_back;
mod resume;
mod serve_paths;
mod signals;
mod sweep_agent;
mod sync_resume;
mod tables;
