//! HTTP Basic auth as W&B uses it: user `api`, password = the API key.

use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::error::ApiError;

/// Accepts the request if it carries `Authorization: Basic base64("api:<api_key>")`.
pub(crate) fn check(headers: &HeaderMap, api_key: &str) -> Result<(), ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or(ApiError::Unauthorized)?;
    let encoded = value.strip_prefix("Basic ").ok_or(ApiError::Unauthorized)?;
    let decoded = STANDARD
        .decode(encoded.trim())
        .map_err(|_| ApiError::Unauthorized)?;
    let expected = format!("api:{api_key}");
    if decoded == expected.as_bytes() {
        Ok(())
    } else {
        Err(ApiError::Unauthorized)
    }
}

/// The `Authorization` header value a client sends for `api_key`.
#[cfg(test)]
pub(crate) fn basic_header(api_key: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("api:{api_key}")))
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
    fn accepts_the_right_key_only() {
        assert!(check(&headers(&basic_header("secret")), "secret").is_ok());
        assert!(check(&headers(&basic_header("other")), "secret").is_err());
        assert!(check(&headers("Bearer secret"), "secret").is_err());
        assert!(check(&headers("Basic !!!"), "secret").is_err());
        assert!(check(&HeaderMap::new(), "secret").is_err());
    }
}
