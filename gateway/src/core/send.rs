//! The send pipeline: a message about a citizen to their own GP through the health hub
//! (the LÆ 261 request for an LÆ 265, or a letter). No HTTP here; the API parses, calls
//! [`Core::send`] and answers.
//!
//! 1. Facts: the consents covering the message's category, the citizen's blocks.
//! 2. The policy decision for the action `send` (`policies/policy-set/50-send.cedar`).
//! 3. A denial: its `send_decision` record, durable, then [`SendError::Denied`]; nothing
//!    is stored or sent.
//! 4. A permit ([`SendPermit`], made only from a permit decision): the citizen's GP from
//!    the hub, the message encoded once with its MedCom identifiers, and stored in the
//!    health outbox together with the `send_decision` record in one transaction. Only
//!    [`SendPermit::store`] puts a message in the outbox, and the sender
//!    (`core/sender.rs`) sends only what is in it.
//!
//! An idempotency key (per system) with the same body finds the stored message and sends
//! nothing again; with another body it is refused ([`SendError::KeyReused`]).

use chrono::{DateTime, NaiveDate, Utc};
use connectors::health_hub::HealthHub;
use connectors::medcom::outgoing::{self, Addressee, MedcomId, MessageText, Routing, Subject};
use connectors::medcom::{Patient, Stamp};
use consent::audit::{AuditDecision, AuditKind, AuditRecord};
use consent::store::HealthOutbox;
use consent::store::health_outbox::{
    DeliveryState, Enqueued, HealthMessage, HealthMessageBody, HealthMessageId, HealthMessageKind, IdempotencyKey,
};
use consent::{Category, Cpr, Purpose};
use policies::{Action, Basis, Caseworker, CategoryDecision, Reason};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Core;

pub mod status;

/// How messages are sent (from `[health]`).
pub struct HealthSending {
    pub hub: HealthHub,
    /// The sender of every message.
    pub us: Addressee,
    pub lease: std::time::Duration,
    pub max_attempts: u32,
    pub backoff: std::time::Duration,
    pub poll: std::time::Duration,
    /// Wakes the sender when a message was stored.
    pub(super) wake: tokio::sync::Notify,
}

impl HealthSending {
    pub fn new(hub: HealthHub, us: Addressee) -> Self {
        HealthSending {
            hub,
            us,
            lease: std::time::Duration::from_secs(30),
            max_attempts: 8,
            backoff: std::time::Duration::from_secs(1),
            poll: std::time::Duration::from_secs(1),
            wake: tokio::sync::Notify::new(),
        }
    }
}

/// What is sent.
#[derive(Debug, Clone)]
pub enum Outgoing {
    /// LÆ 261: the questions for the GP and the answer's deadline.
    StatementRequest { questions: MessageText, deadline: NaiveDate },
    /// XDIS91: a letter, with the id of a document in the hub's document store about the
    /// citizen to attach (checked to exist before anything is stored).
    Letter { subject: Subject, text: MessageText, attachment: Option<String> },
}

impl Outgoing {
    /// The category the policies decide sending for.
    pub fn category(&self) -> Category {
        let name = match self {
            Outgoing::StatementRequest { .. } => "health.lae265",
            Outgoing::Letter { .. } => "health.correspondence",
        };
        Category::parse(name).expect("a valid category name")
    }

    fn kind(&self) -> HealthMessageKind {
        match self {
            Outgoing::StatementRequest { .. } => HealthMessageKind::StatementRequest,
            Outgoing::Letter { .. } => HealthMessageKind::Letter,
        }
    }
}

/// A checked request to send.
#[derive(Debug, Clone)]
pub struct SendRequest<'a> {
    pub caseworker: &'a Caseworker,
    /// The registered caseworker system's id (the idempotency key's scope).
    pub system: &'a str,
    pub citizen: Cpr,
    pub purpose: &'a Purpose,
    /// The id the audit records and the answer carry.
    pub request_id: &'a str,
    /// The caller's idempotency key and the SHA-256 of the request body it came with.
    pub idempotency: Option<(&'a str, [u8; 32])>,
    pub message: Outgoing,
}

/// What the sender needs to know of a stored message besides its bytes: who asked, for
/// what, on which basis (for its audit records). Never the CPR number: the sender reads
/// the patient from the message itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct SendMeta {
    pub system: String,
    pub caseworker: String,
    pub unit: consent::UnitId,
    pub purpose: Purpose,
    pub category: Category,
    pub request_id: String,
    pub basis: String,
    pub policies: Vec<String>,
}

