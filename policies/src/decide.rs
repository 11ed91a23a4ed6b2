//! The decision API: facts in, a decision with reasons out. Nothing is fetched here; the
//! gateway looks up the consents and blocks first and passes them in.

use std::collections::{HashMap, HashSet};

use cedar_policy::{Context, Entities, Entity, EntityId, EntityTypeName, EntityUid, Request, RestrictedExpression};
use chrono::{DateTime, Utc};
use consent::{BlockTarget, Category, Consent, ConsentId, Cpr, Directory, UnitId};
use serde::{Deserialize, Serialize};

use crate::error::DecisionError;
use crate::load::{BasisKind, Loaded};
use crate::request::{Action, DecisionRequest};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    Permit,
    Deny,
}

/// The legal basis of a permit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum Basis {
    /// The citizen's consent, by id.
    Consent(ConsentId),
    /// A statute, by its legal reference ("retssikkerhedsloven § 11 a, stk. 2").
    Statute(String),
}

/// A reason a person can read, in Danish (for the citizen) and English.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    pub da: String,
    pub en: String,
}

/// The decision for one category. A permit always carries its basis; a deny has none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum CategoryDecision {
    Permit {
        category: Category,
        /// What the permit rests on: a consent or a statute.
        basis: Basis,
        /// The permit policies that allowed.
        policies: Vec<String>,
        reason: Reason,
    },
    Deny {
        category: Category,
        /// The forbid policies that denied. Empty when nothing permitted (no basis).
        policies: Vec<String>,
        reason: Reason,
    },
}

impl CategoryDecision {
    pub fn category(&self) -> &Category {
        match self {
            CategoryDecision::Permit { category, .. } | CategoryDecision::Deny { category, .. } => category,
        }
    }

    pub fn effect(&self) -> Effect {
        match self {
            CategoryDecision::Permit { .. } => Effect::Permit,
            CategoryDecision::Deny { .. } => Effect::Deny,
        }
    }

    /// The basis of a permit; `None` on a deny.
    pub fn basis(&self) -> Option<&Basis> {
        match self {
            CategoryDecision::Permit { basis, .. } => Some(basis),
            CategoryDecision::Deny { .. } => None,
        }
    }

    /// The determining policies' ids: the permit(s) that allowed, or the forbid(s) that
    /// denied. Empty for a deny because nothing permitted (no basis).
    pub fn policies(&self) -> &[String] {
        match self {
            CategoryDecision::Permit { policies, .. } | CategoryDecision::Deny { policies, .. } => policies,
        }
    }

    pub fn reason(&self) -> &Reason {
        match self {
            CategoryDecision::Permit { reason, .. } | CategoryDecision::Deny { reason, .. } => reason,
        }
    }
}

/// The decision for a request: one section per requested category, in request order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub sections: Vec<CategoryDecision>,
    /// The digest of the policy set that decided (for the audit record).
    pub policy_digest: String,
}

impl Decision {
    pub fn permitted(&self, category: &Category) -> bool {
        self.sections.iter().any(|s| s.category() == category && s.effect() == Effect::Permit)
    }
}

/// Ids for the policy engine's "nothing permitted" answer.
pub const NO_BASIS_DA: &str = "Der er intet grundlag for at videregive oplysningerne: intet gældende samtykke dækker denne enhed, dette formål og denne kategori, og ingen lovhjemmel tillader det.";
pub const NO_BASIS_EN: &str = "There is no basis for disclosing this information: no consent in force covers this unit, purpose and category, and no statute permits it.";

/// Cedar's entity type names and the action, parsed once.
pub(crate) struct Names {
    role: EntityTypeName,
    organisation: EntityTypeName,
    caseworker: EntityTypeName,
    citizen: EntityTypeName,
    category: EntityTypeName,
    document: EntityTypeName,
    read: EntityUid,
    send: EntityUid,
}

