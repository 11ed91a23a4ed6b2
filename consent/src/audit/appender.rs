//! [`AuditLog`]: group-committed appends, and reads of records, roots and proofs.
//!
//! The writer task is also the only drainer of the audit outbox (the records that consent
//! and block changes commit in their own transactions, see [`crate::store::OutboxEntry`]):
//! [`AuditLog::wait_outbox`] hands it the records of a committed change and waits, every
//! [`AuditConfig::outbox_retry`] it appends whatever else is pending (a change whose caller
//! gave up, a batch that failed), and [`AuditLog::open`] drains what a crash left before the
//! log answers anything. Each drained entry is deleted in the transaction that appends its
//! leaf, and the writer remembers which ids it drained by scanning, so a record reaches the
//! log exactly once. That dedupe is in memory, which is right for one process per sled
//! store; the PostgreSQL adapter must make the drain safe across instances (delete the
//! batch's outbox rows with `delete … returning` in the batch transaction, and append only
//! the rows that delete returned).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use ed25519_dalek::{SigningKey, VerifyingKey};
use tokio::sync::{mpsc, oneshot};

use super::AuditError;
use super::checkpoint::SignedCheckpoint;
use super::merkle::{Frontier, Hash, Span, consistency_spans, fold, inclusion_spans, leaf_hash};
use super::note::{CheckpointNote, NoteVerifier, Origin};
use super::query::CitizenIndex;
use super::record::{AuditKind, AuditRecord};
use crate::clock::{Clock, SystemClock};
use crate::store::{AuditBatch, AuditNode, OutboxEntry, OutboxId, Store, StoreError};

#[derive(Debug, Clone)]
pub struct AuditConfig {
    /// The most records one group commit takes from the queue (a single append larger than
    /// this is still written whole, alone).
    pub max_batch: usize,
    /// How often the writer looks for records left in the outbox and appends them.
    pub outbox_retry: Duration,
    /// The time of each signed checkpoint (never earlier than the previous one's).
    pub clock: Arc<dyn Clock>,
    /// The log's name in its signed-note checkpoints ([`AuditLog::checkpoint_note`]);
    /// default [`Origin::for_key`].
    pub origin: Option<Origin>,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self { max_batch: 1024, outbox_retry: Duration::from_secs(2), clock: Arc::new(SystemClock), origin: None }
    }
}

/// How many drained outbox ids the writer remembers (to answer a late waiter without
/// appending its record twice).
const REMEMBERED_DRAINS: usize = 65_536;

/// An audit record ready for the outbox: built by [`AuditLog::outbox_record`], committed with
/// its change through [`OutboxRecord::entry`], then waited for with [`AuditLog::wait_outbox`].
#[derive(Debug, Clone)]
pub struct OutboxRecord {
    pub id: OutboxId,
    /// The record's canonical bytes.
    pub bytes: Vec<u8>,
    /// The record's per-citizen index key.
    pub citizen: Option<Hash>,
}

impl OutboxRecord {
    /// What the store writes into the outbox.
    pub fn entry(&self) -> OutboxEntry<'_> {
        OutboxEntry { id: self.id, leaf: &self.bytes, citizen: self.citizen }
    }
}

/// Where an append's records went: indexes `first_index .. first_index + count`, in the
/// tree of `tree_size` records that the batch's checkpoint signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub first_index: u64,
    pub count: u64,
    pub tree_size: u64,
}

/// What the writer has done since [`AuditLog::open`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuditStats {
    /// Batches committed (one transaction and one flush each).
    pub batches: u64,
    /// Records committed.
    pub records: u64,
    /// Appends (callers) answered with success.
    pub appends: u64,
    /// The most records one batch held.
    pub largest_batch: u64,
    /// Batches whose write failed (every caller in them got an error).
    pub failed_batches: u64,
    /// Outbox records the writer appended by itself (left by a crash, a failed batch or a
    /// caller that stopped waiting), rather than for a waiting caller.
    pub outbox_recovered: u64,
}

/// One record to write: its canonical bytes, leaf hash and citizen index key.
struct Leaf {
    bytes: Vec<u8>,
    hash: Hash,
    citizen: Option<Hash>,
    /// The outbox entry the record comes from, deleted with the append.
    outbox: Option<OutboxId>,
}

struct Job {
    leaves: Vec<Leaf>,
    /// `None` for the writer's own drains of the outbox.
    reply: Option<oneshot::Sender<Result<Appended, AuditError>>>,
}

