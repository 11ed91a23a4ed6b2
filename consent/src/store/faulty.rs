//! For tests only (cargo feature `faults`): a store wrapper that fails calls on demand.
//!
//! [`FaultyStore`] wraps any store (`S: Store + SessionStore`) and forwards every call,
//! unless its [`Faults`] handle says the call's class of operation ([`Op`]) fails now:
//!
//! - [`Faults::fail`]: the call returns `StoreError::Io("injected fault: …")` **without
//!   calling the wrapped store**, so nothing is written (a disk that refuses writes, a
//!   database that is down);
//! - [`Faults::fail_after`]: the wrapped store runs the call, then the call reports the
//!   same error (an outcome the caller cannot know: a flush that failed after the
//!   transaction, a connection lost while the commit was acknowledged).
//!
//! Each class counts its calls (failed ones included), so a test can assert what was
//! attempted. The handle is cheap to clone and switches faults on and off while the store
//! is in use.
//!
//! ```ignore
//! let store = FaultyStore::new(SledStore::temporary()?);
//! let faults = store.faults();
//! faults.fail(Op::AuditAppend);          // audit down
//! // ... the code under test must fail closed ...
//! assert_eq!(faults.calls(Op::AuditAppend), 1);
//! faults.heal_everything();
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use chrono::{DateTime, Utc};

use super::health_outbox::{Enqueued, HealthMessage, HealthMessageId, HealthOutbox, HealthTransition};
use super::{
    AuditBatch, AuditPrune, ConsentChange, Import, OutboxEntry, PendingAudit, SessionStore, Store, StoreError,
};
use crate::block::{Block, BlockEvent, BlockId};
use crate::cpr::Cpr;
use crate::organisation::UnitId;
use crate::record::{Consent, ConsentEvent, ConsentId};
use crate::vocabulary::{Category, Purpose};

/// A class of store operation that faults are switched for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `commit_consent`, `import_consents`, `commit_block`, `import`.
    ConsentWrite,
    /// Reads of consents, blocks, texts and their indexes.
    ConsentRead,
    /// `audit_append`.
    AuditAppend,
    /// `audit_prune`.
    AuditPrune,
    /// Reads of the audit log: size, leaves, nodes, checkpoints, the citizen index, the
    /// prune watermark.
    AuditRead,
    /// Every [`SessionStore`] call.
    Session,
    /// `ping`.
    Ping,
}

impl Op {
    /// Every class ("everything").
    pub const ALL: [Op; 7] =
        [Op::ConsentWrite, Op::ConsentRead, Op::AuditAppend, Op::AuditPrune, Op::AuditRead, Op::Session, Op::Ping];

    fn name(self) -> &'static str {
        match self {
            Op::ConsentWrite => "consent write",
            Op::ConsentRead => "consent read",
            Op::AuditAppend => "audit append",
            Op::AuditPrune => "audit prune",
            Op::AuditRead => "audit read",
            Op::Session => "session",
            Op::Ping => "ping",
        }
    }

    fn slot(self) -> usize {
        self as usize
    }
}

const HEALTHY: u8 = 0;
const FAIL: u8 = 1;
const FAIL_AFTER: u8 = 2;

#[derive(Default)]
struct State {
    modes: [AtomicU8; Op::ALL.len()],
    calls: [AtomicU64; Op::ALL.len()],
    injected: [AtomicU64; Op::ALL.len()],
    /// Milliseconds a call waits before it reaches the wrapped store.
    delays_ms: [AtomicU64; Op::ALL.len()],
}

/// Switches a [`FaultyStore`]'s faults and reads its call counts. Cheap to clone; every
/// clone controls the same store.
#[derive(Clone, Default)]
pub struct Faults(Arc<State>);

impl std::fmt::Debug for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut m = f.debug_map();
        for op in Op::ALL {
            m.entry(&op, &(self.mode(op), self.calls(op)));
        }
        m.finish()
    }
}

impl Faults {
    fn mode(&self, op: Op) -> u8 {
        self.0.modes[op.slot()].load(Ordering::SeqCst)
    }

