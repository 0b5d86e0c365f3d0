//! Runs that end abnormally: a panic flushes every live run (and finishes it with exit
//! code 1 under `panic = "abort"`, where no destructor runs); SIGINT/SIGTERM finish every live
//! run as preempted, then let the process die as it would have, unless the program handles
//! the signal itself.
//!
//! Signals: labbook installs a plain `sigaction` handler that only writes the signal's
//! number to a pipe (and calls the handler it replaced); a `labbook-signals` thread does
//! the work. Who else handles the signal decides what that work is:
//! - nobody (the default disposition before `init`, and labbook's handler still the one
//!   installed): every live run is finished as preempted (exit code 128 + N), then the
//!   process dies by the signal;
//! - the program: a handler was installed before `init` (by any means), or one installed
//!   after it sits in front of labbook's (signal-hook, `tokio::signal`, which chain to it;
//!   `ctrlc`, which replaces it, so labbook never hears of the signal): the runs are only
//!   flushed, and the process is left to the program, which may go on logging and finish
//!   the run itself.
//!
//! A run that another thread is finishing when the signal comes is waited for, so its exit
//! record is written before the process dies.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Once, Weak};
use std::time::Duration;

use parking_lot::Mutex;

use crate::run::Inner;

static LIVE: Mutex<Vec<Weak<Inner>>> = Mutex::new(Vec::new());
static PANIC_HOOK: Once = Once::new();
static SIGNALS: Once = Once::new();

/// How long a panicking or signalled process waits for each run's worker.
const EMERGENCY_WAIT: Duration = Duration::from_secs(5);

/// The signals labbook watches.
const WATCHED: [libc::c_int; 2] = [libc::SIGINT, libc::SIGTERM];

/// The write end of the pipe the handler wakes the signal thread through (-1: none).
static PIPE: AtomicI32 = AtomicI32::new(-1);

/// The process that installed the handler: a child forked from it (without exec) inherits
/// the handler but not the signal thread, and gets the default action instead.
static OWNER: AtomicI32 = AtomicI32::new(0);

/// Set once the signal thread has taken a signal to finish the runs and die (or is gone):
/// another SIGINT/SIGTERM then kills the process at once, as a second Ctrl-C should.
static DYING: AtomicBool = AtomicBool::new(false);

/// What was installed for each watched signal before labbook, set once before labbook's
/// handler is, and only read after (in the handler, to chain to it).
struct Previous {
    ready: AtomicBool,
    action: std::cell::UnsafeCell<std::mem::MaybeUninit<libc::sigaction>>,
    /// A one-shot (`SA_RESETHAND`) handler that ran: the disposition it left is the default.
    spent: AtomicBool,
}

// SAFETY: `action` is written once, before `ready` is set and before the handler that reads
// it is installed; after that it is only read.
unsafe impl Sync for Previous {}

static PREVIOUS: [Previous; 2] = [
    Previous {
        ready: AtomicBool::new(false),
        action: std::cell::UnsafeCell::new(std::mem::MaybeUninit::uninit()),
        spent: AtomicBool::new(false),
    },
    Previous {
        ready: AtomicBool::new(false),
        action: std::cell::UnsafeCell::new(std::mem::MaybeUninit::uninit()),
        spent: AtomicBool::new(false),
    },
];

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

fn slot(sig: libc::c_int) -> Option<&'static Previous> {
    WATCHED.iter().position(|&s| s == sig).map(|i| &PREVIOUS[i])
}

/// The previous action of `sig`, once saved.
fn previous(sig: libc::c_int) -> Option<&'static libc::sigaction> {
    let p = slot(sig)?;
    if !p.ready.load(Ordering::Acquire) {
        return None;
    }
    // SAFETY: written before `ready` was set, never written again.
    Some(unsafe { (*p.action.get()).assume_init_ref() })
}

/// Whether an action runs code of the program's (not the default, not ignored).
fn is_handler(a: &libc::sigaction) -> bool {
    a.sa_sigaction != libc::SIG_DFL && a.sa_sigaction != libc::SIG_IGN
}

/// The handler the program installed before labbook, while it stands (a one-shot one
/// stands until it has run once).
fn program_handler(sig: libc::c_int) -> Option<&'static libc::sigaction> {
    let prev = previous(sig).filter(|p| is_handler(p))?;
    let spent = slot(sig).is_some_and(|s| s.spent.load(Ordering::Acquire));
    (!spent).then_some(prev)
}

/// The default action for `sig`, raised again (async-signal-safe: sigaction and raise).
fn default_action_now(sig: libc::c_int) {
    // SAFETY: async-signal-safe calls on this process's own disposition.
    unsafe {
        let mut dfl: libc::sigaction = std::mem::zeroed();
        dfl.sa_sigaction = libc::SIG_DFL;
        libc::sigemptyset(&mut dfl.sa_mask);
        libc::sigaction(sig, &dfl, std::ptr::null_mut());
        libc::raise(sig);
    }
}

