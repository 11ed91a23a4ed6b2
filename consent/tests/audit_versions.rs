//! Audit logs stay verifiable across record versions: leaves written before records had a
//! version (version 1), records written now (version 2, RFC 8785 canonical JSON) and
//! records written by a newer build with fields this one does not know, all in one log.
//!
//! The old and newer leaves are written through the [`Store`] seam as their writers would
//! have written them: leaves, completed subtree hashes and a signed checkpoint per batch.

mod audit_support;

use std::collections::HashMap;

use audit_support::*;
use chrono::{TimeZone, Utc};
use consent::audit::{
    AuditConfig, AuditFilter, AuditLog, AuditRecord, Hash, MemoryTree, SignedCheckpoint, VerifyError, leaf_hash,
    node_hash, verify_store,
};
use consent::{AuditBatch, AuditNode, SledStore, Store};
use ed25519_dalek::SigningKey;

fn key() -> SigningKey {
    SigningKey::from_bytes(&[11u8; 32])
}

/// Leaves as the last build before versions wrote them (captured from that build):
/// `record(0..3)` of the shared set-up, and one with non-ASCII letters and escapes.
const V1_LEAVES: [&str; 4] = [
    r#"{"time":"2026-03-01T12:00:00Z","request_id":"req-0","kind":"decision","system":"sys-a","caseworker":"cw-0","unit":"kk.jobcenter","citizen":"0101709900","purpose":"rehabilitation-team","category":"jobcenter.case","decision":"deny","basis":"consent:0","policies":["consent-permits"],"outcome":"included","documents":["0000000000000000000000000000000000000000000000000000000000000000"],"detail":null}"#,
    r#"{"time":"2026-03-01T12:00:00.001Z","request_id":"req-1","kind":"release","system":"sys-a","caseworker":"cw-1","unit":"kk.jobcenter","citizen":"0102709901","purpose":"rehabilitation-team","category":"jobcenter.case","decision":"permit","basis":"consent:1","policies":["consent-permits"],"outcome":"included","documents":["0000000000000000000000000000000000000000000000000000000000000001"],"detail":null}"#,
    r#"{"time":"2026-03-01T12:00:00.002Z","request_id":"req-2","kind":"decision","system":"sys-a","caseworker":"cw-2","unit":"kk.jobcenter","citizen":"0103709902","purpose":"rehabilitation-team","category":"jobcenter.case","decision":"permit","basis":"consent:2","policies":["consent-permits"],"outcome":"included","documents":["0000000000000000000000000000000000000000000000000000000000000002"],"detail":null}"#,
    r#"{"time":"2026-05-28T20:26:40.123456789Z","request_id":"req-æøå","kind":"consents_read","system":null,"caseworker":null,"unit":null,"citizen":null,"purpose":null,"category":null,"decision":null,"basis":null,"policies":[],"outcome":"ok","documents":[],"detail":"Søren Ærø \"citat\" \\ \n\t\u001f/"}"#,
];

/// Writes `leaves` (raw bytes, exactly as given) as one batch after what the store holds,
/// with their subtree hashes and a checkpoint signed by [`key`], like a writer would.
async fn append_raw(store: &SledStore, tree: &mut Tree, leaves: &[Vec<u8>]) {
    let first = store.audit_size().await.unwrap();
    assert_eq!(first, tree.all.len());
    let mut nodes = Vec::new();
    for bytes in leaves {
        nodes.extend(tree.push(bytes));
    }
    let size = tree.all.len();
    let time = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
    let checkpoint = SignedCheckpoint::sign(&key(), size, tree.all.root(size), time).to_bytes();
    let batch =
        AuditBatch { first_index: first, leaves, nodes: &nodes, checkpoint: &checkpoint, citizens: &[], outbox: &[] };
    store.audit_append(batch).await.unwrap();
}

/// The leaves so far and every completed subtree's hash.
#[derive(Default)]
struct Tree {
    all: MemoryTree,
    nodes: HashMap<(u8, u64), Hash>,
}

impl Tree {
    /// Adds a leaf; returns the subtrees it completes (its own hash at level 0 first).
    fn push(&mut self, bytes: &[u8]) -> Vec<AuditNode> {
        let index = self.all.len();
        self.all.push(bytes);
        let mut done = vec![AuditNode { level: 0, index, hash: leaf_hash(bytes) }];
        self.nodes.insert((0, index), leaf_hash(bytes));
        let mut level = 0u8;
        let mut at = index;
        while at % 2 == 1 {
            let hash = node_hash(&self.nodes[&(level, at - 1)], &self.nodes[&(level, at)]);
            level += 1;
            at /= 2;
            self.nodes.insert((level, at), hash);
            done.push(AuditNode { level, index: at, hash });
        }
        done
    }
}

fn v1_leaves() -> Vec<Vec<u8>> {
    V1_LEAVES.iter().map(|s| s.as_bytes().to_vec()).collect()
}