    fn set(&self, op: Op, mode: u8) {
        self.0.modes[op.slot()].store(mode, Ordering::SeqCst);
    }

    /// Calls of class `op` fail from now on, without reaching the wrapped store.
    pub fn fail(&self, op: Op) {
        self.set(op, FAIL);
    }

    /// Calls of class `op` run on the wrapped store, then report a failure.
    pub fn fail_after(&self, op: Op) {
        self.set(op, FAIL_AFTER);
    }

    /// Calls of class `op` work again.
    pub fn heal(&self, op: Op) {
        self.set(op, HEALTHY);
    }

    /// Calls of class `op` wait `by` before they reach the wrapped store (a slow disk or
    /// database); `Duration::ZERO` ends the delay. Independent of [`Faults::fail`].
    pub fn delay(&self, op: Op, by: std::time::Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.0.delays_ms[op.slot()].store(ms, Ordering::SeqCst);
    }

    fn delay_of(&self, op: Op) -> std::time::Duration {
        std::time::Duration::from_millis(self.0.delays_ms[op.slot()].load(Ordering::SeqCst))
    }

    /// Every call fails, without reaching the wrapped store.
    pub fn fail_everything(&self) {
        Op::ALL.into_iter().for_each(|op| self.fail(op));
    }

    /// Every call works again, without delay.
    pub fn heal_everything(&self) {
        Op::ALL.into_iter().for_each(|op| {
            self.heal(op);
            self.delay(op, std::time::Duration::ZERO);
        });
    }

    /// Whether calls of class `op` fail now (either way).
    pub fn failing(&self, op: Op) -> bool {
        self.mode(op) != HEALTHY
    }

    /// Calls of class `op` so far, failed ones included.
    pub fn calls(&self, op: Op) -> u64 {
        self.0.calls[op.slot()].load(Ordering::SeqCst)
    }

    /// Calls of class `op` that were made to fail.
    pub fn injected(&self, op: Op) -> u64 {
        self.0.injected[op.slot()].load(Ordering::SeqCst)
    }

    /// Calls of every class so far.
    pub fn total_calls(&self) -> u64 {
        Op::ALL.into_iter().map(|op| self.calls(op)).sum()
    }

    /// Counts a call of class `op` and returns its mode.
    fn enter(&self, op: Op) -> u8 {
        self.0.calls[op.slot()].fetch_add(1, Ordering::SeqCst);
        let mode = self.mode(op);
        if mode != HEALTHY {
            self.0.injected[op.slot()].fetch_add(1, Ordering::SeqCst);
        }
        mode
    }
}

fn injected(op: Op) -> StoreError {
    StoreError::Io(format!("injected fault: {}", op.name()))
}

/// A store that fails on demand, for tests: see the [module](self) documentation.
#[derive(Clone)]
pub struct FaultyStore<S> {
    inner: S,
    faults: Faults,
}

impl<S> FaultyStore<S> {
    /// Wraps `inner`, with no fault switched on.
    pub fn new(inner: S) -> Self {
        Self { inner, faults: Faults::default() }
    }

    /// The handle that switches this store's faults.
    pub fn faults(&self) -> Faults {
        self.faults.clone()
    }

    /// The wrapped store (calls on it are neither counted nor failed).
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

impl<S> FaultyStore<S> {
    /// Calls the wrapped store (`call`) unless class `op` fails now.
    async fn run<T, F, Fut>(&self, op: Op, call: F) -> Result<T, StoreError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let mode = self.faults.enter(op);
        let delay = self.faults.delay_of(op);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        match mode {
            FAIL => Err(injected(op)),
            FAIL_AFTER => {
                call().await?;
                Err(injected(op))
            }
            _ => call().await,
        }
    }
}

