//! The run: the handle a training loop logs through ([`Run`]), how a run starts
//! ([`start`](start::start)) and ends (a finish, a panic or a signal), the report it ends
//! with, the lines it prints, and where a resumed run goes on.
//!
//! The run talks to the engine only through the queue (`engine::queue`); it never waits for
//! the worker except at `flush` and `finish`.

mod banner;
mod finish;
mod handle;
pub(crate) mod lifecycle;
mod macros;
mod names;
pub(crate) mod resume;
mod start;

pub(crate) use crate::engine::queue::Names;
pub(crate) use handle::{ActiveParts, Inner};
pub use handle::{AlertLevel, Run};
pub(crate) use start::start;
