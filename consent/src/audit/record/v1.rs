//! Version 1 of a record's leaf bytes, frozen: the record struct as it was before records
//! had a version. Its leaves are the serde_json encoding of this struct, fields in this
//! order; only re-encoding with exactly this layout tells whether such a leaf is canonical.
//! Never add, remove or reorder a field here.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{AuditDecision, AuditKind};
use crate::cpr::Cpr;
use crate::organisation::UnitId;
use crate::vocabulary::{Category, Purpose};

#[derive(Serialize, Deserialize)]
pub(super) struct RecordV1 {
    time: DateTime<Utc>,
    request_id: String,
    kind: AuditKind,
    system: Option<String>,
    caseworker: Option<String>,
    unit: Option<UnitId>,
    citizen: Option<Cpr>,
    purpose: Option<Purpose>,
    category: Option<Category>,
    decision: Option<AuditDecision>,
    basis: Option<String>,
    policies: Vec<String>,
    outcome: String,
    documents: Vec<String>,
    detail: Option<String>,
}

impl RecordV1 {
    /// The canonical version 1 encoding of the record that `bytes` hold (members it does
    /// not know are dropped, so such bytes do not come back the same).
    pub(super) fn canonical(bytes: &[u8]) -> Result<Vec<u8>, String> {
        let r: Self = serde_json::from_slice(bytes).map_err(|e| format!("not a version 1 audit record: {e}"))?;
        Ok(serde_json::to_vec(&r).expect("a version 1 record serializes"))
    }
}
