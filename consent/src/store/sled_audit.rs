//! The audit log's part of the sled store.
//!
//! Trees (keys big-endian, so iteration is index order):
//!
//! | tree                | key                       | value                         |
//! |---------------------|---------------------------|-------------------------------|
//! | `audit_leaves`      | index (u64)               | the record's canonical bytes  |
//! | `audit_nodes`       | level (u8) · index (u64)  | SHA-256 of the subtree (32)   |
//! | `audit_checkpoints` | tree size (u64)           | signed checkpoint (JSON)      |
//! | `audit_meta`        | `size`                    | number of leaves (u64)        |
//!
//! A batch is one multi-tree transaction (checking `size` first) followed by one flush.

use sled::Transactional;
use sled::transaction::ConflictableTransactionError;

use super::{AuditBatch, StoreError};

const SIZE: &[u8] = b"size";

/// The audit trees. Cheap to clone.
#[derive(Clone)]
pub(super) struct AuditTrees {
    leaves: sled::Tree,
    nodes: sled::Tree,
    checkpoints: sled::Tree,
    meta: sled::Tree,
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
            meta: db.open_tree("audit_meta")?,
        })
    }

    /// Writes the batch in one transaction; the caller flushes.
    pub(super) fn append(&self, batch: &AuditBatch<'_>) -> Result<(), StoreError> {
        let count = batch.leaves.len() as u64;
        let new_size =
            batch.first_index.checked_add(count).ok_or_else(|| StoreError::Io("audit size overflow".into()))?;
        (&self.leaves, &self.nodes, &self.checkpoints, &self.meta).transaction(
            |(leaves, nodes, checkpoints, meta)| {
                let stored = match meta.get(SIZE)? {
                    None => 0,
                    Some(b) => decode_u64(&b, "size").map_err(ConflictableTransactionError::Abort)?,
                };
                if stored != batch.first_index {
                    return Err(ConflictableTransactionError::Abort(StoreError::Io(format!(
                        "the audit log changed concurrently: it holds {stored} records, the batch starts at {}",
                        batch.first_index
                    ))));
                }
                for (i, leaf) in batch.leaves.iter().enumerate() {
                    leaves.insert(&(batch.first_index + i as u64).to_be_bytes(), leaf.as_slice())?;
                }
                for n in batch.nodes {
                    nodes.insert(&node_key(n.level, n.index), &n.hash)?;
                }
                checkpoints.insert(&new_size.to_be_bytes(), batch.checkpoint)?;
                meta.insert(SIZE, &new_size.to_be_bytes())?;
                Ok(())
            },
        )?;
        Ok(())
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