impl Names {
    pub(crate) fn new() -> Self {
        let t = |s: &str| s.parse::<EntityTypeName>().expect("valid type name");
        Self {
            role: t("Sammen::Role"),
            organisation: t("Sammen::Organisation"),
            caseworker: t("Sammen::Caseworker"),
            citizen: t("Sammen::Citizen"),
            category: t("Sammen::Category"),
            document: t("Sammen::Document"),
            read: r#"Sammen::Action::"read""#.parse().expect("valid action"),
            send: r#"Sammen::Action::"send""#.parse().expect("valid action"),
        }
    }

    fn action(&self, a: Action) -> &EntityUid {
        match a {
            Action::Read => &self.read,
            Action::Send => &self.send,
        }
    }

    fn uid(t: &EntityTypeName, id: &str) -> EntityUid {
        EntityUid::from_type_name_and_id(t.clone(), EntityId::new(id))
    }

    fn org(&self, u: &UnitId) -> EntityUid {
        Self::uid(&self.organisation, u.as_str())
    }

    fn category(&self, c: &str) -> EntityUid {
        Self::uid(&self.category, c)
    }
}

/// The citizen in Cedar: never the CPR number, only "the request's citizen" or "another".
const SUBJECT: &str = "subject";
const OTHER: &str = "other";

/// Organisation entities for every configured unit, built once.
pub(crate) fn organisation_entities(names: &Names, dir: &Directory) -> HashMap<UnitId, Entity> {
    dir.units()
        .map(|u| {
            let parents: HashSet<EntityUid> = u.parent.iter().map(|p| names.org(p)).collect();
            let mut attrs = HashMap::new();
            if let Some(m) = dir.municipality_of(&u.id) {
                attrs.insert("municipality".to_string(), RestrictedExpression::new_long(i64::from(m.get())));
            }
            let e = Entity::new(names.org(&u.id), attrs, parents).expect("literal attributes evaluate");
            (u.id.clone(), e)
        })
        .collect()
}

/// Time in the policies: milliseconds since the Unix epoch (a `Long`, which Cedar compares
/// far faster than a `datetime`). `floor` rounds down, else up, so that `from <= now < until`
/// never holds in Cedar when it does not hold exactly (`now` and `until` are rounded down,
/// `from` up).
fn millis(t: DateTime<Utc>, floor: bool) -> i64 {
    let ms = t.timestamp_millis();
    if !floor && !t.timestamp_subsec_nanos().is_multiple_of(1_000_000) { ms + 1 } else { ms }
}

/// Entities and requests are checked against the schema in debug builds (so every test
/// checks that this module builds them to the schema); release builds skip the check for
/// speed. Either way a missing or mistyped attribute fails closed: Cedar reports an
/// evaluation error, which [`PolicyEngine::decide`](crate::PolicyEngine::decide) returns
/// as an error, never as a permit.
fn checked(schema: &cedar_policy::Schema) -> Option<&cedar_policy::Schema> {
    cfg!(debug_assertions).then_some(schema)
}

/// The one policy evaluation for a category with at most one candidate consent.
struct Outcome {
    allow: bool,
    determining: Vec<cedar_policy::PolicyId>,
}

pub(crate) struct Decider<'e> {
    pub names: &'e Names,
    pub rules: &'e consent::Rules,
    pub orgs: &'e HashMap<UnitId, Entity>,
    pub authorizer: &'e cedar_policy::Authorizer,
    pub loaded: &'e Loaded,
}

