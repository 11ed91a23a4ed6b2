//! Configuration: the compiled-in defaults (`config/default.toml`), then the file given
//! with `--config`, then environment variables `SAMMEN_<SECTION>__<KEY>`.
//!
//! The gateway's own sections (`[server]`, `[[systems]]`, `[caseworker_issuer]`,
//! `[connectors]`, `[policies]`, `[audit]`) are described on their types below; `sammen
//! serve` refuses to start when one it needs is missing or inconsistent
//! ([`Settings::check_for_serve`]).

pub mod admin;
pub mod health;
pub mod notifications;
pub mod portal;
pub mod representation;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use connectors::ConnectorsConfig;
use consent::{DomainConfig, Purpose, UnitId};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// Where the embedded store keeps its files.
    pub data_dir: PathBuf,
    pub domain: DomainConfig,
    /// `[store]`: which engine keeps consents, the audit log and sessions.
    #[serde(default)]
    pub store: StoreSettings,
    #[serde(default)]
    pub server: ServerSettings,
    /// `[limits]`: connection and request limits of every listener (see `crate::http::limits`).
    #[serde(default)]
    pub limits: crate::http::limits::ConnectionLimits,
    /// The caseworker systems allowed to call the API, each identified by its client certificate.
    #[serde(default)]
    pub systems: Vec<SystemSettings>,
    /// The identity provider whose tokens identify caseworkers.
    #[serde(default)]
    pub caseworker_issuer: Option<IssuerSettings>,
    /// The source systems (see `connectors::ConnectorsConfig`).
    #[serde(default)]
    pub connectors: ConnectorsConfig,
    /// `[residence]`: the person register that says where a citizen lives; when absent the
    /// municipality is unknown and no statute that needs it applies (fail closed).
    #[serde(default)]
    pub residence: Option<ResidenceSettings>,
    /// `[representation]`: the power-of-attorney registry and the holders' pseudonym key;
    /// when absent nobody can act for another person.
    #[serde(default)]
    pub representation: Option<representation::RepresentationSettings>,
    /// `[notifications]`: letters to citizens in their Digital Post mailbox; off when absent.
    #[serde(default)]
    pub notifications: Option<notifications::NotificationSettings>,
    /// `[health]`: sending to citizens' GPs through the health hub; off when absent.
    #[serde(default)]
    pub health: Option<health::HealthSettings>,
    #[serde(default)]
    pub policies: PolicySettings,
    #[serde(default)]
    pub audit: AuditSettings,
    /// The citizen portal (`[portal]`, see `portal::PortalSettings`); off when absent.
    #[serde(default)]
    pub portal: Option<portal::PortalSettings>,
    /// `[admin]`: the operators' listener (metrics, health, audit queries and proofs); off
    /// when absent. See `crate::admin`.
    #[serde(default)]
    pub admin: Option<admin::AdminSettings>,
    /// `[[operators]]`: who may use the admin listener, by client certificate.
    #[serde(default)]
    pub operators: Vec<admin::OperatorSettings>,
}

/// `[store]`: the storage engine, chosen at open time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreSettings {
    /// `sled` (the embedded default, in `<data_dir>/store`) or `postgres` (shared by any
    /// number of instances; needs `url`).
    pub kind: StoreKind,
    /// PostgreSQL: a libpq connection string or `postgresql://` URL; several hosts with
    /// `target_session_attrs=read-write` find the primary after a failover. Prefer setting it
    /// through the environment (`SAMMEN_STORE__URL`) when it holds a password.
    pub url: Option<String>,
    /// PostgreSQL: the most connections one instance holds.
    pub pool_size: usize,
    /// PostgreSQL: a statement running longer is cancelled.
    pub statement_timeout_ms: u64,
    /// PostgreSQL: a lock not granted within this fails the statement (e.g. the audit log's
    /// head while another instance's batch is stuck).
    pub lock_timeout_ms: u64,
    /// PostgreSQL: connecting, or waiting for a pooled connection, gives up after this.
    pub connect_timeout_ms: u64,
    /// PostgreSQL: PEM, CA certificates to trust for TLS (`sslmode=require` in the URL).
    pub ca_file: Option<PathBuf>,
    /// sled: the most MiB of pages kept in memory (default 1024, sled's own). A decision's
    /// lookup that misses it reads from disk: size it to the store's working set (the
    /// active index and the recent audit log; BENCHMARKS.md, the scale curve).
    pub cache_mb: u64,
}

