//! `GET /healthz` (the process is up and serving) and `GET /readyz` (it can do its work):
//! the store takes a flush, the audit log's writer runs and its last batch was written,
//! the policy set is loaded and its directory's last reload was not rejected, and every connector's health probe answers in time
//! (and the person register's, `residence`, when `[residence]` is configured). Probe
//! results are reused for a short while (`[admin] probe_cache_ms`), and concurrent
//! readiness checks share one round of probes, so a busy scraper cannot load the sources.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Operator;
use super::problem::AdminError;
use super::{AdminState, Role};
use crate::core::Core;
use crate::http::problem::Problem;

/// One readiness check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Check {
    /// `store`, `audit`, `policies`, `source:<connector id>`, or `residence` (the person
    /// register, when one is configured).
    pub name: String,
    pub ok: bool,
    /// What was found (a policy digest, an error's cause). Never a CPR number.
    pub detail: String,
}

/// The readiness answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Readiness {
    pub ready: bool,
    pub checks: Vec<Check>,
}

/// The cached probe round.
pub struct Probes {
    ttl: Duration,
    timeout: Duration,
    last: tokio::sync::Mutex<Option<(Instant, Readiness)>>,
}

impl Probes {
    pub fn new(ttl: Duration, timeout: Duration) -> Self {
        Probes { ttl, timeout, last: tokio::sync::Mutex::new(None) }
    }

    /// The current readiness: cached when fresh, else one new round (others wait for it).
    pub async fn readiness(&self, app: &Core) -> Readiness {
        let mut last = self.last.lock().await;
        if let Some((at, r)) = last.as_ref()
            && at.elapsed() < self.ttl
        {
            return r.clone();
        }
        let r = probe(app, self.timeout).await;
        *last = Some((Instant::now(), r.clone()));
        r
    }
}

fn check(name: impl Into<String>, result: Result<String, String>) -> Check {
    match result {
        Ok(detail) => Check { name: name.into(), ok: true, detail },
        Err(detail) => Check { name: name.into(), ok: false, detail },
    }
}

async fn probe(app: &Core, timeout: Duration) -> Readiness {
    let mut checks = Vec::new();
    let store = tokio::time::timeout(timeout, consent::Store::ping(app.audit.store())).await;
    checks.push(check(
        "store",
        match store {
            Ok(Ok(())) => Ok("a flush succeeded".into()),
            Ok(Err(e)) => Err(format!("the store refused a flush: {e}")),
            Err(_) => Err(format!("a flush took longer than {} ms", timeout.as_millis())),
        },
    ));
    checks.push(check(
        "audit",
        if app.audit.is_writable() {
            Ok(format!("{} records, the last batch written", app.audit.tree_size()))
        } else {
            Err("the audit log's last write failed or its writer stopped".into())
        },
    ));
    let digest = app.engine.digest();
    checks.push(check(
        "policies",
        match app.engine.reload_failure() {
            _ if digest.is_empty() => Err("no policy set loaded".into()),
            // The directory no longer loads: decisions still use the older set, which is
            // not what the operator configured.
            Some(why) => Err(format!("the policy directory was rejected, policy set {digest} stays in force: {why}")),
            None => Ok(format!("policy set {digest}")),
        },
    ));
    checks.extend(
        app.source_health(timeout)
            .await
            .into_iter()
            .map(|h| check(format!("source:{}", h.source), h.result.map(|()| "answering".to_string()))),
    );
    if let Some(r) = app.residence_health(timeout).await {
        checks.push(check("residence", r.map(|()| "the person register is answering".to_string())));
    }
    Readiness { ready: checks.iter().all(|c| c.ok), checks }
}

/// Liveness: the process is up and serving (operators).
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    responses(
        (status = 200, description = "Up", content_type = "text/plain"),
        (status = 403, description = "Not an operator", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mtls" = []))
)]
pub async fn healthz(op: Arc<Operator>) -> Result<&'static str, AdminError> {
    op.require(&[Role::Operator], "see the service's health")?;
    Ok("ok\n")
}

