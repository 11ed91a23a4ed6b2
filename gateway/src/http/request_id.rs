//! Request ids: every request gets a fresh UUIDv7, answered in the `x-request-id` header,
//! recorded in the audit log, and carried by the request's tracing span.
//!
//! Log lines name the method, the route template (axum's `MatchedPath`, e.g.
//! `/consents/{id}`, or `unmatched`) and the status: never the path as sent, its query
//! string or a body, so nothing a client wrote (a CPR number put in a URL by mistake) reaches
//! a log line or a metric label.

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
    let route = route_of(&req);
    let span = tracing::info_span!("request", request_id = %id, %method, route = %route);
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

/// The route template the request matched, or `unmatched`: what logs and metrics name.
pub fn route_of(req: &Request) -> String {
    req.extensions().get::<axum::extract::MatchedPath>().map_or("unmatched".into(), |m| m.as_str().to_string())
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    /// The span and the metrics carry the template, whatever the path held.
    #[tokio::test]
    async fn the_route_is_the_template_not_the_path() {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let s = seen.clone();
        let app = Router::new().route("/consents/{id}", get(|| async { "ok" })).layer(axum::middleware::from_fn(
            move |req: Request, next: Next| {
                s.lock().unwrap().push(route_of(&req));
                next.run(req)
            },
        ));
        for uri in ["/consents/01.04.60.9903?cpr=0104609903", "/nowhere/010460-9903"] {
            let req = axum::http::Request::get(uri).body(axum::body::Body::empty()).unwrap();
            app.clone().oneshot(req).await.unwrap();
        }
        assert_eq!(*seen.lock().unwrap(), vec!["/consents/{id}".to_string(), "unmatched".to_string()]);
    }
}
