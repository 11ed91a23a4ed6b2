//! The contract every store adapter must pass (cargo feature `contract`).
//!
//! One async function per behaviour. An adapter's tests call each of them with a
//! [`Harness`] that makes fresh stores of that adapter and opens them again, e.g. for sled
//! (`consent/tests/contract.rs`):
//!
//! ```ignore
//! #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
//! async fn version_conflicts() {
//!     consent::store::contract::version_conflicts(&SledHarness::new()).await;
//! }
//! ```
//!
//! A function panics, with a message naming the broken promise, at the first answer that
//! breaks the contract. The functions write synthetic data only (made-up citizens, texts,
//! audit leaves and hashes): a store does not interpret audit bytes, so neither do they.
//!
//! | function                               | the promise                                                    |
//! |----------------------------------------|----------------------------------------------------------------|
//! | [`durability_of_acknowledged_writes`]  | what a write acknowledged is there after reopening, indexes too |
//! | [`version_conflicts`]                  | a change not at stored version + 1 is a conflict, writes nothing |
//! | [`lookups_at_time`]                    | `active_for` (and `active_for_each`) answers exactly what was asked; `covers` at `t` |
//! | [`audit_append_compare_and_swap`]      | a batch not at the stored size is refused whole (`AuditMoved`)  |
//! | [`audit_prune_watermark`]              | pruning is a prefix from the watermark; payloads only           |
//! | [`session_take_once`]                  | one of many concurrent takes gets the value; expiry; purge      |
//! | [`ping_on_a_healthy_store`]            | `ping` succeeds and writes no data                              |
//! | [`copy_moves_everything`]              | after `store copy` the target answers every query like the source; a non-empty target is refused |
//! | [`health_outbox_stores_once`]          | a message with its record, once per key and envelope id         |
//! | [`health_outbox_claims_once`]          | a due message is leased to one sender at a time                 |
//! | [`health_outbox_transitions`]          | states change from the state seen, by the lease holder          |
//!
//! [`all`] runs every one of them.

mod health;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use sha2::{Digest, Sha256};

use super::copy::{self, BatchSize, CopyError};
use super::{
    AuditBatch, AuditNode, AuditPrune, ConsentChange, Import, OutboxEntry, OutboxId, SharedStore, StoreError, covers,
};
use crate::audit::merkle::Frontier;
use crate::block::{Block, BlockEvent, BlockEventKind, BlockId, BlockTarget, apply_block};
use crate::cpr::Cpr;
use crate::lifecycle::apply;
use crate::organisation::UnitId;
use crate::record::{
    Channel, Consent, ConsentEvent, ConsentId, ConsentText, EventKind, Grantor, PaperRecord, Period, Requester, State,
    Terms,
};
use crate::vocabulary::{Category, Purpose};

pub use health::{health_outbox_claims_once, health_outbox_stores_once, health_outbox_transitions};

/// How the suite gets stores of the adapter under test.
#[async_trait::async_trait]
pub trait Harness: Send + Sync {
    /// A new, empty store; each call makes another one.
    async fn fresh(&self) -> SharedStore;

    /// The store the last [`Harness::fresh`] made, opened again as a restarted process
    /// would open it. The suite has dropped every handle it held on that store first.
    async fn reopen(&self) -> SharedStore;
}

/// Runs every behaviour of the contract.
pub async fn all<H: Harness>(h: &H) {
    durability_of_acknowledged_writes(h).await;
    version_conflicts(h).await;
    lookups_at_time(h).await;
    audit_append_compare_and_swap(h).await;
    audit_prune_watermark(h).await;
    audit_outbox_with_the_change(h).await;
    session_take_once(h).await;
    ping_on_a_healthy_store(h).await;
    copy_moves_everything(h).await;
    health_outbox_stores_once(h).await;
    health_outbox_claims_once(h).await;
    health_outbox_transitions(h).await;
}

// --- synthetic data ---

/// The leaf bytes every change's outbox entry carries here (the store does not read them).
const OUTBOX_LEAF: &[u8] = b"{\"v\":2,\"kind\":\"contract\"}";

/// A fresh outbox entry: every change must carry one (invariant 3).
fn audit_entry() -> OutboxEntry<'static> {
    OutboxEntry { id: OutboxId::new(), leaf: OUTBOX_LEAF, citizen: None }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

fn citizen(i: u32) -> Cpr {
    Cpr::parse(&format!("01{:02}709{:03}", 1 + i % 12, 900 + i % 100)).expect("a synthetic CPR number")
}

fn unit(s: &str) -> UnitId {
    UnitId::parse(s).expect("a unit id")
}

fn purpose(s: &str) -> Purpose {
    Purpose::parse(s).expect("a purpose")
}

fn category(s: &str) -> Category {
    Category::parse(s).expect("a category")
}

const JOBCENTER: &str = "kk.jobcenter";
const REHAB: &str = "kk.jobcenter.rehab";
const HOSPITAL: &str = "rh.hospital";
const REHABILITATION: &str = "rehabilitation-team";
const TREATMENT: &str = "treatment";
const CV: &str = "jobnet.cv";
const CASE: &str = "jobcenter.case";
const HEALTH: &str = "health.lae265";

fn body(n: u32) -> String {
    format!("Du giver lov til at dele oplysninger (tekst {n}).")
}

fn digest(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// What one consent is about.
struct About<'a> {
    citizen: Cpr,
    grantee: &'a str,
    subunits: bool,
    purpose: &'a str,
    categories: &'a [&'a str],
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    text: u32,
}

impl<'a> About<'a> {
    fn new(citizen: Cpr, grantee: &'a str, purpose: &'a str, categories: &'a [&'a str]) -> Self {
        Self {
            citizen,
            grantee,
            subunits: false,
            purpose,
            categories,
            from: t0(),
            until: t0() + Duration::days(180),
            text: 1,
        }
    }

    fn terms(&self) -> Terms {
        Terms {
            citizen: self.citizen,
            grantee: unit(self.grantee),
            include_subunits: self.subunits,
            purpose: purpose(self.purpose),
            categories: self.categories.iter().map(|c| category(c)).collect(),
            period: Period { from: self.from, until: self.until },
            data_period: None,
            text: ConsentText { version: format!("t-{}", self.text), sha256: digest(&body(self.text)) },
        }
    }
}

/// A consent's events and the state after each, as the ledger would commit them.
#[derive(Clone)]
struct History {
    events: Vec<ConsentEvent>,
    states: Vec<Consent>,
    body: String,
}

impl History {
    fn start(about: &About<'_>, kind: EventKind) -> Self {
        let event =
            ConsentEvent { consent_id: ConsentId::new(), version: 1, at: about.from, channel: Channel::Api, kind };
        let state = apply(None, &event).expect("a first event applies");
        Self { events: vec![event], states: vec![state], body: body(about.text) }
    }

    fn granted(about: &About<'_>) -> Self {
        Self::start(about, EventKind::Granted { terms: Box::new(about.terms()), by: Grantor::Citizen })
    }

    fn requested(about: &About<'_>) -> Self {
        Self::start(
            about,
            EventKind::Requested {
                terms: Box::new(about.terms()),
                requested_by: Requester { caseworker: "cw-1".into(), system: "sys-a".into() },
                explanation: "Til mødet".into(),
                respond_by: about.from + Duration::days(14),
            },
        )
    }

    /// The history with one more event, `kind` at `at`.
    fn then(&self, kind: EventKind, at: DateTime<Utc>) -> Self {
        let mut h = self.clone();
        let event = ConsentEvent {
            consent_id: self.id(),
            version: self.last().version + 1,
            at,
            channel: Channel::Portal,
            kind,
        };
        h.states.push(apply(Some(self.last().clone()), &event).expect("the next event applies"));
        h.events.push(event);
        h
    }

    fn revoked(&self, at: DateTime<Utc>) -> Self {
        self.then(EventKind::Revoked { by: Grantor::Citizen }, at)
    }

    fn approved(&self, at: DateTime<Utc>) -> Self {
        self.then(EventKind::Approved { by: Grantor::Citizen }, at)
    }

