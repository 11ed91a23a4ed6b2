//! The PostgreSQL adapter: the engine for several gateway instances over one database
//! (DESIGN.md §11).
//!
//! Connections come from a `deadpool-postgres` pool over a `tokio-postgres` configuration
//! parsed from the `[store] url` (key/value or URL form; multi-host URLs with
//! `target_session_attrs=read-write` find the primary after a promotion). TLS goes through
//! rustls when the URL asks for it (`sslmode=require`); the roots are the Mozilla roots plus
//! an optional CA file. Statement and lock timeouts are set on every connection.
//!
//! The schema is plain SQL (`consent/migrations/`), applied on first use under an advisory
//! lock (`schema.rs`). Tables: see `0001_init.sql`; the health outbox (`health.rs`):
//! `0002_health_outbox.sql`.
//!
//! Isolation: every transaction runs at READ COMMITTED.
//! - Consents and blocks use the optimistic version check of the sled adapter as a guarded
//!   write: `INSERT … ON CONFLICT DO NOTHING` for version 1, `UPDATE … WHERE id = $1 AND
//!   version = $2` after that; zero rows is a conflict. Under READ COMMITTED a concurrent
//!   `UPDATE` of the same row waits for the other transaction and re-evaluates its `WHERE`
//!   on the committed row, so of two writers of one version exactly one succeeds. Nothing
//!   stronger is needed because every write touches the row it checks.
//! - The audit log's head is read `FOR UPDATE`: a row lock that serialises every batch and
//!   prune across instances, so the size check and the writes that follow cannot interleave
//!   with another writer's. A plain read of the head (READ COMMITTED, no lock) would let two
//!   batches both see size n and both write; SERIALIZABLE would also work but retries the
//!   loser instead of queueing it, and the lock is what the writers need anyway.
//!
//! Errors: a database error is reported by its SQLSTATE and primary message only (its
//! DETAIL can quote key values, e.g. a CPR number); the URL is never echoed (it may hold a
//! password).

mod audit;
mod health;
mod schema;
mod sessions;
mod tls;

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio::sync::OnceCell;
use tokio_postgres::error::SqlState;
use uuid::Uuid;

use super::{AuditBatch, AuditPrune, ConsentChange, Import, OutboxEntry, PendingAudit, Store, StoreError};
use crate::block::{Block, BlockEvent, BlockId};
use crate::cpr::Cpr;
use crate::organisation::UnitId;
use crate::record::{Consent, ConsentEvent, ConsentId, State};
use crate::vocabulary::{Category, Purpose};

pub use schema::SCHEMA_VERSION;

/// How to reach the database (`[store]` with `kind = "postgres"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresOptions {
    /// A libpq connection string or `postgresql://` URL (several hosts allowed).
    pub url: String,
    /// The most connections this instance holds.
    pub pool_size: usize,
    /// A statement running longer is cancelled (`statement_timeout`).
    pub statement_timeout: Duration,
    /// A lock not granted within this fails the statement (`lock_timeout`), e.g. the audit
    /// log's head while another instance's batch is stuck.
    pub lock_timeout: Duration,
    /// Connecting (and waiting for a pooled connection) gives up after this.
    pub connect_timeout: Duration,
    /// PEM: CA certificates to trust for TLS besides the Mozilla roots.
    pub ca_file: Option<PathBuf>,
}

impl PostgresOptions {
    /// Options with the defaults for everything but the URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            pool_size: 16,
            statement_timeout: Duration::from_secs(5),
            lock_timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(5),
            ca_file: None,
        }
    }
}

/// The PostgreSQL-backed store. Cheap to clone (the pool is reference counted).
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    /// Set once the schema is known to be current (checked or migrated on first use).
    schema: std::sync::Arc<OnceCell<u32>>,
    /// How long a commit may wait for its confirmation (see [`commit_within`]).
    commit_limit: Duration,
}

