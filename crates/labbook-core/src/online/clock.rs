//! The time an upload waits by: the system clock, or a [`ManualClock`] that a test moves on
//! at once, so "the server was down for ten minutes" runs in a second.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// What the uploader asks of time: how much has passed, and to wait.
///
/// ```
/// use std::time::Duration;
/// use labbook_core::online::{Clock, SystemClock};
/// let clock = SystemClock::new();
/// clock.sleep(Duration::from_millis(1));
/// assert!(clock.now() >= Duration::from_millis(1));
/// ```
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Time since the clock was made.
    fn now(&self) -> Duration;
    /// Waits `d` by this clock.
    fn sleep(&self, d: Duration);

    /// Waits `d`, or less once `stop` is set: by default it looks at `stop` every 50 ms.
    ///
    /// ```
    /// use std::sync::atomic::AtomicBool;
    /// use std::time::Duration;
    /// use labbook_core::online::{Clock, SystemClock};
    /// let stop = AtomicBool::new(true);
    /// SystemClock::new().sleep_or_stop(Duration::from_secs(60), &stop); // returns at once
    /// ```
    fn sleep_or_stop(&self, d: Duration, stop: &std::sync::atomic::AtomicBool) {
        const SLICE: Duration = Duration::from_millis(50);
        let until = self.now() + d;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let now = self.now();
            if now >= until {
                return;
            }
            self.sleep((until - now).min(SLICE));
        }
    }
}

/// Real time.
#[derive(Debug)]
pub struct SystemClock(Instant);

impl SystemClock {
    /// A clock starting now.
    pub fn new() -> SystemClock {
        SystemClock(Instant::now())
    }
}

impl Default for SystemClock {
    fn default() -> SystemClock {
        SystemClock::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        self.0.elapsed()
    }

    fn sleep(&self, d: Duration) {
        std::thread::sleep(d);
    }
}

/// A clock for tests: `sleep` moves it on by the whole wait at once (after a real
/// millisecond, so a waiting loop does not spin), and [`advance`](ManualClock::advance)
/// moves it from outside.
///
/// ```
/// use std::time::Duration;
/// use labbook_core::online::{Clock, ManualClock};
/// let clock = ManualClock::new();
/// clock.sleep(Duration::from_secs(600));
/// assert_eq!(clock.now(), Duration::from_secs(600));
/// ```
#[derive(Debug, Default)]
pub struct ManualClock(Mutex<Duration>);

impl ManualClock {
    /// A clock at zero.
    pub fn new() -> Arc<ManualClock> {
        Arc::new(ManualClock::default())
    }

    /// Moves the clock on by `d`.
    pub fn advance(&self, d: Duration) {
        *self.0.lock() += d;
    }
}

impl Clock for ManualClock {
    /// The whole wait at once (time here jumps), unless `stop` is already set.
    fn sleep_or_stop(&self, d: Duration, stop: &std::sync::atomic::AtomicBool) {
        if !stop.load(std::sync::atomic::Ordering::Relaxed) {
            self.sleep(d);
        }
    }

    fn now(&self) -> Duration {
        *self.0.lock()
    }

    fn sleep(&self, d: Duration) {
        std::thread::sleep(Duration::from_millis(1));
        self.advance(d);
    }
}
