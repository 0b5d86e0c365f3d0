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
mod metrics;
mod sampler;

use std::fs::File;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

pub use gpu::{GpuInfo, GpuSample, GpuSource, NvmlSource};
pub use layer::RunLayer;

use crate::settings::{Console, Resolved};
use crate::wire::proto::{self, RecordType};
use crate::worker::{Envelope, Msg, Shared};

/// What the sampler and the console readers send the worker.
pub(crate) enum SysMsg {
    /// One sample of system metrics.
    Stats(proto::StatsRecord),
    /// Static hardware facts found by the sampler (GPUs), for a second environment record.
    Hardware(gpu::Hardware),
    /// Console text: `stderr` tells the stream; `line` is raw (may be partial).
    Output {
        stderr: bool,
        line: String,
        unix: f64,
    },
}

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

/// The background parts of one run: the sampler thread, the console capture, and the
/// `files/output.log` writer. Owned by the worker, stopped before the exit record.
pub(crate) struct System {
    sink: Sink,
    sampler: Option<sampler::Sampler>,
    console: Option<console::Capture>,
    output_log: Option<File>,
    output_path: PathBuf,
    output_failed: bool,
}

impl System {
    /// Starts what the settings ask for. Console capture starts here, on the caller's
    /// thread, so what the program prints right after `init` is captured.
    pub(crate) fn start(s: &Resolved, sink: Sink, files_dir: PathBuf) -> System {
        let console = if s.console == Console::Off {
            None
        } else {
            console::Capture::start(sink.clone())
        };
        let sampler = if s.system_metrics {
            let gpu = s.gpu_source.as_ref().map(GpuFactory::make);
            sampler::Sampler::start(sink.clone(), s.stats_interval, gpu)
        } else {
            None
        };
        System {
            sink,
            sampler,
            console,
            output_log: None,
            output_path: files_dir.join("output.log"),
            output_failed: false,
        }
    }

    /// Stops the sampler and the console capture (restoring stdout and stderr). What they
    /// sent before is in the queue; nothing is sent after this returns.
    pub(crate) fn stop(&mut self) {
        self.sink.draining.store(true, Ordering::Release);
        if let Some(c) = self.console.take() {
            c.stop();
        }
        if let Some(s) = self.sampler.take() {
            s.stop();
        }
        self.sink.close();
    }

    /// Turns a message into the record to write; console text also goes to `output.log`.
    pub(crate) fn record(
        &mut self,
        msg: SysMsg,
        env: Option<&mut proto::EnvironmentRecord>,
    ) -> Option<RecordType> {
        match msg {
            SysMsg::Stats(s) => Some(RecordType::Stats(s)),
            SysMsg::Hardware(h) => {
                let env = env?;
                h.apply(env);
                Some(RecordType::Environment(env.clone()))
            }
            SysMsg::Output { stderr, line, unix } => {
                self.append_output(&line);
                Some(RecordType::OutputRaw(proto::OutputRawRecord {
                    output_type: if stderr { 0 } else { 1 },
                    timestamp: Some(proto::timestamp(unix)),
                    line,
                }))
            }
        }
    }

    fn append_output(&mut self, line: &str) {
        if self.output_failed {
            return;
        }
        if self.output_log.is_none() {
            match std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.output_path)
            {
                Ok(f) => self.output_log = Some(f),
                Err(e) => {
                    self.output_failed = true;
                    tracing::warn!(target: "labbook", "could not open {}: {e}; console output is only in the transaction log", self.output_path.display());
                    return;
                }
            }
        }
        if let Some(f) = &mut self.output_log
            && let Err(e) = f.write_all(line.as_bytes())
        {
            self.output_failed = true;
            tracing::warn!(target: "labbook", "could not write {}: {e}", self.output_path.display());
        }
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

/// A `tracing` layer that copies events into the run's console log (as stderr lines), so
/// they are part of `output.log` and the synced run's Logs tab. Events from labbook's own
/// targets (`labbook...`) are left out.
///
/// ```
/// use tracing_subscriber::layer::SubscriberExt as _;
/// # let dir = tempfile::tempdir()?;
/// let run = labbook_core::init(labbook_core::Settings::new("p").dir(dir.path()).quiet(true))?;
/// let subscriber = tracing_subscriber::registry().with(labbook_core::tracing_layer(&run));
/// tracing::subscriber::with_default(subscriber, || tracing::info!(epoch = 3, "validation done"));
/// run.finish()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn tracing_layer(run: &crate::Run) -> RunLayer {
    RunLayer::new(run.sink())
}

/// Adds the disk and GPU facts of the environment record to `wandb-metadata.json`, in
/// protojson's shape (u64 as strings).
pub(crate) fn metadata_json(e: &proto::EnvironmentRecord, m: &mut serde_json::Value) {
    if !e.disk.is_empty() {
        let disk: serde_json::Map<String, serde_json::Value> = e
            .disk
            .iter()
            .map(|(k, d)| {
                (
                    k.clone(),
                    serde_json::json!({"total": d.total.to_string(), "used": d.used.to_string()}),
                )
            })
            .collect();
        m["disk"] = serde_json::Value::Object(disk);
    }
    if e.gpu_count > 0 {
        m["gpu"] = serde_json::json!(e.gpu_type);
        m["gpu_count"] = serde_json::json!(e.gpu_count);
        m["gpu_nvidia"] = e
            .gpu_nvidia
            .iter()
            .map(|g| {
                serde_json::json!({
                    "name": g.name,
                    "memoryTotal": g.memory_total.to_string(),
                    "cudaCores": g.cuda_cores,
                    "architecture": g.architecture,
                    "uuid": g.uuid,
                })
            })
            .collect();
    }
    if !e.cuda_version.is_empty() {
        m["cuda_version"] = serde_json::json!(e.cuda_version);
    }
}
