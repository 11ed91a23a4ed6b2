//! Shared HTTP plumbing that no surface owns: [`body`] (reading JSON bodies), [`tls`] (rustls configuration, the accept
//! loop, client certificate identity), [`problem`] (RFC 9457 problem details),
//! [`request_id`] (request ids, CPR-safe request logging).

pub mod body;
pub mod problem;
pub mod request_id;
pub mod tls;
