//! Console capture: stdout and stderr (fds 1 and 2) are redirected through pipes; one
//! reader thread per stream copies everything to the original fd (so the terminal still
//! shows it) and sends it, line by line, to the run's console log. The fds are restored
//! when the run finishes. One run per process captures at a time.

use std::collections::VecDeque;
use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::{Sink, SysMsg, now_unix};

/// Whether some run in this process captures the console now.
static CAPTURING: AtomicBool = AtomicBool::new(false);

/// How long a reader waits for more text before sending a partial line.
const PARTIAL_AFTER: Duration = Duration::from_millis(100);

/// How soon a reader holding lines for a full queue tries again.
const RETRY_AFTER: Duration = Duration::from_millis(5);

pub(crate) struct Capture {
    streams: Vec<Stream>,
}

struct Stream {
    fd: libc::c_int,
    /// A copy of what `fd` was before capture; put back by `stop`.
    original: libc::c_int,
    stop: Arc<AtomicBool>,
    /// Answered once the reader has sent everything written before `stop`.
    drained: crossbeam_channel::Receiver<()>,
}

/// How long `stop` waits for a reader to send what was written before it.
const DRAIN_WAIT: Duration = Duration::from_secs(5);

/// Console lines kept while the run's queue is full, at most: beyond it the oldest are
/// dropped (and counted), rather than making the program's writes to stdout wait.
const MAX_PENDING_BYTES: usize = 8 << 20;

impl Capture {
    /// Redirects stdout and stderr. `None` (with one info line) when another run captures
    /// already or the fds cannot be redirected; the run goes on without capture.
    pub(crate) fn start(sink: Sink) -> Option<Capture> {
        if CAPTURING
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            tracing::info!(target: "labbook::system", "another run in this process captures the console; this run records no console output");
            return None;
        }
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().flush();
        let mut streams = Vec::with_capacity(2);
        for (fd, stderr) in [(1, false), (2, true)] {
            match Stream::start(fd, stderr, sink.clone()) {
                Ok(s) => streams.push(s),
                Err(e) => {
                    for s in streams {
                        s.stop();
                    }
                    CAPTURING.store(false, Ordering::Release);
                    tracing::info!(target: "labbook::system", "cannot capture the console ({e}); this run records no console output");
                    return None;
                }
            }
        }
        Some(Capture { streams })
    }

    /// Puts stdout and stderr back and waits for the readers to send what was written.
    pub(crate) fn stop(self) {
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().flush();
        for s in self.streams {
            s.stop();
        }
        CAPTURING.store(false, Ordering::Release);
    }
}

fn last_error(what: &str) -> String {
    format!("{what}: {}", std::io::Error::last_os_error())
}

impl Stream {
    fn start(fd: libc::c_int, stderr: bool, sink: Sink) -> Result<Stream, String> {
        // SAFETY: plain fd calls on fds this function owns or on 1 and 2; every fd made
        // here is closed on each error path.
        unsafe {
            let original = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3);
            if original < 0 {
                return Err(last_error("dup"));
            }
            let tee = libc::fcntl(original, libc::F_DUPFD_CLOEXEC, 3);
            if tee < 0 {
                libc::close(original);
                return Err(last_error("dup"));
            }
            let mut p = [0 as libc::c_int; 2];
            if libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) != 0 {
                libc::close(original);
                libc::close(tee);
                return Err(last_error("pipe"));
            }
            let (read_end, write_end) = (p[0], p[1]);
            let stop = Arc::new(AtomicBool::new(false));
            let reader_stop = stop.clone();
            let (drained_tx, drained) = crossbeam_channel::bounded(1);
            let name = if stderr {
                "labbook-stderr"
            } else {
                "labbook-stdout"
            };
            let reader = Reader {
                read_end,
                tee,
                stderr,
                sink,
                stop: reader_stop,
                drained: drained_tx,
            };
            // Detached: after `stop` it goes on copying to the terminal for as long as a
            // child process still holds the pipe.
            let spawned = std::thread::Builder::new()
                .name(name.into())
                .spawn(move || reader.run());
            if let Err(e) = spawned {
                for f in [original, tee, read_end, write_end] {
                    libc::close(f);
                }
                return Err(format!("thread: {e}"));
            }
            if libc::dup2(write_end, fd) < 0 {
                let e = last_error("dup2");
                libc::close(write_end);
                stop.store(true, Ordering::Release);
                let _ = drained.recv_timeout(DRAIN_WAIT);
                libc::close(original);
                return Err(e);
            }
            libc::close(write_end);
            Ok(Stream {
                fd,
                original,
                stop,
                drained,
            })
        }
    }

    fn stop(self) {
        // SAFETY: `original` is this stream's own copy of the fd it replaced.
        unsafe {
            // Putting the original back closes this process's write end of the pipe; a
            // child that inherited it keeps it, and its output still reaches the terminal.
            libc::dup2(self.original, self.fd);
            libc::close(self.original);
        }
        self.stop.store(true, Ordering::Release);
        let _ = self.drained.recv_timeout(DRAIN_WAIT);
    }
}

