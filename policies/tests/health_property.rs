//! Property: for any request, a `health.*` category without a matching consent in force
//! (judged by the consent crate's own definition) is never permitted.

mod support;

use chrono::TimeDelta;
use consent::{BlockTarget, Category, Consent, MunicipalityCode, State};
use policies::{Caseworker, DecisionRequest, Effect};
use proptest::prelude::*;
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
const ROLES: &[&str] = &["jobcenter-caseworker", "rehab-team-member", "social-caseworker", "benefits-officer"];
const PURPOSES: &[&str] = &["rehabilitation-team", "coordinated-plan", "flexjob-assessment", "benefit-administration"];
const CATEGORIES: &[&str] =
    &["health.lae265", "health.correspondence", "jobcenter.case", "jobcenter.benefits", "social.case", "jobnet.cv"];
const STATES: &[State] =
    &[State::Active, State::Active, State::Active, State::Requested, State::Rejected, State::Revoked];
/// Offsets from `now` for period bounds: exact, sub-millisecond, and far.
const OFFSETS_US: &[i64] = &[-86_400_000_000, -1_000, -1, 0, 1, 500, 1_000, 86_400_000_000];

fn pick<T: Clone + std::fmt::Debug + 'static>(items: &'static [T]) -> impl Strategy<Value = T> {
    (0..items.len()).prop_map(move |i| items[i].clone())
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
    /// Which requested category the ledger "found" it for (index, modulo).
    listed_under: usize,
    /// Biases towards near-matches: the request's purpose instead of `purpose`, a unit of
    /// the caseworker's lineage instead of `grantee`, the requested categories added.
    same_purpose: bool,
    lineage_grantee: Option<usize>,
    add_requested: bool,
    /// A period of a day either side of now instead of `from_us`/`until_us`.
    wide_period: bool,
}

impl GenConsent {
    fn make(&self, g: &GenRequest, lineage: &[consent::UnitId], now: chrono::DateTime<chrono::Utc>) -> Consent {
        let mut categories = self.categories.clone();
        if self.add_requested {
            categories.extend(g.categories.iter().copied());
        }
        let grantee = match self.lineage_grantee {
            Some(i) => lineage[i % lineage.len()].as_str().to_string(),
            None => self.grantee.to_string(),
        };
        consent(
            if self.other_citizen { other_citizen() } else { citizen() },
            &grantee,
            self.subunits,
            if self.same_purpose { g.purpose } else { self.purpose },
            &categories,
            now + TimeDelta::microseconds(if self.wide_period { -86_400_000_000 } else { self.from_us }),
            now + TimeDelta::microseconds(if self.wide_period { 86_400_000_000 } else { self.until_us }),
            self.state,
        )
    }
}

