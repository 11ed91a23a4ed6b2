//! Bounded JSON decoding for REST sources.

use serde::de::DeserializeOwned;

use crate::FetchError;

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