/// A record as a newer build writes it: version 2 with members this build does not know.
fn newer_leaf(i: u64) -> Vec<u8> {
    let mut value = serde_json::to_value(record(i)).unwrap();
    value["v"] = 2.into();
    value["retention_class"] = "long".into();
    value["legal_basis"] = serde_json::json!({"act": "retssikkerhedsloven", "section": "§ 11 c"});
    let bytes = serde_jcs::to_vec(&value).unwrap();
    assert!(AuditRecord::from_leaf_bytes(&bytes).is_ok());
    bytes
}

async fn verify(store: &SledStore) -> Result<u64, VerifyError> {
    verify_store(store, &key().verifying_key()).await.map(|r| r.tree_size)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_log_still_verifies_with_new_records_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let mut tree = Tree::default();
    append_raw(&store, &mut tree, &v1_leaves()[..3]).await;
    append_raw(&store, &mut tree, &v1_leaves()[3..]).await;
    assert_eq!(verify(&store).await.unwrap(), 4);

    // This build opens the old log and appends version 2 records after it.
    let log = AuditLog::open(store.clone(), key(), AuditConfig::default()).await.unwrap();
    log.append(vec![record(4), record(5)]).await.unwrap();
    log.append(vec![record(6)]).await.unwrap();
    let raw = log.raw_entries(0, u64::MAX).await.unwrap();
    for (i, bytes) in &raw {
        let v = AuditRecord::check_canonical(bytes).unwrap();
        assert_eq!(v, if *i < 4 { 1 } else { 2 }, "record {i}");
    }
    assert_eq!(raw[4].1, record(4).canonical_bytes());
    let report = verify_store(&store, &key().verifying_key()).await.unwrap();
    assert_eq!(report.tree_size, 7);
    assert_eq!(report.root, log.root(7).await.unwrap());

    // Both versions read back.
    let entries = log.entries(0, 7).await.unwrap();
    assert_eq!(entries[1].1, record(1));
    assert_eq!(entries[3].1.detail.as_deref(), Some("Søren Ærø \"citat\" \\ \n\t\u{1f}/"));
    assert_eq!(entries[5].1, record(5));

    // A version 1 leaf altered inside a string still parses but no longer hashes right.
    let leaves = store.raw_tree("audit_leaves").unwrap();
    let altered = V1_LEAVES[2].replace("req-2", "req-3");
    leaves.insert(2u64.to_be_bytes(), altered.as_bytes()).unwrap();
    let e = verify(&store).await.unwrap_err();
    assert!(matches!(e, VerifyError::LeafHash { index: 2 }), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_with_fields_this_build_does_not_know_verifies_and_reads() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let mut tree = Tree::default();
    append_raw(&store, &mut tree, &v1_leaves()[..2]).await;
    append_raw(&store, &mut tree, &[newer_leaf(2), record(3).canonical_bytes(), newer_leaf(4)]).await;
    assert_eq!(verify(&store).await.unwrap(), 5);

    let log = AuditLog::open(store.clone(), key(), AuditConfig::default()).await.unwrap();
    log.append(vec![record(5)]).await.unwrap();
    assert_eq!(verify(&store).await.unwrap(), 6);
    let entries = log.entries(0, 6).await.unwrap();
    assert_eq!(entries.iter().map(|(_, r)| r.clone()).collect::<Vec<_>>(), (0..6).map(record).collect::<Vec<_>>());
    // Queries read them too.
    let filter = AuditFilter { caseworker: Some("cw-2".into()), ..Default::default() };
    let page = log.query(&filter, None, 10).await.unwrap();
    assert_eq!(page.records, vec![(2, record(2))]);
    // The stored bytes are what was hashed: the unknown members are still there.
    let stored = &log.raw_entries(4, 5).await.unwrap()[0].1;
    assert_eq!(stored, &newer_leaf(4));
    assert!(std::str::from_utf8(stored).unwrap().contains(r#""retention_class":"long""#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_2_leaf_not_in_canonical_form_is_named() {
    let canonical = String::from_utf8(record(2).canonical_bytes()).unwrap();
    let spaced = canonical.replacen(r#""basis":"consent:2","#, r#""basis": "consent:2", "#, 1);
    let reordered = canonical.replacen(
        r#""basis":"consent:2","caseworker":"cw-2","#,
        r#""caseworker":"cw-2","basis":"consent:2","#,
        1,
    );
    let unknown_version = canonical.replacen(r#""v":2}"#, r#""v":9}"#, 1);
    for (bad, why) in [
        (spaced, "canonical form of version 2"),
        (reordered, "canonical form of version 2"),
        (unknown_version, "version 9 is unknown"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        let mut tree = Tree::default();
        // Hashes and checkpoint are right for the bad bytes: only their form is wrong.
        append_raw(&store, &mut tree, &[v1_leaves()[0].clone(), record(1).canonical_bytes()]).await;
        append_raw(&store, &mut tree, &[bad.into_bytes(), record(3).canonical_bytes()]).await;
        let e = verify(&store).await.unwrap_err();
        assert_eq!(e.first_bad_index(), Some(2), "{e}");
        match &e {
            VerifyError::Unreadable { index: 2, reason } => assert!(reason.contains(why), "{reason}"),
            other => panic!("expected record 2 unreadable, got {other}"),
        }
    }
}
