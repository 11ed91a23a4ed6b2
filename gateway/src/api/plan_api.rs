//! The coordinated plan ("én plan") through sammen: read it (category `plan`, through the
//! release pipeline like a case file) and write the caller's department's effort or
//! milestone (the Cedar action `write`, through the write pipeline,
//! `core/release/write.rs`), against the version read: a stale version is 409 naming the
//! newer one.
//!
//! - `POST /api/v1/plans/read`
//! - `POST /api/v1/plans/efforts`
//! - `POST /api/v1/plans/milestones`

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::auth::{Caller, Facts, refuse};
use super::bodies::{self as api, Section};
use crate::core::release::{PlanEdit, PlanWriteError, PlanWriteRequest, ReleaseRequest, plan_category};
use crate::http::problem::{ApiError, Problem, ProblemKind};
use crate::http::request_id::RequestId;

/// The longest title of an effort or milestone.
pub const MAX_TITLE: usize = 200;
/// The longest description of an effort.
pub const MAX_DESCRIPTION: usize = 2000;
/// The longest id of an effort or milestone.
const MAX_ID: usize = 64;

/// `POST /api/v1/plans/read`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanReadRequest {
    #[schema(example = "0101709901", pattern = "^[0-9]{6}-?[0-9]{4}$")]
    pub citizen: String,
    #[schema(example = "coordinated-plan")]
    pub purpose: String,
}

/// The plan as released: a case-file section of the category `plan`, and its version.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PlanRead {
    pub request_id: String,
    /// The citizen, masked (`DDMMYY-****`).
    pub citizen: String,
    pub purpose: String,
    /// The plan's version (write against it); absent unless the section is `included`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// The plan: goals, efforts per department with the responsible unit, milestones, the
    /// citizen's own statements (in `documents[0].content`).
    pub section: Section,
}

/// An effort of the caller's department: added without `id`, replaced with it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EffortBody {
    /// The effort to replace (one of the caller's unit); absent: add a new one.
    #[serde(default)]
    pub id: Option<String>,
    /// At most 200 characters.
    pub title: String,
    /// At most 2000 characters.
    #[serde(default)]
    pub description: String,
    /// `YYYY-MM-DD`.
    #[schema(example = "2025-04-01")]
    pub from: String,
    #[serde(default)]
    #[schema(example = "2025-09-30")]
    pub to: Option<String>,
}

/// `POST /api/v1/plans/efforts`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EffortWrite {
    #[schema(example = "0101709901", pattern = "^[0-9]{6}-?[0-9]{4}$")]
    pub citizen: String,
    #[schema(example = "coordinated-plan")]
    pub purpose: String,
    /// The plan version the change is made against.
    pub version: u64,
    pub effort: EffortBody,
}

/// A milestone of the caller's department: added without `id`, replaced with it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MilestoneBody {
    #[serde(default)]
    pub id: Option<String>,
    /// At most 200 characters.
    pub title: String,
    /// `YYYY-MM-DD`.
    #[schema(example = "2025-06-01")]
    pub due: String,
    #[serde(default)]
    pub reached: bool,
}

/// `POST /api/v1/plans/milestones`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MilestoneWrite {
    #[schema(example = "0101709901", pattern = "^[0-9]{6}-?[0-9]{4}$")]
    pub citizen: String,
    #[schema(example = "coordinated-plan")]
    pub purpose: String,
    pub version: u64,
    pub milestone: MilestoneBody,
}

/// A change written.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PlanWriteAnswer {
    pub request_id: String,
    /// The plan's version after the change.
    pub version: u64,
    /// The id of the effort or milestone written.
    pub element: String,
    /// SHA-256 (hex) of the change as written, as in the audit log.
    pub change_sha256: String,
}

