//! One 4-category decision for instruction counting under callgrind (BENCHMARKS.md,
//! `scripts/callgrind.sh decision`): the ledger lookup (`Ledger::covering_each` for the four
//! categories + `Ledger::blocks`; with `SAMMEN_IR_PER_CATEGORY=1` one `Ledger::covering` per
//! category, as before) in `lookup_once` and `PolicyEngine::decide` in `decide_once`, each
//! `#[inline(never)]` so callgrind's inclusive count per call can be read by name. The
//! store is the scale curve's (`<target>/tmp/scale-N`, the harness's synthetic mix), built
//! on the first run; run that first run without valgrind.
//!
//! Run: `cargo bench -p bench --bench decision_ir` (`SAMMEN_IR_CONSENTS`, default 10000;
//! `SAMMEN_IR_DECISIONS`, default 200, after 200 to warm up; `SAMMEN_IR_CEDAR_ONLY=1`
//! decides by Cedar alone, `PolicyEngine::decide_by_cedar`, for comparison with the fast path).

#[path = "../src/preload.rs"]
#[allow(dead_code)]
mod preload;

use std::path::PathBuf;

use chrono::{DateTime, TimeZone, Utc};
use consent::{Block, Category, Consent, Cpr, DomainConfig, Ledger, Purpose, SledStore, UnitId};
use policies::{Caseworker, DecisionRequest, PolicyEngine};

const CATEGORIES: [&str; 4] = ["health.lae265", "jobcenter.case", "jobcenter.benefits", "social.case"];

/// The scale curve's fixed times, so its stores are shared.
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

fn open_or_build(n: usize) -> Ledger<SledStore> {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("scale-{n}"));
    let marker = dir.join("complete");
    if !marker.exists() {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let subjects = preload::Subjects {
            citizens: &[],
            unit: "kk.jobcenter.rehab",
            purpose: "rehabilitation-team",
            categories: &CATEGORIES,
        };
        preload::preload(
            &consent::Engine::sled(),
            &dir,
            &dir.join("audit-signing.key"),
            rules(),
            n,
            subjects,
            imported_at(),
        )
        .unwrap();
        std::fs::write(&marker, format!("{n}\n")).unwrap();
    }
    Ledger::new(SledStore::open(&dir.join("store")).unwrap(), rules())
}

struct Fixed {
    caseworker: Caseworker,
    purpose: Purpose,
    categories: Vec<Category>,
    now: DateTime<Utc>,
    cedar_only: bool,
}

type Found = (Vec<(Category, Vec<Consent>)>, Vec<Block>);

#[inline(never)]
fn lookup_once(rt: &tokio::runtime::Runtime, ledger: &Ledger<SledStore>, f: &Fixed, who: &Cpr) -> Found {
    rt.block_on(async {
        let found = if std::env::var_os("SAMMEN_IR_PER_CATEGORY").is_some() {
            // The lookup before `covering_each`: one `covering` per category.
            let mut found = Vec::with_capacity(f.categories.len());
            for c in &f.categories {
                found.push((c.clone(), ledger.covering(who, &f.caseworker.unit, &f.purpose, c, f.now).await.unwrap()));
            }
            found
        } else {
            ledger.covering_each(who, &f.caseworker.unit, &f.purpose, &f.categories, f.now).await.unwrap()
        };
        (found, ledger.blocks(who).await.unwrap())
    })
}

#[inline(never)]
fn decide_once(engine: &PolicyEngine, f: &Fixed, who: &Cpr, found: &Found) -> usize {
    let decide = if f.cedar_only { PolicyEngine::decide_by_cedar } else { PolicyEngine::decide };
    let d = decide(
        engine,
        &DecisionRequest {
            caseworker: &f.caseworker,
            citizen: who,
            citizen_municipality: None,
            purpose: &f.purpose,
            categories: &f.categories,
            now: f.now,
            consents: &found.0,
            blocks: &found.1,
        },
    )
    .unwrap();
    d.sections.iter().filter(|s| s.effect() == policies::Effect::Permit).count()
}

fn main() {
    // `cargo bench` passes `--bench`; a test run (`cargo test --benches`) passes nothing: skip.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let env = |k: &str, d: usize| std::env::var(k).ok().and_then(|s| s.parse().ok()).unwrap_or(d);
    let n = env("SAMMEN_IR_CONSENTS", 10_000);
    let decisions = env("SAMMEN_IR_DECISIONS", 200);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let engine = PolicyEngine::load(&policies::repository_dir(), &rules()).unwrap();
    let f = Fixed {
        caseworker: Caseworker {
            id: "cw-bench".into(),
            unit: UnitId::parse("kk.jobcenter.rehab").unwrap(),
            roles: ["rehab-team-member".to_string()].into(),
        },
        purpose: Purpose::parse("rehabilitation-team").unwrap(),
        categories: CATEGORIES.iter().map(|c| Category::parse(c).unwrap()).collect(),
        now: imported_at() + chrono::Duration::days(30),
        cedar_only: std::env::var("SAMMEN_IR_CEDAR_ONLY").is_ok_and(|v| v == "1"),
    };
    let ledger = open_or_build(n);
    let citizens = n.div_ceil(preload::PER_CITIZEN);
    let mut permits = 0;
    for i in 0..200 + decisions {
        let who = preload::synthetic_citizen((1_000_003 + i * 7_919) % citizens);
        let found = lookup_once(&rt, &ledger, &f, &who);
        permits += std::hint::black_box(decide_once(&engine, &f, &who, &found));
    }
    println!("{n} consents: {decisions} decisions after 200 to warm up, {permits} permitted sections");
}
