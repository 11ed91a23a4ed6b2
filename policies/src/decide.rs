//! The decision API: facts in, a decision with reasons out. Nothing is fetched here; the
//! gateway looks up the consents and blocks first and passes them in.

use std::collections::{HashMap, HashSet};

use cedar_policy::{Context, Entities, Entity, EntityId, EntityTypeName, EntityUid, Request, RestrictedExpression};
use consent::{BlockTarget, Category, Consent, Cpr, Directory, UnitId};

use crate::decision::{Basis, CategoryDecision, Decision, NO_BASIS_DA, NO_BASIS_EN, Reason};
use crate::error::DecisionError;
use crate::fast_path::{Facts, FastPath};
use crate::load::{BasisKind, Loaded};
use crate::matching::{self, millis};
use crate::request::{Action, DecisionRequest};

mod custody;
mod own;

pub use custody::CustodyDecision;

/// Cedar's entity type names and the action, parsed once.
pub(crate) struct Names {
    role: EntityTypeName,
    organisation: EntityTypeName,
    caseworker: EntityTypeName,
    citizen: EntityTypeName,
    category: EntityTypeName,
    document: EntityTypeName,
    pub(crate) read: EntityUid,
    read_own: EntityUid,
    write_own: EntityUid,
    send: EntityUid,
    write: EntityUid,
    represent: EntityUid,
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
            read_own: r#"Sammen::Action::"read_own""#.parse().expect("valid action"),
            write_own: r#"Sammen::Action::"write_own""#.parse().expect("valid action"),
            send: r#"Sammen::Action::"send""#.parse().expect("valid action"),
            write: r#"Sammen::Action::"write""#.parse().expect("valid action"),
            represent: r#"Sammen::Action::"represent""#.parse().expect("valid action"),
        }
    }

    fn action(&self, a: Action) -> &EntityUid {
        match a {
            Action::Read => &self.read,
            Action::Send => &self.send,
            Action::Write => &self.write,
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

/// Entities and requests are checked against the schema in every build, so the path the
/// tests run (debug) is the path a release build runs. The check costs little since the
/// fast path (`fast_path.rs`) answers the common requests without Cedar and the entities
/// are cached (BENCHMARKS.md, "Decisions after the fast path"). A missing or mistyped
/// attribute is a [`DecisionError`], never a permit.
fn checked(schema: &cedar_policy::Schema) -> Option<&cedar_policy::Schema> {
    Some(schema)
}

/// The one policy evaluation for a category.
struct Outcome {
    allow: bool,
    determining: Vec<cedar_policy::PolicyId>,
}

/// Which way a decision may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// The fast path where it is enabled and certain, Cedar for the rest.
    Fast,
    /// Cedar for every category.
    CedarOnly,
}

pub(crate) struct Decider<'e> {
    pub names: &'e Names,
    pub rules: &'e consent::Rules,
    pub orgs: &'e HashMap<UnitId, Entity>,
    pub authorizer: &'e cedar_policy::Authorizer,
    pub loaded: &'e Loaded,
    pub fast: Option<&'e FastPath>,
}