/// Read the citizen's coordinated plan.
#[utoipa::path(
    post,
    path = "/api/v1/plans/read",
    tag = "coordinated effort",
    request_body = PlanReadRequest,
    responses(
        (status = 200, description = "The plan as a section: `included` with the plan, or `denied`, `no_data`, `unavailable`, ...", body = PlanRead),
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
pub async fn read(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<PlanRead>, ApiError> {
    let mut facts = Facts::default();
    match read_plan(&state, &caller, id, &headers, body, &mut facts).await {
        Ok(p) => Ok(Json(p)),
        Err(e) => Err(refuse(&state, &caller, id, facts, e).await),
    }
}

async fn read_plan(
    state: &AppState,
    caller: &Caller,
    id: RequestId,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    facts: &mut Facts,
) -> Result<PlanRead, ApiError> {
    caller.admit(state)?;
    let req: PlanReadRequest = api::read_json(headers, body)?;
    let (citizen, purpose) = caller.citizen_and_purpose(state, &req.citizen, &req.purpose, facts)?;
    let request_id = id.to_string();
    let categories = [plan_category()];
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
            state.clock.now(),
        )
        .await
        .map_err(super::case_file::release_error)?;
    let section = released.sections.into_iter().next().map(super::case_file::section_view);
    let section = section.ok_or_else(|| ApiError::internal("the plan section is missing"))?;
    let version = section.documents.first().and_then(|d| d.content.get("version")).and_then(|v| v.as_u64());
    Ok(PlanRead { request_id, citizen: citizen.masked(), purpose: purpose.to_string(), version, section })
}

/// Add or update the caller's department's effort in the citizen's plan.
#[utoipa::path(
    post,
    path = "/api/v1/plans/efforts",
    tag = "coordinated effort",
    request_body = EffortWrite,
    responses(
        (status = 200, description = "Written; the plan's new version", body = PlanWriteAnswer),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid caseworker token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "No basis to write (recorded, nothing written), the effort belongs to another department, purpose not allowed, unit outside the organisation, or unknown certificate", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The citizen has no coordinated plan", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The plan has a newer version than the one written against (the detail names it); nothing written", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid CPR number, unknown purpose, or a field of the effort too long, empty or not a date (the detail names the field)", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "The decision could not be made; nothing written", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The audit log or the plan service is unavailable; nothing written, or the outcome is unknown", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mtls" = [], "bearer" = []))
)]
pub async fn effort(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<PlanWriteAnswer>, ApiError> {
    let mut facts = Facts::default();
    let checked = (|| {
        caller.admit(&state)?;
        let req: EffortWrite = api::read_json(&headers, body)?;
        let (citizen, purpose) = caller.citizen_and_purpose(&state, &req.citizen, &req.purpose, &mut facts)?;
        let e = req.effort;
        let edit = PlanEdit::Effort {
            id: id_field(e.id, "effort.id")?,
            title: text(e.title, "effort.title", MAX_TITLE, true)?,
            description: text(e.description, "effort.description", MAX_DESCRIPTION, false)?,
            from: date(&e.from, "effort.from")?,
            to: e.to.as_deref().map(|t| date(t, "effort.to")).transpose()?,
        };
        if let PlanEdit::Effort { from, to: Some(to), .. } = &edit
            && to < from
        {
            return Err(field_error("effort.to", "must not be before effort.from"));
        }
        Ok((citizen, purpose, req.version, edit))
    })();
    write(&state, &caller, id, facts, checked).await
}

/// Add or update a milestone of the caller's department in the citizen's plan.
#[utoipa::path(
    post,
    path = "/api/v1/plans/milestones",
    tag = "coordinated effort",
    request_body = MilestoneWrite,
    responses(
        (status = 200, description = "Written; the plan's new version", body = PlanWriteAnswer),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid caseworker token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "No basis to write (recorded, nothing written), the milestone belongs to another department, purpose not allowed, unit outside the organisation, or unknown certificate", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The citizen has no coordinated plan", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The plan has a newer version than the one written against (the detail names it); nothing written", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid CPR number, unknown purpose, or a field of the milestone too long, empty or not a date (the detail names the field)", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "The decision could not be made; nothing written", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The audit log or the plan service is unavailable; nothing written, or the outcome is unknown", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mtls" = [], "bearer" = []))
)]
pub async fn milestone(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<PlanWriteAnswer>, ApiError> {
    let mut facts = Facts::default();
    let checked = (|| {
        caller.admit(&state)?;
        let req: MilestoneWrite = api::read_json(&headers, body)?;
        let (citizen, purpose) = caller.citizen_and_purpose(&state, &req.citizen, &req.purpose, &mut facts)?;
        let m = req.milestone;
        let edit = PlanEdit::Milestone {
            id: id_field(m.id, "milestone.id")?,
            title: text(m.title, "milestone.title", MAX_TITLE, true)?,
            due: date(&m.due, "milestone.due")?,
            reached: m.reached,
        };
        Ok((citizen, purpose, req.version, edit))
    })();
    write(&state, &caller, id, facts, checked).await
}

type Checked = (consent::Cpr, consent::Purpose, u64, PlanEdit);

/// Runs a checked write; a refusal before the pipeline is audited as a refused request,
/// the pipeline records its own.
async fn write(
    state: &AppState,
    caller: &Caller,
    id: RequestId,
    facts: Facts,
    checked: Result<Checked, ApiError>,
) -> Result<Json<PlanWriteAnswer>, ApiError> {
    let (citizen, purpose, version, edit) = match checked {
        Ok(c) => c,
        Err(e) => return Err(refuse(state, caller, id, facts, e).await),
    };
    let request_id = id.to_string();
    let req = PlanWriteRequest {
        caseworker: &caller.caseworker,
        system: &caller.system.id,
        citizen,
        purpose: &purpose,
        request_id: &request_id,
        version,
        edit,
    };
    match state.core.write_plan(&req, state.clock.now()).await {
        Ok(w) => Ok(Json(PlanWriteAnswer {
            request_id,
            version: w.version,
            element: w.element,
            change_sha256: w.change_sha256,
        })),
        Err(e) => Err(problem(e)),
    }
}

/// The answer to a write the pipeline refused or could not finish (already recorded).
fn problem(e: PlanWriteError) -> ApiError {
    match e {
        PlanWriteError::Denied { reason, .. } => {
            ApiError::new(ProblemKind::NoBasis, format!("{} ({}); nothing was written", reason.en, reason.da))
        }
        PlanWriteError::NotOwner => ApiError::new(
            ProblemKind::NotOwnPart,
            "the element belongs to another department; a department changes only its own efforts and milestones; nothing was written",
        ),
        PlanWriteError::Conflict { current } => ApiError::new(
            ProblemKind::VersionConflict,
            format!(
                "the plan has version {current}, newer than the version written against; read it again; nothing was written"
            ),
        ),
        PlanWriteError::Invalid { field } => {
            field_error(&field, "was refused by the plan service (unknown id, empty or too long)")
        }
        PlanWriteError::NoPlan => {
            ApiError::new(ProblemKind::NotFound, "the citizen has no coordinated plan; nothing was written")
        }
        PlanWriteError::Source(e) => {
            tracing::warn!(error = %e, "the plan service failed");
            ApiError::new(ProblemKind::Unavailable, "the plan service did not answer as expected; try again later")
        }
        PlanWriteError::AuditUnavailable(_) => ApiError::audit_unavailable(),
        e @ PlanWriteError::Lookup { .. } => {
            tracing::error!(error = %e, "the write pipeline failed");
            ApiError::internal("the write could not be decided; nothing was written")
        }
    }
}

fn field_error(field: &str, what: &str) -> ApiError {
    ApiError::new(ProblemKind::InvalidRequest, format!("{field} {what}"))
}

/// A text field: at most `max` characters, no control characters but line breaks,
/// non-empty when `required`. The error names the field, never the value.
fn text(v: String, field: &str, max: usize, required: bool) -> Result<String, ApiError> {
    if required && v.trim().is_empty() {
        return Err(field_error(field, "must not be empty"));
    }
    if v.chars().count() > max {
        return Err(field_error(field, &format!("is at most {max} characters")));
    }
    if v.chars().any(|c| c.is_control() && c != '\n') {
        return Err(field_error(field, "must not hold control characters"));
    }
    Ok(v)
}

fn id_field(v: Option<String>, field: &str) -> Result<Option<String>, ApiError> {
    match v {
        None => Ok(None),
        Some(v) if !v.is_empty() && v.len() <= MAX_ID && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') => {
            Ok(Some(v))
        }
        Some(_) => Err(field_error(field, &format!("is 1 to {MAX_ID} letters, digits or hyphens"))),
    }
}

fn date(v: &str, field: &str) -> Result<NaiveDate, ApiError> {
    NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| field_error(field, "is a date YYYY-MM-DD"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_errors_name_the_field_and_never_the_value() {
        let e = text("x".repeat(MAX_TITLE + 1), "effort.title", MAX_TITLE, true).unwrap_err();
        assert_eq!(e.kind, ProblemKind::InvalidRequest);
        assert!(e.detail.starts_with("effort.title "), "{}", e.detail);
        assert!(!e.detail.contains("xxx"));
        let e = date("0101709901", "milestone.due").unwrap_err();
        assert!(e.detail.starts_with("milestone.due ") && !e.detail.contains("0101709901"), "{}", e.detail);
        assert!(text(String::new(), "effort.description", MAX_DESCRIPTION, false).is_ok());
        assert!(text(" ".into(), "effort.title", MAX_TITLE, true).is_err());
        assert!(id_field(Some("e 1".into()), "effort.id").is_err());
        assert_eq!(id_field(Some("e-1".into()), "effort.id").unwrap().as_deref(), Some("e-1"));
    }
}
