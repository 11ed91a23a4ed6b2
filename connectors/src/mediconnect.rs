//! Mediconnect, the cross-sector health hub: MedCom OIOXML over HTTP.
//!
//! Protocol (as the sandbox serves it):
//! - `GET /mediconnect/v1/messages?type=XDIS91|LAE265[&from=YYYY-MM-DD]` with the CPR
//!   number in the `x-civilRegistrationIdentifier` header: the citizen's messages as JSON
//!   ([`MessageList`]);
//! - `GET /mediconnect/v1/messages/{id}`: one message as OIOXML (iso-8859-1);
//! - `POST /mediconnect/v1/receipts`: an XCTL03 positive receipt for each message
//!   received (not retried: posting is not idempotent);
//! - `GET /mediconnect/v1/health`.
//!
//! Every message is checked to be about the requested citizen; one that is not fails the
//! whole fetch with `invalid_response`, and nothing is released.

use async_trait::async_trait;
use consent::Category;
use serde::{Deserialize, Serialize};

use crate::http::{self, HttpSource, Reply};
use crate::medcom::{self, Message, Stamp, Xctl03};
use crate::xml::Limits;
use crate::{ConfigError, Connector, Document, FetchError, FetchRequest, Source, SourceConfig, within_period};

pub const LIST_PATH: &str = "/mediconnect/v1/messages";
pub const RECEIPT_PATH: &str = "/mediconnect/v1/receipts";
pub const HEALTH_PATH: &str = "/mediconnect/v1/health";
/// The health summary for the shared overview (`health.summary`: the citizen's GP and
/// open courses, REST/JSON beside the MedCom messages, [`crate::summary`]).
pub const SUMMARY_PATH: &str = "/mediconnect/v1/summary";
pub const TYPE_XDIS91: &str = "XDIS91";
pub const TYPE_LAE265: &str = "LAE265";
/// The location number (EAN/GLN) we send receipts as, unless `options.our_ean` says.
pub const DEFAULT_OUR_EAN: &str = "5790000000005";

/// The hub's answer to a message query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageList {
    pub messages: Vec<MessageRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageRef {
    pub id: String,
    pub message_type: String,
}

/// Whether a released document is the GP's LÆ 265 answering the LÆ 261 request with this
/// identifier (the form's "Besvarer anmodning" field; what the hub's GP systems fill in).
pub fn answers_request(doc: &Document, request: &str) -> bool {
    doc.kind == "lae265"
        && serde_json::from_value::<medcom::DdbForm>(doc.content.clone())
            .is_ok_and(|form| form.answers() == Some(request))
}

pub struct Mediconnect {
    id: String,
    http: HttpSource,
    our_ean: String,
    categories: Vec<Category>,
    lae265: Category,
    correspondence: Category,
}

