//! The audit log's part of the sled store.
//!
//! Trees (keys big-endian, so iteration is index order):
//!
//! | tree                | key                       | value                         |
//! |---------------------|---------------------------|-------------------------------|
//! | `audit_leaves`      | index (u64)               | the record's canonical bytes  |
//! | `audit_nodes`       | level (u8) · index (u64)  | SHA-256 of the subtree (32)   |
//! | `audit_checkpoints` | tree size (u64)           | signed checkpoint (JSON)      |
//! | `audit_citizens`    | citizen key (32) · index  | — (the per-citizen index)     |
//! | `audit_meta`        | `size`                    | number of leaves (u64)        |
//! | `audit_meta`        | `pruned`                  | prune watermark (u64)         |
//! | `audit_outbox`      | outbox id (UUID v7, 16)   | citizen flag · key · leaf     |
//!
//! An outbox value is one byte (1 when a citizen key follows, else 0), the 32-byte citizen
//! key when present, then the record's canonical bytes. Outbox entries are written by the
//! consent and block commits (`sled_store.rs`) in their transactions, and deleted by a
//! batch in its transaction.
//!
//! The citizen key is a keyed hash of the CPR number (computed by the audit log), never
//! the number. A pruned leaf's value is empty (no record has empty canonical bytes).
//!
//! A batch is one multi-tree transaction (checking `size` first) followed by one flush; so
//! is a prune (checking `pruned` first).

use sled::Transactional;
use sled::transaction::ConflictableTransactionError;

use super::{AuditBatch, AuditPrune, OutboxEntry, OutboxId, PendingAudit, StoreError};

const SIZE: &[u8] = b"size";
const PRUNED: &[u8] = b"pruned";

/// The audit trees. Cheap to clone.
#[derive(Clone)]
pub(super) struct AuditTrees {
    leaves: sled::Tree,
    nodes: sled::Tree,
    checkpoints: sled::Tree,
    citizens: sled::Tree,
    meta: sled::Tree,
    /// Written inside the consent and block transactions of `sled_store.rs`.
    pub(super) outbox: sled::Tree,
}

/// The stored value of an outbox entry.
pub(super) fn encode_outbox(entry: &OutboxEntry<'_>) -> Vec<u8> {
    let mut v = Vec::with_capacity(33 + entry.leaf.len());
    match &entry.citizen {
        Some(c) => {
            v.push(1);
            v.extend_from_slice(c);
        }
        None => v.push(0),
    }
    v.extend_from_slice(entry.leaf);
    v
}

fn decode_outbox(key: &[u8], value: &[u8]) -> Result<PendingAudit, StoreError> {
    let bad = || StoreError::Corrupt("an audit outbox entry does not read".into());
    let id: [u8; 16] = key.try_into().map_err(|_| bad())?;
    let (citizen, leaf) = match value.split_first() {
        Some((0, leaf)) => (None, leaf),
        Some((1, rest)) if rest.len() >= 32 => {
            let (c, leaf) = rest.split_at(32);
            (Some(c.try_into().map_err(|_| bad())?), leaf)
        }
        _ => return Err(bad()),
    };
    if leaf.is_empty() {
        return Err(bad());
    }
    Ok(PendingAudit { id: OutboxId(uuid::Uuid::from_bytes(id)), leaf: leaf.to_vec(), citizen })
}

fn citizen_key(citizen: &[u8; 32], index: u64) -> [u8; 40] {
    let mut k = [0u8; 40];
    k[..32].copy_from_slice(citizen);
    k[32..].copy_from_slice(&index.to_be_bytes());
    k
}

fn node_key(level: u8, index: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = level;
    k[1..].copy_from_slice(&index.to_be_bytes());
    k
}

fn decode_u64(b: &[u8], what: &str) -> Result<u64, StoreError> {
    let a: [u8; 8] = b.try_into().map_err(|_| StoreError::Corrupt(format!("audit {what} is not 8 bytes")))?;
    Ok(u64::from_be_bytes(a))
}

impl AuditTrees {
    pub(super) fn open(db: &sled::Db) -> Result<Self, StoreError> {
        Ok(Self {
            leaves: db.open_tree("audit_leaves")?,
            nodes: db.open_tree("audit_nodes")?,
            checkpoints: db.open_tree("audit_checkpoints")?,
            citizens: db.open_tree("audit_citizens")?,
            meta: db.open_tree("audit_meta")?,
            outbox: db.open_tree("audit_outbox")?,
        })
    }

