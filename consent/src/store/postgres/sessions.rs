//! Web sessions in PostgreSQL: one ordinary (replicated) table, `sessions`, key → expiry
//! (milliseconds since the epoch) and value. `session_take` is `DELETE … RETURNING`, so a
//! one-use value is handed out once across every instance.

use chrono::{DateTime, Utc};

use super::{PgStore, db_error};
use crate::store::{SessionStore, StoreError};

#[async_trait::async_trait]
impl SessionStore for PgStore {
    async fn session_put(&self, key: &str, value: &[u8], expires_at: DateTime<Utc>) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO sessions (key, expires_ms, value) VALUES ($1, $2, $3) \
                 ON CONFLICT (key) DO UPDATE SET expires_ms = excluded.expires_ms, value = excluded.value",
                &[&key, &expires_at.timestamp_millis(), &value],
            )
            .await
            .map_err(db_error)?;
        Ok(())
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
        let client = self.client().await?;
        let row = client
            .query_opt("DELETE FROM sessions WHERE key = $1 RETURNING expires_ms, value", &[&key])
            .await
            .map_err(db_error)?;
        Ok(row.and_then(|r| (now.timestamp_millis() < r.get::<_, i64>(0)).then(|| r.get(1))))
    }

    async fn session_purge(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let client = self.client().await?;
        let n = client
            .execute("DELETE FROM sessions WHERE expires_ms <= $1", &[&now.timestamp_millis()])
            .await
            .map_err(db_error)?;
        Ok(n as usize)
    }
}
