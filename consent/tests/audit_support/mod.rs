//! Shared set-up for the audit log's integration tests: records, and a store wrapper that
//! counts audit writes and can make them fail.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use chrono::{TimeZone, Utc};
use consent::audit::{AuditDecision, AuditKind, AuditRecord};
use consent::block::{Block, BlockEvent, BlockId};
use consent::store::{ConsentChange, OutboxEntry, PendingAudit};
use consent::{
    AuditBatch, AuditPrune, Category, Consent, ConsentEvent, ConsentId, Cpr, Purpose, SledStore, Store, StoreError,
    UnitId,
};

/// A record for request `i`, about a synthetic citizen.
pub fn record(i: u64) -> AuditRecord {
    let mut r = AuditRecord::new(
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap() + chrono::Duration::milliseconds(i as i64),
        format!("req-{i}"),
        if i % 2 == 0 { AuditKind::Decision } else { AuditKind::Release },
    );
    r.system = Some("sys-a".into());
    r.caseworker = Some(format!("cw-{}", i % 7));
    r.unit = Some(UnitId::parse("kk.jobcenter").unwrap());
    r.citizen = Some(Cpr::parse(&format!("01{:02}709{:03}", 1 + i % 12, 900 + i % 50)).unwrap());
    r.purpose = Some(Purpose::parse("rehabilitation-team").unwrap());
    r.category = Some(Category::parse("jobcenter.case").unwrap());
    r.decision = Some(if i % 3 == 0 { AuditDecision::Deny } else { AuditDecision::Permit });
    r.basis = Some(format!("consent:{i}"));
    r.policies = vec!["consent-permits".into()];
    r.outcome = "included".into();
    r.documents = vec![format!("{i:064x}")];
    r
}

pub const OK: u8 = 0;
/// Fail before writing anything.
pub const FAIL_BEFORE: u8 = 1;
/// Write the batch, then report a failure (a flush that failed after the transaction).
pub const FAIL_AFTER: u8 = 2;

/// A [`Store`] over a [`SledStore`] that counts audit writes and fails them on demand.
#[derive(Clone)]
pub struct Flaky {
    pub inner: SledStore,
    pub mode: Arc<AtomicU8>,
    pub audit_writes: Arc<AtomicU64>,
}

impl Flaky {
    pub fn new(inner: SledStore) -> Self {
        Self { inner, mode: Arc::default(), audit_writes: Arc::default() }
    }

    pub fn set(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
    }

    pub fn writes(&self) -> u64 {
        self.audit_writes.load(Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl Store for Flaky {
    async fn commit_consent(&self, change: ConsentChange<'_>) -> Result<(), StoreError> {
        self.inner.commit_consent(change).await
    }
    async fn import_consents(&self, changes: &[ConsentChange<'_>]) -> Result<(), StoreError> {
        self.inner.import_consents(changes).await
    }
    async fn commit_block(&self, event: &BlockEvent, state: &Block, audit: OutboxEntry<'_>) -> Result<(), StoreError> {
        self.inner.commit_block(event, state, audit).await
    }
    async fn consent(&self, id: ConsentId) -> Result<Option<Consent>, StoreError> {
        self.inner.consent(id).await
    }
    async fn consent_events(&self, id: ConsentId) -> Result<Vec<ConsentEvent>, StoreError> {
        self.inner.consent_events(id).await
    }
    async fn consents_of(&self, citizen: &Cpr) -> Result<Vec<Consent>, StoreError> {
        self.inner.consents_of(citizen).await
    }
    async fn active_for(
        &self,
        citizen: &Cpr,
        grantees: &[UnitId],
        purpose: &Purpose,
        category: &Category,
    ) -> Result<Vec<Consent>, StoreError> {
        self.inner.active_for(citizen, grantees, purpose, category).await
    }
    async fn requested_of(&self, citizen: &Cpr) -> Result<Vec<Consent>, StoreError> {
        self.inner.requested_of(citizen).await
    }
    async fn block(&self, id: BlockId) -> Result<Option<Block>, StoreError> {
        self.inner.block(id).await
    }
    async fn active_blocks(&self, citizen: &Cpr) -> Result<Vec<Block>, StoreError> {
        self.inner.active_blocks(citizen).await
    }
    async fn text(&self, sha256: &str) -> Result<Option<String>, StoreError> {
        self.inner.text(sha256).await
    }
    async fn consent_ids(&self) -> Result<Vec<ConsentId>, StoreError> {
        self.inner.consent_ids().await
    }
    async fn audit_append(&self, batch: AuditBatch<'_>) -> Result<(), StoreError> {
        match self.mode.load(Ordering::SeqCst) {
            FAIL_BEFORE => Err(StoreError::Io("injected: disk full".into())),
            FAIL_AFTER => {
                self.inner.audit_append(batch).await?;
                Err(StoreError::Io("injected: flush failed".into()))
            }
            _ => {
                self.audit_writes.fetch_add(1, Ordering::SeqCst);
                self.inner.audit_append(batch).await
            }
        }
    }
    async fn audit_outbox(&self, limit: usize) -> Result<Vec<PendingAudit>, StoreError> {
        self.inner.audit_outbox(limit).await
    }
    async fn audit_size(&self) -> Result<u64, StoreError> {
        self.inner.audit_size().await
    }
    async fn audit_leaves(&self, start: u64, end: u64) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        self.inner.audit_leaves(start, end).await
    }
    async fn audit_nodes(&self, keys: &[(u8, u64)]) -> Result<Vec<Option<[u8; 32]>>, StoreError> {
        self.inner.audit_nodes(keys).await
    }
    async fn audit_checkpoints(&self, start: u64, end: u64) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        self.inner.audit_checkpoints(start, end).await
    }
    async fn audit_latest_checkpoint(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        self.inner.audit_latest_checkpoint().await
    }
    async fn audit_checkpoint_at_or_below(&self, tree_size: u64) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        self.inner.audit_checkpoint_at_or_below(tree_size).await
    }
    async fn audit_citizen_leaves(
        &self,
        citizen: &[u8; 32],
        before: u64,
        limit: usize,
    ) -> Result<Vec<u64>, StoreError> {
        self.inner.audit_citizen_leaves(citizen, before, limit).await
    }
    async fn audit_prune(&self, prune: AuditPrune<'_>) -> Result<(), StoreError> {
        self.inner.audit_prune(prune).await
    }
    async fn audit_pruned_below(&self) -> Result<u64, StoreError> {
        self.inner.audit_pruned_below().await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
}
