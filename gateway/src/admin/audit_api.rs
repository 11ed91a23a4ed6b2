//! The audit log for auditors: filtered queries (JSON pages or JSON Lines), and the
//! RFC 6962-shaped integrity API (checkpoint, inclusion and consistency proofs, entries).
//!
//! The citizen is never in a URL: `GET /admin/v1/audit` takes the CPR number in the
//! `x-citizen-cpr` header, `POST /admin/v1/audit/search` in its body; a query string that
//! names a citizen or holds a CPR number is refused unread. Every read of records is
//! itself appended to the audit log (`audit_read`: the operator, the filters without the
//! CPR number, the count; the citizen in the record's own `citizen` field, so it shows in
//! the citizen's own log) and is durable before the answer goes out. A read of entries,
//! which span many citizens, is recorded with its index range and no citizen.

use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use consent::audit::{AuditDecision, AuditFilter, AuditKind, AuditRecord};
use consent::{Category, Cpr, Purpose, UnitId};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use super::auth::Operator;
use super::checkpoint::CheckpointView;
use super::problem::AdminError;
use super::query::{Params, Shape, check_shape};
use super::{AdminState, Role};
use crate::http::problem::Problem;
use crate::http::request_id::RequestId;

/// The header that carries the citizen's CPR number on `GET /admin/v1/audit`.
pub const CITIZEN_HEADER: &str = "x-citizen-cpr";
/// The header that carries the cursor of the next page of a JSON Lines answer.
pub const NEXT_BEFORE_HEADER: &str = "x-next-before";
pub const NDJSON: &str = "application/x-ndjson";

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT_JSON: usize = 1_000;
const MAX_LIMIT_NDJSON: usize = 10_000;
const MAX_ENTRIES: u64 = 1_000;

/// A search of the audit log: every field given must match.
#[derive(Debug, Default, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchBody {
    /// The citizen's CPR number (10 digits, or DDMMYY-SSSS).
    pub citizen: Option<String>,
    pub caseworker: Option<String>,
    /// A unit id, e.g. `kk.jobcenter.rehab`.
    pub unit: Option<String>,
    /// A caseworker system's id, e.g. `kk-sagssystem`.
    pub system: Option<String>,
    pub purpose: Option<String>,
    pub category: Option<String>,
    /// `permit` or `deny`.
    pub decision: Option<String>,
    /// A record's outcome, e.g. `included`, `denied`, `refused`, `ok`.
    pub outcome: Option<String>,
    /// Record kinds, e.g. `decision`, `release`, `request_refused`, `audit_read`.
    pub kinds: Option<Vec<String>>,
    /// Records at or after this time (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Records at or before this time (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// The cursor: only records with a smaller index (`next_before` of the previous page).
    pub before: Option<u64>,
    /// At most this many records (default 100; at most 1,000, or 10,000 as JSON Lines).
    pub limit: Option<usize>,
}

/// The query string of `GET /admin/v1/audit` (the citizen goes in the `x-citizen-cpr` header).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct AuditParams {
    caseworker: Option<String>,
    unit: Option<String>,
    system: Option<String>,
    purpose: Option<String>,
    category: Option<String>,
    /// `permit` or `deny`.
    decision: Option<String>,
    outcome: Option<String>,
    /// Comma-separated record kinds.
    kinds: Option<String>,
    /// RFC 3339.
    from: Option<String>,
    /// RFC 3339.
    to: Option<String>,
    before: Option<u64>,
    limit: Option<usize>,
}

/// One record with its index (its leaf in the Merkle tree).
#[derive(Debug, Serialize, ToSchema)]
pub struct IndexedRecord {
    pub index: u64,
    /// The audit record (`consent::audit::AuditRecord`).
    #[schema(value_type = Object)]
    pub record: AuditRecord,
}

/// One page of records, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPageView {
    pub records: Vec<IndexedRecord>,
    /// Pass as `before` for the next page; absent at the end.
    pub next_before: Option<u64>,
}