fn gen_consent() -> impl Strategy<Value = GenConsent> {
    (
        prop::bool::weighted(0.1),
        pick(UNITS),
        any::<bool>(),
        pick(PURPOSES),
        prop::sample::subsequence(CATEGORIES, 1..=3),
        pick(STATES),
        pick(OFFSETS_US),
        pick(OFFSETS_US),
        0..4usize,
        (
            prop::bool::weighted(0.7),
            prop::option::weighted(0.7, 0..4usize),
            prop::bool::weighted(0.7),
            prop::bool::weighted(0.5),
        ),
    )
        .prop_map(
            |(
                other_citizen,
                grantee,
                subunits,
                purpose,
                categories,
                state,
                from_us,
                until_us,
                listed_under,
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
struct GenRequest {
    unit: &'static str,
    roles: Vec<&'static str>,
    municipality: Option<u16>,
    purpose: &'static str,
    categories: Vec<&'static str>,
    consents: Vec<GenConsent>,
    blocks: Vec<(bool, usize)>,
}

fn gen_request() -> impl Strategy<Value = GenRequest> {
    (
        pick(UNITS),
        prop::sample::subsequence(ROLES, 0..=4),
        prop::option::of(prop::sample::select(vec![101u16, 751])),
        pick(PURPOSES),
        prop::sample::subsequence(CATEGORIES, 1..=4),
        prop::collection::vec(gen_consent(), 0..6),
        prop::collection::vec((any::<bool>(), 0..10usize), 0..2),
    )
        .prop_map(|(unit, roles, municipality, purpose, categories, consents, blocks)| GenRequest {
            unit,
            roles,
            municipality,
            purpose,
            categories,
            consents,
            blocks,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 768, ..ProptestConfig::default() })]

    #[test]
    fn health_is_never_released_without_a_matching_consent(g in gen_request()) {
        let engine = ENGINE.with(|e| e.clone());
        let now = t("2025-06-01T12:00:00Z");
        let who = citizen();
        let rules = engine.rules();
        let lineage = rules.directory.lineage(&unit(g.unit)).unwrap().to_vec();
        let cats: Vec<Category> = g.categories.iter().map(|c| cat(c)).collect();
        let mut per_category: Vec<(Category, Vec<Consent>)> = cats.iter().map(|c| (c.clone(), vec![])).collect();
        for k in &g.consents {
            let c = k.make(&g, &lineage, now);
            let i = k.listed_under % per_category.len();
            per_category[i].1.push(c);
        }
        let blocks: Vec<_> = g
            .blocks
            .iter()
            .map(|(is_unit, i)| {
                let target = if *is_unit {
                    BlockTarget::Unit(unit(UNITS[i % UNITS.len()]))
                } else {
                    BlockTarget::Category(cat(CATEGORIES[i % CATEGORIES.len()]))
                };
                block(who, target, false)
            })
            .collect();
        let cw = Caseworker {
            id: "cw".into(),
            unit: unit(g.unit),
            roles: g.roles.iter().map(|r| r.to_string()).collect(),
        };
        let p = purpose(g.purpose);
        let d = engine
            .decide(&DecisionRequest {
                caseworker: &cw,
                citizen: &who,
                citizen_municipality: g.municipality.map(|m| MunicipalityCode::parse(&m.to_string()).unwrap()),
                purpose: &p,
                categories: &cats,
                now,
                consents: &per_category,
                blocks: &blocks,
            })
            .unwrap();
        for s in &d.sections {
            if !s.category().is_health() {
                continue;
            }
            let matching = per_category
                .iter()
                .filter(|(c, _)| *c == *s.category())
                .flat_map(|(_, v)| v)
                .any(|k| {
                    k.terms.citizen == who
                        && k.in_force_at(now)
                        && k.covers_unit(&lineage)
                        && k.terms.purpose == p
                        && k.terms.categories.contains(s.category())
                });
            if !matching {
                prop_assert_eq!(s.effect(), Effect::Deny, "{} permitted without a matching consent: {:?}", s.category(), s);
            }
        }
    }
}

thread_local! {
    static ENGINE: std::sync::Arc<policies::PolicyEngine> = std::sync::Arc::new(engine());
}

/// The property above is not vacuous: the same generator does produce matching consents,
/// and then health data is permitted.
#[test]
fn the_generator_reaches_permits() {
    use proptest::strategy::ValueTree;
    let engine = ENGINE.with(|e| e.clone());
    let now = t("2025-06-01T12:00:00Z");
    let who = citizen();
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut permits = 0;
    for _ in 0..300 {
        let g = gen_request().new_tree(&mut runner).unwrap().current();
        let cats: Vec<Category> = g.categories.iter().map(|c| cat(c)).collect();
        let lineage = engine.rules().directory.lineage(&unit(g.unit)).unwrap().to_vec();
        let consents: Vec<Consent> = g.consents.iter().map(|k| k.make(&g, &lineage, now)).collect();
        let per_category: Vec<(Category, Vec<Consent>)> = cats.iter().map(|c| (c.clone(), consents.clone())).collect();
        let cw =
            Caseworker { id: "cw".into(), unit: unit(g.unit), roles: g.roles.iter().map(|r| r.to_string()).collect() };
        let p = purpose(g.purpose);
        let d = engine
            .decide(&DecisionRequest {
                caseworker: &cw,
                citizen: &who,
                citizen_municipality: None,
                purpose: &p,
                categories: &cats,
                now,
                consents: &per_category,
                blocks: &[],
            })
            .unwrap();
        permits += d.sections.iter().filter(|s| s.category().is_health() && s.effect() == Effect::Permit).count();
    }
    assert!(permits >= 30, "only {permits} health permits in 300 generated requests");
}
