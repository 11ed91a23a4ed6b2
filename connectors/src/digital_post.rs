//! A Digital Post-style mailbox: how sammen sends a citizen a letter (a notification) in
//! their public digital mailbox. REST/JSON over TLS, like the other sources:
//! `POST /digitalpost/v1/messages` with a [`MailboxMessage`] (the recipient's CPR number in
//! the body, never the URL) → 201 Created for a new message, 200 for one already received
//! with the same id and content (the mailbox deduplicates on `messageId`, so a retry after
//! a lost answer never delivers twice), 409 for the same id with other content.
//! `GET /digitalpost/v1/health` → 200.
//!
//! It is not a [`crate::Connector`]: it serves no category and fetches nothing.

use serde::{Deserialize, Serialize};

use crate::http::{self, HttpSource};
use crate::{ConfigError, FetchError, SourceConfig};

pub const MESSAGES_PATH: &str = "/digitalpost/v1/messages";
pub const HEALTH_PATH: &str = "/digitalpost/v1/health";

/// The longest subject and body the mailbox takes.
pub const MAX_SUBJECT_CHARS: usize = 120;
pub const MAX_BODY_CHARS: usize = 4_000;

/// One letter to one citizen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MailboxMessage {
    /// Chosen by the sender, stable across retries: the mailbox's deduplication key.
    pub message_id: uuid::Uuid,
    /// The recipient's CPR number (ten digits).
    pub recipient: String,
    /// Who sends it, as the citizen sees it ("sammen – Københavns Kommune").
    pub sender: String,
    /// Shown in the mailbox's list: never a CPR number.
    pub subject: String,
    pub body: String,
}

/// What the mailbox did with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivered {
    /// Put in the citizen's mailbox now.
    New,
    /// Received before (same id and content): nothing new delivered.
    Duplicate,
}

/// The mailbox's client.
#[derive(Debug, Clone)]
pub struct DigitalPost {
    http: HttpSource,
}

impl DigitalPost {
    pub fn from_config(cfg: &SourceConfig) -> Result<Self, ConfigError> {
        Ok(DigitalPost { http: HttpSource::from_config("digital_post", cfg)? })
    }

    /// Delivers one message. Safe to retry with the same message: the mailbox
    /// deduplicates on its id. Errors never name the recipient.
    pub async fn deliver(&self, m: &MailboxMessage) -> Result<Delivered, FetchError> {
        let url = self.http.url(MESSAGES_PATH);
        let body = serde_json::to_vec(m).map_err(|e| FetchError::invalid(format!("message: {e}")))?;
        let work = async {
            let reply = self
                .http
                .send(true, &http::retry_server_errors, &|c| {
                    c.post(&url)
                        .header(reqwest::header::CONTENT_TYPE, "application/json")
                        .header(http::REQUEST_ID_HEADER, http::new_call_id())
                        .body(body.clone())
                })
                .await?;
            match reply.status {
                201 => Ok(Delivered::New),
                200 => Ok(Delivered::Duplicate),
                409 => Err(FetchError::invalid("the mailbox holds another message with this id".to_string())),
                _ => Err(http::unexpected_status(&reply)),
            }
        };
        self.http.bounded(work).await
    }

    pub async fn health(&self) -> Result<(), FetchError> {
        let url = self.http.url(HEALTH_PATH);
        let reply = self.http.send(true, &http::retry_server_errors, &|c| c.get(&url)).await?;
        if reply.is_success() { Ok(()) } else { Err(http::unexpected_status(&reply)) }
    }
}