/// The query parameters of `GET /admin/v1/audit` and their shapes.
pub const AUDIT_PARAMS: &[(&str, Shape)] = &[
    ("caseworker", Shape::Id),
    ("unit", Shape::Name),
    ("system", Shape::Id),
    ("purpose", Shape::Name),
    ("category", Shape::Name),
    ("decision", Shape::Name),
    ("outcome", Shape::Id),
    ("kinds", Shape::Names),
    ("from", Shape::Time),
    ("to", Shape::Time),
    ("before", Shape::Number),
    ("limit", Shape::Number),
];
pub const INCLUSION_PARAMS: &[(&str, Shape)] = &[("index", Shape::Number), ("tree_size", Shape::Number)];
pub const CONSISTENCY_PARAMS: &[(&str, Shape)] = &[("first", Shape::Number), ("second", Shape::Number)];
pub const ENTRIES_PARAMS: &[(&str, Shape)] = &[("start", Shape::Number), ("end", Shape::Number)];

/// The search a query string and header describe (the query string already checked
/// against [`AUDIT_PARAMS`], which refuses a citizen in the URL).
fn search_from_query(params: &Params, headers: &HeaderMap) -> Result<SearchBody, AdminError> {
    let get = |k: &str| params.text(k);
    let citizen = match headers.get(CITIZEN_HEADER) {
        None => None,
        Some(v) => Some(v.to_str().map_err(|_| AdminError::invalid("x-citizen-cpr is not text"))?.to_string()),
    };
    Ok(SearchBody {
        citizen,
        caseworker: get("caseworker"),
        unit: get("unit"),
        system: get("system"),
        purpose: get("purpose"),
        category: get("category"),
        decision: get("decision"),
        outcome: get("outcome"),
        kinds: get("kinds").map(|k| k.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()),
        from: params.time("from"),
        to: params.time("to"),
        before: params.number("before"),
        limit: params.number("limit").map(|l| usize::try_from(l).unwrap_or(usize::MAX)),
    })
}