/// `[store] kind`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    #[default]
    Sled,
    Postgres,
}

impl Default for StoreSettings {
    fn default() -> Self {
        let pg = consent::PostgresOptions::new("");
        Self {
            kind: StoreKind::Sled,
            url: None,
            pool_size: pg.pool_size,
            statement_timeout_ms: pg.statement_timeout.as_millis() as u64,
            lock_timeout_ms: pg.lock_timeout.as_millis() as u64,
            connect_timeout_ms: pg.connect_timeout.as_millis() as u64,
            ca_file: None,
            cache_mb: consent::SledOptions::default().cache_bytes / (1024 * 1024),
        }
    }
}

impl StoreSettings {
    /// The engine to open, or why these settings name none.
    pub fn engine(&self) -> Result<consent::Engine, consent::StoreError> {
        match self.kind {
            StoreKind::Sled => Ok(consent::Engine::Sled(consent::SledOptions {
                cache_bytes: self.cache_mb.saturating_mul(1024 * 1024),
            })),
            StoreKind::Postgres => {
                let url = self.url.as_deref().filter(|u| !u.trim().is_empty()).ok_or_else(|| {
                    consent::StoreError::Config("[store] kind = \"postgres\" needs [store] url".into())
                })?;
                let ms = std::time::Duration::from_millis;
                Ok(consent::Engine::Postgres(consent::PostgresOptions {
                    url: url.to_owned(),
                    pool_size: self.pool_size,
                    statement_timeout: ms(self.statement_timeout_ms),
                    lock_timeout: ms(self.lock_timeout_ms),
                    connect_timeout: ms(self.connect_timeout_ms),
                    ca_file: self.ca_file.clone(),
                }))
            }
        }
    }

    /// Where the data is, for messages: the data directory or "PostgreSQL" (never the URL,
    /// which may hold a password).
    pub fn describe(&self, data_dir: &std::path::Path) -> String {
        match self.kind {
            StoreKind::Sled => data_dir.join("store").display().to_string(),
            StoreKind::Postgres => "PostgreSQL ([store] url)".into(),
        }
    }
}

/// `[server]`: the HTTPS listener.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// Address and port to listen on; port 0 picks a free one (printed at start-up).
    pub listen: SocketAddr,
    /// PEM: the server's certificate chain.
    pub cert_file: Option<PathBuf>,
    /// PEM: the server's private key.
    pub key_file: Option<PathBuf>,
    /// PEM: the CA(s) that issue caseworker systems' client certificates.
    pub client_ca_file: Option<PathBuf>,
    /// A TLS handshake not finished within this is dropped (every listener).
    pub handshake_timeout_ms: u64,
    /// All sources of one case file must answer within this; late sections are `timeout`.
    pub case_file_deadline_ms: u64,
    /// Request bodies larger than this are refused (413).
    pub body_limit_bytes: usize,
    /// Connections served at once by the API and the portal listener (the admin listener: at
    /// most 64); further ones wait to be accepted.
    pub max_connections: usize,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            cert_file: None,
            key_file: None,
            client_ca_file: None,
            handshake_timeout_ms: 10_000,
            case_file_deadline_ms: 5_000,
            body_limit_bytes: 64 * 1024,
            max_connections: 1024,
        }
    }
}