struct Shared {
    /// The durable tree size: everything below it is written, flushed and checkpointed.
    size: AtomicU64,
    stats: Mutex<AuditStats>,
    /// False after a failed batch, true again after a successful one.
    writable: std::sync::atomic::AtomicBool,
}

/// The audit log over a [`Store`]. Cheap to clone; every clone feeds the same writer task,
/// which stops when the last clone is dropped.
pub struct AuditLog<S> {
    store: S,
    tx: mpsc::Sender<Job>,
    shared: Arc<Shared>,
    verifying_key: VerifyingKey,
    /// Signs checkpoint notes (the audit key; see `note.rs` for why the same key).
    note_key: Arc<SigningKey>,
    origin: Origin,
    pub(super) citizens: Arc<CitizenIndex>,
}

impl<S: Clone> Clone for AuditLog<S> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            tx: self.tx.clone(),
            shared: self.shared.clone(),
            verifying_key: self.verifying_key,
            note_key: self.note_key.clone(),
            origin: self.origin.clone(),
            citizens: self.citizens.clone(),
        }
    }
}

fn dup(e: &StoreError) -> StoreError {
    match e {
        StoreError::Conflict { expected } => StoreError::Conflict { expected: *expected },
        StoreError::Corrupt(s) => StoreError::Corrupt(s.clone()),
        StoreError::Io(s) => StoreError::Io(s.clone()),
        StoreError::AuditMoved { stored, first } => StoreError::AuditMoved { stored: *stored, first: *first },
        StoreError::Config(s) => StoreError::Config(s.clone()),
        StoreError::Schema { found, known } => StoreError::Schema { found: *found, known: *known },
    }
}

fn dup_audit(e: &AuditError) -> AuditError {
    match e {
        AuditError::Store(s) => AuditError::Store(dup(s)),
        AuditError::Closed => AuditError::Closed,
        AuditError::OutOfRange(s) => AuditError::OutOfRange(s.clone()),
        AuditError::BadCheckpoint(s) => AuditError::BadCheckpoint(s.clone()),
        AuditError::Corrupt(s) => AuditError::Corrupt(s.clone()),
    }
}

/// The hashes of `spans`, read from the stored complete subtrees in one store call.
pub(super) async fn span_hashes<S: Store>(store: &S, spans: &[Span]) -> Result<Vec<Hash>, AuditError> {
    let per_span: Vec<Vec<(u8, u64)>> = spans.iter().map(|s| s.nodes()).collect();
    let keys: Vec<(u8, u64)> = per_span.iter().flatten().copied().collect();
    let found = store.audit_nodes(&keys).await?;
    let mut found = keys.iter().zip(found).map(|(&(level, index), h)| {
        h.ok_or_else(|| AuditError::Corrupt(format!("the hash of subtree (level {level}, index {index}) is missing")))
    });
    per_span
        .iter()
        .map(|ks| {
            let hashes = (&mut found).take(ks.len()).collect::<Result<Vec<_>, _>>()?;
            Ok(fold(&hashes))
        })
        .collect()
}

/// The frontier of the stored tree, checked against the latest stored checkpoint.
///
/// The reads are separate store calls: on a store shared by several instances another one
/// may append between them, so a latest checkpoint beyond the size read first is read again
/// (up to 50 times, pausing briefly) before it counts as corruption.
async fn load_frontier<S: Store>(store: &S) -> Result<(Frontier, Option<SignedCheckpoint>), AuditError> {
    // Under steady appends by other instances each read can lose the race again, so try
    // often, with a short growing pause; a checkpoint beyond the stored size that stays
    // (no other writer) is corruption, reported after the last attempt.
    let mut attempt = 0u64;
    loop {
        attempt += 1;
        match load_frontier_once(store).await {
            Err(AuditError::Corrupt(m)) if attempt < 50 && m.starts_with("the latest checkpoint is for") => {
                tracing::debug!("the audit log grew while its head was read; reading again");
                tokio::time::sleep(std::time::Duration::from_millis(attempt.min(10))).await;
            }
            other => return other,
        }
    }
}

