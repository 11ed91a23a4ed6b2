//! `sammen store copy`: moves everything a store holds into another, empty one, of any
//! engine (sled → PostgreSQL to move an installation; also sled → sled, PostgreSQL → sled),
//! in bounded batches, then verifies the copy row by row.
//!
//! What moves: consents with all their events (the target builds its citizen, requested and
//! active indexes from the states), blocks with their events (and the active-block index),
//! consent texts, the audit log (leaves, the hashes of its complete subtrees, every
//! checkpoint, the prune watermark), the per-citizen audit index, the audit records
//! still waiting in the outbox, and the health outbox's messages to GPs as they are (state,
//! attempts, lease, MedCom identifiers and bytes, idempotency keys: a message queued in the
//! source is sent from the target, once, with the identifiers the hub already knows). What
//! does not: web sessions and one-use login states
//! (citizens log in again after the move).
//!
//! The audit log moves batch by batch as the source wrote it: for each stored checkpoint
//! (tree size `s`), the leaves since the previous one, the subtrees they complete and that
//! checkpoint go through [`Store::audit_append`], so the target holds the same signed
//! checkpoints at the same sizes. Nothing is re-signed. A prune watermark is applied after
//! the leaves (pruned leaves move with their empty payloads).
//!
//! The target must be empty ([`CopyError::TargetNotEmpty`]); there is no resume. A copy
//! that fails part-way (the target went down) leaves a partial target, which a second run
//! refuses as not empty: the operator empties it (a fresh database, or a new directory) and
//! runs the copy again. The source is only read, and must not be written meanwhile (the
//! gateway stopped; for sled its lock ensures it).

use super::health_outbox::{HealthMessageId, HealthOutbox};
use super::{AuditBatch, AuditNode, AuditPrune, Import, Store, StoreError};
use crate::block::BlockId;
use crate::record::ConsentId;

/// Pending outbox records moved at most (the outbox is drained at every start, so a
/// stopped installation holds few or none).
const OUTBOX_LIMIT: usize = 100_000;

/// One kind of stored data, in the order a copy moves them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Texts,
    Consents,
    Blocks,
    AuditLog,
    AuditCitizens,
    AuditOutbox,
    HealthMessages,
}

impl Kind {
    /// Every kind, in copy order.
    pub const ALL: [Kind; 7] = [
        Kind::Texts,
        Kind::Consents,
        Kind::Blocks,
        Kind::AuditLog,
        Kind::AuditCitizens,
        Kind::AuditOutbox,
        Kind::HealthMessages,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Texts => "consent texts",
            Kind::Consents => "consents",
            Kind::Blocks => "blocks",
            Kind::AuditLog => "audit records",
            Kind::AuditCitizens => "citizen index entries",
            Kind::AuditOutbox => "pending audit records",
            Kind::HealthMessages => "messages to GPs",
        }
    }
}

/// What a copy moved (and its verification compared).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyReport {
    pub texts: u64,
    pub consents: u64,
    pub consent_events: u64,
    pub blocks: u64,
    pub block_events: u64,
    /// The tree size of the audit log.
    pub audit_records: u64,
    pub checkpoints: u64,
    pub audit_nodes: u64,
    pub citizen_entries: u64,
    pub outbox: u64,
    pub pruned_below: u64,
    pub health_messages: u64,
}

/// Progress, after every batch: how many of `kind` are done.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub kind: Kind,
    pub done: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("the source store failed: {0}")]
    Source(StoreError),
    #[error("the target store failed: {0}")]
    Target(StoreError),
    #[error(
        "the target is not empty (it holds {0}): a copy goes into an empty store only; empty it (a fresh database or directory) and run the copy again"
    )]
    TargetNotEmpty(&'static str),
    #[error("the source cannot be copied: {0}")]
    Unfit(String),
    #[error("the copy differs from the source: {0}")]
    Differs(String),
}

/// How many rows go in one batch (one read, one target transaction): at least 1.
#[derive(Debug, Clone, Copy)]
pub struct BatchSize(usize);

impl BatchSize {
    pub fn new(n: usize) -> Self {
        Self(n.max(1))
    }

    pub fn get(self) -> usize {
        self.0
    }
}