    /// Writes the batch in one transaction; the caller flushes.
    pub(super) fn append(&self, batch: &AuditBatch<'_>) -> Result<(), StoreError> {
        let count = batch.leaves.len() as u64;
        let new_size =
            batch.first_index.checked_add(count).ok_or_else(|| StoreError::Io("audit size overflow".into()))?;
        (&self.leaves, &self.nodes, &self.checkpoints, &self.citizens, &self.meta, &self.outbox).transaction(
            |(leaves, nodes, checkpoints, citizens, meta, outbox)| {
                let stored = match meta.get(SIZE)? {
                    None => 0,
                    Some(b) => decode_u64(&b, "size").map_err(ConflictableTransactionError::Abort)?,
                };
                if stored != batch.first_index {
                    return Err(ConflictableTransactionError::Abort(StoreError::AuditMoved {
                        stored,
                        first: batch.first_index,
                    }));
                }
                for (i, leaf) in batch.leaves.iter().enumerate() {
                    leaves.insert(&(batch.first_index + i as u64).to_be_bytes(), leaf.as_slice())?;
                }
                for n in batch.nodes {
                    nodes.insert(&node_key(n.level, n.index), &n.hash)?;
                }
                for (citizen, index) in batch.citizens {
                    citizens.insert(&citizen_key(citizen, *index)[..], &[])?;
                }
                for id in batch.outbox {
                    if outbox.remove(&id.as_bytes()[..])?.is_none() {
                        return Err(ConflictableTransactionError::Abort(StoreError::Conflict { expected: 0 }));
                    }
                }
                checkpoints.insert(&new_size.to_be_bytes(), batch.checkpoint)?;
                meta.insert(SIZE, &new_size.to_be_bytes())?;
                Ok(())
            },
        )?;
        Ok(())
    }

    /// Empties the payloads of a prefix of leaves in one transaction; the caller flushes.
    pub(super) fn prune(&self, prune: &AuditPrune<'_>) -> Result<(), StoreError> {
        (&self.leaves, &self.citizens, &self.meta).transaction(|(leaves, citizens, meta)| {
            let abort = |m: String| ConflictableTransactionError::Abort(StoreError::Io(m));
            let pruned = match meta.get(PRUNED)? {
                None => 0,
                Some(b) => decode_u64(&b, "prune watermark").map_err(ConflictableTransactionError::Abort)?,
            };
            let size = match meta.get(SIZE)? {
                None => 0,
                Some(b) => decode_u64(&b, "size").map_err(ConflictableTransactionError::Abort)?,
            };
            if pruned != prune.start {
                return Err(abort(format!("pruning from {}, but the log is pruned below {pruned}", prune.start)));
            }
            if prune.end > size || prune.end < prune.start {
                return Err(abort(format!("cannot prune [{}, {}) of {size} records", prune.start, prune.end)));
            }
            for i in prune.start..prune.end {
                leaves.insert(&i.to_be_bytes(), &[])?;
            }
            for (citizen, index) in prune.citizens {
                citizens.remove(&citizen_key(citizen, *index)[..])?;
            }
            meta.insert(PRUNED, &prune.end.to_be_bytes())?;
            Ok(())
        })?;
        Ok(())
    }

    /// Up to `limit` outbox entries, oldest first.
    pub(super) fn outbox(&self, limit: usize) -> Result<Vec<PendingAudit>, StoreError> {
        self.outbox
            .iter()
            .take(limit)
            .map(|kv| {
                let (k, v) = kv?;
                decode_outbox(&k, &v)
            })
            .collect()
    }

    /// Up to `limit` citizen index entries after `after`, in key order.
    pub(super) fn citizens_after(
        &self,
        after: Option<([u8; 32], u64)>,
        limit: usize,
    ) -> Result<Vec<([u8; 32], u64)>, StoreError> {
        use std::ops::Bound;
        let start = match after {
            Some((c, i)) => Bound::Excluded(citizen_key(&c, i).to_vec()),
            None => Bound::Unbounded,
        };
        self.citizens
            .range::<Vec<u8>, _>((start, Bound::Unbounded))
            .take(limit)
            .map(|kv| {
                let (k, _) = kv?;
                let c: [u8; 32] =
                    k[..32].try_into().map_err(|_| StoreError::Corrupt("an audit citizen key is short".into()))?;
                Ok((c, decode_u64(&k[32..], "citizen index key")?))
            })
            .collect()
    }