async fn load_frontier_once<S: Store>(store: &S) -> Result<(Frontier, Option<SignedCheckpoint>), AuditError> {
    let size = store.audit_size().await?;
    let keys = Span { start: 0, len: size }.nodes();
    let found = store.audit_nodes(&keys).await?;
    let hashes = keys
        .iter()
        .zip(found)
        .map(|(&(level, index), h)| {
            h.ok_or_else(|| {
                AuditError::Corrupt(format!("the hash of subtree (level {level}, index {index}) is missing"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let frontier = Frontier::from_nodes(size, &hashes);
    let latest = match store.audit_latest_checkpoint().await? {
        None => None,
        Some((at, bytes)) => Some((at, SignedCheckpoint::from_bytes(&bytes)?)),
    };
    match &latest {
        None if size == 0 => {}
        None => return Err(AuditError::Corrupt(format!("{size} records and no checkpoint"))),
        Some((at, cp)) => {
            if *at != size || cp.tree_size != size {
                return Err(AuditError::Corrupt(format!(
                    "the latest checkpoint is for {} records, the log holds {size}",
                    cp.tree_size
                )));
            }
            if cp.root != frontier.root() {
                return Err(AuditError::Corrupt(format!("the root of {size} records differs from its checkpoint")));
            }
        }
    }
    Ok((frontier, latest.map(|(_, cp)| cp)))
}

impl<S: Store + Clone> AuditLog<S> {
    /// Opens the log over the store (recovering the tree size and frontier from stored
    /// state, checked against the latest checkpoint), appends every record left in the
    /// outbox (a crash between a change's commit and its append), and starts the
    /// group-commit writer task on the current tokio runtime. Fails if the outbox cannot be
    /// drained: nothing may be answered while a committed change is unaudited.
    pub async fn open(store: S, signing_key: SigningKey, config: AuditConfig) -> Result<Self, AuditError> {
        let (frontier, latest) = load_frontier(&store).await?;
        let shared =
            Arc::new(Shared { size: AtomicU64::new(frontier.size()), stats: Mutex::default(), writable: true.into() });
        let citizens = Arc::new(CitizenIndex::derive(&signing_key));
        let max_batch = config.max_batch.max(1);
        let (tx, rx) = mpsc::channel(max_batch.saturating_mul(4));
        let verifying_key = signing_key.verifying_key();
        let note_key = Arc::new(signing_key.clone());
        let origin = config.origin.clone().unwrap_or_else(|| Origin::for_key(&verifying_key));
        let mut writer = Writer {
            store: store.clone(),
            key: signing_key,
            frontier: Some(frontier),
            last_time: latest.map(|c| c.time),
            clock: config.clock.clone(),
            max_batch,
            shared: shared.clone(),
            drained: HashMap::new(),
            drained_order: VecDeque::new(),
        };
        let recovered = writer.drain_outbox().await?;
        if recovered > 0 {
            tracing::warn!(records = recovered, "appended audit records a crash left in the outbox");
        }
        tokio::spawn(writer.run(rx, config.outbox_retry.max(Duration::from_millis(10))));
        Ok(Self { store, tx, shared, verifying_key, note_key, origin, citizens })
    }
}

impl<S: Store> AuditLog<S> {
    /// Appends records; returns only when they are durable (flushed) and covered by a
    /// signed checkpoint. Records of concurrent callers are written together, in one
    /// transaction and one flush. A caller's records get consecutive indexes. An error means
    /// the records may or may not be stored; nothing may be released on it.
    pub async fn append(&self, records: Vec<AuditRecord>) -> Result<Appended, AuditError> {
        if records.is_empty() {
            let size = self.tree_size();
            return Ok(Appended { first_index: size, count: 0, tree_size: size });
        }
        let leaves = records
            .iter()
            .map(|r| {
                let bytes = r.canonical_bytes();
                let hash = leaf_hash(&bytes);
                Leaf { bytes, hash, citizen: r.citizen.as_ref().map(|c| self.citizens.key_of(c)), outbox: None }
            })
            .collect();
        let appended = self.send(leaves).await?;
        for r in records.iter().filter(|r| r.kind == AuditKind::Decision) {
            let category = r.category.as_ref().map(|c| c.as_str().to_string()).unwrap_or_default();
            metrics::counter!("sammen_decisions_total", "category" => category, "outcome" => r.outcome.clone())
                .increment(1);
        }
        Ok(appended)
    }

    async fn send(&self, leaves: Vec<Leaf>) -> Result<Appended, AuditError> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(Job { leaves, reply: Some(reply) }).await.map_err(|_| AuditError::Closed)?;
        answer.await.map_err(|_| AuditError::Closed)?
    }

    /// A record ready to be committed into the outbox with its change (a fresh outbox id,
    /// its canonical bytes and citizen key).
    pub fn outbox_record(&self, record: &AuditRecord) -> OutboxRecord {
        OutboxRecord {
            id: OutboxId::new(),
            bytes: record.canonical_bytes(),
            citizen: record.citizen.as_ref().map(|c| self.citizens.key_of(c)),
        }
    }

    /// Waits until records committed into the outbox are in the log: appended by the writer
    /// (now, or earlier by its periodic drain), durable and covered by a signed checkpoint.
    /// An error means the records stay in the outbox, durably, and the writer appends them
    /// later; it is not a reason to commit the change again.
    pub async fn wait_outbox(&self, records: &[OutboxRecord]) -> Result<(), AuditError> {
        if records.is_empty() {
            return Ok(());
        }
        let leaves = records
            .iter()
            .map(|r| Leaf { bytes: r.bytes.clone(), hash: leaf_hash(&r.bytes), citizen: r.citizen, outbox: Some(r.id) })
            .collect();
        self.send(leaves).await.map(drop)
    }

    /// Whether the writer is running and its last batch (if any) was written: what a
    /// readiness probe asks, without writing a record.
    pub fn is_writable(&self) -> bool {
        !self.tx.is_closed() && self.shared.writable.load(Ordering::Acquire)
    }

    /// The durable tree size (records acknowledged so far, by this process or before it).
    pub fn tree_size(&self) -> u64 {
        self.shared.size.load(Ordering::Acquire)
    }

    /// The size of the log as stored now, which on a store shared by several instances
    /// includes what the others appended (the in-memory [`AuditLog::tree_size`] knows only
    /// this instance's batches); raises the in-memory size to it. Reads use this.
    pub async fn durable_size(&self) -> Result<u64, AuditError> {
        let size = self.store.audit_size().await?;
        Ok(self.shared.size.fetch_max(size, Ordering::AcqRel).max(size))
    }

    /// What the writer has done since the log was opened.
    pub fn stats(&self) -> AuditStats {
        *self.shared.stats.lock().expect("stats lock")
    }

    pub async fn latest_checkpoint(&self) -> Result<Option<SignedCheckpoint>, AuditError> {
        match self.store.audit_latest_checkpoint().await? {
            None => Ok(None),
            Some((_, bytes)) => SignedCheckpoint::from_bytes(&bytes).map(Some),
        }
    }

    /// Every stored checkpoint with tree size in `[start, end)`, in order.
    pub async fn checkpoints(&self, start: u64, end: u64) -> Result<Vec<SignedCheckpoint>, AuditError> {
        let stored = self.store.audit_checkpoints(start, end).await?;
        stored.iter().map(|(_, b)| SignedCheckpoint::from_bytes(b)).collect()
    }

    pub async fn entry(&self, index: u64) -> Result<Option<AuditRecord>, AuditError> {
        Ok(self.entries(index, index.saturating_add(1)).await?.pop().map(|(_, r)| r))
    }

    /// The durable records with index in `[start, end)`; records whose payload retention
    /// removed are left out (see [`AuditLog::leaf_entries`] for every leaf).
    pub async fn entries(&self, start: u64, end: u64) -> Result<Vec<(u64, AuditRecord)>, AuditError> {
        let end = end.min(self.durable_size().await?);
        let stored = self.store.audit_leaves(start, end).await?;
        stored
            .into_iter()
            .filter(|(_, b)| !b.is_empty())
            .map(|(i, b)| {
                let r = AuditRecord::from_leaf_bytes(&b)
                    .map_err(|e| AuditError::Corrupt(format!("record {i} does not read: {e}")))?;
                Ok((i, r))
            })
            .collect()
    }

    /// The stored bytes of records `[start, end)` exactly as hashed (leaf data).
    pub async fn raw_entries(&self, start: u64, end: u64) -> Result<Vec<(u64, Vec<u8>)>, AuditError> {
        Ok(self.store.audit_leaves(start, end.min(self.durable_size().await?)).await?)
    }

    async fn check_size(&self, tree_size: u64) -> Result<(), AuditError> {
        let size = self.durable_size().await?;
        if tree_size > size {
            return Err(AuditError::OutOfRange(format!("tree size {tree_size} is beyond the log's {size}")));
        }
        Ok(())
    }

    /// RFC 6962 `PATH(index, D[0:tree_size])`: the audit path, leaf side first.
    pub async fn inclusion_proof(&self, index: u64, tree_size: u64) -> Result<Vec<[u8; 32]>, AuditError> {
        self.check_size(tree_size).await?;
        if index >= tree_size {
            return Err(AuditError::OutOfRange(format!("index {index} is not below tree size {tree_size}")));
        }
        span_hashes(&self.store, &inclusion_spans(index, tree_size)).await
    }

    /// RFC 6962 `PROOF(first, D[0:second])`; empty when `first` is 0 or equals `second`.
    pub async fn consistency_proof(&self, first: u64, second: u64) -> Result<Vec<[u8; 32]>, AuditError> {
        self.check_size(second).await?;
        if first > second {
            return Err(AuditError::OutOfRange(format!("tree size {first} is beyond {second}")));
        }
        span_hashes(&self.store, &consistency_spans(first, second)).await
    }

    /// `MTH(D[0:tree_size])`.
    pub async fn root(&self, tree_size: u64) -> Result<[u8; 32], AuditError> {
        self.check_size(tree_size).await?;
        Ok(span_hashes(&self.store, &[Span { start: 0, len: tree_size }]).await?[0])
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        self.verifying_key
    }

    /// The latest checkpoint as a C2SP signed note (`note.rs`), or `None` while the log is
    /// empty. The stored checkpoint's signature is verified first, so a note vouches only
    /// for a tree size and root the writer itself signed. Ed25519 is deterministic: the
    /// same checkpoint always gives the same note.
    pub async fn checkpoint_note(&self) -> Result<Option<String>, AuditError> {
        let Some(cp) = self.latest_checkpoint().await? else {
            return Ok(None);
        };
        cp.verify(&self.verifying_key)?;
        let note = CheckpointNote { origin: self.origin.clone(), tree_size: cp.tree_size, root: cp.root };
        Ok(Some(note.sign(&self.note_key)))
    }

    /// The key (name and public key) that verifies this log's checkpoint notes.
    pub fn note_verifier(&self) -> NoteVerifier {
        NoteVerifier::new(self.origin.clone(), self.verifying_key)
    }

    /// The store the log writes to.
    pub fn store(&self) -> &S {
        &self.store
    }
}

struct Writer<S> {
    store: S,
    key: SigningKey,
    /// `None` after a failed write: re-read from the store before the next batch.
    frontier: Option<Frontier>,
    last_time: Option<DateTime<Utc>>,
    /// The checkpoints' time.
    clock: Arc<dyn Clock>,
    max_batch: usize,
    shared: Arc<Shared>,
    /// Outbox ids this writer appended by draining the outbox itself, with their leaf index:
    /// a waiter for one of them is answered without appending its record again.
    drained: HashMap<OutboxId, u64>,
    /// `drained`'s ids, oldest first, to forget the oldest beyond [`REMEMBERED_DRAINS`].
    drained_order: VecDeque<OutboxId>,
}

/// How often the writer lets ready tasks run before it writes a batch, while each round
/// brings more appends (see [`Writer::run`]).
const GATHER_YIELDS: usize = 4;

/// Moves appends waiting in the queue into `jobs` until the batch holds `max_batch` records;
/// whether it took any.
fn take_queued(rx: &mut mpsc::Receiver<Job>, jobs: &mut Vec<Job>, count: &mut usize, max_batch: usize) -> bool {
    let mut took = false;
    while *count < max_batch {
        match rx.try_recv() {
            Ok(job) => {
                *count += job.leaves.len();
                jobs.push(job);
                took = true;
            }
            Err(_) => break,
        }
    }
    took
}

impl<S: Store> Writer<S> {
    async fn run(mut self, mut rx: mpsc::Receiver<Job>, retry: Duration) {
        let mut jobs: Vec<Job> = Vec::new();
        let mut tick = tokio::time::interval(retry);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.reset();
        loop {
            let job = tokio::select! {
                job = rx.recv() => match job {
                    Some(job) => job,
                    None => break,
                },
                _ = tick.tick() => {
                    match self.drain_outbox().await {
                        Ok(0) => self.probe().await,
                        Ok(n) => tracing::warn!(records = n, "appended audit records left in the outbox"),
                        Err(e) => tracing::error!(error = %e, "appending audit records left in the outbox failed"),
                    }
                    continue;
                }
            };
            let mut count = job.leaves.len();
            jobs.push(job);
            take_queued(&mut rx, &mut jobs, &mut count, self.max_batch);
            // The callers the previous batch answered are about to append again (each one
            // waits for its own append before the next), but their tasks may not have run
            // yet. Let every task that is ready to run go first, and take what they queued,
            // as long as that brings more: under load a batch takes the appends that are
            // moments away instead of leaving them for one more commit of their own. At
            // most a few yields (microseconds each, nothing when no other task is ready).
            for _ in 0..GATHER_YIELDS {
                if count >= self.max_batch {
                    break;
                }
                tokio::task::yield_now().await;
                if !take_queued(&mut rx, &mut jobs, &mut count, self.max_batch) {
                    break;
                }
            }
            // Records the writer already drained from the outbox by itself are in the log.
            for job in jobs.iter_mut() {
                let before = job.leaves.len();
                job.leaves.retain(|l| l.outbox.is_none_or(|id| self.drained.remove(&id).is_none()));
                count -= before - job.leaves.len();
            }
            if count == 0 {
                let size = self.shared.size.load(Ordering::Acquire);
                for job in jobs.drain(..) {
                    if let Some(reply) = job.reply {
                        let _ = reply.send(Ok(Appended { first_index: size, count: 0, tree_size: size }));
                    }
                }
                continue;
            }
            let started = std::time::Instant::now();
            let result = self.commit(&mut jobs).await;
            metrics::histogram!("sammen_audit_append_seconds").record(started.elapsed().as_secs_f64());
            metrics::histogram!("sammen_audit_batch_records").record(count as f64);
            self.shared.writable.store(result.is_ok(), Ordering::Release);
            let mut stats = self.shared.stats.lock().expect("stats lock");
            match result {
                Ok((first, tree_size)) => {
                    stats.batches += 1;
                    stats.records += count as u64;
                    stats.appends += jobs.len() as u64;
                    stats.largest_batch = stats.largest_batch.max(count as u64);
                    drop(stats);
                    let mut at = first;
                    for job in jobs.drain(..) {
                        let n = job.leaves.len() as u64;
                        // A caller that gave up waiting is no reason to stop.
                        if let Some(reply) = job.reply {
                            let _ = reply.send(Ok(Appended { first_index: at, count: n, tree_size }));
                        }
                        at += n;
                    }
                }
                Err(e) => {
                    stats.failed_batches += 1;
                    drop(stats);
                    for job in jobs.drain(..) {
                        if let Some(reply) = job.reply {
                            let _ = reply.send(Err(dup_audit(&e)));
                        }
                    }
                }
            }
        }
    }

    /// After a failed write and with nothing in the outbox to retry: asks the store whether it
    /// takes durable writes again and re-reads the tree, so the log becomes writable without
    /// waiting for someone to append (the consent service refuses changes until then).
    async fn probe(&mut self) {
        if self.shared.writable.load(Ordering::Acquire) {
            return;
        }
        let healed = async {
            self.store.ping().await?;
            if self.frontier.is_none() {
                let (f, latest) = load_frontier(&self.store).await?;
                self.shared.size.store(f.size(), Ordering::Release);
                self.last_time = latest.map(|c| c.time).max(self.last_time);
                self.frontier = Some(f);
            }
            Ok::<(), AuditError>(())
        };
        match healed.await {
            Ok(()) => {
                tracing::info!("the audit store takes writes again");
                self.shared.writable.store(true, Ordering::Release);
            }
            Err(e) => tracing::warn!(error = %e, "the audit store still fails"),
        }
    }

    /// Appends every record waiting in the outbox, in batches of at most `max_batch`, and
    /// remembers their ids; returns how many it appended.
    async fn drain_outbox(&mut self) -> Result<u64, AuditError> {
        let mut total = 0u64;
        loop {
            let pending = match self.store.audit_outbox(self.max_batch).await {
                Ok(p) => p,
                Err(e) => {
                    self.shared.writable.store(false, Ordering::Release);
                    return Err(e.into());
                }
            };
            if pending.is_empty() {
                return Ok(total);
            }
            let leaves: Vec<Leaf> = pending
                .into_iter()
                .map(|p| Leaf { hash: leaf_hash(&p.leaf), bytes: p.leaf, citizen: p.citizen, outbox: p.id.into() })
                .collect();
            let ids: Vec<OutboxId> = leaves.iter().filter_map(|l| l.outbox).collect();
            let mut jobs = [Job { leaves, reply: None }];
            let result = self.commit(&mut jobs).await;
            self.shared.writable.store(result.is_ok(), Ordering::Release);
            let (first, _) = match result {
                Ok(r) => r,
                Err(e) => {
                    self.shared.stats.lock().expect("stats lock").failed_batches += 1;
                    return Err(e);
                }
            };
            let n = ids.len() as u64;
            {
                let mut stats = self.shared.stats.lock().expect("stats lock");
                stats.batches += 1;
                stats.records += n;
                stats.outbox_recovered += n;
                stats.largest_batch = stats.largest_batch.max(n);
            }
            for (i, id) in ids.into_iter().enumerate() {
                self.drained.insert(id, first + i as u64);
                self.drained_order.push_back(id);
                if self.drained_order.len() > REMEMBERED_DRAINS
                    && let Some(old) = self.drained_order.pop_front()
                {
                    self.drained.remove(&old);
                }
            }
            total += n;
        }
    }

    /// Writes the batch; returns (first index, new tree size). On error the frontier is
    /// dropped, to be re-read from what the store actually holds.
    ///
    /// On a store shared by several instances, another writer may have appended since this
    /// one last looked. The store then refuses the batch whole (`AuditMoved`, nothing
    /// written): the writer re-reads the head, rebuilds and re-signs the batch on it, and
    /// tries again. Likewise when another writer drained one of the batch's outbox records
    /// first (`Conflict`): those records are in the log (an outbox row is deleted only with
    /// its leaf), so they leave the batch, and the rest is tried again. Any other error, of
    /// the commit above all, leaves the outcome unknown: no retry, the caller releases
    /// nothing, and the head is read again before the next batch.
    async fn commit(&mut self, jobs: &mut [Job]) -> Result<(u64, u64), AuditError> {
        // Another writer's commit is progress of the log, so every lost round means the
        // log moved on; a random pause (growing with the attempts) keeps the writers of
        // several instances from losing to each other in step.
        const ATTEMPTS: u32 = 200;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.commit_once(jobs).await {
                Err(AuditError::Store(StoreError::AuditMoved { stored, first })) if attempt < ATTEMPTS => {
                    tracing::debug!(stored, first, attempt, "the audit log moved on; rebuilding the batch on its head");
                    let pause = rand::random_range(0..=2 * u64::from(attempt.min(25)));
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                }
                Err(AuditError::Store(StoreError::Conflict { .. })) if attempt < ATTEMPTS => {
                    let pending: std::collections::HashSet<OutboxId> =
                        self.store.audit_outbox(usize::MAX).await?.into_iter().map(|p| p.id).collect();
                    let mut dropped = 0;
                    for job in jobs.iter_mut() {
                        let before = job.leaves.len();
                        job.leaves.retain(|l| l.outbox.is_none_or(|id| pending.contains(&id)));
                        dropped += before - job.leaves.len();
                    }
                    if dropped == 0 {
                        return Err(StoreError::Conflict { expected: 0 }.into());
                    }
                    tracing::debug!(dropped, "another writer appended some of the batch's outbox records");
                    if jobs.iter().all(|j| j.leaves.is_empty()) {
                        let (f, _) = load_frontier(&self.store).await?;
                        let size = f.size();
                        self.shared.size.store(size, Ordering::Release);
                        self.frontier = Some(f);
                        return Ok((size, size));
                    }
                }
                other => return other,
            }
        }
    }

    async fn commit_once(&mut self, jobs: &mut [Job]) -> Result<(u64, u64), AuditError> {
        let mut frontier = match self.frontier.take() {
            Some(f) => f,
            None => {
                let (f, latest) = load_frontier(&self.store).await?;
                self.shared.size.store(f.size(), Ordering::Release);
                self.last_time = latest.map(|c| c.time).max(self.last_time);
                f
            }
        };
        let first = frontier.size();
        let count: usize = jobs.iter().map(|j| j.leaves.len()).sum();
        // The leaf bytes move into the batch and back into the jobs after the store call
        // (a retry builds the batch again from them): no copy of any record.
        let mut leaves = Vec::with_capacity(count);
        // Each leaf completes its own node and, on average, about one above it.
        let mut nodes = Vec::with_capacity(2 * count + 1);
        let mut citizens = Vec::with_capacity(count);
        let mut outbox = Vec::new();
        for job in jobs.iter_mut() {
            for leaf in job.leaves.iter_mut() {
                if let Some(c) = leaf.citizen {
                    citizens.push((c, frontier.size()));
                }
                outbox.extend(leaf.outbox);
                frontier.push(leaf.hash, |level, index, hash| nodes.push(AuditNode { level, index, hash }));
                leaves.push(std::mem::take(&mut leaf.bytes));
            }
        }
        let time = self.clock.now().max(self.last_time.unwrap_or(DateTime::<Utc>::MIN_UTC));
        let checkpoint = SignedCheckpoint::sign(&self.key, frontier.size(), frontier.root(), time);
        let encoded = checkpoint.to_bytes();
        let batch = AuditBatch {
            first_index: first,
            leaves: &leaves,
            nodes: &nodes,
            checkpoint: &encoded,
            citizens: &citizens,
            outbox: &outbox,
        };
        let written = self.store.audit_append(batch).await;
        for (leaf, bytes) in jobs.iter_mut().flat_map(|j| j.leaves.iter_mut()).zip(leaves) {
            leaf.bytes = bytes;
        }
        match written {
            Ok(()) => {
                let size = frontier.size();
                self.frontier = Some(frontier);
                self.last_time = Some(time);
                self.shared.size.store(size, Ordering::Release);
                Ok((first, size))
            }
            Err(e) => {
                // The transaction may or may not have applied: find out before the next batch.
                self.frontier = None;
                Err(e.into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SledStore;
    use crate::clock::TestClock;

    fn job(records: usize) -> Job {
        let leaves = (0..records)
            .map(|_| Leaf { bytes: b"{}".to_vec(), hash: leaf_hash(b"{}"), citizen: None, outbox: None })
            .collect();
        Job { leaves, reply: None }
    }

    fn record(i: u64) -> AuditRecord {
        AuditRecord::new(
            DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap(),
            format!("req-{i}"),
            AuditKind::Release,
        )
    }

    fn config() -> AuditConfig {
        let clock = Arc::new(TestClock::new(DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap()));
        AuditConfig { clock, ..AuditConfig::default() }
    }

    #[tokio::test]
    async fn take_queued_stops_at_the_batch_limit_and_says_whether_it_took_any() {
        let (tx, mut rx) = mpsc::channel(8);
        for n in [2, 2, 3] {
            tx.send(job(n)).await.unwrap();
        }
        let (mut jobs, mut count) = (Vec::new(), 0);
        assert!(take_queued(&mut rx, &mut jobs, &mut count, 4));
        assert_eq!((jobs.len(), count), (2, 4), "stops once the batch holds max_batch records");
        assert!(!take_queued(&mut rx, &mut jobs, &mut count, 4), "a full batch takes nothing");
        assert!(take_queued(&mut rx, &mut jobs, &mut count, 16));
        assert_eq!((jobs.len(), count), (3, 7));
        assert!(!take_queued(&mut rx, &mut jobs, &mut count, 16), "an empty queue gives nothing");
    }

    /// Many concurrent appenders: every acknowledged record is stored, byte for byte, at
    /// the index its append was given, under a checkpoint that covers it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_appends_land_at_their_acknowledged_indexes() {
        let store = SledStore::temporary().unwrap();
        let log = AuditLog::open(store, super::super::generate_signing_key(), config()).await.unwrap();
        let tasks: Vec<_> = (0..32u64)
            .map(|t| {
                let log = log.clone();
                tokio::spawn(async move {
                    let mut got = Vec::new();
                    for i in 0..20 {
                        let r = record(t * 100 + i);
                        let a = log.append(vec![r.clone()]).await.unwrap();
                        assert_eq!(a.count, 1);
                        assert!(a.first_index < a.tree_size);
                        got.push((a.first_index, r.canonical_bytes()));
                    }
                    got
                })
            })
            .collect();
        let mut acknowledged = Vec::new();
        for t in tasks {
            acknowledged.extend(t.await.unwrap());
        }
        acknowledged.sort();
        let indexes: Vec<u64> = acknowledged.iter().map(|(i, _)| *i).collect();
        assert_eq!(indexes, (0..640).collect::<Vec<_>>(), "no index lost or given twice");
        let stored = log.raw_entries(0, 640).await.unwrap();
        for ((i, bytes), (j, stored)) in acknowledged.iter().zip(&stored) {
            assert_eq!((i, bytes), (j, stored), "record {i} is stored as acknowledged");
        }
        let cp = log.latest_checkpoint().await.unwrap().unwrap();
        assert_eq!(cp.tree_size, 640);
        assert_eq!(cp.root, log.root(640).await.unwrap());
        let stats = log.stats();
        assert_eq!((stats.records, stats.appends), (640, 640));
    }

    /// A batch refused because another writer appended first is built again from the same
    /// records: the leaf bytes lent to the refused batch are back in place for the retry.
    #[tokio::test]
    async fn a_batch_rebuilt_after_another_writer_appended_keeps_its_records() {
        let store = SledStore::temporary().unwrap();
        let key = super::super::generate_signing_key();
        let a = AuditLog::open(store.clone(), key.clone(), config()).await.unwrap();
        let b = AuditLog::open(store, key, config()).await.unwrap();
        a.append(vec![record(1), record(2)]).await.unwrap();
        let moved = b.append(vec![record(3)]).await.unwrap();
        assert_eq!(moved, Appended { first_index: 2, count: 1, tree_size: 3 });
        let stored = b.raw_entries(0, 3).await.unwrap();
        let expected: Vec<(u64, Vec<u8>)> =
            [1, 2, 3].iter().enumerate().map(|(i, r)| (i as u64, record(*r).canonical_bytes())).collect();
        assert_eq!(stored, expected);
    }
}