    fn id(&self) -> ConsentId {
        self.events[0].consent_id
    }

    fn last(&self) -> &Consent {
        self.states.last().expect("a history has an event")
    }

    /// The change of event `i` (0-based), carrying the text body with the first event.
    fn change(&self, i: usize) -> ConsentChange<'_> {
        ConsentChange {
            event: &self.events[i],
            state: &self.states[i],
            text_body: (i == 0).then_some(&*self.body),
            audit: audit_entry(),
        }
    }
}

/// Commits the events of `h` from index `from` on, one transaction each.
async fn commit_from(s: &SharedStore, h: &History, from: usize) {
    for i in from..h.events.len() {
        s.commit_consent(h.change(i))
            .await
            .unwrap_or_else(|e| panic!("committing version {} of consent {} failed: {e}", i + 1, h.id()));
    }
}

async fn commit(s: &SharedStore, h: &History) {
    commit_from(s, h, 0).await;
}

/// A block's events and states.
#[derive(Clone)]
struct BlockHistory {
    events: Vec<BlockEvent>,
    states: Vec<Block>,
}

impl BlockHistory {
    fn placed(citizen: Cpr, target: BlockTarget, at: DateTime<Utc>) -> Self {
        let event = BlockEvent {
            block_id: BlockId::new(),
            version: 1,
            at,
            channel: Channel::Portal,
            kind: BlockEventKind::Placed { citizen, target },
        };
        let state = apply_block(None, &event).expect("placing applies");
        Self { events: vec![event], states: vec![state] }
    }

    fn lifted(&self, at: DateTime<Utc>) -> Self {
        let mut h = self.clone();
        let last = self.last().clone();
        let event = BlockEvent {
            block_id: last.id,
            version: last.version + 1,
            at,
            channel: Channel::Portal,
            kind: BlockEventKind::Lifted,
        };
        h.states.push(apply_block(Some(last), &event).expect("lifting applies"));
        h.events.push(event);
        h
    }

    fn last(&self) -> &Block {
        self.states.last().expect("a block history has an event")
    }
}

async fn commit_block(s: &SharedStore, h: &BlockHistory) {
    for (e, b) in h.events.iter().zip(&h.states) {
        s.commit_block(e, b, audit_entry()).await.unwrap_or_else(|e| panic!("committing block {} failed: {e}", b.id));
    }
}

fn ids(cs: &[Consent]) -> BTreeSet<ConsentId> {
    cs.iter().map(|c| c.id).collect()
}

fn block_ids(bs: &[Block]) -> BTreeSet<BlockId> {
    bs.iter().map(|b| b.id).collect()
}

/// Asserts that the store holds exactly these consents and blocks: each consent's state
/// and events, every index (citizen, requested, active per category), the texts, each
/// block's state and the active-block index. `when` names the moment in messages.
async fn assert_holds(s: &SharedStore, consents: &[&History], blocks: &[&BlockHistory], when: &str) {
    let stored: BTreeSet<_> = s.consent_ids().await.expect("consent_ids").into_iter().collect();
    let expected: BTreeSet<_> = consents.iter().map(|h| h.id()).collect();
    assert_eq!(stored, expected, "{when}: consent_ids is not the set of committed consents");

    let mut by_citizen: BTreeMap<Cpr, (BTreeSet<ConsentId>, BTreeSet<ConsentId>)> = BTreeMap::new();
    for h in consents {
        let (id, c) = (h.id(), h.last());
        assert_eq!(s.consent(id).await.expect("consent").as_ref(), Some(c), "{when}: consent {id}'s stored state");
        assert_eq!(s.consent_events(id).await.expect("consent_events"), h.events, "{when}: consent {id}'s events");
        assert_eq!(
            s.text(&c.terms.text.sha256).await.expect("text").as_deref(),
            Some(&*h.body),
            "{when}: consent {id}'s text body by its digest"
        );
        let t = &c.terms;
        let entry = by_citizen.entry(t.citizen).or_default();
        entry.0.insert(id);
        if c.state == State::Requested {
            entry.1.insert(id);
        }
        for cat in &t.categories {
            let found = s.active_for(&t.citizen, std::slice::from_ref(&t.grantee), &t.purpose, cat).await;
            assert_eq!(
                ids(&found.expect("active_for")).contains(&id),
                c.state == State::Active,
                "{when}: the active index for consent {id} ({:?}, category {cat}) disagrees with its state",
                c.state
            );
        }
    }
    for (cpr, (all, requested)) in &by_citizen {
        let found = s.consents_of(cpr).await.expect("consents_of");
        assert_eq!(ids(&found), *all, "{when}: consents_of {cpr} is not the citizen's consents");
        let found = s.requested_of(cpr).await.expect("requested_of");
        assert_eq!(ids(&found), *requested, "{when}: requested_of {cpr} is not the citizen's requests");
    }

    let mut active_by_citizen: BTreeMap<Cpr, BTreeSet<BlockId>> = BTreeMap::new();
    for h in blocks {
        let b = h.last();
        assert_eq!(s.block(b.id).await.expect("block").as_ref(), Some(b), "{when}: block {}'s stored state", b.id);
        let entry = active_by_citizen.entry(b.citizen).or_default();
        if b.is_active() {
            entry.insert(b.id);
        }
    }
    for (cpr, active) in &active_by_citizen {
        let found = s.active_blocks(cpr).await.expect("active_blocks");
        assert_eq!(block_ids(&found), *active, "{when}: active_blocks of {cpr} is not the blocks in force");
    }
}

// --- audit fixtures ---

fn leaf(tag: &str, i: u64) -> Vec<u8> {
    format!("{{\"record\":\"{tag}-{i}\"}}").into_bytes()
}

fn hash(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    parts.iter().for_each(|p| h.update(p));
    h.finalize().into()
}

/// A citizen key of the audit index (a keyed hash of a CPR number in real use).
fn citizen_key(n: u8) -> [u8; 32] {
    hash(&[b"citizen", &[n]])
}

/// One owned audit batch.
struct Batch {
    first: u64,
    leaves: Vec<Vec<u8>>,
    nodes: Vec<AuditNode>,
    checkpoint: Vec<u8>,
    citizens: Vec<([u8; 32], u64)>,
}

impl Batch {
    /// `count` leaves from `first`, tagged `tag`; leaf `i` is indexed under citizen key
    /// `who(i)` when it names one. Nodes: each leaf's level-0 hash and one extra node
    /// unique to the tag (so a refused batch's nodes can be looked for).
    fn new(tag: &str, first: u64, count: u64, who: impl Fn(u64) -> Option<u8>) -> Self {
        let leaves: Vec<_> = (first..first + count).map(|i| leaf(tag, i)).collect();
        let mut nodes: Vec<_> =
            leaves.iter().zip(first..).map(|(l, i)| AuditNode { level: 0, index: i, hash: hash(&[&[0], l]) }).collect();
        nodes.push(AuditNode { level: 40, index: first, hash: hash(&[tag.as_bytes()]) });
        let citizens = (first..first + count).filter_map(|i| who(i).map(|n| (citizen_key(n), i))).collect();
        let size = first + count;
        Self { first, leaves, nodes, checkpoint: format!("checkpoint {tag} {size}").into_bytes(), citizens }
    }

    fn size(&self) -> u64 {
        self.first + self.leaves.len() as u64
    }

    fn as_batch(&self) -> AuditBatch<'_> {
        AuditBatch {
            first_index: self.first,
            leaves: &self.leaves,
            nodes: &self.nodes,
            checkpoint: &self.checkpoint,
            citizens: &self.citizens,
            outbox: &[],
        }
    }

    fn node_keys(&self) -> Vec<(u8, u64)> {
        self.nodes.iter().map(|n| (n.level, n.index)).collect()
    }
}

/// Citizen key 1 on even leaves, 2 on leaves `4k + 1`, none on the others.
fn two_citizens(i: u64) -> Option<u8> {
    match i % 4 {
        0 | 2 => Some(1),
        1 => Some(2),
        _ => None,
    }
}

