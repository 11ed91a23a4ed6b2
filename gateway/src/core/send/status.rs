//! A sent message's state, for the caseworker who asks (`GET /api/v1/health/messages/{id}`).
//!
//! - Only the system that sent it, and only a caseworker of the unit it was sent for or of
//!   a unit above it, sees it; anyone else is told there is no such message.
//! - For an acknowledged statement request, the GP's answer (the LÆ 265 naming the request)
//!   is asked for through the release pipeline (`Core::release`, action `read` of
//!   `health.lae265`, for this caseworker, the message's purpose and citizen, only the
//!   answering document): decided, fetched and recorded as a case file is. A denial shows
//!   the state with the denial's reason instead of the statement.
//! - Every read is recorded (`message_read`, under the citizen), durable before the answer.

use chrono::{DateTime, Utc};
use consent::audit::{AuditKind, AuditRecord};
use consent::store::HealthOutbox;
use consent::store::health_outbox::{DeliveryState, HealthMessage, HealthMessageId, HealthMessageKind};
use consent::{Category, Cpr};
use policies::Caseworker;

use super::{SendError, SendMeta, kind_name, lookup, message_facts};
use crate::core::Core;
use crate::core::release::{ReleaseError, ReleaseRequest, Section};

/// Who asks for a message's state.
#[derive(Debug, Clone, Copy)]
pub struct StatusRequest<'a> {
    pub caseworker: &'a Caseworker,
    /// The registered caseworker system's id.
    pub system: &'a str,
    /// The id the audit records carry.
    pub request_id: &'a str,
}

/// A message and, for an acknowledged statement request, what became of the GP's answer.
#[derive(Debug, Clone)]
pub struct MessageStatus {
    pub message: HealthMessage,
    /// The `health.lae265` section holding only the answering statement (or `no_data`
    /// while it has not arrived, or a denial with its reason).
    pub statement: Option<Section>,
}

impl Core {
    /// The message's state for `req` at `now` (see the module documentation); `None` when
    /// there is no such message for this caller (nothing is recorded then).
    pub async fn message_status(
        &self,
        id: HealthMessageId,
        req: &StatusRequest<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<MessageStatus>, SendError> {
        let Some(message) =
            self.audit.store().health_message(id).await.map_err(|e| lookup("reading the message")(e.to_string()))?
        else {
            return Ok(None);
        };
        let Some((citizen, meta)) = message_facts(&message) else {
            tracing::error!(message_id = %message.id, "a stored message does not read");
            return Err(lookup("reading the message")("the stored message does not read".into()));
        };
        if !visible_to(self, &meta, req) {
            return Ok(None);
        }
        let statement = if message.body.kind == HealthMessageKind::StatementRequest
            && message.state == DeliveryState::Acknowledged
        {
            Some(self.answering_statement(&message, &meta, citizen, req, now).await?)
        } else {
            None
        };
        let mut r = AuditRecord::new(now, req.request_id.to_string(), AuditKind::MessageRead);
        r.system = Some(req.system.to_string());
        r.caseworker = Some(req.caseworker.id.clone());
        r.unit = Some(req.caseworker.unit.clone());
        r.citizen = Some(citizen);
        r.purpose = Some(meta.purpose.clone());
        r.category = Some(meta.category.clone());
        r.outcome = "ok".into();
        r.detail = Some(format!(
            "state of {} {}: {}{}",
            kind_name(message.body.kind),
            message.id,
            message.state.tag().as_str(),
            statement.as_ref().map(|s| format!("; statement {}", s.status.as_str())).unwrap_or_default(),
        ));
        self.audit.append(vec![r]).await.map(drop).map_err(|e| {
            tracing::error!(error = %e, "the audit log refused a message read");
            SendError::AuditUnavailable(e.to_string())
        })?;
        Ok(Some(MessageStatus { message, statement }))
    }

    /// The GP's LÆ 265 answering this request, through the release pipeline.
    async fn answering_statement(
        &self,
        message: &HealthMessage,
        meta: &SendMeta,
        citizen: Cpr,
        req: &StatusRequest<'_>,
        now: DateTime<Utc>,
    ) -> Result<Section, SendError> {
        let categories = [Category::parse("health.lae265").expect("a valid category name")];
        let released = self
            .release(
                &ReleaseRequest {
                    caseworker: req.caseworker,
                    system: req.system,
                    citizen,
                    purpose: &meta.purpose,
                    categories: &categories,
                    case_reference: None,
                    request_id: req.request_id,
                    answering: Some(&message.body.envelope_id),
                },
                now,
            )
            .await
            .map_err(|e| match e {
                ReleaseError::AuditUnavailable(m) => SendError::AuditUnavailable(m),
                ReleaseError::Lookup { what, message } => SendError::Lookup { what, message },
            })?;
        released.sections.into_iter().next().ok_or_else(|| lookup("the statement's release")("no section".into()))
    }
}

/// The system that sent it, and a caseworker of the unit it was sent for or above it.
fn visible_to(core: &Core, meta: &SendMeta, req: &StatusRequest<'_>) -> bool {
    meta.system == req.system && core.ledger.rules().directory.is_within(&meta.unit, &req.caseworker.unit)
}
