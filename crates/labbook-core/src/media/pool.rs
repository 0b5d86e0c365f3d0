//! The media encoders: a few threads (`labbook-encode-N`, started with a run's first media
//! value) that compress images and write media files ahead of the writer, so the writer
//! never stops to encode a PNG and rows logged after an image wait only for the media
//! logged before them.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{JoinHandle, Thread};

use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;

use super::{Materialized, Place, materialize_items};
use crate::value::Value;
use crate::value::key::Key;

/// The most encoder threads a run starts: media encoding competes with the training loop
/// for the cores.
const MAX_THREADS: usize = 4;

/// About how much encoding may wait ahead of the writer: the newest row reaches the disk
/// about this long (plus one item's encoding) after it is logged.
pub(crate) const MEDIA_AHEAD: std::time::Duration = std::time::Duration::from_millis(500);

/// The most entries with media that wait, however fast they encode (the queue's byte
/// budget bounds them too).
const MAX_MEDIA_SLOTS: usize = 4096;

/// A call's media being encoded; the writer takes the result once it is done.
#[derive(Clone, Debug, Default)]
pub(crate) struct Ticket(Arc<Slot>);

#[derive(Debug, Default)]
struct Slot {
    done: AtomicBool,
    result: Mutex<Option<Materialized>>,
}

impl Ticket {
    /// Whether the media are encoded and written.
    pub(crate) fn is_done(&self) -> bool {
        self.0.done.load(Ordering::Acquire)
    }

    /// The result, once done (taken once).
    pub(crate) fn take(&self) -> Option<Materialized> {
        if !self.is_done() {
            return None;
        }
        self.0.result.lock().take()
    }

    fn complete(&self, m: Materialized) {
        *self.0.result.lock() = Some(m);
        self.0.done.store(true, Ordering::Release);
    }
}

struct Job {
    place: Arc<Place>,
    step: Option<u64>,
    items: Vec<(Key, Value)>,
    ticket: Ticket,
    /// The writer, woken when the job is done.
    notify: Thread,
}

/// The encoder threads of one run. Dropping it lets the threads finish the jobs they hold
/// and joins them.
pub(crate) struct EncodePool {
    jobs: Option<Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
}

impl EncodePool {
    /// Starts one encoder per core, at most [`MAX_THREADS`]. If no thread can be started,
    /// jobs are done on the caller's thread.
    pub(crate) fn start() -> EncodePool {
        let n = threads_on_this_machine();
        let (tx, rx) = crossbeam_channel::unbounded::<Job>();
        let mut threads = Vec::with_capacity(n);
        for i in 0..n {
            let rx = rx.clone();
            match std::thread::Builder::new()
                .name(format!("labbook-encode-{i}"))
                .spawn(move || encode_jobs(rx))
            {
                Ok(h) => threads.push(h),
                Err(e) => {
                    tracing::warn!(target: "labbook", "could not start a media encoder thread: {e}")
                }
            }
        }
        EncodePool {
            jobs: (!threads.is_empty()).then_some(tx),
            threads,
        }
    }

    /// How many jobs may be in flight at once: enough to keep every encoder busy while the
    /// writer takes the results in order.
    pub(crate) fn lookahead(&self) -> usize {
        (self.threads.len() * 2).max(1)
    }

    /// [`EncodePool::lookahead`] of a pool started on this machine.
    pub(crate) fn lookahead_on_this_machine() -> usize {
        threads_on_this_machine() * 2
    }

    /// How many entries with media may wait for this machine's encoders when one takes
    /// `encode` on average: what they get through in [`MEDIA_AHEAD`], and never fewer than
    /// keep every encoder busy. Small images get thousands (a burst of them never waits);
    /// 1-megapixel ones a handful, and fewer on a busy machine.
    pub(crate) fn media_slots(encode: std::time::Duration) -> usize {
        let threads = threads_on_this_machine();
        let floor = threads * 2;
        let per_thread = MEDIA_AHEAD.as_secs_f64() / encode.as_secs_f64().max(1e-6);
        ((threads as f64 * per_thread) as usize).clamp(floor, MAX_MEDIA_SLOTS)
    }