/// Asserts the audit relations hold exactly `batches` (in order, contiguous from 0).
async fn assert_audit_holds(s: &SharedStore, batches: &[&Batch], when: &str) {
    let size = batches.last().map_or(0, |b| b.size());
    assert_eq!(s.audit_size().await.expect("audit_size"), size, "{when}: audit_size");
    let leaves: Vec<_> =
        batches.iter().flat_map(|b| b.leaves.iter().cloned().zip(b.first..)).map(|(l, i)| (i, l)).collect();
    assert_eq!(s.audit_leaves(0, u64::MAX).await.expect("audit_leaves"), leaves, "{when}: the stored leaves");
    for b in batches {
        let found = s.audit_nodes(&b.node_keys()).await.expect("audit_nodes");
        let expected: Vec<_> = b.nodes.iter().map(|n| Some(n.hash)).collect();
        assert_eq!(found, expected, "{when}: the nodes of the batch at {}", b.first);
    }
    let checkpoints: Vec<_> = batches.iter().map(|b| (b.size(), b.checkpoint.clone())).collect();
    assert_eq!(s.audit_checkpoints(0, u64::MAX).await.expect("audit_checkpoints"), checkpoints, "{when}: checkpoints");
    assert_eq!(
        s.audit_latest_checkpoint().await.expect("audit_latest_checkpoint"),
        checkpoints.last().cloned(),
        "{when}: the latest checkpoint"
    );
    let mut per_citizen: BTreeMap<[u8; 32], Vec<u64>> = BTreeMap::new();
    for (k, i) in batches.iter().flat_map(|b| b.citizens.iter()) {
        per_citizen.entry(*k).or_default().push(*i);
    }
    for (k, mut expected) in per_citizen {
        expected.reverse();
        let found = s.audit_citizen_leaves(&k, u64::MAX, usize::MAX).await.expect("audit_citizen_leaves");
        assert_eq!(found, expected, "{when}: the citizen index, newest first");
    }
}

/// Asserts that nothing of the refused batch `b` is stored: not its own node, its
/// checkpoint or any of its leaves. (Its citizen entries are checked by the caller.)
async fn assert_nothing_of(s: &SharedStore, b: &Batch, when: &str) {
    let own = [(40u8, b.first)];
    let found = s.audit_nodes(&own).await.expect("audit_nodes");
    assert!(
        found[0].is_none_or(|h| h != b.nodes.last().expect("a marker node").hash),
        "{when}: a node of the refused batch was stored"
    );
    let cps = s.audit_checkpoints(0, u64::MAX).await.expect("audit_checkpoints");
    assert!(cps.iter().all(|(_, c)| *c != b.checkpoint), "{when}: the refused batch's checkpoint was stored");
    let leaves = s.audit_leaves(0, u64::MAX).await.expect("audit_leaves");
    assert!(leaves.iter().all(|(_, l)| !b.leaves.contains(l)), "{when}: a leaf of the refused batch was stored");
}

// --- the behaviours ---

/// Everything a write acknowledged is in the store after every handle on it was dropped
/// and it was opened again: consents (single commits and an import), blocks, audit
/// batches, a prune; and every index agrees with the state.
pub async fn durability_of_acknowledged_writes<H: Harness>(h: &H) {
    let (anna, bo) = (citizen(1), citizen(2));
    let granted = History::granted(&About::new(anna, JOBCENTER, REHABILITATION, &[CV, CASE]));
    let requested = History::requested(&About { text: 2, ..About::new(anna, REHAB, REHABILITATION, &[HEALTH]) });
    let revoked =
        History::granted(&About::new(bo, JOBCENTER, REHABILITATION, &[CASE])).revoked(t0() + Duration::days(1));
    let approved =
        History::requested(&About::new(bo, HOSPITAL, TREATMENT, &[HEALTH])).approved(t0() + Duration::hours(2));
    let imported: Vec<_> = (0..3)
        .map(|i| {
            History::granted(&About { text: 10 + i, ..About::new(citizen(3 + i), JOBCENTER, REHABILITATION, &[CV]) })
        })
        .collect();
    let block_anna = BlockHistory::placed(anna, BlockTarget::Category(category("social.case")), t0());
    let block_bo = BlockHistory::placed(bo, BlockTarget::Unit(unit(HOSPITAL)), t0()).lifted(t0() + Duration::days(2));
    let block_bo_2 = BlockHistory::placed(bo, BlockTarget::Category(category(CV)), t0() + Duration::days(3));
    let batches =
        [Batch::new("a", 0, 3, two_citizens), Batch::new("b", 3, 1, two_citizens), Batch::new("c", 4, 5, two_citizens)];
    {
        let s = h.fresh().await;
        for c in [&granted, &requested, &revoked, &approved] {
            commit(&s, c).await;
        }
        let changes: Vec<_> = imported.iter().map(|c| c.change(0)).collect();
        s.import_consents(&changes).await.unwrap_or_else(|e| panic!("import_consents failed: {e}"));
        for b in [&block_anna, &block_bo, &block_bo_2] {
            commit_block(&s, b).await;
        }
        for b in &batches {
            s.audit_append(b.as_batch()).await.unwrap_or_else(|e| panic!("audit_append at {} failed: {e}", b.first));
        }
        let pruned: Vec<_> = batches[0].citizens.clone();
        s.audit_prune(AuditPrune { start: 0, end: 3, citizens: &pruned })
            .await
            .unwrap_or_else(|e| panic!("audit_prune [0, 3) failed: {e}"));
    }
    let s = h.reopen().await;
    let consents: Vec<&History> = [&granted, &requested, &revoked, &approved].into_iter().chain(&imported).collect();
    assert_holds(&s, &consents, &[&block_anna, &block_bo, &block_bo_2], "after reopening").await;

    assert_eq!(s.audit_size().await.expect("audit_size"), 9, "after reopening: audit_size");
    assert_eq!(s.audit_pruned_below().await.expect("audit_pruned_below"), 3, "after reopening: the prune watermark");
    let leaves = s.audit_leaves(0, 9).await.expect("audit_leaves");
    let expected: Vec<_> =
        (0..9).map(|i| (i, if i < 3 { Vec::new() } else { leaf(if i == 3 { "b" } else { "c" }, i) })).collect();
    assert_eq!(leaves, expected, "after reopening: leaves (pruned ones with empty payloads)");
    for b in &batches {
        let found = s.audit_nodes(&b.node_keys()).await.expect("audit_nodes");
        assert_eq!(
            found,
            b.nodes.iter().map(|n| Some(n.hash)).collect::<Vec<_>>(),
            "after reopening: the nodes of the batch at {} (pruning keeps them)",
            b.first
        );
    }
    let cps: Vec<_> = batches.iter().map(|b| (b.size(), b.checkpoint.clone())).collect();
    assert_eq!(s.audit_checkpoints(0, u64::MAX).await.expect("audit_checkpoints"), cps, "after reopening: checkpoints");
    assert_eq!(
        s.audit_citizen_leaves(&citizen_key(1), u64::MAX, 100).await.expect("audit_citizen_leaves"),
        vec![8, 6, 4],
        "after reopening: the citizen index keeps only unpruned leaves"
    );
    assert_eq!(
        s.audit_citizen_leaves(&citizen_key(2), u64::MAX, 100).await.expect("audit_citizen_leaves"),
        vec![5],
        "after reopening: the citizen index keeps only unpruned leaves"
    );
}

