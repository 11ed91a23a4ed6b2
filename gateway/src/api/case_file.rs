//! `POST /api/v1/case-files`: the case file on demand.
//!
//! 1. Check the caller (unit within the system's organisation, purpose allowed) and the body.
//! 2. For each category: the consents covering it (`Ledger::covering`), the citizen's blocks,
//!    and one policy decision for all categories.
//! 3. Append a `decision` audit record per section and wait until it is durable: nothing is
//!    fetched about the citizen before the decisions are on record.
//! 4. Fetch the permitted categories concurrently through the connectors, all under one
//!    deadline; a source that is down or slow costs only its own section.
//! 5. Append a `release` record per permitted section (with the released documents'
//!    digests) and wait until it is durable. Only then does any document go into the answer.
//!    If either append fails the answer is 503 and nothing is released.

use std::collections::HashSet;
use std::time::Duration;

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use connectors::{Document, FetchError, FetchRequest};
use consent::audit::{AuditDecision, AuditKind, AuditRecord};
use consent::{Category, Consent, Cpr, DataPeriod, Purpose};
use policies::{CategoryDecision, DecisionRequest, Effect};
use tokio::time::Instant;

use super::auth::{Caller, Facts, refuse};
use super::bodies::{self as api, Basis, BasisKind, CaseFile, CaseFileRequest, Reason, Section, SectionStatus};
use crate::app::AppState;
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
        let c = vocab.category(n).map_err(|e| ApiError::new(ProblemKind::UnknownCategory, e.to_string()))?;
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
    let now = Utc::now();
    let unit = &caller.caseworker.unit;

    // Decide.
    let mut consents: Vec<(Category, Vec<Consent>)> = Vec::with_capacity(req.categories.len());
    for c in &req.categories {
        let found = state
            .ledger
            .covering(&req.citizen, unit, &req.purpose, c, now)
            .await
            .map_err(|e| internal("the consent lookup", e))?;
        consents.push((c.clone(), found));
    }
    let blocks = state.ledger.blocks(&req.citizen).await.map_err(|e| internal("the block lookup", e))?;
    let decision = state
        .engine
        .decide(&DecisionRequest {
            caseworker: &caller.caseworker,
            citizen: &req.citizen,
            citizen_municipality: None,
            purpose: &req.purpose,
            categories: &req.categories,
            now,
            consents: &consents,
            blocks: &blocks,
        })
        .map_err(|e| internal("the policy decision", e))?;

    // Record the decisions before anything is fetched.
    let base = |kind: AuditKind, category: &Category| {
        let mut r = caller.record(id, kind);
        r.citizen = Some(req.citizen);
        r.purpose = Some(req.purpose.clone());
        r.category = Some(category.clone());
        r
    };
    let decision_records: Vec<AuditRecord> = decision
        .sections
        .iter()
        .map(|s| {
            let mut r = base(AuditKind::Decision, &s.category);
            r.decision = Some(match s.effect {
                Effect::Permit => AuditDecision::Permit,
                Effect::Deny => AuditDecision::Deny,
            });
            r.basis = audit_basis(s);
            r.policies = s.policies.clone();
            r.outcome = match s.effect {
                Effect::Permit => "permit".into(),
                Effect::Deny => "denied".into(),
            };
            r.detail = Some(match &req.case_reference {
                Some(c) => format!("policy set {}; case reference {c}", decision.policy_digest),
                None => format!("policy set {}", decision.policy_digest),
            });
            r
        })
        .collect();
    append(state, decision_records).await?;

    // Fetch what is permitted, concurrently, under one deadline.
    let deadline = Instant::now() + state.case_file_deadline;
    let mut fetches = Vec::new();
    for s in decision.sections.iter().filter(|s| s.effect == Effect::Permit) {
        let data_period = consent_data_period(s, &consents);
        let request = FetchRequest {
            citizen: req.citizen,
            category: s.category.clone(),
            data_period,
            request_id: id.to_string(),
        };
        let connector = state.registry.for_category(&s.category);
        let budget = state.case_file_deadline;
        fetches.push(tokio::spawn(async move {
            let Some(connector) = connector else { return (None, Fetched::NoSource, Utc::now()) };
            let source = connector.id().to_string();
            let outcome = match tokio::time::timeout_at(deadline, connector.fetch(&request)).await {
                Ok(Ok(docs)) => Fetched::Documents(docs),
                Ok(Err(e)) => Fetched::Failed(e),
                Err(_) => Fetched::Deadline(budget),
            };
            (Some(source), outcome, Utc::now())
        }));
    }
    let mut results = Vec::with_capacity(fetches.len());
    for f in fetches {
        results.push(
            f.await.unwrap_or_else(|e| (None, Fetched::Failed(FetchError::Unavailable(e.to_string())), Utc::now())),
        );
    }

    // Build the sections, record the releases, and only then answer.
    let mut results = results.into_iter();
    let mut sections = Vec::with_capacity(decision.sections.len());
    let mut release_records = Vec::new();
    for s in &decision.sections {
        if s.effect == Effect::Deny {
            sections.push(Section {
                category: s.category.to_string(),
                status: SectionStatus::Denied,
                basis: None,
                policies: s.policies.clone(),
                source: None,
                fetched_at: None,
                documents: Vec::new(),
                reason: Reason { da: s.reason.da.clone(), en: s.reason.en.clone() },
                detail: None,
            });
            continue;
        }
        let (source, outcome, at) = results.next().expect("one fetch per permitted section");
        let section = permitted_section(s, source, outcome, at);
        let mut r = base(AuditKind::Release, &s.category);
        r.decision = Some(AuditDecision::Permit);
        r.basis = audit_basis(s);
        r.policies = s.policies.clone();
        r.outcome = section.status.as_str().to_string();
        r.documents = section.documents.iter().map(|d| d.sha256.clone()).collect();
        r.detail = Some(match (&section.source, &section.detail) {
            (Some(src), Some(d)) => format!("source {src}: {d}"),
            (Some(src), None) => format!("source {src}"),
            (None, Some(d)) => d.clone(),
            (None, None) => String::new(),
        });
        release_records.push(r);
        sections.push(section);
    }
    append(state, release_records).await?;
    let included = sections.iter().filter(|s| s.status == SectionStatus::Included).count();
    tracing::info!(
        system = %caller.system.id,
        citizen = %req.citizen,
        purpose = %req.purpose,
        sections = sections.len(),
        included,
        "case file assembled"
    );
    Ok(CaseFile {
        request_id: id.to_string(),
        citizen: req.citizen.masked(),
        purpose: req.purpose.to_string(),
        case_reference: req.case_reference,
        assembled_at: now,
        policy_digest: decision.policy_digest,
        sections,
    })
}

