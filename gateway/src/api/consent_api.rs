//! Consent requests and the consents a unit holds.
//!
//! - `POST /api/v1/consent-requests`: a caseworker asks the citizen for consent
//!   (`ConsentService::request`, which commits the request with its `consent_requested`
//!   record); the citizen answers in the portal.
//! - `GET /api/v1/consent-requests/{id}`: its status, for the requesting unit only (any
//!   other caller gets 404, so ids reveal nothing). Audited (`consents_read`).
//! - `POST /api/v1/consents/search`: the consents the caseworker's unit holds for a citizen
//!   (granted to the unit, or to a unit above it with sub-units included). Audited
//!   (`consents_read`).
//!
//! Every answer that shows consent data waits until its audit record is durable.

use std::collections::BTreeSet;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::Duration;
use consent::audit::AuditKind;
use consent::{Actor, ConsentId, Cpr, DataPeriod, LedgerError, Period, Requester, ServiceError, TermsInput, UnitId};

use super::AppState;
use super::auth::{Caller, Facts, refuse};
use super::bodies::{self as api, ConsentList, ConsentRequestBody, ConsentSearchBody, ConsentView};
use super::case_file::categories;
use crate::http::problem::{ApiError, Problem, ProblemKind};
use crate::http::request_id::RequestId;

/// The version of the consent text built by [`consent_text`].
const TEXT_VERSION: &str = "api-request-1";

/// Ask the citizen for consent.
#[utoipa::path(
    post,
    path = "/api/v1/consent-requests",
    tag = "consents",
    request_body = ConsentRequestBody,
    responses(
        (status = 201, description = "The request, awaiting the citizen's answer", body = ConsentView,
         headers(("location" = String, description = "Where to read its status"))),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid caseworker token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Purpose not allowed, unit outside the organisation, or unknown certificate", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid CPR number, purpose, category, unit or period", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The audit log is unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mtls" = [], "bearer" = []))
)]
pub async fn create_request(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let mut facts = Facts::default();
    match create_inner(&state, &caller, id, &headers, body, &mut facts).await {
        Ok(r) => Ok(r),
        Err(e) => Err(refuse(&state, &caller, id, facts, e).await),
    }
}

/// The plain-language text the citizen is shown, from the configured vocabulary.
fn consent_text(state: &AppState, unit: &UnitId, input: &TermsInput) -> String {
    let rules = state.ledger.rules();
    let unit_name = rules.directory.unit(unit).map(|u| u.name.clone()).unwrap_or_else(|| unit.to_string());
    let purpose = rules.vocabulary.purposes.get(&input.purpose).map(|d| d.da.clone()).unwrap_or_default();
    let cats: Vec<String> = input
        .categories
        .iter()
        .map(|c| rules.vocabulary.categories.get(c).map(|d| d.da.clone()).unwrap_or_else(|| c.to_string()))
        .collect();
    let sub = if input.include_subunits { " og enhederne under den" } else { "" };
    format!(
        "Jeg giver {unit_name}{sub} lov til at indhente disse oplysninger om mig: {}. Formålet er: {purpose}. \
         Samtykket gælder fra {} til {}, og jeg kan til enhver tid trække det tilbage.",
        cats.join("; "),
        input.period.from.format("%d.%m.%Y"),
        input.period.until.format("%d.%m.%Y"),
    )
}

async fn create_inner(
    state: &AppState,
    caller: &Caller,
    id: RequestId,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    facts: &mut Facts,
) -> Result<Response, ApiError> {
    caller.admit(state)?;
    let req: ConsentRequestBody = api::read_json(headers, body)?;
    let rules = state.ledger.rules();
    let (citizen, purpose) = caller.citizen_and_purpose(state, &req.citizen, &req.purpose, facts)?;
    let cats: BTreeSet<_> = categories(state, &req.categories)?.into_iter().collect();
    let own = &caller.caseworker.unit;
    let grantee = match &req.unit {
        None => own.clone(),
        Some(u) => {
            let u = UnitId::parse(u).map_err(|_| {
                ApiError::new(
                    ProblemKind::InvalidRequest,
                    "unit must be a unit id: 1 to 64 characters of a-z, 0-9, '.', '-'",
                )
            })?;
            if !rules.directory.is_within(own, &u) || !rules.directory.is_within(&u, &caller.system.organisation) {
                return Err(ApiError::new(
                    ProblemKind::InvalidRequest,
                    "unit must be the caseworker's own unit or a unit above it within the system's organisation",
                ));
            }
            u
        }
    };
    let explanation = req.explanation.trim().to_string();
    if explanation.is_empty() || explanation.chars().count() > 1000 {
        return Err(ApiError::new(ProblemKind::InvalidRequest, "explanation must be 1 to 1000 characters"));
    }
    let now = state.core.clock.now();
    let period = Period { from: req.period.from.unwrap_or(now), until: req.period.until };
    let respond_by = req.respond_by.unwrap_or_else(|| (now + Duration::days(14)).min(period.until));
    let mut input = TermsInput {
        citizen,
        grantee: grantee.clone(),
        include_subunits: req.include_subunits,
        purpose: purpose.clone(),
        categories: cats,
        period,
        data_period: req.data_period.map(|d| DataPeriod { from: d.from, until: d.until }),
        text_version: TEXT_VERSION.into(),
        text_body: String::new(),
    };
    input.text_body = consent_text(state, &grantee, &input);
    let requester = Requester { caseworker: caller.caseworker.id.clone(), system: caller.system.id.clone() };
    let actor = Actor::caseworker(
        caller.system.id.clone(),
        caller.caseworker.id.clone(),
        caller.caseworker.unit.clone(),
        id.to_string(),
    );
    let consent =
        state.consents.request(input, requester, explanation, respond_by, &actor, now).await.map_err(|e| match e {
            ServiceError::Ledger(LedgerError::Rule(r)) => ApiError::new(ProblemKind::InvalidRequest, r.to_string()),
            ServiceError::AuditUnavailable => ApiError::audit_unavailable(),
            ServiceError::AuditPending(e) => {
                tracing::error!(error = %e, "a consent request is stored but its audit record is not confirmed");
                ApiError::audit_pending()
            }
            e => {
                tracing::error!(error = %e, "the ledger failed");
                ApiError::internal("the consent ledger failed")
            }
        })?;
    tracing::info!(system = %caller.system.id, consent = %consent.id, "consent requested");
    let location = format!("/api/v1/consent-requests/{}", consent.id);
    let mut resp = (StatusCode::CREATED, Json(ConsentView::of(&consent, now))).into_response();
    resp.headers_mut().insert(header::LOCATION, HeaderValue::from_str(&location).expect("a path is a header value"));
    Ok(resp)
}

