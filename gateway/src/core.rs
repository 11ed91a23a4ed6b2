//! The narrow core the surfaces share: the services bundle ([`Core`]: ledger, audit log,
//! policy engine, clock, facts, and the sources behind the release pipeline), the release
//! pipeline itself ([`release`]), the facts the policy engine needs beyond the request
//! ([`facts`]), the clock ([`clock`]) and measured connectors ([`metrics`]).
//!
//! Nothing here knows HTTP: the surfaces (`api`, `portal`, `admin`) parse and answer, and
//! call into this module.

pub mod clock;
pub mod danish_time;
pub mod facts;
pub mod metrics;
pub mod notify;
pub mod release;
pub mod representation;
pub mod send;
pub mod sender;

use std::sync::Arc;
use std::time::Duration;

use connectors::Registry;
use consent::audit::AuditLog;
use consent::{Category, ConsentService, Ledger, SharedStore};
use policies::PolicyEngine;

use self::clock::Clock;
use self::facts::ResidenceLookup;
use self::release::Sources;

/// What the core is built from (by the composition root, or a test).
pub struct CoreConfig {
    pub ledger: Ledger<SharedStore>,
    pub audit: AuditLog<SharedStore>,
    pub engine: Arc<PolicyEngine>,
    /// The connectors; from here on reachable only through the release pipeline.
    pub registry: Registry,
    /// One deadline for all sources of a case file.
    pub case_file_deadline: Duration,
    pub clock: Arc<dyn Clock>,
    pub residence: Arc<dyn ResidenceLookup>,
    /// Sending to citizens' GPs through the health hub (`[health]`); `None`: not offered.
    pub health: Option<send::HealthSending>,
    /// Acting for someone else (`[representation]`); `None`: not offered.
    pub representation: Option<Arc<representation::Representation>>,
}

/// The services every surface shares. Cheap to clone.
#[derive(Clone)]
pub struct Core(Arc<Services>);

pub struct Services {
    /// Reads of consents and blocks.
    pub ledger: Ledger<SharedStore>,
    /// Every consent and block change, committed with its audit record (invariant 3).
    pub consents: ConsentService<SharedStore>,
    pub audit: AuditLog<SharedStore>,
    pub engine: Arc<PolicyEngine>,
    /// The one clock: handlers and the pipeline take "now" from it.
    pub clock: Arc<dyn Clock>,
    /// Where the citizen lives, for the statutory bases.
    pub residence: Arc<dyn ResidenceLookup>,
    /// The power-of-attorney registry and the holders' pseudonyms; `None`: not offered.
    pub representation: Option<Arc<representation::Representation>>,
    /// The connectors behind the release pipeline (private: a fetch needs a permit).
    sources: Sources,
    /// The health hub behind the send pipeline (private: a message is sent only from the
    /// outbox, where only a send permit puts it).
    health: Option<send::HealthSending>,
}

impl std::ops::Deref for Core {
    type Target = Services;
    fn deref(&self) -> &Services {
        &self.0
    }
}

impl Core {
    pub fn new(c: CoreConfig) -> Self {
        let consents = ConsentService::new(c.ledger.clone(), c.audit.clone());
        Core(Arc::new(Services {
            ledger: c.ledger,
            consents,
            audit: c.audit,
            engine: c.engine,
            clock: c.clock,
            residence: c.residence,
            representation: c.representation,
            sources: Sources::new(c.registry, c.case_file_deadline),
            health: c.health,
        }))
    }

    /// Whether sending to GPs is configured (`[health]`).
    pub fn sends_health_messages(&self) -> bool {
        self.health.is_some()
    }

    /// Whether any connector serves the category.
    pub fn serves(&self, category: &Category) -> bool {
        self.sources.serves(category)
    }

    /// Every source's health probe, concurrently, each under `timeout` (readiness).
    pub async fn source_health(&self, timeout: Duration) -> Vec<release::SourceHealth> {
        self.sources.health(timeout).await
    }

    /// The residence lookup's probe under `timeout` (readiness); `None` when it asks
    /// nothing (no person register configured).
    pub async fn residence_health(&self, timeout: Duration) -> Option<Result<(), String>> {
        match tokio::time::timeout(timeout, self.residence.health()).await {
            Ok(r) => r.map(|r| r.map_err(|e| e.to_string())),
            Err(_) => Some(Err(format!("no answer within {} ms", timeout.as_millis()))),
        }
    }
}
