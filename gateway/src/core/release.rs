//! The release pipeline: one checked request about one citizen, from facts to the sections
//! that may leave the gateway. No HTTP here; the API parses, calls [`Core::release`] and
//! serialises.
//!
//! 1. Facts: for each category the consents covering it (`Ledger::covering`), the citizen's
//!    blocks, and the citizen's municipality ([`ResidenceLookup`](super::facts::ResidenceLookup)).
//! 2. One policy decision for all categories.
//! 3. A `decision` audit record per section, durable before anything is fetched.
//! 4. The permitted categories fetched concurrently under one deadline. A fetch needs a
//!    [`Permit`], which only the permit branch of a [`CategoryDecision`] creates, and the
//!    connectors are reachable only through [`Sources`], private to this module.
//! 5. Re-check (revocation wins): every consent a permit rests on must still be in force,
//!    and no block of the caseworker's unit lineage or of the category may have appeared;
//!    otherwise the section becomes a denial and its documents are dropped.
//! 6. A `release` record per permitted section (the released documents' digests, or why
//!    nothing was released), durable before anything is returned.
//!
//! If an audit append fails, [`ReleaseError::AuditUnavailable`]: nothing is released.

use std::time::Duration;

use chrono::{DateTime, Utc};
use connectors::{Document, FetchError, FetchRequest, Registry};
use consent::audit::{AuditDecision, AuditKind, AuditRecord};
use consent::{Block, BlockTarget, Category, Consent, ConsentId, Cpr, DataPeriod, Purpose};
use policies::{Basis, Caseworker, CategoryDecision, DecisionRequest, Reason};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::Core;
use super::clock::Clock;

mod own;
mod write;
pub use own::{OWN_ACCESS_SYSTEM, OwnRequest};
pub use write::{PlanEdit, PlanWriteError, PlanWriteRequest, PlanWritten, WritePermit, change_digest, plan_category};

/// A checked request: the caller was admitted and the input parsed.
#[derive(Debug, Clone, Copy)]
pub struct ReleaseRequest<'a> {
    pub caseworker: &'a Caseworker,
    /// The registered caseworker system's id.
    pub system: &'a str,
    pub citizen: Cpr,
    pub purpose: &'a Purpose,
    /// Known and distinct, at least one.
    pub categories: &'a [Category],
    pub case_reference: Option<&'a str>,
    /// The id the audit records and the answer carry.
    pub request_id: &'a str,
    /// Only the GP's LÆ 265 answering the LÆ 261 request with this identifier (a sent
    /// request's state, `core/send/status.rs`): every other document fetched is dropped
    /// before the release is recorded, and none found is `no_data`.
    pub answering: Option<&'a str>,
}

/// What became of one category.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SectionStatus {
    Included,
    Denied,
    NoData,
    Unavailable,
    Timeout,
    InvalidResponse,
}

impl SectionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SectionStatus::Included => "included",
            SectionStatus::Denied => "denied",
            SectionStatus::NoData => "no_data",
            SectionStatus::Unavailable => "unavailable",
            SectionStatus::Timeout => "timeout",
            SectionStatus::InvalidResponse => "invalid_response",
        }
    }
}

/// One category's outcome. Documents only when `Included`.
#[derive(Debug, Clone)]
pub struct Section {
    pub category: Category,
    pub status: SectionStatus,
    /// What a permit rested on; `None` for a denial.
    pub basis: Option<Basis>,
    pub policies: Vec<String>,
    /// The connector asked, when one was.
    pub source: Option<String>,
    pub fetched_at: Option<DateTime<Utc>>,
    pub documents: Vec<Document>,
    pub reason: Reason,
    /// The technical cause of a failed fetch, or why a permit was withdrawn.
    pub detail: Option<String>,
}

/// The released case file, in request order.
#[derive(Debug, Clone)]
pub struct Release {
    pub assembled_at: DateTime<Utc>,
    pub policy_digest: String,
    pub sections: Vec<Section>,
}

/// Why nothing was released.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    /// A fact could not be looked up or the policy engine failed.
    #[error("{what} failed: {message}")]
    Lookup { what: &'static str, message: String },
    /// An audit record could not be made durable.
    #[error("the audit log refused records: {0}")]
    AuditUnavailable(String),
}

fn lookup(what: &'static str) -> impl FnOnce(String) -> ReleaseError {
    move |message| ReleaseError::Lookup { what, message }
}

/// A fact that could not be looked up, or a policy engine that failed: nothing may follow.
#[derive(Debug)]
pub(crate) struct FactsFailed {
    pub(crate) what: &'static str,
    pub(crate) message: String,
}

fn failed(what: &'static str) -> impl FnOnce(String) -> FactsFailed {
    move |message| FactsFailed { what, message }
}

