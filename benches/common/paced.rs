//! Timing a call at a training loop's pace, shared by the framework benches.

use std::time::{Duration, Instant};

/// Times `f` once per iteration, pausing `pause` (untimed) between calls, so a call that
/// queues work for labbook's worker is measured as a loop would see it, not against a full
/// queue.
pub(crate) fn paced(iters: u64, pause: Duration, mut f: impl FnMut()) -> Duration {
    let mut spent = Duration::ZERO;
    for _ in 0..iters {
        let t = Instant::now();
        f();
        spent += t.elapsed();
        let until = Instant::now() + pause;
        while Instant::now() < until {
            std::hint::spin_loop();
        }
    }
    spent
}
