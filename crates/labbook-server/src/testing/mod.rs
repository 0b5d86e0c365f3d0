//! What only tests need, behind the `testing` cargo feature: injected faults, a log of
//! every request, a record of `file_stream` offsets that skipped or repeated lines, strict
//! GraphQL field selection, and a [`Recorder`] that reads a server's stores back from
//! synchronous test code.

mod faults;
mod fuzz;
mod recorder;
mod select;
mod snapshot;

pub(crate) use faults::{FaultState, inject};
pub use faults::{Faults, Outage};
pub use fuzz::FuzzTarget;
pub(crate) use recorder::Records;
pub use recorder::{OffsetViolation, Recorder, RequestLogEntry};
pub(crate) use select::select;
pub use snapshot::{ArtifactState, RunState};
