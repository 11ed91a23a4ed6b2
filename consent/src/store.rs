//! The storage trait every consent and audit write goes through.
//!
//! The trait is shaped so that a PostgreSQL adapter can implement it: every method is
//! async, a write is one transaction (event + derived state + indexes, with an optimistic
//! version check), and no engine type appears in a signature. A write returns only once
//! it is durable.
//!
//! The audit log ([`crate::audit`]) keeps three relations here: leaves (record bytes by
//! index), nodes (the hashes of complete subtrees by level and index; level 0 holds the leaf
//! hashes) and checkpoints (signed, by tree size). On PostgreSQL they are three tables
//! with those primary keys; [`Store::audit_append`] is one transaction over all three.
//! Two more serve reads and retention: a per-citizen index (a keyed hash of the CPR number,
//! never the number, and the leaf index) written in the same transaction as the leaves, and
//! the prune watermark below which leaves may have lost their payload (their leaf hashes,
//! level 0 of the nodes, stay, so roots, proofs and verification are unchanged).
//!
//! The audit outbox makes a consent or block change and its audit record one transaction
//! (DESIGN.md invariant 3): every change carries an [`OutboxEntry`] that the store writes together
//! with the event and state; the audit log's writer later moves outbox entries into the
//! Merkle log, deleting them in the same [`Store::audit_append`] transaction as the leaves
//! ([`AuditBatch::outbox`]). A crash between the two leaves the record in the outbox, and
//! [`crate::audit::AuditLog::open`] drains it before answering anything.

#[cfg(feature = "contract")]
pub mod contract;
pub mod copy;
#[cfg(feature = "faults")]
pub mod faulty;
pub mod health_outbox;
pub mod postgres;
#[cfg(feature = "scratch-postgres")]
pub mod scratch_postgres;
mod sled_active;
mod sled_audit;
mod sled_health;
mod sled_sessions;
mod sled_store;
mod sled_sync;

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::block::{Block, BlockEvent};
use crate::cpr::Cpr;
use crate::organisation::UnitId;
use crate::record::{Consent, ConsentEvent, ConsentId};
use crate::vocabulary::{Category, Purpose};

pub use health_outbox::HealthOutbox;
pub use postgres::{PgStore, PostgresOptions};
pub use sled_store::SledStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Someone else changed the record first; read it again and retry.
    #[error("the record changed concurrently (expected version {expected})")]
    Conflict { expected: u32 },
    #[error("the store holds a record it cannot read: {0}")]
    Corrupt(String),
    #[error("the store failed: {0}")]
    Io(String),
    /// An audit batch was built on a stale tree size: another writer (another instance on a
    /// shared database) appended first. The batch was refused whole, nothing was written;
    /// rebuild it on the stored head and try again.
    #[error("the audit log changed concurrently: it holds {stored} records, the batch starts at {first}")]
    AuditMoved { stored: u64, first: u64 },
    /// The store cannot be used as configured (a URL that does not parse, a bad CA file).
    #[error("the store is misconfigured: {0}")]
    Config(String),
    /// The database's schema is newer than this binary knows: it was migrated by a newer
    /// sammen, and this one must not write to it.
    #[error(
        "the database has schema version {found}, newer than version {known} that this sammen knows: run a sammen \
         of that version or later"
    )]
    Schema { found: u32, known: u32 },
}

/// The key of one audit record waiting in the outbox: a UUID v7, so keys sort by creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OutboxId(pub uuid::Uuid);

impl OutboxId {
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Self(uuid::Uuid::now_v7())
    }

    pub fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }
}

impl std::fmt::Display for OutboxId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// The audit record of one change, written in the same transaction as the change: what the
/// audit log's writer needs to append it later without reading anything else.
#[derive(Debug, Clone, Copy)]
pub struct OutboxEntry<'a> {
    pub id: OutboxId,
    /// The record's canonical bytes, exactly as they will be hashed as a leaf.
    pub leaf: &'a [u8],
    /// The record's per-citizen index key (the keyed hash of the CPR number), if any.
    pub citizen: Option<[u8; 32]>,
}

/// An audit record read back from the outbox (see [`Store::audit_outbox`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingAudit {
    pub id: OutboxId,
    pub leaf: Vec<u8>,
    pub citizen: Option<[u8; 32]>,
}

