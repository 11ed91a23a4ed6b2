//! The write pipeline: a contribution to a shared record about the citizen (an effort or a
//! milestone in the coordinated plan, or the citizen's own statement). No HTTP here.
//!
//! 1. Facts (the consents covering `plan`, the citizen's blocks) and one policy decision
//!    for the action `write` (`policies/policy-set/60-write.cedar`), or `write_own` for
//!    the citizen's statement.
//! 2. A `write_decision` record, durable. A denial ends there: nothing is read or written.
//! 3. A permit ([`WritePermit`], made only from a permit decision) lets the core read the
//!    plan as it is (nothing of it leaves) to check ownership: a department changes only
//!    its own parts, so replacing an effort or a milestone needs the caseworker's unit to
//!    be its owning unit or lie below it. A refusal is a `write_result` record
//!    (`not_owner`), durable, and nothing is written.
//! 4. A `write` record with the SHA-256 of the change (its canonical JSON), durable before
//!    the source is asked: if the audit log refuses it, nothing is written.
//! 5. The write, against the version the caller read (a newer version is a conflict that
//!    names it), then a `write_result` record with the outcome and the digest of the plan
//!    as it now is, durable before the caller is answered. The answer carries the new
//!    version and the id of the element written, never the plan itself: reading the plan
//!    is a release, through the release pipeline.

use chrono::{DateTime, Utc};
use connectors::plan::{Plan, PlanChange};
use connectors::{FetchError, FetchRequest, WriteError as SourceWriteError, WriteRequest as SourceWrite};
use consent::audit::{AuditDecision, AuditKind, AuditRecord};
use consent::{Category, Cpr, Purpose};
use policies::{Action, Basis, Caseworker, CategoryDecision, OwnAccessRequest, Reason};
use sha2::{Digest, Sha256};

use super::{Core, OWN_ACCESS_SYSTEM, audit_basis};

/// A caseworker's change to the citizen's coordinated plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanEdit {
    /// Add (no id) or replace (its id) the caseworker's department's effort.
    Effort {
        id: Option<String>,
        title: String,
        description: String,
        from: chrono::NaiveDate,
        to: Option<chrono::NaiveDate>,
    },
    /// Add (no id) or replace (its id) a milestone of the caseworker's department.
    Milestone { id: Option<String>, title: String, due: chrono::NaiveDate, reached: bool },
}

/// A checked request to write.
#[derive(Debug, Clone)]
pub struct PlanWriteRequest<'a> {
    pub caseworker: &'a Caseworker,
    pub system: &'a str,
    pub citizen: Cpr,
    pub purpose: &'a Purpose,
    pub request_id: &'a str,
    /// The plan version the change was made against.
    pub version: u64,
    pub edit: PlanEdit,
}

/// A write the plan service accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanWritten {
    pub version: u64,
    /// The effort, milestone or statement written.
    pub element: String,
    /// SHA-256 (hex) of the change written, as in the audit log.
    pub change_sha256: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanWriteError {
    /// No basis to write (audited, nothing written).
    #[error("no basis to write")]
    Denied { reason: Reason, policies: Vec<String> },
    /// The element belongs to another unit (audited, nothing written).
    #[error("the element belongs to another department")]
    NotOwner,
    /// The plan has a newer version than the one written against (audited).
    #[error("the plan has version {current}")]
    Conflict { current: u64 },
    /// The change names an element the plan does not have, or the service refused a field.
    #[error("invalid change: {field}")]
    Invalid { field: String },
    /// The citizen has no plan.
    #[error("the citizen has no coordinated plan")]
    NoPlan,
    /// The plan service failed; nothing or an unknown change was written (audited).
    #[error("the plan service failed: {0}")]
    Source(String),
    /// A fact could not be looked up or the policy engine failed.
    #[error("{what} failed: {message}")]
    Lookup { what: &'static str, message: String },
    /// An audit record could not be made durable.
    #[error("the audit log refused records: {0}")]
    AuditUnavailable(String),
}

fn lookup(what: &'static str) -> impl FnOnce(String) -> PlanWriteError {
    move |message| PlanWriteError::Lookup { what, message }
}

/// The category of the coordinated plan.
pub fn plan_category() -> Category {
    Category::parse(connectors::plan::CATEGORY).expect("a valid category name")
}

/// Leave to write one category of one citizen: only [`WritePermit::from_decision`] makes
/// one, from a [`CategoryDecision::Permit`] for the action `write` or `write_own`.
#[derive(Debug)]
pub struct WritePermit {
    category: Category,
    basis: Basis,
    policies: Vec<String>,
}

impl WritePermit {
    fn from_decision(d: &CategoryDecision) -> Option<WritePermit> {
        let CategoryDecision::Permit { category, basis, .. } = d else { return None };
        Some(WritePermit { category: category.clone(), basis: basis.clone(), policies: d.policies().to_vec() })
    }
}

/// Who writes: a caseworker through their system, or the citizen through the portal.
struct Writer<'a> {
    system: &'a str,
    caseworker: Option<&'a Caseworker>,
    citizen: Cpr,
    purpose: Option<&'a Purpose>,
    request_id: &'a str,
}

