//! Reading the log back: filtered queries (newest first, cursor pagination) and entries
//! with their leaf hashes.
//!
//! What is indexed:
//!
//! - **the citizen**: every record about a citizen is indexed under a keyed hash of the CPR
//!   number (HMAC-SHA-256 under a key derived from the checkpoint signing key; the number
//!   itself is never a key), written in the same transaction as the leaves. A query with a
//!   citizen reads that citizen's records only, newest first. (A new signing key means a
//!   new index key: records indexed under the old one are not found by citizen.)
//! - **the start of a time range**: checkpoint times never decrease and every record is
//!   stamped before the batch that holds it is signed, so a binary search over the stored
//!   checkpoints finds the first index a query `from` a time must look at (with a few
//!   minutes' slack for clock skew).
//!
//! Every other filter (caseworker, unit, system, purpose, category, decision, outcome,
//! kinds, the end of the time range) is checked on the records that the citizen index or
//! the index range yields: a query without a citizen scans backwards from `before` down to
//! the start of its time range. Records whose payload retention removed are never returned.

use chrono::{DateTime, Utc};
use ed25519_dalek::SigningKey;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::merkle::Hash;
use super::record::{AuditDecision, AuditKind, AuditRecord};
use super::{AuditError, AuditLog, SignedCheckpoint};
use crate::cpr::Cpr;
use crate::organisation::UnitId;
use crate::store::Store;
use crate::vocabulary::{Category, Purpose};

/// Records read per store call while scanning.
const CHUNK: u64 = 512;

/// How much later than its batch's checkpoint a record's time may be (clock skew between
/// the request handler and the writer) and still be found by a query `from` a time.
const SKEW: chrono::Duration = chrono::Duration::minutes(5);

/// The key of the per-citizen index: HMAC-SHA-256 of the CPR digits under a key derived
/// from the signing key. Not `Debug`: the key is secret.
pub(crate) struct CitizenIndex {
    key: [u8; 32],
}

type HmacSha256 = Hmac<Sha256>;

impl CitizenIndex {
    pub(crate) fn derive(signing: &SigningKey) -> Self {
        let mut mac = HmacSha256::new_from_slice(&signing.to_bytes()).expect("HMAC takes any key length");
        mac.update(b"sammen audit citizen index v1");
        Self { key: mac.finalize().into_bytes().into() }
    }

    pub(crate) fn key_of(&self, citizen: &Cpr) -> Hash {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(citizen.expose().as_bytes());
        mac.finalize().into_bytes().into()
    }
}

/// Which records a query wants; every field that is set must match.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub citizen: Option<Cpr>,
    pub caseworker: Option<String>,
    pub unit: Option<UnitId>,
    pub system: Option<String>,
    pub purpose: Option<Purpose>,
    pub category: Option<Category>,
    pub decision: Option<AuditDecision>,
    pub outcome: Option<String>,
    /// Any of these kinds.
    pub kinds: Option<Vec<AuditKind>>,
    /// Records at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Records at or before this time.
    pub to: Option<DateTime<Utc>>,
}

impl AuditFilter {
    /// Whether a record matches every set field.
    pub fn matches(&self, r: &AuditRecord) -> bool {
        fn eq<T: PartialEq>(want: &Option<T>, have: Option<&T>) -> bool {
            want.as_ref().is_none_or(|w| have == Some(w))
        }
        eq(&self.citizen, r.citizen.as_ref())
            && eq(&self.caseworker, r.caseworker.as_ref())
            && eq(&self.unit, r.unit.as_ref())
            && eq(&self.system, r.system.as_ref())
            && eq(&self.purpose, r.purpose.as_ref())
            && eq(&self.category, r.category.as_ref())
            && eq(&self.decision, r.decision.as_ref())
            && eq(&self.outcome, Some(&r.outcome))
            && self.kinds.as_ref().is_none_or(|k| k.contains(&r.kind))
            && self.from.is_none_or(|t| r.time >= t)
            && self.to.is_none_or(|t| r.time <= t)
    }
}

/// One page of a query's answer.
#[derive(Debug, Clone)]
pub struct AuditPage {
    /// Matching records, newest (highest index) first.
    pub records: Vec<(u64, AuditRecord)>,
    /// Pass as `before` for the next page; `None` when there is nothing further back.
    pub next_before: Option<u64>,
}

/// One leaf as stored: its hash, and its canonical bytes unless retention removed them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub index: u64,
    pub leaf_hash: Hash,
    /// `None` when the payload was pruned.
    pub leaf: Option<Vec<u8>>,
}

