//! "Active consents covering (citizen, unit, purpose, category)" with N consents stored.
//!
//! N defaults to 1,000,000 (`SAMMEN_BENCH_CONSENTS` changes it). The store is built once
//! into the target directory through `Ledger::import_grants` (the same rules and the same
//! transaction code as single grants, 20,000 per batch) and reused by later runs.
//!
//! Run: `cargo bench -p consent --bench ledger_lookup`
//!
//! Besides criterion's estimate, a side run of 20,000 lookups prints p50/p99/p99.9.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Instant;

use chrono::{DateTime, Months, TimeZone, Utc};
use consent::{Category, Channel, Cpr, DomainConfig, Ledger, Period, Purpose, SledStore, TermsInput, UnitId};
use criterion::{Criterion, criterion_group, criterion_main};

const UNITS: [&str; 6] =
    ["kk.jobcenter", "kk.jobcenter.rehab", "kk.jobcenter.ydelse", "kk.social", "kk.social.familie", "aarhus.jobcenter"];
const PURPOSES: [&str; 4] = ["rehabilitation-team", "coordinated-plan", "flexjob-assessment", "benefit-administration"];
const CATEGORIES: [&str; 6] =
    ["health.lae265", "health.correspondence", "jobcenter.case", "jobcenter.benefits", "social.case", "jobnet.cv"];
const PER_CITIZEN: usize = 5;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap()
}

/// Citizen `i`: a distinct, valid, synthetic CPR number.
fn citizen(i: usize) -> Cpr {
    let day = 1 + i % 28;
    let month = 1 + (i / 28) % 12;
    let yy = (i / 336) % 100;
    let serial = (i / 33_600) % 4000;
    Cpr::parse(&format!("{day:02}{month:02}{yy:02}{serial:04}")).unwrap()
}

fn rules() -> consent::Rules {
    #[derive(serde::Deserialize)]
    struct File {
        domain: DomainConfig,
    }
    toml::from_str::<File>(consent::DEFAULT_CONFIG).unwrap().domain.into_rules().unwrap()
}

/// Consent `k` of citizen `i`: deterministic unit, purpose and categories.
fn terms(i: usize, k: usize) -> TermsInput {
    let h = (i.wrapping_mul(2654435761) ^ k.wrapping_mul(40503)) % 1_000_003;
    let cats: BTreeSet<Category> = (0..CATEGORIES.len())
        .filter(|b| (h >> b) & 1 == 1 || *b == h % CATEGORIES.len())
        .map(|b| Category::parse(CATEGORIES[b]).unwrap())
        .collect();
    let from = now() - chrono::Duration::days((h % 90) as i64);
    TermsInput {
        citizen: citizen(i),
        grantee: UnitId::parse(UNITS[h % UNITS.len()]).unwrap(),
        include_subunits: h.is_multiple_of(3),
        purpose: Purpose::parse(PURPOSES[(h / 7) % PURPOSES.len()]).unwrap(),
        categories: cats,
        period: Period { from, until: from.checked_add_months(Months::new(12)).unwrap() },
        data_period: None,
        text_version: "bench-1".into(),
        text_body: "Du giver lov til at se dine oplysninger.".into(),
    }
}

pub fn open_store(n: usize) -> (Ledger<SledStore>, usize) {
    let citizens = n / PER_CITIZEN;
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("ledger-bench-{n}"));
    let marker = dir.join("complete");
    if !marker.exists() {
        let _ = std::fs::remove_dir_all(&dir);
        let store = SledStore::open(&dir.join("store")).unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let audit = rt
            .block_on(consent::audit::AuditLog::open(
                store.clone(),
                consent::audit::generate_signing_key(),
                Default::default(),
            ))
            .unwrap();
        let service = consent::ConsentService::new(Ledger::new(store, rules()), audit);
        let actor = consent::Actor::citizen(Channel::Cli);
        let started = Instant::now();
        let batch = 20_000 / PER_CITIZEN;
        for first in (0..citizens).step_by(batch) {
            let inputs = (first..(first + batch).min(citizens))
                .flat_map(|i| (0..PER_CITIZEN).map(move |k| terms(i, k)))
                .collect();
            rt.block_on(service.import_grants(inputs, &actor, now() - chrono::Duration::days(91))).unwrap();
        }
        drop(service);
        std::fs::write(&marker, b"").unwrap();
        eprintln!("built a store of {n} consents in {:?}", started.elapsed());
    }
    let store = SledStore::open(&dir.join("store")).unwrap();
    eprintln!(
        "store of {n} consents: {} bytes on disk ({} per consent)",
        store.size_on_disk().unwrap(),
        store.size_on_disk().unwrap() / n as u64
    );
    (Ledger::new(store, rules()), citizens)
}

fn bench(c: &mut Criterion) {
    let n: usize = std::env::var("SAMMEN_BENCH_CONSENTS").ok().and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    let (ledger, citizens) = open_store(n);
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let unit = UnitId::parse("kk.jobcenter.rehab").unwrap();
    let purpose = Purpose::parse("rehabilitation-team").unwrap();
    let category = Category::parse("jobcenter.case").unwrap();
    let mut i = 0usize;
    let mut next = move || {
        i = (i + 7919) % citizens;
        citizen(i)
    };
    // Sanity: the store answers, and some lookups find consents.
    let found: usize = (0..2000)
        .map(|_| rt.block_on(ledger.covering(&next(), &unit, &purpose, &category, now())).unwrap().len())
        .sum();
    assert!(found > 0, "the benchmark store has no matching consents");

    let mut group = c.benchmark_group("ledger");
    group.bench_function(format!("covering/{n}"), |b| {
        b.iter(|| rt.block_on(ledger.covering(&next(), &unit, &purpose, &category, now())).unwrap())
    });
    group.finish();

    let mut samples: Vec<u128> = (0..20_000)
        .map(|_| {
            let who = next();
            let t = Instant::now();
            let r = rt.block_on(ledger.covering(&who, &unit, &purpose, &category, now())).unwrap();
            std::hint::black_box(r);
            t.elapsed().as_nanos()
        })
        .collect();
    samples.sort_unstable();
    let q = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)] as f64 / 1000.0;
    println!("ledger covering, {n} consents: p50 {:.1} µs, p99 {:.1} µs, p99.9 {:.1} µs", q(0.5), q(0.99), q(0.999));
}

criterion_group!(benches, bench);
criterion_main!(benches);
