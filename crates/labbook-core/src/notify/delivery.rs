//! The delivery thread: alerts arrive on a bounded channel (the worker never waits for
//! it), each goes to every webhook and the command, with retries; `finish` waits for what
//! is in flight at most its bound, then tells the thread to give up.

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};

use super::payload::Notice;
use super::{NotifySettings, Webhook};

/// Alerts waiting for delivery; more are dropped (and counted) rather than waited for.
const BACKLOG: usize = 256;

/// Attempts per target, and the waits between them.
const WAITS: [Duration; 2] = [Duration::from_millis(500), Duration::from_secs(1)];

/// The longest one attempt (a request, or a command's run) may take.
const ATTEMPT: Duration = Duration::from_secs(5);

/// The warnings kept about failed deliveries (one per failure, up to this many).
const MAX_WARNINGS: usize = 20;

pub(crate) struct Delivery {
    tx: Option<Sender<Notice>>,
    done: Receiver<Vec<String>>,
    stop: Arc<AtomicBool>,
    timeout: Duration,
    dropped: u64,
}

impl Delivery {
    /// Starts the delivery thread for the settings' targets.
    pub(crate) fn start(s: &NotifySettings) -> std::io::Result<Delivery> {
        let (tx, rx) = crossbeam_channel::bounded(BACKLOG);
        let (done_tx, done) = crossbeam_channel::bounded(1);
        let stop = Arc::new(AtomicBool::new(false));
        let targets = Targets {
            webhooks: s.webhooks.clone(),
            command: s.command.clone(),
            stop: stop.clone(),
        };
        std::thread::Builder::new()
            .name("labbook-alerts".into())
            .spawn(move || {
                let warnings = targets.serve(&rx);
                let _ = done_tx.send(warnings);
            })?;
        Ok(Delivery {
            tx: Some(tx),
            done,
            stop,
            timeout: s.timeout,
            dropped: 0,
        })
    }

    /// Hands an alert to the thread; never waits.
    pub(crate) fn send(&mut self, notice: Notice) {
        if let Some(tx) = &self.tx
            && let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = tx.try_send(notice)
        {
            self.dropped += 1;
        }
    }

    /// Waits for the alerts in flight at most the bound, then leaves the thread to give up
    /// (it stops retrying at once, and its attempt in flight ends within its own timeout).
    /// Returns what could not be delivered.
    pub(crate) fn finish(mut self) -> Vec<String> {
        drop(self.tx.take());
        let mut warnings = match self.done.recv_timeout(self.timeout) {
            Ok(w) => w,
            Err(_) => {
                self.stop.store(true, Ordering::Relaxed);
                vec![format!(
                    "alerts were still being delivered after {:?} (Settings::alert_timeout); the rest is given up",
                    self.timeout
                )]
            }
        };
        if self.dropped > 0 {
            warnings.push(format!(
                "{} alert(s) not delivered: more than {BACKLOG} were waiting",
                self.dropped
            ));
        }
        warnings
    }
}

struct Targets {
    webhooks: Vec<Webhook>,
    command: Option<String>,
    stop: Arc<AtomicBool>,
}

impl Targets {
    fn serve(&self, rx: &Receiver<Notice>) -> Vec<String> {
        #[cfg(feature = "online")]
        let http = reqwest::blocking::Client::builder()
            .timeout(ATTEMPT)
            .user_agent(concat!("labbook/", env!("CARGO_PKG_VERSION")))
            .build()
            .ok();
        let mut warnings = Vec::new();
        for notice in rx {
            for hook in &self.webhooks {
                #[cfg(feature = "online")]
                let sent = match &http {
                    Some(c) => self.retried(|| post(c, hook, &notice)),
                    None => Err("the HTTP client could not be built".to_owned()),
                };
                #[cfg(not(feature = "online"))]
                let sent: Result<(), String> = Err("built without the `online` feature".into());
                if let Err(why) = sent {
                    push_warning(
                        &mut warnings,
                        format!("alert {:?} not delivered to {hook:?}: {why}", notice.title),
                    );
                }
            }
            if let Some(cmd) = &self.command
                && let Err(why) = self.retried(|| run_command(cmd, &notice))
            {
                push_warning(
                    &mut warnings,
                    format!("alert {:?}: the alert command failed: {why}", notice.title),
                );
            }
        }
        warnings
    }

    /// Tries `attempt` once, then again after each of [`WAITS`], unless told to stop.
    fn retried(&self, mut attempt: impl FnMut() -> Result<(), Attempt>) -> Result<(), String> {
        let mut last = String::new();
        for wait in std::iter::once(Duration::ZERO).chain(WAITS) {
            if self.stop.load(Ordering::Relaxed) {
                return Err(format!("given up at finish ({last})"));
            }
            sleep_unless(wait, &self.stop);
            match attempt() {
                Ok(()) => return Ok(()),
                Err(Attempt::Final(why)) => return Err(why),
                Err(Attempt::Retry(why)) => last = why,
            }
        }
        Err(format!(
            "{} attempts failed; the last: {last}",
            WAITS.len() + 1
        ))
    }
}

fn push_warning(warnings: &mut Vec<String>, w: String) {
    tracing::warn!(target: "labbook", "{w}");
    if warnings.len() < MAX_WARNINGS {
        warnings.push(w);
    }
}

fn sleep_unless(d: Duration, stop: &AtomicBool) {
    let until = Instant::now() + d;
    while !stop.load(Ordering::Relaxed) {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(20)));
    }
}

/// How an attempt failed.
enum Attempt {
    /// Worth another try (the network, a 5xx, a 429, a command that failed).
    Retry(String),
    /// Another try would fail the same way (the endpoint refused the request).
    Final(String),
}

#[cfg(feature = "online")]
fn post(http: &reqwest::blocking::Client, hook: &Webhook, notice: &Notice) -> Result<(), Attempt> {
    let resp = http
        .post(&hook.url)
        .json(&notice.body(hook.form))
        .send()
        .map_err(|e| Attempt::Retry(without_url(e)))?;
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    let why = format!("HTTP {}", status.as_u16());
    if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408 {
        Err(Attempt::Retry(why))
    } else {
        Err(Attempt::Final(why))
    }
}

/// The error without the URL: a webhook's path is often its secret.
#[cfg(feature = "online")]
fn without_url(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    format!("{kind} ({})", e.without_url())
}

/// Runs the alert command under `sh -c`, the alert in `LABBOOK_ALERT_*` and as JSON on its
/// stdin; killed after [`ATTEMPT`].
fn run_command(cmd: &str, n: &Notice) -> Result<(), Attempt> {
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .env("LABBOOK_ALERT_TITLE", &n.title)
        .env("LABBOOK_ALERT_TEXT", &n.text)
        .env("LABBOOK_ALERT_LEVEL", &n.level)
        .env("LABBOOK_ALERT_RULE", n.rule.unwrap_or_default())
        .env("LABBOOK_ALERT_RUN_ID", &n.run_id)
        .env("LABBOOK_ALERT_RUN_NAME", &n.run_name)
        .env("LABBOOK_ALERT_PROJECT", &n.project)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| Attempt::Final(format!("could not start `sh -c`: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A command that does not read its stdin is fine.
        let _ = stdin.write_all(n.json().to_string().as_bytes());
    }
    let until = Instant::now() + ATTEMPT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(Attempt::Retry(format!("it exited with {status}"))),
            Ok(None) if Instant::now() < until => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Attempt::Retry(format!(
                    "it ran longer than {ATTEMPT:?} and was killed"
                )));
            }
            Err(e) => return Err(Attempt::Final(e.to_string())),
        }
    }
}