fn decode(index: u64, bytes: &[u8]) -> Result<AuditRecord, AuditError> {
    AuditRecord::from_leaf_bytes(bytes).map_err(|e| AuditError::Corrupt(format!("record {index} does not read: {e}")))
}

impl<S: Store> AuditLog<S> {
    /// Newest first: matching records with index < `before` (all when None), at most `limit`.
    ///
    /// A citizen filter reads the per-citizen index; a `from` time starts the scan at the
    /// first index that can hold a record that late; every other filter is checked on the
    /// records so found (see the module documentation).
    pub async fn query(
        &self,
        filter: &AuditFilter,
        before: Option<u64>,
        limit: usize,
    ) -> Result<AuditPage, AuditError> {
        let size = self.durable_size().await?;
        let mut before = before.unwrap_or(size).min(size);
        let mut floor = self.store().audit_pruned_below().await?;
        if let Some(from) = filter.from {
            floor = floor.max(self.size_before(from - SKEW).await?);
        }
        let mut records = Vec::new();
        if limit == 0 {
            return Ok(AuditPage { records, next_before: None });
        }
        match &filter.citizen {
            Some(citizen) => {
                let key = self.citizens.key_of(citizen);
                while before > floor {
                    let found = self.store().audit_citizen_leaves(&key, before, CHUNK as usize).await?;
                    if found.is_empty() {
                        break;
                    }
                    for i in found {
                        if i < floor {
                            return Ok(AuditPage { records, next_before: None });
                        }
                        before = i;
                        let Some((_, bytes)) = self.store().audit_leaves(i, i + 1).await?.pop() else {
                            return Err(AuditError::Corrupt(format!(
                                "the citizen index names record {i}, which is missing"
                            )));
                        };
                        if bytes.is_empty() {
                            continue;
                        }
                        let r = decode(i, &bytes)?;
                        if filter.matches(&r) {
                            records.push((i, r));
                            if records.len() == limit {
                                return Ok(AuditPage { records, next_before: (i > floor).then_some(i) });
                            }
                        }
                    }
                }
            }
            None => {
                while before > floor {
                    let start = before.saturating_sub(CHUNK).max(floor);
                    let leaves = self.store().audit_leaves(start, before).await?;
                    for (i, bytes) in leaves.into_iter().rev() {
                        if bytes.is_empty() {
                            continue;
                        }
                        let r = decode(i, &bytes)?;
                        if filter.matches(&r) {
                            records.push((i, r));
                            if records.len() == limit {
                                return Ok(AuditPage { records, next_before: (i > floor).then_some(i) });
                            }
                        }
                    }
                    before = start;
                }
            }
        }
        Ok(AuditPage { records, next_before: None })
    }

    /// The largest tree size whose checkpoint was signed before `time` (0 if none): every
    /// record below it was stamped before `time`. O(log n) checkpoint reads.
    pub async fn size_before(&self, time: DateTime<Utc>) -> Result<u64, AuditError> {
        // Candidates are checkpoint sizes in (a, b]; `best` is the largest known to qualify.
        let (mut a, mut b, mut best) = (0u64, self.durable_size().await?, 0u64);
        while a < b {
            let mid = a + (b - a).div_ceil(2);
            match self.store().audit_checkpoint_at_or_below(mid).await? {
                Some((at, bytes)) if at > a => {
                    if SignedCheckpoint::from_bytes(&bytes)?.time < time {
                        best = at;
                        a = mid;
                    } else {
                        b = at - 1;
                    }
                }
                // No checkpoint in (a, mid].
                _ => a = mid,
            }
        }
        Ok(best)
    }

    /// The leaves `[start, end)` (within the durable log) with their hashes; a pruned leaf
    /// has no bytes and its hash comes from the stored level-0 node.
    pub async fn leaf_entries(&self, start: u64, end: u64) -> Result<Vec<AuditEntry>, AuditError> {
        let end = end.min(self.durable_size().await?);
        let stored = self.store().audit_leaves(start, end).await?;
        let pruned: Vec<(u8, u64)> = stored.iter().filter(|(_, b)| b.is_empty()).map(|(i, _)| (0, *i)).collect();
        let mut hashes = self.store().audit_nodes(&pruned).await?.into_iter();
        stored
            .into_iter()
            .map(|(index, bytes)| {
                if bytes.is_empty() {
                    let leaf_hash = hashes.next().flatten().ok_or_else(|| {
                        AuditError::Corrupt(format!("the leaf hash of pruned record {index} is missing"))
                    })?;
                    Ok(AuditEntry { index, leaf_hash, leaf: None })
                } else {
                    Ok(AuditEntry { index, leaf_hash: super::leaf_hash(&bytes), leaf: Some(bytes) })
                }
            })
            .collect()
    }
}
