//! Retention: the payload of records older than the retention period is removed, while
//! their leaf hashes stay, so the tree, its roots, old checkpoints and proofs are unchanged
//! and [`verify_store`](super::verify_store) still passes (it takes a pruned leaf's stored
//! hash instead of recomputing it).
//!
//! Pruning removes a prefix `[0, k)` of the log: `k` is the tree size of the last
//! checkpoint signed before the cutoff, so every pruned record is older than the cutoff
//! (records are stamped before the batch that holds them is signed). The store keeps the
//! watermark `k`; the verifier accepts an empty payload below it and nowhere else, so a
//! record cannot be "pruned" out of the middle of the log unnoticed.

use chrono::{DateTime, Utc};

use super::merkle::leaf_hash;
use super::{AuditError, AuditLog};
use crate::store::{AuditPrune, Store};

/// Leaves pruned per transaction.
const CHUNK: u64 = 1024;

/// What one pruning run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PruneReport {
    /// Leaves below this index have no payload now.
    pub pruned_below: u64,
    /// Leaves this run pruned.
    pub pruned: u64,
}

impl<S: Store> AuditLog<S> {
    /// Removes the payload of every record older than `cutoff` (in transactions of at most
    /// 1,024 leaves, each durable). Before a leaf is pruned its bytes are checked against
    /// its stored leaf hash: an altered record is reported, not pruned away.
    pub async fn prune_older_than(&self, cutoff: DateTime<Utc>) -> Result<PruneReport, AuditError> {
        let store = self.store();
        let start = store.audit_pruned_below().await?;
        let end = self.size_before(cutoff).await?;
        let mut at = start;
        while at < end {
            let chunk_end = (at + CHUNK).min(end);
            let leaves = store.audit_leaves(at, chunk_end).await?;
            let keys: Vec<(u8, u64)> = (at..chunk_end).map(|i| (0, i)).collect();
            let hashes = store.audit_nodes(&keys).await?;
            if leaves.len() as u64 != chunk_end - at {
                return Err(AuditError::Corrupt(format!("records are missing in [{at}, {chunk_end})")));
            }
            let mut citizens = Vec::new();
            for ((index, bytes), stored) in leaves.iter().zip(hashes) {
                if stored != Some(leaf_hash(bytes)) {
                    return Err(AuditError::Corrupt(format!(
                        "record {index} does not match its stored leaf hash; not pruning it (run `sammen audit verify`)"
                    )));
                }
                let r: super::AuditRecord = serde_json::from_slice(bytes)
                    .map_err(|e| AuditError::Corrupt(format!("record {index} does not read: {e}")))?;
                if let Some(c) = &r.citizen {
                    citizens.push((self.citizens.key_of(c), *index));
                }
            }
            store.audit_prune(AuditPrune { start: at, end: chunk_end, citizens: &citizens }).await?;
            at = chunk_end;
        }
        Ok(PruneReport { pruned_below: at.max(start), pruned: at - start })
    }
}
