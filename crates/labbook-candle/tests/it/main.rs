//! labbook-candle's tests through its public API, in one test binary: the tensor helpers,
//! the watch, and the tracker on a tiny model.

mod media;
mod tracker;
mod watch;
