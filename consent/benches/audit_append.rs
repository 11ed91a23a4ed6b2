//! Durable audit appends per second with group commit, at 1, 16 and 64 concurrent appenders.
//!
//! Every append is one record and returns only when the record is flushed to disk and
//! covered by a signed checkpoint. The store is a fresh sled directory on disk (never a
//! temporary in-memory store). One criterion "element" is one acknowledged append.
//!
//! The same on PostgreSQL (`durable_appends_postgres`): a scratch cluster with a synchronous
//! streaming standby on this machine (Debian's server binaries), so every batch's commit
//! waits for the standby. Skipped, with a note, when the binaries are not installed.
//!
//! Run: `cargo bench -p consent --bench audit_append`

use std::time::{Duration, Instant};

use consent::SledStore;
use consent::audit::{AuditConfig, AuditDecision, AuditKind, AuditLog, AuditRecord};
use consent::clock::{Clock, SystemClock};
use consent::{Category, Cpr, Purpose, UnitId};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

fn record(i: u64) -> AuditRecord {
    let mut r = AuditRecord::new(SystemClock.now(), format!("req-{i}"), AuditKind::Release);
    r.system = Some("case-system-a".into());
    r.caseworker = Some("cw-17".into());
    r.unit = Some(UnitId::parse("kk.jobcenter").unwrap());
    r.citizen = Some(Cpr::parse("0101709900").unwrap());
    r.purpose = Some(Purpose::parse("rehabilitation-team").unwrap());
    r.category = Some(Category::parse("jobcenter.case").unwrap());
    r.decision = Some(AuditDecision::Permit);
    r.basis = Some("consent:0190d2a4-4c1e-7b8e-9f00-3a5b6c7d8e9f".into());
    r.policies = vec!["consent-permits".into()];
    r.outcome = "included".into();
    r.documents = vec!["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into()];
    r
}

fn appends(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let key = consent::audit::generate_signing_key();
    let log = rt.block_on(AuditLog::open(store, key, AuditConfig::default())).unwrap();
    measure(c, &rt, "durable_appends", log);
}

fn appends_postgres(c: &mut Criterion) {
    use consent::store::scratch_postgres::ScratchPostgres;
    if !ScratchPostgres::available() {
        eprintln!("PostgreSQL's server binaries are not installed: no PostgreSQL figures");
        return;
    }
    let primary = ScratchPostgres::start().unwrap();
    primary.create_database("bench").unwrap();
    let _standby = primary.start_sync_standby().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let store = consent::PgStore::open(&consent::PostgresOptions::new(primary.url("bench"))).unwrap();
    let key = consent::audit::generate_signing_key();
    let log = rt.block_on(AuditLog::open(store, key, AuditConfig::default())).unwrap();
    measure(c, &rt, "durable_appends_postgres", log);
}

fn measure<S: consent::Store + Clone>(c: &mut Criterion, rt: &tokio::runtime::Runtime, name: &str, log: AuditLog<S>) {
    let mut group = c.benchmark_group("audit_append");
    group.throughput(Throughput::Elements(1));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(8));
    let mut before = log.stats();
    for appenders in [1u64, 16, 64] {
        group.bench_with_input(BenchmarkId::new(name, appenders), &appenders, |b, &appenders| {
            b.to_async(rt).iter_custom(|iters| {
                let log = log.clone();
                async move {
                    let per_task = iters.div_ceil(appenders);
                    let start = Instant::now();
                    let tasks: Vec<_> = (0..appenders)
                        .map(|t| {
                            let log = log.clone();
                            tokio::spawn(async move {
                                for i in 0..per_task {
                                    log.append(vec![record(t * per_task + i)]).await.unwrap();
                                }
                            })
                        })
                        .collect();
                    for t in tasks {
                        t.await.unwrap();
                    }
                    // Time per append actually made (per_task * appenders >= iters).
                    start.elapsed().mul_f64(iters as f64 / (per_task * appenders) as f64)
                }
            });
        });
        let s = log.stats();
        let (records, batches) = (s.records - before.records, s.batches - before.batches);
        eprintln!(
            "{appenders} appenders: {records} records in {batches} batches (transaction + flush), {:.1} per batch",
            records as f64 / batches.max(1) as f64,
        );
        before = s;
    }
    group.finish();
}

criterion_group!(benches, appends, appends_postgres);
criterion_main!(benches);
