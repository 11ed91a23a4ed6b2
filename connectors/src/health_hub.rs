//! Sending through the health hub (Mediconnect): the citizen's own GP ("egen læge") and
//! the delivery of a MedCom message we wrote, answered by the hub with the receiver's
//! receipt. Not a [`crate::Connector`]: it serves no category and fetches nothing to
//! release; the gateway's send pipeline calls it only for messages in its outbox.
//!
//! Protocol (as the sandbox serves it), beside the reading one in `mediconnect.rs`:
//! - `GET /mediconnect/v1/gp` with the CPR number in the `x-civilRegistrationIdentifier`
//!   header: the citizen's GP as JSON ([`GpRecord`]), 404 when the citizen has none;
//! - `POST /mediconnect/v1/outbox` with the message (iso-8859-1 OIOXML) as the body: 200
//!   with the receiver's receipt (XCTL03, or XCTL01/02 refusing it) as the body. The hub
//!   deduplicates on the envelope identifier: the same message again gets the same
//!   receipt and is not delivered twice. Never retried within one call (posting is not
//!   idempotent for us to decide); the outbox retries it later with the same bytes.

use consent::Cpr;
use serde::{Deserialize, Serialize};

use crate::http::{self, HttpSource};
use crate::medcom::Receipt;
use crate::medcom::outgoing::Addressee;
use crate::xml::Limits;
use crate::{ConfigError, FetchError, SourceConfig};

pub const GP_PATH: &str = "/mediconnect/v1/gp";
pub const OUTBOX_PATH: &str = "/mediconnect/v1/outbox";

/// The citizen's own GP, as the hub knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GpRecord {
    pub ean: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sor: Option<String>,
    pub name: String,
}

impl GpRecord {
    /// The GP as a receiver; an invalid location number from the hub is an error.
    pub fn addressee(&self) -> Result<Addressee, FetchError> {
        let mut a = Addressee::new(&self.ean, &self.name)
            .map_err(|e| FetchError::invalid(format!("the hub's GP record: {e}")))?;
        a.sor = match &self.sor {
            Some(s) => Some(
                consent::organisation::SorCode::parse(s)
                    .map_err(|_| FetchError::invalid("the hub's GP record has an invalid SOR code"))?,
            ),
            None => None,
        };
        Ok(a)
    }
}

/// What became of one delivery attempt the hub answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    /// The hub took the message and answered with a receipt.
    Receipt(Receipt),
    /// The hub refused the message itself (a 4xx): sending it again will not help.
    Refused { status: u16 },
}

/// The hub client for sending.
#[derive(Debug, Clone)]
pub struct HealthHub {
    id: String,
    http: HttpSource,
}

impl HealthHub {
    pub fn new(id: &str, cfg: &SourceConfig) -> Result<Self, ConfigError> {
        Ok(HealthHub { id: id.to_string(), http: HttpSource::from_config(id, cfg)? })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    fn limits(&self) -> Limits {
        Limits::with_max_bytes(self.http.max_response_bytes())
    }

    /// The citizen's own GP; `None` when the hub knows none.
    pub async fn own_gp(&self, citizen: &Cpr, correlation: &str) -> Result<Option<GpRecord>, FetchError> {
        let url = self.http.url(GP_PATH);
        let cpr = citizen.expose().to_string();
        let reply = self
            .http
            .bounded(self.http.send(true, &http::retry_server_errors, &|c| {
                c.get(&url)
                    .header(http::CPR_HEADER, &cpr)
                    .header(http::REQUEST_ID_HEADER, http::new_call_id())
                    .header(http::CORRELATION_HEADER, correlation)
            }))
            .await?;
        if reply.status == 404 {
            return Ok(None);
        }
        if !reply.is_success() {
            return Err(http::unexpected_status(&reply));
        }
        http::expect_content_type(&reply, &["application/json"])?;
        crate::json::parse(&reply.body, self.http.max_response_bytes()).map(Some)
    }

    /// Delivers one encoded message. A transport failure, a timeout or a 5xx is an error
    /// (try again later, with the same bytes); an answer that is not a receipt is
    /// `InvalidResponse`.
    pub async fn deliver(&self, payload: &[u8], correlation: &str) -> Result<Delivered, FetchError> {
        let url = self.http.url(OUTBOX_PATH);
        let reply = self
            .http
            .bounded(self.http.send(false, &|_| false, &|c| {
                c.post(&url)
                    .header(reqwest::header::CONTENT_TYPE, "application/xml; charset=iso-8859-1")
                    .header(http::REQUEST_ID_HEADER, http::new_call_id())
                    .header(http::CORRELATION_HEADER, correlation)
                    .body(payload.to_vec())
            }))
            .await?;
        if reply.status >= 500 {
            return Err(FetchError::Unavailable(format!("the hub answered {}", reply.status)));
        }
        if !reply.is_success() {
            return Ok(Delivered::Refused { status: reply.status });
        }
        Receipt::parse(&reply.body, self.limits())
            .map(Delivered::Receipt)
            .map_err(|e| FetchError::invalid(format!("the hub's receipt: {e}")))
    }
}
