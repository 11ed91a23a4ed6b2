//! Messages to a citizen's own GP through the health hub (`core::send`).
//!
//! - `POST /api/v1/health/statement-requests`: order the GP's statement (an LÆ 261 asking
//!   for an LÆ 265), with the questions and the deadline;
//! - `POST /api/v1/health/letters`: a letter (subject, text, optionally a document in the
//!   hub's document store as its attachment), e.g. the rehabilitation team's
//!   recommendation;
//! - `GET /api/v1/health/messages/{id}`: a sent message's state, for the system that sent
//!   it and a caseworker of the unit it was sent for or above it (anyone else gets 404);
//!   for an acknowledged statement request also the GP's answer, released through the
//!   release pipeline (`core/send/status.rs`). Every read is recorded (`message_read`).
//!
//! Both POSTs are decided by the policies' `send` action; a denial is 403 and recorded. An
//! `Idempotency-Key` header makes a retry safe: the same key and body answer the stored
//! message (200) and send nothing again; the same key with another body is 409. A stored
//! message is answered 202 with a `Location`: it is sent by the background sender.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::{DateTime, NaiveDate, Utc};
use connectors::medcom::outgoing::{MessageText, Subject};
use consent::store::health_outbox::{DeliveryState, HealthMessage, HealthMessageId, HealthMessageKind};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::AppState;
use super::auth::{Caller, Facts, refuse};
use super::bodies::Section;
use super::bodies::read_json;
use super::case_file::section_view;
use crate::core::send::status::StatusRequest;
use crate::core::send::{Outgoing, SendError, SendRequest};
use crate::http::problem::{ApiError, Problem, ProblemKind};
use crate::http::request_id::RequestId;

/// The header that makes a POST safe to retry.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// `POST /api/v1/health/statement-requests`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatementRequestBody {
    /// The citizen's CPR number, `DDMMYYSSSS` or `DDMMYY-SSSS`.
    #[schema(example = "0101709901")]
    pub citizen: String,
    #[schema(example = "rehabilitation-team")]
    pub purpose: String,
    /// The questions for the GP (at most 20,000 characters; line breaks allowed, other control
    /// characters not).
    pub questions: String,
    /// When the GP's answer is wanted: after today, at most 60 days ahead.
    #[schema(value_type = String, format = Date, example = "2026-12-31")]
    pub deadline: NaiveDate,
}

/// `POST /api/v1/health/letters`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LetterBody {
    #[schema(example = "0101709901")]
    pub citizen: String,
    #[schema(example = "rehabilitation-team")]
    pub purpose: String,
    /// One line, at most 70 characters.
    #[schema(example = "Rehabiliteringsteamets indstilling")]
    pub subject: String,
    /// At most 20,000 characters; line breaks allowed, other control characters not.
    pub text: String,
    /// A document about the citizen in the health hub's document store to attach (its
    /// object identifier, 1 to 64 letters and digits), sent as the letter's MedCom
    /// `Reference/BIN`. One the hub does not hold about the citizen is refused (422).
    #[serde(default)]
    #[schema(example = "BILAG0002")]
    pub attachment: Option<String>,
}

/// A sent (or queued) message. Never the citizen's CPR number.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SentMessage {
    pub id: String,
    /// `statement_request` (LÆ 261) or `letter` (XDIS91).
    pub kind: String,
    /// `queued`, `sent`, `acknowledged`, `rejected` or `failed`.
    pub state: String,
    /// Why, for `rejected` (the receiver's reason) and `failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The MedCom envelope identifier (what the receipt names).
    pub envelope_id: String,
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// For an acknowledged statement request, read by `GET`: the GP's answer as a
    /// `health.lae265` case-file section released to the caller (`included` with the LÆ 265,
    /// `no_data` while it has not arrived, or `denied` with the reason instead of it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statement: Option<Section>,
}

impl SentMessage {
    fn of(m: &HealthMessage) -> Self {
        let (state, reason) = match &m.state {
            DeliveryState::Queued => ("queued", None),
            DeliveryState::Sent => ("sent", None),
            DeliveryState::Acknowledged => ("acknowledged", None),
            DeliveryState::Rejected { reason } => ("rejected", Some(reason.clone())),
            DeliveryState::Failed { reason } => ("failed", Some(reason.clone())),
        };
        SentMessage {
            id: m.id.to_string(),
            kind: match m.body.kind {
                HealthMessageKind::StatementRequest => "statement_request",
                HealthMessageKind::Letter => "letter",
            }
            .into(),
            state: state.into(),
            reason,
            envelope_id: m.body.envelope_id.clone(),
            attempts: m.attempts,
            created_at: m.body.created_at,
            updated_at: m.updated_at,
            statement: None,
        }
    }
}

