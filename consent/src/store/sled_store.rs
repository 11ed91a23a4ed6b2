//! The embedded default: sled 0.34.
//!
//! Trees (keys are big-endian and fixed-width where it matters, so prefix scans work):
//!
//! | tree               | key                                                  | value          |
//! |--------------------|------------------------------------------------------|----------------|
//! | `consent_events`   | consent id (16) · version (u32)                      | event (JSON)   |
//! | `consents`         | consent id (16)                                      | state (JSON)   |
//! | `citizen_consents` | cpr (10) · consent id (16)                           | —              |
//! | `active_consents`  | cpr (10) · purpose                                   | the active consents (compact binary, `sled_active.rs`) |
//! | `requested_index`  | cpr (10) · consent id (16)                           | —              |
//! | `block_events`     | block id (16) · version (u32)                        | event (JSON)   |
//! | `blocks`           | block id (16)                                        | state (JSON)   |
//! | `citizen_blocks`   | cpr (10) · block id (16), active blocks only         | —              |
//! | `texts`            | SHA-256 (hex)                                        | text body      |
//!
//! `active_consents` holds every consent in the recorded state `active`, once, in the value
//! of its citizen and purpose, so a decision's lookup is one read and decodes no JSON. It is derived from `consents`: the default tree's key
//! `layout.active_consents` names the layout it was built with, and a store opened with
//! another (or none, such as a store of an earlier build, whose `active_index` held one
//! empty key per category) has it rebuilt from `consents` before anything is read.
//!
//! The audit log's trees are described in `sled_audit.rs`, the health outbox's in
//! `sled_health.rs`. Every consent and block commit
//! also writes the change's audit record into `audit_outbox` in the same transaction.
//!
//! Every commit is one multi-tree transaction followed by a flush and a sync of the files
//! that hold it (`sled_sync.rs`), so an acknowledged write is on disk, also after a power
//! cut, and the indexes never disagree with the state.

use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};

use super::sled_active;
use super::sled_audit::{AuditTrees, encode_outbox};
use super::sled_health::trees::HealthTrees;
use super::sled_sync::DirSync;
use super::{AuditBatch, AuditPrune, ConsentChange, Import, OutboxEntry, PendingAudit, Store, StoreError};
use crate::block::{Block, BlockEvent, BlockId};
use crate::cpr::Cpr;
use crate::organisation::UnitId;
use crate::record::{Consent, ConsentEvent, ConsentId, State};
use crate::vocabulary::{Category, Purpose};

/// The sled-backed store. Cheap to clone (sled handles are reference counted).
///
/// Writes go one at a time: every write transaction and the flush that makes it durable
/// run under `write_gate`. sled 0.34 deadlocks when many transactions and flushes run
/// concurrently (contended transactions escalate to its exclusive concurrency-control
/// lock while its I/O threads wait in `flush` for log stability; reproduced by
/// `tests/concurrency.rs`). Reads take no lock. Group commit in the audit log and the
/// ledger's low write rate keep the cost of serial writes small.
#[derive(Clone)]
pub struct SledStore {
    db: sled::Db,
    /// The handles synced after every flush; `None` for a temporary store.
    sync: Option<std::sync::Arc<DirSync>>,
    write_gate: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// Tests only: writes skip the gate (to show what it prevents).
    #[cfg(feature = "test-support")]
    ungated: bool,
    consent_events: sled::Tree,
    consents: sled::Tree,
    citizen_consents: sled::Tree,
    active_index: sled::Tree,
    requested_index: sled::Tree,
    block_events: sled::Tree,
    blocks: sled::Tree,
    citizen_blocks: sled::Tree,
    texts: sled::Tree,
    audit: AuditTrees,
    health: HealthTrees,
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        match e {
            sled::Error::Corruption { .. } => StoreError::Corrupt(e.to_string()),
            e => StoreError::Io(e.to_string()),
        }
    }
}

impl From<TransactionError<StoreError>> for StoreError {
    fn from(e: TransactionError<StoreError>) -> Self {
        match e {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => e.into(),
        }
    }
}

