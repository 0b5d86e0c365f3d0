//! Errors: [`Error`] for starting the server, [`ApiError`] for answering a bad request.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Binding 127.0.0.1:port or building the runtime failed.
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind {
        /// The port asked for (0 = any).
        port: u16,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The server thread could not be started.
    #[error("cannot start the server thread: {0}")]
    Thread(std::io::Error),
}

/// A request the server refuses, turned into an HTTP answer with a JSON message.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    #[error("missing or wrong API key (HTTP Basic auth, user `api`)")]
    Unauthorized,
    #[error("bad request: {0}")]
    BadRequest(String),
}

impl ApiError {
    pub(crate) fn bad(message: impl Into<String>) -> ApiError {
        ApiError::BadRequest(message.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
        };
        tracing::debug!(%status, error = %self, "refusing request");
        let mut response = (status, Json(json!({ "error": self.to_string() }))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"labbook\""),
            );
        }
        response
    }
}
