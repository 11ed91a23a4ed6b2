//! The admin listener's errors: RFC 9457 problem details with the same shape and `type`
//! URIs as the caseworker API's (`crate::http::problem`), plus the operator-specific kinds.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::http::problem::{ApiError, Problem};

/// An error answer of the admin API.
#[derive(Debug, Clone)]
pub struct AdminError {
    pub status: StatusCode,
    /// The stable part of the `type` URI.
    pub slug: &'static str,
    pub title: &'static str,
    pub detail: String,
}

impl AdminError {
    pub fn missing_certificate() -> Self {
        AdminError {
            status: StatusCode::UNAUTHORIZED,
            slug: "missing-client-certificate",
            title: "No client certificate was presented",
            detail: "the admin API requires an operator's client certificate (mTLS)".into(),
        }
    }

    pub fn unknown_operator(sha256: &str) -> Self {
        AdminError {
            status: StatusCode::FORBIDDEN,
            slug: "unknown-operator",
            title: "The client certificate belongs to no registered operator",
            detail: format!("the client certificate (SHA-256 {sha256}) is not registered in [[operators]]"),
        }
    }

    pub fn role_not_allowed(operator: &str, role: &str, what: &str) -> Self {
        AdminError {
            status: StatusCode::FORBIDDEN,
            slug: "role-not-allowed",
            title: "The operator's role does not allow this",
            detail: format!("operator {operator} has the role {role}, which may not {what}"),
        }
    }

    /// A request that cannot be carried out as stated (422), e.g. a proof beyond the log.
    pub fn invalid(detail: impl Into<String>) -> Self {
        ApiError::new(crate::http::problem::ProblemKind::InvalidRequest, detail).into()
    }

    pub fn cpr_in_url() -> Self {
        AdminError {
            status: StatusCode::BAD_REQUEST,
            slug: "cpr-in-url",
            title: "A CPR number does not belong in a URL",
            detail: "give the citizen in the x-citizen-cpr header or in the body of POST /admin/v1/audit/search; \
                     this request was not carried out"
                .into(),
        }
    }

    pub fn internal(what: &str, e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "{what} failed");
        ApiError::internal(format!("{what} failed")).into()
    }
}

impl From<ApiError> for AdminError {
    fn from(e: ApiError) -> Self {
        AdminError { status: e.kind.status(), slug: e.kind.slug(), title: e.kind.title(), detail: e.detail }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        Problem::new(self.status, self.slug, self.title, self.detail).into_response()
    }
}
