//! The fast path: the common `read` decisions answered without Cedar, for the one policy
//! set it was written for.
//!
//! Cedar stays the single source of truth. The fast path is a hand translation of the
//! policies that can apply to `read` (`policy-set/*.cedar`), enabled only while the digest
//! of those policies ([`read_digest`]) is [`WRITTEN_FOR`]: change, add or remove a policy
//! that can apply to `read` and the fast path switches itself off (every decision goes to
//! Cedar) and the test `the_fast_path_is_written_for_the_policy_set` fails until someone
//! has checked this file against the new set and updated [`WRITTEN_FOR`].
//! `tests/fast_path.rs` proves, on generated requests, that every section the fast path
//! answers is the one Cedar gives: effect, basis, determining policies and reason.
//!
//! Preconditions: the fast path answers a category only when all of these hold, and
//! otherwise leaves it to Cedar (returns `None`):
//!
//! 1. the category is one of the six with a role gate of their own ([`GATES`]), so
//!    `role-gate.unlisted` cannot fire;
//! 2. no block in force applies: no blocked unit is the caseworker's unit or above it,
//!    and no blocked category is the category or its domain (so neither `block.*` fires);
//! 3. the consent Cedar would be asked about, if any, was given by the citizen personally
//!    (`given_by` is `citizen`; a representative's or a paper consent goes to Cedar);
//! 4. the rest it decides exactly: the role gate (`role-gate.<category>`), the consent
//!    (`consent.matching`, whose conditions `guardrail.health-needs-consent` repeats, see
//!    `matching.rs`), and the statute (`statute.rsl-11a-2.benefits`).
//!
//! The request's validity (purpose, categories, unit, roles, blocks' citizen) is checked
//! before either path runs, in `decide.rs`.

use cedar_policy::{ActionConstraint, EntityUid, PolicyId, PolicySet};
use consent::{Block, BlockTarget, Category, Consent, MunicipalityCode, UnitId};
use sha2::{Digest, Sha256};

use crate::decision::{Basis, CategoryDecision, NO_BASIS_DA, NO_BASIS_EN, Reason};
use crate::load::{Loaded, PolicyMeta};

/// [`read_digest`] of the policy set this file translates. Update it only after checking
/// every rule below against the new policies. Last review: the shared overview and the
/// coordinated plan added four categories (`jobcenter.summary`, `social.summary`,
/// `health.summary`, `plan`), each with a role gate of its own scoped to its category, and
/// listed them in `role-gate.unlisted`; the block guardrails were widened to `action in
/// [read, send, write]`. For the six categories of [`GATES`] every policy forbids or
/// permits exactly as before (the new gates do not reach them, `role-gate.unlisted` still
/// spares them, the guardrails read as before for `read`), and the new categories are not
/// in [`GATES`], so the fast path leaves them to Cedar.
/// Then: `consent.matching` now requires
/// `given_by == "citizen"`, and `consent.representative`, `consent.custody` and
/// `consent.paper` were added for the other givers; the fast path leaves every request whose chosen consent was not given
/// by the citizen personally to Cedar, so for the rest it decides exactly as before.
pub const WRITTEN_FOR: &str = "0b87ebbba624becff800fd0e38185337af7760c3b563c69326812cb0fc8c88b3";

/// The role gates (`policy-set/40-roles.cedar`): per category, the roles that may read it.
const GATES: &[(&str, &[&str])] = &[
    ("health.lae265", &["rehab-team-member", "jobcenter-caseworker"]),
    ("health.correspondence", &["rehab-team-member", "jobcenter-caseworker"]),
    ("jobcenter.case", &["jobcenter-caseworker", "rehab-team-member"]),
    ("jobcenter.benefits", &["benefits-officer", "jobcenter-caseworker", "rehab-team-member"]),
    ("social.case", &["social-caseworker", "rehab-team-member"]),
    ("jobnet.cv", &["jobcenter-caseworker", "rehab-team-member", "social-caseworker"]),
];

/// `statute.rsl-11a-2.benefits` (`policy-set/30-statutes.cedar`).
const STATUTE_ROLE: &str = "benefits-officer";
const STATUTE_CATEGORY: &str = "jobcenter.benefits";
const STATUTE_PURPOSE: &str = "benefit-administration";

const CONSENT_ID: &str = "consent.matching";
const HEALTH_ID: &str = "guardrail.health-needs-consent";
const STATUTE_ID: &str = "statute.rsl-11a-2.benefits";