/// One consent change, ready to be written: the event, the state it leads to and the audit
/// record that says so. A change cannot be written without its record.
#[derive(Debug, Clone, Copy)]
pub struct ConsentChange<'a> {
    pub event: &'a ConsentEvent,
    /// `apply(previous, event)`: the store checks `state.version == event.version` and that
    /// the stored version is `event.version - 1`.
    pub state: &'a Consent,
    /// The consent text's body, stored once under its digest.
    pub text_body: Option<&'a str>,
    /// The change's audit record, put in the outbox in the same transaction.
    pub audit: OutboxEntry<'a>,
}

/// The hash of one complete (perfect) subtree of the audit log's Merkle tree: the subtree
/// of `2^level` leaves starting at leaf `index << level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditNode {
    pub level: u8,
    pub index: u64,
    pub hash: [u8; 32],
}

/// One group-committed batch of audit records, written in one transaction.
#[derive(Debug, Clone, Copy)]
pub struct AuditBatch<'a> {
    /// The index of the first new leaf. The store refuses the batch unless this equals the
    /// number of leaves it holds (nobody else appended meanwhile).
    pub first_index: u64,
    /// Each record's canonical bytes, exactly as hashed: leaf `first_index + i`.
    pub leaves: &'a [Vec<u8>],
    /// The subtrees completed by these leaves (including the leaves' own hashes, level 0).
    pub nodes: &'a [AuditNode],
    /// The signed checkpoint for the new tree size `first_index + leaves.len()`, encoded by
    /// the audit log; stored under that tree size.
    pub checkpoint: &'a [u8],
    /// The per-citizen index entries of these leaves: (keyed hash of the CPR, leaf index).
    pub citizens: &'a [([u8; 32], u64)],
    /// The outbox entries these leaves come from, deleted in the same transaction. The store
    /// refuses the batch if one of them is no longer in the outbox (someone drained it).
    pub outbox: &'a [OutboxId],
}

/// Retention: leaves `[start, end)` lose their payload (stored as empty bytes), in one
/// transaction that also removes their citizen index entries and raises the prune watermark
/// to `end`. Leaf hashes (nodes of level 0) and everything above them stay.
#[derive(Debug, Clone, Copy)]
pub struct AuditPrune<'a> {
    /// Must equal the stored watermark ([`Store::audit_pruned_below`]): pruning is a prefix.
    pub start: u64,
    /// At most the stored tree size.
    pub end: u64,
    /// The citizen index entries of the pruned leaves.
    pub citizens: &'a [([u8; 32], u64)],
}

