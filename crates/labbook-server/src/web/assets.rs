//! The dashboard's files, compiled in.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

const INDEX: &str = include_str!("assets/index.html");
const FILES: &[(&str, &str, &str)] = &[
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/app.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("assets/app.css"),
    ),
];

fn page(html: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            // Nothing from elsewhere, and no framing by other sites.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; frame-ancestors 'none'",
            ),
        ],
        html,
    )
        .into_response()
}

/// `GET /`: the dashboard's shell (no data in it: its script asks the API, and sends the
/// browser to the sign-in page when there is no session).
pub(crate) async fn index() -> Response {
    page(INDEX.to_owned())
}

/// `GET /static/{file}`.
pub(crate) async fn asset(Path(file): Path<String>) -> Response {
    match FILES.iter().find(|(name, _, _)| *name == file) {
        Some((_, kind, text)) => ([(header::CONTENT_TYPE, *kind)], *text).into_response(),
        None => (StatusCode::NOT_FOUND, "no such file").into_response(),
    }
}

/// The sign-in page, with a message (escaped) when one is given.
pub(crate) fn login_html(message: Option<&str>) -> Response {
    const LOGIN: &str = include_str!("assets/login.html");
    let note = message.map_or_else(String::new, |m| {
        format!(
            "<p class=\"error\" role=\"alert\">{}</p>",
            m.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
        )
    });
    let html = LOGIN.replace("<!--message-->", &note);
    let mut response = page(html);
    if message.is_some() {
        *response.status_mut() = StatusCode::UNAUTHORIZED;
    }
    response
}