/// A message accepted for sending.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub message: HealthMessage,
    /// Stored earlier under the same idempotency key and body; nothing new was stored.
    pub existing: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// No basis to send (audited).
    #[error("no basis to send")]
    Denied { reason: Reason, policies: Vec<String> },
    /// The hub knows no GP for the citizen (audited).
    #[error("the citizen has no GP the hub knows")]
    NoGp,
    /// The attachment is no document about the citizen in the hub's store (audited).
    #[error("the attachment is not a document about the citizen in the hub's store")]
    UnknownAttachment,
    /// The idempotency key was used with another body.
    #[error("the idempotency key was used before with another request")]
    KeyReused,
    /// `[health]` is not configured.
    #[error("sending to GPs is not configured")]
    NotConfigured,
    /// The hub could not say who the citizen's GP is.
    #[error("the health hub could not be asked for the citizen's GP: {0}")]
    Hub(String),
    /// A fact could not be looked up, the policy engine or the store failed.
    #[error("{what} failed: {message}")]
    Lookup { what: &'static str, message: String },
    /// An audit record could not be made durable.
    #[error("the audit log refused records: {0}")]
    AuditUnavailable(String),
}

fn lookup(what: &'static str) -> impl FnOnce(String) -> SendError {
    move |message| SendError::Lookup { what, message }
}

/// Leave to store one message for sending: only [`SendPermit::from_decision`] makes one, from
/// a [`CategoryDecision::Permit`] for the action `send`.
#[derive(Debug)]
pub struct SendPermit {
    category: Category,
    basis: Basis,
    policies: Vec<String>,
}

impl SendPermit {
    fn from_decision(d: &CategoryDecision) -> Option<SendPermit> {
        let CategoryDecision::Permit { category, basis, .. } = d else { return None };
        Some(SendPermit { category: category.clone(), basis: basis.clone(), policies: d.policies().to_vec() })
    }

    /// Stores the message with its decision record, in one transaction.
    async fn store(self, core: &Core, message: &HealthMessage, decision: &AuditRecord) -> Result<Enqueued, SendError> {
        let record = core.audit.outbox_record(decision);
        let done = core
            .audit
            .store()
            .health_enqueue(message, record.entry())
            .await
            .map_err(|e| lookup("storing the message")(e.to_string()))?;
        if done == Enqueued::New {
            // The record is durable in the audit outbox with the message; the writer appends
            // it now, or later if it cannot now.
            if let Err(e) = core.audit.wait_outbox(std::slice::from_ref(&record)).await {
                tracing::warn!(error = %e, "a send decision is stored but not yet in the audit log");
            }
        }
        Ok(done)
    }
}

pub(super) use super::release::audit_basis;