/// Rows written as they are by [`Store::import`] (`sammen store copy`): what another store
/// exported, in one transaction per call. Nothing is derived or re-signed; an adapter
/// writes the rows and the indexes it keeps over them, and refuses a consent or block it
/// already holds (an import never overwrites).
#[derive(Debug, Clone, Copy)]
pub enum Import<'a> {
    /// Consent texts: (SHA-256 hex, body).
    Texts(&'a [(String, String)]),
    /// Consents with all their events (versions 1..=n, n the state's version).
    Consents(&'a [(Consent, Vec<ConsentEvent>)]),
    /// Blocks with all their events.
    Blocks(&'a [(Block, Vec<BlockEvent>)]),
    /// Audit records still waiting in the outbox.
    AuditOutbox(&'a [PendingAudit]),
    /// Entries of the per-citizen audit index: (keyed hash of the CPR, leaf index).
    AuditCitizens(&'a [([u8; 32], u64)]),
}

impl Import<'_> {
    /// Checks that every history is whole and in order: events 1..=n of the same record,
    /// n the state's version. A copy moves histories, never parts of them.
    pub fn check(&self) -> Result<(), StoreError> {
        let bad = |what: &str, id: &dyn std::fmt::Display| {
            Err(StoreError::Corrupt(format!("the {what} {id} to import has not all its events in order")))
        };
        match self {
            Import::Consents(rows) => {
                for (state, events) in rows.iter() {
                    let ok = !events.is_empty()
                        && events.len() == state.version as usize
                        && events.iter().zip(1u32..).all(|(e, v)| e.version == v && e.consent_id == state.id);
                    if !ok {
                        return bad("consent", &state.id);
                    }
                }
            }
            Import::Blocks(rows) => {
                for (state, events) in rows.iter() {
                    let ok = !events.is_empty()
                        && events.len() == state.version as usize
                        && events.iter().zip(1u32..).all(|(e, v)| e.version == v && e.block_id == state.id);
                    if !ok {
                        return bad("block", &state.id);
                    }
                }
            }
            Import::Texts(_) | Import::AuditOutbox(_) | Import::AuditCitizens(_) => {}
        }
        Ok(())
    }
}

#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Writes the event, the new state, the indexes and the change's audit record (in the
    /// outbox) in one transaction; durable on return.
    async fn commit_consent(&self, change: ConsentChange<'_>) -> Result<(), StoreError>;

    /// Writes many changes (each with its audit record) in one transaction and one flush
    /// (bulk import of existing consents, benchmarks). All or nothing; durable on return.
    async fn import_consents(&self, changes: &[ConsentChange<'_>]) -> Result<(), StoreError>;

    /// Writes a block event, the block's new state and the change's audit record (in the
    /// outbox) in one transaction; durable on return.
    async fn commit_block(&self, event: &BlockEvent, state: &Block, audit: OutboxEntry<'_>) -> Result<(), StoreError>;

    async fn consent(&self, id: ConsentId) -> Result<Option<Consent>, StoreError>;

    /// All events of one consent, in order.
    async fn consent_events(&self, id: ConsentId) -> Result<Vec<ConsentEvent>, StoreError>;

    /// Every consent of a citizen, in any state.
    async fn consents_of(&self, citizen: &Cpr) -> Result<Vec<Consent>, StoreError>;

    /// Consents in the recorded state `active` of `citizen` granted to one of `grantees`
    /// for `purpose` and `category`. Time and sub-unit coverage are the caller's to check.
    async fn active_for(
        &self,
        citizen: &Cpr,
        grantees: &[UnitId],
        purpose: &Purpose,
        category: &Category,
    ) -> Result<Vec<Consent>, StoreError>;

    /// [`Store::active_for`] for several categories at once: for each category, in the
    /// order given, exactly what `active_for` answers for it, in the same order. The engines
    /// read once for all of them (a case file asks for several categories).
    async fn active_for_each(
        &self,
        citizen: &Cpr,
        grantees: &[UnitId],
        purpose: &Purpose,
        categories: &[Category],
    ) -> Result<Vec<Vec<Consent>>, StoreError> {
        let mut out = Vec::with_capacity(categories.len());
        for c in categories {
            out.push(self.active_for(citizen, grantees, purpose, c).await?);
        }
        Ok(out)
    }

    /// Consents in the recorded state `requested` of `citizen`.
    async fn requested_of(&self, citizen: &Cpr) -> Result<Vec<Consent>, StoreError>;

    async fn block(&self, id: crate::block::BlockId) -> Result<Option<Block>, StoreError>;

    /// The citizen's blocks that are in force.
    async fn active_blocks(&self, citizen: &Cpr) -> Result<Vec<Block>, StoreError>;

    /// A consent text's body by its SHA-256 (hex).
    async fn text(&self, sha256: &str) -> Result<Option<String>, StoreError>;

    /// Every consent id in the store (for verification and export).
    async fn consent_ids(&self) -> Result<Vec<ConsentId>, StoreError>;

    /// Appends one batch of audit leaves, their completed nodes and the batch's checkpoint in
    /// one transaction, checking `batch.first_index` against the stored size and deleting
    /// `batch.outbox`; durable on return. All or nothing.
    async fn audit_append(&self, batch: AuditBatch<'_>) -> Result<(), StoreError>;

    /// Up to `limit` audit records waiting in the outbox, oldest first. Only the audit log's
    /// writer drains the outbox (one process per sled store); an adapter shared by several
    /// instances (PostgreSQL) must make the drain safe across them: delete the batch's
    /// outbox rows with `delete … returning` in the batch transaction.
    async fn audit_outbox(&self, limit: usize) -> Result<Vec<PendingAudit>, StoreError>;

    /// The number of audit leaves stored (the tree size of the last committed batch).
    async fn audit_size(&self) -> Result<u64, StoreError>;

    /// The stored audit leaves with index in `[start, end)`, in index order, as `(index, bytes)`.
    /// Absent indexes are simply missing from the answer.
    async fn audit_leaves(&self, start: u64, end: u64) -> Result<Vec<(u64, Vec<u8>)>, StoreError>;

    /// The stored node hashes for `(level, index)` keys, in the order asked (`None` if absent).
    async fn audit_nodes(&self, keys: &[(u8, u64)]) -> Result<Vec<Option<[u8; 32]>>, StoreError>;

    /// The stored checkpoints with tree size in `[start, end)`, in order, as `(tree size, bytes)`.
    async fn audit_checkpoints(&self, start: u64, end: u64) -> Result<Vec<(u64, Vec<u8>)>, StoreError>;

    /// The checkpoint with the largest tree size, if any.
    async fn audit_latest_checkpoint(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError>;

    /// The checkpoint with the largest tree size at most `tree_size`, if any.
    async fn audit_checkpoint_at_or_below(&self, tree_size: u64) -> Result<Option<(u64, Vec<u8>)>, StoreError>;

    /// The leaf indexes below `before` indexed under the citizen key `citizen`, newest first,
    /// at most `limit`.
    async fn audit_citizen_leaves(&self, citizen: &[u8; 32], before: u64, limit: usize)
    -> Result<Vec<u64>, StoreError>;

    /// Removes the payload of a prefix of leaves (see [`AuditPrune`]); durable on return.
    async fn audit_prune(&self, prune: AuditPrune<'_>) -> Result<(), StoreError>;

    /// The prune watermark: leaves below it may have an empty payload. 0 when never pruned.
    async fn audit_pruned_below(&self) -> Result<u64, StoreError>;

    /// Whether the store can take a durable write now (what a readiness probe asks); writes
    /// no consent or audit data.
    async fn ping(&self) -> Result<(), StoreError>;

    // --- export and import, for `sammen store copy` (see [`copy`]) ---

    /// Up to `limit` consents with an id after `after` (from the first when `None`), in id
    /// order (the bytes of the UUID).
    async fn consents_after(&self, after: Option<ConsentId>, limit: usize) -> Result<Vec<Consent>, StoreError>;

    /// Up to `limit` blocks with an id after `after`, in id order.
    async fn blocks_after(&self, after: Option<crate::block::BlockId>, limit: usize) -> Result<Vec<Block>, StoreError>;

    /// All events of one block, in order.
    async fn block_events(&self, id: crate::block::BlockId) -> Result<Vec<BlockEvent>, StoreError>;

    /// Up to `limit` consent texts (SHA-256 hex, body) with a digest after `after`, in
    /// byte order of the digest.
    async fn texts_after(&self, after: Option<&str>, limit: usize) -> Result<Vec<(String, String)>, StoreError>;

    /// Up to `limit` entries of the per-citizen audit index after `after`, in (key, index)
    /// order.
    async fn audit_citizens_after(
        &self,
        after: Option<([u8; 32], u64)>,
        limit: usize,
    ) -> Result<Vec<([u8; 32], u64)>, StoreError>;

    /// Writes exported rows as they are, in one transaction (see [`Import`]); durable on
    /// return. Refuses rows that fail [`Import::check`] and records the store already holds.
    async fn import(&self, rows: Import<'_>) -> Result<(), StoreError>;
}

/// Whether a consent is in force for a unit's lineage at `t`.
pub fn covers(c: &Consent, lineage: &[UnitId], t: DateTime<Utc>) -> bool {
    c.in_force_at(t) && c.covers_unit(lineage)
}

/// Server-side web sessions (the citizen portal's sessions and one-use login states): opaque
/// values under opaque keys, each with an expiry. Separate from [`Store`] because sessions
/// are not consent or audit data: losing the last seconds of them in a crash only means
/// logging in again, so a write need not be flushed before it returns.
#[async_trait::async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// Stores `value` under `key` until `expires_at` (replacing any earlier value).
    async fn session_put(&self, key: &str, value: &[u8], expires_at: DateTime<Utc>) -> Result<(), StoreError>;

    /// The value under `key`, unless absent or expired at `now`.
    async fn session_get(&self, key: &str, now: DateTime<Utc>) -> Result<Option<Vec<u8>>, StoreError>;

    /// Removes the value under `key` and returns it (unless expired at `now`), atomically:
    /// of two concurrent takes at most one gets the value (one-use login states).
    async fn session_take(&self, key: &str, now: DateTime<Utc>) -> Result<Option<Vec<u8>>, StoreError>;

    /// Removes every value expired at `now`; returns how many.
    async fn session_purge(&self, now: DateTime<Utc>) -> Result<usize, StoreError>;
}

/// Which engine keeps the data, as configured (`[store]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Engine {
    /// The embedded default: sled, in `<data_dir>/store`.
    Sled(SledOptions),
    /// PostgreSQL, shared by any number of instances.
    Postgres(PostgresOptions),
}

impl Engine {
    /// sled with its default options.
    pub fn sled() -> Self {
        Engine::Sled(SledOptions::default())
    }
}

impl Default for Engine {
    fn default() -> Self {
        Engine::sled()
    }
}

/// The embedded store's options (`[store]` with `kind = "sled"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SledOptions {
    /// The most bytes of pages sled keeps in memory (`[store] cache_mb`). A lookup that
    /// misses it reads the page from disk; size it to the store's working set.
    pub cache_bytes: u64,
}

impl Default for SledOptions {
    /// sled's own default, 1 GiB.
    fn default() -> Self {
        Self { cache_bytes: 1024 * 1024 * 1024 }
    }
}

/// Opens the configured engine over `data_dir`: the one place that names an adapter.
/// PostgreSQL is reached lazily (a database that is down now fails the first call that needs
/// it, and later calls try again); its schema is brought up to date on first use.
pub fn open(engine: &Engine, data_dir: &std::path::Path) -> Result<SharedStore, StoreError> {
    match engine {
        Engine::Sled(options) => {
            let path = data_dir.join("store");
            std::fs::create_dir_all(&path).map_err(|e| StoreError::Io(format!("{}: {e}", path.display())))?;
            let store = SledStore::open_with(&path, *options)?;
            // The decision's trees into the page cache before the first request asks
            // (milliseconds for thousands of consents, seconds for millions).
            let started = std::time::Instant::now();
            let bytes = store.warm()?;
            tracing::info!(
                bytes,
                ms = started.elapsed().as_millis() as u64,
                "store: the lookup index read into the cache"
            );
            Ok(Arc::new(store))
        }
        Engine::Postgres(options) => Ok(Arc::new(PgStore::open(options)?)),
    }
}

/// Brings the engine's schema up to date (`sammen store migrate`); returns the schema
/// version. sled has no schema: `None`.
pub async fn migrate(engine: &Engine) -> Result<Option<u32>, StoreError> {
    match engine {
        Engine::Sled(_) => Ok(None),
        Engine::Postgres(options) => Ok(Some(PgStore::open(options)?.migrate().await?)),
    }
}

/// A store of the default engine that lives in memory only, for tests that say so.
pub fn open_temporary() -> Result<SharedStore, StoreError> {
    Ok(Arc::new(SledStore::temporary()?))
}

/// Everything the gateway keeps: consents, the audit log, sessions and the health outbox, in
/// one engine.
pub trait Backend: Store + SessionStore + HealthOutbox {}

impl<T: Store + SessionStore + HealthOutbox + ?Sized> Backend for T {}

/// A store whose engine was chosen at open time: what the gateway holds, without naming
/// an adapter. Cheap to clone.
pub type SharedStore = Arc<dyn Backend>;

#[async_trait::async_trait]
impl<T: Store + ?Sized> Store for Arc<T> {
    async fn commit_consent(&self, change: ConsentChange<'_>) -> Result<(), StoreError> {
        (**self).commit_consent(change).await
    }
    async fn import_consents(&self, changes: &[ConsentChange<'_>]) -> Result<(), StoreError> {
        (**self).import_consents(changes).await
    }
    async fn commit_block(&self, event: &BlockEvent, state: &Block, audit: OutboxEntry<'_>) -> Result<(), StoreError> {
        (**self).commit_block(event, state, audit).await
    }
    async fn consent(&self, id: ConsentId) -> Result<Option<Consent>, StoreError> {
        (**self).consent(id).await
    }
    async fn consent_events(&self, id: ConsentId) -> Result<Vec<ConsentEvent>, StoreError> {
        (**self).consent_events(id).await
    }
    async fn consents_of(&self, citizen: &Cpr) -> Result<Vec<Consent>, StoreError> {
        (**self).consents_of(citizen).await
    }
    async fn active_for(
        &self,
        citizen: &Cpr,
        grantees: &[UnitId],
        purpose: &Purpose,
        category: &Category,
    ) -> Result<Vec<Consent>, StoreError> {
        (**self).active_for(citizen, grantees, purpose, category).await
    }
    async fn active_for_each(
        &self,
        citizen: &Cpr,
        grantees: &[UnitId],
        purpose: &Purpose,
        categories: &[Category],
    ) -> Result<Vec<Vec<Consent>>, StoreError> {
        (**self).active_for_each(citizen, grantees, purpose, categories).await
    }
    async fn requested_of(&self, citizen: &Cpr) -> Result<Vec<Consent>, StoreError> {
        (**self).requested_of(citizen).await
    }
    async fn block(&self, id: crate::block::BlockId) -> Result<Option<Block>, StoreError> {
        (**self).block(id).await
    }
    async fn active_blocks(&self, citizen: &Cpr) -> Result<Vec<Block>, StoreError> {
        (**self).active_blocks(citizen).await
    }
    async fn text(&self, sha256: &str) -> Result<Option<String>, StoreError> {
        (**self).text(sha256).await
    }
    async fn consent_ids(&self) -> Result<Vec<ConsentId>, StoreError> {
        (**self).consent_ids().await
    }
    async fn audit_append(&self, batch: AuditBatch<'_>) -> Result<(), StoreError> {
        (**self).audit_append(batch).await
    }
    async fn audit_outbox(&self, limit: usize) -> Result<Vec<PendingAudit>, StoreError> {
        (**self).audit_outbox(limit).await
    }
    async fn audit_size(&self) -> Result<u64, StoreError> {
        (**self).audit_size().await
    }
    async fn audit_leaves(&self, start: u64, end: u64) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        (**self).audit_leaves(start, end).await
    }
    async fn audit_nodes(&self, keys: &[(u8, u64)]) -> Result<Vec<Option<[u8; 32]>>, StoreError> {
        (**self).audit_nodes(keys).await
    }
    async fn audit_checkpoints(&self, start: u64, end: u64) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        (**self).audit_checkpoints(start, end).await
    }
    async fn audit_latest_checkpoint(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        (**self).audit_latest_checkpoint().await
    }
    async fn audit_checkpoint_at_or_below(&self, tree_size: u64) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        (**self).audit_checkpoint_at_or_below(tree_size).await
    }
    async fn audit_citizen_leaves(
        &self,
        citizen: &[u8; 32],
        before: u64,
        limit: usize,
    ) -> Result<Vec<u64>, StoreError> {
        (**self).audit_citizen_leaves(citizen, before, limit).await
    }
    async fn audit_prune(&self, prune: AuditPrune<'_>) -> Result<(), StoreError> {
        (**self).audit_prune(prune).await
    }
    async fn audit_pruned_below(&self) -> Result<u64, StoreError> {
        (**self).audit_pruned_below().await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        (**self).ping().await
    }
    async fn consents_after(&self, after: Option<ConsentId>, limit: usize) -> Result<Vec<Consent>, StoreError> {
        (**self).consents_after(after, limit).await
    }
    async fn blocks_after(&self, after: Option<crate::block::BlockId>, limit: usize) -> Result<Vec<Block>, StoreError> {
        (**self).blocks_after(after, limit).await
    }
    async fn block_events(&self, id: crate::block::BlockId) -> Result<Vec<BlockEvent>, StoreError> {
        (**self).block_events(id).await
    }
    async fn texts_after(&self, after: Option<&str>, limit: usize) -> Result<Vec<(String, String)>, StoreError> {
        (**self).texts_after(after, limit).await
    }
    async fn audit_citizens_after(
        &self,
        after: Option<([u8; 32], u64)>,
        limit: usize,
    ) -> Result<Vec<([u8; 32], u64)>, StoreError> {
        (**self).audit_citizens_after(after, limit).await
    }
    async fn import(&self, rows: Import<'_>) -> Result<(), StoreError> {
        (**self).import(rows).await
    }
}

#[async_trait::async_trait]
impl<T: SessionStore + ?Sized> SessionStore for Arc<T> {
    async fn session_put(&self, key: &str, value: &[u8], expires_at: DateTime<Utc>) -> Result<(), StoreError> {
        (**self).session_put(key, value, expires_at).await
    }
    async fn session_get(&self, key: &str, now: DateTime<Utc>) -> Result<Option<Vec<u8>>, StoreError> {
        (**self).session_get(key, now).await
    }
    async fn session_take(&self, key: &str, now: DateTime<Utc>) -> Result<Option<Vec<u8>>, StoreError> {
        (**self).session_take(key, now).await
    }
    async fn session_purge(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        (**self).session_purge(now).await
    }
}
