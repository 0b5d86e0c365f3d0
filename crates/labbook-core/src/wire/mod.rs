//! W&B's transaction-log format: the protobuf records, their framing, and a reader.

mod framing;
pub mod proto;
mod reader;
mod row_encoder;

pub use framing::{BLOCK_SIZE, FILE_HEADER, Framer};
pub use reader::{LogContents, LogEnd, LogFollower, parse_log, read_log};
pub(crate) use row_encoder::RowEncoder;