#[async_trait::async_trait]
impl<S: Store> Store for FaultyStore<S> {
    async fn commit_consent(&self, change: ConsentChange<'_>) -> Result<(), StoreError> {
        self.run(Op::ConsentWrite, || self.inner.commit_consent(change)).await
    }
    async fn import_consents(&self, changes: &[ConsentChange<'_>]) -> Result<(), StoreError> {
        self.run(Op::ConsentWrite, || self.inner.import_consents(changes)).await
    }
    async fn commit_block(&self, event: &BlockEvent, state: &Block, audit: OutboxEntry<'_>) -> Result<(), StoreError> {
        self.run(Op::ConsentWrite, || self.inner.commit_block(event, state, audit)).await
    }
    async fn consent(&self, id: ConsentId) -> Result<Option<Consent>, StoreError> {
        self.run(Op::ConsentRead, || self.inner.consent(id)).await
    }
    async fn consent_events(&self, id: ConsentId) -> Result<Vec<ConsentEvent>, StoreError> {
        self.run(Op::ConsentRead, || self.inner.consent_events(id)).await
    }
    async fn consents_of(&self, citizen: &Cpr) -> Result<Vec<Consent>, StoreError> {
        self.run(Op::ConsentRead, || self.inner.consents_of(citizen)).await
    }
    async fn active_for(
        &self,
        citizen: &Cpr,
        grantees: &[UnitId],
        purpose: &Purpose,
        category: &Category,
    ) -> Result<Vec<Consent>, StoreError> {
        self.run(Op::ConsentRead, || self.inner.active_for(citizen, grantees, purpose, category)).await
    }
    async fn active_for_each(
        &self,
        citizen: &Cpr,
        grantees: &[UnitId],
        purpose: &Purpose,
        categories: &[Category],
    ) -> Result<Vec<Vec<Consent>>, StoreError> {
        self.run(Op::ConsentRead, || self.inner.active_for_each(citizen, grantees, purpose, categories)).await
    }
    async fn requested_of(&self, citizen: &Cpr) -> Result<Vec<Consent>, StoreError> {
        self.run(Op::ConsentRead, || self.inner.requested_of(citizen)).await
    }
    async fn block(&self, id: BlockId) -> Result<Option<Block>, StoreError> {
        self.run(Op::ConsentRead, || self.inner.block(id)).await
    }
    async fn active_blocks(&self, citizen: &Cpr) -> Result<Vec<Block>, StoreError> {
        self.run(Op::ConsentRead, || self.inner.active_blocks(citizen)).await
    }
    async fn text(&self, sha256: &str) -> Result<Option<String>, StoreError> {
        self.run(Op::ConsentRead, || self.inner.text(sha256)).await
    }
    async fn consent_ids(&self) -> Result<Vec<ConsentId>, StoreError> {
        self.run(Op::ConsentRead, || self.inner.consent_ids()).await
    }
    async fn audit_append(&self, batch: AuditBatch<'_>) -> Result<(), StoreError> {
        self.run(Op::AuditAppend, || self.inner.audit_append(batch)).await
    }
    async fn audit_outbox(&self, limit: usize) -> Result<Vec<PendingAudit>, StoreError> {
        self.run(Op::AuditRead, || self.inner.audit_outbox(limit)).await
    }
    async fn audit_size(&self) -> Result<u64, StoreError> {
        self.run(Op::AuditRead, || self.inner.audit_size()).await
    }
    async fn audit_leaves(&self, start: u64, end: u64) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        self.run(Op::AuditRead, || self.inner.audit_leaves(start, end)).await
    }
    async fn audit_nodes(&self, keys: &[(u8, u64)]) -> Result<Vec<Option<[u8; 32]>>, StoreError> {
        self.run(Op::AuditRead, || self.inner.audit_nodes(keys)).await
    }
    async fn audit_checkpoints(&self, start: u64, end: u64) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        self.run(Op::AuditRead, || self.inner.audit_checkpoints(start, end)).await
    }
    async fn audit_latest_checkpoint(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        self.run(Op::AuditRead, || self.inner.audit_latest_checkpoint()).await
    }
    async fn audit_checkpoint_at_or_below(&self, tree_size: u64) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        self.run(Op::AuditRead, || self.inner.audit_checkpoint_at_or_below(tree_size)).await
    }
    async fn audit_citizen_leaves(
        &self,
        citizen: &[u8; 32],
        before: u64,
        limit: usize,
    ) -> Result<Vec<u64>, StoreError> {
        self.run(Op::AuditRead, || self.inner.audit_citizen_leaves(citizen, before, limit)).await
    }
    async fn audit_prune(&self, prune: AuditPrune<'_>) -> Result<(), StoreError> {
        self.run(Op::AuditPrune, || self.inner.audit_prune(prune)).await
    }
    async fn audit_pruned_below(&self) -> Result<u64, StoreError> {
        self.run(Op::AuditRead, || self.inner.audit_pruned_below()).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.run(Op::Ping, || self.inner.ping()).await
    }
    async fn consents_after(&self, after: Option<ConsentId>, limit: usize) -> Result<Vec<Consent>, StoreError> {
        self.run(Op::ConsentRead, || self.inner.consents_after(after, limit)).await
    }
    async fn blocks_after(&self, after: Option<BlockId>, limit: usize) -> Result<Vec<Block>, StoreError> {
        self.run(Op::ConsentRead, || self.inner.blocks_after(after, limit)).await
    }
    async fn block_events(&self, id: BlockId) -> Result<Vec<BlockEvent>, StoreError> {
        self.run(Op::ConsentRead, || self.inner.block_events(id)).await
    }
    async fn texts_after(&self, after: Option<&str>, limit: usize) -> Result<Vec<(String, String)>, StoreError> {
        self.run(Op::ConsentRead, || self.inner.texts_after(after, limit)).await
    }
    async fn audit_citizens_after(
        &self,
        after: Option<([u8; 32], u64)>,
        limit: usize,
    ) -> Result<Vec<([u8; 32], u64)>, StoreError> {
        self.run(Op::AuditRead, || self.inner.audit_citizens_after(after, limit)).await
    }
    async fn import(&self, rows: Import<'_>) -> Result<(), StoreError> {
        self.run(Op::ConsentWrite, || self.inner.import(rows)).await
    }
}

