//! Reading the audit log by filter, newest first (a simple backwards scan).
//!
//! The operators' work (issue 7) replaces this file with an indexed version of the same
//! API; callers depend only on [`AuditFilter`], [`AuditPage`] and [`AuditLog::query`].

use chrono::{DateTime, Utc};

use super::{AuditDecision, AuditError, AuditKind, AuditLog, AuditRecord};
use crate::cpr::Cpr;
use crate::organisation::UnitId;
use crate::store::Store;
use crate::vocabulary::{Category, Purpose};

/// Which records to return; every field set must match.
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
    pub kinds: Option<Vec<AuditKind>>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// One page of matching records, newest first, with their indexes.
#[derive(Debug, Clone)]
pub struct AuditPage {
    pub records: Vec<(u64, AuditRecord)>,
    /// Pass as `before` to get the next (older) page; `None` when there is none.
    pub next_before: Option<u64>,
}

impl AuditFilter {
    pub fn matches(&self, r: &AuditRecord) -> bool {
        fn eq<T: PartialEq>(want: &Option<T>, got: &Option<T>) -> bool {
            want.as_ref().is_none_or(|w| got.as_ref() == Some(w))
        }
        eq(&self.citizen, &r.citizen)
            && eq(&self.caseworker, &r.caseworker)
            && eq(&self.unit, &r.unit)
            && eq(&self.system, &r.system)
            && eq(&self.purpose, &r.purpose)
            && eq(&self.category, &r.category)
            && eq(&self.decision, &r.decision)
            && self.outcome.as_ref().is_none_or(|o| *o == r.outcome)
            && self.kinds.as_ref().is_none_or(|k| k.contains(&r.kind))
            && self.from.is_none_or(|f| r.time >= f)
            && self.to.is_none_or(|t| r.time < t)
    }
}

const CHUNK: u64 = 512;

impl<S: Store + Clone> AuditLog<S> {
    /// Newest first: matching records with index < `before` (all when None), at most `limit`.
    pub async fn query(
        &self,
        filter: &AuditFilter,
        before: Option<u64>,
        limit: usize,
    ) -> Result<AuditPage, AuditError> {
        let size = self.tree_size();
        let mut end = before.map_or(size, |b| b.min(size));
        let mut records = Vec::new();
        while end > 0 && records.len() < limit {
            let start = end.saturating_sub(CHUNK);
            let chunk = self.entries(start, end).await?;
            for (i, r) in chunk.into_iter().rev() {
                if filter.matches(&r) {
                    records.push((i, r));
                    if records.len() == limit {
                        let next = (i > 0).then_some(i);
                        return Ok(AuditPage { records, next_before: next });
                    }
                }
            }
            end = start;
        }
        Ok(AuditPage { records, next_before: None })
    }
}
