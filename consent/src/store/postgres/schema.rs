//! Schema migrations: the plain SQL files in `consent/migrations/`, applied in order on first
//! use, each in its own transaction, under a session advisory lock (two instances starting
//! at once: one waits, then finds nothing to do). The applied versions are rows of
//! `sammen_schema`. A database whose schema is newer than this binary knows is refused.

use deadpool_postgres::Pool;

use super::{db_error, pool_error};
use crate::store::StoreError;

/// (version, SQL) of every migration this binary knows, in order. Never edit a released one.
const MIGRATIONS: &[(u32, &str)] = &[
    (1, include_str!("../../../migrations/0001_init.sql")),
    (2, include_str!("../../../migrations/0002_health_outbox.sql")),
];

/// The schema version this binary writes and reads.
pub const SCHEMA_VERSION: u32 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// The advisory lock key of migrations ("sammen" in ASCII).
const LOCK_KEY: i64 = 0x73_61_6d_6d_65_6e;

/// Brings the schema to [`SCHEMA_VERSION`]; returns it.
pub(super) async fn migrate(pool: &Pool) -> Result<u32, StoreError> {
    let mut client = pool.get().await.map_err(pool_error)?;
    // Waiting for another instance's migration is not a statement that should time out.
    client.batch_execute("SET lock_timeout = 0; SET statement_timeout = 0").await.map_err(db_error)?;
    client.execute("SELECT pg_advisory_lock($1)", &[&LOCK_KEY]).await.map_err(db_error)?;
    let result = apply(&mut client).await;
    let unlocked = client.execute("SELECT pg_advisory_unlock($1)", &[&LOCK_KEY]).await;
    let reset = client.batch_execute("RESET lock_timeout; RESET statement_timeout").await;
    let version = result?;
    unlocked.map_err(db_error)?;
    reset.map_err(db_error)?;
    Ok(version)
}

async fn apply(client: &mut deadpool_postgres::Object) -> Result<u32, StoreError> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS sammen_schema (
                 version integer PRIMARY KEY,
                 applied_at timestamptz NOT NULL DEFAULT now()
             )",
        )
        .await
        .map_err(db_error)?;
    let row = client.query_one("SELECT coalesce(max(version), 0) FROM sammen_schema", &[]).await.map_err(db_error)?;
    let found: i32 = row.get(0);
    let found = u32::try_from(found).map_err(|_| StoreError::Corrupt("a negative schema version".into()))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::Schema { found, known: SCHEMA_VERSION });
    }
    for &(version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > found) {
        let tx = client.transaction().await.map_err(db_error)?;
        tx.batch_execute(sql).await.map_err(db_error)?;
        tx.execute("INSERT INTO sammen_schema (version) VALUES ($1)", &[&(version as i32)]).await.map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        tracing::info!(version, "applied a schema migration");
    }
    Ok(SCHEMA_VERSION)
}