/// One stream's reader thread.
struct Reader {
    read_end: libc::c_int,
    tee: libc::c_int,
    stderr: bool,
    sink: Sink,
    stop: Arc<AtomicBool>,
    drained: crossbeam_channel::Sender<()>,
}

/// Why a read ended.
enum Read {
    Data(usize),
    /// Nothing within the wait.
    Idle,
    /// Every writer closed the pipe (or it failed).
    End,
}

impl Reader {
    /// Copies the pipe to the terminal and sends it, line by line, to the run: until the
    /// run stops capturing, then to the terminal only, until every writer (a child process
    /// that inherited the pipe) has closed it. A full queue never stops the reading:
    /// lines wait here, so a write to stdout or stderr never waits on the run's queue.
    fn run(self) {
        let mut buf = vec![0u8; 16 * 1024];
        let mut lines = LineSplitter::default();
        let mut pending: VecDeque<(SysMsg, usize)> = VecDeque::new();
        let mut pending_bytes = 0usize;
        let mut dropped = 0u64;
        loop {
            self.flush_pending(&mut pending, &mut pending_bytes);
            let stopping = self.stop.load(Ordering::Acquire);
            let wait = if stopping {
                Duration::ZERO
            } else if pending.is_empty() {
                PARTIAL_AFTER
            } else {
                RETRY_AFTER
            };
            match self.read(&mut buf, Some(wait)) {
                Read::Data(n) => {
                    let chunk = &buf[..n];
                    write_all(self.tee, chunk);
                    for line in lines.push(chunk) {
                        self.keep(line, &mut pending, &mut pending_bytes, &mut dropped);
                    }
                }
                Read::Idle if stopping => break,
                Read::Idle => {
                    if let Some(partial) = lines.take_partial() {
                        self.keep(partial, &mut pending, &mut pending_bytes, &mut dropped);
                    }
                }
                Read::End => break,
            }
        }
        // Everything written before `stop` is read: it goes to the run now (the run is
        // stopping, so sends no longer wait for room).
        if let Some(partial) = lines.take_partial() {
            self.keep(partial, &mut pending, &mut pending_bytes, &mut dropped);
        }
        if dropped > 0 {
            let note = format!(
                "[labbook: {dropped} console lines were dropped while the run's queue was full]\n"
            );
            pending.push_back((self.line(note.into_bytes()), 0));
        }
        for (msg, bytes) in pending {
            self.sink.send(msg, bytes);
        }
        let _ = self.drained.send(());
        self.pass_through(&mut buf);
    }

    /// Copies the pipe to the terminal only, until the last writer is gone, or the process
    /// exits (then [`drain_at_exit`] copies what is left).
    fn pass_through(&self, buf: &mut [u8]) {
        let pipe = Arc::new(Passthrough {
            read_end: self.read_end,
            tee: self.tee,
            open: parking_lot::Mutex::new(true),
        });
        register_passthrough(pipe.clone());
        loop {
            // Waits without the lock, so the exit handler never waits for a read.
            if matches!(
                read_pipe(self.read_end, &mut [], Some(PASSTHROUGH_POLL)),
                Read::Idle
            ) {
                continue;
            }
            let mut open = pipe.open.lock();
            if !*open {
                return;
            }
            match read_pipe(self.read_end, buf, Some(Duration::ZERO)) {
                Read::Data(n) => write_all(self.tee, &buf[..n]),
                Read::Idle => {}
                Read::End => {
                    *open = false;
                    break;
                }
            }
        }
        PASSTHROUGH.lock().retain(|p| !Arc::ptr_eq(p, &pipe));
        // SAFETY: both fds belong to this thread, and the exit handler no longer reads them.
        unsafe {
            libc::close(self.read_end);
            libc::close(self.tee);
        }
    }

    fn line(&self, line: Vec<u8>) -> SysMsg {
        SysMsg::Output {
            stderr: self.stderr,
            line: String::from_utf8_lossy(&line).into_owned(),
            unix: now_unix(),
        }
    }

    /// Queues a line for the run, keeping at most [`MAX_PENDING_BYTES`] while the run's
    /// queue is full.
    fn keep(
        &self,
        line: Vec<u8>,
        pending: &mut VecDeque<(SysMsg, usize)>,
        pending_bytes: &mut usize,
        dropped: &mut u64,
    ) {
        let bytes = 64 + line.len();
        pending.push_back((self.line(line), bytes));
        *pending_bytes += bytes;
        while *pending_bytes > MAX_PENDING_BYTES {
            let Some((_, b)) = pending.pop_front() else {
                break;
            };
            *pending_bytes -= b;
            *dropped += 1;
        }
        self.flush_pending(pending, pending_bytes);
    }

