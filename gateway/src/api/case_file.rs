//! `POST /api/v1/case-files`: the case file on demand.
//!
//! The handler checks the caller (unit within the system's organisation, purpose allowed)
//! and the body, hands the checked request to the release pipeline
//! ([`crate::core::release`]: decide, record, fetch, re-check, record) and serialises the
//! sections. If the pipeline cannot make an audit record durable the answer is 503 and
//! nothing is released.

use std::collections::HashSet;

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use consent::{Category, Cpr, Purpose};

use super::AppState;
use super::auth::{Caller, Facts, refuse};
use super::bodies::{self as api, Basis, BasisKind, CaseFile, CaseFileRequest, Reason, Section, SectionStatus};
use crate::core::release::{self, ReleaseError, ReleaseRequest};
use crate::http::problem::{ApiError, Problem, ProblemKind};
use crate::http::request_id::RequestId;

/// Assemble a case file about one citizen for one purpose.
#[utoipa::path(
    post,
    path = "/api/v1/case-files",
    tag = "case files",
    request_body = CaseFileRequest,
    responses(
        (status = 200, description = "The case file, one section per requested category", body = CaseFile),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid caseworker token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Purpose not allowed, unit outside the organisation, or unknown certificate", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid CPR number, unknown purpose or category", body = Problem, content_type = "application/problem+json"),
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
) -> Result<Json<CaseFile>, ApiError> {
    let mut facts = Facts::default();
    match assemble(&state, &caller, id, &headers, body, &mut facts).await {
        Ok(file) => Ok(Json(file)),
        Err(e) => Err(refuse(&state, &caller, id, facts, e).await),
    }
}

/// A checked request.
struct Checked {
    citizen: Cpr,
    purpose: Purpose,
    categories: Vec<Category>,
    case_reference: Option<String>,
}

fn check(state: &AppState, caller: &Caller, req: CaseFileRequest, facts: &mut Facts) -> Result<Checked, ApiError> {
    let (citizen, purpose) = caller.citizen_and_purpose(state, &req.citizen, &req.purpose, facts)?;
    let categories = categories(state, &req.categories)?;
    if let Some(r) = &req.case_reference
        && (r.chars().count() > 128 || r.chars().any(char::is_control))
    {
        return Err(ApiError::new(
            ProblemKind::InvalidRequest,
            "case_reference is at most 128 characters without control characters",
        ));
    }
    Ok(Checked { citizen, purpose, categories, case_reference: req.case_reference })
}

/// Known, distinct categories, at least one.
pub(crate) fn categories(state: &AppState, names: &[String]) -> Result<Vec<Category>, ApiError> {
    let vocab = &state.ledger.rules().vocabulary;
    if names.is_empty() {
        return Err(ApiError::new(ProblemKind::InvalidRequest, "name at least one category"));
    }
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(names.len());
    for n in names {
        let c = vocab.category(n).map_err(|e| ApiError::vocabulary(&e))?;
        if !seen.insert(c.clone()) {
            return Err(ApiError::new(ProblemKind::InvalidRequest, format!("category {c} is named twice")));
        }
        out.push(c);
    }
    Ok(out)
}

fn internal(what: &str, e: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "{what} failed");
    ApiError::internal(format!("{what} failed; nothing was released"))
}

/// What the caller is told when the release pipeline refused: 503 while the audit log is
/// down, 500 (logged, naming only the step) when a lookup failed. Nothing was released.
pub(crate) fn release_error(e: ReleaseError) -> ApiError {
    match e {
        ReleaseError::AuditUnavailable(_) => ApiError::audit_unavailable(),
        ReleaseError::Lookup { what, message } => internal(what, message),
    }
}

async fn assemble(
    state: &AppState,
    caller: &Caller,
    id: RequestId,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    facts: &mut Facts,
) -> Result<CaseFile, ApiError> {
    caller.admit(state)?;
    let req: CaseFileRequest = api::read_json(headers, body)?;
    let req = check(state, caller, req, facts)?;
    let now = state.clock.now();
    let request_id = id.to_string();
    let released = state
        .core
        .release(
            &ReleaseRequest {
                caseworker: &caller.caseworker,
                system: &caller.system.id,
                citizen: req.citizen,
                purpose: &req.purpose,
                categories: &req.categories,
                case_reference: req.case_reference.as_deref(),
                request_id: &request_id,
                answering: None,
            },
            now,
        )
        .await
        .map_err(release_error)?;
    Ok(CaseFile {
        request_id,
        citizen: req.citizen.masked(),
        purpose: req.purpose.to_string(),
        case_reference: req.case_reference,
        assembled_at: released.assembled_at,
        policy_digest: released.policy_digest,
        sections: released.sections.into_iter().map(section_view).collect(),
    })
}

/// A released section as the API shows it.
pub(crate) fn section_view(s: release::Section) -> Section {
    Section {
        category: s.category.to_string(),
        status: match s.status {
            release::SectionStatus::Included => SectionStatus::Included,
            release::SectionStatus::Denied => SectionStatus::Denied,
            release::SectionStatus::NoData => SectionStatus::NoData,
            release::SectionStatus::Unavailable => SectionStatus::Unavailable,
            release::SectionStatus::Timeout => SectionStatus::Timeout,
            release::SectionStatus::InvalidResponse => SectionStatus::InvalidResponse,
        },
        basis: s.basis.map(|b| match b {
            policies::Basis::Consent(id) => Basis { kind: BasisKind::Consent, reference: id.to_string() },
            policies::Basis::Statute(r) => Basis { kind: BasisKind::Statute, reference: r },
            policies::Basis::OwnAccess(r) => Basis { kind: BasisKind::OwnAccess, reference: r },
        }),
        policies: s.policies,
        source: s.source,
        fetched_at: s.fetched_at,
        documents: s.documents.into_iter().map(api::DocumentView::from).collect(),
        reason: Reason { da: s.reason.da, en: s.reason.en },
        detail: s.detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_core_status_is_spelled_in_the_answer_as_in_the_audit_record() {
        use release::SectionStatus as S;
        for s in [S::Included, S::Denied, S::NoData, S::Unavailable, S::Timeout, S::InvalidResponse] {
            let section = release::Section {
                category: "jobnet.cv".parse().unwrap(),
                status: s,
                basis: None,
                policies: Vec::new(),
                source: None,
                fetched_at: None,
                documents: Vec::new(),
                reason: policies::Reason { da: "da".into(), en: "en".into() },
                detail: None,
            };
            // The answer's spelling (serde) is the audit record's outcome (`as_str`).
            let wire = serde_json::to_value(section_view(section).status).unwrap();
            assert_eq!(wire, serde_json::json!(s.as_str()));
        }
    }
}
