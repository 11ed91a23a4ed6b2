//! Shared HTTP plumbing that no surface owns: [`body`] (reading JSON bodies), [`deferred`]
//! (a listener up before the store it serves, answering 503 until the store opens), [`tls`]
//! (rustls configuration, binding, the accept loop, client certificate identity),
//! [`rate`] (per-address rate limits), [`redact`] (the one redaction of request-borne text), [`limits`] (connection limits every listener enforces), [`problem`] (RFC 9457 problem details),
//! [`request_id`] (request ids, CPR-safe request logging and request metrics),
//! [`openapi`] (security schemes, serving a document), [`jwt_crypto`] (ES256 token
//! signatures verified through ring).

pub mod body;
pub mod deferred;
pub mod jwt_crypto;
pub mod limits;
pub mod openapi;
pub mod problem;
pub mod rate;
pub mod redact;
pub mod request_id;
pub mod tls;