impl Core {
    /// The decision of `action` on one category about `citizen`: over the consents covering
    /// it for the caseworker's unit and the citizen's blocks. No statute permits the actions
    /// decided this way (sending to the GP, writing to the plan), so the residence is not
    /// asked for.
    pub(crate) async fn decide_single(
        &self,
        caseworker: &Caseworker,
        citizen: &Cpr,
        purpose: &Purpose,
        category: &Category,
        action: policies::Action,
        now: DateTime<Utc>,
    ) -> Result<policies::Decision, FactsFailed> {
        let covering = self
            .ledger
            .covering(citizen, &caseworker.unit, purpose, category, now)
            .await
            .map_err(|e| failed("the consent lookup")(e.to_string()))?;
        let consents = [(category.clone(), covering)];
        let blocks = self.ledger.blocks(citizen).await.map_err(|e| failed("the block lookup")(e.to_string()))?;
        let categories = [category.clone()];
        self.engine
            .decide_action(
                &DecisionRequest {
                    caseworker,
                    citizen,
                    citizen_municipality: None,
                    purpose,
                    categories: &categories,
                    now,
                    consents: &consents,
                    blocks: &blocks,
                },
                action,
            )
            .map_err(|e| failed("the policy decision")(e.to_string()))
    }
}

/// Leave to fetch one category of one citizen: only [`Permit::from_decision`] makes one,
/// from a [`CategoryDecision::Permit`].
#[derive(Debug)]
pub struct Permit {
    category: Category,
    basis: Basis,
    data_period: Option<DataPeriod>,
}

impl Permit {
    /// The permit of a permit decision; `None` for a deny. A consent basis limits how old
    /// the documents may be.
    fn from_decision(d: &CategoryDecision, consents: &[(Category, Vec<Consent>)]) -> Option<Permit> {
        let CategoryDecision::Permit { category, basis, .. } = d else { return None };
        let data_period = match basis {
            Basis::Consent(id) => {
                consents.iter().flat_map(|(_, v)| v.iter()).find(|c| c.id == *id).and_then(|c| c.terms.data_period)
            }
            Basis::Statute(_) | Basis::OwnAccess(_) => None,
        };
        Some(Permit { category: category.clone(), basis: basis.clone(), data_period })
    }

    pub fn category(&self) -> &Category {
        &self.category
    }

    pub fn basis(&self) -> &Basis {
        &self.basis
    }

    /// The consent this permit rests on, if any.
    fn consent(&self) -> Option<ConsentId> {
        match &self.basis {
            Basis::Consent(id) => Some(*id),
            Basis::Statute(_) | Basis::OwnAccess(_) => None,
        }
    }
}

/// One source's health probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceHealth {
    /// The connector id.
    pub source: String,
    /// `Err` with what was found (never a CPR number).
    pub result: Result<(), String>,
}

/// The connectors, reachable only through a [`Permit`].
pub(crate) struct Sources {
    registry: Registry,
    deadline: Duration,
}

enum Fetched {
    Documents(Vec<Document>),
    Failed(FetchError),
    Deadline(Duration),
    NoSource,
}

type FetchResult = (Option<String>, Fetched, DateTime<Utc>);

impl Sources {
    pub(crate) fn new(registry: Registry, deadline: Duration) -> Self {
        Sources { registry, deadline }
    }

    pub(crate) fn serves(&self, category: &Category) -> bool {
        self.registry.for_category(category).is_some()
    }

    pub(crate) async fn health(&self, timeout: Duration) -> Vec<SourceHealth> {
        let probes = self.registry.all().map(|c| {
            let c = c.clone();
            async move {
                let result = match tokio::time::timeout(timeout, c.health()).await {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
                };
                SourceHealth { source: c.id().to_string(), result }
            }
        });
        futures_util::future::join_all(probes).await
    }

    /// Starts the permitted fetch under the request's deadline.
    fn fetch(
        &self,
        permit: &Permit,
        citizen: Cpr,
        request_id: &str,
        deadline: Instant,
        clock: std::sync::Arc<dyn Clock>,
    ) -> JoinHandle<FetchResult> {
        let request = FetchRequest {
            citizen,
            category: permit.category.clone(),
            data_period: permit.data_period,
            request_id: request_id.to_string(),
            clock: clock.clone(),
        };
        let connector = self.registry.for_category(&permit.category);
        let budget = self.deadline;
        tokio::spawn(async move {
            let Some(connector) = connector else { return (None, Fetched::NoSource, clock.now()) };
            let source = connector.id().to_string();
            let outcome = match tokio::time::timeout_at(deadline, connector.fetch(&request)).await {
                Ok(Ok(docs)) => Fetched::Documents(docs),
                Ok(Err(e)) => Fetched::Failed(e),
                Err(_) => Fetched::Deadline(budget),
            };
            (Some(source), outcome, clock.now())
        })
    }
}

/// The detail of a denied section when the residence lookup failed.
pub const RESIDENCE_UNKNOWN: &str =
    "the citizen's municipality of residence could not be looked up; no statute that depends on it could apply";

/// Why a permit no longer holds after the fetch.
struct Withdrawn {
    reason: Reason,
    detail: String,
}