/// The status of a consent request, for the unit that asked.
#[utoipa::path(
    get,
    path = "/api/v1/consent-requests/{id}",
    tag = "consents",
    params(("id" = String, Path, description = "The consent request's id (UUID)")),
    responses(
        (status = 200, description = "The request and its current status", body = ConsentView),
        (status = 401, description = "No valid caseworker token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such request made by the caller's unit", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The audit log is unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mtls" = [], "bearer" = []))
)]
pub async fn get_request(
    State(state): State<AppState>,
    Extension(rid): Extension<RequestId>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ConsentView>, ApiError> {
    let inner = async {
        caller.admit(&state)?;
        let not_found =
            || ApiError::new(ProblemKind::NotFound, "no consent request with this id was made by your unit");
        let id: ConsentId = id.parse().map_err(|_| not_found())?;
        let consent = match state.ledger.consent(id).await {
            Ok(c) => c,
            Err(LedgerError::NoSuchConsent(_)) => return Err(not_found()),
            Err(e) => {
                tracing::error!(error = %e, "the ledger failed");
                return Err(ApiError::internal("the consent ledger failed"));
            }
        };
        // Only the unit the request was made for, and only requests (not direct grants).
        if consent.requested_by.is_none() || consent.terms.grantee != caller.caseworker.unit {
            return Err(not_found());
        }
        let now = state.core.clock.now();
        let mut r = caller.record(rid, AuditKind::ConsentsRead, now);
        r.citizen = Some(consent.terms.citizen);
        r.purpose = Some(consent.terms.purpose.clone());
        r.outcome = "ok".into();
        r.detail = Some(format!("status of consent request {}", consent.id));
        audited(&state, r).await?;
        Ok(Json(ConsentView::of(&consent, now)))
    };
    match inner.await {
        Ok(v) => Ok(v),
        Err(e) if e.kind == ProblemKind::NotFound => Err(e),
        Err(e) => Err(refuse(&state, &caller, rid, Facts::default(), e).await),
    }
}

/// The consents the caseworker's unit holds for a citizen (the CPR number travels in the body).
#[utoipa::path(
    post,
    path = "/api/v1/consents/search",
    tag = "consents",
    request_body = ConsentSearchBody,
    responses(
        (status = 200, description = "The consents covering the caller's unit, newest first", body = ConsentList),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid caseworker token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Unknown certificate", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid CPR number or purpose", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The audit log is unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mtls" = [], "bearer" = []))
)]
pub async fn search(
    State(state): State<AppState>,
    Extension(rid): Extension<RequestId>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ConsentList>, ApiError> {
    let mut facts = Facts::default();
    let inner = async {
        caller.admit(&state)?;
        let req: ConsentSearchBody = api::read_json(&headers, body)?;
        let rules = state.ledger.rules();
        let citizen = Cpr::parse(&req.citizen).map_err(|_| ApiError::invalid_cpr())?;
        facts.citizen = Some(citizen);
        let purpose = req
            .purpose
            .as_deref()
            .map(|p| rules.vocabulary.purpose(p))
            .transpose()
            .map_err(|e| ApiError::vocabulary(&e))?;
        let lineage =
            rules.directory.lineage(&caller.caseworker.unit).map_err(|e| ApiError::internal(e.to_string()))?;
        let all = state.ledger.consents_of(&citizen).await.map_err(|e| {
            tracing::error!(error = %e, "the ledger failed");
            ApiError::internal("the consent ledger failed")
        })?;
        let now = state.core.clock.now();
        let consents: Vec<ConsentView> = all
            .iter()
            .filter(|c| c.covers_unit(lineage))
            .filter(|c| purpose.as_ref().is_none_or(|p| c.terms.purpose == *p))
            .map(|c| ConsentView::of(c, now))
            .collect();
        let mut r = caller.record(rid, AuditKind::ConsentsRead, now);
        r.citizen = Some(citizen);
        r.purpose = purpose.clone();
        r.outcome = "ok".into();
        r.detail = Some(format!("consent search: {} consents returned", consents.len()));
        audited(&state, r).await?;
        Ok(Json(ConsentList { consents }))
    };
    match inner.await {
        Ok(v) => Ok(v),
        Err(e) => Err(refuse(&state, &caller, rid, facts, e).await),
    }
}

/// Appends one record and waits until it is durable; nothing is answered without it.
async fn audited(state: &AppState, record: consent::audit::AuditRecord) -> Result<(), ApiError> {
    state.audit.append(vec![record]).await.map(drop).map_err(|e| {
        tracing::error!(error = %e, "the audit log refused a record");
        ApiError::audit_unavailable()
    })
}
