//! One 4-category decision including the ledger lookup (`Ledger::covering` per category and
//! `Ledger::blocks`), with 1,000,000 consents stored in a `SledStore` (DESIGN.md §9).
//!
//! The store is built once, through the ledger's bulk path (`Ledger::import_grants`: the
//! same rules as `Ledger::grant`, 2,000 consents per transaction and flush), into
//! `<target>/bench-data/consents-1000000`, and reused while its `complete` marker is there. Set `SAMMEN_BENCH_CONSENTS` for another size and
//! `SAMMEN_BENCH_DATA` for another directory.
//!
//! Criterion reports the mean; the custom loop after it prints p50/p90/p99/p99.9 of
//! single decisions, and of the lookup and the policy evaluation on their own.

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use consent::{
    BlockTarget, Category, Channel, Consent, Cpr, Ledger, MunicipalityCode, Period, Purpose, SledStore, TermsInput,
    UnitId,
};
use criterion::{Criterion, criterion_group, criterion_main};
use policies::{Caseworker, DecisionRequest, PolicyEngine};
use support::{cat, purpose, rules, t, unit};

const CONSENTS_PER_CITIZEN: usize = 4;

fn consents_wanted() -> usize {
    std::env::var("SAMMEN_BENCH_CONSENTS").ok().and_then(|s| s.parse().ok()).unwrap_or(1_000_000)
}

fn data_dir(n: usize) -> PathBuf {
    if let Ok(d) = std::env::var("SAMMEN_BENCH_DATA") {
        return PathBuf::from(d);
    }
    // <target>/release/deps/decision-<hash> → <target>/bench-data
    let exe = std::env::current_exe().expect("current exe");
    let target = exe.ancestors().nth(3).expect("target dir").to_path_buf();
    target.join("bench-data").join(format!("consents-{n}"))
}

/// Citizen `i`: a valid CPR number (day 1-28, so every month has it), unique per `i`.
fn citizen(i: usize) -> Cpr {
    let (day, month, year, seq) = (1 + i % 28, 1 + (i / 28) % 12, (i / 336) % 100, (i / 33_600) % 10_000);
    Cpr::parse(&format!("{day:02}{month:02}{year:02}{seq:04}")).expect("valid CPR")
}

/// Fixed times, so a reused store decides the same way next year.
fn period() -> Period {
    Period { from: t("2025-01-01T00:00:00Z"), until: t("2026-01-01T00:00:00Z") }
}

fn now() -> DateTime<Utc> {
    t("2025-06-01T12:00:00Z")
}

/// The `k`-th consent of citizen `i`: a realistic mix of grantees, purposes and categories.
fn terms(i: usize, k: usize) -> TermsInput {
    let (grantee, subunits, purpose_, categories): (&str, bool, &str, &[&str]) = match (k + i) % 6 {
        0 => ("kk.jobcenter", true, "rehabilitation-team", &["health.lae265", "health.correspondence"]),
        1 => ("kk.jobcenter.rehab", false, "rehabilitation-team", &["jobcenter.case", "jobnet.cv"]),
        2 => ("kk.social", true, "coordinated-plan", &["social.case", "jobcenter.case"]),
        3 => ("kk.jobcenter.ydelse", false, "benefit-administration", &["jobcenter.benefits"]),
        4 => ("aarhus.jobcenter", true, "flexjob-assessment", &["health.lae265", "jobcenter.case", "jobnet.cv"]),
        _ => ("kk", true, "rehabilitation-team", &["social.case", "jobcenter.benefits"]),
    };
    TermsInput {
        citizen: citizen(i),
        grantee: unit(grantee),
        include_subunits: subunits,
        purpose: purpose(purpose_),
        categories: categories.iter().map(|c| cat(c)).collect::<BTreeSet<_>>(),
        period: period(),
        data_period: None,
        text_version: "2025-01".into(),
        text_body: "Jeg giver samtykke til, at oplysningerne må videregives til formålet.".into(),
    }
}