/// Commits `tx`, waiting at most `limit` for the server's answer. With a synchronous
/// standby, PostgreSQL answers a COMMIT only once the standby has the transaction; while the
/// standby is away it waits, and `statement_timeout` does not end that wait (it is off by
/// then). So the wait is bounded here: past `limit` the commit's outcome is unknown (it is
/// durable locally and will be replicated when the standby is back, or lost with the
/// primary), which is reported as an error; nothing is acknowledged.
async fn commit_within(tx: Tx<'_>, limit: Duration) -> Result<(), StoreError> {
    match tokio::time::timeout(limit, tx.commit()).await {
        Ok(r) => r.map_err(db_error),
        Err(_) => Err(StoreError::Io(format!(
            "PostgreSQL did not confirm a commit within {} ms (is the synchronous standby down?); its outcome is unknown",
            limit.as_millis()
        ))),
    }
}

/// Hands `client` back to the pool after a successful write; after a failed one, closes it
/// instead (it may still be waiting for the commit's answer, or be broken).
fn settle(client: deadpool_postgres::Object, outcome: Result<(), StoreError>) -> Result<(), StoreError> {
    if outcome.is_err() {
        drop(deadpool_postgres::Object::take(client));
    }
    outcome
}

/// A database error by SQLSTATE and primary message only (see the module doc).
pub(super) fn db_error(e: tokio_postgres::Error) -> StoreError {
    if let Some(db) = e.as_db_error() {
        let code = db.code();
        if *code == SqlState::T_R_SERIALIZATION_FAILURE || *code == SqlState::T_R_DEADLOCK_DETECTED {
            return StoreError::Conflict { expected: 0 };
        }
        return StoreError::Io(format!("PostgreSQL {}: {}", code.code(), db.message()));
    }
    if e.is_closed() {
        return StoreError::Io("the connection to PostgreSQL was lost".into());
    }
    // Connection-level errors (refused, timeout, TLS) quote no data; their causes say why
    // (e.g. which certificate check failed), so they are kept.
    let mut message = format!("PostgreSQL: {e}");
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        message.push_str(&format!(": {c}"));
        cause = c.source();
    }
    StoreError::Io(message)
}

fn pool_error(e: deadpool_postgres::PoolError) -> StoreError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => db_error(e),
        deadpool_postgres::PoolError::Timeout(_) => {
            StoreError::Io("no PostgreSQL connection within the timeout".into())
        }
        e => StoreError::Io(format!("the PostgreSQL pool: {e}")),
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("domain types serialize")
}

fn from_json<T: serde::de::DeserializeOwned>(b: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(b).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// A u64 bound of the store API as a bigint (indexes stay far below 2^63; `u64::MAX` means
/// "no bound").
pub(super) fn big(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(super) fn unbig(n: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("a negative {what}")))
}

type Tx<'a> = deadpool_postgres::Transaction<'a>;

impl PgStore {
    /// A store over the database `options` names. Connects lazily: a database that is down
    /// now is an error of the first call that needs it, not of this one. Refuses a URL that
    /// does not parse (without quoting it).
    pub fn open(options: &PostgresOptions) -> Result<Self, StoreError> {
        let mut config = tokio_postgres::Config::from_str(&tls::libpq_sslmode(&options.url))
            .map_err(|e| StoreError::Config(format!("the PostgreSQL URL does not parse: {e}")))?;
        if config.get_hosts().is_empty() {
            return Err(StoreError::Config("the PostgreSQL URL names no host".into()));
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(options.connect_timeout);
        }
        let ms = |d: Duration| d.as_millis().max(1);
        config.options(format!(
            "-c statement_timeout={} -c lock_timeout={} -c idle_in_transaction_session_timeout={}",
            ms(options.statement_timeout),
            ms(options.lock_timeout),
            ms(options.statement_timeout * 4),
        ));
        if config.get_application_name().is_none() {
            config.application_name("sammen");
        }
        let tls = tls::connector(options.ca_file.as_deref())?;
        let manager = Manager::from_config(config, tls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(options.connect_timeout))
            .create_timeout(Some(options.connect_timeout))
            .recycle_timeout(Some(options.connect_timeout))
            .build()
            .map_err(|e| StoreError::Config(format!("the PostgreSQL pool: {e}")))?;
        Ok(Self { pool, schema: Default::default(), commit_limit: options.statement_timeout })
    }

