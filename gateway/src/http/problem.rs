//! Errors as RFC 9457 problem details (`application/problem+json`), each with a stable
//! `type` URI under `https://sammen.dk/problems/`: the [`Problem`] document and its answer,
//! shared by every listener, and the kinds ([`ProblemKind`], [`ApiError`]) the API and the
//! admin listener have in common.
//!
//! A problem never carries a CPR number: details are written by this crate and the
//! domain errors they quote never repeat the input number.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::request_id;

/// The kinds of problem the API answers with. The slug is the stable part of the `type` URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    MalformedJson,
    UnsupportedMediaType,
    BodyTooLarge,
    InvalidCpr,
    UnknownPurpose,
    UnknownCategory,
    InvalidRequest,
    MissingClientCertificate,
    UnknownClientCertificate,
    InvalidToken,
    PurposeNotAllowed,
    /// The system is not registered to bring in consents signed on paper.
    PaperNotAllowed,
    UnitOutsideOrganisation,
    NotFound,
    MethodNotAllowed,
    AuditUnavailable,
    Internal,
    /// The policy engine found no basis for what was asked (a send to a GP).
    NoBasis,
    /// An `Idempotency-Key` used before with another request body.
    IdempotencyKeyReused,
    /// A service the request needs (the health hub) is not configured or not answering.
    Unavailable,
    /// A write to a part of a shared plan another department owns.
    NotOwnPart,
    /// A write against a version older than the one the source holds.
    VersionConflict,
}

impl ProblemKind {
    pub fn slug(self) -> &'static str {
        match self {
            ProblemKind::MalformedJson => "malformed-json",
            ProblemKind::UnsupportedMediaType => "unsupported-media-type",
            ProblemKind::BodyTooLarge => "body-too-large",
            ProblemKind::InvalidCpr => "invalid-cpr",
            ProblemKind::UnknownPurpose => "unknown-purpose",
            ProblemKind::UnknownCategory => "unknown-category",
            ProblemKind::InvalidRequest => "invalid-request",
            ProblemKind::MissingClientCertificate => "missing-client-certificate",
            ProblemKind::UnknownClientCertificate => "unknown-client-certificate",
            ProblemKind::InvalidToken => "invalid-token",
            ProblemKind::PurposeNotAllowed => "purpose-not-allowed",
            ProblemKind::PaperNotAllowed => "paper-not-allowed",
            ProblemKind::UnitOutsideOrganisation => "unit-outside-organisation",
            ProblemKind::NotFound => "not-found",
            ProblemKind::MethodNotAllowed => "method-not-allowed",
            ProblemKind::AuditUnavailable => "audit-unavailable",
            ProblemKind::Internal => "internal-error",
            ProblemKind::NoBasis => "no-basis",
            ProblemKind::IdempotencyKeyReused => "idempotency-key-reused",
            ProblemKind::Unavailable => "unavailable",
            ProblemKind::NotOwnPart => "not-own-part",
            ProblemKind::VersionConflict => "version-conflict",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            ProblemKind::MalformedJson => StatusCode::BAD_REQUEST,
            ProblemKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ProblemKind::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ProblemKind::InvalidCpr
            | ProblemKind::UnknownPurpose
            | ProblemKind::UnknownCategory
            | ProblemKind::InvalidRequest => StatusCode::UNPROCESSABLE_ENTITY,
            ProblemKind::MissingClientCertificate | ProblemKind::InvalidToken => StatusCode::UNAUTHORIZED,
            ProblemKind::UnknownClientCertificate
            | ProblemKind::PurposeNotAllowed
            | ProblemKind::PaperNotAllowed
            | ProblemKind::UnitOutsideOrganisation => StatusCode::FORBIDDEN,
            ProblemKind::NotFound => StatusCode::NOT_FOUND,
            ProblemKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ProblemKind::AuditUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ProblemKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ProblemKind::NoBasis => StatusCode::FORBIDDEN,
            ProblemKind::IdempotencyKeyReused => StatusCode::CONFLICT,
            ProblemKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ProblemKind::NotOwnPart => StatusCode::FORBIDDEN,
            ProblemKind::VersionConflict => StatusCode::CONFLICT,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            ProblemKind::MalformedJson => "The request body is not the JSON this endpoint expects",
            ProblemKind::UnsupportedMediaType => "The request body must be application/json",
            ProblemKind::BodyTooLarge => "The request body is too large",
            ProblemKind::InvalidCpr => "The citizen's CPR number is not valid",
            ProblemKind::UnknownPurpose => "Unknown purpose",
            ProblemKind::UnknownCategory => "Unknown category of data",
            ProblemKind::InvalidRequest => "The request cannot be carried out as stated",
            ProblemKind::MissingClientCertificate => "No client certificate was presented",
            ProblemKind::UnknownClientCertificate => "The client certificate belongs to no registered system",
            ProblemKind::InvalidToken => "The caseworker's bearer token is missing or not valid",
            ProblemKind::PurposeNotAllowed => "The system is not allowed this purpose",
            ProblemKind::PaperNotAllowed => "The system may not register consents signed on paper",
            ProblemKind::UnitOutsideOrganisation => "The caseworker's unit is not within the system's organisation",
            ProblemKind::NotFound => "Not found",
            ProblemKind::MethodNotAllowed => "Method not allowed",
            ProblemKind::AuditUnavailable => "The audit log is unavailable, so nothing can be released",
            ProblemKind::Internal => "Internal error",
            ProblemKind::NoBasis => "There is no basis for this; it was refused and recorded",
            ProblemKind::IdempotencyKeyReused => "The Idempotency-Key was used before with another request",
            ProblemKind::Unavailable => "A service this request needs is unavailable",
            ProblemKind::NotOwnPart => "Another department owns this part of the plan; it was refused and recorded",
            ProblemKind::VersionConflict => "The record has changed since it was read",
        }
    }

    pub fn type_uri(self) -> String {
        format!("https://sammen.dk/problems/{}", self.slug())
    }
}

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem, e.g. `https://sammen.dk/problems/invalid-cpr`.
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    /// What went wrong with this request, for a person.
    pub detail: String,
    /// `urn:uuid:<request id>`: the same id as the `x-request-id` header and the audit records.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
}

