//! HTTP to a W&B server: GraphQL, file_stream and presigned uploads, with W&B's retry rules.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine;
use parking_lot::Mutex;
use serde_json::Value as Json;

use super::clock::{Clock, SystemClock};
use super::retry::{MAX_SERVER_WAIT, RetryPolicy};
use crate::error::{Error, Result};

/// The `uploadHeaders` of an answer (`["Name:Value", ...]`), applied to a presigned PUT.
pub(crate) fn upload_headers(v: &Json) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|h| h.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A client for one W&B server and API key.
pub struct Client {
    http: reqwest::blocking::Client,
    base: String,
    auth: String,
    retry: RetryPolicy,
    /// 429 answers so far: an uploader slows down when this grows.
    rate_limited: AtomicU64,
    clock: Arc<dyn Clock>,
    /// Set from outside to give up: the retry loop stops at its next wait.
    cancel: Arc<AtomicBool>,
    /// No request goes out before this time (by `clock`): the pace a server's
    /// `RateLimit-Remaining` / `RateLimit-Reset` headers ask for.
    not_before: Mutex<Duration>,
    /// Takes the key out of what servers answer, before it reaches an error.
    scrub: crate::value::secrets::Scrubber,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

enum Auth {
    Key,
    None,
}

/// One request's target and rules; the body is given separately, as it is made anew for
/// each attempt.
struct Request<'a> {
    url: &'a str,
    method: reqwest::Method,
    headers: &'a [String],
    auth: Auth,
    /// Whether a 409 is retried (UpsertBucket's rule).
    retry_conflict: bool,
    timeout: Duration,
}