impl Core {
    /// Runs the pipeline for one checked request decided at `now` (see the module
    /// documentation). The re-check after the fetch uses the clock's time then.
    pub async fn release(&self, req: &ReleaseRequest<'_>, now: DateTime<Utc>) -> Result<Release, ReleaseError> {
        let unit = &req.caseworker.unit;

        // Facts.
        let consents: Vec<(Category, Vec<Consent>)> = self
            .ledger
            .covering_each(&req.citizen, unit, req.purpose, req.categories, now)
            .await
            .map_err(|e| lookup("the consent lookup")(e.to_string()))?;
        let blocks = self.ledger.blocks(&req.citizen).await.map_err(|e| lookup("the block lookup")(e.to_string()))?;
        let (municipality, residence_failed) = match self.residence.municipality(&req.citizen).await {
            Ok(m) => (m, false),
            Err(e) => {
                // Unknown: no statute that needs the residence applies (fail closed).
                tracing::warn!(error = %e, "the citizen's municipality is unknown for this request");
                (None, true)
            }
        };

        // Decide.
        let decision = self
            .engine
            .decide(&DecisionRequest {
                caseworker: req.caseworker,
                citizen: &req.citizen,
                citizen_municipality: municipality,
                purpose: req.purpose,
                categories: req.categories,
                now,
                consents: &consents,
                blocks: &blocks,
            })
            .map_err(|e| lookup("the policy decision")(e.to_string()))?;

        // Record the decisions before anything is fetched.
        let decision_records: Vec<AuditRecord> = decision
            .sections
            .iter()
            .map(|s| {
                let mut r = self.record(req, now, AuditKind::Decision, s.category());
                let (decision_kind, outcome) = match s {
                    CategoryDecision::Permit { .. } => (AuditDecision::Permit, "permit"),
                    CategoryDecision::Deny { .. } => (AuditDecision::Deny, "denied"),
                };
                r.decision = Some(decision_kind);
                r.basis = s.basis().map(audit_basis);
                r.policies = s.policies().to_vec();
                r.outcome = outcome.into();
                r.detail = Some(match req.case_reference {
                    Some(c) => format!("policy set {}; case reference {c}", decision.policy_digest),
                    None => format!("policy set {}", decision.policy_digest),
                });
                r
            })
            .collect();
        self.append(decision_records).await?;

        // Fetch what is permitted, concurrently, under one deadline.
        let permits: Vec<Option<Permit>> =
            decision.sections.iter().map(|s| Permit::from_decision(s, &consents)).collect();
        let results = self.fetch_permitted(&permits, req.citizen, req.request_id).await;

        // Re-check: revocation (and a new block) wins over a fetch in flight.
        let after = self.clock.now();
        let blocks_after =
            self.ledger.blocks(&req.citizen).await.map_err(|e| lookup("the block re-check")(e.to_string()))?;

        // Build the sections, record the releases, and only then answer.
        let mut results = results.into_iter();
        let mut sections = Vec::with_capacity(decision.sections.len());
        let mut release_records = Vec::new();
        for (s, permit) in decision.sections.iter().zip(&permits) {
            let Some(permit) = permit else {
                // A denial says when a statute could not be considered.
                sections.push(denied_section(s, residence_failed.then(|| RESIDENCE_UNKNOWN.to_string())));
                continue;
            };
            let (source, outcome, at) = results.next().expect("one fetch per permit");
            let withdrawn = self.recheck(req, permit, &blocks_after, after).await?;
            let section = match withdrawn {
                Some(w) => Section {
                    category: permit.category.clone(),
                    status: SectionStatus::Denied,
                    basis: None,
                    policies: Vec::new(),
                    source,
                    fetched_at: Some(at),
                    documents: Vec::new(),
                    reason: w.reason,
                    detail: Some(w.detail),
                },
                None => {
                    let outcome = match (outcome, req.answering) {
                        (Fetched::Documents(docs), Some(request)) => Fetched::Documents(
                            docs.into_iter().filter(|d| connectors::mediconnect::answers_request(d, request)).collect(),
                        ),
                        (outcome, _) => outcome,
                    };
                    permitted_section(s, permit, source, outcome, at)
                }
            };
            let mut r = self.record(req, after, AuditKind::Release, &permit.category);
            r.decision = Some(AuditDecision::Permit);
            r.basis = Some(audit_basis(&permit.basis));
            r.policies = s.policies().to_vec();
            r.outcome = section.status.as_str().to_string();
            r.documents = section.documents.iter().map(|d| d.sha256.clone()).collect();
            r.detail = Some(match (&section.source, &section.detail) {
                (Some(src), Some(d)) => format!("source {src}: {d}"),
                (Some(src), None) => format!("source {src}"),
                (None, Some(d)) => d.clone(),
                (None, None) => String::new(),
            });
            release_records.push(r);
            sections.push(section);
        }
        self.append(release_records).await?;
        let included = sections.iter().filter(|s| s.status == SectionStatus::Included).count();
        tracing::info!(
            system = %req.system,
            citizen = %req.citizen,
            purpose = %req.purpose,
            sections = sections.len(),
            included,
            "case file assembled"
        );
        Ok(Release { assembled_at: now, policy_digest: decision.policy_digest, sections })
    }

    /// Fetches every permitted category concurrently under one deadline: one result per
    /// permit, in order.
    async fn fetch_permitted(&self, permits: &[Option<Permit>], citizen: Cpr, request_id: &str) -> Vec<FetchResult> {
        let deadline = Instant::now() + self.sources.deadline;
        let fetches: Vec<_> = permits
            .iter()
            .flatten()
            .map(|p| self.sources.fetch(p, citizen, request_id, deadline, self.clock.clone()))
            .collect();
        let mut results = Vec::with_capacity(fetches.len());
        for f in fetches {
            results.push(
                f.await.unwrap_or_else(|e| {
                    (None, Fetched::Failed(FetchError::Unavailable(e.to_string())), self.clock.now())
                }),
            );
        }
        results
    }