impl Core {
    /// Decides, records and stores one message for sending (see the module documentation).
    pub async fn send(&self, req: &SendRequest<'_>, now: DateTime<Utc>) -> Result<Accepted, SendError> {
        let health = self.health.as_ref().ok_or(SendError::NotConfigured)?;
        let category = req.message.category();
        let decision = self
            .decide_single(req.caseworker, &req.citizen, req.purpose, &category, Action::Send, now)
            .await
            .map_err(|f| SendError::Lookup { what: f.what, message: f.message })?;
        let section = decision.sections.first().ok_or_else(|| lookup("the policy decision")("no section".into()))?;
        let mut record = self.send_record(req, now, AuditKind::SendDecision, &category);
        record.policies = section.policies().to_vec();
        record.basis = section.basis().map(audit_basis);
        record.detail = Some(format!("policy set {}; {}", decision.policy_digest, kind_name(req.message.kind())));

        let Some(permit) = SendPermit::from_decision(section) else {
            record.decision = Some(AuditDecision::Deny);
            record.outcome = "denied".into();
            self.append_now(record).await?;
            return Err(SendError::Denied { reason: section.reason().clone(), policies: section.policies().to_vec() });
        };
        record.decision = Some(AuditDecision::Permit);

        // The citizen's own GP, asked only once sending is permitted.
        let gp = match health.hub.own_gp(&req.citizen, req.request_id).await {
            Ok(Some(gp)) => gp.addressee().map_err(|e| SendError::Hub(e.to_string()))?,
            Ok(None) => {
                record.outcome = "no_gp".into();
                self.append_now(record).await?;
                return Err(SendError::NoGp);
            }
            Err(e) => return Err(SendError::Hub(e.to_string())),
        };

        // The attachment, which must be a document about the citizen the hub holds.
        let attachment = match &req.message {
            Outgoing::Letter { attachment: Some(id), .. } => {
                match health.hub.attachment(&req.citizen, id, req.request_id).await {
                    Ok(Some(found)) => Some(found.reference()),
                    Ok(None) => {
                        record.outcome = "unknown_attachment".into();
                        self.append_now(record).await?;
                        return Err(SendError::UnknownAttachment);
                    }
                    Err(e) => return Err(SendError::Hub(e.to_string())),
                }
            }
            _ => None,
        };

        let (envelope_id, letter_id) = (MedcomId::random(), MedcomId::random());
        let routing = Routing {
            envelope_id: &envelope_id,
            letter_id: &letter_id,
            sent: Stamp { date: now.date_naive(), time: now.format("%H:%M").to_string() },
            sender: &health.us,
            receiver: &gp,
            patient: Patient {
                cpr: req.citizen,
                surname: None,
                given_name: None,
                street_name: None,
                district_name: None,
                post_code: None,
                episode_of_care_status: None,
            },
        };
        let payload = match &req.message {
            Outgoing::StatementRequest { questions, deadline } => {
                outgoing::lae261_request(routing, questions, *deadline).to_xml()
            }
            Outgoing::Letter { subject, text, .. } => {
                outgoing::xdis91_letter(routing, subject, text, attachment).to_xml()
            }
        };
        let payload_sha256: [u8; 32] = Sha256::digest(&payload).into();
        let meta = SendMeta {
            system: req.system.to_string(),
            caseworker: req.caseworker.id.clone(),
            unit: req.caseworker.unit.clone(),
            purpose: req.purpose.clone(),
            category: permit.category.clone(),
            request_id: req.request_id.to_string(),
            basis: audit_basis(&permit.basis),
            policies: permit.policies.clone(),
        };
        let message = HealthMessage {
            id: HealthMessageId::new(),
            body: HealthMessageBody {
                kind: req.message.kind(),
                envelope_id: envelope_id.to_string(),
                letter_id: letter_id.to_string(),
                payload,
                payload_sha256,
                meta: serde_json::to_vec(&meta).expect("the meta serializes"),
                idempotency: req.idempotency.map(|(key, body_sha256)| IdempotencyKey {
                    scope: req.system.to_string(),
                    key: key.to_string(),
                    body_sha256,
                }),
                created_at: now,
            },
            state: DeliveryState::Queued,
            attempts: 0,
            next_attempt_at: now,
            lease: None,
            updated_at: now,
        };
        record.outcome = "permit".into();
        record.documents = vec![hex::encode(payload_sha256)];
        match permit.store(self, &message, &record).await? {
            Enqueued::New => {
                health.wake.notify_one();
                tracing::info!(system = %req.system, message_id = %message.id, kind = kind_name(message.body.kind), "message stored for sending");
                Ok(Accepted { message, existing: false })
            }
            Enqueued::Existing(m) => Ok(Accepted { message: *m, existing: true }),
            Enqueued::KeyReused => Err(SendError::KeyReused),
        }
    }

    fn send_record(
        &self,
        req: &SendRequest<'_>,
        at: DateTime<Utc>,
        kind: AuditKind,
        category: &Category,
    ) -> AuditRecord {
        let mut r = AuditRecord::new(at, req.request_id.to_string(), kind);
        r.system = Some(req.system.to_string());
        r.caseworker = Some(req.caseworker.id.clone());
        r.unit = Some(req.caseworker.unit.clone());
        r.citizen = Some(req.citizen);
        r.purpose = Some(req.purpose.clone());
        r.category = Some(category.clone());
        r
    }

    async fn append_now(&self, record: AuditRecord) -> Result<(), SendError> {
        self.audit.append(vec![record]).await.map(drop).map_err(|e| {
            tracing::error!(error = %e, "the audit log refused a send decision");
            SendError::AuditUnavailable(e.to_string())
        })
    }
}

/// The patient a stored message is about (its own bytes say), and what it was sent for.
pub(super) fn message_facts(m: &HealthMessage) -> Option<(Cpr, SendMeta)> {
    let meta: SendMeta = serde_json::from_slice(&m.body.meta).ok()?;
    let cpr =
        connectors::medcom::parse_message(&m.body.payload, connectors::xml::Limits::default()).ok()?.patient()?.cpr;
    Some((cpr, meta))
}

pub(super) fn kind_name(k: HealthMessageKind) -> &'static str {
    match k {
        HealthMessageKind::StatementRequest => "statement_request",
        HealthMessageKind::Letter => "letter",
    }
}