/// `[[systems]]`: one registered caseworker system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemSettings {
    /// Stable id, recorded in the audit log (e.g. `kk-sagssystem`).
    pub id: String,
    /// The organisation the system belongs to; its caseworkers' units must lie within it.
    pub organisation: UnitId,
    /// The purposes the system may ask for.
    pub purposes: Vec<Purpose>,
    /// SHA-256 (hex, colons allowed) of the client certificate (DER). Preferred.
    #[serde(default)]
    pub cert_sha256: Option<String>,
    /// Or: the client certificate's subject common name. Only safe when the client CA
    /// issues certificates for caseworker systems alone.
    #[serde(default)]
    pub cert_subject_cn: Option<String>,
    /// Whether the system may register consents citizens signed on paper
    /// (`POST /api/v1/paper-consents`). Off unless set.
    #[serde(default)]
    pub paper_consents: bool,
}

/// `[caseworker_issuer]`: the trusted issuer of caseworker tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerSettings {
    /// The `iss` claim tokens must carry.
    pub issuer: String,
    /// The `aud` claim tokens must carry (this gateway).
    pub audience: String,
    /// Where the issuer publishes its JWKS (https:// or http://).
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// Or: a JWKS document on disk.
    #[serde(default)]
    pub jwks_file: Option<PathBuf>,
    /// PEM: CA(s) to trust for `jwks_url` instead of the built-in roots.
    #[serde(default)]
    pub jwks_ca_file: Option<PathBuf>,
    /// How long a fetched key set is used before it is fetched again.
    #[serde(default = "default_jwks_refresh")]
    pub jwks_refresh_secs: u64,
    /// Clock skew allowed on `exp` and `nbf`.
    #[serde(default = "default_leeway")]
    pub leeway_secs: u64,
    #[serde(default)]
    pub claims: ClaimNames,
    /// Refuse tokens that are not bound to the presented client certificate (RFC 8705
    /// `cnf` `x5t#S256`). Bound tokens are always checked against the certificate; this
    /// also refuses unbound ones. Turn on once the issuer binds its tokens.
    #[serde(default)]
    pub require_certificate_binding: bool,
}

fn default_jwks_refresh() -> u64 {
    300
}
fn default_leeway() -> u64 {
    30
}

/// The names of the claims that carry the caseworker's id, unit and roles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClaimNames {
    pub caseworker: String,
    pub unit: String,
    /// An array of strings, or one space-separated string.
    pub roles: String,
}

impl Default for ClaimNames {
    fn default() -> Self {
        ClaimNames { caseworker: "sub".into(), unit: "unit".into(), roles: "roles".into() }
    }
}

/// `[residence]`: the person register (`connectors::person`).
///
/// ```toml
/// [residence]
/// cache_ms = 10000
/// [residence.source]
/// base_url = "https://cpr.example"
/// ca_file = "cpr-ca.pem"
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResidenceSettings {
    /// Where the register is and how it is trusted (as a `[connectors.sources.*]` entry;
    /// `categories` and `options` are not used).
    pub source: connectors::SourceConfig,
    /// How long an answer is used before the register is asked again (0: every
    /// request asks). Short: a citizen who moves is covered by the new municipality after
    /// at most this long.
    #[serde(default = "default_residence_cache_ms")]
    pub cache_ms: u64,
}

fn default_residence_cache_ms() -> u64 {
    10_000
}

/// `[policies]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicySettings {
    /// A policy directory (`schema.cedarschema` and `policy-set/*.cedar`), watched and
    /// reloaded when its files change. Default: none, the policy set compiled into the
    /// binary (the repository's `policies/` when it was built), which never changes.
    pub dir: Option<PathBuf>,
}

/// `[audit]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditSettings {
    /// The Ed25519 key that signs checkpoints: 64 hex digits (the 32-byte seed). Default
    /// `<data_dir>/audit-signing.key`.
    pub signing_key_file: Option<PathBuf>,
    /// Create the key file with a fresh key when it does not exist (first start).
    pub create_signing_key: Option<bool>,
    /// Records older than this many days lose their payload (their leaf hashes stay).
    /// Default 730 (two years, as sundhed.dk keeps its access log).
    pub retention_days: Option<u32>,
    /// The log's name in its signed-note checkpoints (`GET /admin/v1/audit/checkpoint/note`),
    /// also the name of the key: a schema-less URL such as `audit.kommune.dk/sammen`, no
    /// spaces or `+`. Default `sammen.audit/<key id>`.
    pub origin: Option<String>,
}

