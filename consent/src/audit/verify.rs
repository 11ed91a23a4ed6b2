//! Offline verification of a whole stored audit log.

use ed25519_dalek::VerifyingKey;

use super::checkpoint::SignedCheckpoint;
use super::merkle::{Frontier, Hash, empty_root, leaf_hash};
use super::record::AuditRecord;
use crate::store::{Store, StoreError};

/// Records read per store call.
const CHUNK: u64 = 4096;

/// What a successful verification covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Records verified (the stored tree size).
    pub tree_size: u64,
    /// The recomputed root of all records.
    pub root: Hash,
    /// Checkpoints whose root and signature verified.
    pub checkpoints: u64,
    /// Stored subtree hashes compared with the recomputed ones.
    pub nodes: u64,
}

/// The first thing found wrong, in index order. [`VerifyError::first_bad_index`] names the
/// first record that is missing, altered or out of place (or the earliest it can be).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("the store failed: {0}")]
    Store(#[from] StoreError),
    #[error("record {index} is missing")]
    Missing { index: u64 },
    #[error("record {index} is unreadable: {reason}")]
    Unreadable { index: u64, reason: String },
    #[error("record {index} does not hash to its stored leaf hash (altered or moved)")]
    LeafHash { index: u64 },
    #[error("the stored hash of subtree (level {level}, index {index}) differs from the recomputed one")]
    Node { level: u8, index: u64 },
    #[error("record {index} is stored beyond the tree size {tree_size}")]
    Unexpected { index: u64, tree_size: u64 },
    #[error(
        "the checkpoint for tree size {tree_size} does not match the records: the first bad record is in [{from}, {tree_size})"
    )]
    CheckpointRoot { tree_size: u64, from: u64 },
    #[error("the checkpoint for tree size {tree_size} is bad: {reason}")]
    Checkpoint { tree_size: u64, reason: String },
    #[error("records from {from} on are not covered by a checkpoint")]
    Unsigned { from: u64 },
    #[error("the prune watermark {pruned_below} is beyond the tree size {tree_size}")]
    Watermark { pruned_below: u64, tree_size: u64 },
}

impl VerifyError {
    /// The first record index that is bad (for a checkpoint mismatch: the earliest index the
    /// bad record can have); `None` for a store failure or a bad signature.
    pub fn first_bad_index(&self) -> Option<u64> {
        match self {
            VerifyError::Store(_) | VerifyError::Checkpoint { .. } => None,
            VerifyError::Watermark { tree_size, .. } => Some(*tree_size),
            VerifyError::Missing { index }
            | VerifyError::Unreadable { index, .. }
            | VerifyError::LeafHash { index }
            | VerifyError::Unexpected { index, .. } => Some(*index),
            VerifyError::Node { level, index } => Some(index << level),
            VerifyError::CheckpointRoot { from, .. } | VerifyError::Unsigned { from } => Some(*from),
        }
    }
}

