//! The operators' HTTPS listener (`[admin]`): its own address and port, TLS with operator
//! client certificates verified against an operator CA and mapped by SHA-256 to the
//! `[[operators]]`, each with a role:
//!
//! | route                                        | `auditor` | `operator` |
//! |----------------------------------------------|:---------:|:----------:|
//! | `GET /admin/v1/audit`, `POST /admin/v1/audit/search` (query, JSON or JSON Lines) | ✓ | |
//! | `GET /admin/v1/audit/entries`                | ✓         |            |
//! | `GET /admin/v1/audit/checkpoint`, `…/proof/inclusion`, `…/proof/consistency` | ✓ | ✓ |
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
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::core::Core;
use crate::http::tls::{self, ListenError};
use crate::settings::{Settings, SettingsError};

/// `[admin]`: the operators' listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSettings {
    /// Address and port; port 0 picks a free one (printed at start-up).
    pub listen: SocketAddr,
    /// PEM: the listener's certificate chain (default: `[server] cert_file`).
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    /// PEM: its private key (default: `[server] key_file`).
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// PEM: the CA(s) that issue operators' client certificates (not the caseworker
    /// systems' CA).
    pub client_ca_file: PathBuf,
    /// How long a readiness probe's results are reused.
    #[serde(default = "default_probe_cache_ms")]
    pub probe_cache_ms: u64,
    /// How long one connector's health probe may take before it counts as down.
    #[serde(default = "default_probe_timeout_ms")]
    pub probe_timeout_ms: u64,
    /// How often the consents-by-status gauge is recounted.
    #[serde(default = "default_gauge_interval_secs")]
    pub consent_gauge_interval_secs: u64,
}

fn default_probe_cache_ms() -> u64 {
    2_000
}
fn default_probe_timeout_ms() -> u64 {
    2_000
}
fn default_gauge_interval_secs() -> u64 {
    60
}

/// What an operator may do (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Runs the service: metrics, health, proofs.
    Operator,
    /// Audits: queries and exports the audit log, proofs.
    Auditor,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Auditor => "auditor",
        }
    }
}

/// `[[operators]]`: one person or tool allowed on the admin listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorSettings {
    /// Recorded in the audit log as who read it.
    pub id: String,
    pub role: Role,
    /// SHA-256 (hex, colons allowed) of the operator's client certificate (DER).
    pub cert_sha256: String,
}

/// Checks `[admin]` and `[[operators]]` (called by `Settings::check_for_serve`).
pub fn check_settings(s: &Settings) -> Result<(), SettingsError> {
    let bad = |m: String| Err(SettingsError::Invalid(m));
    let mut ids = std::collections::BTreeSet::new();
    let mut certs = std::collections::BTreeSet::new();
    for o in &s.operators {
        if o.id.is_empty() || o.id.chars().any(char::is_control) {
            return bad("[[operators]] id must be non-empty, without control characters".into());
        }
        if !ids.insert(o.id.as_str()) {
            return bad(format!("operator {:?} is registered twice", o.id));
        }
        let fp = auth::normalise_fingerprint(&o.cert_sha256);
        if fp.len() != 64 || !fp.chars().all(|c| c.is_ascii_hexdigit()) {
            return bad(format!("operator {:?}: cert_sha256 must be 64 hex digits", o.id));
        }
        if !certs.insert(fp) {
            return bad(format!("operator {:?}: the certificate is registered for another operator too", o.id));
        }
    }
    if let Some(a) = &s.admin {
        if a.listen == s.server.listen && a.listen.port() != 0 {
            return bad("[admin] listen must differ from [server] listen".into());
        }
        if a.probe_cache_ms == 0 || a.probe_timeout_ms == 0 || a.consent_gauge_interval_secs == 0 {
            return bad(
                "[admin] probe_cache_ms, probe_timeout_ms and consent_gauge_interval_secs must be positive".into()
            );
        }
        if s.operators.is_empty() {
            return bad("[admin] is configured but no [[operators]] are registered".into());
        }
    }
    Ok(())
}

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