fn to_json<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("domain types serialize")
}

fn from_json<T: DeserializeOwned>(b: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(b).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn versioned(id: &[u8; 16], version: u32) -> Vec<u8> {
    cat(&[id, &version.to_be_bytes()])
}

/// The key of a citizen's active consents for one purpose in `active_consents`.
fn active_key(citizen: &Cpr, purpose: &Purpose) -> Vec<u8> {
    cat(&[citizen.as_bytes(), purpose.as_str().as_bytes()])
}

/// Replaces `consent`'s entry in its index value (`sled_active::replace`), in a transaction.
fn index_active(active: &TransactionalTree, consent: &Consent) -> Result<(), Abort> {
    let key = active_key(&consent.terms.citizen, &consent.terms.purpose);
    let old = active.get(&key)?;
    match sled_active::replace(old.as_deref(), consent).map_err(Abort::Abort)? {
        Some(value) => active.insert(key, value)?,
        None => active.remove(key)?,
    };
    Ok(())
}

/// The tree of active consents, and the default tree's key naming its layout.
const ACTIVE_TREE: &str = "active_consents";
const ACTIVE_LAYOUT_KEY: &[u8] = b"layout.active_consents";
/// The tree of an earlier build's active index (one empty key per category), removed when
/// `active_consents` is built.
const OLD_ACTIVE_TREE: &str = "active_index";

type Abort = ConflictableTransactionError<StoreError>;

fn check_version(tree: &TransactionalTree, id: &[u8; 16], event_version: u32, state_version: u32) -> Result<(), Abort> {
    let expected = event_version.checked_sub(1).ok_or(Abort::Abort(StoreError::Conflict { expected: 0 }))?;
    let stored = match tree.get(id)? {
        None => 0,
        Some(b) => {
            #[derive(serde::Deserialize)]
            struct V {
                version: u32,
            }
            from_json::<V>(&b).map_err(Abort::Abort)?.version
        }
    };
    if stored != expected || state_version != event_version {
        return Err(Abort::Abort(StoreError::Conflict { expected }));
    }
    Ok(())
}

impl SledStore {
    /// Opens (or creates) the store in `dir`, with sled's default options.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Self::open_with(dir, super::SledOptions::default())
    }

    /// Opens (or creates) the store in `dir` with `options`.
    pub fn open_with(dir: &Path, options: super::SledOptions) -> Result<Self, StoreError> {
        let db = sled::Config::new()
            .path(dir)
            .mode(sled::Mode::HighThroughput)
            .cache_capacity(options.cache_bytes)
            .open()?;
        let sync = DirSync::open(dir)?;
        Self::from_db(db, Some(std::sync::Arc::new(sync)))
    }

    /// A store that lives in memory only (for tests and benchmarks that say so).
    pub fn temporary() -> Result<Self, StoreError> {
        Self::from_db(sled::Config::new().temporary(true).open()?, None)
    }

    fn from_db(db: sled::Db, sync: Option<std::sync::Arc<DirSync>>) -> Result<Self, StoreError> {
        let t = |name: &str| db.open_tree(name);
        let store = Self {
            consent_events: t("consent_events")?,
            consents: t("consents")?,
            citizen_consents: t("citizen_consents")?,
            active_index: t(ACTIVE_TREE)?,
            requested_index: t("requested_index")?,
            block_events: t("block_events")?,
            blocks: t("blocks")?,
            citizen_blocks: t("citizen_blocks")?,
            texts: t("texts")?,
            audit: AuditTrees::open(&db)?,
            health: HealthTrees::open(&db)?,
            write_gate: Default::default(),
            #[cfg(feature = "test-support")]
            ungated: false,
            sync,
            db,
        };
        store.build_active_index()?;
        Ok(store)
    }

    /// Builds `active_consents` from `consents` unless it was built with this layout (see
    /// the module documentation), then removes an earlier build's index. Runs at open,
    /// before the store is shared; a crash part way leaves the layout key unset, so the
    /// next open starts over.
    fn build_active_index(&self) -> Result<(), StoreError> {
        if self.db.get(ACTIVE_LAYOUT_KEY)?.as_deref() == Some(&[sled_active::VERSION][..]) {
            return Ok(());
        }
        self.active_index.clear()?;
        for v in self.consents.iter().values() {
            let c: Consent = from_json(&v?)?;
            if c.state == State::Active {
                let key = active_key(&c.terms.citizen, &c.terms.purpose);
                let old = self.active_index.get(&key)?;
                if let Some(value) = sled_active::replace(old.as_deref(), &c)? {
                    self.active_index.insert(key, value)?;
                }
            }
        }
        self.db.flush()?;
        self.db.insert(ACTIVE_LAYOUT_KEY, &[sled_active::VERSION])?;
        if self.db.tree_names().iter().any(|n| n.as_ref() == OLD_ACTIVE_TREE.as_bytes()) {
            self.db.drop_tree(OLD_ACTIVE_TREE)?;
        }
        self.db.flush()?;
        if let Some(sync) = &self.sync {
            sync.sync()?;
        }
        Ok(())
    }

    /// Reads what a decision's lookup reads (the active index and the blocks by citizen)
    /// once, so sled's page cache holds it before the first requests ask: a lookup then
    /// reads no page from disk while the cache (`SledOptions::cache_bytes`) is larger than
    /// those trees. Returns the bytes of keys and values read. [`crate::store::open`] runs it
    /// before it returns the store.
    pub fn warm(&self) -> Result<u64, StoreError> {
        let mut bytes = 0u64;
        for tree in [&self.active_index, &self.citizen_blocks] {
            for kv in tree.iter() {
                let (k, v) = kv?;
                bytes += (k.len() + v.len()) as u64;
            }
        }
        Ok(bytes)
    }

    /// Bytes on disk.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        Ok(self.db.size_on_disk()?)
    }

    /// Makes everything written so far durable (flush and sync).
    pub async fn flush(&self) -> Result<(), StoreError> {
        let _gate = self.gate().await;
        self.durable().await
    }

    /// Flushes sled's log, then syncs the files that hold it. Called under the write gate
    /// at the end of every write that is acknowledged as durable.
    pub(super) async fn durable(&self) -> Result<(), StoreError> {
        self.db.flush_async().await?;
        if let Some(sync) = &self.sync {
            let sync = sync.clone();
            tokio::task::spawn_blocking(move || sync.sync())
                .await
                .map_err(|e| StoreError::Io(format!("the sync task failed: {e}")))??;
        }
        Ok(())
    }

    /// The health outbox's trees (`sled_health.rs`).
    pub(super) fn health(&self) -> &HealthTrees {
        &self.health
    }

    /// The audit outbox, written in the health outbox's transactions (`sled_health.rs`).
    pub(super) fn audit_outbox_tree(&self) -> &sled::Tree {
        &self.audit.outbox
    }

    /// The database, for the session tree (`sled_sessions.rs`).
    pub(super) fn db(&self) -> &sled::Db {
        &self.db
    }

    /// The write gate's guard, held through a write and its flush.
    pub(super) async fn gate(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        #[cfg(feature = "test-support")]
        if self.ungated {
            return None;
        }
        Some(self.write_gate.lock().await)
    }

    /// This store with writes no longer passing the write gate, for the test that shows
    /// what the gate prevents. Never for anything else: sled 0.34 can deadlock without it.
    #[cfg(feature = "test-support")]
    #[doc(hidden)]
    pub fn without_write_gate(mut self) -> Self {
        self.ungated = true;
        self
    }

    /// One of the store's sled trees by name, for tests that tamper with stored bytes.
    /// Not for production code: nothing outside this module may reach the sled database.
    #[cfg(feature = "test-support")]
    #[doc(hidden)]
    pub fn raw_tree(&self, name: &str) -> Result<sled::Tree, StoreError> {
        Ok(self.db.open_tree(name)?)
    }

    fn get_json<T: DeserializeOwned>(tree: &sled::Tree, key: &[u8]) -> Result<Option<T>, StoreError> {
        tree.get(key)?.map(|b| from_json(&b)).transpose()
    }

    /// Up to `limit` JSON values of `tree` (keyed by a 16-byte id) after `after`.
    fn after<T: DeserializeOwned>(
        tree: &sled::Tree,
        after: Option<&[u8; 16]>,
        limit: usize,
    ) -> Result<Vec<T>, StoreError> {
        use std::ops::Bound;
        let start = match after {
            Some(id) => Bound::Excluded(id.to_vec()),
            None => Bound::Unbounded,
        };
        tree.range::<Vec<u8>, _>((start, Bound::Unbounded)).values().take(limit).map(|v| from_json(&v?)).collect()
    }

    /// Writes exported consents with their events and indexes in one transaction.
    fn import_consents_rows(&self, rows: &[(Consent, Vec<ConsentEvent>)]) -> Result<(), StoreError> {
        let encoded: Vec<_> = rows
            .iter()
            .map(|(c, es)| (c, to_json(c), es.iter().map(|e| (e.version, to_json(e))).collect::<Vec<_>>()))
            .collect();
        (&self.consent_events, &self.consents, &self.citizen_consents, &self.active_index, &self.requested_index)
            .transaction(|(events, consents, citizen, active, requested)| {
                for (state, state_json, event_jsons) in &encoded {
                    let id = state.id.as_bytes();
                    if consents.get(id)?.is_some() {
                        return Err(Abort::Abort(StoreError::Conflict { expected: 0 }));
                    }
                    for (version, json) in event_jsons {
                        events.insert(versioned(id, *version), json.as_slice())?;
                    }
                    consents.insert(id, state_json.as_slice())?;
                    let t = &state.terms;
                    let by_citizen = cat(&[t.citizen.as_bytes(), id]);
                    citizen.insert(by_citizen.as_slice(), &[])?;
                    if state.state == State::Active {
                        index_active(active, state)?;
                    }
                    if state.state == State::Requested {
                        requested.insert(by_citizen.as_slice(), &[])?;
                    }
                }
                Ok(())
            })?;
        Ok(())
    }

    /// Writes exported blocks with their events and index in one transaction.
    fn import_blocks_rows(&self, rows: &[(Block, Vec<BlockEvent>)]) -> Result<(), StoreError> {
        let encoded: Vec<_> = rows
            .iter()
            .map(|(b, es)| (b, to_json(b), es.iter().map(|e| (e.version, to_json(e))).collect::<Vec<_>>()))
            .collect();
        (&self.block_events, &self.blocks, &self.citizen_blocks).transaction(|(events, blocks, citizen)| {
            for (state, state_json, event_jsons) in &encoded {
                let id = state.id.as_bytes();
                if blocks.get(id)?.is_some() {
                    return Err(Abort::Abort(StoreError::Conflict { expected: 0 }));
                }
                for (version, json) in event_jsons {
                    events.insert(versioned(id, *version), json.as_slice())?;
                }
                blocks.insert(id, state_json.as_slice())?;
                if state.is_active() {
                    citizen.insert(cat(&[state.citizen.as_bytes(), id]), &[])?;
                }
            }
            Ok(())
        })?;
        Ok(())
    }

    fn consents_by_index(&self, tree: &sled::Tree, prefix: &[u8]) -> Result<Vec<Consent>, StoreError> {
        let mut out = Vec::new();
        for kv in tree.scan_prefix(prefix).keys() {
            let k = kv?;
            let id = &k[k.len() - 16..];
            let c: Consent = Self::get_json(&self.consents, id)?
                .ok_or_else(|| StoreError::Corrupt("an index names a consent that is not stored".into()))?;
            out.push(c);
        }
        Ok(out)
    }
}