/// SHA-256 (hex) over the id and text of every policy that can apply to `read` (its action
/// scope is any action, `read`, or a list holding `read`), sorted by id. Policies for other
/// actions do not change it.
pub fn read_digest(policies: &PolicySet, read: &EntityUid) -> String {
    let mut relevant: Vec<(String, String)> = policies
        .policies()
        .filter(|p| match p.action_constraint() {
            ActionConstraint::Any => true,
            ActionConstraint::Eq(a) => a == *read,
            ActionConstraint::In(v) => v.contains(read),
        })
        .map(|p| (p.id().to_string(), p.to_string()))
        .collect();
    relevant.sort();
    let mut h = Sha256::new();
    for (id, text) in &relevant {
        for part in [id, text] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
    }
    hex::encode(h.finalize())
}

/// One policy the fast path names: its Cedar id (the order Cedar's answer lists policies
/// in) and what a section shows of it.
struct Rule {
    pid: PolicyId,
    id: String,
    reason: Reason,
    legal_reference: Option<String>,
}

impl Rule {
    fn of(loaded: &Loaded, id: &str) -> Option<Rule> {
        let pid = PolicyId::new(id);
        let m: &PolicyMeta = loaded.meta.get(&pid)?;
        Some(Rule {
            pid,
            id: m.id.clone(),
            reason: Reason { da: m.reason_da.clone(), en: m.reason_en.clone() },
            legal_reference: m.legal_reference.clone(),
        })
    }
}

/// The fast path for one loaded policy set.
pub(crate) struct FastPath {
    consent: Rule,
    health: Rule,
    statute: Rule,
    /// Per gated category: the roles it admits and its gate policy.
    gates: Vec<(Category, &'static [&'static str], Rule)>,
}

/// What the fast path needs of a request beyond the category: computed once per request.
pub(crate) struct Facts<'r> {
    pub roles: &'r std::collections::BTreeSet<String>,
    pub lineage: &'r [UnitId],
    pub unit_municipality: Option<MunicipalityCode>,
    pub citizen_municipality: Option<MunicipalityCode>,
    pub purpose: &'r str,
    pub blocks: &'r [Block],
}

impl FastPath {
    /// The fast path for `loaded`, or `None` (Cedar only) when its policies are not the set
    /// this file was written for.
    pub(crate) fn new(loaded: &Loaded, read: &EntityUid) -> Option<FastPath> {
        Self::for_digest(loaded, read, WRITTEN_FOR)
    }

    fn for_digest(loaded: &Loaded, read: &EntityUid, written_for: &str) -> Option<FastPath> {
        if read_digest(&loaded.policies, read) != written_for {
            return None;
        }
        let mut gates = Vec::with_capacity(GATES.len());
        for (c, roles) in GATES {
            let category = Category::parse(c).ok()?;
            gates.push((category, *roles, Rule::of(loaded, &format!("role-gate.{c}"))?));
        }
        Some(FastPath {
            consent: Rule::of(loaded, CONSENT_ID)?,
            health: Rule::of(loaded, HEALTH_ID)?,
            statute: Rule::of(loaded, STATUTE_ID)?,
            gates,
        })
    }

    /// The section for `category` when the preconditions above hold, else `None`.
    /// `chosen` is the consent `matching::choose` picked and `matching` whether it matches.
    pub(crate) fn section(
        &self,
        f: &Facts<'_>,
        category: &Category,
        chosen: Option<&Consent>,
        matching: bool,
    ) -> Option<CategoryDecision> {
        let (_, admitted, gate) = self.gates.iter().find(|(c, _, _)| c == category)?;
        // A consent given by a representative, a parent or on paper has policies of its own
        // (`consent.representative`, `consent.custody`, `consent.paper`): left to Cedar.
        if chosen.is_some_and(|k| crate::matching::given_by(k) != "citizen") {
            return None;
        }
        if f.blocks.iter().any(|b| applies(b, f.lineage, category)) {
            return None;
        }
        let gate_open = admitted.iter().any(|r| f.roles.contains(*r));
        let health = category.is_health();
        let mut forbids: Vec<&Rule> = Vec::new();
        if !gate_open {
            forbids.push(gate);
        }
        if health && !matching {
            forbids.push(&self.health);
        }
        if !forbids.is_empty() {
            return Some(deny(category, forbids));
        }
        let statute = category.as_str() == STATUTE_CATEGORY
            && f.roles.contains(STATUTE_ROLE)
            && f.purpose == STATUTE_PURPOSE
            && matches!((f.unit_municipality, f.citizen_municipality), (Some(a), Some(b)) if a.get() == b.get());
        let mut permits: Vec<&Rule> = Vec::new();
        if matching {
            permits.push(&self.consent);
        }
        if statute {
            permits.push(&self.statute);
        }
        if permits.is_empty() {
            return Some(deny(category, permits));
        }
        permits.sort_by(|a, b| a.pid.cmp(&b.pid));
        // A consent basis is preferred, as in `decide.rs`.
        let (basis, rule) = match chosen.filter(|_| matching) {
            Some(k) => (Basis::Consent(k.id), &self.consent),
            None => (Basis::Statute(self.statute.legal_reference.clone().unwrap_or_default()), &self.statute),
        };
        Some(CategoryDecision::Permit {
            category: category.clone(),
            basis,
            policies: permits.iter().map(|r| r.id.clone()).collect(),
            reason: rule.reason.clone(),
        })
    }
}

