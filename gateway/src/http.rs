//! Shared HTTP plumbing that no surface owns: [`tls`] (rustls configuration, the accept
//! loop, client certificate identity), [`problem`] (RFC 9457 problem details),
//! [`request_id`] (request ids, CPR-safe request logging).

pub mod problem;
pub mod request_id;
pub mod tls;
