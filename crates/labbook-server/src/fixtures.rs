//! `labbook serve --test-fixtures PORT`: the user-management service W&B's own system tests
//! drive beside the server they test (`GET /health`; `POST /db/user` with `{"command":
//! "up" | "down" | "password", "username", "password", "admin"}`), on a second port. A user
//! made `up` gets an API key equal to their name, as the harness expects; `down` revokes it.
//! It manages users without any key, so it listens on loopback only, and only when asked.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::access::KeyHasher;
use crate::store::MetaStore;

struct Fixtures {
    meta: Arc<dyn MetaStore>,
    keys: KeyHasher,
}

/// The fixture service over the server's stores.
pub(crate) fn router(meta: Arc<dyn MetaStore>, keys: KeyHasher) -> Router {
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/db/user", post(user))
        .with_state(Arc::new(Fixtures { meta, keys }))
}

#[derive(Debug, Deserialize)]
struct UserCommand {
    command: String,
    username: String,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    admin: Option<bool>,
}

type Answer = Result<Json<Value>, (StatusCode, String)>;

fn refused(status: StatusCode, message: impl Into<String>) -> (StatusCode, String) {
    (status, message.into())
}

async fn user(State(f): State<Arc<Fixtures>>, Json(cmd): Json<UserCommand>) -> Answer {
    let name = cmd.username.as_str();
    let valid = !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !valid {
        return Err(refused(
            StatusCode::BAD_REQUEST,
            format!("username {name:?}: letters, digits, '-', '_' and '.', 1 to 128"),
        ));
    }
    let store =
        |e: crate::store::StoreError| refused(StatusCode::SERVICE_UNAVAILABLE, e.to_string());
    // W&B's harness takes a key's id to be a prefix of the key, which is the name.
    let label = name.to_owned();
    match cmd.command.as_str() {
        "up" => {
            f.meta
                .add_user(name, cmd.admin.unwrap_or(false))
                .await
                .map_err(store)?;
            let hash = f.keys.hash(name);
            if f.meta.key_user(&hash).await.map_err(store)?.is_none() {
                f.meta.add_key(name, &hash, &label).await.map_err(store)?;
            }
        }
        "down" => {
            f.meta.revoke_key(&label).await.map_err(store)?;
        }
        "password" => {
            let password = cmd
                .password
                .as_deref()
                .ok_or_else(|| refused(StatusCode::BAD_REQUEST, "`password` needs a password"))?;
            let phc =
                crate::hash_password(password).map_err(|e| refused(StatusCode::BAD_REQUEST, e))?;
            if !f.meta.set_password(name, &phc).await.map_err(store)? {
                return Err(refused(StatusCode::NOT_FOUND, format!("no user {name:?}")));
            }
        }
        other => {
            return Err(refused(
                StatusCode::BAD_REQUEST,
                format!("command {other:?}: use \"up\", \"down\" or \"password\""),
            ));
        }
    }
    tracing::info!(command = %cmd.command, user = %name, "test fixture");
    Ok(Json(json!({"ok": true, "username": name})))
}