impl Default for BatchSize {
    fn default() -> Self {
        Self(500)
    }
}

fn src(e: StoreError) -> CopyError {
    CopyError::Source(e)
}

fn tgt(e: StoreError) -> CopyError {
    CopyError::Target(e)
}

/// What `store` holds of anything a copy would write, if anything (`None`: empty).
pub async fn holds_something<S: Store + HealthOutbox + ?Sized>(store: &S) -> Result<Option<&'static str>, StoreError> {
    if !store.texts_after(None, 1).await?.is_empty() {
        return Ok(Some(Kind::Texts.as_str()));
    }
    if !store.consents_after(None, 1).await?.is_empty() {
        return Ok(Some(Kind::Consents.as_str()));
    }
    if !store.blocks_after(None, 1).await?.is_empty() {
        return Ok(Some(Kind::Blocks.as_str()));
    }
    if store.audit_size().await? > 0 || store.audit_latest_checkpoint().await?.is_some() {
        return Ok(Some(Kind::AuditLog.as_str()));
    }
    if !store.audit_citizens_after(None, 1).await?.is_empty() {
        return Ok(Some(Kind::AuditCitizens.as_str()));
    }
    if !store.audit_outbox(1).await?.is_empty() {
        return Ok(Some(Kind::AuditOutbox.as_str()));
    }
    if !store.health_messages_after(None, 1).await?.is_empty() {
        return Ok(Some(Kind::HealthMessages.as_str()));
    }
    Ok(None)
}

/// The keys of the complete subtrees that leaves `[start, end)` complete: level `l`,
/// index `i` with `start < (i + 1)·2^l <= end` (level 0: the leaves' own hashes).
fn completed_nodes(start: u64, end: u64) -> Vec<(u8, u64)> {
    let mut keys = Vec::new();
    for level in 0..64u8 {
        let (lo, hi) = (start >> level, end >> level);
        if hi == 0 {
            break;
        }
        keys.extend((lo..hi).map(|i| (level, i)));
    }
    keys
}

/// The node hashes for `keys` from `store`, each of which must be there.
async fn nodes_of<S: Store + ?Sized>(store: &S, keys: &[(u8, u64)]) -> Result<Vec<AuditNode>, StoreError> {
    let found = store.audit_nodes(keys).await?;
    keys.iter()
        .zip(found)
        .map(|(&(level, index), hash)| {
            hash.map(|hash| AuditNode { level, index, hash }).ok_or_else(|| {
                StoreError::Corrupt(format!("the audit log lacks the hash of subtree (level {level}, index {index})"))
            })
        })
        .collect()
}

/// The stored checkpoints after tree size `after`, at most `limit`, looking ahead in
/// windows of `window` leaves (doubling while none is found) up to `size`.
async fn next_checkpoints<S: Store + ?Sized>(
    store: &S,
    after: u64,
    size: u64,
    window: u64,
) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
    let mut w = window.max(1);
    loop {
        let end = after.saturating_add(1).saturating_add(w).min(size.saturating_add(1));
        let found = store.audit_checkpoints(after + 1, end).await?;
        if !found.is_empty() || end > size {
            return Ok(found);
        }
        w = w.saturating_mul(2);
    }
}

