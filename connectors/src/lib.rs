//! sammen's connectors: how the gateway fetches documents live from the source systems.
//!
//! A [`Connector`] knows one source protocol and nothing about consent or policy
//! (ARCHITECTURE.md, invariant 4). The [`Registry`] is built from configuration
//! ([`ConnectorsConfig`]): which connector serves which category, where it lives, how it
//! trusts the source (CA bundle, client certificate), its timeout, retries and maximum
//! response size. Every fetch ends in documents (possibly none: `no_data`) or a
//! [`FetchError`] whose [`FetchError::status`] is the case-file section status and whose
//! message is the cause for the audit log.
//!
//! The four built-in connectors: [`mediconnect`] (MedCom OIOXML), [`jobcenter`]
//! (REST/JSON), [`social`] (SOAP 1.1) and [`jobnet_cv`] (REST/JSON). A new source system
//! is added by implementing [`Connector`] and registering a factory for its `kind` with
//! [`Kinds::register`].
//!
//! Beside them, [`person::PersonRegister`]: the person register (CPR-style lookup of the
//! municipality of residence and address protection), which serves facts, not documents.

pub mod config;
pub mod digital_post;
pub mod document;
pub mod error;
pub mod health_hub;
pub mod http;
pub mod jobcenter;
pub mod jobnet_cv;
pub mod json;
pub mod medcom;
pub mod mediconnect;
pub mod person;
pub mod plan;
pub mod power_of_attorney;
pub mod registry;
pub mod soap;
pub mod social;
pub mod summary;
pub mod xml;

use std::sync::Arc;

use async_trait::async_trait;
use consent::clock::Clock;
use consent::{Category, Cpr, DataPeriod};

pub use config::{ConfigError, ConnectorsConfig, SourceConfig};
pub use document::{Document, Source};
pub use error::FetchError;
pub use registry::{Factory, Kinds, Registry};

/// What the gateway asks a connector for: one category of one citizen's data.
#[derive(Debug, Clone)]
pub struct FetchRequest {
    pub citizen: Cpr,
    pub category: Category,
    /// How old the documents may be; connectors drop documents dated outside it.
    pub data_period: Option<DataPeriod>,
    /// The gateway's request id, passed to sources that take a correlation id.
    pub request_id: String,
    /// The gateway's clock: a connector stamps what it fetched with its time.
    pub clock: Arc<dyn Clock>,
}

/// A source system behind one protocol. Object-safe: the registry holds `Arc<dyn Connector>`.
#[async_trait]
pub trait Connector: Send + Sync {
    /// The connector's configured id (e.g. `mediconnect`).
    fn id(&self) -> &str;
    /// The categories this connector serves.
    fn categories(&self) -> &[Category];
    /// Fetches one category of one citizen's documents. `Ok(vec![])` means `no_data`.
    async fn fetch(&self, req: &FetchRequest) -> Result<Vec<Document>, FetchError>;
    /// A cheap probe: is the source reachable and answering? The gateway's readiness check
    /// (`GET /readyz` on the admin listener) calls it, under its own timeout and cached
    /// briefly. The default, for a source with nothing cheap to ask, reports it up: its
    /// failures then show only in fetch outcomes.
    async fn health(&self) -> Result<(), FetchError> {
        Ok(())
    }
    /// Writes a change to a writable category (the coordinated plan, [`plan`]). Sources
    /// that take no writes refuse; the gateway calls it only with a write permit.
    async fn write(&self, req: &WriteRequest) -> Result<Written, WriteError> {
        Err(WriteError::Source(FetchError::Unavailable(format!("{} takes no writes of {}", self.id(), req.category))))
    }
}

/// What the gateway asks a connector to write: one change to one category of one citizen's
/// data, made against the version the caller saw (optimistic concurrency).
#[derive(Debug, Clone)]
pub struct WriteRequest {
    pub citizen: Cpr,
    pub category: Category,
    /// The version the change was made against; a newer one at the source is a conflict.
    pub expected_version: u64,
    /// The change, as the source's JSON (its SHA-256 is in the audit log).
    pub change: serde_json::Value,
    pub request_id: String,
    pub clock: Arc<dyn Clock>,
}

/// A change the source accepted: the new version and the documents as they now are.
#[derive(Debug, Clone)]
pub struct Written {
    pub version: u64,
    pub documents: Vec<Document>,
}

/// Why a write did not happen (or its outcome is unknown).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// The source holds a newer version than the one the change was made against.
    #[error("the source holds version {current}, newer than the version written against")]
    Conflict { current: u64 },
    /// The source refused the change as invalid (the field it named).
    #[error("the source refused the change: {0}")]
    Refused(String),
    /// The source knows nothing to change for the citizen.
    #[error("the source holds nothing to change for the citizen")]
    NotFound,
    /// The source failed, answered wrongly or not in time.
    #[error("{0}")]
    Source(FetchError),
}

/// True when a document dated `date` lies within the data period (undated documents do).
pub fn within_period(date: Option<chrono::NaiveDate>, period: Option<&DataPeriod>) -> bool {
    match (date, period) {
        (Some(d), Some(p)) => d >= p.from && p.until.is_none_or(|u| d <= u),
        _ => true,
    }
}

/// `GET path` answers 2xx within the timeout.
pub(crate) async fn health_check(http: &http::HttpSource, path: &str) -> Result<(), FetchError> {
    let url = http.url(path);
    let reply = http
        .bounded(http.send(true, &http::retry_server_errors, &|c| {
            c.get(&url).header(http::REQUEST_ID_HEADER, http::new_call_id())
        }))
        .await?;
    if reply.is_success() { Ok(()) } else { Err(http::unexpected_status(&reply)) }
}

/// The CPR number a source put in its answer must be the one asked about.
pub(crate) fn check_citizen(answered: &str, req: &FetchRequest) -> Result<(), FetchError> {
    if answered.trim() == req.citizen.expose() {
        Ok(())
    } else {
        Err(FetchError::InvalidResponse("the answer is about another citizen than the one requested".into()))
    }
}

/// A document's source.
pub(crate) fn source(system: &str, endpoint: &str, organisation: Option<String>, req: &FetchRequest) -> Source {
    Source { system: system.to_string(), endpoint: endpoint.to_string(), organisation, fetched_at: req.clock.now() }
}
