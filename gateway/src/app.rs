//! The composition root: opens the store and starts the API, the portal, the admin
//! listener and audit retention (`sammen serve`), startable in-process.
//!
//! [`start`] opens the store, loads the policy set, builds the connector registry, loads
//! the caseworker issuer's keys, binds the listeners (each answering 503 until the store is
//! open, `crate::http::deferred`), opens the audit log and serves until
//! [`RunningGateway::shutdown`]. A PostgreSQL database that is not reachable at start is
//! waited for in the background, the listeners up and saying so (`/readyz`: "store:
//! connecting"). [`start_with_store`] does the same over a store the caller already opened
//! (the demo and the in-process tests share it with their own `Ledger`), and returns only
//! once it serves.
//!
//! With `[portal]` it starts the citizen portal ([`crate::portal`]), with `[admin]` the
//! operators' listener ([`crate::admin`]); audit retention runs either way.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
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
    #[error("[audit] origin: {0}")]
    Origin(#[from] consent::audit::NoteError),
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
    /// Set once the store has opened (at once, unless a PostgreSQL database was not
    /// reachable at start: then by `opening`).
    core: Arc<OnceLock<Core>>,
    /// Opening the store in the background: ends once the core is in place, or with why
    /// the store cannot be used.
    opening: Option<JoinHandle<Result<(), StartError>>>,
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

    /// Whether the store has opened and every listener serves (else they answer 503).
    pub fn is_open(&self) -> bool {
        self.core.get().is_some()
    }

    /// The core. A gateway from [`start_with_store`] always has it; one from [`start`]
    /// only once [`RunningGateway::is_open`] (a database down at start).
    fn core(&self) -> &Core {
        self.core.get().expect("the store is open (start_with_store returns only then)")
    }

    pub fn audit(&self) -> &AuditLog<SharedStore> {
        &self.core().audit
    }

    pub fn ledger(&self) -> &Ledger<SharedStore> {
        &self.core().ledger
    }

    pub fn consents(&self) -> &ConsentService<SharedStore> {
        &self.core().consents
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
        if let Some(t) = self.opening.take() {
            let _ = t.await;
        }
    }

    /// Serves until ctrl-c or SIGTERM, then shuts down gracefully. Ends with an error when
    /// a store that was not reachable at start turns out not to be usable (e.g. a newer
    /// schema) once it is.
    pub async fn run_until_signal(mut self) -> std::io::Result<()> {
        let opening = self.opening.take();
        let failed = async move {
            match opening {
                Some(t) => match t.await {
                    Ok(Ok(())) => std::future::pending::<String>().await,
                    Ok(Err(e)) => e.to_string(),
                    Err(e) => format!("opening the store failed: {e}"),
                },
                None => std::future::pending::<String>().await,
            }
        };
        #[cfg(unix)]
        {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            tokio::select! {
                r = tokio::signal::ctrl_c() => r?,
                _ = term.recv() => {}
                why = failed => {
                    tracing::error!(error = %why, "the store cannot be used; stopping");
                    self.shutdown().await;
                    return Err(std::io::Error::other(why));
                }
            }
        }
        #[cfg(not(unix))]
        tokio::select! {
            r = tokio::signal::ctrl_c() => r?,
            why = failed => {
                self.shutdown().await;
                return Err(std::io::Error::other(why));
            }
        }
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

/// Opens the configured store (`[store]`) and starts the gateway. On PostgreSQL a database
/// that cannot be reached at start (down, failing over) does not hold up the listeners:
/// they answer at once, 503 for anything that needs the store (`/readyz`: "store:
/// connecting"), while the store is tried again in the background (a warning per attempt,
/// a growing pause of at most 5 s); once it opens, every listener serves. Every other
/// failure (a newer schema, a bad URL, a log that does not verify) ends the start, or,
/// found in the background, the process.
pub async fn start(settings: Settings) -> Result<RunningGateway, StartError> {
    let store =
        settings.store.engine().and_then(|engine| consent::store::open(&engine, &settings.data_dir)).map_err(|e| {
            StartError::Store { path: settings.store.describe(&settings.data_dir).into(), message: e.to_string() }
        })?;
    let wait = settings.store.kind == crate::settings::StoreKind::Postgres;
    launch(settings, store, wait).await
}

/// Starts the gateway over an already opened store; returns once it serves (an unreachable
/// store is an error here).
pub async fn start_with_store(settings: Settings, store: SharedStore) -> Result<RunningGateway, StartError> {
    launch(settings, store, false).await
}

/// What the gateway needs from start to the store's opening, and the listeners waiting for it.
struct Opening {
    store: SharedStore,
    key: SigningKey,
    clock: Arc<dyn Clock>,
    rules: consent::Rules,
    engine: Arc<PolicyEngine>,
    registry: Registry,
    residence: Arc<dyn ResidenceLookup>,
    /// `[representation]`: acting for someone else, when configured.
    representation: Option<Arc<crate::core::representation::Representation>>,
    case_file_deadline: Duration,
    retention_days: u32,
    /// The audit log's name in its signed notes (`[audit] origin`).
    origin: Option<consent::audit::Origin>,
    /// `[notifications]`: letters to citizens, when configured.
    notifications: Option<crate::settings::notifications::NotificationSettings>,
    /// `[health]`: sending to citizens' GPs, when configured.
    health: Option<crate::core::send::HealthSending>,
    api: crate::api::PendingApi,
    portal: Option<crate::portal::PendingPortal>,
    admin: Option<crate::admin::PendingAdmin>,
    stopped: watch::Receiver<bool>,
    core: Arc<OnceLock<Core>>,
}

impl Opening {
    /// One attempt to open the audit log over the store.
    async fn audit(&self) -> Result<AuditLog<SharedStore>, consent::audit::AuditError> {
        let config = AuditConfig { clock: self.clock.clone(), origin: self.origin.clone(), ..AuditConfig::default() };
        AuditLog::open(self.store.clone(), self.key.clone(), config).await
    }

    /// Builds the core and hands it to every listener (the admin listener last, so
    /// readiness turns only when everything serves); starts audit retention.
    fn serve(self, audit: AuditLog<SharedStore>) {
        let receipt_key = self.key.clone();
        let core = Core::new(CoreConfig {
            ledger: Ledger::new(self.store, self.rules),
            audit,
            engine: self.engine,
            registry: self.registry,
            case_file_deadline: self.case_file_deadline,
            clock: self.clock,
            residence: self.residence,
            health: self.health,
            representation: self.representation,
        });
        if core.sends_health_messages() {
            let owner = format!("sammen-{}", uuid::Uuid::new_v4().simple());
            tokio::spawn(crate::core::sender::run(core.clone(), owner, self.stopped.clone()));
        }
        self.api.open(core.clone());
        if let Some(p) = self.portal {
            p.open(&core, receipt_key, self.notifications.is_some());
        }
        if let Some(n) = &self.notifications {
            match crate::core::notify::Notifier::new(n, core.audit.clone(), core.ledger.clone(), core.clock.clone()) {
                Ok(mut notifier) => {
                    notifier.representation = core.representation.clone();
                    tokio::spawn(notifier.run(self.stopped.clone()));
                }
                // Checked at start (`launch`), so this does not happen.
                Err(e) => tracing::error!(error = %e, "notifications are off: the mailbox is misconfigured"),
            }
        }
        tokio::spawn(crate::admin::retention::run(
            core.audit.clone(),
            self.retention_days,
            core.clock.clone(),
            self.stopped.clone(),
        ));
        if let Some(a) = self.admin {
            a.open(core.clone());
        }
        let _ = self.core.set(core);
    }

    /// Tries again until the store opens (then serves), the gateway stops, or the store
    /// fails otherwise than by not being reachable.
    async fn retry(self) -> Result<(), StartError> {
        let mut pause = Duration::from_millis(200);
        let mut stopped = self.stopped.clone();
        loop {
            tracing::warn!(retry_in_ms = pause.as_millis() as u64, "the database is not reachable; waiting for it");
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = stopped.wait_for(|s| *s) => return Ok(()),
            }
            pause = (pause * 2).min(Duration::from_secs(5));
            match self.audit().await {
                Ok(audit) => {
                    tracing::info!("the database is reachable; the store is open and the gateway serves");
                    self.serve(audit);
                    return Ok(());
                }
                Err(consent::audit::AuditError::Store(consent::StoreError::Io(e))) => {
                    tracing::warn!(error = %e, "opening the store failed");
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Binds every listener (503 until the store opens), then opens the store: at once, or,
/// with `wait_for_database` and a store that is not reachable, in the background.
async fn launch(settings: Settings, store: SharedStore, wait_for_database: bool) -> Result<RunningGateway, StartError> {
    // Before anything signs or verifies a token: jsonwebtoken fixes its backend on first use.
    crate::http::jwt_crypto::install();
    settings.check_for_serve()?;
    let rules = settings.domain.clone().into_rules().map_err(|e| StartError::Domain(e.to_string()))?;
    let engine = Arc::new(PolicyEngine::load_or_builtin(settings.policies.dir.as_deref(), &rules)?);
    let registry = Registry::from_config_with(&settings.connectors, &crate::core::metrics::measured_kinds())?;
    for c in rules.vocabulary.categories.keys() {
        if registry.for_category(c).is_none() {
            tracing::warn!(category = %c, "no connector serves this category; its sections will be unavailable");
        }
    }
    if let Some(n) = &settings.notifications {
        // A misconfigured mailbox stops the start here, not later when the store opens.
        connectors::digital_post::DigitalPost::from_config(&n.mailbox)?;
    }
    let key_path = settings.audit.key_file(&settings.data_dir);
    let key = signing_key(&key_path, settings.audit.may_create_key())?;
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
    // Acting for someone else: the power-of-attorney registry when `[representation]` names
    // one; otherwise nobody can (fail closed).
    // Parents act for their children when the person register (`[residence]`) is there too.
    let representation = match &settings.representation {
        Some(r) => {
            let mut rep = crate::core::representation::Representation::new(
                connectors::power_of_attorney::PowerOfAttorneyRegistry::from_config(&r.source)?,
                r.key().map_err(crate::settings::SettingsError::Invalid)?,
            );
            if let Some(res) = &settings.residence {
                rep = rep.with_custody(PersonRegister::from_config(&res.source)?, engine.clone());
            }
            Some(Arc::new(rep))
        }
        None => None,
    };
    let (stop, stopped) = watch::channel(false);
    let (api, pending_api) = crate::api::bind(&settings, stopped.clone()).await?;
    let (portal, pending_portal) = match &settings.portal {
        Some(p) => {
            let (running, pending) =
                crate::portal::bind(p, &settings.server, &settings.limits, stopped.clone()).await?;
            (Some(running), Some(pending))
        }
        None => (None, None),
    };
    let (admin, pending_admin) = match &settings.admin {
        Some(a) => {
            let (running, pending) = crate::admin::bind(&settings, a, stopped.clone()).await?;
            (Some(running), Some(pending))
        }
        None => (None, None),
    };
    let policy_watch = match policies::watch(engine.clone()) {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the policy directory; reload needs a restart");
            None
        }
    };
    let core = Arc::new(OnceLock::new());
    let opening = Opening {
        store,
        key,
        clock,
        rules,
        engine,
        registry,
        residence,
        representation,
        case_file_deadline: Duration::from_millis(settings.server.case_file_deadline_ms),
        retention_days: settings.audit.retention_days(),
        origin: settings.audit.origin()?,
        notifications: settings.notifications.clone(),
        health: match &settings.health {
            Some(h) => Some(health_sending(&settings, h)?),
            None => None,
        },
        api: pending_api,
        portal: pending_portal,
        admin: pending_admin,
        stopped,
        core: core.clone(),
    };
    let opening = match opening.audit().await {
        Ok(audit) => {
            opening.serve(audit);
            None
        }
        Err(consent::audit::AuditError::Store(consent::StoreError::Io(e))) if wait_for_database => {
            tracing::warn!(error = %e, "the database is not reachable; serving 503 until it is");
            Some(tokio::spawn(opening.retry()))
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(addr = %api.addr, systems = settings.systems.len(), "gateway listening");
    Ok(RunningGateway {
        addr: api.addr,
        portal_addr: portal.as_ref().map(|p| p.addr),
        portal_task: portal.map(|p| p.task),
        core,
        opening,
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