    /// Hands `items` (holding media) over for encoding; `notify` is unparked when done.
    pub(crate) fn submit(
        &self,
        place: &Arc<Place>,
        step: Option<u64>,
        items: Vec<(Key, Value)>,
        notify: Thread,
    ) -> Ticket {
        let ticket = Ticket::default();
        let job = Job {
            place: place.clone(),
            step,
            items,
            ticket: ticket.clone(),
            notify,
        };
        match &self.jobs {
            Some(tx) => {
                if let Err(crossbeam_channel::SendError(job)) = tx.send(job) {
                    run_job(job);
                }
            }
            None => run_job(job),
        }
        ticket
    }
}

fn threads_on_this_machine() -> usize {
    std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, MAX_THREADS)
}

impl Drop for EncodePool {
    fn drop(&mut self) {
        self.jobs.take();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn encode_jobs(rx: Receiver<Job>) {
    for job in rx {
        run_job(job);
    }
}

/// Encodes one call's media. A panic while encoding (a bug) costs that call's media, which
/// become null with a warning, not the run.
fn run_job(job: Job) {
    let Job {
        place,
        step,
        items,
        ticket,
        notify,
    } = job;
    let keys: Vec<Key> = items.iter().map(|(k, _)| k.clone()).collect();
    let started = std::time::Instant::now();
    let mut result = catch_unwind(AssertUnwindSafe(|| materialize_items(&place, step, items)))
        .unwrap_or_else(|panic| {
            let why = crate::error::panic_message(&*panic);
            Materialized {
                warnings: vec![format!(
                    "{}: encoding failed ({why}); logged as null",
                    keys.iter().map(Key::as_str).collect::<Vec<_>>().join(", ")
                )],
                items: keys.into_iter().map(|k| (k, Value::Null)).collect(),
                ..Materialized::default()
            }
        });
    result.took = started.elapsed();
    ticket.complete(result);
    notify.unpark();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::Image;

    fn place(dir: &std::path::Path) -> Arc<Place> {
        Arc::new(Place {
            files_dir: dir.to_owned(),
            run_id: "r1".into(),
            project: "p".into(),
        })
    }

    fn wait(t: &Ticket) -> Materialized {
        loop {
            if let Some(m) = t.take() {
                return m;
            }
            std::thread::park_timeout(std::time::Duration::from_millis(5));
        }
    }

    #[test]
    fn encoders_write_the_files_and_hand_back_the_json() {
        let dir = tempfile::tempdir().unwrap();
        let pool = EncodePool::start();
        let img = Image::rgb(2, 2, vec![7; 12]).unwrap();
        let items = vec![
            (Key::from("img"), Value::from(img)),
            (Key::from("x"), Value::from(1)),
        ];
        let t = pool.submit(&place(dir.path()), Some(3), items, std::thread::current());
        let m = wait(&t);
        assert_eq!(m.items.len(), 2);
        assert!(
            m.items[0].1.to_json().contains("image-file"),
            "{:?}",
            m.items
        );
        assert_eq!(m.items[1].1, Value::from(1));
        assert_eq!(m.written.len(), 1);
        assert!(dir.path().join(&m.written[0]).is_file());
        assert!(t.take().is_none(), "a result is taken once");
    }

    #[test]
    fn a_pool_dropped_with_jobs_in_flight_finishes_them() {
        let dir = tempfile::tempdir().unwrap();
        let pool = EncodePool::start();
        let tickets: Vec<Ticket> = (0..8)
            .map(|i| {
                let img = Image::gray(64, 64, vec![i as u8; 64 * 64]).unwrap();
                let items = vec![(Key::from("g"), Value::from(img))];
                pool.submit(&place(dir.path()), Some(i), items, std::thread::current())
            })
            .collect();
        drop(pool);
        assert!(tickets.iter().all(Ticket::is_done));
    }
}
