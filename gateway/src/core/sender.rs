//! The background sender: delivers what the send pipeline stored in the health outbox
//! (`core/send.rs`), with retries, exactly once per envelope identifier at the hub.
//!
//! Each round claims due messages under a lease (several gateways on one PostgreSQL take
//! disjoint messages), posts each message's stored bytes to the hub, and records what
//! happened, each change with its audit record in the change's transaction:
//! - the hub answered a receipt: `sent` (`message_sent`, with the message's SHA-256), then
//!   `acknowledged` (`message_acknowledged`) or `rejected` with the receiver's reason
//!   (`message_rejected`); a receipt that names another message is logged and ignored,
//!   and the message stays `sent`;
//! - the hub refused the message itself (4xx): `failed` (`message_failed`);
//! - no answer, a timeout or a 5xx: queued again after a pause that doubles with every
//!   attempt (at most five minutes), `failed` after the last attempt.
//!
//! A crash anywhere leaves the message queued (or leased until the lease runs out) with
//! the same bytes and identifiers; the next attempt posts them again and the hub, which
//! deduplicates on the envelope identifier, answers its stored receipt. So a message is
//! delivered once, however often it is posted.

use std::time::Duration;

use chrono::{DateTime, Utc};
use connectors::health_hub::Delivered;
use connectors::medcom::{self, Receipt};
use connectors::xml::Limits;
use consent::audit::{AuditDecision, AuditKind, AuditRecord};
use consent::store::HealthOutbox;
use consent::store::health_outbox::{DeliveryState, HealthMessage, HealthTransition, StateTag};
use consent::{Cpr, StoreError};
use tokio::sync::watch;

use super::Core;
use super::send::{SendMeta, kind_name};

/// How many messages one round claims.
const BATCH: usize = 8;
/// The longest pause between attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Runs the sender until `stop` turns true. `owner` names this instance in leases.
pub async fn run(core: Core, owner: String, mut stop: watch::Receiver<bool>) {
    let Some(health) = core.health.as_ref() else { return };
    let poll = health.poll;
    loop {
        match deliver_due(&core, &owner).await {
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "the health sender could not claim messages"),
        }
        tokio::select! {
            _ = health.wake.notified() => {}
            _ = tokio::time::sleep(poll) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
    }
}

/// One round: claims due messages and attempts each once. Returns how many were claimed.
pub async fn deliver_due(core: &Core, owner: &str) -> Result<usize, StoreError> {
    let Some(health) = core.health.as_ref() else { return Ok(0) };
    let now = core.clock.now();
    let lease = chrono::Duration::from_std(health.lease).unwrap_or(chrono::Duration::seconds(30));
    let claimed = core.audit.store().health_claim(owner, now, now + lease, BATCH).await?;
    let n = claimed.len();
    for m in claimed {
        attempt(core, owner, m).await;
    }
    Ok(n)
}

/// The patient a stored message is about (its own bytes say), and what it was sent for.
fn facts(m: &HealthMessage) -> Option<(Cpr, SendMeta)> {
    let meta: SendMeta = serde_json::from_slice(&m.body.meta).ok()?;
    let cpr = medcom::parse_message(&m.body.payload, Limits::default()).ok()?.patient()?.cpr;
    Some((cpr, meta))
}

fn record(meta: &SendMeta, citizen: Cpr, m: &HealthMessage, at: DateTime<Utc>, kind: AuditKind) -> AuditRecord {
    let mut r = AuditRecord::new(at, meta.request_id.clone(), kind);
    r.system = Some(meta.system.clone());
    r.caseworker = Some(meta.caseworker.clone());
    r.unit = Some(meta.unit.clone());
    r.citizen = Some(citizen);
    r.purpose = Some(meta.purpose.clone());
    r.category = Some(meta.category.clone());
    r.decision = Some(AuditDecision::Permit);
    r.basis = Some(meta.basis.clone());
    r.policies = meta.policies.clone();
    r.documents = vec![hex::encode(m.body.payload_sha256)];
    r
}

