//! How a run ends: the artifact stager drained, the sampler and console stopped, the
//! finish entry queued behind everything logged, the worker's answer awaited (bounded),
//! the upload drained (bounded), and the report assembled, printed and kept.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::{Inner, banner, lifecycle};
use crate::engine::queue::{Envelope, Msg, WorkerReport};
use crate::report::RunReport;

impl Inner {
    /// Finishes once; every later call returns the first report.
    pub(crate) fn finish(&self, exit_code: i32, preempted: bool) -> RunReport {
        self.drain_stager();
        let mut hot = self.hot.lock();
        if hot.finished {
            drop(hot);
            return self.wait_report();
        }
        hot.finished = true;
        // The sampler and the console readers stop first: what they sent is queued before
        // the finish entry, so it is written before the exit record.
        if let Some(mut system) = self.system.lock().take() {
            system.stop();
        }
        let (tx, rx) = crossbeam_channel::bounded(1);
        // A worker that died (it cannot, short of a bug) would never answer.
        let sent = self
            .worker
            .lock()
            .as_ref()
            .is_some_and(|h| !h.is_finished());
        let finish = Msg::Finish {
            exit_code,
            preempted,
            reply: tx,
        };
        self.shared.push(Envelope::new(finish, 0), true);
        drop(hot);
        let answer = if sent {
            self.await_worker(&rx, self.finish_timeout)
        } else {
            None
        };
        let worker = self.worker_report(answer, sent);
        let mut warnings = std::mem::take(&mut *self.warnings.lock());
        warnings.extend(worker.warnings.iter().cloned());
        let uploaded = self.finish_upload(&mut warnings);
        let report = self.assemble(worker, warnings, exit_code, preempted);
        if !self.quiet {
            banner::finished(&report, uploaded.as_deref());
        }
        let _ = self.report.set(report.clone());
        // Written and uploaded as far as it goes: `labbook sync` may take it from here.
        self.lock.lock().take();
        lifecycle::unregister(self);
        report
    }

    /// Artifacts still being hashed go into the log before the end of the run, unless that
    /// takes longer than `finish_timeout` (a preempted job has seconds to stop).
    fn drain_stager(&self) {
        let stager = self.staging.lock().take().flatten();
        if let Some(s) = stager
            && !s.finish(self.finish_timeout)
        {
            self.warnings.lock().push(format!(
                "artifacts still being hashed after {:?} are not in the run; their copies stay under {}",
                self.finish_timeout,
                self.dir.join("artifacts").display()
            ));
        }
    }

    /// The worker's answer, or why there is none: still writing after the timeout, or dead.
    fn worker_report(&self, answer: Option<WorkerReport>, sent: bool) -> WorkerReport {
        let mut worker = match answer {
            Some(w) => {
                if let Some(h) = self.worker.lock().take() {
                    let _ = h.join();
                }
                w
            }
            None if sent && !self.worker_gone() => WorkerReport {
                errors: vec![format!(
                    "finish timed out after {:?}; the worker is still writing, and the log keeps every whole record",
                    self.finish_timeout
                )],
                ..WorkerReport::default()
            },
            None => WorkerReport {
                errors: vec![self.shared.failure()],
                ..WorkerReport::default()
            },
        };
        if self.shared.has_failed() && worker.errors.is_empty() {
            worker.errors.push(self.shared.failure());
        }
        worker
    }

    /// The exit record is in the log now: waits (bounded) for the upload to drain; returns
    /// the run's page when it did.
    fn finish_upload(&self, warnings: &mut Vec<String>) -> Option<String> {
        let online = self.online.as_ref()?;
        match online.finish(self.finish_timeout) {
            Ok(r) => {
                tracing::debug!(target: "labbook", "uploaded {} rows to {}/{}", r.rows, r.entity, r.project);
                warnings.extend(r.warnings);
                online.url()
            }
            Err(e) => {
                warnings.push(format!(
                    "upload incomplete: {e}; finish it with `labbook sync --include-online {}`",
                    self.dir.display()
                ));
                None
            }
        }
    }

    fn assemble(
        &self,
        worker: WorkerReport,
        warnings: Vec<String>,
        exit_code: i32,
        preempted: bool,
    ) -> RunReport {
        RunReport {
            run_id: self.id.clone(),
            name: if worker.name.is_empty() {
                self.names.lock().name.clone()
            } else {
                worker.name
            },
            dir: self.dir.clone(),
            rows: worker.rows,
            bytes: worker.bytes,
            steps_refused: self.counters.steps_refused.load(Ordering::Relaxed),
            dropped: self.counters.dropped.load(Ordering::Relaxed),
            blocked: Duration::from_nanos(self.counters.blocked_ns.load(Ordering::Relaxed)),
            exit_code,
            preempted,
            warnings,
            errors: worker.errors,
            duration: self.started.elapsed(),
        }
    }
}