impl Writer<'_> {
    fn record(&self, at: DateTime<Utc>, kind: AuditKind, permit_category: &Category) -> AuditRecord {
        let mut r = AuditRecord::new(at, self.request_id.to_string(), kind);
        r.system = Some(self.system.to_string());
        r.caseworker = self.caseworker.map(|c| c.id.clone());
        r.unit = self.caseworker.map(|c| c.unit.clone());
        r.citizen = Some(self.citizen);
        r.purpose = self.purpose.cloned();
        r.category = Some(permit_category.clone());
        r
    }
}

/// SHA-256 (hex) of a change's canonical JSON.
pub fn change_digest(change: &serde_json::Value) -> String {
    hex::encode(Sha256::digest(connectors::document::canonical_json(change)))
}

impl Core {
    /// Decides, records and writes a caseworker's change to the plan (module docs).
    pub async fn write_plan(
        &self,
        req: &PlanWriteRequest<'_>,
        now: DateTime<Utc>,
    ) -> Result<PlanWritten, PlanWriteError> {
        let category = plan_category();
        let unit = &req.caseworker.unit;
        let decision = self
            .decide_single(req.caseworker, &req.citizen, req.purpose, &category, Action::Write, now)
            .await
            .map_err(|f| PlanWriteError::Lookup { what: f.what, message: f.message })?;
        let writer = Writer {
            system: req.system,
            caseworker: Some(req.caseworker),
            citizen: req.citizen,
            purpose: Some(req.purpose),
            request_id: req.request_id,
        };
        let permit = self.write_decision(&writer, &decision, now).await?;

        // Ownership, against the plan as it is now (read under the write permit; nothing
        // of it leaves).
        let plan = self.current_plan(&permit, &writer).await?;
        let directory = &self.ledger.rules().directory;
        let (id, kind) = match &req.edit {
            PlanEdit::Effort { id, .. } => (id.as_deref(), "effort"),
            PlanEdit::Milestone { id, .. } => (id.as_deref(), "milestone"),
        };
        if let Some(id) = id {
            let owner = match kind {
                "effort" => plan.efforts.iter().find(|e| e.id == id).map(|e| e.unit.clone()),
                _ => plan.milestones.iter().find(|m| m.id == id).map(|m| m.unit.clone()),
            };
            let Some(owner) = owner else {
                let mut r = writer.record(self.clock.now(), AuditKind::WriteResult, &permit.category);
                r.basis = Some(audit_basis(&permit.basis));
                r.outcome = "refused".into();
                r.detail = Some(format!("{kind} {id} is not in the plan; nothing written"));
                self.append_write(vec![r]).await?;
                return Err(PlanWriteError::Invalid { field: format!("{kind}.id") });
            };
            let owns = consent::UnitId::parse(&owner).is_ok_and(|o| directory.is_within(unit, &o));
            if !owns {
                let mut r = writer.record(self.clock.now(), AuditKind::WriteResult, &permit.category);
                r.decision = Some(AuditDecision::Deny);
                r.basis = Some(audit_basis(&permit.basis));
                r.policies = permit.policies.clone();
                r.outcome = "not_owner".into();
                r.detail =
                    Some(format!("{kind} {id} belongs to unit {owner}; a department changes only its own parts"));
                self.append_write(vec![r]).await?;
                return Err(PlanWriteError::NotOwner);
            }
        }
        let unit_name = directory.unit(unit).map_or_else(|| unit.to_string(), |u| u.name.clone());
        let change = match &req.edit {
            PlanEdit::Effort { id, title, description, from, to } => PlanChange::Effort {
                id: id.clone(),
                unit: unit.to_string(),
                unit_name,
                title: title.clone(),
                description: description.clone(),
                from: *from,
                to: *to,
            },
            PlanEdit::Milestone { id, title, due, reached } => PlanChange::Milestone {
                id: id.clone(),
                unit: unit.to_string(),
                title: title.clone(),
                due: *due,
                reached: *reached,
            },
        };
        self.write_change(&permit, &writer, &plan, req.version, change).await
    }

