//! Small criterion benchmarks (BENCHMARKS.md): `Cpr` parsing, MedCom XDIS91 parsing (the
//! published sample), and Merkle inclusion proofs with 1,000,000 leaves — from memory and
//! from the stored audit log (a `SledStore` on disk, built once through `AuditLog::append`
//! in batches of 1,000 and reused; `SAMMEN_BENCH_LEAVES` changes the size).
//!
//! Run: `cargo bench -p bench --bench micro`

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use connectors::medcom::Xdis91;
use connectors::xml::Limits;
use consent::audit::{
    AuditConfig, AuditDecision, AuditKind, AuditLog, AuditRecord, MemoryTree, leaf_hash, verify_inclusion,
};
use consent::{Cpr, SledStore};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

fn cpr(c: &mut Criterion) {
    let mut g = c.benchmark_group("cpr");
    g.bench_function("parse/valid", |b| b.iter(|| Cpr::parse(std::hint::black_box("0107709934")).unwrap()));
    g.bench_function("parse/with-dash", |b| b.iter(|| Cpr::parse(std::hint::black_box("010770-9934")).unwrap()));
    g.bench_function("parse/invalid-date", |b| b.iter(|| Cpr::parse(std::hint::black_box("3102709934")).unwrap_err()));
    g.finish();
}

fn medcom(c: &mut Criterion) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/samples/medcom/Flow1-XDIS91_Ex_to_FHIR.xml");
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e} (shared/ must be beside the checkout)"));
    let mut g = c.benchmark_group("medcom");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("xdis91/parse", |b| {
        b.iter(|| Xdis91::parse(std::hint::black_box(&bytes), Limits::default()).unwrap())
    });
    g.finish();
}

fn leaves() -> u64 {
    std::env::var("SAMMEN_BENCH_LEAVES").ok().and_then(|s| s.parse().ok()).unwrap_or(1_000_000)
}

fn record(i: u64) -> AuditRecord {
    let t = Utc.with_ymd_and_hms(2025, 6, 1, 12, 0, 0).unwrap() + chrono::Duration::milliseconds(i as i64);
    let mut r = AuditRecord::new(t, format!("req-{i}"), AuditKind::Decision);
    r.system = Some("bench-sag".into());
    r.caseworker = Some("cw-bench".into());
    r.decision = Some(AuditDecision::Permit);
    r.outcome = "permit".into();
    r
}

/// The stored log of `n` leaves, built once into the target directory.
fn stored_log(rt: &tokio::runtime::Runtime, n: u64) -> AuditLog<SledStore> {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("audit-bench-{n}"));
    let marker = dir.join("complete");
    let key = consent::audit::generate_signing_key();
    if !marker.exists() {
        let _ = std::fs::remove_dir_all(&dir);
        let started = Instant::now();
        let store = SledStore::open(&dir.join("store")).unwrap();
        let log = rt.block_on(AuditLog::open(store, key.clone(), AuditConfig::default())).unwrap();
        const BATCH: u64 = 1_000;
        for first in (0..n).step_by(BATCH as usize) {
            let records = (first..(first + BATCH).min(n)).map(record).collect();
            rt.block_on(log.append(records)).unwrap();
        }
        assert_eq!(log.tree_size(), n);
        std::fs::write(&marker, b"").unwrap();
        eprintln!("built an audit log of {n} leaves in {:?}", started.elapsed());
        // Keep this log: its writer task holds the store (and sled's lock) until it stops.
        return log;
    }
    let store = SledStore::open(&dir.join("store")).unwrap();
    eprintln!("audit log of {n} leaves: {} bytes on disk", store.size_on_disk().unwrap());
    rt.block_on(AuditLog::open(store, key, AuditConfig::default())).unwrap()
}

fn merkle(c: &mut Criterion) {
    let n = leaves();
    let mut g = c.benchmark_group("merkle");
    let mut next = {
        let mut i = 0u64;
        move || {
            i = (i + 7_919) % n;
            i
        }
    };

    let mut memory = MemoryTree::new();
    for i in 0..n {
        memory.push(&record(i).canonical_bytes());
    }
    g.bench_with_input(BenchmarkId::new("inclusion_proof/memory", n), &n, |b, &n| {
        b.iter(|| memory.inclusion_proof(next(), n))
    });

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let log = stored_log(&rt, n);
    let root = rt.block_on(log.root(n)).unwrap();
    assert_eq!(root, memory.root(n), "the stored tree is the in-memory tree");
    // Sanity: a stored proof verifies against the root.
    let i = next();
    let proof = rt.block_on(log.inclusion_proof(i, n)).unwrap();
    let bytes = rt.block_on(log.raw_entries(i, i + 1)).unwrap().remove(0).1;
    assert!(verify_inclusion(&leaf_hash(&bytes), i, n, &proof, &root));
    g.bench_with_input(BenchmarkId::new("inclusion_proof/stored", n), &n, |b, &n| {
        b.iter(|| rt.block_on(log.inclusion_proof(next(), n)).unwrap())
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5));
    targets = cpr, medcom, merkle
}
criterion_main!(benches);
