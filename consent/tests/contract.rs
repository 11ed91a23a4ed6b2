//! The store contract (`consent::store::contract`) against the sled adapter, each store in
//! its own directory; and once, whole, through the fault-injecting wrapper with no fault
//! switched on (it must be transparent).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use consent::store::contract::{self, Harness};
use consent::store::faulty::FaultyStore;
use consent::{SharedStore, SledStore, StoreError};

/// Fresh sled stores in one temporary directory.
struct SledHarness {
    root: tempfile::TempDir,
    made: Mutex<Vec<PathBuf>>,
    /// Wrap every store in a `FaultyStore` (with no fault on).
    wrapped: bool,
}

impl SledHarness {
    fn new() -> Self {
        Self { root: tempfile::tempdir().unwrap(), made: Mutex::default(), wrapped: false }
    }

    fn wrapped() -> Self {
        Self { wrapped: true, ..Self::new() }
    }

    fn share(&self, s: SledStore) -> SharedStore {
        if self.wrapped { Arc::new(FaultyStore::new(s)) } else { Arc::new(s) }
    }
}

/// Opens the store in `dir`, waiting (bounded) while the dropped one still holds its lock.
async fn open(dir: &std::path::Path) -> SledStore {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match SledStore::open(dir) {
            Ok(s) => return s,
            Err(StoreError::Io(e)) if tokio::time::Instant::now() < deadline => {
                eprintln!("reopening {}: {e}; retrying", dir.display());
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("the store in {} does not open again: {e}", dir.display()),
        }
    }
}

#[async_trait::async_trait]
impl Harness for SledHarness {
    async fn fresh(&self) -> SharedStore {
        let dir = {
            let mut made = self.made.lock().unwrap();
            let dir = self.root.path().join(format!("store-{}", made.len()));
            made.push(dir.clone());
            dir
        };
        self.share(SledStore::open(&dir).unwrap())
    }

    async fn reopen(&self) -> SharedStore {
        let dir = self.made.lock().unwrap().last().cloned().expect("fresh before reopen");
        self.share(open(&dir).await)
    }
}

/// Bounds one behaviour's run.
async fn bounded(f: impl Future<Output = ()>) {
    tokio::time::timeout(Duration::from_secs(120), f).await.expect("the contract function did not finish in 120 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durability_of_acknowledged_writes() {
    bounded(contract::durability_of_acknowledged_writes(&SledHarness::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_conflicts() {
    bounded(contract::version_conflicts(&SledHarness::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookups_at_time() {
    bounded(contract::lookups_at_time(&SledHarness::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_append_compare_and_swap() {
    bounded(contract::audit_append_compare_and_swap(&SledHarness::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_prune_watermark() {
    bounded(contract::audit_prune_watermark(&SledHarness::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_outbox_with_the_change() {
    bounded(contract::audit_outbox_with_the_change(&SledHarness::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_take_once() {
    bounded(contract::session_take_once(&SledHarness::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_on_a_healthy_store() {
    bounded(contract::ping_on_a_healthy_store(&SledHarness::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_outbox_stores_once() {
    bounded(contract::health_outbox_stores_once(&SledHarness::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_outbox_claims_once() {
    bounded(contract::health_outbox_claims_once(&SledHarness::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_outbox_transitions() {
    bounded(contract::health_outbox_transitions(&SledHarness::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fault_wrapper_passes_the_whole_contract_with_no_fault_on() {
    bounded(contract::all(&SledHarness::wrapped())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_moves_everything() {
    bounded(contract::copy_moves_everything(&SledHarness::new())).await;
}