impl Decider<'_> {
    /// Decides `action` for every requested category. The fast path answers `read` only.
    pub fn decide(&self, req: &DecisionRequest<'_>, route: Route, action: Action) -> Result<Decision, DecisionError> {
        let sections = self.sections(req, route, true, action)?;
        let sections = sections.into_iter().map(|s| s.expect("every section decided")).collect();
        Ok(Decision { sections, policy_digest: self.loaded.digest.clone() })
    }

    /// The fast path's sections alone (`None` where it leaves the category to Cedar).
    pub fn fast_sections(&self, req: &DecisionRequest<'_>) -> Result<Vec<Option<CategoryDecision>>, DecisionError> {
        self.sections(req, Route::Fast, false, Action::Read)
    }

    /// Validates the request, then decides each category: by the fast path when `route`
    /// allows and it is certain, else (when `cedar`) by one Cedar evaluation.
    fn sections(
        &self,
        req: &DecisionRequest<'_>,
        route: Route,
        cedar: bool,
        action: Action,
    ) -> Result<Vec<Option<CategoryDecision>>, DecisionError> {
        let vocab = &self.rules.vocabulary;
        vocab.check_purpose(req.purpose)?;
        if req.categories.is_empty() {
            return Err(DecisionError::NoCategories);
        }
        for (i, c) in req.categories.iter().enumerate() {
            vocab.check_category(c)?;
            if req.categories[..i].contains(c) {
                return Err(DecisionError::DuplicateCategory(c.clone()));
            }
        }
        for (c, _) in req.consents {
            if !req.categories.contains(c) {
                return Err(DecisionError::ConsentForUnrequestedCategory(c.clone()));
            }
        }
        let lineage = self
            .rules
            .directory
            .lineage(&req.caseworker.unit)
            .map_err(|_| DecisionError::UnknownUnit(req.caseworker.unit.clone()))?;
        if let Some(r) = req.caseworker.roles.iter().find(|r| r.trim().is_empty()) {
            return Err(DecisionError::BadRole(r.clone()));
        }
        if req.blocks.iter().any(|b| b.citizen != *req.citizen) {
            return Err(DecisionError::ForeignBlock);
        }

        let now = millis(req.now, true);
        // The fast path is written for `read`; every other action is Cedar's alone.
        let fast = self.fast.filter(|_| route == Route::Fast && action == Action::Read);
        let facts = fast.map(|_| Facts {
            roles: &req.caseworker.roles,
            lineage,
            unit_municipality: self.rules.directory.municipality_of(&req.caseworker.unit),
            citizen_municipality: req.citizen_municipality,
            purpose: req.purpose.as_str(),
            blocks: req.blocks,
        });
        let mut sections = Vec::with_capacity(req.categories.len());
        let mut cedar_ctx = None;
        for c in req.categories {
            let candidates = req.consents.iter().filter(|(k, _)| k == c).flat_map(|(_, v)| v.iter());
            let chosen = matching::choose(candidates, req, lineage, c, now);
            if let (Some(fast), Some(facts)) = (fast, &facts) {
                let matching = chosen.is_some_and(|k| matching::matches(k, req, lineage, c, now));
                if let Some(s) = fast.section(facts, c, chosen, matching) {
                    sections.push(Some(s));
                    continue;
                }
            }
            if !cedar {
                sections.push(None);
                continue;
            }
            let ctx = match &mut cedar_ctx {
                Some(ctx) => ctx,
                None => cedar_ctx.insert(self.cedar_context(req, lineage, now)?),
            };
            let outcome = self.evaluate(req, ctx, c, chosen, action)?;
            sections.push(Some(self.section(c, outcome, chosen)?));
        }
        Ok(sections)
    }

    /// What every Cedar evaluation of a request shares: the entities (cached) and the
    /// context's common parts.
    fn cedar_context(
        &self,
        req: &DecisionRequest<'_>,
        lineage: &[UnitId],
        now: i64,
    ) -> Result<CedarContext, DecisionError> {
        let n = self.names;
        let principal = Names::uid(&n.caseworker, &req.caseworker.id);
        let citizen = Names::uid(&n.citizen, SUBJECT);
        let entities = self.loaded.entities.get_or_build(req, || self.entities(req, lineage, &principal, &citizen))?;
        let mut blocked_units = Vec::new();
        let mut blocked_categories = Vec::new();
        for b in req.blocks.iter().filter(|b| b.is_active()) {
            match &b.target {
                BlockTarget::Unit(u) => blocked_units.push(RestrictedExpression::new_entity_uid(n.org(u))),
                BlockTarget::Category(c) => {
                    blocked_categories.push(RestrictedExpression::new_entity_uid(n.category(c.as_str())))
                }
            }
        }
        let base = vec![
            ("purpose".to_string(), RestrictedExpression::new_string(req.purpose.as_str().to_string())),
            ("now".to_string(), RestrictedExpression::new_long(now)),
            ("blocked_units".to_string(), RestrictedExpression::new_set(blocked_units)),
            ("blocked_categories".to_string(), RestrictedExpression::new_set(blocked_categories)),
        ];
        Ok(CedarContext { principal, entities, base })
    }

    /// One Cedar evaluation of category `c`, with the chosen consent's facts if any.
    fn evaluate(
        &self,
        req: &DecisionRequest<'_>,
        ctx: &CedarContext,
        c: &Category,
        chosen: Option<&Consent>,
        action: Action,
    ) -> Result<Outcome, DecisionError> {
        let n = self.names;
        let mut pairs = ctx.base.clone();
        if let Some(k) = chosen {
            pairs.push(("consent".to_string(), self.consent_facts(k, req.citizen)?));
        }
        let context = Context::from_pairs(pairs).map_err(|e| DecisionError::Request(e.to_string()))?;
        let request = Request::new(
            ctx.principal.clone(),
            n.action(action).clone(),
            Names::uid(&n.document, c.as_str()),
            context,
            checked(&self.loaded.schema),
        )
        .map_err(|e| DecisionError::Request(e.to_string()))?;
        self.authorize(&request, &ctx.entities)
    }

    /// Asks Cedar; an evaluation error is a [`DecisionError`], never a deny.
    fn authorize(&self, request: &Request, entities: &Entities) -> Result<Outcome, DecisionError> {
        let resp = self.authorizer.is_authorized(request, &self.loaded.policies, entities);
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
    }

    /// The request's entities: the caseworker's units, roles, the caseworker, the citizen,
    /// and one document (plus its category and the category's domain) per requested
    /// category. A pure function of the [`EntitiesKey`] parts of the request.
    fn entities(
        &self,
        req: &DecisionRequest<'_>,
        lineage: &[UnitId],
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
                if domains.insert(domain.to_string()) && !req.categories.iter().any(|s| s.as_str() == domain) {
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
            // A paper consent not confirmed digitally ends at its confirmation deadline.
            ("until".to_string(), RestrictedExpression::new_long(millis(k.effective_until(), true))),
            ("given_by".to_string(), RestrictedExpression::new_string(crate::matching::given_by(k).to_string())),
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
                    .find(|m| matches!(m.basis, Some(BasisKind::Statute | BasisKind::OwnAccess)))
                    .ok_or_else(|| DecisionError::Inconsistent("a permit without a basis".into()))?;
                let reference = m.legal_reference.clone().unwrap_or_default();
                match m.basis {
                    Some(BasisKind::OwnAccess) => (Basis::OwnAccess(reference), *m),
                    _ => (Basis::Statute(reference), *m),
                }
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

/// What every Cedar evaluation of one request shares.
struct CedarContext {
    principal: EntityUid,
    entities: std::sync::Arc<Entities>,
    base: Vec<(String, RestrictedExpression)>,
}

fn entity(
    uid: EntityUid,
    attrs: HashMap<String, RestrictedExpression>,
    parents: HashSet<EntityUid>,
) -> Result<Entity, DecisionError> {
    Entity::new(uid, attrs, parents).map_err(|e| DecisionError::Request(e.to_string()))
}
