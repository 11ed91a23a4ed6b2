//! The health outbox's part of the sled store (see `health_outbox.rs`).
//!
//! | tree                 | key                                   | value                 |
//! |----------------------|---------------------------------------|-----------------------|
//! | `health_messages`    | message id (UUID v7, 16)              | the message (JSON)    |
//! | `health_envelopes`   | MedCom envelope identifier            | message id            |
//! | `health_idempotency` | scope · 0 · key                       | message id            |
//! | `health_queued`      | next attempt (ms, u64) · message id   | — (queued ones only)  |
//!
//! Every write is one multi-tree transaction (with the audit outbox when it carries a
//! record) under the store's write gate, then a flush and sync. One process owns a sled
//! store, and its writes pass the gate one at a time, so a claim cannot race another.

use chrono::{DateTime, Utc};
use sled::Transactional;
use sled::transaction::ConflictableTransactionError;

use super::health_outbox::{
    DeliveryState, Enqueued, HealthMessage, HealthMessageId, HealthOutbox, HealthTransition, Lease, apply_transition,
    check_transition, claimable,
};
use super::sled_audit::encode_outbox;
use super::sled_store::SledStore;
use super::{OutboxEntry, StoreError};

pub(super) mod trees;

type Abort = ConflictableTransactionError<StoreError>;

fn millis(t: DateTime<Utc>) -> u64 {
    u64::try_from(t.timestamp_millis()).unwrap_or(0)
}

fn queued_key(m: &HealthMessage) -> Vec<u8> {
    [&millis(m.next_attempt_at).to_be_bytes()[..], m.id.0.as_bytes()].concat()
}

fn idempotency_key(scope: &str, key: &str) -> Vec<u8> {
    [scope.as_bytes(), &[0], key.as_bytes()].concat()
}

fn to_json(m: &HealthMessage) -> Vec<u8> {
    serde_json::to_vec(m).expect("health messages serialize")
}

fn from_json(b: &[u8]) -> Result<HealthMessage, StoreError> {
    serde_json::from_slice(b).map_err(|e| StoreError::Corrupt(format!("a health message does not read: {e}")))
}

#[async_trait::async_trait]
impl HealthOutbox for SledStore {
    async fn health_enqueue(&self, message: &HealthMessage, audit: OutboxEntry<'_>) -> Result<Enqueued, StoreError> {
        let h = self.health();
        let _gate = self.gate().await;
        if let Some(idem) = &message.body.idempotency
            && let Some(id) = h.idempotency.get(idempotency_key(&idem.scope, &idem.key))?
        {
            let stored = h.messages.get(&id)?.ok_or_else(|| {
                StoreError::Corrupt("an idempotency key names a health message that is not stored".into())
            })?;
            let stored = from_json(&stored)?;
            let same = stored.body.idempotency.as_ref().is_some_and(|s| s.body_sha256 == idem.body_sha256);
            return Ok(if same { Enqueued::Existing(Box::new(stored)) } else { Enqueued::KeyReused });
        }
        let value = to_json(message);
        let audit_value = encode_outbox(&audit);
        let id = message.id.0.as_bytes();
        let trees = (&h.messages, &h.envelopes, &h.idempotency, &h.queued, self.audit_outbox_tree());
        trees.transaction(|(messages, envelopes, idempotency, queued, outbox)| {
            if envelopes.insert(message.body.envelope_id.as_bytes(), &id[..])?.is_some() {
                return Err(Abort::Abort(StoreError::Conflict { expected: 0 }));
            }
            if messages.insert(&id[..], value.as_slice())?.is_some() {
                return Err(Abort::Abort(StoreError::Corrupt("a health message id was used twice".into())));
            }
            if let Some(idem) = &message.body.idempotency {
                idempotency.insert(idempotency_key(&idem.scope, &idem.key), &id[..])?;
            }
            if message.state == DeliveryState::Queued {
                queued.insert(queued_key(message), &[])?;
            }
            if outbox.insert(&audit.id.as_bytes()[..], audit_value.as_slice())?.is_some() {
                return Err(Abort::Abort(StoreError::Corrupt("an audit outbox id was used twice".into())));
            }
            Ok(())
        })?;
        self.durable().await?;
        Ok(Enqueued::New)
    }