    /// Does the permit still hold at `at`? Its consent (if any) must be in force, and no
    /// active block may cover the caseworker's unit lineage or the category.
    async fn recheck(
        &self,
        req: &ReleaseRequest<'_>,
        permit: &Permit,
        blocks: &[Block],
        at: DateTime<Utc>,
    ) -> Result<Option<Withdrawn>, ReleaseError> {
        if let Some(id) = permit.consent() {
            let in_force = match self.ledger.consent(id).await {
                Ok(c) => c.in_force_at(at).then_some(()).ok_or_else(|| c.status_at(at).to_string()),
                Err(consent::LedgerError::NoSuchConsent(_)) => Err("gone".to_string()),
                Err(e) => return Err(lookup("the consent re-check")(e.to_string())),
            };
            if let Err(status) = in_force {
                return Ok(Some(Withdrawn {
                    reason: Reason {
                        da: "Samtykket blev trukket tilbage, mens oplysningerne blev hentet.".into(),
                        en: "The consent was withdrawn while the data was being fetched.".into(),
                    },
                    detail: format!("consent {id} was no longer in force after the fetch ({status}); nothing released"),
                }));
            }
        }
        let directory = &self.ledger.rules().directory;
        let unit = &req.caseworker.unit;
        let block = blocks.iter().filter(|b| b.is_active() && b.citizen == req.citizen).find(|b| match &b.target {
            BlockTarget::Unit(u) => directory.is_within(unit, u),
            BlockTarget::Category(c) => *c == permit.category,
        });
        Ok(block.map(|b| Withdrawn {
            reason: Reason {
                da: "Borgeren spærrede for videregivelsen, mens oplysningerne blev hentet.".into(),
                en: "The citizen placed a block while the data was being fetched.".into(),
            },
            detail: format!("block {} was placed during the fetch; nothing released", b.id),
        }))
    }

    /// An audit record of this request, the rest empty.
    fn record(&self, req: &ReleaseRequest<'_>, at: DateTime<Utc>, kind: AuditKind, category: &Category) -> AuditRecord {
        let mut r = AuditRecord::new(at, req.request_id.to_string(), kind);
        r.system = Some(req.system.to_string());
        r.caseworker = Some(req.caseworker.id.clone());
        r.unit = Some(req.caseworker.unit.clone());
        r.citizen = Some(req.citizen);
        r.purpose = Some(req.purpose.clone());
        r.category = Some(category.clone());
        r
    }

    async fn append(&self, records: Vec<AuditRecord>) -> Result<(), ReleaseError> {
        self.audit.append(records).await.map(drop).map_err(|e| {
            tracing::error!(error = %e, "the audit log refused records; releasing nothing");
            ReleaseError::AuditUnavailable(e.to_string())
        })
    }
}

pub(super) fn audit_basis(b: &Basis) -> String {
    match b {
        Basis::Consent(id) => format!("consent:{id}"),
        Basis::Statute(r) => format!("statute:{r}"),
        Basis::OwnAccess(r) => format!("own-access:{r}"),
    }
}

/// The section of a category the policy set denied: nothing fetched, the reason given.
fn denied_section(s: &CategoryDecision, detail: Option<String>) -> Section {
    Section {
        category: s.category().clone(),
        status: SectionStatus::Denied,
        basis: None,
        policies: s.policies().to_vec(),
        source: None,
        fetched_at: None,
        documents: Vec::new(),
        reason: s.reason().clone(),
        detail,
    }
}

