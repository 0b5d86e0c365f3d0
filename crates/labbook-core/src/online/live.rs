//! The uploader thread of an online run: it follows the run's transaction log as the worker
//! writes it and streams what it reads, so `log` never waits for the network and
//! everything uploaded is exactly what the local log holds.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, bounded};
use parking_lot::Mutex;

use super::OnlineSettings;
use super::SyncReport;
use super::uploader::{SyncOptions, Uploader};
use crate::error::{Error, Result};
use crate::wire::{LogEnd, LogFollower, proto};

/// The longest a rate-limited upload waits between requests.
const MAX_INTERVAL: Duration = Duration::from_secs(60);

/// How long `finish` waits for an upload it abandoned to stop (and let go of the run).
const ABANDON_WAIT: Duration = Duration::from_secs(2);

/// How often the thread looks at the log for new records.
const POLL: Duration = Duration::from_millis(100);

/// The most bytes of records read from the log at a time: after an outage the log may hold
/// hours of rows, and they are read and sent a slice at a time, never all at once.
const READ_BATCH_BYTES: u64 = 1 << 20;

/// The handle a run keeps on its uploader thread.
pub(crate) struct Live {
    finishing: Arc<AtomicBool>,
    stopped: Arc<AtomicBool>,
    url: Arc<Mutex<Option<String>>>,
    /// Makes a request that is still retrying give up (set when `finish` stops waiting).
    cancel: Arc<AtomicBool>,
    done: Receiver<std::result::Result<SyncReport, String>>,
}

impl Live {
    /// Starts the thread; it creates the run on the server when it reads the run record.
    /// Nothing here touches the network or builds the HTTP client: the thread does, so
    /// `init` is as quick online as offline, also inside an async runtime.
    pub(crate) fn start(
        s: &OnlineSettings,
        log: PathBuf,
        files_dir: PathBuf,
        lock: Arc<crate::store::RunLock>,
    ) -> Result<Live> {
        let mut opts = SyncOptions::new(&s.base_url, s.api_key.expose());
        opts.retry = s.retry.clone();
        opts.clock = s.clock.clone();
        let cancel = Arc::new(AtomicBool::new(false));
        let finishing = Arc::new(AtomicBool::new(false));
        let stopped = Arc::new(AtomicBool::new(false));
        let url = Arc::new(Mutex::new(None));
        let (tx, done) = bounded(1);
        let thread = Thread {
            log,
            opts,
            files_dir,
            base_url: s.base_url.clone(),
            clock: s.clock.clone(),
            cancel: cancel.clone(),
            interval: s.upload_interval,
            finishing: finishing.clone(),
            stopped: stopped.clone(),
            url: url.clone(),
        };
        let abandoned = cancel.clone();
        std::thread::Builder::new()
            .name("labbook-upload".into())
            .spawn(move || {
                // The run directory stays locked while this thread may still upload.
                let result = thread.run().map_err(|e| e.to_string());
                // An upload abandoned at finish was already reported there.
                if let Err(e) = &result
                    && !abandoned.load(Ordering::Relaxed)
                {
                    tracing::warn!(target: "labbook", "labbook stopped uploading this run: {e}. The run is still written locally; upload it later with `labbook sync --include-online <run dir>`");
                }
                // Let go of the run before saying so: whoever hears the result may sync it.
                drop(lock);
                let _ = tx.send(result);
            })
            .map_err(|e| Error::Upload {
                url: s.base_url.clone(),
                reason: format!("could not start the upload thread: {e}"),
            })?;
        Ok(Live {
            finishing,
            stopped,
            url,
            cancel,
            done,
        })
    }

    /// Whether the server asked the run to stop.
    pub(crate) fn should_stop(&self) -> bool {
        self.stopped.load(Ordering::Relaxed)
    }

    /// The run's page, once the server has answered.
    pub(crate) fn url(&self) -> Option<String> {
        self.url.lock().clone()
    }

    /// Tells the thread the log is complete and waits up to `timeout` for the upload to
    /// drain; says what is missing otherwise, and tells the thread to give up (the position
    /// it reached is saved for `labbook sync`).
    pub(crate) fn finish(&self, timeout: Duration) -> std::result::Result<SyncReport, String> {
        self.finishing.store(true, Ordering::Relaxed);
        match self.done.recv_timeout(timeout) {
            Ok(r) => r,
            Err(_) => {
                self.cancel.store(true, Ordering::Relaxed);
                // A cancelled upload stops at its next wait; the request in flight ends
                // within its timeout. Until the thread is gone, the run stays locked.
                let _ = self.done.recv_timeout(ABANDON_WAIT);
                Err(format!(
                    "the upload did not finish within {timeout:?}; what is missing stays in the local log"
                ))
            }
        }
    }
}

struct Thread {
    log: PathBuf,
    opts: SyncOptions,
    files_dir: PathBuf,
    base_url: String,
    clock: Arc<dyn super::Clock>,
    cancel: Arc<AtomicBool>,
    interval: Duration,
    finishing: Arc<AtomicBool>,
    stopped: Arc<AtomicBool>,
    url: Arc<Mutex<Option<String>>>,
}

impl Thread {
    fn run(self) -> Result<SyncReport> {
        let mut uploader = Uploader::new(&self.opts, self.files_dir.clone())?
            .with_cancel_flag(self.cancel.clone());
        uploader.save_position_to(&self.log);
        let mut follower = LogFollower::new(&self.log).batch_bytes(READ_BATCH_BYTES);
        let mut last_flush = self.clock.now();
        // Slowed down after a 429, back to the setting after a quiet flush.
        let mut interval = self.interval;
        let mut limited = 0;
        let mut no_progress = |_| {};
        loop {
            if self.cancel.load(Ordering::Relaxed) {
                return Err(crate::error::Error::Upload {
                    url: super::public_url(&self.base_url),
                    reason: "abandoned at finish".into(),
                });
            }
            let records = follower.poll_with_ends()?;
            let caught_up = records.is_empty();
            for (record, end) in records {
                if let Some(proto::RecordType::Run(run)) = &record.record_type {
                    super::markers::write_syncstate(&self.log, run.starting_step);
                }
                if let Some(r) = record.record_type {
                    uploader.feed(&r, end, &mut no_progress)?;
                }
            }
            if self.url.lock().is_none() {
                *self.url.lock() = uploader.url();
            }
            if uploader.saw_exit() {
                let report = uploader.finish(LogEnd::Clean, &mut no_progress)?;
                super::markers::mark_synced(&self.log)?;
                return Ok(report);
            }
            if self.clock.now().saturating_sub(last_flush) >= interval {
                uploader.flush(&mut no_progress)?;
                self.stopped.store(uploader.stopped(), Ordering::Relaxed);
                last_flush = self.clock.now();
                let now_limited = uploader.rate_limited();
                interval = if now_limited > limited {
                    (interval * 2).min(MAX_INTERVAL.max(self.interval))
                } else {
                    self.interval
                };
                limited = now_limited;
            }
            // Behind the log (after an outage): read on at once. Once finishing, the exit
            // record is at most a worker flush away.
            if !caught_up {
                continue;
            }
            let nap = if self.finishing.load(Ordering::Relaxed) {
                Duration::from_millis(10)
            } else {
                POLL.min(interval)
            };
            self.clock.sleep(nap);
        }
    }
}
