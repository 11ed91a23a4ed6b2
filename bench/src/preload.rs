//! The gateway's store before it starts: `n` synthetic consents (4 per synthetic citizen,
//! a mix of grantees, purposes and categories) and, for each citizen the load asks about,
//! the consent that lets the rehabilitation team see the four categories. Everything goes
//! through `ConsentService::import_grants` (the same rules as a single grant, and one
//! `consent_granted` audit record per consent, signed with the gateway's audit key).

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use chrono::{DateTime, Months, Utc};
use consent::audit::{AuditConfig, AuditLog};
use consent::{
    Actor, Category, Channel, ConsentService, Cpr, Ledger, Period, Purpose, Rules, SledStore, TermsInput, UnitId,
};

pub const PER_CITIZEN: usize = 4;
const BATCH: usize = 5_000;

/// Synthetic citizen `i`: never born on the 1st, so never one of the sandbox's citizens.
pub fn synthetic_citizen(i: usize) -> Cpr {
    let (day, month, yy, serial) = (2 + i % 27, 1 + (i / 27) % 12, (i / 324) % 100, (i / 32_400) % 9_000);
    Cpr::parse(&format!("{day:02}{month:02}{yy:02}{serial:04}")).expect("a valid synthetic CPR number")
}

fn input(citizen: Cpr, grantee: &str, subunits: bool, purpose: &str, cats: &[&str], period: Period) -> TermsInput {
    TermsInput {
        citizen,
        grantee: UnitId::parse(grantee).expect("a configured unit"),
        include_subunits: subunits,
        purpose: Purpose::parse(purpose).expect("a configured purpose"),
        categories: cats.iter().map(|c| Category::parse(c).expect("a category")).collect::<BTreeSet<_>>(),
        period,
        data_period: None,
        text_version: "bench-1".into(),
        text_body: "Jeg giver samtykke til, at oplysningerne må videregives til formålet.".into(),
    }
}

/// Consent `k` of synthetic citizen `i`.
fn synthetic(i: usize, k: usize, period: Period) -> TermsInput {
    let (grantee, subunits, purpose, cats): (&str, bool, &str, &[&str]) = match (k + i) % 6 {
        0 => ("kk.jobcenter", true, "rehabilitation-team", &["health.lae265", "health.correspondence"]),
        1 => ("kk.jobcenter.rehab", false, "rehabilitation-team", &["jobcenter.case", "jobnet.cv"]),
        2 => ("kk.social", true, "coordinated-plan", &["social.case", "jobcenter.case"]),
        3 => ("kk.jobcenter.ydelse", false, "benefit-administration", &["jobcenter.benefits"]),
        4 => ("aarhus.jobcenter", true, "flexjob-assessment", &["health.lae265", "jobcenter.case", "jobnet.cv"]),
        _ => ("kk", true, "rehabilitation-team", &["social.case", "jobcenter.benefits"]),
    };
    input(synthetic_citizen(i), grantee, subunits, purpose, cats, period)
}

#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Preloaded {
    pub consents: usize,
    pub seconds: f64,
    pub bytes_on_disk: u64,
}

/// The citizens the load asks about, and what their matching consent covers.
#[derive(Debug, Clone, Copy)]
pub struct Subjects<'a> {
    pub citizens: &'a [Cpr],
    pub unit: &'a str,
    pub purpose: &'a str,
    pub categories: &'a [&'a str],
}

/// Imports about `n` synthetic consents plus one matching consent per subject into the
/// store `engine` names over `data_dir` (sled: `<data_dir>/store`), with their audit records signed by the key in `audit_key_file`
/// (created when absent), then closes it: when this returns, the store's lock is free for
/// the gateway. It runs on a runtime of its own on another thread, so dropping that runtime
/// stops the audit writer task (which holds the store) before this returns; blocks the
/// calling thread meanwhile.
pub fn preload(
    engine: &consent::Engine,
    data_dir: &Path,
    audit_key_file: &Path,
    rules: Rules,
    n: usize,
    subjects: Subjects<'_>,
    now: DateTime<Utc>,
) -> anyhow::Result<Preloaded> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
                let preloaded = rt.block_on(import(engine, data_dir, audit_key_file, rules, n, subjects, now));
                drop(rt);
                preloaded
            })
            .join()
            .map_err(|_| anyhow::anyhow!("the preload thread panicked"))?
    })
}

async fn import(
    engine: &consent::Engine,
    data_dir: &Path,
    audit_key_file: &Path,
    rules: Rules,
    n: usize,
    subjects: Subjects<'_>,
    now: DateTime<Utc>,
) -> anyhow::Result<Preloaded> {
    let Subjects { citizens: subjects, unit, purpose, categories } = subjects;
    let started = Instant::now();
    // sled is kept by its own type too, to flush and measure it at the end.
    let (store, sled): (consent::SharedStore, Option<SledStore>) = match engine {
        consent::Engine::Sled(options) => {
            let dir = data_dir.join("store");
            let sled = SledStore::open_with(&dir, *options).with_context(|| format!("opening {}", dir.display()))?;
            (std::sync::Arc::new(sled.clone()), Some(sled))
        }
        consent::Engine::Postgres(_) => (consent::store::open(engine, data_dir).context("opening PostgreSQL")?, None),
    };
    let key = gateway::app::signing_key(audit_key_file, true)?;
    let audit = AuditLog::open(store.clone(), key, AuditConfig::default()).await?;
    let consents = ConsentService::new(Ledger::new(store, rules), audit);
    let actor = Actor::citizen(Channel::Cli);
    let until = now.checked_add_months(Months::new(11)).context("period")?;
    let period = Period { from: now, until };
    let mut count = 0;
    let subjects_terms: Vec<TermsInput> = subjects
        .iter()
        .flat_map(|c| {
            [
                input(*c, unit, false, purpose, categories, period),
                input(*c, "kk.social", true, "coordinated-plan", &["social.case"], period),
            ]
        })
        .collect();
    count += subjects_terms.len();
    consents.import_grants(subjects_terms, &actor, now).await.context("importing the subjects' consents")?;
    let citizens = n.div_ceil(PER_CITIZEN);
    let all: Vec<(usize, usize)> = (0..citizens).flat_map(|i| (0..PER_CITIZEN).map(move |k| (i, k))).take(n).collect();
    for chunk in all.chunks(BATCH) {
        let inputs = chunk.iter().map(|&(i, k)| synthetic(i, k, period)).collect();
        consents.import_grants(inputs, &actor, now).await.context("importing synthetic consents")?;
        count += chunk.len();
    }
    // PostgreSQL: every import was committed; its size on disk is not measured here.
    let bytes_on_disk = match sled {
        Some(store) => {
            store.flush().await?;
            store.size_on_disk()?
        }
        None => 0,
    };
    Ok(Preloaded { consents: count, seconds: started.elapsed().as_secs_f64(), bytes_on_disk })
}

#[cfg(test)]
mod tests {
    #[test]
    fn synthetic_citizens_are_distinct_and_not_the_sandboxs() {
        let mut seen = std::collections::HashSet::new();
        for i in (0..2_000_000).step_by(7) {
            let c = super::synthetic_citizen(i);
            assert!(!sandbox::citizens::is_synthetic(&c));
            assert!(seen.insert(c), "citizen {i} repeats");
        }
    }
}
