//! The citizen's own access (action `read_own`, "Min sag"): may the logged-in citizen read
//! their own data of each category? And (action `write_own`) add their own statement? The policy set decides (`50-own-access.cedar`), like
//! every other decision; this builds the request: the citizen as principal (the same
//! opaque id as the documents' owner, never the CPR number), one document per category.

use std::collections::HashSet;

use cedar_policy::{Context, Entities, Entity, Request, RestrictedExpression};

use super::{Decider, Decision, Names, SUBJECT, checked, entity, millis};
use crate::error::DecisionError;
use crate::request::OwnAccessRequest;

impl Decider<'_> {
    /// `write`: the citizen's own statement (action `write_own`) instead of reading.
    pub fn decide_own(&self, req: &OwnAccessRequest<'_>, write: bool) -> Result<Decision, DecisionError> {
        let n = self.names;
        let action = if write { &n.write_own } else { &n.read_own };
        if req.categories.is_empty() {
            return Err(DecisionError::NoCategories);
        }
        let mut seen = HashSet::new();
        for c in req.categories {
            self.rules.vocabulary.check_category(c)?;
            if !seen.insert(c) {
                return Err(DecisionError::DuplicateCategory(c.clone()));
            }
        }
        let citizen = Names::uid(&n.citizen, SUBJECT);
        let mut entities = vec![Entity::new_no_attrs(citizen.clone(), HashSet::new())];
        let mut domains = HashSet::new();
        for c in req.categories {
            let cat = n.category(c.as_str());
            let mut parents = HashSet::new();
            let domain = c.domain();
            if domain != c.as_str() {
                let d = n.category(domain);
                if domains.insert(domain.to_string()) && !seen.iter().any(|s| s.as_str() == domain) {
                    entities.push(Entity::new_no_attrs(d.clone(), HashSet::new()));
                }
                parents.insert(d);
            }
            entities.push(Entity::new_no_attrs(cat.clone(), parents));
            let attrs = [
                ("owner".to_string(), RestrictedExpression::new_entity_uid(citizen.clone())),
                ("category".to_string(), RestrictedExpression::new_entity_uid(cat.clone())),
            ]
            .into();
            entities.push(entity(Names::uid(&n.document, c.as_str()), attrs, HashSet::from([cat]))?);
        }
        let entities = Entities::from_entities(entities, checked(&self.loaded.schema))
            .map_err(|e| DecisionError::Request(e.to_string()))?;
        let now = RestrictedExpression::new_long(millis(req.now, true));
        let mut sections = Vec::with_capacity(req.categories.len());
        for c in req.categories {
            let ctx = Context::from_pairs([("now".to_string(), now.clone())])
                .map_err(|e| DecisionError::Request(e.to_string()))?;
            let request = Request::new(
                citizen.clone(),
                action.clone(),
                Names::uid(&n.document, c.as_str()),
                ctx,
                checked(&self.loaded.schema),
            )
            .map_err(|e| DecisionError::Request(e.to_string()))?;
            let outcome = self.authorize(&request, &entities)?;
            sections.push(self.section(c, outcome, None)?);
        }
        Ok(Decision { sections, policy_digest: self.loaded.digest.clone() })
    }
}
