//! The uploader thread of an online run: it follows the run's transaction log as the worker
//! writes it and streams what it reads, so `log` never waits for the network and
//! everything uploaded is exactly what the local log holds.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, bounded};
use parking_lot::Mutex;

use super::sync::{SyncOptions, SyncReport, Uploader};
use crate::error::{Error, Result};
use crate::settings::OnlineSettings;
use crate::wire::{LogEnd, LogFollower};

/// The longest a rate-limited upload waits between requests.
const MAX_INTERVAL: Duration = Duration::from_secs(60);

/// How often the thread looks at the log for new records.
const POLL: Duration = Duration::from_millis(100);

/// The handle a run keeps on its uploader thread.
pub(crate) struct Live {
    finishing: Arc<AtomicBool>,
    stopped: Arc<AtomicBool>,
    url: Arc<Mutex<Option<String>>>,
    done: Receiver<std::result::Result<SyncReport, String>>,
}

impl Live {
    /// Starts the thread; it creates the run on the server when it reads the run record.
    pub(crate) fn start(s: &OnlineSettings, log: PathBuf, files_dir: PathBuf) -> Result<Live> {
        let mut opts = SyncOptions::new(&s.base_url, s.api_key.expose());
        opts.retry = s.retry.clone();
        let mut uploader = Uploader::new(&opts, files_dir)?;
        uploader.save_position_to(&log);
        let finishing = Arc::new(AtomicBool::new(false));
        let stopped = Arc::new(AtomicBool::new(false));
        let url = Arc::new(Mutex::new(None));
        let (tx, done) = bounded(1);
        let thread = Thread {
            log,
            uploader,
            interval: s.upload_interval,
            finishing: finishing.clone(),
            stopped: stopped.clone(),
            url: url.clone(),
        };
        std::thread::Builder::new()
            .name("labbook-upload".into())
            .spawn(move || {
                let result = thread.run().map_err(|e| e.to_string());
                if let Err(e) = &result {
                    tracing::warn!(target: "labbook", "labbook stopped uploading this run: {e}. The run is still written locally; upload it later with `labbook sync --include-online <run dir>`");
                }
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
    /// drain; says what is missing otherwise.
    pub(crate) fn finish(&self, timeout: Duration) -> std::result::Result<SyncReport, String> {
        self.finishing.store(true, Ordering::Relaxed);
        match self.done.recv_timeout(timeout) {
            Ok(r) => r,
            Err(_) => Err(format!(
                "the upload did not finish within {timeout:?}; what is missing stays in the local log"
            )),
        }
    }
}

struct Thread {
    log: PathBuf,
    uploader: Uploader,
    interval: Duration,
    finishing: Arc<AtomicBool>,
    stopped: Arc<AtomicBool>,
    url: Arc<Mutex<Option<String>>>,
}

impl Thread {
    fn run(mut self) -> Result<SyncReport> {
        let mut follower = LogFollower::new(&self.log);
        let mut last_flush = Instant::now();
        // Slowed down after a 429, back to the setting after a quiet flush.
        let mut interval = self.interval;
        let mut limited = 0;
        let mut no_progress = |_| {};
        loop {
            for record in follower.poll()? {
                if let Some(r) = record.record_type {
                    self.uploader.feed(&r, &mut no_progress)?;
                }
            }
            if self.url.lock().is_none() {
                *self.url.lock() = self.uploader.url();
            }
            if self.uploader.saw_exit() {
                let report = self.uploader.finish(LogEnd::Clean, &mut no_progress)?;
                super::sync::mark_synced(&self.log)?;
                return Ok(report);
            }
            if last_flush.elapsed() >= interval {
                self.uploader.flush(&mut no_progress)?;
                self.stopped
                    .store(self.uploader.stopped(), Ordering::Relaxed);
                last_flush = Instant::now();
                let now_limited = self.uploader.rate_limited();
                interval = if now_limited > limited {
                    (interval * 2).min(MAX_INTERVAL.max(self.interval))
                } else {
                    self.interval
                };
                limited = now_limited;
            }
            // Once finishing, the exit record is at most a worker flush away.
            let nap = if self.finishing.load(Ordering::Relaxed) {
                Duration::from_millis(10)
            } else {
                POLL.min(interval)
            };
            std::thread::sleep(nap);
        }
    }
}
