//! The `labbook` command's integration tests, one binary.

mod account;
mod clean;
mod cli;
mod export;
mod hostile;
mod serve;
mod serve_crash;
mod support;
mod sweep;
mod sync;
