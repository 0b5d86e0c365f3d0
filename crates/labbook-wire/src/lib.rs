//! W&B's transaction-log format, the one the official client writes as
//! `wandb/run-*/run-<id>.wandb` and `wandb sync` uploads: the protobuf records
//! ([`proto`]), their framing ([`Framer`]), a streaming reader ([`LogReader`],
//! [`read_log`]) and follower ([`LogFollower`]), W&B's JSON dialect ([`json`]), its
//! artifact records and digests ([`artifact`]), a zero-copy reader of history rows
//! ([`HistoryScanner`]), one replay of a run's log ([`RunLog`]), and what a run's records
//! become on a W&B server ([`upload`]).
//!
//! It depends on no other labbook crate: the tracking engine writes logs with it, and the
//! CLI, the server and the tests read them with it.
//!
//! ```
//! use labbook_wire::proto::{Record, RecordType, RunRecord};
//! use labbook_wire::{Framer, RunLog, parse_log};
//! use prost::Message as _;
//!
//! let run = RunRecord { run_id: "ab12".into(), ..Default::default() };
//! let mut framer = Framer::new_file();
//! framer.append(&Record { num: 1, record_type: Some(RecordType::Run(run)) }.encode_to_vec());
//! let mut log = RunLog::default();
//! for record in parse_log(framer.pending())?.records {
//!     log.apply(&record.record_type.unwrap());
//! }
//! assert_eq!(log.run.unwrap().run_id, "ab12");
//! # Ok::<(), String>(())
//! ```

pub mod artifact;
mod error;
mod framing;
mod history_scan;
pub mod json;
pub mod links;
mod log_reader;
pub mod proto;
mod reader;
mod resume;
mod run_log;
mod tree;
pub mod upload;

pub use error::{Error, Result};
pub use framing::{BLOCK_SIZE, FILE_HEADER, Framer};
pub use history_scan::{HistoryScanner, ScannedItem};
pub use log_reader::{LogEnd, LogItem, LogReader, RawRecord, ReadError};
pub use reader::{LogContents, LogFollower, parse_log, read_log};
pub use resume::ResumeFrom;
pub use run_log::{RunLog, history_step};
pub use tree::{Node, Tree, item_path};

/// The deepest nested key (`nested_key` of a history, summary or config item) a reader
/// follows. W&B's own are a few levels (`_wandb.visualize.<key>`); a log that nests deeper
/// was not written by a tracker, and building its tree would take the stack with it. Every
/// reader here skips such items.
pub const MAX_NESTED_KEY: usize = 64;
