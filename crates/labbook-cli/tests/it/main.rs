//! The `labbook` command's integration tests, one binary.

mod account;
mod clean;
mod cli;
mod export;
mod from_server;
mod hostile;
mod serve;
mod serve_crash;
mod support;
mod sweep;
mod sync;
