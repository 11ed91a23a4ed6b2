//! What one audit record says.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::cpr::Cpr;
use crate::organisation::UnitId;
use crate::vocabulary::{Category, Purpose};

/// One audited event: a decision, a release, a refused request, a portal action or an
/// operator's read of the log.
///
/// The record is protected data: it carries the citizen's CPR number in full (serialized
/// into the leaf), so a record is never logged; its `Debug` masks the CPR like [`Cpr`] does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub time: DateTime<Utc>,
    pub request_id: String,
    /// What happened.
    pub kind: AuditKind,
    /// The caseworker system's id (from its client certificate).
    pub system: Option<String>,
    pub caseworker: Option<String>,
    pub unit: Option<UnitId>,
    pub citizen: Option<Cpr>,
    pub purpose: Option<Purpose>,
    pub category: Option<Category>,
    pub decision: Option<AuditDecision>,
    /// `consent:<id>` or `statute:<reference>`.
    pub basis: Option<String>,
    /// The determining policy ids.
    pub policies: Vec<String>,
    /// The section status (`included`, `denied`, `no_data`, `unavailable`, `timeout`,
    /// `invalid_response`), or `ok` / `refused`.
    pub outcome: String,
    /// SHA-256 (hex) of each released document.
    pub documents: Vec<String>,
    /// A readable reason, error type or cause. Never a CPR number.
    pub detail: Option<String>,
    /// The exact change a consent or block record is about: `consent:<id>.<version>` or
    /// `block:<id>.<version>` (the event's version). Absent in other records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    Decision,
    Release,
    RequestRefused,
    ConsentRequested,
    ConsentGranted,
    ConsentApproved,
    ConsentRejected,
    ConsentRevoked,
    BlockPlaced,
    BlockLifted,
    AuditRead,
    /// A caseworker read consents about a citizen (a request's status, or a search).
    ConsentsRead,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditDecision {
    Permit,
    Deny,
}

impl AuditRecord {
    /// A record of `kind` at `time` for `request_id`, every optional field empty and the
    /// outcome `ok`; set the rest with struct update syntax or field by field.
    pub fn new(time: DateTime<Utc>, request_id: impl Into<String>, kind: AuditKind) -> Self {
        Self {
            time,
            request_id: request_id.into(),
            kind,
            system: None,
            caseworker: None,
            unit: None,
            citizen: None,
            purpose: None,
            category: None,
            decision: None,
            basis: None,
            policies: Vec::new(),
            outcome: "ok".into(),
            documents: Vec::new(),
            detail: None,
            subject: None,
        }
    }

    /// The canonical bytes of the record: its JSON (serde_json, fields in declaration
    /// order, no whitespace). This is the leaf data `d`, stored exactly as hashed.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an audit record serializes")
    }

    /// Reads a record from its stored bytes, requiring them to be canonical (re-encoding
    /// gives the same bytes), so one record has exactly one leaf hash.
    pub fn from_canonical_bytes(bytes: &[u8]) -> Result<Self, String> {
        let r: Self = serde_json::from_slice(bytes).map_err(|e| format!("not an audit record: {e}"))?;
        if r.canonical_bytes() != bytes {
            return Err("not in canonical form".into());
        }
        Ok(r)
    }
}
