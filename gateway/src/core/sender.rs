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
//! - the hub took the message and will deliver the receipt later (202): `sent`; the receipt
//!   is then read from the hub's inbox (below);
//! - the hub refused the message itself (4xx): `failed` (`message_failed`);
//! - no answer, a timeout or a 5xx: queued again after a pause that doubles with every
//!   attempt (at most five minutes), `failed` after the last attempt.
//!
//! A crash anywhere leaves the message queued (or leased until the lease runs out) with
//! the same bytes and identifiers; the next attempt posts them again and the hub, which
//! deduplicates on the envelope identifier, answers its stored receipt. So a message is
//! delivered once, however often it is posted.
//!
//! Every round also reads the receipts waiting in the hub's inbox ([`collect_receipts`]):
//! each is applied to the message with its envelope identifier by the same compare-and-set
//! from `sent`, then marked read at the hub. A receipt read twice (the hub delivered it
//! twice, or we died before marking it read) finds the message settled and changes nothing:
//! one state change, one audit record. A receipt for a message we never sent is logged (by
//! its inbox id, never its content) and marked read; one for a message still queued (we
//! died between posting it and recording `sent`) is left in the inbox until it is `sent`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use connectors::FetchError;
use connectors::health_hub::{Delivered, Waiting};
use connectors::medcom::Receipt;
use consent::audit::{AuditDecision, AuditKind, AuditRecord};
use consent::store::HealthOutbox;
use consent::store::health_outbox::{DeliveryState, HealthMessage, HealthTransition, StateTag};
use consent::{Cpr, StoreError};
use tokio::sync::watch;

use super::Core;
use super::send::{SendMeta, kind_name, message_facts as facts};

/// How many messages one round claims.
const BATCH: usize = 8;
/// The longest pause between attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Runs the sender until `stop` turns true. `owner` names this instance in leases.
pub async fn run(core: Core, owner: String, mut stop: watch::Receiver<bool>) {
    let Some(health) = core.health.as_ref() else { return };
    let poll = health.poll;
    loop {
        let delivered = match deliver_due(&core, &owner).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "the health sender could not claim messages");
                0
            }
        };
        if let Err(e) = collect_receipts(&core).await {
            tracing::warn!(error = %e, "the hub's inbox could not be read; trying again later");
        }
        if delivered > 0 {
            continue;
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
            let rec = sent_record(core, &meta, citizen, &m, at);
            let step =
                HealthTransition { lease_owner: Some(owner), ..change(StateTag::Queued, None, DeliveryState::Sent) };
            let mut records = vec![rec.clone()];
            let moved = store.health_transition(step, Some(rec.entry())).await;
            match moved {
                Ok(_) => {
                    if receipt.original().envelope_identifier != m.body.envelope_id {
                        tracing::warn!(message_id = %m.id, "the hub answered a receipt for a message we never sent; ignored");
                    } else {
                        match settle(core, &meta, citizen, &m, &receipt, at, attempts).await {
                            Ok(r) => records.push(r),
                            Err(e) => tracing::warn!(message_id = %m.id, error = %e, "the receipt was not recorded"),
                        }
                    }
                    confirm(core, &records).await;
                    Ok(())
                }
                Err(e) => Err(e),
            }
        }
        Ok(Delivered::Accepted) => {
            let sent = sent_record(core, &meta, citizen, &m, at);
            let step =
                HealthTransition { lease_owner: Some(owner), ..change(StateTag::Queued, None, DeliveryState::Sent) };
            match store.health_transition(step, Some(sent.entry())).await {
                Ok(_) => {
                    confirm(core, &[sent]).await;
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

fn sent_record(
    core: &Core,
    meta: &SendMeta,
    citizen: Cpr,
    m: &HealthMessage,
    at: DateTime<Utc>,
) -> consent::audit::OutboxRecord {
    let mut sent = record(meta, citizen, m, at, AuditKind::MessageSent);
    sent.outcome = "sent".into();
    sent.detail = Some(format!("{} envelope {}", kind_name(m.body.kind), m.body.envelope_id));
    core.audit.outbox_record(&sent)
}

/// `sent` → `acknowledged` or `rejected` by a receipt that names the message (the caller
/// checked), with its audit record; a message no longer `sent` is a conflict.
async fn settle(
    core: &Core,
    meta: &SendMeta,
    citizen: Cpr,
    m: &HealthMessage,
    receipt: &Receipt,
    at: DateTime<Utc>,
    attempts: u32,
) -> Result<consent::audit::OutboxRecord, StoreError> {
    let (kind, to, outcome) = match receipt {
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
    core.audit.store().health_transition(step, Some(rec.entry())).await?;
    Ok(rec)
}

/// Reads the receipts waiting in the hub's inbox and applies each (see the module
/// documentation). Returns how many were marked read.
pub async fn collect_receipts(core: &Core) -> Result<usize, FetchError> {
    let Some(health) = core.health.as_ref() else { return Ok(0) };
    let correlation = format!("receipts-{}", uuid::Uuid::new_v4().simple());
    let ids = health.hub.inbox(&correlation).await?;
    let mut read = 0;
    for id in ids {
        let done = match health.hub.waiting(&id, &correlation).await? {
            Waiting::Gone => false,
            // Not logged: what does not read might quote anything.
            Waiting::Unreadable(_) => {
                tracing::warn!(inbox_id = %id, "a waiting receipt does not read; ignored");
                true
            }
            Waiting::Receipt(receipt) => apply_receipt(core, &id, &receipt).await,
        };
        if done {
            health.hub.mark_read(&id, &correlation).await?;
            read += 1;
        }
    }
    Ok(read)
}

/// Applies one waiting receipt; `true` when it may be marked read.
async fn apply_receipt(core: &Core, inbox_id: &str, receipt: &Receipt) -> bool {
    let store = core.audit.store();
    let envelope = &receipt.original().envelope_identifier;
    let m = match store.health_by_envelope(envelope).await {
        Ok(Some(m)) => m,
        Ok(None) => {
            tracing::warn!(inbox_id, "the hub's inbox held a receipt for a message we never sent; ignored");
            return true;
        }
        Err(e) => {
            tracing::warn!(inbox_id, error = %e, "the message a receipt names could not be read; trying again later");
            return false;
        }
    };
    match m.state.tag() {
        // Posted, but `sent` not recorded yet (or a crash in between): wait for it.
        StateTag::Queued => return false,
        StateTag::Sent => {}
        StateTag::Acknowledged | StateTag::Rejected | StateTag::Failed => {
            tracing::info!(message_id = %m.id, inbox_id, "a duplicate receipt; the message is settled already");
            return true;
        }
    }
    let Some((citizen, meta)) = facts(&m) else {
        tracing::error!(message_id = %m.id, "a stored message does not read; its receipt is ignored");
        return true;
    };
    match settle(core, &meta, citizen, &m, receipt, core.clock.now(), m.attempts).await {
        Ok(rec) => {
            confirm(core, &[rec]).await;
            true
        }
        // Settled meanwhile (another instance read the same receipt): nothing to do.
        Err(StoreError::Conflict { .. }) => true,
        Err(e) => {
            tracing::warn!(message_id = %m.id, error = %e, "the receipt was not recorded; trying again later");
            false
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
