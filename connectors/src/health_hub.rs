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
//!   idempotent for us to decide); the outbox retries it later with the same bytes. The
//!   hub may instead answer 202 with no body: it took the message, and the receipt comes
//!   later in the inbox;
//! - `GET /mediconnect/v1/documents/{id}` with the CPR number in the
//!   `x-civilRegistrationIdentifier` header: a document in the hub's document store about
//!   that citizen ([`AttachmentRecord`]), which a letter may reference as its attachment
//!   (`Reference/BIN`); 404 when there is no such document about the citizen;
//! - `GET /mediconnect/v1/inbox`: the ids of the receipts waiting for us, oldest first
//!   ([`InboxList`]); `GET /mediconnect/v1/inbox/{id}` one receipt as OIOXML; `DELETE
//!   /mediconnect/v1/inbox/{id}` marks it read (204; 404 when it is not waiting). A receipt
//!   stays in the inbox until it is marked read, so one read twice (a reader that died
//!   before marking it, or a hub that delivers it twice) must change nothing the second
//!   time.

use consent::Cpr;
use serde::{Deserialize, Serialize};

use crate::http::{self, HttpSource};
use crate::medcom::outgoing::Addressee;
use crate::medcom::{BinReference, Receipt};
use crate::xml::Limits;
use crate::{ConfigError, FetchError, SourceConfig};

pub const GP_PATH: &str = "/mediconnect/v1/gp";
pub const OUTBOX_PATH: &str = "/mediconnect/v1/outbox";
pub const INBOX_PATH: &str = "/mediconnect/v1/inbox";
pub const DOCUMENTS_PATH: &str = "/mediconnect/v1/documents";

/// A document in the hub's document store, as a letter's attachment names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentRecord {
    pub id: String,
    /// MedCom's `ObjectCode`, e.g. `billede` or `tekst`.
    pub object_code: String,
    /// MedCom's `ObjectExtensionCode`, e.g. `pdf`.
    pub extension_code: String,
    pub size: u64,
}

impl AttachmentRecord {
    /// The letter's `Reference/BIN` element for it.
    pub fn reference(&self) -> BinReference {
        BinReference {
            object_identifier: self.id.clone(),
            object_code: Some(self.object_code.clone()),
            extension_code: Some(self.extension_code.clone()),
            original_size: Some(self.size),
        }
    }
}

/// The hub's inbox: the receipts waiting for us.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxList {
    pub receipts: Vec<InboxEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxEntry {
    pub id: String,
}

/// What the inbox held under one id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Waiting {
    Receipt(Receipt),
    /// Not a receipt this codec reads (why, never its content).
    Unreadable(String),
    /// Gone meanwhile (read by another instance).
    Gone,
}

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
    /// The hub took the message; the receipt comes later, in the inbox.
    Accepted,
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
        let cpr = citizen.expose();
        self.http.bounded(crate::json::get_about(&self.http, GP_PATH, cpr, correlation)).await
    }

    /// The document `id` about the citizen in the hub's document store; `None` when the
    /// hub has no such document about them. `id` must be a plain token (checked here too).
    pub async fn attachment(
        &self,
        citizen: &Cpr,
        id: &str,
        correlation: &str,
    ) -> Result<Option<AttachmentRecord>, FetchError> {
        if !plain_token(id) {
            return Ok(None);
        }
        let path = format!("{DOCUMENTS_PATH}/{id}");
        let cpr = citizen.expose();
        let Some(found): Option<AttachmentRecord> =
            self.http.bounded(crate::json::get_about(&self.http, &path, cpr, correlation)).await?
        else {
            return Ok(None);
        };
        if found.id != id {
            return Err(FetchError::invalid("the hub answered about another document than the one asked for"));
        }
        Ok(Some(found))
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
        if reply.status == 202 {
            return Ok(Delivered::Accepted);
        }
        Receipt::parse(&reply.body, self.limits())
            .map(Delivered::Receipt)
            .map_err(|e| FetchError::invalid(format!("the hub's receipt: {e}")))
    }

    /// The ids of the receipts waiting in the hub's inbox, oldest first.
    pub async fn inbox(&self, correlation: &str) -> Result<Vec<String>, FetchError> {
        let url = self.http.url(INBOX_PATH);
        let reply = self
            .http
            .bounded(self.http.send(true, &http::retry_server_errors, &|c| {
                c.get(&url)
                    .header(http::REQUEST_ID_HEADER, http::new_call_id())
                    .header(http::CORRELATION_HEADER, correlation)
            }))
            .await?;
        if !reply.is_success() {
            return Err(http::unexpected_status(&reply));
        }
        http::expect_content_type(&reply, &["application/json"])?;
        let list: InboxList = crate::json::parse(&reply.body, self.http.max_response_bytes())?;
        let ids: Vec<String> = list.receipts.into_iter().map(|e| e.id).collect();
        if let Some(bad) = ids.iter().find(|id| !plain_token(id)) {
            return Err(FetchError::invalid(format!(
                "the hub's inbox listed an id that is not a plain token ({} characters)",
                bad.len()
            )));
        }
        Ok(ids)
    }

    /// One waiting receipt (`id` from [`HealthHub::inbox`]).
    pub async fn waiting(&self, id: &str, correlation: &str) -> Result<Waiting, FetchError> {
        let url = self.http.url(&format!("{INBOX_PATH}/{id}"));
        let reply = self
            .http
            .bounded(self.http.send(true, &http::retry_server_errors, &|c| {
                c.get(&url)
                    .header(http::REQUEST_ID_HEADER, http::new_call_id())
                    .header(http::CORRELATION_HEADER, correlation)
            }))
            .await?;
        if reply.status == 404 {
            return Ok(Waiting::Gone);
        }
        if !reply.is_success() {
            return Err(http::unexpected_status(&reply));
        }
        Ok(match Receipt::parse(&reply.body, self.limits()) {
            Ok(r) => Waiting::Receipt(r),
            Err(e) => Waiting::Unreadable(e.to_string()),
        })
    }

    /// Marks a waiting receipt read; one already gone is fine.
    pub async fn mark_read(&self, id: &str, correlation: &str) -> Result<(), FetchError> {
        let url = self.http.url(&format!("{INBOX_PATH}/{id}"));
        let reply = self
            .http
            .bounded(self.http.send(true, &http::retry_server_errors, &|c| {
                c.delete(&url)
                    .header(http::REQUEST_ID_HEADER, http::new_call_id())
                    .header(http::CORRELATION_HEADER, correlation)
            }))
            .await?;
        if reply.is_success() || reply.status == 404 { Ok(()) } else { Err(http::unexpected_status(&reply)) }
    }
}

/// An id the hub gives may go into a URL path only if it is a plain token.
fn plain_token(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_tokens_go_into_a_path() {
        assert!(plain_token("K00000001"));
        assert!(plain_token("a-b_C9"));
        for bad in ["", "../admin", "a/b", "a?b", "a b", "0101709901%2F", &"x".repeat(129)] {
            assert!(!plain_token(bad), "{bad}");
        }
    }
}
