//! `POST /api/v1/paper-consents`: a caseworker system registers a consent the citizen
//! signed on paper (channel `paper`): the scan's SHA-256 and reference, the caseworker who
//! registered it. It is active at once for the terms stated, shown to the citizen as "på
//! papir", and the citizen is told and asked to confirm it digitally within
//! `[domain] paper_confirmation_days` (default 30); unconfirmed, it expires then.
//!
//! Only systems registered with `paper_consents = true` may; every refusal (a system not
//! allowed, a period over the cap, an unknown unit, a bad scan) is audited as
//! `request_refused`, and nothing is changed.

use std::collections::BTreeSet;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::{DateTime, Duration, Utc};
use consent::{
    Actor, DataPeriod, LedgerError, PaperRecord, Period, Requester, RuleError, ServiceError, TermsInput, UnitId,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::auth::{Caller, Facts, refuse};
use super::bodies::{self as api, DataPeriodBody, PeriodBody};
use super::case_file::categories;
use crate::http::problem::{ApiError, Problem, ProblemKind};
use crate::http::request_id::RequestId;

/// `POST /api/v1/paper-consents`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaperConsentBody {
    #[schema(example = "0101709901", pattern = "^[0-9]{6}-?[0-9]{4}$")]
    pub citizen: String,
    /// The unit that receives the data (a unit within the system's organisation).
    pub unit: String,
    #[serde(default)]
    pub include_subunits: bool,
    pub purpose: String,
    pub categories: Vec<String>,
    /// The period the citizen signed for (at most the consent cap).
    pub period: PeriodBody,
    #[serde(default)]
    pub data_period: Option<DataPeriodBody>,
    /// The scanned paper: its SHA-256 (hex) and its reference in the system's archive.
    pub scan: ScanBody,
    /// The text the citizen signed, as written on the paper.
    pub text: String,
    /// The version of that text (the form's number).
    pub text_version: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScanBody {
    #[schema(example = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")]
    pub sha256: String,
    /// 1 to 100 letters, digits, `.`, `_`, `-`, `/`; never a personal number.
    #[schema(example = "SCAN-2026/00042")]
    pub reference: String,
}

/// The registered paper consent.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PaperConsentView {
    pub id: String,
    /// `active` (until the deadline unless confirmed).
    pub status: String,
    pub channel: String,
    /// The citizen must confirm it digitally by then, or it expires.
    pub confirm_by: DateTime<Utc>,
    pub valid_until: DateTime<Utc>,
}

/// Register a consent the citizen signed on paper.
#[utoipa::path(
    post,
    path = "/api/v1/paper-consents",
    tag = "consents",
    request_body = PaperConsentBody,
    responses(
        (status = 201, description = "Registered: active at once, to be confirmed by the citizen", body = PaperConsentView),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid caseworker token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The system may not register paper consents, purpose not allowed, unit outside the organisation, or unknown certificate", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid CPR number, purpose, category, unit, scan or period (e.g. longer than the cap)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The audit log is unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mtls" = [], "bearer" = []))
)]
pub async fn register(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let mut facts = Facts::default();
    match register_inner(&state, &caller, id, &headers, body, &mut facts).await {
        Ok(r) => Ok(r),
        Err(e) => Err(refuse(&state, &caller, id, facts, e).await),
    }
}

async fn register_inner(
    state: &AppState,
    caller: &Caller,
    id: RequestId,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    facts: &mut Facts,
) -> Result<Response, ApiError> {
    caller.admit(state)?;
    let req: PaperConsentBody = api::read_json(headers, body)?;
    let (citizen, purpose) = caller.citizen_and_purpose(state, &req.citizen, &req.purpose, facts)?;
    if !caller.system.paper_consents {
        return Err(ApiError::new(
            ProblemKind::PaperNotAllowed,
            format!("system {} is not registered to bring in consents signed on paper", caller.system.id),
        ));
    }
    let rules = state.ledger.rules();
    let cats: BTreeSet<_> = categories(state, &req.categories)?.into_iter().collect();
    let unit = UnitId::parse(&req.unit)
        .ok()
        .filter(|u| rules.directory.contains(u))
        .ok_or_else(|| ApiError::new(ProblemKind::InvalidRequest, "unit must be a known unit id"))?;
    if !rules.directory.is_within(&unit, &caller.system.organisation) {
        return Err(ApiError::new(ProblemKind::InvalidRequest, "unit must be within the system's organisation"));
    }
    let text = req.text.trim().to_string();
    if text.is_empty() || text.chars().count() > 5000 || req.text_version.trim().is_empty() {
        return Err(ApiError::new(ProblemKind::InvalidRequest, "text must be 1 to 5000 characters, with a version"));
    }
    let now = state.core.clock.now();
    let input = TermsInput {
        citizen,
        grantee: unit,
        include_subunits: req.include_subunits,
        purpose,
        categories: cats,
        period: Period { from: req.period.from.unwrap_or(now), until: req.period.until },
        data_period: req.data_period.map(|d| DataPeriod { from: d.from, until: d.until }),
        text_version: req.text_version.trim().to_string(),
        text_body: text,
    };
    let paper = PaperRecord {
        scan_sha256: req.scan.sha256.trim().to_ascii_lowercase(),
        scan_reference: req.scan.reference.trim().to_string(),
        registered_by: Requester { caseworker: caller.caseworker.id.clone(), system: caller.system.id.clone() },
        confirm_by: now + Duration::days(i64::from(rules.paper_confirmation_days)),
        confirmed_at: None,
    };
    let actor = Actor::caseworker(
        caller.system.id.clone(),
        caller.caseworker.id.clone(),
        caller.caseworker.unit.clone(),
        id.to_string(),
    );
    let c = state.consents.register_paper(input, paper, &actor, now).await.map_err(|e| match e {
        ServiceError::Ledger(LedgerError::Rule(RuleError::Organisation(_))) => {
            ApiError::new(ProblemKind::InvalidRequest, "unit must be a known unit id")
        }
        ServiceError::Ledger(LedgerError::Rule(r)) => ApiError::new(ProblemKind::InvalidRequest, r.to_string()),
        ServiceError::AuditUnavailable => ApiError::audit_unavailable(),
        ServiceError::AuditPending(e) => {
            tracing::error!(error = %e, "a paper consent is stored but its audit record is not confirmed");
            ApiError::audit_pending()
        }
        e => {
            tracing::error!(error = %e, "the ledger failed");
            ApiError::internal("the consent ledger failed")
        }
    })?;
    tracing::info!(system = %caller.system.id, consent = %c.id, "paper consent registered");
    let view = PaperConsentView {
        id: c.id.to_string(),
        status: c.status_at(now).to_string(),
        channel: "paper".into(),
        confirm_by: c.paper.as_ref().map_or(now, |p| p.confirm_by),
        valid_until: c.effective_until(),
    };
    Ok((StatusCode::CREATED, Json(view)).into_response())
}