/// Order the GP's statement for the rehabilitation team (LÆ 261 → LÆ 265).
#[utoipa::path(
    post,
    path = "/api/v1/health/statement-requests",
    tag = "health",
    request_body = StatementRequestBody,
    params(("idempotency-key" = Option<String>, Header, description = "1 to 128 printable ASCII characters; the same key and body send once")),
    responses(
        (status = 202, description = "Stored; it is sent in the background", body = SentMessage,
         headers(("location" = String, description = "Where to read its state"))),
        (status = 200, description = "The message stored earlier under the same key and body", body = SentMessage),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid caseworker token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "No basis to send (recorded), or purpose not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The Idempotency-Key was used with another body", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid CPR number, purpose, text or deadline; or the citizen has no GP", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The audit log or the health hub is unavailable, or sending is not configured", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mtls" = [], "bearer" = []))
)]
pub async fn statement_request(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let mut facts = Facts::default();
    let inner = async {
        caller.admit(&state)?;
        let raw = body.as_ref().map(|b| b.clone()).ok();
        let req: StatementRequestBody = read_json(&headers, body)?;
        let (citizen, purpose) = caller.citizen_and_purpose(&state, &req.citizen, &req.purpose, &mut facts)?;
        let questions = MessageText::parse(&req.questions).map_err(invalid)?;
        let today = state.core.clock.now().date_naive();
        if req.deadline <= today || req.deadline > today + chrono::Days::new(60) {
            return Err(ApiError::new(
                ProblemKind::InvalidRequest,
                "deadline must be after today and at most 60 days ahead",
            ));
        }
        let message = Outgoing::StatementRequest { questions, deadline: req.deadline };
        send(&state, &caller, id, &headers, raw, citizen, purpose, message).await
    };
    answer(&state, &caller, id, inner.await, facts).await
}

/// Send a letter about the citizen to their GP (XDIS91), e.g. the team's recommendation.
#[utoipa::path(
    post,
    path = "/api/v1/health/letters",
    tag = "health",
    request_body = LetterBody,
    params(("idempotency-key" = Option<String>, Header, description = "1 to 128 printable ASCII characters; the same key and body send once")),
    responses(
        (status = 202, description = "Stored; it is sent in the background", body = SentMessage,
         headers(("location" = String, description = "Where to read its state"))),
        (status = 200, description = "The message stored earlier under the same key and body", body = SentMessage),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid caseworker token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "No basis to send (recorded), or purpose not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The Idempotency-Key was used with another body", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid CPR number, purpose, subject, text or attachment; the citizen has no GP; or the attachment is no document about the citizen in the hub's store", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The audit log or the health hub is unavailable, or sending is not configured", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mtls" = [], "bearer" = []))
)]
pub async fn letter(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let mut facts = Facts::default();
    let inner = async {
        caller.admit(&state)?;
        let raw = body.as_ref().map(|b| b.clone()).ok();
        let req: LetterBody = read_json(&headers, body)?;
        let (citizen, purpose) = caller.citizen_and_purpose(&state, &req.citizen, &req.purpose, &mut facts)?;
        let subject = Subject::parse(&req.subject).map_err(invalid)?;
        let text = MessageText::parse(&req.text).map_err(invalid)?;
        let attachment = match req.attachment {
            Some(a) if a.is_empty() || a.len() > 64 || !a.bytes().all(|b| b.is_ascii_alphanumeric()) => {
                return Err(ApiError::new(
                    ProblemKind::InvalidRequest,
                    "attachment must be 1 to 64 letters and digits",
                ));
            }
            a => a,
        };
        send(&state, &caller, id, &headers, raw, citizen, purpose, Outgoing::Letter { subject, text, attachment }).await
    };
    answer(&state, &caller, id, inner.await, facts).await
}