impl AuditSettings {
    pub fn key_file(&self, data_dir: &Path) -> PathBuf {
        self.signing_key_file.clone().unwrap_or_else(|| data_dir.join("audit-signing.key"))
    }

    pub fn may_create_key(&self) -> bool {
        self.create_signing_key.unwrap_or(true)
    }

    pub fn retention_days(&self) -> u32 {
        self.retention_days.unwrap_or(730)
    }

    /// The configured origin of checkpoint notes, checked; `None` for the default.
    pub fn origin(&self) -> Result<Option<consent::audit::Origin>, consent::audit::NoteError> {
        self.origin.clone().map(consent::audit::Origin::new).transpose()
    }
}

#[derive(Serialize)]
struct Overrides<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    data_dir: Option<&'a Path>,
}

/// Why the configuration cannot serve.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    #[error("configuration file {0} does not exist")]
    NoSuchFile(PathBuf),
    #[error("configuration: {0}")]
    Invalid(String),
}

impl Settings {
    pub fn load(file: Option<&Path>, data_dir: Option<&Path>) -> Result<Settings, SettingsError> {
        Self::load_with_env(file, data_dir, Env::prefixed("SAMMEN_").split("__"))
    }

    /// [`Settings::load`] with the environment variables' layer given (the tests give
    /// variables that are not in the process's environment).
    fn load_with_env(
        file: Option<&Path>,
        data_dir: Option<&Path>,
        env: impl figment::Provider,
    ) -> Result<Settings, SettingsError> {
        let mut fig =
            Figment::new().merge(Serialized::default("data_dir", "data")).merge(Toml::string(consent::DEFAULT_CONFIG));
        if let Some(f) = file {
            if !f.exists() {
                return Err(SettingsError::NoSuchFile(f.to_path_buf()));
            }
            fig = fig.merge(Toml::file(f));
        }
        fig = fig.merge(env).merge(Serialized::defaults(Overrides { data_dir }));
        fig.extract().map_err(|e| SettingsError::Load(Box::new(e)))
    }

