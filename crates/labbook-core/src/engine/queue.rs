//! The queue between a run and its worker: the entries (`Msg`), their byte and media
//! budgets (`Shared`), and what the worker answers at the end. The run, the system
//! sampler, the console readers and the artifact stager push into it; only the worker
//! takes from it.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use crossbeam_queue::SegQueue;
use parking_lot::{Condvar, Mutex};

use super::metric::Metric;
use crate::media::{self, EncodePool};
use crate::value::Value;
use crate::value::key::Key;
use crate::wire::proto;

/// How a saved file is uploaded, as W&B's `run.save(policy=...)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SavePolicy {
    /// Copy now and upload soon.
    Now,
    /// Copy and upload at the end of the run (matches files that appear during the run).
    End,
    /// Copy now and again at the end, so the final version is kept.
    Live,
}

impl SavePolicy {
    pub(crate) fn proto(self) -> i32 {
        match self {
            SavePolicy::Now => 0,
            SavePolicy::End => 1,
            SavePolicy::Live => 2,
        }
    }
}

/// What the sampler, the console readers and the tracing layer send the worker.
pub(crate) enum SysMsg {
    /// One sample of system metrics.
    Stats(proto::StatsRecord),
    /// Hardware found by the sampler (GPUs): an environment record with only those fields
    /// set, merged into a second environment record.
    Hardware(Box<proto::EnvironmentRecord>),
    /// Console text: `stderr` tells the stream; `line` is raw (may be partial).
    Output {
        stderr: bool,
        line: String,
        unix: f64,
    },
}

/// A run's name, tags and notes as last set (a change goes to the worker whole).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Names {
    pub name: String,
    pub tags: Vec<String>,
    pub notes: String,
}

/// One queue entry.
pub(crate) enum Msg {
    /// An artifact staged by its thread (or why it could not be).
    ArtifactStaged(Box<std::result::Result<proto::ArtifactRecord, String>>),
    UseArtifact(proto::UseArtifactRecord),
    Log {
        step: u64,
        commit: bool,
        items: Vec<(Key, Value)>,
        at: Instant,
    },
    Summary(Vec<(Key, Value)>),
    Config(Vec<(String, Value)>),
    Metric(Metric),
    Alert(proto::AlertRecord),
    /// The run's name, tags and notes after a change.
    Names(Names),
    /// A metric logged in percent: a final-score name shows it as a fraction.
    Percent(String),
    Save {
        pattern: String,
        policy: SavePolicy,
    },
    Flush(Sender<()>),
    /// From the sampler, the console readers or the tracing layer.
    System(SysMsg),
    Finish {
        exit_code: i32,
        preempted: bool,
        reply: Sender<WorkerReport>,
    },
    /// Makes the worker panic, as a bug would: tests of what a dead worker leaves.
    #[cfg(test)]
    Crash,
}

pub(crate) struct Envelope {
    pub msg: Msg,
    pub bytes: usize,
    /// Its media are encoded into files: it holds one of the queue's media slots.
    pub media: bool,
}

impl Envelope {
    /// An entry whose values' media were already looked at (`media`: some are encoded
    /// into files), as `log` does while it checks them.
    #[inline]
    pub(crate) fn checked(msg: Msg, bytes: usize, media: bool) -> Envelope {
        Envelope { msg, bytes, media }
    }

    pub(crate) fn new(msg: Msg, bytes: usize) -> Envelope {
        let media = match &msg {
            Msg::Log { items, .. } | Msg::Summary(items) => media::encodes_files(items),
            _ => false,
        };
        Envelope { msg, bytes, media }
    }
}

/// What the worker hands back at finish.
#[derive(Debug, Default)]
pub(crate) struct WorkerReport {
    pub rows: u64,
    pub bytes: u64,
    pub name: String,
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
}

/// State shared by the run handle and the worker: the byte budget of the queue, its media
/// slots, and the worker's failure.
pub(crate) struct Shared {
    /// The queue itself. Pushing never wakes the worker (a futex wake costs the training
    /// thread a microsecond or more); the worker polls, and urgent entries unpark it.
    pub(super) queue: SegQueue<Envelope>,
    pub(super) worker: OnceLock<std::thread::Thread>,
    queued: AtomicUsize,
    capacity: usize,
    /// Entries with media to encode, queued or with the encoders, not yet written.
    media_pending: AtomicUsize,
    /// How many such entries may be pending: what the encoders can work on at once. Under
    /// media load a row reaches the disk about two encodings after it is logged, not after
    /// a queue's worth of images (32 MiB of them) ahead of it.
    media_slots: AtomicUsize,
    waiting: AtomicBool,
    lock: Mutex<()>,
    room: Condvar,
    failed: AtomicBool,
    failure: Mutex<Option<String>>,
    /// The worker died of a panic (not a write error, after which it goes on answering).
    pub(super) panicked: AtomicBool,
}