/// Readiness: store, audit log, policy set and every source (operators). 503 when not ready.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "Not ready: see the failing checks", body = Readiness),
        (status = 403, description = "Not an operator", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mtls" = []))
)]
pub async fn readyz(State(state): State<AdminState>, op: Arc<Operator>) -> Result<Response, AdminError> {
    op.require(&[Role::Operator], "see the service's health")?;
    let r = state.probes.readiness(&state.app).await;
    let status = if r.ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    if !r.ready {
        let failing: Vec<&str> = r.checks.iter().filter(|c| !c.ok).map(|c| c.name.as_str()).collect();
        tracing::warn!(?failing, "not ready");
    }
    Ok((status, Json(r)).into_response())
}

/// The admin listener while the store connects (see [`crate::http::deferred`]): `/healthz`
/// answers 200 (the process is up), `/readyz` 503 with the one failing check `store`
/// ("connecting"), both for operators only; everything else 503 problem+json. Nothing here
/// reaches the store.
pub(super) fn waiting_router(operators: Arc<super::auth::Operators>) -> axum::Router {
    use axum::http::request::Parts;
    async fn healthz(State(ops): State<Arc<super::auth::Operators>>, parts: Parts) -> Result<&'static str, AdminError> {
        ops.of(&parts)?.require(&[Role::Operator], "see the service's health")?;
        Ok("ok\n")
    }
    async fn readyz(State(ops): State<Arc<super::auth::Operators>>, parts: Parts) -> Result<Response, AdminError> {
        ops.of(&parts)?.require(&[Role::Operator], "see the service's health")?;
        Ok((StatusCode::SERVICE_UNAVAILABLE, Json(connecting())).into_response())
    }
    axum::Router::new()
        .route("/healthz", axum::routing::get(healthz))
        .route("/readyz", axum::routing::get(readyz))
        .fallback(|| async { crate::http::deferred::store_connecting() })
        .with_state(operators)
}

/// The readiness while the store connects.
fn connecting() -> Readiness {
    Readiness { ready: false, checks: vec![check("store", Err("connecting".into()))] }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;
    use crate::admin::OperatorSettings;
    use crate::http::tls::PeerIdentity;

    async fn get(router: &axum::Router, path: &str, peer: Option<&PeerIdentity>) -> (StatusCode, String) {
        let mut req = Request::get(path).body(Body::empty()).unwrap();
        if let Some(p) = peer {
            req.extensions_mut().insert(p.clone());
        }
        let r = router.clone().oneshot(req).await.unwrap();
        let status = r.status();
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    #[tokio::test]
    async fn while_the_store_connects_operators_see_live_and_not_ready() {
        let (otto, ida) = (PeerIdentity::from_der(b"otto"), PeerIdentity::from_der(b"ida"));
        let ops = super::super::auth::Operators::new(&[
            OperatorSettings { id: "otto".into(), role: Role::Operator, cert_sha256: otto.sha256.clone() },
            OperatorSettings { id: "ida".into(), role: Role::Auditor, cert_sha256: ida.sha256.clone() },
        ]);
        let router = waiting_router(Arc::new(ops));
        assert_eq!(get(&router, "/healthz", Some(&otto)).await, (StatusCode::OK, "ok\n".into()));
        let (status, body) = get(&router, "/readyz", Some(&otto)).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        let r: Readiness = serde_json::from_str(&body).unwrap();
        assert_eq!(r, connecting());
        assert_eq!((r.checks[0].name.as_str(), r.checks[0].detail.as_str()), ("store", "connecting"));
        // Operators only, and only the role that may see health.
        assert_eq!(get(&router, "/readyz", None).await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(get(&router, "/healthz", Some(&ida)).await.0, StatusCode::FORBIDDEN);
        // Everything else waits for the store.
        let (status, body) = get(&router, "/admin/v1/audit", Some(&ida)).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("store-connecting"), "{body}");
    }
}
