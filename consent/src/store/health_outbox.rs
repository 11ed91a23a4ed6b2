//! The health outbox: messages sammen sends to a citizen's GP through the health hub (the
//! LÆ 261 request, letters), stored durably before they are sent, then delivered by a
//! background sender with retries.
//!
//! - A message is stored with its decision's audit record in one transaction
//!   ([`HealthOutbox::health_enqueue`]), as a consent change is.
//! - Its MedCom envelope and letter identifiers and its encoded bytes are fixed when it is
//!   stored and never change: a retry sends the same bytes, and the hub deduplicates on
//!   the envelope identifier. So a crash between sending and recording "sent" makes at
//!   most a repeat the hub recognises, never a second message.
//! - An idempotency key (per calling system) and the digest of the request body are stored
//!   with it, unique per key: the same key with the same body finds the stored message and
//!   stores nothing; the same key with another body is refused.
//! - Senders claim due messages under a lease ([`HealthOutbox::health_claim`]): no two
//!   claimers hold one message at once (on PostgreSQL, `FOR UPDATE SKIP LOCKED`; on sled,
//!   one process, under its write gate). A lease that runs out (a sender that died) lets
//!   the message be claimed again.
//! - Every change of state is a compare-and-set on the state (and, for a claimed message,
//!   the lease holder), with its audit record in the same transaction when it has one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{OutboxEntry, StoreError};

/// A health message's key: a UUID v7 (sorts by creation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct HealthMessageId(pub uuid::Uuid);

impl HealthMessageId {
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Self(uuid::Uuid::now_v7())
    }
}

impl std::fmt::Display for HealthMessageId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// What kind of message it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthMessageKind {
    /// LÆ 261: the request for the GP's statement (LÆ 265).
    StatementRequest,
    /// XDIS91: a letter.
    Letter,
}

/// Where a message is in its delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DeliveryState {
    /// Stored, waiting for (another) attempt.
    Queued,
    /// The hub took it; no receipt yet.
    Sent,
    /// A positive receipt (XCTL03) came back.
    Acknowledged,
    /// A negative receipt (XCTL01/02) came back, with the receiver's reason.
    Rejected { reason: String },
    /// Given up after the last attempt, with why.
    Failed { reason: String },
}

impl DeliveryState {
    pub fn tag(&self) -> StateTag {
        match self {
            DeliveryState::Queued => StateTag::Queued,
            DeliveryState::Sent => StateTag::Sent,
            DeliveryState::Acknowledged => StateTag::Acknowledged,
            DeliveryState::Rejected { .. } => StateTag::Rejected,
            DeliveryState::Failed { .. } => StateTag::Failed,
        }
    }
}

/// A [`DeliveryState`] without its reason: what a compare-and-set compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StateTag {
    Queued,
    Sent,
    Acknowledged,
    Rejected,
    Failed,
}

impl StateTag {
    pub fn as_str(self) -> &'static str {
        match self {
            StateTag::Queued => "queued",
            StateTag::Sent => "sent",
            StateTag::Acknowledged => "acknowledged",
            StateTag::Rejected => "rejected",
            StateTag::Failed => "failed",
        }
    }
}

/// The idempotency key a caller sent, scoped to the caller (its system id), with the
/// SHA-256 of the request body it came with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyKey {
    pub scope: String,
    pub key: String,
    pub body_sha256: [u8; 32],
}

/// What never changes after a message is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthMessageBody {
    pub kind: HealthMessageKind,
    /// The MedCom envelope identifier (the hub deduplicates on it), unique in the outbox.
    pub envelope_id: String,
    /// The MedCom letter (or form) identifier.
    pub letter_id: String,
    /// The encoded message (iso-8859-1 OIOXML), sent as is on every attempt.
    pub payload: Vec<u8>,
    /// SHA-256 of `payload`, as recorded in the audit log when it is sent.
    pub payload_sha256: [u8; 32],
    /// What the sender needs besides the payload, opaque to the store (who asked, for which
    /// purpose, the request id: what its audit records name). Never the CPR number in clear.
    pub meta: Vec<u8>,
    pub idempotency: Option<IdempotencyKey>,
    pub created_at: DateTime<Utc>,
}

/// A held claim on a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub owner: String,
    pub until: DateTime<Utc>,
}

/// A stored message and where it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthMessage {
    pub id: HealthMessageId,
    pub body: HealthMessageBody,
    pub state: DeliveryState,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the next attempt is due (for a queued message).
    pub next_attempt_at: DateTime<Utc>,
    pub lease: Option<Lease>,
    pub updated_at: DateTime<Utc>,
}

/// What [`HealthOutbox::health_enqueue`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enqueued {
    /// Stored, with its audit record.
    New,
    /// The idempotency key was used before with the same body: that message, unchanged;
    /// nothing was written (not the audit record either).
    Existing(Box<HealthMessage>),
    /// The idempotency key was used before with another body; nothing was written.
    KeyReused,
}

