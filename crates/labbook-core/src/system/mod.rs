//! System metrics, NVIDIA GPUs and console capture.
//!
//! A run started with system metrics on (the default) gets a `labbook-sampler` thread that
//! reads CPU, memory, disk, network and process figures (and NVIDIA GPUs through NVML,
//! loaded at run time) every [`Settings::stats_interval`](crate::Settings::stats_interval),
//! and sends each sample to the run's worker as one `StatsRecord` with W&B's key names.
//! Console capture copies what the program writes to stdout and stderr into the run's
//! console log (`OutputRawRecord`s and `files/output.log`) while it still reaches the
//! terminal. Nothing here writes to the transaction log: the worker does, from the queue.

mod console;
mod gpu;
mod layer;
// The sampler: built with the `system` feature (sysinfo, NVML).
#[cfg(feature = "system")]
mod metrics;
#[cfg(feature = "system")]
mod sampler;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

#[cfg(feature = "system")]
pub use gpu::NvmlSource;
pub use gpu::{GpuInfo, GpuSample, GpuSource};
pub use layer::RunLayer;

use crate::engine::queue::{Envelope, Msg, Shared, SysMsg};

/// Where the background parts of a run send their messages: the run's queue, while the
/// run is open.
#[derive(Clone)]
pub(crate) struct Sink {
    shared: Weak<Shared>,
    open: Arc<AtomicBool>,
    /// Set while the run stops: sends no longer wait for room (the worker is the one
    /// stopping, so it cannot drain the queue meanwhile).
    draining: Arc<AtomicBool>,
}

impl Sink {
    pub(crate) fn new(shared: &Arc<Shared>) -> Sink {
        Sink {
            shared: Arc::downgrade(shared),
            open: Arc::new(AtomicBool::new(true)),
            draining: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Whether the run still takes messages.
    pub(crate) fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }

    fn close(&self) {
        self.open.store(false, Ordering::Release);
    }

    /// Queues a message without waiting: `Err` gives it back when the queue is full (the
    /// console readers keep it and go on reading, so whoever writes to stdout or stderr,
    /// the worker included, never waits on a full queue). `Ok(false)`: the run no longer
    /// takes messages.
    pub(crate) fn try_send(&self, msg: SysMsg, bytes: usize) -> Result<bool, SysMsg> {
        if !self.is_open() {
            return Ok(false);
        }
        let Some(shared) = self.shared.upgrade() else {
            return Ok(false);
        };
        if shared.has_failed() {
            return Ok(false);
        }
        if !shared.has_room(bytes, false) && !self.draining.load(Ordering::Acquire) {
            shared.wake();
            return Err(msg);
        }
        shared.push(Envelope::new(Msg::System(msg), bytes), false);
        Ok(true)
    }

    /// Queues a message; waits while the queue is full (nothing is lost), and gives up
    /// quietly once the run is finished or its writer failed. On the worker's own thread
    /// it never waits: the worker is the one that makes room.
    pub(crate) fn send(&self, msg: SysMsg, bytes: usize) -> bool {
        if !self.is_open() {
            return false;
        }
        let Some(shared) = self.shared.upgrade() else {
            return false;
        };
        let on_worker = shared.is_worker_thread();
        while !on_worker && !shared.has_room(bytes, false) && !self.draining.load(Ordering::Acquire)
        {
            if shared.has_failed() || !self.is_open() {
                return false;
            }
            shared.wake();
            std::thread::sleep(Duration::from_millis(1));
        }
        if shared.has_failed() {
            return false;
        }
        shared.push(Envelope::new(Msg::System(msg), bytes), false);
        true
    }
}

pub(crate) fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

/// Console capture, as `WANDB_CONSOLE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Console {
    /// Capture when possible (the default).
    Auto,
    /// Do not capture.
    Off,
    /// W&B's `wrap`: captured as [`Console::Redirect`] (a Rust program has no writer
    /// objects to wrap, so the file descriptors are redirected).
    Wrap,
    /// Capture by redirecting the file descriptors.
    Redirect,
}

/// What the background parts of a run are asked to do.
#[derive(Clone, Debug)]
pub(crate) struct SystemSettings {
    pub console: Console,
    pub metrics: bool,
    pub interval: Duration,
    pub gpu_source: Option<GpuFactory>,
}

/// The background parts of one run: the sampler thread and the console capture. Owned by
/// the run, stopped before the run's finish entry is queued, so everything they sent is
/// written before the exit record.
pub(crate) struct System {
    sink: Sink,
    #[cfg(feature = "system")]
    sampler: Option<sampler::Sampler>,
    console: Option<console::Capture>,
}

impl System {
    /// Starts what the settings ask for. Console capture starts here, on the caller's
    /// thread, so what the program prints right after `init` is captured.
    pub(crate) fn start(s: SystemSettings, sink: Sink) -> System {
        let console = if s.console == Console::Off {
            None
        } else {
            console::Capture::start(sink.clone())
        };
        #[cfg(feature = "system")]
        let sampler = if s.metrics {
            let gpu = s.gpu_source.as_ref().map(GpuFactory::make);
            sampler::Sampler::start(sink.clone(), s.interval, gpu)
        } else {
            None
        };
        #[cfg(not(feature = "system"))]
        if s.metrics {
            tracing::debug!(target: "labbook::system", "built without labbook's `system` feature: no system metrics for this run");
        }
        System {
            sink,
            #[cfg(feature = "system")]
            sampler,
            console,
        }
    }

    /// Stops the sampler and the console capture (restoring stdout and stderr). What they
    /// sent before is in the queue; nothing is sent after this returns.
    pub(crate) fn stop(&mut self) {
        self.sink.draining.store(true, Ordering::Release);
        if let Some(c) = self.console.take() {
            c.stop();
        }
        #[cfg(feature = "system")]
        if let Some(s) = self.sampler.take() {
            s.stop();
        }
        self.sink.close();
    }
}

impl Drop for System {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Makes a [`GpuSource`] for each run; set with
/// [`Settings::gpu_source`](crate::Settings::gpu_source).
#[derive(Clone)]
pub(crate) struct GpuFactory(pub(crate) Arc<dyn Fn() -> Box<dyn GpuSource> + Send + Sync>);

impl GpuFactory {
    fn make(&self) -> Box<dyn GpuSource> {
        (self.0)()
    }
}

impl std::fmt::Debug for GpuFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GpuFactory(..)")
    }
}
