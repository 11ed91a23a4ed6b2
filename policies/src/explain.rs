//! `sammen policy explain`: a request written as JSON, decided and explained — for people
//! writing policies. The gateway's own requests go through [`crate::PolicyEngine::decide`].
//!
//! ```json
//! {
//!   "caseworker": { "id": "cw-17", "unit": "kk.jobcenter.rehab", "roles": ["rehab-team-member"] },
//!   "citizen": "0101901234",
//!   "citizen_municipality": "101",
//!   "purpose": "rehabilitation-team",
//!   "categories": ["health.lae265", "jobcenter.benefits"],
//!   "now": "2025-06-01T12:00:00Z",
//!   "consents": [
//!     { "grantee": "kk.jobcenter", "include_subunits": true, "purpose": "rehabilitation-team",
//!       "categories": ["health.lae265"],
//!       "period": { "from": "2025-01-01T00:00:00Z", "until": "2026-01-01T00:00:00Z" } }
//!   ],
//!   "blocks": [ { "type": "unit", "id": "kk.social" } ]
//! }
//! ```
//!
//! A consent applies to every requested category (the policies check which it covers);
//! `id` is optional, `state` defaults to `active`, `citizen` to the request's citizen.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use consent::record::{ConsentText, Terms};
use consent::{
    Block, BlockId, BlockTarget, Category, Channel, Consent, ConsentId, Cpr, MunicipalityCode, Period, State, UnitId,
};
use serde::Deserialize;

use crate::{Basis, Caseworker, Decision, DecisionError, DecisionRequest, Effect, PolicyEngine};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExplainRequest {
    pub caseworker: Caseworker,
    pub citizen: Cpr,
    #[serde(default)]
    pub citizen_municipality: Option<MunicipalityCode>,
    pub purpose: String,
    pub categories: Vec<String>,
    pub now: DateTime<Utc>,
    #[serde(default)]
    pub consents: Vec<ExplainConsent>,
    #[serde(default)]
    pub blocks: Vec<BlockTarget>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExplainConsent {
    #[serde(default)]
    pub id: Option<ConsentId>,
    #[serde(default)]
    pub citizen: Option<Cpr>,
    pub grantee: UnitId,
    #[serde(default)]
    pub include_subunits: bool,
    pub purpose: String,
    pub categories: BTreeSet<String>,
    pub period: Period,
    #[serde(default = "active")]
    pub state: State,
}

fn active() -> State {
    State::Active
}

/// Why an explain request could not be decided.
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    #[error("the request is not valid JSON for `policy explain`: {0}")]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Decision(#[from] DecisionError),
}

/// Parses `json`, decides it with `engine`, and returns the decision.
pub fn explain(engine: &PolicyEngine, json: &str) -> Result<Decision, ExplainError> {
    let req: ExplainRequest = serde_json::from_str(json)?;
    decide(engine, &req)
}

/// Decides an [`ExplainRequest`].
pub fn decide(engine: &PolicyEngine, req: &ExplainRequest) -> Result<Decision, ExplainError> {
    let vocab = &engine.rules().vocabulary;
    let purpose = vocab.purpose(&req.purpose).map_err(DecisionError::from)?;
    let categories = req
        .categories
        .iter()
        .map(|c| vocab.category(c))
        .collect::<Result<Vec<Category>, _>>()
        .map_err(DecisionError::from)?;
    let epoch = DateTime::<Utc>::UNIX_EPOCH;
    let mut consents = Vec::with_capacity(req.consents.len());
    for k in &req.consents {
        let terms = Terms {
            citizen: k.citizen.unwrap_or(req.citizen),
            grantee: k.grantee.clone(),
            include_subunits: k.include_subunits,
            purpose: vocab.purpose(&k.purpose).map_err(DecisionError::from)?,
            categories: k
                .categories
                .iter()
                .map(|c| vocab.category(c))
                .collect::<Result<_, _>>()
                .map_err(DecisionError::from)?,
            period: k.period,
            data_period: None,
            text: ConsentText { version: "explain".into(), sha256: String::new() },
        };
        consents.push(Consent {
            id: k.id.unwrap_or_default(),
            terms,
            state: k.state,
            grantor: None,
            channel: Channel::Cli,
            requested_by: None,
            explanation: None,
            respond_by: None,
            paper: None,
            created_at: epoch,
            updated_at: epoch,
            version: 1,
        });
    }
    let per_category: Vec<(Category, Vec<Consent>)> =
        categories.iter().map(|c| (c.clone(), consents.clone())).collect();
    let blocks: Vec<Block> = req
        .blocks
        .iter()
        .map(|t| Block {
            id: BlockId::new(),
            citizen: req.citizen,
            target: t.clone(),
            placed_at: epoch,
            lifted_at: None,
            version: 1,
        })
        .collect();
    Ok(engine.decide(&DecisionRequest {
        caseworker: &req.caseworker,
        citizen: &req.citizen,
        citizen_municipality: req.citizen_municipality,
        purpose: &purpose,
        categories: &categories,
        now: req.now,
        consents: &per_category,
        blocks: &blocks,
    })?)
}

/// The decision as text for a person.
pub fn render(d: &Decision) -> String {
    let mut out = String::new();
    for s in &d.sections {
        let effect = match s.effect() {
            Effect::Permit => "PERMIT",
            Effect::Deny => "DENY",
        };
        let _ = writeln!(out, "{}: {effect}", s.category());
        match s.basis() {
            Some(Basis::Consent(id)) => {
                let _ = writeln!(out, "  basis:    consent {id}");
            }
            Some(Basis::Statute(r)) => {
                let _ = writeln!(out, "  basis:    {r}");
            }
            Some(Basis::OwnAccess(r)) => {
                let _ = writeln!(out, "  basis:    the citizen's own access ({r})");
            }
            None => {}
        }
        let policies =
            if s.policies().is_empty() { "(none: nothing permitted)".to_string() } else { s.policies().join(", ") };
        let _ = writeln!(out, "  policies: {policies}");
        let _ = writeln!(out, "  da:       {}", s.reason().da);
        let _ = writeln!(out, "  en:       {}", s.reason().en);
    }
    let _ = writeln!(out, "policy set {}", d.policy_digest);
    out
}