#[async_trait::async_trait]
impl Store for SledStore {
    async fn commit_consent(&self, change: ConsentChange<'_>) -> Result<(), StoreError> {
        self.import_consents(std::slice::from_ref(&change)).await
    }

    async fn import_consents(&self, changes: &[ConsentChange<'_>]) -> Result<(), StoreError> {
        let encoded: Vec<_> =
            changes.iter().map(|c| (c, to_json(c.event), to_json(c.state), encode_outbox(&c.audit))).collect();
        let _gate = self.gate().await;
        (
            &self.consent_events,
            &self.consents,
            &self.citizen_consents,
            &self.active_index,
            &self.requested_index,
            &self.texts,
            &self.audit.outbox,
        )
            .transaction(|(events, consents, citizen, active, requested, texts, outbox)| {
                for (change, event_json, state_json, audit_value) in &encoded {
                    let ConsentChange { event, state, text_body, audit } = **change;
                    if event.consent_id != state.id {
                        return Err(Abort::Abort(StoreError::Conflict { expected: 0 }));
                    }
                    let id = state.id.as_bytes();
                    let t = &state.terms;
                    check_version(consents, id, event.version, state.version)?;
                    events.insert(versioned(id, event.version), event_json.as_slice())?;
                    consents.insert(id, state_json.as_slice())?;
                    let by_citizen = cat(&[t.citizen.as_bytes(), id]);
                    citizen.insert(by_citizen.as_slice(), &[])?;
                    index_active(active, state)?;
                    if state.state == State::Requested {
                        requested.insert(by_citizen.as_slice(), &[])?;
                    } else {
                        requested.remove(by_citizen.as_slice())?;
                    }
                    if let Some(body) = text_body {
                        texts.insert(t.text.sha256.as_bytes(), body.as_bytes())?;
                    }
                    if outbox.insert(&audit.id.as_bytes()[..], audit_value.as_slice())?.is_some() {
                        return Err(Abort::Abort(StoreError::Corrupt("an audit outbox id was used twice".into())));
                    }
                }
                Ok(())
            })?;
        self.durable().await
    }

    async fn commit_block(&self, event: &BlockEvent, state: &Block, audit: OutboxEntry<'_>) -> Result<(), StoreError> {
        let id = state.id.as_bytes();
        let event_json = to_json(event);
        let state_json = to_json(state);
        let audit_value = encode_outbox(&audit);
        let key = cat(&[state.citizen.as_bytes(), id]);
        let _gate = self.gate().await;
        let trees = (&self.block_events, &self.blocks, &self.citizen_blocks, &self.audit.outbox);
        trees.transaction(|(events, blocks, citizen, outbox)| {
            check_version(blocks, id, event.version, state.version)?;
            if outbox.insert(&audit.id.as_bytes()[..], audit_value.as_slice())?.is_some() {
                return Err(Abort::Abort(StoreError::Corrupt("an audit outbox id was used twice".into())));
            }
            events.insert(versioned(id, event.version), event_json.as_slice())?;
            blocks.insert(id, state_json.as_slice())?;
            if state.is_active() {
                citizen.insert(key.as_slice(), &[])?;
            } else {
                citizen.remove(key.as_slice())?;
            }
            Ok(())
        })?;
        self.durable().await
    }

    async fn consent(&self, id: ConsentId) -> Result<Option<Consent>, StoreError> {
        Self::get_json(&self.consents, id.as_bytes())
    }

    async fn consent_events(&self, id: ConsentId) -> Result<Vec<ConsentEvent>, StoreError> {
        self.consent_events.scan_prefix(id.as_bytes()).values().map(|v| from_json(&v?)).collect()
    }

    async fn consents_of(&self, citizen: &Cpr) -> Result<Vec<Consent>, StoreError> {
        self.consents_by_index(&self.citizen_consents, citizen.as_bytes())
    }

    async fn active_for(
        &self,
        citizen: &Cpr,
        grantees: &[UnitId],
        purpose: &Purpose,
        category: &Category,
    ) -> Result<Vec<Consent>, StoreError> {
        let mut out = self.active_for_each(citizen, grantees, purpose, std::slice::from_ref(category)).await?;
        Ok(out.pop().unwrap_or_default())
    }

    /// One read: the index value of the citizen and purpose holds every active consent of
    /// it; the entries of the grantees asked are picked by their grantee and decoded, each once
    /// however many of the categories it names. Per category the order is `active_for`'s:
    /// grantees in the order given, then consent id.
    async fn active_for_each(
        &self,
        citizen: &Cpr,
        grantees: &[UnitId],
        purpose: &Purpose,
        categories: &[Category],
    ) -> Result<Vec<Vec<Consent>>, StoreError> {
        let mut out: Vec<Vec<Consent>> = vec![Vec::new(); categories.len()];
        let Some(value) = self.active_index.get(active_key(citizen, purpose))? else {
            return Ok(out);
        };
        // Found consents by the position of their grantee in `grantees`.
        let mut found: Vec<(usize, Consent)> = Vec::new();
        for entry in sled_active::entries(&value)? {
            let grantee = sled_active::entry_grantee(entry)?;
            let Some(at) = grantees.iter().position(|g| g.as_str() == grantee) else {
                continue;
            };
            let consent = sled_active::decode(entry)?;
            if consent.terms.citizen != *citizen || consent.terms.purpose != *purpose || consent.state != State::Active
            {
                return Err(StoreError::Corrupt("an active index entry under another citizen or purpose".into()));
            }
            found.push((at, consent));
        }
        // Stable: within a grantee the entries are in consent id order.
        found.sort_by_key(|(at, _)| *at);
        for (_, consent) in found {
            let wanted: Vec<usize> = categories
                .iter()
                .enumerate()
                .filter(|(_, c)| consent.terms.categories.contains(*c))
                .map(|(i, _)| i)
                .collect();
            if let Some((&last, rest)) = wanted.split_last() {
                for &i in rest {
                    out[i].push(consent.clone());
                }
                out[last].push(consent);
            }
        }
        Ok(out)
    }

    async fn requested_of(&self, citizen: &Cpr) -> Result<Vec<Consent>, StoreError> {
        self.consents_by_index(&self.requested_index, citizen.as_bytes())
    }

    async fn block(&self, id: BlockId) -> Result<Option<Block>, StoreError> {
        Self::get_json(&self.blocks, id.as_bytes())
    }

    async fn active_blocks(&self, citizen: &Cpr) -> Result<Vec<Block>, StoreError> {
        let mut out = Vec::new();
        for k in self.citizen_blocks.scan_prefix(citizen.as_bytes()).keys() {
            let k = k?;
            let b: Block = Self::get_json(&self.blocks, &k[10..])?
                .ok_or_else(|| StoreError::Corrupt("an index names a block that is not stored".into()))?;
            out.push(b);
        }
        Ok(out)
    }

    async fn text(&self, sha256: &str) -> Result<Option<String>, StoreError> {
        Ok(self.texts.get(sha256.as_bytes())?.map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    async fn consent_ids(&self) -> Result<Vec<ConsentId>, StoreError> {
        self.consents
            .iter()
            .keys()
            .map(|k| {
                let k = k?;
                let b: [u8; 16] = k.as_ref().try_into().map_err(|_| StoreError::Corrupt("consent key".into()))?;
                Ok(ConsentId(uuid::Uuid::from_bytes(b)))
            })
            .collect()
    }

    async fn audit_append(&self, batch: AuditBatch<'_>) -> Result<(), StoreError> {
        let _gate = self.gate().await;
        self.audit.append(&batch)?;
        self.durable().await
    }

    async fn audit_outbox(&self, limit: usize) -> Result<Vec<PendingAudit>, StoreError> {
        self.audit.outbox(limit)
    }

    async fn audit_size(&self) -> Result<u64, StoreError> {
        self.audit.size()
    }

    async fn audit_leaves(&self, start: u64, end: u64) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        self.audit.leaves(start, end)
    }

    async fn audit_nodes(&self, keys: &[(u8, u64)]) -> Result<Vec<Option<[u8; 32]>>, StoreError> {
        self.audit.nodes(keys)
    }

    async fn audit_checkpoints(&self, start: u64, end: u64) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        self.audit.checkpoints(start, end)
    }

    async fn audit_latest_checkpoint(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        self.audit.latest_checkpoint()
    }

    async fn audit_checkpoint_at_or_below(&self, tree_size: u64) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        self.audit.checkpoint_at_or_below(tree_size)
    }

