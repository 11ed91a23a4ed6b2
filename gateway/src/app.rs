//! The composition root: opens the store and starts the API, the portal, the admin
//! listener and audit retention (`sammen serve`), startable in-process.
//!
//! [`start`] opens the store, loads the policy set, builds the connector registry, opens
//! the audit log, loads the caseworker issuer's keys, binds the listener and serves until
//! [`RunningGateway::shutdown`]. [`start_with_store`] does the same over a store the caller
//! already opened (the demo and the in-process tests share it with their own `Ledger`).
//!
//! With `[portal]` it starts the citizen portal ([`crate::portal`]), with `[admin]` the
//! operators' listener ([`crate::admin`]); audit retention runs either way.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use connectors::Registry;
use consent::audit::{AuditConfig, AuditLog};
use consent::{ConsentService, Ledger, SharedStore};
use ed25519_dalek::SigningKey;
use policies::PolicyEngine;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::core::clock::{Clock, SystemClock};
use crate::core::facts::{RegisterResidence, ResidenceLookup, UnknownResidence};
use crate::core::{Core, CoreConfig};
use crate::http::tls::ListenError;
use crate::settings::{Settings, SettingsError};
use connectors::person::PersonRegister;

/// Why the gateway did not start. Each names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error("the domain configuration: {0}")]
    Domain(String),
    #[error("the store in {path}: {message}")]
    Store { path: PathBuf, message: String },
    #[error("the policy set: {0}")]
    Policies(#[from] policies::PolicyError),
    #[error("the connectors: {0}")]
    Connectors(#[from] connectors::ConfigError),
    #[error("the audit log: {0}")]
    Audit(#[from] consent::audit::AuditError),
    #[error("the audit signing key {path}: {message}")]
    SigningKey { path: PathBuf, message: String },
    #[error(transparent)]
    Listen(#[from] ListenError),
    #[error(transparent)]
    Api(#[from] crate::api::ApiStartError),
    #[error(transparent)]
    Portal(#[from] crate::portal::PortalError),
    #[error("sending to GPs: {0}")]
    Health(String),
}

/// A serving gateway. Dropping it asks it to stop; [`RunningGateway::shutdown`] waits.
pub struct RunningGateway {
    /// The bound address (the configured port, or the one picked for port 0).
    pub addr: SocketAddr,
    /// The citizen portal's address, when `[portal]` is configured.
    pub portal_addr: Option<SocketAddr>,
    portal_task: Option<JoinHandle<()>>,
    core: Core,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
    admin: Option<crate::admin::RunningAdmin>,
    _policy_watch: Option<policies::Watcher>,
}

impl RunningGateway {
    /// `https://localhost:PORT` (the development certificates name `localhost`).
    pub fn url(&self) -> String {
        format!("https://localhost:{}", self.addr.port())
    }

    /// The admin listener's address, when `[admin]` is configured.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(|a| a.addr)
    }

    pub fn audit(&self) -> &AuditLog<SharedStore> {
        &self.core.audit
    }

    pub fn ledger(&self) -> &Ledger<SharedStore> {
        &self.core.ledger
    }

    pub fn consents(&self) -> &ConsentService<SharedStore> {
        &self.core.consents
    }

    /// Stops accepting, lets open requests finish (up to 10 s), and returns.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
        if let Some(t) = self.portal_task.take() {
            let _ = t.await;
        }
        if let Some(a) = self.admin.take() {
            let _ = a.task.await;
        }
    }

    /// Serves until ctrl-c or SIGTERM, then shuts down gracefully.
    pub async fn run_until_signal(self) -> std::io::Result<()> {
        #[cfg(unix)]
        {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            tokio::select! {
                r = tokio::signal::ctrl_c() => r?,
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        tokio::signal::ctrl_c().await?;
        tracing::info!("shutting down");
        self.shutdown().await;
        Ok(())
    }
}

impl Drop for RunningGateway {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Opens the configured store (`[store]`) and starts the gateway.
pub async fn start(settings: Settings) -> Result<RunningGateway, StartError> {
    let store =
        settings.store.engine().and_then(|engine| consent::store::open(&engine, &settings.data_dir)).map_err(|e| {
            StartError::Store { path: settings.store.describe(&settings.data_dir).into(), message: e.to_string() }
        })?;
    start_with_store(settings, store).await
}

/// Starts the gateway over an already opened store.
pub async fn start_with_store(settings: Settings, store: SharedStore) -> Result<RunningGateway, StartError> {
    settings.check_for_serve()?;
    let rules = settings.domain.clone().into_rules().map_err(|e| StartError::Domain(e.to_string()))?;
    let engine = Arc::new(PolicyEngine::load_or_builtin(settings.policies.dir.as_deref(), &rules)?);
    let registry = Registry::from_config_with(&settings.connectors, &crate::core::metrics::measured_kinds())?;
    for c in rules.vocabulary.categories.keys() {
        if registry.for_category(c).is_none() {
            tracing::warn!(category = %c, "no connector serves this category; its sections will be unavailable");
        }
    }
    let key_path = settings.audit.key_file(&settings.data_dir);
    let key = signing_key(&key_path, settings.audit.may_create_key())?;
    let receipt_key = key.clone();
    // The one clock: the core, every surface and the audit writer's checkpoints read it.
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    // Where citizens live: the person register when `[residence]` names one; otherwise the
    // municipality is unknown and no statute that needs it applies (fail closed).
    let residence: Arc<dyn ResidenceLookup> = match &settings.residence {
        Some(r) => Arc::new(RegisterResidence::new(
            PersonRegister::from_config(&r.source)?,
            clock.clone(),
            Duration::from_millis(r.cache_ms),
        )),
        None => Arc::new(UnknownResidence),
    };
    let audit = open_audit(&settings, store.clone(), key, clock.clone()).await?;
    let health = match &settings.health {
        Some(h) => Some(health_sending(&settings, h)?),
        None => None,
    };
    let core = Core::new(CoreConfig {
        ledger: Ledger::new(store, rules),
        audit,
        engine: engine.clone(),
        registry,
        case_file_deadline: Duration::from_millis(settings.server.case_file_deadline_ms),
        clock,
        residence,
        health,
    });
    let (stop, stopped) = watch::channel(false);
    if core.sends_health_messages() {
        let owner = format!("sammen-{}", uuid::Uuid::new_v4().simple());
        tokio::spawn(crate::core::sender::run(core.clone(), owner, stopped.clone()));
    }
    let api = crate::api::start(&settings, core.clone(), stopped.clone()).await?;
    let portal = match &settings.portal {
        Some(p) => Some(
            crate::portal::start(p, &settings.server, &settings.limits, &core, receipt_key, stopped.clone()).await?,
        ),
        None => None,
    };
    tokio::spawn(crate::admin::retention::run(
        core.audit.clone(),
        settings.audit.retention_days(),
        core.clock.clone(),
        stopped.clone(),
    ));
    let admin = match &settings.admin {
        Some(a) => Some(crate::admin::start(&settings, a, core.clone(), stopped.clone()).await?),
        None => None,
    };
    let policy_watch = match policies::watch(engine) {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the policy directory; reload needs a restart");
            None
        }
    };
    tracing::info!(addr = %api.addr, systems = settings.systems.len(), "gateway listening");
    Ok(RunningGateway {
        addr: api.addr,
        portal_addr: portal.as_ref().map(|p| p.addr),
        portal_task: portal.map(|p| p.task),
        core,
        stop,
        task: Some(api.task),
        admin,
        _policy_watch: policy_watch,
    })
}

/// The health hub and our identity as a sender, from `[health]` and the connector it names.
fn health_sending(
    settings: &Settings,
    h: &crate::settings::health::HealthSettings,
) -> Result<crate::core::send::HealthSending, StartError> {
    let source = settings.connectors.sources.get(&h.source).ok_or_else(|| {
        StartError::Health(format!("[health] source {:?} is not a [connectors.sources] entry", h.source))
    })?;
    let hub = connectors::health_hub::HealthHub::new(&h.source, source)?;
    let us = connectors::medcom::outgoing::Addressee::new(&h.our_ean, &h.our_name)
        .map_err(|e| StartError::Health(format!("[health] our_ean/our_name: {e}")))?;
    let mut sending = crate::core::send::HealthSending::new(hub, us);
    sending.lease = Duration::from_millis(h.lease_ms.max(1));
    sending.max_attempts = h.max_attempts.max(1);
    sending.backoff = Duration::from_millis(h.backoff_ms);
    sending.poll = Duration::from_millis(h.poll_ms.max(10));
    Ok(sending)
}

/// Opens the audit log over the store. On PostgreSQL a database that cannot be reached
/// (down, failing over) is waited for, with a warning per attempt and a growing pause (at
/// most 5 s): an instance started before its database comes up when the database does.
/// Every other failure (a newer schema, a bad URL, a log that does not verify) ends the
/// start at once.
async fn open_audit(
    settings: &Settings,
    store: SharedStore,
    key: SigningKey,
    clock: Arc<dyn Clock>,
) -> Result<AuditLog<SharedStore>, StartError> {
    let mut pause = Duration::from_millis(200);
    loop {
        let config = AuditConfig { clock: clock.clone(), ..AuditConfig::default() };
        match AuditLog::open(store.clone(), key.clone(), config).await {
            Err(consent::audit::AuditError::Store(consent::StoreError::Io(e)))
                if settings.store.kind == crate::settings::StoreKind::Postgres =>
            {
                tracing::warn!(error = %e, retry_in_ms = pause.as_millis() as u64, "the database is not reachable; waiting for it");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
            other => return Ok(other?),
        }
    }
}

/// Reads the audit signing key (64 hex digits: the Ed25519 seed), creating it on first
/// start when allowed (mode 0600).
pub fn signing_key(path: &Path, create: bool) -> Result<SigningKey, StartError> {
    let err = |m: String| StartError::SigningKey { path: path.to_path_buf(), message: m };
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let bytes = hex::decode(text.trim()).map_err(|e| err(format!("not hex: {e}")))?;
            let seed: [u8; 32] = bytes.try_into().map_err(|_| err("must be 32 bytes (64 hex digits)".into()))?;
            Ok(SigningKey::from_bytes(&seed))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
            let key = consent::audit::generate_signing_key();
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
            }
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut f = opts.open(path).map_err(|e| err(e.to_string()))?;
            writeln!(f, "{}", hex::encode(key.to_bytes())).map_err(|e| err(e.to_string()))?;
            f.sync_all().map_err(|e| err(e.to_string()))?;
            tracing::info!(path = %path.display(), "created a new audit signing key");
            Ok(key)
        }
        Err(e) => Err(err(e.to_string())),
    }
}