/// Binds the admin listener and serves until `stopped` turns true; also starts the
/// consent gauge.
pub(crate) async fn start(
    settings: &Settings,
    admin: &AdminSettings,
    app: Core,
    stopped: watch::Receiver<bool>,
) -> Result<RunningAdmin, ListenError> {
    metrics::install();
    let server = &settings.server;
    let cert = admin.cert_file.as_deref().or(server.cert_file.as_deref()).expect("checked by check_for_serve");
    let key = admin.key_file.as_deref().or(server.key_file.as_deref()).expect("checked by check_for_serve");
    let tls_config = tls::server_config(cert, key, &admin.client_ca_file)?;
    let state = AdminState(Arc::new(AdminServices {
        probes: health::Probes::new(
            Duration::from_millis(admin.probe_cache_ms),
            Duration::from_millis(admin.probe_timeout_ms),
        ),
        operators: auth::Operators::new(&settings.operators),
        app: app.clone(),
    }));
    let router = routes::router(state, server.body_limit_bytes);
    let (listener, addr) = tls::bind(admin.listen).await?;
    let loop_cfg = tls::LoopConfig {
        handshake_timeout: Duration::from_millis(server.handshake_timeout_ms),
        max_connections: server.max_connections.min(64),
        drain: Duration::from_secs(10),
        limits: settings.limits.clone(),
        timeout_response: crate::http::problem::request_timed_out,
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls_config));
    tokio::spawn(metrics::consent_gauge(
        app.ledger.store().clone(),
        app.clock.clone(),
        Duration::from_secs(admin.consent_gauge_interval_secs),
        stopped.clone(),
    ));
    let task = tokio::spawn(tls::accept_loop(listener, acceptor, router, loop_cfg, stopped));
    tracing::info!(%addr, operators = settings.operators.len(), "admin listener up");
    Ok(RunningAdmin { addr, task })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(extra: &str) -> Result<Settings, SettingsError> {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(&f, extra).unwrap();
        let s = Settings::load(Some(&f), None)?;
        check_settings(&s)?;
        Ok(s)
    }

    const OPERATOR: &str = r#"
[[operators]]
id = "ida"
role = "auditor"
cert_sha256 = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
"#;

    #[test]
    fn admin_and_operators_parse_and_are_checked() {
        let s = settings(&format!("[admin]\nlisten = \"127.0.0.1:9443\"\nclient_ca_file = \"ops.pem\"\n{OPERATOR}"))
            .unwrap();
        let a = s.admin.as_ref().unwrap();
        assert_eq!((a.probe_cache_ms, a.probe_timeout_ms, a.consent_gauge_interval_secs), (2_000, 2_000, 60));
        assert_eq!(s.operators[0].role, Role::Auditor);
        assert_eq!(s.audit.retention_days(), 730);
        // No [admin] is fine; [admin] without operators is not.
        assert!(settings("").unwrap().admin.is_none());
        let e = settings("[admin]\nlisten = \"127.0.0.1:9443\"\nclient_ca_file = \"ops.pem\"\n").unwrap_err();
        assert!(e.to_string().contains("no [[operators]]"), "{e}");
        // The same operator twice, a short fingerprint, an unknown role.
        let e = settings(&format!("{OPERATOR}{}", OPERATOR.replace("auditor", "operator"))).unwrap_err();
        assert!(e.to_string().contains("registered twice"), "{e}");
        let e = settings(&OPERATOR.replace("00112233445566778899aabbccddeeff00112233", "00")).unwrap_err();
        assert!(e.to_string().contains("64 hex digits"), "{e}");
        assert!(settings(&OPERATOR.replace("auditor", "root")).is_err());
        let s = settings("[audit]\nretention_days = 30\n").unwrap();
        assert_eq!(s.audit.retention_days(), 30);
    }
}
