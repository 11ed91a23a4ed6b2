//! The fast path against Cedar (`src/fast_path.rs`): on generated requests over roles,
//! units and sub-units, purposes, categories (with and without a role gate), consents in
//! every state and at every period edge, blocks and the facts of the statute, every
//! section the fast path answers is exactly Cedar's (effect, basis, determining policies,
//! reason), and `decide` as a whole equals `decide_by_cedar`, errors included. And the fast
//! path switches itself off for a policy set it was not written for.

mod support;

use std::cell::Cell;

use chrono::{DateTime, TimeDelta, Utc};
use consent::{BlockTarget, Category, Consent, MunicipalityCode, State};
use policies::{Caseworker, CategoryDecision, DecisionRequest, Effect, PolicyEngine};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use support::*;

const UNITS: &[&str] = &[
    "kk",
    "kk.jobcenter",
    "kk.jobcenter.rehab",
    "kk.jobcenter.ydelse",
    "kk.social",
    "kk.social.familie",
    "aarhus",
    "aarhus.jobcenter",
    "region-h",
    "region-h.laege-norrebro",
];
/// The four roles the policies name, and one they do not.
const ROLES: &[&str] =
    &["jobcenter-caseworker", "rehab-team-member", "social-caseworker", "benefits-officer", "auditor"];
const PURPOSES: &[&str] = &["rehabilitation-team", "coordinated-plan", "flexjob-assessment", "benefit-administration"];
/// The six gated categories and two configured without a role gate (see [`rules_with_extras`]).
const CATEGORIES: &[&str] = &[
    "health.lae265",
    "health.correspondence",
    "jobcenter.case",
    "jobcenter.benefits",
    "social.case",
    "jobnet.cv",
    "health.extra",
    "jobnet.extra",
];
const STATES: &[State] =
    &[State::Active, State::Active, State::Active, State::Requested, State::Rejected, State::Revoked];
/// Period bounds relative to `now`, in microseconds: exact, either side of a millisecond, far.
const OFFSETS_US: &[i64] = &[-86_400_000_000, -1_000, -999, -500, -1, 0, 1, 500, 999, 1_000, 86_400_000_000];
/// `now` itself on, or just after, a whole millisecond.
const NOW_US: &[i64] = &[0, 0, 1, 500, 999];
const BLOCK_CATEGORIES: &[&str] = &["health.lae265", "jobcenter.benefits", "jobnet.cv", "social.case", "health.extra"];

fn pick<T: Clone + std::fmt::Debug + 'static>(items: &'static [T]) -> impl Strategy<Value = T> {
    (0..items.len()).prop_map(move |i| items[i].clone())
}

/// The default rules, plus two categories the policies give no role gate.
fn rules_with_extras() -> consent::Rules {
    #[derive(serde::Deserialize)]
    struct File {
        domain: consent::DomainConfig,
    }
    let text = format!(
        "{}\n[domain.categories.\"health.extra\"]\nda = \"x\"\nen = \"x\"\n\n[domain.categories.\"jobnet.extra\"]\nda = \"y\"\nen = \"y\"\n",
        consent::DEFAULT_CONFIG
    );
    toml::from_str::<File>(&text).unwrap().domain.into_rules().unwrap()
}

fn engine_with_extras() -> PolicyEngine {
    PolicyEngine::builtin(&rules_with_extras()).unwrap()
}

#[derive(Debug, Clone)]
struct GenConsent {
    other_citizen: bool,
    grantee: &'static str,
    subunits: bool,
    purpose: &'static str,
    categories: Vec<&'static str>,
    state: State,
    from_us: i64,
    until_us: i64,
    listed_under: usize,
    /// Near-matches: the request's purpose, a unit of the caseworker's lineage, the
    /// requested categories.
    same_purpose: bool,
    lineage_grantee: Option<usize>,
    add_requested: bool,
    /// A period of a day either side of now instead of `from_us`/`until_us`.
    wide_period: bool,
}

