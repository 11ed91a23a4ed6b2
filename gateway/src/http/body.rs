//! Reading a request body: JSON only, within the size limit, with the right problem for
//! each way it can be wrong.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;

use super::problem::{ApiError, ProblemKind};

/// Reads a JSON body: `application/json` (or `+json`) only, within the size limit, into `T`.
pub fn read_json<T: DeserializeOwned>(headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<T, ApiError> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| {
            let m = m.trim().to_ascii_lowercase();
            m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
        })
        .unwrap_or(false);
    if !json {
        return Err(ApiError::new(
            ProblemKind::UnsupportedMediaType,
            "send the body as Content-Type: application/json",
        ));
    }
    let bytes = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(ProblemKind::BodyTooLarge, "the request body is larger than this gateway accepts")
        } else {
            ApiError::new(ProblemKind::MalformedJson, format!("the request body could not be read: {e}"))
        }
    })?;
    serde_json::from_slice(&bytes).map_err(|e| ApiError::new(ProblemKind::MalformedJson, e.to_string()))
}