/// A sent message's state; for an acknowledged statement request, the GP's answer once it
/// has arrived, released as a case file's section is. Every read is recorded.
#[utoipa::path(
    get,
    path = "/api/v1/health/messages/{id}",
    tag = "health",
    params(("id" = String, Path, description = "The message's id (UUID)")),
    responses(
        (status = 200, description = "The message and its state", body = SentMessage),
        (status = 401, description = "No valid caseworker token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Unknown certificate", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such message sent by the calling system for the caller's unit", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The audit log is unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mtls" = [], "bearer" = []))
)]
pub async fn message(
    State(state): State<AppState>,
    Extension(rid): Extension<RequestId>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<SentMessage>, ApiError> {
    let inner = async {
        caller.admit(&state)?;
        let not_found =
            || ApiError::new(ProblemKind::NotFound, "no message with this id was sent by your system for your unit");
        let id = HealthMessageId(id.parse().map_err(|_| not_found())?);
        let request_id = rid.to_string();
        let req = StatusRequest { caseworker: &caller.caseworker, system: &caller.system.id, request_id: &request_id };
        let now = state.core.clock.now();
        match state.core.message_status(id, &req, now).await {
            Ok(Some(status)) => {
                let mut view = SentMessage::of(&status.message);
                view.statement = status.statement.map(section_view);
                Ok(Json(view))
            }
            Ok(None) => Err(not_found()),
            Err(SendError::AuditUnavailable(_)) => Err(ApiError::audit_unavailable()),
            Err(e) => {
                tracing::error!(error = %e, "reading a sent message failed");
                Err(ApiError::internal("the message could not be read"))
            }
        }
    };
    match inner.await {
        Ok(v) => Ok(v),
        Err(e) if e.kind == ProblemKind::NotFound => Err(e),
        Err(e) => Err(refuse(&state, &caller, rid, Facts::default(), e).await),
    }
}

fn invalid(e: connectors::medcom::outgoing::OutgoingError) -> ApiError {
    ApiError::new(ProblemKind::InvalidRequest, e.to_string())
}

/// What a send came to, or the refusal to answer (audited unless the send pipeline
/// recorded it already).
enum Sent {
    Done(Response),
    /// Recorded by the pipeline (`send_decision`): answered without another record.
    Recorded(ApiError),
}

async fn answer(
    state: &AppState,
    caller: &Caller,
    id: RequestId,
    r: Result<Sent, ApiError>,
    facts: Facts,
) -> Result<Response, ApiError> {
    match r {
        Ok(Sent::Done(resp)) => Ok(resp),
        Ok(Sent::Recorded(e)) => Err(e),
        Err(e) => Err(refuse(state, caller, id, facts, e).await),
    }
}

#[allow(clippy::too_many_arguments)]
async fn send(
    state: &AppState,
    caller: &Caller,
    id: RequestId,
    headers: &HeaderMap,
    raw: Option<Bytes>,
    citizen: consent::Cpr,
    purpose: consent::Purpose,
    message: Outgoing,
) -> Result<Sent, ApiError> {
    let key = match headers.get(IDEMPOTENCY_KEY) {
        None => None,
        Some(v) => {
            let k =
                v.to_str().ok().filter(|k| !k.is_empty() && k.len() <= 128 && k.bytes().all(|b| b.is_ascii_graphic()));
            Some(k.ok_or_else(|| {
                ApiError::new(
                    ProblemKind::InvalidRequest,
                    "Idempotency-Key must be 1 to 128 printable ASCII characters",
                )
            })?)
        }
    };
    let digest: [u8; 32] = Sha256::digest(raw.as_deref().unwrap_or_default()).into();
    let rid = id.to_string();
    let req = SendRequest {
        caseworker: &caller.caseworker,
        system: &caller.system.id,
        citizen,
        purpose: &purpose,
        request_id: &rid,
        idempotency: key.map(|k| (k, digest)),
        message,
    };
    let now = state.core.clock.now();
    match state.core.send(&req, now).await {
        Ok(accepted) => {
            let view = SentMessage::of(&accepted.message);
            if accepted.existing {
                return Ok(Sent::Done((StatusCode::OK, Json(view)).into_response()));
            }
            let location = format!("/api/v1/health/messages/{}", view.id);
            let mut resp = (StatusCode::ACCEPTED, Json(view)).into_response();
            resp.headers_mut()
                .insert(header::LOCATION, HeaderValue::from_str(&location).expect("a path is a header value"));
            Ok(Sent::Done(resp))
        }
        Err(SendError::Denied { reason, .. }) => {
            Ok(Sent::Recorded(ApiError::new(ProblemKind::NoBasis, format!("{} ({})", reason.en, reason.da))))
        }
        Err(SendError::NoGp) => Ok(Sent::Recorded(ApiError::new(
            ProblemKind::InvalidRequest,
            "the health hub knows no GP (egen læge) for the citizen; nothing was sent",
        ))),
        Err(SendError::UnknownAttachment) => Ok(Sent::Recorded(ApiError::new(
            ProblemKind::InvalidRequest,
            "attachment: the health hub holds no document with this reference about the citizen; nothing was sent",
        ))),
        Err(SendError::KeyReused) => Err(ApiError::new(
            ProblemKind::IdempotencyKeyReused,
            "this Idempotency-Key was used with another request body; nothing was sent",
        )),
        Err(SendError::NotConfigured) => {
            Err(ApiError::new(ProblemKind::Unavailable, "sending to GPs is not configured on this gateway"))
        }
        Err(SendError::Hub(e)) => {
            tracing::warn!(error = %e, "the health hub could not be asked for the citizen's GP");
            Err(ApiError::new(
                ProblemKind::Unavailable,
                "the health hub did not answer who the citizen's GP is; try again later",
            ))
        }
        Err(SendError::AuditUnavailable(_)) => Err(ApiError::audit_unavailable()),
        Err(e @ SendError::Lookup { .. }) => {
            tracing::error!(error = %e, "the send pipeline failed");
            Err(ApiError::internal("the message could not be decided or stored"))
        }
    }
}
