//! How a fetch fails. `no_data` is not an error: it is `Ok(vec![])`.

/// A failed fetch. The message is the cause, kept for the audit log; it never holds a
/// CPR number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The source could not be reached, refused, or answered with an error.
    #[error("source unavailable: {0}")]
    Unavailable(String),
    /// The source did not answer within the configured timeout.
    #[error("source timed out: {0}")]
    Timeout(String),
    /// The source answered with something that is not a valid answer to this request
    /// (malformed, truncated, oversized, a DTD, another citizen's data, ...).
    #[error("invalid response from source: {0}")]
    InvalidResponse(String),
}

impl FetchError {
    /// The case-file section status: `unavailable`, `timeout` or `invalid_response`.
    pub fn status(&self) -> &'static str {
        match self {
            FetchError::Unavailable(_) => "unavailable",
            FetchError::Timeout(_) => "timeout",
            FetchError::InvalidResponse(_) => "invalid_response",
        }
    }

    /// The cause, without the status prefix.
    pub fn cause(&self) -> &str {
        match self {
            FetchError::Unavailable(c) | FetchError::Timeout(c) | FetchError::InvalidResponse(c) => c,
        }
    }

    pub(crate) fn invalid(cause: impl Into<String>) -> Self {
        FetchError::InvalidResponse(cause.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_the_case_file_section_statuses() {
        assert_eq!(FetchError::Unavailable("x".into()).status(), "unavailable");
        assert_eq!(FetchError::Timeout("x".into()).status(), "timeout");
        assert_eq!(FetchError::InvalidResponse("x".into()).status(), "invalid_response");
        assert_eq!(FetchError::Timeout("after 5 s".into()).cause(), "after 5 s");
    }
}