impl Mediconnect {
    pub fn new(id: &str, cfg: &SourceConfig, http: HttpSource) -> Result<Self, ConfigError> {
        let lae265 = Category::parse("health.lae265").expect("valid name");
        let correspondence = Category::parse("health.correspondence").expect("valid name");
        let our_ean = cfg.options.get("our_ean").cloned().unwrap_or_else(|| DEFAULT_OUR_EAN.to_string());
        if our_ean.is_empty() || !our_ean.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ConfigError::Invalid { id: id.to_string(), reason: "options.our_ean must be digits".into() });
        }
        Ok(Mediconnect {
            id: id.to_string(),
            http,
            our_ean,
            categories: vec![
                lae265.clone(),
                correspondence.clone(),
                Category::parse("health.summary").expect("valid name"),
            ],
            lae265,
            correspondence,
        })
    }

    fn limits(&self) -> Limits {
        Limits::with_max_bytes(self.http.max_response_bytes())
    }

    async fn fetch_inner(&self, req: &FetchRequest, message_type: &str) -> Result<Vec<Document>, FetchError> {
        let cpr = req.citizen.expose().to_string();
        let mut query = vec![("type", message_type.to_string())];
        if let Some(p) = &req.data_period {
            query.push(("from", p.from.format("%Y-%m-%d").to_string()));
        }
        let list_url = self.http.url(LIST_PATH);
        let reply = self
            .http
            .send(true, &http::retry_server_errors, &|c| {
                c.get(&list_url)
                    .query(&query)
                    .header(http::CPR_HEADER, &cpr)
                    .header(http::REQUEST_ID_HEADER, http::new_call_id())
                    .header(http::CORRELATION_HEADER, &req.request_id)
            })
            .await?;
        if reply.status == 404 {
            return Ok(Vec::new());
        }
        if !reply.is_success() {
            return Err(http::unexpected_status(&reply));
        }
        http::expect_content_type(&reply, &["application/json"])?;
        let list: MessageList = crate::json::parse(&reply.body, self.http.max_response_bytes())?;
        let mut documents = Vec::new();
        let mut receipts = Vec::new();
        for m in &list.messages {
            if m.message_type != message_type {
                return Err(FetchError::invalid(format!(
                    "hub listed a {} message for a {message_type} query",
                    m.message_type.chars().take(16).collect::<String>()
                )));
            }
            if m.id.is_empty()
                || m.id.len() > 128
                || !m.id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(FetchError::invalid("hub listed a message id that is not a plain token"));
            }
            let url = self.http.url(&format!("{LIST_PATH}/{}", m.id));
            let reply = self
                .http
                .send(true, &http::retry_server_errors, &|c| {
                    c.get(&url)
                        .header(http::REQUEST_ID_HEADER, http::new_call_id())
                        .header(http::CORRELATION_HEADER, &req.request_id)
                })
                .await?;
            if !reply.is_success() {
                return Err(http::unexpected_status(&reply));
            }
            let (doc, receipt) = self.document(req, &m.id, &url, &reply)?;
            receipts.push(receipt);
            if within_period(doc.date, req.data_period.as_ref()) {
                documents.push(doc);
            }
        }
        for receipt in receipts {
            self.post_receipt(receipt, &req.request_id).await;
        }
        Ok(documents)
    }

    fn document(
        &self,
        req: &FetchRequest,
        id: &str,
        url: &str,
        reply: &Reply,
    ) -> Result<(Document, Xctl03), FetchError> {
        let message = medcom::parse_message(&reply.body, self.limits())
            .map_err(|e| FetchError::invalid(format!("message {id}: {e}")))?;
        let patient =
            message.patient().ok_or_else(|| FetchError::invalid(format!("message {id} is not about a patient")))?;
        if patient.cpr != req.citizen {
            return Err(FetchError::invalid(format!("message {id} is about another patient than the one requested")));
        }
        let source = |organisation: Option<String>| Source {
            system: self.id.clone(),
            endpoint: url.to_string(),
            organisation,
            fetched_at: req.clock.now(),
        };
        let receipt_id = format!("SAMMEN{}", uuid::Uuid::new_v4().simple()).chars().take(14).collect::<String>();
        let now = req.clock.now();
        let stamp = Stamp { date: now.date_naive(), time: now.format("%H:%M").to_string() };
        let built = match &message {
            Message::Xdis91(letter) if req.category == self.correspondence => {
                let title = letter.subject.clone().unwrap_or_else(|| "Korrespondancebrev".to_string());
                let doc = Document::new(
                    letter.letter.identifier.clone(),
                    title,
                    "xdis91",
                    Some(letter.envelope.sent.date),
                    source(letter.sender.display_name()),
                    letter.as_ref(),
                );
                (doc, Xctl03::for_letter(letter, &self.our_ean, receipt_id, stamp))
            }
            Message::Ddb(form) if req.category == self.lae265 && form.is_lae265() => {
                let title = form.form.title.clone().unwrap_or_else(|| "LÆ 265".to_string());
                let doc = Document::new(
                    form.form.identifier.clone(),
                    title,
                    "lae265",
                    Some(form.form.sent.date),
                    source(form.sender.display_name()),
                    form.as_ref(),
                );
                (doc, Xctl03::for_form(form, &self.our_ean, receipt_id, stamp))
            }
            _ => return Err(FetchError::invalid(format!("message {id} is not a {} message", req.category))),
        };
        let (doc, receipt) = built;
        Ok((doc.map_err(|e| FetchError::invalid(format!("message {id}: {e}")))?, receipt))
    }

    /// Posts a positive receipt. A failure is logged, not fatal: the message was received.
    async fn post_receipt(&self, receipt: Xctl03, request_id: &str) {
        let url = self.http.url(RECEIPT_PATH);
        let body = receipt.to_xml();
        let result = self
            .http
            .send(false, &|_| false, &|c| {
                c.post(&url)
                    .header(reqwest::header::CONTENT_TYPE, "application/xml; charset=iso-8859-1")
                    .header(http::REQUEST_ID_HEADER, http::new_call_id())
                    .header(http::CORRELATION_HEADER, request_id)
                    .body(body.clone())
            })
            .await;
        match result {
            Ok(r) if r.is_success() => {}
            Ok(r) => tracing::warn!(connector = %self.id, status = r.status, "receipt not accepted by the hub"),
            Err(e) => tracing::warn!(connector = %self.id, error = %e, "receipt could not be posted"),
        }
    }
}

#[async_trait]
impl Connector for Mediconnect {
    fn id(&self) -> &str {
        &self.id
    }

    fn categories(&self) -> &[Category] {
        &self.categories
    }

    async fn fetch(&self, req: &FetchRequest) -> Result<Vec<Document>, FetchError> {
        let message_type = if req.category == self.lae265 {
            TYPE_LAE265
        } else if req.category == self.correspondence {
            TYPE_XDIS91
        } else if req.category.as_str() == "health.summary" {
            return crate::summary::fetch(&self.id, &self.http, SUMMARY_PATH, req).await;
        } else {
            return Err(FetchError::Unavailable(format!("{} does not serve {}", self.id, req.category)));
        };
        self.http.bounded(self.fetch_inner(req, message_type)).await
    }

    async fn health(&self) -> Result<(), FetchError> {
        crate::health_check(&self.http, HEALTH_PATH).await
    }
}
