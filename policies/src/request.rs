//! What a decision is asked about: the caseworker, as the gateway authenticated them, and
//! the facts the gateway looked up first (consents, blocks, the citizen's municipality).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use consent::{Block, Category, Consent, Cpr, MunicipalityCode, Purpose, UnitId};
use serde::{Deserialize, Serialize};

/// The person asking, as the gateway authenticated them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caseworker {
    /// The caseworker's id from their organisation's identity provider.
    pub id: String,
    /// The unit they act in.
    pub unit: UnitId,
    pub roles: BTreeSet<String>,
}

/// Everything the engine needs to decide one request, for each requested category.
#[derive(Debug, Clone, Copy)]
pub struct DecisionRequest<'a> {
    pub caseworker: &'a Caseworker,
    pub citizen: &'a Cpr,
    /// The citizen's municipality of residence, when known (the gateway looks it up).
    pub citizen_municipality: Option<MunicipalityCode>,
    pub purpose: &'a Purpose,
    pub categories: &'a [Category],
    pub now: DateTime<Utc>,
    /// For each requested category, the consents the ledger found covering it (may be
    /// empty, or the category may be left out). `Ledger::covering` gives exactly these.
    pub consents: &'a [(Category, Vec<Consent>)],
    /// The citizen's blocks (`Ledger::blocks`); lifted ones are ignored.
    pub blocks: &'a [Block],
}

/// The citizen asking about their own data ("Min sag"): which of `categories` may they read?
#[derive(Debug, Clone, Copy)]
pub struct OwnAccessRequest<'a> {
    /// Known and distinct, at least one.
    pub categories: &'a [Category],
    pub now: DateTime<Utc>,
}

/// What a caseworker does with a category about the citizen: the Cedar action decided.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Fetch the category's documents into a case file.
    #[default]
    Read,
    /// Send a message of the category about the citizen to their GP through the health hub
    /// (the LÆ 261 request for an LÆ 265: `health.lae265`; a letter: `health.correspondence`).
    Send,
    /// Write the caseworker's department's part of a shared record about the citizen (an
    /// effort or a milestone in the coordinated plan: `plan`).
    Write,
}