    /// Writes outbox entries as they are, in one transaction, refusing one already there;
    /// the caller flushes.
    pub(super) fn import_outbox(&self, rows: &[PendingAudit]) -> Result<(), StoreError> {
        let encoded: Vec<_> = rows
            .iter()
            .map(|r| (r.id, encode_outbox(&OutboxEntry { id: r.id, leaf: &r.leaf, citizen: r.citizen })))
            .collect();
        self.outbox.transaction(|outbox| {
            for (id, value) in &encoded {
                if outbox.insert(&id.as_bytes()[..], value.as_slice())?.is_some() {
                    return Err(ConflictableTransactionError::Abort(StoreError::Conflict { expected: 0 }));
                }
            }
            Ok(())
        })?;
        Ok(())
    }

    /// Writes citizen index entries, in one transaction; the caller flushes.
    pub(super) fn import_citizens(&self, rows: &[([u8; 32], u64)]) -> Result<(), StoreError> {
        self.citizens.transaction(|citizens| {
            for (c, i) in rows {
                citizens.insert(&citizen_key(c, *i)[..], &[])?;
            }
            Ok::<_, ConflictableTransactionError<StoreError>>(())
        })?;
        Ok(())
    }

    pub(super) fn pruned_below(&self) -> Result<u64, StoreError> {
        match self.meta.get(PRUNED)? {
            None => Ok(0),
            Some(b) => decode_u64(&b, "prune watermark"),
        }
    }

    pub(super) fn citizen_leaves(&self, citizen: &[u8; 32], before: u64, limit: usize) -> Result<Vec<u64>, StoreError> {
        self.citizens
            .range(citizen_key(citizen, 0)..citizen_key(citizen, before))
            .rev()
            .take(limit)
            .map(|kv| {
                let (k, _) = kv?;
                decode_u64(&k[32..], "citizen index key")
            })
            .collect()
    }

    pub(super) fn checkpoint_at_or_below(&self, tree_size: u64) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        self.checkpoints
            .range(..=tree_size.to_be_bytes())
            .next_back()
            .transpose()?
            .map(|(k, v)| Ok((decode_u64(&k, "checkpoint key")?, v.to_vec())))
            .transpose()
    }

    pub(super) fn size(&self) -> Result<u64, StoreError> {
        match self.meta.get(SIZE)? {
            None => Ok(0),
            Some(b) => decode_u64(&b, "size"),
        }
    }

    pub(super) fn leaves(&self, start: u64, end: u64) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        if start >= end {
            return Ok(Vec::new());
        }
        self.leaves
            .range(start.to_be_bytes()..end.to_be_bytes())
            .map(|kv| {
                let (k, v) = kv?;
                Ok((decode_u64(&k, "leaf key")?, v.to_vec()))
            })
            .collect()
    }

    pub(super) fn nodes(&self, keys: &[(u8, u64)]) -> Result<Vec<Option<[u8; 32]>>, StoreError> {
        keys.iter()
            .map(|&(level, index)| {
                self.nodes
                    .get(node_key(level, index))?
                    .map(|v| {
                        v.as_ref()
                            .try_into()
                            .map_err(|_| StoreError::Corrupt(format!("audit node ({level}, {index}) is not 32 bytes")))
                    })
                    .transpose()
            })
            .collect()
    }

    pub(super) fn checkpoints(&self, start: u64, end: u64) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        if start >= end {
            return Ok(Vec::new());
        }
        self.checkpoints
            .range(start.to_be_bytes()..end.to_be_bytes())
            .map(|kv| {
                let (k, v) = kv?;
                Ok((decode_u64(&k, "checkpoint key")?, v.to_vec()))
            })
            .collect()
    }

    pub(super) fn latest_checkpoint(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        self.checkpoints.last()?.map(|(k, v)| Ok((decode_u64(&k, "checkpoint key")?, v.to_vec()))).transpose()
    }
}