    /// Applies every migration this binary knows that the database lacks, under an advisory
    /// lock (two instances migrating at once: one waits). Returns the schema version.
    /// Refuses a database whose schema is newer than this binary's.
    pub async fn migrate(&self) -> Result<u32, StoreError> {
        let v = *self.schema.get_or_try_init(|| async { schema::migrate(&self.pool).await }).await?;
        Ok(v)
    }

    /// A pooled connection to a database with the current schema.
    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.migrate().await?;
        self.pool.get().await.map_err(pool_error)
    }

    async fn consents_where(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<Consent>, StoreError> {
        let client = self.client().await?;
        let rows = client.query(sql, params).await.map_err(db_error)?;
        rows.iter().map(|r| from_json(r.get::<_, &[u8]>(0))).collect()
    }
}

/// Writes one consent change inside `tx`, with the version check.
async fn write_consent(tx: &Tx<'_>, change: &ConsentChange<'_>) -> Result<(), StoreError> {
    let ConsentChange { event, state, text_body, audit } = *change;
    if event.consent_id != state.id || state.version != event.version || event.version == 0 {
        return Err(StoreError::Conflict { expected: event.version.saturating_sub(1) });
    }
    let id: Uuid = state.id.0;
    let t = &state.terms;
    let citizen = t.citizen.expose();
    let version = i32::try_from(event.version).map_err(|_| StoreError::Conflict { expected: 0 })?;
    let requested = state.state == State::Requested;
    let state_json = to_json(state);
    let written = if version == 1 {
        tx.execute(
            "INSERT INTO consents (id, citizen, version, requested, state) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (id) DO NOTHING",
            &[&id, &citizen, &version, &requested, &state_json],
        )
        .await
    } else {
        tx.execute(
            "UPDATE consents SET version = $3, requested = $4, state = $5 WHERE id = $1 AND version = $2",
            &[&id, &(version - 1), &version, &requested, &state_json],
        )
        .await
    }
    .map_err(db_error)?;
    if written != 1 {
        return Err(StoreError::Conflict { expected: event.version - 1 });
    }
    tx.execute(
        "INSERT INTO consent_events (consent_id, version, event) VALUES ($1, $2, $3)",
        &[&id, &version, &to_json(event)],
    )
    .await
    .map_err(db_error)?;
    tx.execute("DELETE FROM active_index WHERE consent_id = $1", &[&id]).await.map_err(db_error)?;
    if state.state == State::Active {
        let categories: Vec<&str> = t.categories.iter().map(|c| c.as_str()).collect();
        tx.execute(
            "INSERT INTO active_index (citizen, grantee, purpose, category, consent_id) \
             SELECT $1, $2, $3, c, $5 FROM unnest($4::text[]) AS c ON CONFLICT DO NOTHING",
            &[&citizen, &t.grantee.as_str(), &t.purpose.as_str(), &categories, &id],
        )
        .await
        .map_err(db_error)?;
    }
    if let Some(body) = text_body {
        tx.execute(
            "INSERT INTO texts (sha256, body) VALUES ($1, $2) ON CONFLICT (sha256) DO UPDATE SET body = excluded.body",
            &[&t.text.sha256, &body],
        )
        .await
        .map_err(db_error)?;
    }
    write_outbox(tx, &audit).await
}