/// A consent or block change whose version is not the stored version + 1 (or whose state
/// does not match its event) is refused with [`StoreError::Conflict`] and changes nothing:
/// not the events, the state or an index. An import with one such change writes none.
/// Of two concurrent changes to the same version exactly one wins.
pub async fn version_conflicts<H: Harness>(h: &H) {
    let s = h.fresh().await;
    let anna = citizen(5);
    let about = About::new(anna, JOBCENTER, REHABILITATION, &[CV, CASE]);
    let c = History::granted(&about);
    commit(&s, &c).await;
    let requested = History::requested(&About::new(anna, REHAB, REHABILITATION, &[HEALTH]));
    commit(&s, &requested).await;

    let is_conflict = |r: Result<(), StoreError>, what: &str| match r {
        Err(StoreError::Conflict { .. }) => {}
        Err(e) => panic!("{what}: expected a version conflict, got another error: {e}"),
        Ok(()) => panic!("{what}: the store accepted it"),
    };

    // Version 3 while version 1 is stored (a skipped version).
    let revoked = c.revoked(t0() + Duration::days(1));
    let mut skipped_event = revoked.events[1].clone();
    let mut skipped_state = revoked.states[1].clone();
    skipped_event.version = 3;
    skipped_state.version = 3;
    let skip = ConsentChange { event: &skipped_event, state: &skipped_state, text_body: None, audit: audit_entry() };
    is_conflict(s.commit_consent(skip).await, "a change at version 3 over stored version 1");

    // Version 1 again (creating a consent that exists).
    let again = History::granted(&About { text: 7, ..About::new(anna, JOBCENTER, REHABILITATION, &[CV]) });
    let mut again_event = again.events[0].clone();
    let mut again_state = again.states[0].clone();
    again_event.consent_id = c.id();
    again_state.id = c.id();
    let recreate =
        ConsentChange { event: &again_event, state: &again_state, text_body: Some(&again.body), audit: audit_entry() };
    is_conflict(s.commit_consent(recreate).await, "creating (version 1) a consent that exists");

    // A state whose version is not its event's.
    let mut wrong_state = revoked.states[1].clone();
    wrong_state.version = 5;
    let mismatched =
        ConsentChange { event: &revoked.events[1], state: &wrong_state, text_body: None, audit: audit_entry() };
    is_conflict(s.commit_consent(mismatched).await, "a state whose version differs from its event's");

    // A new consent whose first event is version 2.
    let orphan = History::granted(&About::new(anna, HOSPITAL, TREATMENT, &[HEALTH])).revoked(t0() + Duration::days(1));
    is_conflict(s.commit_consent(orphan.change(1)).await, "version 2 of a consent that is not stored");
    assert_eq!(s.consent(orphan.id()).await.expect("consent"), None, "a refused first change created the consent");
    assert!(s.consent_events(orphan.id()).await.expect("consent_events").is_empty(), "a refused change wrote an event");
    assert_eq!(s.text(&again.last().terms.text.sha256).await.expect("text"), None, "a refused change stored its text");

    // An import with one bad change writes none of its changes.
    let fine = History::granted(&About::new(citizen(6), JOBCENTER, REHABILITATION, &[CV]));
    let import = [fine.change(0), orphan.change(1)];
    is_conflict(s.import_consents(&import).await, "an import with one change at a wrong version");
    assert_eq!(s.consent(fine.id()).await.expect("consent"), None, "an import refused as a whole wrote one change");
    assert!(s.consents_of(&citizen(6)).await.expect("consents_of").is_empty(), "a refused import indexed a consent");

    assert_holds(&s, &[&c, &requested], &[], "after the refused changes").await;

    // Two concurrent version-2 changes: one wins, the other is a conflict.
    let first = c.revoked(t0() + Duration::days(1));
    let second = c.revoked(t0() + Duration::days(2));
    let race = |h: History| {
        let s = s.clone();
        tokio::spawn(async move { s.commit_consent(h.change(1)).await })
    };
    let (a, b) = (race(first.clone()), race(second.clone()));
    let (a, b) = (a.await.expect("a commit task"), b.await.expect("a commit task"));
    let winner = match (&a, &b) {
        (Ok(()), Err(StoreError::Conflict { .. })) => &first,
        (Err(StoreError::Conflict { .. }), Ok(())) => &second,
        _ => panic!("two concurrent changes to version 2: expected one success and one conflict, got {a:?} and {b:?}"),
    };
    assert_holds(&s, &[winner, &requested], &[], "after two concurrent changes").await;

    // Blocks: the same rules.
    let block = BlockHistory::placed(anna, BlockTarget::Unit(unit(HOSPITAL)), t0());
    commit_block(&s, &block).await;
    let lifted = block.lifted(t0() + Duration::days(1));
    let mut skipped = lifted.events[1].clone();
    let mut skipped_state = lifted.states[1].clone();
    skipped.version = 3;
    skipped_state.version = 3;
    is_conflict(
        s.commit_block(&skipped, &skipped_state, audit_entry()).await,
        "a block change at version 3 over stored version 1",
    );
    is_conflict(
        s.commit_block(&block.events[0], &block.states[0], audit_entry()).await,
        "placing (version 1) a block that exists",
    );
    let mut wrong = lifted.states[1].clone();
    wrong.version = 4;
    is_conflict(
        s.commit_block(&lifted.events[1], &wrong, audit_entry()).await,
        "a block state whose version differs from its event's",
    );
    let stray = BlockHistory::placed(anna, BlockTarget::Category(category(CV)), t0()).lifted(t0() + Duration::days(1));
    is_conflict(
        s.commit_block(&stray.events[1], &stray.states[1], audit_entry()).await,
        "version 2 of a block that is not stored",
    );
    assert_eq!(s.block(stray.last().id).await.expect("block"), None, "a refused first block change created the block");
    assert_holds(&s, &[winner, &requested], &[&block], "after the refused block changes").await;
    s.commit_block(&lifted.events[1], &lifted.states[1], audit_entry()).await.expect("lifting at version 2");
    assert_holds(&s, &[winner, &requested], &[&lifted], "after lifting the block").await;
}

