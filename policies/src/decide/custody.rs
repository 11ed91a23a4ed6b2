//! A parent acting for their child (action `represent`, `60-custody.cedar`): may the
//! holder of custody act for the child now? The policies hold the age rule; this builds the
//! request: the parent as principal, the child as resource (opaque ids, never CPR numbers).

use std::collections::HashSet;

use cedar_policy::{Context, Entities, Entity, Request, RestrictedExpression};

use super::{Decider, Names, OTHER, SUBJECT, checked};
use crate::decision::Reason;
use crate::error::DecisionError;

/// The answer: whether the parent may act, the determining policies and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustodyDecision {
    pub allowed: bool,
    pub policies: Vec<String>,
    pub reason: Reason,
}

impl Decider<'_> {
    pub fn decide_custody(&self, relation: &str, child_age_years: u32) -> Result<CustodyDecision, DecisionError> {
        let n = self.names;
        let parent = Names::uid(&n.citizen, OTHER);
        let child = Names::uid(&n.citizen, SUBJECT);
        let entities = Entities::from_entities(
            [Entity::new_no_attrs(parent.clone(), HashSet::new()), Entity::new_no_attrs(child.clone(), HashSet::new())],
            checked(&self.loaded.schema),
        )
        .map_err(|e| DecisionError::Request(e.to_string()))?;
        let ctx = Context::from_pairs([
            ("relation".to_string(), RestrictedExpression::new_string(relation.to_string())),
            ("child_age_years".to_string(), RestrictedExpression::new_long(i64::from(child_age_years))),
        ])
        .map_err(|e| DecisionError::Request(e.to_string()))?;
        let request = Request::new(parent, n.represent.clone(), child, ctx, checked(&self.loaded.schema))
            .map_err(|e| DecisionError::Request(e.to_string()))?;
        let outcome = self.authorize(&request, &entities)?;
        let mut policies = Vec::new();
        let (mut da, mut en) = (Vec::new(), Vec::new());
        for id in &outcome.determining {
            let m =
                self.loaded.meta.get(id).ok_or_else(|| DecisionError::Inconsistent(format!("unknown policy {id}")))?;
            policies.push(m.id.clone());
            da.push(m.reason_da.clone());
            en.push(m.reason_en.clone());
        }
        if da.is_empty() {
            da.push("Du kan ikke handle på vegne af denne person.".into());
            en.push("You cannot act on this person's behalf.".into());
        }
        Ok(CustodyDecision { allowed: outcome.allow, policies, reason: Reason { da: da.join(" "), en: en.join(" ") } })
    }
}