fn gen_consent() -> impl Strategy<Value = GenConsent> {
    (
        (prop::bool::weighted(0.1), pick(UNITS), any::<bool>(), pick(PURPOSES)),
        (prop::sample::subsequence(CATEGORIES, 1..=3), pick(STATES), pick(OFFSETS_US), pick(OFFSETS_US), 0..4usize),
        (
            prop::bool::weighted(0.75),
            prop::option::weighted(0.75, 0..4usize),
            prop::bool::weighted(0.75),
            prop::bool::weighted(0.5),
        ),
    )
        .prop_map(
            |(
                (other_citizen, grantee, subunits, purpose),
                (categories, state, from_us, until_us, listed_under),
                (same_purpose, lineage_grantee, add_requested, wide_period),
            )| GenConsent {
                other_citizen,
                grantee,
                subunits,
                purpose,
                categories,
                state,
                from_us,
                until_us,
                listed_under,
                same_purpose,
                lineage_grantee,
                add_requested,
                wide_period,
            },
        )
}

#[derive(Debug, Clone)]
enum GenBlock {
    Unit(&'static str),
    Category(&'static str),
}

#[derive(Debug, Clone)]
struct GenRequest {
    unit: &'static str,
    roles: Vec<&'static str>,
    /// A role that is blank (an error on both paths).
    blank_role: bool,
    municipality: Option<u16>,
    purpose: &'static str,
    categories: Vec<&'static str>,
    now_us: i64,
    consents: Vec<GenConsent>,
    /// Blocks, lifted or not.
    blocks: Vec<(GenBlock, bool)>,
    /// A block of another citizen (an error on both paths).
    foreign_block: bool,
}

fn gen_block() -> impl Strategy<Value = (GenBlock, bool)> {
    (
        prop_oneof![pick(UNITS).prop_map(GenBlock::Unit), pick(BLOCK_CATEGORIES).prop_map(GenBlock::Category)],
        any::<bool>(),
    )
}

fn gen_request() -> impl Strategy<Value = GenRequest> {
    (
        (
            pick(UNITS),
            prop::sample::subsequence(ROLES, 0..=3).prop_union(prop::sample::subsequence(ROLES, 2..=4)).boxed(),
            prop::bool::weighted(0.01),
        ),
        (prop::option::of(prop::sample::select(vec![101u16, 751])), pick(PURPOSES)),
        (prop::sample::subsequence(CATEGORIES, 1..=4), pick(NOW_US)),
        prop::collection::vec(gen_consent(), 0..5),
        (prop::collection::vec(gen_block(), 0..3), prop::bool::weighted(0.01)),
    )
        .prop_map(
            |(
                (unit, roles, blank_role),
                (municipality, purpose),
                (categories, now_us),
                consents,
                (blocks, foreign_block),
            )| {
                GenRequest {
                    unit,
                    roles,
                    blank_role,
                    municipality,
                    purpose,
                    categories,
                    now_us,
                    // Half the requests without blocks: the common case.
                    blocks: if now_us == 0 { vec![] } else { blocks },
                    consents,
                    foreign_block,
                }
            },
        )
}

/// The facts of a generated request, owned, so a `DecisionRequest` can borrow them.
struct Built {
    caseworker: Caseworker,
    citizen: consent::Cpr,
    municipality: Option<MunicipalityCode>,
    purpose: consent::Purpose,
    categories: Vec<Category>,
    now: DateTime<Utc>,
    consents: Vec<(Category, Vec<Consent>)>,
    blocks: Vec<consent::Block>,
}

impl Built {
    fn new(engine: &PolicyEngine, g: &GenRequest) -> Built {
        let who = citizen();
        let now = t("2025-06-01T12:00:00Z") + TimeDelta::microseconds(g.now_us);
        let lineage = engine.rules().directory.lineage(&unit(g.unit)).unwrap().to_vec();
        let categories: Vec<Category> = g.categories.iter().map(|c| cat(c)).collect();
        let mut consents: Vec<(Category, Vec<Consent>)> = categories.iter().map(|c| (c.clone(), vec![])).collect();
        for k in &g.consents {
            let mut cats = k.categories.clone();
            if k.add_requested {
                cats.extend(g.categories.iter().copied());
            }
            cats.sort();
            cats.dedup();
            let grantee = match k.lineage_grantee {
                Some(i) => lineage[i % lineage.len()].as_str().to_string(),
                None => k.grantee.to_string(),
            };
            let c = consent(
                if k.other_citizen { other_citizen() } else { who },
                &grantee,
                k.subunits,
                if k.same_purpose { g.purpose } else { k.purpose },
                &cats,
                now + TimeDelta::microseconds(if k.wide_period { -86_400_000_000 } else { k.from_us }),
                now + TimeDelta::microseconds(if k.wide_period { 86_400_000_000 } else { k.until_us }),
                k.state,
            );
            let i = k.listed_under % consents.len();
            consents[i].1.push(c);
        }
        let mut blocks: Vec<_> = g
            .blocks
            .iter()
            .map(|(b, lifted)| {
                let target = match b {
                    GenBlock::Unit(u) => BlockTarget::Unit(unit(u)),
                    GenBlock::Category(c) => BlockTarget::Category(cat(c)),
                };
                block(who, target, *lifted)
            })
            .collect();
        if g.foreign_block {
            blocks.push(block(other_citizen(), BlockTarget::Unit(unit("kk")), false));
        }
        let mut roles: std::collections::BTreeSet<String> = g.roles.iter().map(|r| r.to_string()).collect();
        if g.blank_role {
            roles.insert(" ".into());
        }
        Built {
            caseworker: Caseworker { id: "cw".into(), unit: unit(g.unit), roles },
            citizen: who,
            municipality: g.municipality.map(|m| MunicipalityCode::parse(&m.to_string()).unwrap()),
            purpose: purpose(g.purpose),
            categories,
            now,
            consents,
            blocks,
        }
    }

    fn request(&self) -> DecisionRequest<'_> {
        DecisionRequest {
            caseworker: &self.caseworker,
            citizen: &self.citizen,
            citizen_municipality: self.municipality,
            purpose: &self.purpose,
            categories: &self.categories,
            now: self.now,
            consents: &self.consents,
            blocks: &self.blocks,
        }
    }
}

/// How often each kind of answer came from the fast path and from Cedar.
#[derive(Default)]
struct Tally {
    cases: Cell<usize>,
    errors: Cell<usize>,
    sections: Cell<usize>,
    fast_consent: Cell<usize>,
    fast_statute: Cell<usize>,
    fast_gate_deny: Cell<usize>,
    fast_health_deny: Cell<usize>,
    fast_no_basis: Cell<usize>,
    cedar_only: Cell<usize>,
}

fn bump(c: &Cell<usize>) {
    c.set(c.get() + 1);
}

fn tally(t: &Tally, s: &CategoryDecision) {
    match s {
        CategoryDecision::Permit { basis: policies::Basis::Consent(_), .. } => bump(&t.fast_consent),
        CategoryDecision::Permit { .. } => bump(&t.fast_statute),
        CategoryDecision::Deny { policies, .. } if policies.is_empty() => bump(&t.fast_no_basis),
        CategoryDecision::Deny { policies, .. } if policies.iter().any(|p| p.starts_with("role-gate.")) => {
            bump(&t.fast_gate_deny)
        }
        CategoryDecision::Deny { .. } => bump(&t.fast_health_deny),
    }
}

#[test]
fn the_fast_path_answers_exactly_as_cedar() {
    let engine = engine_with_extras();
    assert!(engine.fast_path_enabled());
    let t = Tally::default();
    let mut runner = TestRunner::new(Config { cases: 10_000, failure_persistence: None, ..Config::default() });
    runner
        .run(&gen_request(), |g| {
            let b = Built::new(&engine, &g);
            let req = b.request();
            bump(&t.cases);
            let cedar = engine.decide_by_cedar(&req).map_err(|e| e.to_string());
            let both = engine.decide(&req).map_err(|e| e.to_string());
            prop_assert_eq!(&both, &cedar);
            let fast = engine.fast_path_sections(&req).map_err(|e| e.to_string());
            let (cedar, fast) = match (cedar, fast) {
                (Ok(c), Ok(f)) => (c, f),
                (Err(c), Err(f)) => {
                    prop_assert_eq!(c, f);
                    bump(&t.errors);
                    return Ok(());
                }
                (c, f) => return Err(TestCaseError::fail(format!("cedar {c:?}, fast path {f:?}"))),
            };
            prop_assert_eq!(fast.len(), cedar.sections.len());
            for (f, c) in fast.iter().zip(&cedar.sections) {
                bump(&t.sections);
                match f {
                    Some(f) => {
                        prop_assert_eq!(f, c);
                        tally(&t, f);
                    }
                    None => bump(&t.cedar_only),
                }
            }
            Ok(())
        })
        .unwrap();
    let n = |c: &Cell<usize>| c.get();
    let report = format!(
        "{} cases ({} refused), {} sections: fast consent permits {}, statute permits {}, gate denies {}, health denies {}, no-basis denies {}; Cedar only {}",
        n(&t.cases),
        n(&t.errors),
        n(&t.sections),
        n(&t.fast_consent),
        n(&t.fast_statute),
        n(&t.fast_gate_deny),
        n(&t.fast_health_deny),
        n(&t.fast_no_basis),
        n(&t.cedar_only)
    );
    println!("{report}");
    // Not vacuous: every kind of answer came from the fast path, and Cedar kept some.
    // The seed is random, so the floors sit well below the usual counts: statute permits
    // are the rarest (about 50 in 10,000 cases; a floor of 50 failed at 48 once).
    assert!(n(&t.cases) >= 10_000, "{report}");
    for kind in [&t.fast_consent, &t.fast_gate_deny, &t.fast_health_deny, &t.fast_no_basis] {
        assert!(n(kind) >= 200, "{report}");
    }
    assert!(n(&t.fast_statute) >= 15, "{report}");
    assert!(n(&t.cedar_only) >= 500 && n(&t.errors) >= 20, "{report}");
}

/// A consent that matches, listed after one that does not, is what the permit rests on,
/// on both paths: a category is one evaluation, of the consent that matches.
#[test]
fn the_matching_consent_is_the_basis_wherever_it_is_listed() {
    let engine = engine();
    let now = t("2025-06-01T12:00:00Z");
    let (from, until) = (t("2025-01-01T00:00:00Z"), t("2026-01-01T00:00:00Z"));
    let lae = ["health.lae265"];
    let revoked =
        consent(citizen(), "kk.jobcenter.rehab", false, "rehabilitation-team", &lae, from, until, State::Revoked);
    let other = consent(citizen(), "aarhus", true, "rehabilitation-team", &lae, from, until, State::Active);
    let good = consent(citizen(), "kk.jobcenter", true, "rehabilitation-team", &lae, from, until, State::Active);
    let cw =
        Caseworker { id: "cw".into(), unit: unit("kk.jobcenter.rehab"), roles: ["rehab-team-member".into()].into() };
    let cats = [cat("health.lae265")];
    let p = purpose("rehabilitation-team");
    let who = citizen();
    for consents in [vec![revoked.clone(), other.clone(), good.clone()], vec![good.clone(), revoked.clone()]] {
        let listed = [(cat("health.lae265"), consents)];
        let req = DecisionRequest {
            caseworker: &cw,
            citizen: &who,
            citizen_municipality: None,
            purpose: &p,
            categories: &cats,
            now,
            consents: &listed,
            blocks: &[],
        };
        for d in [engine.decide(&req).unwrap(), engine.decide_by_cedar(&req).unwrap()] {
            assert_eq!(d.sections[0].basis(), Some(&policies::Basis::Consent(good.id)));
        }
    }
    // Without the matching one, the deny names the health guardrail.
    let listed = [(cat("health.lae265"), vec![revoked, other])];
    let req = DecisionRequest {
        caseworker: &cw,
        citizen: &who,
        citizen_municipality: None,
        purpose: &p,
        categories: &cats,
        now,
        consents: &listed,
        blocks: &[],
    };
    let d = engine.decide_by_cedar(&req).unwrap();
    assert_eq!(d.sections[0].effect(), Effect::Deny);
    assert_eq!(d.sections[0].policies(), ["guardrail.health-needs-consent"]);
    assert_eq!(engine.decide(&req).unwrap(), d);
}

/// A policy set the fast path was not written for (here: the LÆ 265 role gate no longer
/// admits rehabilitation team members) turns it off: Cedar decides, and denies what the
/// fast path would have permitted. Restoring the set turns it on again on reload.
#[test]
fn a_changed_policy_set_switches_the_fast_path_off() {
    let dir = tempfile::tempdir().unwrap();
    let src = policies::repository_dir();
    std::fs::copy(src.join(policies::SCHEMA_FILE), dir.path().join(policies::SCHEMA_FILE)).unwrap();
    std::fs::create_dir(dir.path().join(policies::POLICY_DIR)).unwrap();
    for e in std::fs::read_dir(src.join(policies::POLICY_DIR)).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, dir.path().join(policies::POLICY_DIR).join(p.file_name().unwrap())).unwrap();
    }
    let roles = dir.path().join(policies::POLICY_DIR).join("40-roles.cedar");
    let original = std::fs::read_to_string(&roles).unwrap();
    let gate = r#"unless { principal in Sammen::Role::"rehab-team-member" || principal in Sammen::Role::"jobcenter-caseworker" };"#;
    assert!(original.starts_with("//") && original.contains(gate));
    let changed = original.replacen(gate, r#"unless { principal in Sammen::Role::"jobcenter-caseworker" };"#, 1);
    std::fs::write(&roles, &changed).unwrap();

    let engine = PolicyEngine::load(dir.path(), &rules()).unwrap();
    assert!(!engine.fast_path_enabled());
    let now = t("2025-06-01T12:00:00Z");
    let lae = ["health.lae265"];
    let good = consent(
        citizen(),
        "kk.jobcenter.rehab",
        false,
        "rehabilitation-team",
        &lae,
        t("2025-01-01T00:00:00Z"),
        t("2026-01-01T00:00:00Z"),
        State::Active,
    );
    let cw =
        Caseworker { id: "cw".into(), unit: unit("kk.jobcenter.rehab"), roles: ["rehab-team-member".into()].into() };
    let cats = [cat("health.lae265")];
    let listed = [(cat("health.lae265"), vec![good.clone()])];
    let p = purpose("rehabilitation-team");
    let who = citizen();
    let req = DecisionRequest {
        caseworker: &cw,
        citizen: &who,
        citizen_municipality: None,
        purpose: &p,
        categories: &cats,
        now,
        consents: &listed,
        blocks: &[],
    };
    assert_eq!(engine.fast_path_sections(&req).unwrap(), vec![None]);
    let d = engine.decide(&req).unwrap();
    assert_eq!(d.sections[0].effect(), Effect::Deny);
    assert_eq!(d.sections[0].policies(), ["role-gate.health.lae265"]);

    // The repository's set again: the fast path is back and permits.
    std::fs::write(&roles, &original).unwrap();
    engine.reload().unwrap();
    assert!(engine.fast_path_enabled());
    assert!(engine.fast_path_sections(&req).unwrap()[0].is_some());
    assert_eq!(engine.decide(&req).unwrap().sections[0].basis(), Some(&policies::Basis::Consent(good.id)));
}
