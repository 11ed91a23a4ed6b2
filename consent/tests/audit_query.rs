//! Reading the audit log back (the per-citizen index, filters, cursor pages, the time
//! bound) and retention (payloads pruned, hashes, proofs and verification unchanged).

mod audit_support;

use audit_support::*;
use consent::audit::{
    AuditConfig, AuditFilter, AuditKind, AuditLog, AuditRecord, VerifyError, leaf_hash, verify_inclusion, verify_store,
};
use consent::clock::{Clock, SystemClock};
use consent::{Cpr, SledStore, Store};
use ed25519_dalek::SigningKey;

fn key() -> SigningKey {
    SigningKey::from_bytes(&[9u8; 32])
}

async fn open(dir: &std::path::Path) -> (SledStore, AuditLog<SledStore>) {
    let store = SledStore::open(dir).unwrap();
    let log = AuditLog::open(store.clone(), key(), AuditConfig::default()).await.unwrap();
    (store, log)
}

/// Every page of a query, following the cursor.
async fn all_pages(log: &AuditLog<SledStore>, f: &AuditFilter, limit: usize) -> Vec<(u64, AuditRecord)> {
    let mut out = Vec::new();
    let mut before = None;
    for _ in 0..10_000 {
        let page = log.query(f, before, limit).await.unwrap();
        assert!(page.records.len() <= limit);
        out.extend(page.records);
        match page.next_before {
            Some(b) => before = Some(b),
            None => return out,
        }
    }
    panic!("the cursor never ended");
}

