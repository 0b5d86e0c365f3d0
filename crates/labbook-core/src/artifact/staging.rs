//! Hashing a logged artifact's private copies off the training thread: one thread per run
//! that records versions in the order they were logged and puts each record on the
//! worker's queue.

use std::sync::Arc;
use std::time::Duration;

use super::Snapshot;
use crate::engine::queue::{Envelope, Msg, Shared};
use crate::error::{Error, Result};

/// Hashes artifacts' private copies one after another (so versions are recorded in the
/// order they were logged) and puts the records on the worker's queue. It holds only the
/// queue, never the run, so dropping the run's last handle anywhere cannot make it wait
/// on itself.
pub(crate) struct Stager {
    jobs: crossbeam_channel::Sender<Job>,
    /// Disconnected when the thread ends.
    done: crossbeam_channel::Receiver<()>,
}

enum Job {
    Hash(crate::artifact::Snapshot),
    /// Answered once every artifact handed over before it is on the worker's queue.
    Barrier(crossbeam_channel::Sender<()>),
}

impl Stager {
    /// Starts the hashing thread of run `run_id` in `project`.
    pub(crate) fn start(shared: Arc<Shared>, run_id: String, project: String) -> Result<Stager> {
        let (jobs, rx) = crossbeam_channel::unbounded::<Job>();
        let (done_tx, done) = crossbeam_channel::bounded::<()>(0);
        std::thread::Builder::new()
            .name("labbook-hash".into())
            .spawn(move || {
                let _done = done_tx;
                for job in rx {
                    match job {
                        Job::Hash(snapshot) => {
                            let staged = snapshot.record(&run_id, &project);
                            let msg = Msg::ArtifactStaged(Box::new(staged));
                            shared.push(Envelope::new(msg, 1024), false);
                        }
                        Job::Barrier(reply) => {
                            let _ = reply.send(());
                        }
                    }
                }
            })
            .map_err(|e| Error::WorkerFailed(format!("could not start the hashing thread: {e}")))?;
        Ok(Stager { jobs, done })
    }

    /// Hands over an artifact's copies to hash; false when the thread is gone.
    pub(crate) fn stage(&self, snapshot: Snapshot) -> bool {
        self.jobs.send(Job::Hash(snapshot)).is_ok()
    }

    /// What has been handed over so far, to wait for without holding the stager.
    pub(crate) fn staged(&self) -> Staged {
        Staged(self.jobs.clone())
    }

    /// Waits up to `timeout` for every artifact handed over so far; false when some are
    /// still being hashed.
    pub(crate) fn finish(self, timeout: Duration) -> bool {
        drop(self.jobs);
        matches!(
            self.done.recv_timeout(timeout),
            Err(crossbeam_channel::RecvTimeoutError::Disconnected)
        )
    }
}

/// The artifacts handed to a [`Stager`] up to some moment.
pub(crate) struct Staged(crossbeam_channel::Sender<Job>);

impl Staged {
    /// Waits up to `timeout` until every artifact handed over so far is on the worker's
    /// queue; false when some are still being hashed.
    pub(crate) fn wait(self, timeout: Duration) -> bool {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let sent = self.0.send(Job::Barrier(tx)).is_ok();
        // Not held while waiting: `finish` waits for every sender to go.
        drop(self.0);
        sent && rx.recv_timeout(timeout).is_ok()
    }
}
