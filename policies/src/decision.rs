//! What a decision is: per requested category a permit (with its legal basis) or a deny,
//! the determining policies' ids and a reason a person can read.

use consent::{Category, ConsentId};
use serde::{Deserialize, Serialize};

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
    /// The citizen's own right of access, by its legal reference ("databeskyttelsesforordningen
    /// art. 15"); only for the citizen themselves (action `read_own`, `decide/own.rs`).
    OwnAccess(String),
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
}
