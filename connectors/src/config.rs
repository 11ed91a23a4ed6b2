//! Connector configuration: which source serves which category, where, and how.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use consent::Category;
use serde::{Deserialize, Serialize};

/// All connectors, by id (e.g. `[connectors.sources.mediconnect]` in TOML).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorsConfig {
    #[serde(default)]
    pub sources: BTreeMap<String, SourceConfig>,
}

/// One connector instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// The implementation (`mediconnect`, `jobcenter`, `social`, `jobnet_cv`, or one
    /// registered with [`crate::Kinds::register`]); defaults to the connector's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// `http://` or `https://` base URL of the source.
    pub base_url: String,
    /// The categories this connector serves; empty means all the implementation can.
    #[serde(default)]
    pub categories: Vec<Category>,
    /// The whole fetch (all attempts) must finish within this.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Retries after the first attempt, for idempotent reads only.
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// Back-off before the first retry; doubled for each further retry.
    #[serde(default = "default_backoff_ms")]
    pub backoff_ms: u64,
    /// Larger answers are `invalid_response`.
    #[serde(default = "default_max_response_bytes")]
    pub max_response_bytes: usize,
    /// PEM file with the CA certificate(s) to trust for this source (instead of the
    /// built-in roots).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// The same, inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_pem: Option<String>,
    /// PEM file holding our client certificate chain and private key (mTLS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_identity_file: Option<PathBuf>,
    /// The same, inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_identity_pem: Option<String>,
    /// Settings particular to the implementation (e.g. `our_ean` for mediconnect).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
}

fn default_timeout_ms() -> u64 {
    5_000
}
fn default_max_retries() -> u32 {
    2
}
fn default_backoff_ms() -> u64 {
    100
}
fn default_max_response_bytes() -> usize {
    4 * 1024 * 1024
}

impl SourceConfig {
    /// A configuration with the defaults for everything but the base URL.
    pub fn new(base_url: impl Into<String>) -> Self {
        SourceConfig {
            kind: None,
            base_url: base_url.into(),
            categories: Vec::new(),
            timeout_ms: default_timeout_ms(),
            max_retries: default_max_retries(),
            backoff_ms: default_backoff_ms(),
            max_response_bytes: default_max_response_bytes(),
            ca_file: None,
            ca_pem: None,
            client_identity_file: None,
            client_identity_pem: None,
            options: BTreeMap::new(),
        }
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

/// Why a configuration cannot be used. Names the connector id.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("connector {id:?}: unknown kind {kind:?}; known kinds: {known}")]
    UnknownKind { id: String, kind: String, known: String },
    #[error("connector {id:?} ({kind}) does not serve category {category:?}")]
    CategoryNotServed { id: String, kind: String, category: String },
    #[error("category {category:?} is served by both {first:?} and {second:?}")]
    DuplicateCategory { category: String, first: String, second: String },
    #[error("connector {id:?}: {reason}")]
    Invalid { id: String, reason: String },
    #[error("connector {id:?}: cannot read {path}: {source}")]
    Io {
        id: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_with_defaults() {
        let cfg: ConnectorsConfig = toml_like(
            r#"{"sources":{"mediconnect":{"base_url":"https://hub.example","categories":["health.lae265"]}}}"#,
        );
        let s = &cfg.sources["mediconnect"];
        assert_eq!(s.timeout_ms, 5000);
        assert_eq!(s.max_retries, 2);
        assert_eq!(s.categories[0].as_str(), "health.lae265");
    }

    fn toml_like(json: &str) -> ConnectorsConfig {
        serde_json::from_str(json).unwrap()
    }
}
