//! The scale curve (BENCHMARKS.md): the ledger lookup of one 4-category case file
//! (`Ledger::covering_each` for the four categories + `Ledger::blocks`) and the policy decision over its
//! result, with 10,000, 100,000 and 1,000,000 consents stored, and the store's size on
//! disk per consent. The latency should stay flat as the store grows.
//!
//! Each store is built once through `Ledger::import_grants` (the harness's synthetic mix:
//! 4 consents per citizen) into `<target>/tmp/scale-N` and reused. Every lookup asks about
//! another citizen (a stride through the store), as a rehabilitation-team member. The last
//! column decides the same request by Cedar alone (`PolicyEngine::decide_by_cedar`), beside
//! `decide` and its fast path.
//!
//! Run: `cargo bench -p bench --bench scale`
//! (`SAMMEN_SCALE_SIZES=10000,100000` for other sizes; `SAMMEN_SCALE_LOOKUPS` lookups per size;
//! `SAMMEN_SCALE_CACHE_MB` sled's page cache, default 1024; `SAMMEN_SCALE_WARM=1` reads the
//! lookup index into it first, as `sammen serve` does at start, instead of measuring cold.)

#[path = "../src/preload.rs"]
#[allow(dead_code)]
mod preload;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use consent::{Category, Consent, Cpr, DomainConfig, Ledger, Purpose, SledStore, UnitId};
use policies::{Caseworker, DecisionRequest, PolicyEngine};

const CATEGORIES: [&str; 4] = ["health.lae265", "jobcenter.case", "jobcenter.benefits", "social.case"];

/// Fixed times, so a reused store answers the same way later.
fn imported_at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 1, 0, 0, 0).unwrap()
}

fn rules() -> consent::Rules {
    #[derive(serde::Deserialize)]
    struct File {
        domain: DomainConfig,
    }
    toml::from_str::<File>(consent::DEFAULT_CONFIG).unwrap().domain.into_rules().unwrap()
}

fn open_or_build(n: usize) -> (Ledger<SledStore>, f64) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("scale-{n}"));
    let marker = dir.join("complete");
    if !marker.exists() {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let p = preload::preload(
            &consent::Engine::sled(),
            &dir,
            &dir.join("audit-signing.key"),
            rules(),
            n,
            preload::Subjects {
                citizens: &[],
                unit: "kk.jobcenter.rehab",
                purpose: "rehabilitation-team",
                categories: &CATEGORIES,
            },
            imported_at(),
        )
        .unwrap();
        eprintln!("built {} consents in {:.1} s ({:.0}/s)", p.consents, p.seconds, p.consents as f64 / p.seconds);
        std::fs::write(&marker, format!("{n}\n")).unwrap();
    }
    let mb: u64 = std::env::var("SAMMEN_SCALE_CACHE_MB").ok().and_then(|s| s.parse().ok()).unwrap_or(1024);
    let store = SledStore::open_with(&dir.join("store"), consent::SledOptions { cache_bytes: mb << 20 }).unwrap();
    let per = store.size_on_disk().unwrap() as f64 / n as f64;
    if std::env::var_os("SAMMEN_SCALE_WARM").is_some() {
        let started = Instant::now();
        let bytes = store.warm().unwrap();
        eprintln!("warmed {n}: {bytes} bytes of the lookup index read in {:.1} s", started.elapsed().as_secs_f64());
    }
    (Ledger::new(store, rules()), per)
}

struct Stats(Vec<Duration>);