/// The same query by brute force over every record.
async fn brute(log: &AuditLog<SledStore>, f: &AuditFilter) -> Vec<(u64, AuditRecord)> {
    let mut all = log.entries(0, u64::MAX).await.unwrap();
    all.retain(|(_, r)| f.matches(r));
    all.reverse();
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_match_brute_force_on_every_page_size() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, log) = open(dir.path()).await;
    for chunk in (0..300u64).collect::<Vec<_>>().chunks(7) {
        let mut records: Vec<AuditRecord> = chunk.iter().map(|&i| record(i)).collect();
        // Some records about no citizen.
        for r in records.iter_mut().filter(|r| r.request_id.ends_with('5')) {
            r.citizen = None;
        }
        log.append(records).await.unwrap();
    }
    let citizen = record(4).citizen.unwrap();
    let other = record(5).citizen.unwrap();
    let filters = [
        AuditFilter { citizen: Some(citizen), ..Default::default() },
        AuditFilter { citizen: Some(other), ..Default::default() },
        AuditFilter { citizen: Some(citizen), kinds: Some(vec![AuditKind::Decision]), ..Default::default() },
        AuditFilter { caseworker: Some("cw-3".into()), ..Default::default() },
        AuditFilter { decision: Some(consent::audit::AuditDecision::Deny), ..Default::default() },
        AuditFilter { kinds: Some(vec![AuditKind::Release]), caseworker: Some("cw-1".into()), ..Default::default() },
        AuditFilter { to: Some(record(40).time), ..Default::default() },
        AuditFilter { from: Some(record(250).time), citizen: Some(citizen), ..Default::default() },
        AuditFilter { outcome: Some("nothing-has-this".into()), ..Default::default() },
        AuditFilter::default(),
    ];
    for f in &filters {
        let expected = brute(&log, f).await;
        for limit in [1, 3, 50, 1000] {
            assert_eq!(all_pages(&log, f, limit).await, expected, "{f:?} limit {limit}");
        }
    }
    // The citizen filter returns only that citizen's records, and some.
    let mine = all_pages(&log, &filters[0], 10).await;
    assert!(!mine.is_empty());
    assert!(mine.iter().all(|(_, r)| r.citizen == Some(citizen)));
    // A page ends early when `before` says so.
    let page = log.query(&AuditFilter::default(), Some(10), 100).await.unwrap();
    assert_eq!(page.records.iter().map(|(i, _)| *i).collect::<Vec<_>>(), (0..10).rev().collect::<Vec<_>>());
    assert_eq!(page.next_before, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_citizen_index_survives_reopening_the_log_and_is_keyed() {
    let dir = tempfile::tempdir().unwrap();
    let citizen = Cpr::parse("0707709912").unwrap();
    let (store, log) = open(dir.path()).await;
    let mut r = record(1);
    r.citizen = Some(citizen);
    log.append(vec![record(0), r]).await.unwrap();
    drop(log);
    let log = AuditLog::open(store.clone(), key(), AuditConfig::default()).await.unwrap();
    let page = log.query(&AuditFilter { citizen: Some(citizen), ..Default::default() }, None, 10).await.unwrap();
    assert_eq!(page.records.len(), 1);
    assert_eq!(page.records[0].0, 1);
    // The index holds no CPR number: no key of the index tree contains the digits.
    let index = store.raw_tree("audit_citizens").unwrap();
    assert_eq!(index.len(), 2);
    for k in index.iter().keys() {
        let k = k.unwrap();
        assert_eq!(k.len(), 40);
        assert!(!k.windows(10).any(|w| w == citizen.expose().as_bytes()));
    }
    // Another signing key gives other index keys: the old records are not found under it.
    let other = AuditLog::open(store.clone(), SigningKey::from_bytes(&[1u8; 32]), AuditConfig::default()).await;
    // (The log refuses nothing here: the key only signs the next checkpoint.)
    let other = other.unwrap();
    let page = other.query(&AuditFilter { citizen: Some(citizen), ..Default::default() }, None, 10).await.unwrap();
    assert!(page.records.is_empty());
}

/// Appends `n` records stamped now, one batch each, about three citizens in turn.
async fn fill_now(log: &AuditLog<SledStore>, n: u64) {
    let citizens = ["0101709900", "0202709901", "0303709902"].map(|c| Cpr::parse(c).unwrap());
    for i in 0..n {
        let mut r = record(i);
        r.time = SystemClock.now();
        r.citizen = Some(citizens[(i % 3) as usize]);
        log.append(vec![r]).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn size_before_is_the_last_checkpoint_before_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, log) = open(dir.path()).await;
    fill_now(&log, 40).await;
    let cps = log.checkpoints(0, u64::MAX).await.unwrap();
    assert_eq!(cps.len(), 40);
    for cp in &cps {
        for t in [cp.time, cp.time + chrono::Duration::nanoseconds(1)] {
            let expected = cps.iter().filter(|c| c.time < t).map(|c| c.tree_size).max().unwrap_or(0);
            assert_eq!(log.size_before(t).await.unwrap(), expected);
        }
    }
    assert_eq!(log.size_before(cps[0].time - chrono::Duration::days(1)).await.unwrap(), 0);
    assert_eq!(log.size_before(SystemClock.now() + chrono::Duration::days(1)).await.unwrap(), 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pruning_keeps_hashes_roots_proofs_and_verification() {
    let dir = tempfile::tempdir().unwrap();
    let (store, log) = open(dir.path()).await;
    fill_now(&log, 30).await;
    let cps = log.checkpoints(0, u64::MAX).await.unwrap();
    let before = log.leaf_entries(0, 30).await.unwrap();
    let root = log.root(30).await.unwrap();
    let citizen = log.entry(3).await.unwrap().unwrap().citizen.unwrap();
    let theirs = all_pages(&log, &AuditFilter { citizen: Some(citizen), ..Default::default() }, 5).await;
    assert!(theirs.iter().any(|(i, _)| *i < 12) && theirs.iter().any(|(i, _)| *i >= 12));

    // Everything signed before checkpoint 12's time goes: records 0..12 (or fewer if two
    // checkpoints share a time).
    let cutoff = cps[11].time + chrono::Duration::nanoseconds(1);
    let report = log.prune_older_than(cutoff).await.unwrap();
    let k = report.pruned_below;
    assert_eq!(k, log.size_before(cutoff).await.unwrap());
    assert!((1..=12).contains(&k), "{report:?}");
    assert_eq!(report.pruned, k);
    assert_eq!(store.audit_pruned_below().await.unwrap(), k);
    // Pruning again prunes nothing more.
    assert_eq!(log.prune_older_than(cutoff).await.unwrap().pruned, 0);

    // Hashes, roots and proofs are unchanged; payloads below k are gone.
    let after = log.leaf_entries(0, 30).await.unwrap();
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(a.leaf_hash, b.leaf_hash);
        assert_eq!(a.leaf.is_none(), a.index < k, "{}", a.index);
    }
    assert_eq!(log.root(30).await.unwrap(), root);
    for i in 0..30 {
        let proof = log.inclusion_proof(i, 30).await.unwrap();
        assert!(verify_inclusion(&after[i as usize].leaf_hash, i, 30, &proof, &root));
    }
    let report = verify_store(&store, &key().verifying_key()).await.unwrap();
    assert_eq!(report.tree_size, 30);
    assert_eq!(report.checkpoints, 30);
    // Reads skip pruned records; the citizen index forgot them.
    assert_eq!(log.entries(0, 30).await.unwrap().len() as u64, 30 - k);
    let now = all_pages(&log, &AuditFilter { citizen: Some(citizen), ..Default::default() }, 5).await;
    let expected: Vec<_> = theirs.iter().filter(|(i, _)| *i >= k).cloned().collect();
    assert_eq!(now, expected);
    assert!(all_pages(&log, &AuditFilter::default(), 7).await.iter().all(|(i, _)| *i >= k));

    // An empty payload above the watermark is not pruning: verification names it.
    let leaves = store.raw_tree("audit_leaves").unwrap();
    leaves.insert((k + 3).to_be_bytes(), &[][..]).unwrap();
    let e = verify_store(&store, &key().verifying_key()).await.unwrap_err();
    assert!(matches!(e, VerifyError::Unreadable { .. }), "{e}");
    assert_eq!(e.first_bad_index(), Some(k + 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pruning_refuses_an_altered_record() {
    let dir = tempfile::tempdir().unwrap();
    let (store, log) = open(dir.path()).await;
    fill_now(&log, 10).await;
    let leaves = store.raw_tree("audit_leaves").unwrap();
    let mut r = log.entry(4).await.unwrap().unwrap();
    r.outcome = "altered".into();
    leaves.insert(4u64.to_be_bytes(), r.canonical_bytes()).unwrap();
    let e = log.prune_older_than(SystemClock.now() + chrono::Duration::days(1)).await.unwrap_err();
    assert!(e.to_string().contains("record 4"), "{e}");
    // Nothing at or above the altered record was pruned (whole transactions only).
    assert_eq!(store.audit_pruned_below().await.unwrap(), 0);
    assert_eq!(leaf_hash(&leaves.get(4u64.to_be_bytes()).unwrap().unwrap()), leaf_hash(&r.canonical_bytes()));
}