impl Shared {
    pub(crate) fn new(capacity: usize) -> Shared {
        Shared {
            queue: SegQueue::new(),
            worker: OnceLock::new(),
            queued: AtomicUsize::new(0),
            capacity,
            media_pending: AtomicUsize::new(0),
            media_slots: AtomicUsize::new(EncodePool::lookahead_on_this_machine()),
            waiting: AtomicBool::new(false),
            lock: Mutex::new(()),
            room: Condvar::new(),
            failed: AtomicBool::new(false),
            failure: Mutex::new(None),
            panicked: AtomicBool::new(false),
        }
    }

    /// Whether `bytes` more fit (an entry always fits into an empty queue), and a media
    /// slot is free if `media`.
    pub(crate) fn has_room(&self, bytes: usize, media: bool) -> bool {
        if media
            && self.media_pending.load(Ordering::Acquire)
                >= self.media_slots.load(Ordering::Relaxed)
        {
            return false;
        }
        let q = self.queued.load(Ordering::Acquire);
        q == 0 || q + bytes <= self.capacity
    }

    /// Waits until `bytes` (and a media slot if `media`) fit, or the worker failed. Only
    /// one sender calls this at a time (senders hold the run's lock), so the check cannot
    /// race with another sender.
    pub(crate) fn wait_for_room(&self, bytes: usize, media: bool) {
        self.wake();
        let mut guard = self.lock.lock();
        self.waiting.store(true, Ordering::SeqCst);
        while !self.has_room(bytes, media) && !self.has_failed() {
            self.room.wait_for(&mut guard, Duration::from_millis(50));
        }
        self.waiting.store(false, Ordering::SeqCst);
    }

    /// Queues an entry. `urgent` (flush, finish) wakes the worker now; so do media to
    /// encode, and a queue more than half full, so the worker drains it before senders
    /// have to wait.
    pub(crate) fn push(&self, env: Envelope, urgent: bool) {
        let bytes = env.bytes;
        // Media are handed to the encoders at once: a wake costs a microsecond, an
        // encoder left idle until the next poll costs milliseconds of throughput.
        let media = env.media;
        if media {
            self.media_pending.fetch_add(1, Ordering::AcqRel);
        }
        let before = self.queued.fetch_add(bytes, Ordering::AcqRel);
        self.queue.push(env);
        let half = self.capacity / 2;
        if urgent || media || (before <= half && before + bytes > half) {
            self.wake();
        }
    }

    /// Sets how many entries with media may wait (the worker's estimate, from how long
    /// the encoders take).
    pub(super) fn set_media_slots(&self, slots: usize) {
        self.media_slots.store(slots, Ordering::Relaxed);
    }

    #[cfg(test)]
    pub(crate) fn media_slots(&self) -> usize {
        self.media_slots.load(Ordering::Relaxed)
    }

    #[cfg(test)]
    pub(crate) fn media_pending(&self) -> usize {
        self.media_pending.load(Ordering::Acquire)
    }

    /// Whether the caller is the worker thread (which must never wait for room it makes).
    pub(crate) fn is_worker_thread(&self) -> bool {
        self.worker
            .get()
            .is_some_and(|t| t.id() == std::thread::current().id())
    }

    pub(crate) fn wake(&self) {
        if let Some(t) = self.worker.get() {
            t.unpark();
        }
    }

    pub(super) fn release(&self, bytes: usize, media: bool) {
        if media {
            self.media_pending.fetch_sub(1, Ordering::AcqRel);
        }
        self.queued.fetch_sub(bytes, Ordering::AcqRel);
        if self.waiting.load(Ordering::SeqCst) {
            let _g = self.lock.lock();
            self.room.notify_all();
        }
    }

    pub(crate) fn has_failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }

    /// Whether the worker died of a panic: it will answer nothing more.
    pub(crate) fn has_panicked(&self) -> bool {
        self.panicked.load(Ordering::Acquire)
    }

    pub(crate) fn failure(&self) -> String {
        self.failure
            .lock()
            .clone()
            .unwrap_or_else(|| "the writer stopped".into())
    }

    pub(super) fn fail(&self, why: String) {
        let mut f = self.failure.lock();
        if f.is_none() {
            *f = Some(why);
        }
        self.failed.store(true, Ordering::Release);
        let _g = self.lock.lock();
        self.room.notify_all();
    }
}