    /// The citizen's own statement in their plan ("Mit perspektiv"): decided (action
    /// `write_own`), recorded and written like a caseworker's change, against the version
    /// the plan has now.
    pub async fn write_own_statement(
        &self,
        citizen: Cpr,
        text: &str,
        request_id: &str,
        now: DateTime<Utc>,
    ) -> Result<PlanWritten, PlanWriteError> {
        let categories = [plan_category()];
        let decision = self
            .engine
            .decide_own_write(&OwnAccessRequest { categories: &categories, now })
            .map_err(|e| lookup("the policy decision")(e.to_string()))?;
        let writer = Writer { system: OWN_ACCESS_SYSTEM, caseworker: None, citizen, purpose: None, request_id };
        let permit = self.write_decision(&writer, &decision, now).await?;
        let date = crate::core::danish_time::local_date(now);
        // A statement conflicts with nothing: on a newer version, read again and retry.
        let mut attempts = 0;
        loop {
            let plan = self.current_plan(&permit, &writer).await?;
            let change = PlanChange::Statement { date, text: text.to_string() };
            match self.write_change(&permit, &writer, &plan, plan.version, change).await {
                Err(PlanWriteError::Conflict { .. }) if attempts < 2 => attempts += 1,
                other => return other,
            }
        }
    }

    /// Records the decision (durable); the permit when it permits, else the denial.
    async fn write_decision(
        &self,
        writer: &Writer<'_>,
        decision: &policies::Decision,
        now: DateTime<Utc>,
    ) -> Result<WritePermit, PlanWriteError> {
        let section = decision.sections.first().ok_or_else(|| lookup("the policy decision")("no section".into()))?;
        let mut r = writer.record(now, AuditKind::WriteDecision, section.category());
        r.policies = section.policies().to_vec();
        r.basis = section.basis().map(audit_basis);
        r.detail = Some(format!("policy set {}", decision.policy_digest));
        let permit = WritePermit::from_decision(section);
        r.decision = Some(if permit.is_some() { AuditDecision::Permit } else { AuditDecision::Deny });
        r.outcome = if permit.is_some() { "permit" } else { "denied" }.into();
        self.append_write(vec![r]).await?;
        permit.ok_or_else(|| PlanWriteError::Denied {
            reason: section.reason().clone(),
            policies: section.policies().to_vec(),
        })
    }