/// Writes exported consents with their events and active index (a consent already stored
/// fails the transaction on its primary key).
async fn import_consents_rows(tx: &Tx<'_>, rows: &[(Consent, Vec<ConsentEvent>)]) -> Result<(), StoreError> {
    for (state, events) in rows {
        let id: Uuid = state.id.0;
        let t = &state.terms;
        let citizen = t.citizen.expose();
        let version = i32::try_from(state.version).map_err(|_| StoreError::Conflict { expected: 0 })?;
        tx.execute(
            "INSERT INTO consents (id, citizen, version, requested, state) VALUES ($1, $2, $3, $4, $5)",
            &[&id, &citizen, &version, &(state.state == State::Requested), &to_json(state)],
        )
        .await
        .map_err(db_error)?;
        let versions: Vec<i32> = events.iter().map(|e| e.version as i32).collect();
        let jsons: Vec<Vec<u8>> = events.iter().map(to_json).collect();
        tx.execute(
            "INSERT INTO consent_events (consent_id, version, event) SELECT $1, v, e FROM unnest($2::integer[], $3::bytea[]) AS x(v, e)",
            &[&id, &versions, &jsons],
        )
        .await
        .map_err(db_error)?;
        if state.state == State::Active {
            let categories: Vec<&str> = t.categories.iter().map(|c| c.as_str()).collect();
            tx.execute(
                "INSERT INTO active_index (citizen, grantee, purpose, category, consent_id) \
                 SELECT $1, $2, $3, c, $5 FROM unnest($4::text[]) AS c ON CONFLICT DO NOTHING",
                &[&citizen, &t.grantee.as_str(), &t.purpose.as_str(), &categories, &id],
            )
            .await
            .map_err(db_error)?;
        }
    }
    Ok(())
}

/// Writes exported blocks with their events (a block already stored fails the transaction).
async fn import_blocks_rows(tx: &Tx<'_>, rows: &[(Block, Vec<BlockEvent>)]) -> Result<(), StoreError> {
    for (state, events) in rows {
        let version = i32::try_from(state.version).map_err(|_| StoreError::Conflict { expected: 0 })?;
        tx.execute(
            "INSERT INTO blocks (id, citizen, version, active, state) VALUES ($1, $2, $3, $4, $5)",
            &[&state.id.0, &state.citizen.expose(), &version, &state.is_active(), &to_json(state)],
        )
        .await
        .map_err(db_error)?;
        let versions: Vec<i32> = events.iter().map(|e| e.version as i32).collect();
        let jsons: Vec<Vec<u8>> = events.iter().map(to_json).collect();
        tx.execute(
            "INSERT INTO block_events (block_id, version, event) SELECT $1, v, e FROM unnest($2::integer[], $3::bytea[]) AS x(v, e)",
            &[&state.id.0, &versions, &jsons],
        )
        .await
        .map_err(db_error)?;
    }
    Ok(())
}

async fn write_outbox(tx: &Tx<'_>, audit: &OutboxEntry<'_>) -> Result<(), StoreError> {
    let citizen: Option<&[u8]> = audit.citizen.as_ref().map(|c| &c[..]);
    let n = tx
        .execute(
            "INSERT INTO audit_outbox (id, citizen, leaf) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
            &[&audit.id.0, &citizen, &audit.leaf],
        )
        .await
        .map_err(db_error)?;
    if n != 1 {
        return Err(StoreError::Corrupt("an audit outbox id was used twice".into()));
    }
    Ok(())
}

#[async_trait::async_trait]
impl Store for PgStore {
    async fn commit_consent(&self, change: ConsentChange<'_>) -> Result<(), StoreError> {
        self.import_consents(std::slice::from_ref(&change)).await
    }

    async fn import_consents(&self, changes: &[ConsentChange<'_>]) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        for c in changes {
            write_consent(&tx, c).await?;
        }
        // An error of the commit itself means the outcome is unknown: the caller treats it
        // like any failure (nothing acknowledged) and reads again before retrying.
        let outcome = commit_within(tx, self.commit_limit).await;
        settle(client, outcome)
    }