/// Copies everything `from` holds into `to`, which must be empty, in batches of `batch`,
/// reporting progress after every batch; then [`verify`]s the copy.
pub async fn copy<A, B>(
    from: &A,
    to: &B,
    batch: BatchSize,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<CopyReport, CopyError>
where
    A: Store + HealthOutbox + ?Sized,
    B: Store + HealthOutbox + ?Sized,
{
    if let Some(what) = holds_something(to).await.map_err(tgt)? {
        return Err(CopyError::TargetNotEmpty(what));
    }
    let n = batch.get();
    let mut report = CopyReport::default();
    for kind in Kind::ALL {
        match kind {
            Kind::Texts => {
                let mut after: Option<String> = None;
                loop {
                    let rows = from.texts_after(after.as_deref(), n).await.map_err(src)?;
                    let Some(last) = rows.last() else { break };
                    after = Some(last.0.clone());
                    to.import(Import::Texts(&rows)).await.map_err(tgt)?;
                    report.texts += rows.len() as u64;
                    progress(Progress { kind, done: report.texts });
                }
            }
            Kind::Consents => {
                let mut after: Option<ConsentId> = None;
                loop {
                    let states = from.consents_after(after, n).await.map_err(src)?;
                    let Some(last) = states.last() else { break };
                    after = Some(last.id);
                    let mut rows = Vec::with_capacity(states.len());
                    for state in states {
                        let events = from.consent_events(state.id).await.map_err(src)?;
                        report.consent_events += events.len() as u64;
                        rows.push((state, events));
                    }
                    to.import(Import::Consents(&rows)).await.map_err(tgt)?;
                    report.consents += rows.len() as u64;
                    progress(Progress { kind, done: report.consents });
                }
            }
            Kind::Blocks => {
                let mut after: Option<BlockId> = None;
                loop {
                    let states = from.blocks_after(after, n).await.map_err(src)?;
                    let Some(last) = states.last() else { break };
                    after = Some(last.id);
                    let mut rows = Vec::with_capacity(states.len());
                    for state in states {
                        let events = from.block_events(state.id).await.map_err(src)?;
                        report.block_events += events.len() as u64;
                        rows.push((state, events));
                    }
                    to.import(Import::Blocks(&rows)).await.map_err(tgt)?;
                    report.blocks += rows.len() as u64;
                    progress(Progress { kind, done: report.blocks });
                }
            }
            Kind::AuditLog => copy_audit_log(from, to, n, &mut report, progress).await?,
            Kind::AuditCitizens => {
                let mut after = None;
                loop {
                    let rows = from.audit_citizens_after(after, n).await.map_err(src)?;
                    let Some(last) = rows.last() else { break };
                    after = Some(*last);
                    to.import(Import::AuditCitizens(&rows)).await.map_err(tgt)?;
                    report.citizen_entries += rows.len() as u64;
                    progress(Progress { kind, done: report.citizen_entries });
                }
            }
            Kind::AuditOutbox => {
                let rows = from.audit_outbox(OUTBOX_LIMIT).await.map_err(src)?;
                if rows.len() >= OUTBOX_LIMIT {
                    return Err(CopyError::Unfit(format!(
                        "its audit outbox holds {OUTBOX_LIMIT} records or more: start and stop the gateway on it once to drain it"
                    )));
                }
                for chunk in rows.chunks(n) {
                    to.import(Import::AuditOutbox(chunk)).await.map_err(tgt)?;
                    report.outbox += chunk.len() as u64;
                    progress(Progress { kind, done: report.outbox });
                }
            }
            Kind::HealthMessages => {
                let mut after: Option<HealthMessageId> = None;
                loop {
                    let rows = from.health_messages_after(after, n).await.map_err(src)?;
                    let Some(last) = rows.last() else { break };
                    after = Some(last.id);
                    to.health_import(&rows).await.map_err(tgt)?;
                    report.health_messages += rows.len() as u64;
                    progress(Progress { kind, done: report.health_messages });
                }
            }
        }
    }
    let verified = verify(from, to, batch).await?;
    if verified != report {
        return Err(CopyError::Differs(format!("copied {report:?}, but the stores compare as {verified:?}")));
    }
    Ok(report)
}

async fn copy_audit_log<A, B>(
    from: &A,
    to: &B,
    n: usize,
    report: &mut CopyReport,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<(), CopyError>
where
    A: Store + HealthOutbox + ?Sized,
    B: Store + HealthOutbox + ?Sized,
{
    let size = from.audit_size().await.map_err(src)?;
    let pruned = from.audit_pruned_below().await.map_err(src)?;
    // A checkpoint of the empty tree (if the source signed one) goes first, as an empty batch.
    let mut first = from.audit_checkpoints(0, 1).await.map_err(src)?;
    if let Some((_, checkpoint)) = first.pop() {
        let batch =
            AuditBatch { first_index: 0, leaves: &[], nodes: &[], checkpoint: &checkpoint, citizens: &[], outbox: &[] };
        to.audit_append(batch).await.map_err(tgt)?;
        report.checkpoints += 1;
    }
    let mut at = 0u64;
    while at < size {
        let checkpoints = next_checkpoints(from, at, size, n as u64).await.map_err(src)?;
        if checkpoints.is_empty() {
            return Err(CopyError::Unfit(format!("its audit records from {at} on are not covered by a checkpoint")));
        }
        for (tree_size, checkpoint) in checkpoints {
            if tree_size > size {
                return Err(CopyError::Unfit(format!("a checkpoint for tree size {tree_size} is beyond {size}")));
            }
            let leaves = from.audit_leaves(at, tree_size).await.map_err(src)?;
            if leaves.len() as u64 != tree_size - at || leaves.iter().zip(at..).any(|((i, _), e)| *i != e) {
                return Err(CopyError::Unfit(format!("its audit records in [{at}, {tree_size}) are not all there")));
            }
            let leaves: Vec<Vec<u8>> = leaves.into_iter().map(|(_, l)| l).collect();
            let nodes = nodes_of(from, &completed_nodes(at, tree_size)).await.map_err(src)?;
            let batch = AuditBatch {
                first_index: at,
                leaves: &leaves,
                nodes: &nodes,
                checkpoint: &checkpoint,
                citizens: &[],
                outbox: &[],
            };
            to.audit_append(batch).await.map_err(tgt)?;
            report.audit_nodes += nodes.len() as u64;
            report.checkpoints += 1;
            at = tree_size;
            report.audit_records = at;
            progress(Progress { kind: Kind::AuditLog, done: at });
        }
    }
    if pruned > 0 {
        to.audit_prune(AuditPrune { start: 0, end: pruned, citizens: &[] }).await.map_err(tgt)?;
    }
    report.pruned_below = pruned;
    Ok(())
}

fn differs(what: impl std::fmt::Display) -> CopyError {
    CopyError::Differs(what.to_string())
}

/// Compares `to` with `from` row by row: texts, every consent's state and events, every
/// block's state and events, the audit log's size, leaves, subtree hashes, checkpoints and
/// prune watermark, the citizen index and the outbox. Returns the counts of what it
/// compared; an error names the first difference (by id or index, never by citizen).
pub async fn verify<A, B>(from: &A, to: &B, batch: BatchSize) -> Result<CopyReport, CopyError>
where
    A: Store + HealthOutbox + ?Sized,
    B: Store + HealthOutbox + ?Sized,
{
    let n = batch.get();
    let mut r = CopyReport::default();

    let mut after: Option<String> = None;
    loop {
        let a = from.texts_after(after.as_deref(), n).await.map_err(src)?;
        let b = to.texts_after(after.as_deref(), n).await.map_err(tgt)?;
        if a != b {
            return Err(differs("the consent texts"));
        }
        let Some(last) = a.last() else { break };
        after = Some(last.0.clone());
        r.texts += a.len() as u64;
    }

    let mut after = None;
    loop {
        let a = from.consents_after(after, n).await.map_err(src)?;
        let b = to.consents_after(after, n).await.map_err(tgt)?;
        if a != b {
            return Err(differs(format!("the consents after {after:?}")));
        }
        let Some(last) = a.last() else { break };
        after = Some(last.id);
        for c in &a {
            let ea = from.consent_events(c.id).await.map_err(src)?;
            if ea != to.consent_events(c.id).await.map_err(tgt)? {
                return Err(differs(format!("the events of consent {}", c.id)));
            }
            r.consent_events += ea.len() as u64;
        }
        r.consents += a.len() as u64;
    }

    let mut after = None;
    loop {
        let a = from.blocks_after(after, n).await.map_err(src)?;
        let b = to.blocks_after(after, n).await.map_err(tgt)?;
        if a != b {
            return Err(differs(format!("the blocks after {after:?}")));
        }
        let Some(last) = a.last() else { break };
        after = Some(last.id);
        for blk in &a {
            let ea = from.block_events(blk.id).await.map_err(src)?;
            if ea != to.block_events(blk.id).await.map_err(tgt)? {
                return Err(differs(format!("the events of block {}", blk.id)));
            }
            r.block_events += ea.len() as u64;
        }
        r.blocks += a.len() as u64;
    }

    let size = from.audit_size().await.map_err(src)?;
    if size != to.audit_size().await.map_err(tgt)? {
        return Err(differs("the audit log's size"));
    }
    r.audit_records = size;
    r.pruned_below = from.audit_pruned_below().await.map_err(src)?;
    if r.pruned_below != to.audit_pruned_below().await.map_err(tgt)? {
        return Err(differs("the prune watermark"));
    }
    let step = n as u64;
    let mut at = 0u64;
    while at < size {
        let end = at.saturating_add(step).min(size);
        if from.audit_leaves(at, end).await.map_err(src)? != to.audit_leaves(at, end).await.map_err(tgt)? {
            return Err(differs(format!("the audit records in [{at}, {end})")));
        }
        let keys = completed_nodes(at, end);
        let a = from.audit_nodes(&keys).await.map_err(src)?;
        if a.iter().any(Option::is_none) || a != to.audit_nodes(&keys).await.map_err(tgt)? {
            return Err(differs(format!("the subtree hashes over [{at}, {end})")));
        }
        r.audit_nodes += keys.len() as u64;
        at = end;
    }
    // Checkpoints: every one, by tree size (all are at most the size).
    let mut at = 0u64;
    while at <= size {
        let end = at.saturating_add(step).min(size + 1);
        let a = from.audit_checkpoints(at, end).await.map_err(src)?;
        if a != to.audit_checkpoints(at, end).await.map_err(tgt)? {
            return Err(differs(format!("the checkpoints for tree sizes [{at}, {end})")));
        }
        r.checkpoints += a.len() as u64;
        at = end;
    }
    if from.audit_latest_checkpoint().await.map_err(src)? != to.audit_latest_checkpoint().await.map_err(tgt)? {
        return Err(differs("the latest checkpoint"));
    }

    let mut after = None;
    loop {
        let a = from.audit_citizens_after(after, n).await.map_err(src)?;
        if a != to.audit_citizens_after(after, n).await.map_err(tgt)? {
            return Err(differs("the citizen index of the audit log"));
        }
        let Some(last) = a.last() else { break };
        after = Some(*last);
        r.citizen_entries += a.len() as u64;
    }

    let a = from.audit_outbox(OUTBOX_LIMIT).await.map_err(src)?;
    if a != to.audit_outbox(OUTBOX_LIMIT).await.map_err(tgt)? {
        return Err(differs("the audit outbox"));
    }
    r.outbox = a.len() as u64;

    let mut after = None;
    loop {
        let a = from.health_messages_after(after, n).await.map_err(src)?;
        if a != to.health_messages_after(after, n).await.map_err(tgt)? {
            return Err(differs(format!("the messages to GPs after {after:?}")));
        }
        let Some(last) = a.last() else { break };
        after = Some(last.id);
        r.health_messages += a.len() as u64;
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completed_nodes_are_the_subtrees_that_end_in_the_range() {
        assert_eq!(completed_nodes(0, 1), vec![(0, 0)]);
        assert_eq!(completed_nodes(0, 4), vec![(0, 0), (0, 1), (0, 2), (0, 3), (1, 0), (1, 1), (2, 0)]);
        // Leaves 3..5 complete leaf 3 and 4, the pair (2, 3), and the four 0..4.
        assert_eq!(completed_nodes(3, 5), vec![(0, 3), (0, 4), (1, 1), (2, 0)]);
        assert!(completed_nodes(5, 5).is_empty());
    }

    #[test]
    fn completed_nodes_of_consecutive_ranges_partition_those_of_the_whole() {
        let whole = completed_nodes(0, 37);
        let mut parts = completed_nodes(0, 5);
        parts.extend(completed_nodes(5, 20));
        parts.extend(completed_nodes(20, 37));
        parts.sort_unstable_by_key(|&(l, i)| (l, i));
        let mut whole_sorted = whole.clone();
        whole_sorted.sort_unstable_by_key(|&(l, i)| (l, i));
        assert_eq!(parts, whole_sorted);
    }

    #[test]
    fn a_batch_size_is_at_least_one() {
        assert_eq!(BatchSize::new(0).get(), 1);
        assert_eq!(BatchSize::default().get(), 500);
    }
}