    /// Checks what `sammen serve` needs beyond what deserialization checks.
    pub fn check_for_serve(&self) -> Result<(), SettingsError> {
        let bad = |m: String| Err(SettingsError::Invalid(m));
        let s = &self.server;
        if s.cert_file.is_none() || s.key_file.is_none() {
            return bad("[server] needs cert_file and key_file (PEM)".into());
        }
        if s.client_ca_file.is_none() {
            return bad("[server] needs client_ca_file: the CA that issues caseworker systems' certificates".into());
        }
        if s.case_file_deadline_ms == 0 || s.handshake_timeout_ms == 0 || s.max_connections == 0 {
            return bad("[server] timeouts and max_connections must be positive".into());
        }
        self.limits.check().map_err(SettingsError::Invalid)?;
        let Some(issuer) = &self.caseworker_issuer else {
            return bad("[caseworker_issuer] is missing: who issues caseworkers' tokens?".into());
        };
        if issuer.jwks_url.is_some() == issuer.jwks_file.is_some() {
            return bad("[caseworker_issuer] needs exactly one of jwks_url and jwks_file".into());
        }
        admin::check(self)?;
        if let Some(n) = &self.notifications {
            n.check().map_err(SettingsError::Invalid)?;
        }
        if let Some(r) = &self.representation {
            r.key().map_err(SettingsError::Invalid)?;
        }
        if self.systems.is_empty() {
            return bad("no [[systems]] are registered; no caseworker system could call the API".into());
        }
        let mut ids = std::collections::BTreeSet::new();
        for sys in &self.systems {
            if !ids.insert(sys.id.as_str()) {
                return bad(format!("system {:?} is registered twice", sys.id));
            }
            if sys.cert_sha256.is_none() && sys.cert_subject_cn.is_none() {
                return bad(format!("system {:?} needs cert_sha256 or cert_subject_cn", sys.id));
            }
            if let Some(fp) = &sys.cert_sha256 {
                let hex: String = fp.chars().filter(|c| *c != ':').collect();
                if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                    return bad(format!("system {:?}: cert_sha256 must be 64 hex digits", sys.id));
                }
            }
            if !self.domain.units.iter().any(|u| u.id == sys.organisation) {
                return bad(format!("system {:?}: unknown organisation unit {}", sys.id, sys.organisation));
            }
            for p in &sys.purposes {
                if !self.domain.purposes.contains_key(p) {
                    return bad(format!("system {:?}: unknown purpose {p}", sys.id));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod compose_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_load_and_file_overrides() {
        let s = Settings::load(None, None).unwrap();
        assert_eq!(s.domain.max_validity_months, 12);
        assert!(s.domain.units.iter().any(|u| u.id.as_str() == "kk.jobcenter"));
        assert_eq!(s.server.body_limit_bytes, 64 * 1024);
        assert_eq!(s.policies.dir, None, "the compiled-in policy set by default");

        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(&f, "[domain]\nmax_validity_months = 6\n").unwrap();
        let s = Settings::load(Some(&f), Some(Path::new("/tmp/x"))).unwrap();
        assert_eq!(s.domain.max_validity_months, 6);
        assert_eq!(s.policies.dir, None);
        assert_eq!(s.data_dir, Path::new("/tmp/x"));
        std::fs::write(&f, "[policies]\ndir = \"/etc/sammen/policies\"\n").unwrap();
        let s = Settings::load(Some(&f), None).unwrap();
        assert_eq!(s.policies.dir.as_deref(), Some(Path::new("/etc/sammen/policies")));
        assert!(Settings::load(Some(&dir.path().join("missing.toml")), None).is_err());
    }

    #[test]
    fn limits_have_safe_defaults_and_are_configurable() {
        let s = Settings::load(None, None).unwrap();
        assert_eq!(s.limits, crate::http::limits::ConnectionLimits::default());
        assert!(s.limits.idle_timeout_ms > 0 && s.limits.max_connections_per_address <= s.server.max_connections);
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(&f, "[limits]\nidle_timeout_ms = 5000\nmax_connections_per_address = 8\n").unwrap();
        let s = Settings::load(Some(&f), None).unwrap();
        assert_eq!((s.limits.idle_timeout_ms, s.limits.max_connections_per_address), (5000, 8));
        assert_eq!(s.limits.header_read_timeout_ms, 10_000, "the rest keep their defaults");
        std::fs::write(&f, "[limits]\nidle_timeout = 5\n").unwrap();
        assert!(Settings::load(Some(&f), None).is_err(), "an unknown key is refused");
        std::fs::write(&f, "[limits]\nrequest_timeout_ms = 0\n").unwrap();
        assert!(Settings::load(Some(&f), None).unwrap().limits.check().is_err());
    }

    #[test]
    fn the_person_register_is_configured_in_residence() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(&f, "[residence.source]\nbase_url = \"https://cpr.example\"\ntimeout_ms = 2000\n").unwrap();
        let s = Settings::load(Some(&f), None).unwrap();
        let r = s.residence.unwrap();
        assert_eq!(
            (r.source.base_url.as_str(), r.source.timeout_ms, r.cache_ms),
            ("https://cpr.example", 2000, 10_000)
        );
        std::fs::write(&f, "[residence]\ncache_ms = 0\n").unwrap();
        assert!(Settings::load(Some(&f), None).is_err(), "a register without a source is refused");
        std::fs::write(&f, "[residence]\nttl = 5\n[residence.source]\nbase_url = \"https://x\"\n").unwrap();
        assert!(Settings::load(Some(&f), None).is_err(), "an unknown key is refused");
    }

    #[test]
    fn a_bad_value_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(&f, "[[domain.units]]\nid = \"Bad Id\"\nname = \"x\"\nkind = \"other\"\n").unwrap();
        let e = Settings::load(Some(&f), None).unwrap_err().to_string();
        assert!(e.contains("unit id"), "{e}");
    }

    #[test]
    fn serve_sections_parse_and_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(
            &f,
            r#"
[server]
listen = "127.0.0.1:0"
cert_file = "server.pem"
key_file = "server.key"
client_ca_file = "clients.pem"

[[systems]]
id = "kk-sag"
organisation = "kk"
purposes = ["rehabilitation-team"]
cert_sha256 = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

[caseworker_issuer]
issuer = "https://idp.kk.example"
audience = "sammen"
jwks_file = "jwks.json"
claims = { unit = "org_unit" }

[connectors.sources.jobnet_cv]
base_url = "https://jobnet.example"
"#,
        )
        .unwrap();
        let s = Settings::load(Some(&f), None).unwrap();
        s.check_for_serve().unwrap();
        assert_eq!(s.residence, None, "no person register unless configured");
        let issuer = s.caseworker_issuer.as_ref().unwrap();
        assert_eq!(issuer.claims.unit, "org_unit");
        assert_eq!(issuer.claims.caseworker, "sub");
        assert_eq!(issuer.leeway_secs, 30);
        assert_eq!(s.connectors.sources.len(), 1);

        let mut bad = s.clone();
        bad.systems[0].purposes = vec![Purpose::parse("marketing").unwrap()];
        assert!(bad.check_for_serve().unwrap_err().to_string().contains("unknown purpose"));
        let mut bad = s.clone();
        bad.caseworker_issuer.as_mut().unwrap().jwks_url = Some("https://x".into());
        assert!(bad.check_for_serve().is_err());
        let mut bad = s;
        bad.systems[0].cert_sha256 = Some("abc".into());
        assert!(bad.check_for_serve().is_err());
    }

