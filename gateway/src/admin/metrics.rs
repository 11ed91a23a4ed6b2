//! Metrics: the `metrics` facade with a render-only Prometheus recorder, served on
//! `GET /metrics` of the admin listener (operators).
//!
//! | metric | labels | where |
//! |---|---|---|
//! | `sammen_http_requests_total` | `route` (the matched route template), `method`, `status` | `http::request_id::layer`, every listener |
//! | `sammen_http_request_seconds` | `route` | the same |
//! | `sammen_decisions_total` | `category`, `outcome` (`permit`, `denied`) | `consent::audit::AuditLog::append`, once durable |
//! | `sammen_connector_fetch_seconds` | `source` | `core::metrics::Measured`, every fetch |
//! | `sammen_connector_fetches_total` | `source`, `outcome` (section status, or `cancelled` at the deadline) | `core::metrics::Measured` |
//! | `sammen_connector_probes_total` | `source`, `outcome` (`up`, `down`) | `core::metrics::Measured`, readiness probes |
//! | `sammen_audit_append_seconds` | — | the audit writer, per group commit |
//! | `sammen_audit_batch_records` | — | the audit writer, records per group commit |
//! | `sammen_consents` (gauge) | `status` | [`consent_gauge`], recounted every `consent_gauge_interval_secs` |
//!
//! No label ever holds a CPR number: routes are templates (`/api/v1/consent-requests/{id}`),
//! and the other labels come from configuration and fixed vocabularies.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use consent::{ConsentStatus, SharedStore, Store};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::sync::watch;

use super::Role;
use super::auth::Operator;
use super::problem::AdminError;
use crate::core::clock::Clock;
use crate::http::problem::Problem;

const SECONDS: [f64; 14] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
const RECORDS: [f64; 12] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 4096.0];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder (once; later calls return the same handle). `None`
/// when another recorder was installed first.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS)
                .and_then(|b| b.set_buckets_for_metric(Matcher::Full("sammen_audit_batch_records".into()), &RECORDS))
                .expect("bucket lists are not empty")
                .build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("another metrics recorder is installed; /metrics will be empty");
                return None;
            }
            describe();
            Some(handle)
        })
        .as_ref()
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!("sammen_http_requests_total", "HTTP requests answered, by route template, method and status");
    describe_histogram!("sammen_http_request_seconds", Unit::Seconds, "Time to answer, by route template");
    describe_counter!("sammen_decisions_total", "Policy decisions recorded, by category and outcome");
    describe_histogram!("sammen_connector_fetch_seconds", Unit::Seconds, "Fetch latency per source");
    describe_counter!("sammen_connector_fetches_total", "Fetches per source and outcome");
    describe_counter!("sammen_connector_probes_total", "Health probes per source and outcome");
    describe_histogram!("sammen_audit_append_seconds", Unit::Seconds, "Audit group commit: write and flush");
    describe_histogram!("sammen_audit_batch_records", "Audit group commit: records per batch");
    describe_gauge!("sammen_consents", "Consents by current status");
}

/// The Prometheus text exposition of every metric (operators).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "health",
    responses(
        (status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain"),
        (status = 403, description = "Not an operator", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mtls" = []))
)]
pub async fn metrics(op: Arc<Operator>) -> Result<Response, AdminError> {
    op.require(&[Role::Operator], "read metrics")?;
    let text = install().map(|h| h.render()).unwrap_or_default();
    let mut resp = text.into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"));
    Ok(resp)
}

/// Counts the consents by current status (`expired` follows from time).
pub async fn count_consents<S: Store>(
    store: &S,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<BTreeMap<String, u64>, consent::StoreError> {
    let mut counts: BTreeMap<String, u64> = [
        ConsentStatus::Requested,
        ConsentStatus::Active,
        ConsentStatus::Rejected,
        ConsentStatus::Revoked,
        ConsentStatus::Expired,
    ]
    .iter()
    .map(|s| (s.to_string(), 0))
    .collect();
    for id in store.consent_ids().await? {
        if let Some(c) = store.consent(id).await? {
            *counts.entry(c.status_at(now).to_string()).or_default() += 1;
        }
    }
    Ok(counts)
}

/// Recounts the consents every `every` (one read of each consent: its cost grows with the
/// ledger, so it runs in the background and a scrape only reads the gauge), and keeps
/// the recorder's histograms drained, until `stopped`.
pub(crate) async fn consent_gauge(
    store: SharedStore,
    clock: Arc<dyn Clock>,
    every: Duration,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        match count_consents(&store, clock.now()).await {
            Ok(counts) => {
                for (status, n) in counts {
                    metrics::gauge!("sammen_consents", "status" => status).set(n as f64);
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot count the consents for the gauge"),
        }
        if let Some(h) = install() {
            h.run_upkeep();
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stopped.wait_for(|s| *s) => return,
        }
    }
}