    async fn audit_citizen_leaves(
        &self,
        citizen: &[u8; 32],
        before: u64,
        limit: usize,
    ) -> Result<Vec<u64>, StoreError> {
        self.audit.citizen_leaves(citizen, before, limit)
    }

    async fn audit_prune(&self, prune: AuditPrune<'_>) -> Result<(), StoreError> {
        let _gate = self.gate().await;
        self.audit.prune(&prune)?;
        self.durable().await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.flush().await
    }

    async fn audit_pruned_below(&self) -> Result<u64, StoreError> {
        self.audit.pruned_below()
    }

    async fn consents_after(&self, after: Option<ConsentId>, limit: usize) -> Result<Vec<Consent>, StoreError> {
        Self::after(&self.consents, after.as_ref().map(|id| id.as_bytes()), limit)
    }

    async fn blocks_after(&self, after: Option<BlockId>, limit: usize) -> Result<Vec<Block>, StoreError> {
        Self::after(&self.blocks, after.as_ref().map(|id| id.as_bytes()), limit)
    }

    async fn block_events(&self, id: BlockId) -> Result<Vec<BlockEvent>, StoreError> {
        self.block_events.scan_prefix(id.as_bytes()).values().map(|v| from_json(&v?)).collect()
    }

    async fn texts_after(&self, after: Option<&str>, limit: usize) -> Result<Vec<(String, String)>, StoreError> {
        use std::ops::Bound;
        let start = match after {
            Some(a) => Bound::Excluded(a.as_bytes().to_vec()),
            None => Bound::Unbounded,
        };
        self.texts
            .range::<Vec<u8>, _>((start, Bound::Unbounded))
            .take(limit)
            .map(|kv| {
                let (k, v) = kv?;
                let text = |b: &[u8]| {
                    String::from_utf8(b.to_vec()).map_err(|_| StoreError::Corrupt("a stored text is not UTF-8".into()))
                };
                Ok((text(&k)?, text(&v)?))
            })
            .collect()
    }

