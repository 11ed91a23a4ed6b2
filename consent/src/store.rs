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

mod sled_audit;
mod sled_sessions;
mod sled_store;

use std::future::Future;

use chrono::{DateTime, Utc};

use crate::block::{Block, BlockEvent};
use crate::cpr::Cpr;
use crate::organisation::UnitId;
use crate::record::{Consent, ConsentEvent, ConsentId};
use crate::vocabulary::{Category, Purpose};

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
}

/// One consent change, ready to be written: the event and the state it leads to.
#[derive(Debug, Clone, Copy)]
pub struct ConsentChange<'a> {
    pub event: &'a ConsentEvent,
    /// `apply(previous, event)`: the store checks `state.version == event.version` and that
    /// the stored version is `event.version - 1`.
    pub state: &'a Consent,
    /// The consent text's body, stored once under its digest.
    pub text_body: Option<&'a str>,
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

pub trait Store: Send + Sync + 'static {
    /// Writes the event, the new state and the indexes in one transaction; durable on return.
    fn commit_consent(&self, change: ConsentChange<'_>) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Writes many changes in one transaction and one flush (bulk import of existing
    /// consents, benchmarks). All or nothing; durable on return.
    fn import_consents(&self, changes: &[ConsentChange<'_>]) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Writes a block event and the block's new state; durable on return.
    fn commit_block(&self, event: &BlockEvent, state: &Block) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn consent(&self, id: ConsentId) -> impl Future<Output = Result<Option<Consent>, StoreError>> + Send;

    /// All events of one consent, in order.
    fn consent_events(&self, id: ConsentId) -> impl Future<Output = Result<Vec<ConsentEvent>, StoreError>> + Send;

    /// Every consent of a citizen, in any state.
    fn consents_of(&self, citizen: &Cpr) -> impl Future<Output = Result<Vec<Consent>, StoreError>> + Send;

    /// Consents in the recorded state `active` of `citizen` granted to one of `grantees`
    /// for `purpose` and `category`. Time and sub-unit coverage are the caller's to check.
    fn active_for(
        &self,
        citizen: &Cpr,
        grantees: &[UnitId],
        purpose: &Purpose,
        category: &Category,
    ) -> impl Future<Output = Result<Vec<Consent>, StoreError>> + Send;

    /// Consents in the recorded state `requested` of `citizen`.
    fn requested_of(&self, citizen: &Cpr) -> impl Future<Output = Result<Vec<Consent>, StoreError>> + Send;

    fn block(&self, id: crate::block::BlockId) -> impl Future<Output = Result<Option<Block>, StoreError>> + Send;

    /// The citizen's blocks that are in force.
    fn active_blocks(&self, citizen: &Cpr) -> impl Future<Output = Result<Vec<Block>, StoreError>> + Send;

    /// A consent text's body by its SHA-256 (hex).
    fn text(&self, sha256: &str) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    /// Every consent id in the store (for verification and export).
    fn consent_ids(&self) -> impl Future<Output = Result<Vec<ConsentId>, StoreError>> + Send;

    /// Appends one batch of audit leaves, their completed nodes and the batch's checkpoint in
    /// one transaction, checking `batch.first_index` against the stored size; durable on
    /// return. All or nothing.
    fn audit_append(&self, batch: AuditBatch<'_>) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The number of audit leaves stored (the tree size of the last committed batch).
    fn audit_size(&self) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// The stored audit leaves with index in `[start, end)`, in index order, as `(index, bytes)`.
    /// Absent indexes are simply missing from the answer.
    fn audit_leaves(
        &self,
        start: u64,
        end: u64,
    ) -> impl Future<Output = Result<Vec<(u64, Vec<u8>)>, StoreError>> + Send;

    /// The stored node hashes for `(level, index)` keys, in the order asked (`None` if absent).
    fn audit_nodes(&self, keys: &[(u8, u64)])
    -> impl Future<Output = Result<Vec<Option<[u8; 32]>>, StoreError>> + Send;

    /// The stored checkpoints with tree size in `[start, end)`, in order, as `(tree size, bytes)`.
    fn audit_checkpoints(
        &self,
        start: u64,
        end: u64,
    ) -> impl Future<Output = Result<Vec<(u64, Vec<u8>)>, StoreError>> + Send;

    /// The checkpoint with the largest tree size, if any.
    fn audit_latest_checkpoint(&self) -> impl Future<Output = Result<Option<(u64, Vec<u8>)>, StoreError>> + Send;

    /// The checkpoint with the largest tree size at most `tree_size`, if any.
    fn audit_checkpoint_at_or_below(
        &self,
        tree_size: u64,
    ) -> impl Future<Output = Result<Option<(u64, Vec<u8>)>, StoreError>> + Send;

    /// The leaf indexes below `before` indexed under the citizen key `citizen`, newest first,
    /// at most `limit`.
    fn audit_citizen_leaves(
        &self,
        citizen: &[u8; 32],
        before: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<u64>, StoreError>> + Send;

    /// Removes the payload of a prefix of leaves (see [`AuditPrune`]); durable on return.
    fn audit_prune(&self, prune: AuditPrune<'_>) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The prune watermark: leaves below it may have an empty payload. 0 when never pruned.
    fn audit_pruned_below(&self) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// Whether a consent is in force for a unit's lineage at `t`.
pub fn covers(c: &Consent, lineage: &[UnitId], t: DateTime<Utc>) -> bool {
    c.in_force_at(t) && c.covers_unit(lineage)
}

/// Server-side web sessions (the citizen portal's sessions and one-use login states): opaque
/// values under opaque keys, each with an expiry. Separate from [`Store`] because sessions
/// are not consent or audit data: losing the last seconds of them in a crash only means
/// logging in again, so a write need not be flushed before it returns.
pub trait SessionStore: Send + Sync + 'static {
    /// Stores `value` under `key` until `expires_at` (replacing any earlier value).
    fn session_put(
        &self,
        key: &str,
        value: &[u8],
        expires_at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The value under `key`, unless absent or expired at `now`.
    fn session_get(
        &self,
        key: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, StoreError>> + Send;

    /// Removes the value under `key` and returns it (unless expired at `now`), atomically:
    /// of two concurrent takes at most one gets the value (one-use login states).
    fn session_take(
        &self,
        key: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, StoreError>> + Send;

    /// Removes every value expired at `now`; returns how many.
    fn session_purge(&self, now: DateTime<Utc>) -> impl Future<Output = Result<usize, StoreError>> + Send;
}