/// One change of a message's state, applied only if the message is still in `from` (and,
/// when `lease_owner` is given, that owner still holds its lease). Any lease is released.
#[derive(Debug, Clone)]
pub struct HealthTransition<'a> {
    pub id: HealthMessageId,
    pub from: StateTag,
    pub lease_owner: Option<&'a str>,
    pub to: DeliveryState,
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub at: DateTime<Utc>,
}

#[async_trait::async_trait]
pub trait HealthOutbox: Send + Sync + 'static {
    /// Stores `message` (state `queued`, no attempts, no lease) and `audit` in one
    /// transaction; durable on return. With an idempotency key already stored in its scope,
    /// writes nothing and says what it found. An envelope identifier already stored is an
    /// error.
    async fn health_enqueue(&self, message: &HealthMessage, audit: OutboxEntry<'_>) -> Result<Enqueued, StoreError>;

    /// Leases up to `limit` queued messages due at `now` (no lease, or one that ran out) to
    /// `owner` until `until`, oldest due first; durable on return. No message is leased to
    /// two owners at once.
    async fn health_claim(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<HealthMessage>, StoreError>;

    /// Applies `change` with its audit record (when it has one) in one transaction; durable
    /// on return. A message no longer in `change.from`, or whose lease another owner holds
    /// (or nobody, when `lease_owner` is given), is [`StoreError::Conflict`]; an unknown id
    /// is `Ok(false)`.
    async fn health_transition(
        &self,
        change: HealthTransition<'_>,
        audit: Option<OutboxEntry<'_>>,
    ) -> Result<bool, StoreError>;

    async fn health_message(&self, id: HealthMessageId) -> Result<Option<HealthMessage>, StoreError>;

    /// The message with this MedCom envelope identifier (what a receipt names).
    async fn health_by_envelope(&self, envelope_id: &str) -> Result<Option<HealthMessage>, StoreError>;

    /// Export (`sammen store copy`): the stored messages with ids after `after`, in id
    /// order, at most `limit`, as they are.
    async fn health_messages_after(
        &self,
        after: Option<HealthMessageId>,
        limit: usize,
    ) -> Result<Vec<HealthMessage>, StoreError>;

    /// Import (`sammen store copy`): stores `messages` as they are (state, attempts, lease,
    /// idempotency key), in one transaction; durable on return. An id, envelope identifier
    /// or idempotency key already stored refuses the whole batch ([`StoreError::Conflict`]).
    async fn health_import(&self, messages: &[HealthMessage]) -> Result<(), StoreError>;
}

#[async_trait::async_trait]
impl<T: HealthOutbox + ?Sized> HealthOutbox for std::sync::Arc<T> {
    async fn health_enqueue(&self, message: &HealthMessage, audit: OutboxEntry<'_>) -> Result<Enqueued, StoreError> {
        (**self).health_enqueue(message, audit).await
    }
    async fn health_claim(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<HealthMessage>, StoreError> {
        (**self).health_claim(owner, now, until, limit).await
    }
    async fn health_transition(
        &self,
        change: HealthTransition<'_>,
        audit: Option<OutboxEntry<'_>>,
    ) -> Result<bool, StoreError> {
        (**self).health_transition(change, audit).await
    }
    async fn health_message(&self, id: HealthMessageId) -> Result<Option<HealthMessage>, StoreError> {
        (**self).health_message(id).await
    }
    async fn health_by_envelope(&self, envelope_id: &str) -> Result<Option<HealthMessage>, StoreError> {
        (**self).health_by_envelope(envelope_id).await
    }
    async fn health_messages_after(
        &self,
        after: Option<HealthMessageId>,
        limit: usize,
    ) -> Result<Vec<HealthMessage>, StoreError> {
        (**self).health_messages_after(after, limit).await
    }
    async fn health_import(&self, messages: &[HealthMessage]) -> Result<(), StoreError> {
        (**self).health_import(messages).await
    }
}

/// The transition rules both engines apply: the stored message must be in `change.from`,
/// and a given lease owner must hold its lease (an expired lease still held is honoured: a
/// slow sender finishing its attempt is not a conflict unless someone claimed it since).
pub(super) fn check_transition(stored: &HealthMessage, change: &HealthTransition<'_>) -> Result<(), StoreError> {
    if stored.state.tag() != change.from {
        return Err(StoreError::Conflict { expected: 0 });
    }
    if let Some(owner) = change.lease_owner {
        match &stored.lease {
            Some(l) if l.owner == owner => {}
            _ => return Err(StoreError::Conflict { expected: 0 }),
        }
    }
    Ok(())
}

/// The stored message after `change` (see [`check_transition`]).
pub(super) fn apply_transition(stored: &HealthMessage, change: &HealthTransition<'_>) -> HealthMessage {
    HealthMessage {
        state: change.to.clone(),
        attempts: change.attempts,
        next_attempt_at: change.next_attempt_at,
        lease: None,
        updated_at: change.at,
        ..stored.clone()
    }
}

/// Whether a stored message may be claimed at `now`.
pub(super) fn claimable(m: &HealthMessage, now: DateTime<Utc>) -> bool {
    m.state == DeliveryState::Queued && m.next_attempt_at <= now && m.lease.as_ref().is_none_or(|l| l.until <= now)
}
