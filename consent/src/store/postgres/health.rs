//! The health outbox on PostgreSQL (`0002_health_outbox.sql`), shared by every instance.
//!
//! - Enqueue: one transaction inserts the row (`ON CONFLICT (idem_scope, idem_key) DO
//!   NOTHING`: of two requests with one key, the second waits for the first's commit and
//!   then finds its row) and the audit outbox entry.
//! - Claim: `SELECT … FOR UPDATE SKIP LOCKED` of due, unleased queued rows, then the lease
//!   written in the same transaction: two instances claiming at once take disjoint rows,
//!   and a committed lease keeps the rows from everyone else until it runs out.
//! - Transition: the row read `FOR UPDATE`, checked (state, lease holder), rewritten with
//!   its audit record in one transaction.

use chrono::{DateTime, Utc};

use super::{Tx, commit_within, db_error, settle, write_outbox};
use crate::store::health_outbox::{
    Enqueued, HealthMessage, HealthMessageId, HealthOutbox, HealthTransition, Lease, apply_transition,
    check_transition, claimable,
};
use crate::store::{OutboxEntry, PgStore, StoreError};

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn to_json(m: &HealthMessage) -> Vec<u8> {
    serde_json::to_vec(m).expect("health messages serialize")
}

fn from_json(b: &[u8]) -> Result<HealthMessage, StoreError> {
    serde_json::from_slice(b).map_err(|e| StoreError::Corrupt(format!("a health message does not read: {e}")))
}

/// Writes the row's columns and record from `m`.
async fn update(tx: &Tx<'_>, m: &HealthMessage) -> Result<(), StoreError> {
    let (owner, until) = match &m.lease {
        Some(l) => (Some(l.owner.as_str()), Some(ms(l.until))),
        None => (None, None),
    };
    tx.execute(
        "UPDATE health_messages SET state = $2, next_attempt_ms = $3, lease_owner = $4, lease_until_ms = $5, \
         record = $6 WHERE id = $1",
        &[&m.id.0, &m.state.tag().as_str(), &ms(m.next_attempt_at), &owner, &until, &to_json(m)],
    )
    .await
    .map_err(db_error)?;
    Ok(())
}