    async fn commit_block(&self, event: &BlockEvent, state: &Block, audit: OutboxEntry<'_>) -> Result<(), StoreError> {
        if state.version != event.version || event.version == 0 {
            return Err(StoreError::Conflict { expected: event.version.saturating_sub(1) });
        }
        let version = i32::try_from(event.version).map_err(|_| StoreError::Conflict { expected: 0 })?;
        let id = state.id.0;
        let citizen = state.citizen.expose().to_owned();
        let active = state.is_active();
        let state_json = to_json(state);
        let event_json = to_json(event);
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        {
            let written = if version == 1 {
                tx.execute(
                    "INSERT INTO blocks (id, citizen, version, active, state) VALUES ($1, $2, $3, $4, $5) \
                         ON CONFLICT (id) DO NOTHING",
                    &[&id, &citizen, &version, &active, &state_json],
                )
                .await
            } else {
                tx.execute(
                    "UPDATE blocks SET version = $3, active = $4, state = $5 WHERE id = $1 AND version = $2",
                    &[&id, &(version - 1), &version, &active, &state_json],
                )
                .await
            }
            .map_err(db_error)?;
            if written != 1 {
                return Err(StoreError::Conflict { expected: (version - 1) as u32 });
            }
            tx.execute(
                "INSERT INTO block_events (block_id, version, event) VALUES ($1, $2, $3)",
                &[&id, &version, &event_json],
            )
            .await
            .map_err(db_error)?;
            write_outbox(&tx, &audit).await?;
        }
        let outcome = commit_within(tx, self.commit_limit).await;
        settle(client, outcome)
    }

    async fn consent(&self, id: ConsentId) -> Result<Option<Consent>, StoreError> {
        Ok(self.consents_where("SELECT state FROM consents WHERE id = $1", &[&id.0]).await?.pop())
    }