/// `active_for` returns the consents recorded active for exactly the citizen, grantees,
/// purpose and category asked; [`covers`] then says whether one is in force at `t`
/// (not before its start, not at or after its end, never once revoked).
pub async fn lookups_at_time<H: Harness>(h: &H) {
    let s = h.fresh().await;
    let (anna, bo) = (citizen(7), citizen(8));
    let later = About {
        from: t0() + Duration::days(10),
        until: t0() + Duration::days(20),
        ..About::new(anna, JOBCENTER, REHABILITATION, &[CV, CASE])
    };
    let base = History::granted(&About {
        until: t0() + Duration::days(30),
        ..About::new(anna, JOBCENTER, REHABILITATION, &[CV])
    });
    let other_unit = History::granted(&About::new(anna, HOSPITAL, REHABILITATION, &[CV]));
    let other_purpose = History::granted(&About::new(anna, JOBCENTER, TREATMENT, &[CV]));
    let other_category = History::granted(&About::new(anna, JOBCENTER, REHABILITATION, &[CASE]));
    let other_citizen = History::granted(&About::new(bo, JOBCENTER, REHABILITATION, &[CV]));
    let requested = History::requested(&About::new(anna, JOBCENTER, REHABILITATION, &[CV]));
    let revoked =
        History::granted(&About::new(anna, JOBCENTER, REHABILITATION, &[CV])).revoked(t0() + Duration::days(1));
    let future = History::granted(&later);
    let subunits = History::granted(&About { subunits: true, ..About::new(anna, JOBCENTER, REHABILITATION, &[CV]) });
    let all =
        [&base, &other_unit, &other_purpose, &other_category, &other_citizen, &requested, &revoked, &future, &subunits];
    for c in all {
        commit(&s, c).await;
    }
    let lookup = |who: Cpr, grantees: &'static [&'static str], p: &'static str, cat: &'static str| {
        let s = s.clone();
        async move {
            let grantees: Vec<_> = grantees.iter().map(|g| unit(g)).collect();
            let found = s.active_for(&who, &grantees, &purpose(p), &category(cat)).await.expect("active_for");
            // active_for_each answers the same, in the same order, for each category asked
            // with others (and twice).
            let cats = [category(CASE), category(cat), category(HEALTH), category(CV), category(cat)];
            let each = s.active_for_each(&who, &grantees, &purpose(p), &cats).await.expect("active_for_each");
            assert_eq!(each.len(), cats.len(), "active_for_each answers every category asked");
            for (c, e) in cats.iter().zip(&each) {
                let one = s.active_for(&who, &grantees, &purpose(p), c).await.expect("active_for");
                let order = |v: &[Consent]| v.iter().map(|k| k.id).collect::<Vec<_>>();
                assert_eq!(order(e), order(&one), "active_for_each for {c} differs from active_for");
            }
            ids(&found)
        }
    };
    let set = |hs: &[&History]| hs.iter().map(|h| h.id()).collect::<BTreeSet<_>>();

    assert_eq!(
        lookup(anna, &[JOBCENTER], REHABILITATION, CV).await,
        set(&[&base, &future, &subunits]),
        "active_for(citizen, [jobcenter], rehabilitation, cv): only recorded-active consents of exactly that key"
    );
    assert_eq!(
        lookup(anna, &[JOBCENTER, HOSPITAL], REHABILITATION, CV).await,
        set(&[&base, &future, &subunits, &other_unit]),
        "active_for with two grantees: the consents of either"
    );
    assert_eq!(
        lookup(anna, &[JOBCENTER], REHABILITATION, CASE).await,
        set(&[&other_category, &future]),
        "another category"
    );
    assert_eq!(lookup(anna, &[JOBCENTER], TREATMENT, CV).await, set(&[&other_purpose]), "another purpose");
    assert_eq!(lookup(bo, &[JOBCENTER], REHABILITATION, CV).await, set(&[&other_citizen]), "another citizen");
    assert!(
        lookup(anna, &[REHAB], REHABILITATION, CV).await.is_empty(),
        "a grantee no consent names (sub-units are the caller's)"
    );
    assert!(lookup(anna, &[], REHABILITATION, CV).await.is_empty(), "no grantees");
    assert!(lookup(anna, &[JOBCENTER], REHABILITATION, HEALTH).await.is_empty(), "a category no consent names");

    // In force at t: recorded state, period [from, until), and the unit lineage.
    let stored = |h: &History| {
        let s = s.clone();
        let id = h.id();
        async move { s.consent(id).await.expect("consent").expect("the consent is stored") }
    };
    let jobcenter = [unit(JOBCENTER)];
    let rehab_lineage = [unit(REHAB), unit(JOBCENTER)];
    let c = stored(&base).await;
    assert!(!covers(&c, &jobcenter, t0() - Duration::seconds(1)), "a consent is not in force before its start");
    assert!(covers(&c, &jobcenter, t0()), "a consent is in force from its start");
    assert!(
        covers(&c, &jobcenter, t0() + Duration::days(30) - Duration::seconds(1)),
        "a consent is in force until its end"
    );
    assert!(!covers(&c, &jobcenter, t0() + Duration::days(30)), "a consent is not in force at its end");
    assert!(!covers(&c, &rehab_lineage, t0()), "a consent without sub-units does not cover a sub-unit");
    let sub = stored(&subunits).await;
    assert!(covers(&sub, &rehab_lineage, t0()), "a consent with sub-units covers a sub-unit");
    let f = stored(&future).await;
    assert!(!covers(&f, &jobcenter, t0()), "a consent recorded active is not in force before its period");
    assert!(covers(&f, &jobcenter, t0() + Duration::days(15)), "in force inside its period");
    let r = stored(&revoked).await;
    assert_eq!(r.state, State::Revoked, "the stored state of a revoked consent");
    assert!(!covers(&r, &jobcenter, t0() + Duration::hours(1)), "a revoked consent is not in force inside its period");

    // A consent signed on paper: found like any other, stored with its paper record, in
    // force until its confirmation deadline, and for its whole period once confirmed.
    let deadline = t0() + Duration::days(5);
    let paper = History::start(
        &About::new(bo, HOSPITAL, TREATMENT, &[CASE]),
        EventKind::RegisteredFromPaper {
            terms: Box::new(About::new(bo, HOSPITAL, TREATMENT, &[CASE]).terms()),
            paper: Box::new(PaperRecord {
                scan_sha256: "ab".repeat(32),
                scan_reference: "SCAN-1".into(),
                registered_by: Requester { caseworker: "cw-1".into(), system: "sys-a".into() },
                confirm_by: deadline,
                confirmed_at: None,
            }),
        },
    );
    commit(&s, &paper).await;
    assert_eq!(lookup(bo, &[HOSPITAL], TREATMENT, CASE).await, set(&[&paper]), "a paper consent is looked up");
    let hospital = [unit(HOSPITAL)];
    let p = stored(&paper).await;
    assert_eq!(p.paper.as_ref().map(|x| x.confirm_by), Some(deadline), "the paper record is stored");
    assert!(covers(&p, &hospital, deadline - Duration::seconds(1)), "a paper consent is in force before its deadline");
    assert!(!covers(&p, &hospital, deadline), "an unconfirmed paper consent is not in force at its deadline");
    let confirmed = paper.then(EventKind::Confirmed { by: Grantor::Citizen }, t0() + Duration::days(1));
    commit_from(&s, &confirmed, 1).await;
    let p = stored(&paper).await;
    assert!(p.paper.as_ref().is_some_and(|x| x.confirmed_at.is_some()), "the confirmation is stored");
    assert!(covers(&p, &hospital, deadline + Duration::days(1)), "a confirmed paper consent lasts its period");

    // Revoking takes a consent out of the lookup at once.
    let base_revoked = base.revoked(t0() + Duration::days(2));
    commit_from(&s, &base_revoked, 1).await;
    assert_eq!(
        lookup(anna, &[JOBCENTER], REHABILITATION, CV).await,
        set(&[&future, &subunits]),
        "a revoked consent is still returned by active_for"
    );
}