/// Offline verification of a whole store: recomputes every leaf hash from its stored record
/// bytes, exactly as stored (they are what was hashed), which must be in the canonical form
/// of their version ([`AuditRecord::check_canonical`]: RFC 8785 JSON for version 2, checked
/// on the JSON value so a record with fields newer than this build still verifies; the
/// frozen layout for version 1), every stored subtree hash, the root of every
/// stored checkpoint, and checks every checkpoint's signature against `key`. Streams the
/// log in chunks, keeping O(log n) state. Names the first bad index on mismatch.
///
/// Below the prune watermark a record may have lost its payload to retention: its stored
/// leaf hash (level 0) is taken as it is, and everything above it is still recomputed and
/// checked against the signed checkpoints. Above the watermark every payload must be there.
///
/// What it cannot see alone: records dropped from the end together with their nodes and
/// checkpoints. Comparing with a checkpoint saved elsewhere (a consistency proof) does.
pub async fn verify_store<S: Store>(store: &S, key: &VerifyingKey) -> Result<VerifyReport, VerifyError> {
    let size = store.audit_size().await?;
    let pruned_below = store.audit_pruned_below().await?;
    if pruned_below > size {
        return Err(VerifyError::Watermark { pruned_below, tree_size: size });
    }
    let mut frontier = Frontier::default();
    let mut checkpoints = 0u64;
    let mut nodes_checked = 0u64;
    // The tree size of the last checkpoint that verified: a later mismatch is after it.
    let mut good = 0u64;
    let mut start = 0u64;
    while start < size {
        let end = (start + CHUNK).min(size);
        let leaves = store.audit_leaves(start, end).await?;
        let mut replay = frontier.clone();
        let mut expected = start;
        let mut computed = Vec::new();
        let pruned: Vec<(u8, u64)> =
            leaves.iter().filter(|(i, b)| b.is_empty() && *i < pruned_below).map(|(i, _)| (0, *i)).collect();
        let mut pruned_hashes = store.audit_nodes(&pruned).await?.into_iter();
        let mut hashes = Vec::with_capacity(leaves.len());
        for (index, bytes) in &leaves {
            if *index != expected {
                return Err(VerifyError::Missing { index: expected });
            }
            let hash = if bytes.is_empty() && *index < pruned_below {
                pruned_hashes.next().flatten().ok_or(VerifyError::Missing { index: *index })?
            } else {
                // The stored bytes are what was hashed; their form is checked on the JSON
                // (and version) alone, so fields this build does not know are no obstacle.
                AuditRecord::check_canonical(bytes)
                    .map_err(|reason| VerifyError::Unreadable { index: *index, reason })?;
                leaf_hash(bytes)
            };
            hashes.push(hash);
            frontier.push(hash, |level, index, hash| computed.push((level, index, hash)));
            expected += 1;
        }
        if expected != end {
            return Err(VerifyError::Missing { index: expected });
        }
        let keys: Vec<(u8, u64)> = computed.iter().map(|&(l, i, _)| (l, i)).collect();
        let stored = store.audit_nodes(&keys).await?;
        // A recomputed subtree differs from the stored one when a child differs, so only a
        // mismatch whose children both match is a cause; the first cause names the index.
        let mismatched: std::collections::HashSet<(u8, u64)> = computed
            .iter()
            .zip(stored)
            .filter(|((_, _, hash), found)| *found != Some(*hash))
            .map(|((level, index, _), _)| (*level, *index))
            .collect();
        let bad = mismatched
            .iter()
            .filter(|&&(level, index)| {
                level == 0
                    || !(mismatched.contains(&(level - 1, 2 * index))
                        || mismatched.contains(&(level - 1, 2 * index + 1)))
            })
            .min_by_key(|&&(level, index)| (index << level, level))
            .map(
                |&(level, index)| {
                    if level == 0 { VerifyError::LeafHash { index } } else { VerifyError::Node { level, index } }
                },
            );
        if let Some(e) = bad {
            return Err(e);
        }
        nodes_checked += computed.len() as u64;
        // Checkpoints for tree sizes in (start, end]: replay the roots at those sizes.
        let cps = store.audit_checkpoints(start + 1, end + 1).await?;
        for (at, bytes) in cps {
            let root = root_at(at, &mut replay, &frontier, start, &hashes);
            check_checkpoint(at, &bytes, &root, key, good)?;
            good = at;
            checkpoints += 1;
        }
        start = end;
    }
    // Anything stored past the tree size?
    if let Some((index, _)) = store.audit_leaves(size, u64::MAX).await?.first() {
        return Err(VerifyError::Unexpected { index: *index, tree_size: size });
    }
    if let Some((at, _)) = store.audit_checkpoints(size + 1, u64::MAX).await?.first() {
        return Err(VerifyError::Missing { index: size.min(*at) });
    }
    if size > 0 && good != size {
        return Err(VerifyError::Unsigned { from: good });
    }
    let root = if size == 0 { empty_root() } else { frontier.root() };
    Ok(VerifyReport { tree_size: size, root, checkpoints, nodes: nodes_checked })
}

/// The root at tree size `at` within the current chunk: the chunk's start frontier
/// extended by the chunk's leaf hashes up to `at` (`replay` continues from its last size).
fn root_at(at: u64, replay: &mut Frontier, end_frontier: &Frontier, start: u64, hashes: &[Hash]) -> Hash {
    if at == end_frontier.size() {
        return end_frontier.root();
    }
    while replay.size() < at {
        replay.push(hashes[(replay.size() - start) as usize], |_, _, _| {});
    }
    replay.root()
}

fn check_checkpoint(at: u64, bytes: &[u8], root: &Hash, key: &VerifyingKey, good: u64) -> Result<(), VerifyError> {
    let cp = SignedCheckpoint::from_bytes(bytes)
        .map_err(|e| VerifyError::Checkpoint { tree_size: at, reason: e.to_string() })?;
    if cp.tree_size != at {
        return Err(VerifyError::Checkpoint {
            tree_size: at,
            reason: format!("stored under tree size {at}, signs {}", cp.tree_size),
        });
    }
    cp.verify(key).map_err(|e| VerifyError::Checkpoint { tree_size: at, reason: e.to_string() })?;
    if cp.root != *root {
        return Err(VerifyError::CheckpointRoot { tree_size: at, from: good });
    }
    Ok(())
}
