//! Request ids: every request gets a fresh UUIDv7, answered in the `x-request-id` header,
//! recorded in the audit log, and carried by the request's tracing span.
//!
//! Log lines name the method, the route and the status, never a body (the CPR number
//! travels in bodies only).

use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;
use uuid::Uuid;

pub const HEADER: &str = "x-request-id";

/// The current request's id, in request extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestId(pub Uuid);

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

tokio::task_local! {
    static CURRENT: RequestId;
}

/// The id of the request being handled by this task, if any.
pub fn current() -> Option<RequestId> {
    CURRENT.try_with(|id| *id).ok()
}

/// Middleware: assigns the id, logs the request's outcome, sets the header.
pub async fn layer(mut req: Request, next: Next) -> Response {
    let id = RequestId(Uuid::now_v7());
    req.extensions_mut().insert(id);
    let method = req.method().clone();
    let path = loggable_path(req.uri().path());
    // The route template for metrics: never the path itself, which might hold an id.
    let route =
        req.extensions().get::<axum::extract::MatchedPath>().map_or("unmatched".into(), |m| m.as_str().to_string());
    let span = tracing::info_span!("request", request_id = %id, %method, path = %path);
    let started = Instant::now();
    let mut resp = CURRENT.scope(id, next.run(req)).instrument(span.clone()).await;
    let status = resp.status();
    record_request(&route, method.as_str(), status.as_u16(), started.elapsed());
    span.in_scope(|| {
        tracing::info!(status = status.as_u16(), elapsed_ms = started.elapsed().as_millis() as u64, "answered")
    });
    resp.headers_mut().insert(HEADER, HeaderValue::from_str(&id.to_string()).expect("a UUID is a header value"));
    resp
}

/// Counts one answered request through the `metrics` facade (whatever recorder the process
/// installed; none is a no-op). The route is a template, never the path.
fn record_request(route: &str, method: &str, status: u16, elapsed: Duration) {
    let route = route.to_string();
    metrics::counter!(
        "sammen_http_requests_total",
        "route" => route.clone(),
        "method" => method.to_string(),
        "status" => status.to_string()
    )
    .increment(1);
    metrics::histogram!("sammen_http_request_seconds", "route" => route).record(elapsed.as_secs_f64());
}

/// The path with every run of six or more digits (or digits and hyphens) replaced, so a
/// CPR number that a caller put in a URL by mistake never reaches a log line.
pub fn loggable_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len().min(256));
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.chars().filter(char::is_ascii_digit).count() >= 6 {
            out.push_str("[digits]");
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in path.chars().take(256) {
        if c.is_ascii_digit() || (c == '-' && !run.is_empty()) {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_lose_cpr_like_digit_runs() {
        assert_eq!(loggable_path("/api/v1/case-files"), "/api/v1/case-files");
        assert_eq!(loggable_path("/x/0101901234"), "/x/[digits]");
        assert_eq!(loggable_path("/x/010190-1234/y"), "/x/[digits]/y");
        assert_eq!(loggable_path("/v1/abc-12"), "/v1/abc-12");
    }
}
