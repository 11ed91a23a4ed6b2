//! The HTTP(S) client every built-in connector uses: rustls with the source's CA and an
//! optional client certificate, one deadline for the whole fetch, bounded retries with
//! exponential back-off for idempotent reads, and a maximum response size.

use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use crate::{ConfigError, FetchError, SourceConfig};

/// An answer read in full (within the size limit).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Bytes,
}

impl Reply {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Retry on 502, 503 and 504, and on 500 (the read is idempotent).
pub fn retry_server_errors(reply: &Reply) -> bool {
    matches!(reply.status, 500 | 502 | 503 | 504)
}

/// One source's HTTP client and limits.
#[derive(Debug, Clone)]
pub struct HttpSource {
    client: reqwest::Client,
    base_url: String,
    timeout: Duration,
    max_retries: u32,
    backoff: Duration,
    max_response_bytes: usize,
}

impl HttpSource {
    /// Builds the client for connector `id` from its configuration.
    pub fn from_config(id: &str, cfg: &SourceConfig) -> Result<Self, ConfigError> {
        let invalid = |reason: String| ConfigError::Invalid { id: id.to_string(), reason };
        let base_url = cfg.base_url.trim_end_matches('/').to_string();
        let parsed = reqwest::Url::parse(&base_url).map_err(|e| invalid(format!("base_url: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(invalid("base_url must be http:// or https://".into()));
        }
        if cfg.timeout_ms == 0 {
            return Err(invalid("timeout_ms must be positive".into()));
        }
        let read = |path: &std::path::PathBuf| {
            std::fs::read(path).map_err(|source| ConfigError::Io { id: id.to_string(), path: path.clone(), source })
        };
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(cfg.timeout())
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .pool_idle_timeout(Duration::from_secs(30));
        let ca = match (&cfg.ca_pem, &cfg.ca_file) {
            (Some(pem), _) => Some(pem.as_bytes().to_vec()),
            (None, Some(path)) => Some(read(path)?),
            (None, None) => None,
        };
        if let Some(pem) = ca {
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| invalid(format!("CA bundle: {e}")))?;
            if certs.is_empty() {
                return Err(invalid("CA bundle holds no certificate".into()));
            }
            // A configured CA replaces the built-in roots: this source is trusted through it only.
            builder = builder.tls_built_in_root_certs(false);
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let identity = match (&cfg.client_identity_pem, &cfg.client_identity_file) {
            (Some(pem), _) => Some(pem.as_bytes().to_vec()),
            (None, Some(path)) => Some(read(path)?),
            (None, None) => None,
        };
        if let Some(pem) = identity {
            let identity = reqwest::Identity::from_pem(&pem).map_err(|e| invalid(format!("client identity: {e}")))?;
            builder = builder.identity(identity);
        }
        let client = builder.build().map_err(|e| invalid(format!("HTTP client: {e}")))?;
        Ok(HttpSource {
            client,
            base_url,
            timeout: cfg.timeout(),
            max_retries: cfg.max_retries,
            backoff: Duration::from_millis(cfg.backoff_ms),
            max_response_bytes: cfg.max_response_bytes,
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `base_url` + `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub fn max_response_bytes(&self) -> usize {
        self.max_response_bytes
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Runs a whole connector operation under the configured timeout.
    pub async fn bounded<T>(
        &self,
        work: impl std::future::Future<Output = Result<T, FetchError>>,
    ) -> Result<T, FetchError> {
        match tokio::time::timeout(self.timeout, work).await {
            Ok(r) => r,
            Err(_) => Err(self.timed_out()),
        }
    }

    fn timed_out(&self) -> FetchError {
        FetchError::Timeout(format!("no complete answer within {} ms", self.timeout.as_millis()))
    }

    /// Sends a request built afresh for every attempt by `build` (so each attempt can
    /// carry its own request id). Transport failures and replies for which `retry`
    /// says so are retried when `idempotent`, with exponential back-off, as long as the
    /// deadline allows. Returns the last reply, whatever its status.
    pub async fn send(
        &self,
        idempotent: bool,
        retry: &(dyn Fn(&Reply) -> bool + Sync),
        build: &(dyn Fn(&reqwest::Client) -> reqwest::RequestBuilder + Sync),
    ) -> Result<Reply, FetchError> {
        let deadline = Instant::now() + self.timeout;
        let mut attempt = 0u32;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(self.timed_out());
            }
            let outcome =
                match tokio::time::timeout(remaining, self.attempt(build(&self.client).timeout(remaining))).await {
                    Ok(outcome) => outcome,
                    Err(_) => Err(self.timed_out()),
                };
            let retryable = match &outcome {
                Ok(reply) => retry(reply),
                Err(FetchError::Unavailable(_)) => true,
                Err(_) => false,
            };
            if !(idempotent && retryable && attempt < self.max_retries) {
                return outcome;
            }
            let pause = self.backoff.saturating_mul(1 << attempt.min(16));
            if Instant::now() + pause >= deadline {
                return outcome;
            }
            tracing::debug!(attempt, pause_ms = pause.as_millis() as u64, "retrying source call");
            tokio::time::sleep(pause).await;
            attempt += 1;
        }
    }

    async fn attempt(&self, request: reqwest::RequestBuilder) -> Result<Reply, FetchError> {
        let mut response = request.send().await.map_err(|e| self.transport_error(&e, "request"))?;
        let status = response.status().as_u16();
        let content_type =
            response.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
        let max = self.max_response_bytes;
        if let Some(len) = response.content_length()
            && len > max as u64
        {
            return Err(FetchError::invalid(format!("response declares {len} bytes, more than the maximum {max}")));
        }
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > max {
                        return Err(FetchError::invalid(format!("response larger than the maximum {max} bytes")));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) if e.is_timeout() => return Err(self.timed_out()),
                Err(e) => {
                    return Err(FetchError::invalid(format!(
                        "truncated response body after {} bytes: {}",
                        body.len(),
                        chain(&e)
                    )));
                }
            }
        }
        Ok(Reply { status, content_type, body: Bytes::from(body) })
    }

    fn transport_error(&self, e: &reqwest::Error, what: &str) -> FetchError {
        if e.is_timeout() { self.timed_out() } else { FetchError::Unavailable(format!("{what} failed: {}", chain(e))) }
    }
}

/// An error and its sources, one line. URLs in it never hold a CPR number (CPR numbers
/// travel in headers and bodies only).
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        let msg = inner.to_string();
        if !s.contains(&msg) {
            s.push_str(": ");
            s.push_str(&msg);
        }
        cur = inner.source();
    }
    s
}

/// Maps an unexpected HTTP status to an outcome: 5xx and the rest are `unavailable`.
pub fn unexpected_status(reply: &Reply) -> FetchError {
    FetchError::Unavailable(format!("source answered HTTP {}", reply.status))
}

/// Maps a reply's content type check to `invalid_response`.
pub fn expect_content_type(reply: &Reply, wanted: &[&str]) -> Result<(), FetchError> {
    let ct = reply.content_type.as_deref().unwrap_or("").to_ascii_lowercase();
    if wanted.iter().any(|w| ct.starts_with(w)) {
        Ok(())
    } else {
        Err(FetchError::invalid(format!("unexpected content type {ct:?}")))
    }
}

/// The header that carries the citizen's CPR number to REST sources (never the URL).
pub const CPR_HEADER: &str = "x-civilRegistrationIdentifier";
/// A unique id per HTTP call (the jobcenter source answers a repeated one with 412).
pub const REQUEST_ID_HEADER: &str = "x-requestId";
/// The gateway's request id, for the source's own logs.
pub const CORRELATION_HEADER: &str = "x-correlationId";

/// A fresh id for one HTTP call.
pub fn new_call_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
