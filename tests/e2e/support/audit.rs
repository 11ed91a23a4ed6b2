//! Reading a (stopped) gateway's audit log straight from its store.

use std::path::Path;

use consent::audit::{AuditRecord, SignedCheckpoint, leaf_hash, node_hash, verify_store};
use consent::{SledStore, Store};

pub struct AuditView {
    pub records: Vec<AuditRecord>,
    pub checkpoint: Option<SignedCheckpoint>,
    /// Records still waiting in the audit outbox (committed with their change, not yet in
    /// the log): after a crash the next start drains them; after a graceful stop, none.
    pub outbox_pending: usize,
}

/// RFC 6962 Merkle tree hash, computed from scratch (independently of the log's frontier).
pub fn rfc6962_root(leaves: &[[u8; 32]]) -> [u8; 32] {
    match leaves.len() {
        0 => {
            use sha2::Digest;
            sha2::Sha256::digest([]).into()
        }
        1 => leaves[0],
        n => {
            let k = n.next_power_of_two() / 2;
            let k = if k == n { n / 2 } else { k };
            node_hash(&rfc6962_root(&leaves[..k]), &rfc6962_root(&leaves[k..]))
        }
    }
}

/// Opens the store (the gateway must be stopped), verifies the whole log offline, checks
/// that the root recomputed from every leaf equals the latest signed checkpoint's, and
/// returns the records.
pub async fn read_and_verify(data_dir: &Path) -> AuditView {
    let key = gateway::app::signing_key(&data_dir.join("audit-signing.key"), false).unwrap();
    let vk = key.verifying_key();
    let store = SledStore::open(&data_dir.join("store")).unwrap();
    let report = verify_store(&store, &vk).await.expect("the audit log verifies");
    let size = store.audit_size().await.unwrap();
    assert_eq!(report.tree_size, size);
    let leaves = store.audit_leaves(0, size).await.unwrap();
    assert_eq!(leaves.len() as u64, size);
    let hashes: Vec<[u8; 32]> = leaves.iter().map(|(_, b)| leaf_hash(b)).collect();
    let records: Vec<AuditRecord> = leaves.iter().map(|(_, b)| AuditRecord::from_canonical_bytes(b).unwrap()).collect();
    let checkpoint =
        store.audit_latest_checkpoint().await.unwrap().map(|(_, bytes)| SignedCheckpoint::from_bytes(&bytes).unwrap());
    if let Some(cp) = &checkpoint {
        cp.verify(&vk).expect("the latest checkpoint's signature verifies");
        assert_eq!(cp.tree_size, size);
        assert_eq!(cp.root, rfc6962_root(&hashes), "the recomputed root differs from the signed checkpoint");
    } else {
        assert_eq!(size, 0);
    }
    let outbox_pending = store.audit_outbox(100_000).await.unwrap().len();
    AuditView { records, checkpoint, outbox_pending }
}

/// [`read_and_verify`] after a graceful stop ([`super::procs::Gateway::terminate`]): the
/// log verifies and nothing is left pending in the outbox.
pub async fn read_after_graceful_stop(data_dir: &Path) -> AuditView {
    let view = read_and_verify(data_dir).await;
    assert_eq!(view.outbox_pending, 0, "records left in the audit outbox after a graceful stop");
    view
}
