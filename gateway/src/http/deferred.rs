//! A listener that is up before the service behind it (`sammen serve` on a database that
//! is not reachable yet): its router is set once, when the store has opened; until then
//! every request is answered by the listener's waiting router, which holds nothing that
//! reaches the store, the audit log or a source (503 there, liveness and readiness on the
//! admin listener). Fail closed by construction: the handlers that release data exist only
//! in the router that is set after the store opened.

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;

use super::problem::Problem;

/// The router a listener serves once it is set (at most once).
#[derive(Clone, Default)]
pub struct Deferred(Arc<OnceLock<Router>>);

impl Deferred {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the router every request goes to from now on. A second call changes nothing.
    pub fn set(&self, router: Router) {
        let _ = self.0.set(router);
    }

    pub fn is_set(&self) -> bool {
        self.0.get().is_some()
    }

    /// The listener's router: the one [`Deferred::set`] gave, and `waiting` until then.
    pub fn router(&self, waiting: Router) -> Router {
        let slot = self.0.clone();
        Router::new().fallback_service(tower::service_fn(move |req: Request| {
            let router = slot.get().cloned().unwrap_or_else(|| waiting.clone());
            async move { router.oneshot(req).await }
        }))
    }
}

/// The answer of the API and admin listeners while the store connects: 503 problem+json
/// with `Retry-After`. Names no URL or host.
pub fn store_connecting() -> Response {
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "store-connecting",
        "The service is starting",
        "the store is not reachable yet; nothing is served until it is, try again shortly",
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::routing::get;

    use super::*;

    async fn status_and_body(r: &Router, path: &str) -> (StatusCode, String) {
        let resp = r.clone().oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16).await.unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn the_waiting_router_answers_until_the_router_is_set() {
        let deferred = Deferred::new();
        let router = deferred.router(Router::new().fallback(|| async { store_connecting() }));
        let (status, body) = status_and_body(&router, "/api/v1/case-files").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("store-connecting"), "{body}");
        assert!(!deferred.is_set());
        deferred.set(Router::new().route("/api/v1/case-files", get(|| async { "served" })));
        assert!(deferred.is_set());
        assert_eq!(status_and_body(&router, "/api/v1/case-files").await, (StatusCode::OK, "served".into()));
        // Set once: a second router is ignored.
        deferred.set(Router::new().fallback(|| async { "other" }));
        assert_eq!(status_and_body(&router, "/api/v1/case-files").await.1, "served");
        assert_eq!(status_and_body(&router, "/elsewhere").await.0, StatusCode::NOT_FOUND);
    }
}