    async fn audit_citizens_after(
        &self,
        after: Option<([u8; 32], u64)>,
        limit: usize,
    ) -> Result<Vec<([u8; 32], u64)>, StoreError> {
        self.audit.citizens_after(after, limit)
    }

    async fn import(&self, rows: Import<'_>) -> Result<(), StoreError> {
        rows.check()?;
        let _gate = self.gate().await;
        match rows {
            Import::Texts(texts) => {
                self.texts.transaction(|t| {
                    for (sha, body) in texts {
                        t.insert(sha.as_bytes(), body.as_bytes())?;
                    }
                    Ok::<_, Abort>(())
                })?;
            }
            Import::Consents(rows) => self.import_consents_rows(rows)?,
            Import::Blocks(rows) => self.import_blocks_rows(rows)?,
            Import::AuditOutbox(rows) => self.audit.import_outbox(rows)?,
            Import::AuditCitizens(rows) => self.audit.import_citizens(rows)?,
        }
        self.durable().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn consent(n: u128, state: State, purpose: &str, categories: &[&str]) -> Consent {
        let mut c = sled_active::tests::full();
        c.id = ConsentId(uuid::Uuid::from_u128(n));
        c.state = state;
        c.terms.purpose = Purpose::parse(purpose).unwrap();
        c.terms.categories = categories.iter().map(|c| Category::parse(c).unwrap()).collect();
        c
    }

    async fn lookup(store: &SledStore) -> Vec<Vec<ConsentId>> {
        let c = sled_active::tests::full();
        let cats: Vec<Category> = ["a.one", "a.two", "a.three"].iter().map(|c| Category::parse(c).unwrap()).collect();
        let found = store
            .active_for_each(
                &c.terms.citizen,
                std::slice::from_ref(&c.terms.grantee),
                &Purpose::parse("p").unwrap(),
                &cats,
            )
            .await
            .unwrap();
        found.into_iter().map(|v| v.into_iter().map(|c| c.id).collect()).collect()
    }

    /// A store of an earlier build (an `active_index` of empty keys, no layout key) gets its
    /// active consents indexed again at open, from the consents themselves.
    #[tokio::test]
    async fn an_earlier_layout_is_rebuilt_at_open() {
        let store = SledStore::temporary().unwrap();
        let rows = vec![
            (consent(1, State::Active, "p", &["a.one", "a.two"]), vec![]),
            (consent(2, State::Revoked, "p", &["a.one"]), vec![]),
            (consent(3, State::Active, "q", &["a.one"]), vec![]),
            (consent(4, State::Active, "p", &["a.two", "a.three"]), vec![]),
        ];
        store.import_consents_rows(&rows).unwrap();
        let id = |n| ConsentId(uuid::Uuid::from_u128(n));
        let expected = vec![vec![id(1)], vec![id(1), id(4)], vec![id(4)]];
        assert_eq!(lookup(&store).await, expected);

        // What an earlier build left: its own index, and none of ours.
        store.active_index.clear().unwrap();
        store.db.remove(ACTIVE_LAYOUT_KEY).unwrap();
        store.db.open_tree(OLD_ACTIVE_TREE).unwrap().insert(b"an old key", &[]).unwrap();
        assert_eq!(lookup(&store).await, vec![Vec::<ConsentId>::new(); 3], "the lookup reads the new tree only");

        let reopened = SledStore::from_db(store.db.clone(), None).unwrap();
        assert_eq!(lookup(&reopened).await, expected);
        assert!(!reopened.db.tree_names().iter().any(|n| n.as_ref() == OLD_ACTIVE_TREE.as_bytes()));
        assert_eq!(reopened.db.get(ACTIVE_LAYOUT_KEY).unwrap().as_deref(), Some(&[sled_active::VERSION][..]));

        // Built once: a store opened with the current layout is not rebuilt (an entry put
        // there by hand stays).
        let key = active_key(&rows[1].0.terms.citizen, &rows[1].0.terms.purpose);
        let old = reopened.active_index.get(&key).unwrap();
        let forged =
            sled_active::replace(old.as_deref(), &consent(2, State::Active, "p", &["a.one"])).unwrap().unwrap();
        reopened.active_index.insert(key.as_slice(), forged).unwrap();
        let again = SledStore::from_db(store.db.clone(), None).unwrap();
        assert_eq!(lookup(&again).await[0], vec![id(1), id(2)]);
    }

    #[test]
    fn warming_reads_the_lookup_index() {
        let store = SledStore::temporary().unwrap();
        assert_eq!(store.warm().unwrap(), 0);
        let c = consent(1, State::Active, "p", &["a.one"]);
        store.import_consents_rows(&[(c.clone(), vec![])]).unwrap();
        let value = store.active_index.get(active_key(&c.terms.citizen, &c.terms.purpose)).unwrap().unwrap();
        let key = active_key(&c.terms.citizen, &c.terms.purpose);
        assert_eq!(store.warm().unwrap(), (key.len() + value.len()) as u64);
    }

    #[tokio::test]
    async fn a_damaged_index_value_is_corruption() {
        let store = SledStore::temporary().unwrap();
        let c = consent(1, State::Active, "p", &["a.one"]);
        store.import_consents_rows(&[(c.clone(), vec![])]).unwrap();
        let key = active_key(&c.terms.citizen, &c.terms.purpose);
        let cats = [Category::parse("a.one").unwrap()];
        let ask =
            || store.active_for_each(&c.terms.citizen, std::slice::from_ref(&c.terms.grantee), &c.terms.purpose, &cats);

        // Another purpose's consent under this key, then a value that is cut short.
        let other = sled_active::replace(None, &consent(9, State::Active, "q", &["a.one"])).unwrap().unwrap();
        store.active_index.insert(key.as_slice(), other).unwrap();
        assert!(matches!(ask().await, Err(StoreError::Corrupt(m)) if m.contains("another citizen or purpose")));
        let good = sled_active::replace(None, &c).unwrap().unwrap();
        store.active_index.insert(key.as_slice(), &good[..40]).unwrap();
        assert!(matches!(ask().await, Err(StoreError::Corrupt(_))));
    }
}
