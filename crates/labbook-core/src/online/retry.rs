//! How failed requests are retried, as W&B's clients retry them.

use std::time::Duration;

/// The longest a server's `Retry-After` or `RateLimit-Reset` makes a request wait.
#[cfg(feature = "online")]
pub(crate) const MAX_SERVER_WAIT: Duration = Duration::from_secs(60);

/// How failed requests are retried: exponential backoff with jitter between `wait_min`
/// and `wait_max`, a server's `Retry-After` honoured (up to a minute), at most
/// `max_retries` retries. 400, 404, 409, 410, 413, 422 and 501 are final; 401 and 403 are
/// authentication errors.
///
/// ```
/// use std::time::Duration;
/// let fast = labbook_core::online::RetryPolicy {
///     max_retries: 20,
///     wait_min: Duration::from_millis(10),
///     wait_max: Duration::from_millis(200),
///     timeout: Duration::from_secs(5),
/// };
/// let settings = labbook_core::Settings::new("p").upload_retry(fast);
/// # let _ = settings;
/// ```
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// The first wait.
    pub wait_min: Duration,
    /// The longest wait.
    pub wait_max: Duration,
    /// Timeout of one attempt.
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    /// W&B's GraphQL policy, shortened: 10 retries, 1-30 s waits, 30 s per attempt.
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_retries: 10,
            wait_min: Duration::from_secs(1),
            wait_max: Duration::from_secs(30),
            timeout: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// W&B's file_stream policy, which an online run's uploader uses: 10085 retries, 2-60 s
    /// apart (about a week), 30 s per attempt. A server that is down for hours loses
    /// nothing; `finish` stops waiting for it after `finish_timeout`.
    ///
    /// ```
    /// let p = labbook_core::online::RetryPolicy::file_stream();
    /// assert_eq!(p.max_retries, 10085);
    /// ```
    pub fn file_stream() -> RetryPolicy {
        RetryPolicy {
            max_retries: 10085,
            wait_min: Duration::from_secs(2),
            wait_max: Duration::from_secs(60),
            timeout: Duration::from_secs(30),
        }
    }

    #[cfg(feature = "online")]
    pub(crate) fn wait(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(d) = retry_after {
            // The server knows best; only an absurd value is cut short.
            return d.min(self.wait_max.max(MAX_SERVER_WAIT));
        }
        let base = self.wait_min.as_secs_f64() * 2f64.powi(attempt.min(30) as i32);
        let jittered = base * (1.0 + 0.25 * fastrand::f64());
        Duration::from_secs_f64(jittered.min(self.wait_max.as_secs_f64()))
    }
}

#[cfg(all(test, feature = "online"))]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_exponentially_with_jitter_up_to_the_cap() {
        let p = RetryPolicy {
            max_retries: 100,
            wait_min: Duration::from_secs(2),
            wait_max: Duration::from_secs(60),
            timeout: Duration::from_secs(30),
        };
        for attempt in 0..5 {
            let w = p.wait(attempt, None).as_secs_f64();
            let base = 2.0 * 2f64.powi(attempt as i32);
            assert!(w >= base && w <= base * 1.25, "attempt {attempt}: {w}");
        }
        assert_eq!(p.wait(20, None), Duration::from_secs(60));
        // Ten minutes of a server that is down: the schedule W&B uses, summed without waiting.
        let total: f64 = (0..15).map(|a| p.wait(a, None).as_secs_f64()).sum();
        assert!(total > 600.0, "{total}");
    }
}
