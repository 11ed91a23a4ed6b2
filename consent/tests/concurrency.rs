//! Many concurrent consent commits on an on-disk store must all finish and all be
//! durable. The store's write gate is there because sled 0.34 was seen to deadlock under
//! this load without it (transactions escalated to sled's exclusive lock while its I/O
//! threads wait in flush); the gate cannot be switched off, so this test shows only that
//! with it every commit finishes within the bound.
//! Each change also waits for its audit record, so the audit writer's group commits and
//! outbox deletes run among the consent commits.

mod common;

use std::time::Duration;

use common::*;
use consent::{Channel, SledStore, Store};

const N: usize = 1024;

#[test]
fn concurrent_commits_finish_and_are_all_stored() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    // The writers run on their own thread: if sled deadlocks, this test still ends (it
    // fails after the bound; the stuck thread ends with the test process).
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap();
        let ids = rt.block_on(write_all(&path));
        // Dropping the runtime stops the audit writer, which lets go of the store.
        drop(rt);
        let _ = tx.send(ids);
    });
    let ids =
        rx.recv_timeout(Duration::from_secs(120)).expect("concurrent commits did not finish in 120 s (deadlock?)");
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let stored = rt.block_on(store.consent_ids()).unwrap();
    assert_eq!(stored.len(), N);
    for id in ids {
        assert!(stored.contains(&id));
        assert_eq!(rt.block_on(store.consent_events(id)).unwrap().len(), 2);
    }
}

async fn write_all(path: &std::path::Path) -> Vec<consent::ConsentId> {
    let ledger = ledger_over(SledStore::open(path).unwrap()).await;
    let tasks: Vec<_> = (0..N)
        .map(|i| {
            let l = ledger.clone();
            tokio::spawn(async move {
                let who = cpr(&format!("01{:02}{:02}{:04}", 1 + i % 12, 40 + i / 500, 9000 + i % 500));
                let c =
                    l.grant(terms(who, "kk.jobcenter", &["jobnet.cv"], t0(), 6), &who, Channel::Portal, t0()).await?;
                // A second change to the same consent, racing the others.
                l.revoke(c.id, &who, Channel::Portal, t0()).await.map(|c| c.id)
            })
        })
        .collect();
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap().unwrap());
    }
    ledger.assert_consents_audited().await;
    ids
}
