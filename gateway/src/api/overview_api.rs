//! `POST /api/v1/overviews`: the shared overview ("glasplade") of one citizen for one
//! purpose: per department that holds something about the citizen, the responsible unit
//! and contact caseworker, active measures or benefits, next appointments and open cases.
//!
//! Each department's part is its own category (`*.summary`), decided by the policy engine
//! and fetched live through the release pipeline like a case file ([`Core::release`]), so
//! it is audited, appears in the citizen's Min log, and a source that is down costs only
//! its own section.
//!
//! [`Core::release`]: crate::core::Core::release

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use consent::Category;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::auth::{Caller, Facts, refuse};
use super::bodies::{self as api, Basis, Reason, SectionStatus};
use crate::core::release::ReleaseRequest;
use crate::http::problem::{ApiError, Problem};
use crate::http::request_id::RequestId;

/// The summary categories, one per department, in the order the overview shows them.
pub const SUMMARY_CATEGORIES: [&str; 3] = ["jobcenter.summary", "social.summary", "health.summary"];

/// `POST /api/v1/overviews`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OverviewRequest {
    /// The citizen's CPR number, `DDMMYYSSSS` or `DDMMYY-SSSS`.
    #[schema(example = "0101709901", pattern = "^[0-9]{6}-?[0-9]{4}$")]
    pub citizen: String,
    #[schema(example = "coordinated-plan")]
    pub purpose: String,
}

/// The overview: one part per department, in a fixed order.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Overview {
    /// The same id as the `x-request-id` header and the audit records.
    pub request_id: String,
    /// The citizen, masked (`DDMMYY-****`).
    pub citizen: String,
    pub purpose: String,
    pub assembled_at: DateTime<Utc>,
    pub policy_digest: String,
    pub departments: Vec<DepartmentPart>,
}

/// One department's part: its status as a case-file section, and the summary when included.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DepartmentPart {
    /// The summary category, e.g. `social.summary`.
    pub category: String,
    pub status: SectionStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub basis: Option<Basis>,
    pub policies: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fetched_at: Option<DateTime<Utc>>,
    /// The department's summary (present when the status is `included`): responsible unit,
    /// contact caseworker, measures with dates, appointments, open cases.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub summary: Option<serde_json::Value>,
    /// SHA-256 of the summary as released (as in the audit log).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    pub reason: Reason,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The shared overview of one citizen across departments.
#[utoipa::path(
    post,
    path = "/api/v1/overviews",
    tag = "coordinated effort",
    request_body = OverviewRequest,
    responses(
        (status = 200, description = "One part per department; a source that is down is `unavailable`, the others are still shown", body = Overview),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid caseworker token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Purpose not allowed, unit outside the organisation, or unknown certificate", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid CPR number or unknown purpose", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "The decision could not be made; nothing released", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The audit log is unavailable; nothing released", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mtls" = [], "bearer" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Overview>, ApiError> {
    let mut facts = Facts::default();
    match assemble(&state, &caller, id, &headers, body, &mut facts).await {
        Ok(o) => Ok(Json(o)),
        Err(e) => Err(refuse(&state, &caller, id, facts, e).await),
    }
}

async fn assemble(
    state: &AppState,
    caller: &Caller,
    id: RequestId,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    facts: &mut Facts,
) -> Result<Overview, ApiError> {
    caller.admit(state)?;
    let req: OverviewRequest = api::read_json(headers, body)?;
    let (citizen, purpose) = caller.citizen_and_purpose(state, &req.citizen, &req.purpose, facts)?;
    let categories: Vec<Category> =
        SUMMARY_CATEGORIES.iter().map(|c| Category::parse(c).expect("a valid category name")).collect();
    let now = state.clock.now();
    let request_id = id.to_string();
    let released = state
        .core
        .release(
            &ReleaseRequest {
                caseworker: &caller.caseworker,
                system: &caller.system.id,
                citizen,
                purpose: &purpose,
                categories: &categories,
                case_reference: None,
                request_id: &request_id,
                answering: None,
            },
            now,
        )
        .await
        .map_err(super::case_file::release_error)?;
    let departments = released
        .sections
        .into_iter()
        .map(|s| {
            let v = super::case_file::section_view(s);
            let doc = v.documents.into_iter().next();
            DepartmentPart {
                category: v.category,
                status: v.status,
                basis: v.basis,
                policies: v.policies,
                source: v.source,
                fetched_at: v.fetched_at,
                sha256: doc.as_ref().map(|d| d.sha256.clone()),
                summary: doc.map(|d| d.content),
                reason: v.reason,
                detail: v.detail,
            }
        })
        .collect();
    Ok(Overview {
        request_id,
        citizen: citizen.masked(),
        purpose: purpose.to_string(),
        assembled_at: released.assembled_at,
        policy_digest: released.policy_digest,
        departments,
    })
}