/// The checked filter, and a description of it without the CPR number (for the audit record).
fn filter_of(s: &SearchBody) -> Result<(AuditFilter, Value), AdminError> {
    // Every free-text filter has its shape, also in a search body: what is described in the
    // `audit_read` record below can then hold no CPR number.
    for (name, value, shape) in [
        ("caseworker", &s.caseworker, Shape::Id),
        ("unit", &s.unit, Shape::Name),
        ("system", &s.system, Shape::Id),
        ("purpose", &s.purpose, Shape::Name),
        ("category", &s.category, Shape::Name),
        ("outcome", &s.outcome, Shape::Id),
    ] {
        if let Some(v) = value {
            check_shape(name, v, shape)?;
        }
    }
    for k in s.kinds.iter().flatten() {
        check_shape("kinds", k, Shape::Names)?;
    }
    let bad = |what: &str| AdminError::invalid(format!("{what} is not one this gateway knows"));
    let citizen = s.citizen.as_deref().map(Cpr::parse).transpose().map_err(|e| {
        AdminError::from(crate::http::problem::ApiError::new(
            crate::http::problem::ProblemKind::InvalidCpr,
            e.to_string(),
        ))
    })?;
    let decision = match s.decision.as_deref() {
        None => None,
        Some("permit") => Some(AuditDecision::Permit),
        Some("deny") => Some(AuditDecision::Deny),
        Some(_) => return Err(AdminError::invalid("decision must be permit or deny")),
    };
    let kinds = s
        .kinds
        .as_ref()
        .map(|ks| {
            ks.iter()
                .map(|k| {
                    serde_json::from_value::<AuditKind>(Value::String(k.clone()))
                        .map_err(|_| AdminError::invalid("kinds: a record kind is not one this gateway knows"))
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    let filter = AuditFilter {
        citizen,
        caseworker: s.caseworker.clone(),
        unit: s.unit.as_deref().map(UnitId::parse).transpose().map_err(|_| bad("unit"))?,
        system: s.system.clone(),
        purpose: s.purpose.as_deref().map(Purpose::parse).transpose().map_err(|_| bad("purpose"))?,
        category: s.category.as_deref().map(Category::parse).transpose().map_err(|_| bad("category"))?,
        decision,
        outcome: s.outcome.clone(),
        kinds,
        from: s.from,
        to: s.to,
    };
    let mut described = serde_json::Map::new();
    for (k, v) in [
        ("caseworker", &s.caseworker),
        ("unit", &s.unit),
        ("system", &s.system),
        ("purpose", &s.purpose),
        ("category", &s.category),
        ("decision", &s.decision),
        ("outcome", &s.outcome),
    ] {
        if let Some(v) = v {
            described.insert(k.into(), json!(v));
        }
    }
    if filter.citizen.is_some() {
        // The number itself is in the record's citizen field, never in its detail.
        described.insert("citizen".into(), json!("given"));
    }
    if let Some(k) = &s.kinds {
        described.insert("kinds".into(), json!(k));
    }
    if let Some(t) = s.from {
        described.insert("from".into(), json!(t));
    }
    if let Some(t) = s.to {
        described.insert("to".into(), json!(t));
    }
    Ok((filter, Value::Object(described)))
}

fn wants_ndjson(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains(NDJSON))
}

/// Appends the `audit_read` record of an operator's read; durable before the answer.
async fn audit_read(
    state: &AdminState,
    op: &Operator,
    id: RequestId,
    citizen: Option<Cpr>,
    detail: Value,
) -> Result<(), AdminError> {
    let mut r = AuditRecord::new(state.app.clock.now(), id.to_string(), AuditKind::AuditRead);
    r.system = Some("admin-api".into());
    r.caseworker = Some(op.id.clone());
    r.citizen = citizen;
    r.detail = Some(detail.to_string());
    state.app.audit.append(vec![r]).await.map(drop).map_err(|e| {
        tracing::error!(error = %e, "the audit log refused an audit_read record; answering nothing");
        crate::http::problem::ApiError::audit_unavailable().into()
    })
}

async fn run_search(
    state: &AdminState,
    op: &Operator,
    id: RequestId,
    search: SearchBody,
    headers: &HeaderMap,
) -> Result<Response, AdminError> {
    op.require(&[Role::Auditor], "query the audit log")?;
    let ndjson = wants_ndjson(headers);
    let max = if ndjson { MAX_LIMIT_NDJSON } else { MAX_LIMIT_JSON };
    let limit = search.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > max {
        return Err(AdminError::invalid(format!("limit must be between 1 and {max}")));
    }
    let (filter, described) = filter_of(&search)?;
    let page = state
        .app
        .audit
        .query(&filter, search.before, limit)
        .await
        .map_err(|e| AdminError::internal("the audit query", e))?;
    let detail = json!({
        "query": described,
        "before": search.before,
        "limit": limit,
        "format": if ndjson { "ndjson" } else { "json" },
        "returned": page.records.len(),
    });
    audit_read(state, op, id, filter.citizen, detail).await?;
    tracing::info!(operator = %op.id, returned = page.records.len(), "audit log queried");
    let next_before = page.next_before;
    let records: Vec<IndexedRecord> =
        page.records.into_iter().map(|(index, record)| IndexedRecord { index, record }).collect();
    if ndjson {
        let mut body = Vec::new();
        for r in &records {
            serde_json::to_writer(&mut body, r).expect("a record serializes");
            body.push(b'\n');
        }
        let mut resp = body.into_response();
        resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(NDJSON));
        if let Some(b) = next_before {
            resp.headers_mut().insert(NEXT_BEFORE_HEADER, HeaderValue::from(b));
        }
        Ok(resp)
    } else {
        Ok(Json(AuditPageView { records, next_before }).into_response())
    }
}

/// Query the audit log (auditors). Newest first, one page; the citizen in `x-citizen-cpr`.
#[utoipa::path(
    get,
    path = "/admin/v1/audit",
    tag = "audit",
    params(
        AuditParams,
        ("x-citizen-cpr" = Option<String>, Header, description = "The citizen's CPR number (never in the URL)"),
    ),
    responses(
        (status = 200, description = "A page of records, newest first (JSON, or JSON Lines with `Accept: application/x-ndjson` and the cursor in `x-next-before`)", body = AuditPageView),
        (status = 400, description = "A CPR number in the URL", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an auditor", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad filter", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The audit log cannot record this read; nothing answered", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mtls" = []))
)]
pub async fn query(
    State(state): State<AdminState>,
    Extension(id): Extension<RequestId>,
    op: Arc<Operator>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Result<Response, AdminError> {
    let search = search_from_query(&Params::parse(q.as_deref(), AUDIT_PARAMS)?, &headers)?;
    run_search(&state, &op, id, search, &headers).await
}

/// Search the audit log with the filters in the body (auditors); the same answer as `GET /admin/v1/audit`.
#[utoipa::path(
    post,
    path = "/admin/v1/audit/search",
    tag = "audit",
    request_body = SearchBody,
    responses(
        (status = 200, description = "A page of records, newest first (JSON, or JSON Lines with `Accept: application/x-ndjson`)", body = AuditPageView),
        (status = 403, description = "Not an auditor", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad filter", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The audit log cannot record this read", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mtls" = []))
)]
pub async fn search(
    State(state): State<AdminState>,
    Extension(id): Extension<RequestId>,
    op: Arc<Operator>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, AdminError> {
    op.require(&[Role::Auditor], "query the audit log")?;
    let search: SearchBody = crate::http::body::read_json(&headers, body)?;
    run_search(&state, &op, id, search, &headers).await
}

/// The latest signed checkpoint, with the public key that signs it.
#[utoipa::path(
    get,
    path = "/admin/v1/audit/checkpoint",
    tag = "proofs",
    responses(
        (status = 200, description = "The latest signed checkpoint", body = CheckpointView),
        (status = 404, description = "The log is empty", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mtls" = []))
)]
pub async fn checkpoint(
    State(state): State<AdminState>,
    op: Arc<Operator>,
) -> Result<Json<CheckpointView>, AdminError> {
    op.require(&[Role::Auditor, Role::Operator], "read checkpoints")?;
    let audit = &state.app.audit;
    let cp = audit.latest_checkpoint().await.map_err(|e| AdminError::internal("reading the checkpoint", e))?;
    let cp = cp.ok_or_else(|| {
        AdminError::from(crate::http::problem::ApiError::new(
            crate::http::problem::ProblemKind::NotFound,
            "the audit log is empty: no checkpoint yet",
        ))
    })?;
    Ok(Json(CheckpointView::new(&cp, &audit.verifying_key())))
}

/// The media type of a signed note.
pub const NOTE_CONTENT_TYPE: &str = "text/plain; charset=utf-8";

/// The latest checkpoint as a C2SP signed note (<https://c2sp.org/tlog-checkpoint>): origin,
/// tree size, base64 root, a blank line and a signature line by the audit key, which
/// standard transparency-log tools verify with the key `sammen audit checkpoint --note-key`
/// prints. Same tree size and root as `/admin/v1/audit/checkpoint`.
#[utoipa::path(
    get,
    path = "/admin/v1/audit/checkpoint/note",
    tag = "proofs",
    responses(
        (status = 200, description = "The latest checkpoint as a signed note", body = String, content_type = "text/plain; charset=utf-8"),
        (status = 404, description = "The log is empty", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mtls" = []))
)]
pub async fn checkpoint_note(State(state): State<AdminState>, op: Arc<Operator>) -> Result<Response, AdminError> {
    op.require(&[Role::Auditor, Role::Operator], "read checkpoints")?;
    let note =
        state.app.audit.checkpoint_note().await.map_err(|e| AdminError::internal("reading the checkpoint", e))?;
    let note = note.ok_or_else(|| {
        AdminError::from(crate::http::problem::ApiError::new(
            crate::http::problem::ProblemKind::NotFound,
            "the audit log is empty: no checkpoint yet",
        ))
    })?;
    let mut resp = note.into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(NOTE_CONTENT_TYPE));
    Ok(resp)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InclusionParams {
    /// The leaf's index.
    pub index: u64,
    /// The tree size to prove inclusion in (at most the log's size).
    pub tree_size: u64,
}

/// RFC 6962 §2.1.1 audit path.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InclusionProof {
    pub index: u64,
    pub tree_size: u64,
    /// The leaf's hash `SHA-256(0x00 || record bytes)`, hex.
    pub leaf_hash: String,
    /// The audit path, leaf side first, hex.
    pub audit_path: Vec<String>,
}

fn hexes(v: &[[u8; 32]]) -> Vec<String> {
    v.iter().map(hex::encode).collect()
}

fn out_of_range(e: consent::audit::AuditError) -> AdminError {
    match e {
        consent::audit::AuditError::OutOfRange(m) => AdminError::invalid(m),
        e => AdminError::internal("the proof", e),
    }
}

/// An inclusion proof: the leaf at `index` is in the tree of `tree_size` leaves.
#[utoipa::path(
    get,
    path = "/admin/v1/audit/proof/inclusion",
    tag = "proofs",
    params(InclusionParams),
    responses(
        (status = 200, description = "The audit path", body = InclusionProof),
        (status = 422, description = "Index or tree size out of range", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mtls" = []))
)]
pub async fn inclusion(
    State(state): State<AdminState>,
    op: Arc<Operator>,
    RawQuery(q): RawQuery,
) -> Result<Json<InclusionProof>, AdminError> {
    let q = Params::parse(q.as_deref(), INCLUSION_PARAMS)?;
    let p = InclusionParams { index: q.required_number("index")?, tree_size: q.required_number("tree_size")? };
    op.require(&[Role::Auditor, Role::Operator], "read proofs")?;
    let audit = &state.app.audit;
    let path = audit.inclusion_proof(p.index, p.tree_size).await.map_err(out_of_range)?;
    let leaf =
        audit.leaf_entries(p.index, p.index + 1).await.map_err(|e| AdminError::internal("reading the leaf", e))?;
    let leaf = leaf.first().ok_or_else(|| AdminError::invalid("no record at that index"))?;
    Ok(Json(InclusionProof {
        index: p.index,
        tree_size: p.tree_size,
        leaf_hash: hex::encode(leaf.leaf_hash),
        audit_path: hexes(&path),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsistencyParams {
    /// The older tree size.
    pub first: u64,
    /// The newer tree size (at most the log's size).
    pub second: u64,
}

/// RFC 6962 §2.1.2 consistency proof.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConsistencyProof {
    pub first: u64,
    pub second: u64,
    /// Hex hashes.
    pub consistency: Vec<String>,
}

/// A consistency proof: the tree of `first` leaves is a prefix of the tree of `second`.
#[utoipa::path(
    get,
    path = "/admin/v1/audit/proof/consistency",
    tag = "proofs",
    params(ConsistencyParams),
    responses(
        (status = 200, description = "The consistency proof", body = ConsistencyProof),
        (status = 422, description = "Tree sizes out of range", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mtls" = []))
)]
pub async fn consistency(
    State(state): State<AdminState>,
    op: Arc<Operator>,
    RawQuery(q): RawQuery,
) -> Result<Json<ConsistencyProof>, AdminError> {
    let q = Params::parse(q.as_deref(), CONSISTENCY_PARAMS)?;
    let p = ConsistencyParams { first: q.required_number("first")?, second: q.required_number("second")? };
    op.require(&[Role::Auditor, Role::Operator], "read proofs")?;
    let proof = state.app.audit.consistency_proof(p.first, p.second).await.map_err(out_of_range)?;
    Ok(Json(ConsistencyProof { first: p.first, second: p.second, consistency: hexes(&proof) }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EntriesParams {
    /// The first index.
    pub start: u64,
    /// The last index, inclusive (as in RFC 6962 `get-entries`); at most 1,000 are returned.
    pub end: u64,
}

/// One leaf of the log.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EntryView {
    pub index: u64,
    /// `SHA-256(0x00 || leaf_input)`, hex; for a pruned record, the stored hash.
    pub leaf_hash: String,
    /// True when retention removed the record's payload (its hash stays).
    pub pruned: bool,
    /// The record's canonical bytes exactly as hashed, base64; absent when pruned.
    pub leaf_input: Option<String>,
    /// The record; absent when pruned.
    #[schema(value_type = Option<Object>)]
    pub record: Option<Value>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EntriesView {
    pub entries: Vec<EntryView>,
}

/// The leaves `start..=end` with their hashes (auditors; audited).
#[utoipa::path(
    get,
    path = "/admin/v1/audit/entries",
    tag = "proofs",
    params(EntriesParams),
    responses(
        (status = 200, description = "The entries, in index order", body = EntriesView),
        (status = 403, description = "Not an auditor", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "start after end, or beyond the log", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mtls" = []))
)]
pub async fn entries(
    State(state): State<AdminState>,
    Extension(id): Extension<RequestId>,
    op: Arc<Operator>,
    RawQuery(q): RawQuery,
) -> Result<Json<EntriesView>, AdminError> {
    let q = Params::parse(q.as_deref(), ENTRIES_PARAMS)?;
    let p = EntriesParams { start: q.required_number("start")?, end: q.required_number("end")? };
    op.require(&[Role::Auditor], "read audit records")?;
    let audit = &state.app.audit;
    let size = audit.durable_size().await.map_err(|e| AdminError::internal("reading the log's size", e))?;
    if p.start > p.end || p.start >= size {
        return Err(AdminError::invalid(format!("need start <= end and start below the log's size {size}")));
    }
    let end = p.end.min(p.start + MAX_ENTRIES - 1).min(size - 1);
    let leaves = audit.leaf_entries(p.start, end + 1).await.map_err(|e| AdminError::internal("reading entries", e))?;
    audit_read(&state, &op, id, None, json!({ "entries": [p.start, end], "returned": leaves.len() })).await?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let entries = leaves
        .into_iter()
        .map(|e| EntryView {
            index: e.index,
            leaf_hash: hex::encode(e.leaf_hash),
            pruned: e.leaf.is_none(),
            record: e.leaf.as_ref().and_then(|b| serde_json::from_slice(b).ok()),
            leaf_input: e.leaf.map(|b| b64.encode(b)),
        })
        .collect();
    Ok(Json(EntriesView { entries }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(raw: &str) -> Result<Params, AdminError> {
        Params::parse(Some(raw), AUDIT_PARAMS)
    }

    #[test]
    fn a_cpr_in_the_query_string_is_refused() {
        for raw in [
            "citizen=x",
            "caseworker=0101901234",
            "outcome=010190-1234",
            "system=01%2001%2090%201234",
            "system=01.01.90.1234",
            "caseworker=0101901234%0A",
            "caseworker=x0101901234",
            "unit=kk&unit=0101901234",
        ] {
            assert_eq!(params(raw).unwrap_err().slug, "cpr-in-url", "{raw}");
        }
        let e = params("colour=red").unwrap_err();
        assert_eq!((e.status.as_u16(), e.slug), (400, "invalid-query"));
        assert!(!e.detail.contains("colour") && !e.detail.contains("red"), "{}", e.detail);
        assert_eq!(params("unit=kk&unit=kk").unwrap_err().status.as_u16(), 400);
    }

    #[test]
    fn a_search_body_holds_no_cpr_in_its_free_text() {
        for s in [
            SearchBody { caseworker: Some("0101901234".into()), ..Default::default() },
            SearchBody { outcome: Some("ok 01.01.90.1234".into()), ..Default::default() },
            SearchBody { system: Some("x010190-1234".into()), ..Default::default() },
            SearchBody { kinds: Some(vec!["decision".into(), "0101901234".into()]), ..Default::default() },
        ] {
            let e = filter_of(&s).unwrap_err();
            assert_eq!(e.status.as_u16(), 422);
            assert!(!e.detail.contains("1234"), "{}", e.detail);
        }
    }

    #[test]
    fn filters_parse_and_describe_without_the_cpr() {
        let mut h = HeaderMap::new();
        h.insert(CITIZEN_HEADER, HeaderValue::from_static("010190-1234"));
        let s = search_from_query(
            &params("kinds=decision,%20release&decision=deny&from=2026-01-01T00:00:00Z&limit=5&before=77").unwrap(),
            &h,
        )
        .unwrap();
        assert_eq!((s.limit, s.before), (Some(5), Some(77)));
        let (f, described) = filter_of(&s).unwrap();
        assert_eq!(f.citizen.unwrap().expose(), "0101901234");
        assert_eq!(f.kinds.unwrap(), vec![AuditKind::Decision, AuditKind::Release]);
        assert_eq!(f.decision, Some(AuditDecision::Deny));
        let text = described.to_string();
        assert!(!text.contains("0101901234") && !text.contains("1234"), "{text}");
        assert_eq!(described["citizen"], "given");

        for bad in [
            SearchBody { decision: Some("maybe".into()), ..Default::default() },
            SearchBody { kinds: Some(vec!["nonsense".into()]), ..Default::default() },
            SearchBody { unit: Some("Not A Unit".into()), ..Default::default() },
        ] {
            assert_eq!(filter_of(&bad).unwrap_err().status.as_u16(), 422);
        }
        let e = filter_of(&SearchBody { citizen: Some("0101901230x".into()), ..Default::default() }).unwrap_err();
        assert_eq!(e.slug, "invalid-cpr");
    }
}
