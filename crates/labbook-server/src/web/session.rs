//! Who a browser request acts for: the user of its session cookie or of its API key. A
//! request that changes state on a session must also carry the session's CSRF token in
//! `X-CSRF-Token` (a cookie goes with any request a page makes; the token only with the
//! dashboard's own).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq as _;

use crate::access::AuthedUser;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{Caller, now_ms};

/// The caller of a session request, and the session's CSRF token when it came by cookie.
#[derive(Clone, Debug)]
pub(crate) struct SessionCaller {
    pub(crate) caller: Caller,
    pub(crate) csrf: Option<String>,
    /// The keyed hash of the session token (to end it).
    pub(crate) session: Option<String>,
}

/// The session token a request's cookies carry.
pub(crate) fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == super::COOKIE && !value.is_empty()).then(|| value.to_owned())
        })
}

async fn session_caller(state: &AppState, headers: &HeaderMap) -> Result<SessionCaller, ApiError> {
    if headers.contains_key(header::AUTHORIZATION) {
        let caller = crate::access::user(state, headers).await?;
        return Ok(SessionCaller {
            caller,
            csrf: None,
            session: None,
        });
    }
    let token = cookie_token(headers).ok_or(ApiError::Unauthorized)?;
    let hash = state.keys.hash(&token);
    let (caller, csrf) = state
        .service
        .meta
        .session(&hash, now_ms())
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?
        .ok_or(ApiError::Unauthorized)?;
    Ok(SessionCaller {
        caller,
        csrf: Some(csrf),
        session: Some(hash),
    })
}

/// Lets a request through with a session (or a key); 401 without, 403 for a state change
/// on a session without its CSRF token.
pub(crate) async fn require_session(
    State(state): State<Arc<AppState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let found = match session_caller(&state, request.headers()).await {
        Ok(found) => found,
        Err(refused) => return refused.into_response(),
    };
    let changes_state = !matches!(*request.method(), Method::GET | Method::HEAD);
    if let (true, Some(csrf)) = (changes_state, &found.csrf) {
        let sent = request
            .headers()
            .get("x-csrf-token")
            .map(|v| v.as_bytes().to_vec())
            .unwrap_or_default();
        if !bool::from(sent.ct_eq(csrf.as_bytes())) {
            return ApiError::Forbidden("this request needs the session's CSRF token".into())
                .into_response();
        }
    }
    let caller = found.caller.clone();
    request.extensions_mut().insert(found);
    let mut response = next.run(request).await;
    response.extensions_mut().insert(AuthedUser(caller));
    response
}