/// A batch whose `first_index` is not the stored size is refused and writes nothing (no
/// leaf, node, checkpoint or citizen entry); of two concurrent batches at the same index
/// one wins. Reads: leaves and checkpoints by range, nodes in the order asked,
/// `audit_checkpoint_at_or_below`, `audit_citizen_leaves` (newest first, `before`
/// exclusive, at most `limit`).
pub async fn audit_append_compare_and_swap<H: Harness>(h: &H) {
    let s = h.fresh().await;
    assert_eq!(s.audit_size().await.expect("audit_size"), 0, "a fresh store's audit size");
    assert_eq!(s.audit_latest_checkpoint().await.expect("audit_latest_checkpoint"), None, "a fresh store's checkpoint");

    // Refused as `AuditMoved` with the stored size: a writer sharing the store rebuilds its
    // batch on that head and tries again (nothing was written).
    let refused = |r: Result<(), StoreError>, what: &str| match r {
        Err(StoreError::AuditMoved { .. }) => {}
        Err(e) => panic!("{what}: expected AuditMoved (the log changed concurrently), got another error: {e}"),
        Ok(()) => panic!("{what}: the store accepted a batch that does not start at its size"),
    };
    let ahead = Batch::new("ahead", 1, 2, |_| Some(9));
    refused(s.audit_append(ahead.as_batch()).await, "a batch at 1 on an empty log");
    assert_audit_holds(&s, &[], "after a refused first batch").await;
    assert_nothing_of(&s, &ahead, "after a refused first batch").await;
    assert!(
        s.audit_citizen_leaves(&citizen_key(9), u64::MAX, 10).await.expect("audit_citizen_leaves").is_empty(),
        "a refused batch wrote citizen index entries"
    );

    let a = Batch::new("a", 0, 3, two_citizens);
    s.audit_append(a.as_batch()).await.expect("the first batch at 0");
    for (first, what) in
        [(0, "a batch at 0 over 3 leaves (a replay)"), (2, "a batch at 2 (overlapping)"), (4, "a batch at 4 (a gap)")]
    {
        let bad = Batch::new(&format!("bad{first}"), first, 2, |_| Some(9));
        refused(s.audit_append(bad.as_batch()).await, what);
        assert_audit_holds(&s, &[&a], what).await;
        assert_nothing_of(&s, &bad, what).await;
        assert!(
            s.audit_citizen_leaves(&citizen_key(9), u64::MAX, 10).await.expect("audit_citizen_leaves").is_empty(),
            "{what}: the refused batch wrote citizen index entries"
        );
    }

    // Two concurrent batches at 3: exactly one is stored.
    let x = Arc::new(Batch::new("x", 3, 2, |_| Some(3)));
    let y = Arc::new(Batch::new("y", 3, 2, |_| Some(4)));
    let race = |b: Arc<Batch>| {
        let s = s.clone();
        tokio::spawn(async move { s.audit_append(b.as_batch()).await })
    };
    let (rx, ry) = (race(x.clone()), race(y.clone()));
    let (rx, ry) = (rx.await.expect("an append task"), ry.await.expect("an append task"));
    let (won, lost, lost_key) = match (&rx, &ry) {
        (Ok(()), Err(StoreError::AuditMoved { stored: 5, first: 3 })) => (&x, &y, 4),
        (Err(StoreError::AuditMoved { stored: 5, first: 3 }), Ok(())) => (&y, &x, 3),
        _ => panic!("two concurrent batches at 3: expected one success and one refusal, got {rx:?} and {ry:?}"),
    };
    assert_audit_holds(&s, &[&a, won], "after two concurrent batches at 3").await;
    assert_nothing_of(&s, lost, "after two concurrent batches at 3").await;
    assert!(
        s.audit_citizen_leaves(&citizen_key(lost_key), u64::MAX, 10).await.expect("audit_citizen_leaves").is_empty(),
        "the losing concurrent batch wrote citizen index entries"
    );

    // Reads over sizes 3, 5, 9.
    let c = Batch::new("c", 5, 4, two_citizens);
    s.audit_append(c.as_batch()).await.expect("a batch at 5");
    let at_or_below = |n: u64| {
        let s = s.clone();
        async move { s.audit_checkpoint_at_or_below(n).await.expect("audit_checkpoint_at_or_below").map(|(size, _)| size) }
    };
    for (n, expected) in [
        (0, None),
        (2, None),
        (3, Some(3)),
        (4, Some(3)),
        (5, Some(5)),
        (8, Some(5)),
        (9, Some(9)),
        (u64::MAX, Some(9)),
    ] {
        assert_eq!(at_or_below(n).await, expected, "audit_checkpoint_at_or_below({n})");
    }
    let sizes = |r: Vec<(u64, Vec<u8>)>| r.into_iter().map(|(k, _)| k).collect::<Vec<_>>();
    assert_eq!(sizes(s.audit_checkpoints(4, 9).await.expect("audit_checkpoints")), vec![5], "checkpoints in [4, 9)");
    assert_eq!(
        sizes(s.audit_checkpoints(3, 10).await.expect("audit_checkpoints")),
        vec![3, 5, 9],
        "checkpoints in [3, 10)"
    );
    assert!(s.audit_checkpoints(5, 5).await.expect("audit_checkpoints").is_empty(), "checkpoints in an empty range");
    assert!(s.audit_checkpoints(9, 3).await.expect("audit_checkpoints").is_empty(), "checkpoints in a reversed range");
    let indexes = |r: Vec<(u64, Vec<u8>)>| r.into_iter().map(|(k, _)| k).collect::<Vec<_>>();
    assert_eq!(indexes(s.audit_leaves(2, 6).await.expect("audit_leaves")), vec![2, 3, 4, 5], "leaves in [2, 6)");
    assert_eq!(indexes(s.audit_leaves(7, 100).await.expect("audit_leaves")), vec![7, 8], "leaves in [7, 100)");
    assert!(s.audit_leaves(5, 5).await.expect("audit_leaves").is_empty(), "leaves in an empty range");
    assert!(s.audit_leaves(6, 2).await.expect("audit_leaves").is_empty(), "leaves in a reversed range");
    let keys = [(0, 8), (40, 99), (0, 1), (0, 9)];
    let found = s.audit_nodes(&keys).await.expect("audit_nodes");
    assert_eq!(
        found,
        vec![Some(c.nodes[3].hash), None, Some(a.nodes[1].hash), None],
        "audit_nodes answers in the order asked, None where absent"
    );
    let leaves_of = |k: u8, before: u64, limit: usize| {
        let s = s.clone();
        async move { s.audit_citizen_leaves(&citizen_key(k), before, limit).await.expect("audit_citizen_leaves") }
    };
    assert_eq!(leaves_of(1, u64::MAX, 100).await, vec![8, 6, 2, 0], "citizen 1's leaves, newest first");
    assert_eq!(leaves_of(1, 6, 100).await, vec![2, 0], "`before` is exclusive");
    assert_eq!(leaves_of(1, u64::MAX, 2).await, vec![8, 6], "at most `limit`");
    assert!(leaves_of(1, 0, 100).await.is_empty(), "nothing before 0");
    assert!(leaves_of(1, u64::MAX, 0).await.is_empty(), "limit 0");
    assert_eq!(leaves_of(2, u64::MAX, 100).await, vec![5, 1], "citizen 2's leaves");
    assert!(leaves_of(7, u64::MAX, 100).await.is_empty(), "a citizen key never indexed");
}

/// Pruning removes the payloads of a prefix of leaves, starting at the watermark and
/// ending at most at the size; it removes the named citizen entries, keeps nodes and
/// checkpoints, and raises the watermark. A prune that breaks the rules changes nothing.
pub async fn audit_prune_watermark<H: Harness>(h: &H) {
    let s = h.fresh().await;
    assert_eq!(s.audit_pruned_below().await.expect("audit_pruned_below"), 0, "a fresh store's prune watermark");
    let a = Batch::new("a", 0, 6, two_citizens);
    let b = Batch::new("b", 6, 4, two_citizens);
    s.audit_append(a.as_batch()).await.expect("a batch at 0");
    s.audit_append(b.as_batch()).await.expect("a batch at 6");
    let entries_below = |end: u64| -> Vec<([u8; 32], u64)> {
        a.citizens.iter().chain(&b.citizens).filter(|(_, i)| *i < end).copied().collect()
    };

    let refused = |r: Result<(), StoreError>, what: &str| assert!(r.is_err(), "{what}: the store accepted it");
    let first = entries_below(4);
    refused(
        s.audit_prune(AuditPrune { start: 1, end: 4, citizens: &first }).await,
        "a prune that does not start at the watermark 0",
    );
    refused(s.audit_prune(AuditPrune { start: 0, end: 11, citizens: &first }).await, "a prune past the size 10");
    assert_audit_holds(&s, &[&a, &b], "after refused prunes").await;
    assert_eq!(s.audit_pruned_below().await.expect("audit_pruned_below"), 0, "a refused prune moved the watermark");

    s.audit_prune(AuditPrune { start: 0, end: 4, citizens: &first }).await.expect("pruning [0, 4)");
    assert_eq!(s.audit_pruned_below().await.expect("audit_pruned_below"), 4, "the watermark after pruning [0, 4)");
    let leaves = s.audit_leaves(0, 10).await.expect("audit_leaves");
    let expected: Vec<_> =
        (0..10).map(|i| (i, if i < 4 { Vec::new() } else { leaf(if i < 6 { "a" } else { "b" }, i) })).collect();
    assert_eq!(leaves, expected, "pruned leaves keep their index with an empty payload; the rest are unchanged");
    for batch in [&a, &b] {
        let found = s.audit_nodes(&batch.node_keys()).await.expect("audit_nodes");
        assert_eq!(found, batch.nodes.iter().map(|n| Some(n.hash)).collect::<Vec<_>>(), "pruning removed a node");
    }
    assert_eq!(
        s.audit_checkpoints(0, u64::MAX).await.expect("audit_checkpoints").len(),
        2,
        "pruning removed a checkpoint"
    );
    assert_eq!(s.audit_citizen_leaves(&citizen_key(1), u64::MAX, 100).await.expect("citizen leaves"), vec![8, 6, 4]);
    assert_eq!(s.audit_citizen_leaves(&citizen_key(2), u64::MAX, 100).await.expect("citizen leaves"), vec![9, 5]);

    let second = entries_below(7).into_iter().filter(|(_, i)| *i >= 4).collect::<Vec<_>>();
    refused(
        s.audit_prune(AuditPrune { start: 0, end: 7, citizens: &second }).await,
        "a prune from 0 below the watermark 4",
    );
    refused(
        s.audit_prune(AuditPrune { start: 5, end: 7, citizens: &second }).await,
        "a prune from 5 above the watermark 4",
    );
    assert_eq!(s.audit_pruned_below().await.expect("audit_pruned_below"), 4, "a refused prune moved the watermark");
    assert_eq!(
        s.audit_leaves(4, 5).await.expect("audit_leaves"),
        vec![(4, leaf("a", 4))],
        "a refused prune emptied a leaf"
    );
    s.audit_prune(AuditPrune { start: 4, end: 7, citizens: &second }).await.expect("pruning [4, 7) from the watermark");
    assert_eq!(s.audit_pruned_below().await.expect("audit_pruned_below"), 7);
    assert_eq!(s.audit_citizen_leaves(&citizen_key(1), u64::MAX, 100).await.expect("citizen leaves"), vec![8]);

    // The log grows on after pruning.
    let c = Batch::new("c", 10, 1, two_citizens);
    s.audit_append(c.as_batch()).await.expect("a batch at 10 after pruning");
    assert_eq!(s.audit_size().await.expect("audit_size"), 11);
}