impl Stats {
    fn q(&mut self, p: f64) -> f64 {
        self.0.sort_unstable();
        let i = ((self.0.len() as f64 * p).ceil() as usize).clamp(1, self.0.len()) - 1;
        self.0[i].as_secs_f64() * 1e6
    }
    fn mean(&self) -> f64 {
        self.0.iter().sum::<Duration>().as_secs_f64() * 1e6 / self.0.len() as f64
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a test run (`cargo test --benches`) passes nothing: skip.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let sizes: Vec<usize> = std::env::var("SAMMEN_SCALE_SIZES")
        .ok()
        .map(|s| s.split(',').map(|x| x.trim().parse().unwrap()).collect())
        .unwrap_or_else(|| vec![10_000, 100_000, 1_000_000]);
    let lookups: usize = std::env::var("SAMMEN_SCALE_LOOKUPS").ok().and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let engine = PolicyEngine::load(&policies::repository_dir(), &rules()).unwrap();
    let caseworker = Caseworker {
        id: "cw-bench".into(),
        unit: UnitId::parse("kk.jobcenter.rehab").unwrap(),
        roles: ["rehab-team-member".to_string()].into(),
    };
    let purpose = Purpose::parse("rehabilitation-team").unwrap();
    let categories: Vec<Category> = CATEGORIES.iter().map(|c| Category::parse(c).unwrap()).collect();
    let now = imported_at() + chrono::Duration::days(30);

    let mut table = Vec::new();
    for &n in &sizes {
        let (ledger, per_consent) = open_or_build(n);
        let citizens = n.div_ceil(preload::PER_CITIZEN);
        let lookup = |who: &Cpr| -> (Vec<(Category, Vec<Consent>)>, Vec<consent::Block>) {
            rt.block_on(async {
                let found = ledger.covering_each(who, &caseworker.unit, &purpose, &categories, now).await.unwrap();
                (found, ledger.blocks(who).await.unwrap())
            })
        };
        type Decide = fn(&PolicyEngine, &DecisionRequest<'_>) -> Result<policies::Decision, policies::DecisionError>;
        let decide_by = |by: Decide, who: &Cpr, found: &[(Category, Vec<Consent>)], blocks: &[consent::Block]| {
            let req = DecisionRequest {
                caseworker: &caseworker,
                citizen: who,
                citizen_municipality: None,
                purpose: &purpose,
                categories: &categories,
                now,
                consents: found,
                blocks,
            };
            let d = by(&engine, &req).unwrap();
            d.sections.iter().filter(|s| s.effect() == policies::Effect::Permit).count()
        };
        let decide = |who: &Cpr, found: &[(Category, Vec<Consent>)], blocks: &[consent::Block]| {
            decide_by(PolicyEngine::decide, who, found, blocks)
        };
        // Warm up (and check the mix gives permits and denies).
        let mut permits = 0;
        for i in 0..2_000 {
            let who = preload::synthetic_citizen(i * 7_919 % citizens);
            let (f, b) = lookup(&who);
            permits += decide(&who, &f, &b);
        }
        assert!(permits > 0 && permits < 8_000, "permits {permits}");
        let (mut l, mut d, mut both, mut cold) =
            (Stats(Vec::new()), Stats(Vec::new()), Stats(Vec::new()), Stats(Vec::new()));
        for i in 0..lookups {
            let who = preload::synthetic_citizen((1_000_003 + i * 7_919) % citizens);
            let t0 = Instant::now();
            let (f, b) = lookup(&who);
            let t1 = Instant::now();
            std::hint::black_box(decide(&who, &f, &b));
            let t2 = Instant::now();
            // The same decision by Cedar alone (one evaluation per category, entities
            // cached): the side-by-side measure of the fast path.
            let t3 = Instant::now();
            std::hint::black_box(decide_by(PolicyEngine::decide_by_cedar, &who, &f, &b));
            cold.0.push(t3.elapsed());
            l.0.push(t1 - t0);
            d.0.push(t2 - t1);
            both.0.push(t2 - t0);
        }
        let row = format!(
            "| {n} | {:.0} | {:.1} / {:.1} / {:.1} / {:.1} | {:.1} / {:.1} / {:.1} / {:.1} | {:.1} / {:.1} / {:.1} / {:.1} | {:.1} / {:.1} / {:.1} / {:.1} |",
            per_consent,
            l.mean(),
            l.q(0.5),
            l.q(0.99),
            l.q(0.999),
            d.mean(),
            d.q(0.5),
            d.q(0.99),
            d.q(0.999),
            both.mean(),
            both.q(0.5),
            both.q(0.99),
            both.q(0.999),
            cold.mean(),
            cold.q(0.5),
            cold.q(0.99),
            cold.q(0.999),
        );
        println!("{row}");
        table.push(row);
    }
    println!("\nscale curve ({lookups} single 4-category requests per size; µs: mean / p50 / p99 / p99.9)\n");
    println!(
        "| consents | bytes on disk per consent | ledger lookup | policy decision | lookup + decision | decision by Cedar alone |"
    );
    println!("|---:|---:|---|---|---|---|");
    for r in table {
        println!("{r}");
    }
}
