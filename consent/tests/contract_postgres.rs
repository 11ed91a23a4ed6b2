//! The store contract (`consent::store::contract`) against the PostgreSQL adapter, on one
//! throw-away cluster for this test binary (a database per fresh store); and the adapter's
//! failure paths: a URL that does not parse, a server that is down (and comes back), a
//! schema newer than this binary, two instances migrating at once; and one audit log shared
//! by several writers (instances) over one database.

mod audit_support;
mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use consent::Channel;
use consent::audit::{AuditConfig, AuditLog, verify_store};

use consent::store::contract::{self, Harness};
use consent::store::scratch_postgres::ScratchPostgres;
use consent::{PgStore, PostgresOptions, SharedStore, Store, StoreError};

struct PgHarness<'a> {
    cluster: &'a ScratchPostgres,
    prefix: &'static str,
    made: Mutex<Vec<String>>,
}

impl<'a> PgHarness<'a> {
    fn new(cluster: &'a ScratchPostgres, prefix: &'static str) -> Self {
        Self { cluster, prefix, made: Mutex::default() }
    }

    fn open(&self, db: &str) -> SharedStore {
        std::sync::Arc::new(PgStore::open(&options(&self.cluster.url(db))).expect("the store opens"))
    }
}

fn options(url: &str) -> PostgresOptions {
    PostgresOptions { connect_timeout: Duration::from_secs(3), ..PostgresOptions::new(url) }
}

#[async_trait::async_trait]
impl Harness for PgHarness<'_> {
    async fn fresh(&self) -> SharedStore {
        let db = {
            let mut made = self.made.lock().unwrap();
            let db = format!("{}_{}", self.prefix, made.len());
            made.push(db.clone());
            db
        };
        self.cluster.create_database(&db).unwrap_or_else(|e| panic!("creating database {db}: {e}"));
        self.open(&db)
    }

    async fn reopen(&self) -> SharedStore {
        let db = self.made.lock().unwrap().last().cloned().expect("fresh before reopen");
        self.open(&db)
    }
}

async fn bounded(what: &str, f: impl Future<Output = ()>) {
    tokio::time::timeout(Duration::from_secs(120), f)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish in 120 s"));
}

fn cluster() -> ScratchPostgres {
    ScratchPostgres::start().unwrap_or_else(|e| panic!("starting a scratch PostgreSQL: {e}"))
}

/// Every behaviour of the contract, each on fresh databases of one cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_postgres_adapter_passes_the_contract() {
    let pg = cluster();
    bounded("durability", contract::durability_of_acknowledged_writes(&PgHarness::new(&pg, "durability"))).await;
    bounded("version conflicts", contract::version_conflicts(&PgHarness::new(&pg, "conflicts"))).await;
    bounded("lookups", contract::lookups_at_time(&PgHarness::new(&pg, "lookups"))).await;
    bounded("audit cas", contract::audit_append_compare_and_swap(&PgHarness::new(&pg, "audit_cas"))).await;
    bounded("audit prune", contract::audit_prune_watermark(&PgHarness::new(&pg, "prune"))).await;
    bounded("outbox", contract::audit_outbox_with_the_change(&PgHarness::new(&pg, "outbox"))).await;
    bounded("sessions", contract::session_take_once(&PgHarness::new(&pg, "sessions"))).await;
    bounded("ping", contract::ping_on_a_healthy_store(&PgHarness::new(&pg, "ping"))).await;
    bounded("copy", contract::copy_moves_everything(&PgHarness::new(&pg, "copy"))).await;
}

/// `store copy` across engines: sled into PostgreSQL (moving an installation) and
/// PostgreSQL into sled, each checked by the contract's copy behaviour.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_across_engines() {
    let pg = cluster();
    let dir = tempfile::tempdir().unwrap();
    let h = PgHarness::new(&pg, "across");
    let sled: SharedStore = Arc::new(consent::SledStore::open(&dir.path().join("a")).unwrap());
    let target = h.fresh().await;
    bounded("sled to postgres", contract::copy_between(&sled, &target)).await;
    let source = h.fresh().await;
    let sled: SharedStore = Arc::new(consent::SledStore::open(&dir.path().join("b")).unwrap());
    bounded("postgres to sled", contract::copy_between(&source, &sled)).await;
    bounded("health stores", contract::health_outbox_stores_once(&PgHarness::new(&pg, "health_store"))).await;
    bounded("health claims", contract::health_outbox_claims_once(&PgHarness::new(&pg, "health_claim"))).await;
    bounded("health states", contract::health_outbox_transitions(&PgHarness::new(&pg, "health_state"))).await;
}