/// Of many concurrent `session_take`s of one key exactly one gets the value; an expired
/// value is neither got nor taken (expired at `now` when `now >= expires_at`); a put
/// replaces; purge removes exactly the expired values and counts them.
pub async fn session_take_once<H: Harness>(h: &H) {
    const TAKERS: usize = 16;
    let s = h.fresh().await;
    let now = t0();
    let later = now + Duration::minutes(10);

    s.session_put("login-state", b"nonce-1", later).await.expect("session_put");
    let barrier = Arc::new(tokio::sync::Barrier::new(TAKERS));
    let takers: Vec<_> = (0..TAKERS)
        .map(|_| {
            let (s, barrier) = (s.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                s.session_take("login-state", now).await
            })
        })
        .collect();
    let mut got = Vec::new();
    for t in takers {
        if let Some(v) = t.await.expect("a take task").expect("session_take") {
            got.push(v);
        }
    }
    assert_eq!(got, vec![b"nonce-1".to_vec()], "of {TAKERS} concurrent takes exactly one gets the value");
    assert_eq!(s.session_get("login-state", now).await.expect("session_get"), None, "a taken value is gone");

    s.session_put("short", b"v", now + Duration::seconds(30)).await.expect("session_put");
    assert_eq!(s.session_get("short", now).await.expect("session_get").as_deref(), Some(&b"v"[..]), "a live value");
    let expiry = now + Duration::seconds(30);
    assert_eq!(s.session_get("short", expiry).await.expect("session_get"), None, "a value is expired at its expiry");
    assert_eq!(
        s.session_take("short", expiry + Duration::seconds(1)).await.expect("session_take"),
        None,
        "an expired value is taken"
    );

    s.session_put("renewed", b"old", later).await.expect("session_put");
    s.session_put("renewed", b"new", later).await.expect("session_put");
    assert_eq!(
        s.session_get("renewed", now).await.expect("session_get").as_deref(),
        Some(&b"new"[..]),
        "a put replaces"
    );
    assert_eq!(s.session_take("missing", now).await.expect("session_take"), None, "taking an absent key");

    // Purge, on a store of its own (whether an expired value's take removed it is the
    // adapter's choice): three values expired at `cut`, two live.
    let s = h.fresh().await;
    s.session_put("renewed", b"new", later).await.expect("session_put");
    let cut = now + Duration::minutes(5);
    for (k, exp) in [("e1", now), ("e2", cut - Duration::seconds(1)), ("e3", cut)] {
        s.session_put(k, b"x", exp).await.expect("session_put");
    }
    s.session_put("l1", b"y", cut + Duration::seconds(1)).await.expect("session_put");
    let purged = s.session_purge(cut).await.expect("session_purge");
    assert_eq!(purged, 3, "session_purge counts the values expired at `now`");
    for k in ["l1", "renewed"] {
        assert!(s.session_get(k, now).await.expect("session_get").is_some(), "purge removed the live value {k}");
    }
    for k in ["e1", "e2", "e3"] {
        assert_eq!(
            s.session_get(k, now - Duration::days(1)).await.expect("session_get"),
            None,
            "purge left the expired value {k}"
        );
    }
    assert_eq!(s.session_purge(cut).await.expect("session_purge"), 0, "a second purge finds nothing");
}

/// `ping` succeeds on a healthy store, empty or not, and writes no consent or audit data.
/// A change's audit record is written with the change, survives a restart, is read back
/// oldest first, and leaves the outbox only in the transaction that appends it; a refused
/// change leaves none, and a batch naming an entry that is gone writes nothing.
pub async fn audit_outbox_with_the_change<H: Harness>(h: &H) {
    let s = h.fresh().await;
    assert!(s.audit_outbox(10).await.expect("audit_outbox").is_empty(), "a fresh store has an outbox entry");
    let a = History::granted(&About::new(citizen(11), JOBCENTER, REHABILITATION, &[CV]));
    let key = citizen_key(7);
    let first = OutboxEntry { id: OutboxId::new(), leaf: b"first", citizen: Some(key) };
    s.commit_consent(ConsentChange {
        event: &a.events[0],
        state: &a.states[0],
        text_body: Some(&a.body),
        audit: first,
    })
    .await
    .expect("a change with its record");
    let b = BlockHistory::placed(citizen(11), BlockTarget::Category(category(CV)), t0());
    let second = OutboxEntry { id: OutboxId::new(), leaf: b"second", citizen: None };
    s.commit_block(&b.events[0], &b.states[0], second).await.expect("a block with its record");
    // A refused change writes no record.
    let refused = s.commit_block(&b.events[0], &b.states[0], audit_entry()).await;
    assert!(matches!(refused, Err(StoreError::Conflict { .. })), "placing a block twice: {refused:?}");
    drop(s);
    let s = h.reopen().await;
    let pending = s.audit_outbox(10).await.expect("audit_outbox");
    let got: Vec<_> = pending.iter().map(|p| (p.id, p.leaf.clone(), p.citizen)).collect();
    assert_eq!(
        got,
        vec![(first.id, b"first".to_vec(), Some(key)), (second.id, b"second".to_vec(), None)],
        "the outbox after a restart (oldest first, nothing from the refused change)"
    );
    assert_eq!(s.audit_outbox(1).await.expect("audit_outbox").len(), 1, "the limit");

    // A batch naming an entry that is not in the outbox is refused whole.
    let batch = Batch::new("outbox", 0, 2, |_| None);
    let gone = [OutboxId::new()];
    let refused = s.audit_append(AuditBatch { outbox: &gone, ..batch.as_batch() }).await;
    assert!(refused.is_err(), "a batch draining an entry that is not there was accepted");
    assert_nothing_of(&s, &batch, "after a batch naming a missing outbox entry").await;
    assert_eq!(s.audit_outbox(10).await.expect("audit_outbox").len(), 2, "a refused batch drained the outbox");

    // The batch that carries both records drains both, in its own transaction.
    let both = [first.id, second.id];
    s.audit_append(AuditBatch { outbox: &both, ..batch.as_batch() }).await.expect("a batch draining the outbox");
    assert!(s.audit_outbox(10).await.expect("audit_outbox").is_empty(), "the drained entries are still there");
    assert_audit_holds(&s, &[&batch], "after draining").await;
    drop(s);
    let s = h.reopen().await;
    assert!(s.audit_outbox(10).await.expect("audit_outbox").is_empty(), "drained entries came back after a restart");
}

pub async fn ping_on_a_healthy_store<H: Harness>(h: &H) {
    let s = h.fresh().await;
    s.ping().await.unwrap_or_else(|e| panic!("ping on a fresh store failed: {e}"));
    assert!(s.consent_ids().await.expect("consent_ids").is_empty(), "ping wrote a consent");
    assert_eq!(s.audit_size().await.expect("audit_size"), 0, "ping wrote an audit leaf");
    assert_eq!(s.audit_latest_checkpoint().await.expect("audit_latest_checkpoint"), None, "ping wrote a checkpoint");
    let c = History::granted(&About::new(citizen(9), JOBCENTER, REHABILITATION, &[CV]));
    commit(&s, &c).await;
    s.ping().await.unwrap_or_else(|e| panic!("ping on a store with data failed: {e}"));
    assert_holds(&s, &[&c], &[], "after ping").await;
}

