//! Runs that end abnormally: a panic flushes every live run (and finishes it with exit
//! code 1 under `panic = "abort"`, where no destructor runs); SIGINT/SIGTERM finish every live
//! run as preempted, then let the process die as it would have.

use std::sync::{Arc, Once, Weak};
use std::time::Duration;

use parking_lot::Mutex;

use crate::run::Inner;

static LIVE: Mutex<Vec<Weak<Inner>>> = Mutex::new(Vec::new());
static PANIC_HOOK: Once = Once::new();
static SIGNALS: Once = Once::new();

/// How long a panicking or signalled process waits for each run's worker.
const EMERGENCY_WAIT: Duration = Duration::from_secs(5);

pub(crate) fn register(run: &Arc<Inner>) {
    let mut live = LIVE.lock();
    live.retain(|w| w.strong_count() > 0);
    live.push(Arc::downgrade(run));
    drop(live);
    PANIC_HOOK.call_once(install_panic_hook);
}

pub(crate) fn unregister(run: &Inner) {
    LIVE.lock()
        .retain(|w| w.strong_count() > 0 && !std::ptr::eq(w.as_ptr(), run));
}

/// Installs the SIGINT/SIGTERM handler thread once per process.
pub(crate) fn handle_signals() {
    SIGNALS.call_once(|| {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let mut signals = match signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(target: "labbook", "cannot watch SIGINT/SIGTERM: {e}");
                return;
            }
        };
        let spawned = std::thread::Builder::new()
            .name("labbook-signals".into())
            .spawn(move || {
                if let Some(sig) = signals.forever().next() {
                    for run in live_runs() {
                        run.finish(128 + sig, true);
                    }
                    // Die as the signal would have killed us without labbook.
                    let _ = signal_hook::low_level::emulate_default_handler(sig);
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(target: "labbook", "cannot start the signal thread: {e}");
        }
    });
}

fn live_runs() -> Vec<Arc<Inner>> {
    LIVE.lock()
        .iter()
        .filter_map(Weak::upgrade)
        .filter(|r| !r.is_finished())
        .collect()
}

fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        previous(info);
        let on_worker = std::thread::current()
            .name()
            .is_some_and(|n| n.starts_with("labbook-"));
        if on_worker {
            return;
        }
        for run in live_runs() {
            if cfg!(panic = "abort") {
                // No destructor will run: this is the last chance to close the run.
                run.finish_from_hook(1, EMERGENCY_WAIT);
            } else {
                // Unwinding drops the run (exit code 1) unless the panic is caught; make
                // sure what was logged is on disk either way.
                let _ = run.flush_from_hook(EMERGENCY_WAIT);
            }
        }
    }));
}