    /// The plan as the service holds it now, read under the write permit.
    async fn current_plan(&self, permit: &WritePermit, writer: &Writer<'_>) -> Result<Plan, PlanWriteError> {
        let Some(connector) = self.sources.registry.for_category(&permit.category) else {
            return Err(PlanWriteError::Source(format!("no connector serves {}", permit.category)));
        };
        let req = FetchRequest {
            citizen: writer.citizen,
            category: permit.category.clone(),
            data_period: None,
            request_id: writer.request_id.to_string(),
            clock: self.clock.clone(),
        };
        let docs = match tokio::time::timeout(self.sources.deadline, connector.fetch(&req)).await {
            Ok(Ok(docs)) => docs,
            Ok(Err(e)) => return Err(self.failed(permit, writer, &e).await),
            Err(_) => {
                let e = FetchError::Timeout(format!("no answer within {} ms", self.sources.deadline.as_millis()));
                return Err(self.failed(permit, writer, &e).await);
            }
        };
        let Some(doc) = docs.into_iter().next() else { return Err(PlanWriteError::NoPlan) };
        serde_json::from_value(doc.content).map_err(|e| PlanWriteError::Source(format!("the plan did not parse: {e}")))
    }

    /// A failed read before the write: recorded (best effort: nothing was written).
    async fn failed(&self, permit: &WritePermit, writer: &Writer<'_>, e: &FetchError) -> PlanWriteError {
        let mut r = writer.record(self.clock.now(), AuditKind::WriteResult, &permit.category);
        r.basis = Some(audit_basis(&permit.basis));
        r.outcome = e.status().into();
        r.detail = Some(format!("reading the plan before writing failed: {}; nothing written", e.cause()));
        if let Err(e) = self.append_write(vec![r]).await {
            return e;
        }
        PlanWriteError::Source(e.to_string())
    }

    /// Records the change with its digest (durable), writes it, records the outcome.
    async fn write_change(
        &self,
        permit: &WritePermit,
        writer: &Writer<'_>,
        plan: &Plan,
        version: u64,
        change: PlanChange,
    ) -> Result<PlanWritten, PlanWriteError> {
        let value = serde_json::to_value(&change).map_err(|e| lookup("encoding the change")(e.to_string()))?;
        let digest = change_digest(&value);
        let mut r = writer.record(self.clock.now(), AuditKind::Write, &permit.category);
        r.decision = Some(AuditDecision::Permit);
        r.basis = Some(audit_basis(&permit.basis));
        r.policies = permit.policies.clone();
        r.outcome = "writing".into();
        r.documents = vec![digest.clone()];
        r.detail = Some(format!("{} against version {version}", kind_of(&change)));
        self.append_write(vec![r]).await?;

        let Some(connector) = self.sources.registry.for_category(&permit.category) else {
            return Err(PlanWriteError::Source(format!("no connector serves {}", permit.category)));
        };
        let request = SourceWrite {
            citizen: writer.citizen,
            category: permit.category.clone(),
            expected_version: version,
            change: value,
            request_id: writer.request_id.to_string(),
            clock: self.clock.clone(),
        };
        let outcome = connector.write(&request).await;
        let mut r = writer.record(self.clock.now(), AuditKind::WriteResult, &permit.category);
        r.decision = Some(AuditDecision::Permit);
        r.basis = Some(audit_basis(&permit.basis));
        r.policies = permit.policies.clone();
        let result = match outcome {
            Ok(written) => {
                let new: Option<Plan> =
                    written.documents.first().and_then(|d| serde_json::from_value(d.content.clone()).ok());
                let element = new.as_ref().and_then(|n| element_written(plan, n, &change)).unwrap_or_default();
                r.outcome = "written".into();
                r.documents = written.documents.iter().map(|d| d.sha256.clone()).collect();
                r.detail = Some(format!("{} {element}; version {}", kind_of(&change), written.version));
                Ok(PlanWritten { version: written.version, element, change_sha256: digest })
            }
            Err(SourceWriteError::Conflict { current }) => {
                r.outcome = "conflict".into();
                r.detail = Some(format!("the plan has version {current}, not {version}; nothing written"));
                Err(PlanWriteError::Conflict { current })
            }
            Err(SourceWriteError::Refused(field)) => {
                r.outcome = "refused".into();
                r.detail = Some(format!("the plan service refused the change ({field}); nothing written"));
                Err(PlanWriteError::Invalid { field: field.trim_start_matches("field ").to_string() })
            }
            Err(SourceWriteError::NotFound) => {
                r.outcome = "no_data".into();
                r.detail = Some("the citizen has no plan; nothing written".into());
                Err(PlanWriteError::NoPlan)
            }
            Err(SourceWriteError::Source(e)) => {
                r.outcome = "failed".into();
                r.detail = Some(format!("{}: {}; the change may or may not be written", e.status(), e.cause()));
                Err(PlanWriteError::Source(e.to_string()))
            }
        };
        self.append_write(vec![r]).await?;
        if let Ok(w) = &result {
            tracing::info!(system = %writer.system, version = w.version, "plan change written");
        }
        result
    }