impl Problem {
    /// A problem of the request being handled (its id as `instance`), `type` under
    /// `https://sammen.dk/problems/`.
    pub fn new(status: StatusCode, slug: &str, title: &str, detail: impl Into<String>) -> Self {
        Problem {
            type_: format!("https://sammen.dk/problems/{slug}"),
            title: title.to_string(),
            status: status.as_u16(),
            detail: detail.into(),
            instance: request_id::current().map(|id| format!("urn:uuid:{id}")),
        }
    }
}

/// The answer: `application/problem+json`, with `Retry-After` when the service is
/// unavailable (every listener answers problems this way).
impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).expect("a problem serializes");
        let mut resp = (status, body).into_response();
        resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        resp
    }
}

/// The answer of the API and admin listeners to a request that ran out of time
/// (`[limits] request_timeout_ms`): 503 with `Retry-After`.
pub fn request_timed_out() -> Response {
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "request-timeout",
        "The request took too long",
        "the request was not answered within the server's time limit; nothing more will happen for it",
    )
    .into_response()
}

/// An error answer of the API.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub kind: ProblemKind,
    pub detail: String,
}

impl ApiError {
    pub fn new(kind: ProblemKind, detail: impl Into<String>) -> Self {
        ApiError { kind, detail: detail.into() }
    }

    /// A CPR number that does not parse; the detail says what one looks like and repeats
    /// nothing of the input (not even the date a wrong number held).
    pub fn invalid_cpr() -> Self {
        Self::new(
            ProblemKind::InvalidCpr,
            "a CPR number is 10 digits (DDMMYYSSSS or DDMMYY-SSSS) whose first six are a real date",
        )
    }