impl Client {
    /// A client for `base_url` (e.g. `https://api.wandb.ai`) authenticating with `api_key`.
    pub fn new(base_url: &str, api_key: &str, retry: RetryPolicy) -> Result<Client> {
        let http = reqwest::blocking::Client::builder()
            .timeout(retry.timeout)
            .user_agent(concat!("labbook/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Upload {
                url: public_url(base_url),
                reason: format!("cannot build the HTTP client: {e}"),
            })?;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("api:{api_key}"));
        Ok(Client {
            http,
            base: base_url.trim_end_matches('/').to_owned(),
            auth: format!("Basic {token}"),
            retry,
            rate_limited: AtomicU64::new(0),
            clock: Arc::new(SystemClock::new()),
            cancel: Arc::new(AtomicBool::new(false)),
            not_before: Mutex::new(Duration::ZERO),
            scrub: crate::value::secrets::Scrubber::new([api_key]),
        })
    }

    /// Waits (retries, rate limits) by `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Client {
        self.clock = clock;
        self
    }

    /// Gives up at the next wait once `flag` is set.
    pub(crate) fn with_cancel_flag(mut self, flag: Arc<AtomicBool>) -> Client {
        self.cancel = flag;
        self
    }

    /// How many requests the server answered 429 (too many requests) so far.
    pub fn rate_limited(&self) -> u64 {
        self.rate_limited.load(Ordering::Relaxed)
    }

    /// Paces the next request by the server's `RateLimit-Remaining` (requests left in the
    /// window) and `RateLimit-Reset` (seconds until the window resets): none left waits
    /// for the reset, otherwise what is left is spread over the window.
    fn pace(&self, headers: &reqwest::header::HeaderMap) {
        let number = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|v| v.is_finite() && *v >= 0.0)
        };
        let (Some(remaining), Some(reset)) =
            (number("RateLimit-Remaining"), number("RateLimit-Reset"))
        else {
            return;
        };
        let gap = if remaining < 1.0 {
            reset
        } else {
            reset / remaining
        };
        // Clamped before it becomes a Duration: an absurd header must not panic.
        let gap = Duration::from_secs_f64(gap.min(MAX_SERVER_WAIT.as_secs_f64()));
        *self.not_before.lock() = self.clock.now() + gap;
    }

    /// Waits until the pace allows the next request.
    fn wait_for_pace(&self) {
        let not_before = *self.not_before.lock();
        let now = self.clock.now();
        if not_before > now {
            self.clock.sleep(not_before - now);
        }
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Runs a GraphQL operation and returns its `data`; GraphQL `errors` are an error.
    pub fn graphql(&self, operation: &str, query: &str, variables: Json) -> Result<Json> {
        self.graphql_bytes(operation, query, &variables)
    }

    /// Sends one of labbook's own operations with its typed variables.
    pub(crate) fn call<O: super::graphql::Operation>(&self, op: &O) -> Result<Json> {
        self.graphql_bytes(O::NAME, O::DOCUMENT, op)
    }

    fn graphql_bytes(
        &self,
        operation: &str,
        query: &str,
        variables: &impl serde::Serialize,
    ) -> Result<Json> {
        let url = format!("{}/graphql", self.base);
        let body =
            serde_json::json!({"query": query, "variables": variables, "operationName": operation});
        let bytes = serde_json::to_vec(&body).map_err(|e| Error::Upload {
            url: public_url(&url),
            reason: e.to_string(),
        })?;
        let answer = self.send(
            &url,
            reqwest::Method::POST,
            bytes,
            &[],
            Auth::Key,
            operation == "UpsertBucket",
        )?;
        let json: Json = serde_json::from_slice(&answer).map_err(|e| Error::Upload {
            url: public_url(&url),
            reason: format!("{operation}: the answer is not JSON: {e}"),
        })?;
        if let Some(errors) = json.get("errors").filter(|e| !e.is_null()) {
            return Err(Error::Upload {
                url: public_url(&url),
                reason: self.scrub.text(&format!("{operation}: {errors}")),
            });
        }
        Ok(json.get("data").cloned().unwrap_or(Json::Null))
    }

    /// Posts one file_stream request (a JSON body) for a run and returns the answer.
    pub fn file_stream(
        &self,
        entity: &str,
        project: &str,
        run: &str,
        body: Vec<u8>,
    ) -> Result<Json> {
        let url = format!("{}/files/{entity}/{project}/{run}/file_stream", self.base);
        let answer = self.send(&url, reqwest::Method::POST, body, &[], Auth::Key, false)?;
        Ok(serde_json::from_slice(&answer).unwrap_or(Json::Null))
    }

    /// PUTs bytes to a presigned upload URL with its headers (`"Name:Value"`), without the
    /// API key.
    pub fn put(&self, url: &str, headers: &[String], bytes: Vec<u8>) -> Result<()> {
        self.send(url, reqwest::Method::PUT, bytes, headers, Auth::None, false)
            .map(|_| ())
    }

    /// PUTs a file to a presigned upload URL, streaming it from disk (a checkpoint of
    /// gigabytes never sits in memory); each retry reads it again.
    pub fn put_file(&self, url: &str, headers: &[String], path: &std::path::Path) -> Result<()> {
        let size = std::fs::metadata(path)
            .map_err(Error::io("could not read", path))?
            .len();
        // The per-request timeout, stretched for big files: a megabyte a second at worst.
        let timeout = self.retry.timeout + Duration::from_secs(size >> 20);
        let body = || -> Result<reqwest::blocking::Body> {
            let file = std::fs::File::open(path).map_err(Error::io("could not read", path))?;
            let len = file
                .metadata()
                .map_err(Error::io("could not read", path))?
                .len();
            Ok(reqwest::blocking::Body::sized(file, len))
        };
        let req = Request {
            url,
            method: reqwest::Method::PUT,
            headers,
            auth: Auth::None,
            retry_conflict: false,
            timeout,
        };
        self.send_body(req, &body).map(|_| ())
    }

    /// PUTs `len` bytes of a file from `offset` (a part of a multipart upload), streamed
    /// from disk; each retry reads them again. Returns the `ETag` the store answered, if
    /// any.
    pub fn put_file_range(
        &self,
        url: &str,
        headers: &[String],
        path: &std::path::Path,
        offset: u64,
        len: u64,
    ) -> Result<Option<String>> {
        use std::io::{Read, Seek, SeekFrom};
        let size = std::fs::metadata(path)
            .map_err(Error::io("could not read", path))?
            .len();
        let len = len.min(size.saturating_sub(offset));
        let body = || -> Result<reqwest::blocking::Body> {
            let mut file = std::fs::File::open(path).map_err(Error::io("could not read", path))?;
            file.seek(SeekFrom::Start(offset))
                .map_err(Error::io("could not read", path))?;
            Ok(reqwest::blocking::Body::sized(file.take(len), len))
        };
        let req = Request {
            url,
            method: reqwest::Method::PUT,
            headers,
            auth: Auth::None,
            retry_conflict: false,
            timeout: self.retry.timeout + Duration::from_secs(len >> 20),
        };
        let resp = self.send_response(req, &body)?;
        Ok(resp
            .headers()
            .get(reqwest::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned))
    }

    fn send(
        &self,
        url: &str,
        method: reqwest::Method,
        body: Vec<u8>,
        headers: &[String],
        auth: Auth,
        retry_conflict: bool,
    ) -> Result<Vec<u8>> {
        let body = || Ok(reqwest::blocking::Body::from(body.clone()));
        let req = Request {
            url,
            method,
            headers,
            auth,
            retry_conflict,
            timeout: self.retry.timeout,
        };
        self.send_body(req, &body)
    }

    fn send_body(
        &self,
        r: Request<'_>,
        body: &dyn Fn() -> Result<reqwest::blocking::Body>,
    ) -> Result<Vec<u8>> {
        let url = r.url;
        let resp = self.send_response(r, body)?;
        resp.bytes().map(|b| b.to_vec()).map_err(|e| Error::Upload {
            url: public_url(url),
            reason: format!("the answer broke off: {}", e.without_url()),
        })
    }

    /// GETs a presigned download URL (no API key), with the retry rules; the answer's body
    /// is read by the caller, so a big file streams. The time allowed is the policy's
    /// timeout plus a second per MiB of `size` (an hour when the size is not known).
    pub fn get(&self, url: &str, size: Option<u64>) -> Result<reqwest::blocking::Response> {
        let req = Request {
            url,
            method: reqwest::Method::GET,
            headers: &[],
            auth: Auth::None,
            retry_conflict: false,
            timeout: size.map_or(Duration::from_secs(3600), |s| {
                self.retry.timeout + Duration::from_secs(s >> 20)
            }),
        };
        self.send_response(req, &|| Ok(reqwest::blocking::Body::from(Vec::new())))
    }

    fn send_response(
        &self,
        r: Request<'_>,
        body: &dyn Fn() -> Result<reqwest::blocking::Body>,
    ) -> Result<reqwest::blocking::Response> {
        let Request {
            url,
            method,
            headers,
            auth,
            retry_conflict,
            timeout,
        } = r;
        let mut attempt = 0;
        loop {
            self.wait_for_pace();
            let mut req = self
                .http
                .request(method.clone(), url)
                .timeout(timeout)
                .body(body()?);
            if matches!(auth, Auth::Key) {
                req = req
                    .header(reqwest::header::AUTHORIZATION, &self.auth)
                    .header(reqwest::header::CONTENT_TYPE, "application/json");
            }
            for h in headers {
                if let Some((name, value)) = h.split_once(':') {
                    req = req.header(name.trim(), value.trim());
                }
            }
            let (failure, retry_after) = match req.send() {
                Ok(resp) => {
                    self.pace(resp.headers());
                    let status = resp.status();
                    let retry_after = resp
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    if status.is_success() {
                        return Ok(resp);
                    }
                    let bytes = resp.bytes().map(|b| b.to_vec()).unwrap_or_default();
                    // A server may echo what it was sent: the key never goes further.
                    let text = self.scrub.text(&String::from_utf8_lossy(&bytes));
                    let reason = format!(
                        "HTTP {}: {}",
                        status.as_u16(),
                        text.chars().take(300).collect::<String>()
                    );
                    match status.as_u16() {
                        401 | 403 => {
                            return Err(Error::Auth(format!(
                                "{} refused the API key ({reason})",
                                public_url(url)
                            )));
                        }
                        409 if retry_conflict => (reason, retry_after),
                        429 => {
                            self.rate_limited.fetch_add(1, Ordering::Relaxed);
                            (reason, retry_after)
                        }
                        400 | 404 | 409 | 410 | 413 | 422 | 501 => {
                            return Err(Error::Upload {
                                url: public_url(url),
                                reason,
                            });
                        }
                        _ => (reason, retry_after),
                    }
                }
                // reqwest's message names the whole URL, signature included: not here.
                Err(e) => (format!("connection failed: {}", e.without_url()), None),
            };
            if attempt >= self.retry.max_retries || self.cancel.load(Ordering::Relaxed) {
                return Err(Error::ServerUnavailable {
                    url: public_url(url),
                    reason: format!("{failure} (gave up after {} attempts)", attempt + 1),
                });
            }
            let wait = self.retry.wait(attempt, retry_after);
            tracing::debug!(target: "labbook", "{}: {failure}; retrying in {wait:?}", public_url(url));
            // An upload abandoned at `finish` stops here at once, not after the backoff.
            self.clock.sleep_or_stop(wait, &self.cancel);
            attempt += 1;
        }
    }
}