    async fn consent_events(&self, id: ConsentId) -> Result<Vec<ConsentEvent>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query("SELECT event FROM consent_events WHERE consent_id = $1 ORDER BY version", &[&id.0])
            .await
            .map_err(db_error)?;
        rows.iter().map(|r| from_json(r.get::<_, &[u8]>(0))).collect()
    }

    async fn consents_of(&self, citizen: &Cpr) -> Result<Vec<Consent>, StoreError> {
        self.consents_where("SELECT state FROM consents WHERE citizen = $1 ORDER BY id", &[&citizen.expose()]).await
    }

    async fn active_for(
        &self,
        citizen: &Cpr,
        grantees: &[UnitId],
        purpose: &Purpose,
        category: &Category,
    ) -> Result<Vec<Consent>, StoreError> {
        if grantees.is_empty() {
            return Ok(Vec::new());
        }
        let grantees: Vec<&str> = grantees.iter().map(|g| g.as_str()).collect();
        self.consents_where(
            "SELECT c.state FROM active_index a JOIN consents c ON c.id = a.consent_id \
             WHERE a.citizen = $1 AND a.grantee = ANY($2) AND a.purpose = $3 AND a.category = $4 \
             ORDER BY a.grantee, a.consent_id",
            &[&citizen.expose(), &grantees, &purpose.as_str(), &category.as_str()],
        )
        .await
    }

    /// One query for every category, in `active_for`'s order per category.
    async fn active_for_each(
        &self,
        citizen: &Cpr,
        grantees: &[UnitId],
        purpose: &Purpose,
        categories: &[Category],
    ) -> Result<Vec<Vec<Consent>>, StoreError> {
        let mut out: Vec<Vec<Consent>> = vec![Vec::new(); categories.len()];
        if grantees.is_empty() || categories.is_empty() {
            return Ok(out);
        }
        let grantees: Vec<&str> = grantees.iter().map(|g| g.as_str()).collect();
        let names: Vec<&str> = categories.iter().map(|c| c.as_str()).collect();
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT a.category, c.state FROM active_index a JOIN consents c ON c.id = a.consent_id \
                 WHERE a.citizen = $1 AND a.grantee = ANY($2) AND a.purpose = $3 AND a.category = ANY($4) \
                 ORDER BY a.grantee, a.consent_id",
                &[&citizen.expose(), &grantees, &purpose.as_str(), &names],
            )
            .await
            .map_err(db_error)?;
        for r in &rows {
            let name: &str = r.get(0);
            let consent: Consent = from_json(r.get::<_, &[u8]>(1))?;
            for (i, _) in categories.iter().enumerate().filter(|(_, c)| c.as_str() == name) {
                out[i].push(consent.clone());
            }
        }
        Ok(out)
    }

    async fn requested_of(&self, citizen: &Cpr) -> Result<Vec<Consent>, StoreError> {
        self.consents_where(
            "SELECT state FROM consents WHERE citizen = $1 AND requested ORDER BY id",
            &[&citizen.expose()],
        )
        .await
    }

    async fn block(&self, id: BlockId) -> Result<Option<Block>, StoreError> {
        let client = self.client().await?;
        let row = client.query_opt("SELECT state FROM blocks WHERE id = $1", &[&id.0]).await.map_err(db_error)?;
        row.map(|r| from_json(r.get::<_, &[u8]>(0))).transpose()
    }

    async fn active_blocks(&self, citizen: &Cpr) -> Result<Vec<Block>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query("SELECT state FROM blocks WHERE citizen = $1 AND active ORDER BY id", &[&citizen.expose()])
            .await
            .map_err(db_error)?;
        rows.iter().map(|r| from_json(r.get::<_, &[u8]>(0))).collect()
    }

    async fn text(&self, sha256: &str) -> Result<Option<String>, StoreError> {
        let client = self.client().await?;
        let row = client.query_opt("SELECT body FROM texts WHERE sha256 = $1", &[&sha256]).await.map_err(db_error)?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn consent_ids(&self) -> Result<Vec<ConsentId>, StoreError> {
        let client = self.client().await?;
        let rows = client.query("SELECT id FROM consents ORDER BY id", &[]).await.map_err(db_error)?;
        Ok(rows.iter().map(|r| ConsentId(r.get(0))).collect())
    }

    async fn audit_append(&self, batch: AuditBatch<'_>) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        audit::append(&tx, batch).await?;
        let outcome = commit_within(tx, self.commit_limit).await;
        settle(client, outcome)
    }

    async fn audit_outbox(&self, limit: usize) -> Result<Vec<PendingAudit>, StoreError> {
        audit::outbox(&*self.client().await?, limit).await
    }

    async fn audit_size(&self) -> Result<u64, StoreError> {
        audit::head(&*self.client().await?).await.map(|(size, _)| size)
    }

    async fn audit_leaves(&self, start: u64, end: u64) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        audit::leaves(&*self.client().await?, start, end).await
    }

    async fn audit_nodes(&self, keys: &[(u8, u64)]) -> Result<Vec<Option<[u8; 32]>>, StoreError> {
        audit::nodes(&*self.client().await?, keys).await
    }

    async fn audit_checkpoints(&self, start: u64, end: u64) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        audit::checkpoints(&*self.client().await?, start, end).await
    }

    async fn audit_latest_checkpoint(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        audit::checkpoint_at_or_below(&*self.client().await?, u64::MAX).await
    }

    async fn audit_checkpoint_at_or_below(&self, tree_size: u64) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        audit::checkpoint_at_or_below(&*self.client().await?, tree_size).await
    }

    async fn audit_citizen_leaves(
        &self,
        citizen: &[u8; 32],
        before: u64,
        limit: usize,
    ) -> Result<Vec<u64>, StoreError> {
        audit::citizen_leaves(&*self.client().await?, citizen, before, limit).await
    }

    async fn audit_prune(&self, prune: AuditPrune<'_>) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        audit::prune(&tx, prune).await?;
        let outcome = commit_within(tx, self.commit_limit).await;
        settle(client, outcome)
    }

    async fn audit_pruned_below(&self) -> Result<u64, StoreError> {
        audit::head(&*self.client().await?).await.map(|(_, pruned)| pruned)
    }

    /// A write that touches no consent or audit data: it succeeds only if the primary takes
    /// a durable (with a synchronous standby: replicated) commit now.
    async fn ping(&self) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        tx.execute("UPDATE store_heartbeat SET beats = beats + 1", &[]).await.map_err(db_error)?;
        let outcome = commit_within(tx, self.commit_limit).await;
        settle(client, outcome)
    }

    async fn consents_after(&self, after: Option<ConsentId>, limit: usize) -> Result<Vec<Consent>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        match after {
            None => self.consents_where("SELECT state FROM consents ORDER BY id LIMIT $1", &[&limit]).await,
            Some(a) => {
                self.consents_where("SELECT state FROM consents WHERE id > $1 ORDER BY id LIMIT $2", &[&a.0, &limit])
                    .await
            }
        }
    }

    async fn blocks_after(&self, after: Option<BlockId>, limit: usize) -> Result<Vec<Block>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let client = self.client().await?;
        let rows = match after {
            None => client.query("SELECT state FROM blocks ORDER BY id LIMIT $1", &[&limit]).await,
            Some(a) => {
                client.query("SELECT state FROM blocks WHERE id > $1 ORDER BY id LIMIT $2", &[&a.0, &limit]).await
            }
        }
        .map_err(db_error)?;
        rows.iter().map(|r| from_json(r.get::<_, &[u8]>(0))).collect()
    }

    async fn block_events(&self, id: BlockId) -> Result<Vec<BlockEvent>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query("SELECT event FROM block_events WHERE block_id = $1 ORDER BY version", &[&id.0])
            .await
            .map_err(db_error)?;
        rows.iter().map(|r| from_json(r.get::<_, &[u8]>(0))).collect()
    }

    async fn texts_after(&self, after: Option<&str>, limit: usize) -> Result<Vec<(String, String)>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let client = self.client().await?;
        // Byte order of the digest, whatever the database's collation.
        let rows = match after {
            None => client.query("SELECT sha256, body FROM texts ORDER BY sha256 COLLATE \"C\" LIMIT $1", &[&limit]).await,
            Some(a) => {
                client
                    .query(
                        "SELECT sha256, body FROM texts WHERE sha256 > $1 COLLATE \"C\" ORDER BY sha256 COLLATE \"C\" LIMIT $2",
                        &[&a, &limit],
                    )
                    .await
            }
        }
        .map_err(db_error)?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    async fn audit_citizens_after(
        &self,
        after: Option<([u8; 32], u64)>,
        limit: usize,
    ) -> Result<Vec<([u8; 32], u64)>, StoreError> {
        audit::citizens_after(&*self.client().await?, after, limit).await
    }

    async fn import(&self, rows: Import<'_>) -> Result<(), StoreError> {
        rows.check()?;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        match rows {
            Import::Texts(texts) => {
                for (sha, body) in texts {
                    tx.execute(
                        "INSERT INTO texts (sha256, body) VALUES ($1, $2) ON CONFLICT (sha256) DO UPDATE SET body = excluded.body",
                        &[sha, body],
                    )
                    .await
                    .map_err(db_error)?;
                }
            }
            Import::Consents(rows) => import_consents_rows(&tx, rows).await?,
            Import::Blocks(rows) => import_blocks_rows(&tx, rows).await?,
            Import::AuditOutbox(rows) => audit::import_outbox(&tx, rows).await?,
            Import::AuditCitizens(rows) => audit::import_citizens(&tx, rows).await?,
        }
        let outcome = commit_within(tx, self.commit_limit).await;
        settle(client, outcome)
    }
}