    /// An unknown or malformed purpose or category, naming the known ones and never the
    /// value sent.
    pub fn vocabulary(e: &consent::vocabulary::VocabularyError) -> Self {
        use consent::vocabulary::VocabularyError as V;
        match e {
            V::Syntax { kind, .. } => {
                let problem =
                    if *kind == "category" { ProblemKind::UnknownCategory } else { ProblemKind::UnknownPurpose };
                Self::new(
                    problem,
                    format!("{kind} names are 1 to 64 characters of a-z, 0-9, '.', '-', '_', starting with a letter"),
                )
            }
            V::UnknownPurpose(_, known) => Self::new(
                ProblemKind::UnknownPurpose,
                format!("the purpose is not one this gateway knows; known purposes: {known}"),
            ),
            V::UnknownCategory(_, known) => Self::new(
                ProblemKind::UnknownCategory,
                format!("a category is not one this gateway knows; known categories: {known}"),
            ),
        }
    }

    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(ProblemKind::Internal, detail)
    }

    pub fn audit_unavailable() -> Self {
        Self::new(
            ProblemKind::AuditUnavailable,
            "the audit record of this request could not be made durable; no data was released",
        )
    }

    /// A change that is saved, but whose audit record could not be confirmed in the log yet
    /// (it is queued durably and written later): answered like `audit-unavailable` (503).
    pub fn audit_pending() -> Self {
        Self::new(
            ProblemKind::AuditUnavailable,
            "the change is saved, but its audit record could not be confirmed yet; read its status before retrying",
        )
    }

    pub fn problem(&self) -> Problem {
        Problem::new(self.kind.status(), self.kind.slug(), self.kind.title(), self.detail.clone())
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind.slug(), self.detail)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = self.problem().into_response();
        if self.kind == ProblemKind::InvalidToken {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer error=\"invalid_token\""));
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_stable_and_distinct() {
        let all = [
            ProblemKind::MalformedJson,
            ProblemKind::UnsupportedMediaType,
            ProblemKind::BodyTooLarge,
            ProblemKind::InvalidCpr,
            ProblemKind::UnknownPurpose,
            ProblemKind::UnknownCategory,
            ProblemKind::InvalidRequest,
            ProblemKind::MissingClientCertificate,
            ProblemKind::UnknownClientCertificate,
            ProblemKind::InvalidToken,
            ProblemKind::PurposeNotAllowed,
            ProblemKind::PaperNotAllowed,
            ProblemKind::UnitOutsideOrganisation,
            ProblemKind::NotFound,
            ProblemKind::MethodNotAllowed,
            ProblemKind::AuditUnavailable,
            ProblemKind::Internal,
            ProblemKind::NoBasis,
            ProblemKind::IdempotencyKeyReused,
            ProblemKind::Unavailable,
        ];
        let slugs: std::collections::BTreeSet<_> = all.iter().map(|k| k.slug()).collect();
        assert_eq!(slugs.len(), all.len());
        assert_eq!(ProblemKind::InvalidCpr.type_uri(), "https://sammen.dk/problems/invalid-cpr");
        let r = ApiError::audit_unavailable().into_response();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/problem+json");
        assert_eq!(r.headers()[header::RETRY_AFTER], "5");
        let r = ApiError::new(ProblemKind::InvalidToken, "no").into_response();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(r.headers().contains_key(header::WWW_AUTHENTICATE) && !r.headers().contains_key(header::RETRY_AFTER));
    }

    #[test]
    fn refusals_of_input_never_repeat_it() {
        use consent::vocabulary::VocabularyError as V;
        let errs = [
            ApiError::invalid_cpr(),
            ApiError::vocabulary(&consent::Purpose::parse("0104609903").unwrap_err()),
            ApiError::vocabulary(&V::UnknownPurpose("x0104609903".into(), "rehabilitation-team".into())),
            ApiError::vocabulary(&V::UnknownCategory("x0104609903".into(), "health.lae265".into())),
        ];
        for e in errs {
            assert!(!e.detail.contains("4609903"), "{}", e.detail);
        }
    }

    #[test]
    fn a_saved_change_whose_record_is_pending_is_a_503_that_says_it_is_saved() {
        let e = ApiError::audit_pending();
        assert_eq!(e.kind, ProblemKind::AuditUnavailable);
        assert!(e.detail.contains("saved"));
        assert_eq!(e.into_response().status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
