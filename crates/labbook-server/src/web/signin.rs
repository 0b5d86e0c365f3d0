//! `GET /login` (the page, or a one-time link's token), `POST /login` (a password or an API
//! key) and `POST /logout`. A sign-in sets an HttpOnly, SameSite=Strict session cookie; the
//! token in it is kept only as a keyed hash, as API keys are.

use std::sync::Arc;

use axum::extract::{Extension, Form, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use super::assets::login_html;
use super::{COOKIE, SESSION_TTL_MS, SessionCaller};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::now_ms;

/// The one answer to any wrong credential: it does not tell which part was wrong.
const WRONG: &str = "Wrong user, password or API key.";

#[derive(Deserialize)]
pub(crate) struct LinkQuery {
    token: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct SignInForm {
    user: Option<String>,
    password: Option<String>,
    api_key: Option<String>,
}

/// A new session for `user`: the redirect to the dashboard that sets its cookie.
async fn start_session(state: &AppState, user: &str) -> Result<Response, ApiError> {
    let token = URL_SAFE_NO_PAD.encode(crate::access::random_bytes::<32>());
    let csrf = URL_SAFE_NO_PAD.encode(crate::access::random_bytes::<16>());
    state
        .service
        .meta
        .add_session(
            &state.keys.hash(&token),
            user,
            &csrf,
            now_ms() + SESSION_TTL_MS,
        )
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let secure = if state.base_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}",
        SESSION_TTL_MS / 1000
    );
    tracing::info!(%user, "signed in");
    Ok((
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, cookie),
            (header::LOCATION, "/".to_owned()),
        ],
    )
        .into_response())
}

/// `GET /login`: the sign-in page; with `?token=`, a one-time link (used up now).
pub(crate) async fn login_page(
    State(state): State<Arc<AppState>>,
    Query(query): Query<LinkQuery>,
) -> Response {
    let Some(token) = query.token else {
        return login_html(None);
    };
    let taken = state
        .service
        .meta
        .take_signin_token(&state.keys.hash(&token), now_ms())
        .await;
    match taken {
        Ok(Some(user)) => start_session(&state, &user)
            .await
            .unwrap_or_else(IntoResponse::into_response),
        Ok(None) => login_html(Some(
            "This sign-in link was used already or has expired: \
             `labbook serve signin-link` makes a new one.",
        )),
        Err(e) => ApiError::Unavailable(e.to_string()).into_response(),
    }
}

/// `POST /login`: a user and password, or an API key, for a session.
pub(crate) async fn sign_in(
    State(state): State<Arc<AppState>>,
    Form(form): Form<SignInForm>,
) -> Response {
    match signed_in_user(&state, form).await {
        Ok(Some(user)) => start_session(&state, &user)
            .await
            .unwrap_or_else(IntoResponse::into_response),
        Ok(None) => login_html(Some(WRONG)),
        Err(e) => e.into_response(),
    }
}

async fn signed_in_user(state: &AppState, form: SignInForm) -> Result<Option<String>, ApiError> {
    let unavailable = |e: crate::store::StoreError| ApiError::Unavailable(e.to_string());
    let meta = &state.service.meta;
    if let Some(key) = form.api_key.filter(|k| !k.trim().is_empty()) {
        let caller = meta
            .key_user(&state.keys.hash(key.trim()))
            .await
            .map_err(unavailable)?;
        return Ok(caller.map(|c| c.user));
    }
    let (Some(user), Some(password)) = (form.user, form.password) else {
        return Ok(None);
    };
    let Some(phc) = meta.password(&user).await.map_err(unavailable)? else {
        return Ok(None);
    };
    // Argon2 takes tens of milliseconds by design: off the thread that serves requests.
    let verified = tokio::task::spawn_blocking(move || {
        crate::access::passwords::verify_password(&password, &phc)
    })
    .await
    .unwrap_or(false);
    Ok(verified.then_some(user))
}

/// `POST /logout`: ends the session (a key has none) and clears the cookie.
pub(crate) async fn sign_out(
    State(state): State<Arc<AppState>>,
    Extension(found): Extension<SessionCaller>,
) -> Response {
    if let Some(hash) = &found.session
        && let Err(e) = state.service.meta.remove_session(hash).await
    {
        return ApiError::Unavailable(e.to_string()).into_response();
    }
    let cookie = format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, cookie),
            (header::LOCATION, "/login".to_owned()),
        ],
    )
        .into_response()
}