/// The health outbox fails and waits as consent writes and reads do.
#[async_trait::async_trait]
impl<S: HealthOutbox> HealthOutbox for FaultyStore<S> {
    async fn health_enqueue(&self, message: &HealthMessage, audit: OutboxEntry<'_>) -> Result<Enqueued, StoreError> {
        self.run(Op::ConsentWrite, || self.inner.health_enqueue(message, audit)).await
    }
    async fn health_claim(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<HealthMessage>, StoreError> {
        self.run(Op::ConsentWrite, || self.inner.health_claim(owner, now, until, limit)).await
    }
    async fn health_transition(
        &self,
        change: HealthTransition<'_>,
        audit: Option<OutboxEntry<'_>>,
    ) -> Result<bool, StoreError> {
        self.run(Op::ConsentWrite, || self.inner.health_transition(change, audit)).await
    }
    async fn health_message(&self, id: HealthMessageId) -> Result<Option<HealthMessage>, StoreError> {
        self.run(Op::ConsentRead, || self.inner.health_message(id)).await
    }
    async fn health_by_envelope(&self, envelope_id: &str) -> Result<Option<HealthMessage>, StoreError> {
        self.run(Op::ConsentRead, || self.inner.health_by_envelope(envelope_id)).await
    }
    async fn health_messages_after(
        &self,
        after: Option<HealthMessageId>,
        limit: usize,
    ) -> Result<Vec<HealthMessage>, StoreError> {
        self.run(Op::ConsentRead, || self.inner.health_messages_after(after, limit)).await
    }
    async fn health_import(&self, messages: &[HealthMessage]) -> Result<(), StoreError> {
        self.run(Op::ConsentWrite, || self.inner.health_import(messages)).await
    }
}

#[async_trait::async_trait]
impl<S: SessionStore> SessionStore for FaultyStore<S> {
    async fn session_put(&self, key: &str, value: &[u8], expires_at: DateTime<Utc>) -> Result<(), StoreError> {
        self.run(Op::Session, || self.inner.session_put(key, value, expires_at)).await
    }
    async fn session_get(&self, key: &str, now: DateTime<Utc>) -> Result<Option<Vec<u8>>, StoreError> {
        self.run(Op::Session, || self.inner.session_get(key, now)).await
    }
    async fn session_take(&self, key: &str, now: DateTime<Utc>) -> Result<Option<Vec<u8>>, StoreError> {
        self.run(Op::Session, || self.inner.session_take(key, now)).await
    }
    async fn session_purge(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        self.run(Op::Session, || self.inner.session_purge(now)).await
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::SledStore;
    use crate::store::{AuditNode, SharedStore};

    fn batch_of<'a>(first: u64, leaves: &'a [Vec<u8>], nodes: &'a [AuditNode]) -> AuditBatch<'a> {
        AuditBatch { first_index: first, leaves, nodes, checkpoint: b"cp", citizens: &[], outbox: &[] }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
    }

    #[tokio::test]
    async fn a_failing_call_writes_nothing_and_is_counted() {
        let store = FaultyStore::new(SledStore::temporary().unwrap());
        let faults = store.faults();
        let leaves = vec![b"leaf 0".to_vec()];
        let nodes = [AuditNode { level: 0, index: 0, hash: [1; 32] }];

        faults.fail(Op::AuditAppend);
        let e = store.audit_append(batch_of(0, &leaves, &nodes)).await.unwrap_err();
        assert!(e.to_string().contains("injected fault: audit append"), "{e}");
        assert_eq!(store.inner().audit_size().await.unwrap(), 0, "a failing append reached the store");
        assert_eq!((faults.calls(Op::AuditAppend), faults.injected(Op::AuditAppend)), (1, 1));

        // Other classes are unaffected, and count their own calls.
        assert_eq!(store.audit_size().await.unwrap(), 0);
        assert_eq!(faults.calls(Op::AuditRead), 1);
        assert_eq!(faults.injected(Op::AuditRead), 0);

        faults.heal(Op::AuditAppend);
        store.audit_append(batch_of(0, &leaves, &nodes)).await.unwrap();
        assert_eq!(store.inner().audit_size().await.unwrap(), 1);
        assert_eq!((faults.calls(Op::AuditAppend), faults.injected(Op::AuditAppend)), (2, 1));
    }

    #[tokio::test]
    async fn fail_after_writes_then_reports_a_failure() {
        let store = FaultyStore::new(SledStore::temporary().unwrap());
        let faults = store.faults();
        let leaves = vec![b"leaf 0".to_vec(), b"leaf 1".to_vec()];
        faults.fail_after(Op::AuditAppend);
        assert!(faults.failing(Op::AuditAppend));
        let e = store.audit_append(batch_of(0, &leaves, &[])).await.unwrap_err();
        assert!(matches!(e, StoreError::Io(ref m) if m.starts_with("injected fault")), "{e}");
        assert_eq!(store.inner().audit_size().await.unwrap(), 2, "the write went through");
        // A refusal by the wrapped store is passed on as it is.
        let e = store.audit_append(batch_of(0, &leaves, &[])).await.unwrap_err();
        assert!(!e.to_string().contains("injected"), "{e}");
    }

    #[tokio::test]
    async fn a_delayed_call_reaches_the_store_only_after_the_delay() {
        let store = Arc::new(FaultyStore::new(SledStore::temporary().unwrap()));
        let faults = store.faults();
        let leaves = vec![b"leaf 1".to_vec()];
        let t = std::time::Instant::now();
        faults.delay(Op::AuditAppend, std::time::Duration::from_millis(800));
        let s = store.clone();
        let append = tokio::spawn(async move {
            let leaves = vec![b"leaf 0".to_vec()];
            s.audit_append(batch_of(0, &leaves, &[])).await
        });
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert_eq!(store.inner().audit_size().await.unwrap(), 0, "the delayed append reached the store early");
        assert!(!append.is_finished());
        append.await.unwrap().unwrap();
        assert_eq!(store.inner().audit_size().await.unwrap(), 1);
        assert!(t.elapsed() >= std::time::Duration::from_millis(800), "{:?}", t.elapsed());
        // Healed: no delay left (a lower bound only; the machine may be slow).
        faults.heal_everything();
        assert!(faults.delay_of(Op::AuditAppend).is_zero());
        store.audit_append(batch_of(1, &leaves, &[])).await.unwrap();
        assert_eq!(store.inner().audit_size().await.unwrap(), 2);
    }

    #[tokio::test]
    async fn everything_fails_then_everything_heals() {
        let store: SharedStore = {
            let s = FaultyStore::new(SledStore::temporary().unwrap());
            let faults = s.faults();
            faults.fail_everything();
            let shared: SharedStore = Arc::new(s);
            assert!(shared.ping().await.is_err());
            assert!(shared.session_put("k", b"v", now() + chrono::Duration::minutes(1)).await.is_err());
            assert!(shared.consent_ids().await.is_err());
            assert!(shared.audit_pruned_below().await.is_err());
            let prune = AuditPrune { start: 0, end: 0, citizens: &[] };
            assert!(shared.audit_prune(prune).await.unwrap_err().to_string().contains("audit prune"));
            assert!(Op::ALL.iter().all(|&op| faults.failing(op)));
            assert_eq!(faults.total_calls(), 5);
            faults.heal_everything();
            assert!(!faults.failing(Op::Ping));
            shared
        };
        store.ping().await.unwrap();
        store.session_put("k", b"v", now() + chrono::Duration::minutes(1)).await.unwrap();
        assert_eq!(store.session_take("k", now()).await.unwrap().as_deref(), Some(&b"v"[..]));
    }

    #[tokio::test]
    async fn a_failing_consent_write_reaches_nothing() {
        use crate::block::{BlockEventKind, BlockTarget, apply_block};
        let store = FaultyStore::new(SledStore::temporary().unwrap());
        let faults = store.faults();
        let citizen = Cpr::parse("0101709900").unwrap();
        let event = BlockEvent {
            block_id: BlockId::new(),
            version: 1,
            at: now(),
            channel: crate::Channel::Portal,
            kind: BlockEventKind::Placed { citizen, target: BlockTarget::Unit(UnitId::parse("kk.jobcenter").unwrap()) },
        };
        let block = apply_block(None, &event).unwrap();
        faults.fail(Op::ConsentWrite);
        let e = store
            .commit_block(
                &event,
                &block,
                crate::store::OutboxEntry { id: crate::store::OutboxId::new(), leaf: b"{}", citizen: None },
            )
            .await
            .unwrap_err();
        assert!(e.to_string().contains("injected fault: consent write"), "{e}");
        assert!(store.import_consents(&[]).await.is_err());
        assert_eq!(store.inner().block(block.id).await.unwrap(), None, "a failing block write reached the store");
        assert_eq!((faults.calls(Op::ConsentWrite), faults.injected(Op::ConsentWrite)), (2, 2));
        faults.heal(Op::ConsentWrite);
        store
            .commit_block(
                &event,
                &block,
                crate::store::OutboxEntry { id: crate::store::OutboxId::new(), leaf: b"{}", citizen: None },
            )
            .await
            .unwrap();
        assert_eq!(store.block(block.id).await.unwrap(), Some(block));
        assert_eq!(faults.calls(Op::ConsentRead), 1);
    }

    #[tokio::test]
    async fn faults_switch_sessions_and_consent_writes_separately() {
        let store = FaultyStore::new(SledStore::temporary().unwrap());
        let faults = store.faults();
        faults.fail(Op::Session);
        let e = store.session_get("k", now()).await.unwrap_err();
        assert_eq!(e.to_string(), "the store failed: injected fault: session");
        store.ping().await.unwrap();
        faults.heal(Op::Session);
        faults.fail(Op::ConsentWrite);
        store.session_put("k", b"v", now() + chrono::Duration::minutes(1)).await.unwrap();
        assert_eq!(faults.calls(Op::Session), 2);
        assert_eq!(faults.injected(Op::Session), 1);
        assert_eq!(faults.calls(Op::ConsentWrite), 0, "no consent write was attempted");
        let dbg = format!("{faults:?}");
        assert!(dbg.contains("ConsentWrite"), "{dbg}");
    }
}
