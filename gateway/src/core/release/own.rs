//! The citizen's own access ("Min sag"): the logged-in citizen's own data from every
//! source, live, through the same steps as a case file: one policy decision (action
//! `read_own`, `50-own-access.cedar`), `decision` records durable before any fetch, the
//! fetch with a [`Permit`], `release` records durable before anything is shown. Nothing
//! is stored; the records name the portal as the system and no caseworker or unit.
//!
//! There is no re-check after the fetch: the citizen's right of access cannot be revoked
//! while the data is fetched, and their blocks protect them against others, not against
//! themselves.

use chrono::{DateTime, Utc};
use consent::Category;
use consent::Cpr;
use consent::audit::{AuditDecision, AuditKind, AuditRecord};
use policies::{CategoryDecision, OwnAccessRequest};

use super::{Core, Permit, Release, ReleaseError, Section, SectionStatus, audit_basis, lookup, permitted_section};

/// The `system` of every record of the citizen's own access.
pub const OWN_ACCESS_SYSTEM: &str = "portal";

/// The citizen asking for their own data (the portal authenticated them with MitID).
#[derive(Debug, Clone, Copy)]
pub struct OwnRequest<'a> {
    pub citizen: Cpr,
    /// Known and distinct, at least one.
    pub categories: &'a [Category],
    /// The id the audit records carry.
    pub request_id: &'a str,
}

impl Core {
    /// Runs the pipeline for the citizen's own access at `now` (see the module docs).
    pub async fn release_own(&self, req: &OwnRequest<'_>, now: DateTime<Utc>) -> Result<Release, ReleaseError> {
        let decision = self
            .engine
            .decide_own(&OwnAccessRequest { categories: req.categories, now })
            .map_err(|e| lookup("the policy decision")(e.to_string()))?;

        let records = decision
            .sections
            .iter()
            .map(|s| {
                let mut r = own_record(req, now, AuditKind::Decision, s.category());
                let (d, outcome) = match s {
                    CategoryDecision::Permit { .. } => (AuditDecision::Permit, "permit"),
                    CategoryDecision::Deny { .. } => (AuditDecision::Deny, "denied"),
                };
                r.decision = Some(d);
                r.basis = s.basis().map(audit_basis);
                r.policies = s.policies().to_vec();
                r.outcome = outcome.into();
                r.detail = Some(format!("policy set {}; the citizen's own access", decision.policy_digest));
                r
            })
            .collect();
        self.append(records).await?;

        let permits: Vec<Option<Permit>> = decision.sections.iter().map(|s| Permit::from_decision(s, &[])).collect();
        let mut results = self.fetch_permitted(&permits, req.citizen, req.request_id).await.into_iter();
        let after = self.clock.now();
        let mut sections = Vec::with_capacity(decision.sections.len());
        let mut records = Vec::new();
        for (s, permit) in decision.sections.iter().zip(&permits) {
            let Some(permit) = permit else {
                sections.push(Section {
                    category: s.category().clone(),
                    status: SectionStatus::Denied,
                    basis: None,
                    policies: s.policies().to_vec(),
                    source: None,
                    fetched_at: None,
                    documents: Vec::new(),
                    reason: s.reason().clone(),
                    detail: None,
                });
                continue;
            };
            let (source, outcome, at) = results.next().expect("one fetch per permit");
            let section = permitted_section(s, permit, source, outcome, at);
            let mut r = own_record(req, after, AuditKind::Release, &permit.category);
            r.decision = Some(AuditDecision::Permit);
            r.basis = Some(audit_basis(&permit.basis));
            r.policies = s.policies().to_vec();
            r.outcome = section.status.as_str().to_string();
            r.documents = section.documents.iter().map(|d| d.sha256.clone()).collect();
            r.detail = section.source.as_ref().map(|src| format!("source {src}; the citizen's own access"));
            records.push(r);
            sections.push(section);
        }
        self.append(records).await?;
        Ok(Release { assembled_at: now, policy_digest: decision.policy_digest, sections })
    }
}

fn own_record(req: &OwnRequest<'_>, at: DateTime<Utc>, kind: AuditKind, category: &Category) -> AuditRecord {
    let mut r = AuditRecord::new(at, req.request_id.to_string(), kind);
    r.system = Some(OWN_ACCESS_SYSTEM.to_string());
    r.citizen = Some(req.citizen);
    r.category = Some(category.clone());
    r
}