    fn flush_pending(&self, pending: &mut VecDeque<(SysMsg, usize)>, pending_bytes: &mut usize) {
        while let Some((msg, bytes)) = pending.pop_front() {
            match self.sink.try_send(msg, bytes) {
                Ok(_) => *pending_bytes -= bytes,
                Err(msg) => {
                    pending.push_front((msg, bytes));
                    return;
                }
            }
        }
    }

    fn read(&self, buf: &mut [u8], wait: Option<Duration>) -> Read {
        read_pipe(self.read_end, buf, wait)
    }
}

/// A pipe still copied to the terminal after its run stopped capturing, because a child
/// process holds it.
struct Passthrough {
    read_end: libc::c_int,
    tee: libc::c_int,
    /// Whether the reader thread still copies it; held while a chunk is copied.
    open: parking_lot::Mutex<bool>,
}

/// How long a pass-through reader waits for data between looks at whether it may go on.
const PASSTHROUGH_POLL: Duration = Duration::from_millis(100);

/// The pipes being passed through, drained when the process exits: a program that ends
/// right after its child wrote its last line must not lose that line in the pipe.
static PASSTHROUGH: parking_lot::Mutex<Vec<Arc<Passthrough>>> = parking_lot::Mutex::new(Vec::new());

fn register_passthrough(pipe: Arc<Passthrough>) {
    static AT_EXIT: std::sync::Once = std::sync::Once::new();
    AT_EXIT.call_once(|| {
        // SAFETY: registers a handler that never unwinds.
        if unsafe { libc::atexit(drain_at_exit) } != 0 {
            tracing::debug!(target: "labbook::system", "cannot drain the console at exit");
        }
    });
    PASSTHROUGH.lock().push(pipe);
}

/// Copies what the pass-through pipes hold to the terminal, once, at process exit; the
/// reader threads copy nothing more.
extern "C" fn drain_at_exit() {
    let _ = std::panic::catch_unwind(|| {
        let mut buf = [0u8; 16 * 1024];
        let pipes = std::mem::take(&mut *PASSTHROUGH.lock());
        for pipe in pipes {
            let mut open = pipe.open.lock();
            if !*open {
                continue;
            }
            while let Read::Data(n) = read_pipe(pipe.read_end, &mut buf, Some(Duration::ZERO)) {
                write_all(pipe.tee, &buf[..n]);
            }
            *open = false;
        }
    });
}

/// Reads what the pipe holds, waiting up to `wait` for it (`None`: until there is data or
/// every writer is gone). With an empty `buf` it only waits: `Data(0)` when there is data
/// (or the writers are gone) to read.
fn read_pipe(fd: libc::c_int, buf: &mut [u8], wait: Option<Duration>) -> Read {
    let timeout = wait.map_or(-1, |w| w.as_millis() as libc::c_int);
    loop {
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let ready = unsafe { libc::poll(&mut pfd, 1, timeout) };
        if ready < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Read::End;
        }
        if ready == 0 {
            return Read::Idle;
        }
        if buf.is_empty() {
            return Read::Data(0);
        }
        // SAFETY: reading into a buffer of the given length.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Read::End;
        }
        return if n == 0 {
            Read::End
        } else {
            Read::Data(n as usize)
        };
    }
}

/// Writes everything to `fd`, as the program's own write would have; errors (a closed
/// terminal) are ignored, so the program never sees them.
fn write_all(fd: libc::c_int, mut data: &[u8]) {
    while !data.is_empty() {
        // SAFETY: writing from a valid slice.
        let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
        if n < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        if n == 0 {
            return;
        }
        data = &data[n as usize..];
    }
}

/// Cuts a byte stream into lines, each with its `\n`; keeps the unfinished rest.
#[derive(Default)]
struct LineSplitter {
    partial: Vec<u8>,
}

impl LineSplitter {
    fn push(&mut self, chunk: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut rest = chunk;
        while let Some(i) = rest.iter().position(|&b| b == b'\n') {
            let mut line = std::mem::take(&mut self.partial);
            line.extend_from_slice(&rest[..=i]);
            out.push(line);
            rest = &rest[i + 1..];
        }
        self.partial.extend_from_slice(rest);
        out
    }

    fn take_partial(&mut self) -> Option<Vec<u8>> {
        (!self.partial.is_empty()).then(|| std::mem::take(&mut self.partial))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_keep_their_newline_and_partials_wait() {
        let mut s = LineSplitter::default();
        assert_eq!(s.push(b"hel"), Vec::<Vec<u8>>::new());
        assert_eq!(s.push(b"lo\nwor"), vec![b"hello\n".to_vec()]);
        assert_eq!(s.push(b"ld\n\n"), vec![b"world\n".to_vec(), b"\n".to_vec()]);
        assert_eq!(s.take_partial(), None);
        s.push(b"50%\r");
        assert_eq!(s.take_partial(), Some(b"50%\r".to_vec()));
    }
}