    async fn append_write(&self, records: Vec<AuditRecord>) -> Result<(), PlanWriteError> {
        self.audit.append(records).await.map(drop).map_err(|e| {
            tracing::error!(error = %e, "the audit log refused a write record; writing nothing");
            PlanWriteError::AuditUnavailable(e.to_string())
        })
    }
}

fn kind_of(change: &PlanChange) -> &'static str {
    match change {
        PlanChange::Effort { .. } => "effort",
        PlanChange::Milestone { .. } => "milestone",
        PlanChange::Statement { .. } => "statement",
    }
}

/// The id of the element a change wrote: the one it replaced, or the one that is new.
fn element_written(before: &Plan, after: &Plan, change: &PlanChange) -> Option<String> {
    if let Some(id) = change.replaces() {
        return Some(id.to_string());
    }
    let new = |old: Vec<&str>, now: Vec<&str>| now.into_iter().find(|id| !old.contains(id)).map(str::to_string);
    match change {
        PlanChange::Effort { .. } => new(
            before.efforts.iter().map(|e| e.id.as_str()).collect(),
            after.efforts.iter().map(|e| e.id.as_str()).collect(),
        ),
        PlanChange::Milestone { .. } => new(
            before.milestones.iter().map(|m| m.id.as_str()).collect(),
            after.milestones.iter().map(|m| m.id.as_str()).collect(),
        ),
        PlanChange::Statement { .. } => new(
            before.statements.iter().map(|s| s.id.as_str()).collect(),
            after.statements.iter().map(|s| s.id.as_str()).collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;
    use std::sync::{Arc, Mutex};

    use async_trait::async_trait;
    use chrono::TimeDelta;
    use connectors::{Connector, Document, Registry, Source, WriteRequest, Written};
    use consent::audit::{AuditConfig, AuditLog, AuditRecord};
    use consent::{Actor, Channel, ConsentService, Ledger, Period, SharedStore, TermsInput, UnitId};

    use super::*;
    use crate::core::clock::{Clock, TestClock};
    use crate::core::facts::UnknownResidence;
    use crate::core::{Core, CoreConfig};

    /// A plan service in memory: one plan whose effort `e-1` the rehabilitation team owns;
    /// it keeps every change it is asked to write.
    struct FakePlan {
        categories: Vec<Category>,
        written: Mutex<Vec<serde_json::Value>>,
        clock: Arc<TestClock>,
    }

    impl FakePlan {
        fn plan(&self, version: u64) -> Document {
            let plan = Plan {
                civil_registration_identifier: String::new(),
                plan_id: "p-1".into(),
                version,
                goals: Vec::new(),
                efforts: vec![connectors::plan::Effort {
                    id: "e-1".into(),
                    unit: "kk.jobcenter.rehab".into(),
                    unit_name: "Rehabiliteringsteamet".into(),
                    title: "Mentor".into(),
                    description: String::new(),
                    from: chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
                    to: None,
                }],
                milestones: Vec::new(),
                statements: Vec::new(),
            };
            let source = Source {
                system: "fake".into(),
                endpoint: "memory".into(),
                organisation: None,
                fetched_at: self.clock.now(),
            };
            Document::new("p-1", "Plan", "plan", None, source, &plan).unwrap()
        }
    }

    #[async_trait]
    impl Connector for FakePlan {
        fn id(&self) -> &str {
            "fake-plan"
        }
        fn categories(&self) -> &[Category] {
            &self.categories
        }
        async fn fetch(&self, _req: &FetchRequest) -> Result<Vec<Document>, FetchError> {
            Ok(vec![self.plan(1)])
        }
        async fn write(&self, req: &WriteRequest) -> Result<Written, SourceWriteError> {
            self.written.lock().unwrap().push(req.change.clone());
            Ok(Written { version: req.expected_version + 1, documents: vec![self.plan(req.expected_version + 1)] })
        }
    }

    struct Fixture {
        core: Core,
        consents: ConsentService<SharedStore>,
        source: Arc<FakePlan>,
        _dir: tempfile::TempDir,
    }

    async fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let settings = crate::settings::Settings::load(None, Some(dir.path())).unwrap();
        let rules = settings.domain.clone().into_rules().unwrap();
        let policies = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies");
        let engine = Arc::new(policies::PolicyEngine::load(&policies, &rules).unwrap());
        let store = consent::store::open(&consent::Engine::sled(), dir.path()).unwrap();
        let clock = Arc::new(TestClock::new("2025-03-01T10:00:00Z".parse().unwrap()));
        let config = AuditConfig { clock: clock.clone(), ..AuditConfig::default() };
        let audit = AuditLog::open(store.clone(), consent::audit::generate_signing_key(), config).await.unwrap();
        let ledger = Ledger::new(store, rules);
        let consents = ConsentService::new(ledger.clone(), audit.clone());
        let source = Arc::new(FakePlan {
            categories: vec![plan_category()],
            written: Mutex::new(Vec::new()),
            clock: clock.clone(),
        });
        let core = Core::new(CoreConfig {
            ledger,
            audit,
            engine,
            registry: Registry::from_connectors([source.clone() as Arc<dyn Connector>]).unwrap(),
            case_file_deadline: std::time::Duration::from_secs(5),
            clock,
            residence: Arc::new(UnknownResidence),
            health: None,
            representation: None,
        });
        Fixture { core, consents, source, _dir: dir }
    }

    fn citizen() -> Cpr {
        Cpr::parse("0101709901").unwrap()
    }

    async fn consent_to_kk(f: &Fixture) {
        let now = f.core.clock.now();
        let terms = TermsInput {
            citizen: citizen(),
            grantee: UnitId::parse("kk").unwrap(),
            include_subunits: true,
            purpose: "coordinated-plan".parse().unwrap(),
            categories: BTreeSet::from([plan_category()]),
            period: Period { from: now - TimeDelta::minutes(1), until: now + TimeDelta::days(30) },
            data_period: None,
            text_version: "t-1".into(),
            text_body: "Ja.".into(),
        };
        f.consents.grant(terms, &citizen(), &Actor::citizen(Channel::Portal), now).await.unwrap();
    }

    async fn write(f: &Fixture, unit: &str, role: &str, edit: PlanEdit) -> Result<PlanWritten, PlanWriteError> {
        let cw = Caseworker {
            id: "cw-1".into(),
            unit: UnitId::parse(unit).unwrap(),
            roles: BTreeSet::from([role.to_string()]),
        };
        let purpose: Purpose = "coordinated-plan".parse().unwrap();
        let req = PlanWriteRequest {
            caseworker: &cw,
            system: "test-system",
            citizen: citizen(),
            purpose: &purpose,
            request_id: "w-1",
            version: 1,
            edit,
        };
        f.core.write_plan(&req, f.core.clock.now()).await
    }

    async fn records(f: &Fixture) -> Vec<AuditRecord> {
        let all = f.core.audit.entries(0, f.core.audit.tree_size()).await.unwrap();
        all.into_iter().map(|(_, r)| r).filter(|r| r.request_id == "w-1").collect()
    }

    fn effort(id: Option<&str>) -> PlanEdit {
        PlanEdit::Effort {
            id: id.map(String::from),
            title: "Bostøtte".into(),
            description: String::new(),
            from: chrono::NaiveDate::from_ymd_opt(2025, 4, 1).unwrap(),
            to: None,
        }
    }

    #[tokio::test]
    async fn a_write_without_basis_is_recorded_and_writes_nothing() {
        let f = fixture().await;
        let e = write(&f, "kk.social", "social-caseworker", effort(None)).await.unwrap_err();
        assert!(matches!(e, PlanWriteError::Denied { .. }), "{e:?}");
        let r = records(&f).await;
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].kind, r[0].decision), (AuditKind::WriteDecision, Some(AuditDecision::Deny)));
        assert!(f.source.written.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_department_changes_only_its_own_effort() {
        let f = fixture().await;
        consent_to_kk(&f).await;
        let e = write(&f, "kk.social", "social-caseworker", effort(Some("e-1"))).await.unwrap_err();
        assert!(matches!(e, PlanWriteError::NotOwner), "{e:?}");
        let kinds: Vec<_> = records(&f).await.iter().map(|r| (r.kind, r.outcome.clone())).collect();
        assert_eq!(kinds, [(AuditKind::WriteDecision, "permit".into()), (AuditKind::WriteResult, "not_owner".into())]);
        assert!(f.source.written.lock().unwrap().is_empty());
        // The owner may.
        let w = write(&f, "kk.jobcenter.rehab", "rehab-team-member", effort(Some("e-1"))).await.unwrap();
        assert_eq!((w.version, w.element.as_str()), (2, "e-1"));
    }

    #[tokio::test]
    async fn a_write_is_recorded_with_the_digest_of_the_change_before_and_after() {
        let f = fixture().await;
        consent_to_kk(&f).await;
        let w = write(&f, "kk.social", "social-caseworker", effort(None)).await.unwrap();
        assert_eq!(w.version, 2);
        let written = f.source.written.lock().unwrap().clone();
        assert_eq!(written.len(), 1);
        assert_eq!(written[0]["unit"], "kk.social", "a new effort belongs to the writer's unit");
        assert_eq!(w.change_sha256, change_digest(&written[0]));
        let r = records(&f).await;
        let kinds: Vec<_> = r.iter().map(|r| r.kind).collect();
        assert_eq!(kinds, [AuditKind::WriteDecision, AuditKind::Write, AuditKind::WriteResult]);
        assert_eq!(r[1].documents, vec![w.change_sha256.clone()]);
        assert_eq!(r[2].outcome, "written");
        assert!(r.iter().all(|r| r.citizen == Some(citizen()) && r.unit == Some(UnitId::parse("kk.social").unwrap())));
    }

    #[test]
    fn the_digest_is_of_the_canonical_json() {
        let a = serde_json::json!({"kind": "statement", "text": "Jeg vil gerne i praktik", "date": "2025-03-01"});
        let b = serde_json::json!({"date": "2025-03-01", "text": "Jeg vil gerne i praktik", "kind": "statement"});
        assert_eq!(change_digest(&a), change_digest(&b));
        assert_eq!(change_digest(&a).len(), 64);
    }

    #[test]
    fn the_element_written_is_the_replaced_or_the_new_one() {
        let cpr = Cpr::parse("0101709901").unwrap();
        let before = sandbox_free_plan(cpr);
        let mut after = before.clone();
        after.statements.push(connectors::plan::Statement {
            id: "s-1".into(),
            date: chrono::NaiveDate::from_ymd_opt(2025, 3, 1).unwrap(),
            text: "x".into(),
        });
        let change =
            PlanChange::Statement { date: chrono::NaiveDate::from_ymd_opt(2025, 3, 1).unwrap(), text: "x".into() };
        assert_eq!(element_written(&before, &after, &change).as_deref(), Some("s-1"));
    }

    fn sandbox_free_plan(cpr: Cpr) -> Plan {
        Plan {
            civil_registration_identifier: cpr.expose().to_string(),
            plan_id: "p".into(),
            version: 1,
            goals: Vec::new(),
            efforts: Vec::new(),
            milestones: Vec::new(),
            statements: Vec::new(),
        }
    }
}
