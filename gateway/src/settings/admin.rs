//! `[admin]` and `[[operators]]`: the operators' listener and who may use it (the listener
//! itself is `crate::admin`).

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{Settings, SettingsError};

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
pub fn check(s: &Settings) -> Result<(), SettingsError> {
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
        let fp = crate::http::tls::normalise_fingerprint(&o.cert_sha256);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(extra: &str) -> Result<Settings, SettingsError> {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(&f, extra).unwrap();
        let s = Settings::load(Some(&f), None)?;
        check(&s)?;
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
