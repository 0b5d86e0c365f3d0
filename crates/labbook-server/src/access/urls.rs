//! The upload and download URLs handed to clients: signed with the server's secret, each
//! for one method and one path, valid until it expires. Clients send them back as they
//! got them and need no key for them, as with presigned S3 URLs.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq as _;

use crate::error::ApiError;
use crate::state::AppState;

/// The query parameter holding the signature (the name clients already keep out of
/// their logs, as for S3).
const SIGNATURE: &str = "X-Amz-Signature";
/// The query parameter holding the expiry, in Unix seconds.
const EXPIRES: &str = "X-Labbook-Expires";

/// How long a URL handed out stays valid by default: a day, for a large upload retried
/// through an outage.
pub(crate) const DEFAULT_TTL: Duration = Duration::from_secs(24 * 3600);

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn signature(state: &AppState, method: &str, path: &str, expires: u64) -> String {
    // "url" keeps these apart from key hashes, which hash a key alone.
    state
        .keys
        .hash(&format!("url\n{method}\n{path}\n{expires}"))
}

/// `base_url` + `path` (already percent-encoded), signed for `method`.
pub(crate) fn signed_url(state: &AppState, method: &str, path: &str) -> String {
    let expires = now() + state.url_ttl.as_secs();
    let sig = signature(state, method, path, expires);
    format!(
        "{}{path}?{EXPIRES}={expires}&{SIGNATURE}={sig}",
        state.base_url
    )
}

/// The value of `name` in a query string.
fn param<'q>(query: &'q str, name: &str) -> Option<&'q str> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Lets a request through only with a valid, unexpired signature for its method and path.
pub(crate) async fn check(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let query = request.uri().query().unwrap_or("");
    let (Some(given), Some(expires)) = (param(query, SIGNATURE), param(query, EXPIRES)) else {
        return ApiError::Forbidden("this URL is not signed: ask the server for one".into())
            .into_response();
    };
    let Ok(expires) = expires.parse::<u64>() else {
        return ApiError::Forbidden("the URL's expiry is not a number".into()).into_response();
    };
    let expected = signature(
        &state,
        request.method().as_str(),
        request.uri().path(),
        expires,
    );
    if !bool::from(expected.as_bytes().ct_eq(given.as_bytes())) {
        return ApiError::Forbidden("the URL's signature does not match it".into()).into_response();
    }
    if expires < now() {
        return ApiError::Forbidden("the URL has expired: ask the server for a new one".into())
            .into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_are_read_by_exact_name() {
        let q = "X-Labbook-Expires=12&X-Amz-Signature=ab&X-Amz-SignatureX=cd";
        assert_eq!(param(q, SIGNATURE), Some("ab"));
        assert_eq!(param(q, EXPIRES), Some("12"));
        assert_eq!(param(q, "nope"), None);
    }
}