    async fn health_claim(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<HealthMessage>, StoreError> {
        let h = self.health();
        let _gate = self.gate().await;
        let end = (millis(now) + 1).to_be_bytes();
        let mut claimed = Vec::new();
        for kv in h.queued.range(..&end[..]).keys() {
            if claimed.len() >= limit {
                break;
            }
            let k = kv?;
            let stored = h
                .messages
                .get(&k[8..])?
                .ok_or_else(|| StoreError::Corrupt("the queue names a health message that is not stored".into()))?;
            let stored = from_json(&stored)?;
            if claimable(&stored, now) {
                claimed.push(HealthMessage { lease: Some(Lease { owner: owner.to_string(), until }), ..stored });
            }
        }
        if claimed.is_empty() {
            return Ok(claimed);
        }
        let values: Vec<(HealthMessageId, Vec<u8>)> = claimed.iter().map(|m| (m.id, to_json(m))).collect();
        h.messages.transaction(|messages| {
            for (id, v) in &values {
                messages.insert(&id.0.as_bytes()[..], v.as_slice())?;
            }
            Ok::<_, Abort>(())
        })?;
        self.durable().await?;
        Ok(claimed)
    }

    async fn health_transition(
        &self,
        change: HealthTransition<'_>,
        audit: Option<OutboxEntry<'_>>,
    ) -> Result<bool, StoreError> {
        let h = self.health();
        let _gate = self.gate().await;
        let id = change.id.0.as_bytes();
        let Some(stored) = h.messages.get(id)? else {
            return Ok(false);
        };
        let stored = from_json(&stored)?;
        check_transition(&stored, &change)?;
        let next = apply_transition(&stored, &change);
        let value = to_json(&next);
        let audit_value = audit.as_ref().map(encode_outbox);
        let trees = (&h.messages, &h.queued, self.audit_outbox_tree());
        trees.transaction(|(messages, queued, outbox)| {
            messages.insert(&id[..], value.as_slice())?;
            queued.remove(queued_key(&stored))?;
            if next.state == DeliveryState::Queued {
                queued.insert(queued_key(&next), &[])?;
            }
            if let (Some(a), Some(v)) = (&audit, &audit_value)
                && outbox.insert(&a.id.as_bytes()[..], v.as_slice())?.is_some()
            {
                return Err(Abort::Abort(StoreError::Corrupt("an audit outbox id was used twice".into())));
            }
            Ok(())
        })?;
        self.durable().await?;
        Ok(true)
    }

    async fn health_message(&self, id: HealthMessageId) -> Result<Option<HealthMessage>, StoreError> {
        self.health().messages.get(id.0.as_bytes())?.map(|b| from_json(&b)).transpose()
    }

    async fn health_by_envelope(&self, envelope_id: &str) -> Result<Option<HealthMessage>, StoreError> {
        let h = self.health();
        match h.envelopes.get(envelope_id.as_bytes())? {
            Some(id) => h.messages.get(&id)?.map(|b| from_json(&b)).transpose(),
            None => Ok(None),
        }
    }

    async fn health_messages_after(
        &self,
        after: Option<HealthMessageId>,
        limit: usize,
    ) -> Result<Vec<HealthMessage>, StoreError> {
        let h = self.health();
        let rows = match after {
            Some(a) => {
                h.messages.range((std::ops::Bound::Excluded(a.0.as_bytes().to_vec()), std::ops::Bound::Unbounded))
            }
            None => h.messages.iter(),
        };
        rows.values().take(limit).map(|v| from_json(&v?)).collect()
    }

    async fn health_import(&self, messages: &[HealthMessage]) -> Result<(), StoreError> {
        if messages.is_empty() {
            return Ok(());
        }
        let h = self.health();
        let _gate = self.gate().await;
        let values: Vec<Vec<u8>> = messages.iter().map(to_json).collect();
        let trees = (&h.messages, &h.envelopes, &h.idempotency, &h.queued);
        trees.transaction(|(stored, envelopes, idempotency, queued)| {
            for (m, value) in messages.iter().zip(&values) {
                let id = m.id.0.as_bytes();
                let taken = envelopes.insert(m.body.envelope_id.as_bytes(), &id[..])?.is_some()
                    || stored.insert(&id[..], value.as_slice())?.is_some();
                if taken {
                    return Err(Abort::Abort(StoreError::Conflict { expected: 0 }));
                }
                if let Some(idem) = &m.body.idempotency
                    && idempotency.insert(idempotency_key(&idem.scope, &idem.key), &id[..])?.is_some()
                {
                    return Err(Abort::Abort(StoreError::Conflict { expected: 0 }));
                }
                if m.state == DeliveryState::Queued {
                    queued.insert(queued_key(m), &[])?;
                }
            }
            Ok(())
        })?;
        self.durable().await?;
        Ok(())
    }
}
