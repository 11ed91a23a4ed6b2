//! The audit log end to end over the sled store on a real directory: appends and reads,
//! group commit under concurrency, failed writes, reopening, and tamper detection.

mod audit_support;

use std::collections::BTreeSet;
use std::sync::Arc;

use audit_support::*;
use consent::SledStore;
use consent::audit::{
    AuditConfig, AuditError, AuditLog, MemoryTree, VerifyError, generate_signing_key, leaf_hash, verify_consistency,
    verify_inclusion, verify_store,
};
use consent::store::faulty::{FaultyStore, Op};
use ed25519_dalek::SigningKey;

fn key() -> SigningKey {
    SigningKey::from_bytes(&[7u8; 32])
}

async fn open(dir: &std::path::Path) -> (SledStore, AuditLog<SledStore>) {
    let store = SledStore::open(dir).unwrap();
    let log = AuditLog::open(store.clone(), key(), AuditConfig::default()).await.unwrap();
    (store, log)
}

/// Appends `n` records one append at a time (so one checkpoint each).
async fn fill<S: consent::Store + Clone>(log: &AuditLog<S>, from: u64, n: u64) {
    for i in from..from + n {
        log.append(vec![record(i)]).await.unwrap();
    }
}

/// The tree recomputed from every stored leaf.
async fn recompute<S: consent::Store + Clone>(log: &AuditLog<S>) -> MemoryTree {
    let mut t = MemoryTree::new();
    for (_, bytes) in log.raw_entries(0, u64::MAX).await.unwrap() {
        t.push(&bytes);
    }
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_read_prove_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let (store, log) = open(dir.path()).await;
    assert_eq!(log.latest_checkpoint().await.unwrap(), None);
    let a = log.append(vec![record(0), record(1), record(2)]).await.unwrap();
    assert_eq!((a.first_index, a.count, a.tree_size), (0, 3, 3));
    let cp3 = log.latest_checkpoint().await.unwrap().unwrap();
    fill(&log, 3, 10).await;
    let b = log.append(vec![record(13)]).await.unwrap();
    assert_eq!((b.first_index, b.count, b.tree_size), (13, 1, 14));
    assert_eq!(log.tree_size(), 14);

    assert_eq!(log.entry(5).await.unwrap(), Some(record(5)));
    assert_eq!(log.entry(14).await.unwrap(), None);
    let some = log.entries(2, 6).await.unwrap();
    assert_eq!(some, (2..6).map(|i| (i, record(i))).collect::<Vec<_>>());

    let cp = log.latest_checkpoint().await.unwrap().unwrap();
    cp.verify(&log.verifying_key()).unwrap();
    assert!(cp.verify(&generate_signing_key().verifying_key()).is_err());
    assert_eq!(cp.tree_size, 14);
    let t = recompute(&log).await;
    assert_eq!(cp.root, t.root(14));
    assert_eq!(log.root(14).await.unwrap(), cp.root);
    assert_eq!(log.root(3).await.unwrap(), cp3.root);
    assert!(matches!(log.root(15).await, Err(AuditError::OutOfRange(_))));

    for i in 0..14 {
        let p = log.inclusion_proof(i, 14).await.unwrap();
        assert_eq!(p, t.inclusion_proof(i, 14));
        assert!(verify_inclusion(&leaf_hash(&record(i).canonical_bytes()), i, 14, &p, &cp.root));
    }
    let p = log.consistency_proof(3, 14).await.unwrap();
    assert!(verify_consistency(3, 14, &cp3.root, &cp.root, &p));
    assert!(log.inclusion_proof(14, 14).await.is_err());
    assert!(log.consistency_proof(5, 15).await.is_err());

    // One checkpoint per batch, all kept.
    let all = log.checkpoints(0, u64::MAX).await.unwrap();
    assert_eq!(all.iter().map(|c| c.tree_size).collect::<Vec<_>>(), [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
    assert!(all.windows(2).all(|w| w[0].time <= w[1].time));

    let report = verify_store(&store, &log.verifying_key()).await.unwrap();
    assert_eq!((report.tree_size, report.root, report.checkpoints), (14, cp.root, 12));

    // The JSON form of a checkpoint reads back.
    let json = serde_json::to_string(&cp).unwrap();
    assert_eq!(serde_json::from_str::<consent::audit::SignedCheckpoint>(&json).unwrap(), cp);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_are_group_committed() {
    let dir = tempfile::tempdir().unwrap();
    let store = FaultyStore::new(SledStore::open(dir.path()).unwrap());
    let faults = store.faults();
    let log = AuditLog::open(store.clone(), key(), AuditConfig::default()).await.unwrap();
    const TASKS: u64 = 64;
    const EACH: u64 = 20;
    let mut handles = Vec::new();
    for t in 0..TASKS {
        let log = log.clone();
        handles.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for j in 0..EACH {
                // Some appends carry two records, which must get consecutive indexes.
                let i = t * EACH + j;
                let records = if j % 5 == 0 { vec![record(i), record(i + 1_000_000)] } else { vec![record(i)] };
                let a = log.append(records.clone()).await.unwrap();
                assert_eq!(a.count, records.len() as u64);
                assert!(a.first_index + a.count <= a.tree_size);
                got.push((a.first_index, records));
            }
            got
        }));
    }
    let mut indexes = BTreeSet::new();
    let mut expected = Vec::new();
    for h in handles {
        for (first, records) in h.await.unwrap() {
            for (k, r) in records.into_iter().enumerate() {
                assert!(indexes.insert(first + k as u64), "index {} handed out twice", first + k as u64);
                expected.push((first + k as u64, r));
            }
        }
    }
    let total = TASKS * EACH + TASKS * EACH / 5;
    assert_eq!(indexes.len() as u64, total);
    assert_eq!(indexes.iter().copied().collect::<Vec<_>>(), (0..total).collect::<Vec<_>>(), "contiguous");
    // Each record is where its append was told it is.
    expected.sort_by_key(|(i, _)| *i);
    assert_eq!(log.entries(0, total).await.unwrap(), expected);

    let stats = log.stats();
    let writes = faults.calls(Op::AuditAppend);
    assert_eq!(faults.injected(Op::AuditAppend), 0);
    eprintln!(
        "{total} records, {} appends, {writes} transactions+flushes, largest batch {}",
        stats.appends, stats.largest_batch
    );
    assert_eq!(stats.records, total);
    assert_eq!(stats.batches, writes, "one store write per batch");
    assert!(stats.largest_batch > 2, "the writer never grouped: {stats:?}");
    assert!(writes < stats.appends, "group commit wrote once per append: {stats:?}");

    let cp = log.latest_checkpoint().await.unwrap().unwrap();
    assert_eq!(cp.tree_size, total);
    assert_eq!(recompute(&log).await.root(total), cp.root);
    cp.verify(&log.verifying_key()).unwrap();
    let report = verify_store(&store, &log.verifying_key()).await.unwrap();
    assert_eq!(report.checkpoints, writes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_write_fails_every_waiter_and_the_tree_stays_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let store = FaultyStore::new(SledStore::open(dir.path()).unwrap());
    let faults = store.faults();
    let log = AuditLog::open(store.clone(), key(), AuditConfig::default()).await.unwrap();
    fill(&log, 0, 5).await;
    let before = log.latest_checkpoint().await.unwrap().unwrap();

    // Nothing written: every concurrent caller gets an error, nothing moves.
    faults.fail(Op::AuditAppend);
    let attempts = faults.calls(Op::AuditAppend);
    let results = append_concurrently(&log, 100, 16).await;
    assert!(results.iter().all(|r| matches!(r, Err(AuditError::Store(_)))), "{results:?}");
    assert!(faults.calls(Op::AuditAppend) > attempts, "the log never tried to write");
    assert_eq!(log.tree_size(), 5);
    assert_eq!(log.latest_checkpoint().await.unwrap().unwrap(), before);
    assert!(log.stats().failed_batches >= 1);

    // Written but reported failed (a flush error after the transaction): callers get an
    // error; the log re-reads the store and continues after what is there.
    faults.fail_after(Op::AuditAppend);
    let failed = log.append(vec![record(200), record(201)]).await;
    assert!(failed.is_err());

    faults.heal(Op::AuditAppend);
    let a = log.append(vec![record(300)]).await.unwrap();
    assert_eq!(a.first_index, 7, "continues after the two records the store did take");
    let results = append_concurrently(&log, 400, 16).await;
    assert!(results.iter().all(|r| r.is_ok()));
    let report = verify_store(&store, &log.verifying_key()).await.unwrap();
    assert_eq!(report.tree_size, 8 + 16);
    assert_eq!(log.entry(5).await.unwrap(), Some(record(200)));
    assert_eq!(log.entry(7).await.unwrap(), Some(record(300)));
}

async fn append_concurrently<S: consent::Store + Clone>(
    log: &AuditLog<S>,
    from: u64,
    n: u64,
) -> Vec<Result<consent::audit::Appended, AuditError>> {
    let barrier = Arc::new(tokio::sync::Barrier::new(n as usize));
    let tasks: Vec<_> = (from..from + n)
        .map(|i| {
            let (log, barrier) = (log.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                log.append(vec![record(i)]).await
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopening_resumes_the_tree() {
    let dir = tempfile::tempdir().unwrap();
    let (store, log) = open(dir.path()).await;
    fill(&log, 0, 7).await;
    let cp7 = log.latest_checkpoint().await.unwrap().unwrap();
    drop(log);
    let log = AuditLog::open(store.clone(), key(), AuditConfig::default()).await.unwrap();
    assert_eq!(log.tree_size(), 7);
    let a = log.append(vec![record(7), record(8)]).await.unwrap();
    assert_eq!((a.first_index, a.tree_size), (7, 9));
    let cp9 = log.latest_checkpoint().await.unwrap().unwrap();
    assert_eq!(cp9.root, recompute(&log).await.root(9));
    let p = log.consistency_proof(7, 9).await.unwrap();
    assert!(verify_consistency(7, 9, &cp7.root, &cp9.root, &p));
    verify_store(&store, &log.verifying_key()).await.unwrap();
}

// --- tampering, by writing the sled trees directly ---

/// A store with `n` records in `n` checkpointed batches, and its log dropped.
async fn tamper_fixture(n: u64) -> (tempfile::TempDir, SledStore) {
    let dir = tempfile::tempdir().unwrap();
    let (store, log) = open(dir.path()).await;
    fill(&log, 0, n).await;
    verify_store(&store, &log.verifying_key()).await.unwrap();
    (dir, store)
}

fn tree(store: &SledStore, name: &str) -> sled::Tree {
    store.raw_tree(name).unwrap()
}

async fn first_bad(store: &SledStore) -> (VerifyError, Option<u64>) {
    let e = verify_store(store, &key().verifying_key()).await.expect_err("tampering goes unnoticed");
    let i = e.first_bad_index();
    (e, i)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_finds_a_flipped_byte() {
    let (_dir, store) = tamper_fixture(20).await;
    let leaves = tree(&store, "audit_leaves");
    let k = 13u64.to_be_bytes();
    let mut v = leaves.get(k).unwrap().unwrap().to_vec();
    // Inside the request id, so the record still reads and is still canonical.
    let at = v.windows(6).position(|w| w == b"req-13").unwrap() + 4;
    v[at] ^= 0x01;
    leaves.insert(k, v).unwrap();
    let (e, i) = first_bad(&store).await;
    assert_eq!(i, Some(13), "{e}");
    assert!(matches!(e, VerifyError::LeafHash { index: 13 }), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_finds_a_rehashed_record_through_the_checkpoints() {
    // The attacker alters record 9 and rewrites every stored hash above it: only the signed
    // checkpoints still disagree.
    let (_dir, store) = tamper_fixture(12).await;
    let leaves = tree(&store, "audit_leaves");
    let mut r = record(9);
    r.outcome = "denied".into();
    let bytes = r.canonical_bytes();
    leaves.insert(9u64.to_be_bytes(), bytes.clone()).unwrap();
    let mut t = MemoryTree::new();
    for (_, b) in leaves.iter().map(|kv| kv.unwrap()) {
        t.push(&b);
    }
    let nodes = tree(&store, "audit_nodes");
    for (k, _) in nodes.iter().map(|kv| kv.unwrap()) {
        let (level, index) = (k[0], u64::from_be_bytes(k[1..].try_into().unwrap()));
        let start = index << level;
        let len = 1u64 << level;
        // Recompute the complete subtree's hash from the altered leaves.
        let mut sub = MemoryTree::new();
        for (_, b) in leaves.range(start.to_be_bytes()..(start + len).to_be_bytes()).map(|kv| kv.unwrap()) {
            sub.push(&b);
        }
        nodes.insert(k, &sub.root(len)).unwrap();
    }
    let (e, i) = first_bad(&store).await;
    assert!(matches!(e, VerifyError::CheckpointRoot { tree_size: 10, from: 9 }), "{e}");
    assert_eq!(i, Some(9));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_finds_dropped_records() {
    // Dropping the last records (leaving the rest as it was).
    let (_dir, store) = tamper_fixture(20).await;
    let leaves = tree(&store, "audit_leaves");
    for i in 17..20u64 {
        leaves.remove(i.to_be_bytes()).unwrap();
    }
    let (e, i) = first_bad(&store).await;
    assert_eq!(i, Some(17), "{e}");
    assert!(matches!(e, VerifyError::Missing { index: 17 }), "{e}");

    // ... and also lowering the stored size: the checkpoints still speak of them.
    tree(&store, "audit_meta").insert("size", &17u64.to_be_bytes()).unwrap();
    let (e, i) = first_bad(&store).await;
    assert_eq!(i, Some(17), "{e}");

    // ... and dropping their checkpoints too: what is left is a consistent log of 17
    // records. Only a checkpoint saved elsewhere shows the loss.
    let cps = tree(&store, "audit_checkpoints");
    for size in 18..=20u64 {
        cps.remove(size.to_be_bytes()).unwrap();
    }
    let report = verify_store(&store, &key().verifying_key()).await.unwrap();
    assert_eq!(report.tree_size, 17);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_finds_reordered_records() {
    let (_dir, store) = tamper_fixture(20).await;
    let leaves = tree(&store, "audit_leaves");
    let a = leaves.get(6u64.to_be_bytes()).unwrap().unwrap();
    let b = leaves.get(11u64.to_be_bytes()).unwrap().unwrap();
    leaves.insert(6u64.to_be_bytes(), b).unwrap();
    leaves.insert(11u64.to_be_bytes(), a).unwrap();
    let (e, i) = first_bad(&store).await;
    assert_eq!(i, Some(6), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_finds_bad_nodes_checkpoints_and_garbage() {
    let (_dir, store) = tamper_fixture(16).await;
    // An inner node: (level 2, index 1) covers records 4..8.
    let nodes = tree(&store, "audit_nodes");
    let mut k = vec![2u8];
    k.extend_from_slice(&1u64.to_be_bytes());
    let good = nodes.get(&k).unwrap().unwrap();
    nodes.insert(&k, &[0u8; 32]).unwrap();
    let (e, i) = first_bad(&store).await;
    assert!(matches!(e, VerifyError::Node { level: 2, index: 1 }), "{e}");
    assert_eq!(i, Some(4));
    nodes.insert(&k, good).unwrap();

    // A checkpoint whose signature no longer matches.
    let cps = tree(&store, "audit_checkpoints");
    let k = 5u64.to_be_bytes();
    let original = cps.get(k).unwrap().unwrap();
    let mut cp: consent::audit::SignedCheckpoint = serde_json::from_slice(&original).unwrap();
    cp.time += chrono::Duration::seconds(1);
    cps.insert(k, serde_json::to_vec(&cp).unwrap()).unwrap();
    let (e, _) = first_bad(&store).await;
    assert!(matches!(e, VerifyError::Checkpoint { tree_size: 5, .. }), "{e}");
    cps.insert(k, original).unwrap();

    // Verifying against another key fails on the first checkpoint.
    let e = verify_store(&store, &generate_signing_key().verifying_key()).await.unwrap_err();
    assert!(matches!(e, VerifyError::Checkpoint { tree_size: 1, .. }), "{e}");

    // A record that is not a record.
    let leaves = tree(&store, "audit_leaves");
    leaves.insert(3u64.to_be_bytes(), &b"{}"[..]).unwrap();
    let (e, i) = first_bad(&store).await;
    assert!(matches!(e, VerifyError::Unreadable { index: 3, .. }), "{e}");
    assert_eq!(i, Some(3));

    // Opening the log over a tampered store refuses.
    let e = AuditLog::open(store.clone(), key(), AuditConfig::default()).await.err();
    assert!(e.is_none(), "the frontier and latest checkpoint are intact; open checks only those");
    let meta = tree(&store, "audit_meta");
    meta.insert("size", &15u64.to_be_bytes()).unwrap();
    assert!(matches!(AuditLog::open(store.clone(), key(), AuditConfig::default()).await, Err(AuditError::Corrupt(_))));
}