#[async_trait::async_trait]
impl HealthOutbox for PgStore {
    async fn health_enqueue(&self, message: &HealthMessage, audit: OutboxEntry<'_>) -> Result<Enqueued, StoreError> {
        let (scope, key) = match &message.body.idempotency {
            Some(i) => (Some(i.scope.as_str()), Some(i.key.as_str())),
            None => (None, None),
        };
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        let inserted = tx
            .execute(
                "INSERT INTO health_messages \
                 (id, envelope_id, idem_scope, idem_key, state, next_attempt_ms, lease_owner, lease_until_ms, record) \
                 VALUES ($1, $2, $3, $4, $5, $6, NULL, NULL, $7) ON CONFLICT (idem_scope, idem_key) DO NOTHING",
                &[
                    &message.id.0,
                    &message.body.envelope_id,
                    &scope,
                    &key,
                    &message.state.tag().as_str(),
                    &ms(message.next_attempt_at),
                    &to_json(message),
                ],
            )
            .await;
        let inserted = match inserted {
            Ok(n) => n,
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) => {
                // The envelope identifier (or the id) is taken.
                return Err(StoreError::Conflict { expected: 0 });
            }
            Err(e) => return Err(db_error(e)),
        };
        if inserted == 0 {
            let row = tx
                .query_one(
                    "SELECT record FROM health_messages WHERE idem_scope = $1 AND idem_key = $2",
                    &[&scope, &key],
                )
                .await
                .map_err(db_error)?;
            let stored = from_json(row.get::<_, &[u8]>(0))?;
            let same = match (&stored.body.idempotency, &message.body.idempotency) {
                (Some(s), Some(m)) => s.body_sha256 == m.body_sha256,
                _ => false,
            };
            drop(tx);
            return Ok(if same { Enqueued::Existing(Box::new(stored)) } else { Enqueued::KeyReused });
        }
        write_outbox(&tx, &audit).await?;
        let outcome = commit_within(tx, self.commit_limit).await;
        settle(client, outcome)?;
        Ok(Enqueued::New)
    }

    async fn health_claim(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<HealthMessage>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        let rows = tx
            .query(
                "SELECT record FROM health_messages \
                 WHERE state = 'queued' AND next_attempt_ms <= $1 AND (lease_until_ms IS NULL OR lease_until_ms <= $1) \
                 ORDER BY next_attempt_ms, id LIMIT $2 FOR UPDATE SKIP LOCKED",
                &[&ms(now), &i64::try_from(limit).unwrap_or(i64::MAX)],
            )
            .await
            .map_err(db_error)?;
        let mut claimed = Vec::with_capacity(rows.len());
        for row in &rows {
            let stored = from_json(row.get::<_, &[u8]>(0))?;
            if !claimable(&stored, now) {
                continue;
            }
            let m = HealthMessage { lease: Some(Lease { owner: owner.to_string(), until }), ..stored };
            update(&tx, &m).await?;
            claimed.push(m);
        }
        if claimed.is_empty() {
            drop(tx);
            return Ok(claimed);
        }
        let outcome = commit_within(tx, self.commit_limit).await;
        settle(client, outcome)?;
        Ok(claimed)
    }

    async fn health_transition(
        &self,
        change: HealthTransition<'_>,
        audit: Option<OutboxEntry<'_>>,
    ) -> Result<bool, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        let row = tx
            .query_opt("SELECT record FROM health_messages WHERE id = $1 FOR UPDATE", &[&change.id.0])
            .await
            .map_err(db_error)?;
        let Some(row) = row else {
            return Ok(false);
        };
        let stored = from_json(row.get::<_, &[u8]>(0))?;
        check_transition(&stored, &change)?;
        update(&tx, &apply_transition(&stored, &change)).await?;
        if let Some(a) = &audit {
            write_outbox(&tx, a).await?;
        }
        let outcome = commit_within(tx, self.commit_limit).await;
        settle(client, outcome)?;
        Ok(true)
    }

    async fn health_message(&self, id: HealthMessageId) -> Result<Option<HealthMessage>, StoreError> {
        let client = self.client().await?;
        let row =
            client.query_opt("SELECT record FROM health_messages WHERE id = $1", &[&id.0]).await.map_err(db_error)?;
        row.map(|r| from_json(r.get::<_, &[u8]>(0))).transpose()
    }

    async fn health_by_envelope(&self, envelope_id: &str) -> Result<Option<HealthMessage>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt("SELECT record FROM health_messages WHERE envelope_id = $1", &[&envelope_id])
            .await
            .map_err(db_error)?;
        row.map(|r| from_json(r.get::<_, &[u8]>(0))).transpose()
    }

    async fn health_messages_after(
        &self,
        after: Option<HealthMessageId>,
        limit: usize,
    ) -> Result<Vec<HealthMessage>, StoreError> {
        let client = self.client().await?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = match after {
            Some(a) => {
                client
                    .query("SELECT record FROM health_messages WHERE id > $1 ORDER BY id LIMIT $2", &[&a.0, &limit])
                    .await
            }
            None => client.query("SELECT record FROM health_messages ORDER BY id LIMIT $1", &[&limit]).await,
        }
        .map_err(db_error)?;
        rows.iter().map(|r| from_json(r.get::<_, &[u8]>(0))).collect()
    }

    async fn health_import(&self, messages: &[HealthMessage]) -> Result<(), StoreError> {
        if messages.is_empty() {
            return Ok(());
        }
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        for m in messages {
            let (scope, key) = match &m.body.idempotency {
                Some(i) => (Some(i.scope.as_str()), Some(i.key.as_str())),
                None => (None, None),
            };
            let (owner, until) = match &m.lease {
                Some(l) => (Some(l.owner.as_str()), Some(ms(l.until))),
                None => (None, None),
            };
            let inserted = tx
                .execute(
                    "INSERT INTO health_messages \
                     (id, envelope_id, idem_scope, idem_key, state, next_attempt_ms, lease_owner, lease_until_ms, record) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    &[
                        &m.id.0,
                        &m.body.envelope_id,
                        &scope,
                        &key,
                        &m.state.tag().as_str(),
                        &ms(m.next_attempt_at),
                        &owner,
                        &until,
                        &to_json(m),
                    ],
                )
                .await;
            match inserted {
                Ok(_) => {}
                Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) => {
                    return Err(StoreError::Conflict { expected: 0 });
                }
                Err(e) => return Err(db_error(e)),
            }
        }
        let outcome = commit_within(tx, self.commit_limit).await;
        settle(client, outcome)?;
        Ok(())
    }
}