impl Decider<'_> {
    pub fn decide(&self, req: &DecisionRequest<'_>) -> Result<Decision, DecisionError> {
        self.decide_as(req, Action::Read)
    }

    /// Decides `action` (the policies' `read` or `send`) for every requested category.
    pub fn decide_as(&self, req: &DecisionRequest<'_>, action: Action) -> Result<Decision, DecisionError> {
        let n = self.names;
        let vocab = &self.rules.vocabulary;
        vocab.check_purpose(req.purpose)?;
        if req.categories.is_empty() {
            return Err(DecisionError::NoCategories);
        }
        let mut seen = HashSet::new();
        for c in req.categories {
            vocab.check_category(c)?;
            if !seen.insert(c) {
                return Err(DecisionError::DuplicateCategory(c.clone()));
            }
        }
        for (c, _) in req.consents {
            if !seen.contains(c) {
                return Err(DecisionError::ConsentForUnrequestedCategory(c.clone()));
            }
        }
        let lineage = self
            .rules
            .directory
            .lineage(&req.caseworker.unit)
            .map_err(|_| DecisionError::UnknownUnit(req.caseworker.unit.clone()))?;

        let principal = Names::uid(&n.caseworker, &req.caseworker.id);
        let citizen = Names::uid(&n.citizen, SUBJECT);
        let entities =
            self.loaded.entities.get_or_build(req, || self.entities(req, lineage, &seen, &principal, &citizen))?;

        // The context parts every category shares.
        let now = millis(req.now, true);
        let mut blocked_units = Vec::new();
        let mut blocked_categories = Vec::new();
        for b in req.blocks {
            if b.citizen != *req.citizen {
                return Err(DecisionError::ForeignBlock);
            }
            if !b.is_active() {
                continue;
            }
            match &b.target {
                BlockTarget::Unit(u) => blocked_units.push(RestrictedExpression::new_entity_uid(n.org(u))),
                BlockTarget::Category(c) => {
                    blocked_categories.push(RestrictedExpression::new_entity_uid(n.category(c.as_str())))
                }
            }
        }
        let base = [
            ("purpose".to_string(), RestrictedExpression::new_string(req.purpose.as_str().to_string())),
            ("now".to_string(), RestrictedExpression::new_long(now)),
            ("blocked_units".to_string(), RestrictedExpression::new_set(blocked_units)),
            ("blocked_categories".to_string(), RestrictedExpression::new_set(blocked_categories)),
        ];

        let mut sections = Vec::with_capacity(req.categories.len());
        for c in req.categories {
            let resource = Names::uid(&n.document, c.as_str());
            let candidates: Vec<&Consent> =
                req.consents.iter().filter(|(k, _)| k == c).flat_map(|(_, v)| v.iter()).collect();
            let eval = |candidate: Option<&Consent>| -> Result<Outcome, DecisionError> {
                let mut pairs: Vec<(String, RestrictedExpression)> = base.to_vec();
                if let Some(k) = candidate {
                    pairs.push(("consent".to_string(), self.consent_facts(k, req.citizen)?));
                }
                let ctx = Context::from_pairs(pairs).map_err(|e| DecisionError::Request(e.to_string()))?;
                let request = Request::new(
                    principal.clone(),
                    n.action(action).clone(),
                    resource.clone(),
                    ctx,
                    checked(&self.loaded.schema),
                )
                .map_err(|e| DecisionError::Request(e.to_string()))?;
                let resp = self.authorizer.is_authorized(&request, &self.loaded.policies, &entities);
                if let Some(e) = resp.diagnostics().errors().next() {
                    let cedar_policy::AuthorizationError::PolicyEvaluationError(pe) = e;
                    return Err(DecisionError::Evaluation {
                        policy: pe.policy_id().to_string(),
                        message: pe.inner().to_string(),
                    });
                }
                let mut determining: Vec<_> = resp.diagnostics().reason().cloned().collect();
                determining.sort();
                Ok(Outcome { allow: resp.decision() == cedar_policy::Decision::Allow, determining })
            };
            let mut chosen: Option<(Outcome, Option<&Consent>)> = None;
            if candidates.is_empty() {
                chosen = Some((eval(None)?, None));
            } else {
                for k in candidates {
                    let o = eval(Some(k))?;
                    let allow = o.allow;
                    if allow || chosen.is_none() {
                        chosen = Some((o, Some(k)));
                    }
                    if allow {
                        break;
                    }
                }
            }
            let (outcome, candidate) = chosen.expect("at least one evaluation");
            sections.push(self.section(c, outcome, candidate)?);
        }
        Ok(Decision { sections, policy_digest: self.loaded.digest.clone() })
    }

    /// The request's entities: the caseworker's units, roles, the caseworker, the citizen,
    /// and one document (plus its category and the category's domain) per requested
    /// category. A pure function of the [`EntitiesKey`] parts of the request.
    fn entities(
        &self,
        req: &DecisionRequest<'_>,
        lineage: &[UnitId],
        seen: &HashSet<&Category>,
        principal: &EntityUid,
        citizen: &EntityUid,
    ) -> Result<Entities, DecisionError> {
        let n = self.names;
        let mut entities: Vec<Entity> = Vec::with_capacity(lineage.len() + req.caseworker.roles.len() + 8);
        for u in lineage {
            entities.push(self.orgs.get(u).cloned().ok_or_else(|| DecisionError::UnknownUnit(u.clone()))?);
        }
        let mut role_uids = HashSet::new();
        for r in &req.caseworker.roles {
            if r.trim().is_empty() {
                return Err(DecisionError::BadRole(r.clone()));
            }
            let uid = Names::uid(&n.role, r);
            entities.push(Entity::new_no_attrs(uid.clone(), HashSet::new()));
            role_uids.insert(uid);
        }
        let cw_attrs = HashMap::from([(
            "organisation".to_string(),
            RestrictedExpression::new_entity_uid(n.org(&req.caseworker.unit)),
        )]);
        entities.push(entity(principal.clone(), cw_attrs, role_uids)?);
        let mut citizen_attrs = HashMap::new();
        if let Some(m) = req.citizen_municipality {
            citizen_attrs.insert("municipality".to_string(), RestrictedExpression::new_long(i64::from(m.get())));
        }
        entities.push(entity(citizen.clone(), citizen_attrs, HashSet::new())?);
        let mut domains = HashSet::new();
        for c in req.categories {
            let cat = n.category(c.as_str());
            let domain = c.domain();
            let mut parents = HashSet::new();
            if domain != c.as_str() {
                let d = n.category(domain);
                if domains.insert(domain.to_string()) && !seen.iter().any(|s| s.as_str() == domain) {
                    entities.push(Entity::new_no_attrs(d.clone(), HashSet::new()));
                }
                parents.insert(d);
            }
            entities.push(Entity::new_no_attrs(cat.clone(), parents));
            let attrs = HashMap::from([
                ("owner".to_string(), RestrictedExpression::new_entity_uid(citizen.clone())),
                ("category".to_string(), RestrictedExpression::new_entity_uid(cat.clone())),
            ]);
            entities.push(entity(Names::uid(&n.document, c.as_str()), attrs, HashSet::from([cat]))?);
        }
        Entities::from_entities(entities, checked(&self.loaded.schema))
            .map_err(|e| DecisionError::Request(e.to_string()))
    }

    fn consent_facts(&self, k: &Consent, citizen: &Cpr) -> Result<RestrictedExpression, DecisionError> {
        let n = self.names;
        let t = &k.terms;
        let who = if t.citizen == *citizen { SUBJECT } else { OTHER };
        RestrictedExpression::new_record([
            ("id".to_string(), RestrictedExpression::new_string(k.id.to_string())),
            ("citizen".to_string(), RestrictedExpression::new_entity_uid(Names::uid(&n.citizen, who))),
            ("grantee".to_string(), RestrictedExpression::new_entity_uid(n.org(&t.grantee))),
            ("include_subunits".to_string(), RestrictedExpression::new_bool(t.include_subunits)),
            ("purpose".to_string(), RestrictedExpression::new_string(t.purpose.as_str().to_string())),
            (
                "categories".to_string(),
                RestrictedExpression::new_set(
                    t.categories.iter().map(|c| RestrictedExpression::new_entity_uid(n.category(c.as_str()))),
                ),
            ),
            ("active".to_string(), RestrictedExpression::new_bool(k.state == consent::State::Active)),
            ("from".to_string(), RestrictedExpression::new_long(millis(t.period.from, false))),
            ("until".to_string(), RestrictedExpression::new_long(millis(t.period.until, true))),
        ])
        .map_err(|e| DecisionError::Request(e.to_string()))
    }

    fn section(
        &self,
        category: &Category,
        outcome: Outcome,
        candidate: Option<&Consent>,
    ) -> Result<CategoryDecision, DecisionError> {
        let meta = &self.loaded.meta;
        let mut policies = Vec::with_capacity(outcome.determining.len());
        let mut metas = Vec::with_capacity(outcome.determining.len());
        for id in &outcome.determining {
            let m = meta.get(id).ok_or_else(|| DecisionError::Inconsistent(format!("unknown policy {id}")))?;
            policies.push(m.id.clone());
            metas.push(m);
        }
        if !outcome.allow {
            let reason = if metas.is_empty() {
                Reason { da: NO_BASIS_DA.into(), en: NO_BASIS_EN.into() }
            } else {
                Reason {
                    da: metas.iter().map(|m| m.reason_da.as_str()).collect::<Vec<_>>().join(" "),
                    en: metas.iter().map(|m| m.reason_en.as_str()).collect::<Vec<_>>().join(" "),
                }
            };
            return Ok(CategoryDecision::Deny { category: category.clone(), policies, reason });
        }
        // A consent basis is preferred: it is what the citizen chose.
        let consent_permit = metas.iter().find(|m| m.basis == Some(BasisKind::Consent));
        let (basis, m) = match consent_permit {
            Some(m) => {
                let k = candidate.ok_or_else(|| {
                    DecisionError::Inconsistent(format!("consent policy {} permitted without a consent", m.id))
                })?;
                (Basis::Consent(k.id), *m)
            }
            None => {
                let m = metas
                    .iter()
                    .find(|m| m.basis == Some(BasisKind::Statute))
                    .ok_or_else(|| DecisionError::Inconsistent("a permit without a basis".into()))?;
                (Basis::Statute(m.legal_reference.clone().unwrap_or_default()), *m)
            }
        };
        Ok(CategoryDecision::Permit {
            category: category.clone(),
            basis,
            policies,
            reason: Reason { da: m.reason_da.clone(), en: m.reason_en.clone() },
        })
    }
}