/// [`copy::copy`] between two fresh stores of the adapter: see [`copy_between`].
pub async fn copy_moves_everything<H: Harness>(h: &H) {
    let source = h.fresh().await;
    let target = h.fresh().await;
    copy_between(&source, &target).await;
}

/// An audit batch as the log writes it: real leaf and subtree hashes (every subtree the
/// leaves complete), citizens by [`two_citizens`].
fn merkle_batch(frontier: &mut Frontier, tag: &str, count: u64) -> Batch {
    let first = frontier.size();
    let leaves: Vec<_> = (first..first + count).map(|i| leaf(tag, i)).collect();
    let mut nodes = Vec::new();
    for l in &leaves {
        frontier.push(crate::audit::leaf_hash(l), |level, index, hash| nodes.push(AuditNode { level, index, hash }));
    }
    let citizens = (first..first + count).filter_map(|i| two_citizens(i).map(|n| (citizen_key(n), i))).collect();
    let size = first + count;
    Batch { first, leaves, nodes, checkpoint: format!("checkpoint {tag} {size}").into_bytes(), citizens }
}

/// Fills `source` with some of everything (consents in every state with their texts,
/// blocks placed and lifted, messages to GPs in several states, pending audit records, three audit batches with a pruned
/// prefix), copies it into the empty `target` in batches of 2 (so every kind spans
/// several), and checks that the target answers every query as the source does; then that
/// a second copy into the target is refused and changes nothing, and that an import of a
/// history with a gap is refused.
pub async fn copy_between(source: &SharedStore, target: &SharedStore) {
    let (anna, bo) = (citizen(21), citizen(22));
    let granted = History::granted(&About::new(anna, JOBCENTER, REHABILITATION, &[CV, CASE]));
    let requested = History::requested(&About { text: 2, ..About::new(anna, REHAB, REHABILITATION, &[HEALTH]) });
    let approved = History::requested(&About { text: 3, ..About::new(bo, REHAB, REHABILITATION, &[CASE]) })
        .approved(t0() + Duration::days(1));
    let revoked = History::granted(&About::new(bo, JOBCENTER, REHABILITATION, &[CV])).revoked(t0() + Duration::days(2));
    for c in [&granted, &requested, &approved, &revoked] {
        commit(source, c).await;
    }
    let placed = BlockHistory::placed(anna, BlockTarget::Category(category(HEALTH)), t0());
    let lifted = BlockHistory::placed(bo, BlockTarget::Unit(unit(HOSPITAL)), t0()).lifted(t0() + Duration::days(3));
    commit_block(source, &placed).await;
    commit_block(source, &lifted).await;
    let messages = health::fill_for_copy(source).await;
    // Drain some of the outbox into the log (as the writer does), leave the rest pending.
    let pending = source.audit_outbox(100).await.expect("audit_outbox");
    let (drained, waiting) = pending.split_at(pending.len() / 2);
    let drained: Vec<OutboxId> = drained.iter().map(|p| p.id).collect();
    let mut frontier = Frontier::default();
    let batches = [
        merkle_batch(&mut frontier, "one", 3),
        merkle_batch(&mut frontier, "two", 5),
        merkle_batch(&mut frontier, "three", 1),
    ];
    for (i, b) in batches.iter().enumerate() {
        let outbox = if i == 0 { &drained[..] } else { &[] };
        source.audit_append(AuditBatch { outbox, ..b.as_batch() }).await.expect("an audit batch on the source");
    }
    let pruned: Vec<_> = batches[0].citizens.iter().filter(|(_, i)| *i < 2).copied().collect();
    source.audit_prune(AuditPrune { start: 0, end: 2, citizens: &pruned }).await.expect("pruning the source");

    let mut seen = Vec::new();
    let report = copy::copy(&**source, &**target, BatchSize::new(2), &mut |p| seen.push((p.kind, p.done)))
        .await
        .unwrap_or_else(|e| panic!("copying failed: {e}"));
    assert_eq!((report.consents, report.consent_events), (4, 6), "consents and events copied: {report:?}");
    assert_eq!((report.blocks, report.block_events), (2, 3), "blocks and events copied: {report:?}");
    assert_eq!((report.texts, report.audit_records, report.checkpoints), (3, 9, 3), "{report:?}");
    assert_eq!((report.outbox, report.pruned_below), (waiting.len() as u64, 2), "{report:?}");
    assert!(seen.contains(&(copy::Kind::Consents, 2)) && seen.contains(&(copy::Kind::Consents, 4)), "{seen:?}");

    let consents = [&granted, &requested, &approved, &revoked];
    assert_holds(target, &consents, &[&placed, &lifted], "the copy").await;
    assert_eq!(target.audit_size().await.expect("audit_size"), 9, "the copy's tree size");
    assert_eq!(target.audit_pruned_below().await.expect("audit_pruned_below"), 2, "the copy's prune watermark");
    assert_eq!(
        target.audit_leaves(0, u64::MAX).await.expect("audit_leaves"),
        source.audit_leaves(0, u64::MAX).await.expect("audit_leaves"),
        "the copy's leaves (pruned payloads empty)"
    );
    for b in &batches {
        let keys = b.node_keys();
        assert_eq!(
            target.audit_nodes(&keys).await.expect("audit_nodes"),
            b.nodes.iter().map(|n| Some(n.hash)).collect::<Vec<_>>(),
            "the copy's subtree hashes of the batch at {}",
            b.first
        );
    }
    let checkpoints: Vec<_> = batches.iter().map(|b| (b.size(), b.checkpoint.clone())).collect();
    assert_eq!(target.audit_checkpoints(0, u64::MAX).await.expect("audit_checkpoints"), checkpoints, "checkpoints");
    for n in [1u8, 2] {
        let k = citizen_key(n);
        assert_eq!(
            target.audit_citizen_leaves(&k, u64::MAX, usize::MAX).await.expect("audit_citizen_leaves"),
            source.audit_citizen_leaves(&k, u64::MAX, usize::MAX).await.expect("audit_citizen_leaves"),
            "the copy's citizen index for key {n}"
        );
    }
    assert_eq!(target.audit_outbox(100).await.expect("audit_outbox"), waiting, "the copy's pending audit records");
    assert_eq!(report.health_messages, messages.len() as u64, "{report:?}");
    assert!(seen.contains(&(copy::Kind::HealthMessages, 4)), "{seen:?}");
    health::assert_copied(target, &messages).await;

    // A second copy into the (now full) target is refused before it writes anything.
    let again = copy::copy(&**source, &**target, BatchSize::default(), &mut |_| {}).await;
    assert!(matches!(again, Err(CopyError::TargetNotEmpty(_))), "a copy into a non-empty store: {again:?}");
    assert_holds(target, &consents, &[&placed, &lifted], "after a refused second copy").await;
    assert_eq!(target.audit_size().await.expect("audit_size"), 9, "a refused copy changed the log");

    // An import of a history with a gap is refused and writes nothing.
    let gap = History::granted(&About::new(citizen(23), JOBCENTER, REHABILITATION, &[CV])).revoked(t0());
    let rows = [(gap.last().clone(), vec![gap.events[1].clone()])];
    let refused = target.import(Import::Consents(&rows)).await;
    assert!(matches!(refused, Err(StoreError::Corrupt(_))), "an import of events 2.. only: {refused:?}");
    assert_eq!(target.consent(gap.id()).await.expect("consent"), None, "a refused import wrote the consent");
    // And an import of a consent the store holds is refused whole.
    let rows = [(granted.last().clone(), granted.events.clone())];
    assert!(target.import(Import::Consents(&rows)).await.is_err(), "an import overwrote a stored consent");
    assert_holds(target, &consents, &[&placed, &lifted], "after refused imports").await;
}
