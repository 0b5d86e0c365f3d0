//! The `labbook` command's integration tests, one binary.

mod cli;
mod export;
mod hostile;
mod support;
mod sweep;
mod sync;