/// A URL as errors and logs show it: without credentials before the host, and without the
/// query, where a presigned URL keeps its signature.
///
/// ```
/// # use labbook_core::online::public_url;
/// assert_eq!(
///     public_url("https://s3.example.com/b/k?X-Amz-Signature=abc&X-Amz-Credential=x"),
///     "https://s3.example.com/b/k?(query hidden)"
/// );
/// assert_eq!(public_url("http://user:pw@127.0.0.1:8080/graphql"), "http://127.0.0.1:8080/graphql");
/// ```
pub fn public_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let host = rest[..host_end]
        .rsplit_once('@')
        .map_or(&rest[..host_end], |(_, h)| h);
    let tail = &rest[host_end..];
    let path = match tail.find(['?', '#']) {
        Some(i) => format!("{}?(query hidden)", &tail[..i]),
        None => tail.to_owned(),
    };
    let scheme = if scheme.is_empty() {
        String::new()
    } else {
        format!("{scheme}://")
    };
    format!("{scheme}{host}{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_headers_pace_requests_and_absurd_values_are_clamped() {
        let clock = std::sync::Arc::new(super::super::ManualClock::default());
        let c = Client::new("http://127.0.0.1:9", "k", RetryPolicy::default())
            .unwrap()
            .with_clock(clock.clone());
        let headers = |remaining: &str, reset: &str| {
            let mut h = reqwest::header::HeaderMap::new();
            h.insert("RateLimit-Remaining", remaining.parse().unwrap());
            h.insert("RateLimit-Reset", reset.parse().unwrap());
            h
        };
        c.pace(&headers("4", "2"));
        assert_eq!(*c.not_before.lock(), Duration::from_millis(500));
        c.pace(&headers("0", "7"));
        assert_eq!(*c.not_before.lock(), Duration::from_secs(7));
        c.pace(&headers("0", "1e30"));
        assert_eq!(*c.not_before.lock(), MAX_SERVER_WAIT);
        c.pace(&headers("-1", "3"));
        assert_eq!(
            *c.not_before.lock(),
            MAX_SERVER_WAIT,
            "a negative count is ignored"
        );
        clock.advance(Duration::from_secs(100));
        c.wait_for_pace();
        assert_eq!(clock.now(), Duration::from_secs(100), "nothing to wait for");
    }

    #[test]
    fn retry_after_is_honoured_up_to_a_minute() {
        let p = RetryPolicy::default();
        assert_eq!(
            p.wait(0, Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
        assert_eq!(
            p.wait(0, Some(Duration::from_secs(3600))),
            Duration::from_secs(60)
        );
    }
}
