//! [`Faults`]: a seeded schedule of failures the server answers instead of handling a
//! request, so clients' retry and backoff are tested against a server that misbehaves the
//! same way on every run.

use std::time::Duration;

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
}

/// The schedule's state: the faults and a xorshift generator.
pub(crate) struct FaultState {
    faults: Faults,
    rng: Mutex<u64>,
}

impl FaultState {
    pub(crate) fn new(faults: Faults) -> FaultState {
        let rng = Mutex::new(faults.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        FaultState { faults, rng }
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
    next.run(request).await
}