fn open_or_build(n: usize) -> (Ledger<SledStore>, usize) {
    let dir = data_dir(n);
    let marker = dir.join("complete");
    let citizens = n.div_ceil(CONSENTS_PER_CITIZEN);
    if marker.exists() {
        let store = SledStore::open(&dir).expect("open bench store");
        eprintln!("reusing {} ({} consents)", dir.display(), n);
        return (Ledger::new(store, rules()), citizens);
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create bench dir");
    let store = SledStore::open(&dir).expect("open bench store");
    let ledger = Ledger::new(store.clone(), rules());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let key = consent::audit::generate_signing_key();
    let audit = rt.block_on(consent::audit::AuditLog::open(store, key, Default::default())).expect("audit log");
    let service = consent::ConsentService::new(ledger.clone(), audit);
    let actor = consent::Actor::citizen(Channel::Portal);
    let started = Instant::now();
    // One writer: sled 0.34 deadlocks when many tasks commit (transaction + flush) at once.
    const BATCH: usize = 2_000;
    rt.block_on(async {
        for first in (0..n).step_by(BATCH) {
            let batch: Vec<TermsInput> = (first..(first + BATCH).min(n))
                .map(|j| terms(j / CONSENTS_PER_CITIZEN, j % CONSENTS_PER_CITIZEN))
                .collect();
            service.import_grants(batch, &actor, period().from).await.expect("import");
            if (first / BATCH).is_multiple_of(25) && first > 0 {
                let s = started.elapsed().as_secs_f64();
                eprintln!("  {first} consents in {s:.0} s ({:.0}/s)", first as f64 / s);
            }
        }
        // Every 500th citizen has blocked the Jobnet CV.
        for i in (0..citizens).step_by(500) {
            service
                .place_block(&citizen(i), BlockTarget::Category(cat("jobnet.cv")), &actor, period().from)
                .await
                .expect("block");
        }
        ledger.store().flush().await.expect("flush");
    });
    let s = started.elapsed().as_secs_f64();
    eprintln!("built {} with {n} consents in {s:.0} s ({:.0}/s)", dir.display(), n as f64 / s);
    std::fs::write(&marker, format!("{n}\n")).expect("marker");
    (ledger, citizens)
}

const CATEGORIES: [&str; 4] = ["health.lae265", "jobcenter.case", "jobcenter.benefits", "social.case"];

struct Fixture {
    ledger: Ledger<SledStore>,
    engine: PolicyEngine,
    citizens: usize,
    caseworker: Caseworker,
    purpose: Purpose,
    categories: Vec<Category>,
    rt: tokio::runtime::Runtime,
}

impl Fixture {
    /// The ledger lookup for one request: the covering consents per category, and blocks.
    fn lookup(&self, who: &Cpr) -> (Vec<(Category, Vec<Consent>)>, Vec<consent::Block>) {
        self.rt.block_on(async {
            let mut consents = Vec::with_capacity(self.categories.len());
            for c in &self.categories {
                let v =
                    self.ledger.covering(who, &self.caseworker.unit, &self.purpose, c, now()).await.expect("covering");
                consents.push((c.clone(), v));
            }
            (consents, self.ledger.blocks(who).await.expect("blocks"))
        })
    }

    fn decide(&self, who: &Cpr, consents: &[(Category, Vec<Consent>)], blocks: &[consent::Block]) -> usize {
        let d = self
            .engine
            .decide(&DecisionRequest {
                caseworker: &self.caseworker,
                citizen: who,
                citizen_municipality: Some(MunicipalityCode::parse("101").expect("code")),
                purpose: &self.purpose,
                categories: &self.categories,
                now: now(),
                consents,
                blocks,
            })
            .expect("decide");
        d.sections.iter().filter(|s| s.effect() == policies::Effect::Permit).count()
    }

    /// One whole decision: lookup, then policy evaluation. Returns the number permitted.
    fn full(&self, who: &Cpr) -> usize {
        let (consents, blocks) = self.lookup(who);
        self.decide(who, &consents, &blocks)
    }
}

fn fixture() -> Fixture {
    let (ledger, citizens) = open_or_build(consents_wanted());
    let engine = PolicyEngine::load(&policies::repository_dir(), &rules()).expect("policies");
    Fixture {
        ledger,
        engine,
        citizens,
        caseworker: Caseworker {
            id: "cw-bench".into(),
            unit: UnitId::parse("kk.jobcenter.rehab").expect("unit"),
            roles: ["rehab-team-member".to_string()].into(),
        },
        purpose: purpose("rehabilitation-team"),
        categories: CATEGORIES.iter().map(|c| cat(c)).collect(),
        rt: tokio::runtime::Builder::new_current_thread().build().expect("runtime"),
    }
}

/// A cheap deterministic sequence of citizens spread over the store.
fn citizen_at(step: usize, citizens: usize) -> Cpr {
    citizen(step.wrapping_mul(2_654_435_761) % citizens)
}

fn percentiles(name: &str, mut v: Vec<Duration>) {
    v.sort();
    let p = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
    let mean = v.iter().sum::<Duration>() / v.len() as u32;
    println!(
        "{name:<28} n={:<6} mean={:>8.1?} p50={:>8.1?} p90={:>8.1?} p99={:>8.1?} p99.9={:>8.1?} max={:>8.1?}",
        v.len(),
        mean,
        p(0.50),
        p(0.90),
        p(0.99),
        p(0.999),
        v[v.len() - 1]
    );
}

fn bench(c: &mut Criterion) {
    let f = fixture();
    // Sanity: the mix gives permits and denies.
    let permitted: usize = (0..1000).map(|i| f.full(&citizen_at(i, f.citizens))).sum();
    eprintln!("sanity: {permitted} of 4000 sections permitted over 1000 citizens");
    assert!(permitted > 0 && permitted < 4000);

    let mut step = 0usize;
    c.bench_function("decision/4-categories/lookup+evaluate", |b| {
        b.iter(|| {
            step += 1;
            std::hint::black_box(f.full(&citizen_at(step, f.citizens)))
        })
    });

    // p50/p99 of single decisions, measured one by one.
    const N: usize = 20_000;
    let (mut full, mut lookup, mut evaluate) = (Vec::with_capacity(N), Vec::with_capacity(N), Vec::with_capacity(N));
    for i in 0..N {
        let who = citizen_at(1_000_000 + i, f.citizens);
        let t0 = Instant::now();
        let (consents, blocks) = f.lookup(&who);
        let t1 = Instant::now();
        std::hint::black_box(f.decide(&who, &consents, &blocks));
        let t2 = Instant::now();
        full.push(t2 - t0);
        lookup.push(t1 - t0);
        evaluate.push(t2 - t1);
    }
    println!("\npercentiles over {N} single decisions ({} consents stored):", consents_wanted());
    percentiles("lookup + evaluate (4 cat.)", full);
    percentiles("  ledger lookup only", lookup);
    percentiles("  policy evaluation only", evaluate);
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(100).measurement_time(Duration::from_secs(10));
    targets = bench
}

criterion_main!(benches);
