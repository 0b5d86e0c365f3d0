//! [`FuzzTarget`]: the whole server (router, service, memory stores) called in-process, for
//! fuzzers and property tests: any body through any route, no socket.

use axum::body::Body;
use axum::http::{Request, header};
use tower::ServiceExt as _;

use crate::ServerConfig;

/// The key the target's requests carry.
const KEY: &str = "fuzz0123456789012345678901234567890123456789";
/// Calls after which the stores start over, so a long fuzzing session stays small.
const FRESH_EVERY: usize = 10_000;

/// The server in-process, fresh every so many calls.
///
/// ```
/// use labbook_server::testing::FuzzTarget;
///
/// let mut target = FuzzTarget::new();
/// assert_eq!(target.post("/graphql", br#"{"query": "query Viewer { x }"}"#, false), 200);
/// assert_eq!(target.post("/graphql", b"\xff not json", false), 400);
/// ```
#[derive(Debug)]
pub struct FuzzTarget {
    runtime: tokio::runtime::Runtime,
    router: axum::Router,
    auth: String,
    calls: usize,
}

impl Default for FuzzTarget {
    fn default() -> FuzzTarget {
        FuzzTarget::new()
    }
}

impl FuzzTarget {
    /// A server over fresh memory stores, entity `ent1`.
    pub fn new() -> FuzzTarget {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread runtime");
        let router = Self::router(&runtime);
        let token = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("api:{KEY}"),
        );
        FuzzTarget {
            runtime,
            router,
            auth: format!("Basic {token}"),
            calls: 0,
        }
    }

    fn router(runtime: &tokio::runtime::Runtime) -> axum::Router {
        // Small limits, so a bomb or an oversized body meets its 413 within a fuzzer's
        // time per input (the check is the same at any size).
        let mut config = ServerConfig::new(KEY).entity("ent1");
        config.limits = crate::Limits {
            body: 4 << 20,
            decompressed: 1 << 20,
            graphql_document: 64 << 10,
        };
        runtime
            .block_on(crate::server::app(config, "http://127.0.0.1:9".into()))
            .expect("the fuzz server starts")
            .0
    }

    /// POSTs `body` to `path` with the key (gzipped per `Content-Encoding` when `gzip`);
    /// answers the status.
    pub fn post(&mut self, path: &str, body: &[u8], gzip: bool) -> u16 {
        self.calls += 1;
        if self.calls.is_multiple_of(FRESH_EVERY) {
            self.router = Self::router(&self.runtime);
        }
        let mut request = Request::post(path)
            .header(header::AUTHORIZATION, &self.auth)
            .header(header::CONTENT_TYPE, "application/json");
        if gzip {
            request = request.header(header::CONTENT_ENCODING, "gzip");
        }
        let Ok(request) = request.body(Body::from(body.to_vec())) else {
            return 400;
        };
        let router = self.router.clone();
        self.runtime
            .block_on(router.oneshot(request))
            .map_or(500, |answer| answer.status().as_u16())
    }
}