/// Whether a block in force would make `block.unit` or `block.category` fire.
fn applies(b: &Block, lineage: &[UnitId], category: &Category) -> bool {
    b.is_active()
        && match &b.target {
            BlockTarget::Unit(u) => lineage.contains(u),
            BlockTarget::Category(c) => c == category || c.as_str() == category.domain(),
        }
}

/// A deny by `forbids` (sorted as Cedar sorts them), or for want of a basis when empty.
fn deny(category: &Category, mut forbids: Vec<&Rule>) -> CategoryDecision {
    forbids.sort_by(|a, b| a.pid.cmp(&b.pid));
    let reason = if forbids.is_empty() {
        Reason { da: NO_BASIS_DA.into(), en: NO_BASIS_EN.into() }
    } else {
        Reason {
            da: forbids.iter().map(|r| r.reason.da.as_str()).collect::<Vec<_>>().join(" "),
            en: forbids.iter().map(|r| r.reason.en.as_str()).collect::<Vec<_>>().join(" "),
        }
    };
    CategoryDecision::Deny {
        category: category.clone(),
        policies: forbids.iter().map(|r| r.id.clone()).collect(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read() -> EntityUid {
        r#"Sammen::Action::"read""#.parse().unwrap()
    }

    fn builtin() -> Loaded {
        crate::load::load_sources(&crate::load::Sources::builtin()).unwrap()
    }

    /// Fails when a policy that can apply to `read` changes: check this module against the
    /// new set (and `tests/fast_path.rs` passes), then set `WRITTEN_FOR` to the new digest.
    #[test]
    fn the_fast_path_is_written_for_the_policy_set() {
        let loaded = builtin();
        let digest = read_digest(&loaded.policies, &read());
        assert_eq!(digest, WRITTEN_FOR, "the policies for `read` changed: review fast_path.rs");
        assert!(FastPath::new(&loaded, &read()).is_some());
    }

    #[test]
    fn another_digest_or_a_missing_policy_switches_it_off() {
        let loaded = builtin();
        let digest = read_digest(&loaded.policies, &read());
        assert!(FastPath::for_digest(&loaded, &read(), &digest).is_some());
        assert!(FastPath::for_digest(&loaded, &read(), &"0".repeat(64)).is_none());
        let mut without = builtin();
        without.meta.remove(&PolicyId::new(STATUTE_ID));
        assert!(FastPath::for_digest(&without, &read(), &digest).is_none());
    }

    /// Only policies that can apply to `read` count: one for another action does not
    /// change the digest, one for `read` (or any action) does.
    #[test]
    fn the_digest_covers_the_policies_for_read_only() {
        let loaded = builtin();
        let base = read_digest(&loaded.policies, &read());
        let with = |text: &str| {
            let mut set = loaded.policies.clone();
            let p = cedar_policy::Policy::parse(Some(PolicyId::new("extra")), text).unwrap();
            set.add(p).unwrap();
            read_digest(&set, &read())
        };
        assert_eq!(with(r#"permit (principal, action == Sammen::Action::"send", resource);"#), base);
        assert_ne!(with(r#"forbid (principal, action == Sammen::Action::"read", resource);"#), base);
        assert_ne!(with(r#"forbid (principal, action, resource);"#), base);
        assert_ne!(
            with(r#"forbid (principal, action in [Sammen::Action::"send", Sammen::Action::"read"], resource);"#),
            base
        );
    }
}
