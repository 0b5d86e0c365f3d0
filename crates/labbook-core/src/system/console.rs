//! Console capture: stdout and stderr (fds 1 and 2) are redirected through pipes; one
//! reader thread per stream copies everything to the original fd (so the terminal still
//! shows it) and sends it, line by line, to the run's console log. The fds are restored
//! when the run finishes. One run per process captures at a time.

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::{Sink, SysMsg, now_unix};

/// Whether some run in this process captures the console now.
static CAPTURING: AtomicBool = AtomicBool::new(false);

/// How long a reader waits for more text before sending a partial line.
const PARTIAL_AFTER: Duration = Duration::from_millis(100);

pub(crate) struct Capture {
    streams: Vec<Stream>,
}

struct Stream {
    fd: libc::c_int,
    /// A copy of what `fd` was before capture; put back by `stop`.
    original: libc::c_int,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

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
            let name = if stderr {
                "labbook-stderr"
            } else {
                "labbook-stdout"
            };
            let spawned = std::thread::Builder::new()
                .name(name.into())
                .spawn(move || read_loop(read_end, tee, stderr, sink, reader_stop));
            let thread = match spawned {
                Ok(t) => t,
                Err(e) => {
                    for f in [original, tee, read_end, write_end] {
                        libc::close(f);
                    }
                    return Err(format!("thread: {e}"));
                }
            };
            if libc::dup2(write_end, fd) < 0 {
                let e = last_error("dup2");
                libc::close(write_end);
                stop.store(true, Ordering::Release);
                let _ = thread.join();
                libc::close(original);
                return Err(e);
            }
            libc::close(write_end);
            Ok(Stream {
                fd,
                original,
                stop,
                thread,
            })
        }
    }

    fn stop(self) {
        // SAFETY: `original` is this stream's own copy of the fd it replaced.
        unsafe {
            // Putting the original back closes the pipe's write end at `fd`, so the
            // reader sees the end of the stream (unless a child process still holds it).
            libc::dup2(self.original, self.fd);
            libc::close(self.original);
        }
        self.stop.store(true, Ordering::Release);
        let _ = self.thread.join();
    }
}

fn read_loop(
    read_end: libc::c_int,
    tee: libc::c_int,
    stderr: bool,
    sink: Sink,
    stop: Arc<AtomicBool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    let mut lines = LineSplitter::default();
    let send = |line: Vec<u8>| {
        let line = String::from_utf8_lossy(&line).into_owned();
        let bytes = 64 + line.len();
        sink.send(
            SysMsg::Output {
                stderr,
                line,
                unix: now_unix(),
            },
            bytes,
        );
    };
    loop {
        let stopping = stop.load(Ordering::Acquire);
        let mut pfd = libc::pollfd {
            fd: read_end,
            events: libc::POLLIN,
            revents: 0,
        };
        let timeout = if stopping {
            0
        } else {
            PARTIAL_AFTER.as_millis() as libc::c_int
        };
        // SAFETY: one valid pollfd.
        let ready = unsafe { libc::poll(&mut pfd, 1, timeout) };
        if ready < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            break;
        }
        if ready == 0 {
            if let Some(partial) = lines.take_partial() {
                send(partial);
            }
            if stopping {
                break;
            }
            continue;
        }
        // SAFETY: reading into a buffer of the given length.
        let n = unsafe { libc::read(read_end, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            break;
        }
        if n == 0 {
            break;
        }
        let chunk = &buf[..n as usize];
        write_all(tee, chunk);
        for line in lines.push(chunk) {
            send(line);
        }
    }
    if let Some(partial) = lines.take_partial() {
        send(partial);
    }
    // SAFETY: both fds belong to this thread.
    unsafe {
        libc::close(read_end);
        libc::close(tee);
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
