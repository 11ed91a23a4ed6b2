//! Reading a request body: JSON only, within the size limit, with the right problem for
//! each way it can be wrong. A problem's detail never repeats what the client sent: serde's
//! messages quote the offending value (an integer, a string, an unknown field's name), so
//! they are replaced by a fixed text naming the line and column only.

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
            ApiError::new(ProblemKind::MalformedJson, "the request body could not be read")
        }
    })?;
    serde_json::from_slice(&bytes).map_err(|e| ApiError::new(ProblemKind::MalformedJson, json_error_detail(&e)))
}

/// What went wrong with a JSON body, without quoting any of it.
pub fn json_error_detail(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let (line, column) = (e.line(), e.column());
    match e.classify() {
        Category::Syntax => format!("the request body is not valid JSON (line {line}, column {column})"),
        Category::Eof => format!("the request body ends before its JSON does (line {line}, column {column})"),
        Category::Data => format!(
            "the request body's fields or their types are not what this endpoint expects, or a field is unknown \
             (line {line}, column {column}); see the OpenAPI document"
        ),
        Category::Io => "the request body could not be read".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        citizen: String,
        purpose: Option<String>,
    }

    fn read(text: &str) -> Result<Body, ApiError> {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        read_json(&h, Ok(Bytes::from(text.to_string())))
    }

    #[test]
    fn no_detail_repeats_a_value_of_the_body() {
        let cases = [
            r#"{"citizen": 104609903}"#,
            r#"{"citizen": 0104609903}"#,
            r#"{"citizen": "x", "purpose": 104609903}"#,
            r#"{"citizen": "x", "0104609903": 1}"#,
            r#"{"citizen": "0104609903" "purpose"}"#,
            r#"{"citizen": [0104609903"#,
            r#"{"citizen": "0104609903", "purpose": tru"#,
            r#"{"citizen": 1.04609903e9}"#,
        ];
        for text in cases {
            let e = read(text).unwrap_err();
            assert_eq!(e.kind, ProblemKind::MalformedJson, "{text}");
            assert!(e.detail.contains("line 1, column"), "{}", e.detail);
            for needle in ["104609903", "0104609903", "1.046", "tru"] {
                assert!(!e.detail.contains(needle), "{text}: the detail repeats input: {}", e.detail);
            }
        }
    }
}
