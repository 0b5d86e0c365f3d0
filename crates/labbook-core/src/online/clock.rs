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
    fn now(&self) -> Duration {
        *self.0.lock()
    }

    fn sleep(&self, d: Duration) {
        std::thread::sleep(Duration::from_millis(1));
        self.advance(d);
    }
}