fn entity(
    uid: EntityUid,
    attrs: HashMap<String, RestrictedExpression>,
    parents: HashSet<EntityUid>,
) -> Result<Entity, DecisionError> {
    Entity::new(uid, attrs, parents).map_err(|e| DecisionError::Request(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decision_serialises_with_its_effect_and_a_permit_with_its_basis() {
        let reason = Reason { da: "da".into(), en: "en".into() };
        let permit = CategoryDecision::Permit {
            category: "jobnet.cv".parse().unwrap(),
            basis: Basis::Statute("lov § 1".into()),
            policies: vec!["p".into()],
            reason: reason.clone(),
        };
        let json = serde_json::to_value(&permit).unwrap();
        assert_eq!(json["effect"], "permit");
        assert_eq!(json["basis"], serde_json::json!({"type": "statute", "value": "lov § 1"}));
        assert_eq!(serde_json::from_value::<CategoryDecision>(json).unwrap(), permit);
        let deny = CategoryDecision::Deny { category: "jobnet.cv".parse().unwrap(), policies: vec![], reason };
        let json = serde_json::to_value(&deny).unwrap();
        assert_eq!(json["effect"], "deny");
        assert!(json.get("basis").is_none());
        assert_eq!((deny.effect(), deny.basis(), permit.effect()), (Effect::Deny, None, Effect::Permit));
        // A permit without a basis does not parse.
        let no_basis = serde_json::json!({"effect": "permit", "category": "jobnet.cv", "policies": [], "reason": {"da": "", "en": ""}});
        assert!(serde_json::from_value::<CategoryDecision>(no_basis).is_err());
    }

    #[test]
    fn time_rounding_is_conservative() {
        let t: DateTime<Utc> = "2025-01-01T00:00:00.000500Z".parse().unwrap();
        let whole: DateTime<Utc> = "2025-01-01T00:00:00Z".parse().unwrap();
        assert_eq!(millis(t, true), whole.timestamp_millis());
        assert_eq!(millis(t, false), whole.timestamp_millis() + 1);
        assert_eq!(millis(whole, false), whole.timestamp_millis());
        let before: DateTime<Utc> = "1969-12-31T23:59:59.999500Z".parse().unwrap();
        assert_eq!(millis(before, true), -1);
        assert_eq!(millis(before, false), 0);
    }
}
