//! The browser's side of the server: signing in (a one-time link, a password or an API
//! key) to a session cookie, the session check with its CSRF rule, and the dashboard's
//! static files, embedded in the binary (no CDN, no Node at run time).

mod assets;
mod session;
mod signin;

pub(crate) use assets::{asset, index};
pub(crate) use session::{SessionCaller, require_session};
pub(crate) use signin::{login_page, sign_in, sign_out};

/// How long a session lasts.
pub(crate) const SESSION_TTL_MS: i64 = 7 * 24 * 3600 * 1000;
/// How long a sign-in link works (once).
pub(crate) const SIGNIN_LINK_TTL_MS: i64 = 15 * 60 * 1000;
/// The session cookie's name.
pub(crate) const COOKIE: &str = "labbook_session";
