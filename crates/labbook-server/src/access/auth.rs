//! HTTP Basic auth as W&B uses it: user `api`, password = the API key, checked by its
//! keyed hash against the keys the store holds.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::error::ApiError;
use crate::state::AppState;
use crate::store::Caller;

/// The key a request carries: `Authorization: Basic base64("api:<key>")`.
fn basic_key(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    text.strip_prefix("api:").map(str::to_owned)
}

/// The user a request's key belongs to, in its extensions (and its response's, for the
/// request log).
#[derive(Clone, Debug)]
pub(crate) struct AuthedUser(pub(crate) Caller);

/// Lets a request through only with a known key; 401 otherwise.
pub(crate) async fn require_key(
    State(state): State<Arc<AppState>>,
    mut request: Request,
    next: Next,
) -> Response {
    match user(&state, request.headers()).await {
        Ok(caller) => {
            request.extensions_mut().insert(AuthedUser(caller.clone()));
            let mut response = next.run(request).await;
            response.extensions_mut().insert(AuthedUser(caller));
            response
        }
        Err(refused) => refused.into_response(),
    }
}

/// The user a request acts for, or 401 when its key is missing or unknown.
pub(crate) async fn user(state: &AppState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let key = basic_key(headers).ok_or(ApiError::Unauthorized)?;
    let hash = state.keys.hash(&key);
    state
        .service
        .meta
        .key_user(&hash)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?
        .ok_or(ApiError::Unauthorized)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn reads_the_key_of_user_api_only() {
        let basic = |s: &str| format!("Basic {}", STANDARD.encode(s));
        assert_eq!(
            basic_key(&headers(&basic("api:secret"))).as_deref(),
            Some("secret")
        );
        assert_eq!(basic_key(&headers(&basic("bob:secret"))), None);
        assert_eq!(basic_key(&headers("Bearer secret")), None);
        assert_eq!(basic_key(&headers("Basic !!!")), None);
        assert_eq!(basic_key(&HeaderMap::new()), None);
    }
}
