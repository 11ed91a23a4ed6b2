//! Bounded JSON decoding for REST sources.

use serde::de::DeserializeOwned;

use crate::FetchError;
use crate::http::{self, Reply};

/// A REST source's JSON answer about one citizen: `None` on 404 (the citizen is not known
/// there), the decoded body on 200 with a JSON content type, an error on any other status.
pub fn citizen_reply<T: DeserializeOwned>(reply: &Reply, max_bytes: usize) -> Result<Option<T>, FetchError> {
    match reply.status {
        404 => Ok(None),
        200 => {
            http::expect_content_type(reply, &["application/json"])?;
            parse(&reply.body, max_bytes).map(Some)
        }
        _ => Err(http::unexpected_status(reply)),
    }
}

/// `GET path` from a REST source about the citizen whose CPR number is `digits` (sent in a
/// header, never in the URL), retried on server errors, answered by [`citizen_reply`].
/// Not bounded in time: callers wrap it in [`http::HttpSource::bounded`].
pub async fn get_about<T: DeserializeOwned>(
    source: &http::HttpSource,
    path: &str,
    digits: &str,
    request_id: &str,
) -> Result<Option<T>, FetchError> {
    let url = source.url(path);
    let reply = source
        .send(true, &http::retry_server_errors, &|c| {
            c.get(&url)
                .header(http::CPR_HEADER, digits)
                .header(http::REQUEST_ID_HEADER, http::new_call_id())
                .header(http::CORRELATION_HEADER, request_id)
                .header(reqwest::header::ACCEPT, "application/json")
        })
        .await?;
    citizen_reply(&reply, source.max_response_bytes())
}

/// Decodes a JSON body of at most `max_bytes` (serde_json also bounds nesting at 128).
pub fn parse<T: DeserializeOwned>(body: &[u8], max_bytes: usize) -> Result<T, FetchError> {
    if body.len() > max_bytes {
        return Err(FetchError::invalid(format!("JSON body of {} bytes exceeds {max_bytes}", body.len())));
    }
    // The cause names the position only: serde_json's messages may quote the body.
    serde_json::from_slice(body).map_err(|e| {
        FetchError::invalid(format!(
            "malformed JSON ({:?} error at line {} column {})",
            e.classify(),
            e.line(),
            e.column()
        ))
    })
}
