//! Facts about the citizen that the policy engine needs and the request does not carry:
//! today, the municipality of residence (the statutory basis of retssikkerhedsloven § 11 a,
//! stk. 2, applies only to the citizen's own municipality).

use async_trait::async_trait;
use consent::{Cpr, MunicipalityCode};

/// Why a fact could not be looked up. Never names the citizen.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the residence lookup failed: {0}")]
pub struct FactsError(pub String);

/// Where the citizen lives.
#[async_trait]
pub trait ResidenceLookup: Send + Sync + 'static {
    /// The citizen's municipality of residence; `None` when unknown (a statute that needs
    /// it then cannot apply: fail closed).
    async fn municipality(&self, citizen: &Cpr) -> Result<Option<MunicipalityCode>, FactsError>;

    /// A cheap probe of what the lookup asks, for readiness; `None` when it asks nothing.
    async fn health(&self) -> Option<Result<(), FactsError>> {
        None
    }
}

/// The lookup configured today: the municipality is never known, so no statute that
/// depends on it applies. A person register source replaces it.
#[derive(Debug, Clone, Copy, Default)]
pub struct UnknownResidence;

#[async_trait]
impl ResidenceLookup for UnknownResidence {
    async fn municipality(&self, _citizen: &Cpr) -> Result<Option<MunicipalityCode>, FactsError> {
        Ok(None)
    }
}

/// Every citizen lives in one municipality (tests, demos).
#[derive(Debug, Clone, Copy)]
pub struct FixedResidence(pub MunicipalityCode);

#[async_trait]
impl ResidenceLookup for FixedResidence {
    async fn municipality(&self, _citizen: &Cpr) -> Result<Option<MunicipalityCode>, FactsError> {
        Ok(Some(self.0))
    }
}

/// The municipality of residence from the person register ([`connectors::person`]),
/// cached briefly per citizen (in memory, by the injected clock; only answers are cached,
/// never failures).
///
/// Fails closed: a register that is down, answers about another person, or names no
/// valid municipality gives an error or `None`, and no statute that needs the residence
/// applies. The municipality is never logged, for anyone (so neither for a citizen with
/// address protection), and the error never names the citizen.
pub struct RegisterResidence {
    register: connectors::person::PersonRegister,
    clock: std::sync::Arc<dyn crate::core::clock::Clock>,
    ttl: chrono::Duration,
    cache: std::sync::Mutex<std::collections::HashMap<Cpr, Cached>>,
}

/// When an answer was received, and the answer.
type Cached = (chrono::DateTime<chrono::Utc>, Option<MunicipalityCode>);

/// At most this many citizens are cached; a full cache is emptied.
const CACHE_MAX: usize = 10_000;

impl RegisterResidence {
    pub fn new(
        register: connectors::person::PersonRegister,
        clock: std::sync::Arc<dyn crate::core::clock::Clock>,
        ttl: std::time::Duration,
    ) -> Self {
        RegisterResidence {
            register,
            clock,
            ttl: chrono::Duration::from_std(ttl).unwrap_or_default(),
            cache: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    fn cached(&self, citizen: &Cpr, now: chrono::DateTime<chrono::Utc>) -> Option<Option<MunicipalityCode>> {
        let cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.get(citizen).filter(|(at, _)| now < *at + self.ttl && now >= *at).map(|(_, m)| *m)
    }
}

impl std::fmt::Debug for RegisterResidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisterResidence").field("ttl", &self.ttl).finish_non_exhaustive()
    }
}

#[async_trait]
impl ResidenceLookup for RegisterResidence {
    async fn municipality(&self, citizen: &Cpr) -> Result<Option<MunicipalityCode>, FactsError> {
        let now = self.clock.now();
        if let Some(hit) = self.cached(citizen, now) {
            return Ok(hit);
        }
        let call = connectors::http::new_call_id();
        let person = self
            .register
            .lookup(citizen, &call)
            .await
            .map_err(|e| FactsError(format!("person register: {} ({})", e.status(), e.cause())))?;
        let municipality = person.and_then(|p| p.municipality);
        if !self.ttl.is_zero() {
            let mut cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if cache.len() >= CACHE_MAX {
                cache.clear();
            }
            cache.insert(*citizen, (now, municipality));
        }
        Ok(municipality)
    }