async fn attempt(core: &Core, owner: &str, m: HealthMessage) {
    let Some(health) = core.health.as_ref() else { return };
    let Some((citizen, meta)) = facts(&m) else {
        tracing::error!(message_id = %m.id, "a stored message does not read; it is not sent");
        return;
    };
    let outcome = health.hub.deliver(&m.body.payload, &meta.request_id).await;
    let at = core.clock.now();
    let attempts = m.attempts + 1;
    let change = |from: StateTag, lease: Option<&'static str>, to: DeliveryState| HealthTransition {
        id: m.id,
        from,
        lease_owner: lease,
        to,
        attempts,
        next_attempt_at: at,
        at,
    };
    let store = core.audit.store();
    let result = match outcome {
        Ok(Delivered::Receipt(receipt)) => {
            let mut sent = record(&meta, citizen, &m, at, AuditKind::MessageSent);
            sent.outcome = "sent".into();
            sent.detail = Some(format!("{} envelope {}", kind_name(m.body.kind), m.body.envelope_id));
            let rec = core.audit.outbox_record(&sent);
            let step =
                HealthTransition { lease_owner: Some(owner), ..change(StateTag::Queued, None, DeliveryState::Sent) };
            let mut records = vec![rec.clone()];
            let moved = store.health_transition(step, Some(rec.entry())).await;
            match moved {
                Ok(_) => {
                    let settled = settle(core, &meta, citizen, &m, receipt, at, attempts).await;
                    if let Some(r) = settled {
                        records.push(r);
                    }
                    confirm(core, &records).await;
                    Ok(())
                }
                Err(e) => Err(e),
            }
        }
        Ok(Delivered::Refused { status }) => {
            let reason = format!("the hub refused the message (HTTP {status})");
            fail(core, owner, &meta, citizen, &m, at, attempts, reason).await
        }
        Err(e) if attempts >= health.max_attempts => {
            let reason = format!("not delivered after {attempts} attempts: {e}");
            fail(core, owner, &meta, citizen, &m, at, attempts, reason).await
        }
        Err(e) => {
            let pause = health.backoff.saturating_mul(1 << (attempts - 1).min(16)).min(MAX_BACKOFF);
            let next = at + chrono::Duration::from_std(pause).unwrap_or(chrono::Duration::seconds(300));
            tracing::warn!(message_id = %m.id, attempts, error = %e, retry_in_ms = pause.as_millis() as u64, "message not delivered; will try again");
            let step = HealthTransition {
                lease_owner: Some(owner),
                next_attempt_at: next,
                ..change(StateTag::Queued, None, DeliveryState::Queued)
            };
            store.health_transition(step, None).await.map(drop)
        }
    };
    if let Err(e) = result {
        tracing::warn!(message_id = %m.id, error = %e, "the message's new state was not recorded; it will be attempted again");
    }
}

/// `sent` → `acknowledged` or `rejected` by a receipt that names the message; anything
/// else is logged and ignored.
async fn settle(
    core: &Core,
    meta: &SendMeta,
    citizen: Cpr,
    m: &HealthMessage,
    receipt: Receipt,
    at: DateTime<Utc>,
    attempts: u32,
) -> Option<consent::audit::OutboxRecord> {
    if receipt.original().envelope_identifier != m.body.envelope_id {
        tracing::warn!(message_id = %m.id, "the hub answered a receipt for a message we never sent; ignored");
        return None;
    }
    let (kind, to, outcome) = match &receipt {
        Receipt::Positive(_) => (AuditKind::MessageAcknowledged, DeliveryState::Acknowledged, "acknowledged"),
        Receipt::Negative(r) => {
            let reason: String = r.error_text.chars().filter(|c| !c.is_control()).take(500).collect();
            (AuditKind::MessageRejected, DeliveryState::Rejected { reason }, "rejected")
        }
    };
    let mut r = record(meta, citizen, m, at, kind);
    r.outcome = outcome.into();
    if let DeliveryState::Rejected { reason } = &to {
        r.detail = Some(format!("the receiver refused the message: {reason}"));
    }
    let rec = core.audit.outbox_record(&r);
    let step =
        HealthTransition { id: m.id, from: StateTag::Sent, lease_owner: None, to, attempts, next_attempt_at: at, at };
    match core.audit.store().health_transition(step, Some(rec.entry())).await {
        Ok(_) => Some(rec),
        Err(e) => {
            tracing::warn!(message_id = %m.id, error = %e, "the receipt was not recorded");
            None
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn fail(
    core: &Core,
    owner: &str,
    meta: &SendMeta,
    citizen: Cpr,
    m: &HealthMessage,
    at: DateTime<Utc>,
    attempts: u32,
    reason: String,
) -> Result<(), StoreError> {
    tracing::warn!(message_id = %m.id, attempts, "message failed: {reason}");
    let mut r = record(meta, citizen, m, at, AuditKind::MessageFailed);
    r.outcome = "failed".into();
    r.detail = Some(reason.clone());
    let rec = core.audit.outbox_record(&r);
    let step = HealthTransition {
        id: m.id,
        from: StateTag::Queued,
        lease_owner: Some(owner),
        to: DeliveryState::Failed { reason },
        attempts,
        next_attempt_at: at,
        at,
    };
    core.audit.store().health_transition(step, Some(rec.entry())).await?;
    confirm(core, &[rec]).await;
    Ok(())
}

/// Waits for the records to be in the log; they are durable in the outbox either way.
async fn confirm(core: &Core, records: &[consent::audit::OutboxRecord]) {
    if let Err(e) = core.audit.wait_outbox(records).await {
        tracing::warn!(error = %e, "a message's records are stored but not yet in the audit log");
    }
}