/// A URL that does not parse, a server that is down at first use (then up), a database with a
/// newer schema, two instances migrating at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failure_paths_say_what_is_wrong() {
    // A URL that does not parse: refused at open, without quoting it (it may hold a password).
    let bad = "postgresql://sammen:s3cret@127.0.0.1:notaport/db";
    match PgStore::open(&options(bad)) {
        Err(StoreError::Config(m)) => assert!(!m.contains("s3cret"), "the error quotes the URL: {m}"),
        Err(e) => panic!("a URL that does not parse: expected a configuration error, got {e}"),
        Ok(_) => panic!("a URL that does not parse was accepted"),
    }

    let mut pg = cluster();
    pg.create_database("down").unwrap();
    let store = PgStore::open(&options(&pg.url("down"))).expect("opening is lazy");
    pg.stop_immediate().unwrap();
    let started = std::time::Instant::now();
    match store.audit_size().await {
        Err(StoreError::Io(m)) => assert!(!m.is_empty()),
        other => panic!("the first call with the server down: expected an I/O error, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(10), "the failure took {:?}", started.elapsed());
    assert!(store.ping().await.is_err(), "ping with the server down");
    pg.start_server().unwrap();
    store.ping().await.expect("the same store works once the server is back");
    assert_eq!(store.audit_size().await.expect("audit_size"), 0);

    // Two instances migrating one database at once: both succeed, the schema is applied once.
    pg.create_database("twice").unwrap();
    let (a, b) =
        (PgStore::open(&options(&pg.url("twice"))).unwrap(), PgStore::open(&options(&pg.url("twice"))).unwrap());
    let (ra, rb) = tokio::join!(a.migrate(), b.migrate());
    assert_eq!(
        (ra.unwrap(), rb.unwrap()),
        (consent::store::postgres::SCHEMA_VERSION, consent::store::postgres::SCHEMA_VERSION)
    );
    // Versions are numbered 1, 2, ...: one row per migration, each applied once.
    assert_eq!(
        pg.psql("twice", "SELECT count(*) FROM sammen_schema").unwrap().trim(),
        consent::store::postgres::SCHEMA_VERSION.to_string()
    );

    // A schema from a newer sammen: refused, saying which version.
    let newer = consent::store::postgres::SCHEMA_VERSION + 1;
    pg.psql("twice", &format!("INSERT INTO sammen_schema (version) VALUES ({newer})")).unwrap();
    let c = PgStore::open(&options(&pg.url("twice"))).unwrap();
    match c.audit_size().await {
        Err(StoreError::Schema { found, known }) => {
            assert_eq!((found, known), (newer, consent::store::postgres::SCHEMA_VERSION));
            let m = StoreError::Schema { found, known }.to_string();
            assert!(m.contains(&newer.to_string()), "the message names the version: {m}");
        }
        other => panic!("a newer schema: expected a schema error, got {other:?}"),
    }
}

/// Two consent services (two instances) over one database, each with its own audit writer,
/// appending records and committing consent changes concurrently, while a third instance
/// opens the log (draining the outbox as it does): every append and change succeeds, the
/// log's indexes are contiguous, every change has exactly one record, nothing is left in
/// the outbox, and the whole log verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_writers_share_one_audit_log() {
    const TASKS: u64 = 8;
    const EACH: u64 = 10;
    let pg = cluster();
    pg.create_database("shared").unwrap();
    let open = || PgStore::open(&options(&pg.url("shared"))).unwrap();
    let a = Arc::new(common::service_over(open()).await);
    let b = Arc::new(common::service_over(open()).await);
    let mut tasks = Vec::new();
    for w in 0..TASKS {
        let svc = if w % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            for i in 0..EACH {
                let k = w * EACH + i;
                svc.audit().append(vec![audit_support::record(k)]).await.expect("an append");
                let citizen = consent::Cpr::parse(&format!("01{:02}709{:03}", 1 + k % 12, 100 + k)).unwrap();
                let terms = common::terms(citizen, "kk.jobcenter", &["jobnet.cv"], common::t0(), 6);
                svc.grant(terms, &citizen, &common::actor(Channel::Cli), common::t0()).await.expect("a grant");
            }
        }));
    }
    // A third instance starting meanwhile drains whatever is in the outbox.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let third = AuditLog::open(open(), common::audit_key(), AuditConfig::default()).await.expect("a third writer");
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(120), t).await.expect("the writers finish").unwrap();
    }
    let store = open();
    let size = store.audit_size().await.unwrap();
    assert_eq!(size, 2 * TASKS * EACH, "one record per append and per grant");
    let indexes: Vec<u64> = store.audit_leaves(0, size).await.unwrap().into_iter().map(|(i, _)| i).collect();
    assert_eq!(indexes, (0..size).collect::<Vec<_>>(), "the indexes are contiguous");
    let subjects = common::audit_subjects(&third).await;
    let mut events = 0;
    for id in store.consent_ids().await.unwrap() {
        for e in store.consent_events(id).await.unwrap() {
            let s = format!("consent:{id}.{}", e.version);
            assert_eq!(subjects.get(&s), Some(&1), "{s} has no single audit record");
            events += 1;
        }
    }
    assert_eq!(events, TASKS * EACH, "every grant is stored");
    assert!(store.audit_outbox(10).await.unwrap().is_empty(), "records left in the outbox");
    let report = verify_store(&store, &common::audit_key().verifying_key()).await.expect("the shared log verifies");
    assert_eq!(report.tree_size, size);
}
