//! The operators' HTTPS listener (`[admin]`): its own address and port, TLS with operator
//! client certificates verified against an operator CA and mapped by SHA-256 to the
//! `[[operators]]`, each with a role:
//!
//! | route                                        | `auditor` | `operator` |
//! |----------------------------------------------|:---------:|:----------:|
//! | `GET /admin/v1/audit`, `POST /admin/v1/audit/search` (query, JSON or JSON Lines) | ✓ | |
//! | `GET /admin/v1/audit/entries`                | ✓         |            |
//! | `GET /admin/v1/audit/checkpoint`, `…/checkpoint/note`, `…/proof/inclusion`, `…/proof/consistency` | ✓ | ✓ |
//! | `GET /metrics`, `GET /healthz`, `GET /readyz` |           | ✓          |
//! | `GET /admin/v1/openapi.json`                 | ✓         | ✓          |
//!
//! Auditors read the log (and every read is itself audited, durable before the answer);
//! operators run the service; both may check the log's integrity. Errors are RFC 9457
//! problem details.
//!
//! Code map: [`auth`] (certificate → operator, role checks), [`audit_api`] (queries,
//! entries, checkpoint, proofs), [`checkpoint`] (the checkpoint as served and saved, and
//! the online consistency check), [`health`] (liveness, readiness with cached probes),
//! [`metrics`] (the Prometheus recorder, measured connectors, the consent gauge),
//! [`retention`] (pruning at start and daily), [`problem`] (errors), [`routes`] (router and
//! OpenAPI document).

pub mod audit_api;
pub mod auth;
pub mod checkpoint;
pub mod health;
pub mod metrics;
pub mod problem;
pub mod query;
pub mod retention;
pub mod routes;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::core::Core;
use crate::http::tls::{self, ListenError};
use crate::settings::Settings;

pub use crate::settings::admin::{AdminSettings, OperatorSettings, Role};

/// Everything an admin handler needs. Cheap to clone.
#[derive(Clone)]
pub struct AdminState(Arc<AdminServices>);

pub struct AdminServices {
    pub app: Core,
    pub operators: auth::Operators,
    pub probes: health::Probes,
}

impl std::ops::Deref for AdminState {
    type Target = AdminServices;
    fn deref(&self) -> &AdminServices {
        &self.0
    }
}

/// A serving admin listener.
pub struct RunningAdmin {
    pub addr: SocketAddr,
    pub task: JoinHandle<()>,
}

/// The admin listener, bound and answering liveness and (not) readiness, waiting for the
/// core: see [`health::waiting_router`].
pub struct PendingAdmin {
    slot: crate::http::deferred::Deferred,
    probes: health::Probes,
    operators: auth::Operators,
    body_limit: usize,
    gauge_interval: Duration,
    stopped: watch::Receiver<bool>,
}

/// Binds the admin listener and serves until `stopped` turns true: liveness, and readiness
/// 503 ("store: connecting") until [`PendingAdmin::open`] gives it the core.
pub(crate) async fn bind(
    settings: &Settings,
    admin: &AdminSettings,
    stopped: watch::Receiver<bool>,
) -> Result<(RunningAdmin, PendingAdmin), ListenError> {
    metrics::install();
    let server = &settings.server;
    let cert = admin.cert_file.as_deref().or(server.cert_file.as_deref()).expect("checked by check_for_serve");
    let key = admin.key_file.as_deref().or(server.key_file.as_deref()).expect("checked by check_for_serve");
    let tls_config = tls::server_config(cert, key, &admin.client_ca_file)?;
    let slot = crate::http::deferred::Deferred::new();
    let router = slot.router(health::waiting_router(Arc::new(auth::Operators::new(&settings.operators))));
    let (listener, addr) = tls::bind(admin.listen).await?;
    let loop_cfg = tls::LoopConfig {
        handshake_timeout: Duration::from_millis(server.handshake_timeout_ms),
        max_connections: server.max_connections.min(64),
        drain: Duration::from_secs(10),
        limits: settings.limits.clone(),
        timeout_response: crate::http::problem::request_timed_out,
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls_config));
    let task = tokio::spawn(tls::accept_loop(listener, acceptor, router, loop_cfg, stopped.clone()));
    tracing::info!(%addr, operators = settings.operators.len(), "admin listener up");
    let pending = PendingAdmin {
        slot,
        probes: health::Probes::new(
            Duration::from_millis(admin.probe_cache_ms),
            Duration::from_millis(admin.probe_timeout_ms),
        ),
        operators: auth::Operators::new(&settings.operators),
        body_limit: server.body_limit_bytes,
        gauge_interval: Duration::from_secs(admin.consent_gauge_interval_secs),
        stopped,
    };
    Ok((RunningAdmin { addr, task }, pending))
}

impl PendingAdmin {
    /// Serves the admin API over `app` from now on; starts the consent gauge.
    pub(crate) fn open(self, app: Core) {
        tokio::spawn(metrics::consent_gauge(
            app.ledger.store().clone(),
            app.clock.clone(),
            self.gauge_interval,
            self.stopped,
        ));
        let state = AdminState(Arc::new(AdminServices { probes: self.probes, operators: self.operators, app }));
        self.slot.set(routes::router(state, self.body_limit));
    }
}
