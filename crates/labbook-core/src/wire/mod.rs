//! W&B's transaction-log format: the protobuf records, their framing, and a reader.

mod framing;
mod log_reader;
pub mod proto;
mod reader;
mod row_encoder;

pub use framing::{BLOCK_SIZE, FILE_HEADER, Framer};
pub use log_reader::{LogEnd, LogItem, LogReader, RawRecord, ReadError};
pub use reader::{LogContents, LogFollower, parse_log, read_log};
pub(crate) use row_encoder::RowEncoder;