async fn append(state: &AppState, records: Vec<AuditRecord>) -> Result<(), ApiError> {
    state.audit.append(records).await.map(drop).map_err(|e| {
        tracing::error!(error = %e, "the audit log refused records; releasing nothing");
        ApiError::audit_unavailable()
    })
}

enum Fetched {
    Documents(Vec<Document>),
    Failed(FetchError),
    Deadline(Duration),
    NoSource,
}

fn audit_basis(s: &CategoryDecision) -> Option<String> {
    s.basis.as_ref().map(|b| match b {
        policies::Basis::Consent(id) => format!("consent:{id}"),
        policies::Basis::Statute(r) => format!("statute:{r}"),
    })
}

/// A consent basis limits how old the documents may be.
fn consent_data_period(s: &CategoryDecision, consents: &[(Category, Vec<Consent>)]) -> Option<DataPeriod> {
    let Some(policies::Basis::Consent(id)) = &s.basis else { return None };
    consents.iter().flat_map(|(_, v)| v.iter()).find(|c| c.id == *id).and_then(|c| c.terms.data_period)
}

fn permitted_section(s: &CategoryDecision, source: Option<String>, outcome: Fetched, at: DateTime<Utc>) -> Section {
    let basis = s.basis.as_ref().map(|b| match b {
        policies::Basis::Consent(id) => Basis { kind: BasisKind::Consent, reference: id.to_string() },
        policies::Basis::Statute(r) => Basis { kind: BasisKind::Statute, reference: r.clone() },
    });
    let src = source.clone().unwrap_or_default();
    let (status, documents, reason, detail) = match outcome {
        Fetched::Documents(docs) if docs.is_empty() => (
            SectionStatus::NoData,
            Vec::new(),
            Reason {
                da: format!("Kilden {src} har ingen oplysninger om borgeren i denne kategori."),
                en: format!("The source {src} holds no information about the citizen in this category."),
            },
            None,
        ),
        Fetched::Documents(docs) => (
            SectionStatus::Included,
            docs.into_iter().map(api::DocumentView::from).collect(),
            Reason { da: s.reason.da.clone(), en: s.reason.en.clone() },
            None,
        ),
        Fetched::Failed(e) => {
            let (status, da, en) = match &e {
                FetchError::Unavailable(_) => (
                    SectionStatus::Unavailable,
                    format!("Kilden {src} kunne ikke nås eller svarede med en fejl. Prøv igen senere."),
                    format!("The source {src} could not be reached or answered with an error. Try again later."),
                ),
                FetchError::Timeout(_) => (
                    SectionStatus::Timeout,
                    format!("Kilden {src} svarede ikke i tide."),
                    format!("The source {src} did not answer in time."),
                ),
                FetchError::InvalidResponse(_) => (
                    SectionStatus::InvalidResponse,
                    format!("Kilden {src} svarede med noget, der ikke er et gyldigt svar; intet fra den er medtaget."),
                    format!("The source {src} gave an answer that is not valid; nothing from it is included."),
                ),
            };
            (status, Vec::new(), Reason { da, en }, Some(e.cause().to_string()))
        }
        Fetched::Deadline(d) => (
            SectionStatus::Timeout,
            Vec::new(),
            Reason {
                da: format!("Kilden {src} svarede ikke inden for sagsmappens frist på {} ms.", d.as_millis()),
                en: format!("The source {src} did not answer within the case file's deadline of {} ms.", d.as_millis()),
            },
            Some(format!("no answer within the request deadline of {} ms", d.as_millis())),
        ),
        Fetched::NoSource => (
            SectionStatus::Unavailable,
            Vec::new(),
            Reason {
                da: "Ingen kilde er sat op til denne kategori.".into(),
                en: "No source system is configured for this category.".into(),
            },
            Some("no connector serves this category".into()),
        ),
    };
    Section {
        category: s.category.to_string(),
        status,
        basis,
        policies: s.policies.clone(),
        source,
        fetched_at: Some(at),
        documents,
        reason,
        detail,
    }
}