fn permitted_section(
    s: &CategoryDecision,
    permit: &Permit,
    source: Option<String>,
    outcome: Fetched,
    at: DateTime<Utc>,
) -> Section {
    let src = source.clone().unwrap_or_default();
    let (status, documents, reason, detail) = match outcome {
        Fetched::Documents(docs) if docs.is_empty() => (
            SectionStatus::NoData,
            Vec::new(),
            Reason {
                da: format!("Kilden {src} har ingen oplysninger om borgeren i denne kategori."),
                en: format!("The source {src} holds no information about the citizen in this category."),
            },
            None,
        ),
        Fetched::Documents(docs) => (SectionStatus::Included, docs, s.reason().clone(), None),
        Fetched::Failed(e) => {
            let (status, da, en) = match &e {
                FetchError::Unavailable(_) => (
                    SectionStatus::Unavailable,
                    format!("Kilden {src} kunne ikke nås eller svarede med en fejl. Prøv igen senere."),
                    format!("The source {src} could not be reached or answered with an error. Try again later."),
                ),
                FetchError::Timeout(_) => (
                    SectionStatus::Timeout,
                    format!("Kilden {src} svarede ikke i tide."),
                    format!("The source {src} did not answer in time."),
                ),
                FetchError::InvalidResponse(_) => (
                    SectionStatus::InvalidResponse,
                    format!("Kilden {src} svarede med noget, der ikke er et gyldigt svar; intet fra den er medtaget."),
                    format!("The source {src} gave an answer that is not valid; nothing from it is included."),
                ),
            };
            (status, Vec::new(), Reason { da, en }, Some(e.cause().to_string()))
        }
        Fetched::Deadline(d) => (
            SectionStatus::Timeout,
            Vec::new(),
            Reason {
                da: format!("Kilden {src} svarede ikke inden for sagsmappens frist på {} ms.", d.as_millis()),
                en: format!("The source {src} did not answer within the case file's deadline of {} ms.", d.as_millis()),
            },
            Some(format!("no answer within the request deadline of {} ms", d.as_millis())),
        ),
        Fetched::NoSource => (
            SectionStatus::Unavailable,
            Vec::new(),
            Reason {
                da: "Ingen kilde er sat op til denne kategori.".into(),
                en: "No source system is configured for this category.".into(),
            },
            Some("no connector serves this category".into()),
        ),
    };
    Section {
        category: permit.category.clone(),
        status,
        basis: Some(permit.basis.clone()),
        policies: s.policies().to_vec(),
        source,
        fetched_at: Some(at),
        documents,
        reason,
        detail,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;
    use std::sync::{Arc, Mutex};

    use async_trait::async_trait;
    use chrono::TimeDelta;
    use connectors::{Connector, Source};
    use consent::audit::{AuditConfig, AuditLog};
    use consent::{Actor, Channel, ConsentService, Ledger, MunicipalityCode, Period, SharedStore, TermsInput, UnitId};

    use super::*;
    use crate::core::CoreConfig;
    use crate::core::clock::TestClock;
    use crate::core::facts::{FixedResidence, ResidenceLookup, UnknownResidence};

    /// What a fake source does while it is being asked, before it answers.
    #[derive(Clone, Copy)]
    enum During {
        Nothing,
        Revoke,
        BlockUnit,
        BlockCategory,
        /// The clock passes the end of the consent's period.
        Expire,
    }

    /// A source that answers one document for its categories, doing `during` first.
    struct FakeSource {
        categories: Vec<Category>,
        during: During,
        consents: ConsentService<SharedStore>,
        consent: Mutex<Option<ConsentId>>,
        clock: Arc<TestClock>,
    }

    #[async_trait]
    impl Connector for FakeSource {
        fn id(&self) -> &str {
            "fake"
        }

        fn categories(&self) -> &[Category] {
            &self.categories
        }

        async fn fetch(&self, req: &FetchRequest) -> Result<Vec<Document>, FetchError> {
            let now = self.clock.now();
            match self.during {
                During::Nothing => {}
                During::Expire => self.clock.advance(TimeDelta::days(31)),
                During::Revoke => {
                    let id = self.consent.lock().unwrap().expect("a consent to revoke");
                    self.consents.revoke(id, &req.citizen, &Actor::citizen(Channel::Portal), now).await.unwrap();
                }
                During::BlockUnit => {
                    let target = BlockTarget::Unit(UnitId::parse("kk.jobcenter").unwrap());
                    self.consents
                        .place_block(&req.citizen, target, &Actor::citizen(Channel::Portal), now)
                        .await
                        .unwrap();
                }
                During::BlockCategory => {
                    let target = BlockTarget::Category(req.category.clone());
                    self.consents
                        .place_block(&req.citizen, target, &Actor::citizen(Channel::Portal), now)
                        .await
                        .unwrap();
                }
            }
            let source =
                Source { system: "fake".into(), endpoint: "memory".into(), organisation: None, fetched_at: now };
            let doc = Document::new("d1", "A document", "test", None, source, &serde_json::json!({"n": 1})).unwrap();
            Ok(vec![doc])
        }
    }

    struct Fixture {
        core: Core,
        consents: ConsentService<SharedStore>,
        source: Arc<FakeSource>,
        _dir: tempfile::TempDir,
    }

    async fn fixture(categories: &[&str], during: During, residence: Arc<dyn ResidenceLookup>) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let settings = crate::settings::Settings::load(None, Some(dir.path())).unwrap();
        let rules = settings.domain.clone().into_rules().unwrap();
        let policies = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies");
        let engine = Arc::new(policies::PolicyEngine::load(&policies, &rules).unwrap());
        let store = consent::store::open(&consent::Engine::sled(), dir.path()).unwrap();
        let key = consent::audit::generate_signing_key();
        let clock = Arc::new(TestClock::new("2025-03-01T10:00:00Z".parse().unwrap()));
        let config = AuditConfig { clock: clock.clone(), ..AuditConfig::default() };
        let audit = AuditLog::open(store.clone(), key, config).await.unwrap();
        let ledger = Ledger::new(store, rules);
        let consents = ConsentService::new(ledger.clone(), audit.clone());
        let source = Arc::new(FakeSource {
            categories: categories.iter().map(|c| c.parse().unwrap()).collect(),
            during,
            consents: consents.clone(),
            consent: Mutex::new(None),
            clock: clock.clone(),
        });
        let registry = Registry::from_connectors([source.clone() as Arc<dyn Connector>]).unwrap();
        let core = Core::new(CoreConfig {
            ledger: ledger.clone(),
            audit,
            engine,
            registry,
            case_file_deadline: Duration::from_secs(5),
            clock,
            residence,
            health: None,
            representation: None,
        });
        Fixture { core, consents, source, _dir: dir }
    }

    fn citizen() -> Cpr {
        Cpr::parse("0101709901").unwrap()
    }

    fn caseworker(unit: &str, role: &str) -> Caseworker {
        Caseworker { id: "cw-1".into(), unit: UnitId::parse(unit).unwrap(), roles: BTreeSet::from([role.to_string()]) }
    }

    async fn grant(f: &Fixture, unit: &str, purpose: &str, category: &str) -> ConsentId {
        let now = f.core.clock.now();
        let c = f
            .consents
            .grant(
                TermsInput {
                    citizen: citizen(),
                    grantee: UnitId::parse(unit).unwrap(),
                    include_subunits: false,
                    purpose: purpose.parse().unwrap(),
                    categories: BTreeSet::from([category.parse().unwrap()]),
                    period: Period { from: now - TimeDelta::minutes(1), until: now + TimeDelta::days(30) },
                    data_period: None,
                    text_version: "t-1".into(),
                    text_body: "Ja.".into(),
                },
                &citizen(),
                &Actor::citizen(Channel::Portal),
                now,
            )
            .await
            .unwrap();
        *f.source.consent.lock().unwrap() = Some(c.id);
        c.id
    }

    async fn release(f: &Fixture, cw: &Caseworker, purpose: &str, category: &str) -> Result<Release, ReleaseError> {
        let purpose: Purpose = purpose.parse().unwrap();
        let categories = [category.parse().unwrap()];
        let req = ReleaseRequest {
            caseworker: cw,
            system: "test-system",
            citizen: citizen(),
            purpose: &purpose,
            categories: &categories,
            case_reference: None,
            request_id: "r-1",
            answering: None,
        };
        f.core.release(&req, f.core.clock.now()).await
    }

    async fn release_records(f: &Fixture) -> Vec<AuditRecord> {
        let size = f.core.audit.tree_size();
        let all = f.core.audit.entries(0, size).await.unwrap();
        all.into_iter().map(|(_, r)| r).filter(|r| r.kind == AuditKind::Release).collect()
    }

    #[tokio::test]
    async fn the_citizens_own_access_is_decided_recorded_and_fetched_without_a_consent() {
        let f = fixture(&["jobnet.cv", "social.case"], During::Nothing, Arc::new(UnknownResidence)).await;
        // A block of the category stops caseworkers, not the citizen themselves.
        let now = f.core.clock.now();
        let social: Category = "social.case".parse().unwrap();
        f.consents
            .place_block(&citizen(), BlockTarget::Category(social.clone()), &Actor::citizen(Channel::Portal), now)
            .await
            .unwrap();
        let before = f.core.audit.tree_size();
        let categories = ["jobnet.cv".parse().unwrap(), social, "health.lae265".parse().unwrap()];
        let req = OwnRequest { citizen: citizen(), categories: &categories, request_id: "own-1" };
        let r = f.core.release_own(&req, now).await.unwrap();
        let status: Vec<_> = r.sections.iter().map(|s| s.status).collect();
        // The fake source serves two of the three categories; LÆ 265 has no source here.
        assert_eq!(status, [SectionStatus::Included, SectionStatus::Included, SectionStatus::Unavailable]);
        assert!(
            r.sections.iter().all(|s| s.basis == Some(Basis::OwnAccess("databeskyttelsesforordningen art. 15".into())))
        );
        let records: Vec<AuditRecord> =
            f.core.audit.entries(before, u64::MAX).await.unwrap().into_iter().map(|(_, r)| r).collect();
        assert_eq!(records.len(), 6, "a decision and a release record per category");
        assert!(records.iter().all(|r| r.request_id == "own-1"
            && r.system.as_deref() == Some(OWN_ACCESS_SYSTEM)
            && r.caseworker.is_none()
            && r.unit.is_none()
            && r.citizen == Some(citizen())
            && r.basis.as_deref() == Some("own-access:databeskyttelsesforordningen art. 15")));
        assert_eq!(records.iter().filter(|r| r.kind == AuditKind::Decision).count(), 3);
        let released: Vec<_> = records.iter().filter(|r| r.kind == AuditKind::Release).collect();
        assert_eq!(released[0].documents, vec![r.sections[0].documents[0].sha256.clone()]);
        // The same request by a caseworker without a consent is denied: the own-access
        // policy opens nothing for anyone else.
        let cw = caseworker("kk.jobcenter.rehab", "rehab-team-member");
        let denied = release(&f, &cw, "rehabilitation-team", "jobnet.cv").await.unwrap();
        assert_eq!(denied.sections[0].status, SectionStatus::Denied);
    }

    #[tokio::test]
    async fn the_citizens_own_access_refuses_an_unknown_category_before_recording_or_fetching() {
        let f = fixture(&["jobnet.cv"], During::Nothing, Arc::new(UnknownResidence)).await;
        let categories = ["jobnet.cv".parse().unwrap()];
        let req = OwnRequest { citizen: citizen(), categories: &categories, request_id: "own-2" };
        let bad = ["jobnet.unknown".parse().unwrap()];
        let before = f.core.audit.tree_size();
        assert!(matches!(
            f.core.release_own(&OwnRequest { categories: &bad, ..req }, f.core.clock.now()).await,
            Err(ReleaseError::Lookup { .. })
        ));
        assert_eq!(f.core.audit.tree_size(), before);
    }

    #[tokio::test]
    async fn a_known_residence_lets_the_statute_permit_benefits() {
        let kk = Arc::new(FixedResidence(MunicipalityCode::parse("101").unwrap()));
        let f = fixture(&["jobcenter.benefits"], During::Nothing, kk).await;
        let officer = caseworker("kk.jobcenter.ydelse", "benefits-officer");
        let r = release(&f, &officer, "benefit-administration", "jobcenter.benefits").await.unwrap();
        let s = &r.sections[0];
        assert_eq!(s.status, SectionStatus::Included, "{s:?}");
        assert_eq!(s.basis, Some(Basis::Statute("retssikkerhedsloven § 11 a, stk. 2".into())));
        assert_eq!(s.documents.len(), 1);
        let records = release_records(&f).await;
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].outcome, "included");
        assert_eq!(records[0].basis.as_deref(), Some("statute:retssikkerhedsloven § 11 a, stk. 2"));
    }

    #[tokio::test]
    async fn an_unknown_or_other_residence_fails_closed() {
        let officer = caseworker("kk.jobcenter.ydelse", "benefits-officer");
        let aarhus = Arc::new(FixedResidence(MunicipalityCode::parse("751").unwrap()));
        for residence in [Arc::new(UnknownResidence) as Arc<dyn ResidenceLookup>, aarhus] {
            let f = fixture(&["jobcenter.benefits"], During::Nothing, residence).await;
            let r = release(&f, &officer, "benefit-administration", "jobcenter.benefits").await.unwrap();
            let s = &r.sections[0];
            assert_eq!(s.status, SectionStatus::Denied, "{s:?}");
            assert!(s.documents.is_empty() && s.basis.is_none());
            assert!(release_records(&f).await.is_empty(), "a denial is not fetched, so it has no release record");
            assert_eq!(s.detail, None, "the lookup answered");
        }
    }

    /// A residence lookup that always fails.
    struct FailingResidence;

    #[async_trait]
    impl ResidenceLookup for FailingResidence {
        async fn municipality(&self, _: &Cpr) -> Result<Option<MunicipalityCode>, crate::core::facts::FactsError> {
            Err(crate::core::facts::FactsError("person register: unavailable".into()))
        }
    }

    #[tokio::test]
    async fn a_failed_residence_lookup_denies_and_the_section_says_why() {
        let officer = caseworker("kk.jobcenter.ydelse", "benefits-officer");
        let f = fixture(&["jobcenter.benefits"], During::Nothing, Arc::new(FailingResidence)).await;
        let r = release(&f, &officer, "benefit-administration", "jobcenter.benefits").await.unwrap();
        let s = &r.sections[0];
        assert_eq!(s.status, SectionStatus::Denied, "{s:?}");
        assert!(s.documents.is_empty() && s.basis.is_none());
        assert_eq!(s.detail.as_deref(), Some(RESIDENCE_UNKNOWN));
        assert!(release_records(&f).await.is_empty());
    }

    #[tokio::test]
    async fn a_consent_that_has_expired_permits_nothing_after_the_clock_moves() {
        let f = fixture(&["jobnet.cv"], During::Nothing, Arc::new(UnknownResidence)).await;
        grant(&f, "kk.jobcenter.rehab", "rehabilitation-team", "jobnet.cv").await;
        let cw = caseworker("kk.jobcenter.rehab", "rehab-team-member");
        let r = release(&f, &cw, "rehabilitation-team", "jobnet.cv").await.unwrap();
        assert_eq!(r.sections[0].status, SectionStatus::Included, "{:?}", r.sections[0]);
        // 30 days and a second later (no sleeping: the core's clock moves), the consent has
        // expired and the next case file is denied before any source is asked.
        f.source.clock.advance(TimeDelta::days(30) + TimeDelta::seconds(1));
        let r = release(&f, &cw, "rehabilitation-team", "jobnet.cv").await.unwrap();
        let s = &r.sections[0];
        assert_eq!(s.status, SectionStatus::Denied, "{s:?}");
        assert!(s.documents.is_empty() && s.basis.is_none(), "{s:?}");
        assert_eq!(release_records(&f).await.len(), 1, "the denial was not fetched, so it has no release record");
        // The audit writer signs with the same clock: the last checkpoint is at the moved time.
        let cp = f.core.audit.latest_checkpoint().await.unwrap().unwrap();
        assert_eq!(cp.time, f.core.clock.now());
    }

    /// A consent signed on paper and not confirmed: included until its confirmation
    /// deadline (decided by `consent.paper`), denied after it, though its period runs on.
    #[tokio::test]
    async fn an_unconfirmed_paper_consent_permits_until_its_deadline_only() {
        let f = fixture(&["jobnet.cv"], During::Nothing, Arc::new(UnknownResidence)).await;
        let now = f.core.clock.now();
        let input = TermsInput {
            citizen: citizen(),
            grantee: UnitId::parse("kk.jobcenter.rehab").unwrap(),
            include_subunits: false,
            purpose: "rehabilitation-team".parse().unwrap(),
            categories: BTreeSet::from(["jobnet.cv".parse().unwrap()]),
            period: Period { from: now - TimeDelta::minutes(1), until: now + TimeDelta::days(90) },
            data_period: None,
            text_version: "blanket-1".into(),
            text_body: "Ja.".into(),
        };
        let paper = consent::PaperRecord {
            scan_sha256: "ab".repeat(32),
            scan_reference: "SCAN-1".into(),
            registered_by: consent::Requester { caseworker: "cw".into(), system: "sys".into() },
            confirm_by: now + TimeDelta::days(14),
            confirmed_at: None,
        };
        let actor = Actor::caseworker("sys", "cw", UnitId::parse("kk.jobcenter.rehab").unwrap(), "r-0");
        let c = f.consents.register_paper(input, paper, &actor, now).await.unwrap();
        *f.source.consent.lock().unwrap() = Some(c.id);
        let cw = caseworker("kk.jobcenter.rehab", "rehab-team-member");
        let r = release(&f, &cw, "rehabilitation-team", "jobnet.cv").await.unwrap();
        assert_eq!(r.sections[0].status, SectionStatus::Included, "{:?}", r.sections[0]);
        assert_eq!(r.sections[0].policies, ["consent.paper"], "{:?}", r.sections[0]);
        f.source.clock.advance(TimeDelta::days(14));
        let r = release(&f, &cw, "rehabilitation-team", "jobnet.cv").await.unwrap();
        assert_eq!(r.sections[0].status, SectionStatus::Denied, "expired at the deadline: {:?}", r.sections[0]);
    }

    #[tokio::test]
    async fn a_consent_revoked_during_the_fetch_turns_the_section_into_a_denial() {
        let f = fixture(&["jobnet.cv"], During::Revoke, Arc::new(UnknownResidence)).await;
        let id = grant(&f, "kk.jobcenter.rehab", "rehabilitation-team", "jobnet.cv").await;
        let cw = caseworker("kk.jobcenter.rehab", "rehab-team-member");
        let r = release(&f, &cw, "rehabilitation-team", "jobnet.cv").await.unwrap();
        let s = &r.sections[0];
        assert_eq!(s.status, SectionStatus::Denied, "{s:?}");
        assert!(s.documents.is_empty());
        assert_eq!(s.reason.da, "Samtykket blev trukket tilbage, mens oplysningerne blev hentet.");
        assert!(s.detail.as_deref().unwrap().contains(&id.to_string()), "{s:?}");
        let records = release_records(&f).await;
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].outcome, "denied");
        assert!(records[0].documents.is_empty());
        assert!(records[0].detail.as_deref().unwrap().contains("no longer in force"), "{:?}", records[0]);
        // The decision itself was a permit, on record before the fetch.
        assert_eq!(records[0].basis.as_deref(), Some(format!("consent:{id}").as_str()));
    }

    #[tokio::test]
    async fn a_block_placed_during_the_fetch_turns_the_section_into_a_denial() {
        for during in [During::BlockUnit, During::BlockCategory] {
            let f = fixture(&["jobnet.cv"], during, Arc::new(UnknownResidence)).await;
            grant(&f, "kk.jobcenter.rehab", "rehabilitation-team", "jobnet.cv").await;
            let cw = caseworker("kk.jobcenter.rehab", "rehab-team-member");
            let r = release(&f, &cw, "rehabilitation-team", "jobnet.cv").await.unwrap();
            let s = &r.sections[0];
            assert_eq!(s.status, SectionStatus::Denied, "{s:?}");
            assert!(s.documents.is_empty());
            assert_eq!(s.reason.en, "The citizen placed a block while the data was being fetched.");
            let records = release_records(&f).await;
            assert_eq!(records[0].outcome, "denied");
            assert!(records[0].detail.as_deref().unwrap().contains("block"), "{:?}", records[0]);
        }
    }

    #[tokio::test]
    async fn a_consent_that_expires_during_the_fetch_releases_nothing() {
        let f = fixture(&["jobnet.cv"], During::Expire, Arc::new(UnknownResidence)).await;
        grant(&f, "kk.jobcenter.rehab", "rehabilitation-team", "jobnet.cv").await;
        let cw = caseworker("kk.jobcenter.rehab", "rehab-team-member");
        let decided_at = f.core.clock.now();
        let r = release(&f, &cw, "rehabilitation-team", "jobnet.cv").await.unwrap();
        let s = &r.sections[0];
        assert_eq!(r.assembled_at, decided_at);
        assert_eq!(s.status, SectionStatus::Denied, "{s:?}");
        assert!(s.documents.is_empty());
        assert!(s.detail.as_deref().unwrap().contains("(expired)"), "{s:?}");
        let records = release_records(&f).await;
        assert_eq!(records[0].outcome, "denied");
        assert!(records[0].time > decided_at, "the release record carries the time after the fetch");
    }

    #[tokio::test]
    async fn without_a_change_during_the_fetch_the_consent_releases() {
        let f = fixture(&["jobnet.cv"], During::Nothing, Arc::new(UnknownResidence)).await;
        let id = grant(&f, "kk.jobcenter.rehab", "rehabilitation-team", "jobnet.cv").await;
        let cw = caseworker("kk.jobcenter.rehab", "rehab-team-member");
        let r = release(&f, &cw, "rehabilitation-team", "jobnet.cv").await.unwrap();
        let s = &r.sections[0];
        assert_eq!(s.status, SectionStatus::Included, "{s:?}");
        assert_eq!(s.basis, Some(Basis::Consent(id)));
        let records = release_records(&f).await;
        assert_eq!(records[0].outcome, "included");
        assert_eq!(records[0].documents, vec![s.documents[0].sha256.clone()]);
    }
}
