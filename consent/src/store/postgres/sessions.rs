//! Web sessions in PostgreSQL: one ordinary (replicated) table, `sessions`, key → expiry
//! (milliseconds since the epoch) and value. `session_take` is `DELETE … RETURNING`, so a
//! one-use value is handed out once across every instance.
//!
//! Session writes commit with `synchronous_commit = local`: they do not wait for a
//! synchronous standby (sessions are not consent or audit data; see
//! [`crate::store::SessionStore`]), so logging in keeps working while the standby is away.
//! The price: after a failover the last session changes may be missing, or a login state
//! taken just before it may be there again (its login then fails at the identity provider,
//! which also allows its code once).

use chrono::{DateTime, Utc};

use super::{PgStore, db_error};
use crate::store::{SessionStore, StoreError};

/// A transaction whose commit does not wait for a synchronous standby.
async fn local_tx(client: &mut deadpool_postgres::Object) -> Result<super::Tx<'_>, StoreError> {
    let tx = client.transaction().await.map_err(db_error)?;
    tx.batch_execute("SET LOCAL synchronous_commit = local").await.map_err(db_error)?;
    Ok(tx)
}

#[async_trait::async_trait]
impl SessionStore for PgStore {
    async fn session_put(&self, key: &str, value: &[u8], expires_at: DateTime<Utc>) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = local_tx(&mut client).await?;
        tx.execute(
            "INSERT INTO sessions (key, expires_ms, value) VALUES ($1, $2, $3) \
                 ON CONFLICT (key) DO UPDATE SET expires_ms = excluded.expires_ms, value = excluded.value",
            &[&key, &expires_at.timestamp_millis(), &value],
        )
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)
    }

    async fn session_get(&self, key: &str, now: DateTime<Utc>) -> Result<Option<Vec<u8>>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT value FROM sessions WHERE key = $1 AND expires_ms > $2",
                &[&key, &now.timestamp_millis()],
            )
            .await
            .map_err(db_error)?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn session_take(&self, key: &str, now: DateTime<Utc>) -> Result<Option<Vec<u8>>, StoreError> {
        let mut client = self.client().await?;
        let tx = local_tx(&mut client).await?;
        let row = tx
            .query_opt("DELETE FROM sessions WHERE key = $1 RETURNING expires_ms, value", &[&key])
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(row.and_then(|r| (now.timestamp_millis() < r.get::<_, i64>(0)).then(|| r.get(1))))
    }

    async fn session_purge(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let mut client = self.client().await?;
        let tx = local_tx(&mut client).await?;
        let n = tx
            .execute("DELETE FROM sessions WHERE expires_ms <= $1", &[&now.timestamp_millis()])
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(n as usize)
    }
}