/// The handler: async-signal-safe only. It wakes the signal thread and calls what was
/// installed before labbook; errno is left as the interrupted code had it.
extern "C" fn on_signal(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: errno is this thread's; it is restored before returning.
    let errno = unsafe { *libc::__errno_location() };
    let prev = program_handler(sig);
    // SAFETY: getpid is async-signal-safe.
    if OWNER.load(Ordering::Relaxed) != unsafe { libc::getpid() } || DYING.load(Ordering::Acquire) {
        // A forked child, or a second signal while the runs are being finished: the
        // default action, without labbook.
        if prev.is_none() {
            default_action_now(sig);
        }
    } else {
        let fd = PIPE.load(Ordering::Relaxed);
        if fd >= 0 {
            // The signal, and whether the program's own handler takes this one.
            let b = sig as u8 | if prev.is_some() { HANDLED } else { 0 };
            // SAFETY: write(2) is async-signal-safe; a full pipe just drops the byte.
            unsafe { libc::write(fd, (&b as *const u8).cast(), 1) };
        }
    }
    if let Some(prev) = prev {
        if prev.sa_flags & libc::SA_RESETHAND != 0
            && let Some(s) = slot(sig)
        {
            s.spent.store(true, Ordering::Release);
        }
        // SAFETY: calling the handler the program installed, as the kernel would have,
        // with its own calling convention.
        unsafe {
            if prev.sa_flags & libc::SA_SIGINFO != 0 {
                let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                    std::mem::transmute(prev.sa_sigaction);
                f(sig, info, ctx);
            } else {
                let f: extern "C" fn(libc::c_int) = std::mem::transmute(prev.sa_sigaction);
                f(sig);
            }
        }
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
}

/// The bit of a pipe byte that says the program's own handler took the signal.
const HANDLED: u8 = 0x80;

/// The action installed for `sig` now.
fn current_action(sig: libc::c_int) -> Option<libc::sigaction> {
    // SAFETY: querying only (a null new action).
    unsafe {
        let mut now: libc::sigaction = std::mem::zeroed();
        (libc::sigaction(sig, std::ptr::null(), &mut now) == 0).then_some(now)
    }
}

/// Whether the program handles the signal itself: its handler installed before labbook's
/// took this one (`handled`), or it put one in front of labbook's since.
fn program_handles(sig: libc::c_int, handled: bool) -> bool {
    let replaced =
        current_action(sig).is_some_and(|a| a.sa_sigaction != on_signal as *const () as usize);
    handled || replaced
}

/// Installs the SIGINT/SIGTERM handler and its thread once per process.
pub(crate) fn handle_signals() {
    SIGNALS.call_once(|| {
        if let Err(e) = install() {
            tracing::warn!(target: "labbook", "cannot watch SIGINT/SIGTERM: {e}");
        }
    });
}

fn install() -> std::io::Result<()> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: a pipe for this process, close-on-exec; the write end never blocks.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let (read_end, write_end) = (fds[0], fds[1]);
    // SAFETY: the read end may block; its flags are this process's own.
    unsafe {
        let flags = libc::fcntl(read_end, libc::F_GETFL);
        libc::fcntl(read_end, libc::F_SETFL, flags & !libc::O_NONBLOCK);
    }
    std::thread::Builder::new()
        .name("labbook-signals".into())
        .spawn(move || signal_thread(read_end))?;
    PIPE.store(write_end, Ordering::Release);
    // SAFETY: getpid cannot fail.
    OWNER.store(unsafe { libc::getpid() }, Ordering::Release);
    for sig in WATCHED {
        let Some(p) = slot(sig) else { continue };
        // SAFETY: the new action is fully initialised; the old one is saved in its slot
        // before the handler that reads it can run (the slot is read only once `ready`).
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, std::ptr::null(), &mut old) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // Ignored (a job started in the background, `trap '' INT`): it stays ignored.
            if old.sa_sigaction == libc::SIG_IGN {
                continue;
            }
            (*p.action.get()).write(old);
            p.ready.store(true, Ordering::Release);
            let mut new: libc::sigaction = std::mem::zeroed();
            new.sa_sigaction = on_signal as *const () as usize;
            // The program's own handler keeps its flags and mask (EINTR or restart, its
            // alternate stack); with none, interrupted calls restart, as if nothing ran.
            let keep = libc::SA_RESTART | libc::SA_ONSTACK | libc::SA_NODEFER;
            new.sa_flags = libc::SA_SIGINFO
                | if is_handler(&old) {
                    old.sa_flags & keep
                } else {
                    libc::SA_RESTART
                };
            new.sa_mask = old.sa_mask;
            if libc::sigaction(sig, &new, std::ptr::null_mut()) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
    }
    Ok(())
}

/// Marks the thread gone when it ends, however it ends: signals then take the default
/// action at once instead of waiting on a thread that will never read them.
struct GoneOnExit;

impl Drop for GoneOnExit {
    fn drop(&mut self) {
        DYING.store(true, Ordering::Release);
    }
}

fn signal_thread(read_end: libc::c_int) {
    let _gone = GoneOnExit;
    let mut b = 0u8;
    loop {
        // SAFETY: reading one byte into a local.
        let n = unsafe { libc::read(read_end, (&mut b as *mut u8).cast(), 1) };
        if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        if n != 1 {
            return;
        }
        let sig = libc::c_int::from(b & !HANDLED);
        if program_handles(sig, b & HANDLED != 0) {
            // The program decides what the signal means; what was logged is on disk now.
            for run in open_runs() {
                let _ = run.flush_from_hook(EMERGENCY_WAIT);
            }
            continue;
        }
        // From here a second signal kills at once. Runs another thread is finishing are
        // waited for: their exit records first.
        DYING.store(true, Ordering::Release);
        for run in open_runs() {
            run.finish(128 + sig, true);
        }
        die_by(sig);
        return;
    }
}

/// Ends the process as `sig` would have without labbook: the default action, raised again.
fn die_by(sig: libc::c_int) {
    // SAFETY: the signal unblocked for this thread, then the default action raised.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
    }
    default_action_now(sig);
    // Still here: the signal is blocked elsewhere. Exit as a shell reports it.
    std::process::exit(128 + sig);
}

/// Runs not finished yet, and runs another thread is still finishing.
fn open_runs() -> Vec<Arc<Inner>> {
    LIVE.lock()
        .iter()
        .filter_map(Weak::upgrade)
        .filter(|r| !r.has_report())
        .collect()
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
