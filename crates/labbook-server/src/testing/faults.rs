//! [`Faults`]: a seeded schedule of failures the server answers instead of handling a
//! request, so clients' retry and backoff are tested against a server that misbehaves the
//! same way on every run.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;

/// Failures injected before a request reaches its handler (so a failed request changes
/// nothing on the server, as a real 5xx or a refused connection would not).
///
/// ```
/// use labbook_server::{Faults, ServerConfig};
/// let config = ServerConfig::new("k".repeat(40))
///     .faults(Faults::new(7).server_errors(0.2).rate_limits(0.1, 1).slow(0.05, 200));
/// # let _ = config;
/// ```
#[derive(Clone, Debug, Default)]
pub struct Faults {
    seed: u64,
    server_errors: f64,
    rate_limits: f64,
    retry_after_s: u64,
    slow: f64,
    slow_ms: u64,
    outage: Option<Outage>,
    window: Option<(u32, Duration)>,
    fail_after: Option<u64>,
    refuse: Option<(String, u16)>,
}

/// A switch that takes the whole server down while it is on: every request gets a 503, as
/// from a load balancer in front of a server that is gone. Storage is kept.
///
/// ```
/// use labbook_server::{Faults, Outage};
/// let outage = Outage::default();
/// let faults = Faults::new(1).outage(&outage);
/// outage.set(true);
/// assert!(outage.is_down());
/// # let _ = faults;
/// ```
#[derive(Clone, Debug, Default)]
pub struct Outage(Arc<AtomicBool>);

impl Outage {
    /// Takes the server down (`true`) or brings it back.
    pub fn set(&self, down: bool) {
        self.0.store(down, Ordering::SeqCst);
    }

    /// Whether the server is down.
    pub fn is_down(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

impl Faults {
    /// No faults yet; `seed` fixes which requests fail.
    pub fn new(seed: u64) -> Faults {
        Faults {
            seed,
            ..Faults::default()
        }
    }

    /// This share of requests gets a 500 or 503.
    pub fn server_errors(mut self, share: f64) -> Faults {
        self.server_errors = share;
        self
    }

    /// This share gets a 429 with `Retry-After: retry_after_s`.
    pub fn rate_limits(mut self, share: f64, retry_after_s: u64) -> Faults {
        self.rate_limits = share;
        self.retry_after_s = retry_after_s;
        self
    }

    /// This share is answered `ms` milliseconds late (and then handled).
    pub fn slow(mut self, share: f64, ms: u64) -> Faults {
        self.slow = share;
        self.slow_ms = ms;
        self
    }

    /// Down (503 to everything) while `outage` is on.
    pub fn outage(mut self, outage: &Outage) -> Faults {
        self.outage = Some(outage.clone());
        self
    }

    /// Answers the first `requests` requests, then 503 to every one after: a server that
    /// goes away at a chosen point of an upload, the same point on every run.
    ///
    /// ```
    /// let faults = labbook_server::Faults::new(1).fail_after(12);
    /// # let _ = faults;
    /// ```
    pub fn fail_after(mut self, requests: u64) -> Faults {
        self.fail_after = Some(requests);
        self
    }

    /// Answers `status` (with a short text) to every request whose path starts with
    /// `prefix`, e.g. every run-file upload: `refuse("/upload/", 400)`.
    ///
    /// ```
    /// let faults = labbook_server::Faults::new(1).refuse("/upload/", 400);
    /// # let _ = faults;
    /// ```
    pub fn refuse(mut self, prefix: impl Into<String>, status: u16) -> Faults {
        self.refuse = Some((prefix.into(), status));
        self
    }

    /// A rate limiter as W&B's: `requests` per `window`. Every answer carries
    /// `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (whole seconds until
    /// the window ends); a request over the limit gets a 429 with them and `Retry-After`.
    pub fn rate_limit_window(mut self, requests: u32, window: Duration) -> Faults {
        self.window = Some((requests, window));
        self
    }
}

/// The schedule's state: the faults and a xorshift generator.
pub(crate) struct FaultState {
    faults: Faults,
    rng: Mutex<u64>,
    /// The rate limiter's window: when it started and the requests taken in it.
    window: Mutex<(Instant, u32)>,
    /// Requests seen, for `fail_after`.
    seen: std::sync::atomic::AtomicU64,
}

impl FaultState {
    pub(crate) fn new(faults: Faults) -> FaultState {
        let rng = Mutex::new(faults.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        FaultState {
            faults,
            rng,
            window: Mutex::new((Instant::now(), 0)),
            seen: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Takes one request from the window: the headers to answer with, and whether it is
    /// over the limit.
    fn take(&self, limit: u32, length: Duration) -> (Vec<(&'static str, String)>, bool) {
        let mut w = self.window.lock();
        if w.0.elapsed() >= length {
            *w = (Instant::now(), 0);
        }
        let over = w.1 >= limit;
        if !over {
            w.1 += 1;
        }
        let reset = length.saturating_sub(w.0.elapsed()).as_secs_f64().ceil() as u64;
        let headers = vec![
            ("ratelimit-limit", limit.to_string()),
            ("ratelimit-remaining", (limit - w.1).to_string()),
            ("ratelimit-reset", reset.to_string()),
        ];
        (headers, over)
    }

    fn draw(&self) -> f64 {
        let mut x = self.rng.lock();
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        (*x >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The middleware: fails, delays or passes each request by the schedule.
pub(crate) async fn inject(
    State(state): State<std::sync::Arc<FaultState>>,
    request: Request,
    next: Next,
) -> Response {
    let f = &state.faults;
    if f.outage.as_ref().is_some_and(Outage::is_down) {
        return (StatusCode::SERVICE_UNAVAILABLE, "injected outage").into_response();
    }
    if let Some((prefix, status)) = &f.refuse
        && request.uri().path().starts_with(prefix.as_str())
    {
        let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_REQUEST);
        return (status, "injected: refused").into_response();
    }
    if let Some(n) = f.fail_after
        && state.seen.fetch_add(1, Ordering::SeqCst) >= n
    {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "injected: gone after a set number of requests",
        )
            .into_response();
    }
    let limits = f.window.map(|(limit, length)| state.take(limit, length));
    if let Some((headers, true)) = &limits {
        let mut r = (StatusCode::TOO_MANY_REQUESTS, "over the rate limit").into_response();
        with_headers(&mut r, headers);
        if let Some((_, reset)) = headers.iter().find(|(n, _)| *n == "ratelimit-reset")
            && let Ok(v) = HeaderValue::from_str(reset)
        {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    let roll = state.draw();
    if roll < f.server_errors {
        let status = if state.draw() < 0.5 {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        return (status, "injected fault").into_response();
    }
    if roll < f.server_errors + f.rate_limits {
        let mut r = (StatusCode::TOO_MANY_REQUESTS, "injected rate limit").into_response();
        if let Ok(v) = HeaderValue::from_str(&f.retry_after_s.to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    if roll < f.server_errors + f.rate_limits + f.slow {
        tokio::time::sleep(Duration::from_millis(f.slow_ms)).await;
    }
    let mut response = next.run(request).await;
    if let Some((headers, _)) = &limits {
        with_headers(&mut response, headers);
    }
    response
}

fn with_headers(response: &mut Response, headers: &[(&'static str, String)]) {
    for (name, value) in headers {
        if let Ok(v) = HeaderValue::from_str(value) {
            response.headers_mut().insert(*name, v);
        }
    }
}