    #[test]
    fn store_settings_name_the_engine() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("gateway.toml");
        std::fs::write(&f, "[store]\nkind = \"postgres\"\n").unwrap();
        let s = Settings::load(Some(&f), None).unwrap();
        let e = s.store.engine().unwrap_err().to_string();
        assert!(e.contains("needs [store] url"), "{e}");

        std::fs::write(
            &f,
            "[store]\nkind = \"postgres\"\nurl = \"postgresql://sammen:pw@db1,db2/sammen?target_session_attrs=read-write\"\n\
             pool_size = 4\nstatement_timeout_ms = 1500\nlock_timeout_ms = 700\n",
        )
        .unwrap();
        let s = Settings::load(Some(&f), None).unwrap();
        match s.store.engine().unwrap() {
            consent::Engine::Postgres(o) => {
                assert_eq!(o.pool_size, 4);
                assert_eq!(o.statement_timeout, std::time::Duration::from_millis(1500));
                assert_eq!(o.lock_timeout, std::time::Duration::from_millis(700));
            }
            e => panic!("expected PostgreSQL, got {e:?}"),
        }
        assert!(!s.store.describe(&s.data_dir).contains("pw"), "the description quotes the URL");

        std::fs::write(&f, "[store]\nkind = \"postgres\"\nurll = \"x\"\n").unwrap();
        assert!(Settings::load(Some(&f), None).is_err(), "an unknown [store] key is refused");
        let s = Settings::load(None, None).unwrap();
        assert_eq!(s.store.engine().unwrap(), consent::Engine::sled(), "sled by default");

        std::fs::write(&f, "[store]\ncache_mb = 3072\n").unwrap();
        let s = Settings::load(Some(&f), None).unwrap();
        assert_eq!(
            s.store.engine().unwrap(),
            consent::Engine::Sled(consent::SledOptions { cache_bytes: 3 << 30 }),
            "[store] cache_mb sizes sled's page cache"
        );
    }
}
