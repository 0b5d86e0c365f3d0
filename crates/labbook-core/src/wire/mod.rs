//! W&B's transaction-log format: the protobuf records, their framing, and a reader.

pub(crate) mod artifact;
mod framing;
pub mod json;
mod log_reader;
pub mod proto;
mod reader;
mod resume;

pub use framing::{BLOCK_SIZE, FILE_HEADER, Framer};
pub use log_reader::{LogEnd, LogItem, LogReader, RawRecord, ReadError};
pub use reader::{LogContents, LogFollower, parse_log, read_log};
pub(crate) use resume::ResumeFrom;

/// The deepest nested key (`nested_key` of a history, summary or config item) a reader
/// follows. W&B's own are a few levels (`_wandb.visualize.<key>`); a log that nests deeper
/// was not written by a tracker, and building its tree would take the stack with it. Every
/// reader here skips such items.
pub const MAX_NESTED_KEY: usize = 64;