    async fn health(&self) -> Option<Result<(), FactsError>> {
        Some(
            self.register
                .health()
                .await
                .map_err(|e| FactsError(format!("person register: {} ({})", e.status(), e.cause()))),
        )
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use sandbox::{Fault, Sandbox, SandboxConfig, Source, SourceFaults};

    use super::*;
    use crate::core::clock::TestClock;

    async fn sandbox() -> sandbox::RunningSandbox {
        let tls = sandbox::tls::generate().unwrap();
        Sandbox::start(SandboxConfig { tls: Some(tls), ..SandboxConfig::default() }).await.unwrap()
    }

    fn lookup(sb: &sandbox::RunningSandbox, clock: Arc<TestClock>, ttl: Duration) -> RegisterResidence {
        let mut cfg = sb.person_register_config();
        cfg.timeout_ms = 3_000;
        cfg.max_retries = 0;
        RegisterResidence::new(connectors::person::PersonRegister::from_config(&cfg).unwrap(), clock, ttl)
    }

    fn clock() -> Arc<TestClock> {
        Arc::new(TestClock::new("2026-11-30T10:00:00Z".parse().unwrap()))
    }

    /// Citizen `i` of the sandbox.
    fn citizen(i: usize) -> Cpr {
        sandbox::citizens::cpr_of(i)
    }

    #[tokio::test]
    async fn the_register_says_where_the_citizen_lives() {
        let sb = sandbox();
        let sb = tokio::time::timeout(Duration::from_secs(20), sb).await.unwrap();
        let r = lookup(&sb, clock(), Duration::ZERO);
        let kk = r.municipality(&citizen(0)).await.unwrap();
        assert_eq!(kk.map(|m| m.get()), Some(101));
        assert_eq!(sandbox::citizens::municipality_code_of(4), "0751");
        assert_eq!(r.municipality(&citizen(4)).await.unwrap().map(|m| m.get()), Some(751));
        // A valid number the register does not know: unknown, not an error.
        let stranger = Cpr::parse("0101709999").unwrap();
        assert!(sandbox::citizens::find(&stranger).is_none());
        assert_eq!(r.municipality(&stranger).await.unwrap(), None);
    }

    #[tokio::test]
    async fn an_answer_about_another_person_or_a_register_down_is_an_error_that_names_no_one() {
        let sb = tokio::time::timeout(Duration::from_secs(20), sandbox()).await.unwrap();
        let r = lookup(&sb, clock(), Duration::from_secs(60));
        let who = citizen(0);
        for fault in [Fault::WrongPatient, Fault::Http500, Fault::MalformedBody, Fault::ConnectionReset] {
            sb.set_faults(Source::Cpr, SourceFaults::fault(fault));
            let e = tokio::time::timeout(Duration::from_secs(10), r.municipality(&who)).await.unwrap().unwrap_err();
            assert!(!e.to_string().contains(who.expose()), "{e}");
            if fault == Fault::WrongPatient {
                assert!(e.to_string().contains("another person"), "{e}");
            }
        }
        // Failures are not cached: the register answers again once it is back.
        assert!(matches!(r.health().await, Some(Err(_))), "the probe sees it down");
        sb.clear_faults();
        assert_eq!(r.municipality(&who).await.unwrap().map(|m| m.get()), Some(101));
        assert!(matches!(r.health().await, Some(Ok(()))));
        assert!(UnknownResidence.health().await.is_none(), "nothing to probe");
    }

    #[tokio::test]
    async fn a_move_counts_once_the_cached_answer_is_older_than_the_ttl() {
        let sb = tokio::time::timeout(Duration::from_secs(20), sandbox()).await.unwrap();
        let clock = clock();
        let cached = lookup(&sb, clock.clone(), Duration::from_secs(10));
        let uncached = lookup(&sb, clock.clone(), Duration::ZERO);
        let who = citizen(0);
        assert_eq!(cached.municipality(&who).await.unwrap().map(|m| m.get()), Some(101));
        sb.move_citizen(who, "0751");
        assert_eq!(uncached.municipality(&who).await.unwrap().map(|m| m.get()), Some(751), "no cache: at once");
        assert_eq!(cached.municipality(&who).await.unwrap().map(|m| m.get()), Some(101), "within the TTL");
        clock.advance(chrono::Duration::seconds(10));
        assert_eq!(cached.municipality(&who).await.unwrap().map(|m| m.get()), Some(751), "after the TTL");
        // And a cached answer is used without asking: the register may be down meanwhile.
        sb.set_faults(Source::Cpr, SourceFaults::fault(Fault::Http500));
        assert_eq!(cached.municipality(&who).await.unwrap().map(|m| m.get()), Some(751));
        clock.advance(chrono::Duration::seconds(11));
        assert!(cached.municipality(&who).await.is_err(), "an expired answer is not used");
    }
}
